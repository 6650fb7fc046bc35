// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Exit codes, listing formats, line reading and the progress bar (output.h).
#include "output.h"

#include "commands.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <istream>
#include <optional>

#include <fmt/format.h>

namespace cairn::tool {

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kWrongExpectedVersion:
    case StatusCode::kAlreadyExists:
      return kExitConflict;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kCorruption:
      return kExitCorrupt;
    case StatusCode::kBusy:
      return kExitBusy;
    default:
      return kExitError;
  }
}

int Fail(const Status& s) {
  Progress::ClearActive();
  std::fprintf(stderr, "cairn: %s\n", s.message().c_str());
  return ExitCodeFor(s);
}

namespace {

std::string Truncate(std::string_view s, std::size_t n) {
  std::string out;
  for (char c : s) {
    if (out.size() >= n) {
      out.resize(n - 1);
      out += "…";
      break;
    }
    out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  }
  return out;
}

}  // namespace

void PrintTableHeader() {
  fmt::print("{:>10}  {:>7}  {:<27}  {:<24}  {:<20}  {}\n", "POSITION", "VERSION", "TIME", "TYPE",
             "STREAM", "DATA");
}

void PrintTableRow(const RecordedEvent& e) {
  std::string data = IsJsonContentType(e.content_type)
                         ? std::string(e.payload)
                         : fmt::format("<{} bytes {}>", e.payload.size(), e.content_type);
  fmt::print("{:>10}  {:>7}  {:<27}  {:<24}  {:<20}  {}\n", e.position, e.version,
             FormatTimestamp(e.timestamp_us), Truncate(e.type, 24), Truncate(e.stream, 20),
             Truncate(data, 60));
}

std::string CsvField(std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

EventPrinter::EventPrinter(Format format, std::ostream& out) : format_(format), out_(out) {}

void EventPrinter::Begin() {
  if (format_ == Format::kTable) PrintTableHeader();
  if (format_ == Format::kCsv)
    out_ << "position,stream,version,type,timestamp,id,content_type,data\n";
  if (format_ == Format::kJson) out_ << "[";
}

void EventPrinter::Print(const RecordedEvent& e) {
  switch (format_) {
    case Format::kTable:
      PrintTableRow(e);
      break;
    case Format::kJsonl:
      out_ << DumpJson(EventToJson(e)) << "\n";
      break;
    case Format::kJson:
      out_ << (count_ ? ",\n  " : "\n  ") << DumpJson(EventToJson(e));
      break;
    case Format::kCsv:
      out_ << e.position << ',' << CsvField(e.stream) << ',' << e.version << ',' << CsvField(e.type)
           << ',' << FormatTimestamp(e.timestamp_us) << ',' << e.id.ToString() << ','
           << CsvField(e.content_type) << ','
           << CsvField(IsJsonContentType(e.content_type) ? std::string(e.payload)
                                                         : Base64Encode(e.payload))
           << "\n";
      break;
    case Format::kText:
      break;
  }
  ++count_;
}

void EventPrinter::End() {
  if (format_ == Format::kJson) out_ << (count_ ? "\n]\n" : "]\n");
  out_.flush();
}

nlohmann::json AppendResultJson(const StreamAppend& a, const AppendResult& r) {
  return {{"stream", a.stream},
          {"events", a.events.size()},
          {"first_version", r.first_version},
          {"last_version", r.last_version},
          {"first_position", r.first_position},
          {"last_position", r.last_position},
          {"deduplicated", r.deduplicated}};
}

void PrintAppendResultLine(Format format, const StreamAppend& a, const AppendResult& r) {
  if (format == Format::kText)
    fmt::print("{} {} event{} to {}: versions {}..{}, positions {}..{}\n",
               r.deduplicated ? "already stored" : "appended", a.events.size(),
               a.events.size() == 1 ? "" : "s", a.stream, r.first_version, r.last_version,
               r.first_position, r.last_position);
  else
    std::cout << DumpJson(AppendResultJson(a, r)) << "\n";
}

Result<Format> ParseTextOrJson(std::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  return Status::InvalidArgument(fmt::format("unknown format '{}' (text or json)", name));
}

Result<Format> ParseFormat(std::string_view name, bool allow_table) {
  if (name == "table" && allow_table) return Format::kTable;
  if (name == "text" && !allow_table) return Format::kText;
  if (name == "json") return Format::kJson;
  if (name == "jsonl") return Format::kJsonl;
  if (name == "csv" && allow_table) return Format::kCsv;
  return Status::InvalidArgument(fmt::format("unknown format '{}'", name));
}

bool StdoutIsTty() { return isatty(STDOUT_FILENO) == 1; }

}  // namespace cairn::tool

namespace cairn::tool {

Result<bool> LineReader::Next(std::string* line) {
  for (;;) {
    const std::size_t nl = buffer_.find('\n', offset_);
    if (nl != std::string::npos || (eof_ && offset_ < buffer_.size())) {
      const std::size_t end = nl == std::string::npos ? buffer_.size() : nl;
      ++line_number_;
      if (end - offset_ > max_line_)
        return Status::InvalidArgument(
            fmt::format("line {} is over {} bytes", line_number_, max_line_));
      line->assign(buffer_, offset_, end - offset_);
      offset_ = nl == std::string::npos ? buffer_.size() : nl + 1;
      return true;
    }
    if (eof_) return false;
    if (buffer_.size() - offset_ > max_line_)
      return Status::InvalidArgument(
          fmt::format("line {} is over {} bytes", line_number_ + 1, max_line_));
    buffer_.erase(0, offset_);
    offset_ = 0;
    char chunk[65536];
    in_.read(chunk, sizeof(chunk));
    const auto got = static_cast<std::size_t>(in_.gcount());
    buffer_.append(chunk, got);
    if (got == 0 || !in_) eof_ = true;
    if (in_.bad()) return Status::IOError("reading stdin failed");
  }
}

}  // namespace cairn::tool
