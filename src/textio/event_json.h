// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The JSON shape of an event and of a shipper's status, as the `cairn` tool prints them
// (read, query, export, ship --format json) and reads them back (append --jsonl), and as the
// gateway of `cairn serve` answers and accepts them; with the base64, RFC 3339 and number
// rules behind it. One library (cairn_textio) for the tool and the gateway, over cairn's
// public API only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cairn/event.h"
#include "cairn/shipper.h"
#include "cairn/status.h"

namespace cairn::textio {

// "2026-11-27T10:12:04.123456Z".
std::string FormatTimestamp(std::int64_t micros);
// application/json, or any type/subtype+json, parameters after ';' ignored.
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
//  "schema_version" (when not 1), "traceparent", "tracestate" (when the event has them),
//  "chain_hash":..}. "data" only when the payload is JSON whose compact serialization is
// byte for byte the stored payload (key order kept); anything else is base64, so that
// `append --jsonl` stores exactly the bytes `export` read.
nlohmann::ordered_json EventToJson(const RecordedEvent& e);
// A shipper's status as `cairn ship --format json` and /status print it.
nlohmann::json ShipperStatusJson(const ShipperStatus& s);
// The inverse for appending: reads type, data / data_base64, content_type, metadata, id,
// schema_version, traceparent, tracestate (checked: ValidateTraceContext) and stream (into
// *stream when present). Unknown fields are ignored so that read/export output
// can be fed back in.
Result<EventData> EventFromJson(const nlohmann::ordered_json& j, std::string* stream);

}  // namespace cairn::textio
