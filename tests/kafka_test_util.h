// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Kafka for tests: the embedded mock cluster by default, a real cluster when
// KAFKA_BOOTSTRAP_SERVERS is set (topics then get a random prefix so runs never collide, and
// are created with the partition counts asked for). Tests that inject request errors need the
// mock and skip on a real cluster, saying why. Tests that kill, pause or stop real brokers
// need CAIRN_KAFKA_CLUSTER too: the path of tests/kafka/cluster, which started that cluster
// (its CAIRN_KAFKA_DIR in the environment as well), so they can drive it.
#pragma once

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cairn/embedded_kafka.h"
#include "test_util.h"

namespace cairn::testing {

struct KafkaMessage {
  std::string topic;
  int partition = 0;
  std::int64_t offset = 0;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

class TestKafka {
 public:
  // `topics`: names (without the prefix) and partition counts to create on the mock.
  explicit TestKafka(std::vector<std::pair<std::string, int>> topics = {}, int brokers = 3) {
    std::random_device rd;
    if (const char* real = std::getenv("KAFKA_BOOTSTRAP_SERVERS"); real && *real) {
      bootstrap_ = real;
      prefix_ = "cairn-test-" + std::to_string(rd() % 1000000) + "-";
      if (const char* c = std::getenv("CAIRN_KAFKA_CLUSTER"); c && *c) cluster_ = c;
      CreateTopics(topics);
      return;
    }
    EmbeddedKafkaOptions o;
    o.brokers = brokers;
    for (auto& [name, partitions] : topics) o.topics.emplace_back(name, partitions);
    auto k = EmbeddedKafka::Start(o);
    if (!k.ok()) {
      ADD_FAILURE() << k.status().ToString();
      return;
    }
    mock_ = std::move(k).value();
    bootstrap_ = mock_->bootstrap_servers();
  }

  bool real() const { return mock_ == nullptr; }
  // A real cluster this test may damage: kill, pause, stop and start its nodes.
  bool controllable() const { return !cluster_.empty(); }
  // Runs `tests/kafka/cluster ARGS`; its stdout (trimmed), or nullopt when it failed.
  std::optional<std::string> Cluster(const std::string& args) const {
    std::string out;
    FILE* p = ::popen((cluster_ + " " + args + " 2>&2").c_str(), "r");
    if (!p) return std::nullopt;
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    if (::pclose(p) != 0) return std::nullopt;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }
  // The node leading `topic`/`partition`, or -1.
  int Leader(const std::string& topic, int partition) const {
    auto id = Cluster("leader " + topic + " " + std::to_string(partition));
    return id && !id->empty() ? std::stoi(*id) : -1;
  }
  EmbeddedKafka* mock() { return mock_.get(); }
  const std::string& bootstrap() const { return bootstrap_; }
  // The topic name to use for `name` in this run.
  std::string Topic(const std::string& name) const { return prefix_ + name; }

  // Everything in `topic` now (all partitions, from the beginning), read with librdkafka.
  // read_committed when asked (a real cluster hides aborted transactions; the mock does not).
  std::vector<KafkaMessage> ReadAll(const std::string& topic, bool read_committed = false,
                                    int timeout_ms = 15000) const {
    std::vector<KafkaMessage> out;
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "cairn-test-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    rd_kafka_conf_set(conf, "isolation.level",
                      read_committed ? "read_committed" : "read_uncommitted", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
      ADD_FAILURE() << err;
      return out;
    }
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    int partitions = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        partitions = md->topics[0].partition_cnt;
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
    int pending = 0;
    for (int p = 0; p < partitions; ++p) {
      std::int64_t lo = 0, hi = 0;
      rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, 5000);
      if (hi > lo) {
        rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = lo;
        ++pending;
      }
    }
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (pending > 0 && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (!m) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        --pending;
      } else if (!m->err) {
        KafkaMessage km;
        km.topic = rd_kafka_topic_name(m->rkt);
        km.partition = m->partition;
        km.offset = m->offset;
        if (m->key) km.key.assign(static_cast<const char*>(m->key), m->key_len);
        if (m->payload) km.value.assign(static_cast<const char*>(m->payload), m->len);
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* name;
          const void* val;
          size_t size;
          for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); ++i)
            km.headers[name] = std::string(static_cast<const char*>(val), size);
        }
        out.push_back(std::move(km));
      }
      rd_kafka_message_destroy(m);
    }
    EXPECT_EQ(pending, 0) << "timed out reading " << topic;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
  }

 private:
  // On a real cluster: the test's topics with their partition counts, replicated 3 times (or
  // on every broker, when fewer), as the mock creates them.
  void CreateTopics(const std::vector<std::pair<std::string, int>>& topics) {
    if (topics.empty()) return;
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
      ADD_FAILURE() << err;
      return;
    }
    int brokers = 1;
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk, 0, nullptr, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      brokers = std::max(1, md->broker_cnt);
      rd_kafka_metadata_destroy(md);
    }
    std::vector<rd_kafka_NewTopic_t*> news;
    for (auto& [name, partitions] : topics) {
      news.push_back(rd_kafka_NewTopic_new(Topic(name).c_str(), partitions, std::min(3, brokers),
                                           err, sizeof err));
    }
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, news.data(), news.size(), nullptr, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
      ADD_FAILURE() << "creating topics on " << bootstrap_ << " timed out";
    } else {
      const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
      size_t n = 0;
      const rd_kafka_topic_result_t** results =
          res ? rd_kafka_CreateTopics_result_topics(res, &n) : nullptr;
      for (size_t i = 0; i < n; ++i) {
        const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
          ADD_FAILURE() << "creating " << rd_kafka_topic_result_name(results[i]) << ": "
                        << rd_kafka_err2str(e);
      }
      rd_kafka_event_destroy(ev);
    }
    for (auto* t : news) rd_kafka_NewTopic_destroy(t);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
  }

  std::unique_ptr<EmbeddedKafka> mock_;
  std::string cluster_;
  std::string bootstrap_;
  std::string prefix_;
};

}  // namespace cairn::testing
