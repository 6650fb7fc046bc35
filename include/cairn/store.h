// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The event store: append events to streams with optimistic concurrency, read them back by
// stream or in global commit order.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/event.h"
#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn {

enum class Direction : std::uint8_t { kForward, kBackward };

struct StreamReadOptions {
  // Default: kForward.
  Direction direction = Direction::kForward;
  // The first version returned. Default: the stream's first event (forward) or last event
  // (backward).
  std::optional<std::uint64_t> from_version;
  // Most events returned. Default: no limit.
  std::uint64_t limit = UINT64_MAX;
  // Apply StoreOptions::upcasters. Default: true; false reads the stored payloads.
  bool upcast = true;
};

struct LogReadOptions {
  // Default: kForward.
  Direction direction = Direction::kForward;
  // The first position returned. Default: position 1 (forward) or the last position
  // (backward).
  std::optional<std::uint64_t> from_position;
  // Most events returned. Default: no limit.
  std::uint64_t limit = UINT64_MAX;
  // Apply StoreOptions::upcasters. Default: true; false reads the stored payloads.
  bool upcast = true;
};

// A forward-only cursor over stored events, reading lazily from the store. Not thread-safe:
// use one reader per thread. A reader keeps a consistent view (a snapshot) of the store taken
// when it was created; it must be destroyed before the Store.
class EventReader {
 public:
  EventReader(EventReader&&) noexcept;
  EventReader& operator=(EventReader&&) noexcept;
  ~EventReader();

  // True while positioned on an event. False at the end, or on an error (see status()).
  bool Valid() const;
  // Precondition: Valid(). The fields point into the reader's buffer until the next Next().
  const RecordedEvent& event() const;
  // Moves to the next event in the read's direction.
  void Next();
  // OK, or the error that stopped the reader (kCorruption for bad stored bytes).
  Status status() const;

