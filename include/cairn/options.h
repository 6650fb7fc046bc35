// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// StoreOptions and what it is made of (durability, limits, the backlog quota, retention's
// policy, logging, the clock): every option with its default and why it exists.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/event.h"
#include "cairn/status.h"

namespace cairn {

// The checkpoint a Shipper saves its shipped-through position under by default
// (ShipperOptions::checkpoint_name), and so the one retention (RetentionPolicy) and the
// backlog quota (BacklogQuota::checkpoint) wait for unless told otherwise.
inline constexpr char kShipperCheckpoint[] = "shipper";

// What an acknowledged append survives. docs/guarantees.md states each promise in full.
enum class Durability : std::uint8_t {
  // The append returns after its batch is in the write-ahead log and fdatasync'ed: it
  // survives kill -9, a kernel panic and power loss. Concurrent appenders share one sync
  // (group commit), so throughput grows with the number of appending threads.
  kSync = 0,
  // The append returns after its batch is written to the write-ahead log in the OS page
  // cache, without a sync: it survives the process crashing (kill -9), not power loss or a
  // kernel crash. The OS writes it out within its dirty-page interval (about 30 s on Linux).
  kBuffered = 1,
};

enum class LogLevel : std::uint8_t { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// Receives cairn's log lines when set in StoreOptions::log_sink. Called from whichever cairn
// thread logs, possibly concurrently: the function must be thread-safe and must not call back
// into the store.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// Turns the payload of `event` (type `Upcaster::type`, schema version
// `Upcaster::from_schema_version`) into the payload of the next schema version. Called on the
// reading thread, possibly from several threads at once: it must be thread-safe. An error
// stops the read with that error; it must not throw (a thrown exception becomes kInternal).
using UpcastFunction = std::function<Result<std::string>(const RecordedEvent& event)>;

// One step of a payload's schema history: from_schema_version -> from_schema_version + 1.
// Reads apply steps until none matches, so registering 1->2 and 2->3 reads a version-1 event
// as version 3. Stored bytes never change; the chain hash covers them, not the upcast ones.
struct Upcaster {
  std::string type;
  std::uint32_t from_schema_version = 1;
  UpcastFunction upcast;
};

// A limit on events appended but not yet shipped, so an edge service with a long broker
// outage fills neither its disk nor its replay window without knowing.
struct BacklogQuota {
  // At most this many unshipped events / bytes (stored size). 0: no limit. Default: 0, 0.
  std::uint64_t max_events = 0;
  std::uint64_t max_bytes = 0;
  enum class Policy : std::uint8_t {
    // Wait up to block_timeout for the shipper to make room, then fail kResourceExhausted.
    kBlock,
    // Fail at once with kResourceExhausted.
    kReject,
  };
  // Default: kBlock.
  Policy policy = Policy::kBlock;
  // Default: 5 s.
  std::chrono::milliseconds block_timeout{5000};
  // The checkpoint that counts as shipped (ShipperOptions::checkpoint_name). Default:
  // "shipper".
  std::string checkpoint = kShipperCheckpoint;
};

struct StoreOptions {
  // --- Opening ---
  // Create the store if the directory does not exist or is empty. Default: true.
  bool create_if_missing = true;
  // Open without taking the writer lock and refuse every write. Several read-only handles may
  // coexist with each other; they see the store as it was when opened. Default: false.
  bool read_only = false;
  // With read_only: open as a RocksDB secondary instance that follows the process writing the
  // store (Store::Refresh() catches up), so audits and tails work beside a running service.
  // Default: false (a read-only handle sees the store as it was when opened).
  bool follow_writer = false;
  // A writer that lets other processes on this machine write: it listens on the Unix socket
  // <path>/owner.sock and carries out, on this store, the writes they send (through_owner
  // below; the `cairn` tool's writing commands). Whoever may write the store directory may
  // connect: the socket's mode follows the directory's. A socket a dead owner left there is
  // replaced; a live listener there, or a file that is not a socket, fails the open.
  // docs/guarantees.md, "Writing beside the owner". Default: false.
  bool owner_socket = false;
  // When another process holds the store (Open would fail with kBusy) and listens on its owner
  // socket: open anyway, as a follower (reads are local and catch up with the owner) whose
  // writes that owner carries out, each acknowledged only after the owner stored it and this
  // handle can read it. StoreInfo::through_owner says which kind of handle Open returned.
  // Without an owner socket Open still fails with kBusy. Default: false.
  bool through_owner = false;

