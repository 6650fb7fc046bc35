// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Exactly-once: one Kafka transaction per batch (transaction_max_events / _interval) with its
// checkpoint record in the compacted checkpoint topic; commit, abort, and the hand-over of a
// transaction to a background commit while the other producer starts the next one
// (overlap_transactions). A fenced producer stops the shipper.
#include "ship/shipper_impl.h"

#include <algorithm>
#include <cstdint>

#include "util/clock.h"

namespace cairn {

// --- exactly-once ----------------------------------------------------------------------------

Status Shipper::Impl::BeginTransaction() {
  rd_kafka_error_t* e = rd_kafka_begin_transaction(session_->producer.get());
  if (e) {
    session_->fatal = true;
    session_->fatal_reason = std::string("begin transaction: ") + rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    return Status::Unavailable(session_->fatal_reason);
  }
  session_->in_transaction = true;
  session_->txn_events = 0;
  session_->txn_failed = false;
  session_->txn_started = Clock::now();
  session_->txn_last_position = shipped_through_;
  txn_tag_ = fmt::format("{:016x}-{}", run_id_, ++txn_seq_);
  // Dead letters found in the aborted attempt go to the DLT in this transaction.
  for (const auto& d : pending_dlt_) ProduceToDeadLetterTopic(d);
  session_->txn_dlt = std::move(pending_dlt_);
  pending_dlt_.clear();
  return Status::Ok();
}

bool Shipper::Impl::TransactionDue() const {
  // A full in-flight window is not a reason to commit: acknowledgements free it, and bigger
  // transactions cost fewer commits.
  return session_->txn_events >= opt_.transaction_max_events ||
         Clock::now() - session_->txn_started >= opt_.transaction_max_interval;
}

// The transaction's checkpoint record (docs/shipping.md): partition 0 of the checkpoint topic,
// keyed by the transactional id.
Status Shipper::Impl::ProduceCheckpointRecord(std::uint64_t through) {
  const nlohmann::json record = {{"v", 1},
                                 {"store_id", store_id_},
                                 {"position", through},
                                 {"txn", txn_tag_},
                                 {"time_us", internal::WallClockMicros()}};
  const std::string value = record.dump();
  rd_kafka_resp_err_t err = rd_kafka_producev(
      session_->producer.get(), RD_KAFKA_V_RKT(Topic(opt_.checkpoint_topic)),
      RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(transactional_id_.data(), transactional_id_.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(nullptr), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    session_->rewind_needed = true;
    session_->rewind_reason = fmt::format("checkpoint record: {}", rd_kafka_err2str(err));
    return Status::Unavailable(session_->rewind_reason);
  }
  return Status::Ok();
}

void Shipper::Impl::AwaitAcknowledgements(Clock::time_point deadline) {
  while (rd_kafka_outq_len(session_->producer.get()) > 0) {
    if (session_->txn_failed || session_->rewind_needed || session_->fatal) return;
    if (Clock::now() > deadline) {
      session_->rewind_needed = true;
      session_->rewind_reason = "transaction events not acknowledged in time";
      return;
    }
    rd_kafka_flush(session_->producer.get(), 100);
  }
}

bool Shipper::Impl::TransactionFailed() {
  if (!session_->txn_failed && !session_->rewind_needed && !session_->fatal) return false;
  (void)FlushDeadLetters();
  session_->rewind_needed = true;
  if (session_->rewind_reason.empty())
    session_->rewind_reason = "a message of the transaction failed";
  return true;
}

namespace {
// rd_kafka_commit_transaction until it succeeds, fails for good, or `deadline` passes.
// Returns the error ("" when committed); sets *fatal when the producer cannot go on.
std::string CommitUntil(rd_kafka_t* producer, std::chrono::steady_clock::time_point deadline,
                        const std::atomic<bool>& stop_requested, bool* fatal, int* retries) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    // An int of milliseconds: clamped, never cast negative (drain_timeout of ms::max() was).
    rd_kafka_error_t* e = rd_kafka_commit_transaction(
        producer, static_cast<int>(std::clamp<std::int64_t>(left.count(), 1000, INT32_MAX)));
    if (!e) return "";
    std::string what = rd_kafka_error_string(e);
    const bool retriable = rd_kafka_error_is_retriable(e);
    const bool abort = rd_kafka_error_txn_requires_abort(e);
    *fatal = rd_kafka_error_is_fatal(e) || !abort;  // not abortable: its state is unknown
    rd_kafka_error_destroy(e);
    if (retriable && !stop_requested && std::chrono::steady_clock::now() < deadline) {
      ++*retries;
      continue;
    }
    return what;
  }
}
}  // namespace

