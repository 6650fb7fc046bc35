// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The sequencer: the only code that writes events into the log. Validation, the group-commit
// queue (the front writer leads and commits everyone queued behind it), idempotence by event
// id, expected-version checks, positions, versions, timestamps and chain hashes decided in
// commit order, and one RocksDB WriteBatch per group (log values, stream/type/id index
// entries). After the write it publishes the new head (head.h) for readers, subscriptions
// and the shipper. Lock order: mu_ (the queue) before the head's lock; the leader's
// fields ("leader only" in store_impl.h) are touched by the leader alone, without mu_.
// Retention (lifecycle.cc) writes removed-event markers outside this queue under
// retention_mu_; docs/architecture.md says why that is safe.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "codec/envelope.h"
#include "store/keys.h"
#include "store/store_impl.h"
#include "store/wal_scan.h"
#include "util/logging.h"

namespace cairn {

Status Store::Impl::Validate(const std::vector<AppendView>& views) const {
  if (views.empty()) return Status::InvalidArgument("append has no streams");
  std::size_t total = 0;
  std::unordered_set<std::string_view> streams;
  std::unordered_set<EventId, EventIdHash> ids;
  for (const auto& v : views) {
    if (Status s = store::CheckName("stream id", v.stream, options_.max_stream_id_bytes); !s.ok())
      return s;
    if (!streams.insert(v.stream).second)
      return Status::InvalidArgument(
          fmt::format("stream '{}' appears more than once in one append", v.stream));
    if (v.events.empty())
      return Status::InvalidArgument(fmt::format("append to stream '{}' has no events", v.stream));
    total += v.events.size();
    if (total > options_.max_events_per_append)
      return Status::InvalidArgument(
          fmt::format("append has more than {} events (StoreOptions::max_events_per_append)",
                      options_.max_events_per_append));
    for (std::size_t i = 0; i < v.events.size(); ++i) {
      const EventData& e = v.events[i];
      auto where = [&] { return fmt::format("event {} for stream '{}'", i, v.stream); };
      if (Status s = store::CheckName("event type", e.type, options_.max_type_bytes); !s.ok())
        return Status::InvalidArgument(fmt::format("{}: {}", where(), s.message()));
      if (e.content_type.size() > options_.max_content_type_bytes)
        return Status::InvalidArgument(
            fmt::format("{}: content type is {} bytes, over the limit of {}", where(),
                        e.content_type.size(), options_.max_content_type_bytes));
      if (store::FindControlByte(e.content_type) != std::string_view::npos)
        return Status::InvalidArgument(
            fmt::format("{}: content type has a control character", where()));
      if (e.payload.size() > options_.max_payload_bytes)
        return Status::InvalidArgument(fmt::format(
            "{}: payload is {} bytes, over the limit of {} (StoreOptions::max_payload_bytes)",
            where(), e.payload.size(), options_.max_payload_bytes));
      if (e.metadata.size() > options_.max_metadata_bytes)
        return Status::InvalidArgument(fmt::format(
            "{}: metadata is {} bytes, over the limit of {} (StoreOptions::max_metadata_bytes)",
            where(), e.metadata.size(), options_.max_metadata_bytes));
      if (e.schema_version == 0)
        return Status::InvalidArgument(
            fmt::format("{}: schema version 0 (schema versions start at 1)", where()));
      if (e.id) {
        if (e.id->is_nil())
          return Status::InvalidArgument(
              fmt::format("{}: the nil UUID is not an event id", where()));
        if (!ids.insert(*e.id).second)
          return Status::InvalidArgument(fmt::format(
              "{}: event id {} appears more than once in one append", where(), e.id->ToString()));
      }
    }
  }
  return Status::Ok();
}

Result<AppendResult> Store::Impl::AppendOne(std::string_view stream, ExpectedVersion expected,
                                            std::span<const EventData> events) {
  std::vector<AppendView> views;
  views.push_back(AppendView{stream, expected, events});
  auto r = Submit(std::move(views));
  if (!r.ok()) return r.status();
  return r.value().front();
}

Result<std::vector<AppendResult>> Store::Impl::Append(std::span<const StreamAppend> appends) {
  std::vector<AppendView> views;
  views.reserve(appends.size());
  for (const auto& a : appends) views.push_back(AppendView{a.stream, a.expected, a.events});
  return Submit(std::move(views));
}

Result<std::vector<AppendResult>> Store::Impl::Submit(std::vector<AppendView> views) {
  if (options_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  if (Status s = Validate(views); !s.ok()) return s;
  if (backlog_.enabled()) {
    std::uint64_t events = 0, bytes = 0;
    for (const AppendView& v : views) {
      events += v.events.size();
      for (const EventData& e : v.events)
        bytes += e.payload.size() + e.metadata.size() + e.type.size() + e.content_type.size() +
                 v.stream.size();
    }
    if (Status s = backlog_.AwaitRoom(events, bytes); !s.ok()) return s;
  }

  Writer w;
  w.views = std::move(views);
  internal::MutexLock lk(mu_);
  if (closed_) return Status::FailedPrecondition(fmt::format("store {} is closed", path_));
  queue_.push_back(&w);
  lk.Wait(w.cv, [&]() CAIRN_REQUIRES(mu_) { return w.done || queue_.front() == &w; });
  if (!w.done) {
    // This thread leads: commit everyone queued so far as one group.
    const std::size_t n =
        std::min(queue_.size(), std::max<std::size_t>(1, options_.max_group_appends));
    std::vector<Writer*> group(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    lk.Unlock();
    CommitGroup(group);
    lk.Lock();
    for (std::size_t i = 0; i < n; ++i) {
      Writer* done = queue_.front();
      queue_.pop_front();
      done->done = true;
      if (done != &w) done->cv.notify_one();
    }
    if (!queue_.empty()) queue_.front()->cv.notify_one();
  }
  lk.Unlock();
  if (!w.status.ok()) return w.status;
  return std::move(w.results);
}

// After a failed write: asks RocksDB to resume and re-reads the head from disk (a failed
// fsync may still have written the WAL). A full disk is a "hard" error RocksDB recovers from
// by itself once there is room to flush its memtables: Resume() says Busy while that recovery
// waits, and OK once it is done (the memtables flushed, the write-ahead log that held the
// failed write retired). Any other write error is "fatal" to RocksDB: only a reopen, which
// replays the log, recovers (FaultTest, FullDiskTest). The error names the first failure and
// the remedy.
Status Store::Impl::RecoverFromWriteError() {
  if (rocksdb::Status r = db_->Resume(); !r.ok()) {
    const Status original = head_.write_status();
    const std::string remedy =
        r.IsBusy() ? fmt::format(
                         "RocksDB resumes by itself once {} MiB are free on the "
                         "store's file system (room to flush its memtables; it "
                         "looks every 5 s)",
                         cf_options_.write_buffer_size >> 20)
                   : std::string("fix the cause (the device), then reopen the store");
    std::string what = fmt::format("store {} cannot write since a write failed ({}); {}", path_,
                                   original.message(), remedy);
    const StatusCode code =
        original.code() == StatusCode::kOk ? StatusCode::kIOError : original.code();
    return code == StatusCode::kIOError && (r.IsBusy() || original.IsRetryable())
               ? Status::TransientIOError(std::move(what))
               : Status(code, std::move(what));
  }
  if (Status s = LoadTail(); !s.ok()) return s;
  reload_head_ = false;
  return Status::Ok();
}

void Store::Impl::CommitGroup(const std::vector<Writer*>& group) {
  const bool reload_head_was_set = reload_head_;
  if (reload_head_) {
    if (Status s = RecoverFromWriteError(); !s.ok()) {
      for (Writer* w : group) w->status = s;
      return;
    }
  }
  batch_.Clear();
  pending_versions_.clear();
  pending_ids_.clear();
  group_timestamp_us_ = std::max(NowUs(), head_timestamp_us_);
  const std::uint64_t group_start = next_position_;
  const audit::Hash start_hash = head_hash_;

  std::vector<Writer*> writing;
  for (Writer* w : group) {
    const std::uint64_t before = next_position_;
    PrepareWriter(w);
    if (w->status.ok() && next_position_ != before) writing.push_back(w);
  }
  if (writing.empty()) return;

  rocksdb::WriteOptions wo;
  wo.sync = options_.durability == Durability::kSync;
  rocksdb::Status rs = db_->Write(wo, &batch_);
  if (!rs.ok()) {
    Status s =
        FromRocks(rs, fmt::format("writing positions {}..{}", group_start, next_position_ - 1));
    logger_->error(
        "append failed (whether it is stored is known once the store writes "
        "again): {}",
        s.ToString());
    for (Writer* w : writing) {
      w->status = s;
      w->results.clear();
    }
    next_position_ = group_start;
    head_hash_ = start_hash;
    reload_head_ = true;
    head_.SetWriteError(s);
    return;
  }
  if (reload_head_was_set) head_.SetWriteError(Status::Ok());
  head_timestamp_us_ = group_timestamp_us_;
  backlog_.NoteCommitted(next_position_ - 1, batch_.GetDataSize());
  if (version_cache_.size() + pending_versions_.size() > options_.stream_cache_entries)
    version_cache_.clear();
  for (const auto& [stream, version] : pending_versions_) {
    auto it = version_cache_.find(stream);
    if (it != version_cache_.end())
      it->second = version;
    else
      version_cache_.emplace(std::string(stream), version);
  }
  head_.Publish(next_position_ - 1, head_hash_, head_timestamp_us_);
}

// Each stream's version now, checked against what its append expects.
Result<std::vector<std::uint64_t>> Store::Impl::CheckExpectedVersions(const Writer& w) {
  std::vector<std::uint64_t> actual(w.views.size());
  for (std::size_t i = 0; i < w.views.size(); ++i) {
    const AppendView& v = w.views[i];
    auto version = StreamVersion(v.stream);
    if (!version.ok()) return version.status();
    if (!v.expected.Matches(*version))
      return Status::WrongExpectedVersion(v.stream, v.expected.ToString(), *version);
    actual[i] = *version;
  }
  return actual;
}

// One sequenced event's entries: the log, the stream index, the type index and (for a
// caller's id) the id index.
rocksdb::Status Store::Impl::AddToBatch(const RecordedEvent& f) {
  char position_key[8];
  value_.clear();
  codec::EncodeEvent(f, &fbb_, &value_);
  store::PutBigEndian64(f.position, position_key);
  const rocksdb::Slice pos(position_key, 8);
  rocksdb::Status rs = batch_.Put(log_, pos, value_);
  key_.clear();
  store::AppendStreamKey(f.stream, f.version, &key_);
  if (rs.ok()) rs = batch_.Put(streams_, key_, pos);
  if (rs.ok()) {
    key_.clear();
    store::AppendTypeKey(f.type, f.position, &key_);
    rs = batch_.Put(types_, key_, rocksdb::Slice());
  }
  if (rs.ok() && f.id_from_caller)
    rs = batch_.Put(ids_, rocksdb::Slice(reinterpret_cast<const char*>(f.id.bytes().data()), 16),
                    pos);
  return rs;
}

void Store::Impl::PrepareWriter(Writer* w) {
  auto dedup = Deduplicate(w);
  if (!dedup.ok()) {
    w->status = dedup.status();
    return;
  }
  if (*dedup) return;
  auto actual = CheckExpectedVersions(*w);
  if (!actual.ok()) {
    w->status = actual.status();
    return;
  }

  const std::uint64_t start_position = next_position_;
  const audit::Hash start_hash = head_hash_;
  batch_.SetSavePoint();
  w->results.reserve(w->views.size());
  std::vector<std::pair<EventId, IdLocation>> new_ids;
  for (std::size_t i = 0; i < w->views.size(); ++i) {
    const AppendView& v = w->views[i];
    AppendResult r;
    r.first_position = next_position_;
    r.first_version = (*actual)[i] + 1;
    for (std::size_t j = 0; j < v.events.size(); ++j) {
      const EventData& e = v.events[j];
      RecordedEvent f;
      f.id = e.id ? *e.id : EventId::Generate();
      f.id_from_caller = e.id.has_value();
      f.stream = v.stream;
      f.version = (*actual)[i] + 1 + j;
      f.position = next_position_++;
      f.type = e.type;
      f.timestamp_us = group_timestamp_us_;
      f.content_type = e.content_type;
      f.metadata = e.metadata;
      f.payload = e.payload;
      f.schema_version = e.schema_version;
      f.chain_hash = hasher_.Next(head_hash_, f);
      head_hash_ = f.chain_hash;
      if (rocksdb::Status rs = AddToBatch(f); !rs.ok()) {
        // Leaves the batch, the position and the chain as they were before this writer.
        w->status = FromRocks(rs, "building the write batch");
        (void)batch_.RollbackToSavePoint();
        next_position_ = start_position;
        head_hash_ = start_hash;
        w->results.clear();
        return;
      }
      if (f.id_from_caller)
        new_ids.emplace_back(f.id, IdLocation{f.position, f.version, v.stream, &e});
    }
    r.last_position = next_position_ - 1;
    r.last_version = (*actual)[i] + v.events.size();
    w->results.push_back(r);
  }
  for (std::size_t i = 0; i < w->views.size(); ++i)
    pending_versions_[w->views[i].stream] = w->results[i].last_version;
  for (auto& [id, loc] : new_ids) pending_ids_[id] = loc;
}

Result<std::uint64_t> Store::Impl::StreamVersion(std::string_view stream) {
  if (auto it = pending_versions_.find(stream); it != pending_versions_.end()) return it->second;
  if (auto it = version_cache_.find(stream); it != version_cache_.end()) return it->second;
  auto loaded = LoadStreamVersion(stream);
  if (loaded.ok()) {
    if (version_cache_.size() >= options_.stream_cache_entries) version_cache_.clear();
    version_cache_.emplace(std::string(stream), *loaded);
  }
  return loaded;
}

Result<std::uint64_t> Store::Impl::LoadStreamVersion(std::string_view stream) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), streams_));
  it->SeekForPrev(store::StreamKey(stream, UINT64_MAX));
  if (!it->Valid()) {
    if (!it->status().ok()) return FromRocks(it->status(), "reading the stream index");
    return std::uint64_t{0};
  }
  std::string_view found;
  std::uint64_t version = 0;
  if (!store::DecodeStreamKey(it->key().ToStringView(), &found, &version) ||
      it->value().size() != 8) {
    // Guessing "no events" here could re-issue version 1 of a live stream: refuse instead.
    return Status::Corruption(
        fmt::format("malformed stream index entry next to stream '{}' ({} byte key)", stream,
                    it->key().size()));
  }
  return found == stream ? version : 0;
}

