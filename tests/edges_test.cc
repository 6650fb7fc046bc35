// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "Numbers at their limits" and "Two actors on one store" (issue #24):
// every duration, count and position a caller gives saturates or is refused, never wraps
// (a "keep for ever" audit window once wrapped and retention removed 10,499 of 10,500
// events); and every pair of actors that can meet on one store has a defined outcome.
#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "test_util.h"
#include "util/saturating.h"

namespace cairn::testing {
namespace {

using namespace std::chrono_literals;
using internal::CutoffBefore;
using internal::DeadlineAfter;
using internal::SaturatingAdd;
using internal::SaturatingMicros;
using internal::SaturatingMul;
using internal::SaturatingSub;
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

// Property: on random operands (biased towards the limits) each operation equals the exact
// result clamped to the type's range, computed in 128 bits.
TEST(SaturatingTest, EqualsTheExactResultClampedOnRandomAndBoundaryOperands) {
  std::mt19937_64 rng(24);
  const std::vector<std::int64_t> edges = {
      0, 1, -1, kMax, kMin, kMax - 1, kMin + 1, kMax / 1000000, kMax / 86400, 86400, 1000000};
  auto pick = [&] {
    return rng() % 3 == 0 ? edges[rng() % edges.size()] : static_cast<std::int64_t>(rng());
  };
  auto clamp = [](__int128 v) {
    return static_cast<std::int64_t>(std::clamp<__int128>(v, kMin, kMax));
  };
  for (int i = 0; i < 200000; ++i) {
    const std::int64_t a = pick(), b = pick();
    ASSERT_EQ(SaturatingAdd(a, b), clamp(static_cast<__int128>(a) + b)) << a << " + " << b;
    ASSERT_EQ(SaturatingSub(a, b), clamp(static_cast<__int128>(a) - b)) << a << " - " << b;
    ASSERT_EQ(SaturatingMul(a, b), clamp(static_cast<__int128>(a) * b)) << a << " * " << b;
    const auto ua = static_cast<std::uint64_t>(a), ub = static_cast<std::uint64_t>(b);
    const unsigned __int128 exact = static_cast<unsigned __int128>(ua) + ub;
    ASSERT_EQ(SaturatingAdd(ua, ub), exact > UINT64_MAX ? UINT64_MAX : ua + ub);
    ASSERT_EQ(SaturatingSub(ua, ub), ua < ub ? 0u : ua - ub);
  }
  // The uses: a cut-off never lies after now, however long the age.
  const std::int64_t now = 1'800'000'000'000'000;
  for (std::int64_t days :
       std::vector<std::int64_t>{0, 1, 106751991, 106751992, 9999999999, kMax / 86400}) {
    const std::int64_t cutoff =
        CutoffBefore(now, std::chrono::seconds(SaturatingMul(days, std::int64_t{86400})));
    EXPECT_LE(cutoff, now) << days;
    if (days > 0) EXPECT_LT(cutoff, now) << days;
  }
  EXPECT_EQ(CutoffBefore(now, std::chrono::seconds::max()), now - kMax);
  EXPECT_EQ(CutoffBefore(-now, std::chrono::seconds::max()), kMin);
  EXPECT_EQ(SaturatingMicros(std::chrono::seconds(kMax)), kMax);
  EXPECT_EQ(SaturatingMicros(std::chrono::nanoseconds(1999)), 1);
  EXPECT_EQ(DeadlineAfter(std::chrono::milliseconds::max()),
            std::chrono::steady_clock::time_point::max());
  EXPECT_EQ(DeadlineAfter(std::chrono::hours::max()), std::chrono::steady_clock::time_point::max());
  const auto past = DeadlineAfter(-1s);
  EXPECT_LE(past, std::chrono::steady_clock::now());
}

std::unique_ptr<Store> StoreWithOldEvents(const std::string& path, int n) {
  auto store = OpenOrDie(path);
  for (int i = 0; i < n; ++i)
    EXPECT_THAT(store->Append("s-" + std::to_string(i % 7), ExpectedVersion::Any(), Event("E")),
                IsOk());
  std::this_thread::sleep_for(20ms);  // every event is older than a max_age of 0
  EXPECT_THAT(S(store->SaveCheckpoint("shipper", store->last_position())), IsOk());
  return store;
}

// "Keep for ever" written as a huge number keeps everything: each of these wrapped once, or
// would have, into "remove everything".
TEST(EdgesTest, HugeRetentionValuesKeepEverythingInsteadOfWrapping) {
  TempDir dir;
  auto store = StoreWithOldEvents(dir.Sub("s"), 50);
  const std::uint64_t head = store->last_position();
  std::vector<RetentionPolicy> forever;
  for (std::chrono::seconds audit :
       {std::chrono::seconds::max(), std::chrono::seconds(9999999999LL * 86400),
        std::chrono::seconds(kMax / 1000000 + 1)}) {
    RetentionPolicy p;
    p.max_age = 0s;
    p.min_audit_age = audit;
    forever.push_back(p);
  }
  RetentionPolicy by_count;
  by_count.min_audit_age = 0s;
  by_count.max_events = UINT64_MAX;  // position + max_events wrapped to a small number
  forever.push_back(by_count);
  by_count.max_events = UINT64_MAX - head + 1;
  forever.push_back(by_count);
  for (const RetentionPolicy& p : forever) {
    auto r = store->ApplyRetention(p);
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->removed_events, 0u);
  }
  // Per stream: the same through stream metadata.
  StreamMetadata md;
  md.max_count = UINT64_MAX;
  ASSERT_THAT(S(store->SetStreamMetadata("s-1", md)), IsOk());
  md.max_count.reset();
  md.max_age = std::chrono::seconds::max();
  ASSERT_THAT(S(store->SetStreamMetadata("s-2", md)), IsOk());
  RetentionPolicy streams_only;
  streams_only.min_audit_age = 0s;
  auto r = store->ApplyRetention(streams_only);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->removed_events, 0u);
  EXPECT_EQ(store->GetStreamMetadata("s-2")->max_age, std::chrono::seconds::max());
  // Negative ages are refused, not read as "the future".
  RetentionPolicy negative;
  negative.min_audit_age = -1s;
  EXPECT_THAT(store->ApplyRetention(negative), StatusIs(StatusCode::kInvalidArgument));
  negative.min_audit_age = 0s;
  negative.max_age = std::chrono::seconds::min();
  EXPECT_THAT(store->ApplyRetention(negative), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_EQ(Drain(std::move(store->ReadLog()).value()).size(), head);
  // And the rules still remove what they say at their boundary: keep the newest head - 1.
  RetentionPolicy one;
  one.min_audit_age = 0s;
  one.max_events = head - 1;
  r = store->ApplyRetention(one);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->removed_events, 1u);
}

