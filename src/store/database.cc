// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The opener (database.h): RocksDB's options for a store, the families it must have, the
// three ways to open it (writer, read-only, follower), and what a failed open means in
// cairn's words.
#include "store/database.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/table.h>

#include "store/keys.h"
#include "store/rocks_status.h"
#include "store/store_directory.h"
#include "store/wal_scan.h"

namespace cairn::store {

namespace fs = std::filesystem;

namespace {

// StoreOptions has no knob for it: the bound is what keeps restart time flat. 64 MiB cost
// buffered 100-event appends 24% (every family flushed twice as often); 128 MiB let an open
// after kill -9 replay 120 MB in 1.1 s; at 96 MiB opens stayed 0.44-0.76 s and appends within
// noise (docs/performance.md, "Restart time").
constexpr std::uint64_t kMaxTotalWalBytes = 96u << 20;

// RocksDB's diagnostic log, routed to cairn's logger instead of a LOG file in the store: a
// host sees RocksDB's warnings where it sees cairn's, and a full disk cannot break the
// logger (RocksDB's file logger asserts once a write to LOG failed — found by
// FullDiskTest).
class RocksLogBridge : public rocksdb::Logger {
 public:
  explicit RocksLogBridge(std::shared_ptr<spdlog::logger> logger)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), logger_(std::move(logger)) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof line, format, ap);
    auto spd = level >= rocksdb::InfoLogLevel::ERROR_LEVEL  ? spdlog::level::err
               : level >= rocksdb::InfoLogLevel::WARN_LEVEL ? spdlog::level::warn
                                                            : spdlog::level::info;
    // While the store opens, what goes wrong reaches the caller as the open's Status, in
    // cairn's words; RocksDB's own lines about it are detail (a second, earlier error line).
    if (opening_.load() && spd > spdlog::level::debug) spd = spdlog::level::debug;
    // A backup (RocksDB's Checkpoint) holds file deletions off while a flush does too; RocksDB
    // warns about the nesting, which is by design (seen on every `cairn backup`).
    if (std::strstr(line, "File Deletions") != nullptr) spd = spdlog::level::debug;
    logger_->log(spd, "rocksdb: {}", line);
  }
  void set_opening(bool opening) { opening_.store(opening); }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::atomic<bool> opening_{false};
};

// RocksDB recovers from a full disk on a thread of its own (its SstFileManager looks for free
// space every 5 s, then flushes the memtables and clears the error); this tells cairn's status
// and log when an attempt ends.
class RecoveryListener : public rocksdb::EventListener {
 public:
  explicit RecoveryListener(std::function<void(const rocksdb::Status&)> on_end)
      : on_end_(std::move(on_end)) {}
  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    on_end_(info.new_bg_error);
  }

 private:
  std::function<void(const rocksdb::Status&)> on_end_;
};

}  // namespace

Result<std::unique_ptr<Database>> Database::Open(const DatabaseSetup& setup,
                                                 const std::string& db_path, bool fresh) {
  std::unique_ptr<Database> d(new Database(setup));
  auto bridge = std::make_shared<RocksLogBridge>(setup.logger);
  bridge->set_opening(true);
  d->info_log_ = bridge;
  const rocksdb::Options db_options = d->DatabaseOptions(fresh);
  auto names = d->FamiliesToOpen(db_options, fresh);
  if (!names.ok()) return names.status();

  // The id index is read at random by every append with a caller id: a Bloom filter spares
  // most of those reads a disk block.
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(setup.options.block_cache_bytes);
  rocksdb::BlockBasedTableOptions id_table = table;
  id_table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::ColumnFamilyOptions id_options = cf_options;
  id_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(id_table));
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : *names)
    descriptors.emplace_back(n, n == kEventIdsFamily ? id_options : cf_options);

  Status opened = d->OpenRocks(db_options, db_path, descriptors);
  bridge->set_opening(false);
  if (!opened.ok()) return opened;
  d->meta_ = d->handles_[0];
  d->log_ = d->handles_[1];
  d->streams_ = d->handles_[2];
  d->ids_ = d->handles_[3];
  for (std::size_t i = 0; i < names->size(); ++i) {
    if ((*names)[i] == kTypesFamily) d->types_ = d->handles_[i];
    if ((*names)[i] == kSnapshotsFamily) d->snapshots_ = d->handles_[i];
  }
  d->cf_options_ = cf_options;
  if (Status st = d->CheckLiveFiles(); !st.ok()) return st;
  return d;
}

Database::~Database() { (void)Close(); }

Status Database::AddFamily(Role role) {
  rocksdb::ColumnFamilyHandle** handle = role == Role::kTypes ? &types_ : &snapshots_;
  const char* name = role == Role::kTypes ? kTypesFamily : kSnapshotsFamily;
  if (*handle != nullptr || setup_.options.read_only) return Status::Ok();
  rocksdb::ColumnFamilyHandle* created = nullptr;
  if (Status st = FromRocks(db_->CreateColumnFamily(cf_options_, name, &created),
                            fmt::format("creating the '{}' column family", name));
      !st.ok())
    return st;
  handles_.push_back(created);
  *handle = created;
  return Status::Ok();
}

