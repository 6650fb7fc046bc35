// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Side records kept beside the log in the meta column family: named checkpoints and dead
// letters (docs/format.md, "Side records"). They are not events: they are not in the chain,
// never shipped, and may be rewritten, so they need no ordering with the sequencer. Each call
// is one RocksDB read or one write (a WriteBatch for several dead letters).
//
// Owns: the checkpoint and dead-letter keys of the meta family. Must not touch: the log, the
// indexes, the head, any other meta key. A saved checkpoint is told to the backlog quota,
// which counts unshipped events against it.
//
// Thread-safety: every method may be called from any thread (RocksDB orders the writes; the
// last writer of a checkpoint wins, as a checkpoint is a position the caller owns; claims
// are under their own mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rocksdb/db.h>

#include "cairn/store.h"
#include "store/backlog.h"
#include "util/mutex.h"

namespace cairn::store {

class SideRecords {
 public:
  struct Setup {
    std::string path;  // for messages
    rocksdb::DB* db = nullptr;
    rocksdb::ColumnFamilyHandle* meta = nullptr;
    bool read_only = false;  // writes refused with kFailedPrecondition
    bool sync = false;       // Durability::kSync: writes are fsynced
    Backlog* backlog = nullptr;
  };

  explicit SideRecords(Setup setup) : s_(std::move(setup)) {}

  // Checkpoints: a name (1..200 bytes, no control characters) and a position. `sync` asks
  // for an fsync when the store's durability is kSync.
  Status SaveCheckpoint(std::string_view name, std::uint64_t position, bool sync);
  Result<std::uint64_t> LoadCheckpoint(std::string_view name);  // 0 when never saved
  Result<std::vector<std::pair<std::string, std::uint64_t>>> ListCheckpoints();
  // Removes a saved checkpoint: kNotFound when there is none, kBusy while it is claimed.
  Status DeleteCheckpoint(std::string_view name);

  // Claims: one consumer of the log (a shipper, a subscription) per checkpoint name at a time
  // in this process, so that a second shipper of one checkpoint is refused (kBusy) instead of
  // shipping every event again. Claims live in memory only; RocksDB's lock already keeps a
  // second process out.
  Status ClaimCheckpoint(std::string_view name);
  void ReleaseCheckpoint(std::string_view name);

  // Dead letters, keyed by the event's position.
  Status PutDeadLetters(std::span<const DeadLetter> records);
  Result<std::vector<DeadLetter>> ListDeadLetters(std::uint64_t after, std::size_t limit);
  Status RemoveDeadLetters(std::span<const std::uint64_t> positions);

 private:
  const Setup s_;
  internal::Mutex claims_mu_;
  std::set<std::string, std::less<>> claimed_ CAIRN_GUARDED_BY(claims_mu_);
};

}  // namespace cairn::store
