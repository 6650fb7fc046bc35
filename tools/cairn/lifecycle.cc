// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Operator commands for a store's lifecycle: stream metadata, soft delete, retention and
// consumer checkpoints (docs/cli.md, docs/lifecycle.md).
#include <algorithm>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command.h"
#include "commands.h"
#include "output.h"

namespace cairn::tool {
namespace {

std::string FormatAge(std::chrono::seconds s) {
  const auto n = s.count();
  if (n % 86400 == 0) return fmt::format("{}d", n / 86400);
  if (n % 3600 == 0) return fmt::format("{}h", n / 3600);
  if (n % 60 == 0) return fmt::format("{}m", n / 60);
  return fmt::format("{}s", n);
}

nlohmann::json MetadataJson(std::string_view stream, const StreamMetadata& m) {
  nlohmann::json j = {{"stream", stream}};
  j["max_age"] = m.max_age ? nlohmann::json(FormatAge(*m.max_age)) : nlohmann::json(nullptr);
  j["max_count"] = m.max_count ? nlohmann::json(*m.max_count) : nlohmann::json(nullptr);
  j["truncate_before"] = m.truncate_before;
  return j;
}

}  // namespace

int RunStreamMeta(const CommonOptions& common, const StreamMetaArgs& args) {
  auto format = ParseFormat(args.format, false);
  if (!format.ok()) return Fail(format.status());
  const bool setting =
      !args.max_age.empty() || args.max_count || args.truncate_before || args.clear;
  StreamMetadata wanted;
  if (!args.max_age.empty()) {
    auto age = ParseDuration(args.max_age, "--max-age");
    if (!age.ok()) return Fail(age.status());
    wanted.max_age = *age;
  }
  if (args.max_count) wanted.max_count = *args.max_count;
  if (args.truncate_before) wanted.truncate_before = *args.truncate_before;
  if (args.clear && (wanted.max_age || wanted.max_count || wanted.truncate_before))
    return Fail(Status::InvalidArgument("--clear takes no other setting"));

  auto store = setting ? OpenStore(common, args.store, true) : OpenForAudit(common, args.store);
  if (!store.ok()) return Fail(store.status());
  if (setting) {
    auto current = (*store)->GetStreamMetadata(args.stream);
    if (!current.ok()) return Fail(current.status());
    // Settings not given keep their value; --clear drops them all.
    StreamMetadata next = args.clear ? StreamMetadata{} : *current;
    if (wanted.max_age) next.max_age = wanted.max_age;
    if (wanted.max_count) next.max_count = wanted.max_count;
    if (wanted.truncate_before) next.truncate_before = wanted.truncate_before;
    if (Status s = (*store)->SetStreamMetadata(args.stream, next); !s.ok()) return Fail(s);
  }
  auto m = (*store)->GetStreamMetadata(args.stream);
  if (!m.ok()) return Fail(m.status());
  if (*format == Format::kText) {
    fmt::print("stream           {}\n", args.stream);
    fmt::print("max age          {}\n", m->max_age ? FormatAge(*m->max_age) : "-");
    fmt::print("max count        {}\n", m->max_count ? std::to_string(*m->max_count) : "-");
    fmt::print("truncate before  {}\n",
               m->truncate_before > 1 ? std::to_string(m->truncate_before) : "-");
  } else {
    std::cout << DumpJson(MetadataJson(args.stream, *m), *format == Format::kJson ? 2 : -1) << "\n";
  }
  return kExitOk;
}

int RunDeleteStream(const CommonOptions& common, const DeleteStreamArgs& args) {
  auto expected = ExpectedVersion::Parse(args.expected_version);
  if (!expected.ok()) return Fail(expected.status());
  auto store = OpenStore(common, args.store, true);
  if (!store.ok()) return Fail(store.status());
  auto deleted = (*store)->DeleteStream(args.stream, *expected);
  if (!deleted.ok()) return Fail(deleted.status());
  fmt::print(
      "deleted stream '{}' through version {}: hidden from stream reads now, removed from "
      "disk by retention once shipped and older than the audit window\n",
      args.stream, *deleted);
  return kExitOk;
}

int RunRetention(const CommonOptions& common, const RetentionArgs& args) {
  auto format = ParseFormat(args.format, false);
  if (!format.ok()) return Fail(format.status());
  RetentionPolicy policy;
  if (!args.max_age.empty()) {
    auto age = ParseDuration(args.max_age, "--max-age");
    if (!age.ok()) return Fail(age.status());
    policy.max_age = *age;
  }
  if (args.max_events) policy.max_events = *args.max_events;
  auto audit = ParseDuration(args.min_audit_age, "--min-audit-age");
  if (!audit.ok()) return Fail(audit.status());
  policy.min_audit_age = *audit;
  if (args.not_shipped && !args.checkpoints.empty())
    return Fail(Status::InvalidArgument("--not-shipped and --checkpoint exclude each other"));
  if (args.not_shipped) policy.shipped_checkpoints.clear();
  if (!args.checkpoints.empty()) policy.shipped_checkpoints = args.checkpoints;
  policy.dry_run = args.dry_run;
  Progress progress(args.dry_run ? "examining" : "removing");
  policy.progress = [&](std::uint64_t done, std::uint64_t total) { progress.Update(done, total); };

  // A dry run reads beside a running service; removing needs the writer.
  auto store =
      args.dry_run ? OpenForAudit(common, args.store) : OpenStore(common, args.store, true);
  if (!store.ok()) return Fail(store.status());
  auto r = (*store)->ApplyRetention(policy);
  if (!r.ok()) return Fail(r.status());
  progress.Done();
  if (*format == Format::kText) {
    fmt::print("{} {} events ({} bytes){}\n", r->dry_run ? "would remove" : "removed",
               r->removed_events, r->removed_bytes,
               r->log_start_after > r->log_start_before
                   ? fmt::format("; the log {} at position {}",
                                 r->dry_run ? "would start" : "starts", r->log_start_after)
                   : std::string());
    fmt::print(
        "examined {} events; kept though a rule allows removal: {} not shipped, {} younger "
        "than {}, {} dead-lettered, {} behind a kept event of their stream\n",
        r->examined, r->kept_unshipped, r->kept_too_young, args.min_audit_age, r->kept_dead_letter,
        r->kept_stream_order);
    for (const auto& s : r->streams)
      fmt::print("  {:<40} {:>10} events  first kept version {}\n", s.stream, s.events,
                 s.first_kept_version);
  } else {
    nlohmann::json streams = nlohmann::json::array();
    for (const auto& s : r->streams)
      streams.push_back({{"stream", s.stream},
                         {"events", s.events},
                         {"first_kept_version", s.first_kept_version}});
    nlohmann::json j = {{"dry_run", r->dry_run},
                        {"examined", r->examined},
                        {"removed_events", r->removed_events},
                        {"removed_bytes", r->removed_bytes},
                        {"log_start_before", r->log_start_before},
                        {"log_start_after", r->log_start_after},
                        {"kept_unshipped", r->kept_unshipped},
                        {"kept_too_young", r->kept_too_young},
                        {"kept_dead_letter", r->kept_dead_letter},
                        {"kept_stream_order", r->kept_stream_order},
                        {"streams", streams}};
    std::cout << DumpJson(j, *format == Format::kJson ? 2 : -1) << "\n";
  }
  return kExitOk;
}

int RunCheckpoints(const CommonOptions& common, const CheckpointsArgs& args) {
  auto format = ParseFormat(args.format, false);
  if (!format.ok()) return Fail(format.status());
  std::vector<std::pair<std::string, std::uint64_t>> updates;
  for (const std::string& kv : args.set) {
    const auto eq = kv.rfind('=');
    const std::optional<std::uint64_t> position =
        eq == std::string::npos ? std::nullopt
                                : ParseWholeNumber(std::string_view(kv).substr(eq + 1));
    if (eq == 0 || !position)
      return Fail(Status::InvalidArgument(fmt::format(
          "--set '{}': expected NAME=POSITION with POSITION a whole number below 2^64, e.g. "
          "subscription.billing=0",
          kv)));
    updates.emplace_back(kv.substr(0, eq), *position);
  }
  if (args.create && updates.empty())
    return Fail(Status::InvalidArgument("--create goes with --set NAME=POSITION"));
  const bool writing = !updates.empty() || !args.remove.empty();
  auto store = writing ? OpenStore(common, args.store, true) : OpenForAudit(common, args.store);
  if (!store.ok()) return Fail(store.status());
  const std::uint64_t head = (*store)->GetInfo().last_position;
  auto existing = (*store)->ListCheckpoints();
  if (!existing.ok()) return Fail(existing.status());
  auto exists = [&](std::string_view name) {
    return std::any_of(existing->begin(), existing->end(),
                       [&](const auto& c) { return c.first == name; });
  };
  // Every change is checked before the first is made: a typo in the third --set leaves the
  // first two unmoved rather than half the request done.
  for (const auto& [name, position] : updates) {
    // A checkpoint that does not exist is most often a typo ("shiper"), which would otherwise
    // become a new checkpoint shown for ever; making one is asked for with --create.
    if (!args.create && !exists(name) && name != kShipperCheckpoint) {
      std::string names;
      for (const auto& c : *existing) names += (names.empty() ? "" : ", ") + c.first;
      return Fail(Status::NotFound(fmt::format(
          "no checkpoint named '{}' in this store (it has: {}); --create makes a new one", name,
          names.empty() ? "none" : names)));
    }
    if (position > head)
      return Fail(Status::InvalidArgument(
          fmt::format("checkpoint '{}' cannot move to {}: the store's last position is {}", name,
                      position, head)));
  }
  for (const std::string& name : args.remove)
    if (!exists(name))
      return Fail(Status::NotFound(fmt::format("--delete: no checkpoint named '{}'", name)));
  for (const auto& [name, position] : updates)
    if (Status s = (*store)->SaveCheckpoint(name, position); !s.ok()) return Fail(s);
  for (const std::string& name : args.remove)
    if (Status s = (*store)->DeleteCheckpoint(name); !s.ok()) return Fail(s);
  auto all = (*store)->ListCheckpoints();
  if (!all.ok()) return Fail(all.status());
  nlohmann::json out = nlohmann::json::array();
  if (*format == Format::kText)
    fmt::print("{:<40} {:>12} {:>12}\n", "CHECKPOINT", "POSITION", "LAG");
  for (const auto& [name, position] : *all) {
    const std::uint64_t lag = head - std::min(head, position);
    if (*format == Format::kText)
      fmt::print("{:<40} {:>12} {:>12}\n", name, position, lag);
    else
      out.push_back({{"checkpoint", name}, {"position", position}, {"lag_events", lag}});
  }
  if (*format != Format::kText)
    std::cout << DumpJson(out, *format == Format::kJson ? 2 : -1) << "\n";
  return kExitOk;
}

// --- the subcommands of this file (command.h) ---

namespace {

class StreamMetaCommand final : public CommandWith<StreamMetaArgs, RunStreamMeta> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "stream-meta",
        "Show or set a stream's retention metadata (max age, max count, truncate before)");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_option("STREAM", args_.stream, "Stream id")->required();
    cmd_->add_option("--max-age", args_.max_age,
                     "Retention may remove events older than this (90s, 30m, 2h, 7d)");
    cmd_->add_option("--max-count", args_.max_count,
                     "Retention may remove all but the newest N events");
    cmd_->add_option("--truncate-before", args_.truncate_before,
                     "Hide versions below V from stream reads now; retention may remove them");
    cmd_->add_flag("--clear", args_.clear, "Drop every setting");
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    cmd_->footer(
        "Settings not given keep their value. Without settings: show, beside a running writer.\n" +
        std::string(kBesideOwnerHelp) +
        "Example: cairn stream-meta ./store cart-42 --max-age 90d --max-count 1000");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(40, StreamMetaCommand);

class DeleteStreamCommand final : public CommandWith<DeleteStreamArgs, RunDeleteStream> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "delete-stream",
        "Soft-delete a stream: hide its events now; appends continue at the next version");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_option("STREAM", args_.stream, "Stream id")->required();
    cmd_->add_option("--expected-version,-e", args_.expected_version, "N, any or exists")
        ->capture_default_str();
    cmd_->footer(
        "The events stay in the log (and are shipped) until `cairn retention` removes them.\n" +
        std::string(kBesideOwnerHelp) +
        "Example: cairn delete-stream ./store cart-42 --expected-version 7");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(50, DeleteStreamCommand);