Status Database::Close() {
  Status result;
  if (db_) {
    for (auto* h : handles_) {
      Status s = FromRocks(db_->DestroyColumnFamilyHandle(h), "closing a column family");
      if (result.ok()) result = s;
    }
    handles_.clear();
    meta_ = log_ = streams_ = ids_ = types_ = snapshots_ = nullptr;
    Status s = FromRocks(db_->Close(), fmt::format("closing store {}", setup_.path));
    if (result.ok()) result = s;
    db_.reset();
  }
  if (!secondary_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(secondary_dir_, ec);
    secondary_dir_.clear();
  }
  return result;
}

Status Database::CheckLiveFiles() const {
  // A secondary instance does not compare table files with the MANIFEST (a missing or
  // truncated SST would only show as missing events; the read-only probe before it is the
  // judge). A writer's DB::Open checks them itself, and its background compactions replace
  // files under this loop, so it is left out.
  if (!setup_.options.read_only) return Status::Ok();
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  for (const auto& f : files) {
    const fs::path file = fs::path(f.db_path) / fs::path(f.name).relative_path();
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec)
      return Status::Corruption(fmt::format(
          "store {} is damaged: table file {} is missing or unreadable ({}); restore it from a "
          "backup (docs/guarantees.md, \"Damaged files\")",
          setup_.path, file.string(), ec.message()));
    if (size != f.size)
      return Status::Corruption(fmt::format(
          "store {} is damaged: table file {} is {} bytes, its MANIFEST says {}; restore it "
          "from a backup (docs/guarantees.md, \"Damaged files\")",
          setup_.path, file.string(), size, f.size));
  }
  return Status::Ok();
}

Status Database::DescribeOpenFailure(const rocksdb::Status& s) const {
  if (s.IsIOError() && s.ToString().find("Read-only file system") != std::string::npos)
    return Status::IOError(
        fmt::format("store {} is on a read-only file system: a writer cannot open it (readers can: "
                    "cairn's audit commands, StoreOptions::read_only)",
                    setup_.path));
  if (s.IsIOError() && s.ToString().find("LOCK") != std::string::npos &&
      (s.ToString().find("Resource temporarily unavailable") != std::string::npos ||
       s.ToString().find("lock hold") != std::string::npos))
    return Status::Busy(
        fmt::format("store {} is already open by another writer (its lock file {}/LOCK is held)",
                    setup_.path, setup_.path));
  if (s.IsCorruption() || s.IsIOError()) {
    if (auto damage = FindWalDamage(setup_.path)) {
      return Status::Corruption(fmt::format(
          "store {} is damaged: write-ahead log {} fails at offset {} ({}); {} bytes of log "
          "follow. Nothing was changed. `cairn repair {}` keeps a copy of the store, then "
          "recovers up to the damage, dropping what follows (docs/guarantees.md)",
          setup_.path, damage->file, damage->offset, damage->what, damage->bytes_after,
          setup_.path));
    }
  }
  std::string why = s.ToString();
  while (!why.empty() && std::isspace(static_cast<unsigned char>(why.back()))) why.pop_back();
  if (s.IsCorruption())
    return Status::Corruption(fmt::format("store {} is damaged: {}", setup_.path, why));
  return FromRocks(s, fmt::format("opening store {}", setup_.path));
}

// RocksDB's database options for this store; info_log_ is its diagnostic log.
rocksdb::Options Database::DatabaseOptions(bool fresh) {
  rocksdb::Options db_options;
  rocksdb::Env* base = setup_.base_env ? setup_.base_env : rocksdb::Env::Default();
  env_ = rocksdb::NewCompositeEnv(setup_.wal_sync_gate->Wrap(base->GetFileSystem()));
  db_options.env = env_.get();
  db_options.create_if_missing = fresh;
  db_options.create_missing_column_families = fresh;
  db_options.max_background_jobs = 2;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.info_log = info_log_;
  if (!setup_.options.read_only) {
    auto on_recovered = [this](const rocksdb::Status& s) {
      if (!s.ok()) return;  // RocksDB tries again; appends keep saying why they fail
      setup_.logger->warn("store {}: RocksDB recovered from the write error; appends resume",
                          setup_.path);
      if (setup_.on_write_error_recovered) setup_.on_write_error_recovered();
    };
    db_options.listeners.push_back(std::make_shared<RecoveryListener>(on_recovered));
  }
  db_options.keep_log_file_num = 4;
  // The MANIFEST records every write-ahead log: a log file deleted or cut short is then an
  // error at open instead of acknowledged events that silently never were (found by deleting
  // the *.log of a store whose events were all still in it: it opened empty and gave position
  // 1 to the next append).
  db_options.track_and_verify_wals_in_manifest = true;
  // A damaged write-ahead log is refused, not cut short: only a torn last record (what a crash
  // leaves) is tolerated; `cairn repair` (Store::Repair) recovers to the damage, keeping a
  // copy (docs/guarantees.md, "Write-ahead log recovery").
  db_options.wal_recovery_mode = setup_.repairing
                                     ? rocksdb::WALRecoveryMode::kPointInTimeRecovery
                                     : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.max_manifest_file_size = 64 << 20;
  // What an open after a crash replays is bounded by the write-ahead log it finds. RocksDB
  // keeps a log until every family with data in it has flushed; its default bound (4x the
  // families' write buffers, ~3 GB here) let a writer killed under load leave 1.3 GB of log
  // and a 4.7 s open. Past this size the families holding the oldest log are flushed
  // (docs/performance.md, "Restart time").
  db_options.max_total_wal_size = kMaxTotalWalBytes;
  // No memtable insert hint on the log family (it took ~10% off buffered appends): retention
  // writes positions below the hint, and RocksDB's partial splice repair walks from a node
  // past such a key (an assertion in Debian's build, a misordered memtable without it).
  db_options.allow_concurrent_memtable_write = false;
  return db_options;
}

