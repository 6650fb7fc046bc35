// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Keys read from disk: stream index keys and log keys. Decoding must never crash, and a key
// that decodes must be the encoding of what it decoded to.
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
  if (size <= 8) {
    std::string le;
    const std::uint64_t v = cairn::store::GetLittleEndian(key);
    cairn::store::PutLittleEndian(v, static_cast<int>(size), &le);
    if (le != key) std::abort();
  }
  return 0;
}
