// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Shipper::Impl: the state of one shipper, shared by the files of src/ship/ that implement it
// (docs/architecture.md): shipper.cc (setup, connecting, the public face),
// shipper_impl_produce_loop.cc (the shipping thread's loop, deliveries, rewinds),
// shipper_impl_transactions.cc (exactly-once and the Kafka checkpoint),
// shipper_impl_dead_letters.cc (dead letters and their retry), shipper_impl_status.cc (status and
// metrics). The wire format itself (headers, values) is wire.h's. Threads: the shipping thread owns
// everything under "shipping thread only"; the caller's threads read status_ under
// status_mu_; librdkafka's callbacks run on the shipping thread (inside rd_kafka_poll).
#pragma once

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
#include "ship/wire.h"
#include "util/logging.h"
#include "util/mutex.h"
#include "util/string_hash.h"

namespace cairn {
namespace ship {

using Clock = std::chrono::steady_clock;

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
ship::KafkaSettings ProducerSettings(const ShipperOptions& o, const std::string& store_id);

}  // namespace ship

class Shipper::Impl {
  using Clock = ship::Clock;

 public:
  Impl(Store& store, ShipperOptions options)
      : store_(store),
        opt_(std::move(options)),
        router_(opt_.routes, opt_.default_topic),
        logger_(internal::MakeLogger(opt_.log_sink, opt_.log_level)) {
    context_.logger = logger_.get();
    context_.owner = this;
    store_id_ = store_.GetInfo().store_id;
  }

  ~Impl() { (void)Stop(); }

