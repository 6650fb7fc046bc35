// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cairn/cairn.h"

namespace cairn::tool {

struct CommonOptions {
  std::string log_level = "warn";
};

struct InfoArgs {
  std::string store;
  std::string format = "text";
};
int RunInfo(const CommonOptions& common, const InfoArgs& args);

struct AppendArgs {
  std::string store;
  std::string stream;
  std::string type;
  std::string expected_version = "any";
  std::string id;
  std::string content_type = "application/json";
  std::string metadata;
  std::optional<std::string> data;
  bool jsonl = false;
  std::string durability = "sync";
  std::string format = "text";
};
int RunAppend(const CommonOptions& common, const AppendArgs& args);

struct ReadArgs {
  std::string store;
  std::string stream;  // empty: the global log
  std::optional<std::uint64_t> from;
  bool backward = false;
  std::uint64_t limit = UINT64_MAX;
  std::string format;  // default: table at a TTY, jsonl otherwise
};
int RunRead(const CommonOptions& common, const ReadArgs& args);

struct DemoArgs {
  std::string store;  // empty: a temporary directory, removed afterwards
  int orders = 20000;
  int threads = 8;
  std::string durability = "sync";
};
int RunDemo(const CommonOptions& common, const DemoArgs& args);

Result<LogLevel> ParseLogLevel(const std::string& name);
Result<Durability> ParseDurability(const std::string& name);

}  // namespace cairn::tool
