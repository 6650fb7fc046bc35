// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// What a store needs to run for years (docs/lifecycle.md): stream metadata and soft delete,
// snapshots and aggregate loading, and the backlog quota. Retention is in store_impl_retention.cc.
#include <algorithm>
#include <chrono>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>
#include <rocksdb/iterator.h>
#include <nlohmann/json.hpp>

#include "codec/crc32c.h"
#include "codec/envelope.h"
#include "store/keys.h"
#include "store/store_impl.h"
#include "store/stream_metadata.h"

namespace cairn {
namespace store {

std::string StreamMetaKey(std::string_view stream) {
  std::string key = store::kMetaStreamPrefix;
  key += stream;
  return key;
}

std::string EncodeStreamMetadata(const StreamMetadata& m) {
  nlohmann::json j = {{"v", 1}};
  if (m.max_age) j["max_age_s"] = m.max_age->count();
  if (m.max_count) j["max_count"] = *m.max_count;
  if (m.truncate_before > 1) j["truncate_before"] = m.truncate_before;
  return j.dump();
}

Result<StreamMetadata> DecodeStreamMetadata(std::string_view stream, std::string_view value) {
  auto bad = [&](std::string_view why) {
    return Status::Corruption(
        fmt::format("metadata record of stream '{}' is malformed: {}", stream, why));
  };
  nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return bad("not a JSON object");
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_unsigned() || v->get<std::uint64_t>() != 1)
    return bad("unknown record version");
  StreamMetadata m;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "v") continue;
    if (!it->is_number_unsigned()) return bad(fmt::format("'{}' is not a count", it.key()));
    const auto n = it->get<std::uint64_t>();
    if (it.key() == "max_age_s")
      m.max_age = std::chrono::seconds(static_cast<std::int64_t>(
          std::min<std::uint64_t>(n, std::numeric_limits<std::int64_t>::max())));
    else if (it.key() == "max_count")
      m.max_count = n;
    else if (it.key() == "truncate_before")
      m.truncate_before = n;
    // Unknown fields come from a newer build in the same format version: ignore them.
  }
  return m;
}

}  // namespace store

using store::DecodeStreamMetadata;
using store::EncodeStreamMetadata;
using store::StreamMetaKey;

namespace {

// Snapshot value: format byte 1, 3 reserved zero bytes, CRC-32C of the rest (LE), then
// schema version u32 LE, time_us i64 LE, type length u32 LE, type, payload.
constexpr std::uint8_t kSnapshotFormat = 1;
constexpr std::size_t kSnapshotFixed = 8 + 4 + 8 + 4;

std::string EncodeSnapshot(const Snapshot& s) {
  std::string out(8, '\0');
  out[0] = static_cast<char>(kSnapshotFormat);
  store::PutLittleEndian(s.schema_version, 4, &out);
  store::PutLittleEndian(static_cast<std::uint64_t>(s.time_us), 8, &out);
  store::PutLittleEndian(s.type.size(), 4, &out);
  out += s.type;
  out += s.payload;
  const std::uint32_t crc = codec::Crc32c(out.data() + 8, out.size() - 8);
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<char>(crc >> (8 * i));
  return out;
}

Status DecodeSnapshot(std::string_view value, Snapshot* s) {
  auto bad = [&](std::string_view why) {
    return Status::Corruption(fmt::format("snapshot of stream '{}' version {} is malformed: {}",
                                          s->stream, s->version, why));
  };
  if (value.size() < kSnapshotFixed) return bad("too short");
  if (static_cast<std::uint8_t>(value[0]) != kSnapshotFormat || value[1] || value[2] || value[3])
    return bad("unknown format");
  if (codec::Crc32c(value.data() + 8, value.size() - 8) !=
      store::GetLittleEndian(value.substr(4, 4)))
    return bad("checksum mismatch");
  s->schema_version = static_cast<std::uint32_t>(store::GetLittleEndian(value.substr(8, 4)));
  s->time_us = static_cast<std::int64_t>(store::GetLittleEndian(value.substr(12, 8)));
  const std::uint64_t type_len = store::GetLittleEndian(value.substr(20, 4));
  if (type_len > value.size() - kSnapshotFixed) return bad("type length past the end");
  s->type = std::string(value.substr(kSnapshotFixed, type_len));
  s->payload = std::string(value.substr(kSnapshotFixed + type_len));
  return Status::Ok();
}

}  // namespace

