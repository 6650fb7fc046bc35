// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// StoreOptions::storage_env: the RocksDB Env (and through it the file system) one store
// opens its database with. Internal: the public header only names the class, so no RocksDB
// type reaches users; cairn's fault-injection tests (tests/fault_fs.h) make one.
#pragma once

#include <memory>

#include <rocksdb/env.h>

#include "cairn/options.h"

namespace cairn {

class StorageEnv {
 public:
  explicit StorageEnv(std::unique_ptr<rocksdb::Env> env) : env_(std::move(env)) {}
  rocksdb::Env* env() const { return env_.get(); }

 private:
  std::unique_ptr<rocksdb::Env> env_;
};

}  // namespace cairn
