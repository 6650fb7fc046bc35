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
#include "textio/bounded_read.h"
#include "textio/event_json.h"

namespace cairn::tool {

// The shared text rules (src/textio/), by their short names in the tool.
using textio::Base64Decode;
using textio::Base64Encode;
using textio::DumpJson;
using textio::EventFromJson;
using textio::EventToJson;
using textio::FormatTimestamp;
using textio::IsJsonContentType;
using textio::kMaxConfigFileBytes;
using textio::ParseWholeNumber;
using textio::ReadAtMost;
using textio::ReadFileAtMost;
using textio::ShipperStatusJson;

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
// One append's result, as `cairn append` prints it and `--jsonl --each` a line per chunk:
// its JSON, and its one line of text (kText) or JSON (kJsonl).
nlohmann::json AppendResultJson(const StreamAppend& a, const AppendResult& r);
void PrintAppendResultLine(Format format, const StreamAppend& a, const AppendResult& r);
// For commands that print one report: text or json, anything else kInvalidArgument.
Result<Format> ParseTextOrJson(std::string_view name);

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
