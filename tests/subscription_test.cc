// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "Subscriptions": catch-up then live delivery in log order, checkpoints,
// filters, and a stuck subscriber that cannot hold appends back.
#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "cairn/subscription.h"
#include "test_util.h"

namespace cairn::testing {
namespace {

using namespace std::chrono_literals;

struct Collector {
  std::mutex mu;
  std::vector<std::uint64_t> positions;
  std::vector<std::string> streams;
  EventHandler Handler() {
    return [this](const RecordedEvent& e) {
      std::lock_guard<std::mutex> lk(mu);
      positions.push_back(e.position);
      streams.emplace_back(e.stream);
      return Status::Ok();
    };
  }
};

TEST(SubscriptionTest, CatchUpThenLiveDeliversEveryEventOnceInOrder) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 300; ++i)
    ASSERT_THAT(store->Append("a-" + std::to_string(i % 5), ExpectedVersion::Any(), Event("E")),
                IsOk());
  Collector c;
  auto sub = Subscription::Start(*store, {}, c.Handler());
  ASSERT_THAT(sub, IsOk());
  // Appenders race the catch-up -> live handover.
  std::vector<std::thread> appenders;
  for (int t = 0; t < 4; ++t)
    appenders.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i)
        EXPECT_THAT(store->Append("b-" + std::to_string(t), ExpectedVersion::Any(), Event("E")),
                    IsOk());
    });
  for (auto& t : appenders) t.join();
  const std::uint64_t head = store->GetInfo().last_position;
  ASSERT_EQ(head, 1300u);
  ASSERT_THAT(S((*sub)->WaitUntil(head, 30s)), IsOk());
  ASSERT_THAT(S((*sub)->Stop()), IsOk());
  ASSERT_EQ(c.positions.size(), head);
  for (std::uint64_t i = 0; i < head; ++i) ASSERT_EQ(c.positions[i], i + 1);
}

TEST(SubscriptionTest, ANamedSubscriptionResumesWithoutGapsOrRepeats) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 50; ++i)
    ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), Event("E")), IsOk());
  Collector c;
  SubscriptionOptions o;
  o.name = "billing";
  {
    auto sub = Subscription::Start(*store, o, c.Handler());
    ASSERT_THAT(sub, IsOk());
    ASSERT_THAT(S((*sub)->WaitUntil(50, 10s)), IsOk());
  }  // destroyed: stops and saves
  EXPECT_EQ(*store->LoadCheckpoint("subscription.billing"), 50u);
  for (int i = 0; i < 30; ++i)
    ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), Event("E")), IsOk());
  // Across a reopen of the store too.
  store.reset();
  store = OpenOrDie(dir.Sub("s"));
  auto sub = Subscription::Start(*store, o, c.Handler());
  ASSERT_THAT(sub, IsOk());
  ASSERT_THAT(S((*sub)->WaitUntil(80, 10s)), IsOk());
  ASSERT_THAT(S((*sub)->Stop()), IsOk());
  ASSERT_EQ(c.positions.size(), 80u);
  for (std::uint64_t i = 0; i < 80; ++i) EXPECT_EQ(c.positions[i], i + 1);
}

