// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The values that go into and come out of a store: event ids, events to append, recorded
// events, expected versions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn {

// A 128-bit event id, written and parsed as a canonical UUID string
// ("0190c6f3-6a1e-7b8c-9d0e-1f2a3b4c5d6e"). A value type; thread-compatible.
class EventId {
 public:
  EventId() = default;  // the nil UUID
  explicit EventId(const std::array<std::uint8_t, 16>& bytes) : bytes_(bytes) {}

  // Accepts the 36-character hyphenated form, either case. Errors name the bad input.
  static Result<EventId> Parse(std::string_view text);
  // A new UUIDv7: 48 bits of Unix milliseconds then random bits, so generated ids sort
  // roughly by creation time. Thread-safe.
  static EventId Generate();

  bool is_nil() const;
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }
  std::string ToString() const;  // lowercase, hyphenated

  friend bool operator==(const EventId&, const EventId&) = default;
  friend auto operator<=>(const EventId&, const EventId&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
};

// The stream's version that an append expects to find. Versions start at 1; a stream that
// does not exist has version 0.
class ExpectedVersion {
 public:
  enum class Kind : std::uint8_t { kAny, kNoStream, kStreamExists, kExact };

  // No check: append whatever the stream's version.
  static ExpectedVersion Any() { return ExpectedVersion(Kind::kAny, 0); }
  // The stream must not exist (same as Exact(0)).
  static ExpectedVersion NoStream() { return ExpectedVersion(Kind::kNoStream, 0); }
  // The stream must have at least one event.
  static ExpectedVersion StreamExists() { return ExpectedVersion(Kind::kStreamExists, 0); }
  // The stream's last version must be exactly `version` (0 = the stream must not exist).
  static ExpectedVersion Exact(std::uint64_t version) {
    return version == 0 ? NoStream() : ExpectedVersion(Kind::kExact, version);
  }
  // Parses "any", "no-stream", "exists" or a decimal number.
  static Result<ExpectedVersion> Parse(std::string_view text);

  Kind kind() const { return kind_; }
  std::uint64_t version() const { return version_; }  // meaningful for kExact only
  // Whether a stream whose last version is `actual` satisfies this expectation.
  bool Matches(std::uint64_t actual) const;
  std::string ToString() const;  // "any", "no-stream", "exists" or the number

 private:
  ExpectedVersion(Kind kind, std::uint64_t version) : kind_(kind), version_(version) {}
  Kind kind_;
  std::uint64_t version_;
};

// An event to append. The store assigns version, position, timestamp and chain hash.
struct EventData {
  // The event type, e.g. "OrderPlaced". Required; 1..StoreOptions::max_type_bytes bytes of
  // printable UTF-8 (no control characters).
  std::string type;
  // The event body, stored and shipped byte for byte.
  std::string payload;
  // Describes `payload` ("application/json", "application/octet-stream", ...). Shipped as a
  // Kafka header. Default: "application/json".
  std::string content_type = "application/json";
  // Free-form bytes for correlation/causation ids and the like; stored, not interpreted.
  std::string metadata;
  // A caller-chosen id makes the append idempotent: appending an id that is already stored
  // stores nothing and returns the original positions. Without one the store generates a
  // UUIDv7 that is not indexed for deduplication.
  std::optional<EventId> id;
  // The version of the payload's shape for this type, from 1. Bump it when the payload's
  // schema changes; readers turn old shapes into the current one with upcasters
  // (StoreOptions::upcasters). Default: 1.
  std::uint32_t schema_version = 1;
  // The W3C Trace Context (level 1) of the work that appended the event, so that consumers
  // continue its trace: stored with the event, in its chain hash, and shipped as the Kafka
  // record's `traceparent` and `tracestate` headers. Both are checked by
  // ValidateTraceContext (an invalid value fails the append with kInvalidArgument); a
  // tracestate needs a traceparent. A retry of an idempotent append (same event id) is the
  // same event whatever trace context it carries: the stored one stays. Default: empty (the
  // event has no trace context, and none is ever invented for it).
  std::string traceparent;
  std::string tracestate;
};

// The longest `tracestate` cairn accepts, in bytes: the 512 characters W3C Trace Context asks
// every vendor to propagate (and OpenTelemetry's own cap), so that no system downstream
// truncates what cairn stored.
inline constexpr std::size_t kMaxTracestateBytes = 512;

