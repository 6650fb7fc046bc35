// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// cairn_crash_writer STORE THREADS [BOOTSTRAP MODE [TOPIC_PREFIX]]: appends pairs of events
// synchronously from THREADS threads, each thread to its own streams, until killed. After
// each acknowledged append it writes "ack STREAM LAST_VERSION LAST_POSITION" to stdout
// (unbuffered), so the test knows exactly what was acknowledged before the SIGKILL. With
// BOOTSTRAP, a shipper in the same process ships to Kafka (MODE at-least-once or
// exactly-once; order-* streams to order-events, the rest to events, checkpoints in
// cairn-checkpoints, each name after TOPIC_PREFIX), as a service would.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "cairn/shipper.h"

int main(int argc, char** argv) {
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
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::uint64_t i = 0;; ++i) {
        const std::string stream = "order-" + std::to_string(t) + "-" + std::to_string(i % streams);
        auto info = (*store)->GetStreamInfo(stream);
        const std::uint64_t v = info.ok() ? info->last_version : 0;
        std::vector<cairn::EventData> pair(2);
        for (int k = 0; k < 2; ++k) {
          pair[k].type = k == 0 ? "OrderPlaced" : "OrderConfirmed";
          pair[k].payload = stream + ":" + std::to_string(v + 1 + k);
        }
        auto r = (*store)->Append(stream, cairn::ExpectedVersion::Exact(v), pair);
        if (!r.ok()) {
          std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
          std::_Exit(1);
        }
        const std::string line = "ack " + stream + " " + std::to_string(r->last_version) + " " +
                                 std::to_string(r->last_position) + "\n";
        if (write(STDOUT_FILENO, line.data(), line.size()) < 0) std::_Exit(1);
      }
    });
  }
  for (auto& w : workers) w.join();
}
