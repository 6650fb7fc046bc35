// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// See wire.h.
#include "ship/wire.h"

#include "codec/envelope.h"

namespace cairn::ship {

rd_kafka_headers_t* EventHeaders(const RecordedEvent& e, const std::string& type_header,
                                 const std::string& store_id, std::string_view txn_tag) {
  rd_kafka_headers_t* headers = rd_kafka_headers_new(10);
  auto add = [&](std::string_view name, std::string_view v) {
    rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), v.data(),
                        static_cast<ssize_t>(v.size()));
  };
  add(headers::kEventId, e.id.ToString());
  add(type_header, e.type);
  add(headers::kStream, e.stream);
  add(headers::kVersion, std::to_string(e.version));
  add(headers::kPosition, std::to_string(e.position));
  add(headers::kTimestampUs, std::to_string(e.timestamp_us));
  if (!e.content_type.empty()) add(headers::kContentType, e.content_type);
  // Consumers upcast old payload shapes on their side: tell them which shape this is.
  if (e.schema_version != 1) add(headers::kSchemaVersion, std::to_string(e.schema_version));
  add(headers::kStoreId, store_id);
  add(headers::kChainHash, HexHash(e.chain_hash));
  // Exactly-once: which transaction carried the event. Its checkpoint record names the same
  // tag, so a reader of a cluster that shows aborted data (the mock) can tell committed
  // events from aborted ones.
  if (!txn_tag.empty()) add(headers::kTxn, txn_tag);
  return headers;
}

std::string_view EventValue(const RecordedEvent& e, ValueFormat format,
                            flatbuffers::FlatBufferBuilder* fbb, std::string* scratch) {
  if (format != ValueFormat::kEnvelope) return e.payload;
  scratch->clear();
  codec::EncodeEvent(e, fbb, scratch);
  return *scratch;
}

WireRecord EventRecord(const RecordedEvent& e, ValueFormat format, const std::string& type_header,
                       const std::string& store_id, std::string_view txn_tag,
                       flatbuffers::FlatBufferBuilder* fbb, std::string* scratch) {
  WireRecord r;
  r.key = e.stream;
  r.value = EventValue(e, format, fbb, scratch);
  r.headers = EventHeaders(e, type_header, store_id, txn_tag);
  r.timestamp_ms = e.timestamp_us / 1000;
  return r;
}

}  // namespace cairn::ship
