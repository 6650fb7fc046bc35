// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// cairn's loggers: spdlog underneath, the user's LogSink and level on top, never a
// third-party type in the public API.
#pragma once

#include <memory>

#include <spdlog/logger.h>

#include "cairn/options.h"

namespace cairn::internal {

// A logger for one store: forwards to the host's LogSink when set, else to stderr. Each store
// has its own (not registered globally) so two stores in one process never share settings.
std::shared_ptr<spdlog::logger> MakeLogger(const LogSink& sink, LogLevel level);

}  // namespace cairn::internal
