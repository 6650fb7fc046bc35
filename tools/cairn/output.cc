// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#include "output.h"

#include "commands.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <istream>
#include <optional>

#include <fmt/format.h>
#include <openssl/evp.h>

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

std::string FormatTimestamp(std::int64_t micros) {
  std::time_t secs = static_cast<std::time_t>(micros / 1000000);
  std::int64_t frac = micros % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::uint64_t> ParseWholeNumber(std::string_view text, int base) {
  std::uint64_t v = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return Status::InvalidArgument("base64 text length is not a multiple of 4");
  std::string out(3 * (text.size() / 4), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return Status::InvalidArgument("invalid base64 text");
  // EVP_DecodeBlock counts padding as zero bytes.
  std::size_t size = static_cast<std::size_t>(n);
  if (!text.empty() && text.back() == '=') --size;
  if (text.size() > 1 && text[text.size() - 2] == '=') --size;
  out.resize(size);
  return out;
}

namespace {

// `bytes` as JSON when they are exactly the compact serialization of what they parse to.
std::optional<nlohmann::ordered_json> ExactJson(std::string_view bytes) {
  auto parsed = nlohmann::ordered_json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || DumpJson(parsed) != bytes) return std::nullopt;
  return parsed;
}

}  // namespace

nlohmann::ordered_json EventToJson(const RecordedEvent& e) {
  nlohmann::ordered_json j;
  j["position"] = e.position;
  j["stream"] = std::string(e.stream);
  j["version"] = e.version;
  j["type"] = std::string(e.type);
  j["id"] = e.id.ToString();
  j["timestamp"] = FormatTimestamp(e.timestamp_us);
  j["content_type"] = std::string(e.content_type);
  std::optional<nlohmann::ordered_json> data;
  if (IsJsonContentType(e.content_type)) data = ExactJson(e.payload);
  if (data)
    j["data"] = std::move(*data);
  else
    j["data_base64"] = Base64Encode(e.payload);
  if (!e.metadata.empty()) {
    // (A JSON string would read back as the text itself: append takes "metadata": "text" as
    // those bytes, unquoted.)
    if (auto m = ExactJson(e.metadata); m && !m->is_string())
      j["metadata"] = std::move(*m);
    else
      j["metadata_base64"] = Base64Encode(e.metadata);
  }
  j["chain_hash"] = HexHash(e.chain_hash);
  return j;
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

nlohmann::json ShipperStatusJson(const ShipperStatus& s) {
  return {{"state", ToString(s.state)},
          {"broker_reachable", s.broker_reachable},
          {"head_position", s.head_position},
          {"shipped_through", s.shipped_through},
          {"lag_events", s.lag_events},
          {"lag_bytes", s.lag_bytes},
          {"lag_seconds", s.lag_seconds},
          {"events_shipped", s.events_shipped},
          {"bytes_shipped", s.bytes_shipped},
          {"produce_latency_p50_ms", s.produce_latency_p50_ms},
          {"produce_latency_p99_ms", s.produce_latency_p99_ms},
          {"delivery_errors", s.delivery_errors},
          {"rewinds", s.rewinds},
          {"dead_letters", s.dead_letters},
          {"transactions_committed", s.transactions_committed},
          {"last_error", s.last_error}};
}

Result<EventData> EventFromJson(const nlohmann::ordered_json& j, std::string* stream) {
  if (!j.is_object()) return Status::InvalidArgument("expected a JSON object");
  EventData e;
  auto str = [&](const char* key, std::string* out) -> Status {
    auto it = j.find(key);
    if (it == j.end()) return Status::Ok();
    if (!it->is_string()) return Status::InvalidArgument(fmt::format("'{}' must be a string", key));
    *out = it->get<std::string>();
    return Status::Ok();
  };
  if (Status s = str("type", &e.type); !s.ok()) return s;
  if (e.type.empty()) return Status::InvalidArgument("'type' is missing");
  if (Status s = str("content_type", &e.content_type); !s.ok()) return s;
  if (Status s = str("stream", stream); !s.ok()) return s;
  if (auto it = j.find("id"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return Status::InvalidArgument("'id' must be a string");
    auto id = EventId::Parse(it->get<std::string>());
    if (!id.ok()) return id.status();
    e.id = *id;
  }
  auto data = j.find("data");
  auto data64 = j.find("data_base64");
  if (data != j.end() && data64 != j.end())
    return Status::InvalidArgument("give either 'data' or 'data_base64', not both");
  if (data64 != j.end()) {
    if (!data64->is_string()) return Status::InvalidArgument("'data_base64' must be a string");
    auto bytes = Base64Decode(data64->get<std::string>());
    if (!bytes.ok()) return bytes.status();
    e.payload = std::move(bytes).value();
  } else if (data != j.end()) {
    // A string under a non-JSON content type is the payload itself; anything else is JSON.
    if (data->is_string() && !IsJsonContentType(e.content_type))
      e.payload = data->get<std::string>();
    else
      e.payload = DumpJson(*data);
  }
  if (auto m = j.find("metadata"); m != j.end() && !m->is_null())
    e.metadata = m->is_string() ? m->get<std::string>() : DumpJson(*m);
  if (auto m = j.find("metadata_base64"); m != j.end()) {
    if (!m->is_string()) return Status::InvalidArgument("'metadata_base64' must be a string");
    auto bytes = Base64Decode(m->get<std::string>());
    if (!bytes.ok()) return bytes.status();
    e.metadata = std::move(bytes).value();
  }
  return e;
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
