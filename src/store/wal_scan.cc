// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Naming write-ahead log damage: which file, at which offset, what follows (wal_scan.h).
#include "store/wal_scan.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "codec/crc32c.h"

namespace cairn::store {
namespace {

namespace fs = std::filesystem;

// RocksDB's log format (db/log_format.h): the file is a sequence of 32 KiB blocks; a record
// never crosses a block; a block tail shorter than a header is zero padding.
constexpr std::size_t kBlockSize = 32768;
constexpr std::size_t kHeaderSize = 7;             // crc32c (4), length (2), type (1)
constexpr std::size_t kRecyclableHeaderSize = 11;  // ... and the log number (4)
enum RecordType : std::uint8_t {
  kZeroType = 0,
  kFullType = 1,
  kLastType = 4,
  kRecyclableFullType = 5,
  kRecyclableLastType = 8,
  kSetCompressionType = 9,
  kMaxKnownType = 10,
};

std::uint32_t Unmask(std::uint32_t masked) {
  const std::uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

std::uint32_t Le32(const unsigned char* p) {
  return p[0] | p[1] << 8 | p[2] << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

bool AllZero(const std::string& bytes, std::size_t from) {
  return std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.end(),
                     [](char c) { return c == 0; });
}

// The offset and kind of the first damaged record in `bytes`, or nullopt.
std::optional<std::pair<std::uint64_t, std::string>> ScanOne(const std::string& bytes) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::size_t block_left = kBlockSize - at % kBlockSize;
    if (block_left < kHeaderSize) {  // trailer padding
      at += block_left;
      continue;
    }
    if (bytes.size() - at < kHeaderSize) return std::nullopt;  // a torn header at the end
    const auto* h = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    const std::size_t length = h[4] | h[5] << 8;
    const std::uint8_t type = h[6];
    if (type == kZeroType && length == 0) {
      // Preallocated or padded space: RocksDB skips the rest of the block.
      if (AllZero(bytes, at)) return std::nullopt;
      at += block_left;
      continue;
    }
    if (type > kMaxKnownType) return std::make_pair(at, std::string("unknown record type"));
    const bool recyclable = type >= kRecyclableFullType && type <= kRecyclableLastType;
    const std::size_t header = recyclable ? kRecyclableHeaderSize : kHeaderSize;
    if (header + length > block_left) {
      // Past the end of the file it is the record a crash cut short; inside, damage.
      if (at + header + length > bytes.size()) return std::nullopt;
      return std::make_pair(at, std::string("bad record length"));
    }
    if (at + header + length > bytes.size()) return std::nullopt;  // torn last record
    // The checksum covers the type byte, the log number (recyclable records) and the payload.
    const std::uint32_t want = Unmask(Le32(h));
    const std::uint32_t got = codec::Crc32c(h + 6, header - 6 + length);
    if (want != got) {
      // A torn last record may hold garbage only if nothing valid follows it; RocksDB's
      // recovery refuses that too, so it is reported: the repair command decides.
      return std::make_pair(at, std::string("checksum mismatch"));
    }
    at += header + length;
  }
  return std::nullopt;
}

std::uint64_t LogNumber(const fs::path& p) {
  try {
    return std::stoull(p.stem().string());
  } catch (...) {
    return 0;
  }
}

}  // namespace

std::optional<WalDamage> FindWalDamage(const std::string& store_dir) {
  std::error_code ec;
  std::vector<fs::path> logs;
  for (const auto& entry : fs::directory_iterator(store_dir, ec))
    if (entry.path().extension() == ".log" && entry.is_regular_file(ec))
      logs.push_back(entry.path());
  std::sort(logs.begin(), logs.end(),
            [](const fs::path& a, const fs::path& b) { return LogNumber(a) < LogNumber(b); });
  for (std::size_t i = 0; i < logs.size(); ++i) {
    std::ifstream in(logs[i], std::ios::binary);
    if (!in) {
      return WalDamage{logs[i].string(), 0, "cannot be read", 0};
    }
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (auto bad = ScanOne(bytes)) {
      WalDamage d{logs[i].string(), bad->first, bad->second, bytes.size() - bad->first};
      for (std::size_t j = i + 1; j < logs.size(); ++j) d.bytes_after += fs::file_size(logs[j], ec);
      return d;
    }
  }
  return std::nullopt;
}

}  // namespace cairn::store
