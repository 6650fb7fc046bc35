// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Store::Impl: the store's state, grouped by who may touch it; its methods' bodies are in
// the files of src/store/ named for their job (docs/architecture.md, "The store").
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <spdlog/logger.h>

#include "cairn/store.h"
#include "codec/chain.h"
#include "owner/client.h"
#include "owner/listener.h"
#include "store/backlog.h"
#include "store/database.h"
#include "store/head.h"
#include "store/names.h"
#include "store/rocks_status.h"
#include "store/sequencer.h"
#include "store/side_records.h"
#include "store/store_view.h"
#include "store/upcast.h"
#include "store/wal_sync_gate.h"
#include "util/clock.h"
#include "util/mutex.h"

namespace cairn {

class StorageEnv;

class Store::Impl {
 public:
  static Result<std::unique_ptr<Impl>> Open(const std::string& path, const StoreOptions& options,
                                            bool repairing = false,
                                            const std::shared_ptr<StorageEnv>& storage = nullptr);
  // Store::Open's body; `storage` as above (src/store/storage_env.h, tests only).
  static Result<std::unique_ptr<Store>> OpenStore(const std::string& path,
                                                  const StoreOptions& options,
                                                  const std::shared_ptr<StorageEnv>& storage);
  ~Impl();

  // Every public Store call that touches the database holds one of these: after Close() it
  // refuses with kFailedPrecondition, and Close() waits for the calls already inside.
  class CallGuard {
   public:
    explicit CallGuard(Impl* impl);
    ~CallGuard();
    CallGuard(const CallGuard&) = delete;
    CallGuard& operator=(const CallGuard&) = delete;
    const Status& status() const { return status_; }

   private:
    Impl* impl_;
    Status status_;
  };

  Result<std::vector<AppendResult>> Append(std::span<const StreamAppend> appends);
  Status CheckAppend(std::span<const StreamAppend> appends);
  Status AppendAsync(std::vector<StreamAppend> appends,
                     std::function<void(Result<std::vector<AppendResult>>)> done);
  Result<AppendResult> AppendOne(std::string_view stream, ExpectedVersion expected,
                                 std::span<const EventData> events);

  Result<EventReader> ReadStream(std::string_view stream, const StreamReadOptions& options);
  Result<EventReader> ReadLog(const LogReadOptions& options);
  Result<EventReader> ReadByTypes(std::span<const std::string> types,
                                  const LogReadOptions& options);
  Result<StreamInfo> GetStreamInfo(std::string_view stream);
  // GetStreamInfo, but kNotFound for a stream with no readable events.
  Result<StreamInfo> ReadableStreamInfo(std::string_view stream);
  Result<std::vector<StreamInfo>> ListStreams(std::string_view prefix, std::size_t limit,
                                              std::string_view start_after);
  StoreInfo GetInfo() const;
  std::uint64_t last_position() const { return head_.position(); }
  // What the audit reads (Store::Verify, in src/audit/verify.cc): inside a public call only.
  store::StoreView View();
  Result<std::uint64_t> Refresh();
  std::uint64_t WaitForPosition(std::uint64_t after, std::chrono::milliseconds timeout);
  Status Close();

  // Checkpoints and dead letters in the meta family (side_records.h). Made by LoadState.
  store::SideRecords& side_records() { return *side_records_; }

