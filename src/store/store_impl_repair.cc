// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Store::Repair: the one path that may drop stored data, and only the part of a damaged
// write-ahead log from its first bad record on. It copies the store first, says what it kept
// and dropped, and leaves a record of itself in the store. Everything else about opening is in
// store.cc; the WAL framing it reports from is in wal_scan.cc.
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "store/keys.h"
#include "store/store_directory.h"
#include "store/store_impl.h"
#include "store/wal_scan.h"

namespace cairn {

namespace fs = std::filesystem;

namespace {

std::string UtcStamp(std::int64_t micros, const char* format) {
  std::time_t secs = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

Status CopyStore(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (fs::exists(to, ec))
    return Status::InvalidArgument(fmt::format("repair backup directory {} already exists", to));
  return store::CopyStoreFiles(from, to);
}

}  // namespace

Status Store::Impl::LoadRepairs() {
  std::unique_ptr<rocksdb::Iterator> it(
      database_->db()->NewIterator(rocksdb::ReadOptions(), database_->meta()));
  const std::string_view prefix = store::kMetaRepairPrefix;
  repairs_ = 0;
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Valid() && it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Next()) {
    ++repairs_;
    last_repair_ = it->value().ToString();
  }
  return FromRocks(it->status(), "reading the repair records");
}

Status Store::Impl::RecordRepair(const std::string& description) {
  std::string key = store::kMetaRepairPrefix;
  key.resize(key.size() + 8);
  store::PutBigEndian64(static_cast<std::uint64_t>(internal::WallClockMicros()),
                        key.data() + key.size() - 8);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (Status s = FromRocks(database_->db()->Put(wo, database_->meta(), key, description),
                           "recording the repair");
      !s.ok())
    return s;
  ++repairs_;
  last_repair_ = description;
  // Every family flushed, so that the MANIFEST no longer needs the damaged log. Without it a
  // repair that recovered nothing from that log (its first record spanned the damage) left
  // the log live: the next open replayed it and stopped at the same damage again.
  return FromRocks(database_->db()->Flush(rocksdb::FlushOptions(), database_->families()),
                   "flushing the repaired store");
}

namespace {

// The repair as the store's meta family records it (StoreInfo::last_repair).
std::string RepairRecord(const RepairReport& report, std::int64_t now) {
  const std::string when = UtcStamp(now, "%Y-%m-%dT%H:%M:%SZ");
  if (report.damaged_file.empty())
    return fmt::format("{}: kept positions 1..{}; {}; copy of the store before the repair in {}",
                       when, report.kept_through, report.damage, report.backup_dir);
  return fmt::format(
      "{}: kept positions 1..{}, dropped {} bytes of write-ahead log {} from offset {} ({}); "
      "copy of the store before the repair in {}",
      when, report.kept_through, report.bytes_dropped,
      fs::path(report.damaged_file).filename().string(), report.damaged_offset, report.damage,
      report.backup_dir);
}

}  // namespace

// Fills in what the damage is: a damaged write-ahead log (file, offset, bytes after it), or a
// store that ends before the head its writer's clean close noted. kCorruption when the
// damage is neither, which repair cannot mend.
Status Store::Impl::DescribeRepairDamage(const std::string& path, const StoreOptions& open_options,
                                         RepairReport* report) {
  if (auto damage = store::FindWalDamage(path)) {
    report->damaged_file = damage->file;
    report->damaged_offset = damage->offset;
    report->damage = damage->what;
    report->bytes_dropped = damage->bytes_after;
    return Status::Ok();
  }
  // No damaged log: perhaps one was deleted (the head the last clean close noted is gone).
  // Nothing can bring those events back; repair can only accept the loss, on the record.
  StoreOptions probe_options = open_options;
  probe_options.read_only = true;
  auto probe = Open(path, probe_options, /*repairing=*/true);
  if (!probe.ok())
    return Status::Corruption(fmt::format(
        "store {} cannot be repaired by cairn: its write-ahead log is intact, the damage is "
        "elsewhere; restore the store from a backup (docs/guarantees.md)",
        path));
  report->damage = fmt::format(
      "the store ends at position {}, but its writer closed it holding more: a write-ahead "
      "log or table file was deleted or cut short",
      (*probe)->last_position());
  return Status::Ok();
}

Result<RepairReport> Store::Repair(const std::string& path, const RepairOptions& options) {
  if (path.empty()) return Status::InvalidArgument("store path is empty");
  RepairReport report;
  std::error_code ec;
  if (!fs::exists(fs::path(path) / "CURRENT", ec))
    return Status::NotFound(fmt::format("no cairn store at {}", path));
  StoreOptions open_options;
  open_options.create_if_missing = false;
  open_options.log_level = options.log_level;
  {
    // A store that opens for writing needs nothing (and a held lock says kBusy here).
    auto as_is = Impl::Open(path, open_options);
    if (as_is.ok()) {
      report.kept_through = (*as_is)->last_position();
      return report;
    }
    if (as_is.status().code() != StatusCode::kCorruption) return as_is.status();
  }
  if (Status s = Impl::DescribeRepairDamage(path, open_options, &report); !s.ok()) return s;
  report.needed = true;

  const std::int64_t now = internal::WallClockMicros();
  std::string target = path;
  std::string scratch;
  if (options.dry_run) {
    // The repair runs on a scratch copy beside the store, which then goes away.
    scratch = fmt::format("{}.repair-dry-run-{}", path, std::random_device{}());
    if (Status s = CopyStore(path, scratch); !s.ok()) {
      fs::remove_all(scratch, ec);
      return s;
    }
    target = scratch;
  } else {
    report.backup_dir = options.backup_dir.empty() ? fmt::format("{}.before-repair-{}", path,
                                                                 UtcStamp(now, "%Y%m%dT%H%M%SZ"))
                                                   : options.backup_dir;
    if (Status s = CopyStore(path, report.backup_dir); !s.ok()) return s;
  }
  auto repaired = Impl::Open(target, open_options, /*repairing=*/true);
  if (!repaired.ok()) {
    if (!scratch.empty()) fs::remove_all(scratch, ec);
    return repaired.status();
  }
  report.kept_through = (*repaired)->last_position();
  Status recorded;
  if (!options.dry_run) recorded = (*repaired)->RecordRepair(RepairRecord(report, now));
  Status closed = (*repaired)->Close();
  if (!scratch.empty()) fs::remove_all(scratch, ec);
  if (!recorded.ok()) return recorded;
  if (!closed.ok()) return closed;
  return report;
}

}  // namespace cairn