 private:
  // The implementation lives in src/store/store_impl_read.cc; readers are made by Store only.
  friend class Store;
  class Impl;
  explicit EventReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct StreamInfo {
  std::string stream;
  // The stream's last version: the next append gets last_version + 1, also after a soft delete
  // or retention removed every event.
  std::uint64_t last_version = 0;
  // Readable events: first_version..last_version (0 and 0 when none is readable).
  std::uint64_t event_count = 0;
  std::uint64_t first_version = 0;
  std::uint64_t first_position = 0;
  std::uint64_t last_position = 0;
  // No event is readable: the stream was soft-deleted or truncated past its end, or retention
  // removed every event.
  bool deleted = false;
};

// Per-stream retention settings (Store::SetStreamMetadata). Unset fields leave the stream to
// the store-wide RetentionPolicy.
struct StreamMetadata {
  // Retention may remove this stream's events older than this.
  std::optional<std::chrono::seconds> max_age;
  // Retention may remove all but the newest `max_count` events of this stream.
  std::optional<std::uint64_t> max_count;
  // Versions below this are hidden from stream reads at once, and retention may remove them.
  // 0 or 1: nothing is truncated. A soft delete sets it to the last version + 1.
  std::uint64_t truncate_before = 0;
};

// A snapshot of an aggregate's state at a stream version (Store::SaveSnapshot). Snapshots
// are not events: they are not in the log or the chain, never shipped, and may be dropped at
// any time; an aggregate can always be rebuilt from its events while they are retained.
struct Snapshot {
  std::string stream;
  std::uint64_t version = 0;         // the last event the state includes
  std::string type;                  // what the payload holds, e.g. "OrderState"
  std::uint32_t schema_version = 1;  // the payload's shape, for the loader to check
  std::string payload;
  std::int64_t time_us = 0;  // when it was saved (set by SaveSnapshot)
};

// What Store::LoadAggregate did.
struct AggregateLoad {
  std::uint64_t snapshot_version = 0;  // 0: no snapshot was used
  std::uint64_t version = 0;           // the aggregate's version after the load
  std::uint64_t events_applied = 0;
};

// What retention may remove (Store::ApplyRetention). An event is removed only when all of
// these hold: a rule (this policy's or its stream's StreamMetadata) allows it; every event
// before it in its stream is removed too (a stream is always a readable tail); it is older
// than min_audit_age; every checkpoint in `shipped_checkpoints` has passed it; it has no dead
// letter; it is not the newest event of the store.
struct RetentionPolicy {
  // Store-wide: events older than this may go. Default: no age limit.
  std::optional<std::chrono::seconds> max_age;
  // Store-wide: all but the newest `max_events` events may go. Default: no count limit.
  std::optional<std::uint64_t> max_events;
  // Never remove an event younger than this, whatever the rules say. Default: 30 days (the
  // audit window of docs/guarantees.md).
  std::chrono::seconds min_audit_age = std::chrono::hours(24 * 30);
  // Checkpoints that must have passed an event before it goes: the shipper's, and those of
  // durable subscriptions that must see every event ("subscription.<name>"; a subscription
  // left behind skips what retention removed). A checkpoint never saved holds everything
  // back. Empty: no consumer holds events back. Default: {"shipper"}.
  std::vector<std::string> shipped_checkpoints{kShipperCheckpoint};
  // Report what would be removed without removing it. Default: false.
  bool dry_run = false;
  // Called now and then with (positions examined, positions to examine); may be empty.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

struct RetentionReport {
  std::uint64_t examined = 0;          // events looked at
  std::uint64_t removed_events = 0;    // removed (or, in a dry run, removable)
  std::uint64_t removed_bytes = 0;     // their stored size
  std::uint64_t log_start_before = 0;  // the first position stored before and after
  std::uint64_t log_start_after = 0;
  // Removable by a rule but kept, and why.
  std::uint64_t kept_unshipped = 0;
  std::uint64_t kept_too_young = 0;
  std::uint64_t kept_dead_letter = 0;
  std::uint64_t kept_stream_order = 0;  // an earlier event of its stream stays
  // Per stream: events removed and the first version left readable (largest first, at most
  // 100 streams).
  struct StreamRemoval {
    std::string stream;
    std::uint64_t events = 0;
    std::uint64_t first_kept_version = 0;
  };
  std::vector<StreamRemoval> streams;
  bool dry_run = false;
};

// How far the shipper is behind and what the backlog quota allows (Store::GetBacklog).
struct BacklogStatus {
  std::uint64_t events = 0;      // appended but not yet past the quota's checkpoint
  std::uint64_t bytes = 0;       // their stored size
  std::uint64_t max_events = 0;  // the quota (0: none)
  std::uint64_t max_bytes = 0;
  std::uint64_t blocked_appends = 0;   // appends that waited for room, since open
  std::uint64_t rejected_appends = 0;  // appends refused with kResourceExhausted, since open
};

struct StoreInfo {
  std::string path;
  std::string store_id;  // UUID chosen when the store was created
  std::uint32_t format_version = 0;
  std::uint64_t last_position = 0;  // 0 when empty
  // The first position still stored: 1 unless retention removed the start of the log.
  // Positions first_position..last_position are all present (removed events in the middle
  // keep a marker; see docs/format.md).
  std::uint64_t first_position = 1;
  std::int64_t last_timestamp_us = 0;
  std::array<std::uint8_t, 32> last_chain_hash{};
  bool read_only = false;
  // Opened with StoreOptions::through_owner while another process owned the store: writes go
  // to that process (owner_pid) over its owner socket.
  bool through_owner = false;
  std::int64_t owner_pid = 0;
  Durability durability = Durability::kSync;
  // Empty while writes work. After a failed write, the error it failed with, until the store
  // writes again; meanwhile appends fail with kIOError naming it and what will end it:
  //  - a full disk (ENOSPC, retryable): RocksDB recovers by itself once there is room to
  //    flush its memtables (64 MiB with the defaults; it looks every 5 s). This field clears
  //    then, and appends work again without a reopen.
  //  - any other I/O error (EIO on write or sync): RocksDB cannot resume in place; fix the
  //    device and reopen the store, which replays the write-ahead log.
  // Either way a failed append may or may not be stored: retry it with the same event ids.
  std::string write_error;
  // Store::Repair runs that dropped data from this store, and what the last one said
  // ("2026-12-01T10:00:00Z: kept positions 1..2500, dropped 677147 bytes of 000019.log
  // from offset 676988 (checksum mismatch); copy in /var/lib/s.before-repair-..."). Positions
  // after the kept ones may since have been given to new events.
  std::uint64_t repairs = 0;
  std::string last_repair;
};

// Store::Repair.
struct RepairOptions {
  // Report what a repair would do, change nothing (the repair runs on a scratch copy).
  bool dry_run = false;
  // Where the copy of the store goes before anything is changed. Default: next to the store,
  // "<store>.before-repair-<UTC time>". Must not exist.
  std::string backup_dir;
  LogLevel log_level = LogLevel::kWarn;
};

struct RepairReport {
  bool needed = false;       // false: the store opens as it is; nothing was done
  std::string damaged_file;  // the write-ahead log file with the damage
  std::uint64_t damaged_offset = 0;
  std::string damage;               // what is wrong there ("checksum mismatch", ...)
  std::uint64_t bytes_dropped = 0;  // log bytes from the damage to the end of the logs
  std::uint64_t kept_through = 0;   // the last position kept (the head after the repair)
  std::string backup_dir;           // the copy made first (empty in a dry run)
};

// Store::Backup (docs/guarantees.md, "Backups").
struct BackupOptions {
  // Check the copy's hash chain, every event, before the backup is published (Store::Verify
  // on the copy). Default on: a backup is only as good as the proof that it reads back.
  bool verify = true;
  // Called during verification with (events checked, events to check).
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

struct BackupReport {
  std::string dir;  // where the backup is: a store directory that opens as it is
  // The head acknowledged when the backup began: every event up to it is in the copy.
  std::uint64_t acknowledged_position = 0;
  // The copy's head (>= acknowledged_position: appends in flight may be in it too) and the
  // chain hash there, hex: an anchor for `cairn verify --expect`.
  std::uint64_t last_position = 0;
  std::string chain_head;
  std::string store_id;
  std::uint64_t files = 0;         // files in the backup
  std::uint64_t bytes = 0;         // their total size
  std::uint64_t linked_files = 0;  // table files shared with the store (hard links, no copy)
  bool verified = false;           // BackupOptions::verify ran and found the chain whole
};

// Store::Restore.
struct RestoreOptions {
  bool verify = true;  // check the backup's chain before copying it into place
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
  LogLevel log_level = LogLevel::kWarn;
};

// The newest on-disk format this build reads and writes (docs/format.md).
inline constexpr std::uint32_t kFormatVersion = 4;

// A head noted earlier (StoreInfo::last_position and last_chain_hash, or the cairn.position
// and cairn.chain_hash headers of a message in Kafka), kept outside the store. The chain alone
// cannot show that events were removed from the end of the log, or that the whole log was
// rewritten consistently; an anchor can (docs/guarantees.md, "What the chain proves").
struct ChainAnchor {
  std::uint64_t position = 0;
  std::array<std::uint8_t, 32> chain_hash{};
};

struct VerifyOptions {
  // Verify the log and chain from here (the chain is anchored at the stored hash of the event
  // before it). The index checks need the whole log and run only from position 1.
  std::uint64_t from_position = 1;
  // Each must still be in the log with that chain hash: a problem when the log now ends before
  // it or holds another hash there. Positions retention removed cannot be checked (a note).
  std::vector<ChainAnchor> expect;
  // Called now and then with (positions checked, positions to check); may be empty.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

// What `Store::Verify` found. `ok()` when nothing is wrong; otherwise `problems` lists what is,
// the first one first (its position, 0 when the problem has none, and what is wrong).
struct VerifyReport {
  struct Problem {
    std::uint64_t position = 0;
    std::string what;
  };
  std::uint64_t first_position = 0;  // the range checked
  std::uint64_t last_position = 0;
  std::uint64_t events = 0;
  std::uint64_t removed = 0;     // positions holding a removed-event marker (retention)
  std::uint64_t streams = 0;     // checked against the stream index (full verify only)
  std::uint64_t caller_ids = 0;  // checked against the id index (full verify only)
  std::uint64_t checkpoints = 0;
  std::uint64_t dead_letters = 0;
  bool indexes_checked = false;
  std::uint64_t anchors_checked = 0;  // VerifyOptions::expect entries that held
  std::array<std::uint8_t, 32> chain_head{};
  std::vector<Problem> problems;
  std::vector<std::string> notes;  // what could not be checked, and why
  bool ok() const { return problems.empty(); }
};

// An event the shipper could not deliver, kept in the store until an operator retries or drops
// it (docs/format.md, "Dead letters"). Stored by position: one record per event.
struct DeadLetter {
  std::uint64_t position = 0;
  std::string stream;
  std::uint64_t version = 0;
  std::string destination;   // where it was going, e.g. the Kafka topic
  std::string error;         // what went wrong, as the destination reported it
  std::int64_t time_us = 0;  // when the record was made, microseconds since the Unix epoch
  // Nonzero when this event was not attempted but held back, to keep its stream in order,
  // behind the dead letter at this position.
  std::uint64_t held_behind = 0;
};

// An open event store. Thread-safe: any number of threads may append and read concurrently
// without external synchronization. Readers obtained from it must be destroyed before it.
class Store {
 public:
  // Opens the store in directory `path`, creating it when StoreOptions::create_if_missing and
  // the directory is missing or empty. Fails with kBusy when another writer holds the store
  // (unless StoreOptions::through_owner and that writer has an owner socket),
  // kFailedPrecondition when the directory is not a cairn store or was written by a newer
  // format, kCorruption when its metadata or last event do not verify.
  static Result<std::unique_ptr<Store>> Open(const std::string& path,
                                             const StoreOptions& options = {});

