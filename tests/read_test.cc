// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "Invariants" (reads): stream replay, log scans, type reads and
// timestamps that never go backward, the clamp driven by StoreOptions::clock_us.
#include <map>
#include <random>
#include <set>

#include "test_util.h"

namespace cairn {
namespace {
using testing::Drain;
using testing::Event;
using testing::IsOk;
using testing::S;
using testing::StatusIs;

class ReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::OpenOrDie(dir_.Sub("store"));
    // Interleave three streams: order-1 gets versions 1..10 at odd positions.
    for (int i = 1; i <= 10; ++i) {
      ASSERT_THAT(store_->Append("order-1", ExpectedVersion::Any(),
                                 Event("OrderEvent", "{\"n\":" + std::to_string(i) + "}")),
                  IsOk());
      ASSERT_THAT(store_->Append(i % 2 ? "customer-7" : "payment-3", ExpectedVersion::Any(),
                                 Event("Other")),
                  IsOk());
    }
  }
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(ReadTest, ReadsAStreamForwardFromAVersionWithALimit) {
  auto r = store_->ReadStream("order-1", {Direction::kForward, 4, 3});
  ASSERT_THAT(r, IsOk());
  auto events = Drain(std::move(r).value());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].version, 4u);
  EXPECT_EQ(events[0].position, 7u);
  EXPECT_EQ(events[0].payload, "{\"n\":4}");
  EXPECT_EQ(events[2].version, 6u);
  EXPECT_EQ(events[0].stream, "order-1");
  EXPECT_EQ(events[0].type, "OrderEvent");
  EXPECT_EQ(events[0].content_type, "application/json");
}

TEST_F(ReadTest, ReadsAStreamBackward) {
  auto all = Drain(
      std::move(store_->ReadStream("order-1", {Direction::kBackward, {}, UINT64_MAX})).value());
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.front().version, 10u);
  EXPECT_EQ(all.back().version, 1u);
  auto part =
      Drain(std::move(store_->ReadStream("order-1", {Direction::kBackward, 3, 10})).value());
  ASSERT_EQ(part.size(), 3u);
  EXPECT_EQ(part[0].version, 3u);
}

