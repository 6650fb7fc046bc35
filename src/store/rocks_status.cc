// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// See rocks_status.h.
#include "store/rocks_status.h"

#include <string>
#include <utility>

#include <fmt/format.h>

namespace cairn {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = fmt::format("{}: {}", what, s.ToString());
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(msg));
  if (s.IsNotSupported()) return Status::NotSupported(std::move(msg));
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return Status::Busy(std::move(msg));
  if (s.IsShutdownInProgress()) return Status::Cancelled(std::move(msg));
  // ENOSPC clears when space is freed; other I/O errors need an operator.
  return s.IsNoSpace() ? Status::TransientIOError(std::move(msg)) : Status::IOError(std::move(msg));
}

}  // namespace cairn
