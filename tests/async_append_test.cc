// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Store::AppendAsync (docs/guarantees.md, "Asynchronous appends"): the guarantees of Append —
// atomicity, expected versions, idempotent ids, durability before the acknowledgement — with
// submission order per thread, bounded in-flight work, completions in batches on cairn's own
// thread, and Close() completing every accepted append. Crash and power-loss runs of the same
// path: crash_loop_async (tests/CMakeLists.txt) and FaultTest's async case.
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include "test_util.h"

namespace cairn::testing {
namespace {

using namespace std::chrono_literals;

// Collects completions; Wait() until `n` arrived.
class Completions {
 public:
  Store::AppendCallback Callback(std::size_t index) {
    return [this, index](Result<AppendResult> r) {
      std::lock_guard lk(mu_);
      results_.emplace(index, std::move(r));
      threads_.insert(std::this_thread::get_id());
      cv_.notify_all();
    };
  }
  bool Wait(std::size_t n, std::chrono::seconds timeout = 60s) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return results_.size() >= n; });
  }
  std::map<std::size_t, Result<AppendResult>> results() {
    std::lock_guard lk(mu_);
    return results_;
  }
  std::size_t threads() {
    std::lock_guard lk(mu_);
    return threads_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::size_t, Result<AppendResult>> results_;
  std::set<std::thread::id> threads_;
};

std::vector<EventData> One(std::string type, std::string payload = "{}") {
  std::vector<EventData> v;
  v.push_back(Event(std::move(type), std::move(payload)));
  return v;
}

// Each thread appends to its own stream with exact expected versions, without waiting: that
// only works if one thread's appends commit in the order submitted.
TEST(AsyncAppendTest, EachThreadsAppendsCommitInSubmissionOrderDenseAndDurable) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  constexpr int kThreads = 4, kPerThread = 2000;
  Completions done;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const Status s = store->AppendAsync(
            "t-" + std::to_string(t), ExpectedVersion::Exact(static_cast<std::uint64_t>(i)),
            One("E", std::to_string(i)), done.Callback(t * kPerThread + i));
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(done.Wait(kThreads * kPerThread));
  for (const auto& [index, r] : done.results()) {
    ASSERT_TRUE(r.ok()) << index << ": " << r.status().ToString();
    EXPECT_EQ(r->last_version, index % kPerThread + 1) << index;
  }
  EXPECT_EQ(done.threads(), 1u) << "completions come from cairn's one driver thread";
  // Dense positions, each stream complete and in order; the callbacks saw durable events.
  const auto log = Drain(std::move(store->ReadLog()).value());
  ASSERT_EQ(log.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].position, i + 1);
  for (int t = 0; t < kThreads; ++t) {
    const auto s = Drain(std::move(store->ReadStream("t-" + std::to_string(t))).value());
    ASSERT_EQ(s.size(), static_cast<std::size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(s[i].payload, std::to_string(i));
  }
  // Batched: far fewer syncs than appends (the metrics count both).
  const std::string metrics = store->PrometheusMetrics();
  EXPECT_NE(metrics.find("appends_total 8000\n"), std::string::npos) << metrics;
  std::smatch syncs;
  ASSERT_TRUE(std::regex_search(metrics, syncs, std::regex("wal_syncs_total ([0-9]+)")));
  EXPECT_LT(std::stoull(syncs[1]), 8000u) << "one sync per append: nothing was batched";
  EXPECT_TRUE(store->Verify()->ok());
}

