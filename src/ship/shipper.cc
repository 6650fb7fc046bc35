// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The shipping thread (docs/shipping.md). It reads the log forward from the checkpoint and
// keeps up to max_in_flight_events produced but unacknowledged, in position order. The
// shipped-through position advances over the contiguous acknowledged (or dead-lettered)
// prefix. Anything that leaves the outcome of a message unknown — a failed delivery that is
// not the message's own fault, a fatal producer error — is handled the same way: throw the
// producer away, rewind to the shipped-through position and produce again. That can only
// repeat events past the checkpoint (at-least-once), never skip or reorder them.
#include "cairn/shipper.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include <flatbuffers/flatbuffers.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "codec/envelope.h"
#include "ship/kafka.h"
#include "ship/routing.h"
#include "util/logging.h"
#include "util/string_hash.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}


// Latencies of recent acknowledgements, for percentiles.
class LatencyWindow {
 public:
  void Add(std::uint32_t us) {
    samples_[next_++ % samples_.size()] = us;
    count_ = std::min(count_ + 1, samples_.size());
  }
  std::pair<double, double> P50P99Ms() const {
    if (count_ == 0) return {0, 0};
    std::vector<std::uint32_t> v(samples_.begin(), samples_.begin() + count_);
    auto at = [&](double q) {
      std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()));
      std::nth_element(v.begin(), v.begin() + k, v.end());
      return v[k] / 1000.0;
    };
    return {at(0.5), at(0.99)};
  }

 private:
  std::array<std::uint32_t, 4096> samples_{};
  std::size_t next_ = 0;
  std::size_t count_ = 0;
};

// cairn's producer defaults first, the user's settings after them (librdkafka: last one wins).
ship::KafkaSettings ProducerSettings(const ShipperOptions& o, const std::string& store_id) {
  ship::KafkaSettings settings = {
      {"client.id", "cairn-" + store_id.substr(0, 8)},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"partitioner", "murmur2_random"},  // the Java client's: same key, same partition
      {"reconnect.backoff.ms", "100"},
      {"reconnect.backoff.max.ms", "1000"},
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

// The message headers of an event (docs/shipping.md, "wire format v1").
rd_kafka_headers_t* EventHeaders(const RecordedEvent& e, const std::string& type_header,
                                 const std::string& store_id, std::string_view txn_tag) {
  rd_kafka_headers_t* headers = rd_kafka_headers_new(10);
  auto add = [&](std::string_view name, std::string_view v) {
    rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), v.data(),
                        static_cast<ssize_t>(v.size()));
  };
  add("cairn.event_id", e.id.ToString());
  add(type_header, e.type);
  add("cairn.stream", e.stream);
  add("cairn.version", std::to_string(e.version));
  add("cairn.position", std::to_string(e.position));
  add("cairn.timestamp_us", std::to_string(e.timestamp_us));
  if (!e.content_type.empty()) add("content-type", e.content_type);
  // Consumers upcast old payload shapes on their side: tell them which shape this is.
  if (e.schema_version != 1) add("cairn.schema_version", std::to_string(e.schema_version));
  add("cairn.store_id", store_id);
  add("cairn.chain_hash", HexHash(e.chain_hash));
  // Exactly-once: which transaction carried the event. Its checkpoint record names the same
  // tag, so a reader of a cluster that shows aborted data (the mock) can tell committed
  // events from aborted ones.
  if (!txn_tag.empty()) add("cairn.txn", txn_tag);
  return headers;
}

}  // namespace

std::string_view ToString(ShipperState state) {
  switch (state) {
    case ShipperState::kStarting: return "starting";
    case ShipperState::kShipping: return "shipping";
    case ShipperState::kRecovering: return "recovering";
    case ShipperState::kStopped: return "stopped";
    case ShipperState::kFailed: return "failed";
  }
  return "unknown";
}

class Shipper::Impl {
 public:
  Impl(Store& store, ShipperOptions options)
      : store_(store),
        opt_(std::move(options)),
        router_(opt_.routes, opt_.default_topic),
        logger_(internal::MakeLogger(opt_.log_sink, opt_.log_level)) {
    context_.logger = logger_.get();
    context_.owner = this;
    store_id_ = store_.Info().store_id;
  }

  ~Impl() { (void)Stop(); }

  Status Init();
  Status Stop();
  ShipperStatus GetStatus() const;
  std::uint64_t shipped_through() const {
    std::lock_guard<std::mutex> lk(status_mu_);
    return status_.shipped_through;
  }
  Status WaitUntilShipped(std::uint64_t position, std::chrono::milliseconds timeout);

 private:
  // One event between produce() and its acknowledgement, in position order.
  struct InFlight {
    std::uint64_t position = 0;
    bool done = false;
    std::uint32_t bytes = 0;
    Clock::time_point produced_at;
  };
  struct PendingDeadLetter {
    DeadLetter record;
    std::string key;
    std::string value;
    std::string error_code;
  };

  void Run();
  Status Connect();
  void Disconnect();
  Status LoadStartPosition();
  bool FillInFlight(std::size_t max_new);
  // Produces one event; false when the producer's queue is full (try again after a poll).
  bool ProduceEvent(const RecordedEvent& e);
  // Records `e` as a dead letter. `track` adds it to in_flight_ as done (false when it is
  // already there, failed after produce()).
  void DeadLetterEvent(const RecordedEvent& e, std::string_view topic, std::string error,
                       std::string_view error_code, std::uint64_t held_behind, bool track = true);
  void ProduceToDeadLetterTopic(const PendingDeadLetter& d);
  Status FlushDeadLetters();
  void AdvanceShippedThrough();
  void Rewind(std::string_view why);
  void PublishStatus(bool force);
  void SetError(std::string error, bool failed);
  Status SaveCheckpoint(bool sync);
  rd_kafka_topic_t* Topic(const std::string& name);

  // Exactly-once.
  Status BeginTransaction();
  // Waits for the transaction's acknowledgements until `deadline`, then commits it.
  Status CommitTransaction(Clock::time_point deadline);
  void AbortTransaction(std::string_view why);
  bool TransactionDue() const;

  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  // While idle: is any broker there? (shipping thread)
  void ProbeBrokersWhenIdle();
  void HandleDelivery(const rd_kafka_message_t* m);

