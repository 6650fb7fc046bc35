// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Store::Backup and Store::Restore (backup.h says what a backup is and why it is built this
// way). RocksDB's Checkpoint, not its BackupEngine: a checkpoint is itself a store directory,
// so every cairn command reads a backup as it is (`cairn verify --expect`, `read`, `export`)
// and restoring is a copy; on the store's file system its table files are hard links, so
// each further backup there costs only the files that changed. BackupEngine's own layout
// would need a restore before any of that, for checksums cairn's chain already gives.
#include "store/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <rocksdb/utilities/checkpoint.h>

#include "store/rocks_status.h"
#include "store/store_directory.h"
#include "store/store_impl.h"
#include "util/clock.h"

namespace cairn {

namespace fs = std::filesystem;

namespace store {
namespace {

// `inner` is `outer` or somewhere below it (both made absolute, symlinks resolved as far as
// they exist).
bool IsWithin(const fs::path& inner, const fs::path& outer) {
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(inner, ec);
  const fs::path b = fs::weakly_canonical(outer, ec);
  auto mismatch = std::mismatch(b.begin(), b.end(), a.begin(), a.end());
  return mismatch.first == b.end();
}

void RemoveQuietly(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
}

std::string NoteText(const BackupReport& r, std::int64_t now_us) {
  return fmt::format(
      "cairn-backup {}\nstore_id {}\ntaken_at_us {}\nacknowledged_position {}\n"
      "last_position {}\nchain_head {}\n",
      kBackupNoteVersion, r.store_id, now_us, r.acknowledged_position, r.last_position,
      r.chain_head);
}

Status WriteNote(const std::string& dir, const std::string& text) {
  const fs::path file = fs::path(dir) / kBackupNoteFile;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  // The note is the backup's "whole" mark: on disk before the rename that publishes it.
  const bool written = fd >= 0 &&
                       ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (!written)
    return Status::IOError(fmt::format("cannot write {}: {}", file.string(), std::strerror(err)));
  SyncDirectory(dir);
  return Status::Ok();
}

// Counts the backup's files and bytes, and the table files it shares with the store.
void CountFiles(const std::string& dir, BackupReport* r) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    ++r->files;
    r->bytes += static_cast<std::uint64_t>(st.st_size);
    if (st.st_nlink > 1 && entry.path().extension() == ".sst") ++r->linked_files;
  }
}

// Opens the store at `dir` read-only and checks its chain whole (when asked) and that it
// holds at least `acknowledged` events; fills the report's head, hash and id.
Status CheckCopy(const std::string& dir, std::uint64_t acknowledged, bool verify,
                 const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                 BackupReport* r) {
  StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  o.log_level = LogLevel::kError;
  auto copy = Store::Open(dir, o);
  if (!copy.ok()) return copy.status();
  const StoreInfo info = (*copy)->GetInfo();
  r->store_id = info.store_id;
  r->last_position = info.last_position;
  r->chain_head = HexHash(info.last_chain_hash);
  if (info.last_position < acknowledged)
    return Status::Corruption(
        fmt::format("the copy at {} ends at position {}, before the {} acknowledged when it began",
                    dir, info.last_position, acknowledged));
  if (verify) {
    VerifyOptions vo;
    vo.progress = progress;
    auto report = (*copy)->Verify(vo);
    if (!report.ok()) return report.status();
    if (!report->ok())
      return Status::Corruption(fmt::format("the copy at {} does not verify: position {}: {}", dir,
                                            report->problems.front().position,
                                            report->problems.front().what));
    r->verified = true;
  }
  return (*copy)->Close();
}

Result<std::uint64_t> NumberField(const std::string& value, const std::string& key) {
  std::uint64_t n = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, n);
  if (ec != std::errc() || ptr != end || value.empty())
    return Status::Corruption(fmt::format("backup note: {} '{}' is not a number", key, value));
  return n;
}

}  // namespace

Status CheckBackupTarget(const std::string& store_path, const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("backup directory is empty");
  std::error_code ec;
  const fs::path target(dir);
  if (fs::is_regular_file(target, ec))
    return Status::InvalidArgument(fmt::format("backup directory {} is a file", dir));
  if (fs::exists(target, ec))
    return Status::InvalidArgument(fmt::format(
        "backup directory {} already exists: a backup never writes over anything", dir));
  if (IsWithin(target, store_path))
    return Status::InvalidArgument(
        fmt::format("backup directory {} is inside the store {}", dir, store_path));
  const fs::path parent = fs::absolute(target, ec).parent_path();
  if (!fs::is_directory(parent, ec))
    return Status::NotFound(fmt::format("no directory {} to put the backup {} in", parent.string(),
                                        target.filename().string()));
  // What a killed backup left: ours by name, never published, never a backup.
  RemoveQuietly(dir + kPartialBackupSuffix);
  RemoveQuietly(dir + kPartialBackupSuffix + ".tmp");
  return Status::Ok();
}

Status TakeCheckpoint(rocksdb::DB& db, const std::string& partial) {
  rocksdb::Checkpoint* raw = nullptr;
  if (rocksdb::Status s = rocksdb::Checkpoint::Create(&db, &raw); !s.ok())
    return FromRocks(s, "starting the backup");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush 0: flush first, so the copy's write-ahead log is short.
  rocksdb::Status s = checkpoint->CreateCheckpoint(partial, /*log_size_for_flush=*/0);
  if (!s.ok()) {
    RemoveQuietly(partial);
    RemoveQuietly(partial + ".tmp");
    return FromRocks(s, fmt::format("writing the backup at {}", partial));
  }
  return Status::Ok();
}

