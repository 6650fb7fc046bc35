// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "Invariants", "Idempotence, precisely" and "Limits": versions,
// positions, atomicity, idempotent retries, and what an append refuses (UTF-8 ids and types,
// sizes) without storing anything.
#include "test_util.h"

namespace cairn {
namespace {
using testing::Event;
using testing::IsOk;
using testing::S;
using testing::StatusIs;

class AppendTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = testing::OpenOrDie(dir_.Sub("store")); }
  std::uint64_t LastVersion(std::string_view stream) {
    auto info = store_->GetStreamInfo(stream);
    return info.ok() ? info->last_version : 0;
  }
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(AppendTest, AssignsVersionsAndDensePositions) {
  auto a = store_->Append("order-1", ExpectedVersion::NoStream(), Event("OrderPlaced"));
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->first_position, 1u);
  EXPECT_EQ(a->first_version, 1u);
  std::vector<EventData> two{Event("ItemAdded"), Event("ItemAdded")};
  auto b = store_->Append("order-1", ExpectedVersion::Exact(1), two);
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(b->first_position, 2u);
  EXPECT_EQ(b->last_position, 3u);
  EXPECT_EQ(b->first_version, 2u);
  EXPECT_EQ(b->last_version, 3u);
  auto c = store_->Append("order-2", ExpectedVersion::Any(), Event("OrderPlaced"));
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->first_position, 4u);
  EXPECT_EQ(c->first_version, 1u);
  EXPECT_EQ(store_->GetInfo().last_position, 4u);
}

// Every expectation against a missing stream and against a stream at version 2.
TEST_F(AppendTest, ExpectedVersionMatrix) {
  struct Case {
    ExpectedVersion expected;
    bool on_missing;
    bool on_existing;  // stream at version 2
  };
  const Case cases[] = {
      {ExpectedVersion::Any(), true, true},           {ExpectedVersion::NoStream(), true, false},
      {ExpectedVersion::StreamExists(), false, true}, {ExpectedVersion::Exact(0), true, false},
      {ExpectedVersion::Exact(1), false, false},      {ExpectedVersion::Exact(2), false, true},
      {ExpectedVersion::Exact(3), false, false},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string missing = "missing-" + std::to_string(n);
    const std::string existing = "existing-" + std::to_string(n++);
    std::vector<EventData> seed{Event("A"), Event("B")};
    ASSERT_THAT(store_->Append(existing, ExpectedVersion::NoStream(), seed), IsOk());

    auto on_missing = store_->Append(missing, c.expected, Event("X"));
    EXPECT_EQ(on_missing.ok(), c.on_missing) << c.expected.ToString();
    auto on_existing = store_->Append(existing, c.expected, Event("X"));
    EXPECT_EQ(on_existing.ok(), c.on_existing) << c.expected.ToString();
    if (!on_existing.ok()) {
      EXPECT_THAT(on_existing, StatusIs(StatusCode::kWrongExpectedVersion));
      ASSERT_TRUE(on_existing.status().version_conflict().has_value());
      EXPECT_EQ(on_existing.status().version_conflict()->expected, c.expected.ToString());
      EXPECT_EQ(on_existing.status().version_conflict()->actual, 2u);
      EXPECT_EQ(LastVersion(existing), 2u) << "a failed append stored something";
    }
    if (!on_missing.ok()) {
      EXPECT_EQ(on_missing.status().version_conflict()->actual, 0u);
      EXPECT_EQ(LastVersion(missing), 0u);
    }
  }
}

TEST_F(AppendTest, FailedMultiStreamAppendStoresNothing) {
  ASSERT_THAT(store_->Append("payment-1", ExpectedVersion::NoStream(), Event("PaymentAuthorized")),
              IsOk());
  const auto before = store_->GetInfo().last_position;
  std::vector<StreamAppend> appends(2);
  appends[0] = {"order-9", ExpectedVersion::NoStream(), {Event("OrderPlaced"), Event("ItemAdded")}};
  appends[1] = {"payment-1", ExpectedVersion::NoStream(), {Event("PaymentCaptured")}};
  auto r = store_->AppendMulti(appends);
  EXPECT_THAT(r, StatusIs(StatusCode::kWrongExpectedVersion));
  EXPECT_EQ(store_->GetInfo().last_position, before);
  EXPECT_THAT(store_->GetStreamInfo("order-9"), StatusIs(StatusCode::kNotFound));

  appends[1].expected = ExpectedVersion::Exact(1);
  auto ok = store_->AppendMulti(appends);
  ASSERT_THAT(ok, IsOk());
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0].first_position, before + 1);
  EXPECT_EQ((*ok)[0].last_version, 2u);
  EXPECT_EQ((*ok)[1].first_position, before + 3);
  EXPECT_EQ((*ok)[1].last_version, 2u);
}