TEST_F(ReadTest, MissingStreamIsNotFound) {
  EXPECT_THAT(store_->ReadStream("order-404"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(store_->GetStreamInfo("order-404"), StatusIs(StatusCode::kNotFound));
  // A stream whose id is a prefix of another's is still its own stream.
  EXPECT_THAT(store_->GetStreamInfo("order-"), StatusIs(StatusCode::kNotFound));
}

TEST_F(ReadTest, ReadsTheGlobalLogBothWays) {
  auto fwd = Drain(std::move(store_->ReadLog({Direction::kForward, 5, 4})).value());
  ASSERT_EQ(fwd.size(), 4u);
  for (std::size_t i = 0; i < fwd.size(); ++i) EXPECT_EQ(fwd[i].position, 5 + i);
  auto back = Drain(std::move(store_->ReadLog({Direction::kBackward, {}, UINT64_MAX})).value());
  ASSERT_EQ(back.size(), 20u);
  EXPECT_EQ(back.front().position, 20u);
  EXPECT_EQ(back.back().position, 1u);
  auto beyond = Drain(std::move(store_->ReadLog({Direction::kForward, 21, 10})).value());
  EXPECT_TRUE(beyond.empty());
}

// Format version 3 indexes each append's events by runs (docs/format.md, "Index runs"). A
// model of the log against every stream read (each start, both directions, limits), every
// type read start, stream info, and the same after truncation and retention cut runs apart.
TEST(IndexRunTest, ReadsFromAnywhereInsideRunsAgreeWithAModel) {
  testing::TempDir dir;
  auto store = testing::OpenOrDie(dir.Sub("s"));
  struct Stored {
    std::string stream, type;
    std::uint64_t version;
  };
  std::vector<Stored> log{{}};  // by position; 0 unused
  std::map<std::string, std::uint64_t> versions;
  std::mt19937 rng(7);
  const std::vector<std::string> types{"A", "B", "C"};
  for (int append = 0; append < 60; ++append) {
    std::vector<StreamAppend> parts(1 + rng() % 3);
    std::set<std::string> used;
    for (auto& part : parts) {
      do part.stream = "s-" + std::to_string(rng() % 5);
      while (!used.insert(part.stream).second);
      const int n = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < n; ++i) part.events.push_back(Event(types[rng() % 2 ? 0 : rng() % 3]));
    }
    ASSERT_THAT(store->AppendMulti(parts), IsOk());
    for (const auto& part : parts)
      for (const auto& e : part.events)
        log.push_back({part.stream, e.type, ++versions[part.stream]});
  }
  const auto check = [&](const std::map<std::string, std::uint64_t>& first_kept,
                         std::uint64_t first_position) {
    for (const auto& [stream, last] : versions) {
      const std::uint64_t first = first_kept.count(stream) ? first_kept.at(stream) : 1;
      auto info = store->GetStreamInfo(stream);
      ASSERT_THAT(info, IsOk());
      EXPECT_EQ(info->first_version, first) << stream;
      EXPECT_EQ(info->last_version, last) << stream;
      for (Direction d : {Direction::kForward, Direction::kBackward})
        for (std::uint64_t from = first; from <= last; ++from)
          for (std::uint64_t limit : {std::uint64_t{1}, std::uint64_t{3}, UINT64_MAX}) {
            auto r = store->ReadStream(stream, {d, from, limit});
            ASSERT_THAT(r, IsOk());
            std::vector<std::uint64_t> got, want;
            for (const auto& e : Drain(std::move(r).value())) {
              got.push_back(e.version);
              EXPECT_EQ(log[e.position].stream, stream);
              EXPECT_EQ(log[e.position].version, e.version);
            }
            for (std::uint64_t v = from; v >= first && v <= last && want.size() < limit;
                 d == Direction::kForward ? ++v : --v)
              want.push_back(v);
            ASSERT_EQ(got, want) << stream << " from " << from << " limit " << limit
                                 << (d == Direction::kForward ? " forward" : " backward");
          }
    }
    for (const std::string& type : types)
      for (std::uint64_t from = 1; from < log.size(); from += 1 + from % 3) {
        std::vector<std::string> wanted{type};
        LogReadOptions o;
        o.from_position = from;
        auto r = store->ReadByTypes(wanted, o);
        ASSERT_THAT(r, IsOk());
        std::vector<std::uint64_t> got, want;
        for (const auto& e : Drain(std::move(r).value())) got.push_back(e.position);
        for (std::uint64_t p = std::max(from, first_position); p < log.size(); ++p) {
          const auto kept = first_kept.find(log[p].stream);
          if (log[p].type == type && (kept == first_kept.end() || log[p].version >= kept->second))
            want.push_back(p);
        }
        ASSERT_EQ(got, want) << type << " from " << from;
      }
    auto report = store->Verify();
    ASSERT_THAT(report, IsOk());
    EXPECT_TRUE(report->ok()) << report->problems.front().what;
  };
  check({}, 1);

  // Retention keeps the newest 4 events of each stream: most cuts land inside runs.
  StreamMetadata keep;
  keep.max_count = 4;
  std::map<std::string, std::uint64_t> first_kept;
  for (const auto& [stream, last] : versions) {
    ASSERT_THAT(S(store->SetStreamMetadata(stream, keep)), IsOk());
    if (last > 4) first_kept[stream] = last - 3;
  }
  ASSERT_THAT(S(store->SaveCheckpoint(kShipperCheckpoint, log.size() - 1)), IsOk());
  RetentionPolicy policy;
  policy.min_audit_age = std::chrono::seconds(0);
  ASSERT_THAT(store->ApplyRetention(policy), IsOk());
  check(first_kept, store->GetInfo().first_position);
}

// store.h: a reader must be destroyed before its Store. Breaking that stops the process with
// a message naming it, instead of a crash somewhere inside RocksDB.
TEST(ReaderLifetimeDeathTest, AStoreDestroyedUnderAnOpenReaderSaysSo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  testing::TempDir dir;
  EXPECT_DEATH(
      {
        auto store = testing::OpenOrDie(dir.Sub("s"));
        (void)store->Append("a", ExpectedVersion::Any(), Event("E"));
        auto reader = store->ReadLog({});
        store.reset();
      },
      "destroyed while 1 EventReader\\(s\\) of it are still open");
}

TEST_F(ReadTest, TimestampsNeverDecreaseWithPosition) {
  auto all = Drain(std::move(store_->ReadLog()).value());
  for (std::size_t i = 1; i < all.size(); ++i)
    EXPECT_LE(all[i - 1].timestamp_us, all[i].timestamp_us);
}

// The rule above, made able to fail: a clock that steps back (NTP, a VM restored) must not
// give a later position an earlier timestamp, in one process or after a reopen.
TEST(TimestampTest, ACommitClockSteppedBackRepeatsTheLastTimestamp) {
  testing::TempDir dir;
  auto now_us = std::make_shared<std::atomic<std::int64_t>>(2'000'000'000'000'000);
  StoreOptions o = testing::QuietOptions();
  o.clock_us = [now_us] { return now_us->load(); };
  auto store = testing::OpenOrDie(dir.Sub("s"), o);
  ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), Event("E")), IsOk());
  *now_us = 1'000'000'000'000'000;  // back by ~31 years
  ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), Event("E")), IsOk());
  store.reset();
  store = testing::OpenOrDie(dir.Sub("s"), o);
  ASSERT_THAT(store->Append("b", ExpectedVersion::Any(), Event("E")), IsOk());
  *now_us = 2'000'000'000'000'007;
  ASSERT_THAT(store->Append("b", ExpectedVersion::Any(), Event("E")), IsOk());
  std::vector<std::int64_t> ts;
  for (const auto& e : Drain(std::move(store->ReadLog()).value())) ts.push_back(e.timestamp_us);
  EXPECT_THAT(ts, ::testing::ElementsAre(2'000'000'000'000'000, 2'000'000'000'000'000,
                                         2'000'000'000'000'000, 2'000'000'000'000'007));
  EXPECT_EQ(store->GetInfo().last_timestamp_us, 2'000'000'000'000'007);
}

