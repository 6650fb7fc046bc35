// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// cairn_crash_writer STORE THREADS [BOOTSTRAP MODE [TOPIC_PREFIX]]: appends pairs of events
// synchronously from THREADS threads, each thread to its own streams, until killed. After
// each acknowledged append it writes "ack STREAM LAST_VERSION LAST_POSITION" to stdout
// (unbuffered), so the test knows exactly what was acknowledged before the SIGKILL. With
// BOOTSTRAP, a shipper in the same process ships to Kafka (MODE at-least-once or
// exactly-once; order-* streams to order-events, the rest to events, checkpoints in
// cairn-checkpoints, each name after TOPIC_PREFIX), as a service would.
//
// CAIRN_CRASH_ASYNC=1: the same appends through Store::AppendAsync, acknowledged by their
// completions.
//
// For the real-cluster fault tests (tests/kafka/faults_test.sh):
// - SIGTERM stops the appends, waits until the shipper has shipped everything (up to
//   CAIRN_WRITER_DRAIN_S seconds, default 180), stops it and prints "drained HEAD SHIPPED
//   DEAD_LETTERS REWINDS" on stdout; exit 0 only when everything was shipped;
// - CAIRN_WRITER_KAFKA_CONFIG="key=value,key=value" adds librdkafka settings;
// - CAIRN_WRITER_PAUSE_US: a pause after each append, per thread (a steady load, not a flood);
// - CAIRN_WRITER_PROGRESS=FILE: every 20 ms a line "MONOTONIC_MS HEAD SHIPPED_THROUGH" is
//   appended to FILE, so a test can tell when shipping stopped and when it resumed.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "cairn/shipper.h"

namespace {
std::atomic<bool> stop_requested{false};
void OnTerm(int) { stop_requested.store(true); }

// The two events of one append: versions v + 1 and v + 2 of `stream`, each payload naming its
// stream and version so that a check can tell them apart.
std::vector<cairn::EventData> Pair(const std::string& stream, std::uint64_t v) {
  std::vector<cairn::EventData> pair(2);
  for (int k = 0; k < 2; ++k) {
    pair[k].type = k == 0 ? "OrderPlaced" : "OrderConfirmed";
    pair[k].payload = stream + ":" + std::to_string(v + 1 + k);
  }
  return pair;
}

std::int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}
}  // namespace

