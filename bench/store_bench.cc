// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Store throughput and latency. bench/run_store_bench.sh runs these beside db_bench (the
// RocksDB ceiling) in the same run and reports ratios; docs/performance.md has the figures.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "cairn/cairn.h"

namespace {

constexpr std::size_t kPayloadBytes = 200;

std::string BenchDir() {
  const char* env = std::getenv("CAIRN_BENCH_DIR");
  std::filesystem::path base = env ? env : std::filesystem::temp_directory_path();
  return (base / ("cairn-bench-" + std::to_string(std::random_device()()))).string();
}

std::string Payload() {
  std::string p = R"({"orderId":"order-0000042","sku":"sku-117","qty":2,"total":99.50,"note":")";
  p.resize(kPayloadBytes - 2, 'x');
  return p + "\"}";
}

// One store shared by all threads of a benchmark run; created in Setup, removed in Teardown.
struct Shared {
  std::string dir;
  std::unique_ptr<cairn::Store> store;
};
Shared g;

void Open(cairn::Durability durability) {
  g.dir = BenchDir();
  cairn::StoreOptions o;
  o.durability = durability;
  auto s = cairn::Store::Open(g.dir, o);
  if (!s.ok()) {
    std::fprintf(stderr, "open: %s\n", s.status().ToString().c_str());
    std::abort();
  }
  g.store = std::move(s).value();
}
void Close(const benchmark::State&) {
  g.store.reset();
  std::filesystem::remove_all(g.dir);
}
void SetupBuffered(const benchmark::State&) { Open(cairn::Durability::kBuffered); }
void SetupSync(const benchmark::State&) { Open(cairn::Durability::kSync); }

// Appends state.range(0) events per call to one of 64 streams per thread; `traced`: each
// event carries W3C trace context as an instrumented service's would (a traceparent and a
// two-member tracestate: what it costs to validate, hash, store and read back).
void AppendEvents(benchmark::State& state, bool traced) {
  const auto per_append = static_cast<std::size_t>(state.range(0));
  std::vector<cairn::EventData> events(per_append);
  for (auto& e : events) {
    e.type = "OrderPlaced";
    e.payload = Payload();
    if (traced) {
      e.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      e.tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    }
  }
  std::uint64_t i = 0;
  const std::string prefix = "order-" + std::to_string(state.thread_index()) + "-";
  for (auto _ : state) {
    auto r =
        g.store->Append(prefix + std::to_string(i++ % 64), cairn::ExpectedVersion::Any(), events);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_append));
  state.counters["appends_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
void BM_Append(benchmark::State& state) { AppendEvents(state, false); }
void BM_AppendTraced(benchmark::State& state) { AppendEvents(state, true); }
BENCHMARK(BM_Append)
    ->Name("append/buffered")
    ->Arg(1)
    ->Arg(100)
    ->Setup(SetupBuffered)
    ->Teardown(Close)
    ->UseRealTime();
// Issue #28: beside append/buffered in the same run, the cost of trace context.
BENCHMARK(BM_AppendTraced)
    ->Name("append/buffered/traced")
    ->Arg(1)
    ->Arg(100)
    ->Setup(SetupBuffered)
    ->Teardown(Close)
    ->UseRealTime();
BENCHMARK(BM_Append)
    ->Name("append/sync")
    ->Arg(1)
    ->Threads(1)
    ->Threads(4)
    ->Threads(16)
    ->Threads(64)
    ->Setup(SetupSync)
    ->Teardown(Close)
    ->UseRealTime();

// Single-event appends handed over with Store::AppendAsync by one thread that never waits
// (the store's in-flight bound, 65,536, pushes back), sync durability: what one caller gets
// without a thread per append. The run ends when every completion ran.
void BM_AppendAsync(benchmark::State& state) {
  std::vector<cairn::EventData> events(1);
  events[0].type = "OrderPlaced";
  events[0].payload = Payload();
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t pending = 0;
  std::atomic<bool> failed{false};
  std::uint64_t i = 0;
  for (auto _ : state) {
    {
      std::lock_guard lk(mu);
      ++pending;
    }
    const cairn::Status s =
        g.store->AppendAsync("order-" + std::to_string(i++ % 64), cairn::ExpectedVersion::Any(),
                             events, [&](cairn::Result<cairn::AppendResult> r) {
                               if (!r.ok()) failed = true;
                               std::lock_guard lk(mu);
                               if (--pending == 0) cv.notify_all();
                             });
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return pending == 0; });
  if (failed) state.SkipWithError("an asynchronous append failed");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AppendAsync)
    ->Name("append_async/sync")
    ->Setup(SetupSync)
    ->Teardown(Close)
    ->UseRealTime();

// A store with `n` events of one stream interleaved with other streams' events.
void SetupReplay(const benchmark::State& state) {
  Open(cairn::Durability::kBuffered);
  const int n = static_cast<int>(state.range(0));
  cairn::EventData e;
  e.type = "ItemAdded";
  e.payload = Payload();
  for (int i = 0; i < n; ++i) {
    (void)g.store->Append("cart-42", cairn::ExpectedVersion::Any(), e);
    (void)g.store->Append("basket-" + std::to_string(i % 100), cairn::ExpectedVersion::Any(), e);
  }
}

void BM_ReplayStream(benchmark::State& state) {
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    auto reader = g.store->ReadStream("cart-42");
    std::uint64_t n = 0;
    for (; reader->Valid(); reader->Next()) {
      bytes += reader->event().payload.size();
      ++n;
    }
    if (n != static_cast<std::uint64_t>(state.range(0))) state.SkipWithError("short replay");
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * state.range(0)));
}
BENCHMARK(BM_ReplayStream)
    ->Name("replay/stream")
    ->Arg(1000)
    ->Setup(SetupReplay)
    ->Teardown(Close)
    ->Unit(benchmark::kMicrosecond);

void SetupScan(const benchmark::State& state) {
  Open(cairn::Durability::kBuffered);
  std::vector<cairn::EventData> batch(100);
  for (auto& e : batch) {
    e.type = "OrderPlaced";
    e.payload = Payload();
  }
  for (int i = 0; i < state.range(0) / 100; ++i)
    (void)g.store->Append("order-" + std::to_string(i), cairn::ExpectedVersion::Any(), batch);
}

void BM_ScanLog(benchmark::State& state) {
  for (auto _ : state) {
    auto reader = g.store->ReadLog();
    std::uint64_t n = 0;
    for (; reader->Valid(); reader->Next()) n += reader->event().payload.size() > 0;
    if (n != static_cast<std::uint64_t>(state.range(0))) state.SkipWithError("short scan");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * state.range(0)));
}
BENCHMARK(BM_ScanLog)
    ->Name("scan/log")
    ->Arg(500000)
    ->Setup(SetupScan)
    ->Teardown(Close)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
