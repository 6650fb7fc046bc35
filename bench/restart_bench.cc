// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Restart time (docs/performance.md, "Restart time"; issue #26), each beside its ceiling in
// the same run:
//   - open after kill -9 of a writer appending flat out (durable, asynchronous appends) for
//     CRASH_SECONDS: the open time, the write-ahead log it found, the store's size; the
//     ceiling is the same store's open once it was closed cleanly (nothing to replay);
//   - close and open again in the same process at EVENTS events: each timed; the ceiling is
//     an open of the same store in a fresh process (fork).
//
// Usage: cairn_restart_bench [EVENTS] [CRASH_SECONDS]     (default 10,000,000 and 20)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "restart_bench: %s\n", what.c_str());
  std::exit(1);
}

std::uint64_t BytesEndingIn(const std::string& dir, const std::string& ext) {
  std::uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && (ext.empty() || e.path().extension() == ext)) total += e.file_size();
  return total;
}

cairn::StoreOptions Options() {
  cairn::StoreOptions o;
  o.log_level = cairn::LogLevel::kError;
  return o;
}

// Opens the store, timed; dies on failure.
std::pair<std::unique_ptr<cairn::Store>, double> TimedOpen(const std::string& path) {
  const auto t0 = Clock::now();
  auto store = cairn::Store::Open(path, Options());
  const double ms = Ms(Clock::now() - t0);
  if (!store.ok()) Die("open: " + store.status().ToString());
  return {std::move(store).value(), ms};
}

// The open time of `path` in a fresh process (fork): no block cache, no page tables of ours.
double OpenInFreshProcess(const std::string& path) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) Die("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto [store, ms] = TimedOpen(path);
    (void)store->Close();
    (void)::write(pipe_fds[1], &ms, sizeof ms);
    ::_exit(0);
  }
  double ms = -1;
  (void)::read(pipe_fds[0], &ms, sizeof ms);
  ::waitpid(pid, nullptr, 0);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  return ms;
}

// A child appending durable single events through AppendAsync until killed.
[[noreturn]] void AppendFlatOut(const std::string& path) {
  auto store = cairn::Store::Open(path, Options());
  if (!store.ok()) ::_exit(2);
  const std::string payload(200, 'p');
  for (std::uint64_t i = 0;; ++i) {
    cairn::EventData e;
    e.type = "Appended";
    e.payload = payload;
    (void)(*store)->AppendAsync("s-" + std::to_string(i % 1000), cairn::ExpectedVersion::Any(),
                                {std::move(e)}, [](cairn::Result<cairn::AppendResult>) {});
  }
}

void CrashThenOpen(const std::string& dir, int seconds) {
  const std::string path = dir + "/crashed";
  const pid_t pid = ::fork();
  if (pid == 0) AppendFlatOut(path);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  const std::uint64_t wal = BytesEndingIn(path, ".log");
  const std::uint64_t size = BytesEndingIn(path, "");
  auto [store, open_ms] = TimedOpen(path);
  const std::uint64_t events = store->last_position();
  if (cairn::Status s = store->Close(); !s.ok()) Die("close: " + s.ToString());
  const double clean_ms = OpenInFreshProcess(path);
  std::printf(
      "| open after kill -9 (%d s flat out) | %.0f ms | %llu events, %.1f MB store, %.1f MB of "
      "write-ahead log found | open after a clean close: %.0f ms | %.2fx |\n",
      seconds, open_ms, static_cast<unsigned long long>(events), size / 1e6, wal / 1e6, clean_ms,
      open_ms / clean_ms);
}

void Fill(cairn::Store& store, std::uint64_t events) {
  const std::string payload(200, 'p');
  std::atomic<std::uint64_t> failed{0}, done{0};
  std::uint64_t submitted = 0;
  for (std::uint64_t i = 0; i < events; i += 100) {
    cairn::StreamAppend a;
    a.stream = "s-" + std::to_string((i / 100) % 10000);
    a.expected = cairn::ExpectedVersion::Any();
    for (int k = 0; k < 100; ++k) {
      cairn::EventData e;
      e.type = "Filled";
      e.payload = payload;
      a.events.push_back(std::move(e));
    }
    cairn::Status s = store.AppendMultiAsync(
        {std::move(a)}, [&](cairn::Result<std::vector<cairn::AppendResult>> r) {
          if (!r.ok()) ++failed;
          ++done;
        });
    if (!s.ok()) Die("fill: " + s.ToString());
    ++submitted;
  }
  while (done.load() < submitted) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (failed.load() > 0) Die("fill: appends failed");
}

void CloseThenOpen(const std::string& dir, std::uint64_t events) {
  const std::string path = dir + "/full";
  auto [store, first_open_ms] = TimedOpen(path);
  const auto f0 = Clock::now();
  Fill(*store, events);
  const double fill_s = Ms(Clock::now() - f0) / 1000;
  const auto c0 = Clock::now();
  if (cairn::Status s = store->Close(); !s.ok()) Die("close: " + s.ToString());
  const double close_ms = Ms(Clock::now() - c0);
  store.reset();
  auto [again, open_ms] = TimedOpen(path);
  const std::uint64_t head = again->last_position();
  if (cairn::Status s = again->Close(); !s.ok()) Die("close: " + s.ToString());
  again.reset();
  const double fresh_ms = OpenInFreshProcess(path);
  std::printf(
      "| close, then open in the same process, at %llu events | close %.0f ms + open %.0f ms | "
      "%.1f GB store (filled in %.0f s) | open in a fresh process: %.0f ms | %.2fx |\n",
      static_cast<unsigned long long>(head), close_ms, open_ms, BytesEndingIn(path, "") / 1e9,
      fill_s, fresh_ms, (close_ms + open_ms) / fresh_ms);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t events = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000'000;
  const int crash_seconds = argc > 2 ? std::atoi(argv[2]) : 20;
  char tmpl[] = "/tmp/cairn-restart-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) Die("mkdtemp");
  const std::string dir = tmpl;
  std::printf("| case | cairn | what it found | ceiling | ratio |\n|---|---:|---|---:|---:|\n");
  CrashThenOpen(dir, crash_seconds);
  CloseThenOpen(dir, events);
  fs::remove_all(dir);
  return 0;
}
