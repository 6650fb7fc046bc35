// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Issue #28: W3C trace context on events. The level-1 grammar (ValidateTraceContext) at each
// rule and boundary; an append's trace context stored, read back by every reader, kept across
// reopening and in the chain (golden hashes computed from docs/format.md's canonical bytes
// by an independent Python implementation, so an untraced event still hashes as format 3
// did); a bad value refusing the whole append; an idempotent retry from another trace. The
// wire format's trace and CloudEvents headers are tested in wire_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <rocksdb/db.h>

#include "codec/chain.h"
#include "codec/envelope.h"
#include "store/keys.h"
#include "test_util.h"

namespace cairn {
namespace {
using ::testing::HasSubstr;
using testing::IsOk;
using testing::S;
using testing::StatusIs;

constexpr char kParent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

std::string Rule(std::string_view traceparent, std::string_view tracestate = {}) {
  Status s = ValidateTraceContext(traceparent, tracestate);
  if (s.ok()) return "ok";
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  return s.message();
}

TEST(TraceContextTest, TraceparentFollowsLevelOne) {
  EXPECT_EQ(Rule(""), "ok");  // no trace context
  EXPECT_EQ(Rule(kParent), "ok");
  EXPECT_EQ(Rule("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"), "ok");
  // A later version: the first 55 characters as version 00, more fields after a '-'.
  EXPECT_EQ(Rule("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), "ok");
  EXPECT_EQ(Rule("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-ever"), "ok");
  EXPECT_THAT(Rule("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x"),
              HasSubstr("must follow a '-' at character 56"));
  EXPECT_THAT(Rule("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
              HasSubstr("version ff is forbidden"));
  EXPECT_THAT(Rule("0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
              HasSubstr("version is not two hex digits"));
  EXPECT_THAT(Rule("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-"),
              HasSubstr("version 00 is exactly 55 characters, not 56"));
  EXPECT_THAT(Rule("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0"),
              HasSubstr("it is 54 characters"));
  EXPECT_THAT(Rule("00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"),
              HasSubstr("upper-case hex at character 5"));
  EXPECT_THAT(Rule("00-00000000000000000000000000000000-b7ad6b7169203331-01"),
              HasSubstr("the trace id is all zeros"));
  EXPECT_THAT(Rule("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"),
              HasSubstr("the parent id is all zeros"));
  EXPECT_THAT(Rule("00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
              HasSubstr("expected '-' after the version"));
  EXPECT_THAT(Rule("00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01"),
              HasSubstr("the trace id is not 32 hex digits"));
  EXPECT_THAT(Rule("00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-01"),
              HasSubstr("the parent id is not 16 hex digits"));
  EXPECT_THAT(Rule("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x"),
              HasSubstr("the flags are not two hex digits"));
  EXPECT_THAT(Rule(std::string("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0") + '\0'),
              HasSubstr("character 55 is not printable ASCII"));
  EXPECT_THAT(
      Rule("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-" + std::string(600, 'a')),
      HasSubstr("over cairn's limit of 512"));
  // The message shows the value, control bytes escaped, long ones cut short.
  EXPECT_THAT(Rule("\x01\xff"), HasSubstr("'\\x01\\xff'"));
}

TEST(TraceContextTest, TracestateFollowsLevelOne) {
  EXPECT_EQ(Rule(kParent, "congo=t61rcWkgMzE"), "ok");
  EXPECT_EQ(Rule(kParent, "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE ,\t,,fw529a3039@dt=x y"), "ok");
  EXPECT_EQ(Rule(kParent, " , "), "ok");  // blank members only
  // The longest key, and a value that brings the whole to exactly 512 bytes; one more is over.
  EXPECT_EQ(Rule(kParent, std::string(256, 'k') + "=" + std::string(255, 'v')), "ok");
  EXPECT_THAT(Rule(kParent, std::string(256, 'k') + "=" + std::string(256, 'v')),
              HasSubstr("513 bytes"));
  EXPECT_THAT(Rule("", "congo=t61rcWkgMzE"), HasSubstr("tracestate without a traceparent"));
  EXPECT_THAT(Rule(kParent, "congo"), HasSubstr("expected key=value"));
  EXPECT_THAT(Rule(kParent, "Congo=1"), HasSubstr("must start with a lowercase letter"));
  EXPECT_THAT(Rule(kParent, "con go=1"), HasSubstr("other than a-z 0-9"));
  EXPECT_THAT(Rule(kParent, std::string(257, 'k') + "=1"), HasSubstr("longer than 256"));
  EXPECT_THAT(Rule(kParent, "t@" + std::string(15, 's') + "=1"), HasSubstr("longer than 14"));
  EXPECT_THAT(Rule(kParent, "t@9s=1"), HasSubstr("system id not starting"));
  EXPECT_THAT(Rule(kParent, "@s=1"), HasSubstr("empty tenant or system"));
  EXPECT_THAT(Rule(kParent, "k="), HasSubstr("its value is empty"));
  EXPECT_THAT(Rule(kParent, "k=a=b"), HasSubstr("is not printable ASCII, or is ',' or '='"));
  EXPECT_THAT(Rule(kParent, "k=caf\xc3\xa9"), HasSubstr("not printable ASCII"));
  EXPECT_THAT(Rule(kParent, "k=" + std::string(257, 'v')), HasSubstr("longer than 256"));
  EXPECT_THAT(Rule(kParent, "a=1,b=2,a=3"), HasSubstr("key 'a' appears twice"));
  std::string many;
  for (int i = 0; i < 33; ++i) many += "k" + std::to_string(i) + "=v,";
  EXPECT_THAT(Rule(kParent, many), HasSubstr("more than 32 members"));
  EXPECT_THAT(Rule(kParent, std::string(10 * 1024, 'a')), HasSubstr("over the 512"));
  EXPECT_THAT(Rule(kParent, std::string(kMaxTracestateBytes + 1, 'a')), HasSubstr("513 bytes"));
}

EventData Traced(std::string payload, std::string traceparent, std::string tracestate = {}) {
  EventData e = testing::Event("OrderPlaced", std::move(payload));
  e.traceparent = std::move(traceparent);
  e.tracestate = std::move(tracestate);
  return e;
}

TEST(TraceContextTest, StoredWithTheEventReadByEveryReaderAndInTheChain) {
  testing::TempDir dir;
  {
    auto store = testing::OpenOrDie(dir.Sub("s"));
    const std::vector<EventData> two = {testing::Event("OrderPlaced", "{}"),
                                        Traced("{\"n\":2}", kParent, "congo=t61rcWkgMzE")};
    ASSERT_THAT(store->Append("order-1", ExpectedVersion::Any(), two), IsOk());
    auto e = store->ReadEvent(2);
    ASSERT_THAT(e, IsOk());
    EXPECT_EQ(e->traceparent, kParent);
    EXPECT_EQ(e->tracestate, "congo=t61rcWkgMzE");
    ASSERT_THAT(S(store->Close()), IsOk());
  }
  auto store = testing::OpenOrDie(dir.Sub("s"));
  EXPECT_EQ(store->GetInfo().format_version, kFormatVersion);
  auto log = testing::Drain(std::move(store->ReadLog()).value());
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].traceparent, "");  // none invented
  EXPECT_EQ(log[0].tracestate, "");
  EXPECT_EQ(log[1].traceparent, kParent);
  auto stream = testing::Drain(std::move(store->ReadStream("order-1")).value());
  ASSERT_EQ(stream.size(), 2u);
  EXPECT_EQ(stream[1].tracestate, "congo=t61rcWkgMzE");
  // The chain covers it: the stored hash is the one of the event with its trace context, not
  // without.
  codec::ChainHasher hasher;
  RecordedEvent untraced = log[1].view();
  untraced.traceparent = {};
  untraced.tracestate = {};
  EXPECT_EQ(hasher.Next(log[0].chain_hash, log[1].view()), log[1].chain_hash);
  EXPECT_NE(hasher.Next(log[0].chain_hash, untraced), log[1].chain_hash);
  auto report = store->Verify();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok());
}

// docs/format.md's canonical bytes, computed by Python's hashlib from the document alone.
TEST(TraceContextTest, ChainHashesMatchTheDocumentedCanonicalBytes) {
  codec::ChainHasher hasher;
  const codec::Hash genesis =
      hasher.Genesis(*EventId::Parse("0190c6f3-6a1e-7b8c-9d0e-1f2a3b4c5d6e"));
  EXPECT_EQ(HexHash(genesis), "9f91275174ba0a8c02281d279e463a8d0a0337420fd3b97cea524693f13e79da");
  RecordedEvent e;
  e.id = *EventId::Parse("11111111-2222-4333-8444-555555555555");
  e.id_from_caller = true;
  e.position = 1;
  e.version = 1;
  e.timestamp_us = 1700000000000000;
  e.stream = "order-1";
  e.type = "OrderPlaced";
  e.content_type = "application/json";
  e.payload = "{\"n\":1}";
  const codec::Hash plain = hasher.Next(genesis, e);  // as format 3 and before hashed it
  EXPECT_EQ(HexHash(plain), "f5fb19fde2efaafe677cdb95ae321cefa98c9458eb9040808927c38ae5b06570");
  e.position = 2;
  e.version = 2;
  e.timestamp_us = 1700000000000001;
  e.traceparent = kParent;
  e.tracestate = "congo=t61rcWkgMzE";
  EXPECT_EQ(HexHash(hasher.Next(plain, e)),
            "0356d5f34e8bd3568460869fe4080799aba32d756fe85bcc50cf004ed6fdd2b6");
}

TEST(TraceContextTest, ABadValueRefusesTheWholeAppendAndStoresNothing) {
  testing::TempDir dir;
  auto store = testing::OpenOrDie(dir.Sub("s"));
  ASSERT_THAT(store->Append("order-1", ExpectedVersion::Any(), testing::Event("A")), IsOk());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01", ""},
      {"00-00000000000000000000000000000000-b7ad6b7169203331-01", ""},
      {"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", ""},
      {kParent, std::string(10 * 1024, 'x')},
      {"", "congo=1"}};
  for (const auto& [traceparent, tracestate] : bad) {
    const std::vector<EventData> two = {testing::Event("B"), Traced("{}", traceparent, tracestate)};
    auto r = store->Append("order-1", ExpectedVersion::Any(), two);
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(r.status().message(), HasSubstr("event 1 for stream 'order-1'"));
    // The asynchronous and multi-stream paths check the same.
    std::vector<StreamAppend> multi = {
        {"order-2", ExpectedVersion::Any(), {testing::Event("C")}},
        {"order-3", ExpectedVersion::Any(), {Traced("{}", traceparent, tracestate)}}};
    EXPECT_THAT(store->AppendMulti(multi), StatusIs(StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(store->GetInfo().last_position, 1u);
}

TEST(TraceContextTest, AnIdempotentRetryFromAnotherTraceKeepsTheStoredOne) {
  testing::TempDir dir;
  auto store = testing::OpenOrDie(dir.Sub("s"));
  EventData first = Traced("{}", kParent);
  first.id = EventId::Generate();
  ASSERT_THAT(store->Append("order-1", ExpectedVersion::Any(), first), IsOk());
  EventData retry = first;
  retry.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto r = store->Append("order-1", ExpectedVersion::Any(), retry);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->deduplicated);
  retry.traceparent.clear();
  r = store->Append("order-1", ExpectedVersion::Any(), retry);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->deduplicated);
  EXPECT_EQ(store->GetInfo().last_position, 1u);
  EXPECT_EQ(store->ReadEvent(1)->traceparent, kParent);
}

TEST(TraceContextTest, AnEditedTraceparentBreaksTheChainAtItsPosition) {
  testing::TempDir dir;
  {
    auto store = testing::OpenOrDie(dir.Sub("s"));
    for (int i = 0; i < 5; ++i)
      ASSERT_THAT(store->Append("order-1", ExpectedVersion::Any(), Traced("{}", kParent)), IsOk());
  }
  testing::WithRawDb(dir.Sub("s"), [&](rocksdb::DB* db, auto& cf) {
    std::string value, scratch;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf["log"], store::PositionKey(3), &value).ok());
    RecordedEvent e;
    ASSERT_THAT(S(codec::DecodeEvent(value, &scratch, &e)), IsOk());
    const std::string forged = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    e.traceparent = forged;  // moved into another trace, with a fresh CRC
    flatbuffers::FlatBufferBuilder fbb;
    std::string out;
    codec::EncodeEvent(e, &fbb, &out);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["log"], store::PositionKey(3), out).ok());
  });
  StoreOptions read_only = testing::QuietOptions();
  read_only.read_only = true;
  auto store = Store::Open(dir.Sub("s"), read_only);
  ASSERT_THAT(store, IsOk());
  auto report = (*store)->Verify();
  ASSERT_THAT(report, IsOk());
  const VerifyReport& r = *report;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].position, 3u);
  EXPECT_THAT(r.problems[0].what, HasSubstr("chain hash mismatch"));
}

}  // namespace
}  // namespace cairn
