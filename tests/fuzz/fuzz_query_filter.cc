// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `cairn query` options and the payloads they are matched against: --since/--until times,
// --where paths. Input: NUL-separated fields "since\0until\0where\0payload".
#include <cstdint>
#include <string>
#include <vector>

#include "filter.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> fields(4);
  std::size_t f = 0;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0 && f < 3) {
      ++f;
      continue;
    }
    fields[f].push_back(static_cast<char>(data[i]));
  }
  cairn::tool::EventFilterArgs args;
  args.since = fields[0];
  args.until = fields[1];
  if (!fields[2].empty()) args.where.push_back(fields[2]);
  auto filter = cairn::tool::MakeFilter(args);
  if (filter.ok()) {
    cairn::RecordedEvent e;
    e.stream = "order-1";
    e.type = "OrderPlaced";
    e.content_type = "application/json";
    e.payload = fields[3];
    e.timestamp_us = 1700000000000000;
    (void)filter->Matches(e);
  }
  return 0;
}
