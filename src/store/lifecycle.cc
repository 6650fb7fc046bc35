// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// What a store needs to run for years (docs/lifecycle.md): stream metadata and soft delete,
// snapshots and aggregate loading, retention, and the backlog quota.
#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <rocksdb/iterator.h>

#include "codec/crc32c.h"
#include "codec/envelope.h"
#include "store/keys.h"
#include "store/store_impl.h"

namespace cairn {
namespace {

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
      m.max_age = std::chrono::seconds(static_cast<std::int64_t>(n));
    else if (it.key() == "max_count")
      m.max_count = n;
    else if (it.key() == "truncate_before")
      m.truncate_before = n;
    // Unknown fields come from a newer build in the same format version: ignore them.
  }
  return m;
}

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
  if (codec::Crc32c(value.data() + 8, value.size() - 8) != store::GetLittleEndian(value.substr(4, 4)))
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
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, StreamMetaKey(stream), &value);
  if (s.IsNotFound()) return std::uint64_t{0};
  if (!s.ok()) return FromRocks(s, "reading stream metadata");
  auto m = DecodeStreamMetadata(stream, value);
  if (!m.ok()) return m.status();
  return m->truncate_before;
}

std::unique_ptr<rocksdb::Iterator> Store::Impl::NewStreamMetadataScan(std::string_view from) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
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
    auto version = LoadStreamVersion(stream);  // from disk: the version cache is the leader's
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
  if (empty) return FromRocks(db_->Delete(wo, meta_, StreamMetaKey(stream)), "writing stream metadata");
  return FromRocks(db_->Put(wo, meta_, StreamMetaKey(stream), EncodeStreamMetadata(metadata)),
                   "writing stream metadata");
}

Result<StreamMetadata> Store::Impl::GetStreamMetadata(std::string_view stream) {
  if (!db_) return Status::FailedPrecondition("store is closed");
  if (Status s = CheckStream(stream); !s.ok()) return s;
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, StreamMetaKey(stream), &value);
  if (s.IsNotFound()) return StreamMetadata{};
  if (!s.ok()) return FromRocks(s, "reading stream metadata");
  return DecodeStreamMetadata(stream, value);
}

Result<std::uint64_t> Store::Impl::DeleteStream(std::string_view stream,
                                                ExpectedVersion expected) {
  if (options_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  if (Status s = CheckStream(stream); !s.ok()) return s;
  // The committed version: an append racing this delete lands after it and stays readable,
  // as if it came just after the delete.
  auto last = LoadStreamVersion(stream);
  if (!last.ok()) return last.status();
  if (*last == 0) return Status::NotFound(fmt::format("stream '{}' not found", stream));
  if (!expected.Matches(*last))
    return Status::WrongExpectedVersion(stream, expected.ToString(), *last);
  auto metadata = GetStreamMetadata(stream);
  if (!metadata.ok()) return metadata.status();
  metadata->truncate_before = std::max(metadata->truncate_before, *last + 1);
  rocksdb::WriteBatch batch;
  batch.Put(meta_, StreamMetaKey(stream), EncodeStreamMetadata(*metadata));
  if (snapshots_)
    batch.DeleteRange(snapshots_, store::StreamKey(stream, 0), store::StreamKeyLimit(stream));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (Status s = FromRocks(db_->Write(wo, &batch), "deleting the stream"); !s.ok()) return s;
  logger_->info("soft-deleted stream '{}' through version {}", stream, *last);
  return *last;
}

// --- Snapshots ---

Status Store::Impl::SaveSnapshot(const Snapshot& snapshot) {
  if (options_.read_only || snapshots_ == nullptr)
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
    return Status::InvalidArgument(fmt::format(
        "snapshot of stream '{}' at version {}, but the stream's last version is {}",
        snapshot.stream, snapshot.version, info->last_version));
  Snapshot stored = snapshot;
  stored.time_us = NowUs();
  rocksdb::WriteBatch batch;
  batch.Put(snapshots_, store::StreamKey(snapshot.stream, snapshot.version), EncodeSnapshot(stored));
  // Keep the newest snapshots_per_stream: drop older ones in the same write.
  std::vector<std::uint64_t> versions;
  {
    const std::string lower = store::StreamKey(snapshot.stream, 0);
    const std::string upper = store::StreamKeyLimit(snapshot.stream);
    rocksdb::Slice lo(lower), hi(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lo;
    ro.iterate_upper_bound = &hi;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, snapshots_));
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
    batch.Delete(snapshots_, store::StreamKey(snapshot.stream, versions[i]));
  // Snapshots can always be rebuilt: no sync.
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "saving a snapshot");
}