  Store& store_;
  const ShipperOptions opt_;
  const ship::Router router_;
  std::shared_ptr<spdlog::logger> logger_;
  ship::ClientContext context_;
  std::string store_id_;
  std::string transactional_id_;
  ship::KafkaSettings settings_;

  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  std::mutex stop_mu_;
  bool stopped_ = false;
  Status final_status_;

  // --- shipping thread only ---
  ship::KafkaPtr producer_;
  std::map<std::string, rd_kafka_topic_t*, std::less<>> topics_;
  std::optional<EventReader> reader_;
  std::deque<InFlight> in_flight_;
  std::uint64_t next_position_ = 1;    // the next position to read and produce
  std::uint64_t shipped_through_ = 0;
  std::uint64_t saved_checkpoint_ = 0;
  Clock::time_point last_checkpoint_save_;
  // Streams held behind a dead letter (kHoldStream): stream -> the dead letter's position.
  // Probed with a string_view per event: no allocation on the hot path.
  std::unordered_map<std::string, std::uint64_t, internal::StringHash, std::equal_to<>>
      held_streams_;
  // Positions past shipped_through_ already dead-lettered: never produced again on a rewind.
  std::map<std::uint64_t, bool> dead_positions_;
  std::vector<PendingDeadLetter> pending_dead_letters_;  // not yet in the store
  std::vector<PendingDeadLetter> pending_dlt_;           // exactly-once: to the DLT next txn
  std::vector<PendingDeadLetter> txn_dlt_;               // exactly-once: sent in this txn
  bool rewind_needed_ = false;
  std::string rewind_reason_;
  bool fatal_ = false;
  bool fenced_ = false;
  std::string fatal_reason_;
  std::uint64_t mean_event_bytes_ = 0;
  LatencyWindow latencies_;
  flatbuffers::FlatBufferBuilder fbb_{1024};
  std::string scratch_;
  bool in_transaction_ = false;
  std::uint64_t txn_events_ = 0;
  Clock::time_point txn_started_;
  std::uint64_t txn_last_position_ = 0;
  bool txn_failed_ = false;
  std::uint64_t run_id_ = std::random_device()() * 0x100000000ull ^ std::random_device()();
  std::uint64_t txn_seq_ = 0;
  std::string txn_tag_;

  // --- published status, under status_mu_ ---
  mutable std::mutex status_mu_;
  std::condition_variable shipped_cv_;
  ShipperStatus status_;
  Clock::time_point rate_window_start_ = Clock::now();
  std::uint64_t rate_window_events_ = 0;
  std::uint64_t published_mean_bytes_ = 0;
  Clock::time_point last_publish_;
  // Counters written by the shipping thread, published into status_.
  std::uint64_t events_shipped_ = 0;
  std::uint64_t bytes_shipped_ = 0;
  std::uint64_t in_flight_bytes_ = 0;
  std::atomic<bool> broker_reachable_{false};
  Clock::time_point last_broker_probe_{};  // shipping thread only
  std::string last_transport_error_;        // under status_mu_
};

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
  if (opt_.max_in_flight_events == 0)
    return Status::InvalidArgument("max_in_flight_events must be at least 1");
  if (opt_.mode == DeliveryMode::kExactlyOnce) {
    if (Status s = ship::ValidateTopicName(opt_.checkpoint_topic); !s.ok())
      return Status::InvalidArgument("checkpoint topic: " + s.message());
    if (opt_.transaction_max_events == 0)
      return Status::InvalidArgument("transaction_max_events must be at least 1");
  }
  if (store_.Info().read_only)
    return Status::FailedPrecondition(
        "the shipper saves its checkpoint in the store: open the store writable");
  // The checkpoint is where shipping starts; a store that cannot give it (closed, damaged)
  // is an error now rather than a thread that fails later.
  if (auto checkpoint = store_.LoadCheckpoint(opt_.checkpoint_name); !checkpoint.ok())
    return checkpoint.status();

  transactional_id_ =
      opt_.transactional_id.empty() ? "cairn-" + store_id_ : opt_.transactional_id;

  settings_ = ProducerSettings(opt_, store_id_);
  if (opt_.mode == DeliveryMode::kExactlyOnce) {
    // Before the user's settings, which come last in ProducerSettings' list and so win.
    settings_.insert(settings_.end() - static_cast<std::ptrdiff_t>(opt_.kafka_config.size()),
                     {"transactional.id", transactional_id_});
  }
  // Check the settings now, so that a typo is the caller's error, not the thread's.
  if (auto conf = ship::MakeConf(settings_, &context_); !conf.ok()) return conf.status();

  // Dead letters from earlier runs: their streams stay held, their positions stay skipped.
  auto dead = store_.ListDeadLetters();
  if (!dead.ok()) return dead.status();
  for (const DeadLetter& d : *dead) {
    if (opt_.dead_letter_policy == DeadLetterPolicy::kHoldStream)
      held_streams_.emplace(d.stream, d.held_behind ? d.held_behind : d.position);
    dead_positions_.emplace(d.position, true);
  }

  auto checkpoint = store_.LoadCheckpoint(opt_.checkpoint_name);
  if (!checkpoint.ok()) return checkpoint.status();
  shipped_through_ = saved_checkpoint_ = *checkpoint;
  if (shipped_through_ > store_.Info().last_position)
    return Status::FailedPrecondition(fmt::format(
        "shipper checkpoint '{}' is at position {}, past the store's head {}: the store was "
        "replaced or restored from an older copy",
        opt_.checkpoint_name, shipped_through_, store_.Info().last_position));
  next_position_ = shipped_through_ + 1;
  {
    std::lock_guard<std::mutex> lk(status_mu_);
    status_.shipped_through = shipped_through_;
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

Status Shipper::Impl::Connect() {
  auto conf = ship::MakeConf(settings_, &context_);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Impl::OnDelivery);
  rd_kafka_conf_set_error_cb(conf->get(), &Impl::OnError);
  char err[512];
  producer_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf->release(), err, sizeof err));
  if (!producer_) return Status::InvalidArgument(fmt::format("Kafka producer: {}", err));

  if (opt_.mode != DeliveryMode::kExactlyOnce) return Status::Ok();

  // Fences any earlier producer with our transactional.id and aborts its open transaction.
  while (!stop_requested_) {
    rd_kafka_error_t* e = rd_kafka_init_transactions(producer_.get(), 10000);
    if (!e) break;
    std::string what = rd_kafka_error_string(e);
    const bool retriable = rd_kafka_error_is_retriable(e);
    rd_kafka_error_destroy(e);
    if (!retriable) return Status::Unavailable("initializing Kafka transactions: " + what);
    logger_->warn("initializing Kafka transactions: {}; retrying", what);
    SetError("initializing transactions: " + what, false);
  }
  if (stop_requested_) return Status::Cancelled("stopped while connecting");

  // What Kafka already holds: the last committed checkpoint record of this store.
  if (Status s = ship::CreateCompactedTopic(producer_.get(), opt_.checkpoint_topic, 10000);
      !s.ok())
    logger_->info("checkpoint topic: {} (carrying on; the broker may create it)", s.message());
  while (!stop_requested_) {
    auto last = ship::ReadLastRecord(settings_, &context_, opt_.checkpoint_topic,
                                     transactional_id_, 10000);
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
        return Status::Corruption(fmt::format(
            "checkpoint record '{}' in topic {} is malformed", transactional_id_,
            opt_.checkpoint_topic));
      if (j["store_id"].get<std::string>() != store_id_)
        return Status::FailedPrecondition(fmt::format(
            "checkpoint record '{}' in topic {} belongs to store {}, not {}: two stores share "
            "a transactional.id",
            transactional_id_, opt_.checkpoint_topic, j["store_id"].get<std::string>(),
            store_id_));
      in_kafka = j["position"].get<std::uint64_t>();
    }
    if (in_kafka > store_.Info().last_position)
      return Status::FailedPrecondition(fmt::format(
          "Kafka's checkpoint says position {} was shipped, past the store's head {}",
          in_kafka, store_.Info().last_position));
    if (in_kafka != shipped_through_)
      logger_->info("Kafka's checkpoint is position {}, the store's {}; following Kafka",
                    in_kafka, shipped_through_);
    shipped_through_ = in_kafka;
    next_position_ = in_kafka + 1;
    return Status::Ok();
  }
  return Status::Cancelled("stopped while connecting");
}