Result<Store::Impl::IdLocation> Store::Impl::FindEventId(const EventId& id) {
  if (auto it = pending_ids_.find(id); it != pending_ids_.end()) return it->second;
  return FindStoredEventId(id);
}

Result<Store::Impl::IdLocation> Store::Impl::FindStoredEventId(const EventId& id) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), ids_,
               rocksdb::Slice(reinterpret_cast<const char*>(id.bytes().data()), 16), &value);
  if (s.IsNotFound()) return IdLocation{};
  if (!s.ok()) return FromRocks(s, "reading the event id index");
  if (value.size() != 8)
    return Status::Corruption(
        fmt::format("event id index entry for {} is {} bytes, not 8", id.ToString(), value.size()));
  IdLocation loc;
  loc.position = store::GetBigEndian64(value.data());
  return loc;
}

// A retry must be the same event, not a new one reusing an id.
bool Store::Impl::SameEvent(const OwnedEvent& stored, std::string_view stream, const EventData& e) {
  return stored.stream == stream && stored.type == e.type && stored.payload == e.payload &&
         stored.metadata == e.metadata && stored.content_type == e.content_type &&
         stored.schema_version == e.schema_version;
}

Status Store::Impl::CheckAppend(std::span<const StreamAppend> appends) {
  std::vector<AppendView> views;
  views.reserve(appends.size());
  for (const auto& a : appends) views.push_back(AppendView{a.stream, a.expected, a.events});
  if (Status s = Validate(views); !s.ok()) return s;
  for (const AppendView& v : views) {
    for (const EventData& e : v.events) {
      if (!e.id) continue;
      // The committed id index only: pending_ids_ belongs to the group-commit leader.
      auto loc = FindStoredEventId(*e.id);
      if (!loc.ok()) return loc.status();
      if (loc->position == 0) continue;
      const std::uint64_t position = loc->position;
      auto stored = ReadEvent(position, /*upcast=*/false);
      if (!stored.ok()) return stored.status();
      if (!SameEvent(*stored, v.stream, e))
        return Status::AlreadyExists(fmt::format(
            "event id {} is already stored at position {} in stream '{}' with different content",
            e.id->ToString(), position, stored->stream));
    }
  }
  return Status::Ok();
}

