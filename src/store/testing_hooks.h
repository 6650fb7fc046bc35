// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Hooks for cairn's own tests; not part of the public API.
#pragma once

namespace rocksdb {
class Env;
}

namespace cairn::internal {

// The RocksDB Env (and through it the file system) that Store::Open uses from now on in this
// process, for fault injection (tests/fault_fs.h); null restores RocksDB's default.
void SetRocksEnvForTesting(rocksdb::Env* env);

}  // namespace cairn::internal
