// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The audit commands: verify, streams, status, dead-letters, query, export, tail. They open
// the store read-only as a follower of its writer (StoreOptions::follow_writer), so they work
// beside a running service without stopping it.
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include <fmt/format.h>

#include "cairn/shipper.h"
#include "command.h"
#include "commands.h"
#include "filter.h"
#include "output.h"

namespace cairn::tool {
namespace {

std::int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The first position whose commit time is at or after `since_us`: timestamps never decrease
// with position, so a binary search over point reads finds it without a scan.
Result<std::uint64_t> SeekTime(Store& store, std::int64_t since_us, std::uint64_t lo,
                               std::uint64_t head) {
  std::uint64_t hi = head + 1;  // answer in [lo, hi]
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    // The first event stored at or after `mid`: retention may have removed `mid` itself.
    auto e = store.ReadLog(LogReadOptions{.from_position = mid, .limit = 1, .upcast = false});
    if (!e.ok()) return e.status();
    if (!e->Valid() && !e->status().ok()) return e->status();
    if (e->Valid() && e->event().timestamp_us < since_us)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// Prints the events of `store` that match `filter`, positions [from, head]. Returns how many.
Result<std::uint64_t> Scan(Store& store, const Filter& filter, std::uint64_t from,
                           EventPrinter& printer, Progress* progress, std::uint64_t already = 0) {
  const std::uint64_t head = std::min(store.GetInfo().last_position, filter.to_position);
  if (from > head) return std::uint64_t{0};
  if (filter.since_us != INT64_MIN) {
    auto p = SeekTime(store, filter.since_us, from, head);
    if (!p.ok()) return p.status();
    from = *p;
  }
  std::uint64_t matched = 0;
  if (!filter.selector.stream.empty()) {
    // One stream: its index, not the log.
    auto reader = store.ReadStream(filter.selector.stream);
    if (!reader.ok()) {
      if (reader.status().code() == StatusCode::kNotFound) return std::uint64_t{0};
      return reader.status();
    }
    for (; reader->Valid() && already + matched < filter.limit; reader->Next()) {
      const RecordedEvent& e = reader->event();
      if (e.position < from) continue;
      if (e.position > head || e.timestamp_us > filter.until_us) break;
      if (filter.Matches(e)) printer.Print(e), ++matched;
    }
    if (!reader->status().ok()) return reader->status();
    return matched;
  }
  LogReadOptions ro;
  ro.from_position = from;
  // By type: the type index, not the log.
  const std::vector<std::string>& types = filter.selector.types;
  auto reader = types.empty() ? store.ReadLog(ro) : store.ReadByTypes(types, ro);
  if (!reader.ok()) return reader.status();
  for (; reader->Valid() && already + matched < filter.limit; reader->Next()) {
    const RecordedEvent& e = reader->event();
    if (e.position > head || e.timestamp_us > filter.until_us) break;
    if (filter.Matches(e)) printer.Print(e), ++matched;
    if (progress && (e.position & 0xfff) == 0) progress->Update(e.position - from, head - from + 1);
  }
  if (!reader->status().ok()) return reader->status();
  return matched;
}

int Query(const CommonOptions& common, const QueryArgs& args, bool is_export) {
  auto filter = MakeFilter(args.filter);
  if (!filter.ok()) return Fail(filter.status());
  const std::string default_format = is_export ? "jsonl" : (StdoutIsTty() ? "table" : "jsonl");
  auto format = ParseFormat(args.format.empty() ? default_format : args.format, !is_export);
  if (!format.ok()) return Fail(format.status());
  std::ofstream file;
  if (!args.output.empty()) {
    file.open(args.output, std::ios::binary | std::ios::trunc);
    if (!file) return Fail(Status::IOError(fmt::format("cannot write {}", args.output)));
  }
  auto store = OpenForAudit(common, args.store);
  if (!store.ok()) return Fail(store.status());
  EventPrinter printer(*format, args.output.empty() ? std::cout : file);
  Progress progress(is_export ? "export" : "query");
  printer.Begin();
  auto n = Scan(**store, *filter, filter->from_position, printer,
                is_export || !args.output.empty() ? &progress : nullptr);
  printer.End();
  progress.Done();
  if (!n.ok()) return Fail(n.status());
  if (is_export && !args.output.empty()) {
    file.close();
    if (!file) return Fail(Status::IOError(fmt::format("writing {} failed", args.output)));
    std::fprintf(stderr, "cairn: exported %llu events to %s\n", static_cast<unsigned long long>(*n),
                 args.output.c_str());
  }
  return kExitOk;
}

}  // namespace

int RunQuery(const CommonOptions& common, const QueryArgs& args) {
  return Query(common, args, false);
}

int RunExport(const CommonOptions& common, const QueryArgs& args) {
  QueryArgs a = args;
  if (a.format.empty()) a.format = "jsonl";
  if (a.format != "jsonl")
    return Fail(
        Status::InvalidArgument("export writes JSON Lines (what `cairn append --jsonl` reads "
                                "back); use query for other formats"));
  return Query(common, a, true);
}

int RunTail(const CommonOptions& common, const TailArgs& args) {
  auto filter = MakeFilter(args.filter);
  if (!filter.ok()) return Fail(filter.status());
  auto format =
      ParseFormat(args.format.empty() ? (StdoutIsTty() ? "table" : "jsonl") : args.format, true);
  if (!format.ok()) return Fail(format.status());
  if (*format == Format::kJson)
    return Fail(Status::InvalidArgument("tail prints one event a line: use jsonl, csv or table"));
  auto store = OpenForAudit(common, args.store);
  if (!store.ok()) return Fail(store.status());
  std::uint64_t next =
      args.from_end ? (*store)->GetInfo().last_position + 1 : filter->from_position;
  Filter f = *filter;
  f.limit = std::min(args.max_events, filter->limit);
  EventPrinter printer(*format, std::cout);
  printer.Begin();
  std::uint64_t printed = 0;
  const auto interval = std::chrono::duration<double>(args.poll_interval_s);
  while (printed < f.limit) {
    auto head = (*store)->Refresh();
    if (!head.ok()) return Fail(head.status());
    if (*head >= next) {
      Filter window = f;
      window.since_us = INT64_MIN;  // applied per event below, not by seeking
      auto n = Scan(**store, window, next, printer, nullptr, printed);
      if (!n.ok()) return Fail(n.status());
      printed += *n;
      std::cout.flush();
      next = *head + 1;
      continue;
    }
    std::this_thread::sleep_for(interval);
  }
  printer.End();
  return kExitOk;
}

namespace {

// --expect POSITION:HASH (a position and 64 hex digits).
Result<ChainAnchor> ParseAnchor(const std::string& e) {
  const auto colon = e.find(':');
  ChainAnchor a;
  const std::string hex = colon == std::string::npos ? "" : e.substr(colon + 1);
  bool good = colon != std::string::npos && colon > 0 && hex.size() == 64 &&
              e.find_first_not_of("0123456789") >= colon;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; good && i < 32; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    good = hi >= 0 && lo >= 0;
    if (good) a.chain_hash[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  if (good) {
    try {
      a.position = std::stoull(e.substr(0, colon));
    } catch (...) {
      good = false;
    }
  }
  if (!good || a.position == 0)
    return Status::InvalidArgument(
        fmt::format("--expect '{}': expected POSITION:HASH (a position and 64 hex digits)", e));
  return a;
}

void PrintVerifyReport(Format format, const VerifyReport& r, std::size_t anchors_given,
                       double secs) {
  if (format == Format::kJson) {
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : r.problems)
      problems.push_back({{"position", p.position}, {"what", p.what}});
    nlohmann::json j = {{"ok", r.ok()},
                        {"first_position", r.first_position},
                        {"last_position", r.last_position},
                        {"events", r.events},
                        {"streams", r.streams},
                        {"caller_ids", r.caller_ids},
                        {"indexes_checked", r.indexes_checked},
                        {"checkpoints", r.checkpoints},
                        {"dead_letters", r.dead_letters},
                        {"chain_head", HexHash(r.chain_head)},
                        {"expected_heads_checked", r.anchors_checked},
                        {"notes", r.notes},
                        {"seconds", secs},
                        {"problems", problems}};
    std::cout << DumpJson(j, 2) << "\n";
    return;
  }
  fmt::print("checked    positions {}..{}: {} events in {:.2f} s ({:.0f} events/s)\n",
             r.first_position, r.last_position, r.events, secs, r.events / std::max(secs, 1e-9));
  if (r.indexes_checked)
    fmt::print("indexes    {} streams and {} caller ids agree with the log\n", r.streams,
               r.caller_ids);
  else
    fmt::print("indexes    not checked (they need a verify from position 1)\n");
  fmt::print("side       {} checkpoints, {} dead letters\n", r.checkpoints, r.dead_letters);
  if (anchors_given)
    fmt::print("anchors    {} of {} expected heads hold\n", r.anchors_checked, anchors_given);
  for (const std::string& n : r.notes) fmt::print("note       {}\n", n);
  if (r.ok()) fmt::print("chain head {}\nOK\n", HexHash(r.chain_head));
}

}  // namespace

int RunVerify(const CommonOptions& common, const VerifyArgs& args) {
  auto format = ParseFormat(args.format, false);
  if (!format.ok()) return Fail(format.status());
  VerifyOptions vo;
  for (const std::string& e : args.expect) {
    auto a = ParseAnchor(e);
    if (!a.ok()) return Fail(a.status());
    vo.expect.push_back(*a);
  }
  auto store = OpenForAudit(common, args.store);
  if (!store.ok()) return Fail(store.status());
  if (const std::uint64_t head = (*store)->last_position();
      args.from_position > head + 1 || args.from_position == 0)
    return Fail(Status::InvalidArgument(fmt::format(
        "--from-position {} is outside the log (positions 1..{})", args.from_position, head)));
  Progress progress("verify");
  vo.from_position = args.from_position;
  vo.progress = [&](std::uint64_t done, std::uint64_t total) { progress.Update(done, total); };
  const auto t0 = std::chrono::steady_clock::now();
  auto report = (*store)->Verify(vo);
  progress.Done();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!report.ok()) return Fail(report.status());
  PrintVerifyReport(*format, *report, vo.expect.size(), secs);
  if (report->ok()) return kExitOk;
  for (const auto& p : report->problems)
    std::fprintf(stderr, "cairn: %s%s\n",
                 p.position ? fmt::format("position {}: ", p.position).c_str() : "",
                 p.what.c_str());
  return kExitCorrupt;
}

int RunStreams(const CommonOptions& common, const StreamsArgs& args) {
  auto format =
      ParseFormat(args.format.empty() ? (StdoutIsTty() ? "table" : "jsonl") : args.format, true);
  if (!format.ok()) return Fail(format.status());
  auto store = OpenForAudit(common, args.store);
  if (!store.ok()) return Fail(store.status());
  auto streams = (*store)->ListStreams(args.prefix, args.limit);
  if (!streams.ok()) return Fail(streams.status());
  if (*format == Format::kTable)
    fmt::print("{:<32}  {:>8}  {:>8}  {:<27}  {:<27}\n", "STREAM", "VERSION", "EVENTS", "FIRST",
               "LAST");
  if (*format == Format::kCsv) std::cout << "stream,last_version,events,first,last\n";
  nlohmann::json all = nlohmann::json::array();
  for (const StreamInfo& s : *streams) {
    std::string t0 = "-", t1 = "-";  // a deleted stream has no readable event
    if (!s.deleted) {
      auto first = (*store)->ReadEvent(s.first_position);
      auto last = (*store)->ReadEvent(s.last_position);
      if (!first.ok()) return Fail(first.status());
      if (!last.ok()) return Fail(last.status());
      t0 = FormatTimestamp(first->timestamp_us);
      t1 = FormatTimestamp(last->timestamp_us);
    }
    nlohmann::json j = {{"stream", s.stream},
                        {"last_version", s.last_version},
                        {"events", s.event_count},
                        {"first_version", s.first_version},
                        {"first_position", s.first_position},
                        {"last_position", s.last_position},
                        {"deleted", s.deleted}};
    if (!s.deleted) j["first"] = t0, j["last"] = t1;
    switch (*format) {
      case Format::kTable:
        fmt::print("{:<32}  {:>8}  {:>8}  {:<27}  {:<27}\n", s.stream, s.last_version,
                   s.event_count, t0, t1);
        break;
      case Format::kJsonl:
        std::cout << DumpJson(j) << "\n";
        break;
      case Format::kCsv:
        std::cout << CsvField(s.stream) << ',' << s.last_version << ',' << s.event_count << ','
                  << t0 << ',' << t1 << "\n";
        break;
      default:
        all.push_back(std::move(j));
    }
  }
  if (*format == Format::kJson) std::cout << DumpJson(all, 2) << "\n";
  return kExitOk;
}

int RunStatus(const CommonOptions& common, const StatusArgs& args) {
  auto format = ParseFormat(args.format, false);
  if (!format.ok()) return Fail(format.status());
  auto store = OpenForAudit(common, args.store);
  if (!store.ok()) return Fail(store.status());
  const StoreInfo info = (*store)->GetInfo();
  auto checkpoints = (*store)->ListCheckpoints();
  if (!checkpoints.ok()) return Fail(checkpoints.status());
  auto dead = (*store)->ListDeadLetters();
  if (!dead.ok()) return Fail(dead.status());
  std::uint64_t held = 0;
  for (const DeadLetter& d : *dead) held += d.held_behind != 0;
  nlohmann::json consumers = nlohmann::json::array();
  for (const auto& [name, position] : *checkpoints) {
    double age = 0;
    if (position < info.last_position) {
      auto oldest = (*store)->ReadEvent(position + 1);
      if (oldest.ok()) age = std::max(0.0, (NowUs() - oldest->timestamp_us) / 1e6);
    }
    consumers.push_back(
        {{"checkpoint", name},
         {"position", position},
         {"lag_events", info.last_position - std::min(position, info.last_position)},
         {"lag_seconds", age}});
  }
  if (*format == Format::kJson) {
    nlohmann::json j = {
        {"store", info.path},
        {"store_id", info.store_id},
        {"head_position", info.last_position},
        {"last_event", info.last_position ? FormatTimestamp(info.last_timestamp_us) : ""},
        {"checkpoints", consumers},
        {"dead_letters", dead->size()},
        {"held_events", held}};
    std::cout << DumpJson(j, 2) << "\n";
    return kExitOk;
  }
  fmt::print("store        {} ({})\nhead         position {}{}\n", info.path, info.store_id,
             info.last_position,
             info.last_position ? ", last event " + FormatTimestamp(info.last_timestamp_us) : "");
  if (consumers.empty()) fmt::print("shipper      never ran (no checkpoint)\n");
  for (const auto& c : consumers)
    fmt::print("checkpoint   {}: position {}, lag {} events, {:.1f} s\n",
               c["checkpoint"].get<std::string>(), c["position"].get<std::uint64_t>(),
               c["lag_events"].get<std::uint64_t>(), c["lag_seconds"].get<double>());
  fmt::print("dead letters {} ({} held behind a failed event of their stream)\n", dead->size(),
             held);
  return kExitOk;
}

namespace {

int RetryDeadLetterRecords(const CommonOptions& common, const DeadLettersArgs& args) {
  if (args.positions.empty() != args.all)
    return Fail(Status::InvalidArgument("retry needs --position P (repeatable) or --all"));
  auto level = ParseLogLevel(common.log_level);
  if (!level.ok()) return Fail(level.status());
  auto options = ProducerOptions(common, args.kafka);
  if (!options.ok()) return Fail(options.status());
  ShipperOptions o = std::move(options).value();
  o.default_topic = args.default_topic;
  o.type_header = args.type_header;
  if (Status s = ApplyValueFormat(args.value, args.cloudevents_source, &o); !s.ok()) return Fail(s);
  auto routes = LoadRoutes(args.routes_file, &o.default_topic);
  if (!routes.ok()) return Fail(routes.status());
  o.routes = std::move(routes).value();
  StoreOptions so;
  so.log_level = *level;
  so.create_if_missing = false;
  so.through_owner = true;  // beside an owner, it rewrites the records
  auto store = Store::Open(args.store, so);
  if (!store.ok()) return Fail(store.status());
  auto r = RetryDeadLetters(**store, o, args.positions);
  if (!r.ok()) return Fail(r.status());
  fmt::print("retried    {} sent, {} failed again, {} still held behind a failure\n", r->sent,
             r->failed, r->held);
  if (Status s = (*store)->Close(); !s.ok()) return Fail(s);
  return r->failed || r->held ? kExitError : kExitOk;
}

}  // namespace

int RunDeadLetters(const CommonOptions& common, const DeadLettersArgs& args) {
  if (args.action == "retry") return RetryDeadLetterRecords(common, args);
  if (args.action != "list")
    return Fail(Status::InvalidArgument(
        fmt::format("dead-letters '{}': expected list or retry", args.action)));
  auto format =
      ParseFormat(args.format.empty() ? (StdoutIsTty() ? "table" : "jsonl") : args.format, true);
  if (!format.ok()) return Fail(format.status());
  auto store = OpenForAudit(common, args.store);
  if (!store.ok()) return Fail(store.status());
  auto dead = (*store)->ListDeadLetters();
  if (!dead.ok()) return Fail(dead.status());
  if (*format == Format::kTable)
    fmt::print("{:>10}  {:<24}  {:>7}  {:<20}  {:<27}  {}\n", "POSITION", "STREAM", "VERSION",
               "TOPIC", "TIME", "ERROR");
  nlohmann::json all = nlohmann::json::array();
  for (const DeadLetter& d : *dead) {
    nlohmann::json j = {
        {"position", d.position},       {"stream", d.stream}, {"version", d.version},
        {"destination", d.destination}, {"error", d.error},   {"time", FormatTimestamp(d.time_us)},
        {"held_behind", d.held_behind}};
    if (*format == Format::kTable)
      fmt::print("{:>10}  {:<24}  {:>7}  {:<20}  {:<27}  {}\n", d.position, d.stream, d.version,
                 d.destination, FormatTimestamp(d.time_us), d.error);
    else if (*format == Format::kJsonl)
      std::cout << DumpJson(j) << "\n";
    else if (*format == Format::kCsv)
      std::cout << d.position << ',' << CsvField(d.stream) << ',' << d.version << ','
                << CsvField(d.destination) << ',' << CsvField(d.error) << "\n";
    else
      all.push_back(std::move(j));
  }
  if (*format == Format::kJson) std::cout << DumpJson(all, 2) << "\n";
  return kExitOk;
}

// --- the subcommands of this file (command.h) ---

namespace {

class QueryCommand final : public CommandWith<QueryArgs, RunQuery> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "query", "Find events by type, stream, category, time, position or payload field");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    AddFilterOptions(cmd_, args_.filter);
    cmd_->add_option("--format", args_.format,
                     "table, jsonl, json or csv (default: table at a terminal, jsonl otherwise)");
    cmd_->footer(
        "Examples:\n"
        "  cairn query ./store --type OrderPlaced --since 2h\n"
        "  cairn query ./store --category order --where customerId=c-42 --format csv\n"
        "  cairn query ./store --since 2026-11-27T09:00:00Z --until 2026-11-27T10:00:00Z -n 100");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(80, QueryCommand);

class ExportCommand final : public CommandWith<QueryArgs, RunExport> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("export",
                              "Write events as JSON Lines that `cairn append --jsonl` reads back");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    AddFilterOptions(cmd_, args_.filter);
    cmd_->add_option("--output,-o", args_.output, "Write to this file instead of stdout");
    cmd_->footer(
        "Example: cairn export ./store -o events.jsonl && cairn append ./copy --jsonl < "
        "events.jsonl");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(90, ExportCommand);

class TailCommand final : public Command {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("tail", "Follow new events live (also while a service appends)");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    AddFilterOptions(cmd_, args_.filter);
    from_opt_ =
        cmd_->add_option("--from-start-position", from_, "Print from this position, then follow");
    cmd_->add_flag("--from-end", args_.from_end, "Only events appended from now on (default)");
    cmd_->add_option("--format", args_.format, "table, jsonl or csv");
    cmd_->add_option("--poll-interval", args_.poll_interval_s,
                     "Seconds between looks for new events")
        ->check(CLI::Range(0.001, 3600.0))
        ->capture_default_str();
    cmd_->add_option("--max-events", args_.max_events, "Exit after printing this many");
    cmd_->footer("Example: cairn tail /var/lib/orders/events --category order --format jsonl");
    return cmd_;
  }
  int Run(const CommonOptions& common) override {
    if (from_opt_->count() > 0) {
      args_.from_end = false;
      args_.filter.from_position = from_;
    }
    return RunTail(common, args_);
  }