void Shipper::Impl::Disconnect() {
  reader_.reset();
  if (!producer_) return;
  rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  // Purged messages still get their delivery reports; collect them so none arrives later.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (rd_kafka_outq_len(producer_.get()) > 0 && Clock::now() < deadline)
    rd_kafka_poll(producer_.get(), 10);
  for (auto& [name, rkt] : topics_) rd_kafka_topic_destroy(rkt);
  topics_.clear();
  producer_.reset();
  in_transaction_ = false;
}

rd_kafka_topic_t* Shipper::Impl::Topic(const std::string& name) {
  auto it = topics_.find(name);
  if (it != topics_.end()) return it->second;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(producer_.get(), name.c_str(), nullptr);
  topics_.emplace(name, rkt);
  return rkt;
}

// --- the loop --------------------------------------------------------------------------------

void Shipper::Impl::Run() {
  {
    std::lock_guard<std::mutex> lk(status_mu_);
    status_.state = ShipperState::kStarting;
  }
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_requested_) {
    if (!producer_) {
      Status s = Connect();
      if (!s.ok()) {
        Disconnect();
        if (s.code() == StatusCode::kCancelled) break;
        // Permanent problems (bad settings, a foreign checkpoint, fenced) stop the shipper.
        if (s.code() != StatusCode::kUnavailable) {
          logger_->error("shipper stopped: {}", s.message());
          SetError(s.message(), true);
          return;
        }
        SetError(s.message(), false);
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        continue;
      }
      backoff = std::chrono::milliseconds(100);
      std::lock_guard<std::mutex> lk(status_mu_);
      status_.state = ShipperState::kShipping;
      status_.shipped_through = shipped_through_;
    }

    if (fenced_ && opt_.mode == DeliveryMode::kExactlyOnce) {
      const std::string why = fmt::format(
          "fenced: another shipper uses transactional.id '{}' ({})", transactional_id_,
          fatal_reason_);
      logger_->error("shipper stopped: {}", why);
      Disconnect();
      SetError(why, true);
      return;
    }
    if (fatal_ || rewind_needed_) {
      Rewind(fatal_ ? fatal_reason_ : rewind_reason_);
      continue;
    }

    const bool exactly_once = opt_.mode == DeliveryMode::kExactlyOnce;
    if (exactly_once && !in_transaction_) {
      if (next_position_ > store_.Info().last_position) {
        store_.WaitForPosition(next_position_ - 1, std::chrono::milliseconds(20));
        rd_kafka_poll(producer_.get(), 0);
        PublishStatus(false);
        continue;
      }
      if (Status s = BeginTransaction(); !s.ok()) continue;
    }

    std::size_t room = opt_.max_in_flight_events - std::min(opt_.max_in_flight_events,
                                                            in_flight_.size());
    if (exactly_once)
      room = std::min<std::size_t>(room, opt_.transaction_max_events - txn_events_);
    const bool produced = room > 0 && FillInFlight(room);
    rd_kafka_poll(producer_.get(), 0);
    if (Status s = FlushDeadLetters(); !s.ok()) {
      SetError(s.message(), true);
      break;
    }
    AdvanceShippedThrough();

    if (exactly_once) {
      if (in_transaction_ && (TransactionDue() || stop_requested_))
        (void)CommitTransaction(Clock::now() + (stop_requested_ ? opt_.drain_timeout
                                                                : std::chrono::seconds(30)));
    } else if (shipped_through_ != saved_checkpoint_ &&
               Clock::now() - last_checkpoint_save_ >= opt_.checkpoint_interval) {
      if (Status s = SaveCheckpoint(false); !s.ok()) SetError(s.message(), false);
    }
    PublishStatus(false);

    if (!produced) {
      // Nothing new to send: sleep until an append commits or an acknowledgement arrives.
      if (in_flight_.empty() && !in_transaction_) {
        ProbeBrokersWhenIdle();
        store_.WaitForPosition(next_position_ - 1, std::chrono::milliseconds(20));
      }
      else if (next_position_ > store_.Info().last_position)
        rd_kafka_poll(producer_.get(), 1);
      else
        rd_kafka_poll(producer_.get(), in_flight_.size() >= opt_.max_in_flight_events ? 5 : 0);
    }
  }

  // Drain: let in-flight events land, then save where we got to.
  const auto deadline = Clock::now() + opt_.drain_timeout;
  if (producer_) {
    if (opt_.mode == DeliveryMode::kExactlyOnce) {
      if (in_transaction_ && !fatal_ && !rewind_needed_) (void)CommitTransaction(deadline);
      if (in_transaction_) AbortTransaction("stopping");
    } else {
      while (!in_flight_.empty() && Clock::now() < deadline && !fatal_) {
        rd_kafka_poll(producer_.get(), 10);
        AdvanceShippedThrough();
      }
    }
  }
  (void)FlushDeadLetters();
  AdvanceShippedThrough();
  Disconnect();
  if (opt_.mode == DeliveryMode::kAtLeastOnce || shipped_through_ != saved_checkpoint_)
    if (Status s = SaveCheckpoint(true); !s.ok()) SetError(s.message(), false);
  std::lock_guard<std::mutex> lk(status_mu_);
  if (status_.state != ShipperState::kFailed) status_.state = ShipperState::kStopped;
  status_.shipped_through = shipped_through_;
  shipped_cv_.notify_all();
}

