// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The shipping thread's loop: read the log forward, keep up to max_in_flight_events produced
// and unacknowledged in position order, advance shipped-through over the acknowledged prefix,
// and on any unknown outcome throw the producer away and rewind to shipped-through. Must not
// touch: the store's write path (it only reads the log and saves its checkpoint).
#include "ship/shipper_impl.h"

#include "util/clock.h"
#include "util/saturating.h"

namespace cairn {

// --- the loop --------------------------------------------------------------------------------

void Shipper::Impl::Run() {
  {
    internal::MutexLock lk(status_mu_);
    status_.state = ShipperState::kStarting;
  }
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_requested_) {
    Step step = producer_ ? Step::kShip : ConnectOrWait(&backoff);
    if (step == Step::kShip) step = ShipOnce();
    if (step == Step::kDrain) break;
    if (step == Step::kStop) return;
  }
  Drain();
}

Shipper::Impl::Step Shipper::Impl::ConnectOrWait(std::chrono::milliseconds* backoff) {
  Status s = Connect();
  if (!s.ok()) {
    Disconnect();
    if (s.code() == StatusCode::kCancelled) return Step::kDrain;
    // Permanent problems (bad settings, a foreign checkpoint, fenced) stop the shipper.
    if (s.code() != StatusCode::kUnavailable) {
      logger_->error("shipper stopped: {}", s.message());
      SetError(s.message(), true);
      return Step::kStop;
    }
    SetError(s.message(), false);
    std::this_thread::sleep_for(*backoff);
    *backoff = std::min(*backoff * 2, std::chrono::milliseconds(2000));
    return Step::kAgain;
  }
  *backoff = std::chrono::milliseconds(100);
  last_progress_ = Clock::now();
  internal::MutexLock lk(status_mu_);
  status_.state = ShipperState::kShipping;
  status_.shipped_through = shipped_through_;
  return Step::kShip;
}

Shipper::Impl::Step Shipper::Impl::ShipOnce() {
  const bool exactly_once = opt_.mode == DeliveryMode::kExactlyOnce;
  if (fenced_ && exactly_once) {
    const std::string why = fmt::format("fenced: another shipper uses transactional.id '{}' ({})",
                                        transactional_id_, fatal_reason_);
    logger_->error("shipper stopped: {}", why);
    Disconnect();
    SetError(why, true);
    return Step::kStop;
  }
  if (fatal_ || rewind_needed_) {
    Rewind(fatal_ ? fatal_reason_ : rewind_reason_);
    return Step::kAgain;
  }
  if (exactly_once && !in_transaction_) {
    if (next_position_ > store_.last_position()) {
      store_.WaitForPosition(next_position_ - 1, std::chrono::milliseconds(20));
      rd_kafka_poll(producer_.get(), 0);
      PublishStatus(false);
      return Step::kAgain;
    }
    if (Status s = BeginTransaction(); !s.ok()) return Step::kAgain;
  }

  std::size_t room =
      opt_.max_in_flight_events - std::min(opt_.max_in_flight_events, in_flight_.size());
  if (exactly_once) room = std::min<std::size_t>(room, opt_.transaction_max_events - txn_events_);
  const bool produced = room > 0 && FillInFlight(room);
  rd_kafka_poll(producer_.get(), 0);
  if (Status s = FlushDeadLetters(); !s.ok()) {
    SetError(s.message(), true);
    return Step::kDrain;
  }
  AdvanceShippedThrough();
  WatchForStall();

  if (exactly_once) {
    if (in_transaction_ && (TransactionDue() || stop_requested_))
      (void)CommitTransaction(internal::DeadlineAfter(
          stop_requested_ ? opt_.drain_timeout : std::chrono::milliseconds(30000)));
  } else if (shipped_through_ != saved_checkpoint_ &&
             Clock::now() - last_checkpoint_save_ >= opt_.checkpoint_interval) {
    if (Status s = SaveCheckpoint(false); !s.ok()) SetError(s.message(), false);
  }
  PublishStatus(false);
  if (!produced) WaitForWork();
  return Step::kAgain;
}

// Nothing new to send: sleep until an append commits or an acknowledgement arrives.
void Shipper::Impl::WaitForWork() {
  if (in_flight_.empty() && !in_transaction_) {
    ProbeBrokersWhenIdle();
    store_.WaitForPosition(next_position_ - 1, std::chrono::milliseconds(20));
  } else if (next_position_ > store_.last_position()) {
    rd_kafka_poll(producer_.get(), 1);
  } else {
    rd_kafka_poll(producer_.get(), in_flight_.size() >= opt_.max_in_flight_events ? 5 : 0);
  }
}

