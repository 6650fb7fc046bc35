// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The sequencer: the only code that writes events into the log. It owns the group-commit
// queue (the front writer leads and commits everyone queued behind it), idempotence by event
// id, expected-version checks, and positions, versions, timestamps and chain hashes decided in
// commit order, with one RocksDB WriteBatch per group (log values, stream/type/id index
// entries). After a write it publishes the new head (head.h) for readers, subscriptions and
// the shipper, and tells the backlog quota (backlog.h) what was committed.
//
// It must not touch: the meta family (side records, stream metadata), the snapshot family,
// the store's directory. Appends reach it already validated (append.cc); retention
// (retention.cc) writes removed-event markers outside its queue, and docs/architecture.md says
// why that is safe.
//
// Thread-safety: Submit, Close and the "any thread" lookups may be called from any thread.
// The leader's state (the batch, the hasher, the version cache, the next position and hash)
// is touched by the writer at the front of the queue alone, without mu_; leadership passes
// under mu_. LoadTail runs when no append can be under way (opening, Refresh on a read-only
// follower, or by the leader itself after a failed write). Lock order: mu_, then the head's.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/logger.h>

#include "audit/chain.h"
#include "cairn/store.h"
#include "store/backlog.h"
#include "store/head.h"
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
    bool sync = false;  // Durability::kSync: each group's write is fsynced
    std::size_t max_group_appends = 0;
    std::size_t stream_cache_entries = 0;
    std::size_t write_buffer_bytes = 0;    // for the full-disk remedy's text
    std::function<std::int64_t()> now_us;  // the store's one clock
    // The stored event at a position, not upcast (an idempotent retry compares against it).
    std::function<Result<OwnedEvent>(std::uint64_t position)> read_event;
    PublishedHead* head = nullptr;
    Backlog* backlog = nullptr;
    std::shared_ptr<spdlog::logger> logger;
  };

  explicit Sequencer(Setup setup) : s_(std::move(setup)) {}
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  // Queues a validated append and waits until its group is written (or refused): the
  // results, or the append's error. kFailedPrecondition once Close() has begun.
  Result<std::vector<AppendResult>> Submit(std::vector<AppendView> views) CAIRN_EXCLUDES(mu_);

  // Refuses new appends, waits for the queued ones. False when an earlier call closed it.
  bool Close() CAIRN_EXCLUDES(mu_);
  bool closed() const CAIRN_EXCLUDES(mu_);

  // Reads the log's last event from disk and starts sequencing after it; publishes the head.
  Status LoadTail();
  // The opener only, before any append: a store from a format without the type index gets
  // that family after its head was loaded (the index starts past the head).
  void IndexTypesIn(rocksdb::ColumnFamilyHandle* types) { s_.types = types; }

  // Any thread: the committed version of `stream`, from disk (not the leader's cache).
  Result<std::uint64_t> CommittedStreamVersion(std::string_view stream) const;
  // Any thread: where the committed id index puts `id`; position 0 when it is not stored.
  Result<std::uint64_t> StoredPositionOf(const EventId& id) const;

 private:
  // An append waiting in the queue. Lives on the appending thread's stack.
  struct Writer {
    std::vector<AppendView> views;
    Status status;
    std::vector<AppendResult> results;
    bool done = false;
    std::condition_variable cv;
  };
  // Where an event id lives: committed (position only) or pending in the current group.
  struct IdLocation {
    std::uint64_t position = 0;
    std::uint64_t version = 0;
    std::string_view stream;
    const EventData* pending = nullptr;
  };

  // The leader's part: validates, sequences and writes `group` in one batch.
  void CommitGroup(const std::vector<Writer*>& group);
  void WriteGroup(const std::vector<Writer*>& writing, std::uint64_t group_start,
                  const audit::Hash& start_hash);
  Status RecoverFromWriteError();
  // Prepares `w` into batch_; on a conflict or error sets w->status and leaves batch_ as it was.
  void PrepareWriter(Writer* w);
  Result<std::vector<std::uint64_t>> CheckExpectedVersions(const Writer& w);
  rocksdb::Status AddToBatch(const RecordedEvent& event);
  Result<std::uint64_t> StreamVersion(std::string_view stream);
  // Looks up caller-chosen ids; fills w->results and returns true when the whole append was
  // already stored (an idempotent retry). Errors for partial or conflicting matches.
  Result<bool> Deduplicate(Writer* w);
  Result<IdLocation> FindEventId(const EventId& id);

  Setup s_;  // constant after the opener is done

  mutable internal::Mutex mu_;
  std::deque<Writer*> queue_ CAIRN_GUARDED_BY(mu_);
  bool closed_ CAIRN_GUARDED_BY(mu_) = false;

  // --- leader only ---
  audit::ChainHasher hasher_;
  flatbuffers::FlatBufferBuilder fbb_{1024};
  rocksdb::WriteBatch batch_;
  std::string value_;
  std::string key_;
  std::unordered_map<std::string, std::uint64_t, internal::StringHash, std::equal_to<>>
      version_cache_;
  // Per group: streams and ids touched by writers already prepared in this group.
  std::unordered_map<std::string_view, std::uint64_t> pending_versions_;
  std::unordered_map<EventId, IdLocation, EventIdHash> pending_ids_;
  std::uint64_t next_position_ = 1;  // the position the next event gets
  audit::Hash head_hash_{};
  std::int64_t head_timestamp_us_ = 0;
  std::int64_t group_timestamp_us_ = 0;
  // Set when a write failed: its outcome on disk is unknown (a failed fsync may still have
  // written the WAL), so the next leader re-reads the head from disk before sequencing.
  bool reload_head_ = false;
};

}  // namespace cairn::store
