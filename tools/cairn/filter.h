// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The event filters of `cairn query`, `export` and `tail`: parsing the options (times,
// --where paths) and matching events. Apart from the commands so the parsers can be fuzzed
// (tests/fuzz/).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/event.h"
#include "cairn/status.h"
#include "commands.h"

namespace cairn::tool {

// RFC 3339 ("2026-11-27T10:00:00Z", "2026-11-27T10:00:00.5+01:00", "2026-11-27") or a
// duration before now ("90s", "30m", "2h", "7d"), as microseconds since the Unix epoch.
Result<std::int64_t> ParseTime(const std::string& text, std::string_view option);

struct Filter {
  EventSelector selector;  // --stream, --category, --type
  std::int64_t since_us = INT64_MIN, until_us = INT64_MAX;
  std::uint64_t from_position = 1, to_position = UINT64_MAX;
  std::vector<std::pair<std::vector<std::string>, std::string>> where;  // path parts, value
  std::uint64_t limit = UINT64_MAX;

  // Whether `e` passes every filter that is set (--where needs a JSON payload).
  bool Matches(const RecordedEvent& e) const;
};

Result<Filter> MakeFilter(const EventFilterArgs& args);

}  // namespace cairn::tool
