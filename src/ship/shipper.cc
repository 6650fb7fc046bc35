// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The shipper (docs/shipping.md): setup, connecting, and the public face; the rest of
// Shipper::Impl is in the files shipper_impl.h names. The shipping thread reads the log
// forward from the checkpoint and keeps up to max_in_flight_events produced but unacknowledged, in
// position order. The shipped-through position advances over the contiguous acknowledged (or
// dead-lettered) prefix. Anything that leaves the outcome of a message unknown — a failed delivery
// that is not the message's own fault, a fatal producer error — is handled the same way: throw the
// producer away, rewind to the shipped-through position and produce again. That can only
// repeat events past the checkpoint (at-least-once), never skip or reorder them.
#include "ship/shipper_impl.h"

#include "util/clock.h"

namespace cairn {

namespace ship {
// cairn's producer defaults first, the user's settings after them (librdkafka: last one wins).
ship::KafkaSettings ProducerSettings(const ShipperOptions& o, const std::string& store_id) {
  ship::KafkaSettings settings = {
      {"client.id", "cairn-" + store_id.substr(0, 8)},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"partitioner", "murmur2_random"},  // the Java client's: same key, same partition
      {"reconnect.backoff.ms", "100"},
      {"reconnect.backoff.max.ms", "1000"},
      // A connection to every broker, not just one: librdkafka asks whichever broker it is
      // connected to for the idempotent producer id and retries there, so with one
      // connection a broker that cannot hand out ids holds the producer up (librdkafka
      // #3848). A producer needs the partition leaders' connections anyway.
      {"enable.sparse.connections", "false"},
      {"linger.ms", "5"},
      {"queue.buffering.max.messages",
       std::to_string(std::max<std::size_t>(o.max_in_flight_events * 2, 1000))},
      {"queue.buffering.max.kbytes", "1048576"},
      {"log_level", o.log_level <= LogLevel::kDebug ? "7" : "4"},
  };
  if (!o.bootstrap_servers.empty()) settings.emplace_back("bootstrap.servers", o.bootstrap_servers);
  for (const auto& kv : o.kafka_config) settings.push_back(kv);
  return settings;
}
}  // namespace ship

std::string_view ToString(ShipperState state) {
  switch (state) {
    case ShipperState::kStarting:
      return "starting";
    case ShipperState::kShipping:
      return "shipping";
    case ShipperState::kRecovering:
      return "recovering";
    case ShipperState::kStopped:
      return "stopped";
    case ShipperState::kFailed:
      return "failed";
  }
  return "unknown";
}

// --- setup -----------------------------------------------------------------------------------

