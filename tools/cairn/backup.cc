// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `cairn backup` and `cairn restore` (Store::Backup, Store::Restore; docs/cli.md,
// docs/guarantees.md "Backups").
#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command.h"
#include "commands.h"
#include "output.h"

namespace cairn::tool {

namespace {

struct BackupArgs {
  std::string store, dir, format = "text";
  bool no_verify = false;
};

int PrintReport(const BackupReport& r, Format format, std::string_view verb) {
  if (format == Format::kJson) {
    nlohmann::ordered_json j = {{"dir", r.dir},
                                {"store_id", r.store_id},
                                {"acknowledged_position", r.acknowledged_position},
                                {"last_position", r.last_position},
                                {"chain_head", r.chain_head},
                                {"verified", r.verified},
                                {"files", r.files},
                                {"bytes", r.bytes},
                                {"linked_files", r.linked_files}};
    std::cout << DumpJson(j, 2) << "\n";
  } else {
    fmt::print("{:<10} {}\n", verb, r.dir);
    fmt::print("positions  1..{}{}\n", r.last_position,
               r.acknowledged_position > 0 ? fmt::format(" ({} acknowledged when the backup began)",
                                                         r.acknowledged_position)
                                           : "");
    fmt::print("chain head {}\n", r.chain_head);
    fmt::print("verified   {}\n", r.verified ? "yes (every event's chain)" : "no (--no-verify)");
    fmt::print("files      {} ({} bytes; {} table files shared with the store)\n", r.files, r.bytes,
               r.linked_files);
    fmt::print("anchor     cairn verify {} --expect {}:{}\n", r.dir, r.last_position, r.chain_head);
  }
  std::cout.flush();
  std::fflush(stdout);
  return std::ferror(stdout) || !std::cout ? Fail(Status::IOError("writing to stdout failed"))
                                           : kExitOk;
}

int RunBackup(const CommonOptions& common, const BackupArgs& args) {
  auto format = ParseTextOrJson(args.format);
  if (!format.ok()) return Fail(format.status());
  auto store = OpenStore(common, args.store, /*writable=*/true);
  if (!store.ok()) {
    if (store.status().code() == StatusCode::kBusy)
      return Fail(Status::Busy(fmt::format(
          "{}: a service that owns the store takes backups itself (Store::Backup) unless it "
          "opened it with an owner socket",
          store.status().message())));
    return Fail(store.status());
  }
  Progress progress("verify");
  BackupOptions o;
  o.verify = !args.no_verify;
  o.progress = [&](std::uint64_t done, std::uint64_t total) { progress.Update(done, total); };
  auto r = (*store)->Backup(args.dir, o);
  progress.Done();
  if (!r.ok()) return Fail(r.status());
  if (Status s = (*store)->Close(); !s.ok()) return Fail(s);
  return PrintReport(*r, *format, "backup");
}

int RunRestore(const CommonOptions& common, const BackupArgs& args) {
  auto format = ParseTextOrJson(args.format);
  if (!format.ok()) return Fail(format.status());
  auto level = ParseLogLevel(common.log_level);
  if (!level.ok()) return Fail(level.status());
  Progress progress("verify");
  RestoreOptions o;
  o.verify = !args.no_verify;
  o.log_level = *level;
  o.progress = [&](std::uint64_t done, std::uint64_t total) { progress.Update(done, total); };
  auto r = Store::Restore(args.dir, args.store, o);
  progress.Done();
  if (!r.ok()) return Fail(r.status());
  return PrintReport(*r, *format, "restored");
}

class BackupCommand final : public CommandWith<BackupArgs, RunBackup> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("backup", "Take a consistent, verified copy of a store");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    cmd_->add_option("DIR", args_.dir, "Where the backup goes (must not exist)")->required();
    cmd_->add_flag("--no-verify", args_.no_verify,
                   "Skip checking the copy's hash chain before publishing it");
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    cmd_->footer(
        "The backup is a store directory: every cairn command reads it, and `cairn restore`\n"
        "makes a working store of it. It holds every event acknowledged before it began. On the\n"
        "store's file system its table files are hard links, so backups there share them. It is\n"
        "built as DIR.cairn-partial and renamed to DIR only once whole and verified: a backup\n"
        "killed midway never leaves a DIR. Beside a running owner, the owner takes it (DIR is\n"
        "made absolute here and written by the owner's user).\n" +
        std::string(kBesideOwnerHelp) +
        "Example: cairn backup /var/lib/orders/events /backups/events-$(date +%F)");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(125, BackupCommand);

class RestoreCommand final : public CommandWith<BackupArgs, RunRestore> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("restore", "Make a working store from a backup");
    cmd_->add_option("BACKUP", args_.dir, "A directory `cairn backup` made")->required();
    cmd_->add_option("STORE", args_.store, "The store to make (must not exist)")->required();
    cmd_->add_flag("--no-verify", args_.no_verify, "Skip checking the backup's hash chain first");
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    cmd_->footer(
        "Checks BACKUP is a whole backup (its CAIRN-BACKUP note) whose chain still verifies,\n"
        "copies it to STORE.cairn-partial and renames it to STORE. The backup is left as it\n"
        "was. The restored store ends where the backup does; see docs/guarantees.md, \"Backups\",\n"
        "before shipping from it.\n"
        "Example: cairn restore /backups/events-2026-12-05 /var/lib/orders/events");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(126, RestoreCommand);

}  // namespace

}  // namespace cairn::tool