Result<BackupReport> PublishBackup(const std::string& partial, const std::string& dir,
                                   std::uint64_t acknowledged, const BackupOptions& options) {
  BackupReport r;
  r.dir = dir;
  r.acknowledged_position = acknowledged;
  Status s = CheckCopy(partial, acknowledged, options.verify, options.progress, &r);
  if (s.ok()) s = WriteNote(partial, NoteText(r, internal::WallClockMicros()));
  std::error_code ec;
  if (s.ok()) {
    fs::rename(partial, dir, ec);
    if (ec) s = Status::IOError(fmt::format("renaming {} to {}: {}", partial, dir, ec.message()));
  }
  if (!s.ok()) {
    RemoveQuietly(partial);
    return s;
  }
  SyncDirectory(fs::absolute(fs::path(dir), ec).parent_path().string());
  CountFiles(dir, &r);
  return r;
}

Result<BackupReport> ReadBackupNote(const std::string& dir) {
  std::ifstream in(fs::path(dir) / kBackupNoteFile);
  if (!in)
    return Status::InvalidArgument(
        fmt::format("{} is not a cairn backup (no {} note; a backup killed midway is left as "
                    "'<dir>{}' and is never one)",
                    dir, kBackupNoteFile, kPartialBackupSuffix));
  BackupReport r;
  r.dir = dir;
  std::string line;
  if (!std::getline(in, line) || line != fmt::format("cairn-backup {}", kBackupNoteVersion))
    return Status::FailedPrecondition(
        fmt::format("{}/{} starts '{}': not a backup note this version reads (cairn-backup {})",
                    dir, kBackupNoteFile, line.substr(0, 40), kBackupNoteVersion));
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string value = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "store_id") r.store_id = value;
    if (key == "chain_head") r.chain_head = value;
    if (key == "acknowledged_position" || key == "last_position") {
      auto n = NumberField(value, key);
      if (!n.ok()) return n.status();
      (key == "last_position" ? r.last_position : r.acknowledged_position) = *n;
    }
  }
  if (r.store_id.empty() || r.chain_head.size() != 64)
    return Status::Corruption(
        fmt::format("{}/{} lacks its store_id or chain_head", dir, kBackupNoteFile));
  CountFiles(dir, &r);
  return r;
}

}  // namespace store

Result<BackupReport> Store::Impl::Backup(const std::string& dir, const BackupOptions& options) {
  if (options_.read_only)
    return Status::FailedPrecondition(fmt::format(
        "store {} is open read-only: a backup is taken by its writer (the process that owns "
        "it, or `cairn backup` while none does)",
        path_));
  bool expected = false;
  if (!backup_running_.compare_exchange_strong(expected, true))
    return Status::Busy(fmt::format("a backup of store {} is already being taken", path_));
  struct Done {
    std::atomic<bool>& flag;
    ~Done() { flag = false; }
  } done{backup_running_};
  if (Status s = store::CheckBackupTarget(path_, dir); !s.ok()) return s;
  // Taken before the checkpoint: everything acknowledged by now is in the table files or the
  // log the checkpoint copies.
  const std::uint64_t acknowledged = CommittedPosition();
  const std::string partial = dir + store::kPartialBackupSuffix;
  if (Status s = store::TakeCheckpoint(*database_->db(), partial); !s.ok()) return s;
  auto r = store::PublishBackup(partial, dir, acknowledged, options);
  if (r.ok())
    logger_->info("store {}: backup at {} holds positions 1..{} ({} acknowledged when it began)",
                  path_, dir, r->last_position, acknowledged);
  return r;
}

Result<BackupReport> Store::Backup(const std::string& dir, const BackupOptions& options) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client()) {
    // The owner takes it, in its own working directory: the path goes absolute from here.
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(dir, ec);
    if (ec || dir.empty())
      return Status::InvalidArgument(
          fmt::format("backup directory '{}': {}", dir, ec ? ec.message() : "empty"));
    auto r = owner->Backup(absolute.lexically_normal().string(), options.verify);
    if (r.ok()) r->dir = dir;  // reported as the caller named it, as a backup taken here is
    return r;
  }
  return impl_->Backup(dir, options);
}

Result<BackupReport> Store::Restore(const std::string& backup_dir, const std::string& path,
                                    const RestoreOptions& options) {
  if (path.empty()) return Status::InvalidArgument("store path is empty");
  auto note = store::ReadBackupNote(backup_dir);
  if (!note.ok()) return note.status();
  std::error_code ec;
  if (fs::exists(path, ec))
    return Status::InvalidArgument(
        fmt::format("{} already exists: a restore makes a new store, never writes over one", path));
  if (options.verify) {
    BackupReport checked;
    if (Status s =
            store::CheckCopy(backup_dir, note->last_position, true, options.progress, &checked);
        !s.ok())
      return s;
    if (checked.last_position != note->last_position || checked.chain_head != note->chain_head)
      return Status::Corruption(fmt::format(
          "backup {} changed since it was taken: its note says position {} with chain head {}, "
          "it holds position {} with {}",
          backup_dir, note->last_position, note->chain_head, checked.last_position,
          checked.chain_head));
    note->verified = true;
  }
  const std::string partial = path + store::kPartialBackupSuffix;
  store::RemoveQuietly(partial);
  if (Status s = store::CopyStoreFiles(backup_dir, partial); !s.ok()) {
    store::RemoveQuietly(partial);
    return s;
  }
  // The restored store is a store, not a backup of one.
  fs::remove(fs::path(partial) / store::kBackupNoteFile, ec);
  fs::rename(partial, path, ec);
  if (ec) {
    store::RemoveQuietly(partial);
    return Status::IOError(fmt::format("renaming {} to {}: {}", partial, path, ec.message()));
  }
  store::SyncDirectory(fs::absolute(fs::path(path), ec).parent_path().string());
  note->dir = path;
  return note;
}

}  // namespace cairn