Status Shipper::Impl::Init() {
  if (opt_.bootstrap_servers.empty() &&
      ship::FindSetting(opt_.kafka_config, "bootstrap.servers").empty())
    return Status::InvalidArgument(
        "no Kafka bootstrap servers: set ShipperOptions::bootstrap_servers or "
        "bootstrap.servers in the Kafka settings");
  if (Status s = ship::ValidateTopicName(opt_.default_topic); !s.ok())
    return Status::InvalidArgument("default topic: " + s.message());
  for (const RouteRule& r : opt_.routes) {
    if (r.pattern.empty()) return Status::InvalidArgument("a route has an empty pattern");
    if (Status s = ship::ValidateTopicName(r.topic); !s.ok())
      return Status::InvalidArgument(fmt::format("route '{}': {}", r.pattern, s.message()));
  }
  if (!opt_.dead_letter_topic.empty())
    if (Status s = ship::ValidateTopicName(opt_.dead_letter_topic); !s.ok())
      return Status::InvalidArgument("dead-letter topic: " + s.message());
  if (opt_.type_header.empty()) return Status::InvalidArgument("the type header name is empty");
  auto wire = ship::WireSettingsOf(opt_, store_id_);
  if (!wire.ok()) return wire.status();
  wire_ = std::move(wire).value();
  if (opt_.max_in_flight_events == 0)
    return Status::InvalidArgument("max_in_flight_events must be at least 1");
  if (opt_.mode == DeliveryMode::kExactlyOnce) {
    if (Status s = ship::ValidateTopicName(opt_.checkpoint_topic); !s.ok())
      return Status::InvalidArgument("checkpoint topic: " + s.message());
    if (opt_.transaction_max_events == 0)
      return Status::InvalidArgument("transaction_max_events must be at least 1");
  }
  if (store_.GetInfo().read_only)
    return Status::FailedPrecondition(
        "the shipper saves its checkpoint in the store: open the store writable");
  // One shipper per checkpoint: a second would ship every event again (Stop releases it).
  // (Closed or damaged store: the claim and the checkpoint's load below fail now, not the
  // thread later.)
  if (Status s = store_.ClaimCheckpoint(opt_.checkpoint_name); !s.ok()) return s;
  claimed_checkpoint_ = true;

  transactional_id_ = opt_.transactional_id.empty() ? "cairn-" + store_id_ : opt_.transactional_id;

  settings_ = ship::ProducerSettings(opt_, store_id_);
  if (opt_.mode == DeliveryMode::kExactlyOnce) {
    // Before the user's settings, which come last in ProducerSettings' list and so win.
    settings_.insert(settings_.end() - static_cast<std::ptrdiff_t>(opt_.kafka_config.size()),
                     {"transactional.id", transactional_id_});
  }
  // Check the settings now, so that a typo is the caller's error, not the thread's.
  if (auto conf = ship::MakeConf(settings_, &context_); !conf.ok()) return conf.status();
  if (opt_.mode == DeliveryMode::kExactlyOnce && opt_.overlap_transactions) {
    // The second producer's id follows the first's, whichever setting chose it.
    standby_settings_ = settings_;
    standby_settings_.emplace_back("transactional.id",
                                   ship::FindSetting(settings_, "transactional.id") + "-2");
  }

  // Dead letters from earlier runs: their streams stay held, their positions stay skipped.
  auto dead = store_.ListDeadLetters();
  if (!dead.ok()) return dead.status();
  for (const DeadLetter& d : *dead) {
    if (opt_.dead_letter_policy == DeadLetterPolicy::kHoldStream)
      held_streams_.emplace(d.stream, d.held_behind ? d.held_behind : d.position);
    dead_positions_.emplace(d.position, true);
  }

  // The checkpoint is where shipping starts.
  auto checkpoint = store_.LoadCheckpoint(opt_.checkpoint_name);
  if (!checkpoint.ok()) return checkpoint.status();
  shipped_through_ = saved_checkpoint_ = *checkpoint;
  if (shipped_through_ > store_.last_position())
    return Status::FailedPrecondition(fmt::format(
        "shipper checkpoint '{}' is at position {}, past the store's head {}: the store was "
        "replaced or restored from an older copy",
        opt_.checkpoint_name, shipped_through_, store_.last_position()));
  next_position_ = shipped_through_ + 1;
  {
    internal::MutexLock lk(status_mu_);
    status_.shipped_through = shipped_through_;
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

Result<ship::KafkaPtr> Shipper::Impl::NewProducer(const ship::KafkaSettings& settings) {
  auto conf = ship::MakeConf(settings, &context_);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Impl::OnDelivery);
  rd_kafka_conf_set_error_cb(conf->get(), &Impl::OnError);
  char err[512];
  ship::KafkaPtr producer(rd_kafka_new(RD_KAFKA_PRODUCER, conf->release(), err, sizeof err));
  if (!producer) return Status::InvalidArgument(fmt::format("Kafka producer: {}", err));
  return producer;
}

Status Shipper::Impl::Connect() {
  session_ = std::make_unique<ProducerSession>();
  auto producer = NewProducer(settings_);
  if (!producer.ok()) return producer.status();
  session_->producer = std::move(producer).value();

  if (opt_.mode != DeliveryMode::kExactlyOnce) return Status::Ok();

  // Fences any earlier producer with our transactional.id and aborts its open transaction.
  if (Status s = InitTransactions(session_->producer.get(), transactional_id_); !s.ok()) return s;
  // librdkafka's mock cluster (the embedded Kafka of the demo and tests) shows uncommitted and
  // aborted records to every reader: there a checkpoint record must wait for its events'
  // acknowledgements (shipper_impl_transactions.cc). A real cluster hides them from read_committed
  // readers.
  if (char* id = rd_kafka_clusterid(session_->producer.get(), 5000)) {
    session_->cluster_shows_uncommitted = std::string_view(id).starts_with("mockCluster");
    rd_kafka_mem_free(session_->producer.get(), id);
  }
  // The second producer, on a real cluster (overlap_transactions). Its init_transactions also
  // settles a transaction that a killed shipper left open under the second id.
  if (!standby_settings_.empty() && !session_->cluster_shows_uncommitted) {
    auto standby = NewProducer(standby_settings_);
    if (!standby.ok()) return standby.status();
    session_->standby = std::move(standby).value();
    const std::string standby_id = ship::FindSetting(standby_settings_, "transactional.id");
    if (Status s = InitTransactions(session_->standby.get(), standby_id); !s.ok()) return s;
  }

  // What Kafka already holds: the last committed checkpoint record of this store.
  if (Status s = ship::CreateCompactedTopic(session_->producer.get(), opt_.checkpoint_topic, 10000);
      !s.ok())
    logger_->info("checkpoint topic: {} (carrying on; the broker may create it)", s.message());
  while (!stop_requested_) {
    auto last =
        ship::ReadLastRecord(settings_, &context_, opt_.checkpoint_topic, transactional_id_, 10000);
    if (!last.ok()) {
      logger_->warn("{}; retrying", last.status().message());
      SetError(last.status().message(), false);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    std::uint64_t in_kafka = 0;
    if (last->found) {
      nlohmann::json j = nlohmann::json::parse(last->value, nullptr, false);
      if (!j.is_object() || !j.contains("position") || !j["position"].is_number_unsigned() ||
          !j.contains("store_id") || !j["store_id"].is_string())
        return Status::Corruption(fmt::format("checkpoint record '{}' in topic {} is malformed",
                                              transactional_id_, opt_.checkpoint_topic));
      if (j["store_id"].get<std::string>() != store_id_)
        return Status::FailedPrecondition(fmt::format(
            "checkpoint record '{}' in topic {} belongs to store {}, not {}: two stores share "
            "a transactional.id",
            transactional_id_, opt_.checkpoint_topic, j["store_id"].get<std::string>(), store_id_));
      in_kafka = j["position"].get<std::uint64_t>();
    }
    if (in_kafka > store_.last_position())
      return Status::FailedPrecondition(
          fmt::format("Kafka's checkpoint says position {} was shipped, past the store's head {}",
                      in_kafka, store_.last_position()));
    if (in_kafka != shipped_through_)
      logger_->info("Kafka's checkpoint is position {}, the store's {}; following Kafka", in_kafka,
                    shipped_through_);
    shipped_through_ = in_kafka;
    next_position_ = in_kafka + 1;
    return Status::Ok();
  }
  return Status::Cancelled("stopped while connecting");
}

Status Shipper::Impl::InitTransactions(rd_kafka_t* producer, std::string_view transactional_id) {
  while (!stop_requested_) {
    rd_kafka_error_t* e = rd_kafka_init_transactions(producer, 10000);
    if (!e) return Status::Ok();
    std::string what = rd_kafka_error_string(e);
    const bool retriable = rd_kafka_error_is_retriable(e);
    rd_kafka_error_destroy(e);
    if (!retriable)
      return Status::Unavailable(
          fmt::format("initializing Kafka transactions ({}): {}", transactional_id, what));
    logger_->warn("initializing Kafka transactions ({}): {}; retrying", transactional_id, what);
    SetError("initializing transactions: " + what, false);
  }
  return Status::Cancelled("stopped while connecting");
}

void Shipper::Impl::DrainProducer() {
  if (!session_ || !session_->producer) return;
  session_->reader.reset();
  rd_kafka_purge(session_->producer.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  // Purged messages still get their delivery reports; collect them so none arrives later.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (rd_kafka_outq_len(session_->producer.get()) > 0 && Clock::now() < deadline)
    rd_kafka_poll(session_->producer.get(), 10);
}

void Shipper::Impl::Disconnect() {
  DrainProducer();
  session_.reset();
}

rd_kafka_topic_t* Shipper::Impl::Topic(const std::string& name) {
  auto it = session_->topics.find(name);
  if (it != session_->topics.end()) return it->second;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(session_->producer.get(), name.c_str(), nullptr);
  session_->topics.emplace(name, rkt);
  return rkt;
}

// --- Shipper: the public face ----------------------------------------------------------------

Shipper::Shipper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Shipper::~Shipper() = default;

Result<std::unique_ptr<Shipper>> Shipper::Start(Store& store, ShipperOptions options) {
  auto impl = std::make_unique<Impl>(store, std::move(options));
  if (Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Shipper>(new Shipper(std::move(impl)));
}

ShipperStatus Shipper::GetStatus() const { return impl_->GetStatus(); }
std::uint64_t Shipper::shipped_through() const { return impl_->shipped_through(); }
Status Shipper::WaitUntilShipped(std::uint64_t position, std::chrono::milliseconds timeout) {
  return impl_->WaitUntilShipped(position, timeout);
}
Status Shipper::Stop() { return impl_->Stop(); }

}  // namespace cairn
