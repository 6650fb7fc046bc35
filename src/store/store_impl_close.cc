// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Closing a store: waiting for the calls inside (CallGuard), for RocksDB's pending compactions
// and merging the small files short-lived writers leave, flushing, and noting the head a clean
// close leaves (CAIRN-HEAD) so the next open can tell a deleted write-ahead log from none.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "codec/envelope.h"
#include "store/keys.h"
#include "store/store_impl.h"
#include "store/wal_scan.h"
#include "util/logging.h"

namespace cairn {

namespace fs = std::filesystem;

namespace {
// Written by a writer's clean close, beside RocksDB's files (docs/format.md, "CAIRN-HEAD").
constexpr char kClosedHeadFile[] = "CAIRN-HEAD";
}  // namespace

Status Store::Impl::CheckClosedHead() {
  // RocksDB cannot tell a write-ahead log someone deleted from one it never had: the store
  // opens without its events. A writer's clean close notes its head outside RocksDB's files;
  // a store that opens with less than that lost what those files held.
  const fs::path file = fs::path(path_) / kClosedHeadFile;
  std::ifstream in(file);
  std::string word;
  std::uint64_t noted = 0;
  const std::uint64_t head = CommittedPosition();
  if (in && (in >> word >> noted) && word == "position" && noted > head && !repairing_)
    return Status::Corruption(fmt::format(
        "store {} is damaged: its writer closed it holding positions up to {}, and it now ends "
        "at {}: a write-ahead log or table file was deleted or cut short; restore the store from "
        "a backup (docs/guarantees.md, \"Damaged files\")",
        path_, noted, head));
  if (!options_.read_only) {
    // From now on the head moves; a crash leaves no note (and a stale one could only be lower).
    std::error_code ec;
    fs::remove(file, ec);
  }
  return Status::Ok();
}

void Store::Impl::RecordClosedHead() {
  const fs::path file = fs::path(path_) / kClosedHeadFile;
  const fs::path tmp = fs::path(path_) / (std::string(kClosedHeadFile) + ".tmp");
  const std::uint64_t head = head_.position();
  const std::string text = fmt::format("position {}\n", head);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  std::error_code ec;
  if (written) fs::rename(tmp, file, ec);
  if (const int dir = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void Store::Impl::WaitForPendingCompactions() {
  // Every writable open flushes what the WAL replayed into new level-0 files, one per family.
  // A process that appends once and exits (an edge script calling `cairn append` per event)
  // would close before RocksDB's background compaction of them ever ran, and each open would
  // start from more files: 1,000 calls left ~3,000 files, every call slower than the last.
  // So a writer lets the compaction RocksDB has scheduled finish before it closes (bounded:
  // an L0 to L1 compaction of a few small files takes milliseconds).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::uint64_t pending = 0, running = 0, flushes = 0;
    database_->db()->GetIntProperty(rocksdb::DB::Properties::kCompactionPending, &pending);
    database_->db()->GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &running);
    database_->db()->GetIntProperty(rocksdb::DB::Properties::kNumRunningFlushes, &flushes);
    if (pending == 0 && running == 0 && flushes == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  logger_->warn("store {}: closing with a compaction still pending after 30 s", path_);
}

void Store::Impl::MergeSmallFiles() {
  // RocksDB moves a level-0 file that overlaps nothing down to level 1 as it is ("trivial
  // move"), and the log's keys only grow: the small files each short-lived writer flushes at
  // open pile up in level 1, one per family per process, since level 1 is merged only once it
  // outgrows its target size (256 MiB). A run of small neighbours is merged here instead.
  constexpr std::uint64_t kSmall = 4u << 20;
  constexpr std::size_t kMinRun = 8;
  for (rocksdb::ColumnFamilyHandle* h : database_->families()) {
    rocksdb::ColumnFamilyMetaData meta;
    database_->db()->GetColumnFamilyMetaData(h, &meta);
    for (std::size_t level = 1; level < meta.levels.size(); ++level) {
      const auto& files = meta.levels[level].files;  // in key order, not overlapping
      std::size_t i = 0;
      while (i < files.size()) {
        std::size_t j = i;
        while (j < files.size() && files[j].size < kSmall && !files[j].being_compacted) ++j;
        if (j - i >= kMinRun) {
          std::vector<std::string> names;
          for (std::size_t k = i; k < j; ++k) names.push_back(files[k].name);
          rocksdb::Status st = database_->db()->CompactFiles(rocksdb::CompactionOptions(), h, names,
                                                             static_cast<int>(level));
          if (!st.ok())
            logger_->info("store {}: merging {} small files of family {}: {}", path_, names.size(),
                          h->GetName(), st.ToString());
        }
        i = std::max(j, i + 1);
      }
    }
  }
}

Status Store::Impl::Close() {
  if (owner_client_ && owner_client_->OnAsyncThread())
    return Status::FailedPrecondition(
        "Close() from an append's completion callback: it waits for every completion, that one "
        "included");
  if (sequencer_ && sequencer_->OnDriverThread())
    return Status::FailedPrecondition(
        "Close() from an append's completion callback: it waits for every completion, that one "
        "included");
  const bool closed_before = sequencer_ && sequencer_->closed();
  if (const int readers = open_readers_.load(); readers > 0 && !closed_before)
    return Status::FailedPrecondition(fmt::format(
        "cannot close store {}: {} reader(s) still open; destroy them first", path_, readers));
  closing_.store(true);  // new public calls are refused from here on
  head_.Close();
  backlog_.Close();
  // Calls already inside finish first (an append blocked on the quota was just woken).
  while (calls_in_progress_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // No other process's write starts from here: the listener ends its connections (their
  // calls are refused now) and removes the socket. Appends queued for an owner are sent and
  // completed before this handle's connection closes.
  owner_listener_.reset();
  if (owner_client_) owner_client_->Close();
  if (sequencer_ && sequencer_->closed()) return Status::Ok();
  if (const int readers = open_readers_.load(); readers > 0)
    return Status::FailedPrecondition(fmt::format(
        "cannot close store {}: {} reader(s) still open; destroy them first", path_, readers));
  // Appends already queued finish first; new ones are refused. A second Close() racing this
  // one returns here while the first finishes.
  if (sequencer_ && !sequencer_->Close()) return Status::Ok();
  if (!database_) return Status::Ok();
  Status result;
  const bool write_failed = !head_.write_status().ok();
  if (opened_ && !options_.read_only && !write_failed) {
    WaitForPendingCompactions();
    MergeSmallFiles();
  }
  // After a failed write RocksDB's WAL writer is in an error state, and flushing it again
  // aborts the process (an assertion in Debian's build): found by FaultTest's power cut.
  if (!options_.read_only && options_.durability == Durability::kBuffered && !write_failed) {
    // A clean close makes buffered appends durable too.
    result = FromRocks(wal_sync_gate_->Sync(database_->db()), "syncing the write-ahead log");
  }
  Status s = database_->Close();
  database_.reset();
  // (Not after a failed open: its head is what the damage left, not what a writer had.)
  if (s.ok() && result.ok() && opened_ && !options_.read_only && !write_failed) RecordClosedHead();
  if (result.ok()) result = s;
  return result;
}

}  // namespace cairn
