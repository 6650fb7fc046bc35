// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Reads against a limit (bounded_read.h).
#include "textio/bounded_read.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

namespace cairn::textio {

Result<std::string> ReadAtMost(std::istream& in, std::size_t limit, std::string_view what) {
  std::string out;
  char chunk[65536];
  while (in) {
    in.read(chunk, sizeof(chunk));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (out.size() + got > limit)
      return Status::InvalidArgument(fmt::format(
          "{} is over the limit of {} bytes (refused before reading the rest)", what, limit));
    out.append(chunk, got);
  }
  if (in.bad()) return Status::IOError(fmt::format("reading {} failed", what));
  return out;
}

Result<std::string> ReadFileAtMost(const std::string& path, std::size_t limit,
                                   std::string_view what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return Status::InvalidArgument(fmt::format("{} {} is a directory, not a file", what, path));
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Status::InvalidArgument(
        fmt::format("cannot read {} {}: {}", what, path, std::strerror(errno)));
  return ReadAtMost(in, limit, fmt::format("{} {}", what, path));
}

}  // namespace cairn::textio
