// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#include <atomic>
#include <map>
#include <thread>

#include "test_util.h"

namespace cairn {
namespace {
using testing::Drain;
using testing::Event;
using testing::IsOk;

// 8 threads race to append to one stream, each expecting the version it last saw. Exactly one
// append wins each version; the losers see kWrongExpectedVersion and retry.
TEST(ConcurrencyTest, OneWinnerPerVersionOnOneStream) {
  testing::TempDir dir;
  auto store = testing::OpenOrDie(dir.Sub("store"));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  std::mutex mu;
  std::map<std::uint64_t, int> winners;  // version -> thread
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int done = 0;
      while (done < kPerThread) {
        auto info = store->GetStreamInfo("cart-1");
        const std::uint64_t seen = info.ok() ? info->last_version : 0;
        auto r = store->Append("cart-1", ExpectedVersion::Exact(seen),
                               Event("ItemAdded", std::to_string(t)));
        if (r.ok()) {
          std::lock_guard<std::mutex> lk(mu);
          EXPECT_TRUE(winners.emplace(r->first_version, t).second);
          EXPECT_EQ(r->first_version, seen + 1);
          ++done;
        } else {
          ASSERT_EQ(r.status().code(), StatusCode::kWrongExpectedVersion) << r.status().ToString();
          ++conflicts;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  auto events = Drain(std::move(store->ReadStream("cart-1")).value());
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].version, i + 1);
    EXPECT_EQ(events[i].payload, std::to_string(winners[i + 1]));
  }
  EXPECT_EQ(winners.size(), events.size());
}

// 16 threads append to many streams with ExpectedVersion::Any: positions come out dense and
// every stream's versions are gap-free.
TEST(ConcurrencyTest, DensePositionsUnderConcurrentAppends) {
  testing::TempDir dir;
  StoreOptions o = testing::QuietOptions();
  o.durability = Durability::kBuffered;
  auto store = testing::OpenOrDie(dir.Sub("store"), o);
  constexpr int kThreads = 16;
  constexpr int kPerThread = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::vector<EventData> batch(1 + i % 3, Event("E"));
        auto r = store->Append("stream-" + std::to_string((t * 7 + i) % 23), ExpectedVersion::Any(),
                               batch);
        ASSERT_THAT(r, IsOk());
        EXPECT_EQ(r->last_position - r->first_position + 1, batch.size());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto log = Drain(std::move(store->ReadLog()).value());
  std::map<std::string, std::uint64_t> versions;
  for (std::size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i].position, i + 1);
    ASSERT_EQ(log[i].version, ++versions[log[i].stream]) << log[i].stream;
  }
  EXPECT_EQ(store->Info().last_position, log.size());
  EXPECT_EQ(log.size(), static_cast<std::size_t>(kThreads) * (kPerThread / 3) * 6);
}

// Many appenders retrying the same ids concurrently store each event exactly once.
TEST(ConcurrencyTest, ConcurrentRetriesStoreOnce) {
  testing::TempDir dir;
  auto store = testing::OpenOrDie(dir.Sub("store"));
  std::vector<EventData> events(20);
  for (int i = 0; i < 20; ++i) {
    events[i] = Event("OrderPlaced", std::to_string(i));
    events[i].id = EventId::Generate();
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto r = store->Append("order-" + std::to_string(i), ExpectedVersion::Any(), events[i]);
        ASSERT_THAT(r, IsOk());
        EXPECT_EQ(r->first_version, 1u);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store->Info().last_position, 20u);
}

}  // namespace
}  // namespace cairn