bool Shipper::Impl::FillInFlight(std::size_t max_new) {
  const std::uint64_t head = store_.Info().last_position;
  if (next_position_ > head) return false;
  if (!reader_ || !reader_->Valid()) {
    reader_.reset();
    LogReadOptions ro;
    ro.from_position = next_position_;
    ro.upcast = false;  // Kafka gets the bytes the chain hash covers
    auto r = store_.ReadLog(ro);
    if (!r.ok()) {
      SetError(r.status().message(), false);
      return false;
    }
    reader_.emplace(std::move(r).value());
  }
  std::size_t n = 0;
  for (; n < max_new && reader_->Valid(); reader_->Next()) {
    const RecordedEvent& e = reader_->event();
    if (e.position != next_position_) {
      SetError(fmt::format("log read returned position {} where {} was expected", e.position,
                           next_position_),
               true);
      stop_requested_ = true;
      return false;
    }
    if (!ProduceEvent(e)) break;  // queue full: poll, then carry on from this event
    txn_last_position_ = e.position;
    ++next_position_;
    ++n;
  }
  if (!reader_->Valid() && !reader_->status().ok()) {
    // A corrupt event: stop rather than skip it; the operator must look (cairn verify).
    logger_->error("shipper stopped: {}", reader_->status().message());
    SetError(reader_->status().message(), true);
    stop_requested_ = true;
  }
  return n > 0;
}

bool Shipper::Impl::ProduceEvent(const RecordedEvent& e) {
  const std::string& topic = router_.TopicFor(e.stream, e.type);
  if (dead_positions_.count(e.position)) {
    in_flight_.push_back(InFlight{e.position, true, 0, Clock::now()});
    return true;
  }
  if (auto held = held_streams_.find(e.stream); held != held_streams_.end()) {
    DeadLetterEvent(e, topic,
                    fmt::format("held: stream '{}' waits behind the dead letter at position {}",
                                e.stream, held->second),
                    "held", held->second);
    return true;
  }

  std::string_view value = e.payload;
  if (opt_.value_format == ValueFormat::kEnvelope) {
    scratch_.clear();
    codec::EncodeEvent(e, &fbb_, &scratch_);
    value = scratch_;
  }
  rd_kafka_headers_t* headers = EventHeaders(
      e, opt_.type_header, store_id_,
      opt_.mode == DeliveryMode::kExactlyOnce ? std::string_view(txn_tag_) : std::string_view());

  rd_kafka_resp_err_t err = rd_kafka_producev(
      producer_.get(), RD_KAFKA_V_RKT(Topic(topic)),
      RD_KAFKA_V_KEY(e.stream.data(), e.stream.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
      RD_KAFKA_V_TIMESTAMP(e.timestamp_us / 1000),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<std::uintptr_t>(e.position))),
      RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const auto bytes = static_cast<std::uint32_t>(value.size() + e.stream.size());
    in_flight_.push_back(InFlight{e.position, false, bytes, Clock::now()});
    in_flight_bytes_ += bytes;
    if (opt_.mode == DeliveryMode::kExactlyOnce) ++txn_events_;
    return true;
  }
  rd_kafka_headers_destroy(headers);  // not taken over on failure
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return false;
  if (ship::IsPermanentMessageError(err)) {
    DeadLetterEvent(e, topic, rd_kafka_err2str(err), rd_kafka_err2name(err), 0);
    return true;
  }
  if (err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR__STATE) {
    fatal_ = true;
    fatal_reason_ = rd_kafka_err2str(err);
  } else {
    rewind_needed_ = true;
    rewind_reason_ = fmt::format("produce: {}", rd_kafka_err2str(err));
  }
  return false;
}

void Shipper::Impl::DeadLetterEvent(const RecordedEvent& e, std::string_view topic,
                                    std::string error, std::string_view error_code,
                                    std::uint64_t held_behind, bool track) {
  PendingDeadLetter d;
  d.record.position = e.position;
  d.record.stream = std::string(e.stream);
  d.record.version = e.version;
  d.record.destination = std::string(topic);
  d.record.error = std::move(error);
  d.record.time_us = NowUs();
  d.record.held_behind = held_behind;
  d.error_code = std::string(error_code);
  if (!opt_.dead_letter_topic.empty()) {
    d.key = std::string(e.stream);
    d.value = std::string(e.payload);
  }
  if (held_behind == 0) {
    logger_->warn("dead letter: position {} (stream '{}' version {}) to {}: {}", e.position,
                  e.stream, e.version, topic, d.record.error);
    if (opt_.dead_letter_policy == DeadLetterPolicy::kHoldStream)
      held_streams_.emplace(d.record.stream, e.position);
  }
  dead_positions_.emplace(e.position, true);
  if (track) in_flight_.push_back(InFlight{e.position, true, 0, Clock::now()});
  if (!opt_.dead_letter_topic.empty()) {
    if (opt_.mode == DeliveryMode::kExactlyOnce)
      pending_dlt_.push_back(d);
    else
      ProduceToDeadLetterTopic(d);
  }
  pending_dead_letters_.push_back(std::move(d));
  std::lock_guard<std::mutex> lk(status_mu_);
  ++status_.dead_letters;
}