TEST(AsyncAppendTest, ConflictsFailWholeAndIdsDeduplicateAsAppendDoes) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  ASSERT_THAT(store->Append("a-1", ExpectedVersion::NoStream(), Event("E")), IsOk());
  Completions done;
  // A multi-stream append with one wrong expectation stores nothing.
  std::vector<StreamAppend> multi = {{"a-1", ExpectedVersion::Exact(1), {Event("E")}},
                                     {"b-1", ExpectedVersion::Exact(7), {Event("E")}}};
  std::promise<Result<std::vector<AppendResult>>> multi_done;
  ASSERT_THAT(S(store->AppendMultiAsync(std::move(multi),
                                        [&](Result<std::vector<AppendResult>> r) {
                                          multi_done.set_value(std::move(r));
                                        })),
              IsOk());
  auto m = multi_done.get_future().get();
  EXPECT_EQ(m.status().code(), StatusCode::kWrongExpectedVersion);
  EXPECT_EQ(store->last_position(), 1u);
  // An id appended twice, asynchronously back to back: stored once, the retry deduplicated.
  EventData with_id = Event("Paid", R"({"n":1})");
  with_id.id = EventId::Generate();
  std::vector<EventData> first{with_id}, second{with_id};
  ASSERT_THAT(S(store->AppendAsync("p-1", ExpectedVersion::Any(), first, done.Callback(0))),
              IsOk());
  ASSERT_THAT(S(store->AppendAsync("p-1", ExpectedVersion::Any(), second, done.Callback(1))),
              IsOk());
  // The same id with other content: kAlreadyExists.
  EventData other = with_id;
  other.payload = R"({"n":2})";
  ASSERT_THAT(S(store->AppendAsync("p-1", ExpectedVersion::Any(), {other}, done.Callback(2))),
              IsOk());
  ASSERT_TRUE(done.Wait(3));
  auto r = done.results();
  ASSERT_TRUE(r.at(0).ok());
  ASSERT_TRUE(r.at(1).ok());
  EXPECT_FALSE(r.at(0)->deduplicated);
  EXPECT_TRUE(r.at(1)->deduplicated);
  EXPECT_EQ(r.at(1)->first_position, r.at(0)->first_position);
  EXPECT_EQ(r.at(2).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store->last_position(), 2u);
}

