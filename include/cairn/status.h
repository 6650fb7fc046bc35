// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Errors as values. Every fallible cairn call returns a Status or a Result<T>; no exception
// crosses the API. The code tells a caller what to do next (see StatusCode), the message tells
// a human what was wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace cairn {

// Persisted nowhere; values may be added but existing ones keep their meaning.
enum class StatusCode : std::uint8_t {
  kOk = 0,
  // The caller passed something cairn will never accept (empty stream id, oversized payload,
  // unknown option). Do not retry the same call.
  kInvalidArgument = 1,
  // The stream, event or store asked for does not exist.
  kNotFound = 2,
  // An event id is already stored with different content, or a store already exists where
  // a new one was demanded. Do not retry.
  kAlreadyExists = 3,
  // Optimistic concurrency failed: the stream's version was not the expected one. Re-read the
  // stream, re-decide, and append again (a read-modify-write retry). The Status carries the
  // expected and actual versions.
  kWrongExpectedVersion = 4,
  // Stored or received bytes failed verification (envelope, checksum, index, chain). Never
  // retry: the data needs an operator.
  kCorruption = 5,
  // The operating system or storage engine failed (EIO, ENOSPC, ...). May succeed later once
  // the cause is fixed; IsRetryable() says whether an immediate retry makes sense.
  kIOError = 6,
  // The store is held by another writer (its lock is taken). Retry after the owner closes it.
  kBusy = 7,
  // The store is not in a state for this call: opened read-only, written by a newer format,
  // closed, not a cairn store. Do not retry without changing something.
  kFailedPrecondition = 8,
  // A quota or limit was reached (backlog quota, too many events). Retry later.
  kResourceExhausted = 9,
  // A dependency (the Kafka cluster) is unreachable right now. Retry the call.
  kUnavailable = 10,
  // The call is valid but this build does not implement it.
  kNotSupported = 11,
  // A bug in cairn or an impossible state; report it.
  kInternal = 12,
  // The operation was cancelled or the store is shutting down.
  kCancelled = 13,
  // A wait ended before what was waited for happened (WaitUntilShipped). Wait again.
  kTimedOut = 14,
};

// A stable, lowercase name for `code` ("wrong_expected_version"), used in logs and JSON output.
std::string_view StatusCodeName(StatusCode code);

// The outcome of an operation. Cheap to copy when OK. Thread-compatible: a Status is a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) {
    return {StatusCode::kAlreadyExists, std::move(msg)};
  }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  // An I/O error that repeating the call may clear (a full disk being freed): IsRetryable().
  static Status TransientIOError(std::string msg) {
    Status s(StatusCode::kIOError, std::move(msg));
    s.retryable_io_ = true;
    return s;
  }
  static Status Busy(std::string msg) { return {StatusCode::kBusy, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) {
    return {StatusCode::kFailedPrecondition, std::move(msg)};
  }
  static Status ResourceExhausted(std::string msg) {
    return {StatusCode::kResourceExhausted, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status NotSupported(std::string msg) {
    return {StatusCode::kNotSupported, std::move(msg)};
  }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status Cancelled(std::string msg) { return {StatusCode::kCancelled, std::move(msg)}; }
  static Status TimedOut(std::string msg) { return {StatusCode::kTimedOut, std::move(msg)}; }
  // A version conflict on `stream`. `expected` is rendered by the caller (a number, "any",
  // "no-stream", "exists"); `actual` is the stream's last version (0: no stream).
  static Status WrongExpectedVersion(std::string_view stream, std::string expected,
                                     std::uint64_t actual);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // True when repeating the same call unchanged may succeed (kBusy, kUnavailable,
  // kResourceExhausted, and transient I/O errors). kWrongExpectedVersion is not: the caller
  // must re-read before it appends again.
  bool IsRetryable() const;

  // Present only on kWrongExpectedVersion.
  struct VersionConflict {
    std::string stream;
    std::string expected;  // "7", "any", "no-stream" or "exists"
    std::uint64_t actual = 0;
  };
  const std::optional<VersionConflict>& version_conflict() const { return conflict_; }

  // "wrong_expected_version: stream 'order-1' expected version 3, actual 5".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  bool retryable_io_ = false;
  std::optional<VersionConflict> conflict_;
};

namespace internal {
// Prints "cairn: Result::value() on an error: <status>" to stderr and aborts.
[[noreturn]] void DieOnErrorValue(const Status& status);
}  // namespace internal

// Either a T or a non-OK Status; never an OK Status without a value.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : value_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(value_).ok()) {
      value_ = Status::Internal("Result constructed from an OK Status without a value");
    }
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  // The error; Status::Ok() when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(value_); }

  // Precondition: ok(). Checked: calling these on an error is a bug in the caller, and the
  // process aborts with a message naming the error (as Abseil's StatusOr does), rather than
  // throwing: no exception crosses cairn's API.
  T& value() & {
    if (!ok()) internal::DieOnErrorValue(std::get<Status>(value_));
    return *std::get_if<T>(&value_);
  }
  const T& value() const& {
    if (!ok()) internal::DieOnErrorValue(std::get<Status>(value_));
    return *std::get_if<T>(&value_);
  }
  T&& value() && {
    if (!ok()) internal::DieOnErrorValue(std::get<Status>(value_));
    return std::move(*std::get_if<T>(&value_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace cairn