bool Shipper::Impl::CollectBackgroundCommit(bool wait) {
  std::unique_ptr<BackgroundCommit>& c = session_->committing;
  if (!c || (!wait && !c->done.load(std::memory_order_acquire))) return true;
  c->thread.join();
  {
    // Errors its producer reported on the committing thread (OnError).
    internal::MutexLock lk(status_mu_);
    if (foreign_fenced_) {
      fenced_ = true;
      fenced_reason_ = foreign_fatal_;
    }
    if (!foreign_fatal_.empty() && !session_->fatal) {
      session_->fatal = true;
      session_->fatal_reason = foreign_fatal_;
    }
    foreign_fatal_.clear();
    foreign_fenced_ = false;
  }
  if (c->retries > 0) logger_->info("commit transaction: retried {} times", c->retries);
  if (!c->error.empty()) {
    // Fenced while committing: the error event may not have been served on that thread, and
    // this producer is not polled again. Ask it directly, or the new producers would fence
    // the shipper that took over, and the two would take turns.
    char why[512];
    if (ship::IsFencing(rd_kafka_fatal_error(c->producer, why, sizeof why))) {
      fenced_ = true;
      fenced_reason_ = why;
    }
    // Whatever its outcome, the next init_transactions of both ids settles it, and the
    // checkpoint record in Kafka then says where to go on: both producers are replaced.
    if (!session_->fatal) {
      session_->fatal = true;
      session_->fatal_reason = "commit transaction: " + c->error;
    }
    // Its dead-letter-topic records go out again, before those of the open transaction.
    pending_dlt_.insert(pending_dlt_.begin(), std::make_move_iterator(c->dlt.begin()),
                        std::make_move_iterator(c->dlt.end()));
    c.reset();
    return false;
  }
  const std::uint64_t through = c->through;
  c.reset();
  {
    internal::MutexLock lk(status_mu_);
    ++status_.transactions_committed;
  }
  MoveShippedThrough(through);
  if (Clock::now() - last_checkpoint_save_ >= opt_.checkpoint_interval)
    if (Status s = SaveCheckpoint(false); !s.ok()) SetError(s.message(), false);
  return true;
}

Status Shipper::Impl::HandOverTransaction(Clock::time_point deadline) {
  if (TransactionFailed()) return Status::Unavailable(session_->rewind_reason);
  if (Status s = FlushDeadLetters(); !s.ok()) return s;
  const std::uint64_t through = session_->txn_last_position;
  if (Status s = ProduceCheckpointRecord(through); !s.ok()) return s;
  // Every record of this transaction acknowledged, the checkpoint record included, before the
  // other producer sends anything: its records then follow these in every partition, so a
  // read_committed reader meets each stream's events in the store's order.
  AwaitAcknowledgements(deadline);
  if (TransactionFailed()) return Status::Unavailable(session_->rewind_reason);
  // Transactions commit in order: this one only once the previous one has.
  if (!CollectBackgroundCommit(/*wait=*/true)) return Status::Unavailable(session_->fatal_reason);

  auto c = std::make_unique<BackgroundCommit>();
  c->through = through;
  c->producer = session_->producer.get();
  c->dlt = std::move(session_->txn_dlt);
  c->thread = std::thread([c = c.get(), deadline, this] {
    bool fatal = false;  // either way the producers are replaced (CollectBackgroundCommit)
    c->error = CommitUntil(c->producer, deadline, stop_requested_, &fatal, &c->retries);
    c->done.store(true, std::memory_order_release);
  });
  session_->committing = std::move(c);
  session_->in_transaction = false;
  session_->in_flight.clear();
  session_->in_flight_bytes = 0;
  session_->txn_dlt.clear();
  std::swap(session_->producer, session_->standby);
  std::swap(session_->topics, session_->standby_topics);
  return Status::Ok();
}

Status Shipper::Impl::CommitTransaction(Clock::time_point deadline) {
  // The previous transaction first, if it is still committing in the background.
  if (!CollectBackgroundCommit(/*wait=*/true)) return Status::Unavailable(session_->fatal_reason);
  // On a real cluster the checkpoint record goes out right behind the events and the commit
  // waits for all of them: read_committed readers see the events and the record together or
  // not at all, and a failed event fails the commit (librdkafka makes the transaction
  // abortable), so nothing waits a round trip for acknowledgements first (issue #25: that wait
  // made each transaction's cycle one round trip longer). The mock shows uncommitted records:
  // there every event must be acknowledged before the record is written, so that a visible
  // checkpoint always means its events are there too (docs/shipping.md).
  if (session_->cluster_shows_uncommitted) AwaitAcknowledgements(deadline);
  if (TransactionFailed()) return Status::Unavailable(session_->rewind_reason);
  if (Status s = FlushDeadLetters(); !s.ok()) return s;
  const std::uint64_t through = session_->txn_last_position;

  if (Status s = ProduceCheckpointRecord(through); !s.ok()) return s;
  bool fatal = false;
  int retries = 0;
  if (std::string what =
          CommitUntil(session_->producer.get(), deadline, stop_requested_, &fatal, &retries);
      !what.empty()) {
    session_->rewind_needed = true;
    session_->rewind_reason = "commit transaction: " + what;
    if (fatal) {
      session_->fatal = true;  // state unknown: start from a new producer
      session_->fatal_reason = session_->rewind_reason;
    }
    return Status::Unavailable(what);
  }
  if (retries > 0) logger_->info("commit transaction: retried {} times", retries);
  if (session_->txn_failed) {
    // A delivery report served inside the commit said an event failed, yet the commit went
    // through: librdkafka promises this cannot happen; if it does, stop rather than trust it.
    session_->fatal = true;
    session_->fatal_reason = "a transaction committed although one of its events failed";
    return Status::Internal(session_->fatal_reason);
  }
  session_->in_transaction = false;
  session_->in_flight.clear();
  session_->in_flight_bytes = 0;
  session_->txn_dlt.clear();
  {
    internal::MutexLock lk(status_mu_);
    ++status_.transactions_committed;
  }
  MoveShippedThrough(through);
  if (Clock::now() - last_checkpoint_save_ >= opt_.checkpoint_interval)
    if (Status s = SaveCheckpoint(false); !s.ok()) SetError(s.message(), false);
  return Status::Ok();
}

void Shipper::Impl::AbortTransaction(std::string_view why) {
  logger_->info("aborting transaction: {}", why);
  rd_kafka_error_t* e = rd_kafka_abort_transaction(session_->producer.get(), 10000);
  if (e) {
    logger_->warn("abort transaction: {}", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    session_->fatal = true;  // a new producer's init_transactions aborts it for us
  }
  session_->in_transaction = false;
}

}  // namespace cairn