Result<Snapshot> Store::Impl::LoadSnapshot(std::string_view stream, std::uint64_t at_most_version) {
  if (!db_) return Status::FailedPrecondition("store is closed");
  if (Status s = CheckStream(stream); !s.ok()) return s;
  auto none = [&] {
    return Status::NotFound(fmt::format("no snapshot of stream '{}' at or below version {}",
                                        stream, at_most_version));
  };
  if (snapshots_ == nullptr) return none();
  const std::string lower = store::StreamKey(stream, 0);
  rocksdb::Slice lo(lower);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lo;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, snapshots_));
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
  if (options_.read_only || snapshots_ == nullptr)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  if (Status s = CheckStream(stream); !s.ok()) return s;
  return FromRocks(db_->DeleteRange(rocksdb::WriteOptions(), snapshots_,
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
  auto snap = restore ? LoadSnapshot(stream, up_to_version) : Result<Snapshot>(Status::NotFound(""));
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
      return Status::Internal(fmt::format("applying '{}' version {} threw", stream,
                                          reader->event().version));
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
  auto shipped = LoadCheckpoint(options_.backlog_quota.checkpoint);
  if (!shipped.ok()) return shipped.status();
  const std::uint64_t head = CommittedPosition();
  std::uint64_t bytes = 0;
  if (options_.backlog_quota.max_bytes > 0 && *shipped < head) {
    // Counted once at open: the unshipped tail is bounded by the quota itself.
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, log_));
    for (it->Seek(store::PositionKey(*shipped + 1)); it->Valid(); it->Next())
      bytes += it->key().size() + it->value().size();
    if (!it->status().ok()) return FromRocks(it->status(), "measuring the unshipped backlog");
  }
  backlog_.Start(*shipped, head, bytes);
  return Status::Ok();
}

BacklogStatus Store::Impl::GetBacklog() const { return backlog_.Get(); }

// --- Retention ---