// --- Stream metadata and soft delete ---

Status Store::Impl::CheckStream(std::string_view stream) const {
  return store::CheckName("stream id", stream, options_.max_stream_id_bytes);
}

Result<std::uint64_t> Store::Impl::TruncateBefore(std::string_view stream) {
  std::string value;
  rocksdb::Status s = database_->db()->Get(rocksdb::ReadOptions(), database_->meta(),
                                           StreamMetaKey(stream), &value);
  if (s.IsNotFound()) return std::uint64_t{0};
  if (!s.ok()) return FromRocks(s, "reading stream metadata");
  auto m = DecodeStreamMetadata(stream, value);
  if (!m.ok()) return m.status();
  return m->truncate_before;
}

std::unique_ptr<rocksdb::Iterator> Store::Impl::NewStreamMetadataScan(std::string_view from) {
  std::unique_ptr<rocksdb::Iterator> it(
      database_->db()->NewIterator(rocksdb::ReadOptions(), database_->meta()));
  it->Seek(StreamMetaKey(from));
  return it;
}

// Stream ids are printable text (no NUL), so metadata keys ("cairn.stream." + id) sort as
// the stream index's keys (id + NUL + version) do: the scan only ever moves forward.
Result<std::uint64_t> Store::Impl::TruncateBefore(rocksdb::Iterator* scan,
                                                  std::string_view stream) {
  const std::string key = StreamMetaKey(stream);
  while (scan->Valid() && scan->key().compare(key) < 0) scan->Next();
  if (!scan->status().ok()) return FromRocks(scan->status(), "reading stream metadata");
  if (!scan->Valid() || scan->key() != rocksdb::Slice(key)) return std::uint64_t{0};
  auto m = DecodeStreamMetadata(stream, scan->value().ToStringView());
  if (!m.ok()) return m.status();
  return m->truncate_before;
}

