// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The gateway's own Prometheus metrics: requests by route and status class, and request
// latency as a histogram per route.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "metrics/prometheus.h"

namespace cairn::gateway {

enum class Route : std::uint8_t {
  kAppend,   // POST /v1/streams/{stream}/events
  kProduce,  // POST /topics/{topic} (REST Proxy v2)
  kReadStream,
  kReadLog,
  kFeed,        // GET /v1/feed (server-sent events)
  kOperations,  // /healthz, /readyz, /metrics, /status, /
  kCount,
};

// Thread-safety: Record and Render may be called from any thread.
class HttpMetrics {
 public:
  void Record(Route route, int status, double seconds);
  // Counts an answer the server gave before any route ran (404, 413, 400, ...).
  void RecordRefused(int status);
  // cairn_http_requests_total{route,code} and cairn_http_request_duration_seconds{route}.
  std::string Render() const;

 private:
  static constexpr std::size_t kRoutes = static_cast<std::size_t>(Route::kCount);
  static constexpr std::size_t kClasses = 5;  // 1xx..5xx
  struct PerRoute {
    metrics::Histogram latency{metrics::kLatencyBuckets};
    std::array<std::atomic<std::uint64_t>, kClasses> by_class{};
  };
  std::array<PerRoute, kRoutes> routes_;
  std::array<std::atomic<std::uint64_t>, kClasses> refused_{};
};

}  // namespace cairn::gateway
