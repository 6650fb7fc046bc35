// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The sequencer: the only code that writes events into the log. It owns the group-commit
// queue (the front writer leads and commits everyone queued behind it), idempotence by event
// id, expected-version checks, and positions, versions, timestamps and chain hashes decided in
// commit order, with one RocksDB WriteBatch per group (log values, stream/type/id index
// entries). After a write it publishes the new head (head.h) for readers, subscriptions and
// the shipper, and tells the backlog quota (backlog.h) what was committed.
//
// In Durability::kSync the write and the sync are two stages. A leader writes its group to the
// WAL unsynced and passes leadership on at once; the group then waits in `unsynced_` for a
// sync. One writer at a time syncs (SyncWAL), covering every group written before it began,
// and only then are those groups acknowledged and the head published: nothing is visible
// before it is durable (readers stop at the published head, head.h). While one sync runs the
// next groups form and are written, so a sync covers everyone who arrived during the last one.
// A failed sync fails every group still unsynced (each chains onto the failed ones) and the
// next leader recovers before sequencing again (RecoverFromWriteError).
//
// It must not touch: the meta family (side records, stream metadata), the snapshot family,
// the store's directory. Appends reach it already validated (store_impl_append.cc); retention
// (store_impl_retention.cc) writes removed-event markers outside its queue, and
// docs/architecture.md says why that is safe.
//
// Asynchronous appends (SubmitAsync) join the same queue; one driver thread, started by the
// first of them, plays the leader's and the syncer's part for them and runs their completions
// in batches: a caller hands an append over and goes on, and no thread waits per append.
//
// Thread-safety: Submit, SubmitAsync, Close and the "any thread" lookups may be called from
// any thread.
// The leader's state (the batch, the hasher, the version cache, the next position and hash)
// is touched by the writer at the front of the queue alone, without mu_; leadership passes
// under mu_. The sync stage's state (unsynced_, syncing_, sync_failure_) is under mu_, and the
// sync itself runs without it. LoadTail runs when no append can be under way (opening, Refresh
// on a read-only follower, or by the leader itself after a failed write, once no group waits
// for a sync). Lock order: mu_, then the head's, then the backlog's.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/logger.h>

#include "cairn/store.h"
#include "codec/chain.h"
#include "store/backlog.h"
#include "store/head.h"
#include "store/store_metrics.h"
#include "store/wal_sync_gate.h"
#include "util/mutex.h"
#include "util/string_hash.h"

namespace cairn::store {

struct EventIdHash {
  std::size_t operator()(const EventId& id) const noexcept {
    std::uint64_t h = 0;
    for (int i = 8; i < 16; ++i) h = h << 8 | id.bytes()[i];
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
};

// One stream's part of an append, as views into the caller's arguments.
struct AppendView {
  std::string_view stream;
  ExpectedVersion expected;
  std::span<const EventData> events;
};

// A retry must be the same event, not a new one reusing an id.
bool SameEvent(const OwnedEvent& stored, std::string_view stream, const EventData& e);

class Sequencer {
 public:
  // What the sequencer writes into and answers to; everything here outlives it.
  struct Setup {
    std::string path;  // for messages
    rocksdb::DB* db = nullptr;
    rocksdb::ColumnFamilyHandle* log = nullptr;
    rocksdb::ColumnFamilyHandle* streams = nullptr;
    rocksdb::ColumnFamilyHandle* ids = nullptr;
    rocksdb::ColumnFamilyHandle* types = nullptr;
    EventId store_id;   // the chain's genesis
    bool sync = false;  // Durability::kSync: groups are acknowledged after a SyncWAL
    std::size_t max_group_appends = 0;
    std::size_t stream_cache_entries = 0;
    std::size_t write_buffer_bytes = 0;    // for the full-disk remedy's text
    std::function<std::int64_t()> now_us;  // the store's one clock
    // The stored event at a position, not upcast (an idempotent retry compares against it).
    std::function<Result<OwnedEvent>(std::uint64_t position)> read_event;
    WalSyncGate* wal_sync_gate = nullptr;  // every SyncWAL goes through it
    PublishedHead* head = nullptr;
    Backlog* backlog = nullptr;
    WriteMetrics* metrics = nullptr;  // groups and syncs are counted here
    std::shared_ptr<spdlog::logger> logger;
    std::size_t max_async_in_flight = 65536;  // StoreOptions::max_async_appends
  };

