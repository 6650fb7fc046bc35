// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The Kafka shipper: a background thread that tails a store's log by position and mirrors
// every event to Kafka topics, in stream order, surviving broker outages and restarts
// (docs/shipping.md). The store never waits on Kafka: appends go on while the shipper is
// behind, and the backlog stays on disk.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/options.h"
#include "cairn/status.h"
#include "cairn/store.h"

namespace cairn {

enum class DeliveryMode : std::uint8_t {
  // Idempotent producer, acks=all; the shipped-through position is a checkpoint in the store.
  // After a crash the events between the last checkpoint and the crash may be sent again
  // (each at most once more, in order).
  kAtLeastOnce,
  // Transactional producer: each batch of events commits together with a checkpoint record in
  // a compacted checkpoint topic, which the shipper reads on start. read_committed consumers
  // see every event exactly once.
  kExactlyOnce,
};

// The message headers of wire format v1 (docs/shipping.md), for consumers and tools that read
// them; the shipper, dead-letter retry and `cairn reconcile` use these names and no others.
namespace headers {
inline constexpr char kEventId[] = "cairn.event_id";
inline constexpr char kType[] = "cairn.type";  // the default; ShipperOptions::type_header
inline constexpr char kStream[] = "cairn.stream";
inline constexpr char kVersion[] = "cairn.version";
inline constexpr char kPosition[] = "cairn.position";
inline constexpr char kTimestampUs[] = "cairn.timestamp_us";
inline constexpr char kContentType[] = "content-type";
inline constexpr char kSchemaVersion[] = "cairn.schema_version";
inline constexpr char kStoreId[] = "cairn.store_id";
inline constexpr char kChainHash[] = "cairn.chain_hash";
inline constexpr char kTxn[] = "cairn.txn";  // exactly-once: the transaction's tag
// W3C trace context, when the event has one (EventData::traceparent).
inline constexpr char kTraceparent[] = "traceparent";
inline constexpr char kTracestate[] = "tracestate";
// CloudEvents 1.0 attributes in the Kafka protocol binding's binary content mode
// (ValueFormat::kCloudEvents); `datacontenttype` is kContentType.
inline constexpr char kCeSpecVersion[] = "ce_specversion";  // "1.0"
inline constexpr char kCeId[] = "ce_id";                    // the event id
inline constexpr char kCeSource[] = "ce_source";            // ShipperOptions::cloudevents_source
inline constexpr char kCeType[] = "ce_type";                // the event type
inline constexpr char kCeSubject[] = "ce_subject";          // the stream id
inline constexpr char kCeTime[] = "ce_time";                // the commit time, RFC 3339 UTC
// Dead-letter topic records only.
inline constexpr char kError[] = "cairn.error";
inline constexpr char kErrorCode[] = "cairn.error_code";
inline constexpr char kOriginalTopic[] = "cairn.original_topic";
}  // namespace headers

// What the Kafka message value holds.
enum class ValueFormat : std::uint8_t {
  kPayload,   // the payload bytes as appended (a Spring JsonDeserializer reads JSON as is)
  kEnvelope,  // the stored envelope (docs/format.md), for consumers that want every field
  // The payload bytes as appended, with the CloudEvents 1.0 attributes in `ce_` headers: the
  // Kafka protocol binding's binary content mode, which CloudEvents SDKs, Knative and Spring
  // Cloud Function read as events (docs/shipping.md, "CloudEvents").
  kCloudEvents,
};

// What happens to later events of a stream after one of its events is dead-lettered.
enum class DeadLetterPolicy : std::uint8_t {
  // Later events of that stream are held (recorded as dead letters "held behind" the failed
  // one) so that the stream never reaches Kafka out of order; other streams keep flowing.
  kHoldStream,
  // Later events of that stream ship normally; consumers see a gap in its versions.
  kSkip,
};

// One routing rule: events whose stream category (the stream id before its first '-') equals
// `pattern`, or whose type starts with `pattern`, go to `topic`. Rules apply in order; the
// first match wins.
struct RouteRule {
  enum class Match : std::uint8_t { kCategory, kTypePrefix };
  Match match = Match::kCategory;
  std::string pattern;
  std::string topic;
};

// Parses Kafka client properties as the Kafka tools read them (`key=value` or `key: value`,
// `#`/`!` comments, backslash continuations and escapes).
Result<std::vector<std::pair<std::string, std::string>>> ParseClientProperties(
    std::string_view text);

// Every field has a default that works for a local cluster; each comment gives it as
// "Default: ...", as StoreOptions does.
struct ShipperOptions {
  // --- Kafka ---
  // Bootstrap servers ("host:port,..."). Required unless `kafka_config` sets
  // bootstrap.servers. Default: empty.
  std::string bootstrap_servers;
  // librdkafka settings passed through unchanged, in order, after cairn's defaults (so they
  // win): security.protocol, sasl.*, ssl.*, linger.ms, compression.type, ... cairn's defaults:
  // acks=all, enable.idempotence=true, partitioner=murmur2_random (the Java client's),
  // reconnect.backoff.ms=100, reconnect.backoff.max.ms=1000, linger.ms=5,
  // enable.sparse.connections=false (a connection to every broker). Default: empty.
  std::vector<std::pair<std::string, std::string>> kafka_config;