TEST(EdgesTest, WaitingForeverWaitsInsteadOfReturningAtOnce) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  std::atomic<bool> appended{false};
  std::thread writer([&] {
    std::this_thread::sleep_for(200ms);
    appended = true;
    EXPECT_THAT(store->Append("a-1", ExpectedVersion::Any(), Event("E")), IsOk());
  });
  // milliseconds::max() added to now() overflowed into the past: the wait returned at once.
  EXPECT_EQ(store->WaitForPosition(0, std::chrono::milliseconds::max()), 1u);
  EXPECT_TRUE(appended);
  writer.join();
}

// A checkpoint is a position consumers have finished with; retention trusts it.
TEST(EdgesTest, ACheckpointPastTheHeadIsRefusedAndRetentionKeepsTheUnshipped) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 20; ++i)
    ASSERT_THAT(store->Append("a-1", ExpectedVersion::Any(), Event("E")), IsOk());
  EXPECT_THAT(S(store->SaveCheckpoint("shipper", 1ULL << 30)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(store->SaveCheckpoint("shipper", 21)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(store->SaveCheckpoint("shipper", UINT64_MAX)),
              StatusIs(StatusCode::kInvalidArgument));
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", 20)), IsOk());  // the head itself is fine
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", 5)), IsOk());
  RetentionPolicy p;
  p.min_audit_age = 0s;
  p.max_age = 0s;
  std::this_thread::sleep_for(5ms);
  auto r = store->ApplyRetention(p);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->removed_events, 5u) << "only what the checkpoint passed";
  // Deleting: a name never saved is kNotFound; a saved one goes and loads as 0.
  EXPECT_THAT(S(store->DeleteCheckpoint("shiper")), StatusIs(StatusCode::kNotFound));
  ASSERT_THAT(S(store->DeleteCheckpoint("shipper")), IsOk());
  EXPECT_EQ(*store->LoadCheckpoint("shipper"), 0u);
  EXPECT_TRUE(store->ListCheckpoints()->empty());
}

// One consumer per checkpoint in a process: claims, and the subscriptions that take them.
TEST(EdgesTest, OneConsumerPerCheckpointAtATime) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  ASSERT_THAT(S(store->ClaimCheckpoint("shipper")), IsOk());
  EXPECT_THAT(S(store->ClaimCheckpoint("shipper")), StatusIs(StatusCode::kBusy));
  EXPECT_THAT(S(store->ClaimCheckpoint("")), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_THAT(store->Append("a-1", ExpectedVersion::Any(), Event("E")), IsOk());
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", 1)), IsOk());
  EXPECT_THAT(S(store->DeleteCheckpoint("shipper")), StatusIs(StatusCode::kBusy));
  store->ReleaseCheckpoint("shipper");
  ASSERT_THAT(S(store->ClaimCheckpoint("shipper")), IsOk());
  store->ReleaseCheckpoint("shipper");

  // Two subscriptions of one name would each run the handler on every event.
  std::atomic<int> handled{0};
  SubscriptionOptions so;
  so.name = "billing";
  auto handler = [&](const RecordedEvent&) {
    ++handled;
    return Status::Ok();
  };
  auto first = Subscription::Start(*store, so, handler);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(Subscription::Start(*store, so, handler), StatusIs(StatusCode::kBusy));
  // The checkpoint is what a shipper would claim under that name too.
  EXPECT_THAT(S(store->ClaimCheckpoint("subscription.billing")), StatusIs(StatusCode::kBusy));
  ASSERT_THAT(S((*first)->WaitUntil(1, 5s)), IsOk());
  ASSERT_THAT(S((*first)->Stop()), IsOk());
  EXPECT_EQ(handled.load(), 1);
  auto again = Subscription::Start(*store, so, handler);
  ASSERT_THAT(again, IsOk()) << "a stopped subscription releases its name";
}

