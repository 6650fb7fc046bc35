// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The stored form of an event (docs/format.md, "Event value"): an 8-byte header (value format,
// CRC-32C of the rest) followed by a FlatBuffers EventEnvelope (schemas/event.fbs).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/event.h"
#include "cairn/status.h"

namespace flatbuffers {
class FlatBufferBuilder;
}

namespace cairn::codec {

inline constexpr std::uint8_t kValueFormatV1 = 1;
// A removed event (format version 2): what retention leaves at a position in the middle of
// the log, so positions stay dense and the chain verifies across the gap.
inline constexpr std::uint8_t kValueFormatRemoved = 2;
inline constexpr std::size_t kValueHeaderBytes = 8;
inline constexpr std::uint32_t kFlagIdFromCaller = 1u << 0;

// Appends the stored value for `fields` (every field of the event, chain hash included) to
// `out`. `fbb` is scratch space reused across calls.
void EncodeEvent(const RecordedEvent& fields, flatbuffers::FlatBufferBuilder* fbb,
                 std::string* out);

// Checks the header, the CRC and the FlatBuffers structure of `value`, then points `event`'s
// views into `value`, or into `scratch` when the envelope had to be copied for alignment.
// Any failure is kCorruption naming what was wrong; `value` may be arbitrary bytes.
Status DecodeEvent(std::string_view value, std::string* scratch, RecordedEvent* event);

// What a removed event keeps: enough to continue the chain and the stream's version sequence.
struct RemovedEvent {
  std::uint64_t position = 0;
  std::uint64_t version = 0;
  std::int64_t timestamp_us = 0;
  std::array<std::uint8_t, 32> chain_hash{};
  std::string_view stream;
};

inline bool IsRemovedValue(std::string_view value) {
  return !value.empty() && static_cast<std::uint8_t>(value[0]) == kValueFormatRemoved;
}
void EncodeRemoved(const RemovedEvent& removed, std::string* out);
// kCorruption naming what was wrong; `value` may be arbitrary bytes. `removed->stream` points
// into `value`.
Status DecodeRemoved(std::string_view value, RemovedEvent* removed);

// What the chain needs of any log value, event or removed-event marker: its position,
// timestamp and chain hash (opening a store, anchoring verification).
struct ChainLink {
  std::uint64_t position = 0;
  std::int64_t timestamp_us = 0;
  std::array<std::uint8_t, 32> chain_hash{};
};
Status DecodeChainLink(std::string_view value, std::string* scratch, ChainLink* link);

}  // namespace cairn::codec
