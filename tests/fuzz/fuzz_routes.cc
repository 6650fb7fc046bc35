// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Routes files come from operators: errors name a line, nothing crashes, and an accepted file
// gives rules with a pattern and a topic.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "ship/routing.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string default_topic;
  auto r = cairn::ship::ParseRoutes(std::string_view(reinterpret_cast<const char*>(data), size),
                                    &default_topic);
  if (r.ok()) {
    for (const auto& rule : *r)
      if (rule.topic.empty()) std::abort();
  } else if (r.status().message().empty()) {
    std::abort();
  }
  return 0;
}
