// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The write path: validation, the group-commit queue, sequencing (versions, positions, chain
// hashes) and one RocksDB WriteBatch per group. Reads live in reader.cc.
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "codec/envelope.h"
#include "store/keys.h"
#include "store/wal_scan.h"
#include "store/store_impl.h"
#include "store/testing_hooks.h"
#include "util/logging.h"

namespace cairn {

namespace fs = std::filesystem;

namespace {

std::atomic<rocksdb::Env*> g_env_for_testing{nullptr};

// Where a new store is built inside its directory (see OpenDatabase).
constexpr char kCreatingDir[] = ".cairn-creating";

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

namespace store {

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Stream ids and types are printed in tools, logs and Kafka headers: keep them to printable
// text. Returns the offset of the first control byte, or npos.
std::size_t FindControlByte(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return i;
  }
  return std::string_view::npos;
}

// The offset of the first byte that does not belong to well-formed UTF-8 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or npos. Ids and types go into
// JSON output, Kafka headers that Java reads as strings, and file names of exports.
std::size_t FindInvalidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
    else return i;
    if (i + n > s.size()) return i;
    for (std::size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = cp << 6 | (cc & 0x3F);
    }
    const bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n;
  }
  return std::string_view::npos;
}

Status CheckName(std::string_view what, std::string_view value, std::size_t max) {
  if (value.empty()) return Status::InvalidArgument(fmt::format("{} is empty", what));
  if (value.size() > max)
    return Status::InvalidArgument(fmt::format("{} is {} bytes, over the limit of {}", what,
                                               value.size(), max));
  if (auto at = FindControlByte(value); at != std::string_view::npos)
    return Status::InvalidArgument(
        fmt::format("{} '{}' has a control character at byte {}", what,
                    value.substr(0, std::min<std::size_t>(at, 64)), at));
  if (auto at = FindInvalidUtf8(value); at != std::string_view::npos)
    return Status::InvalidArgument(
        fmt::format("{} '{}' is not valid UTF-8 at byte {}", what,
                    value.substr(0, std::min<std::size_t>(at, 64)), at));
  return Status::Ok();
}

}  // namespace store

void internal::SetRocksEnvForTesting(rocksdb::Env* env) { g_env_for_testing = env; }

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = fmt::format("{}: {}", what, s.ToString());
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(msg));
  if (s.IsNotSupported()) return Status::NotSupported(std::move(msg));
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return Status::Busy(std::move(msg));
  if (s.IsShutdownInProgress()) return Status::Cancelled(std::move(msg));
  Status io = Status::IOError(std::move(msg));
  // ENOSPC clears when space is freed; other I/O errors need an operator.
  io.set_retryable(s.IsNoSpace());
  return io;
}

Store::Impl::Impl(std::string path, const StoreOptions& options)
    : path_(std::move(path)), options_(options),
      logger_(internal::MakeLogger(options.log_sink, options.log_level)) {}

Store::Impl::~Impl() {
  Status s = Close();
  if (!s.ok()) logger_->error("closing store {}: {}", path_, s.ToString());
  if (!secondary_dir_.empty()) {  // an open that failed half-way
    std::error_code ec;
    fs::remove_all(secondary_dir_, ec);
  }
}

Result<std::unique_ptr<Store::Impl>> Store::Impl::Open(const std::string& path,
                                                      const StoreOptions& options,
                                                      bool repairing) {
  if (path.empty()) return Status::InvalidArgument("store path is empty");
  std::unique_ptr<Impl> impl(new Impl(path, options));
  impl->repairing_ = repairing;
  if (Status s = impl->upcasters_.Build(options.upcasters); !s.ok()) return s;
  impl->quota_enabled_ = !options.read_only && (options.backlog_quota.max_events > 0 ||
                                                options.backlog_quota.max_bytes > 0);
  if (Status s = impl->OpenDatabase(); !s.ok()) return s;
  return impl;
}

namespace {

// RocksDB's own files: a directory holding them but no CURRENT is a damaged database, not a
// foreign directory.
bool LooksLikeRocksFile(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.starts_with("MANIFEST-") || name == "IDENTITY" || name.starts_with("OPTIONS-") ||
         p.extension() == ".sst" || p.extension() == ".log";
}

// Permission problems named as such (RocksDB would call them a missing database or a held
// lock). Writers need to create files in the directory; readers need to list and read it.
Status CheckAccess(const std::string& path, bool writer) {
  const int mode = writer ? (R_OK | W_OK | X_OK) : (R_OK | X_OK);
  if (::access(path.c_str(), mode) != 0 && errno == EACCES)
    return Status::IOError(fmt::format("permission denied: cannot {} store directory {}",
                                       writer ? "write to" : "read", path));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    if (!entry.is_regular_file(ec) || entry.path().filename() == "LOCK") continue;
    if (::access(entry.path().c_str(), R_OK) != 0 && errno == EACCES)
      return Status::IOError(
          fmt::format("permission denied: cannot read {}", entry.path().string()));
  }
  return Status::Ok();
}

}  // namespace

Status Store::Impl::CheckLiveFiles() {
  // A secondary instance does not compare table files with the MANIFEST (a missing or
  // truncated SST would only show as missing events; the read-only probe before it is the
  // judge). A writer's DB::Open checks them itself, and its background compactions replace
  // files under this loop, so it is left out.
  if (!options_.read_only) return Status::Ok();
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
          path_, file.string(), ec.message()));
    if (size != f.size)
      return Status::Corruption(fmt::format(
          "store {} is damaged: table file {} is {} bytes, its MANIFEST says {}; restore it "
          "from a backup (docs/guarantees.md, \"Damaged files\")",
          path_, file.string(), size, f.size));
  }
  return Status::Ok();
}

Status Store::Impl::DescribeOpenFailure(const rocksdb::Status& s) {
  if (s.IsIOError() && s.ToString().find("LOCK") != std::string::npos)
    return Status::Busy(fmt::format(
        "store {} is already open by another writer (its lock file {}/LOCK is held)", path_,
        path_));
  if (s.IsCorruption() || s.IsIOError()) {
    if (auto damage = store::FindWalDamage(path_)) {
      return Status::Corruption(fmt::format(
          "store {} is damaged: write-ahead log {} fails at offset {} ({}); {} bytes of log "
          "follow. Nothing was changed. `cairn repair {}` keeps a copy of the store, then "
          "recovers up to the damage, dropping what follows (docs/guarantees.md)",
          path_, damage->file, damage->offset, damage->what, damage->bytes_after, path_));
    }
  }
  std::string why = s.ToString();
  while (!why.empty() && std::isspace(static_cast<unsigned char>(why.back()))) why.pop_back();
  if (s.IsCorruption()) return Status::Corruption(fmt::format("store {} is damaged: {}", path_, why));
  return FromRocks(s, fmt::format("opening store {}", path_));
}

