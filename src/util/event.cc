// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The value types of include/cairn/event.h: EventId (parse, print, UUIDv7 generation),
// ExpectedVersion, HexHash, and the event copies (OwnedEvent).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "cairn/event.h"

namespace cairn {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kHexDigits[] = "0123456789abcdef";

}  // namespace

Result<EventId> EventId::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format("invalid event id '{}': {}", text, why));
  };
  if (text.size() != 36) return bad("expected 36 characters as 8-4-4-4-12 hex digits");
  std::array<std::uint8_t, 16> bytes{};
  std::size_t out = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return bad("expected '-' at offsets 8, 13, 18 and 23");
      ++i;
      continue;
    }
    int hi = HexValue(text[i]);
    int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return bad("not a hex digit");
    bytes[out++] = static_cast<std::uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return EventId(bytes);
}

EventId EventId::Generate() {
  thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }());
  std::array<std::uint8_t, 16> b{};
  const std::uint64_t ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
  const std::uint64_t r1 = rng();
  const std::uint64_t r2 = rng();
  std::memcpy(&b[6], &r1, 2);
  std::memcpy(&b[8], &r2, 8);
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x70);  // version 7
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return EventId(b);
}

bool EventId::is_nil() const {
  for (auto v : bytes_)
    if (v != 0) return false;
  return true;
}

std::string EventId::ToString() const {
  std::string s;
  s.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHexDigits[bytes_[i] >> 4]);
    s.push_back(kHexDigits[bytes_[i] & 0xF]);
  }
  return s;
}

std::string HexHash(const std::array<std::uint8_t, 32>& hash) {
  std::string s;
  s.reserve(64);
  for (auto v : hash) {
    s.push_back(kHexDigits[v >> 4]);
    s.push_back(kHexDigits[v & 0xF]);
  }
  return s;
}

OwnedEvent OwnedEvent::From(const RecordedEvent& e) {
  return OwnedEvent{e.id,
                    std::string(e.stream),
                    e.version,
                    e.position,
                    std::string(e.type),
                    e.timestamp_us,
                    std::string(e.content_type),
                    std::string(e.metadata),
                    std::string(e.payload),
                    e.chain_hash,
                    e.id_from_caller,
                    e.schema_version,
                    std::string(e.traceparent),
                    std::string(e.tracestate)};
}

RecordedEvent OwnedEvent::view() const {
  RecordedEvent e;
  e.id = id;
  e.stream = stream;
  e.version = version;
  e.position = position;
  e.type = type;
  e.timestamp_us = timestamp_us;
  e.content_type = content_type;
  e.metadata = metadata;
  e.payload = payload;
  e.chain_hash = chain_hash;
  e.id_from_caller = id_from_caller;
  e.schema_version = schema_version;
  e.traceparent = traceparent;
  e.tracestate = tracestate;
  return e;
}

Result<ExpectedVersion> ExpectedVersion::Parse(std::string_view text) {
  if (text == "any") return Any();
  if (text == "no-stream") return NoStream();
  if (text == "exists") return StreamExists();
  if (text.empty() || text.size() > 20)
    return Status::InvalidArgument(fmt::format(
        "invalid expected version '{}': use a number, 'any', 'no-stream' or 'exists'", text));
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10)
      return Status::InvalidArgument(fmt::format(
          "invalid expected version '{}': use a number, 'any', 'no-stream' or 'exists'", text));
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return Exact(v);
}

bool ExpectedVersion::Matches(std::uint64_t actual) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kNoStream:
      return actual == 0;
    case Kind::kStreamExists:
      return actual > 0;
    case Kind::kExact:
      return actual == version_;
  }
  return false;
}

std::string ExpectedVersion::ToString() const {
  switch (kind_) {
    case Kind::kAny:
      return "any";
    case Kind::kNoStream:
      return "no-stream";
    case Kind::kStreamExists:
      return "exists";
    case Kind::kExact:
      return std::to_string(version_);
  }
  return "?";
}

bool EventSelector::Matches(const RecordedEvent& e) const {
  if (!stream.empty() && e.stream != stream) return false;
  if (!category.empty() && StreamCategory(e.stream) != category) return false;
  return types.empty() || std::find(types.begin(), types.end(), e.type) != types.end();
}

}  // namespace cairn
