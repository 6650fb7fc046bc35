// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// W3C Trace Context level 1 (https://www.w3.org/TR/trace-context/), the checks of
// ValidateTraceContext (include/cairn/event.h). cairn stores and forwards trace context; it
// never parses it for meaning, so the checks are the grammar's and nothing more. Every error
// names the rule, because the value usually comes from a tracing library the caller did not
// write.
#include <array>
#include <cstddef>
#include <string>

#include <fmt/format.h>

#include "cairn/event.h"

namespace cairn {
namespace {

constexpr std::size_t kTraceparentVersion00Length = 55;  // 2+1+32+1+16+1+2
// A later version may add fields; this bounds what cairn stores for one.
constexpr std::size_t kMaxTraceparentBytes = 512;
constexpr std::size_t kMaxTracestateMembers = 32;
constexpr std::size_t kMaxSimpleKeyLength = 256;
constexpr std::size_t kMaxTenantIdLength = 241;
constexpr std::size_t kMaxSystemIdLength = 14;
constexpr std::size_t kMaxValueLength = 256;

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool IsLowerAlpha(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsKeyChar(char c) {
  return IsLowerAlpha(c) || IsDigit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}
// nblk-chr: printable ASCII except ',' and '=' and space.
bool IsValueNonBlank(char c) { return c >= 0x21 && c <= 0x7e && c != ',' && c != '='; }
bool IsOws(char c) { return c == ' ' || c == '\t'; }

// Printable for an error message: the value cut short, control bytes escaped.
std::string Shown(std::string_view v) {
  constexpr std::size_t kShown = 80;
  std::string out;
  for (char c : v.substr(0, kShown)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f)
      out += fmt::format("\\x{:02x}", u);
    else
      out += c;
  }
  if (v.size() > kShown) out += "...";
  return out;
}

// Whether [begin, end) of `v` is lowercase hex, and not all zeros when `nonzero`.
bool HexField(std::string_view v, std::size_t begin, std::size_t end, bool nonzero) {
  bool any_nonzero = false;
  for (std::size_t i = begin; i < end; ++i) {
    if (!IsLowerHex(v[i])) return false;
    any_nonzero = any_nonzero || v[i] != '0';
  }
  return !nonzero || any_nonzero;
}

Status CheckTraceparent(std::string_view v) {
  auto bad = [&](std::string_view rule) {
    return Status::InvalidArgument(
        fmt::format("traceparent '{}' is not W3C Trace Context: {}", Shown(v), rule));
  };
  if (v.size() < kTraceparentVersion00Length)
    return bad(fmt::format("it is {} characters; version-traceId-parentId-flags is 55", v.size()));
  if (v.size() > kMaxTraceparentBytes)
    return bad(fmt::format("it is {} characters, over cairn's limit of {}", v.size(),
                           kMaxTraceparentBytes));
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0x21 || v[i] > 0x7e)
      return bad(fmt::format("character {} is not printable ASCII", i + 1));
    if (i < kTraceparentVersion00Length && v[i] >= 'A' && v[i] <= 'F')
      return bad(fmt::format("upper-case hex at character {} (hex digits are lowercase)", i + 1));
  }
  if (!HexField(v, 0, 2, false)) return bad("the version is not two hex digits");
  if (v.substr(0, 2) == "ff") return bad("version ff is forbidden");
  if (v[2] != '-' || v[35] != '-' || v[52] != '-')
    return bad(
        "expected '-' after the version, the trace id and the parent id "
        "(characters 3, 36 and 53)");
  if (!HexField(v, 3, 35, false)) return bad("the trace id is not 32 hex digits");
  if (!HexField(v, 3, 35, true)) return bad("the trace id is all zeros");
  if (!HexField(v, 36, 52, false)) return bad("the parent id is not 16 hex digits");
  if (!HexField(v, 36, 52, true)) return bad("the parent id is all zeros");
  if (!HexField(v, 53, 55, false)) return bad("the flags are not two hex digits");
  if (v.substr(0, 2) == "00") {
    if (v.size() != kTraceparentVersion00Length)
      return bad(fmt::format("version 00 is exactly 55 characters, not {}", v.size()));
  } else if (v.size() > kTraceparentVersion00Length && v[kTraceparentVersion00Length] != '-') {
    // A later version may append fields, each after a '-' (level 1, "Versioning of
    // traceparent"); its first 55 characters read as version 00.
    return bad("a later version's extra fields must follow a '-' at character 56");
  }
  return Status::Ok();
}

