// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Lifecycle benchmarks (docs/performance.md, "Lifecycle"), each against its ceiling in the
// same run:
//   - live subscription latency, commit -> callback, at a steady append rate;
//   - subscription catch-up rate vs a bare ReadLog scan of the same events;
//   - append throughput with a slow subscriber vs none;
//   - aggregate load of a 10,000-event stream: from a snapshot + tail vs full replay;
//   - retention: removal rate and disk reclaimed.
//
// Usage: cairn_lifecycle_bench [CATCH_UP_EVENTS]     (default 1,000,000)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "cairn/cairn.h"
#include "cairn/subscription.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "lifecycle_bench: %s\n", what.c_str());
  std::exit(1);
}
template <typename T>
T Must(cairn::Result<T> r) {
  if (!r.ok()) Die(r.status().ToString());
  return std::move(r).value();
}
void Must(const cairn::Status& s) {
  if (!s.ok()) Die(s.ToString());
}

std::unique_ptr<cairn::Store> Open(const std::string& path, cairn::Durability d) {
  cairn::StoreOptions o;
  o.durability = d;
  o.log_level = cairn::LogLevel::kError;
  return Must(cairn::Store::Open(path, o));
}

cairn::EventData Event(std::string type, std::string payload) {
  cairn::EventData e;
  e.type = std::move(type);
  e.payload = std::move(payload);
  return e;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

// Appends at `rate` events/s for `seconds` (one event per append, like a service handling
// requests) while a live subscription timestamps each callback.
void LiveLatency(const std::string& dir, cairn::Durability durability, const char* label) {
  auto store = Open(dir, durability);
  const int rate = 10000, seconds = 3, total = rate * seconds;
  std::vector<Clock::time_point> appended(total + 1), handled(total + 1);
  cairn::SubscriptionOptions o;
  o.from_end = true;
  auto sub = Must(cairn::Subscription::Start(*store, o, [&](const cairn::RecordedEvent& e) {
    if (e.position <= static_cast<std::uint64_t>(total)) handled[e.position] = Clock::now();
    return cairn::Status::Ok();
  }));
  const std::string payload(200, 'x');
  const auto start = Clock::now();
  for (int i = 1; i <= total; ++i) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(1000000LL * i / rate));
    const auto before = Clock::now();
    Must(store->Append("order-" + std::to_string(i % 1000), cairn::ExpectedVersion::Any(),
                       Event("OrderPlaced", payload)));
    appended[i] = before;
  }
  Must(sub->WaitUntil(total, 30s));
  Must(sub->Stop());
  // From the append call (its commit, fsync included for sync) to the callback.
  std::vector<double> lat;
  for (int i = 1; i <= total; ++i) lat.push_back(Ms(handled[i] - appended[i]));
  std::printf(
      "| live subscription, %s, %d ev/s | append call -> callback p50 %.3f ms, p99 %.3f ms, max "
      "%.2f ms |\n",
      label, rate, Percentile(lat, 0.5), Percentile(lat, 0.99), Percentile(lat, 1.0));
}

void Fill(cairn::Store& store, std::uint64_t n) {
  const std::string payload(150, 'x');
  std::vector<cairn::EventData> batch(100, Event("OrderPlaced", payload));
  for (std::uint64_t i = 0; i < n; i += 100)
    Must(store.Append("s-" + std::to_string((i / 100) % 10000), cairn::ExpectedVersion::Any(),
                      batch));
}

void CatchUp(const std::string& dir, std::uint64_t n) {
  auto store = Open(dir, cairn::Durability::kBuffered);
  Fill(*store, n);
  // Ceiling: the same events through a bare log reader.
  auto t0 = Clock::now();
  std::uint64_t bytes = 0, seen = 0;
  {
    auto reader = Must(store->ReadLog());
    for (; reader.Valid(); reader.Next()) bytes += reader.event().payload.size(), ++seen;
    Must(reader.status());
  }
  const double scan_s = Ms(Clock::now() - t0) / 1000;
  t0 = Clock::now();
  std::atomic<std::uint64_t> handled{0};
  auto sub = Must(cairn::Subscription::Start(*store, {}, [&](const cairn::RecordedEvent& e) {
    handled.fetch_add(e.payload.size() > 0, std::memory_order_relaxed);
    return cairn::Status::Ok();
  }));
  Must(sub->WaitUntil(n, 600s));
  const double sub_s = Ms(Clock::now() - t0) / 1000;
  Must(sub->Stop());
  std::printf(
      "| catch-up, %llu events | subscription %.0fk ev/s, ReadLog scan %.0fk ev/s | %.2fx |\n",
      static_cast<unsigned long long>(n), n / sub_s / 1e3, seen / scan_s / 1e3, scan_s / sub_s);
}

