// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The WAL sync gate (wal_sync_gate.h): the gate's two sides, and the file system wrapper
// through which RocksDB's write-ahead log files tell it of their writes and syncs.
#include "store/wal_sync_gate.h"

#include <charconv>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cairn::store {

thread_local WalSyncGate* WalSyncGate::starting_here_ = nullptr;

namespace {

// The number of a write-ahead log file ("000042.log"); nullopt for any other file.
std::optional<std::uint64_t> LogNumberOf(const std::string& path) {
  const std::string name = std::filesystem::path(path).filename().string();
  const std::string_view view(name);
  if (!view.ends_with(".log") || view.size() == 4) return std::nullopt;
  std::uint64_t number = 0;
  const char* end = view.data() + view.size() - 4;
  const auto [stop, error] = std::from_chars(view.data(), end, number);
  if (error != std::errc() || stop != end) return std::nullopt;
  return number;
}

class GatedLogFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  GatedLogFile(std::unique_ptr<rocksdb::FSWritableFile> file, std::shared_ptr<WalSyncGate> gate,
               std::uint64_t number)
      : FSWritableFileOwnerWrapper(std::move(file)), gate_(std::move(gate)), number_(number) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    Writing w(*gate_);
    return target()->Append(data, o, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& v,
                           rocksdb::IODebugContext* dbg) override {
    Writing w(*gate_);
    return target()->Append(data, o, v, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& o,
                                     rocksdb::IODebugContext* dbg) override {
    Writing w(*gate_);
    return target()->PositionedAppend(data, offset, o, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& o,
                                     const rocksdb::DataVerificationInfo& v,
                                     rocksdb::IODebugContext* dbg) override {
    Writing w(*gate_);
    return target()->PositionedAppend(data, offset, o, v, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    gate_->LogSyncing(number_);
    return target()->Sync(o, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    gate_->LogSyncing(number_);
    return target()->Fsync(o, dbg);
  }

 private:
  class Writing {
   public:
    explicit Writing(WalSyncGate& gate) : gate_(gate) { gate_.BeginLogWrite(); }
    ~Writing() { gate_.EndLogWrite(); }
    Writing(const Writing&) = delete;
    Writing& operator=(const Writing&) = delete;

   private:
    WalSyncGate& gate_;
  };

  std::shared_ptr<WalSyncGate> gate_;
  std::uint64_t number_;
};

// Log files recycled in place (ReuseWritableFile) would pass the gate by: cairn does not set
// recycle_log_file_num.
//
// A gated write never waits holding RocksDB's DB mutex (which SyncWAL's start needs): RocksDB
// writes the log without it, and the one log write under it, the buffer flush when a memtable
// is switched, has nothing to write, since every record is flushed as it is added (no
// manual_wal_flush).
class GatedFileSystem : public rocksdb::FileSystemWrapper {
 public:
  // FileSystemWrapper takes the base by const reference.
  GatedFileSystem(const std::shared_ptr<rocksdb::FileSystem>& base,
                  std::shared_ptr<WalSyncGate> gate)
      : FileSystemWrapper(base), gate_(std::move(gate)) {}
  const char* Name() const override { return "CairnWalSyncGate"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, r, dbg);
    return s.ok() ? Gate(f, r) : s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->ReopenWritableFile(f, o, r, dbg);
    return s.ok() ? Gate(f, r) : s;
  }

 private:
  rocksdb::IOStatus Gate(const std::string& f, std::unique_ptr<rocksdb::FSWritableFile>* r) {
    if (const std::optional<std::uint64_t> number = LogNumberOf(f)) {
      gate_->LogCreated(*number);
      *r = std::make_unique<GatedLogFile>(std::move(*r), gate_, *number);
    }
    return rocksdb::IOStatus::OK();
  }

  std::shared_ptr<WalSyncGate> gate_;
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> WalSyncGate::Wrap(
    const std::shared_ptr<rocksdb::FileSystem>& base) {
  return std::make_shared<GatedFileSystem>(base, shared_from_this());
}

rocksdb::Status WalSyncGate::Sync(rocksdb::DB* db) {
  {
    internal::MutexLock lk(mu_);
    lk.Wait(cv_, [&]() CAIRN_REQUIRES(mu_) { return !starting_; });  // one start at a time
    starting_ = true;
    lk.Wait(cv_, [&]() CAIRN_REQUIRES(mu_) { return writes_ == 0; });
  }
  starting_here_ = this;
  rocksdb::Status s = db->SyncWAL();
  // SyncWAL may not have reached the newest log (it failed first, or a log was created after
  // it began): the gate opens now.
  if (starting_here_ == this) Open();
  return s;
}

void WalSyncGate::LogCreated(std::uint64_t number) {
  std::uint64_t newest = newest_log_.load();
  while (number > newest && !newest_log_.compare_exchange_weak(newest, number)) {
  }
}

void WalSyncGate::BeginLogWrite() {
  internal::MutexLock lk(mu_);
  lk.Wait(cv_, [&]() CAIRN_REQUIRES(mu_) { return !starting_; });
  ++writes_;
}

void WalSyncGate::EndLogWrite() {
  internal::MutexLock lk(mu_);
  if (--writes_ == 0) cv_.notify_all();
}

void WalSyncGate::LogSyncing(std::uint64_t number) {
  // RocksDB syncs the logs oldest first and has checked each writer before its sync: at the
  // newest one's, every check is behind it.
  if (starting_here_ == this && number >= newest_log_.load()) Open();
}

void WalSyncGate::Open() {
  starting_here_ = nullptr;
  internal::MutexLock lk(mu_);
  starting_ = false;
  cv_.notify_all();
}

}  // namespace cairn::store
