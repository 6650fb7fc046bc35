// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The WAL sync gate: no write to the write-ahead log may fail while a sync of it is starting.
//
// RocksDB 7.8 (Debian 12's, built with assertions) aborts the process when DB::SyncWAL()
// reaches a log whose writer has failed a write before SyncWAL got to it: the assertion
// `sync_without_flush_called_` in WritableFileWriter (a release build fails the sync). cairn
// writes the next group while the last one syncs (sequencer.h), so without care a write that
// fails with EIO in the microseconds between the syncer's start and RocksDB's check of that
// writer — or for as long as SyncWAL waits at its start for a flush syncing the log it closed —
// ends the process instead of failing the appends (FaultTest.
// AWriteFailingWhileASyncStartsIsAnErrorNotAnAbort holds a flush there and shows both).
//
// The gate wraps the store's file system. A sync (Sync()) first waits for the log writes
// under way, then holds new ones back until RocksDB syncs the newest log file — past its check
// of every writer — and lets them go on during the fsync itself, so the write and the sync
// still overlap. What it costs a write is SyncWAL's start, a few microseconds, and no wait at
// all when no sync is starting.
//
// A write that failed before the sync began is not the gate's to stop: the sequencer does not
// sync after its own failed write (Sequencer::wal_broken_).
//
// Thread-safety: all members may be called from any thread; a sync's gate is opened by the
// thread that called Sync(), from inside RocksDB.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>

#include <rocksdb/db.h>
#include <rocksdb/file_system.h>

#include "util/mutex.h"

namespace cairn::store {

class WalSyncGate : public std::enable_shared_from_this<WalSyncGate> {
 public:
  // `base` as the store opens RocksDB with it: its write-ahead log files report their writes
  // and syncs to this gate, which the file system keeps alive.
  std::shared_ptr<rocksdb::FileSystem> Wrap(const std::shared_ptr<rocksdb::FileSystem>& base);

  // db->SyncWAL() through the gate.
  rocksdb::Status Sync(rocksdb::DB* db) CAIRN_EXCLUDES(mu_);

  // For the wrapped files.
  void LogCreated(std::uint64_t number);
  void BeginLogWrite() CAIRN_EXCLUDES(mu_);
  void EndLogWrite() CAIRN_EXCLUDES(mu_);
  void LogSyncing(std::uint64_t number) CAIRN_EXCLUDES(mu_);

 private:
  void Open() CAIRN_EXCLUDES(mu_);

  internal::Mutex mu_;
  std::condition_variable cv_;
  int writes_ CAIRN_GUARDED_BY(mu_) = 0;  // log writes under way
  bool starting_ CAIRN_GUARDED_BY(mu_) = false;
  std::atomic<std::uint64_t> newest_log_{0};
  // The gate this thread is starting a sync through: only that sync's own file syncs open it.
  static thread_local WalSyncGate* starting_here_;
};

}  // namespace cairn::store
