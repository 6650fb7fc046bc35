// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// CRC-32C (Castagnoli) of a byte range: the checksum in every stored value's header
// (docs/format.md, "Value header").
#pragma once

#include <cstddef>
#include <cstdint>

namespace cairn::codec {

// CRC-32C (Castagnoli), as used by iSCSI, ext4 and Kafka record batches. Uses the SSE4.2
// instruction when the CPU has it, a table otherwise; both give the same value.
std::uint32_t Crc32c(const void* data, std::size_t size);

}  // namespace cairn::codec
