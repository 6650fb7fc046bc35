// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The backlog quota's accounting (src/store/backlog.h) on its own, beside the store-level
// BacklogQuotaTest: admission at and past each limit, bytes leaving only when a whole commit
// shipped, only the quota's checkpoint counting, blocking until room or Close, and sums at
// 2^64 that must read as "over" rather than wrap into room.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "store/backlog.h"

namespace cairn::store {
namespace {

using namespace std::chrono_literals;

BacklogQuota Quota(std::uint64_t events, std::uint64_t bytes, BacklogQuota::Policy policy) {
  BacklogQuota q;
  q.max_events = events;
  q.max_bytes = bytes;
  q.policy = policy;
  q.block_timeout = 100ms;
  return q;
}

TEST(BacklogTest, ADisabledQuotaAdmitsEverything) {
  Backlog off(BacklogQuota{}, false);
  EXPECT_FALSE(off.enabled());
  off.NoteCommitted(1'000'000, 1 << 30);
  EXPECT_TRUE(off.AwaitRoom(UINT64_MAX, UINT64_MAX).ok());
  Backlog read_only(Quota(1, 1, BacklogQuota::Policy::kReject), true);
  EXPECT_FALSE(read_only.enabled());
}

TEST(BacklogTest, EventsAdmittedUpToTheLimitAndAgainOnceTheQuotasCheckpointMoves) {
  Backlog b(Quota(10, 0, BacklogQuota::Policy::kReject), false);
  b.Start(0, 0, 0);
  EXPECT_TRUE(b.AwaitRoom(1000, 0).ok()) << "an empty backlog takes one append of any size";
  b.NoteCommitted(8, 0);
  EXPECT_TRUE(b.AwaitRoom(2, 0).ok());  // 8 + 2 = the limit
  const Status over = b.AwaitRoom(3, 0);
  EXPECT_EQ(over.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(over.message().find("'shipper'"), std::string::npos) << over.message();
  b.NoteShipped("subscription.other", 8);  // not the quota's checkpoint
  EXPECT_FALSE(b.AwaitRoom(3, 0).ok());
  b.NoteShipped("shipper", 5);
  EXPECT_TRUE(b.AwaitRoom(3, 0).ok());
  EXPECT_EQ(b.Get().events, 3u);
  EXPECT_EQ(b.Get().rejected_appends, 2u);
}

TEST(BacklogTest, BytesLeaveOnlyWhenTheirWholeCommitShipped) {
  Backlog b(Quota(0, 1000, BacklogQuota::Policy::kReject), false);
  b.Start(0, 0, 0);
  b.NoteCommitted(5, 400);   // positions 1..5
  b.NoteCommitted(10, 500);  // positions 6..10
  EXPECT_EQ(b.Get().bytes, 900u);
  EXPECT_FALSE(b.AwaitRoom(1, 101).ok());
  EXPECT_TRUE(b.AwaitRoom(1, 100).ok());
  b.NoteShipped("shipper", 7);  // the second commit is only partly shipped
  EXPECT_EQ(b.Get().bytes, 500u);
  b.NoteShipped("shipper", 3);  // a checkpoint never moves the backlog back
  EXPECT_EQ(b.Get().bytes, 500u);
  b.NoteShipped("shipper", 10);
  EXPECT_EQ(b.Get().bytes, 0u);
  EXPECT_EQ(b.Get().events, 0u);
}

TEST(BacklogTest, SumsPastTwoToTheSixtyFourAreOverNotRoom) {
  Backlog b(Quota(UINT64_MAX - 1, UINT64_MAX - 1, BacklogQuota::Policy::kReject), false);
  b.Start(0, 0, 0);
  b.NoteCommitted(1, 10);
  // 1 + (2^64 - 1) wrapped to 0 and was admitted.
  EXPECT_FALSE(b.AwaitRoom(UINT64_MAX, 0).ok());
  EXPECT_FALSE(b.AwaitRoom(1, UINT64_MAX).ok());
  EXPECT_TRUE(b.AwaitRoom(UINT64_MAX - 2, 0).ok());  // exactly the limit
  b.NoteCommitted(2, UINT64_MAX);                    // bytes saturate
  EXPECT_EQ(b.Get().bytes, UINT64_MAX);
}

TEST(BacklogTest, BlockWaitsForTheShipperAndCloseWakesItWithAnError) {
  Backlog b(Quota(2, 0, BacklogQuota::Policy::kBlock), false);
  b.Start(0, 2, 0);
  // Times out: refused, counted as blocked then rejected.
  EXPECT_EQ(b.AwaitRoom(1, 0).code(), StatusCode::kResourceExhausted);
  // Room made by the shipper while an append waits (with a timeout it cannot reach here).
  BacklogQuota long_wait = Quota(2, 0, BacklogQuota::Policy::kBlock);
  long_wait.block_timeout = 60s;
  Backlog w(long_wait, false);
  w.Start(0, 2, 0);
  std::thread shipper([&] {
    std::this_thread::sleep_for(20ms);
    w.NoteShipped("shipper", 2);
  });
  EXPECT_TRUE(w.AwaitRoom(1, 0).ok());
  shipper.join();
  // Close wakes a waiter, which fails, however long its timeout (milliseconds::max()).
  long_wait.block_timeout = std::chrono::milliseconds::max();
  Backlog c(long_wait, false);
  c.Start(0, 2, 0);
  std::atomic<bool> returned{false};
  Status waited;
  std::thread waiter([&] {
    waited = c.AwaitRoom(1, 0);
    returned = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned) << "a wait of milliseconds::max() must wait, not return at once";
  c.Close();
  waiter.join();
  EXPECT_EQ(waited.code(), StatusCode::kResourceExhausted);
  EXPECT_GE(c.Get().blocked_appends, 1u);
}

}  // namespace
}  // namespace cairn::store