Status Store::Impl::OpenDatabase() {
  std::error_code ec;
  const bool exists = fs::exists(path_, ec);
  if (ec == std::errc::permission_denied)
    return Status::IOError(fmt::format(
        "permission denied: cannot reach store directory {} (a directory on its path is not "
        "searchable by this user)",
        path_));
  if (exists && !fs::is_directory(path_, ec))
    return Status::FailedPrecondition(fmt::format("{} is not a directory", path_));
  if (exists) {
    if (Status s = CheckAccess(path_, !options_.read_only); !s.ok()) return s;
  }
  const bool has_db = exists && fs::exists(fs::path(path_) / "CURRENT", ec);
  if (exists && !has_db && !fs::exists(fs::path(path_) / kCreatingDir, ec)) {
    for (const auto& entry : fs::directory_iterator(path_, ec)) {
      if (LooksLikeRocksFile(entry.path()))
        return Status::Corruption(fmt::format(
            "store {} is damaged: its CURRENT file is missing, though RocksDB files such as {} "
            "are there; restore the store from a backup (docs/guarantees.md)",
            path_, entry.path().filename().string()));
    }
  }
  // A directory without CURRENT that holds kCreatingDir is a creation a crash interrupted:
  // start it over.
  const bool interrupted = exists && !has_db && fs::exists(fs::path(path_) / kCreatingDir, ec);
  if (interrupted && !options_.read_only) {
    for (const auto& entry : fs::directory_iterator(path_, ec)) fs::remove_all(entry.path(), ec);
  }
  const bool empty_dir = exists && !has_db && (interrupted || fs::is_empty(path_, ec));
  bool fresh = false;
  if (!has_db) {
    if (exists && !empty_dir)
      return Status::FailedPrecondition(fmt::format(
          "{} is not a cairn store: the directory is not empty and holds no database", path_));
    if (!options_.create_if_missing || options_.read_only)
      return Status::NotFound(
          interrupted ? fmt::format("no cairn store at {}: its creation was interrupted "
                                    "(opening it for writing creates it again)",
                                    path_)
                      : fmt::format("no cairn store at {}", path_));
    fresh = true;
  }
  // A new store is built in a subdirectory and its files moved up once its metadata is on
  // disk, RocksDB's CURRENT last: a crash while creating leaves either no database or a
  // whole store — never a RocksDB database without cairn's metadata, which would be refused
  // as foreign forever (found by the crash loop, killing a writer during its first open).
  // The subdirectory keeps it on the store's file system (the store may be a mount point).
  const std::string db_path = fresh ? (fs::path(path_) / kCreatingDir).string() : path_;
  if (fresh) {
    fs::remove_all(db_path, ec);  // what an interrupted creation left
    fs::create_directories(db_path, ec);
    if (ec)
      return Status::IOError(fmt::format("cannot create store directory {}: {}", db_path,
                                         ec.message()));
  }

  rocksdb::Options db_options;
  if (rocksdb::Env* env = g_env_for_testing.load()) db_options.env = env;
  db_options.create_if_missing = fresh;
  db_options.create_missing_column_families = fresh;
  db_options.max_background_jobs = 2;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  auto bridge = std::make_shared<RocksLogBridge>(logger_);
  bridge->set_opening(true);
  db_options.info_log = bridge;
  if (!options_.read_only) {
    auto on_recovered = [this](const rocksdb::Status& s) {
      if (!s.ok()) return;  // RocksDB tries again; appends keep saying why they fail
      logger_->warn("store {}: RocksDB recovered from the write error; appends resume", path_);
      SetWriteError(Status::Ok());
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
  db_options.wal_recovery_mode = repairing_ ? rocksdb::WALRecoveryMode::kPointInTimeRecovery
                                            : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.max_manifest_file_size = 64 << 20;

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options_.block_cache_bytes);
  rocksdb::BlockBasedTableOptions id_table = table;
  id_table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::ColumnFamilyOptions id_options = cf_options;
  id_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(id_table));

  std::vector<std::string> names{store::kMetaFamily, store::kLogFamily, store::kStreamsFamily,
                                 store::kEventIdsFamily};
  if (fresh) {
    names.push_back(store::kTypesFamily);
    names.push_back(store::kSnapshotsFamily);
  }
  if (!fresh) {
    // CURRENT names the MANIFEST; RocksDB reads an empty one as a database with no column
    // families but "default", which would pass for a foreign database. It is damage.
    {
      std::ifstream current(fs::path(path_) / "CURRENT");
      std::string manifest;
      std::getline(current, manifest);
      std::error_code mec;
      const fs::path mpath = fs::path(path_) / manifest;
      if (manifest.empty() || !fs::exists(mpath, mec) || fs::file_size(mpath, mec) == 0)
        return Status::Corruption(fmt::format(
            "store {} is damaged: its MANIFEST {} is {}; restore the store from a backup "
            "(docs/guarantees.md)",
            path_, manifest.empty() ? "(named in CURRENT)" : mpath.string(),
            manifest.empty() ? "not named in CURRENT" : fs::exists(mpath, mec) ? "empty" : "missing"));
    }
    std::vector<std::string> existing;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, path_, &existing);
    if (!s.ok()) {
      // CURRENT is there, so this is a RocksDB database: a MANIFEST or CURRENT that cannot be
      // read or parsed is damage.
      if (s.IsCorruption() || s.IsIOError() || s.IsNotFound())
        return Status::Corruption(fmt::format(
            "store {} is damaged: its MANIFEST cannot be read ({}); restore the store from a "
            "backup (docs/guarantees.md)",
            path_, s.ToString()));
      return Status::FailedPrecondition(
          fmt::format("{} is not a readable cairn store: {}", path_, s.ToString()));
    }
    for (const auto& n : names) {
      if (std::find(existing.begin(), existing.end(), n) == existing.end())
        return Status::FailedPrecondition(fmt::format(
            "{} is not a cairn store: RocksDB database without the '{}' column family", path_,
            n));
    }
    // Open every family present: RocksDB insists, and a newer format may have added some
    // (the format version check below then decides whether we may touch it).
    for (const auto& n : existing)
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  // No memtable insert hint on the log family (it took ~10% off buffered appends): retention
  // writes positions below the hint, and RocksDB's partial splice repair walks from a node
  // past such a key (an assertion in Debian's build, a misordered memtable without it).
  db_options.allow_concurrent_memtable_write = false;
  rocksdb::ColumnFamilyOptions log_options = cf_options;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) {
    if (n == store::kEventIdsFamily)
      descriptors.emplace_back(n, id_options);
    else if (n == store::kLogFamily)
      descriptors.emplace_back(n, log_options);
    else
      descriptors.emplace_back(n, cf_options);
  }

  rocksdb::DB* raw = nullptr;
  rocksdb::DBOptions dbo(db_options);
  rocksdb::Status s;
  if (options_.read_only && options_.follow_writer) {
    // A secondary instance keeps its own info log and state in a directory of its own; it
    // never writes to the store.
    std::string tmpl = (fs::temp_directory_path() / "cairn-follow-XXXXXX").string();
    if (!mkdtemp(tmpl.data()))
      return Status::IOError(fmt::format("cannot create a directory to follow {} from", path_));
    secondary_dir_ = tmpl;
    dbo.max_open_files = -1;  // RocksDB requires it of secondary instances
    // A secondary instance recovers the MANIFEST "point in time": a table file that is
    // missing or of the wrong size is silently left out, and the store reads as if its events
    // had never been. A read-only open checks every file the MANIFEST names, so it goes
    // first, as the judge of damage (found by truncating one SST: audits printed a partial
    // store with exit 0).
    {
      std::vector<rocksdb::ColumnFamilyHandle*> probe_handles;
      rocksdb::DB* probe = nullptr;
      rocksdb::DBOptions probe_options(db_options);
      s = rocksdb::DB::OpenForReadOnly(probe_options, path_, descriptors, &probe_handles, &probe);
      if (probe) {
        for (auto* h : probe_handles) (void)probe->DestroyColumnFamilyHandle(h);
        delete probe;
      }
      if (!s.ok()) return DescribeOpenFailure(s);
    }
    s = rocksdb::DB::OpenAsSecondary(dbo, path_, secondary_dir_, descriptors, &handles_, &raw);
  } else if (options_.read_only) {
    s = rocksdb::DB::OpenForReadOnly(dbo, path_, descriptors, &handles_, &raw);
  } else {
    s = rocksdb::DB::Open(dbo, db_path, descriptors, &handles_, &raw);
  }
  bridge->set_opening(false);
  if (!s.ok()) return DescribeOpenFailure(s);
  db_.reset(raw);
  meta_ = handles_[0];
  log_ = handles_[1];
  streams_ = handles_[2];
  ids_ = handles_[3];
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == store::kTypesFamily) types_ = handles_[i];
    if (names[i] == store::kSnapshotsFamily) snapshots_ = handles_[i];
  }
  cf_options_ = cf_options;
  if (Status st = CheckLiveFiles(); !st.ok()) return st;

  if (Status st = LoadOrCreateMeta(fresh); !st.ok()) return st;
  if (fresh) return PublishNewStore(db_path);
  if (Status st = LoadTail(); !st.ok()) return st;
  if (Status st = CheckClosedHead(); !st.ok()) return st;
  if (Status st = LoadTypeIndex(cf_options); !st.ok()) return st;
  if (Status st = EnsureFamily(store::kSnapshotsFamily, cf_options, &snapshots_); !st.ok())
    return st;
  if (Status st = UpgradeFormat(); !st.ok()) return st;
  if (Status st = LoadBacklog(); !st.ok()) return st;
  if (Status st = LoadRepairs(); !st.ok()) return st;
  logger_->info("opened store {} (id {}, last position {})", path_, store_id_.ToString(),
             committed_position_);
  opened_ = true;
  return Status::Ok();
}