TEST_F(ReadTest, StreamInfoAndListing) {
  auto info = store_->GetStreamInfo("order-1");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->last_version, 10u);
  EXPECT_EQ(info->event_count, 10u);
  EXPECT_EQ(info->first_position, 1u);
  EXPECT_EQ(info->last_position, 19u);

  auto all = store_->ListStreams("");
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].stream, "customer-7");
  EXPECT_EQ((*all)[1].stream, "order-1");
  EXPECT_EQ((*all)[2].stream, "payment-3");
  EXPECT_EQ((*all)[0].event_count, 5u);

  auto orders = store_->ListStreams("order-");
  ASSERT_THAT(orders, IsOk());
  ASSERT_EQ(orders->size(), 1u);
  auto page = store_->ListStreams("", 1, "customer-7");
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].stream, "order-1");
}

TEST_F(ReadTest, ReadEventByPosition) {
  auto e = store_->ReadEvent(3);
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->stream, "order-1");
  EXPECT_EQ(e->version, 2u);
  EXPECT_THAT(store_->ReadEvent(21), StatusIs(StatusCode::kNotFound));
}

TEST_F(ReadTest, ReopenPreservesEverything) {
  auto before = Drain(std::move(store_->ReadLog()).value());
  const StoreInfo info = store_->GetInfo();
  ASSERT_THAT(testing::S(store_->Close()), IsOk());
  store_ = testing::OpenOrDie(dir_.Sub("store"));
  auto after = Drain(std::move(store_->ReadLog()).value());
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].id, after[i].id);
    EXPECT_EQ(before[i].payload, after[i].payload);
    EXPECT_EQ(before[i].chain_hash, after[i].chain_hash);
  }
  EXPECT_EQ(store_->GetInfo().store_id, info.store_id);
  EXPECT_EQ(store_->GetInfo().last_chain_hash, info.last_chain_hash);
  // The write path resumes where it stopped: versions and positions continue.
  auto next = store_->Append("order-1", ExpectedVersion::Exact(10), Event("OrderShipped"));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->first_position, 21u);
  EXPECT_EQ(next->first_version, 11u);
}

TEST_F(ReadTest, EventsCarryTheirFields) {
  EventData e = Event("PaymentCaptured", std::string("\x00\x01\xff", 3));
  e.content_type = "application/octet-stream";
  e.metadata = R"({"correlation_id":"c-1"})";
  e.id = EventId::Generate();
  ASSERT_THAT(store_->Append("payment-9", ExpectedVersion::NoStream(), e), IsOk());
  auto got = store_->ReadEvent(21);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->payload, e.payload);
  EXPECT_EQ(got->metadata, e.metadata);
  EXPECT_EQ(got->content_type, e.content_type);
  EXPECT_EQ(got->id, *e.id);
  EXPECT_TRUE(got->id_from_caller);
  auto plain = store_->ReadEvent(1);
  EXPECT_FALSE(plain->id_from_caller);
  EXPECT_FALSE(plain->id.is_nil());
}

}  // namespace
}  // namespace cairn