  // --- What is sent where ---
  // Default: DeliveryMode::kAtLeastOnce.
  DeliveryMode mode = DeliveryMode::kAtLeastOnce;
  // Ordered rules; the first that matches an event picks its topic. Default: none.
  std::vector<RouteRule> routes;
  // The topic of events no rule matches. Default: "events".
  std::string default_topic = "events";
  // The message value: the payload as appended, or the stored envelope. Default: kPayload.
  ValueFormat value_format = ValueFormat::kPayload;
  // ValueFormat::kCloudEvents: every event's `source`, a URI-reference identifying where the
  // events come from ("/orders/eu-1", "https://shop.example/orders"). An empty string is
  // refused (kInvalidArgument). Default: unset, meaning "urn:cairn:store:<store id>".
  std::optional<std::string> cloudevents_source;
  // Header carrying the event type. Spring consumers map types with "__TypeId__".
  // Default: "cairn.type".
  std::string type_header = headers::kType;

  // --- Dead letters ---
  // Topic receiving dead-lettered events with error headers. Default: empty (local records
  // only).
  std::string dead_letter_topic;
  // Default: DeadLetterPolicy::kHoldStream (later events of the stream wait behind it).
  DeadLetterPolicy dead_letter_policy = DeadLetterPolicy::kHoldStream;

  // --- Exactly-once ---
  // The compacted topic holding checkpoint records (created with cleanup.policy=compact if
  // missing). Default: "cairn-checkpoints".
  std::string checkpoint_topic = "cairn-checkpoints";
  // Default: empty, meaning "cairn-<store id>".
  std::string transactional_id;
  // A transaction commits after this many events or this long, whichever comes first.
  // Defaults: 20,000 events, 100 ms.
  std::size_t transaction_max_events = 20000;
  std::chrono::milliseconds transaction_max_interval{100};
  // On a real cluster, two transactional producers take turns: the next transaction's events
  // are produced while the previous transaction commits, once every record of the previous
  // one is acknowledged (so each partition keeps the store's order), and transactions still
  // commit one at a time, in order (docs/shipping.md, "Overlapping commits"). The second
  // producer's transactional.id is the first one's with "-2" appended; it needs the same
  // Kafka ACLs. false: one producer, each commit finishes before the next transaction starts.
  // librdkafka's mock cluster always uses one. Default: true.
  bool overlap_transactions = true;

  // --- Progress ---
  // The name of the store checkpoint holding the shipped-through position. Two shippers of
  // one store to different clusters need different names. Default: "shipper".
  std::string checkpoint_name = kShipperCheckpoint;
  // At-least-once: how often the shipped-through position is saved (also on stop).
  // Default: 200 ms.
  std::chrono::milliseconds checkpoint_interval{200};
  // Events produced but not yet acknowledged, at most. Bounds memory while draining a
  // backlog. Default: 10,000.
  std::size_t max_in_flight_events = 10000;
  // How long Stop() waits for in-flight events before giving up on them (they ship again
  // from the checkpoint next time). Default: 10 s.
  std::chrono::milliseconds drain_timeout{10000};
  // A producer that makes no progress this long while the brokers answer is replaced, and
  // shipping rewinds to the checkpoint (status: rewinds, last_error). Progress is an
  // acknowledgement or a failed delivery; time the brokers were unreachable does not count,
  // so an outage never triggers it. It exists because librdkafka's idempotent producer can
  // wait indefinitely on one broker for a producer id after the cluster restarts
  // (docs/shipping.md, "Stalls"). At-least-once may then re-send the events in flight; in
  // exactly-once mode their transaction is aborted. Zero disables it. Default: 30 s.
  std::chrono::milliseconds stall_timeout{30000};

