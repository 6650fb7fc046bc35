// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Keys and index values read from disk: stream index keys, type index keys, log keys, and the
// index runs' values (format version 3). Decoding must never crash, and what decodes must be
// the encoding of what it decoded to (a run never reaching past the last position).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "store/keys.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view key(reinterpret_cast<const char*>(data), size);
  std::string_view stream;
  std::uint64_t version = 0;
  if (cairn::store::DecodeStreamKey(key, &stream, &version)) {
    if (cairn::store::StreamKey(stream, version) != key) std::abort();
    if (cairn::store::StreamKeyLimit(stream) <= key) std::abort();
  }
  std::uint64_t position = 0;
  if (cairn::store::DecodePositionKey(key, &position) && cairn::store::PositionKey(position) != key)
    std::abort();
  std::string_view type;
  if (cairn::store::DecodeTypeKey(key, &type, &position)) {
    std::string again;
    cairn::store::AppendTypeKey(type, position, &again);
    if (again != key) std::abort();
  }
  std::uint64_t count = 0;
  if (cairn::store::DecodeStreamRunValue(key, &position, &count)) {
    std::string again;
    cairn::store::AppendStreamRunValue(position, count, &again);
    if (again != key || count == 0 || position > UINT64_MAX - count) std::abort();
  }
  if (cairn::store::DecodeTypeRunValue(key, &count)) {
    std::string again;
    cairn::store::AppendTypeRunValue(count, &again);
    if (again != key || count == 0) std::abort();
  }
  if (size <= 8) {
    std::string le;
    const std::uint64_t v = cairn::store::GetLittleEndian(key);
    cairn::store::PutLittleEndian(v, static_cast<int>(size), &le);
    if (le != key) std::abort();
  }
  return 0;
}