  // Recovers a store whose write-ahead log is damaged (Open fails with kCorruption naming the
  // log file and offset): copies the whole store directory to options.backup_dir first, then
  // replays the log up to its first damaged record and drops the rest — events that were
  // acknowledged may be among them; the report says how much was dropped and what was kept,
  // and the store remembers the repair (StoreInfo::repairs). kBusy while a writer holds the
  // store; kCorruption when the damage is not in the log (a table file or MANIFEST: restore
  // from a backup). A store that opens as it is gets needed = false and is left untouched.
  static Result<RepairReport> Repair(const std::string& path, const RepairOptions& options = {});

  // Takes a consistent copy of this open store into directory `dir`, which must not exist,
  // while appends go on: every event acknowledged before the call is in it, with its chain.
  // Table files are hard-linked when `dir` is on the store's file system (a second backup
  // there shares them: each costs only what changed), copied otherwise. The copy is built
  // beside `dir` ("<dir>.cairn-partial") and renamed into place only once whole and verified,
  // so a backup killed midway never leaves a `dir`. kInvalidArgument when `dir` exists, is
  // inside the store or is empty; kBusy while another backup of this store runs;
  // kFailedPrecondition on a read-only store (only the writer can take one); kIOError naming
  // the directory when it cannot be written (a full disk, no permission).
  Result<BackupReport> Backup(const std::string& dir, const BackupOptions& options = {});