  // --- Logging ---
  // Default (empty): standard error, prefixed "cairn".
  LogSink log_sink;
  // Default: LogLevel::kWarn.
  LogLevel log_level = LogLevel::kWarn;
};

enum class ShipperState : std::uint8_t {
  kStarting,    // connecting, reading the checkpoint
  kShipping,    // producing; may be idle at the head
  kRecovering,  // rewinding to the checkpoint after a failed delivery or a producer reset
  kStopped,
  kFailed,  // gave up (fenced by another shipper, bad configuration); see last_error
};

std::string_view ToString(ShipperState state);

struct ShipperStatus {
  ShipperState state = ShipperState::kStarting;
  bool broker_reachable = false;    // at least one broker connection is up
  std::uint64_t head_position = 0;  // the store's committed head
  // Every event at or below is in Kafka or dead. Exactly-once while kStarting: the store's
  // checkpoint, not yet checked against Kafka's (see WaitUntilShipped).
  std::uint64_t shipped_through = 0;
  std::uint64_t lag_events = 0;       // head_position - shipped_through
  std::uint64_t lag_bytes = 0;        // estimate: in-flight bytes exact, rest by mean size
  double lag_seconds = 0;             // age of the oldest unshipped event
  std::uint64_t events_shipped = 0;   // acknowledged by Kafka since start
  std::uint64_t bytes_shipped = 0;    // their value bytes
  double events_per_second = 0;       // over the last few seconds
  double produce_latency_p50_ms = 0;  // produce() -> acknowledgement, recent
  double produce_latency_p99_ms = 0;
  std::uint64_t delivery_errors = 0;  // failed deliveries (each led to a retry or a dead letter)
  std::uint64_t rewinds = 0;          // times shipping restarted from the checkpoint
  std::uint64_t dead_letters = 0;     // recorded since start
  std::uint64_t transactions_committed = 0;  // exactly-once
  std::string last_error;
  // The store's backlog quota and its use (StoreOptions::backlog_quota; zeros without one).
  BacklogStatus backlog;
};

// Runs one shipping thread. Thread-safety: every method may be called from any thread.
// The store must outlive the shipper, and the shipper holds readers on it: stop (or destroy)
// the shipper before closing the store.
class Shipper {
 public:
  // Validates the options, reads the checkpoint and starts shipping in the background.
  // Returns kInvalidArgument for bad options; a broker that is down is not an error (the
  // shipper keeps trying and the status says so).
  static Result<std::unique_ptr<Shipper>> Start(Store& store, ShipperOptions options);

  ShipperStatus GetStatus() const;
  // The shipped-through position alone: cheaper than GetStatus(), for tight loops.
  std::uint64_t shipped_through() const;
  // The status as Prometheus text exposition (metric names cairn_shipper_*).
  std::string PrometheusMetrics() const;

  // Waits until every event at or below `position` is in Kafka (or dead-lettered).
  // kTimedOut when it is not within `timeout`; the shipper's error if it failed. Exactly-once,
  // not before the shipper has read Kafka's checkpoint record (state past kStarting): until
  // then GetStatus().shipped_through is the store's checkpoint, which may be ahead of Kafka's.
  Status WaitUntilShipped(std::uint64_t position, std::chrono::milliseconds timeout);

  // Stops producing, waits up to `drain_timeout` (from the options) for in-flight events,
  // saves the checkpoint and joins the thread. Idempotent.
  Status Stop();

  ~Shipper();  // Stop()
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

 private:
  // The implementation lives in src/; nothing of it is reachable from this header.
  class Impl;
  explicit Shipper(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct DeadLetterRetry {
  std::uint64_t sent = 0;    // acknowledged by Kafka; their records are removed
  std::uint64_t failed = 0;  // failed again; their records now carry the new error
  std::uint64_t held = 0;    // not sent: an earlier event of their stream failed again
};

// Sends dead letters again — those at `positions`, or all of them when empty — in position
// order, with the shipper's message mapping (`options`: bootstrap servers, settings, routes,
// value format, type header; the mode is at-least-once), one at a time, and removes each
// record once Kafka acknowledged it. A stream's later events go only after its earlier ones
// succeeded, so a stream whose hold is lifted stays in order. Needs the store open writable
// and its shipper stopped: the retried events are past the shipper's checkpoint.
Result<DeadLetterRetry> RetryDeadLetters(Store& store, const ShipperOptions& options,
                                         std::span<const std::uint64_t> positions = {});

}  // namespace cairn
