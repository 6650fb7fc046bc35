// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `cairn repair`: the only command that may drop stored data, and it says what first
// (Store::Repair; docs/guarantees.md, "Write-ahead log recovery").
#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command.h"
#include "commands.h"
#include "output.h"

namespace cairn::tool {

int RunRepair(const CommonOptions& common, const RepairArgs& args) {
  auto format = ParseTextOrJson(args.format);
  if (!format.ok()) return Fail(format.status());
  auto level = ParseLogLevel(common.log_level);
  if (!level.ok()) return Fail(level.status());
  RepairOptions o;
  o.dry_run = args.dry_run;
  o.backup_dir = args.backup_dir;
  o.log_level = *level;
  auto r = Store::Repair(args.store, o);
  if (!r.ok()) return Fail(r.status());
  if (*format == Format::kJson) {
    nlohmann::ordered_json j = {{"store", args.store},
                                {"needed", r->needed},
                                {"dry_run", args.dry_run},
                                {"damaged_file", r->damaged_file},
                                {"damaged_offset", r->damaged_offset},
                                {"damage", r->damage},
                                {"bytes_dropped", r->bytes_dropped},
                                {"kept_through", r->kept_through},
                                {"backup_dir", r->backup_dir}};
    std::cout << DumpJson(j, 2) << "\n";
  } else if (!r->needed) {
    fmt::print("store {} opens as it is (head position {}): nothing to repair\n", args.store,
               r->kept_through);
  } else {
    if (r->damaged_file.empty())
      fmt::print("damage     {}\n", r->damage);
    else
      fmt::print("damage     write-ahead log {} at offset {} ({})\n", r->damaged_file,
                 r->damaged_offset, r->damage);
    fmt::print("{} {} bytes of log from there on; positions 1..{} {}\n",
               args.dry_run ? "would drop" : "dropped   ", r->bytes_dropped, r->kept_through,
               args.dry_run ? "would be kept" : "kept");
    if (args.dry_run)
      fmt::print(
          "dry run    nothing was changed; without --dry-run a copy of the store is made "
          "first\n");
    else
      fmt::print("copy       the store as it was is in {}\n", r->backup_dir);
    fmt::print(
        "note       positions after {} will be given to new events: Kafka and other copies "
        "may already hold different events there (cairn reconcile shows them)\n",
        r->kept_through);
  }
  std::fflush(stdout);
  return std::ferror(stdout) ? Fail(Status::IOError("writing to stdout failed")) : kExitOk;
}

// --- the subcommands of this file (command.h) ---

namespace {

class RepairCommand final : public CommandWith<RepairArgs, RunRepair> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "repair", "Recover a store whose write-ahead log is damaged (keeps a copy first)");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_flag("--dry-run", args_.dry_run,
                   "Say what would be dropped and kept; change nothing");
    cmd_->add_option("--backup-dir", args_.backup_dir,
                     "Where the copy of the store goes (default STORE.before-repair-TIME)");
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    cmd_->footer(
        "The only command that drops stored data: a write-ahead log damaged anywhere but in its\n"
        "last record (which a crash may tear) makes every other command exit 5 naming the file\n"
        "and offset. repair copies the store, replays the log up to the damage and drops the\n"
        "rest, saying how much; the store records the repair (cairn info).\n"
        "Example: cairn repair /var/lib/orders/events --dry-run");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(120, RepairCommand);

}  // namespace

}  // namespace cairn::tool
