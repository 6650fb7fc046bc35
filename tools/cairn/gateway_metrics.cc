// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#include "gateway_metrics.h"

#include <fmt/format.h>

namespace cairn::tool {
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
  std::string out =
      "# HELP cairn_http_requests_total HTTP requests answered, by route and status class.\n"
      "# TYPE cairn_http_requests_total counter\n";
  auto count = [&](const char* route, std::size_t c, std::uint64_t n) {
    fmt::format_to(std::back_inserter(out),
                   "cairn_http_requests_total{{route=\"{}\",code=\"{}xx\"}} {}\n", route, c + 1, n);
  };
  for (std::size_t i = 0; i < kRoutes; ++i)
    for (std::size_t c = 0; c < kClasses; ++c)
      count(kRouteNames[i], c, routes_[i].by_class[c].load(std::memory_order_relaxed));
  for (std::size_t c = 0; c < kClasses; ++c)
    count("none", c, refused_[c].load(std::memory_order_relaxed));
  out +=
      "# HELP cairn_http_request_duration_seconds Time from a routed request to its answer.\n"
      "# TYPE cairn_http_request_duration_seconds histogram\n";
  for (std::size_t i = 0; i < kRoutes; ++i)
    routes_[i].latency.AppendTo(&out, "cairn_http_request_duration_seconds",
                                fmt::format("route=\"{}\"", kRouteNames[i]));
  return out;
}

}  // namespace cairn::tool
