// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Audit benchmarks (docs/performance.md): verify throughput; a 1%-selective query by type and
// a 1% time window, each against a scan of the log with the same filter, in the same run;
// export throughput through the `cairn` tool.
//
// Usage: cairn_audit_bench CAIRN_BINARY [EVENTS]      (default 5,000,000 events of 200 B)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "cairn/cairn.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "audit_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(cairn::Result<T> r) {
  if (!r.ok()) Die(r.status().ToString());
  return std::move(r).value();
}

// Every 100th event is "Rare": a 1%-selective type. The rest spread over 99 other types.
std::string TypeOf(std::uint64_t i) {
  return i % 100 == 0 ? "Rare" : "Common" + std::to_string(i % 99);
}

void Fill(const std::string& path, std::uint64_t n) {
  cairn::StoreOptions o;
  o.durability = cairn::Durability::kBuffered;
  o.log_level = cairn::LogLevel::kError;
  auto store = Must(cairn::Store::Open(path, o));
  std::string pad(150, 'x');
  std::vector<cairn::EventData> batch(100);
  for (std::uint64_t i = 0; i < n; i += 100) {
    for (std::uint64_t j = 0; j < 100; ++j) {
      batch[j].type = TypeOf(i + j);
      batch[j].content_type = "application/json";
      batch[j].payload = "{\"n\":" + std::to_string(i + j) + ",\"pad\":\"" + pad + "\"}";
    }
    Must(store->Append("s-" + std::to_string((i / 100) % 10000), cairn::ExpectedVersion::Any(),
                       batch));
    if (i % 1000000 == 0) std::fprintf(stderr, "filled %llu\n", static_cast<unsigned long long>(i));
  }
  if (cairn::Status s = store->Close(); !s.ok()) Die(s.ToString());
}

struct Timed {
  double total_ms = 0, first100_ms = 0;
  std::uint64_t matched = 0;
};

template <typename Pred>
Timed Run(cairn::EventReader reader, Pred pred, std::int64_t stop_after_us = INT64_MAX) {
  Timed t;
  const auto t0 = Clock::now();
  for (; reader.Valid(); reader.Next()) {
    const cairn::RecordedEvent& e = reader.event();
    if (e.timestamp_us > stop_after_us) break;
    if (!pred(e)) continue;
    if (++t.matched == 100) t.first100_ms = Ms(Clock::now() - t0);
  }
  if (!reader.status().ok()) Die(reader.status().ToString());
  t.total_ms = Ms(Clock::now() - t0);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Die("usage: cairn_audit_bench CAIRN_BINARY [EVENTS]");
  const std::string cairn_bin = argv[1];
  const std::uint64_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 5000000;
  const std::string dir =
      (fs::temp_directory_path() / ("cairn-audit-bench-" + std::to_string(getpid()))).string();
  struct Cleanup {
    std::string d;
    ~Cleanup() { fs::remove_all(d); }
  } cleanup{dir};
  const std::string path = dir + "/store";
  fs::create_directories(dir);
  const auto f0 = Clock::now();
  Fill(path, n);
  std::fprintf(stderr, "filled %llu events in %.1f s\n", static_cast<unsigned long long>(n),
               Ms(Clock::now() - f0) / 1000);

  cairn::StoreOptions ro;
  ro.read_only = true;
  ro.log_level = cairn::LogLevel::kError;
  auto store = Must(cairn::Store::Open(path, ro));

  std::printf(
      "| benchmark (%llu events of ~200 B) | cairn | same filter by scanning the log | speed-up | "
      "target |\n|---|---|---|---|---|\n",
      static_cast<unsigned long long>(n));
  {
    const auto t0 = Clock::now();
    cairn::VerifyReport r = Must(store->Verify());
    const double ms = Ms(Clock::now() - t0);
    if (!r.ok()) Die("verify found problems: " + r.problems[0].what);
    std::printf(
        "| verify (envelopes, chain, stream/id/type indexes) | %.0f events/s (%.1f s) | | | >= "
        "500k events/s |\n",
        r.events / (ms / 1000), ms / 1000);
  }
  {
    const std::vector<std::string> rare{"Rare"};
    Timed idx =
        Run(Must(store->ReadByTypes(rare)), [](const cairn::RecordedEvent&) { return true; });
    Timed scan =
        Run(Must(store->ReadLog()), [](const cairn::RecordedEvent& e) { return e.type == "Rare"; });
    if (idx.matched != scan.matched) Die("index and scan disagree on the type query");
    std::printf(
        "| query by type, 1%% selective (%llu matches) | %.0f ms, first 100 in %.1f ms | %.0f ms, "
        "first 100 in %.1f ms | %.1fx | >= 20x, first 100 < 50 ms |\n",
        static_cast<unsigned long long>(idx.matched), idx.total_ms, idx.first100_ms, scan.total_ms,
        scan.first100_ms, scan.total_ms / idx.total_ms);
  }
  {
    // A window holding ~1% of the events, in the middle of the store's time span (the bench
    // fills in seconds, so "one hour of a 100-hour store" becomes 1% of the span).
    auto a = Must(store->ReadEvent(n / 2));
    auto b = Must(store->ReadEvent(n / 2 + n / 100));
    const std::int64_t since = a.timestamp_us, until = b.timestamp_us;
    const auto t0 = Clock::now();
    std::uint64_t lo = 1, hi = n + 1;
    while (lo < hi) {  // what `cairn query --since` does: a binary search over point reads
      const std::uint64_t mid = lo + (hi - lo) / 2;
      if (Must(store->ReadEvent(mid)).timestamp_us < since)
        lo = mid + 1;
      else
        hi = mid;
    }
    const double seek_ms = Ms(Clock::now() - t0);
    cairn::LogReadOptions from;
    from.from_position = lo;
    auto in_window = [&](const cairn::RecordedEvent& e) {
      return e.timestamp_us >= since && e.timestamp_us <= until;
    };
    Timed idx = Run(Must(store->ReadLog(from)), in_window, until);
    idx.total_ms += seek_ms;
    idx.first100_ms += seek_ms;
    Timed scan = Run(Must(store->ReadLog()), in_window);
    if (idx.matched != scan.matched) Die("seek and scan disagree on the time window");
    std::printf(
        "| time window, ~1%% of events (%llu matches) | %.0f ms, first 100 in %.1f ms | %.0f ms, "
        "first 100 in %.1f ms | %.1fx | >= 20x, first 100 < 50 ms |\n",
        static_cast<unsigned long long>(idx.matched), idx.total_ms, idx.first100_ms, scan.total_ms,
        scan.first100_ms, scan.total_ms / idx.total_ms);
  }
  store.reset();
  {
    const std::string cmd =
        cairn_bin + " export " + path + " -o " + dir + "/export.jsonl 2>/dev/null";
    const auto t0 = Clock::now();
    if (std::system(cmd.c_str()) != 0) Die("export failed");
    const double ms = Ms(Clock::now() - t0);
    std::printf(
        "| export to JSON Lines (`cairn export -o`) | %.0f events/s (%.1f s, %.0f MiB) | | | |\n",
        n / (ms / 1000), ms / 1000,
        static_cast<double>(fs::file_size(dir + "/export.jsonl")) / (1 << 20));
  }
  return 0;
}