TEST(SubscriptionTest, AHandlerErrorStopsItAndTheEventComesAgainOnRestart) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 10; ++i)
    ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), Event("E")), IsOk());
  SubscriptionOptions o;
  o.name = "projector";
  auto failing = Subscription::Start(*store, o, [](const RecordedEvent& e) {
    return e.position == 5 ? Status::Unavailable("projection database is down") : Status::Ok();
  });
  ASSERT_THAT(failing, IsOk());
  EXPECT_THAT(S((*failing)->WaitUntil(10, 10s)), StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ((*failing)->position(), 4u);
  EXPECT_THAT(S((*failing)->Stop()), StatusIs(StatusCode::kUnavailable));
  (*failing).reset();
  Collector c;
  auto again = Subscription::Start(*store, o, c.Handler());
  ASSERT_THAT(again, IsOk());
  ASSERT_THAT(S((*again)->WaitUntil(10, 10s)), IsOk());
  (*again).reset();
  EXPECT_EQ(c.positions.front(), 5u);
  EXPECT_EQ(c.positions.size(), 6u);
  // A throwing handler stops it too, with the exception's message.
  SubscriptionOptions from_start;
  auto throwing = Subscription::Start(
      *store, from_start, [](const RecordedEvent&) -> Status { throw std::runtime_error("boom"); });
  ASSERT_THAT(throwing, IsOk());
  EXPECT_THAT(S((*throwing)->WaitUntil(1, 10s)), StatusIs(StatusCode::kInternal));
  EXPECT_THAT((*throwing)->status().message(), ::testing::HasSubstr("boom"));
}

TEST(SubscriptionTest, FiltersAndStartingPoints) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  const char* streams[] = {"order-1", "order-2", "cart-1"};
  for (int i = 0; i < 30; ++i)
    ASSERT_THAT(
        store->Append(streams[i % 3], ExpectedVersion::Any(), Event(i % 2 ? "Paid" : "Placed")),
        IsOk());
  auto run = [&](SubscriptionOptions o, std::uint64_t until) {
    auto c = std::make_unique<Collector>();
    auto sub = Subscription::Start(*store, o, c->Handler());
    EXPECT_THAT(sub, IsOk());
    EXPECT_THAT(S((*sub)->WaitUntil(until, 10s)), IsOk());
    (*sub).reset();
    return c;
  };
  SubscriptionOptions o;
  o.category = "order";
  o.types = {"Paid"};
  auto c = run(o, 30);
  EXPECT_EQ(c->positions.size(), 10u);
  for (const auto& s : c->streams) EXPECT_EQ(s.rfind("order-", 0), 0u);
  o = {};
  o.stream = "cart-1";
  EXPECT_EQ(run(o, 30)->positions.size(), 10u);
  o = {};
  o.from_position = 21;
  EXPECT_EQ(run(o, 30)->positions.front(), 21u);
  o = {};
  o.from_end = true;
  Collector live;
  auto sub = Subscription::Start(*store, o, live.Handler());
  ASSERT_THAT(sub, IsOk());
  ASSERT_THAT(store->Append("late", ExpectedVersion::Any(), Event("E")), IsOk());
  ASSERT_THAT(S((*sub)->WaitUntil(31, 10s)), IsOk());
  (*sub).reset();
  EXPECT_EQ(live.positions, (std::vector<std::uint64_t>{31}));
}

TEST(SubscriptionTest, AStuckSubscriberDoesNotHoldAppendsBack) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<std::uint64_t> handled{0};
  auto sub = Subscription::Start(*store, {}, [&](const RecordedEvent&) {
    released.wait();  // stuck until the appends below are all done
    ++handled;
    return Status::Ok();
  });
  ASSERT_THAT(sub, IsOk());
  // The appends run on a thread of their own and must finish while the subscriber is still
  // stuck; if they waited for it, the deadline passes, the subscriber is released (so the test
  // ends instead of hanging) and the check below fails.
  std::atomic<bool> appended{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i)
      EXPECT_THAT(store->Append("a-" + std::to_string(i % 10), ExpectedVersion::Any(), Event("E")),
                  IsOk());
    appended = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!appended && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  const bool appended_while_stuck = appended.load();
  const std::uint64_t handled_while_stuck = handled.load();
  release.set_value();
  writer.join();
  EXPECT_TRUE(appended_while_stuck) << "2,000 appends waited for a stuck subscriber";
  EXPECT_EQ(handled_while_stuck, 0u) << "the subscriber was not stuck: the test proved nothing";
  ASSERT_THAT(S((*sub)->WaitUntil(2000, 30s)), IsOk());
  EXPECT_EQ(handled.load(), 2000u);
}

}  // namespace
}  // namespace cairn::testing
