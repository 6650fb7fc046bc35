// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Backups of a live store (Store::Backup, Store::Restore; docs/guarantees.md, "Backups";
// the note's format in docs/format.md). A backup is a RocksDB checkpoint of the open
// database — a store directory that opens as it is, with its table files hard-linked when on
// the store's file system — plus a note saying what it holds. It is built under
// "<dir>.cairn-partial" and renamed to <dir> only once whole, verified and noted, so a
// backup killed midway never passes for a whole one. Owns nothing between calls.
#pragma once

#include <cstdint>
#include <string>

#include <rocksdb/db.h>

#include "cairn/store.h"

namespace cairn::store {

// The note every finished backup holds; a directory without it is not a backup.
inline constexpr char kBackupNoteFile[] = "CAIRN-BACKUP";
// Where a backup is built before it is renamed into place.
inline constexpr char kPartialBackupSuffix[] = ".cairn-partial";
// The note's format version (its first line, "cairn-backup 1").
inline constexpr int kBackupNoteVersion = 1;

// `dir` may receive a backup of the store at `store_path`: not empty, not existing, not
// inside the store, its parent a directory. Clears what a killed backup left at
// "<dir>.cairn-partial".
Status CheckBackupTarget(const std::string& store_path, const std::string& dir);

// The checkpoint of `db` at `partial` (RocksDB flushes the memtables first, so the copy
// needs no log replay beyond what was written during the flush).
Status TakeCheckpoint(rocksdb::DB& db, const std::string& partial);

// Verifies the store at `partial` (opened read-only), checks it holds `acknowledged`, writes
// its note and renames it to `dir`. Removes `partial` on failure.
Result<BackupReport> PublishBackup(const std::string& partial, const std::string& dir,
                                   std::uint64_t acknowledged, const BackupOptions& options);

// The note of the backup at `dir` (kInvalidArgument when it has none: not a backup).
Result<BackupReport> ReadBackupNote(const std::string& dir);

}  // namespace cairn::store