void Shipper::Impl::ProduceToDeadLetterTopic(const PendingDeadLetter& d) {
  rd_kafka_headers_t* headers = rd_kafka_headers_new(8);
  auto add = [&](std::string_view name, std::string_view v) {
    rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), v.data(),
                        static_cast<ssize_t>(v.size()));
  };
  const std::string position = std::to_string(d.record.position);
  const std::string version = std::to_string(d.record.version);
  add("cairn.error", d.record.error);
  add("cairn.error_code", d.error_code);
  add("cairn.original_topic", d.record.destination);
  add("cairn.stream", d.record.stream);
  add("cairn.version", version);
  add("cairn.position", position);
  add("cairn.store_id", store_id_);
  // A payload over the size limit cannot go to the DLT either: send the record without it.
  const bool too_large = d.error_code.find("SIZE_TOO_LARGE") != std::string::npos;
  rd_kafka_resp_err_t err = rd_kafka_producev(
      producer_.get(), RD_KAFKA_V_RKT(Topic(opt_.dead_letter_topic)),
      RD_KAFKA_V_KEY(d.key.data(), d.key.size()),
      RD_KAFKA_V_VALUE(too_large ? nullptr : const_cast<char*>(d.value.data()),
                       too_large ? 0 : d.value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
      RD_KAFKA_V_OPAQUE(nullptr), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_headers_destroy(headers);
    logger_->warn("dead-letter topic {}: {} (the local record is kept)", opt_.dead_letter_topic,
                  rd_kafka_err2str(err));
  }
}

Status Shipper::Impl::FlushDeadLetters() {
  if (pending_dead_letters_.empty()) return Status::Ok();
  std::vector<DeadLetter> records;
  records.reserve(pending_dead_letters_.size());
  for (const auto& d : pending_dead_letters_) records.push_back(d.record);
  Status s = store_.PutDeadLetters(records);
  if (s.ok()) pending_dead_letters_.clear();
  return s;
}

void Shipper::Impl::AdvanceShippedThrough() {
  // Dead letters must be on disk before the checkpoint passes them.
  if (!pending_dead_letters_.empty()) return;
  std::uint64_t through = shipped_through_;
  while (!in_flight_.empty() && in_flight_.front().done) {
    through = in_flight_.front().position;
    in_flight_.pop_front();
  }
  if (opt_.mode == DeliveryMode::kExactlyOnce) return;  // commits move it (CommitTransaction)
  if (through == shipped_through_) return;
  shipped_through_ = through;
  dead_positions_.erase(dead_positions_.begin(), dead_positions_.upper_bound(through));
  {
    std::lock_guard<std::mutex> lk(status_mu_);
    status_.shipped_through = through;
  }
  shipped_cv_.notify_all();
}

void Shipper::Impl::HandleDelivery(const rd_kafka_message_t* m) {
  const auto position = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(m->_private));
  if (position == 0) {  // a dead-letter-topic or checkpoint message
    if (m->err)
      logger_->warn("{}: {}", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    return;
  }
  if (in_flight_.empty() || position < in_flight_.front().position ||
      position - in_flight_.front().position >= in_flight_.size())
    return;  // from before a rewind
  InFlight& f = in_flight_[position - in_flight_.front().position];
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    f.done = true;
    broker_reachable_ = true;
    ++events_shipped_;
    bytes_shipped_ += f.bytes;
    in_flight_bytes_ -= std::min<std::uint64_t>(in_flight_bytes_, f.bytes);
    mean_event_bytes_ = mean_event_bytes_ ? (mean_event_bytes_ * 63 + f.bytes) / 64 : f.bytes;
    latencies_.Add(static_cast<std::uint32_t>(std::min<std::int64_t>(
        UINT32_MAX, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                                          f.produced_at)
                        .count())));
    return;
  }
  {
    std::lock_guard<std::mutex> lk(status_mu_);
    ++status_.delivery_errors;
  }
  if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
    return;  // we purged it on a rewind; it ships again from the checkpoint
  if (ship::IsPermanentMessageError(m->err)) {
    auto event = store_.ReadEvent(position, /*upcast=*/false);
    if (event.ok()) {
      f.done = true;
      in_flight_bytes_ -= std::min<std::uint64_t>(in_flight_bytes_, f.bytes);
      DeadLetterEvent(event->view(), rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err),
                      rd_kafka_err2name(m->err), 0, /*track=*/false);
      if (opt_.mode == DeliveryMode::kExactlyOnce) txn_failed_ = true;  // abort and redo
      return;
    }
  }
  logger_->warn("delivery of position {} failed: {}; rewinding to the checkpoint", position,
                rd_kafka_err2str(m->err));
  rewind_needed_ = true;
  rewind_reason_ = fmt::format("delivery failed: {}", rd_kafka_err2str(m->err));
  char reason[512];
  if (rd_kafka_fatal_error(producer_.get(), reason, sizeof reason) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    fatal_ = true;
    fatal_reason_ = reason;
  }
}

void Shipper::Impl::ProbeBrokersWhenIdle() {
  // Deliveries say the brokers are there while events flow; a caught-up shipper asks for
  // metadata once a second instead, so that "broker down" (and its metric) is never a false
  // alarm on a quiet store.
  const auto now = Clock::now();
  if (now - last_broker_probe_ < std::chrono::seconds(1)) return;
  last_broker_probe_ = now;
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(producer_.get(), 0, nullptr, &md, 500);
  if (md) rd_kafka_metadata_destroy(md);
  broker_reachable_ = err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

void Shipper::Impl::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  static_cast<Impl*>(static_cast<ship::ClientContext*>(opaque)->owner)->HandleDelivery(m);
}

void Shipper::Impl::OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Impl*>(static_cast<ship::ClientContext*>(opaque)->owner);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->broker_reachable_ = false;
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char why[512];
    const rd_kafka_resp_err_t cause = rd_kafka_fatal_error(rk, why, sizeof why);
    self->fatal_ = true;
    self->fatal_reason_ = why;
    // Another shipper took over our transactional.id: fencing it back would make the two
    // take turns forever. Stop and say so.
    if (cause == RD_KAFKA_RESP_ERR__FENCED || cause == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
        cause == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
      self->fenced_ = true;
  }
  self->logger_->log(code == RD_KAFKA_RESP_ERR__TRANSPORT ||
                             code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
                         ? spdlog::level::info
                         : spdlog::level::warn,
                     "kafka: {}", reason);
  std::lock_guard<std::mutex> lk(self->status_mu_);
  // "1/1 brokers are down" says nothing of why: keep the connection error that came before
  // it ("Connect to ipv4#127.0.0.1:1 failed: Connection refused").
  if (code == RD_KAFKA_RESP_ERR__TRANSPORT) self->last_transport_error_ = reason;
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !self->last_transport_error_.empty())
    self->status_.last_error = fmt::format("{} ({})", reason, self->last_transport_error_);
  else
    self->status_.last_error = reason;
}

