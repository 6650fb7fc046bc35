// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The event filters of `query`, `export` and `tail` (filter.h).
#include "filter.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "output.h"
#include "util/saturating.h"

namespace cairn::tool {
namespace {
std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Result<std::chrono::seconds> ParseDuration(std::string_view text, std::string_view option) {
  auto bad = [&] {
    return Status::InvalidArgument(
        fmt::format("{} '{}': expected a duration like 90s, 30m, 2h or 7d", option, text));
  };
  if (text.size() < 2) return bad();
  const char unit = text.back();
  const std::string_view digits = text.substr(0, text.size() - 1);
  const std::int64_t unit_s = unit == 's'   ? 1
                              : unit == 'm' ? 60
                              : unit == 'h' ? 3600
                              : unit == 'd' ? 86400
                                            : 0;
  if (unit_s == 0 || digits.find_first_not_of("0123456789") != std::string_view::npos) return bad();
  // Every duration is used in microseconds somewhere (a cut-off, a deadline): the longest
  // one taken is what an int64 of microseconds holds, ~292,000 years. Past it is refused,
  // never wrapped (a wrapped audit window once let retention remove what it should keep).
  constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1000000;
  std::int64_t count = 0;
  std::int64_t seconds = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (error != std::errc() || end != digits.data() + digits.size() ||
      __builtin_mul_overflow(count, unit_s, &seconds) || seconds > kMaxSeconds)
    return Status::InvalidArgument(
        fmt::format("{} '{}': longer than the longest duration cairn takes, {}d ({}s)", option,
                    text, kMaxSeconds / 86400, kMaxSeconds));
  return std::chrono::seconds(seconds);
}

// RFC 3339 ("2026-11-27T10:00:00Z", "2026-11-27T10:00:00.5+01:00", "2026-11-27") or a
// duration before now ("90s", "30m", "2h", "7d").
Result<std::int64_t> ParseTime(const std::string& text, std::string_view option) {
  auto bad = [&] {
    return Status::InvalidArgument(fmt::format(
        "{} '{}': expected RFC 3339 (2026-11-27T10:00:00Z) or a duration like 2h, 30m, 7d", option,
        text));
  };
  if (text.empty()) return bad();
  if (auto ago = ParseDuration(text, option); ago.ok())
    return internal::CutoffBefore(NowMicros(), *ago);
  std::tm tm{};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &consumed) != 3 || consumed != 10)
    return bad();
  std::size_t i = 10;
  std::int64_t frac_us = 0, offset_s = 0;
  if (i < text.size()) {
    if (text[i] != 'T' && text[i] != 't' && text[i] != ' ') return bad();
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &consumed) != 3 ||
        consumed != 8)
      return bad();
    i += 9;
    if (i < text.size() && text[i] == '.') {
      std::int64_t scale = 100000;
      for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
        frac_us += (text[i] - '0') * scale;
        scale /= 10;
      }
    }
    if (i == text.size()) return bad();  // a time needs a zone
    if (text[i] == 'Z' || text[i] == 'z') {
      ++i;
    } else if (text[i] == '+' || text[i] == '-') {
      int oh, om;
      if (std::sscanf(text.c_str() + i + 1, "%2d:%2d%n", &oh, &om, &consumed) != 2 || consumed != 5)
        return bad();
      offset_s = (oh * 3600 + om * 60) * (text[i] == '+' ? 1 : -1);
      i += 6;
    }
    if (i != text.size()) return bad();
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return bad();
  return (static_cast<std::int64_t>(timegm(&tm)) - offset_s) * 1000000 + frac_us;
}

Result<Filter> MakeFilter(const EventFilterArgs& a) {
  Filter f;
  f.selector.types = a.types;
  f.selector.stream = a.stream;
  f.selector.category = a.category;
  if (!a.since.empty()) {
    auto t = ParseTime(a.since, "--since");
    if (!t.ok()) return t.status();
    f.since_us = *t;
  }
  if (!a.until.empty()) {
    auto t = ParseTime(a.until, "--until");
    if (!t.ok()) return t.status();
    f.until_us = *t;
  }
  if (f.since_us > f.until_us)
    return Status::InvalidArgument("--since is after --until: nothing can match");
  if (a.from_position == 0) return Status::InvalidArgument("--from-position starts at 1");
  if (a.to_position < a.from_position)
    return Status::InvalidArgument("--to-position is before --from-position");
  f.from_position = a.from_position;
  f.to_position = a.to_position;
  for (const std::string& w : a.where) {
    const auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::InvalidArgument(fmt::format("--where '{}': expected path=value", w));
    std::vector<std::string> parts;
    std::string path = w.substr(0, eq);
    for (std::size_t i = 0; i <= path.size();) {
      const std::size_t dot = std::min(path.find('.', i), path.size());
      if (dot == i)
        return Status::InvalidArgument(fmt::format("--where '{}': empty path segment", w));
      parts.push_back(path.substr(i, dot - i));
      i = dot + 1;
    }
    f.where.emplace_back(std::move(parts), w.substr(eq + 1));
  }
  f.limit = a.limit;
  return f;
}

bool Filter::Matches(const RecordedEvent& e) const {
  if (!selector.Matches(e)) return false;
  if (e.timestamp_us < since_us || e.timestamp_us > until_us) return false;
  if (where.empty()) return true;
  if (!IsJsonContentType(e.content_type)) return false;
  const nlohmann::json j = nlohmann::json::parse(e.payload, nullptr, false);
  if (j.is_discarded()) return false;
  for (const auto& [path, value] : where) {
    const nlohmann::json* node = &j;
    for (const std::string& part : path) {
      if (!node->is_object()) return false;
      auto it = node->find(part);
      if (it == node->end()) return false;
      node = &*it;
    }
    const std::string text = node->is_string() ? node->get<std::string>() : node->dump();
    if (text != value) return false;
  }
  return true;
}

}  // namespace cairn::tool