Status Store::Impl::PublishNewStore(const std::string& built_at) {
  for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
  handles_.clear();
  meta_ = log_ = streams_ = ids_ = types_ = snapshots_ = nullptr;
  rocksdb::Status closed = db_->Close();
  db_.reset();
  if (!closed.ok()) return FromRocks(closed, fmt::format("closing the new store at {}", built_at));
  auto sync_dir = [](const fs::path& dir) {
    if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  };
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(built_at, ec)) files.push_back(entry.path());
  if (ec) return Status::IOError(fmt::format("listing the new store at {}: {}", built_at, ec.message()));
  // CURRENT last: until it is in place the directory holds no database.
  std::stable_partition(files.begin(), files.end(),
                        [](const fs::path& f) { return f.filename() != "CURRENT"; });
  for (const fs::path& f : files) {
    if (f.filename() == "CURRENT") sync_dir(path_);  // everything else is in place first
    fs::rename(f, fs::path(path_) / f.filename(), ec);
    if (ec)
      return Status::IOError(fmt::format("moving the new store into {}: {}", path_, ec.message()));
  }
  sync_dir(path_);
  fs::remove_all(built_at, ec);
  return OpenDatabase();
}

Status Store::Impl::LoadOrCreateMeta(bool fresh) {
  if (fresh) {
    store_id_ = EventId::Generate();
    format_version_ = kFormatVersion;
    rocksdb::WriteBatch batch;
    std::string v;
    store::PutLittleEndian(kFormatVersion, 4, &v);
    batch.Put(meta_, store::kMetaFormatVersion, v);
    batch.Put(meta_, store::kMetaStoreId,
              rocksdb::Slice(reinterpret_cast<const char*>(store_id_.bytes().data()), 16));
    v.clear();
    store::PutLittleEndian(static_cast<std::uint64_t>(store::NowMicros()), 8, &v);
    batch.Put(meta_, store::kMetaCreatedUs, v);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(db_->Write(wo, &batch), "writing store metadata");
  }
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, store::kMetaFormatVersion, &value);
  if (s.IsNotFound())
    return Status::FailedPrecondition(fmt::format(
        "{} is not a cairn store: RocksDB database without a cairn format version", path_));
  if (!s.ok()) return FromRocks(s, "reading the store's format version");
  if (value.size() != 4)
    return Status::Corruption(fmt::format("store {}: format version record is {} bytes, not 4",
                                          path_, value.size()));
  format_version_ = static_cast<std::uint32_t>(store::GetLittleEndian(value));
  if (format_version_ > kFormatVersion)
    return Status::FailedPrecondition(fmt::format(
        "store {} was written by a newer cairn (format version {}); this build reads format "
        "versions up to {}: upgrade cairn to open it",
        path_, format_version_, kFormatVersion));
  if (format_version_ == 0)
    return Status::Corruption(fmt::format("store {}: format version 0 is not valid", path_));
  s = db_->Get(rocksdb::ReadOptions(), meta_, store::kMetaStoreId, &value);
  if (!s.ok() || value.size() != 16)
    return Status::Corruption(fmt::format("store {}: store id record is missing or malformed",
                                          path_));
  std::array<std::uint8_t, 16> id{};
  std::copy(value.begin(), value.end(), id.begin());
  store_id_ = EventId(id);
  return Status::Ok();
}

// The type index arrived after format 1's first stores: a store without it gains it on its
// first writable open, covering positions from then on (queries scan the log below that).
Status Store::Impl::LoadTypeIndex(const rocksdb::ColumnFamilyOptions& cf_options) {
  std::string value;
  if (types_) {
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, store::kMetaTypeIndexFrom, &value);
    if (s.IsNotFound()) {
      type_index_from_ = 1;  // created with the store, before this key existed: never
    } else if (!s.ok()) {
      return FromRocks(s, "reading the type index's start");
    } else if (value.size() != 8) {
      return Status::Corruption(fmt::format("store {}: type index start record is malformed", path_));
    } else {
      type_index_from_ = store::GetLittleEndian(value);
    }
    return Status::Ok();
  }
  if (options_.read_only) return Status::Ok();  // queries by type scan the log
  if (Status st = EnsureFamily(store::kTypesFamily, cf_options, &types_); !st.ok()) return st;
  type_index_from_ = committed_position_ + 1;
  store::PutLittleEndian(type_index_from_, 8, &value);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, meta_, store::kMetaTypeIndexFrom, value),
                   "recording the type index's start");
}