  explicit Sequencer(Setup setup) : s_(std::move(setup)) {}
  ~Sequencer();  // stops the driver thread, if one ran (Close first: see Close)
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  // Queues a validated append and waits until its group is written (or refused): the
  // results, or the append's error. kFailedPrecondition once Close() has begun.
  Result<std::vector<AppendResult>> Submit(std::vector<AppendView> views) CAIRN_EXCLUDES(mu_);

  // What an asynchronous append's completion is told: its status, and its results when OK.
  using AsyncCompletion = std::function<void(Status, std::vector<AppendResult>)>;
  // Queues a validated append that the sequencer owns and returns at once; `done` runs on
  // the driver thread (below) once the append's group is written and, in kSync, synced — or
  // refused. It joins the same queue as Submit's appends: whoever calls in order commits in
  // that order. At most Setup::max_async_in_flight are accepted and not yet completed: past
  // that the caller waits (`block`) or gets kResourceExhausted, and a completion that appends
  // never waits (it runs on the thread that would make room). kFailedPrecondition once
  // Close() has begun.
  Status SubmitAsync(std::vector<StreamAppend> appends, AsyncCompletion done, bool block)
      CAIRN_EXCLUDES(mu_);
  // Whether the caller is this sequencer's driver thread (a completion running). Lock-free.
  bool OnDriverThread() const;

  // Refuses new appends, waits for the queued ones (asynchronous ones too, whose completions
  // all run before it returns). False when an earlier call closed it. Not from a completion.
  bool Close() CAIRN_EXCLUDES(mu_);
  bool closed() const CAIRN_EXCLUDES(mu_);

  // Reads the log's last event from disk and starts sequencing after it; publishes the head.
  Status LoadTail();
  // The opener only, before any append: a store from a format without the type index gets
  // that family after its head was loaded (the index starts past the head).
  void IndexTypesIn(rocksdb::ColumnFamilyHandle* types) { s_.types = types; }

  // Any thread: the committed version of `stream` from disk (not the leader's cache): its last
  // version at or below the published head.
  Result<std::uint64_t> CommittedStreamVersion(std::string_view stream) const {
    return StreamVersionThrough(stream, s_.head->position());
  }
  // Any thread: where the committed id index puts `id`; position 0 when it is not stored.
  Result<std::uint64_t> StoredPositionOf(const EventId& id) const;

 private:
  // An append waiting in the queue, then (Durability::kSync) for its group's sync. A
  // synchronous one lives on the appending thread's stack and waits on its own condition
  // variable; an asynchronous one (SubmitAsync) is owned by the sequencer from SubmitAsync to
  // its completion, holds its appends, and is woken through the driver's.
  struct Writer {
    std::vector<AppendView> views;
    Status status;
    std::vector<AppendResult> results;
    bool done = false;  // under mu_: status and results are final
    std::condition_variable own_cv;
    std::condition_variable* cv = &own_cv;  // what its turn to lead or sync notifies
    bool async = false;
    std::vector<StreamAppend> owned;  // async: what `views` point into
    AsyncCompletion completion;       // async
  };
  // A group written to the WAL and not yet synced: who waits for it, and the head it makes.
  struct UnsyncedGroup {
    std::vector<Writer*> writers;  // each has results and waits for this sync
    std::uint64_t first_position = 0;
    std::uint64_t last_position = 0;
    codec::Hash last_hash{};
    std::int64_t timestamp_us = 0;
    std::size_t bytes = 0;            // for the backlog quota
    bool clears_write_error = false;  // the first write after a failure
  };
  // Where an event id lives: committed (position only) or pending in the current group.
  struct IdLocation {
    std::uint64_t position = 0;
    std::uint64_t version = 0;
    std::string_view stream;
    const EventData* pending = nullptr;
  };

