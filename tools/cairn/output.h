// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// How the cairn tool writes events and errors: the JSON event shape shared by `read`,
// `append --jsonl` (and later `export`), the table view, exit codes.
#pragma once

#include <unistd.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cairn/cairn.h"

namespace cairn::tool {

// Exit codes (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitConflict = 3;  // wrong expected version / id reused
inline constexpr int kExitNotFound = 4;  // no such store, stream or event
inline constexpr int kExitCorrupt = 5;   // stored bytes failed verification
inline constexpr int kExitBusy = 6;      // the store is locked by another writer
inline constexpr int kExitMismatch = 7;  // reconcile: Kafka does not hold what the store does

int ExitCodeFor(const Status& s);
// Prints "cairn: <message>" on one line to stderr and returns the exit code for `s`.
int Fail(const Status& s);

// "2026-11-27T10:12:04.123456Z".
std::string FormatTimestamp(std::int64_t micros);
bool IsJsonContentType(std::string_view content_type);

// The whole of `text` as an unsigned number in `base` (no sign, no spaces, nothing after it);
// nullopt if it is not one or does not fit.
std::optional<std::uint64_t> ParseWholeNumber(std::string_view text, int base = 10);

std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

// JSON text of `j`, never throwing: bytes that are not UTF-8 (stored by older versions, or
// in payloads) come out as U+FFFD instead of aborting the command.
template <typename Json>
std::string DumpJson(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// {"position":..,"stream":..,"version":..,"type":..,"id":..,"timestamp":..,"content_type":..,
//  "data": <JSON> | "data_base64": "..", "metadata": <JSON> | "metadata_base64": "..",
//  "chain_hash":..}. "data" only when the payload is JSON whose compact serialization is
// byte for byte the stored payload (key order kept); anything else is base64, so that
// `append --jsonl` stores exactly the bytes `export` read.
nlohmann::ordered_json EventToJson(const RecordedEvent& e);
// A shipper's status as `cairn ship --format json` and /status print it (ship.cc).
nlohmann::json ShipperStatusJson(const ShipperStatus& s);
// The inverse for appending: reads type, data / data_base64, content_type, metadata, id and
// stream (into *stream when present). Unknown fields are ignored so that read/export output
// can be fed back in.
Result<EventData> EventFromJson(const nlohmann::ordered_json& j, std::string* stream);

enum class Format { kTable, kJson, kJsonl, kText, kCsv };

// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
std::string CsvField(std::string_view s);

// Prints events one at a time in a listing format (table, jsonl, json, csv), as `read`,
// `query`, `export` and `tail` share them.
class EventPrinter {
 public:
  EventPrinter(Format format, std::ostream& out);
  void Begin();
  void Print(const RecordedEvent& e);
  void End();
  std::uint64_t count() const { return count_; }

 private:
  Format format_;
  std::ostream& out_;
  std::uint64_t count_ = 0;
};
Result<Format> ParseFormat(std::string_view name, bool allow_table);
// For commands that print one report: text or json, anything else kInvalidArgument.
Result<Format> ParseTextOrJson(std::string_view name);

// Input read against its limit as it arrives (issue #24): `head -c 2G /dev/zero | cairn
// append` read all 2 GiB (4.2 GB of memory) before refusing it, and a config file given as
// /dev/zero grew without end. Over `limit` bytes is kInvalidArgument naming `what`, after
// reading limit + 1 bytes at most.
Result<std::string> ReadAtMost(std::istream& in, std::size_t limit, std::string_view what);
Result<std::string> ReadFileAtMost(const std::string& path, std::size_t limit,
                                   std::string_view what);
// The most a configuration file (client properties, routes, tokens) may hold: 1 MiB.
inline constexpr std::size_t kMaxConfigFileBytes = 1 << 20;

// Lines of a stream, each at most `max_line` bytes (without its newline), read in blocks.
class LineReader {
 public:
  LineReader(std::istream& in, std::size_t max_line) : in_(in), max_line_(max_line) {}
  // The next line into *line: true, false at the end, or kInvalidArgument for a line over
  // max_line (named by its number).
  Result<bool> Next(std::string* line);
  std::size_t line_number() const { return line_number_; }

 private:
  std::istream& in_;
  const std::size_t max_line_;
  std::string buffer_;
  std::size_t offset_ = 0;
  std::size_t line_number_ = 0;
  bool eof_ = false;
};
// "90s", "30m", "2h", "7d". kInvalidArgument naming `option` otherwise.
Result<std::chrono::seconds> ParseDuration(std::string_view text, std::string_view option);
bool StdoutIsTty();

// A progress bar on stderr, only at a terminal and only for work that lasts over a second.
class Progress {
 public:
  explicit Progress(std::string label)
      : label_(std::move(label)),
        tty_(isatty(STDERR_FILENO) == 1),
        start_(std::chrono::steady_clock::now()) {
    active_ = this;
  }
  ~Progress() {
    Done();
    if (active_ == this) active_ = nullptr;
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // Erases the bar (before printing a result).
  void Done() {
    if (drawn_) std::fprintf(stderr, "\r\033[K");
    drawn_ = false;
  }
  // Erases whichever bar is on the terminal: Fail() calls it, so that an error never shares
  // the line of a half-drawn bar.
  static void ClearActive() {
    if (active_) active_->Done();
  }
  void Update(std::uint64_t done, std::uint64_t total) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - start_ < std::chrono::seconds(1) || now - last_ < std::chrono::milliseconds(100))
      return;
    last_ = now;
    drawn_ = true;
    const double f = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
    const int width = 30, filled = static_cast<int>(f * width);
    std::fprintf(stderr, "\r%s [%s%s] %3.0f%% %llu/%llu", label_.c_str(),
                 std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                 f * 100, static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total));
  }

 private:
  std::string label_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_{};
  static inline Progress* active_ = nullptr;  // the tool is single-threaded where it draws
};

}  // namespace cairn::tool
