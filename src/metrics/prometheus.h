// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Prometheus' text exposition format, written in one place for the store
// (Store::PrometheusMetrics), the shipper (Shipper::PrometheusMetrics) and the gateway's
// /metrics: families with # HELP and # TYPE, labelled samples, and a lock-free histogram.
// Header-only, so that libcairn and the gateway share it without one reaching into the other
// (the cairn_prometheus target in CMakeLists.txt).
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace cairn::metrics {

// Latency buckets in seconds, from 50 µs (an unsynced append) to 10 s (a stalled disk).
inline constexpr std::initializer_list<double> kLatencyBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};

// Thread-safety: Observe and AppendTo may be called from any thread at once (relaxed
// counters: a scrape during an observation may see it in _count but not yet in its bucket).
class Histogram {
 public:
  explicit Histogram(std::initializer_list<double> bounds)
      : bounds_(bounds), counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
    for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
  }

  void Observe(double value) {
    std::size_t b = 0;
    while (b < bounds_.size() && value > bounds_[b]) ++b;
    counts_[b].fetch_add(1, std::memory_order_relaxed);
    // The sum in millionths, so it stays an integer counter (no CAS loop on a double).
    sum_micro_.fetch_add(static_cast<std::uint64_t>(value * 1e6), std::memory_order_relaxed);
  }

  // `name`_bucket{labels,le=..}, `name`_sum and `name`_count lines. `labels` is either empty or
  // `key="value",...` without braces. The caller writes # HELP and # TYPE once per family.
  void AppendTo(std::string* out, std::string_view name, std::string_view labels = {}) const {
    const std::string sep = labels.empty() ? "" : ",";
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= bounds_.size(); ++b) {
      cumulative += counts_[b].load(std::memory_order_relaxed);
      const std::string le = b < bounds_.size() ? fmt::format("{}", bounds_[b]) : "+Inf";
      fmt::format_to(std::back_inserter(*out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                     le, cumulative);
    }
    const std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
    fmt::format_to(std::back_inserter(*out), "{}_sum{} {:.6f}\n", name, braces,
                   sum_micro_.load(std::memory_order_relaxed) / 1e6);
    fmt::format_to(std::back_inserter(*out), "{}_count{} {}\n", name, braces, cumulative);
  }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<std::uint64_t> sum_micro_{0};
};

// One exposition: every metric name gets `prefix` ("cairn_store_"). Not thread-safe; one per
// scrape.
class Exposition {
 public:
  explicit Exposition(std::string_view prefix) : prefix_(prefix) {}

  // The # HELP and # TYPE lines of a family: once, before its samples.
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {}{} {}\n", prefix_, name, help);
    fmt::format_to(std::back_inserter(out_), "# TYPE {}{} {}\n", prefix_, name, type);
  }
  // One sample; `labels` is empty or `key="value",...` without braces.
  void Sample(std::string_view name, std::string_view labels, double value) {
    if (labels.empty())
      fmt::format_to(std::back_inserter(out_), "{}{} {}\n", prefix_, name, value);
    else
      fmt::format_to(std::back_inserter(out_), "{}{}{{{}}} {}\n", prefix_, name, labels, value);
  }
  // A family of one unlabelled sample.
  void Value(std::string_view name, std::string_view type, std::string_view help, double value) {
    Family(name, type, help);
    Sample(name, {}, value);
  }
  // The samples of one histogram (after its family's Family(name, "histogram", ...)).
  void HistogramSamples(std::string_view name, const metrics::Histogram& h,
                        std::string_view labels = {}) {
    h.AppendTo(&out_, fmt::format("{}{}", prefix_, name), labels);
  }
  // A family of one unlabelled histogram.
  void Histogram(std::string_view name, std::string_view help, const metrics::Histogram& h) {
    Family(name, "histogram", help);
    HistogramSamples(name, h);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string prefix_;
  std::string out_;
};

}  // namespace cairn::metrics
