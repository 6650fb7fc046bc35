// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// A RocksDB snapshot held for one scope (or none, for a reader that has no snapshot to take).
#pragma once

#include <rocksdb/db.h>

namespace cairn::store {

// A RocksDB snapshot held for a scope, for a reader (or verify, or retention's plan) that
// reads more than one iterator or Gets beside one: what
// retention or soft deletes change after the reader opened must not show half-way through it
// (an index entry whose event retention removed a moment later). Null where RocksDB has none
// (read-only and secondary instances, whose state changes only at a catch-up).
class ScopedSnapshot {
 public:
  ScopedSnapshot(rocksdb::DB* db, bool take)
      : db_(db), snapshot_(take ? db->GetSnapshot() : nullptr) {}
  ~ScopedSnapshot() {
    if (snapshot_) db_->ReleaseSnapshot(snapshot_);
  }
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }
  rocksdb::ReadOptions Options() const {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    return ro;
  }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

}  // namespace cairn::store