// Checks trace context as W3C Trace Context level 1 defines it; the error (kInvalidArgument)
// names the rule broken.
//  - traceparent: "VV-TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT-PPPPPPPPPPPPPPPP-FF" in lowercase hex:
//    version VV is not "ff"; version "00" is exactly 55 characters, a later version at least
//    55 with a '-' after them; the trace id T (32 digits) and parent id P (16) are not all
//    zeros; flags F are 2 digits.
//  - tracestate: at most 32 comma-separated `key=value` members (blank members allowed),
//    keys unique, each key a lowercase simple key (up to 256 characters) or
//    `tenant@system`, each value 1..256 printable ASCII characters other than ',' and '=',
//    not ending in a space; at most kMaxTracestateBytes bytes; only beside a traceparent.
// Empty strings are "no trace context" and pass. Thread-safe (a pure function).
Status ValidateTraceContext(std::string_view traceparent, std::string_view tracestate);

// The events for one stream inside a multi-stream append.
struct StreamAppend {
  std::string stream;
  ExpectedVersion expected = ExpectedVersion::Any();
  std::vector<EventData> events;
};

// What an append committed (or, for an idempotent retry, had committed before).
struct AppendResult {
  std::uint64_t first_position = 0;  // global position of the first event appended
  std::uint64_t last_position = 0;
  std::uint64_t first_version = 0;  // stream version of the first event appended
  std::uint64_t last_version = 0;   // the stream's version after the append
  // True when every event id was already stored with the same content and nothing new was
  // written (a retried append).
  bool deduplicated = false;
};

// A stored event as a reader sees it. The string_view fields point into the reader's buffer
// and stay valid until the reader moves (Next()) or is destroyed; copy what you keep.
struct RecordedEvent {
  EventId id;
  std::string_view stream;
  std::uint64_t version = 0;
  std::uint64_t position = 0;
  std::string_view type;
  // Commit time, microseconds since the Unix epoch; non-decreasing in position order.
  std::int64_t timestamp_us = 0;
  std::string_view content_type;
  std::string_view metadata;
  std::string_view payload;
  // SHA-256 over the previous event's chain hash and this event's canonical bytes.
  std::array<std::uint8_t, 32> chain_hash{};
  // Whether `id` was chosen by the appender (and so is indexed for idempotence).
  bool id_from_caller = false;
  // The payload's schema version: as appended, or as an upcaster left it (then `payload` is
  // the upcast bytes, not the stored ones; the chain hash covers the stored ones).
  std::uint32_t schema_version = 1;
  // W3C trace context as appended (EventData::traceparent); empty when it had none.
  std::string_view traceparent;
  std::string_view tracestate;
};

// A copy of a RecordedEvent that owns its bytes.
struct OwnedEvent {
  EventId id;
  std::string stream;
  std::uint64_t version = 0;
  std::uint64_t position = 0;
  std::string type;
  std::int64_t timestamp_us = 0;
  std::string content_type;
  std::string metadata;
  std::string payload;
  std::array<std::uint8_t, 32> chain_hash{};
  bool id_from_caller = false;
  std::uint32_t schema_version = 1;
  std::string traceparent;
  std::string tracestate;

  static OwnedEvent From(const RecordedEvent& e);
  // The event as a RecordedEvent whose views point into this object (valid while it lives).
  RecordedEvent view() const;
};

// Lowercase hex of a chain hash.
std::string HexHash(const std::array<std::uint8_t, 32>& hash);

// A stream's category: its id up to the first '-' ("order-42" -> "order"; an id without '-'
// is its own category). The one rule behind routes (RouteRule::kCategory), subscription
// filters (SubscriptionOptions::category) and the tool's --category.
inline std::string_view StreamCategory(std::string_view stream) {
  return stream.substr(0, stream.find('-'));
}

// Which events a reader wants by stream, category and type; every part that is set must hold.
// The one rule behind subscription filters (SubscriptionOptions), the gateway's live feed
// (`GET /v1/feed?stream=&category=&type=`) and the tool's --stream, --category and --type.
// Thread-compatible: Matches may be called from any number of threads while nothing changes it.
struct EventSelector {
  // Exactly this stream. Default: empty (any stream).
  std::string stream;
  // Streams of this category (StreamCategory). Default: empty (any).
  std::string category;
  // Any of these types. Default: empty (any type).
  std::vector<std::string> types;

  bool Matches(const RecordedEvent& e) const;
  // Whether nothing is set: every event matches.
  bool empty() const { return stream.empty() && category.empty() && types.empty(); }
};

}  // namespace cairn
