// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The JSON event shape and its rules (event_json.h).
#include "textio/event_json.h"

#include <charconv>
#include <ctime>

#include <fmt/format.h>
#include <openssl/evp.h>

namespace cairn::textio {

bool IsJsonContentType(std::string_view ct) {
  const auto semi = ct.find(';');
  std::string_view base = ct.substr(0, semi);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  return base == "application/json" || (base.size() > 5 && base.ends_with("+json"));
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
  if (e.schema_version != 1) j["schema_version"] = e.schema_version;
  if (!e.traceparent.empty()) j["traceparent"] = std::string(e.traceparent);
  if (!e.tracestate.empty()) j["tracestate"] = std::string(e.tracestate);
  j["chain_hash"] = HexHash(e.chain_hash);
  return j;
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
  if (Status s = str("traceparent", &e.traceparent); !s.ok()) return s;
  if (Status s = str("tracestate", &e.tracestate); !s.ok()) return s;
  if (Status s = ValidateTraceContext(e.traceparent, e.tracestate); !s.ok()) return s;
  if (auto it = j.find("schema_version"); it != j.end() && !it->is_null()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() < 1 ||
        it->get<std::uint64_t>() > UINT32_MAX)
      return Status::InvalidArgument(
          "'schema_version' must be a whole number from 1 to 4294967295");
    e.schema_version = static_cast<std::uint32_t>(it->get<std::uint64_t>());
  }
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

}  // namespace cairn::textio