Status Store::Impl::SetStreamMetadata(std::string_view stream, const StreamMetadata& metadata) {
  if (options_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  if (Status s = CheckStream(stream); !s.ok()) return s;
  if (metadata.max_age && metadata.max_age->count() <= 0)
    return Status::InvalidArgument("stream metadata: max_age must be positive");
  if (metadata.max_count && *metadata.max_count == 0)
    return Status::InvalidArgument(
        "stream metadata: max_count must be at least 1 (delete the stream to hide every event)");
  if (metadata.truncate_before > 1) {
    // Past the next version it would hide events not appended yet (they would vanish from
    // stream reads the moment they commit).
    auto version = sequencer_->CommittedStreamVersion(stream);
    if (!version.ok()) return version.status();
    if (metadata.truncate_before > *version + 1)
      return Status::InvalidArgument(fmt::format(
          "stream metadata: truncate-before {} is past stream '{}''s next version {}: it would "
          "hide events not appended yet",
          metadata.truncate_before, stream, *version + 1));
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  const bool empty = !metadata.max_age && !metadata.max_count && metadata.truncate_before <= 1;
  if (empty)
    return FromRocks(database_->db()->Delete(wo, database_->meta(), StreamMetaKey(stream)),
                     "writing stream metadata");
  return FromRocks(database_->db()->Put(wo, database_->meta(), StreamMetaKey(stream),
                                        EncodeStreamMetadata(metadata)),
                   "writing stream metadata");
}

Result<StreamMetadata> Store::Impl::GetStreamMetadata(std::string_view stream) {
  if (!database_) return Status::FailedPrecondition("store is closed");
  if (Status s = CheckStream(stream); !s.ok()) return s;
  std::string value;
  rocksdb::Status s = database_->db()->Get(rocksdb::ReadOptions(), database_->meta(),
                                           StreamMetaKey(stream), &value);
  if (s.IsNotFound()) return StreamMetadata{};
  if (!s.ok()) return FromRocks(s, "reading stream metadata");
  return DecodeStreamMetadata(stream, value);
}

Result<std::uint64_t> Store::Impl::DeleteStream(std::string_view stream, ExpectedVersion expected) {
  if (options_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  if (Status s = CheckStream(stream); !s.ok()) return s;
  // The committed version: an append racing this delete lands after it and stays readable,
  // as if it came just after the delete.
  auto last = sequencer_->CommittedStreamVersion(stream);
  if (!last.ok()) return last.status();
  if (*last == 0) return Status::NotFound(fmt::format("stream '{}' not found", stream));
  if (!expected.Matches(*last))
    return Status::WrongExpectedVersion(stream, expected.ToString(), *last);
  auto metadata = GetStreamMetadata(stream);
  if (!metadata.ok()) return metadata.status();
  metadata->truncate_before = std::max(metadata->truncate_before, *last + 1);
  rocksdb::WriteBatch batch;
  batch.Put(database_->meta(), StreamMetaKey(stream), EncodeStreamMetadata(*metadata));
  if (database_->snapshots())
    batch.DeleteRange(database_->snapshots(), store::StreamKey(stream, 0),
                      store::StreamKeyLimit(stream));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (Status s = FromRocks(database_->db()->Write(wo, &batch), "deleting the stream"); !s.ok())
    return s;
  logger_->info("soft-deleted stream '{}' through version {}", stream, *last);
  return *last;
}

// --- Snapshots ---

Status Store::Impl::SaveSnapshot(const Snapshot& snapshot) {
  if (options_.read_only || database_->snapshots() == nullptr)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  if (Status s = CheckStream(snapshot.stream); !s.ok()) return s;
  if (snapshot.version == 0)
    return Status::InvalidArgument("snapshot version 0: a snapshot follows at least one event");
  if (snapshot.type.size() > options_.max_type_bytes)
    return Status::InvalidArgument(fmt::format("snapshot type is {} bytes, over the limit of {}",
                                               snapshot.type.size(), options_.max_type_bytes));
  auto info = GetStreamInfo(snapshot.stream);
  if (!info.ok()) return info.status();
  if (snapshot.version > info->last_version)
    return Status::InvalidArgument(
        fmt::format("snapshot of stream '{}' at version {}, but the stream's last version is {}",
                    snapshot.stream, snapshot.version, info->last_version));
  Snapshot stored = snapshot;
  stored.time_us = NowUs();
  rocksdb::WriteBatch batch;
  batch.Put(database_->snapshots(), store::StreamKey(snapshot.stream, snapshot.version),
            EncodeSnapshot(stored));
  // Keep the newest snapshots_per_stream: drop older ones in the same write.
  std::vector<std::uint64_t> versions;
  {
    const std::string lower = store::StreamKey(snapshot.stream, 0);
    const std::string upper = store::StreamKeyLimit(snapshot.stream);
    rocksdb::Slice lo(lower), hi(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lo;
    ro.iterate_upper_bound = &hi;
    std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(ro, database_->snapshots()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view s;
      std::uint64_t v = 0;
      if (store::DecodeStreamKey(it->key().ToStringView(), &s, &v) && v != snapshot.version)
        versions.push_back(v);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading snapshots");
  }
  versions.push_back(snapshot.version);
  std::sort(versions.begin(), versions.end());
  const std::size_t keep = std::max<std::size_t>(1, options_.snapshots_per_stream);
  for (std::size_t i = 0; i + keep < versions.size(); ++i)
    batch.Delete(database_->snapshots(), store::StreamKey(snapshot.stream, versions[i]));
  // Snapshots can always be rebuilt: no sync.
  return FromRocks(database_->db()->Write(rocksdb::WriteOptions(), &batch), "saving a snapshot");
}

Result<Snapshot> Store::Impl::LoadSnapshot(std::string_view stream, std::uint64_t at_most_version) {
  if (!database_) return Status::FailedPrecondition("store is closed");
  if (Status s = CheckStream(stream); !s.ok()) return s;
  auto none = [&] {
    return Status::NotFound(
        fmt::format("no snapshot of stream '{}' at or below version {}", stream, at_most_version));
  };
  if (database_->snapshots() == nullptr) return none();
  const std::string lower = store::StreamKey(stream, 0);
  rocksdb::Slice lo(lower);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lo;
  std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(ro, database_->snapshots()));
  it->SeekForPrev(store::StreamKey(stream, at_most_version));
  if (!it->Valid()) {
    if (!it->status().ok()) return FromRocks(it->status(), "reading snapshots");
    return none();
  }
  Snapshot snap;
  std::string_view found;
  if (!store::DecodeStreamKey(it->key().ToStringView(), &found, &snap.version) || found != stream)
    return none();
  snap.stream = std::string(stream);
  if (Status s = DecodeSnapshot(it->value().ToStringView(), &snap); !s.ok()) return s;
  // A snapshot of versions a soft delete hid would resurrect them.
  auto truncate_before = TruncateBefore(stream);
  if (!truncate_before.ok()) return truncate_before.status();
  if (snap.version < *truncate_before) return none();
  return snap;
}

Status Store::Impl::DeleteSnapshots(std::string_view stream) {
  if (options_.read_only || database_->snapshots() == nullptr)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  if (Status s = CheckStream(stream); !s.ok()) return s;
  return FromRocks(
      database_->db()->DeleteRange(rocksdb::WriteOptions(), database_->snapshots(),
                                   store::StreamKey(stream, 0), store::StreamKeyLimit(stream)),
      "deleting snapshots");
}

Result<AggregateLoad> Store::Impl::LoadAggregate(
    std::string_view stream, const std::function<Status(const Snapshot&)>& restore,
    const std::function<Status(const RecordedEvent&)>& apply, std::uint64_t up_to_version) {
  if (!apply) return Status::InvalidArgument("LoadAggregate needs an apply function");
  auto info = ReadableStreamInfo(stream);
  if (!info.ok()) return info.status();
  AggregateLoad load;
  auto snap =
      restore ? LoadSnapshot(stream, up_to_version) : Result<Snapshot>(Status::NotFound(""));
  if (snap.ok()) {
    try {
      if (Status s = restore(*snap); !s.ok()) return s;
    } catch (...) {
      return Status::Internal(fmt::format("restoring the snapshot of '{}' threw", stream));
    }
    load.snapshot_version = snap->version;
    load.version = snap->version;
  } else if (snap.status().code() != StatusCode::kNotFound) {
    return snap.status();
  }
  if (load.version + 1 < info->first_version)
    return Status::FailedPrecondition(fmt::format(
        "stream '{}': retention removed versions before {} and no snapshot covers them (newest "
        "usable snapshot: {})",
        stream, info->first_version,
        load.snapshot_version ? std::to_string(load.snapshot_version) : std::string("none")));
  if (load.version >= std::min(up_to_version, info->last_version)) return load;
  StreamReadOptions ro;
  ro.from_version = load.version + 1;
  auto reader = ReadStream(stream, ro);
  if (!reader.ok()) return reader.status();
  for (; reader->Valid() && reader->event().version <= up_to_version; reader->Next()) {
    try {
      if (Status s = apply(reader->event()); !s.ok()) return s;
    } catch (...) {
      return Status::Internal(
          fmt::format("applying '{}' version {} threw", stream, reader->event().version));
    }
    load.version = reader->event().version;
    ++load.events_applied;
  }
  if (!reader->status().ok()) return reader->status();
  return load;
}

// --- Backlog quota ---

Status Store::Impl::LoadBacklog() {
  if (!backlog_.enabled()) return Status::Ok();
  auto shipped = side_records_->LoadCheckpoint(options_.backlog_quota.checkpoint);
  if (!shipped.ok()) return shipped.status();
  const std::uint64_t head = CommittedPosition();
  std::uint64_t bytes = 0;
  if (options_.backlog_quota.max_bytes > 0 && *shipped < head) {
    // Counted once at open: the unshipped tail is bounded by the quota itself.
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(ro, database_->log()));
    for (it->Seek(store::PositionKey(*shipped + 1)); it->Valid(); it->Next())
      bytes += store::LogRecordBytes(it->key().size(), it->value().size());
    if (!it->status().ok()) return FromRocks(it->status(), "measuring the unshipped backlog");
  }
  backlog_.Start(*shipped, head, bytes);
  return Status::Ok();
}

BacklogStatus Store::Impl::GetBacklog() const { return backlog_.Get(); }

}  // namespace cairn
