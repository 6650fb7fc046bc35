// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The RocksDB keyspace (docs/format.md, "Keyspace"). Column family names, meta keys and the
// key encodings are persisted: never change an existing one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::store {

// Column families.
inline constexpr char kMetaFamily[] = "default";         // store metadata
inline constexpr char kLogFamily[] = "log";              // position -> event value
inline constexpr char kStreamsFamily[] = "streams";      // stream, first version -> run
inline constexpr char kEventIdsFamily[] = "event_ids";   // caller event id -> position
inline constexpr char kTypesFamily[] = "types";          // event type, first position -> run
inline constexpr char kSnapshotsFamily[] = "snapshots";  // stream, version -> snapshot value

// Meta keys (in kMetaFamily).
inline constexpr char kMetaFormatVersion[] = "cairn.format_version";  // u32 little-endian
inline constexpr char kMetaStoreId[] = "cairn.store_id";              // 16 bytes (UUID)
inline constexpr char kMetaCreatedUs[] = "cairn.created_us";          // i64 little-endian
// The first position the type index covers (u64 LE): 1 for stores created with it; for a
// store that gained it later, the head at that moment + 1.
inline constexpr char kMetaTypeIndexFrom[] = "cairn.type_index_from";
// Format version 2: the first position still in the log (u64 LE; absent: 1) and the chain
// hash of the position before it (32 bytes), where verification anchors the chain.
inline constexpr char kMetaLogStart[] = "cairn.log_start";
inline constexpr char kMetaLogStartHash[] = "cairn.log_start_hash";
// Format version 2: + stream id -> JSON stream metadata (StreamMetadata).
inline constexpr char kMetaStreamPrefix[] = "cairn.stream.";
// A stream index entry pointing here marks a removed last version: the stream's version
// survives the removal of its events.
inline constexpr std::uint64_t kRemovedPosition = 0;
// Prefixes of side records (in kMetaFamily).
inline constexpr char kMetaCheckpointPrefix[] = "cairn.checkpoint.";   // + name -> u64 LE
inline constexpr char kMetaDeadLetterPrefix[] = "cairn.dead_letter.";  // + BE64 position -> JSON
// + BE64 time (µs) -> a line saying what Store::Repair kept and dropped (never removed).
inline constexpr char kMetaRepairPrefix[] = "cairn.repair.";

void PutBigEndian64(std::uint64_t v, char* out);
std::uint64_t GetBigEndian64(const char* p);
void PutLittleEndian(std::uint64_t v, int bytes, std::string* out);
std::uint64_t GetLittleEndian(std::string_view in);

// Log keys: the position as 8 big-endian bytes, so byte order is position order.
std::string PositionKey(std::uint64_t position);
// False unless `key` is exactly 8 bytes.
bool DecodePositionKey(std::string_view key, std::uint64_t* position);

// Stream index keys: stream id, a 0x00 separator (stream ids never contain NUL), then the
// version as 8 big-endian bytes. All of one stream's keys are contiguous, in version order.
void AppendStreamKey(std::string_view stream, std::uint64_t version, std::string* out);
std::string StreamKey(std::string_view stream, std::uint64_t version);
bool DecodeStreamKey(std::string_view key, std::string_view* stream, std::uint64_t* version);
// The first key after every key of `stream`: stream id followed by 0x01.
std::string StreamKeyLimit(std::string_view stream);

// Type index keys: the event type, 0x00, the position as 8 big-endian bytes; each type's
// entries are contiguous and in position order. Types never contain NUL (validated).
void AppendTypeKey(std::string_view type, std::uint64_t position, std::string* out);
bool DecodeTypeKey(std::string_view key, std::string_view* type, std::uint64_t* position);

// Format version 3: an index entry stands for a *run* — consecutive versions of one stream at
// consecutive positions, written by one append (docs/format.md, "Index runs"). Its key names
// the run's first version (stream index) or first position (type index); its value carries
// the length when it is more than 1, so a version-2 entry is a run of 1 as it is.
//   stream index value: first position u64 BE [+ count u32 LE, when count > 1]
//   type index value:   empty [or count u32 LE, when count > 1]
void AppendStreamRunValue(std::uint64_t first_position, std::uint64_t count, std::string* out);
// False unless `value` is 8 or 12 bytes (with a count of at least 2).
bool DecodeStreamRunValue(std::string_view value, std::uint64_t* first_position,
                          std::uint64_t* count);
void AppendTypeRunValue(std::uint64_t count, std::string* out);
// False unless `value` is empty or 4 bytes (with a count of at least 2).
bool DecodeTypeRunValue(std::string_view value, std::uint64_t* count);

}  // namespace cairn::store