  // Makes `path` (which must not exist) a working store again from a backup taken by Backup:
  // checks it is one (its CAIRN-BACKUP note), verifies its chain, copies it beside `path`
  // and renames it into place. The report describes the backup restored. The restored store
  // ends where the backup does: events appended after the backup are not in it
  // (docs/guarantees.md, "Backups", on shipping after a restore).
  static Result<BackupReport> Restore(const std::string& backup_dir, const std::string& path,
                                      const RestoreOptions& options = {});

  // Appends `events` to `stream` atomically if its version matches `expected`. A conflict is
  // kWrongExpectedVersion carrying the expected and actual versions. With caller-chosen event
  // ids, a retry of an append that already committed returns its original result with
  // `deduplicated` set; an id stored with different content is kAlreadyExists.
  Result<AppendResult> Append(std::string_view stream, ExpectedVersion expected,
                              std::span<const EventData> events);
  Result<AppendResult> Append(std::string_view stream, ExpectedVersion expected,
                              const EventData& event);

  // Appends to several streams in one atomic commit: every expectation must hold, or nothing
  // is stored. A stream may appear only once. Results are in the order of `appends`.
  Result<std::vector<AppendResult>> AppendMulti(std::span<const StreamAppend> appends);

  // Asynchronous appends: the same checks, atomicity, expected versions, idempotent ids and
  // durability as Append/AppendMulti, without a thread waiting for each. The call validates
  // the append (kInvalidArgument and the rest come back at once, and `done` is then never
  // called), waits for or refuses room under the backlog quota as Append does, takes the
  // events over, and returns; `done` runs once the append committed — in kSync after the
  // fsync that makes it durable; nothing is visible to readers before — or failed.
  //   - Order: appends submitted by one thread commit in the order submitted (with
  //     Append calls of that thread too); each `done` gets its own append's result.
  //   - Bounded: at most StoreOptions::max_async_appends are in flight; past that the call
  //     waits or is refused with kResourceExhausted (StoreOptions::async_appends_block).
  //   - Callbacks run on one thread of cairn's own, in batches: one group's appends complete
  //     together after their one write and sync. A callback should be quick: while it runs no
  //     other completion is delivered and no async append is written. It may read the store
  //     and call AppendAsync (refused, never blocked, when the limit is reached); it must not
  //     call Close() or a synchronous Append (both wait for that thread).
  //   - Close() completes every accepted append (their callbacks run before it returns); after
  //     it begins, AppendAsync is refused with kFailedPrecondition.
  using AppendCallback = std::function<void(Result<AppendResult>)>;
  using AppendMultiCallback = std::function<void(Result<std::vector<AppendResult>>)>;
  Status AppendAsync(std::string stream, ExpectedVersion expected, std::vector<EventData> events,
                     AppendCallback done);
  Status AppendMultiAsync(std::vector<StreamAppend> appends, AppendMultiCallback done);

