// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Status and StatusCode names and text (include/cairn/status.h).
#include "cairn/status.h"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace cairn {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kAlreadyExists:
      return "already_exists";
    case StatusCode::kWrongExpectedVersion:
      return "wrong_expected_version";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kIOError:
      return "io_error";
    case StatusCode::kBusy:
      return "busy";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kNotSupported:
      return "not_supported";
    case StatusCode::kInternal:
      return "internal";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kTimedOut:
      return "timed_out";
  }
  return "unknown";
}

Status Status::WrongExpectedVersion(std::string_view stream, std::string expected,
                                    std::uint64_t actual) {
  Status s(StatusCode::kWrongExpectedVersion,
           fmt::format("stream '{}' expected version {}, actual {}", stream, expected,
                       actual == 0 ? std::string("0 (no stream)") : std::to_string(actual)));
  s.conflict_ = VersionConflict{std::string(stream), std::move(expected), actual};
  return s;
}

bool Status::IsRetryable() const {
  switch (code_) {
    case StatusCode::kBusy:
    case StatusCode::kUnavailable:
    case StatusCode::kTimedOut:
    case StatusCode::kResourceExhausted:
      return true;
    case StatusCode::kIOError:
      return retryable_io_;
    default:
      return false;
  }
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return fmt::format("{}: {}", StatusCodeName(code_), message_);
}

namespace internal {

void DieOnErrorValue(const Status& status) {
  std::fprintf(stderr, "cairn: Result::value() on an error (check ok() first): %s\n",
               status.ToString().c_str());
  std::abort();
}

}  // namespace internal

}  // namespace cairn