Result<bool> Store::Impl::Deduplicate(Writer* w) {
  bool any_id = false;
  for (const AppendView& v : w->views)
    for (const EventData& e : v.events) any_id = any_id || e.id.has_value();
  if (!any_id) return false;  // the common case costs one pass over the events, no lookups
  std::size_t total = 0;
  std::size_t found = 0;
  const EventId* first_missing = nullptr;
  const EventId* first_found = nullptr;
  std::vector<std::vector<std::pair<std::uint64_t, std::uint64_t>>> located(w->views.size());
  for (std::size_t i = 0; i < w->views.size(); ++i) {
    const AppendView& v = w->views[i];
    for (const EventData& e : v.events) {
      ++total;
      if (!e.id) continue;
      auto loc = FindEventId(*e.id);
      if (!loc.ok()) return loc.status();
      if (loc->position == 0) {
        if (first_missing == nullptr) first_missing = &*e.id;
        continue;
      }
      // Compare content: the retry must be the same event, not a new one reusing an id.
      bool same = false;
      std::string where;
      if (loc->pending != nullptr) {
        const EventData& p = *loc->pending;
        same = loc->stream == v.stream && p.type == e.type && p.payload == e.payload &&
               p.metadata == e.metadata && p.content_type == e.content_type &&
               p.schema_version == e.schema_version;
        where = fmt::format("pending in stream '{}'", loc->stream);
      } else {
        auto stored = ReadEvent(loc->position, /*upcast=*/false);
        if (!stored.ok()) return stored.status();
        same = SameEvent(*stored, v.stream, e);
        loc->version = stored->version;
        where = fmt::format("stored at position {} in stream '{}'", loc->position, stored->stream);
      }
      if (!same)
        return Status::AlreadyExists(fmt::format("event id {} is already {} with different content",
                                                 e.id->ToString(), where));
      ++found;
      if (first_found == nullptr) first_found = &*e.id;
      located[i].emplace_back(loc->position, loc->version);
    }
  }
  if (found == 0) return false;
  if (found != total)
    return Status::AlreadyExists(fmt::format(
        "append partly repeats an earlier one: event id {} is already stored but {} is not; "
        "retry the original append unchanged",
        first_found->ToString(),
        first_missing != nullptr ? "event id " + first_missing->ToString()
                                 : std::string("an event without an id")));
  w->results.clear();
  for (const auto& loc : located) {
    AppendResult r;
    r.first_position = loc.front().first;
    r.first_version = loc.front().second;
    r.last_position = loc.back().first;
    r.last_version = loc.back().second;
    r.deduplicated = true;
    w->results.push_back(r);
  }
  return true;
}

}  // namespace cairn