TEST_F(AppendTest, MultiStreamAppendRejectsARepeatedStream) {
  std::vector<StreamAppend> appends(2);
  appends[0] = {"order-1", ExpectedVersion::Any(), {Event("A")}};
  appends[1] = {"order-1", ExpectedVersion::Any(), {Event("B")}};
  EXPECT_THAT(store_->AppendMulti(appends), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(store_->GetInfo().last_position, 0u);
}

TEST_F(AppendTest, RetryWithSameIdsReturnsOriginalPositions) {
  std::vector<EventData> events{Event("OrderPlaced", R"({"total":10})"), Event("ItemAdded")};
  events[0].id = EventId::Generate();
  events[1].id = EventId::Generate();
  auto first = store_->Append("order-1", ExpectedVersion::NoStream(), events);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(store_->Append("order-1", ExpectedVersion::Any(), Event("Other")), IsOk());

  // The retry carries the original expectation, which no longer holds: still a success.
  auto retry = store_->Append("order-1", ExpectedVersion::NoStream(), events);
  ASSERT_THAT(retry, IsOk());
  EXPECT_TRUE(retry->deduplicated);
  EXPECT_EQ(retry->first_position, first->first_position);
  EXPECT_EQ(retry->last_position, first->last_position);
  EXPECT_EQ(retry->last_version, 2u);
  EXPECT_EQ(store_->GetInfo().last_position, 3u);

  // Survives a reopen: the id index is durable.
  store_.reset();
  store_ = testing::OpenOrDie(dir_.Sub("store"));
  auto again = store_->Append("order-1", ExpectedVersion::NoStream(), events);
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->deduplicated);
  EXPECT_EQ(store_->GetInfo().last_position, 3u);
}

TEST_F(AppendTest, SameIdWithDifferentContentIsAnError) {
  EventData e = Event("OrderPlaced", R"({"total":10})");
  e.id = EventId::Generate();
  ASSERT_THAT(store_->Append("order-1", ExpectedVersion::Any(), e), IsOk());
  e.payload = R"({"total":11})";
  EXPECT_THAT(store_->Append("order-1", ExpectedVersion::Any(), e),
              StatusIs(StatusCode::kAlreadyExists));
  e.payload = R"({"total":10})";
  EXPECT_THAT(store_->Append("order-2", ExpectedVersion::Any(), e),
              StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(store_->GetInfo().last_position, 1u);
}

TEST_F(AppendTest, PartialRepeatOfAnEarlierAppendIsAnError) {
  EventData a = Event("A");
  a.id = EventId::Generate();
  ASSERT_THAT(store_->Append("s", ExpectedVersion::Any(), a), IsOk());
  EventData b = Event("B");
  b.id = EventId::Generate();
  std::vector<EventData> both{a, b};
  EXPECT_THAT(store_->Append("s", ExpectedVersion::Any(), both),
              StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(store_->GetInfo().last_position, 1u);
}

TEST_F(AppendTest, BadInputsAreRejectedAndStoreNothing) {
  StoreOptions o = testing::QuietOptions();
  EventData big = Event("Big", std::string(o.max_payload_bytes + 1, 'x'));
  EXPECT_THAT(store_->Append("s", ExpectedVersion::Any(), big),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->Append("", ExpectedVersion::Any(), Event("A")),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->Append(std::string(257, 's'), ExpectedVersion::Any(), Event("A")),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->Append(std::string("a\0b", 3), ExpectedVersion::Any(), Event("A")),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->Append("s", ExpectedVersion::Any(), Event("")),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->Append("s", ExpectedVersion::Any(), Event(std::string(300, 't'))),
              StatusIs(StatusCode::kInvalidArgument));
  EventData nil = Event("A");
  nil.id = EventId();
  EXPECT_THAT(store_->Append("s", ExpectedVersion::Any(), nil),
              StatusIs(StatusCode::kInvalidArgument));
  EventData dup = Event("A");
  dup.id = EventId::Generate();
  std::vector<EventData> dups{dup, dup};
  EXPECT_THAT(store_->Append("s", ExpectedVersion::Any(), dups),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->Append("s", ExpectedVersion::Any(), std::span<const EventData>()),
              StatusIs(StatusCode::kInvalidArgument));
  std::vector<EventData> many(o.max_events_per_append + 1, Event("A"));
  EXPECT_THAT(store_->Append("s", ExpectedVersion::Any(), many),
              StatusIs(StatusCode::kInvalidArgument));
  // A bad event in the middle fails the whole append.
  std::vector<EventData> mixed{Event("A"), big, Event("C")};
  auto r = store_->Append("s", ExpectedVersion::Any(), mixed);
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("event 1 for stream 's'"));
  EXPECT_EQ(store_->GetInfo().last_position, 0u);
}

TEST_F(AppendTest, PayloadLimitIsConfigurable) {
  StoreOptions o = testing::QuietOptions();
  o.max_payload_bytes = 10;
  auto small = testing::OpenOrDie(dir_.Sub("small"), o);
  EXPECT_THAT(small->Append("s", ExpectedVersion::Any(), Event("A", std::string(10, 'x'))), IsOk());
  auto r = small->Append("s", ExpectedVersion::Any(), Event("A", std::string(11, 'x')));
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("over the limit of 10"));
}

