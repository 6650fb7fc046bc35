// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Reads RocksDB's write-ahead log files record by record, the way RocksDB's own recovery does,
// to say *where* a log is damaged — RocksDB's recovery error names neither file nor offset.
// Only reads; knows the record framing (32 KiB blocks, 7- or 11-byte headers, masked
// CRC-32C), not the write batches inside. Used when an open fails and by Store::Repair.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cairn::store {

struct WalDamage {
  std::string file;               // path of the damaged log file
  std::uint64_t offset = 0;       // byte offset of the first record that fails its checks
  std::string what;               // "checksum mismatch", "bad record length", ...
  std::uint64_t bytes_after = 0;  // bytes from `offset` to the end of the last log file
};

// The first damage in the store directory's *.log files (in log-number order), or nullopt
// when every file holds whole records followed at most by a torn last record — what a crash
// leaves — or preallocated zeros.
std::optional<WalDamage> FindWalDamage(const std::string& store_dir);

}  // namespace cairn::store
