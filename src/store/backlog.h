// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The backlog quota (StoreOptions::backlog_quota): how many events and bytes are stored but
// not yet past the quota's checkpoint, and the admission rule for the next append. Owns only
// its counters and their lock; it learns of commits from the sequencer (NoteCommitted) and of
// shipping from checkpoint saves (NoteShipped). Reads nothing from the database after Start.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <string_view>
#include <utility>

#include "cairn/options.h"
#include "cairn/store.h"
#include "util/mutex.h"

namespace cairn::store {

// What one event counts for against BacklogQuota::max_bytes ("stored size"): its log record,
// key and value, as stored. The sequencer adds it up as it encodes a commit, an open adds it up
// from the log; nothing else measures the backlog.
inline std::uint64_t LogRecordBytes(std::size_t key_bytes, std::size_t value_bytes) {
  return key_bytes + value_bytes;
}
// An append asks for room before it is encoded, so it asks by this estimate of the same
// (within a few bytes of padding: tests/backlog_test.cc): its variable fields plus the
// envelope's fixed part.
std::uint64_t EstimatedLogRecordBytes(std::string_view stream, const EventData& event);

class Backlog {
 public:
  // A quota with both limits 0 (the default) is disabled: every method is then a no-op.
  explicit Backlog(const BacklogQuota& quota, bool read_only);

  bool enabled() const { return enabled_; }
  // The state at open: the checkpoint's position, the head, and the unshipped tail's bytes.
  void Start(std::uint64_t shipped, std::uint64_t head, std::uint64_t bytes) CAIRN_EXCLUDES(mu_);
  // Waits for or refuses room for `events` / `bytes` more (kResourceExhausted, naming the
  // quota); an empty backlog always has room, so one append larger than the quota goes in.
  Status AwaitRoom(std::uint64_t events, std::uint64_t bytes) CAIRN_EXCLUDES(mu_);
  // A commit ending at `last_position` that stored `bytes`.
  void NoteCommitted(std::uint64_t last_position, std::uint64_t bytes) CAIRN_EXCLUDES(mu_);
  // A checkpoint save; counts only the quota's own checkpoint.
  void NoteShipped(std::string_view checkpoint, std::uint64_t position) CAIRN_EXCLUDES(mu_);
  BacklogStatus Get() const CAIRN_EXCLUDES(mu_);
  // Close(): wakes appends blocked for room, which then fail.
  void Close() CAIRN_EXCLUDES(mu_);

 private:
  std::uint64_t Events() const CAIRN_REQUIRES(mu_) {
    return head_ - std::min(head_, shipped_position_);
  }

  const BacklogQuota quota_;
  const bool enabled_;
  mutable internal::Mutex mu_;
  std::condition_variable cv_;
  std::uint64_t shipped_position_ CAIRN_GUARDED_BY(mu_) = 0;
  std::uint64_t head_ CAIRN_GUARDED_BY(mu_) = 0;   // last position noted
  std::uint64_t bytes_ CAIRN_GUARDED_BY(mu_) = 0;  // after shipped_position_
  // (last position, bytes) of each commit after shipped_position_, to subtract as it ships.
  std::deque<std::pair<std::uint64_t, std::uint64_t>> commits_ CAIRN_GUARDED_BY(mu_);
  bool closed_ CAIRN_GUARDED_BY(mu_) = false;
  std::uint64_t blocked_appends_ CAIRN_GUARDED_BY(mu_) = 0;
  std::uint64_t rejected_appends_ CAIRN_GUARDED_BY(mu_) = 0;
};

}  // namespace cairn::store
