// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// client.properties files come from operators: the parser must report errors, never crash,
// and every key it returns is non-empty.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cairn/shipper.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r =
      cairn::ParseClientProperties(std::string_view(reinterpret_cast<const char*>(data), size));
  if (r.ok())
    for (const auto& [key, value] : *r)
      if (key.empty()) std::abort();
  return 0;
}