// Close() with threads still calling: refused calls are not counted as in progress, so it
// returns (it spun for ever with 16 threads calling in a loop).
TEST(EdgesTest, CloseReturnsWhileSixteenThreadsKeepCalling) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> refused{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 16; ++t) {
    callers.emplace_back([&, t] {
      while (!stop) {
        auto r = t % 2 == 0
                     ? store->Append("a-" + std::to_string(t), ExpectedVersion::Any(), Event("E"))
                           .status()
                     : store->GetStreamInfo("a-0").status();
        if (r.code() == StatusCode::kFailedPrecondition) ++refused;
      }
    });
  }
  std::this_thread::sleep_for(100ms);
  const auto began = std::chrono::steady_clock::now();
  std::thread closer([&] { EXPECT_THAT(S(store->Close()), IsOk()); });
  while (std::chrono::steady_clock::now() - began < 20s && refused.load() < 1000)
    std::this_thread::sleep_for(1ms);
  closer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 20s);
  stop = true;
  for (auto& c : callers) c.join();
  EXPECT_GE(refused.load(), 1000u) << "the callers kept being refused while it closed";
  // What was acknowledged is there.
  auto reopened = OpenOrDie(dir.Sub("s"));
  EXPECT_TRUE(reopened->Verify()->ok());
}

// Eight threads creating one new store at once: one creates it, the others wait for the
// creation and then meet the ordinary "another writer holds it" (kBusy) — never RocksDB's
// internals from two creations interleaved in one directory.
TEST(EdgesTest, ConcurrentCreatorsOfOneStoreGetOneStoreAndClearAnswers) {
  for (int round = 0; round < 5; ++round) {
    TempDir dir;
    const std::string path = dir.Sub("new-store");
    std::vector<Result<std::unique_ptr<Store>>> opened;
    opened.reserve(8);
    for (int i = 0; i < 8; ++i) opened.emplace_back(Status::Internal("not run"));
    std::vector<std::thread> creators;
    std::atomic<bool> go{false};
    for (int i = 0; i < 8; ++i)
      creators.emplace_back([&, i] {
        while (!go) std::this_thread::yield();
        opened[i] = Store::Open(path, QuietOptions());
      });
    go = true;
    for (auto& c : creators) c.join();
    int owners = 0;
    for (auto& r : opened) {
      if (r.ok()) {
        ++owners;
        continue;
      }
      EXPECT_EQ(r.status().code(), StatusCode::kBusy) << r.status().ToString();
    }
    EXPECT_EQ(owners, 1);
  }
}

// Readers opening a store while its creator builds, publishes and reopens it: each sees no
// store yet (kNotFound) or the whole store — never "not a cairn store" from the moment the
// creator's first reopen moves the metadata from RocksDB's log into a table (found by the CLI
// fuzz: a `cairn read` racing the first `cairn append` exited 1 calling the store foreign).
TEST(EdgesTest, ReadersDuringCreationSeeNoStoreOrTheWholeStore) {
  std::map<std::string, int> wrong;
  int whole = 0;
  for (int round = 0; round < 40; ++round) {
    TempDir dir;
    const std::string path = dir.Sub("new-store");
    std::atomic<bool> go{false}, created{false};
    std::mutex mu;
    std::vector<std::thread> readers;
    for (int i = 0; i < 3; ++i)
      readers.emplace_back([&] {
        StoreOptions ro = QuietOptions();
        ro.read_only = true;
        while (!go) std::this_thread::yield();
        for (bool last = false; !last;) {
          last = created.load();
          auto r = Store::Open(path, ro);
          std::lock_guard lk(mu);
          if (r.ok())
            ++whole;
          else if (r.status().code() != StatusCode::kNotFound)
            ++wrong[r.status().ToString()];
        }
      });
    go = true;
    {
      auto store = Store::Open(path, QuietOptions());
      ASSERT_THAT(store, IsOk());
    }
    created = true;
    for (auto& r : readers) r.join();
  }
  EXPECT_TRUE(wrong.empty()) << [&] {
    std::string all;
    for (const auto& [what, n] : wrong) all += std::to_string(n) + "x " + what + "\n";
    return all;
  }();
  EXPECT_GE(whole, 40 * 3) << "every reader's last open, after the creation, must succeed";
}

}  // namespace
}  // namespace cairn::testing