Status Store::Impl::EnsureFamily(const char* name, const rocksdb::ColumnFamilyOptions& cf_options,
                                 rocksdb::ColumnFamilyHandle** handle) {
  if (*handle != nullptr || options_.read_only) return Status::Ok();
  rocksdb::ColumnFamilyHandle* created = nullptr;
  if (Status st = FromRocks(db_->CreateColumnFamily(cf_options, name, &created),
                            fmt::format("creating the '{}' column family", name));
      !st.ok())
    return st;
  handles_.push_back(created);
  *handle = created;
  return Status::Ok();
}

Status Store::Impl::UpgradeFormat() {
  if (options_.read_only || format_version_ >= kFormatVersion) return Status::Ok();
  // Version 2 only adds records (removed-event markers, stream metadata, snapshots, schema
  // versions); a version-1 store is already a valid version-2 store. Older builds refuse it
  // from now on, which is what protects it from a build that would misread those records.
  std::string v;
  store::PutLittleEndian(kFormatVersion, 4, &v);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (Status st = FromRocks(db_->Put(wo, meta_, store::kMetaFormatVersion, v),
                            "upgrading the store's format version");
      !st.ok())
    return st;
  logger_->warn("upgraded store {} from format version {} to {}; older cairn builds cannot open "
                "it any more",
                path_, format_version_, kFormatVersion);
  format_version_ = kFormatVersion;
  return Status::Ok();
}

Status Store::Impl::LoadLogStart() {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, store::kMetaLogStart, &value);
  if (s.IsNotFound()) {
    log_start_ = 1;
    return Status::Ok();
  }
  if (!s.ok()) return FromRocks(s, "reading where the log starts");
  std::string hash;
  s = db_->Get(rocksdb::ReadOptions(), meta_, store::kMetaLogStartHash, &hash);
  if (value.size() != 8 || !s.ok() || hash.size() != 32)
    return Status::Corruption(fmt::format("store {}: the log-start record is malformed", path_));
  std::lock_guard<std::mutex> lk(head_mu_);
  std::copy(hash.begin(), hash.end(), log_start_hash_.begin());
  log_start_ = store::GetLittleEndian(value);
  return Status::Ok();
}

Status Store::Impl::LoadTail() {
  if (Status s = LoadLogStart(); !s.ok()) return s;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), log_));
  it->SeekToLast();
  std::uint64_t last = 0;
  audit::Hash hash = hasher_.Genesis(store_id_);
  std::int64_t ts = 0;
  if (it->Valid()) {
    if (!store::DecodePositionKey(it->key().ToStringView(), &last))
      return Status::Corruption(fmt::format("store {}: malformed log key of {} bytes", path_,
                                            it->key().size()));
    codec::ChainLink e;
    std::string scratch;
    Status s = codec::DecodeChainLink(it->value().ToStringView(), &scratch, &e);
    if (!s.ok())
      return Status::Corruption(
          fmt::format("store {}: last event at position {}: {}", path_, last, s.message()));
    if (e.position != last)
      return Status::Corruption(fmt::format(
          "store {}: event under position {} says position {}", path_, last, e.position));
    hash = e.chain_hash;
    ts = e.timestamp_us;
  } else if (!it->status().ok()) {
    return FromRocks(it->status(), "reading the log's last event");
  }
  next_position_ = last + 1;
  head_hash_ = hash;
  head_timestamp_us_ = ts;
  version_cache_.clear();
  std::lock_guard<std::mutex> lk(head_mu_);
  committed_position_ = last;
  committed_hash_ = hash;
  committed_timestamp_us_ = ts;
  return Status::Ok();
}

// --- Appending -----------------------------------------------------------------------------

Status Store::Impl::Validate(const std::vector<AppendView>& views) const {
  if (views.empty()) return Status::InvalidArgument("append has no streams");
  std::size_t total = 0;
  std::unordered_set<std::string_view> streams;
  std::unordered_set<EventId, EventIdHash> ids;
  for (const auto& v : views) {
    if (Status s = store::CheckName("stream id", v.stream, options_.max_stream_id_bytes); !s.ok())
      return s;
    if (!streams.insert(v.stream).second)
      return Status::InvalidArgument(
          fmt::format("stream '{}' appears more than once in one append", v.stream));
    if (v.events.empty())
      return Status::InvalidArgument(fmt::format("append to stream '{}' has no events", v.stream));
    total += v.events.size();
    if (total > options_.max_events_per_append)
      return Status::InvalidArgument(fmt::format(
          "append has more than {} events (StoreOptions::max_events_per_append)",
          options_.max_events_per_append));
    for (std::size_t i = 0; i < v.events.size(); ++i) {
      const EventData& e = v.events[i];
      auto where = [&] { return fmt::format("event {} for stream '{}'", i, v.stream); };
      if (Status s = store::CheckName("event type", e.type, options_.max_type_bytes); !s.ok())
        return Status::InvalidArgument(fmt::format("{}: {}", where(), s.message()));
      if (e.content_type.size() > options_.max_content_type_bytes)
        return Status::InvalidArgument(fmt::format("{}: content type is {} bytes, over the limit of {}",
                                                   where(), e.content_type.size(),
                                                   options_.max_content_type_bytes));
      if (store::FindControlByte(e.content_type) != std::string_view::npos)
        return Status::InvalidArgument(
            fmt::format("{}: content type has a control character", where()));
      if (e.payload.size() > options_.max_payload_bytes)
        return Status::InvalidArgument(fmt::format(
            "{}: payload is {} bytes, over the limit of {} (StoreOptions::max_payload_bytes)",
            where(), e.payload.size(), options_.max_payload_bytes));
      if (e.metadata.size() > options_.max_metadata_bytes)
        return Status::InvalidArgument(fmt::format(
            "{}: metadata is {} bytes, over the limit of {} (StoreOptions::max_metadata_bytes)",
            where(), e.metadata.size(), options_.max_metadata_bytes));
      if (e.schema_version == 0)
        return Status::InvalidArgument(
            fmt::format("{}: schema version 0 (schema versions start at 1)", where()));
      if (e.id) {
        if (e.id->is_nil())
          return Status::InvalidArgument(fmt::format("{}: the nil UUID is not an event id", where()));
        if (!ids.insert(*e.id).second)
          return Status::InvalidArgument(fmt::format(
              "{}: event id {} appears more than once in one append", where(), e.id->ToString()));
      }
    }
  }
  return Status::Ok();
}

Result<AppendResult> Store::Impl::AppendOne(std::string_view stream, ExpectedVersion expected,
                                            std::span<const EventData> events) {
  std::vector<AppendView> views;
  views.push_back(AppendView{stream, expected, events});
  auto r = Submit(std::move(views));
  if (!r.ok()) return r.status();
  return r.value().front();
}

