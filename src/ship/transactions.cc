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
      producer_.get(), RD_KAFKA_V_RKT(Topic(opt_.checkpoint_topic)), RD_KAFKA_V_PARTITION(0),
      RD_KAFKA_V_KEY(transactional_id_.data(), transactional_id_.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(nullptr), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rewind_needed_ = true;
    rewind_reason_ = fmt::format("checkpoint record: {}", rd_kafka_err2str(err));
    return Status::Unavailable(rewind_reason_);
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
  while (cluster_shows_uncommitted_ && std::any_of(in_flight_.begin(), in_flight_.end(),
                                                   [](const InFlight& f) { return !f.done; })) {
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

  if (Status s = ProduceCheckpointRecord(through); !s.ok()) return s;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    // An int of milliseconds: clamped, never cast negative (drain_timeout of ms::max() was).
    rd_kafka_error_t* e = rd_kafka_commit_transaction(
        producer_.get(), static_cast<int>(std::clamp<std::int64_t>(left.count(), 1000, INT32_MAX)));
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
  if (txn_failed_) {
    // A delivery report served inside the commit said an event failed, yet the commit went
    // through: librdkafka promises this cannot happen; if it does, stop rather than trust it.
    fatal_ = true;
    fatal_reason_ = "a transaction committed although one of its events failed";
    return Status::Internal(fatal_reason_);
  }
  in_transaction_ = false;
  in_flight_.clear();
  in_flight_bytes_ = 0;
  txn_dlt_.clear();
  shipped_through_ = through;
  dead_positions_.erase(dead_positions_.begin(), dead_positions_.upper_bound(through));
  {
    internal::MutexLock lk(status_mu_);
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

}  // namespace cairn
