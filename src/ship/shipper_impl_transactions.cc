// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Exactly-once: one Kafka transaction per batch (transaction_max_events / _interval), its
// checkpoint record in the compacted checkpoint topic written only after every event of the
// transaction is acknowledged, commit and abort. A fenced producer stops the shipper.
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

Status Shipper::Impl::CommitTransaction(Clock::time_point deadline) {
  // On a real cluster the checkpoint record goes out right behind the events and the commit
  // waits for all of them: read_committed readers see the events and the record together or
  // not at all, and a failed event fails the commit (librdkafka makes the transaction
  // abortable), so nothing waits a round trip for acknowledgements first (issue #25: that wait
  // made each transaction's cycle one round trip longer). The mock shows uncommitted records:
  // there every event must be acknowledged before the record is written, so that a visible
  // checkpoint always means its events are there too (docs/shipping.md).
  while (session_->cluster_shows_uncommitted &&
         std::any_of(session_->in_flight.begin(), session_->in_flight.end(),
                     [](const InFlight& f) { return !f.done; })) {
    if (session_->txn_failed || session_->rewind_needed || session_->fatal) break;
    if (Clock::now() > deadline) {
      session_->rewind_needed = true;
      session_->rewind_reason = "transaction events not acknowledged in time";
      break;
    }
    rd_kafka_poll(session_->producer.get(), 5);
  }
  if (session_->txn_failed || session_->rewind_needed || session_->fatal) {
    (void)FlushDeadLetters();
    session_->rewind_needed = true;
    if (session_->rewind_reason.empty())
      session_->rewind_reason = "a message of the transaction failed";
    return Status::Unavailable(session_->rewind_reason);
  }
  if (Status s = FlushDeadLetters(); !s.ok()) return s;
  const std::uint64_t through = session_->txn_last_position;

  if (Status s = ProduceCheckpointRecord(through); !s.ok()) return s;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    // An int of milliseconds: clamped, never cast negative (drain_timeout of ms::max() was).
    rd_kafka_error_t* e = rd_kafka_commit_transaction(
        session_->producer.get(),
        static_cast<int>(std::clamp<std::int64_t>(left.count(), 1000, INT32_MAX)));
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
      session_->fatal = true;
      session_->fatal_reason = "commit transaction: " + what;
    } else {
      session_->rewind_needed = true;
      session_->rewind_reason = "commit transaction: " + what;
      if (!abort) session_->fatal = true;  // state unknown: start from a new producer
    }
    return Status::Unavailable(what);
  }
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
