// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Dead letters: an event Kafka refuses for good (too large, unauthorized or invalid topic,
// policy) is recorded in the store, and optionally sent to the dead-letter topic with
// cairn.error* headers; with kHoldStream its stream's later events are held behind it. Also
// RetryDeadLetters, which sends chosen dead letters again with the same wire format.
#include "ship/shipper_impl.h"

#include "util/clock.h"

namespace cairn {

void Shipper::Impl::DeadLetterEvent(const RecordedEvent& e, std::string_view topic,
                                    std::string error, std::string_view error_code,
                                    std::uint64_t held_behind, bool track) {
  PendingDeadLetter d;
  d.record.position = e.position;
  d.record.stream = std::string(e.stream);
  d.record.version = e.version;
  d.record.destination = std::string(topic);
  d.record.error = std::move(error);
  d.record.time_us = internal::WallClockMicros();
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
  if (track) session_->in_flight.push_back(InFlight{e.position, true, 0, Clock::now()});
  if (!opt_.dead_letter_topic.empty()) {
    if (opt_.mode == DeliveryMode::kExactlyOnce)
      pending_dlt_.push_back(d);
    else
      ProduceToDeadLetterTopic(d);
  }
  pending_dead_letters_.push_back(std::move(d));
  internal::MutexLock lk(status_mu_);
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
  add(headers::kError, d.record.error);
  add(headers::kErrorCode, d.error_code);
  add(headers::kOriginalTopic, d.record.destination);
  add(headers::kStream, d.record.stream);
  add(headers::kVersion, version);
  add(headers::kPosition, position);
  add(headers::kStoreId, store_id_);
  // A payload over the size limit cannot go to the DLT either: send the record without it.
  const bool too_large = d.error_code.find("SIZE_TOO_LARGE") != std::string::npos;
  rd_kafka_resp_err_t err =
      rd_kafka_producev(session_->producer.get(), RD_KAFKA_V_RKT(Topic(opt_.dead_letter_topic)),
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

// The dead letters at `positions` (all when empty). A held event must not overtake the
// failed event it waits behind: that one must be chosen too.
Result<std::vector<DeadLetter>> ChooseDeadLetters(const std::vector<DeadLetter>& all,
                                                  std::span<const std::uint64_t> positions) {
  auto has = [](const std::vector<DeadLetter>& list, std::uint64_t p) {
    return std::any_of(list.begin(), list.end(),
                       [&](const DeadLetter& d) { return d.position == p; });
  };
  std::vector<DeadLetter> chosen;
  for (const DeadLetter& d : all)
    if (positions.empty() ||
        std::find(positions.begin(), positions.end(), d.position) != positions.end())
      chosen.push_back(d);
  for (std::uint64_t p : positions)
    if (!has(chosen, p)) return Status::NotFound(fmt::format("no dead letter at position {}", p));
  for (const DeadLetter& d : chosen)
    if (d.held_behind && has(all, d.held_behind) && !has(chosen, d.held_behind))
      return Status::FailedPrecondition(fmt::format(
          "position {} is held behind the dead letter at position {}: retry that one too (or all)",
          d.position, d.held_behind));
  return chosen;
}

// Sends one event as the shipper would (ship/wire.h) and waits up to 60 s for Kafka's answer.
// kUnavailable when none came: the caller sends nothing more.
Result<rd_kafka_resp_err_t> SendAndWait(rd_kafka_t* producer, const RecordedEvent& e,
                                        const std::string& topic, const ship::WireSettings& wire,
                                        flatbuffers::FlatBufferBuilder* fbb) {
  std::string envelope;
  const ship::WireRecord record = ship::EventRecord(e, wire, {}, fbb, &envelope);
  RetryDelivery delivery;
  rd_kafka_resp_err_t perr = rd_kafka_producev(
      producer, RD_KAFKA_V_TOPIC(topic.c_str()),
      RD_KAFKA_V_KEY(record.key.data(), record.key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(record.value.data()), record.value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(record.headers),
      RD_KAFKA_V_TIMESTAMP(record.timestamp_ms), RD_KAFKA_V_OPAQUE(&delivery), RD_KAFKA_V_END);
  if (perr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_headers_destroy(record.headers);
    return perr;
  }
  const auto deadline = ship::Clock::now() + std::chrono::seconds(60);
  while (!delivery.done && ship::Clock::now() < deadline) rd_kafka_poll(producer, 50);
  if (!delivery.done) {
    rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    while (!delivery.done) rd_kafka_poll(producer, 50);
    return Status::Unavailable(fmt::format(
        "position {} not acknowledged by Kafka within 60 s; nothing more was sent", e.position));
  }
  return delivery.err;
}

}  // namespace

Result<DeadLetterRetry> RetryDeadLetters(Store& store, const ShipperOptions& options,
                                         std::span<const std::uint64_t> positions) {
  const StoreInfo info = store.GetInfo();
  if (info.read_only)
    return Status::FailedPrecondition(
        "retrying dead letters rewrites their records: open the store writable");
  auto all = store.ListDeadLetters();
  if (!all.ok()) return all.status();
  auto chosen = ChooseDeadLetters(*all, positions);
  if (!chosen.ok()) return chosen.status();

  ShipperOptions o = options;
  o.mode = DeliveryMode::kAtLeastOnce;
  if (o.bootstrap_servers.empty() && ship::FindSetting(o.kafka_config, "bootstrap.servers").empty())
    return Status::InvalidArgument("no Kafka bootstrap servers to send the dead letters to");
  auto wire = ship::WireSettingsOf(o, info.store_id);
  if (!wire.ok()) return wire.status();
  auto logger = internal::MakeLogger(o.log_sink, o.log_level);
  ship::ClientContext context{logger.get(), nullptr};
  auto conf = ship::MakeConf(ship::ProducerSettings(o, info.store_id), &context);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), OnRetryDelivery);
  char err[512];
  ship::KafkaPtr producer(rd_kafka_new(RD_KAFKA_PRODUCER, conf->release(), err, sizeof err));
  if (!producer) return Status::InvalidArgument(fmt::format("Kafka producer: {}", err));
  const ship::Router router(o.routes, o.default_topic);
  flatbuffers::FlatBufferBuilder fbb;

  DeadLetterRetry result;
  std::set<std::string> failed_streams;
  for (const DeadLetter& d : *chosen) {
    if (failed_streams.count(d.stream)) {
      ++result.held;
      continue;
    }
    auto event = store.ReadEvent(d.position, /*upcast=*/false);
    if (!event.ok()) return event.status();
    const RecordedEvent e = event->view();
    const std::string& topic = router.TopicFor(e.stream, e.type);
    auto sent = SendAndWait(producer.get(), e, topic, *wire, &fbb);
    if (!sent.ok()) return sent.status();
    if (*sent == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const std::uint64_t p = d.position;
      if (Status s = store.RemoveDeadLetters(std::span<const std::uint64_t>(&p, 1)); !s.ok())
        return s;
      ++result.sent;
    } else {
      DeadLetter again = d;
      again.error = rd_kafka_err2str(*sent);
      again.time_us = internal::WallClockMicros();
      again.destination = topic;
      if (Status s = store.PutDeadLetters(std::span<const DeadLetter>(&again, 1)); !s.ok())
        return s;
      failed_streams.insert(d.stream);
      ++result.failed;
    }
  }
  return result;
}

}  // namespace cairn
