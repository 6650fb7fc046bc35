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
  shipping_thread_id_ = std::this_thread::get_id();
  {
    internal::MutexLock lk(status_mu_);
    status_.state = ShipperState::kStarting;
  }
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_requested_) {
    Step step = session_ ? Step::kShip : ConnectOrWait(&backoff);
    if (step == Step::kShip) step = ShipOnce();
    if (step == Step::kDrain) break;
    if (step == Step::kStop) return;
  }
  Drain();
}

Shipper::Impl::Step Shipper::Impl::ConnectOrWait(std::chrono::milliseconds* backoff) {
  // Fenced, and the session already replaced (a background commit found it out, then the
  // rewind dropped the producers): connecting would fence the shipper that took over.
  if (fenced_ && opt_.mode == DeliveryMode::kExactlyOnce) return StopFenced();
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
  shipped_cv_.notify_all();  // exactly-once, what is shipped is known from now on
  return Step::kShip;
}

Shipper::Impl::Step Shipper::Impl::StopFenced() {
  const std::string why = fmt::format("fenced: another shipper uses transactional.id '{}' ({})",
                                      transactional_id_, fenced_reason_);
  logger_->error("shipper stopped: {}", why);
  Disconnect();
  SetError(why, true);
  return Step::kStop;
}

Shipper::Impl::Step Shipper::Impl::ShipOnce() {
  const bool exactly_once = opt_.mode == DeliveryMode::kExactlyOnce;
  // A transaction committing in the background: its outcome moves shipped-through (or, if it
  // failed, replaces the producers right below; fenced, it stops the shipper).
  if (exactly_once) (void)CollectBackgroundCommit(/*wait=*/false);
  if (fenced_ && exactly_once) return StopFenced();
  if (session_->fatal || session_->rewind_needed) {
    Rewind(session_->fatal ? session_->fatal_reason : session_->rewind_reason);
    return Step::kAgain;
  }
  if (exactly_once && !session_->in_transaction) {
    if (next_position_ > store_.last_position()) {
      // Shorter waits while a commit runs in the background: its outcome is collected above.
      store_.WaitForPosition(next_position_ - 1,
                             std::chrono::milliseconds(session_->committing ? 1 : 20));
      rd_kafka_poll(session_->producer.get(), 0);
      PublishStatus(false);
      return Step::kAgain;
    }
    if (Status s = BeginTransaction(); !s.ok()) return Step::kAgain;
  }

  std::size_t room =
      opt_.max_in_flight_events - std::min(opt_.max_in_flight_events, session_->in_flight.size());
  if (exactly_once)
    room = std::min<std::size_t>(room, opt_.transaction_max_events - session_->txn_events);
  const bool produced = room > 0 && FillInFlight(room);
  rd_kafka_poll(session_->producer.get(), 0);
  if (Status s = FlushDeadLetters(); !s.ok()) {
    SetError(s.message(), true);
    return Step::kDrain;
  }
  AdvanceShippedThrough();
  WatchForStall();

  if (exactly_once) {
    if (session_->in_transaction && (TransactionDue() || stop_requested_)) {
      const auto deadline = internal::DeadlineAfter(
          stop_requested_ ? opt_.drain_timeout : std::chrono::milliseconds(30000));
      (void)(session_->standby && !stop_requested_ ? HandOverTransaction(deadline)
                                                   : CommitTransaction(deadline));
    }
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
  if (session_->in_flight.empty() && !session_->in_transaction) {
    ProbeBrokersWhenIdle();
    // A background commit's outcome is looked at between waits: shorter ones while it runs.
    store_.WaitForPosition(next_position_ - 1,
                           std::chrono::milliseconds(session_->committing ? 1 : 20));
  } else if (next_position_ > store_.last_position()) {
    rd_kafka_poll(session_->producer.get(), 1);
  } else {
    rd_kafka_poll(session_->producer.get(),
                  session_->in_flight.size() >= opt_.max_in_flight_events ? 5 : 0);
  }
}

// Stopping: lets in-flight events land, then saves where the shipper got to.
void Shipper::Impl::Drain() {
  const auto deadline = internal::DeadlineAfter(opt_.drain_timeout);
  if (session_) {
    if (opt_.mode == DeliveryMode::kExactlyOnce) {
      // CommitTransaction collects a background commit first; without an open transaction
      // it is collected here.
      (void)CollectBackgroundCommit(/*wait=*/true);
      if (session_->in_transaction && !session_->fatal && !session_->rewind_needed)
        (void)CommitTransaction(deadline);
      if (session_->in_transaction) AbortTransaction("stopping");
    } else {
      while (!session_->in_flight.empty() && Clock::now() < deadline && !session_->fatal) {
        rd_kafka_poll(session_->producer.get(), 10);
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
  if (!session_->reader || !session_->reader->Valid()) {
    session_->reader.reset();
    LogReadOptions ro;
    ro.from_position = next_position_;
    ro.upcast = false;  // Kafka gets the bytes the chain hash covers
    auto r = store_.ReadLog(ro);
    if (!r.ok()) {
      SetError(r.status().message(), false);
      return false;
    }
    session_->reader.emplace(std::move(r).value());
  }
  std::size_t n = 0;
  for (; n < max_new && session_->reader->Valid(); session_->reader->Next()) {
    const RecordedEvent& e = session_->reader->event();
    if (e.position != next_position_) {
      SetError(fmt::format("log read returned position {} where {} was expected", e.position,
                           next_position_),
               true);
      stop_requested_ = true;
      return false;
    }
    if (!ProduceEvent(e)) break;  // queue full: poll, then carry on from this event
    session_->txn_last_position = e.position;
    ++next_position_;
    ++n;
  }
  if (!session_->reader->Valid() && !session_->reader->status().ok()) {
    // A corrupt event: stop rather than skip it; the operator must look (cairn verify).
    logger_->error("shipper stopped: {}", session_->reader->status().message());
    SetError(session_->reader->status().message(), true);
    stop_requested_ = true;
  }
  return n > 0;
}

bool Shipper::Impl::ProduceEvent(const RecordedEvent& e) {
  const std::string& topic = router_.TopicFor(e.stream, e.type);
  if (dead_positions_.count(e.position)) {
    session_->in_flight.push_back(InFlight{e.position, true, 0, Clock::now()});
    return true;
  }
  if (auto held = held_streams_.find(e.stream); held != held_streams_.end()) {
    DeadLetterEvent(e, topic,
                    fmt::format("held: stream '{}' waits behind the dead letter at position {}",
                                e.stream, held->second),
                    "held", held->second);
    return true;
  }

  const ship::WireRecord record = ship::EventRecord(
      e, wire_,
      opt_.mode == DeliveryMode::kExactlyOnce ? std::string_view(txn_tag_) : std::string_view(),
      &fbb_, &scratch_);

  rd_kafka_resp_err_t err = rd_kafka_producev(
      session_->producer.get(), RD_KAFKA_V_RKT(Topic(topic)),
      RD_KAFKA_V_KEY(record.key.data(), record.key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(record.value.data()), record.value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(record.headers),
      RD_KAFKA_V_TIMESTAMP(record.timestamp_ms),
      // The position rides in the opaque (no allocation per message); the delivery callback
      // casts it back.
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr)
          static_cast<std::uintptr_t>(e.position))),
      RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const auto bytes = static_cast<std::uint32_t>(record.value.size() + record.key.size());
    session_->in_flight.push_back(InFlight{e.position, false, bytes, Clock::now()});
    session_->in_flight_bytes += bytes;
    if (opt_.mode == DeliveryMode::kExactlyOnce) ++session_->txn_events;
    return true;
  }
  rd_kafka_headers_destroy(record.headers);  // not taken over on failure
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return false;
  if (ship::IsPermanentMessageError(err)) {
    DeadLetterEvent(e, topic, rd_kafka_err2str(err), rd_kafka_err2name(err), 0);
    return true;
  }
  if (err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR__STATE) {
    session_->fatal = true;
    session_->fatal_reason = rd_kafka_err2str(err);
  } else {
    session_->rewind_needed = true;
    session_->rewind_reason = fmt::format("produce: {}", rd_kafka_err2str(err));
  }
  return false;
}

void Shipper::Impl::AdvanceShippedThrough() {
  // Dead letters must be on disk before the checkpoint passes them.
  if (!pending_dead_letters_.empty() || !session_) return;
  std::uint64_t through = shipped_through_;
  while (!session_->in_flight.empty() && session_->in_flight.front().done) {
    through = session_->in_flight.front().position;
    session_->in_flight.pop_front();
  }
  if (opt_.mode == DeliveryMode::kExactlyOnce) return;  // commits move it (CommitTransaction)
  if (through != shipped_through_) MoveShippedThrough(through);
}

void Shipper::Impl::MoveShippedThrough(std::uint64_t through) {
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
  if (!session_) return;  // reported while its producer was being destroyed: it ships again
  last_progress_ = Clock::now();
  if (session_->in_flight.empty() || position < session_->in_flight.front().position ||
      position - session_->in_flight.front().position >= session_->in_flight.size())
    return;  // from before a rewind
  InFlight& f = session_->in_flight[position - session_->in_flight.front().position];
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    f.done = true;
    broker_reachable_ = true;
    ++events_shipped_;
    bytes_shipped_ += f.bytes;
    session_->in_flight_bytes -= std::min<std::uint64_t>(session_->in_flight_bytes, f.bytes);
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
      session_->in_flight_bytes -= std::min<std::uint64_t>(session_->in_flight_bytes, f.bytes);
      DeadLetterEvent(event->view(), rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err),
                      rd_kafka_err2name(m->err), 0, /*track=*/false);
      if (opt_.mode == DeliveryMode::kExactlyOnce) session_->txn_failed = true;  // abort and redo
      return;
    }
  }
  logger_->warn("delivery of position {} failed: {}; rewinding to the checkpoint", position,
                rd_kafka_err2str(m->err));
  session_->rewind_needed = true;
  session_->rewind_reason = fmt::format("delivery failed: {}", rd_kafka_err2str(m->err));
  char reason[512];
  if (rd_kafka_fatal_error(session_->producer.get(), reason, sizeof reason) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    session_->fatal = true;
    session_->fatal_reason = reason;
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
  const rd_kafka_resp_err_t err = rd_kafka_metadata(session_->producer.get(), 0, nullptr, &md, 500);
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
  if (session_->in_flight.empty() || opt_.stall_timeout.count() <= 0) {
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
  session_->rewind_needed = true;
  session_->rewind_reason = fmt::format(
      "producer stalled: no delivery report for {} s with {} events in flight while the "
      "brokers answer (stall timeout {} ms); replacing it",
      silent_s, session_->in_flight.size(), opt_.stall_timeout.count());
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
    // Another shipper took over our transactional.id: fencing it back would make the two
    // take turns forever. Stop and say so.
    const bool fenced = ship::IsFencing(cause);
    if (std::this_thread::get_id() != self->shipping_thread_id_) {
      // A background commit serving its producer's events: the shipping thread applies this
      // when it collects the commit (the session is the shipping thread's).
      internal::MutexLock lk(self->status_mu_);
      self->foreign_fatal_ = why;
      self->foreign_fenced_ = self->foreign_fenced_ || fenced;
    } else {
      if (self->session_) {  // else no producer of ours is left to replace
        self->session_->fatal = true;
        self->session_->fatal_reason = why;
      }
      if (fenced) {
        self->fenced_ = true;
        self->fenced_reason_ = why;
      }
    }
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
  // A transaction committing in the background first: if it committed, its events are in
  // Kafka and the rewind starts after them.
  if (opt_.mode == DeliveryMode::kExactlyOnce) (void)CollectBackgroundCommit(/*wait=*/true);
  if (opt_.mode == DeliveryMode::kExactlyOnce && session_->in_transaction && !session_->fatal)
    AbortTransaction(why);
  // The last delivery reports first, so that the checkpoint keeps every success; then a new
  // session: fresh idempotence sequence numbers, no message of unknown fate behind us.
  DrainProducer();
  (void)FlushDeadLetters();
  if (opt_.mode == DeliveryMode::kAtLeastOnce) AdvanceShippedThrough();
  // Dead-letter-topic records of an aborted transaction go out again in the next one.
  pending_dlt_.insert(pending_dlt_.end(), session_->txn_dlt.begin(), session_->txn_dlt.end());
  Disconnect();
  next_position_ = shipped_through_ + 1;
}

}  // namespace cairn