  // What AppendMulti(appends) would refuse regardless of the streams' versions, checked
  // without storing anything: ids and types (UTF-8, no control characters, limits), sizes,
  // counts, event ids repeated in `appends`, and event ids already stored with different
  // content (kAlreadyExists). For validating a whole input before its first append.
  Status CheckAppend(std::span<const StreamAppend> appends);

  // Reads one stream's events. kNotFound when the stream has no events. Errors met while
  // reading (kCorruption for bad stored bytes) stop the reader and show in its status().
  Result<EventReader> ReadStream(std::string_view stream, const StreamReadOptions& options = {});
  // Reads the global log in position order.
  Result<EventReader> ReadLog(const LogReadOptions& options = {});
  // Events whose type is any of `types`, forward in position order from
  // options.from_position, through the type index (no log scan; stores that gained the index
  // after they were created scan the log before its start).
  Result<EventReader> ReadByTypes(std::span<const std::string> types,
                                  const LogReadOptions& options = {});
  // Reads the single event at `position`, upcast unless `upcast` is false. kNotFound beyond
  // the last position and for a position retention removed.
  Result<OwnedEvent> ReadEvent(std::uint64_t position, bool upcast = true);

  // kNotFound when the stream has no events.
  Result<StreamInfo> GetStreamInfo(std::string_view stream);
  // Streams whose id starts with `prefix`, in byte order, at most `limit`, starting after
  // `start_after` when given (for paging).
  Result<std::vector<StreamInfo>> ListStreams(std::string_view prefix, std::size_t limit = SIZE_MAX,
                                              std::string_view start_after = {});

  StoreInfo GetInfo() const;
  // The committed head (StoreInfo::last_position) without building a StoreInfo: one locked
  // read, for loops that check it on every pass (the shipper's). 0 for an empty store.
  std::uint64_t last_position() const;

  // Blocks until the committed head is past `after_position`, the timeout expires or the
  // store closes; returns the committed head then. For tailing the log (the shipper,
  // subscribers) without polling: the write path wakes waiters after each commit.
  std::uint64_t WaitForPosition(std::uint64_t after_position,
                                std::chrono::milliseconds timeout) const;

  // Checks every stored envelope (format, CRC, structure), that positions are dense, every
  // chain hash, timestamps, each stream's versions, the stream and id indexes against the log,
  // checkpoints and dead letters. Returns the report (problems are data, not errors); an error
  // Status only when the check itself could not run. Reads only; safe beside appends (it
  // checks the log up to the head at its start).
  Result<VerifyReport> Verify(const VerifyOptions& options = {});

  // Read-only handles opened with StoreOptions::follow_writer see new appends of the writing
  // process after Refresh(). A no-op for the writer. Returns the new head position.
  Result<std::uint64_t> Refresh();

  // Named checkpoints: a position a consumer of the log has finished with (the shipper's
  // shipped-through position, a subscription's). Saving is a synchronous write unless `sync`
  // is false; a position past the committed head is kInvalidArgument (retention trusts a
  // checkpoint: one past the head would let it remove events nobody consumed). Loading a
  // checkpoint never saved gives 0. Deleting one that was never saved is kNotFound, one that
  // is claimed kBusy.
  Status SaveCheckpoint(std::string_view name, std::uint64_t position, bool sync = true);
  Result<std::uint64_t> LoadCheckpoint(std::string_view name);
  Result<std::vector<std::pair<std::string, std::uint64_t>>> ListCheckpoints();
  Status DeleteCheckpoint(std::string_view name);

