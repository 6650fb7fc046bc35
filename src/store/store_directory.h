// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// What an open finds at a store's path, judged before RocksDB is asked (docs/guarantees.md,
// "Foreign and damaged directories"): a store, a new or interrupted creation, a damaged
// database, a foreign directory, or a permission problem — each named as such. The opener
// (store_impl_open.cc) is the only caller; nothing here holds state.
#pragma once

#include <string>

#include "cairn/store.h"

namespace cairn::store {

// Where a new store is built inside its directory: its files move up once its metadata is on
// disk (Store::Impl::PublishNewStore), so a crash leaves no database or a whole store.
inline constexpr char kCreatingDir[] = ".cairn-creating";

struct StoreDirectory {
  bool fresh = false;   // no database yet: the open creates one
  std::string db_path;  // where RocksDB opens: the path, or its kCreatingDir when fresh
};

// Checks `path` for an open with `options` and, for a new store, prepares kCreatingDir
// (clearing what an interrupted creation left). Errors name the path and what is wrong.
Result<StoreDirectory> PrepareStoreDirectory(const std::string& path, const StoreOptions& options);

// Held by a writer while it creates a store: an exclusive flock on the store directory
// (made first if missing). Two processes creating one store at once (five `cairn append`s
// to a new path did) would otherwise clear and build the same kCreatingDir under each other;
// with the lock the second waits, then finds the first one's store and opens it. Released
// when destroyed (and by the kernel when the process dies, so a crash never leaves it held).
class CreationLock {
 public:
  static Result<CreationLock> Take(const std::string& path);
  CreationLock(CreationLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  CreationLock& operator=(CreationLock&&) = delete;
  CreationLock(const CreationLock&) = delete;
  ~CreationLock();

 private:
  explicit CreationLock(int fd) : fd_(fd) {}
  int fd_;
};

// Whether a writer holds `path`'s CreationLock right now (a reader finding kCreatingDir
// tells a creation under way from one a crash interrupted).
bool CreationUnderWay(const std::string& path);

// Whether `path` holds a database (its CURRENT file): only then may a writer skip the
// creation lock.
bool HasDatabase(const std::string& path);

// CURRENT must name a MANIFEST that is there and not empty: RocksDB reads an empty one as a
// database with only the "default" family, which would pass for a foreign database.
Status CheckManifest(const std::string& path);

// fsync of a directory, so that the names made or renamed in it survive a power cut.
// Best effort: a directory that cannot be opened is left alone.
void SyncDirectory(const std::string& dir);

// Copies the files of a closed store (or of a backup) from `from` into `to`, which must not
// exist, fsyncing each, never its LOCK. For Store::Repair's copy and Store::Restore. Errors
// name the file and the directory.
Status CopyStoreFiles(const std::string& from, const std::string& to);

}  // namespace cairn::store