  Status Init();
  Status Stop();
  ShipperStatus GetStatus() const;
  std::uint64_t shipped_through() const {
    internal::MutexLock lk(status_mu_);
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
  // A transaction handed to a background thread to commit (overlap_transactions) while the
  // shipping thread produces the next one with the other producer. The thread touches only
  // this struct and its producer, which has nothing left in flight: the shipping thread
  // flushed it before the hand-over, so no delivery report is served on the committing
  // thread. Results are read after `done`, by the shipping thread, which joins it.
  struct BackgroundCommit {
    std::thread thread;
    rd_kafka_t* producer = nullptr;  // the session's standby while this lives
    std::atomic<bool> done{false};
    std::uint64_t through = 0;           // the transaction's checkpoint position
    std::vector<PendingDeadLetter> dlt;  // its dead-letter-topic records
    std::string error;                   // empty: committed
    int retries = 0;
  };
  // One Kafka producer and everything that lives and dies with it: its topic handles, the
  // store reader feeding it, the events it has in flight, the transaction it has open, and
  // why it must be replaced. Connect makes it whole; EndSession destroys it whole, so a
  // rewind starts from a new one (fresh idempotence sequence numbers, nothing of unknown fate
  // behind it) with nothing to reset by hand. Shipping thread only.
  struct ProducerSession {
    ship::KafkaPtr producer;
    std::map<std::string, rd_kafka_topic_t*, std::less<>> topics;  // destroyed with it
    std::optional<EventReader> reader;
    std::deque<InFlight> in_flight;
    std::uint64_t in_flight_bytes = 0;
    // Why the session must end: a rewind to the checkpoint, or a fatal producer error.
    bool rewind_needed = false;
    std::string rewind_reason;
    bool fatal = false;
    std::string fatal_reason;
    // Exactly-once: the open transaction and the dead-letter-topic records sent in it.
    bool in_transaction = false;
    std::uint64_t txn_events = 0;
    Clock::time_point txn_started;
    std::uint64_t txn_last_position = 0;
    bool txn_failed = false;
    std::vector<PendingDeadLetter> txn_dlt;
    // The cluster shows uncommitted records (librdkafka's mock): a transaction's checkpoint
    // record then waits for every acknowledgement of its events.
    bool cluster_shows_uncommitted = true;

    // Exactly-once with overlap_transactions on a real cluster: the other producer (its own
    // transactional.id) and its topic handles, else null. The two swap at every hand-over, so
    // `producer` is always the one with the open transaction.
    ship::KafkaPtr standby;
    std::map<std::string, rd_kafka_topic_t*, std::less<>> standby_topics;
    // The previous transaction, committing in the background (standby's), or null.
    std::unique_ptr<BackgroundCommit> committing;

    ProducerSession() = default;
    ~ProducerSession() {
      // The committing thread uses `standby`: it ends before the producers are destroyed.
      if (committing && committing->thread.joinable()) committing->thread.join();
      for (auto& [name, rkt] : topics) rd_kafka_topic_destroy(rkt);
      for (auto& [name, rkt] : standby_topics) rd_kafka_topic_destroy(rkt);
    }
    ProducerSession(const ProducerSession&) = delete;
    ProducerSession& operator=(const ProducerSession&) = delete;
  };

  void Run();
  // What the produce loop does after a step (shipper_impl_produce_loop.cc): ship, go round again,
  // drain and stop, or stop at once (a permanent failure, already reported).
  enum class Step { kShip, kAgain, kDrain, kStop };
  // Connects when there is no producer, backing off (doubling *backoff) while Kafka is away.
  Step ConnectOrWait(std::chrono::milliseconds* backoff);
  // Another producer took over a transactional.id of ours: stop, and say so (never fence back).
  Step StopFenced();
  // One pass: rewinds, transactions, producing, dead letters, the checkpoint.
  Step ShipOnce();
  void WaitForWork();
  void Drain();
  Status Connect();
  // A producer with `settings`, its callbacks this shipper's.
  Result<ship::KafkaPtr> NewProducer(const ship::KafkaSettings& settings);
  // Purges what the producer still holds and collects its last delivery reports (so the
  // checkpoint keeps every success); the session stays for the caller to read, then EndSession.
  void DrainProducer();
  // DrainProducer, then the session is destroyed whole.
  void Disconnect();
  bool FillInFlight(std::size_t max_new);
  // Produces one event; false when the producer's queue is full (try again after a poll).
  bool ProduceEvent(const RecordedEvent& e);
  // Records `e` as a dead letter. `track` adds it to in_flight_ as done (false when it is
  // already there, failed after produce()).
  void DeadLetterEvent(const RecordedEvent& e, std::string_view topic, std::string error,
                       std::string_view error_code, std::uint64_t held_behind, bool track = true);
  void ProduceToDeadLetterTopic(const PendingDeadLetter& d);
  Status FlushDeadLetters();
  // Pops the acknowledged front of in_flight_ and, at least once, moves shipped-through past it.
  void AdvanceShippedThrough();
  // The one place shipped-through moves forward (at-least-once acks, exactly-once commits).
  void MoveShippedThrough(std::uint64_t through);
  void Rewind(std::string_view why);
  void PublishStatus(bool force);
  void SetError(std::string error, bool failed);
  Status SaveCheckpoint(bool sync);
  rd_kafka_topic_t* Topic(const std::string& name);

  // Exactly-once.
  Status BeginTransaction();
  // Waits for the transaction's acknowledgements until `deadline`, then commits it.
  // CommitTransaction's record of what the transaction holds (shipper_impl_transactions.cc).
  Status ProduceCheckpointRecord(std::uint64_t through);
  Status CommitTransaction(Clock::time_point deadline);
  // overlap_transactions: the checkpoint record, every record of the transaction
  // acknowledged, the previous transaction's commit done, then this one commits on a
  // background thread and the other producer takes over (shipper_impl_transactions.cc).
  Status HandOverTransaction(Clock::time_point deadline);
  // Collects the background commit, if any: waits for it when `wait`, else only if done.
  // False when it failed (the session is then fatal: both producers are replaced, and a new
  // init_transactions settles the transactions they left).
  bool CollectBackgroundCommit(bool wait);
  // True (a rewind then follows) when the open transaction cannot commit: one of its records
  // failed, or the session must be replaced.
  bool TransactionFailed();
  // Serves delivery reports until nothing the producer sent is unacknowledged, or one failed,
  // the session broke, or `deadline` passed (a rewind then).
  void AwaitAcknowledgements(Clock::time_point deadline);
  // init_transactions, retried while retriable and not stopping.
  Status InitTransactions(rd_kafka_t* producer, std::string_view transactional_id);
  void AbortTransaction(std::string_view why);
  bool TransactionDue() const;

  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  // While idle: is any broker there? (shipping thread)
  void ProbeBrokersWhenIdle();
  // Does any broker answer a metadata request? Sets broker_reachable_.
  bool ProbeBrokers();
  // Replaces a producer that made no progress for stall_timeout while the brokers answer.
  void WatchForStall();
  void HandleDelivery(const rd_kafka_message_t* m);

  Store& store_;
  const ShipperOptions opt_;
  const ship::Router router_;
  std::shared_ptr<spdlog::logger> logger_;
  ship::ClientContext context_;
  std::string store_id_;
  ship::WireSettings wire_;  // from Init
  std::string transactional_id_;
  ship::KafkaSettings settings_;
  ship::KafkaSettings standby_settings_;  // settings_ with the second transactional.id

  std::thread thread_;
  // Set first thing in Run(): OnError tells the shipping thread from a background commit's.
  std::thread::id shipping_thread_id_;
  std::atomic<bool> stop_requested_{false};
  internal::Mutex stop_mu_;
  bool stopped_ CAIRN_GUARDED_BY(stop_mu_) = false;
  // Init claimed opt_.checkpoint_name (Store::ClaimCheckpoint); Stop releases it. Set before
  // the thread starts, cleared once under stop_mu_.
  bool claimed_checkpoint_ = false;
  // Why the shipper failed: set by the shipping thread (SetError), read by Stop() and
  // WaitUntilShipped. Lock order: stop_mu_, then status_mu_.
  Status final_status_ CAIRN_GUARDED_BY(status_mu_);

  // --- shipping thread only ---
  std::unique_ptr<ProducerSession> session_;  // null while not connected
  // Another producer took over our transactional.id (OnError): exactly-once stops.
  bool fenced_ = false;
  std::string fenced_reason_;
  std::uint64_t next_position_ = 1;  // the next position to read and produce
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
  std::uint64_t mean_event_bytes_ = 0;
  ship::LatencyWindow latencies_;
  flatbuffers::FlatBufferBuilder fbb_{1024};
  std::string scratch_;
  std::uint64_t run_id_ = std::random_device()() * 0x100000000ull ^ std::random_device()();
  std::uint64_t txn_seq_ = 0;
  std::string txn_tag_;

  // --- published status, under status_mu_ ---
  mutable internal::Mutex status_mu_;
  std::condition_variable shipped_cv_;
  ShipperStatus status_ CAIRN_GUARDED_BY(status_mu_);
  Clock::time_point rate_window_start_ = Clock::now();
  std::uint64_t rate_window_events_ = 0;
  std::uint64_t published_mean_bytes_ = 0;
  Clock::time_point last_publish_;
  // Counters written by the shipping thread, published into status_.
  std::uint64_t events_shipped_ = 0;
  std::uint64_t bytes_shipped_ = 0;
  std::atomic<bool> broker_reachable_{false};
  // The last metadata probe, idle or of a stalled producer. Shipping thread only.
  Clock::time_point last_broker_probe_{};
  // The last sign of life of the producer: a delivery report, a new producer, nothing in
  // flight, or a probe finding no broker (an outage is not a stall). Shipping thread only.
  Clock::time_point last_progress_{};
  std::string last_transport_error_ CAIRN_GUARDED_BY(status_mu_);
  // A fatal producer error reported on a thread other than the shipping thread (a background
  // commit serving the producer's error events); the shipping thread applies it when it
  // collects the commit.
  std::string foreign_fatal_ CAIRN_GUARDED_BY(status_mu_);
  bool foreign_fenced_ CAIRN_GUARDED_BY(status_mu_) = false;
};

}  // namespace cairn
