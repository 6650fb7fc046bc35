// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The sequencer (sequencer.h says what it owns and must not touch): the group-commit queue,
// then the leader's work in commit order (Deduplicate, CheckExpectedVersions, PrepareWriter
// with AddToBatch per event, WriteGroup), the recovery after a failed write, and the tail
// load that (re)starts sequencing after the log's last event.
#include "store/sequencer.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "codec/envelope.h"
#include "store/keys.h"
#include "store/rocks_status.h"

namespace cairn::store {

Result<std::vector<AppendResult>> Sequencer::Submit(std::vector<AppendView> views) {
  Writer w;
  w.views = std::move(views);
  internal::MutexLock lk(mu_);
  if (closed_) return Status::FailedPrecondition(fmt::format("store {} is closed", s_.path));
  queue_.push_back(&w);
  lk.Wait(w.cv, [&]() CAIRN_REQUIRES(mu_) { return w.done || queue_.front() == &w; });
  if (!w.done) {
    // This thread leads: commit everyone queued so far as one group.
    const std::size_t n = std::min(queue_.size(), s_.max_group_appends);
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

bool Sequencer::closed() const {
  internal::MutexLock lk(mu_);
  return closed_;
}

bool Sequencer::Close() {
  internal::MutexLock lk(mu_);
  if (closed_) return false;
  closed_ = true;
  // Appends already queued finish first; new ones see closed_.
  while (!queue_.empty()) {
    lk.Unlock();
    std::this_thread::yield();
    lk.Lock();
  }
  return true;
}

// After a failed write: asks RocksDB to resume and re-reads the head from disk (a failed
// fsync may still have written the WAL). A full disk is a "hard" error RocksDB recovers from
// by itself once there is room to flush its memtables: Resume() says Busy while that recovery
// waits, and OK once it is done (the memtables flushed, the write-ahead log that held the
// failed write retired). Any other write error is "fatal" to RocksDB: only a reopen, which
// replays the log, recovers (FaultTest, FullDiskTest). The error names the first failure and
// the remedy.
Status Sequencer::RecoverFromWriteError() {
  if (rocksdb::Status r = s_.db->Resume(); !r.ok()) {
    const Status original = s_.head->write_status();
    const std::string remedy =
        r.IsBusy() ? fmt::format(
                         "RocksDB resumes by itself once {} MiB are free on the "
                         "store's file system (room to flush its memtables; it "
                         "looks every 5 s)",
                         s_.write_buffer_bytes >> 20)
                   : std::string("fix the cause (the device), then reopen the store");
    std::string what = fmt::format("store {} cannot write since a write failed ({}); {}", s_.path,
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

// Reads the log's last event: the next position, the chain hash to extend and the timestamp
// the next group may not go below (timestamps never decrease along the log).
Status Sequencer::LoadTail() {
  std::unique_ptr<rocksdb::Iterator> it(s_.db->NewIterator(rocksdb::ReadOptions(), s_.log));
  it->SeekToLast();
  std::uint64_t last = 0;
  audit::Hash hash = hasher_.Genesis(s_.store_id);
  std::int64_t ts = 0;
  if (it->Valid()) {
    if (!DecodePositionKey(it->key().ToStringView(), &last))
      return Status::Corruption(
          fmt::format("store {}: malformed log key of {} bytes", s_.path, it->key().size()));
    codec::ChainLink e;
    std::string scratch;
    Status s = codec::DecodeChainLink(it->value().ToStringView(), &scratch, &e);
    if (!s.ok())
      return Status::Corruption(
          fmt::format("store {}: last event at position {}: {}", s_.path, last, s.message()));
    if (e.position != last)
      return Status::Corruption(fmt::format("store {}: event under position {} says position {}",
                                            s_.path, last, e.position));
    hash = e.chain_hash;
    ts = e.timestamp_us;
  } else if (!it->status().ok()) {
    return FromRocks(it->status(), "reading the log's last event");
  }
  next_position_ = last + 1;
  head_hash_ = hash;
  head_timestamp_us_ = ts;
  version_cache_.clear();
  s_.head->Publish(last, hash, ts);
  return Status::Ok();
}

void Sequencer::CommitGroup(const std::vector<Writer*>& group) {
  if (reload_head_) {
    if (Status s = RecoverFromWriteError(); !s.ok()) {
      for (Writer* w : group) w->status = s;
      return;
    }
  }
  batch_.Clear();
  pending_versions_.clear();
  pending_ids_.clear();
  group_timestamp_us_ = std::max(s_.now_us(), head_timestamp_us_);
  const std::uint64_t group_start = next_position_;
  const audit::Hash start_hash = head_hash_;

  std::vector<Writer*> writing;
  for (Writer* w : group) {
    const std::uint64_t before = next_position_;
    PrepareWriter(w);
    if (w->status.ok() && next_position_ != before) writing.push_back(w);
  }
  if (writing.empty()) return;

  WriteGroup(writing, group_start, start_hash);
}

// Writes the prepared batch; on success publishes the new head, on failure undoes the group's
// positions and chain and marks the head for a reload (the write's outcome is unknown).
void Sequencer::WriteGroup(const std::vector<Writer*>& writing, std::uint64_t group_start,
                           const audit::Hash& start_hash) {
  const bool reload_head_was_set = reload_head_;
  rocksdb::WriteOptions wo;
  wo.sync = s_.sync;
  rocksdb::Status rs = s_.db->Write(wo, &batch_);
  if (!rs.ok()) {
    Status s =
        FromRocks(rs, fmt::format("writing positions {}..{}", group_start, next_position_ - 1));
    s_.logger->error(
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
    s_.head->SetWriteError(s);
    return;
  }
  if (reload_head_was_set) s_.head->SetWriteError(Status::Ok());
  head_timestamp_us_ = group_timestamp_us_;
  s_.backlog->NoteCommitted(next_position_ - 1, batch_.GetDataSize());
  if (version_cache_.size() + pending_versions_.size() > s_.stream_cache_entries)
    version_cache_.clear();
  for (const auto& [stream, version] : pending_versions_) {
    auto it = version_cache_.find(stream);
    if (it != version_cache_.end())
      it->second = version;
    else
      version_cache_.emplace(std::string(stream), version);
  }
  s_.head->Publish(next_position_ - 1, head_hash_, head_timestamp_us_);
}

// Each stream's version now, checked against what its append expects.
Result<std::vector<std::uint64_t>> Sequencer::CheckExpectedVersions(const Writer& w) {
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
rocksdb::Status Sequencer::AddToBatch(const RecordedEvent& f) {
  char position_key[8];
  value_.clear();
  codec::EncodeEvent(f, &fbb_, &value_);
  PutBigEndian64(f.position, position_key);
  const rocksdb::Slice pos(position_key, 8);
  rocksdb::Status rs = batch_.Put(s_.log, pos, value_);
  key_.clear();
  AppendStreamKey(f.stream, f.version, &key_);
  if (rs.ok()) rs = batch_.Put(s_.streams, key_, pos);
  if (rs.ok()) {
    key_.clear();
    AppendTypeKey(f.type, f.position, &key_);
    rs = batch_.Put(s_.types, key_, rocksdb::Slice());
  }
  if (rs.ok() && f.id_from_caller)
    rs = batch_.Put(s_.ids, rocksdb::Slice(reinterpret_cast<const char*>(f.id.bytes().data()), 16),
                    pos);
  return rs;
}

void Sequencer::PrepareWriter(Writer* w) {
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

Result<std::uint64_t> Sequencer::StreamVersion(std::string_view stream) {
  if (auto it = pending_versions_.find(stream); it != pending_versions_.end()) return it->second;
  if (auto it = version_cache_.find(stream); it != version_cache_.end()) return it->second;
  auto loaded = CommittedStreamVersion(stream);
  if (loaded.ok()) {
    if (version_cache_.size() >= s_.stream_cache_entries) version_cache_.clear();
    version_cache_.emplace(std::string(stream), *loaded);
  }
  return loaded;
}

Result<std::uint64_t> Sequencer::CommittedStreamVersion(std::string_view stream) const {
  std::unique_ptr<rocksdb::Iterator> it(s_.db->NewIterator(rocksdb::ReadOptions(), s_.streams));
  it->SeekForPrev(StreamKey(stream, UINT64_MAX));
  if (!it->Valid()) {
    if (!it->status().ok()) return FromRocks(it->status(), "reading the stream index");
    return std::uint64_t{0};
  }
  std::string_view found;
  std::uint64_t version = 0;
  if (!DecodeStreamKey(it->key().ToStringView(), &found, &version) || it->value().size() != 8) {
    // Guessing "no events" here could re-issue version 1 of a live stream: refuse instead.
    return Status::Corruption(
        fmt::format("malformed stream index entry next to stream '{}' ({} byte key)", stream,
                    it->key().size()));
  }
  return found == stream ? version : 0;
}

Result<Sequencer::IdLocation> Sequencer::FindEventId(const EventId& id) {
  if (auto it = pending_ids_.find(id); it != pending_ids_.end()) return it->second;
  auto position = StoredPositionOf(id);
  if (!position.ok()) return position.status();
  IdLocation loc;
  loc.position = *position;
  return loc;
}

Result<std::uint64_t> Sequencer::StoredPositionOf(const EventId& id) const {
  std::string value;
  rocksdb::Status s =
      s_.db->Get(rocksdb::ReadOptions(), s_.ids,
                 rocksdb::Slice(reinterpret_cast<const char*>(id.bytes().data()), 16), &value);
  if (s.IsNotFound()) return std::uint64_t{0};
  if (!s.ok()) return FromRocks(s, "reading the event id index");
  if (value.size() != 8)
    return Status::Corruption(
        fmt::format("event id index entry for {} is {} bytes, not 8", id.ToString(), value.size()));
  return GetBigEndian64(value.data());
}

// A retry must be the same event, not a new one reusing an id.
bool SameEvent(const OwnedEvent& stored, std::string_view stream, const EventData& e) {
  return stored.stream == stream && stored.type == e.type && stored.payload == e.payload &&
         stored.metadata == e.metadata && stored.content_type == e.content_type &&
         stored.schema_version == e.schema_version;
}

Result<bool> Sequencer::Deduplicate(Writer* w) {
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
        auto stored = s_.read_event(loc->position);
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

}  // namespace cairn::store