Status CheckTracestateKey(std::string_view key, std::string_view member) {
  auto bad = [&](std::string_view rule) {
    return Status::InvalidArgument(fmt::format(
        "tracestate member '{}' is not W3C Trace Context: its key {}", Shown(member), rule));
  };
  if (key.empty()) return bad("is empty");
  const std::size_t at = key.find('@');
  if (at == std::string_view::npos) {
    if (!IsLowerAlpha(key[0])) return bad("must start with a lowercase letter");
    if (key.size() > kMaxSimpleKeyLength)
      return bad(fmt::format("is longer than {} characters", kMaxSimpleKeyLength));
    for (char c : key)
      if (!IsKeyChar(c)) return bad("has a character other than a-z 0-9 _ - * /");
    return Status::Ok();
  }
  const std::string_view tenant = key.substr(0, at);
  const std::string_view system = key.substr(at + 1);
  if (tenant.empty() || system.empty()) return bad("has an empty tenant or system around '@'");
  if (!IsLowerAlpha(tenant[0]) && !IsDigit(tenant[0]))
    return bad("must start with a lowercase letter or digit");
  if (tenant.size() > kMaxTenantIdLength)
    return bad(fmt::format("has a tenant id longer than {} characters", kMaxTenantIdLength));
  if (!IsLowerAlpha(system[0])) return bad("has a system id not starting with a lowercase letter");
  if (system.size() > kMaxSystemIdLength)
    return bad(fmt::format("has a system id longer than {} characters", kMaxSystemIdLength));
  for (char c : tenant)
    if (!IsKeyChar(c)) return bad("has a character other than a-z 0-9 _ - * / and one '@'");
  for (char c : system)
    if (!IsKeyChar(c)) return bad("has a character other than a-z 0-9 _ - * / and one '@'");
  return Status::Ok();
}

Status CheckTracestate(std::string_view v) {
  if (v.size() > kMaxTracestateBytes)
    return Status::InvalidArgument(
        fmt::format("tracestate is {} bytes, over the {} W3C Trace Context asks every system to "
                    "carry (cairn::kMaxTracestateBytes)",
                    v.size(), kMaxTracestateBytes));
  // Checked on every traced append: no allocation (at most 32 keys to compare).
  std::array<std::string_view, kMaxTracestateMembers> keys;
  std::size_t key_count = 0;
  std::size_t start = 0;
  while (start <= v.size()) {
    const std::size_t comma = std::min(v.find(',', start), v.size());
    std::string_view member = v.substr(start, comma - start);
    start = comma + 1;
    while (!member.empty() && IsOws(member.front())) member.remove_prefix(1);
    while (!member.empty() && IsOws(member.back())) member.remove_suffix(1);
    if (member.empty()) continue;  // blank list members are allowed
    const std::size_t eq = member.find('=');
    if (eq == std::string_view::npos)
      return Status::InvalidArgument(fmt::format(
          "tracestate member '{}' is not W3C Trace Context: expected key=value", Shown(member)));
    const std::string_view key = member.substr(0, eq);
    const std::string_view value = member.substr(eq + 1);
    if (Status s = CheckTracestateKey(key, member); !s.ok()) return s;
    auto bad_value = [&](std::string_view rule) {
      return Status::InvalidArgument(fmt::format(
          "tracestate member '{}' is not W3C Trace Context: its value {}", Shown(member), rule));
    };
    if (value.empty()) return bad_value("is empty");
    if (value.size() > kMaxValueLength)
      return bad_value(fmt::format("is longer than {} characters", kMaxValueLength));
    for (char c : value)
      if (c != ' ' && !IsValueNonBlank(c))
        return bad_value("has a character that is not printable ASCII, or is ',' or '='");
    for (std::size_t k = 0; k < key_count; ++k)
      if (keys[k] == key)
        return Status::InvalidArgument(
            fmt::format("tracestate is not W3C Trace Context: key '{}' appears twice", Shown(key)));
    if (key_count == kMaxTracestateMembers)
      return Status::InvalidArgument(fmt::format(
          "tracestate is not W3C Trace Context: more than {} members", kMaxTracestateMembers));
    keys[key_count++] = key;
  }
  return Status::Ok();
}

}  // namespace

Status ValidateTraceContext(std::string_view traceparent, std::string_view tracestate) {
  if (traceparent.empty()) {
    if (!tracestate.empty())
      return Status::InvalidArgument(
          "tracestate without a traceparent (W3C Trace Context: tracestate only travels with "
          "the traceparent it belongs to)");
    return Status::Ok();
  }
  if (Status s = CheckTraceparent(traceparent); !s.ok()) return s;
  return CheckTracestate(tracestate);
}

}  // namespace cairn