Result<std::vector<AppendResult>> Store::Impl::Append(std::span<const StreamAppend> appends) {
  std::vector<AppendView> views;
  views.reserve(appends.size());
  for (const auto& a : appends) views.push_back(AppendView{a.stream, a.expected, a.events});
  return Submit(std::move(views));
}

Result<std::vector<AppendResult>> Store::Impl::Submit(std::vector<AppendView> views) {
  if (options_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  if (Status s = Validate(views); !s.ok()) return s;
  if (quota_enabled_) {
    std::uint64_t events = 0, bytes = 0;
    for (const AppendView& v : views) {
      events += v.events.size();
      for (const EventData& e : v.events)
        bytes += e.payload.size() + e.metadata.size() + e.type.size() + e.content_type.size() +
                 v.stream.size();
    }
    if (Status s = AwaitBacklogRoom(events, bytes); !s.ok()) return s;
  }

  Writer w;
  w.views = std::move(views);
  std::unique_lock<std::mutex> lk(mu_);
  if (closed_) return Status::FailedPrecondition(fmt::format("store {} is closed", path_));
  queue_.push_back(&w);
  w.cv.wait(lk, [&] { return w.done || queue_.front() == &w; });
  if (!w.done) {
    // This thread leads: commit everyone queued so far as one group.
    const std::size_t n = std::min(queue_.size(), std::max<std::size_t>(1, options_.max_group_appends));
    std::vector<Writer*> group(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    lk.unlock();
    CommitGroup(group);
    lk.lock();
    for (std::size_t i = 0; i < n; ++i) {
      Writer* done = queue_.front();
      queue_.pop_front();
      done->done = true;
      if (done != &w) done->cv.notify_one();
    }
    if (!queue_.empty()) queue_.front()->cv.notify_one();
  }
  lk.unlock();
  if (!w.status.ok()) return w.status;
  return std::move(w.results);
}

void Store::Impl::CommitGroup(const std::vector<Writer*>& group) {
  const bool reload_head_was_set = reload_head_;
  if (reload_head_) {
    // A failed write leaves RocksDB refusing writes until it resumes. A full disk is a "hard"
    // error RocksDB recovers from by itself once there is room to flush its memtables: Resume()
    // says Busy while that recovery waits, and OK once it is done (the memtables flushed, the
    // write-ahead log that held the failed write retired). Any other write error is "fatal"
    // to RocksDB: only a reopen, which replays the log, recovers (FaultTest, FullDiskTest).
    if (rocksdb::Status r = db_->Resume(); !r.ok()) {
      Status original;
      {
        std::lock_guard<std::mutex> lk(head_mu_);
        original = write_status_;
      }
      const std::string remedy =
          r.IsBusy() ? fmt::format("RocksDB resumes by itself once {} MiB are free on the "
                                   "store's file system (room to flush its memtables; it "
                                   "looks every 5 s)",
                                   cf_options_.write_buffer_size >> 20)
                     : std::string("fix the cause (the device), then reopen the store");
      Status err(original.code() == StatusCode::kOk ? StatusCode::kIOError : original.code(),
                 fmt::format("store {} cannot write since a write failed ({}); {}", path_,
                             original.message(), remedy));
      err.set_retryable(r.IsBusy() || original.IsRetryable());
      for (Writer* w : group) w->status = err;
      return;
    }
    Status s = LoadTail();
    if (!s.ok()) {
      for (Writer* w : group) w->status = s;
      return;
    }
    reload_head_ = false;
  }
  batch_.Clear();
  pending_versions_.clear();
  pending_ids_.clear();
  group_timestamp_us_ = std::max(store::NowMicros(), head_timestamp_us_);
  const std::uint64_t group_start = next_position_;
  const audit::Hash start_hash = head_hash_;

  std::vector<Writer*> writing;
  for (Writer* w : group) {
    const std::uint64_t before = next_position_;
    PrepareWriter(w);
    if (w->status.ok() && next_position_ != before) writing.push_back(w);
  }
  if (writing.empty()) return;

  rocksdb::WriteOptions wo;
  wo.sync = options_.durability == Durability::kSync;
  rocksdb::Status rs = db_->Write(wo, &batch_);
  if (!rs.ok()) {
    Status s = FromRocks(rs, fmt::format("writing positions {}..{}", group_start,
                                         next_position_ - 1));
    logger_->error("append failed (whether it is stored is known once the store writes "
                   "again): {}",
                   s.ToString());
    for (Writer* w : writing) {
      w->status = s;
      w->results.clear();
    }
    next_position_ = group_start;
    head_hash_ = start_hash;
    reload_head_ = true;
    SetWriteError(s);
    return;
  }
  if (reload_head_was_set) SetWriteError(Status::Ok());
  head_timestamp_us_ = group_timestamp_us_;
  if (quota_enabled_) NoteCommitted(next_position_ - 1, batch_.GetDataSize());
  if (version_cache_.size() + pending_versions_.size() > options_.stream_cache_entries)
    version_cache_.clear();
  for (const auto& [stream, version] : pending_versions_) {
    auto it = version_cache_.find(stream);
    if (it != version_cache_.end())
      it->second = version;
    else
      version_cache_.emplace(std::string(stream), version);
  }
  {
    std::lock_guard<std::mutex> lk(head_mu_);
    committed_position_ = next_position_ - 1;
    committed_hash_ = head_hash_;
    committed_timestamp_us_ = head_timestamp_us_;
  }
  head_cv_.notify_all();
}

void Store::Impl::PrepareWriter(Writer* w) {
  auto dedup = Deduplicate(w);
  if (!dedup.ok()) {
    w->status = dedup.status();
    return;
  }
  if (*dedup) return;

  std::vector<std::uint64_t> actual(w->views.size());
  for (std::size_t i = 0; i < w->views.size(); ++i) {
    const AppendView& v = w->views[i];
    auto version = StreamVersion(v.stream);
    if (!version.ok()) {
      w->status = version.status();
      return;
    }
    if (!v.expected.Matches(*version)) {
      w->status = Status::WrongExpectedVersion(v.stream, v.expected.ToString(), *version);
      return;
    }
    actual[i] = *version;
  }

  const std::uint64_t start_position = next_position_;
  const audit::Hash start_hash = head_hash_;
  batch_.SetSavePoint();
  auto fail = [&](const rocksdb::Status& rs) {
    w->status = FromRocks(rs, "building the write batch");
    (void)batch_.RollbackToSavePoint();
    next_position_ = start_position;
    head_hash_ = start_hash;
    w->results.clear();
  };
  char position_key[8];
  w->results.reserve(w->views.size());
  std::vector<std::pair<EventId, IdLocation>> new_ids;
  for (std::size_t i = 0; i < w->views.size(); ++i) {
    const AppendView& v = w->views[i];
    AppendResult r;
    r.first_position = next_position_;
    r.first_version = actual[i] + 1;
    for (std::size_t j = 0; j < v.events.size(); ++j) {
      const EventData& e = v.events[j];
      RecordedEvent f;
      f.id = e.id ? *e.id : EventId::Generate();
      f.id_from_caller = e.id.has_value();
      f.stream = v.stream;
      f.version = actual[i] + 1 + j;
      f.position = next_position_++;
      f.type = e.type;
      f.timestamp_us = group_timestamp_us_;
      f.content_type = e.content_type;
      f.metadata = e.metadata;
      f.payload = e.payload;
      f.schema_version = e.schema_version;
      f.chain_hash = hasher_.Next(head_hash_, f);
      head_hash_ = f.chain_hash;

      value_.clear();
      codec::EncodeEvent(f, &fbb_, &value_);
      store::PutBigEndian64(f.position, position_key);
      const rocksdb::Slice pos(position_key, 8);
      rocksdb::Status rs = batch_.Put(log_, pos, value_);
      key_.clear();
      store::AppendStreamKey(v.stream, f.version, &key_);
      if (rs.ok()) rs = batch_.Put(streams_, key_, pos);
      if (rs.ok()) {
        key_.clear();
        store::AppendTypeKey(f.type, f.position, &key_);
        rs = batch_.Put(types_, key_, rocksdb::Slice());
      }
      if (rs.ok() && f.id_from_caller) {
        rs = batch_.Put(ids_, rocksdb::Slice(reinterpret_cast<const char*>(f.id.bytes().data()), 16),
                        pos);
        new_ids.emplace_back(f.id, IdLocation{f.position, f.version, v.stream, &e});
      }
      if (!rs.ok()) return fail(rs);
    }
    r.last_position = next_position_ - 1;
    r.last_version = actual[i] + v.events.size();
    w->results.push_back(r);
  }
  for (std::size_t i = 0; i < w->views.size(); ++i)
    pending_versions_[w->views[i].stream] = w->results[i].last_version;
  for (auto& [id, loc] : new_ids) pending_ids_[id] = loc;
}

Result<std::uint64_t> Store::Impl::StreamVersion(std::string_view stream) {
  if (auto it = pending_versions_.find(stream); it != pending_versions_.end()) return it->second;
  if (auto it = version_cache_.find(stream); it != version_cache_.end()) return it->second;
  auto loaded = LoadStreamVersion(stream);
  if (loaded.ok()) {
    if (version_cache_.size() >= options_.stream_cache_entries) version_cache_.clear();
    version_cache_.emplace(std::string(stream), *loaded);
  }
  return loaded;
}

Result<std::uint64_t> Store::Impl::LoadStreamVersion(std::string_view stream) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), streams_));
  it->SeekForPrev(store::StreamKey(stream, UINT64_MAX));
  if (!it->Valid()) {
    if (!it->status().ok()) return FromRocks(it->status(), "reading the stream index");
    return std::uint64_t{0};
  }
  std::string_view found;
  std::uint64_t version = 0;
  if (!store::DecodeStreamKey(it->key().ToStringView(), &found, &version) ||
      it->value().size() != 8) {
    // Guessing "no events" here could re-issue version 1 of a live stream: refuse instead.
    return Status::Corruption(fmt::format(
        "malformed stream index entry next to stream '{}' ({} byte key)", stream, it->key().size()));
  }
  return found == stream ? version : 0;
}

