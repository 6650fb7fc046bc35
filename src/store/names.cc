// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The stream id and event type rule (names.h).
#include "store/names.h"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

namespace cairn::store {

// Stream ids and types are printed in tools, logs and Kafka headers: keep them to printable
// text. Returns the offset of the first control byte, or npos.
std::size_t FindControlByte(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return i;
  }
  return std::string_view::npos;
}

// The offset of the first byte that does not belong to well-formed UTF-8 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or npos. Ids and types go into
// JSON output, Kafka headers that Java reads as strings, and file names of exports.
std::size_t FindInvalidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
    } else
      return i;
    if (i + n > s.size()) return i;
    for (std::size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = cp << 6 | (cc & 0x3F);
    }
    const bool overlong =
        (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n;
  }
  return std::string_view::npos;
}

Status CheckName(std::string_view what, std::string_view value, std::size_t max) {
  if (value.empty()) return Status::InvalidArgument(fmt::format("{} is empty", what));
  if (value.size() > max)
    return Status::InvalidArgument(
        fmt::format("{} is {} bytes, over the limit of {}", what, value.size(), max));
  if (auto at = FindControlByte(value); at != std::string_view::npos)
    return Status::InvalidArgument(fmt::format("{} '{}' has a control character at byte {}", what,
                                               value.substr(0, std::min<std::size_t>(at, 64)), at));
  if (auto at = FindInvalidUtf8(value); at != std::string_view::npos)
    return Status::InvalidArgument(fmt::format("{} '{}' is not valid UTF-8 at byte {}", what,
                                               value.substr(0, std::min<std::size_t>(at, 64)), at));
  return Status::Ok();
}

}  // namespace cairn::store