 private:
  TailArgs args_;
  std::uint64_t from_ = 0;
  CLI::Option* from_opt_ = nullptr;
  CLI::App* cmd_ = nullptr;
};
CAIRN_TOOL_COMMAND(100, TailCommand);

class VerifyCommand final : public CommandWith<VerifyArgs, RunVerify> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "verify", "Check every envelope, the hash chain, the indexes and the checkpoints");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_option("--from-position", args_.from_position,
                     "Verify the log and chain from here (indexes need position 1)")
        ->capture_default_str();
    cmd_->add_option("--expect", args_.expect,
                     "POSITION:HASH, a head noted earlier (cairn info): it must still be in "
                     "the log with that chain hash (repeatable)");
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    cmd_->footer(
        "Exit 0 when everything holds, 5 naming the first bad position otherwise.\n"
        "The chain cannot show events removed from the end of the log: keep the\n"
        "head (cairn info: events, chain head) somewhere else and pass it with\n"
        "--expect, or compare with Kafka (cairn reconcile).\n"
        "Example: cairn verify /var/lib/orders/events --expect 1200:9f3a...e1 --format json");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(110, VerifyCommand);

class StreamsCommand final : public CommandWith<StreamsArgs, RunStreams> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("streams", "List streams: last version, events, first and last time");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_option("--prefix", args_.prefix, "Only streams whose id starts with this");
    cmd_->add_option("--limit,-n", args_.limit, "Most streams to list");
    cmd_->add_option("--format", args_.format, "table, jsonl, json or csv");
    cmd_->footer("Example: cairn streams ./store --prefix order- -n 20");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(130, StreamsCommand);

