// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The write path's counters and histograms, rendered by Store::PrometheusMetrics.
#pragma once

#include <atomic>
#include <cstdint>

#include "metrics/prometheus.h"

namespace cairn::store {

// Thread-safety: every member may be updated and read from any thread at once.
struct WriteMetrics {
  std::atomic<std::uint64_t> appends{0};          // Append/AppendMulti calls that committed
  std::atomic<std::uint64_t> append_failures{0};  // ... that returned an error
  std::atomic<std::uint64_t> events{0};           // events those committed appends stored
  std::atomic<std::uint64_t> deduplicated{0};     // retried appends answered from the id index
  // Call to acknowledgement: validation, the backlog quota's wait, the group commit and the
  // sync it waits for.
  metrics::Histogram append_seconds{metrics::kLatencyBuckets};
  // Appends per group commit (one WAL write).
  std::atomic<std::uint64_t> groups{0};
  metrics::Histogram group_appends{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  // Durability::kSync only: SyncWAL calls, their time and failures.
  std::atomic<std::uint64_t> syncs{0};
  std::atomic<std::uint64_t> sync_failures{0};
  metrics::Histogram sync_seconds{metrics::kLatencyBuckets};
};

}  // namespace cairn::store
