// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Opening a store (the opener): the directory checks, RocksDB's options and column families,
// creating a new store atomically (.cairn-creating, then a rename), format upgrades, the
// recovery listener, and loading the head (position, chain hash, timestamp), the log start
// and the type index into Store::Impl. It runs before any other thread can see the store.
// It makes the store::Sequencer and the side records (StartWriters) and has the sequencer load the
// tail; it must not touch the group-commit queue — the open finishes before the first append can
// enter it.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "codec/envelope.h"
#include "store/database.h"
#include "store/keys.h"
#include "store/storage_env.h"
#include "store/store_directory.h"
#include "store/store_impl.h"
#include "store/wal_scan.h"
#include "util/logging.h"

namespace cairn {

namespace fs = std::filesystem;

namespace {}  // namespace

Store::Impl::Impl(std::string path, const StoreOptions& options)
    : path_(std::move(path)),
      options_(options),
      logger_(internal::MakeLogger(options.log_sink, options.log_level)),
      backlog_(options.backlog_quota, options.read_only) {}

Store::Impl::~Impl() {
  Status s = Close();
  if (!s.ok()) logger_->error("closing store {}: {}", path_, s.ToString());
  if (const int readers = open_readers_.load(); readers > 0 && database_) {
    // A reader outliving its store (store.h: it must be destroyed before the Store) would
    // read a destroyed database: stop here, saying so, rather than somewhere inside RocksDB.
    const std::string what = fmt::format(
        "cairn: store {} destroyed while {} EventReader(s) of it are still open; destroy "
        "every reader before its Store",
        path_, readers);
    logger_->critical("{}", what);
    std::fprintf(stderr, "%s\n", what.c_str());
    std::abort();
  }
}

Result<std::unique_ptr<Store::Impl>> Store::Impl::Open(const std::string& path,
                                                       const StoreOptions& options, bool repairing,
                                                       const std::shared_ptr<StorageEnv>& storage) {
  if (path.empty()) return Status::InvalidArgument("store path is empty");
  // A reader that opens while a writer recovers can find the writer's files mid-move: the log
  // flushed into a table file and deleted between the reader's reading of the MANIFEST and of
  // the log, so the store looks as if it lost its events. Damage stays damage; a race passes.
  // So a reader looks twice more before calling it damage (found when VerifyTest's follower
  // opened, under load, as the writer it follows started).
  const int attempts = options.read_only ? 3 : 1;
  for (int attempt = 1;; ++attempt) {
    std::unique_ptr<Impl> impl(new Impl(path, options));
    impl->repairing_ = repairing;
    impl->storage_env_ = storage;
    if (Status s = impl->upcasters_.Build(options.upcasters); !s.ok()) return s;
    Status s = impl->OpenDatabase();
    if (s.ok()) return impl;
    if (s.code() != StatusCode::kCorruption || attempt == attempts) return s;
    impl.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status Store::Impl::OpenDatabase() {
  // A writer that may create the store takes the creation lock first, so that two creators
  // do not build it under each other; the second then finds the first one's store.
  std::optional<store::CreationLock> creating;
  if (options_.create_if_missing && !options_.read_only && !store::HasDatabase(path_)) {
    auto lock = store::CreationLock::Take(path_);
    if (!lock.ok()) return lock.status();
    creating.emplace(std::move(lock).value());
  }
  auto dir = store::PrepareStoreDirectory(path_, options_);
  if (!dir.ok()) return dir.status();
  store::DatabaseSetup setup;
  setup.path = path_;
  setup.options = options_;
  setup.logger = logger_;
  setup.base_env = storage_env_ ? storage_env_->env() : nullptr;
  setup.wal_sync_gate = wal_sync_gate_;
  setup.repairing = repairing_;
  setup.on_write_error_recovered = [this] { head_.SetWriteError(Status::Ok()); };
  auto database = store::Database::Open(setup, dir->db_path, dir->fresh);
  if (!database.ok()) return database.status();
  database_ = std::move(database).value();
  if (Status st = LoadOrCreateMeta(dir->fresh); !st.ok()) return st;
  if (dir->fresh) return PublishNewStore(dir->db_path);
  return LoadState();
}

// An existing store's state, in the order each step needs the one before: the head, the
// clean-close check against it, the indexes and families the format adds, the upgrade, then
// the backlog and the repairs on record.
Status Store::Impl::LoadState() {
  StartWriters();
  if (Status st = LoadTail(); !st.ok()) return st;
  if (Status st = CheckClosedHead(); !st.ok()) return st;
  if (Status st = LoadTypeIndex(); !st.ok()) return st;
  sequencer_->IndexTypesIn(database_->types());
  if (Status st = database_->AddFamily(store::Database::Role::kSnapshots); !st.ok()) return st;
  if (Status st = UpgradeFormat(); !st.ok()) return st;
  if (Status st = LoadBacklog(); !st.ok()) return st;
  if (Status st = LoadRepairs(); !st.ok()) return st;
  logger_->info("opened store {} (id {}, last position {})", path_, store_id_.ToString(),
                CommittedPosition());
  opened_ = true;
  return Status::Ok();
}

void Store::Impl::StartWriters() {
  store::Sequencer::Setup setup;
  setup.path = path_;
  setup.db = database_->db();
  setup.log = database_->log();
  setup.streams = database_->streams();
  setup.ids = database_->ids();
  setup.types = database_->types();
  setup.store_id = store_id_;
  const bool sync = options_.durability == Durability::kSync;
  setup.sync = sync;
  setup.wal_sync_gate = wal_sync_gate_.get();
  setup.max_group_appends = std::max<std::size_t>(1, options_.max_group_appends);
  setup.max_async_in_flight = std::max<std::size_t>(1, options_.max_async_appends);
  setup.stream_cache_entries = options_.stream_cache_entries;
  setup.write_buffer_bytes = database_->family_options().write_buffer_size;
  setup.now_us = [this] { return NowUs(); };
  setup.read_event = [this](std::uint64_t position) { return ReadEvent(position, false); };
  setup.head = &head_;
  setup.backlog = &backlog_;
  setup.metrics = &write_metrics_;
  setup.logger = logger_;
  sequencer_ = std::make_unique<store::Sequencer>(std::move(setup));
  side_records_ = std::make_unique<store::SideRecords>(store::SideRecords::Setup{
      path_, database_->db(), database_->meta(), options_.read_only, sync, &backlog_});
}

Status Store::Impl::PublishNewStore(const std::string& built_at) {
  // The metadata goes into a table file before the move: left in RocksDB's log, the reopen
  // below would flush it into a table and delete the log, and a reader between the two would
  // find a database without cairn's metadata and call it foreign.
  if (rocksdb::Status flushed = database_->db()->Flush(rocksdb::FlushOptions(), database_->meta());
      !flushed.ok())
    return FromRocks(flushed, "writing the new store's metadata to a table");
  Status closed = database_->Close();
  database_.reset();
  if (!closed.ok())
    return Status(closed.code(),
                  fmt::format("closing the new store at {}: {}", built_at, closed.message()));
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(built_at, ec)) files.push_back(entry.path());
  if (ec)
    return Status::IOError(fmt::format("listing the new store at {}: {}", built_at, ec.message()));
  // CURRENT last: until it is in place the directory holds no database.
  std::stable_partition(files.begin(), files.end(),
                        [](const fs::path& f) { return f.filename() != "CURRENT"; });
  for (const fs::path& f : files) {
    if (f.filename() == "CURRENT")
      store::SyncDirectory(path_);  // everything else is in place first
    fs::rename(f, fs::path(path_) / f.filename(), ec);
    if (ec)
      return Status::IOError(fmt::format("moving the new store into {}: {}", path_, ec.message()));
  }
  store::SyncDirectory(path_);
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
    batch.Put(database_->meta(), store::kMetaFormatVersion, v);
    batch.Put(database_->meta(), store::kMetaStoreId,
              rocksdb::Slice(reinterpret_cast<const char*>(store_id_.bytes().data()), 16));
    v.clear();
    store::PutLittleEndian(static_cast<std::uint64_t>(internal::WallClockMicros()), 8, &v);
    batch.Put(database_->meta(), store::kMetaCreatedUs, v);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(database_->db()->Write(wo, &batch), "writing store metadata");
  }
  std::string value;
  rocksdb::Status s = database_->db()->Get(rocksdb::ReadOptions(), database_->meta(),
                                           store::kMetaFormatVersion, &value);
  if (s.IsNotFound())
    return Status::FailedPrecondition(fmt::format(
        "{} is not a cairn store: RocksDB database without a cairn format version", path_));
  if (!s.ok()) return FromRocks(s, "reading the store's format version");
  if (value.size() != 4)
    return Status::Corruption(
        fmt::format("store {}: format version record is {} bytes, not 4", path_, value.size()));
  format_version_ = static_cast<std::uint32_t>(store::GetLittleEndian(value));
  if (format_version_ > kFormatVersion)
    return Status::FailedPrecondition(fmt::format(
        "store {} was written by a newer cairn (format version {}); this build reads format "
        "versions up to {}: upgrade cairn to open it",
        path_, format_version_, kFormatVersion));
  if (format_version_ == 0)
    return Status::Corruption(fmt::format("store {}: format version 0 is not valid", path_));
  s = database_->db()->Get(rocksdb::ReadOptions(), database_->meta(), store::kMetaStoreId, &value);
  if (!s.ok() || value.size() != 16)
    return Status::Corruption(
        fmt::format("store {}: store id record is missing or malformed", path_));
  std::array<std::uint8_t, 16> id{};
  std::copy(value.begin(), value.end(), id.begin());
  store_id_ = EventId(id);
  return Status::Ok();
}

// The type index arrived after format 1's first stores: a store without it gains it on its
// first writable open, covering positions from then on (queries scan the log below that).
Status Store::Impl::LoadTypeIndex() {
  std::string value;
  if (database_->types()) {
    rocksdb::Status s = database_->db()->Get(rocksdb::ReadOptions(), database_->meta(),
                                             store::kMetaTypeIndexFrom, &value);
    if (s.IsNotFound()) {
      type_index_from_ = 1;  // created with the store, before this key existed: never
    } else if (!s.ok()) {
      return FromRocks(s, "reading the type index's start");
    } else if (value.size() != 8) {
      return Status::Corruption(
          fmt::format("store {}: type index start record is malformed", path_));
    } else {
      type_index_from_ = store::GetLittleEndian(value);
    }
    return Status::Ok();
  }
  if (options_.read_only) return Status::Ok();  // queries by type scan the log
  if (Status st = database_->AddFamily(store::Database::Role::kTypes); !st.ok()) return st;
  type_index_from_ = CommittedPosition() + 1;
  store::PutLittleEndian(type_index_from_, 8, &value);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(database_->db()->Put(wo, database_->meta(), store::kMetaTypeIndexFrom, value),
                   "recording the type index's start");
}

Status Store::Impl::UpgradeFormat() {
  if (options_.read_only || format_version_ >= kFormatVersion) return Status::Ok();
  // Versions 2 to 4 only add records and encodings: version 2 removed-event markers, stream
  // metadata, snapshots and schema versions; version 3 index runs, whose run of one is the
  // older per-event entry byte for byte; version 4 trace context in the envelope and the
  // chain. So an older store is already a valid store of this version, and is left as it is. Older
  // builds refuse it from now on, which is what protects it from a build that would misread those
  // records.
  std::string v;
  store::PutLittleEndian(kFormatVersion, 4, &v);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (Status st =
          FromRocks(database_->db()->Put(wo, database_->meta(), store::kMetaFormatVersion, v),
                    "upgrading the store's format version");
      !st.ok())
    return st;
  logger_->warn(
      "upgraded store {} from format version {} to {}; older cairn builds cannot open "
      "it any more",
      path_, format_version_, kFormatVersion);
  format_version_ = kFormatVersion;
  return Status::Ok();
}

Status Store::Impl::LoadLogStart() {
  std::string value;
  rocksdb::Status s =
      database_->db()->Get(rocksdb::ReadOptions(), database_->meta(), store::kMetaLogStart, &value);
  if (s.IsNotFound()) {
    head_.SetLogStart(1, codec::Hash{});
    return Status::Ok();
  }
  if (!s.ok()) return FromRocks(s, "reading where the log starts");
  std::string hash;
  s = database_->db()->Get(rocksdb::ReadOptions(), database_->meta(), store::kMetaLogStartHash,
                           &hash);
  if (value.size() != 8 || !s.ok() || hash.size() != 32)
    return Status::Corruption(fmt::format("store {}: the log-start record is malformed", path_));
  codec::Hash hash_before{};
  std::copy(hash.begin(), hash.end(), hash_before.begin());
  head_.SetLogStart(store::GetLittleEndian(value), hash_before);
  return Status::Ok();
}

Status Store::Impl::LoadTail() {
  if (Status s = LoadLogStart(); !s.ok()) return s;
  return sequencer_->LoadTail();
}

}  // namespace cairn