// The families to open: cairn's own, and on an existing store every family present (RocksDB
// insists, and a newer format may have added some: the format version check decides whether
// we may touch it). A database lacking one of cairn's is foreign.
Result<std::vector<std::string>> Database::FamiliesToOpen(const rocksdb::Options& db_options,
                                                          bool fresh) {
  std::vector<std::string> names{kMetaFamily, kLogFamily, kStreamsFamily, kEventIdsFamily};
  if (fresh) {
    names.push_back(kTypesFamily);
    names.push_back(kSnapshotsFamily);
    return names;
  }
  if (Status s = CheckManifest(setup_.path); !s.ok()) return s;
  std::vector<std::string> existing;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, setup_.path, &existing);
  if (!s.ok()) {
    // CURRENT is there, so this is a RocksDB database: a MANIFEST or CURRENT that cannot be
    // read or parsed is damage.
    if (s.IsCorruption() || s.IsIOError() || s.IsNotFound())
      return Status::Corruption(fmt::format(
          "store {} is damaged: its MANIFEST cannot be read ({}); restore the store from a "
          "backup (docs/guarantees.md)",
          setup_.path, s.ToString()));
    return Status::FailedPrecondition(
        fmt::format("{} is not a readable cairn store: {}", setup_.path, s.ToString()));
  }
  for (const auto& n : names) {
    if (std::find(existing.begin(), existing.end(), n) == existing.end())
      return Status::FailedPrecondition(
          fmt::format("{} is not a cairn store: RocksDB database without the '{}' column family",
                      setup_.path, n));
  }
  for (const auto& n : existing)
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  return names;
}

// Opens RocksDB as the writer, read-only, or as a secondary instance following the writer.
Status Database::OpenRocks(const rocksdb::Options& db_options, const std::string& db_path,
                           const std::vector<rocksdb::ColumnFamilyDescriptor>& descriptors) {
  rocksdb::DB* raw = nullptr;
  rocksdb::DBOptions dbo(db_options);
  rocksdb::Status s;
  if (setup_.options.read_only && setup_.options.follow_writer) {
    // A secondary instance recovers the MANIFEST "point in time": a table file that is
    // missing or of the wrong size is silently left out, and the store reads as if its events
    // had never been. A read-only open checks every file the MANIFEST names, so it goes
    // first, as the judge of damage (found by truncating one SST: audits printed a partial
    // store with exit 0).
    {
      std::vector<rocksdb::ColumnFamilyHandle*> probe_handles;
      rocksdb::DB* probe = nullptr;
      s = rocksdb::DB::OpenForReadOnly(dbo, setup_.path, descriptors, &probe_handles, &probe);
      if (probe) {
        for (auto* h : probe_handles) (void)probe->DestroyColumnFamilyHandle(h);
        delete probe;
      }
      if (!s.ok()) return DescribeOpenFailure(s);
    }
    // A secondary instance keeps its own info log and state in a directory of its own; it
    // never writes to the store.
    std::string tmpl = (fs::temp_directory_path() / "cairn-follow-XXXXXX").string();
    if (!mkdtemp(tmpl.data()))
      return Status::IOError(
          fmt::format("cannot create a directory to follow {} from", setup_.path));
    secondary_dir_ = tmpl;
    dbo.max_open_files = -1;  // RocksDB requires it of secondary instances
    s = rocksdb::DB::OpenAsSecondary(dbo, setup_.path, secondary_dir_, descriptors, &handles_,
                                     &raw);
  } else if (setup_.options.read_only) {
    s = rocksdb::DB::OpenForReadOnly(dbo, setup_.path, descriptors, &handles_, &raw);
  } else {
    s = rocksdb::DB::Open(dbo, db_path, descriptors, &handles_, &raw);
  }
  if (!s.ok()) return DescribeOpenFailure(s);
  db_.reset(raw);
  return Status::Ok();
}

}  // namespace cairn::store
