// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// CRC-32C (Castagnoli), table-driven: the stored value's checksum (crc32c.h).
#include "codec/crc32c.h"

#include <array>
#include <cstring>

namespace cairn::codec {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

constexpr std::array<std::uint32_t, 256> MakeTable() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = MakeTable();

std::uint32_t SoftwareCrc(std::uint32_t crc, const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) crc = kTable[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t HardwareCrc(std::uint32_t crc,
                                                            const std::uint8_t* p, std::size_t n) {
  std::uint64_t c = crc;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n > 0) {
    c32 = __builtin_ia32_crc32qi(c32, *p++);
    --n;
  }
  return c32;
}
const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

std::uint32_t Crc32c(const void* data, std::size_t size) {
  const auto* p = static_cast<const std::uint8_t*>(data);
#if defined(__x86_64__)
  if (kHaveSse42) return ~HardwareCrc(~0u, p, size);
#endif
  return ~SoftwareCrc(~0u, p, size);
}

}  // namespace cairn::codec