// Stopping: lets in-flight events land, then saves where the shipper got to.
void Shipper::Impl::Drain() {
  const auto deadline = internal::DeadlineAfter(opt_.drain_timeout);
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
  internal::MutexLock lk(status_mu_);
  if (status_.state != ShipperState::kFailed) status_.state = ShipperState::kStopped;
  status_.shipped_through = shipped_through_;
  shipped_cv_.notify_all();
}

bool Shipper::Impl::FillInFlight(std::size_t max_new) {
  const std::uint64_t head = store_.last_position();
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

  const std::string_view value = ship::EventValue(e, opt_.value_format, &fbb_, &scratch_);
  rd_kafka_headers_t* headers = ship::EventHeaders(
      e, opt_.type_header, store_id_,
      opt_.mode == DeliveryMode::kExactlyOnce ? std::string_view(txn_tag_) : std::string_view());

  rd_kafka_resp_err_t err = rd_kafka_producev(
      producer_.get(), RD_KAFKA_V_RKT(Topic(topic)),
      RD_KAFKA_V_KEY(e.stream.data(), e.stream.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
      RD_KAFKA_V_TIMESTAMP(e.timestamp_us / 1000),
      // The position rides in the opaque (no allocation per message); the delivery callback
      // casts it back.
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr)
          static_cast<std::uintptr_t>(e.position))),
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
    internal::MutexLock lk(status_mu_);
    status_.shipped_through = through;
  }
  shipped_cv_.notify_all();
}

void Shipper::Impl::HandleDelivery(const rd_kafka_message_t* m) {
  const auto position = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(m->_private));
  if (position == 0) {  // a dead-letter-topic or checkpoint message
    if (m->err) logger_->warn("{}: {}", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    return;
  }
  last_progress_ = Clock::now();
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
        UINT32_MAX,
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - f.produced_at)
            .count())));
    return;
  }
  {
    internal::MutexLock lk(status_mu_);
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
  if (rd_kafka_fatal_error(producer_.get(), reason, sizeof reason) != RD_KAFKA_RESP_ERR_NO_ERROR) {
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
  ProbeBrokers();
}

bool Shipper::Impl::ProbeBrokers() {
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(producer_.get(), 0, nullptr, &md, 500);
  if (md) rd_kafka_metadata_destroy(md);
  broker_reachable_ = err == RD_KAFKA_RESP_ERR_NO_ERROR;
  return broker_reachable_;
}

// librdkafka 2.0.2's idempotent producer asks a single broker for its producer id and retries
// there; after every broker restarted it was once seen waiting more than two minutes with the
// cluster taking writes again (CI, faults_test.sh outage), and its messages would only have
// failed at message.timeout.ms (5 minutes). A new producer starts over with a broker of its
// own choosing. Without a broker answering, nothing is stalled: the clock restarts, so only
// stall_timeout of silence with the brokers there triggers the replacement.
void Shipper::Impl::WatchForStall() {
  const auto now = Clock::now();
  if (in_flight_.empty() || opt_.stall_timeout.count() <= 0) {
    last_progress_ = now;
    return;
  }
  if (now - last_progress_ < opt_.stall_timeout) return;
  // One probe a second, as when idle (the two never run together: this one needs events in
  // flight, the idle one none).
  if (now - last_broker_probe_ < std::chrono::seconds(1)) return;
  last_broker_probe_ = now;
  if (!ProbeBrokers()) {
    last_progress_ = Clock::now();
    return;
  }
  const auto silent_s =
      std::chrono::duration_cast<std::chrono::seconds>(now - last_progress_).count();
  // Rewind() logs this and puts it in the status.
  rewind_needed_ = true;
  rewind_reason_ = fmt::format(
      "producer stalled: no delivery report for {} s with {} events in flight while the "
      "brokers answer (stall timeout {} ms); replacing it",
      silent_s, in_flight_.size(), opt_.stall_timeout.count());
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
  self->logger_->log(
      code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
          ? spdlog::level::info
          : spdlog::level::warn,
      "kafka: {}", reason);
  internal::MutexLock lk(self->status_mu_);
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
    internal::MutexLock lk(status_mu_);
    status_.state = ShipperState::kRecovering;
    status_.last_error = std::string(why);
    ++status_.rewinds;
  }
  if (opt_.mode == DeliveryMode::kExactlyOnce && in_transaction_ && !fatal_) AbortTransaction(why);
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

}  // namespace cairn