Result<Store::Impl::IdLocation> Store::Impl::FindEventId(const EventId& id) {
  if (auto it = pending_ids_.find(id); it != pending_ids_.end()) return it->second;
  return FindStoredEventId(id);
}

Result<Store::Impl::IdLocation> Store::Impl::FindStoredEventId(const EventId& id) {
  std::string value;
  rocksdb::Status s = db_->Get(
      rocksdb::ReadOptions(), ids_,
      rocksdb::Slice(reinterpret_cast<const char*>(id.bytes().data()), 16), &value);
  if (s.IsNotFound()) return IdLocation{};
  if (!s.ok()) return FromRocks(s, "reading the event id index");
  if (value.size() != 8)
    return Status::Corruption(fmt::format("event id index entry for {} is {} bytes, not 8",
                                          id.ToString(), value.size()));
  IdLocation loc;
  loc.position = store::GetBigEndian64(value.data());
  return loc;
}

// A retry must be the same event, not a new one reusing an id.
bool Store::Impl::SameEvent(const OwnedEvent& stored, std::string_view stream, const EventData& e) {
  return stored.stream == stream && stored.type == e.type && stored.payload == e.payload &&
         stored.metadata == e.metadata && stored.content_type == e.content_type &&
         stored.schema_version == e.schema_version;
}

Status Store::Impl::CheckAppend(std::span<const StreamAppend> appends) {
  std::vector<AppendView> views;
  views.reserve(appends.size());
  for (const auto& a : appends) views.push_back(AppendView{a.stream, a.expected, a.events});
  if (Status s = Validate(views); !s.ok()) return s;
  for (const AppendView& v : views) {
    for (const EventData& e : v.events) {
      if (!e.id) continue;
      // The committed id index only: pending_ids_ belongs to the group-commit leader.
      auto loc = FindStoredEventId(*e.id);
      if (!loc.ok()) return loc.status();
      if (loc->position == 0) continue;
      const std::uint64_t position = loc->position;
      auto stored = ReadEvent(position, /*upcast=*/false);
      if (!stored.ok()) return stored.status();
      if (!SameEvent(*stored, v.stream, e))
        return Status::AlreadyExists(fmt::format(
            "event id {} is already stored at position {} in stream '{}' with different content",
            e.id->ToString(), position, stored->stream));
    }
  }
  return Status::Ok();
}

Result<bool> Store::Impl::Deduplicate(Writer* w) {
  bool any_id = false;
  for (const AppendView& v : w->views)
    for (const EventData& e : v.events) any_id = any_id || e.id.has_value();
  if (!any_id) return false;  // the common case costs one pass over the events, no lookups
  std::size_t total = 0;
  std::size_t found = 0;
  const EventId* first_missing = nullptr;
  const EventId* first_found = nullptr;
  std::vector<std::vector<std::pair<std::uint64_t, std::uint64_t>>> located(w->views.size());
  for (std::size_t i = 0; i < w->views.size(); ++i) {
    const AppendView& v = w->views[i];
    for (const EventData& e : v.events) {
      ++total;
      if (!e.id) continue;
      auto loc = FindEventId(*e.id);
      if (!loc.ok()) return loc.status();
      if (loc->position == 0) {
        if (first_missing == nullptr) first_missing = &*e.id;
        continue;
      }
      // Compare content: the retry must be the same event, not a new one reusing an id.
      bool same = false;
      std::string where;
      if (loc->pending != nullptr) {
        const EventData& p = *loc->pending;
        same = loc->stream == v.stream && p.type == e.type && p.payload == e.payload &&
               p.metadata == e.metadata && p.content_type == e.content_type &&
               p.schema_version == e.schema_version;
        where = fmt::format("pending in stream '{}'", loc->stream);
      } else {
        auto stored = ReadEvent(loc->position, /*upcast=*/false);
        if (!stored.ok()) return stored.status();
        same = SameEvent(*stored, v.stream, e);
        loc->version = stored->version;
        where = fmt::format("stored at position {} in stream '{}'", loc->position, stored->stream);
      }
      if (!same)
        return Status::AlreadyExists(fmt::format(
            "event id {} is already {} with different content", e.id->ToString(), where));
      ++found;
      if (first_found == nullptr) first_found = &*e.id;
      located[i].emplace_back(loc->position, loc->version);
    }
  }
  if (found == 0) return false;
  if (found != total)
    return Status::AlreadyExists(fmt::format(
        "append partly repeats an earlier one: event id {} is already stored but {} is not; "
        "retry the original append unchanged",
        first_found->ToString(),
        first_missing != nullptr ? "event id " + first_missing->ToString()
                                 : std::string("an event without an id")));
  w->results.clear();
  for (const auto& loc : located) {
    AppendResult r;
    r.first_position = loc.front().first;
    r.first_version = loc.front().second;
    r.last_position = loc.back().first;
    r.last_version = loc.back().second;
    r.deduplicated = true;
    w->results.push_back(r);
  }
  return true;
}

