// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The wire format v1 (docs/shipping.md) as src/ship/wire.cc builds it, without a broker:
// every header in its documented order, name and text form, at boundary values (position and
// version 2^64-1, a negative or zero timestamp, empty content type, schema version 1 omitted),
// the value formats, the envelope decoding back to the same event, and (issue #28) the trace
// context and CloudEvents headers.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "codec/envelope.h"
#include "ship/wire.h"
#include "test_util.h"

namespace cairn::ship {
namespace {
using cairn::testing::IsOk;
using cairn::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<std::pair<std::string, std::string>> All(rd_kafka_headers_t* h) {
  std::vector<std::pair<std::string, std::string>> out;
  const char* name;
  const void* value;
  size_t size;
  for (size_t i = 0;
       rd_kafka_header_get_all(h, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
    out.emplace_back(name, std::string(static_cast<const char*>(value), size));
  rd_kafka_headers_destroy(h);
  return out;
}

RecordedEvent Sample() {
  RecordedEvent e;
  e.id = *EventId::Parse("0190c6f3-6a1e-7b8c-9d0e-1f2a3b4c5d6e");
  e.stream = "order-42";
  e.version = UINT64_MAX;
  e.position = UINT64_MAX;
  e.type = "OrderPlaced";
  e.timestamp_us = -1;  // before the epoch: still decimal text, sign and all
  e.content_type = "application/json";
  e.payload = R"({"total":9.5})";
  for (std::size_t i = 0; i < e.chain_hash.size(); ++i)
    e.chain_hash[i] = static_cast<std::uint8_t>(i * 7);
  return e;
}

TEST(WireTest, HeadersAreTheDocumentedOnesInOrderAtBoundaryValues) {
  const RecordedEvent e = Sample();
  const std::string hash = HexHash(e.chain_hash);
  using H = std::vector<std::pair<std::string, std::string>>;
  ship::WireSettings spring;
  spring.type_header = "__TypeId__";
  spring.store_id = "store-1";
  EXPECT_EQ(All(EventHeaders(e, spring, "")),
            (H{{"cairn.event_id", "0190c6f3-6a1e-7b8c-9d0e-1f2a3b4c5d6e"},
               {"__TypeId__", "OrderPlaced"},
               {"cairn.stream", "order-42"},
               {"cairn.version", "18446744073709551615"},
               {"cairn.position", "18446744073709551615"},
               {"cairn.timestamp_us", "-1"},
               {"content-type", "application/json"},
               {"cairn.store_id", "store-1"},
               {"cairn.chain_hash", hash}}));
  // No content type: no header; a schema version other than 1: named; exactly-once: the tag.
  RecordedEvent bare = e;
  bare.content_type = {};
  bare.schema_version = 4294967295u;
  bare.timestamp_us = 0;
  ship::WireSettings plain;
  plain.store_id = "s";
  const H with_txn = All(EventHeaders(bare, plain, "run-7"));
  ASSERT_EQ(with_txn.size(), 10u);
  EXPECT_EQ(with_txn[1], (std::pair<std::string, std::string>{"cairn.type", "OrderPlaced"}));
  EXPECT_EQ(with_txn[5].second, "0");
  EXPECT_EQ(with_txn[6],
            (std::pair<std::string, std::string>{"cairn.schema_version", "4294967295"}));
  EXPECT_EQ(with_txn.back(), (std::pair<std::string, std::string>{"cairn.txn", "run-7"}));
  EXPECT_EQ(hash.size(), 64u);
}

TEST(WireTest, ValuesAreThePayloadOrTheEnvelopeThatDecodesToTheSameEvent) {
  const RecordedEvent e = Sample();
  flatbuffers::FlatBufferBuilder fbb;
  std::string scratch;
  EXPECT_EQ(EventValue(e, ValueFormat::kPayload, &fbb, &scratch), e.payload);
  const std::string envelope(EventValue(e, ValueFormat::kEnvelope, &fbb, &scratch));
  RecordedEvent back;
  std::string decode_scratch;
  ASSERT_TRUE(codec::DecodeEvent(envelope, &decode_scratch, &back).ok());
  EXPECT_EQ(back.id, e.id);
  EXPECT_EQ(back.stream, e.stream);
  EXPECT_EQ(back.version, e.version);
  EXPECT_EQ(back.position, e.position);
  EXPECT_EQ(back.type, e.type);
  EXPECT_EQ(back.timestamp_us, e.timestamp_us);
  EXPECT_EQ(back.payload, e.payload);
  EXPECT_EQ(back.chain_hash, e.chain_hash);
  // An empty payload is an empty value, not a missing one.
  RecordedEvent empty = e;
  empty.payload = {};
  EXPECT_TRUE(EventValue(empty, ValueFormat::kPayload, &fbb, &scratch).empty());
}

constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

// Issue #28: trace context headers, and the CloudEvents attributes of ValueFormat::kCloudEvents.
TEST(WireTest, TraceContextAndCloudEventsHeaders) {
  RecordedEvent e;
  e.id = *EventId::Parse("0190c6f3-6a1e-7b8c-9d0e-1f2a3b4c5d6e");
  e.stream = "order-42";
  e.version = 3;
  e.position = 7;
  e.type = "OrderPlaced";
  e.timestamp_us = 1764979200000001;  // 2025-12-06T00:00:00.000001Z
  e.content_type = "application/json";
  e.payload = "{}";
  e.traceparent = kTraceparent;
  e.tracestate = "congo=t61rcWkgMzE";
  ShipperOptions o;
  auto plain = WireSettingsOf(o, "store-1");
  ASSERT_THAT(plain, IsOk());
  auto h = All(EventHeaders(e, *plain, ""));
  ASSERT_EQ(h.size(), 11u);
  EXPECT_EQ(h[9], (std::pair<std::string, std::string>{"traceparent", kTraceparent}));
  EXPECT_EQ(h[10], (std::pair<std::string, std::string>{"tracestate", "congo=t61rcWkgMzE"}));

  o.value_format = ValueFormat::kCloudEvents;
  auto ce = WireSettingsOf(o, "store-1");
  ASSERT_THAT(ce, IsOk());
  h = All(EventHeaders(e, *ce, ""));
  using H = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(H(h.begin() + 11, h.end()), (H{{"ce_specversion", "1.0"},
                                           {"ce_id", "0190c6f3-6a1e-7b8c-9d0e-1f2a3b4c5d6e"},
                                           {"ce_source", "urn:cairn:store:store-1"},
                                           {"ce_type", "OrderPlaced"},
                                           {"ce_subject", "order-42"},
                                           {"ce_time", "2025-12-06T00:00:00.000001Z"}}));
  flatbuffers::FlatBufferBuilder fbb;
  std::string scratch;
  EXPECT_EQ(EventValue(e, ValueFormat::kCloudEvents, &fbb, &scratch), e.payload);

  // An event without trace context gets no trace headers.
  RecordedEvent bare = e;
  bare.traceparent = {};
  bare.tracestate = {};
  bare.timestamp_us = 0;
  h = All(EventHeaders(bare, *ce, ""));
  for (const auto& [name, value] : h) EXPECT_EQ(name.find("trace"), std::string::npos) << name;
  EXPECT_EQ(h.back(),
            (std::pair<std::string, std::string>{"ce_time", "1970-01-01T00:00:00.000000Z"}));

  o.cloudevents_source = "/shop/orders?region=eu-1#x";
  auto chosen = WireSettingsOf(o, "store-1");
  ASSERT_THAT(chosen, IsOk());
  EXPECT_EQ(chosen->cloudevents_source, "/shop/orders?region=eu-1#x");
  o.cloudevents_source = "";
  EXPECT_THAT(WireSettingsOf(o, "store-1"), StatusIs(StatusCode::kInvalidArgument));
  o.cloudevents_source = "shop orders";
  auto spaced = WireSettingsOf(o, "store-1");
  EXPECT_THAT(spaced, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(spaced.status().message(), HasSubstr("character 5"));
  o.cloudevents_source = "caf\xc3\xa9";
  EXPECT_THAT(WireSettingsOf(o, "store-1"), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace cairn::ship
