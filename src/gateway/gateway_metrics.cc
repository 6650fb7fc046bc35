// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The gateway's cairn_http_* metrics, written through src/metrics (gateway_metrics.h).
#include "gateway/gateway_metrics.h"

#include <fmt/format.h>

namespace cairn::gateway {
namespace {

constexpr std::array<const char*, static_cast<std::size_t>(Route::kCount)> kRouteNames = {
    "append", "produce", "read_stream", "read_log", "feed", "operations"};

std::size_t ClassOf(int status) {
  const int c = status / 100;
  return c >= 1 && c <= 5 ? static_cast<std::size_t>(c - 1) : 4;
}

}  // namespace

void HttpMetrics::Record(Route route, int status, double seconds) {
  PerRoute& r = routes_[static_cast<std::size_t>(route)];
  r.latency.Observe(seconds);
  r.by_class[ClassOf(status)].fetch_add(1, std::memory_order_relaxed);
}

void HttpMetrics::RecordRefused(int status) {
  refused_[ClassOf(status)].fetch_add(1, std::memory_order_relaxed);
}

std::string HttpMetrics::Render() const {
  metrics::Exposition x("cairn_http_");
  x.Family("requests_total", "counter", "HTTP requests answered, by route and status class.");
  auto count = [&](const char* route, std::size_t c, std::uint64_t n) {
    x.Sample("requests_total", fmt::format("route=\"{}\",code=\"{}xx\"", route, c + 1),
             static_cast<double>(n));
  };
  for (std::size_t i = 0; i < kRoutes; ++i)
    for (std::size_t c = 0; c < kClasses; ++c)
      count(kRouteNames[i], c, routes_[i].by_class[c].load(std::memory_order_relaxed));
  for (std::size_t c = 0; c < kClasses; ++c)
    count("none", c, refused_[c].load(std::memory_order_relaxed));
  x.Family("request_duration_seconds", "histogram", "Time from a routed request to its answer.");
  for (std::size_t i = 0; i < kRoutes; ++i)
    x.HistogramSamples("request_duration_seconds", routes_[i].latency,
                       fmt::format("route=\"{}\"", kRouteNames[i]));
  return x.Take();
}

}  // namespace cairn::gateway
