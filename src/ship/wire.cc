// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// See wire.h.
#include "ship/wire.h"

#include <chrono>

#include <fmt/format.h>

#include "codec/envelope.h"

namespace cairn::ship {

namespace {

// RFC 3986's characters: unreserved, reserved and '%'. A URI-reference uses no others.
bool IsUriCharacter(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~:/?#[]@!$&'()*+,;=%").find(c) != std::string_view::npos;
}

// CloudEvents `time`: RFC 3339 in UTC, to the microsecond cairn records (fmt 9's chrono
// formatting drops the fraction of a time point, so it is written out).
std::string Rfc3339(std::int64_t micros) {
  const auto t =
      std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(micros));
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day date(days);
  const std::chrono::hh_mm_ss<std::chrono::microseconds> time(t - days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     time.hours().count(), time.minutes().count(), time.seconds().count(),
                     time.subseconds().count());
}

}  // namespace

Result<WireSettings> WireSettingsOf(const ShipperOptions& o, const std::string& store_id) {
  WireSettings w;
  w.value_format = o.value_format;
  w.type_header = o.type_header;
  w.store_id = store_id;
  if (o.cloudevents_source) {
    const std::string& source = *o.cloudevents_source;
    if (source.empty())
      return Status::InvalidArgument(
          "the CloudEvents source is empty (CloudEvents requires a non-empty URI-reference; "
          "leave it unset for urn:cairn:store:<store id>)");
    for (std::size_t i = 0; i < source.size(); ++i)
      if (!IsUriCharacter(source[i]))
        return Status::InvalidArgument(fmt::format(
            "the CloudEvents source '{}' is not a URI-reference: character {} is not allowed in "
            "a URI (RFC 3986; percent-encode it)",
            source, i + 1));
    w.cloudevents_source = source;
  } else {
    w.cloudevents_source = "urn:cairn:store:" + store_id;
  }
  return w;
}

rd_kafka_headers_t* EventHeaders(const RecordedEvent& e, const WireSettings& w,
                                 std::string_view txn_tag) {
  rd_kafka_headers_t* headers = rd_kafka_headers_new(18);
  auto add = [&](std::string_view name, std::string_view v) {
    rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), v.data(),
                        static_cast<ssize_t>(v.size()));
  };
  const std::string id = e.id.ToString();
  add(headers::kEventId, id);
  add(w.type_header, e.type);
  add(headers::kStream, e.stream);
  add(headers::kVersion, std::to_string(e.version));
  add(headers::kPosition, std::to_string(e.position));
  add(headers::kTimestampUs, std::to_string(e.timestamp_us));
  if (!e.content_type.empty()) add(headers::kContentType, e.content_type);
  // Consumers upcast old payload shapes on their side: tell them which shape this is.
  if (e.schema_version != 1) add(headers::kSchemaVersion, std::to_string(e.schema_version));
  add(headers::kStoreId, w.store_id);
  add(headers::kChainHash, HexHash(e.chain_hash));
  // Exactly-once: which transaction carried the event. Its checkpoint record names the same
  // tag, so a reader of a cluster that shows aborted data (the mock) can tell committed
  // events from aborted ones.
  if (!txn_tag.empty()) add(headers::kTxn, txn_tag);
  // Under the names every tracing library's Kafka instrumentation reads (OpenTelemetry,
  // Micrometer's Kafka observation, Debezium's outbox): the consumer continues the trace.
  if (!e.traceparent.empty()) add(headers::kTraceparent, e.traceparent);
  if (!e.tracestate.empty()) add(headers::kTracestate, e.tracestate);
  if (w.value_format == ValueFormat::kCloudEvents) {
    // The Kafka protocol binding's binary content mode: attributes in ce_ headers, the data as
    // the value, its datacontenttype in the content-type header above.
    add(headers::kCeSpecVersion, "1.0");
    add(headers::kCeId, id);
    add(headers::kCeSource, w.cloudevents_source);
    add(headers::kCeType, e.type);
    add(headers::kCeSubject, e.stream);
    add(headers::kCeTime, Rfc3339(e.timestamp_us));
  }
  return headers;
}

std::string_view EventValue(const RecordedEvent& e, ValueFormat format,
                            flatbuffers::FlatBufferBuilder* fbb, std::string* scratch) {
  if (format != ValueFormat::kEnvelope) return e.payload;
  scratch->clear();
  codec::EncodeEvent(e, fbb, scratch);
  return *scratch;
}

WireRecord EventRecord(const RecordedEvent& e, const WireSettings& w, std::string_view txn_tag,
                       flatbuffers::FlatBufferBuilder* fbb, std::string* scratch) {
  WireRecord r;
  r.key = e.stream;
  r.value = EventValue(e, w.value_format, fbb, scratch);
  r.headers = EventHeaders(e, w, txn_tag);
  r.timestamp_ms = e.timestamp_us / 1000;
  return r;
}

}  // namespace cairn::ship