class StatusCommand final : public CommandWith<StatusArgs, RunStatus> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("status", "Shipper checkpoint, lag and dead letters of a store");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(140, StatusCommand);

class DeadLettersCommand final : public CommandWith<DeadLettersArgs, RunDeadLetters> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("dead-letters", "List the events the shipper could not deliver");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();

    // Kafka client options, the way the Kafka tools and kcat spell them.

    cmd_->add_option("ACTION", args_.action, "list (default) or retry")->capture_default_str();
    cmd_->add_option("--position", args_.positions,
                     "retry: the dead letter at this position (repeatable)");
    cmd_->add_flag("--all", args_.all, "retry: every dead letter, in position order");
    AddKafkaOptions(cmd_, args_.kafka);
    cmd_->add_option("--routes", args_.routes_file, "retry: the shipper's routes file");
    cmd_->add_option("--default-topic", args_.default_topic, "retry: as for ship")
        ->capture_default_str();
    cmd_->add_option("--type-header", args_.type_header, "retry: as for ship")
        ->capture_default_str();
    cmd_->add_option("--value", args_.value, "retry: payload, envelope or cloudevents")
        ->capture_default_str();
    cmd_->add_option("--cloudevents-source", args_.cloudevents_source,
                     "retry with --value cloudevents: the ce_source URI-reference");
    cmd_->add_option("--format", args_.format, "list: table, jsonl, json or csv");
    cmd_->footer(
        "Retry rewrites the records (beside a running owner, through it) and needs the same\n"
        "Kafka settings as ship.\n" +
        std::string(kBesideOwnerHelp) +
        "Examples:\n"
        "  cairn dead-letters ./store\n"
        "  cairn dead-letters ./store retry --all -b localhost:9092 -X message.max.bytes=2000000");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(150, DeadLettersCommand);

}  // namespace

}  // namespace cairn::tool