  // --- Durability ---
  // Default: Durability::kSync.
  Durability durability = Durability::kSync;

  // --- Limits (violations are kInvalidArgument and store nothing) ---
  // Stream id length in bytes. Default: 256.
  std::size_t max_stream_id_bytes = 256;
  // Event type length in bytes. Default: 256.
  std::size_t max_type_bytes = 256;
  // Content-type length in bytes. Default: 128.
  std::size_t max_content_type_bytes = 128;
  // Payload size. Default: 1 MiB, Kafka's default message.max.bytes, so every stored event can
  // also be shipped.
  std::size_t max_payload_bytes = 1 << 20;
  // Metadata size. Default: 64 KiB.
  std::size_t max_metadata_bytes = 64 << 10;
  // Events in one append call (all streams together). Default: 10,000.
  std::size_t max_events_per_append = 10000;

  // --- Reading ---
  // Applied by ReadStream, ReadLog, ReadByTypes, ReadEvent, subscriptions and LoadAggregate
  // unless the read asks for stored bytes (`upcast = false`; the shipper and `verify` always
  // read stored bytes). At most one per (type, from_schema_version): Open refuses duplicates
  // with kInvalidArgument. Default: none.
  std::vector<Upcaster> upcasters;

  // --- Lifecycle ---
  // Refuse or delay appends while the shipper is this far behind. Never drops anything. The
  // check sees the backlog before the append, so concurrent appends may overshoot by one group
  // commit. Default: no limit.
  BacklogQuota backlog_quota;
  // Snapshots kept per stream; saving one more drops the oldest. Default: 2.
  std::size_t snapshots_per_stream = 2;

  // --- Tuning ---
  // Most streams whose last version is cached in memory by the writer; beyond it the cache
  // starts over and versions are re-read from disk on demand. Default: 1,000,000 (~100 MB at
  // worst).
  std::size_t stream_cache_entries = 1000000;
  // Most appends the group-commit leader folds into one write. Default: 1,024.
  std::size_t max_group_appends = 1024;
  // RocksDB block cache. Default: 64 MiB.
  std::size_t block_cache_bytes = 64 << 20;

  // --- Asynchronous appends (Store::AppendAsync) ---
  // Most asynchronous appends accepted and not yet completed (their callback not yet run);
  // they hold their events in memory until then. Default: 65,536.
  std::size_t max_async_appends = 65536;
  // When that many are in flight: AppendAsync waits until one completes (true) or refuses
  // with kResourceExhausted (false). A completion callback that appends is never made to
  // wait (it runs on the thread that makes room): it is refused instead. Default: true.
  bool async_appends_block = true;

  // --- Logging ---
  // Where cairn's log lines go, RocksDB's warnings and errors included (prefixed "rocksdb:";
  // cairn writes no LOG file into the store). Default (empty): standard error, prefixed
  // "cairn".
  LogSink log_sink;
  // Lines below this level are not produced. Default: LogLevel::kWarn.
  LogLevel log_level = LogLevel::kWarn;

  // --- Time ---
  // The wall clock, in microseconds since the Unix epoch: commit timestamps, snapshot times and
  // the "now" of age-based retention. Called by the writer's committing thread and by
  // ApplyRetention/SaveSnapshot callers; must be thread-safe. Commit timestamps stay
  // non-decreasing in position order whatever it returns (a clock stepped back yields the last
  // timestamp again). Default (empty): std::chrono::system_clock. Tests inject one to step time.
  std::function<std::int64_t()> clock_us;
};

}  // namespace cairn