  // Lifecycle (store_impl_lifecycle.cc).
  Status SetStreamMetadata(std::string_view stream, const StreamMetadata& metadata);
  Result<StreamMetadata> GetStreamMetadata(std::string_view stream);
  Result<std::uint64_t> DeleteStream(std::string_view stream, ExpectedVersion expected);
  Result<RetentionReport> ApplyRetention(const RetentionPolicy& policy);
  Status SaveSnapshot(const Snapshot& snapshot);
  Result<Snapshot> LoadSnapshot(std::string_view stream, std::uint64_t at_most_version);
  Status DeleteSnapshots(std::string_view stream);
  Result<AggregateLoad> LoadAggregate(std::string_view stream,
                                      const std::function<Status(const Snapshot&)>& restore,
                                      const std::function<Status(const RecordedEvent&)>& apply,
                                      std::uint64_t up_to_version);
  BacklogStatus GetBacklog() const;
  std::string PrometheusMetrics() const;  // store_impl_metrics.cc
  // The raw stored event or removed-event marker at `position` (verify, retention).
  Result<OwnedEvent> ReadEvent(std::uint64_t position, bool upcast);
  // The chain hash stored at `position`, event or marker.
  Result<codec::Hash> ChainHashAt(std::uint64_t position);
  std::uint64_t log_start() const { return head_.log_start(); }
  // Store::Backup (store_impl_backup.cc): one at a time per store.
  Result<BackupReport> Backup(const std::string& dir, const BackupOptions& options);
  // Store::Repair (store_impl_repair.cc): notes in the store what a repair kept and dropped.
  Status RecordRepair(const std::string& description);
  // Store::Repair: what the damage is (store_impl_repair.cc), or kCorruption when repair cannot
  // mend it.
  static Status DescribeRepairDamage(const std::string& path, const StoreOptions& open_options,
                                     RepairReport* report);

  // The owner socket (src/owner/). Null unless this handle writes through another process
  // (StoreOptions::through_owner): then every write goes to it.
  owner::Client* owner_client() { return owner_client_.get(); }
  // After a write the owner carried out: catch up with it until `position` is readable (0:
  // once), so the caller reads what it wrote.
  void CatchUpWithOwner(std::uint64_t position);

 private:
  // The three kinds of EventReader (store_impl_read.cc): nested here because EventReader's
  // implementation is reachable only from Store.
  class LogReader;
  class StreamReader;
  class TypeReader;
  // One run of ApplyRetention, cut into its phases (store_impl_retention.cc).
  class Retention;
  Impl(std::string path, const StoreOptions& options);
  // OpenStore when the store is held (`busy`) and StoreOptions::through_owner: a follower
  // whose writes go to the owner; `busy` again when the owner takes none.
  static Result<std::unique_ptr<Store>> OpenThroughOwner(const std::string& path,
                                                         const StoreOptions& options,
                                                         const Status& busy);
  // StoreOptions::clock_us, or the system clock: the one clock of a store.
  std::int64_t NowUs() const {
    return options_.clock_us ? options_.clock_us() : internal::WallClockMicros();
  }
  // The published head position.
  std::uint64_t CommittedPosition() const { return head_.position(); }
  // The directory checks and creation lock, the database (store::Database::Open), then the
  // store's state loaded from it (store_impl_open.cc).
  Status OpenDatabase();
  Status LoadState();
  // Close(): lets the compactions RocksDB has scheduled run before the process goes.
  void WaitForPendingCompactions();
  // The head a writer's clean close noted (CAIRN-HEAD): an open that finds less is damage.
  Status CheckClosedHead();
  void RecordClosedHead();
  // Close(): merges runs of small level-1 files short-lived writers leave behind.
  void MergeSmallFiles();
  Status LoadOrCreateMeta(bool fresh);
  // Closes the store just built at `built_at`, renames it to path_ and opens it there.
  Status PublishNewStore(const std::string& built_at);
  // The log start, then the sequencer's tail (the head it publishes).
  Status LoadTail();
  // LoadState: the sequencer and the side records over the families just opened.
  void StartWriters();
  Status LoadTypeIndex();
  Status LoadLogStart();
  // The repairs recorded in the meta family (StoreInfo::repairs, last_repair).
  Status LoadRepairs();
  Status UpgradeFormat();
  // Opening: starts backlog_ from the quota's checkpoint and the unshipped tail's bytes.
  Status LoadBacklog();
  // CheckName for stream ids under this store's limit.
  Status CheckStream(std::string_view stream) const;
  // The truncate-before of `stream` (0 when it has no metadata).
  Result<std::uint64_t> TruncateBefore(std::string_view stream);
  // The same for many streams in increasing order (ListStreams): `scan` comes from
  // NewStreamMetadataScan(first stream or a prefix of it) and moves forward, one merged walk
  // instead of a lookup per stream.
  std::unique_ptr<rocksdb::Iterator> NewStreamMetadataScan(std::string_view from);
  Result<std::uint64_t> TruncateBefore(rocksdb::Iterator* scan, std::string_view stream);

