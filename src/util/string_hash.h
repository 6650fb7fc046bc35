// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Transparent string hashing: unordered maps keyed by std::string probed with a
// std::string_view, without allocating.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace cairn::internal {

// Lets unordered containers keyed by std::string be probed with a string_view without
// building a std::string (use with std::equal_to<>).
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>()(s);
  }
};

}  // namespace cairn::internal