void Shipper::Impl::Rewind(std::string_view why) {
  logger_->warn("rewinding to position {}: {}", shipped_through_ + 1, why);
  {
    std::lock_guard<std::mutex> lk(status_mu_);
    status_.state = ShipperState::kRecovering;
    status_.last_error = std::string(why);
    ++status_.rewinds;
  }
  if (opt_.mode == DeliveryMode::kExactlyOnce && in_transaction_ && !fatal_)
    AbortTransaction(why);
  // A new producer: fresh idempotence sequence numbers, no message of unknown fate behind us.
  // Disconnect collects the last delivery reports, so the checkpoint keeps every success.
  Disconnect();
  (void)FlushDeadLetters();
  if (opt_.mode == DeliveryMode::kAtLeastOnce) AdvanceShippedThrough();
  in_flight_.clear();
  in_flight_bytes_ = 0;
  // Dead-letter-topic records of an aborted transaction go out again in the next one.
  pending_dlt_.insert(pending_dlt_.end(), txn_dlt_.begin(), txn_dlt_.end());
  txn_dlt_.clear();
  next_position_ = shipped_through_ + 1;
  rewind_needed_ = false;
  fatal_ = false;
  txn_failed_ = false;
  txn_events_ = 0;
}

// --- exactly-once ----------------------------------------------------------------------------

Status Shipper::Impl::BeginTransaction() {
  rd_kafka_error_t* e = rd_kafka_begin_transaction(producer_.get());
  if (e) {
    fatal_ = true;
    fatal_reason_ = std::string("begin transaction: ") + rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    return Status::Unavailable(fatal_reason_);
  }
  in_transaction_ = true;
  txn_events_ = 0;
  txn_failed_ = false;
  txn_started_ = Clock::now();
  txn_last_position_ = shipped_through_;
  txn_tag_ = fmt::format("{:016x}-{}", run_id_, ++txn_seq_);
  // Dead letters found in the aborted attempt go to the DLT in this transaction.
  for (const auto& d : pending_dlt_) ProduceToDeadLetterTopic(d);
  txn_dlt_ = std::move(pending_dlt_);
  pending_dlt_.clear();
  return Status::Ok();
}

bool Shipper::Impl::TransactionDue() const {
  // A full in-flight window is not a reason to commit: acknowledgements free it, and bigger
  // transactions cost fewer commits.
  return txn_events_ >= opt_.transaction_max_events ||
         Clock::now() - txn_started_ >= opt_.transaction_max_interval;
}

Status Shipper::Impl::CommitTransaction(Clock::time_point deadline) {
  // Every event of the transaction must be acknowledged before the checkpoint record is
  // written, so that a visible checkpoint always means its events are there too (the mock
  // cluster shows uncommitted data; see docs/shipping.md).
  while (std::any_of(in_flight_.begin(), in_flight_.end(), [](const InFlight& f) { return !f.done; })) {
    if (txn_failed_ || rewind_needed_ || fatal_) break;
    if (Clock::now() > deadline) {
      rewind_needed_ = true;
      rewind_reason_ = "transaction events not acknowledged in time";
      break;
    }
    rd_kafka_poll(producer_.get(), 5);
  }
  if (txn_failed_ || rewind_needed_ || fatal_) {
    (void)FlushDeadLetters();
    rewind_needed_ = true;
    if (rewind_reason_.empty()) rewind_reason_ = "a message of the transaction failed";
    return Status::Unavailable(rewind_reason_);
  }
  if (Status s = FlushDeadLetters(); !s.ok()) return s;
  const std::uint64_t through = txn_last_position_;

  const nlohmann::json record = {{"v", 1},
                                 {"store_id", store_id_},
                                 {"position", through},
                                 {"txn", txn_tag_},
                                 {"time_us", NowUs()}};
  const std::string value = record.dump();
  rd_kafka_resp_err_t err = rd_kafka_producev(
      producer_.get(), RD_KAFKA_V_RKT(Topic(opt_.checkpoint_topic)), RD_KAFKA_V_PARTITION(0),
      RD_KAFKA_V_KEY(transactional_id_.data(), transactional_id_.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(nullptr), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rewind_needed_ = true;
    rewind_reason_ = fmt::format("checkpoint record: {}", rd_kafka_err2str(err));
    return Status::Unavailable(rewind_reason_);
  }
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    rd_kafka_error_t* e = rd_kafka_commit_transaction(
        producer_.get(), static_cast<int>(std::max<std::int64_t>(1000, left.count())));
    if (!e) break;
    const std::string what = rd_kafka_error_string(e);
    const bool retriable = rd_kafka_error_is_retriable(e);
    const bool abort = rd_kafka_error_txn_requires_abort(e);
    const bool fatal = rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
    if (retriable && !stop_requested_) {
      logger_->info("commit transaction: {}; retrying", what);
      continue;
    }
    if (fatal) {
      fatal_ = true;
      fatal_reason_ = "commit transaction: " + what;
    } else {
      rewind_needed_ = true;
      rewind_reason_ = "commit transaction: " + what;
      if (!abort) fatal_ = true;  // state unknown: start from a new producer
    }
    return Status::Unavailable(what);
  }
  in_transaction_ = false;
  in_flight_.clear();
  in_flight_bytes_ = 0;
  txn_dlt_.clear();
  shipped_through_ = through;
  dead_positions_.erase(dead_positions_.begin(), dead_positions_.upper_bound(through));
  {
    std::lock_guard<std::mutex> lk(status_mu_);
    status_.shipped_through = through;
    ++status_.transactions_committed;
  }
  shipped_cv_.notify_all();
  if (Clock::now() - last_checkpoint_save_ >= opt_.checkpoint_interval)
    if (Status s = SaveCheckpoint(false); !s.ok()) SetError(s.message(), false);
  return Status::Ok();
}