  // The front of the append path (store_impl_append.cc): Validate, the backlog's room, the
  // sequencer.
  Status Validate(const std::vector<store::AppendView>& views) const;
  // Submit counts and times each append (write_metrics_) around SubmitUnmeasured.
  Result<std::vector<AppendResult>> Submit(std::vector<store::AppendView> views);
  Result<std::vector<AppendResult>> SubmitUnmeasured(std::vector<store::AppendView> views);
  // The checks before the sequencer shared by both paths: writable, valid, room in the quota.
  Status Admit(const std::vector<store::AppendView>& views);
  // An append's outcome into write_metrics_, `took` from its call to its completion.
  void RecordAppend(const Result<std::vector<AppendResult>>& r, std::chrono::duration<double> took);

  const std::string path_;
  const StoreOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  // Open for Store::Repair: RocksDB recovers the WAL up to its first damage.
  bool repairing_ = false;
  bool opened_ = false;  // OpenDatabase() succeeded: Close() may leave the store tidy
  // Public calls under way (CallGuard) and whether Close() has begun.
  std::atomic<int> calls_in_progress_{0};
  std::atomic<bool> closing_{false};

  // The file system RocksDB runs on: a test's (storage_env.h), else the operating system's,
  // behind the WAL sync gate (wal_sync_gate.h). Before database_, so they outlive it.
  std::shared_ptr<StorageEnv> storage_env_;
  std::shared_ptr<store::WalSyncGate> wal_sync_gate_ = std::make_shared<store::WalSyncGate>();
  // The open database (database.h), from OpenDatabase to Close; its handles never change
  // once the store is shared. Null before the open and after Close.
  std::unique_ptr<store::Database> database_;
  store::UpcasterSet upcasters_;
  std::uint64_t type_index_from_ = UINT64_MAX;  // first position the type index covers

  EventId store_id_;
  std::uint32_t format_version_ = 0;
  std::atomic<bool> backup_running_{false};  // Backup: one at a time
  std::uint64_t repairs_ = 0;                // recorded repairs (set at open and by RecordRepair)
  std::string last_repair_;

  // The only writer of events (sequencer.h); made by LoadState once the families are open.
  // The write path's counters (Store::PrometheusMetrics); the sequencer adds to them.
  store::WriteMetrics write_metrics_;
  std::unique_ptr<store::Sequencer> sequencer_;
  std::unique_ptr<store::SideRecords> side_records_;
  // Refresh(): one catch-up with the writer at a time.
  internal::Mutex refresh_mu_;
  // Live readers; Close() refuses while any is open (RocksDB aborts on a column family still
  // referenced by an iterator).
  std::atomic<int> open_readers_{0};

  // What readers see (head.h): published by the leader after each successful write.
  store::PublishedHead head_;

  // The backlog quota (backlog.h): its own counters and lock.
  store::Backlog backlog_;
  // Retention runs one at a time.
  internal::Mutex retention_mu_;

  // The owner socket: the listener when this store answers for other processes
  // (StoreOptions::owner_socket), the client when this handle writes through one. Both are
  // ended by Close() once the calls in progress are done.
  std::unique_ptr<owner::Listener> owner_listener_;
  std::unique_ptr<owner::Client> owner_client_;
};

}  // namespace cairn
