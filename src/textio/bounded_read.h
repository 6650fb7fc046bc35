// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Input read against its limit as it arrives (issue #24): `head -c 2G /dev/zero | cairn
// append` read all 2 GiB (4.2 GB of memory) before refusing it, and a config file given as
// /dev/zero grew without end. Shared by the tool and the gateway (its token file).
#pragma once

#include <cstddef>
#include <istream>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::textio {

// Over `limit` bytes is kInvalidArgument naming `what`, after reading limit + 1 bytes at most.
Result<std::string> ReadAtMost(std::istream& in, std::size_t limit, std::string_view what);
Result<std::string> ReadFileAtMost(const std::string& path, std::size_t limit,
                                   std::string_view what);
// The most a configuration file (client properties, routes, tokens) may hold: 1 MiB.
inline constexpr std::size_t kMaxConfigFileBytes = 1 << 20;

}  // namespace cairn::textio