// 4 threads append for 2 s (buffered: the fastest path, so interference would show), with no
// subscriber, then with one that sleeps 1 ms per event (far slower than the appends).
void SlowSubscriber(const std::string& dir) {
  auto run = [&](bool slow) {
    fs::remove_all(dir);
    auto store = Open(dir, cairn::Durability::kBuffered);
    std::unique_ptr<cairn::Subscription> sub;
    if (slow)
      sub = Must(cairn::Subscription::Start(*store, {}, [](const cairn::RecordedEvent&) {
        std::this_thread::sleep_for(1ms);
        return cairn::Status::Ok();
      }));
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> appended{0};
    std::vector<std::thread> threads;
    const std::string payload(200, 'x');
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; !stop.load(); ++i) {
          Must(store->Append("t" + std::to_string(t) + "-" + std::to_string(i % 100),
                             cairn::ExpectedVersion::Any(), Event("E", payload)));
          appended.fetch_add(1);
        }
      });
    std::this_thread::sleep_for(2s);
    stop = true;
    for (auto& t : threads) t.join();
    if (sub) Must(sub->Stop());
    return appended.load() / 2.0;
  };
  const double none = run(false), slow = run(true), none2 = run(false);
  const double baseline = (none + none2) / 2;
  std::printf(
      "| appends, 4 threads, buffered | with a 1 ms/event subscriber %.0fk ev/s, without %.0fk "
      "ev/s | %.2fx |\n",
      slow / 1e3, baseline / 1e3, slow / baseline);
}

// A 10,000-event stream among others; the aggregate sums amounts. Snapshot at 9,990.
void AggregateLoad(const std::string& dir) {
  auto store = Open(dir, cairn::Durability::kBuffered);
  const int n = 10000;
  std::vector<cairn::EventData> batch;
  for (int i = 0; i < n; ++i) {
    batch.push_back(Event("Added", "{\"amount\":" + std::to_string(i % 97) + ",\"sku\":\"SKU-" +
                                       std::to_string(i) + "\",\"pad\":\"" + std::string(120, 'x') +
                                       "\"}"));
    if (batch.size() == 1000) {
      Must(store->Append("cart-1", cairn::ExpectedVersion::Any(), batch));
      Fill(*store, 1000);  // other streams' events between, as in a real log
      batch.clear();
    }
  }
  auto apply_sum = [](long long* sum) {
    return [sum](const cairn::RecordedEvent& e) {
      const auto p = e.payload.find("\"amount\":");
      *sum += std::atoll(e.payload.data() + p + 9);
      return cairn::Status::Ok();
    };
  };
  long long full_sum = 0;
  Must(store->LoadAggregate("cart-1", nullptr, apply_sum(&full_sum), n - 10));
  Must(store->SaveSnapshot(
      {"cart-1", static_cast<std::uint64_t>(n - 10), "CartTotal", 1, std::to_string(full_sum)}));
  auto time_load = [&](bool with_snapshot, int rounds) {
    std::vector<double> ms;
    for (int r = 0; r < rounds; ++r) {
      long long sum = 0;
      const auto t0 = Clock::now();
      std::function<cairn::Status(const cairn::Snapshot&)> restore;
      if (with_snapshot)
        restore = [&](const cairn::Snapshot& s) {
          sum = std::atoll(s.payload.c_str());
          return cairn::Status::Ok();
        };
      auto load = Must(store->LoadAggregate("cart-1", restore, apply_sum(&sum)));
      ms.push_back(Ms(Clock::now() - t0));
      if (load.version != static_cast<std::uint64_t>(n)) Die("aggregate load stopped short");
    }
    return Percentile(ms, 0.5);
  };
  const double replay = time_load(false, 20), snap = time_load(true, 200);
  std::printf(
      "| aggregate load, 10,000-event stream | snapshot + 10 events %.3f ms, full replay %.2f ms | "
      "%.0fx |\n",
      snap, replay, replay / snap);
}

std::uint64_t DirBytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir))
    if (f.is_regular_file()) total += f.file_size();
  return total;
}

void Retention(const std::string& dir, std::uint64_t n) {
  {
    auto store = Open(dir, cairn::Durability::kBuffered);
    Fill(*store, n);
  }
  auto store = Open(dir, cairn::Durability::kBuffered);  // reopened: everything in SST files
  Must(store->SaveCheckpoint("shipper", store->GetInfo().last_position));
  const std::uint64_t before = DirBytes(dir);
  cairn::RetentionPolicy p;
  p.min_audit_age = 0s;
  p.max_events = n / 10;  // keep the newest 10%
  const auto t0 = Clock::now();
  auto r = Must(store->ApplyRetention(p));
  const double s = Ms(Clock::now() - t0) / 1000;
  const std::uint64_t after = DirBytes(dir);
  std::printf(
      "| retention, remove 90%% of %llu events | %.0fk ev/s (%.1f s, compaction included); store "
      "%.0f -> %.0f MiB |\n",
      static_cast<unsigned long long>(n), r.removed_events / s / 1e3, s, before / 1048576.0,
      after / 1048576.0);
  auto v = Must(store->Verify());
  if (!v.ok()) Die("verify after retention: " + v.problems.front().what);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const fs::path base =
      fs::temp_directory_path() / ("cairn-lifecycle-bench-" + std::to_string(getpid()));
  fs::create_directories(base);
  std::printf("| what | measured | ratio |\n|---|---|---|\n");
  LiveLatency((base / "live-buffered").string(), cairn::Durability::kBuffered, "buffered");
  LiveLatency((base / "live-sync").string(), cairn::Durability::kSync, "sync");
  CatchUp((base / "catch-up").string(), n);
  SlowSubscriber((base / "slow").string());
  AggregateLoad((base / "aggregate").string());
  Retention((base / "retention").string(), n);
  fs::remove_all(base);
  return 0;
}
