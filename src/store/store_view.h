// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// A read-only view of one open store, for the audit (src/audit/verify.h): the database and its
// families, the side records and the store's own reads, without the rest of Store::Impl. The
// audit depends on the store through this; the store never includes src/audit/.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <rocksdb/db.h>

#include "cairn/event.h"
#include "cairn/status.h"
#include "codec/chain.h"
#include "store/side_records.h"

namespace cairn::store {

// Valid while the store is open (taken inside a public call, under its CallGuard). The audit
// only reads through it. Thread-compatible: one audit at a time per view.
struct StoreView {
  rocksdb::DB* db = nullptr;
  rocksdb::ColumnFamilyHandle* log = nullptr;
  rocksdb::ColumnFamilyHandle* streams = nullptr;
  rocksdb::ColumnFamilyHandle* ids = nullptr;
  rocksdb::ColumnFamilyHandle* types = nullptr;  // null: a store without the type index
  SideRecords* side_records = nullptr;
  EventId store_id;                   // the chain's genesis
  std::uint64_t type_index_from = 1;  // the first position the type index covers
  std::uint64_t log_start = 1;        // the first position retention kept
  // A writer's view: reads pin a snapshot so that appends during the audit do not show.
  bool writer = false;
  // The committed (published) head, now.
  std::function<std::uint64_t()> committed_position;
  // The chain hash at a position (from the log, or retention's record of removed positions).
  std::function<Result<codec::Hash>(std::uint64_t position)> chain_hash_at;
  // The event at a position as stored (not upcast).
  std::function<Result<OwnedEvent>(std::uint64_t position)> read_stored_event;
};

}  // namespace cairn::store