StoreInfo Store::Impl::Info() const {
  StoreInfo info;
  info.path = path_;
  info.store_id = store_id_.ToString();
  info.format_version = format_version_;
  info.read_only = options_.read_only;
  info.durability = options_.durability;
  std::lock_guard<std::mutex> lk(head_mu_);
  info.last_position = committed_position_;
  info.first_position = log_start_.load();
  info.write_error = write_error_;
  info.last_timestamp_us = committed_timestamp_us_;
  info.last_chain_hash = committed_hash_;
  info.repairs = repairs_;
  info.last_repair = last_repair_;
  return info;
}

void Store::Impl::SetWriteError(const Status& s) {
  std::lock_guard<std::mutex> lk(head_mu_);
  write_error_ = s.ok() ? std::string() : s.ToString();
  write_status_ = s;
}

std::uint64_t Store::Impl::WaitForPosition(std::uint64_t after,
                                           std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lk(head_mu_);
  head_cv_.wait_for(lk, timeout, [&] { return committed_position_ > after || head_closed_; });
  return committed_position_;
}

Result<std::uint64_t> Store::Impl::Refresh() {
  if (!secondary_dir_.empty()) {
    std::lock_guard<std::mutex> lk(mu_);  // one catch-up at a time
    if (Status s = FromRocks(db_->TryCatchUpWithPrimary(), "catching up with the writer");
        !s.ok())
      return s;
    if (Status s = LoadTail(); !s.ok()) return s;
    head_cv_.notify_all();
  }
  std::lock_guard<std::mutex> lk(head_mu_);
  return committed_position_;
}

namespace {
// Written by a writer's clean close, beside RocksDB's files (docs/format.md, "CAIRN-HEAD").
constexpr char kClosedHeadFile[] = "CAIRN-HEAD";
}  // namespace

Status Store::Impl::CheckClosedHead() {
  // RocksDB cannot tell a write-ahead log someone deleted from one it never had: the store
  // opens without its events. A writer's clean close notes its head outside RocksDB's files;
  // a store that opens with less than that lost what those files held.
  const fs::path file = fs::path(path_) / kClosedHeadFile;
  std::ifstream in(file);
  std::string word;
  std::uint64_t noted = 0;
  if (in && (in >> word >> noted) && word == "position" && noted > committed_position_ &&
      !repairing_)
    return Status::Corruption(fmt::format(
        "store {} is damaged: its writer closed it holding positions up to {}, and it now ends "
        "at {}: a write-ahead log or table file was deleted or cut short; restore the store from "
        "a backup (docs/guarantees.md, \"Damaged files\")",
        path_, noted, committed_position_));
  if (!options_.read_only) {
    // From now on the head moves; a crash leaves no note (and a stale one could only be lower).
    std::error_code ec;
    fs::remove(file, ec);
  }
  return Status::Ok();
}

void Store::Impl::RecordClosedHead() {
  const fs::path file = fs::path(path_) / kClosedHeadFile;
  const fs::path tmp = fs::path(path_) / (std::string(kClosedHeadFile) + ".tmp");
  std::uint64_t head;
  {
    std::lock_guard<std::mutex> lk(head_mu_);
    head = committed_position_;
  }
  const std::string text = fmt::format("position {}\n", head);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  std::error_code ec;
  if (written) fs::rename(tmp, file, ec);
  if (const int dir = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void Store::Impl::WaitForPendingCompactions() {
  // Every writable open flushes what the WAL replayed into new level-0 files, one per family.
  // A process that appends once and exits (an edge script calling `cairn append` per event)
  // would close before RocksDB's background compaction of them ever ran, and each open would
  // start from more files: 1,000 calls left ~3,000 files, every call slower than the last.
  // So a writer lets the compaction RocksDB has scheduled finish before it closes (bounded:
  // an L0 to L1 compaction of a few small files takes milliseconds).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::uint64_t pending = 0, running = 0, flushes = 0;
    db_->GetIntProperty(rocksdb::DB::Properties::kCompactionPending, &pending);
    db_->GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &running);
    db_->GetIntProperty(rocksdb::DB::Properties::kNumRunningFlushes, &flushes);
    if (pending == 0 && running == 0 && flushes == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  logger_->warn("store {}: closing with a compaction still pending after 30 s", path_);
}

void Store::Impl::MergeSmallFiles() {
  // RocksDB moves a level-0 file that overlaps nothing down to level 1 as it is ("trivial
  // move"), and the log's keys only grow: the small files each short-lived writer flushes at
  // open pile up in level 1, one per family per process, since level 1 is merged only once it
  // outgrows its target size (256 MiB). A run of small neighbours is merged here instead.
  constexpr std::uint64_t kSmall = 4u << 20;
  constexpr std::size_t kMinRun = 8;
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    rocksdb::ColumnFamilyMetaData meta;
    db_->GetColumnFamilyMetaData(h, &meta);
    for (std::size_t level = 1; level < meta.levels.size(); ++level) {
      const auto& files = meta.levels[level].files;  // in key order, not overlapping
      std::size_t i = 0;
      while (i < files.size()) {
        std::size_t j = i;
        while (j < files.size() && files[j].size < kSmall && !files[j].being_compacted) ++j;
        if (j - i >= kMinRun) {
          std::vector<std::string> names;
          for (std::size_t k = i; k < j; ++k) names.push_back(files[k].name);
          rocksdb::Status st = db_->CompactFiles(rocksdb::CompactionOptions(), h, names,
                                                 static_cast<int>(level));
          if (!st.ok())
            logger_->info("store {}: merging {} small files of family {}: {}", path_,
                          names.size(), h->GetName(), st.ToString());
        }
        i = std::max(j, i + 1);
      }
    }
  }
}

Status Store::Impl::Close() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (const int readers = open_readers_.load(); readers > 0 && !closed_)
      return Status::FailedPrecondition(fmt::format(
          "cannot close store {}: {} reader(s) still open; destroy them first", path_, readers));
  }
  closing_.store(true);  // new public calls are refused from here on
  {
    std::lock_guard<std::mutex> lk(head_mu_);
    head_closed_ = true;
  }
  head_cv_.notify_all();
  {
    std::lock_guard<std::mutex> lk(backlog_mu_);
    closed_backlog_ = true;
  }
  backlog_cv_.notify_all();
  // Calls already inside finish first (an append blocked on the quota was just woken).
  while (calls_in_progress_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  {
    std::unique_lock<std::mutex> lk(mu_);
    if (closed_) return Status::Ok();
    if (const int readers = open_readers_.load(); readers > 0)
      return Status::FailedPrecondition(fmt::format(
          "cannot close store {}: {} reader(s) still open; destroy them first", path_, readers));
    closed_ = true;
    // Appends already queued finish first; new ones see closed_.
    while (!queue_.empty()) {
      lk.unlock();
      std::this_thread::yield();
      lk.lock();
    }
  }
  if (!db_) return Status::Ok();
  Status result;
  bool write_failed;
  {
    std::lock_guard<std::mutex> lk(head_mu_);
    write_failed = !write_error_.empty();
  }
  if (opened_ && !options_.read_only && !write_failed) {
    WaitForPendingCompactions();
    MergeSmallFiles();
  }
  // After a failed write RocksDB's WAL writer is in an error state, and flushing it again
  // aborts the process (an assertion in Debian's build): found by FaultTest's power cut.
  if (!options_.read_only && options_.durability == Durability::kBuffered && !write_failed) {
    // A clean close makes buffered appends durable too.
    result = FromRocks(db_->FlushWAL(/*sync=*/true), "syncing the write-ahead log");
  }
  for (auto* h : handles_) {
    Status s = FromRocks(db_->DestroyColumnFamilyHandle(h), "closing a column family");
    if (result.ok()) result = s;
  }
  handles_.clear();
  Status s = FromRocks(db_->Close(), fmt::format("closing store {}", path_));
  // (Not after a failed open: its head is what the damage left, not what a writer had.)
  if (s.ok() && result.ok() && opened_ && !options_.read_only && !write_failed) RecordClosedHead();
  if (result.ok()) result = s;
  db_.reset();
  if (!secondary_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(secondary_dir_, ec);
    secondary_dir_.clear();
  }
  return result;
}