Result<RetentionReport> Store::Impl::ApplyRetention(const RetentionPolicy& policy) {
  if (!db_) return Status::FailedPrecondition("store is closed");
  if (options_.read_only && !policy.dry_run)
    return Status::FailedPrecondition(fmt::format(
        "store {} is open read-only: retention needs the writer (or a dry run)", path_));
  if (policy.max_events && *policy.max_events == 0)
    return Status::InvalidArgument("retention: max_events must be at least 1");
  internal::MutexLock one_at_a_time(retention_mu_);
  RetentionReport report;
  report.dry_run = policy.dry_run;
  const std::uint64_t head = GetInfo().last_position;
  const std::uint64_t start = head_.log_start();
  report.log_start_before = report.log_start_after = start;
  if (head < 2) return report;

  // What shipping allows: every listed checkpoint must have passed.
  std::uint64_t shipped = head;
  for (const std::string& name : policy.shipped_checkpoints) {
    auto c = LoadCheckpoint(name);
    if (!c.ok()) return c.status();
    shipped = std::min(shipped, *c);
  }
  auto dead = ListDeadLetters(0, SIZE_MAX);
  if (!dead.ok()) return dead.status();
  std::unordered_set<std::uint64_t> dead_positions;
  for (const DeadLetter& d : *dead) dead_positions.insert(d.position);

  // Every stream with metadata (few, by nature): load them all once.
  std::unordered_map<std::string, StreamMetadata, StringHash, std::equal_to<>> metadata;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
    const std::string_view prefix = store::kMetaStreamPrefix;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      const std::string stream(it->key().ToStringView().substr(prefix.size()));
      auto m = DecodeStreamMetadata(stream, it->value().ToStringView());
      if (!m.ok()) return m.status();
      metadata.emplace(stream, *m);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading stream metadata");
  }

  const std::int64_t now = NowUs();
  auto older_than = [&](std::int64_t ts, std::chrono::seconds age) {
    return ts < now - std::chrono::duration_cast<std::chrono::microseconds>(age).count();
  };
  struct StreamState {
    bool blocked = false;             // an event of the stream stays: later ones stay too
    std::uint64_t last_version = 0;   // for max_count, loaded on demand
    std::uint64_t removed = 0;
    std::uint64_t first_removed = 0;
    std::uint64_t last_removed = 0;
    std::uint64_t first_kept = 0;
  };
  std::unordered_map<std::string, StreamState, StringHash, std::equal_to<>> streams;

  struct Removal {
    std::uint64_t position;
    std::string stream;
    std::uint64_t version;
    std::string type;
    std::optional<EventId> caller_id;
    std::int64_t timestamp_us;
    audit::Hash chain_hash;
  };
  std::vector<Removal> removals;
  std::uint64_t prefix_end = start;  // [start, prefix_end) is all removed after this run
  bool prefix_open = true;
  audit::Hash prefix_hash{};         // chain hash at prefix_end - 1

  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = 2 << 20;
  // Read-only handles do not change under the scan (and secondaries have no snapshots).
  const rocksdb::Snapshot* snapshot = options_.read_only ? nullptr : db_->GetSnapshot();
  ro.snapshot = snapshot;
  struct Release {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~Release() {
      if (s) db->ReleaseSnapshot(s);
    }
  } release{db_.get(), snapshot};
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, log_));
  std::string scratch;
  // The newest event always stays: it anchors the head when the store reopens.
  for (it->Seek(store::PositionKey(start)); it->Valid(); it->Next()) {
    std::uint64_t position = 0;
    if (!store::DecodePositionKey(it->key().ToStringView(), &position))
      return Status::Corruption("malformed log key");
    if (position >= head) break;
    const std::string_view value = it->value().ToStringView();
    if (codec::IsRemovedValue(value)) {
      codec::RemovedEvent r;
      if (Status s = codec::DecodeRemoved(value, &r); !s.ok())
        return Status::Corruption(fmt::format("position {}: {}", position, s.message()));
      if (prefix_open) {
        prefix_end = position + 1;
        prefix_hash = r.chain_hash;
      }
      continue;
    }
    RecordedEvent e;
    if (Status s = codec::DecodeEvent(value, &scratch, &e); !s.ok())
      return Status::Corruption(fmt::format("position {}: {}", position, s.message()));
    ++report.examined;
    if (policy.progress && (report.examined & 0xffff) == 0)
      policy.progress(position - start, head - start);
    auto [st_it, fresh] = streams.try_emplace(std::string(e.stream));
    StreamState& st = st_it->second;
    const StreamMetadata* md = nullptr;
    if (auto m = metadata.find(e.stream); m != metadata.end()) md = &m->second;

    bool allowed = (policy.max_age && older_than(e.timestamp_us, *policy.max_age)) ||
                   (policy.max_events && position + *policy.max_events <= head);
    if (!allowed && md) {
      allowed = e.version < md->truncate_before ||
                (md->max_age && older_than(e.timestamp_us, *md->max_age));
      if (!allowed && md->max_count) {
        if (st.last_version == 0) {
          auto v = LoadStreamVersion(e.stream);
          if (!v.ok()) return v.status();
          st.last_version = *v;
        }
        allowed = e.version + *md->max_count <= st.last_version;
      }
    }
    bool remove = false;
    if (!allowed) {
    } else if (position > shipped) {
      ++report.kept_unshipped;
    } else if (!older_than(e.timestamp_us, policy.min_audit_age)) {
      ++report.kept_too_young;
    } else if (dead_positions.count(position)) {
      ++report.kept_dead_letter;
    } else if (st.blocked) {
      ++report.kept_stream_order;
    } else {
      remove = true;
    }
    if (!remove) {
      if (!st.blocked) st.first_kept = e.version;
      st.blocked = true;
      prefix_open = false;
      // Timestamps never decrease: past the audit window nothing more can go.
      if (!older_than(e.timestamp_us, policy.min_audit_age)) break;
      continue;
    }
    if (st.removed++ == 0) st.first_removed = e.version;
    st.last_removed = e.version;
    ++report.removed_events;
    report.removed_bytes += it->key().size() + value.size();
    if (prefix_open) {
      prefix_end = position + 1;
      prefix_hash = e.chain_hash;
    }
    if (!policy.dry_run) {
      Removal r{position,        std::string(e.stream), e.version,   std::string(e.type),
                std::nullopt,    e.timestamp_us,        e.chain_hash};
      if (e.id_from_caller) r.caller_id = e.id;
      removals.push_back(std::move(r));
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the log");
  it.reset();
  // A live snapshot would keep every removed value through the compaction below.
  if (snapshot) db_->ReleaseSnapshot(snapshot);
  release.s = nullptr;
  report.log_start_after = prefix_end;

  for (auto& [stream, st] : streams) {
    if (st.removed == 0) continue;
    report.streams.push_back(
        {stream, st.removed, st.blocked ? st.first_kept : st.last_removed + 1});
  }
  std::sort(report.streams.begin(), report.streams.end(),
            [](const auto& a, const auto& b) { return a.events > b.events; });
  if (report.streams.size() > 100) report.streams.resize(100);
  if (policy.dry_run) return report;
  if (removals.empty()) {
    // Only earlier runs' markers at the start: they go with the next run that removes events.
    report.log_start_after = start;
    return report;
  }

  // Write in chunks, each one atomic and leaving a consistent store. At the start of the log a
  // chunk range-deletes its positions and moves the recorded log start past them; further on,
  // a small marker replaces each event. Index entries go with their event, except that each
  // stream's highest removed version keeps a marker entry so the stream's version survives.
  rocksdb::WriteOptions wo;
  wo.sync = true;
  constexpr std::size_t kChunk = 20000;
  std::string value, key;
  std::uint64_t chunk_start = start;  // the log start while removing the prefix
  for (std::size_t begin = 0; begin < removals.size(); begin += kChunk) {
    rocksdb::WriteBatch batch;
    const std::size_t end = std::min(removals.size(), begin + kChunk);
    for (std::size_t i = begin; i < end; ++i) {
      const Removal& r = removals[i];
      const StreamState& st = streams.find(r.stream)->second;
      if (r.position >= prefix_end) {
        codec::RemovedEvent m{r.position, r.version, r.timestamp_us, r.chain_hash, r.stream};
        value.clear();
        codec::EncodeRemoved(m, &value);
        batch.Put(log_, store::PositionKey(r.position), value);
      }
      if (r.version == st.last_removed)
        batch.Put(streams_, store::StreamKey(r.stream, r.version),
                  store::PositionKey(store::kRemovedPosition));
      else
        batch.Delete(streams_, store::StreamKey(r.stream, r.version));
      // The marker of an earlier run sat just below this run's first removed version.
      if (r.version == st.first_removed && r.version > 1)
        batch.Delete(streams_, store::StreamKey(r.stream, r.version - 1));
      key.clear();
      store::AppendTypeKey(r.type, r.position, &key);
      if (types_) batch.Delete(types_, key);
      if (r.caller_id)
        batch.Delete(ids_, rocksdb::Slice(reinterpret_cast<const char*>(r.caller_id->bytes().data()), 16));
    }
    // How far this chunk takes the start of the log: to the end of the prefix when it holds the
    // prefix's last removal, else just past its own last removal inside the prefix.
    std::uint64_t new_start = chunk_start;
    audit::Hash new_hash{};
    const Removal& last = removals[end - 1];
    if (last.position + 1 >= prefix_end && prefix_end > chunk_start) {
      new_start = prefix_end;
      new_hash = prefix_hash;
    } else if (last.position < prefix_end) {
      new_start = last.position + 1;
      new_hash = last.chain_hash;
    }
    if (new_start > chunk_start) {
      batch.DeleteRange(log_, store::PositionKey(chunk_start), store::PositionKey(new_start));
      std::string v;
      store::PutLittleEndian(new_start, 8, &v);
      batch.Put(meta_, store::kMetaLogStart, v);
      batch.Put(meta_, store::kMetaLogStartHash,
                rocksdb::Slice(reinterpret_cast<const char*>(new_hash.data()), 32));
    }
    if (Status s = FromRocks(db_->Write(wo, &batch), "removing events"); !s.ok()) return s;
    if (new_start > chunk_start) {
      head_.SetLogStart(new_start, new_hash);
      chunk_start = new_start;
    }
  }
  // A prefix made only of earlier runs' markers past this run's last removal.
  if (prefix_end > chunk_start) {
    rocksdb::WriteBatch batch;
    batch.DeleteRange(log_, store::PositionKey(chunk_start), store::PositionKey(prefix_end));
    std::string v;
    store::PutLittleEndian(prefix_end, 8, &v);
    batch.Put(meta_, store::kMetaLogStart, v);
    batch.Put(meta_, store::kMetaLogStartHash,
              rocksdb::Slice(reinterpret_cast<const char*>(prefix_hash.data()), 32));
    if (Status s = FromRocks(db_->Write(wo, &batch), "removing the start of the log"); !s.ok())
      return s;
    head_.SetLogStart(prefix_end, prefix_hash);
  }
  // Free the disk now rather than whenever compaction would get there: flush every family (so
  // the write-ahead log holding the removed values can go), then compact the removed range.
  if (Status s = FromRocks(db_->Flush(rocksdb::FlushOptions(), handles_), "flushing after removal");
      !s.ok())
    logger_->warn("retention could not flush: {}", s.ToString());
  const std::string lo = store::PositionKey(start);
  const std::string hi = store::PositionKey(removals.back().position + 1);
  rocksdb::Slice lo_slice(lo), hi_slice(hi);
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  if (Status s = FromRocks(db_->CompactRange(co, log_, &lo_slice, &hi_slice),
                           "compacting the removed range");
      !s.ok())
    logger_->warn("retention removed {} events but could not compact them yet: {}",
                  report.removed_events, s.ToString());
  logger_->info("retention removed {} events ({} bytes); the log starts at {}",
                report.removed_events, report.removed_bytes, prefix_end);
  return report;
}

}  // namespace cairn
