// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The wire format of shipped events, version 1 (docs/shipping.md): the message headers and
// the key, value and timestamp of an event, built here and only here — by the shipper and by
// dead-letter retry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <flatbuffers/flatbuffers.h>
#include <librdkafka/rdkafka.h>

#include "cairn/shipper.h"

namespace cairn::ship {

// What shapes every record of one shipper: its ShipperOptions' value format, type header and
// CloudEvents source, and the store's id. Built once (WireSettingsOf), read for each event.
struct WireSettings {
  ValueFormat value_format = ValueFormat::kPayload;
  std::string type_header = headers::kType;
  std::string store_id;
  // ValueFormat::kCloudEvents only: the `ce_source` header.
  std::string cloudevents_source;
};
// kInvalidArgument when `o.cloudevents_source` is set but not a URI-reference (RFC 3986
// characters, not empty).
Result<WireSettings> WireSettingsOf(const ShipperOptions& o, const std::string& store_id);

// The message headers of an event (docs/shipping.md, "wire format v1"): cairn's, then W3C trace
// context when the event has one, then (kCloudEvents) the CloudEvents attributes.
rd_kafka_headers_t* EventHeaders(const RecordedEvent& e, const WireSettings& w,
                                 std::string_view txn_tag);

// The message value of `e`: the payload as appended (kPayload, kCloudEvents) or the stored
// envelope (kEnvelope), encoded into `*scratch` with `fbb`. The view is valid until the next
// use of `*scratch`.
std::string_view EventValue(const RecordedEvent& e, ValueFormat format,
                            flatbuffers::FlatBufferBuilder* fbb, std::string* scratch);

// One event as a Kafka record: key (the stream id: per-stream order in one partition), value,
// headers and timestamp (the commit time, in milliseconds). `headers` belongs to the caller
// until rd_kafka_producev takes it (on success). The views are valid while `e` and `*scratch`
// are, until the next use of `*scratch`.
struct WireRecord {
  std::string_view key;
  std::string_view value;
  rd_kafka_headers_t* headers = nullptr;
  std::int64_t timestamp_ms = 0;
};
WireRecord EventRecord(const RecordedEvent& e, const WireSettings& w, std::string_view txn_tag,
                       flatbuffers::FlatBufferBuilder* fbb, std::string* scratch);

}  // namespace cairn::ship