  // The leader's steps around CommitGroup (which runs without mu_): the group to commit,
  // once any recovery is due; then its writers handed to the sync stage (kSync) or done.
  std::vector<Writer*> BeginLead(internal::MutexLock& lk, Writer* self) CAIRN_REQUIRES(mu_);
  void EndLead(const std::vector<Writer*>& group, std::optional<UnsyncedGroup> written,
               Writer* self) CAIRN_REQUIRES(mu_);
  // The syncer's steps around SyncWAL (which runs without mu_): how many unsynced groups the
  // sync covers, after lingering for appends still coming in; then acknowledging and
  // publishing them, or failing every group still unsynced.
  std::size_t BeginSync(internal::MutexLock& lk, Writer* self) CAIRN_REQUIRES(mu_);
  void EndSync(std::size_t covered, const rocksdb::Status& synced, Writer* self)
      CAIRN_REQUIRES(mu_);
  // Whether `w` is the one to run the next sync: one is due, none runs, and no group is being
  // written. (A sync may run while a group is written, but does not start during one: RocksDB
  // 7.8 asserts when a WAL sync begins after a write to that WAL failed, so a sync starts only
  // once the last write's outcome is known.)
  bool SyncTurn(const Writer* w) const CAIRN_REQUIRES(mu_) {
    return !syncing_ && !writing_ && !unsynced_.empty() && unsynced_.front().writers.front() == w;
  }
  void WakeSyncer() CAIRN_REQUIRES(mu_) {
    if (!syncing_ && !writing_ && !unsynced_.empty())
      unsynced_.front().writers.front()->cv->notify_one();
  }
  void Finish(Writer* w, const Writer* self) CAIRN_REQUIRES(mu_) {
    w->done = true;
    --in_submit_;
    if (w->async) {
      async_done_.push_back(w);  // the driver runs its completion
      async_cv_.notify_one();
      return;
    }
    if (w != self) w->cv->notify_one();
  }
  // The two roles a queued writer's thread plays (Submit; the driver for async writers),
  // each in three steps so that the caller's lock is released and taken again where the
  // analysis sees it: syncing (SyncTurn(w): StartSync, RunSync without mu_ when job.run,
  // CompleteSync) and leading its group (w at the queue's front: StartLead, CommitGroup
  // without mu_, CompleteLead).
  struct SyncJob {
    std::size_t covered = 0;  // unsynced groups the sync covers
    bool run = false;         // false: the WAL is broken, the sync fails without running
    rocksdb::Status synced;
    std::chrono::steady_clock::duration took{};
  };
  struct LeadJob {
    std::vector<Writer*> group;
    std::optional<UnsyncedGroup> written;
  };
  SyncJob StartSync(internal::MutexLock& lk, Writer* w) CAIRN_REQUIRES(mu_);
  void RunSync(SyncJob* job) CAIRN_EXCLUDES(mu_);
  void CompleteSync(const SyncJob& job, Writer* w) CAIRN_REQUIRES(mu_);
  LeadJob StartLead(internal::MutexLock& lk, Writer* w) CAIRN_REQUIRES(mu_);
  void CompleteLead(LeadJob job, Writer* w) CAIRN_REQUIRES(mu_);
  // The driver thread: plays both roles for asynchronous writers and runs their completions,
  // in batches, outside mu_.
  void DriveAsync() CAIRN_EXCLUDES(mu_);
  // An async writer whose turn it is to sync or to lead, or null. The driver leads only where
  // BeginLead would not wait for other threads' syncs (after a failure: once none is left).
  Writer* AsyncSyncTurn() const CAIRN_REQUIRES(mu_) {
    if (syncing_ || writing_ || unsynced_.empty()) return nullptr;
    Writer* w = unsynced_.front().writers.front();
    return w->async ? w : nullptr;
  }
  Writer* AsyncLeadTurn() const CAIRN_REQUIRES(mu_) {
    if (queue_.empty() || !queue_.front()->async) return nullptr;
    const bool recovering = recovery_due_ || !sync_failure_.ok();
    if (recovering && (!unsynced_.empty() || syncing_)) return nullptr;
    return queue_.front();
  }
  void StopDriver() CAIRN_EXCLUDES(mu_);

