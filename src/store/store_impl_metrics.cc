// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Store::PrometheusMetrics: the write path's counters (store_metrics.h) and what RocksDB and
// the file system say about the store.
#include <filesystem>
#include <iterator>
#include <vector>

#include <rocksdb/metadata.h>

#include <fmt/format.h>

#include "store/store_impl.h"

namespace cairn {
namespace {

using metrics::Exposition;

// Bytes of every regular file under `dir` (SSTs, WAL, manifest, side files).
std::uint64_t DiskBytes(const std::string& dir) {
  std::error_code ec;
  std::uint64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

void WriteMetricsTo(Exposition& x, const store::WriteMetrics& m) {
  auto load = [](const std::atomic<std::uint64_t>& a) {
    return static_cast<double>(a.load(std::memory_order_relaxed));
  };
  x.Value("appends_total", "counter",
          "Appends that committed (since open): Append, AppendMulti and asynchronous ones.",
          load(m.appends));
  x.Value("append_failures_total", "counter", "Append calls that returned an error.",
          load(m.append_failures));
  x.Value("events_appended_total", "counter", "Events stored by committed appends.",
          load(m.events));
  x.Value("appends_deduplicated_total", "counter",
          "Retried appends answered from the id index, storing nothing.", load(m.deduplicated));
  x.Histogram("append_duration_seconds",
              "Append call to acknowledgement (quota wait, group commit, WAL sync).",
              m.append_seconds);
  x.Value("group_commits_total", "counter", "Group commits (one WAL write each).", load(m.groups));
  x.Histogram("group_commit_appends", "Appends per group commit.", m.group_appends);
  x.Value("wal_syncs_total", "counter", "WAL syncs (durability sync).", load(m.syncs));
  x.Value("wal_sync_failures_total", "counter", "WAL syncs that failed.", load(m.sync_failures));
  x.Histogram("wal_sync_duration_seconds", "Time of one WAL sync (fdatasync).", m.sync_seconds);
}

}  // namespace

std::string Store::Impl::PrometheusMetrics() const {
  Exposition x("cairn_store_");
  const StoreInfo info = GetInfo();
  x.Value("head_position", "gauge", "The last committed (and visible) position.",
          static_cast<double>(info.last_position));
  x.Value("first_position", "gauge", "The first position still stored (after retention).",
          static_cast<double>(info.first_position));
  x.Value("write_error", "gauge", "1 while appends fail after a write error (StoreInfo).",
          info.write_error.empty() ? 0 : 1);
  WriteMetricsTo(x, write_metrics_);
  const BacklogStatus b = GetBacklog();
  x.Value("backlog_events", "gauge", "Events appended but not past the quota's checkpoint.",
          static_cast<double>(b.events));
  x.Value("backlog_bytes", "gauge", "Stored bytes of those events.", static_cast<double>(b.bytes));
  x.Value("backlog_quota_events", "gauge", "The backlog quota in events (0: none).",
          static_cast<double>(b.max_events));
  x.Value("backlog_quota_bytes", "gauge", "The backlog quota in bytes (0: none).",
          static_cast<double>(b.max_bytes));
  x.Value("backlog_rejected_appends_total", "counter", "Appends the backlog quota refused.",
          static_cast<double>(b.rejected_appends));
  x.Value("backlog_blocked_appends_total", "counter", "Appends that waited for the quota.",
          static_cast<double>(b.blocked_appends));
  Impl::CallGuard guard(const_cast<Impl*>(this));
  if (guard.status().ok() && database_) {
    auto property = [&](const std::string& name) {
      std::uint64_t v = 0;
      database_->db()->GetAggregatedIntProperty(name, &v);
      return static_cast<double>(v);
    };
    std::vector<rocksdb::LiveFileMetaData> files;
    database_->db()->GetLiveFilesMetaData(&files);
    x.Value("sst_files", "gauge", "RocksDB table files, every column family.",
            static_cast<double>(files.size()));
    x.Value("sst_bytes", "gauge", "Bytes of those files.",
            property(rocksdb::DB::Properties::kTotalSstFilesSize));
    x.Value("pending_compaction_bytes", "gauge", "RocksDB's estimate of bytes left to compact.",
            property(rocksdb::DB::Properties::kEstimatePendingCompactionBytes));
    x.Value("memtable_bytes", "gauge", "Bytes in RocksDB memtables (not yet flushed).",
            property(rocksdb::DB::Properties::kCurSizeAllMemTables));
    x.Value("disk_bytes", "gauge", "Bytes of every file in the store directory.",
            static_cast<double>(DiskBytes(path_)));
  }
  return x.Take();
}

}  // namespace cairn