void Shipper::Impl::AbortTransaction(std::string_view why) {
  logger_->info("aborting transaction: {}", why);
  rd_kafka_error_t* e = rd_kafka_abort_transaction(producer_.get(), 10000);
  if (e) {
    logger_->warn("abort transaction: {}", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    fatal_ = true;  // a new producer's init_transactions aborts it for us
  }
  in_transaction_ = false;
}

// --- status ----------------------------------------------------------------------------------

Status Shipper::Impl::SaveCheckpoint(bool sync) {
  Status s = store_.SaveCheckpoint(opt_.checkpoint_name, shipped_through_, sync);
  if (s.ok()) {
    saved_checkpoint_ = shipped_through_;
    last_checkpoint_save_ = Clock::now();
  }
  return s;
}

void Shipper::Impl::SetError(std::string error, bool failed) {
  std::lock_guard<std::mutex> lk(status_mu_);
  status_.last_error = std::move(error);
  if (failed) {
    status_.state = ShipperState::kFailed;
    final_status_ = Status::FailedPrecondition(status_.last_error);
    shipped_cv_.notify_all();
  }
}

void Shipper::Impl::PublishStatus(bool force) {
  const auto now = Clock::now();
  if (!force && now - last_publish_ < std::chrono::milliseconds(100)) return;
  last_publish_ = now;
  auto [p50, p99] = latencies_.P50P99Ms();
  std::lock_guard<std::mutex> lk(status_mu_);
  status_.events_shipped = events_shipped_;
  status_.bytes_shipped = bytes_shipped_;
  status_.produce_latency_p50_ms = p50;
  status_.produce_latency_p99_ms = p99;
  status_.broker_reachable = broker_reachable_;
  status_.lag_bytes = in_flight_bytes_;  // the rest is estimated in GetStatus
  if (status_.state == ShipperState::kRecovering) status_.state = ShipperState::kShipping;
  const double window = std::chrono::duration<double>(now - rate_window_start_).count();
  if (window >= 1.0) {
    status_.events_per_second = (events_shipped_ - rate_window_events_) / window;
    rate_window_events_ = events_shipped_;
    rate_window_start_ = now;
  }
  published_mean_bytes_ = mean_event_bytes_;
}

ShipperStatus Shipper::Impl::GetStatus() const {
  ShipperStatus s;
  const BacklogStatus backlog = store_.GetBacklog();
  std::uint64_t mean_bytes;
  {
    std::lock_guard<std::mutex> lk(status_mu_);
    s = status_;
    mean_bytes = published_mean_bytes_;
  }
  const StoreInfo info = store_.Info();
  s.head_position = info.last_position;
  s.lag_events = s.head_position > s.shipped_through ? s.head_position - s.shipped_through : 0;
  if (s.lag_events > 0) {
    auto oldest = store_.ReadEvent(s.shipped_through + 1);
    if (oldest.ok())
      s.lag_seconds = std::max<double>(0, (NowUs() - oldest->timestamp_us) / 1e6);
    s.lag_bytes += s.lag_events * mean_bytes;
  } else {
    s.lag_bytes = 0;
  }
  s.backlog = backlog;
  return s;
}

Status Shipper::Impl::WaitUntilShipped(std::uint64_t position, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(status_mu_);
  const bool done = shipped_cv_.wait_for(lk, timeout, [&] {
    return status_.shipped_through >= position || status_.state == ShipperState::kFailed ||
           status_.state == ShipperState::kStopped;
  });
  if (status_.shipped_through >= position) return Status::Ok();
  if (status_.state == ShipperState::kFailed) return final_status_;
  if (status_.state == ShipperState::kStopped)
    return Status::Cancelled(fmt::format("the shipper stopped at position {}",
                                         status_.shipped_through));
  (void)done;
  return Status::TimedOut(fmt::format("position {} not shipped within {} ms (shipped through {})",
                                      position, timeout.count(), status_.shipped_through));
}

Status Shipper::Impl::Stop() {
  std::lock_guard<std::mutex> lk(stop_mu_);
  if (stopped_) return final_status_;
  stopped_ = true;
  stop_requested_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> slk(status_mu_);
  if (status_.state == ShipperState::kFailed) return final_status_;
  return Status::Ok();
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

std::string Shipper::PrometheusMetrics() const {
  const ShipperStatus s = GetStatus();
  std::string out;
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help,
                    double value) {
    fmt::format_to(std::back_inserter(out), "# HELP cairn_shipper_{} {}\n", name, help);
    fmt::format_to(std::back_inserter(out), "# TYPE cairn_shipper_{} {}\n", name, type);
    fmt::format_to(std::back_inserter(out), "cairn_shipper_{} {}\n", name, value);
  };
  out += "# HELP cairn_shipper_state Current state (1 for the state named by the label).\n";
  out += "# TYPE cairn_shipper_state gauge\n";
  for (ShipperState st : {ShipperState::kStarting, ShipperState::kShipping,
                          ShipperState::kRecovering, ShipperState::kStopped, ShipperState::kFailed})
    fmt::format_to(std::back_inserter(out), "cairn_shipper_state{{state=\"{}\"}} {}\n",
                   ToString(st), st == s.state ? 1 : 0);
  metric("broker_reachable", "gauge", "1 when a broker connection is up.", s.broker_reachable);
  metric("head_position", "gauge", "The store's committed head position.",
         static_cast<double>(s.head_position));
  metric("shipped_through_position", "gauge",
         "Every event at or below this position is in Kafka or dead-lettered.",
         static_cast<double>(s.shipped_through));
  metric("lag_events", "gauge", "Committed events not yet in Kafka.",
         static_cast<double>(s.lag_events));
  metric("lag_bytes", "gauge", "Estimated bytes of the events not yet in Kafka.",
         static_cast<double>(s.lag_bytes));
  metric("lag_seconds", "gauge", "Age of the oldest event not yet in Kafka.", s.lag_seconds);
  metric("events_shipped_total", "counter", "Events acknowledged by Kafka since start.",
         static_cast<double>(s.events_shipped));
  metric("bytes_shipped_total", "counter", "Value and key bytes acknowledged since start.",
         static_cast<double>(s.bytes_shipped));
  metric("events_per_second", "gauge", "Acknowledged events per second, recent.",
         s.events_per_second);
  metric("produce_latency_p50_seconds", "gauge", "Produce to acknowledgement, median, recent.",
         s.produce_latency_p50_ms / 1000);
  metric("produce_latency_p99_seconds", "gauge", "Produce to acknowledgement, p99, recent.",
         s.produce_latency_p99_ms / 1000);
  metric("delivery_errors_total", "counter", "Failed deliveries (retried or dead-lettered).",
         static_cast<double>(s.delivery_errors));
  metric("rewinds_total", "counter", "Restarts from the checkpoint after a failure.",
         static_cast<double>(s.rewinds));
  metric("dead_letters_total", "counter", "Events recorded as dead letters since start.",
         static_cast<double>(s.dead_letters));
  metric("transactions_committed_total", "counter", "Kafka transactions committed (exactly-once).",
         static_cast<double>(s.transactions_committed));
  if (s.backlog.max_events > 0 || s.backlog.max_bytes > 0) {
    // The quota counts from the checkpoint, which trails shipped_through by up to 200 ms.
    metric("backlog_quota_events", "gauge", "Backlog quota: most unshipped events (0: none).",
           static_cast<double>(s.backlog.max_events));
    metric("backlog_quota_bytes", "gauge", "Backlog quota: most unshipped bytes (0: none).",
           static_cast<double>(s.backlog.max_bytes));
    double used = 0;
    if (s.backlog.max_events > 0)
      used = std::max(used, static_cast<double>(s.backlog.events) / s.backlog.max_events);
    if (s.backlog.max_bytes > 0)
      used = std::max(used, static_cast<double>(s.backlog.bytes) / s.backlog.max_bytes);
    metric("backlog_quota_used_ratio", "gauge",
           "Backlog over quota, the fuller of events and bytes (1 = appends wait or fail).", used);
    metric("appends_blocked_total", "counter", "Appends that waited for backlog room.",
           static_cast<double>(s.backlog.blocked_appends));
    metric("appends_rejected_total", "counter", "Appends refused: backlog quota exceeded.",
           static_cast<double>(s.backlog.rejected_appends));
  }
  return out;
}

// --- retrying dead letters ------------------------------------------------------------------

namespace {

struct RetryDelivery {
  bool done = false;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

void OnRetryDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<RetryDelivery*>(m->_private);
  d->done = true;
  d->err = m->err;
}

}  // namespace

Result<DeadLetterRetry> RetryDeadLetters(Store& store, const ShipperOptions& options,
                                         std::span<const std::uint64_t> positions) {
  if (store.Info().read_only)
    return Status::FailedPrecondition("retrying dead letters rewrites their records: open the store writable");
  auto all = store.ListDeadLetters();
  if (!all.ok()) return all.status();
  std::vector<DeadLetter> chosen;
  for (const DeadLetter& d : *all)
    if (positions.empty() || std::find(positions.begin(), positions.end(), d.position) != positions.end())
      chosen.push_back(d);
  for (std::uint64_t p : positions)
    if (std::none_of(chosen.begin(), chosen.end(), [&](const DeadLetter& d) { return d.position == p; }))
      return Status::NotFound(fmt::format("no dead letter at position {}", p));

  // A held event must not overtake the failed event it waits behind.
  for (const DeadLetter& d : chosen)
    if (d.held_behind &&
        std::any_of(all->begin(), all->end(), [&](const DeadLetter& x) { return x.position == d.held_behind; }) &&
        std::none_of(chosen.begin(), chosen.end(), [&](const DeadLetter& x) { return x.position == d.held_behind; }))
      return Status::FailedPrecondition(fmt::format(
          "position {} is held behind the dead letter at position {}: retry that one too (or all)",
          d.position, d.held_behind));

  ShipperOptions o = options;
  o.mode = DeliveryMode::kAtLeastOnce;
  if (o.bootstrap_servers.empty() && ship::FindSetting(o.kafka_config, "bootstrap.servers").empty())
    return Status::InvalidArgument("no Kafka bootstrap servers to send the dead letters to");
  const std::string store_id = store.Info().store_id;
  auto logger = internal::MakeLogger(o.log_sink, o.log_level);
  ship::ClientContext context{logger.get(), nullptr};
  auto conf = ship::MakeConf(ProducerSettings(o, store_id), &context);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), OnRetryDelivery);
  char err[512];
  ship::KafkaPtr producer(rd_kafka_new(RD_KAFKA_PRODUCER, conf->release(), err, sizeof err));
  if (!producer) return Status::InvalidArgument(fmt::format("Kafka producer: {}", err));
  const ship::Router router(o.routes, o.default_topic);
  flatbuffers::FlatBufferBuilder fbb;

  DeadLetterRetry result;
  std::set<std::string> failed_streams;
  for (const DeadLetter& d : chosen) {
    if (failed_streams.count(d.stream)) {
      ++result.held;
      continue;
    }
    auto event = store.ReadEvent(d.position, /*upcast=*/false);
    if (!event.ok()) return event.status();
    const RecordedEvent e = event->view();
    std::string envelope;
    std::string_view value = e.payload;
    if (o.value_format == ValueFormat::kEnvelope) {
      codec::EncodeEvent(e, &fbb, &envelope);
      value = envelope;
    }
    const std::string& topic = router.TopicFor(e.stream, e.type);
    RetryDelivery delivery;
    rd_kafka_headers_t* headers = EventHeaders(e, o.type_header, store_id, {});
    rd_kafka_resp_err_t perr = rd_kafka_producev(
        producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
        RD_KAFKA_V_KEY(e.stream.data(), e.stream.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_TIMESTAMP(e.timestamp_us / 1000), RD_KAFKA_V_OPAQUE(&delivery), RD_KAFKA_V_END);
    if (perr != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(headers);
      delivery.done = true;
      delivery.err = perr;
    }
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!delivery.done && Clock::now() < deadline) rd_kafka_poll(producer.get(), 50);
    if (!delivery.done) {
      rd_kafka_purge(producer.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      while (!delivery.done) rd_kafka_poll(producer.get(), 50);
      return Status::Unavailable(fmt::format(
          "position {} not acknowledged by Kafka within 60 s; nothing more was sent", d.position));
    }
    if (delivery.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const std::uint64_t p = d.position;
      if (Status s = store.RemoveDeadLetters(std::span<const std::uint64_t>(&p, 1)); !s.ok()) return s;
      ++result.sent;
    } else {
      DeadLetter again = d;
      again.error = rd_kafka_err2str(delivery.err);
      again.time_us = NowUs();
      again.destination = topic;
      if (Status s = store.PutDeadLetters(std::span<const DeadLetter>(&again, 1)); !s.ok()) return s;
      failed_streams.insert(d.stream);
      ++result.failed;
    }
  }
  return result;
}

}  // namespace cairn
