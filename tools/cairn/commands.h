// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// What the tool's subcommands share: their argument structs, the store opening rules and
// the Kafka settings they read from files.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/cairn.h"
#include "cairn/embedded_kafka.h"
#include "cairn/shipper.h"

namespace cairn::tool {

// Defaults of options that mirror a library option are read from the library's options
// struct, so the tool and the library cannot drift apart.

struct CommonOptions {
  std::string log_level = "warn";
};

struct InfoArgs {
  std::string store;
  std::string format = "text";
};
int RunInfo(const CommonOptions& common, const InfoArgs& args);

struct AppendArgs {
  std::string store;
  std::string stream;
  std::string type;
  std::string expected_version = "any";
  std::string id;
  std::string content_type = "application/json";
  std::string metadata;
  std::optional<std::string> data;
  std::optional<std::string> traceparent;  // else $TRACEPARENT
  std::optional<std::string> tracestate;   // else $TRACESTATE (with $TRACEPARENT only)
  bool jsonl = false;
  bool each = false;  // --jsonl: a result per append instead of the summary
  std::string durability = "sync";
  std::string format = "text";
};
int RunAppend(const CommonOptions& common, const AppendArgs& args);

// The W3C trace context an append gives its events (to each --jsonl line without its own
// traceparent): --traceparent and --tracestate, else the TRACEPARENT and TRACESTATE
// environment variables (the convention of OpenTelemetry's environment carrier, which
// otel-cli and CI systems set). `--traceparent ''` means none, whatever the environment.
// Checked (ValidateTraceContext); an error names where the bad value came from.
struct AppendTrace {
  std::string traceparent;
  std::string tracestate;
};
Result<AppendTrace> AppendTraceOf(const AppendArgs& args);

struct ReadArgs {
  std::string store;
  std::string stream;  // empty: the global log
  std::optional<std::uint64_t> from;
  bool backward = false;
  std::uint64_t limit = UINT64_MAX;
  std::string format;  // default: table at a TTY, jsonl otherwise
};
int RunRead(const CommonOptions& common, const ReadArgs& args);

// Kafka client settings shared by every command that talks to Kafka (ship, demo).
struct KafkaArgs {
  // -b / --bootstrap-servers / --bootstrap-server; bootstrap.servers in the config file or
  // KAFKA_BOOTSTRAP_SERVERS when not given. Given but empty is a usage error.
  std::optional<std::string> bootstrap_servers;
  std::vector<std::string> settings;  // -X key=value
  std::string config_file;            // --kafka-config / --command-config / --producer.config
};
// The settings in the order librdkafka should apply them: the file, then each -X. Java-only
// keys of the file are translated or skipped with a warning (TranslateJavaClientProperties);
// an unknown -X key stays an error. A file that cannot be read is a usage error.
Result<std::vector<std::pair<std::string, std::string>>> LoadKafkaSettings(const KafkaArgs& args);
// The brokers to use: -b, else bootstrap.servers from `settings` (returned empty: the settings
// carry it), else KAFKA_BOOTSTRAP_SERVERS when `use_environment`. Empty when none is given;
// kInvalidArgument for a -b given empty or a list that is not host:port,...
Result<std::string> ResolveBootstrap(
    const KafkaArgs& args, const std::vector<std::pair<std::string, std::string>>& settings,
    bool use_environment);
// Shipper options with the log level, settings and bootstrap servers of these arguments.
Result<ShipperOptions> ProducerOptions(const CommonOptions& common, const KafkaArgs& kafka);
// A routes file's rules (none for an empty path); its `default` line sets *default_topic.
Result<std::vector<RouteRule>> LoadRoutes(const std::string& path, std::string* default_topic);
// --value (payload, envelope or cloudevents) and --cloudevents-source into `o`.
Status ApplyValueFormat(const std::string& value, const std::optional<std::string>& ce_source,
                        ShipperOptions* o);

struct ShipArgs {
  std::string store;
  KafkaArgs kafka;
  std::string mode = "at-least-once";
  std::string routes_file;
  std::string default_topic = ShipperOptions{}.default_topic;
  std::string value = "payload";
  std::optional<std::string> cloudevents_source;
  std::string type_header = ShipperOptions{}.type_header;
  std::string dead_letter_topic;
  std::string dead_letter_policy = "hold";
  std::string checkpoint_topic = ShipperOptions{}.checkpoint_topic;
  std::string metrics_listen;  // host:port
  double drain_timeout_s = ShipperOptions{}.drain_timeout.count() / 1000.0;
  double stall_timeout_s = ShipperOptions{}.stall_timeout.count() / 1000.0;
  double transaction_interval_s = ShipperOptions{}.transaction_max_interval.count() / 1000.0;
  bool overlap_transactions = ShipperOptions{}.overlap_transactions;
  bool exit_when_caught_up = false;
  std::string format = "text";
  // Ship to a throwaway Kafka inside this process (the shipper then keeps its position under
  // the checkpoint name "embedded-kafka", never "shipper", which retention trusts).
  bool embedded_kafka = false;
};
int RunShip(const CommonOptions& common, const ShipArgs& args);
// Shared by ship and serve.
// Everything of the shipper arguments that becomes a ShipperOptions field.
Result<ShipperOptions> ShipOptions(const CommonOptions& common, const ShipArgs& args);
// --embedded-kafka: a throwaway Kafka in this process, exclusive with given brokers. Returns
// null when brokers are given.
Result<std::unique_ptr<EmbeddedKafka>> EmbeddedKafkaIfAsked(const ShipArgs& args,
                                                            ShipperOptions* o);
// SIGINT and SIGTERM set the pending signal (0: none) instead of ending the process.
void InstallSignalHandlers();
int PendingSignal();
// "host:port" split (an empty host or "*" is every interface); errors name `option`.
Result<std::pair<std::string, int>> ParseListen(const std::string& addr, std::string_view option);
std::string StatusLine(const ShipperStatus& s);

struct KafkaMockArgs {
  int brokers = 3;
  std::vector<std::string> topics;  // NAME:PARTITIONS
  std::string bootstrap_file;
};
int RunKafkaMock(const CommonOptions& common, const KafkaMockArgs& args);

struct DemoArgs {
  std::string store;  // empty: a temporary directory, removed afterwards
  int orders = 20000;
  int threads = 8;
  std::string durability = "sync";
  KafkaArgs kafka;
  bool no_kafka = false;
  double outage_s = 2.0;
};
int RunDemo(const CommonOptions& common, const DemoArgs& args);

// --- audit commands (audit.cc) ---
struct EventFilterArgs {
  std::vector<std::string> types;
  std::string stream;
  std::string category;
  std::string since, until;  // RFC 3339 or relative ("2h", "30m", "7d", "90s")
  std::uint64_t from_position = 1;
  std::uint64_t to_position = UINT64_MAX;
  std::vector<std::string> where;  // path=value on the JSON payload
  std::uint64_t limit = UINT64_MAX;
};

struct QueryArgs {
  std::string store;
  EventFilterArgs filter;
  std::string format;  // table (default at a TTY), jsonl, json, csv
  std::string output;  // export: a file instead of stdout
};
int RunQuery(const CommonOptions& common, const QueryArgs& args);
int RunExport(const CommonOptions& common, const QueryArgs& args);

struct TailArgs {
  std::string store;
  EventFilterArgs filter;
  bool from_end = true;
  std::string format;
  double poll_interval_s = 0.2;
  std::uint64_t max_events = UINT64_MAX;  // stop after this many (scripts, tests)
};
int RunTail(const CommonOptions& common, const TailArgs& args);

struct VerifyArgs {
  std::string store;
  std::uint64_t from_position = 1;
  std::vector<std::string> expect;  // POSITION:HASH, heads noted earlier
  std::string format = "text";
};
int RunVerify(const CommonOptions& common, const VerifyArgs& args);

struct RepairArgs {
  std::string store;
  bool dry_run = false;
  std::string backup_dir;
  std::string format = "text";
};
int RunRepair(const CommonOptions& common, const RepairArgs& args);

struct StreamsArgs {
  std::string store;
  std::string prefix;
  std::uint64_t limit = UINT64_MAX;
  std::string format;  // table at a TTY, jsonl otherwise
};
int RunStreams(const CommonOptions& common, const StreamsArgs& args);

struct StatusArgs {
  std::string store;
  std::string format = "text";
};
int RunStatus(const CommonOptions& common, const StatusArgs& args);

struct DeadLettersArgs {
  std::string store;
  std::string action = "list";           // list | retry
  std::vector<std::uint64_t> positions;  // retry these (with --all: every one)
  bool all = false;
  KafkaArgs kafka;
  std::string routes_file;
  std::string default_topic = ShipperOptions{}.default_topic;
  std::string type_header = ShipperOptions{}.type_header;
  std::string value = "payload";
  std::optional<std::string> cloudevents_source;
  std::string format;
};
int RunDeadLetters(const CommonOptions& common, const DeadLettersArgs& args);

struct ReconcileArgs {
  std::string store;
  KafkaArgs kafka;
  std::string routes_file;
  std::string default_topic = ShipperOptions{}.default_topic;
  std::vector<std::string> topics;  // explicit topics instead of the routes
  std::string checkpoint = kShipperCheckpoint;
  std::string format = "text";
};
int RunReconcile(const CommonOptions& common, const ReconcileArgs& args);

struct StreamMetaArgs {
  std::string store, stream, format = "text";
  std::string max_age;
  std::optional<std::uint64_t> max_count, truncate_before;
  bool clear = false;
};
int RunStreamMeta(const CommonOptions& common, const StreamMetaArgs& args);

struct DeleteStreamArgs {
  std::string store, stream, expected_version = "any";
};
int RunDeleteStream(const CommonOptions& common, const DeleteStreamArgs& args);

struct RetentionArgs {
  std::string store, format = "text";
  std::string max_age, min_audit_age = "30d";
  std::optional<std::uint64_t> max_events;
  std::vector<std::string> checkpoints;
  bool not_shipped = false;
  bool dry_run = false;
};
int RunRetention(const CommonOptions& common, const RetentionArgs& args);

struct CheckpointsArgs {
  std::string store, format = "text";
  std::vector<std::string> set;
  bool create = false;              // --set may make a checkpoint that does not exist yet
  std::vector<std::string> remove;  // --delete NAME
};
int RunCheckpoints(const CommonOptions& common, const CheckpointsArgs& args);

// Opens a store that must exist, unless `create` (only `append` creates stores: a mistyped
// path given to any other command is an error, not a new empty store).
enum class Format;  // output.h
// `cairn append --jsonl` on an open store (append_jsonl.cc): the exit code, errors printed.
int RunAppendJsonl(Store& store, const AppendArgs& args, const AppendTrace& trace,
                   const ExpectedVersion& expected, Format format);
Result<std::unique_ptr<Store>> OpenStore(const CommonOptions& common, const std::string& path,
                                         bool writable, Durability durability = Durability::kSync,
                                         bool create = false);
// Read-only, following a writer that may be appending (a RocksDB secondary instance).
Result<std::unique_ptr<Store>> OpenForAudit(const CommonOptions& common, const std::string& path);
void PrintTableHeader();
void PrintTableRow(const RecordedEvent& e);

Result<LogLevel> ParseLogLevel(const std::string& name);
Result<Durability> ParseDurability(const std::string& name);

}  // namespace cairn::tool
