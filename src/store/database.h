// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The opener: one store's RocksDB database, opened and ready — the instance, its column
// families by role, and the file layer under it — or a clear error naming what is wrong with
// the directory (damage, a foreign database, another writer's lock, a read-only file system).
// Store::Impl owns the Database it is given and loads the store's state from it
// (store_impl_open.cc); nothing else opens or closes RocksDB.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <spdlog/logger.h>

#include "cairn/options.h"
#include "cairn/status.h"
#include "store/wal_sync_gate.h"

namespace cairn::store {

// What opening needs from its store.
struct DatabaseSetup {
  std::string path;  // the store directory (messages, damage checks)
  StoreOptions options;
  std::shared_ptr<spdlog::logger> logger;
  rocksdb::Env* base_env = nullptr;  // a test's file layer (storage_env.h), else the default
  std::shared_ptr<WalSyncGate> wal_sync_gate;  // every write-ahead log file goes through it
  bool repairing = false;  // Store::Repair: recover the write-ahead log up to its first damage
  // A writer's: RocksDB recovered by itself from a write error (a full disk that has room
  // again). Called on a RocksDB thread.
  std::function<void()> on_write_error_recovered;
};

// Thread-safety: the handles are fixed once Open returns, except that the opening thread may
// add a family (AddFamily) before the store is shared; from then on every method may be called
// from any thread until Close, which the closing thread calls alone.
class Database {
 public:
  // Opens the database in `db_path` (the store directory, or where a new store is built
  // before it is published: fresh). Writer, read-only, or a follower of a live writer
  // (StoreOptions::read_only, follow_writer). A fresh database gets every family; an existing
  // one must have cairn's, and is opened with every family it has.
  static Result<std::unique_ptr<Database>> Open(const DatabaseSetup& setup,
                                                const std::string& db_path, bool fresh);
  ~Database();  // closes, if Close was not called (errors are lost: call Close)
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* meta() const { return meta_; }
  rocksdb::ColumnFamilyHandle* log() const { return log_; }
  rocksdb::ColumnFamilyHandle* streams() const { return streams_; }
  rocksdb::ColumnFamilyHandle* ids() const { return ids_; }
  // Null on a read-only handle of a store from a format without them.
  rocksdb::ColumnFamilyHandle* types() const { return types_; }
  rocksdb::ColumnFamilyHandle* snapshots() const { return snapshots_; }
  // Every open family (flushes, small-file merges).
  const std::vector<rocksdb::ColumnFamilyHandle*>& families() const { return handles_; }
  // A follower of a live writer (StoreOptions::follow_writer): Refresh catches up.
  bool following() const { return !secondary_dir_.empty(); }
  // The options new families are created with.
  const rocksdb::ColumnFamilyOptions& family_options() const { return cf_options_; }

  // A writer's store from an older format gains a family it lacks (types, snapshots); no-op
  // when it is there or on a read-only handle. The opening thread only.
  enum class Role { kTypes, kSnapshots };
  Status AddFamily(Role role);

  // Releases the families, then the instance, as RocksDB requires; the first error. Once.
  Status Close();

 private:
  explicit Database(DatabaseSetup setup) : setup_(std::move(setup)) {}
  rocksdb::Options DatabaseOptions(bool fresh);
  Result<std::vector<std::string>> FamiliesToOpen(const rocksdb::Options& db_options, bool fresh);
  Status OpenRocks(const rocksdb::Options& db_options, const std::string& db_path,
                   const std::vector<rocksdb::ColumnFamilyDescriptor>& descriptors);
  Status DescribeOpenFailure(const rocksdb::Status& s) const;
  // A reader's check of every table file the MANIFEST names.
  Status CheckLiveFiles() const;

  const DatabaseSetup setup_;
  std::unique_ptr<rocksdb::Env> env_;  // before db_: it outlives it
  std::shared_ptr<rocksdb::Logger> info_log_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* log_ = nullptr;
  rocksdb::ColumnFamilyHandle* streams_ = nullptr;
  rocksdb::ColumnFamilyHandle* ids_ = nullptr;
  rocksdb::ColumnFamilyHandle* types_ = nullptr;
  rocksdb::ColumnFamilyHandle* snapshots_ = nullptr;
  rocksdb::ColumnFamilyOptions cf_options_;
  std::string secondary_dir_;  // follow_writer: the secondary instance's own directory
};

}  // namespace cairn::store