TEST_F(AppendTest, ReadOnlyStoreRefusesAppends) {
  ASSERT_THAT(store_->Append("s", ExpectedVersion::Any(), Event("A")), IsOk());
  StoreOptions o = testing::QuietOptions();
  o.read_only = true;
  auto ro = testing::OpenOrDie(dir_.Sub("store"), o);
  EXPECT_THAT(ro->Append("s", ExpectedVersion::Any(), Event("A")),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(ro->GetInfo().last_position, 1u);
}

TEST_F(AppendTest, ClosedStoreRefusesCalls) {
  ASSERT_THAT(S(store_->Close()), IsOk());
  EXPECT_THAT(store_->Append("s", ExpectedVersion::Any(), Event("A")),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(store_->ReadLog(), StatusIs(StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace cairn

namespace cairn::testing {
namespace {

TEST(ValidationTest, StreamIdsAndTypesMustBeUtf8) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (const std::string bad :
       {std::string("order-\xff"), std::string("\xc3\x28"), std::string("a\xed\xa0\x80"),
        std::string("\xf4\x90\x80\x80"), std::string("\xc0\xaf")}) {
    auto r = store->Append(bad, ExpectedVersion::Any(), Event("E"));
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr("UTF-8"));
    auto t = store->Append("ok-1", ExpectedVersion::Any(), Event(bad));
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  }
  // Any bytes at all in payloads and metadata; real UTF-8 in ids.
  EventData binary = Event("Ünïcode✓", std::string("\xff\x00\xfe", 3));
  binary.metadata = std::string("\x80\x81", 2);
  EXPECT_THAT(store->Append("zähler-€-𝄞", ExpectedVersion::Any(), binary), IsOk());
  EXPECT_EQ(store->GetInfo().last_position, 1u);
}

TEST(ValidationTest, CheckAppendRefusesWhatAppendWouldWithoutStoringAnything) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  EventData first = Event("E", "{\"n\":1}");
  first.id = EventId::Generate();
  ASSERT_THAT(store->Append("a-1", ExpectedVersion::Any(), first), IsOk());
  EventData reuse = first;
  reuse.payload = "{\"n\":2}";
  StreamAppend a{"a-1", ExpectedVersion::Any(), {reuse}};
  EXPECT_EQ(store->CheckAppend(std::span(&a, 1)).code(), StatusCode::kAlreadyExists);
  StreamAppend retry{"a-1", ExpectedVersion::Any(), {first}};  // the same event: a retry
  EXPECT_THAT(S(store->CheckAppend(std::span(&retry, 1))), IsOk());
  StreamAppend big{"a-1", ExpectedVersion::Any(), {Event("E", std::string(2 << 20, 'x'))}};
  EXPECT_EQ(store->CheckAppend(std::span(&big, 1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->GetInfo().last_position, 1u);
}

}  // namespace
}  // namespace cairn::testing
