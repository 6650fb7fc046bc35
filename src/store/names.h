// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The rule for names a caller gives the store — stream ids and event types: 1 to max bytes of
// printable, well-formed UTF-8. They end up in the tool's output, logs, JSON, Kafka headers
// that Java reads as strings, and the file names of exports.
#pragma once

#include <cstddef>
#include <string_view>

#include "cairn/status.h"

namespace cairn::store {

// kInvalidArgument naming `what` ("stream id", "event type") unless `value` is 1..max bytes
// without control bytes and of valid UTF-8.
Status CheckName(std::string_view what, std::string_view value, std::size_t max);
// The offset of the first control byte (below 0x20, or 0x7F) of `s`, or npos.
std::size_t FindControlByte(std::string_view s);
// The offset of the first byte that does not belong to well-formed UTF-8, or npos.
std::size_t FindInvalidUtf8(std::string_view s);

}  // namespace cairn::store
