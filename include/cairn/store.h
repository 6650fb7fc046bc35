// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The event store: append events to streams with optimistic concurrency, read them back by
// stream or in global commit order.
#pragma once

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
};

struct LogReadOptions {
  // Default: kForward.
  Direction direction = Direction::kForward;
  // The first position returned. Default: position 1 (forward) or the last position
  // (backward).
  std::optional<std::uint64_t> from_position;
  // Most events returned. Default: no limit.
  std::uint64_t limit = UINT64_MAX;
};

// A forward-only cursor over stored events, reading lazily from the store. Not thread-safe:
// use one reader per thread. A reader keeps a consistent view (a snapshot) of the store taken
// when it was created; it must be destroyed before the Store.
class EventReader {
 public:
  class Impl;
  explicit EventReader(std::unique_ptr<Impl> impl);
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
  std::unique_ptr<Impl> impl_;
};

struct StreamInfo {
  std::string stream;
  std::uint64_t last_version = 0;
  std::uint64_t event_count = 0;
  std::uint64_t first_position = 0;
  std::uint64_t last_position = 0;
};

struct StoreInfo {
  std::string path;
  std::string store_id;  // UUID chosen when the store was created
  std::uint32_t format_version = 0;
  std::uint64_t last_position = 0;  // 0 when empty; positions are dense, so also the count
  std::int64_t last_timestamp_us = 0;
  std::array<std::uint8_t, 32> last_chain_hash{};
  bool read_only = false;
  Durability durability = Durability::kSync;
};

// The newest on-disk format this build reads and writes (docs/format.md).
inline constexpr std::uint32_t kFormatVersion = 1;

struct VerifyOptions {
  // Verify the log and chain from here (the chain is anchored at the stored hash of the event
  // before it). The index checks need the whole log and run only from position 1.
  std::uint64_t from_position = 1;
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
  std::uint64_t streams = 0;          // checked against the stream index (full verify only)
  std::uint64_t caller_ids = 0;       // checked against the id index (full verify only)
  std::uint64_t checkpoints = 0;
  std::uint64_t dead_letters = 0;
  bool indexes_checked = false;
  std::array<std::uint8_t, 32> chain_head{};
  std::vector<Problem> problems;
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
  // the directory is missing or empty. Fails with kBusy when another writer holds the store,
  // kFailedPrecondition when the directory is not a cairn store or was written by a newer
  // format, kCorruption when its metadata or last event do not verify.
  static Result<std::unique_ptr<Store>> Open(const std::string& path,
                                             const StoreOptions& options = {});

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
  // Reads the single event at `position`. kNotFound beyond the last position.
  Result<OwnedEvent> ReadEvent(std::uint64_t position);

  // kNotFound when the stream has no events.
  Result<StreamInfo> GetStreamInfo(std::string_view stream);
  // Streams whose id starts with `prefix`, in byte order, at most `limit`, starting after
  // `start_after` when given (for paging).
  Result<std::vector<StreamInfo>> ListStreams(std::string_view prefix, std::size_t limit = SIZE_MAX,
                                              std::string_view start_after = {});

  StoreInfo Info() const;

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
  // is false. Loading a checkpoint never saved gives 0.
  Status SaveCheckpoint(std::string_view name, std::uint64_t position, bool sync = true);
  Result<std::uint64_t> LoadCheckpoint(std::string_view name);
  Result<std::vector<std::pair<std::string, std::uint64_t>>> ListCheckpoints();

  // Dead letters (see DeadLetter). Putting a record for a position that has one replaces it.
  Status PutDeadLetters(std::span<const DeadLetter> records);
  Result<std::vector<DeadLetter>> ListDeadLetters(std::uint64_t after_position = 0,
                                                  std::size_t limit = SIZE_MAX);
  Status RemoveDeadLetters(std::span<const std::uint64_t> positions);

  // Flushes and closes the store, returning any error; later calls fail with
  // kFailedPrecondition. The destructor closes too, logging errors it cannot return.
  Status Close();

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  class Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