int main(int argc, char** argv) {
  signal(SIGTERM, OnTerm);
  if (argc != 3 && argc != 5 && argc != 6) {
    std::fprintf(stderr,
                 "usage: cairn_crash_writer STORE THREADS [BOOTSTRAP MODE [TOPIC_PREFIX]]\n");
    return 2;
  }
  cairn::StoreOptions options;
  options.log_level = cairn::LogLevel::kError;
  auto store = cairn::Store::Open(argv[1], options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<cairn::Shipper> shipper;
  if (argc >= 5) {
    const std::string prefix = argc >= 6 ? argv[5] : "";
    cairn::ShipperOptions o;
    o.bootstrap_servers = argv[3];
    o.mode = std::string(argv[4]) == "exactly-once" ? cairn::DeliveryMode::kExactlyOnce
                                                    : cairn::DeliveryMode::kAtLeastOnce;
    o.routes = {{cairn::RouteRule::Match::kCategory, "order", prefix + "order-events"}};
    o.default_topic = prefix + "events";
    o.checkpoint_topic = prefix + "cairn-checkpoints";
    o.kafka_config = {{"linger.ms", "20"}};
    if (const char* extra = std::getenv("CAIRN_WRITER_KAFKA_CONFIG")) {
      std::string list = extra;
      for (std::size_t at = 0; at < list.size();) {
        std::size_t end = list.find(',', at);
        if (end == std::string::npos) end = list.size();
        const std::string kv = list.substr(at, end - at);
        const std::size_t eq = kv.find('=');
        if (eq != std::string::npos)
          o.kafka_config.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        // librdkafka's debug contexts log at debug level: let them through to stderr.
        if (kv.substr(0, eq) == "debug") o.log_level = cairn::LogLevel::kDebug;
        at = end + 1;
      }
    }
    auto started = cairn::Shipper::Start(**store, o);
    if (!started.ok()) {
      std::fprintf(stderr, "ship: %s\n", started.status().ToString().c_str());
      return 1;
    }
    shipper = std::move(started).value();
  }
  const int threads = std::atoi(argv[2]);
  // Streams per thread (CAIRN_CRASH_STREAMS, default 5): long runs spread over more streams,
  // hence more Kafka partitions, to stay under the mock's ~5 MiB per partition.
  const char* streams_env = std::getenv("CAIRN_CRASH_STREAMS");
  const std::uint64_t streams = streams_env ? std::max(1, std::atoi(streams_env)) : 5;
  const char* pause_env = std::getenv("CAIRN_WRITER_PAUSE_US");
  const int pause_us = pause_env ? std::atoi(pause_env) : 0;
  // CAIRN_CRASH_ASYNC=1: each thread hands its appends over with Store::AppendAsync and goes
  // on (its own streams' expected versions counted ahead), and the acknowledgement is printed
  // by the completion: the asynchronous path under the same kill -9 loop.
  const bool async = std::getenv("CAIRN_CRASH_ASYNC") != nullptr;
  auto ack = [](const std::string& stream, const cairn::Result<cairn::AppendResult>& r) {
    if (!r.ok()) {
      std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
      std::_Exit(1);
    }
    const std::string line = "ack " + stream + " " + std::to_string(r->last_version) + " " +
                             std::to_string(r->last_position) + "\n";
    if (write(STDOUT_FILENO, line.data(), line.size()) < 0) std::_Exit(1);
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < threads && async; ++t) {
    workers.emplace_back([&, t] {
      std::vector<std::uint64_t> next(streams, UINT64_MAX);  // per stream: the version to expect
      for (std::uint64_t i = 0; !stop_requested.load(); ++i) {
        const std::string stream = "order-" + std::to_string(t) + "-" + std::to_string(i % streams);
        std::uint64_t& v = next[i % streams];
        if (v == UINT64_MAX) {
          auto info = (*store)->GetStreamInfo(stream);
          v = info.ok() ? info->last_version : 0;
        }
        std::vector<cairn::EventData> pair = Pair(stream, v);
        const cairn::Status s = (*store)->AppendAsync(
            stream, cairn::ExpectedVersion::Exact(v), std::move(pair),
            [stream, &ack](cairn::Result<cairn::AppendResult> r) { ack(stream, r); });
        if (!s.ok()) {
          std::fprintf(stderr, "append: %s\n", s.ToString().c_str());
          std::_Exit(1);
        }
        v += 2;
        if (pause_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
      }
    });
  }
  for (int t = 0; t < threads && !async; ++t) {
    workers.emplace_back([&, t] {
      for (std::uint64_t i = 0; !stop_requested.load(); ++i) {
        const std::string stream = "order-" + std::to_string(t) + "-" + std::to_string(i % streams);
        auto info = (*store)->GetStreamInfo(stream);
        const std::uint64_t v = info.ok() ? info->last_version : 0;
        std::vector<cairn::EventData> pair = Pair(stream, v);
        ack(stream, (*store)->Append(stream, cairn::ExpectedVersion::Exact(v), pair));
        if (pause_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
      }
    });
  }
  std::thread progress;
  if (const char* path = std::getenv("CAIRN_WRITER_PROGRESS"); path && shipper) {
    progress = std::thread([&, file = std::string(path)] {
      std::ofstream out(file, std::ios::app);
      while (!stop_requested.load()) {
        const cairn::ShipperStatus st = shipper->GetStatus();
        out << MonotonicMs() << ' ' << st.head_position << ' ' << st.shipped_through << '\n'
            << std::flush;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  for (auto& w : workers) w.join();
  if (progress.joinable()) progress.join();
  if (!shipper) return 0;
  const std::uint64_t head = (*store)->GetInfo().last_position;
  const char* drain_env = std::getenv("CAIRN_WRITER_DRAIN_S");
  const auto drain = std::chrono::seconds(drain_env ? std::atoi(drain_env) : 180);
  const cairn::Status shipped = shipper->WaitUntilShipped(head, drain);
  const cairn::ShipperStatus st = shipper->GetStatus();
  const cairn::Status stopped = shipper->Stop();
  std::printf("drained %llu %llu %llu %llu\n", static_cast<unsigned long long>(head),
              static_cast<unsigned long long>(st.shipped_through),
              static_cast<unsigned long long>(st.dead_letters),
              static_cast<unsigned long long>(st.rewinds));
  if (!shipped.ok() || !stopped.ok()) {
    std::fprintf(stderr, "drain: %s / %s\n", shipped.ToString().c_str(),
                 stopped.ToString().c_str());
    return 1;
  }
  return 0;
}