  // The leader's part: validates, sequences and writes `group` in one batch. In kSync, the
  // group written and waiting for its sync (writers still to be filled in).
  std::optional<UnsyncedGroup> CommitGroup(const std::vector<Writer*>& group);
  std::optional<UnsyncedGroup> WriteGroup(const std::vector<Writer*>& writing,
                                          std::uint64_t group_start, const codec::Hash& start_hash,
                                          bool recovering);
  Status RecoverFromWriteError();
  // Prepares `w` into batch_; on a conflict or error sets w->status and leaves batch_ as it was.
  void PrepareWriter(Writer* w);
  Result<std::vector<std::uint64_t>> CheckExpectedVersions(const Writer& w);
  rocksdb::Status AddToBatch(const RecordedEvent& event);
  rocksdb::Status AddRunsToBatch(const AppendView& view, std::uint64_t first_version,
                                 std::uint64_t first_position);
  Result<std::uint64_t> StreamVersion(std::string_view stream);
  // The last version of `stream` at a position at or below `through`, from disk.
  Result<std::uint64_t> StreamVersionThrough(std::string_view stream, std::uint64_t through) const;
  // Looks up caller-chosen ids; fills w->results and returns true when the whole append was
  // already stored (an idempotent retry). Errors for partial or conflicting matches.
  Result<bool> Deduplicate(Writer* w);
  Result<IdLocation> FindEventId(const EventId& id);

  Setup s_;  // constant after the opener is done

  mutable internal::Mutex mu_;
  std::deque<Writer*> queue_ CAIRN_GUARDED_BY(mu_);
  bool closed_ CAIRN_GUARDED_BY(mu_) = false;
  // --- the sync stage (kSync) ---
  std::deque<UnsyncedGroup> unsynced_ CAIRN_GUARDED_BY(mu_);
  bool syncing_ CAIRN_GUARDED_BY(mu_) = false;
  bool writing_ CAIRN_GUARDED_BY(mu_) = false;  // a leader is inside CommitGroup
  // How long a sync waits for appends still coming in: half the last sync's time, capped.
  static constexpr std::chrono::microseconds kMaxLinger{1000};
  std::chrono::steady_clock::duration linger_ CAIRN_GUARDED_BY(mu_){};
  // Appends queued, being written or waiting for a sync: entered Submit, not yet Finish()ed.
  std::size_t in_submit_ CAIRN_GUARDED_BY(mu_) = 0;
  // A write to the WAL failed: the groups still unsynced fail without a sync (their WAL is
  // broken) until the leader recovered.
  Status wal_broken_ CAIRN_GUARDED_BY(mu_);
  // A sync failed; the next leader takes it over (failed_sync_) and recovers first.
  Status sync_failure_ CAIRN_GUARDED_BY(mu_);
  // reload_head_ as the last leader left it (EndLead), readable by the driver under mu_.
  bool recovery_due_ CAIRN_GUARDED_BY(mu_) = false;
  // --- asynchronous appends (SubmitAsync) ---
  std::condition_variable async_cv_;       // every async writer's: the driver waits on it
  std::condition_variable async_room_cv_;  // SubmitAsync callers waiting for in-flight room
  std::deque<Writer*> async_done_ CAIRN_GUARDED_BY(mu_);   // finished, completion not yet run
  std::size_t async_in_flight_ CAIRN_GUARDED_BY(mu_) = 0;  // accepted, completion not yet run
  bool async_stop_ CAIRN_GUARDED_BY(mu_) = false;
  std::thread driver_ CAIRN_GUARDED_BY(mu_);  // started by the first SubmitAsync

  // --- leader only ---
  codec::ChainHasher hasher_;
  flatbuffers::FlatBufferBuilder fbb_{1024};
  rocksdb::WriteBatch batch_;
  std::string value_;
  // The batch's log records, key and value (LogRecordBytes): what it adds to the backlog.
  std::uint64_t batch_log_bytes_ = 0;
  std::string key_;
  std::unordered_map<std::string, std::uint64_t, internal::StringHash, std::equal_to<>>
      version_cache_;
  // Per group: streams and ids touched by writers already prepared in this group.
  std::unordered_map<std::string_view, std::uint64_t> pending_versions_;
  std::unordered_map<EventId, IdLocation, EventIdHash> pending_ids_;
  std::uint64_t next_position_ = 1;  // the position the next event gets
  codec::Hash head_hash_{};
  std::int64_t head_timestamp_us_ = 0;
  std::int64_t group_timestamp_us_ = 0;
  // Set when a write failed: its outcome on disk is unknown (a failed fsync may still have
  // written the WAL), so the next leader re-reads the head from disk before sequencing.
  bool reload_head_ = false;
  // The sync failure being recovered from: a full disk recovers by flushing the memtables
  // (which hold what the WAL could not make durable); any other error needs a reopen.
  Status failed_sync_;
};

}  // namespace cairn::store
