// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The cairn command-line tool. Each subcommand's options live in commands.h; this file only
// wires them to CLI11 and maps parse errors to exit code 2.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cairn/version.h"
#include "commands.h"
#include "output.h"

int main(int argc, char** argv) {
  using namespace cairn::tool;
  CLI::App app{"cairn: an embeddable event store with a Kafka shipper.\n"
               "Audit, append to and read cairn stores. docs/cli.md is the manual."};
  app.set_version_flag("--version", std::string("cairn ") + CAIRN_VERSION_STRING);
  app.require_subcommand(1);
  app.fallthrough();  // global options (--log-level) may follow the subcommand too
  app.footer("Exit codes: 0 ok, 1 error, 2 usage, 3 version conflict, 4 not found, "
             "5 corruption, 6 store locked, 7 Kafka differs (reconcile).");
  app.set_help_all_flag("--help-all", "Help for every command");
  CommonOptions common;
  app.add_option("--log-level", common.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();

  InfoArgs info;
  auto* info_cmd = app.add_subcommand("info", "Show a store's id, format, size and head");
  info_cmd->add_option("STORE", info.store, "Store directory")->required();
  info_cmd->add_option("--format", info.format, "text or json")->capture_default_str();
  info_cmd->footer("Example: cairn info /var/lib/orders/events --format json");

  AppendArgs append;
  auto* append_cmd = app.add_subcommand(
      "append", "Append an event (payload from --data or stdin), or many with --jsonl");
  append_cmd->add_option("STORE", append.store, "Store directory (created if missing)")->required();
  append_cmd->add_option("STREAM", append.stream,
                         "Stream id; with --jsonl the default for lines without \"stream\"");
  append_cmd->add_option("--type,-t", append.type, "Event type (required without --jsonl)");
  append_cmd->add_option("--expected-version,-e", append.expected_version,
                         "N, any, no-stream or exists")
      ->capture_default_str();
  append_cmd->add_option("--id", append.id, "Caller-chosen event id (UUID): makes retries idempotent");
  append_cmd->add_option("--content-type", append.content_type, "Payload content type")
      ->capture_default_str();
  append_cmd->add_option("--metadata", append.metadata, "Metadata bytes (e.g. JSON)");
  append_cmd->add_option("--data,-d", append.data, "Payload; read from stdin when absent");
  append_cmd->add_flag("--jsonl", append.jsonl,
                       "Read events from stdin, one JSON object a line: "
                       "{\"stream\",\"type\",\"data\"|\"data_base64\",\"id\",\"content_type\",\"metadata\"}");
  append_cmd->add_option("--durability", append.durability, "sync or buffered")->capture_default_str();
  append_cmd->add_option("--format", append.format, "text or json")->capture_default_str();
  append_cmd->footer(
      "Examples:\n"
      "  cairn append ./store order-42 --type OrderPlaced --expected-version no-stream \\\n"
      "      --data '{\"total\":99.5}'\n"
      "  cairn read ./old --format jsonl | cairn append ./new --jsonl");

  ReadArgs read;
  std::uint64_t read_from = 0;
  auto* read_cmd = app.add_subcommand("read", "Read a stream, or the global log without STREAM");
  read_cmd->add_option("STORE", read.store, "Store directory")->required();
  read_cmd->add_option("STREAM", read.stream, "Stream id; omit to read the global log");
  auto* from_opt = read_cmd->add_option(
      "--from", read_from, "First version (stream) or position (log); default: the first or, "
                           "with --backward, the last");
  read_cmd->add_flag("--backward", read.backward, "Newest first");
  read_cmd->add_option("--limit,-n", read.limit, "Most events to print");
  read_cmd->add_option("--format", read.format,
                       "table, json or jsonl (default: table at a terminal, jsonl otherwise)");
  read_cmd->footer("Example: cairn read ./store order-42 --backward --limit 5 --format json");

  // --- lifecycle commands ---
  StreamMetaArgs meta;
  auto* meta_cmd = app.add_subcommand(
      "stream-meta", "Show or set a stream's retention metadata (max age, max count, truncate before)");
  meta_cmd->add_option("STORE", meta.store, "Store directory")->required();
  meta_cmd->add_option("STREAM", meta.stream, "Stream id")->required();
  meta_cmd->add_option("--max-age", meta.max_age, "Retention may remove events older than this (90s, 30m, 2h, 7d)");
  meta_cmd->add_option("--max-count", meta.max_count, "Retention may remove all but the newest N events");
  meta_cmd->add_option("--truncate-before", meta.truncate_before,
                       "Hide versions below V from stream reads now; retention may remove them");
  meta_cmd->add_flag("--clear", meta.clear, "Drop every setting");
  meta_cmd->add_option("--format", meta.format, "text or json")->capture_default_str();
  meta_cmd->footer("Settings not given keep their value. Without settings: show, beside a running writer.\n"
                   "Example: cairn stream-meta ./store cart-42 --max-age 90d --max-count 1000");

  DeleteStreamArgs del;
  auto* delete_cmd = app.add_subcommand(
      "delete-stream", "Soft-delete a stream: hide its events now; appends continue at the next version");
  delete_cmd->add_option("STORE", del.store, "Store directory")->required();
  delete_cmd->add_option("STREAM", del.stream, "Stream id")->required();
  delete_cmd->add_option("--expected-version,-e", del.expected_version, "N, any or exists")
      ->capture_default_str();
  delete_cmd->footer("The events stay in the log (and are shipped) until `cairn retention` removes them.\n"
                     "Example: cairn delete-stream ./store cart-42 --expected-version 7");

  RetentionArgs retention;
  auto* retention_cmd = app.add_subcommand(
      "retention", "Remove events the retention rules allow (or show what would go, with --dry-run)");
  retention_cmd->add_option("STORE", retention.store, "Store directory")->required();
  retention_cmd->add_option("--max-age", retention.max_age, "Store-wide: events older than this may go");
  retention_cmd->add_option("--max-events", retention.max_events, "Store-wide: keep at most the newest N events");
  retention_cmd->add_option("--min-audit-age", retention.min_audit_age,
                            "Never remove events younger than this")->capture_default_str();
  retention_cmd->add_option("--checkpoint", retention.checkpoints,
                            "Checkpoint that must have passed an event (repeatable; default: shipper)");
  retention_cmd->add_flag("--not-shipped", retention.not_shipped, "The store is not shipped: no checkpoint holds events back");
  retention_cmd->add_flag("--dry-run", retention.dry_run, "Report only; reads beside a running writer");
  retention_cmd->add_option("--format", retention.format, "text or json")->capture_default_str();
  retention_cmd->footer("Per-stream rules come from `cairn stream-meta` and soft deletes.\n"
                        "Examples:\n  cairn retention ./store --max-age 400d --dry-run\n"
                        "  cairn retention ./store --max-age 400d --format json");

  CheckpointsArgs checkpoints;
  auto* checkpoints_cmd = app.add_subcommand(
      "checkpoints", "List consumer checkpoints (shipper, subscriptions) with their lag, or move one");
  checkpoints_cmd->add_option("STORE", checkpoints.store, "Store directory")->required();
  checkpoints_cmd->add_option("--set", checkpoints.set,
                              "NAME=POSITION: move a checkpoint (repeatable; needs the writer)");
  checkpoints_cmd->add_option("--format", checkpoints.format, "text or json")->capture_default_str();
  checkpoints_cmd->footer("Example (replay a projection from the start):\n"
                          "  cairn checkpoints ./store --set subscription.billing=0");

  // --- audit commands ---
  auto add_filters = [](CLI::App* cmd, EventFilterArgs& f) {
    cmd->add_option("--type", f.types, "Event type (repeatable: any of them)");
    cmd->add_option("--stream", f.stream, "One stream");
    cmd->add_option("--category", f.category, "Stream category (the id before its first '-')");
    cmd->add_option("--since", f.since, "From this time: RFC 3339 or a duration ago (2h, 30m, 7d)");
    cmd->add_option("--until", f.until, "Up to this time (same forms)");
    cmd->add_option("--from-position", f.from_position, "First position");
    cmd->add_option("--to-position", f.to_position, "Last position");
    cmd->add_option("--where", f.where,
                    "JSON payload field equals a value: path.to.field=value (repeatable: all)");
    cmd->add_option("--limit,-n", f.limit, "Most events to print");
  };

  QueryArgs query;
  auto* query_cmd = app.add_subcommand("query", "Find events by type, stream, category, time, position or payload field");
  query_cmd->add_option("STORE", query.store, "Store directory")->required();
  add_filters(query_cmd, query.filter);
  query_cmd->add_option("--format", query.format,
                        "table, jsonl, json or csv (default: table at a terminal, jsonl otherwise)");
  query_cmd->footer(
      "Examples:\n"
      "  cairn query ./store --type OrderPlaced --since 2h\n"
      "  cairn query ./store --category order --where customerId=c-42 --format csv\n"
      "  cairn query ./store --since 2026-11-27T09:00:00Z --until 2026-11-27T10:00:00Z -n 100");

  QueryArgs exp;
  auto* export_cmd = app.add_subcommand(
      "export", "Write events as JSON Lines that `cairn append --jsonl` reads back");
  export_cmd->add_option("STORE", exp.store, "Store directory")->required();
  add_filters(export_cmd, exp.filter);
  export_cmd->add_option("--output,-o", exp.output, "Write to this file instead of stdout");
  export_cmd->footer("Example: cairn export ./store -o events.jsonl && cairn append ./copy --jsonl < events.jsonl");

  TailArgs tail;
  std::uint64_t tail_from = 0;
  auto* tail_cmd = app.add_subcommand("tail", "Follow new events live (also while a service appends)");
  tail_cmd->add_option("STORE", tail.store, "Store directory")->required();
  add_filters(tail_cmd, tail.filter);
  auto* tail_from_opt =
      tail_cmd->add_option("--from-start-position", tail_from, "Print from this position, then follow");
  tail_cmd->add_flag("--from-end", tail.from_end, "Only events appended from now on (default)");
  tail_cmd->add_option("--format", tail.format, "table, jsonl or csv");
  tail_cmd->add_option("--poll-interval", tail.poll_interval_s, "Seconds between looks for new events")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  tail_cmd->add_option("--max-events", tail.max_events, "Exit after printing this many");
  tail_cmd->footer("Example: cairn tail /var/lib/orders/events --category order --format jsonl");

  VerifyArgs verify;
  auto* verify_cmd = app.add_subcommand(
      "verify", "Check every envelope, the hash chain, the indexes and the checkpoints");
  verify_cmd->add_option("STORE", verify.store, "Store directory")->required();
  verify_cmd->add_option("--from-position", verify.from_position,
                         "Verify the log and chain from here (indexes need position 1)")
      ->capture_default_str();
  verify_cmd->add_option("--expect", verify.expect,
                         "POSITION:HASH, a head noted earlier (cairn info): it must still be in "
                         "the log with that chain hash (repeatable)");
  verify_cmd->add_option("--format", verify.format, "text or json")->capture_default_str();
  verify_cmd->footer("Exit 0 when everything holds, 5 naming the first bad position otherwise.\n"
                     "The chain cannot show events removed from the end of the log: keep the\n"
                     "head (cairn info: events, chain head) somewhere else and pass it with\n"
                     "--expect, or compare with Kafka (cairn reconcile).\n"
                     "Example: cairn verify /var/lib/orders/events --expect 1200:9f3a...e1 --format json");

  RepairArgs repair;
  auto* repair_cmd = app.add_subcommand(
      "repair", "Recover a store whose write-ahead log is damaged (keeps a copy first)");
  repair_cmd->add_option("STORE", repair.store, "Store directory")->required();
  repair_cmd->add_flag("--dry-run", repair.dry_run,
                       "Say what would be dropped and kept; change nothing");
  repair_cmd->add_option("--backup-dir", repair.backup_dir,
                         "Where the copy of the store goes (default STORE.before-repair-TIME)");
  repair_cmd->add_option("--format", repair.format, "text or json")->capture_default_str();
  repair_cmd->footer(
      "The only command that drops stored data: a write-ahead log damaged anywhere but in its\n"
      "last record (which a crash may tear) makes every other command exit 5 naming the file\n"
      "and offset. repair copies the store, replays the log up to the damage and drops the\n"
      "rest, saying how much; the store records the repair (cairn info).\n"
      "Example: cairn repair /var/lib/orders/events --dry-run");

  StreamsArgs streams;
  auto* streams_cmd = app.add_subcommand("streams", "List streams: last version, events, first and last time");
  streams_cmd->add_option("STORE", streams.store, "Store directory")->required();
  streams_cmd->add_option("--prefix", streams.prefix, "Only streams whose id starts with this");
  streams_cmd->add_option("--limit,-n", streams.limit, "Most streams to list");
  streams_cmd->add_option("--format", streams.format, "table, jsonl, json or csv");
  streams_cmd->footer("Example: cairn streams ./store --prefix order- -n 20");

  StatusArgs status;
  auto* status_cmd = app.add_subcommand("status", "Shipper checkpoint, lag and dead letters of a store");
  status_cmd->add_option("STORE", status.store, "Store directory")->required();
  status_cmd->add_option("--format", status.format, "text or json")->capture_default_str();

  DeadLettersArgs dead;
  auto* dead_cmd = app.add_subcommand("dead-letters", "List the events the shipper could not deliver");
  dead_cmd->add_option("STORE", dead.store, "Store directory")->required();

  // Kafka client options, the way the Kafka tools and kcat spell them.
  auto add_kafka_options = [](CLI::App* cmd, KafkaArgs& k) {
    cmd->add_option("--bootstrap-servers,--bootstrap-server,-b", k.bootstrap_servers,
                    "Kafka brokers host:port,...; else bootstrap.servers in --kafka-config, "
                    "else KAFKA_BOOTSTRAP_SERVERS");
    cmd->add_option("-X", k.settings,
                    "librdkafka setting key=value, passed through (repeatable), e.g. "
                    "-X security.protocol=SASL_SSL");
    cmd->add_option("--kafka-config,--command-config,--producer.config", k.config_file,
                    "Kafka client properties file, as the Kafka tools read it (Java-only keys "
                    "are translated or skipped with a warning)");
  };

  ReconcileArgs reconcile;
  auto* reconcile_cmd = app.add_subcommand(
      "reconcile", "Read the topics back and report events missing, duplicated, reordered or altered in Kafka");
  reconcile_cmd->add_option("STORE", reconcile.store, "Store directory")->required();
  add_kafka_options(reconcile_cmd, reconcile.kafka);
  reconcile_cmd->add_option("--routes", reconcile.routes_file, "The routes file the shipper uses");
  reconcile_cmd->add_option("--default-topic", reconcile.default_topic, "As for ship")->capture_default_str();
  reconcile_cmd->add_option("--topic", reconcile.topics, "Read these topics instead (repeatable)");
  reconcile_cmd->add_option("--checkpoint", reconcile.checkpoint,
                            "Shipper checkpoint name: events past it count as not shipped yet")
      ->capture_default_str();
  reconcile_cmd->add_option("--format", reconcile.format, "text or json")->capture_default_str();
  reconcile_cmd->footer("Exit 0 when Kafka holds exactly the shipped events, 7 when it does not.\n"
                        "Example: cairn reconcile ./store -b localhost:9092 --routes routes.txt");

  dead_cmd->add_option("ACTION", dead.action, "list (default) or retry")->capture_default_str();
  dead_cmd->add_option("--position", dead.positions, "retry: the dead letter at this position (repeatable)");
  dead_cmd->add_flag("--all", dead.all, "retry: every dead letter, in position order");
  add_kafka_options(dead_cmd, dead.kafka);
  dead_cmd->add_option("--routes", dead.routes_file, "retry: the shipper's routes file");
  dead_cmd->add_option("--default-topic", dead.default_topic, "retry: as for ship")->capture_default_str();
  dead_cmd->add_option("--type-header", dead.type_header, "retry: as for ship")->capture_default_str();
  dead_cmd->add_option("--value", dead.value, "retry: payload or envelope")->capture_default_str();
  dead_cmd->add_option("--format", dead.format, "list: table, jsonl, json or csv");
  dead_cmd->footer(
      "Retry needs the store's writer stopped (it rewrites the records) and the same Kafka\n"
      "settings as ship. Examples:\n"
      "  cairn dead-letters ./store\n"
      "  cairn dead-letters ./store retry --all -b localhost:9092 -X message.max.bytes=2000000");

  ShipArgs ship;
  auto* ship_cmd = app.add_subcommand(
      "ship", "Ship a store's events to Kafka in the foreground (Ctrl-C drains and stops)");
  ship_cmd->add_option("STORE", ship.store, "Store directory")->required();
  add_kafka_options(ship_cmd, ship.kafka);
  ship_cmd->add_option("--mode", ship.mode, "at-least-once or exactly-once")->capture_default_str();
  ship_cmd->add_option("--routes", ship.routes_file,
                       "Routes file: 'category C TOPIC', 'type-prefix P TOPIC', 'default TOPIC'");
  ship_cmd->add_option("--default-topic", ship.default_topic, "Topic for events no route matches")
      ->capture_default_str();
  ship_cmd->add_option("--value", ship.value, "payload or envelope")->capture_default_str();
  ship_cmd->add_option("--type-header", ship.type_header,
                       "Header carrying the event type (Spring: __TypeId__)")
      ->capture_default_str();
  ship_cmd->add_option("--dead-letter-topic", ship.dead_letter_topic,
                       "Also send dead letters to this topic, with error headers");
  ship_cmd->add_option("--dead-letter-policy", ship.dead_letter_policy,
                       "hold (later events of the stream wait) or skip")
      ->capture_default_str();
  ship_cmd->add_option("--checkpoint-topic", ship.checkpoint_topic,
                       "Compacted topic of exactly-once checkpoints")
      ->capture_default_str();
  ship_cmd->add_option("--metrics-listen", ship.metrics_listen,
                       "Serve Prometheus metrics at http://ADDR/metrics (e.g. :9464)");
  ship_cmd->add_option("--drain-timeout", ship.drain_timeout_s,
                       "Seconds to wait for in-flight events when stopping")
      ->capture_default_str();
  ship_cmd->add_flag("--exit-when-caught-up", ship.exit_when_caught_up,
                     "Stop once everything appended before the start is in Kafka");
  ship_cmd->add_option("--format", ship.format, "Final summary: text or json")->capture_default_str();
  ship_cmd->add_flag("--embedded-kafka", ship.embedded_kafka,
                     "Ship to a throwaway Kafka inside this process (for trying cairn out; "
                     "its position is kept as checkpoint 'embedded-kafka', not 'shipper')");
  ship_cmd->footer(
      "Examples:\n"
      "  cairn ship ./store -b b-1.msk:9096 --kafka-config client.properties --routes routes.txt\n"
      "  cairn ship ./store -b localhost:9092 --mode exactly-once --metrics-listen :9464\n"
      "  cairn ship ./store -b localhost:9092 -X linger.ms=20 -X compression.type=snappy");

  KafkaMockArgs mock;
  auto* mock_cmd = app.add_subcommand(
      "kafka-mock", "Run an embedded Kafka (librdkafka's mock cluster) for tests and demos");
  mock_cmd->add_option("--brokers", mock.brokers, "Number of brokers")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  mock_cmd->add_option("--topic", mock.topics, "Create a topic: NAME:PARTITIONS (repeatable)");
  mock_cmd->add_option("--bootstrap-file", mock.bootstrap_file,
                       "Write the bootstrap servers to this file once listening");
  mock_cmd->footer(
      "Prints the bootstrap servers on stdout and runs until SIGINT/SIGTERM. Not a real broker:\n"
      "about 5 MiB per partition, no transaction markers, data gone at exit.\n"
      "Example: cairn kafka-mock --brokers 3 --topic order-events:20 --bootstrap-file /tmp/bs");

  DemoArgs demo;
  auto* demo_cmd = app.add_subcommand(
      "demo", "Append a realistic e-commerce workload, ship it to Kafka through a broker "
              "outage, and report what it did");
  demo_cmd->add_option("--store", demo.store, "Keep the store in this directory (default: temporary)");
  demo_cmd->add_option("--orders", demo.orders, "Orders to place")->capture_default_str()->check(CLI::Range(1, 10000000));
  demo_cmd->add_option("--threads", demo.threads, "Concurrent appenders")->capture_default_str()->check(CLI::Range(1, 256));
  demo_cmd->add_option("--durability", demo.durability, "sync or buffered")->capture_default_str();
  add_kafka_options(demo_cmd, demo.kafka);
  demo_cmd->add_flag("--no-kafka", demo.no_kafka, "Only the store: no shipping");
  demo_cmd->add_option("--outage", demo.outage_s,
                       "Seconds every embedded broker is down mid-run (0: none)")
      ->capture_default_str();

  // Counts, positions and versions are unsigned: "-1" would wrap to 2^64-1 and read as "no
  // limit". Refuse negative numbers on every such option, in every subcommand.
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    for (CLI::Option* opt : sub->get_options())
      if (opt->get_type_name() == "UINT")
        opt->check(CLI::Validator(
            [](std::string& value) -> std::string {
              const auto at = value.find_first_not_of(" \t");
              return at != std::string::npos && value[at] == '-'
                         ? "'" + value + "' is negative; a count or position is 0 or more"
                         : std::string();
            },
            "", "non-negative"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "cairn: %s\nRun with --help for usage.\n", e.what());
    return kExitUsage;
  }
  if (from_opt->count() > 0) read.from = read_from;
  if (tail_from_opt->count() > 0) {
    tail.from_end = false;
    tail.filter.from_position = tail_from;
  }

  const auto Dispatch = [&]() -> int {
    if (info_cmd->parsed()) return RunInfo(common, info);
    if (meta_cmd->parsed()) return RunStreamMeta(common, meta);
    if (delete_cmd->parsed()) return RunDeleteStream(common, del);
    if (retention_cmd->parsed()) return RunRetention(common, retention);
    if (checkpoints_cmd->parsed()) return RunCheckpoints(common, checkpoints);
    if (append_cmd->parsed()) return RunAppend(common, append);
    if (read_cmd->parsed()) return RunRead(common, read);
    if (demo_cmd->parsed()) return RunDemo(common, demo);
    if (ship_cmd->parsed()) return RunShip(common, ship);
    if (query_cmd->parsed()) return RunQuery(common, query);
    if (reconcile_cmd->parsed()) return RunReconcile(common, reconcile);
    if (export_cmd->parsed()) return RunExport(common, exp);
    if (tail_cmd->parsed()) return RunTail(common, tail);
    if (verify_cmd->parsed()) return RunVerify(common, verify);
    if (repair_cmd->parsed()) return RunRepair(common, repair);
    if (streams_cmd->parsed()) return RunStreams(common, streams);
    if (status_cmd->parsed()) return RunStatus(common, status);
    if (dead_cmd->parsed()) return RunDeadLetters(common, dead);
    if (mock_cmd->parsed()) return RunKafkaMock(common, mock);
    return kExitUsage;
  };
  // Output that could not be written (a full disk, a closed pipe's reader gone, /dev/full)
  // fails the command: a truncated listing must not look like a whole one.
  const auto finish = [](int code) {
    std::cout.flush();
    const bool failed = std::cout.fail() || std::fflush(stdout) != 0 || std::ferror(stdout);
    if (failed && code == kExitOk) {
      std::fprintf(stderr, "cairn: writing to stdout failed (a full disk?): the output is incomplete\n");
      return kExitError;
    }
    return code;
  };
  return finish(Dispatch());
}
