// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// A store opened on another file layer than the operating system's: cairn's fault-injection
// tests (tests/fault_fs.h) open stores on a file system that fails writes or drops unsynced
// bytes at a simulated power cut. Internal, like LevelDB's TEST_ hooks: the public options
// carry no test hook and no RocksDB type.
#pragma once

#include <memory>
#include <string>

#include <rocksdb/env.h>

#include "cairn/options.h"
#include "cairn/store.h"

namespace cairn {

// The RocksDB Env (and through it the file system) one store opens its database with.
class StorageEnv {
 public:
  explicit StorageEnv(std::unique_ptr<rocksdb::Env> env) : env_(std::move(env)) {}
  rocksdb::Env* env() const { return env_.get(); }

 private:
  std::unique_ptr<rocksdb::Env> env_;
};

// Store::Open with this store's database on `env`; other stores in the process keep the real
// disk. Defined in src/store/store.cc.
Result<std::unique_ptr<Store>> OpenStoreOnStorage(const std::string& path,
                                                  const StoreOptions& options,
                                                  const std::shared_ptr<StorageEnv>& env);

}  // namespace cairn
