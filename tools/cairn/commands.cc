// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `cairn info`, `append` (one event, or --jsonl in groups) and `read`.
#include "commands.h"
#include "command.h"

#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <mutex>
#include <set>
#include <span>
#include <unordered_map>

#include <fmt/format.h>

#include "output.h"

namespace cairn::tool {

Result<std::unique_ptr<Store>> OpenStore(const CommonOptions& common, const std::string& path,
                                         bool writable, Durability durability, bool create) {
  auto level = ParseLogLevel(common.log_level);
  if (!level.ok()) return level.status();
  StoreOptions o;
  o.log_level = *level;
  o.read_only = !writable;
  o.create_if_missing = writable && create;
  o.durability = durability;
  // Beside a process that owns the store (`cairn serve`, `cairn ship`, a service with
  // StoreOptions::owner_socket), writes go to it over its owner socket.
  o.through_owner = writable;
  return Store::Open(path, o);
}

Result<std::unique_ptr<Store>> OpenForAudit(const CommonOptions& common, const std::string& path) {
  auto level = ParseLogLevel(common.log_level);
  if (!level.ok()) return level.status();
  StoreOptions o;
  o.log_level = *level;
  o.read_only = true;
  o.follow_writer = true;
  o.create_if_missing = false;
  return Store::Open(path, o);
}

Result<LogLevel> ParseLogLevel(const std::string& name) {
  if (name == "trace") return LogLevel::kTrace;
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  if (name == "off") return LogLevel::kOff;
  return Status::InvalidArgument(fmt::format("unknown log level '{}'", name));
}

Result<Durability> ParseDurability(const std::string& name) {
  if (name == "sync") return Durability::kSync;
  if (name == "buffered") return Durability::kBuffered;
  return Status::InvalidArgument(
      fmt::format("unknown durability '{}': use sync or buffered", name));
}

int RunInfo(const CommonOptions& common, const InfoArgs& args) {
  auto format = ParseFormat(args.format, false);
  if (!format.ok()) return Fail(format.status());
  auto store = OpenStore(common, args.store, false);
  if (!store.ok()) return Fail(store.status());
  const StoreInfo info = (*store)->GetInfo();
  auto streams = (*store)->ListStreams("");
  if (!streams.ok()) return Fail(streams.status());
  std::int64_t first_ts = 0;
  if (info.last_position > 0) {
    // The oldest event still stored (retention may have removed the first positions).
    LogReadOptions first_only;
    first_only.limit = 1;
    auto first = (*store)->ReadLog(first_only);
    if (!first.ok()) return Fail(first.status());
    if (first->Valid()) first_ts = first->event().timestamp_us;
    if (!first->status().ok()) return Fail(first->status());
  }
  if (*format == Format::kText) {
    fmt::print("store            {}\n", info.path);
    fmt::print("store id         {}\n", info.store_id);
    fmt::print("format version   {}\n", info.format_version);
    fmt::print("events           {}\n", info.last_position);
    if (info.first_position > 1)
      fmt::print("first position   {} (retention removed the positions before)\n",
                 info.first_position);
    fmt::print("streams          {}\n", streams->size());
    if (info.last_position > 0) {
      fmt::print("first event      {}\n", FormatTimestamp(first_ts));
      fmt::print("last event       {}\n", FormatTimestamp(info.last_timestamp_us));
    }
    fmt::print("chain head       {}\n", HexHash(info.last_chain_hash));
    if (info.repairs > 0)
      fmt::print("repairs          {} (last: {})\n", info.repairs, info.last_repair);
  } else {
    nlohmann::json j{{"store", info.path},
                     {"store_id", info.store_id},
                     {"format_version", info.format_version},
                     {"events", info.last_position},
                     {"last_position", info.last_position},
                     {"first_position", info.first_position},
                     {"streams", streams->size()},
                     {"chain_head", HexHash(info.last_chain_hash)},
                     {"repairs", info.repairs}};
    if (info.repairs > 0) j["last_repair"] = info.last_repair;
    if (info.last_position > 0) {
      j["first_event_time"] = FormatTimestamp(first_ts);
      j["last_event_time"] = FormatTimestamp(info.last_timestamp_us);
    }
    std::cout << DumpJson(j, *format == Format::kJson ? 2 : -1) << "\n";
  }
  return kExitOk;
}

namespace {

// The one event of `cairn append STORE STREAM --type T`: its payload from --data or stdin.
Result<StreamAppend> ReadSingleAppend(const AppendArgs& args, const AppendTrace& trace,
                                      const ExpectedVersion& expected) {
  if (args.type.empty()) return Status::InvalidArgument("--type is required");
  EventData e;
  e.type = args.type;
  e.traceparent = trace.traceparent;
  e.tracestate = trace.tracestate;
  e.content_type = args.content_type;
  e.metadata = args.metadata;
  if (!args.id.empty()) {
    auto id = EventId::Parse(args.id);
    if (!id.ok()) return id.status();
    e.id = *id;
  }
  if (args.data) {
    e.payload = *args.data;
  } else {
    if (isatty(STDIN_FILENO))
      return Status::InvalidArgument("no payload: pass --data or pipe it on stdin");
    auto payload = ReadAtMost(std::cin, StoreOptions{}.max_payload_bytes, "the payload on stdin");
    if (!payload.ok()) return payload.status();
    e.payload = std::move(payload).value();
  }
  return StreamAppend{args.stream, expected, {std::move(e)}};
}

std::string Environment(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

Result<AppendTrace> AppendTraceOf(const AppendArgs& args) {
  AppendTrace t;
  std::string_view from;
  if (args.traceparent) {
    t.traceparent = *args.traceparent;
    t.tracestate = args.tracestate.value_or("");
    from = "--traceparent/--tracestate";
  } else if (args.tracestate) {
    return Status::InvalidArgument("--tracestate needs --traceparent");
  } else {
    t.traceparent = Environment("TRACEPARENT");
    t.tracestate = t.traceparent.empty() ? std::string() : Environment("TRACESTATE");
    from = "the TRACEPARENT/TRACESTATE environment variables";
  }
  if (Status s = ValidateTraceContext(t.traceparent, t.tracestate); !s.ok())
    return Status::InvalidArgument(fmt::format("{} (from {})", s.message(), from));
  return t;
}

int RunAppend(const CommonOptions& common, const AppendArgs& args) {
  auto format = ParseFormat(args.format, false);
  if (!format.ok()) return Fail(format.status());
  auto expected = ExpectedVersion::Parse(args.expected_version);
  if (!expected.ok()) return Fail(expected.status());
  auto durability = ParseDurability(args.durability);
  if (!durability.ok()) return Fail(durability.status());
  auto trace = AppendTraceOf(args);
  if (!trace.ok()) return Fail(trace.status());

  if (args.jsonl) {
    if (!args.type.empty() || args.data || !args.id.empty())
      return Fail(
          Status::InvalidArgument("--jsonl takes events from stdin: drop --type, --data and --id"));
    auto store = OpenStore(common, args.store, true, *durability, /*create=*/true);
    if (!store.ok()) return Fail(store.status());
    const int code = RunAppendJsonl(**store, args, *trace, *expected, *format);
    Status closed = (*store)->Close();
    if (code == kExitOk && !closed.ok()) return Fail(closed);
    return code;
  }
  // The one event first, so that bad input fails before the store is opened.
  auto one = ReadSingleAppend(args, *trace, *expected);
  if (!one.ok()) return Fail(one.status());
  auto store = OpenStore(common, args.store, true, *durability, /*create=*/true);
  if (!store.ok()) return Fail(store.status());
  auto r = (*store)->Append(one->stream, one->expected, one->events);
  if (!r.ok()) {
    (void)(*store)->Close();
    return Fail(r.status());
  }
  if (*format == Format::kJson)
    std::cout << DumpJson(nlohmann::json::array({AppendResultJson(*one, *r)}), 2) << "\n";
  else
    PrintAppendResultLine(*format, *one, *r);
  Status closed = (*store)->Close();
  if (!closed.ok()) return Fail(closed);
  return kExitOk;
}

int RunRead(const CommonOptions& common, const ReadArgs& args) {
  auto format =
      ParseFormat(args.format.empty() ? (StdoutIsTty() ? "table" : "jsonl") : args.format, true);
  if (!format.ok()) return Fail(format.status());
  auto store = OpenStore(common, args.store, false);
  if (!store.ok()) return Fail(store.status());
  const Direction dir = args.backward ? Direction::kBackward : Direction::kForward;
  auto reader =
      args.stream.empty()
          ? (*store)->ReadLog(LogReadOptions{dir, args.from, args.limit})
          : (*store)->ReadStream(args.stream, StreamReadOptions{dir, args.from, args.limit});
  if (!reader.ok()) return Fail(reader.status());
  EventPrinter printer(*format, std::cout);
  printer.Begin();
  for (; reader->Valid(); reader->Next()) printer.Print(reader->event());
  printer.End();
  if (!reader->status().ok()) return Fail(reader->status());
  return kExitOk;
}

// --- the subcommands of this file (command.h) ---

namespace {

class InfoCommand final : public CommandWith<InfoArgs, RunInfo> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("info", "Show a store's id, format, size and head");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    cmd_->footer("Example: cairn info /var/lib/orders/events --format json");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(10, InfoCommand);

class AppendCommand final : public CommandWith<AppendArgs, RunAppend> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "append", "Append an event (payload from --data or stdin), or many with --jsonl");
    cmd_->add_option("STORE", args_.store, "Store directory (created if missing)")->required();
    cmd_->add_option("STREAM", args_.stream,
                     "Stream id; with --jsonl the default for lines without \"stream\"");
    cmd_->add_option("--type,-t", args_.type, "Event type (required without --jsonl)");
    cmd_->add_option("--expected-version,-e", args_.expected_version, "N, any, no-stream or exists")
        ->capture_default_str();
    cmd_->add_option("--id", args_.id, "Caller-chosen event id (UUID): makes retries idempotent");
    cmd_->add_option("--content-type", args_.content_type, "Payload content type")
        ->capture_default_str();
    cmd_->add_option("--metadata", args_.metadata, "Metadata bytes (e.g. JSON)");
    cmd_->add_option("--data,-d", args_.data, "Payload; read from stdin when absent");
    cmd_->add_option("--traceparent", args_.traceparent,
                     "W3C traceparent stored with the event and shipped as its Kafka header "
                     "(default: $TRACEPARENT; '' for none)");
    cmd_->add_option("--tracestate", args_.tracestate,
                     "W3C tracestate beside --traceparent (default: $TRACESTATE)");
    cmd_->add_flag(
        "--jsonl", args_.jsonl,
        "Read events from stdin, one JSON object a line: "
        "{\"stream\",\"type\",\"data\"|\"data_base64\",\"id\",\"content_type\",\"metadata\","
        "\"schema_version\",\"traceparent\",\"tracestate\"}");
    cmd_->add_flag("--each", args_.each,
                   "With --jsonl: one result per append instead of one summary line");
    cmd_->add_option("--durability", args_.durability, "sync or buffered")->capture_default_str();
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    cmd_->footer(
        "With --jsonl the whole input is checked first (a bad line stores nothing), then\n"
        "appended in groups with one fsync per group; a crash midway leaves a prefix of the\n"
        "input stored. Lines with ids (as `cairn export` writes them) can be fed again after a\n"
        "crash: those already stored are recognized, not appended twice (docs/cli.md).\n" +
        std::string(kBesideOwnerHelp) +
        "--durability is the owner's there. Examples:\n"
        "  cairn append ./store order-42 --type OrderPlaced --expected-version no-stream \\\n"
        "      --data '{\"total\":99.5}'\n"
        "  cairn read ./old --format jsonl | cairn append ./new --jsonl");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(20, AppendCommand);

class ReadCommand final : public Command {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("read", "Read a stream, or the global log without STREAM");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_option("STREAM", args_.stream, "Stream id; omit to read the global log");
    from_opt_ = cmd_->add_option("--from", from_,
                                 "First version (stream) or position (log); default: the first or, "
                                 "with --backward, the last");
    cmd_->add_flag("--backward", args_.backward, "Newest first");
    cmd_->add_option("--limit,-n", args_.limit, "Most events to print");
    cmd_->add_option("--format", args_.format,
                     "table, json or jsonl (default: table at a terminal, jsonl otherwise)");
    cmd_->footer("Example: cairn read ./store order-42 --backward --limit 5 --format json");
    return cmd_;
  }
  int Run(const CommonOptions& common) override {
    if (from_opt_->count() > 0) args_.from = from_;
    return RunRead(common, args_);
  }

 private:
  ReadArgs args_;
  std::uint64_t from_ = 0;
  CLI::Option* from_opt_ = nullptr;
  CLI::App* cmd_ = nullptr;
};
CAIRN_TOOL_COMMAND(30, ReadCommand);

}  // namespace

}  // namespace cairn::tool