class RetentionCommand final : public CommandWith<RetentionArgs, RunRetention> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "retention",
        "Remove events the retention rules allow (or show what would go, with --dry-run)");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_option("--max-age", args_.max_age, "Store-wide: events older than this may go");
    cmd_->add_option("--max-events", args_.max_events,
                     "Store-wide: keep at most the newest N events");
    cmd_->add_option("--min-audit-age", args_.min_audit_age,
                     "Never remove events younger than this")
        ->capture_default_str();
    cmd_->add_option("--checkpoint", args_.checkpoints,
                     "Checkpoint that must have passed an event (repeatable; default: shipper)");
    cmd_->add_flag("--not-shipped", args_.not_shipped,
                   "The store is not shipped: no checkpoint holds events back");
    cmd_->add_flag("--dry-run", args_.dry_run, "Report only; reads beside a running writer");
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    cmd_->footer("Per-stream rules come from `cairn stream-meta` and soft deletes.\n" +
                 std::string(kBesideOwnerHelp) +
                 "Examples:\n  cairn retention ./store --max-age 400d --dry-run\n"
                 "  cairn retention ./store --max-age 400d --format json");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(60, RetentionCommand);

class CheckpointsCommand final : public CommandWith<CheckpointsArgs, RunCheckpoints> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "checkpoints",
        "List consumer checkpoints (shipper, subscriptions) with their lag, or move one");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_option("--set", args_.set, "NAME=POSITION: move an existing checkpoint (repeatable)");
    cmd_->add_flag("--create", args_.create,
                   "Let --set make checkpoints that do not exist yet (without it a name not in "
                   "the store, other than 'shipper', is refused: most often a typo)");
    cmd_->add_option("--delete", args_.remove,
                     "NAME: remove a checkpoint no consumer uses any more (repeatable)");
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    cmd_->footer(std::string(kBesideOwnerHelp) +
                 "Examples (replay a projection from the start; drop a retired one's checkpoint):\n"
                 "  cairn checkpoints ./store --set subscription.billing=0\n"
                 "  cairn checkpoints ./store --delete subscription.old-report");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(70, CheckpointsCommand);

}  // namespace

}  // namespace cairn::tool