TEST(AsyncAppendTest, BadInputIsRefusedAtOnceAndTheCallbackNeverRuns) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  std::atomic<int> called{0};
  auto count = [&](Result<AppendResult>) { ++called; };
  EXPECT_THAT(S(store->AppendAsync("", ExpectedVersion::Any(), One("E"), count)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(store->AppendAsync("a-1", ExpectedVersion::Any(), {}, count)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(store->AppendAsync("a-1", ExpectedVersion::Any(), One(""), count)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(store->AppendAsync("a-1", ExpectedVersion::Any(),
                                   One("E", std::string(2 << 20, 'x')), count)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(store->AppendAsync("a-1", ExpectedVersion::Any(), One("E"), nullptr)),
              StatusIs(StatusCode::kInvalidArgument));
  ASSERT_THAT(S(store->Close()), IsOk());
  EXPECT_EQ(called.load(), 0);
  EXPECT_THAT(S(store->AppendAsync("a-1", ExpectedVersion::Any(), One("E"), count)),
              StatusIs(StatusCode::kFailedPrecondition));
}

// Bounded in-flight work: a callback held up keeps every later completion waiting, so the
// limit is reached; refused without blocking, or waited for with blocking.
TEST(AsyncAppendTest, InFlightAppendsAreBoundedRefusedOrWaitedFor) {
  for (const bool block : {false, true}) {
    SCOPED_TRACE(block ? "block" : "refuse");
    TempDir dir;
    StoreOptions o = QuietOptions();
    o.max_async_appends = 8;
    o.async_appends_block = block;
    auto store = OpenOrDie(dir.Sub("s"), o);
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<int> completed{0};
    auto held = [&](Result<AppendResult> r) {
      EXPECT_TRUE(r.ok());
      released.wait();
      ++completed;
    };
    for (int i = 0; i < 8; ++i)
      ASSERT_THAT(S(store->AppendAsync("a-1", ExpectedVersion::Any(), One("E"), held)), IsOk());
    if (!block) {
      EXPECT_THAT(S(store->AppendAsync("a-1", ExpectedVersion::Any(), One("E"), held)),
                  StatusIs(StatusCode::kResourceExhausted));
      release.set_value();
    } else {
      std::atomic<bool> returned{false};
      std::thread late([&] {
        EXPECT_THAT(S(store->AppendAsync("a-1", ExpectedVersion::Any(), One("E"), held)), IsOk());
        returned = true;
      });
      std::this_thread::sleep_for(200ms);
      EXPECT_FALSE(returned) << "the ninth append waits for room";
      release.set_value();
      late.join();
      EXPECT_TRUE(returned);
    }
    ASSERT_THAT(S(store->Close()), IsOk());
    EXPECT_EQ(completed.load(), block ? 9 : 8);
  }
}

// Close() completes every accepted append: their callbacks all ran, successfully, before it
// returned, and the store holds them after a reopen.
TEST(AsyncAppendTest, CloseCompletesEveryAcceptedAppend) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  std::atomic<int> ok{0}, failed{0};
  constexpr int kAppends = 5000;
  for (int i = 0; i < kAppends; ++i)
    ASSERT_THAT(
        S(store->AppendAsync("c-" + std::to_string(i % 13), ExpectedVersion::Any(), One("E"),
                             [&](Result<AppendResult> r) { ++(r.ok() ? ok : failed); })),
        IsOk());
  ASSERT_THAT(S(store->Close()), IsOk());
  EXPECT_EQ(ok.load(), kAppends);
  EXPECT_EQ(failed.load(), 0);
  store.reset();
  auto reopened = OpenOrDie(dir.Sub("s"));
  EXPECT_EQ(reopened->last_position(), static_cast<std::uint64_t>(kAppends));
}

// What a callback may do: read, append asynchronously; what it may not: wait for itself.
TEST(AsyncAppendTest, ACallbackMayAppendAsyncButNotWaitForItself) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  std::promise<void> finished;
  Status sync_append, close, chained;
  std::uint64_t read_version = 0;
  ASSERT_THAT(S(store->AppendAsync(
                  "a-1", ExpectedVersion::Any(), One("E"),
                  [&](Result<AppendResult> r) {
                    ASSERT_TRUE(r.ok());
                    // Visible once acknowledged.
                    read_version = store->GetStreamInfo("a-1")->last_version;
                    sync_append = store->Append("a-1", ExpectedVersion::Any(), Event("E")).status();
                    close = store->Close();
                    chained = store->AppendAsync("a-1", ExpectedVersion::Exact(1), One("E"),
                                                 [&](Result<AppendResult> again) {
                                                   EXPECT_TRUE(again.ok());
                                                   finished.set_value();
                                                 });
                  })),
              IsOk());
  ASSERT_EQ(finished.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_EQ(read_version, 1u);
  EXPECT_EQ(sync_append.code(), StatusCode::kFailedPrecondition) << sync_append.ToString();
  EXPECT_EQ(close.code(), StatusCode::kFailedPrecondition) << close.ToString();
  EXPECT_TRUE(chained.ok()) << chained.ToString();
  EXPECT_EQ(store->last_position(), 2u);
}

// Synchronous and asynchronous appends from many threads on shared streams: the model check's
// rule (every stream's versions 1..n, positions dense, each success where it says).
TEST(AsyncAppendTest, SyncAndAsyncTogetherKeepEveryInvariant) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  std::atomic<int> async_ok{0}, sync_ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string stream = "m-" + std::to_string((t + i) % 5);
        if (t % 2 == 0) {
          ASSERT_THAT(S(store->AppendAsync(stream, ExpectedVersion::Any(), One("E"),
                                           [&](Result<AppendResult> r) {
                                             EXPECT_TRUE(r.ok());
                                             ++async_ok;
                                           })),
                      IsOk());
        } else {
          ASSERT_THAT(store->Append(stream, ExpectedVersion::Any(), Event("E")), IsOk());
          ++sync_ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_THAT(S(store->Close()), IsOk());
  EXPECT_EQ(async_ok.load() + sync_ok.load(), 4000);
  store.reset();
  auto reopened = OpenOrDie(dir.Sub("s"));
  EXPECT_EQ(reopened->last_position(), 4000u);
  for (int s = 0; s < 5; ++s) {
    const auto events = Drain(std::move(reopened->ReadStream("m-" + std::to_string(s))).value());
    for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].version, i + 1);
  }
  EXPECT_TRUE(reopened->Verify()->ok());
}

}  // namespace
}  // namespace cairn::testing