// --- Store: the public face ------------------------------------------------------------------

Store::Impl::CallGuard::CallGuard(Impl* impl) : impl_(impl) {
  impl_->calls_in_progress_.fetch_add(1);
  if (impl_->closing_.load())
    status_ = Status::FailedPrecondition(fmt::format("store {} is closed", impl_->path_));
}

Store::Impl::CallGuard::~CallGuard() { impl_->calls_in_progress_.fetch_sub(1); }

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const StoreOptions& options) {
  auto impl = Impl::Open(path, options);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Store>(new Store(std::move(impl).value()));
}

Result<AppendResult> Store::Append(std::string_view stream, ExpectedVersion expected,
                                   std::span<const EventData> events) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->AppendOne(stream, expected, events);
}

Result<AppendResult> Store::Append(std::string_view stream, ExpectedVersion expected,
                                   const EventData& event) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->AppendOne(stream, expected, std::span<const EventData>(&event, 1));
}

Result<std::vector<AppendResult>> Store::AppendMulti(std::span<const StreamAppend> appends) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->Append(appends);
}

Status Store::CheckAppend(std::span<const StreamAppend> appends) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->CheckAppend(appends);
}

Result<EventReader> Store::ReadStream(std::string_view stream, const StreamReadOptions& options) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ReadStream(stream, options);
}

Result<EventReader> Store::ReadLog(const LogReadOptions& options) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ReadLog(options);
}

Result<EventReader> Store::ReadByTypes(std::span<const std::string> types,
                                       const LogReadOptions& options) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ReadByTypes(types, options);
}

Status Store::SetStreamMetadata(std::string_view stream, const StreamMetadata& metadata) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->SetStreamMetadata(stream, metadata);
}
Result<StreamMetadata> Store::GetStreamMetadata(std::string_view stream) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->GetStreamMetadata(stream);
}
Result<std::uint64_t> Store::DeleteStream(std::string_view stream, ExpectedVersion expected) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->DeleteStream(stream, expected);
}
Result<RetentionReport> Store::ApplyRetention(const RetentionPolicy& policy) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ApplyRetention(policy);
}
Status Store::SaveSnapshot(const Snapshot& snapshot) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->SaveSnapshot(snapshot);
}
Result<Snapshot> Store::LoadSnapshot(std::string_view stream, std::uint64_t at_most_version) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->LoadSnapshot(stream, at_most_version);
}
Status Store::DeleteSnapshots(std::string_view stream) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->DeleteSnapshots(stream);
}
Result<AggregateLoad> Store::LoadAggregate(
    std::string_view stream, const std::function<Status(const Snapshot&)>& restore,
    const std::function<Status(const RecordedEvent&)>& apply, std::uint64_t up_to_version) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->LoadAggregate(stream, restore, apply, up_to_version);
}
BacklogStatus Store::GetBacklog() const { return impl_->GetBacklog(); }

Result<OwnedEvent> Store::ReadEvent(std::uint64_t position, bool upcast) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ReadEvent(position, upcast);
}

Result<StreamInfo> Store::GetStreamInfo(std::string_view stream) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->GetStreamInfo(stream);
}

Result<std::vector<StreamInfo>> Store::ListStreams(std::string_view prefix, std::size_t limit,
                                                   std::string_view start_after) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ListStreams(prefix, limit, start_after);
}

StoreInfo Store::Info() const { return impl_->Info(); }

Result<VerifyReport> Store::Verify(const VerifyOptions& options) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->Verify(options);
}

Result<std::uint64_t> Store::Refresh() {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->Refresh();
}

std::uint64_t Store::WaitForPosition(std::uint64_t after_position,
                                     std::chrono::milliseconds timeout) const {
  return impl_->WaitForPosition(after_position, timeout);
}

Status Store::SaveCheckpoint(std::string_view name, std::uint64_t position, bool sync) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->SaveCheckpoint(name, position, sync);
}

Result<std::uint64_t> Store::LoadCheckpoint(std::string_view name) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->LoadCheckpoint(name);
}

Result<std::vector<std::pair<std::string, std::uint64_t>>> Store::ListCheckpoints() {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ListCheckpoints();
}

Status Store::PutDeadLetters(std::span<const DeadLetter> records) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->PutDeadLetters(records);
}

Result<std::vector<DeadLetter>> Store::ListDeadLetters(std::uint64_t after_position,
                                                       std::size_t limit) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ListDeadLetters(after_position, limit);
}

Status Store::RemoveDeadLetters(std::span<const std::uint64_t> positions) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->RemoveDeadLetters(positions);
}

Status Store::Close() { return impl_->Close(); }

}  // namespace cairn
