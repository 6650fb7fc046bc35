// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// EmbeddedKafka (include/cairn/embedded_kafka.h): librdkafka's mock cluster for the demo
// and tests, in its own library (cairn_embedded_kafka), not in libcairn.
#include "cairn/embedded_kafka.h"

#include <mutex>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace cairn {

class EmbeddedKafka::Impl {
 public:
  ~Impl() {
    if (cluster_) rd_kafka_mock_cluster_destroy(cluster_);
    if (rk_) rd_kafka_destroy(rk_);
  }

  Status Init(const EmbeddedKafkaOptions& options) {
    if (options.brokers < 1 || options.brokers > 32)
      return Status::InvalidArgument(
          fmt::format("embedded Kafka needs 1 to 32 brokers, not {}", options.brokers));
    brokers_ = options.brokers;
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    // The mock cluster needs an rd_kafka_t to run on; this one never produces. Its log goes
    // nowhere: the mock logs every connection, and broker outages are the point of it.
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk_) return Status::Internal(fmt::format("embedded Kafka: {}", err));
    cluster_ = rd_kafka_mock_cluster_new(rk_, options.brokers);
    if (!cluster_) return Status::Internal("embedded Kafka: could not start the mock cluster");
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    for (const auto& [topic, partitions] : options.topics)
      if (Status s = CreateTopic(topic, partitions); !s.ok()) return s;
    return Status::Ok();
  }

  Status CreateTopic(std::string_view topic, int partitions) {
    if (topic.empty() || partitions < 1)
      return Status::InvalidArgument(
          fmt::format("topic '{}' with {} partitions is not valid", topic, partitions));
    std::lock_guard<std::mutex> lk(mu_);
    return Check(rd_kafka_mock_topic_create(cluster_, std::string(topic).c_str(), partitions,
                                            std::min(brokers_, 3)),
                 fmt::format("creating topic '{}'", topic));
  }

  Status SetBroker(int id, bool up) {
    if (Status s = CheckBroker(id); !s.ok()) return s;
    std::lock_guard<std::mutex> lk(mu_);
    return Check(up ? rd_kafka_mock_broker_set_up(cluster_, id)
                    : rd_kafka_mock_broker_set_down(cluster_, id),
                 fmt::format("setting broker {} {}", id, up ? "up" : "down"));
  }

  Status SetAll(bool up) {
    for (int id = 1; id <= brokers_; ++id)
      if (Status s = SetBroker(id, up); !s.ok()) return s;
    return Status::Ok();
  }

  Status SetLeader(std::string_view topic, int partition, int id) {
    if (Status s = CheckBroker(id); !s.ok()) return s;
    std::lock_guard<std::mutex> lk(mu_);
    return Check(
        rd_kafka_mock_partition_set_leader(cluster_, std::string(topic).c_str(), partition, id),
        fmt::format("moving the leader of {}/{}", topic, partition));
  }

  Status PushErrors(int api_key, int count, int code) {
    if (count < 0) return Status::InvalidArgument("negative error count");
    std::vector<rd_kafka_resp_err_t> errors(static_cast<std::size_t>(count),
                                            static_cast<rd_kafka_resp_err_t>(code));
    std::lock_guard<std::mutex> lk(mu_);
    rd_kafka_mock_push_request_errors_array(cluster_, static_cast<int16_t>(api_key), errors.size(),
                                            errors.data());
    return Status::Ok();
  }

  Status ClearErrors(int api_key) {
    std::lock_guard<std::mutex> lk(mu_);
    rd_kafka_mock_clear_request_errors(cluster_, static_cast<int16_t>(api_key));
    return Status::Ok();
  }

  Status SetRtt(int id, int ms) {
    if (Status s = CheckBroker(id); !s.ok()) return s;
    std::lock_guard<std::mutex> lk(mu_);
    return Check(rd_kafka_mock_broker_set_rtt(cluster_, id, ms),
                 fmt::format("setting broker {} round trip", id));
  }

  std::string bootstrap_;
  int brokers_ = 0;

 private:
  Status CheckBroker(int id) const {
    if (id < 1 || id > brokers_)
      return Status::InvalidArgument(
          fmt::format("no broker {}: the embedded cluster has brokers 1 to {}", id, brokers_));
    return Status::Ok();
  }
  static Status Check(rd_kafka_resp_err_t err, std::string_view what) {
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
    return Status::Internal(fmt::format("embedded Kafka: {}: {}", what, rd_kafka_err2str(err)));
  }

  std::mutex mu_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

EmbeddedKafka::EmbeddedKafka(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EmbeddedKafka::~EmbeddedKafka() = default;

Result<std::unique_ptr<EmbeddedKafka>> EmbeddedKafka::Start(const EmbeddedKafkaOptions& options) {
  auto impl = std::make_unique<Impl>();
  if (Status s = impl->Init(options); !s.ok()) return s;
  return std::unique_ptr<EmbeddedKafka>(new EmbeddedKafka(std::move(impl)));
}

const std::string& EmbeddedKafka::bootstrap_servers() const { return impl_->bootstrap_; }
int EmbeddedKafka::broker_count() const { return impl_->brokers_; }
Status EmbeddedKafka::CreateTopic(std::string_view topic, int partitions) {
  return impl_->CreateTopic(topic, partitions);
}
Status EmbeddedKafka::SetBrokerDown(int broker_id) { return impl_->SetBroker(broker_id, false); }
Status EmbeddedKafka::SetBrokerUp(int broker_id) { return impl_->SetBroker(broker_id, true); }
Status EmbeddedKafka::SetAllBrokersDown() { return impl_->SetAll(false); }
Status EmbeddedKafka::SetAllBrokersUp() { return impl_->SetAll(true); }
Status EmbeddedKafka::SetPartitionLeader(std::string_view topic, int partition, int broker_id) {
  return impl_->SetLeader(topic, partition, broker_id);
}
Status EmbeddedKafka::PushRequestErrors(int api_key, int count, int kafka_error_code) {
  return impl_->PushErrors(api_key, count, kafka_error_code);
}
Status EmbeddedKafka::ClearRequestErrors(int api_key) { return impl_->ClearErrors(api_key); }
Status EmbeddedKafka::SetBrokerRoundTrip(int broker_id, int milliseconds) {
  return impl_->SetRtt(broker_id, milliseconds);
}

}  // namespace cairn
