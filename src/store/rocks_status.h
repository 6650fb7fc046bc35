// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// RocksDB's status in cairn's words: one conversion for every part of the store.
#pragma once

#include <string_view>

#include <rocksdb/status.h>

#include "cairn/status.h"

namespace cairn {

// Converts a RocksDB status into cairn's, naming `what` was being done.
Status FromRocks(const rocksdb::Status& s, std::string_view what);

}  // namespace cairn