  // One consumer per checkpoint: ClaimCheckpoint is kBusy while another claim of `name` is
  // held in this process, until ReleaseCheckpoint(name) or Close. Shipper::Start and a
  // durable Subscription claim theirs, so that a second shipper of the same checkpoint is
  // refused instead of sending every event to Kafka again. Claims are not stored.
  Status ClaimCheckpoint(std::string_view name);
  void ReleaseCheckpoint(std::string_view name);

  // Dead letters (see DeadLetter). Putting a record for a position that has one replaces it.
  Status PutDeadLetters(std::span<const DeadLetter> records);
  Result<std::vector<DeadLetter>> ListDeadLetters(std::uint64_t after_position = 0,
                                                  std::size_t limit = SIZE_MAX);
  Status RemoveDeadLetters(std::span<const std::uint64_t> positions);

  // --- Lifecycle (docs/lifecycle.md) ---

  // Stream metadata: retention rules and truncation. Setting replaces what was there; a
  // stream without metadata gets the defaults (StreamMetadata{}). The stream need not exist.
  Status SetStreamMetadata(std::string_view stream, const StreamMetadata& metadata);
  Result<StreamMetadata> GetStreamMetadata(std::string_view stream);
  // Soft delete: hides every event of the stream up to its current version from stream reads
  // (ReadStream, GetStreamInfo's counts, LoadAggregate) at once and drops its snapshots; the
  // events stay in the log (and are shipped) until retention removes them. Appends continue
  // from the next version; expected-version checks see that version. `expected` is checked
  // as for an append. Returns the last version deleted. kNotFound for a stream without events.
  Result<std::uint64_t> DeleteStream(std::string_view stream,
                                     ExpectedVersion expected = ExpectedVersion::Any());

  // Removes what `policy` and the streams' metadata allow (see RetentionPolicy), the start of
  // the log with RocksDB range deletes, events further on by replacing each with a small
  // marker; their index entries go too, then a compaction of the removed range frees the disk.
  // The chain stays verifiable from the first stored position. Safe beside appends and reads
  // (a reader opened before sees what it saw). kFailedPrecondition on a read-only handle
  // unless policy.dry_run.
  Result<RetentionReport> ApplyRetention(const RetentionPolicy& policy);

  // Snapshots (see Snapshot). Saving needs snapshot.version between 1 and the stream's last
  // version and keeps the newest StoreOptions::snapshots_per_stream of the stream.
  Status SaveSnapshot(const Snapshot& snapshot);
  // The newest snapshot at or below `at_most_version`; kNotFound when there is none.
  Result<Snapshot> LoadSnapshot(std::string_view stream,
                                std::uint64_t at_most_version = UINT64_MAX);
  Status DeleteSnapshots(std::string_view stream);
  // Rebuilds an aggregate: `restore` gets the newest snapshot at or below `up_to_version`
  // (not called when there is none), then `apply` gets every later event up to
  // `up_to_version`, upcast, in order. An error from either stops the load and is returned.
  // kNotFound for a stream with no readable events; kFailedPrecondition when retention
  // removed events no snapshot covers.
  Result<AggregateLoad> LoadAggregate(std::string_view stream,
                                      const std::function<Status(const Snapshot&)>& restore,
                                      const std::function<Status(const RecordedEvent&)>& apply,
                                      std::uint64_t up_to_version = UINT64_MAX);

  // The backlog the quota (StoreOptions::backlog_quota) counts.
  BacklogStatus GetBacklog() const;

  // The store's metrics as Prometheus text exposition (names cairn_store_*; docs/monitoring):
  // appends, events, failures, append latency and group-commit sizes as histograms, WAL syncs
  // and their latency, the head, the backlog, RocksDB's files, pending compaction and memtable
  // bytes, and the directory's size on disk. Counters count since Open. Cheap enough to scrape
  // every few seconds (it lists the store directory).
  std::string PrometheusMetrics() const;

  // Flushes and closes the store, returning any error; later calls fail with
  // kFailedPrecondition. The destructor closes too, logging errors it cannot return.
  Status Close();

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The implementation (src/store/store_impl.h). Named here only so that cairn's internal
  // openers (src/store/storage_env.h) can make a Store; this header defines nothing of it.
  class Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
