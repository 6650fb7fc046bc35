// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "Invariants" (side records and the published head): checkpoints and
// dead letters are stored, listed and removed as the shipper and retention rely on, and
// WaitForPosition wakes on a commit rather than on its timeout.
#include <chrono>
#include <thread>

#include "test_util.h"

namespace cairn::testing {
namespace {

using namespace std::chrono_literals;

TEST(StoreSideRecordsTest, CheckpointsAndDeadLetters) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 42; ++i)  // a checkpoint is a position of the log
    ASSERT_THAT(store->Append("a-1", ExpectedVersion::Any(), Event("E")), IsOk());
  EXPECT_EQ(*store->LoadCheckpoint("shipper"), 0u);
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", 42)), IsOk());
  ASSERT_THAT(S(store->SaveCheckpoint("sub.billing", 7)), IsOk());
  EXPECT_THAT(S(store->SaveCheckpoint("", 1)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(*store->LoadCheckpoint("shipper"), 42u);
  auto all = store->ListCheckpoints();
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->size(), 2u);

  DeadLetter d{5, "order-1", 2, "order-events", "too large", 123, 0};
  DeadLetter h{9, "order-1", 3, "order-events", "held", 124, 5};
  ASSERT_THAT(S(store->PutDeadLetters(std::vector<DeadLetter>{d, h})), IsOk());
  auto listed = store->ListDeadLetters();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].held_behind, 5u);
  EXPECT_EQ((*listed)[0].error, "too large");
  EXPECT_EQ(store->ListDeadLetters(5)->size(), 1u);
  const std::uint64_t p = 5;
  ASSERT_THAT(S(store->RemoveDeadLetters(std::span<const std::uint64_t>(&p, 1))), IsOk());
  EXPECT_EQ(store->ListDeadLetters()->size(), 1u);
  // Both survive a reopen.
  store.reset();
  store = OpenOrDie(dir.Sub("s"));
  EXPECT_EQ(*store->LoadCheckpoint("sub.billing"), 7u);
  EXPECT_EQ(store->ListDeadLetters()->front().position, 9u);
}

TEST(StoreSideRecordsTest, WaitForPositionWakesOnCommit) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  EXPECT_EQ(store->WaitForPosition(0, 10ms), 0u);
  std::thread appender([&] {
    std::this_thread::sleep_for(50ms);
    EXPECT_THAT(store->Append("a", ExpectedVersion::Any(), Event("E")), IsOk());
  });
  // A broken wake-up would still return 1, at the timeout: so the timeout is one the test
  // cannot reach (CTest's kills it first), and the return must come long before it.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(store->WaitForPosition(0, std::chrono::hours(1)), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::minutes(1));
  appender.join();
}

}  // namespace
}  // namespace cairn::testing
