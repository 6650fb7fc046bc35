// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The sequencer (sequencer.h says what it owns and must not touch): the group-commit queue,
// then the leader's work in commit order (Deduplicate, CheckExpectedVersions, PrepareWriter
// with AddToBatch per event, WriteGroup), the recovery after a failed write, and the tail
// load that (re)starts sequencing after the log's last event.
#include "store/sequencer.h"

#include <algorithm>
#include <chrono>
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
  ++in_submit_;
  for (;;) {
    lk.Wait(*w.cv, [&]() CAIRN_REQUIRES(mu_) {
      return w.done || (!queue_.empty() && queue_.front() == &w) || SyncTurn(&w);
    });
    if (w.done) break;
    if (SyncTurn(&w)) {
      // w's group is written: w syncs it and whatever was written after it.
      SyncJob job = StartSync(lk, &w);
      if (job.run) {
        lk.Unlock();
        RunSync(&job);
        lk.Lock();
      }
      CompleteSync(job, &w);
    } else {
      // w is at the queue's front: it commits everyone queued so far as one group.
      LeadJob job = StartLead(lk, &w);
      lk.Unlock();
      job.written = CommitGroup(job.group);
      lk.Lock();
      CompleteLead(std::move(job), &w);
    }
  }
  lk.Unlock();
  if (!w.status.ok()) return w.status;
  return std::move(w.results);
}

Sequencer::SyncJob Sequencer::StartSync(internal::MutexLock& lk, Writer* w) {
  SyncJob job;
  job.covered = BeginSync(lk, w);
  job.run = wal_broken_.ok();
  if (!job.run)
    job.synced = rocksdb::Status::IOError("a later write to the same write-ahead log failed",
                                          wal_broken_.message());
  return job;
}

void Sequencer::RunSync(SyncJob* job) {
  const auto began = std::chrono::steady_clock::now();
  job->synced = s_.wal_sync_gate->Sync(s_.db);
  job->took = std::chrono::steady_clock::now() - began;
  s_.metrics->syncs.fetch_add(1, std::memory_order_relaxed);
  if (!job->synced.ok()) s_.metrics->sync_failures.fetch_add(1, std::memory_order_relaxed);
  s_.metrics->sync_seconds.Observe(std::chrono::duration<double>(job->took).count());
}

void Sequencer::CompleteSync(const SyncJob& job, Writer* w) {
  if (job.run) linger_ = std::min<std::chrono::steady_clock::duration>(job.took / 2, kMaxLinger);
  EndSync(job.covered, job.synced, w);
}

Sequencer::LeadJob Sequencer::StartLead(internal::MutexLock& lk, Writer* w) {
  LeadJob job;
  job.group = BeginLead(lk, w);
  s_.metrics->groups.fetch_add(1, std::memory_order_relaxed);
  s_.metrics->group_appends.Observe(static_cast<double>(job.group.size()));
  writing_ = true;
  return job;
}

void Sequencer::CompleteLead(LeadJob job, Writer* w) {
  writing_ = false;
  EndLead(job.group, std::move(job.written), w);
}

Status Sequencer::SubmitAsync(std::vector<StreamAppend> appends, AsyncCompletion done, bool block) {
  auto w = std::make_unique<Writer>();
  w->async = true;
  w->cv = &async_cv_;
  w->owned = std::move(appends);
  w->completion = std::move(done);
  for (const StreamAppend& a : w->owned) w->views.push_back({a.stream, a.expected, a.events});
  internal::MutexLock lk(mu_);
  const bool on_driver = OnDriverThread();
  for (;;) {
    if (closed_) return Status::FailedPrecondition(fmt::format("store {} is closed", s_.path));
    if (async_in_flight_ < s_.max_async_in_flight) break;
    if (!block || on_driver)
      return Status::ResourceExhausted(fmt::format(
          "{} asynchronous appends are in flight, the most StoreOptions::max_async_appends "
          "allows; nothing was stored{}",
          async_in_flight_, on_driver ? " (a completion callback is never made to wait)" : ""));
    lk.Wait(async_room_cv_, [&]() CAIRN_REQUIRES(mu_) {
      return closed_ || async_in_flight_ < s_.max_async_in_flight;
    });
  }
  if (!driver_.joinable()) driver_ = std::thread([this] { DriveAsync(); });
  ++async_in_flight_;
  ++in_submit_;
  queue_.push_back(w.release());
  if (queue_.size() == 1) async_cv_.notify_one();  // its turn to lead at once
  return Status::Ok();
}

namespace {
// The sequencer whose driver thread this is (DriveAsync), for calls that must not wait on it.
thread_local const Sequencer* driving = nullptr;
}  // namespace

bool Sequencer::OnDriverThread() const { return driving == this; }

void Sequencer::DriveAsync() {
  driving = this;
  internal::MutexLock lk(mu_);
  for (;;) {
    lk.Wait(async_cv_, [&]() CAIRN_REQUIRES(mu_) {
      return AsyncSyncTurn() != nullptr || AsyncLeadTurn() != nullptr || !async_done_.empty() ||
             (async_stop_ && async_in_flight_ == 0);
    });
    if (!async_done_.empty()) {
      // Completions in a batch, outside mu_, in the order the appends finished.
      std::deque<Writer*> done;
      done.swap(async_done_);
      lk.Unlock();
      for (Writer* w : done) {
        try {
          w->completion(std::move(w->status), std::move(w->results));
        } catch (const std::exception& e) {
          s_.logger->error("an append's completion callback threw (ignored): {}", e.what());
        } catch (...) {
          s_.logger->error("an append's completion callback threw (ignored)");
        }
        delete w;
      }
      lk.Lock();
      async_in_flight_ -= done.size();
      async_room_cv_.notify_all();
      continue;
    }
    if (Writer* w = AsyncSyncTurn()) {
      SyncJob job = StartSync(lk, w);
      if (job.run) {
        lk.Unlock();
        RunSync(&job);
        lk.Lock();
      }
      CompleteSync(job, w);
    } else if (Writer* w = AsyncLeadTurn()) {
      LeadJob job = StartLead(lk, w);
      lk.Unlock();
      job.written = CommitGroup(job.group);
      lk.Lock();
      CompleteLead(std::move(job), w);
    } else if (async_stop_ && async_in_flight_ == 0) {
      return;
    }
  }
}

void Sequencer::StopDriver() {
  std::thread driver;
  {
    internal::MutexLock lk(mu_);
    async_stop_ = true;
    async_cv_.notify_one();
    async_room_cv_.notify_all();
    driver = std::move(driver_);
  }
  if (driver.joinable()) driver.join();
}

Sequencer::~Sequencer() { StopDriver(); }

namespace {
std::uint64_t LastPosition(const std::vector<AppendResult>& results) {
  std::uint64_t last = 0;
  for (const AppendResult& r : results) last = std::max(last, r.last_position);
  return last;
}
}  // namespace

std::vector<Sequencer::Writer*> Sequencer::BeginLead(internal::MutexLock& lk, Writer* self) {
  // After a failed write or sync the leader recovers first, once no group is left waiting for
  // a sync (their outcome is part of what it reloads).
  for (;;) {
    if (!sync_failure_.ok()) {
      failed_sync_ = std::exchange(sync_failure_, Status::Ok());
      reload_head_ = true;
    }
    if (!reload_head_) break;
    lk.Wait(*self->cv, [&]() CAIRN_REQUIRES(mu_) { return unsynced_.empty() && !syncing_; });
    if (sync_failure_.ok()) break;  // else a sync failed while draining: take it over too
  }
  const std::size_t n = std::min(queue_.size(), s_.max_group_appends);
  return {queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n)};
}

void Sequencer::EndLead(const std::vector<Writer*>& group, std::optional<UnsyncedGroup> written,
                        Writer* self) {
  wal_broken_ = reload_head_ ? s_.head->write_status() : Status::Ok();
  recovery_due_ = reload_head_;
  WakeSyncer();  // a sync due may have waited for this write's outcome
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(group.size()));
  if (!queue_.empty()) queue_.front()->cv->notify_one();  // the next leader starts at once

  // In kSync an append whose results reach past the published (durable) head waits for the
  // sync that covers them: a written one for its own group's, an idempotent retry of an
  // event still unsynced for the latest group's (which is at or past that event).
  const std::uint64_t durable = s_.head->position();
  std::vector<Writer*> waiting;
  for (Writer* w : group) {
    if (s_.sync && w->status.ok() && LastPosition(w->results) > durable)
      waiting.push_back(w);
    else
      Finish(w, self);
  }
  if (waiting.empty()) return;
  if (!sync_failure_.ok() || (!written && unsynced_.empty())) {
    // A sync failed while this group was written: it chains onto what that sync lost.
    const Status failure = !sync_failure_.ok() ? sync_failure_
                                               : Status::Internal(
                                                     "an append's events are past the durable head "
                                                     "but no sync is due");
    for (Writer* w : waiting) {
      w->status = failure;
      w->results.clear();
      Finish(w, self);
    }
    return;
  }
  if (written) {
    written->writers = std::move(waiting);
    unsynced_.push_back(std::move(*written));
  } else {
    auto& latest = unsynced_.back().writers;
    latest.insert(latest.end(), waiting.begin(), waiting.end());
  }
  WakeSyncer();
}

std::size_t Sequencer::BeginSync(internal::MutexLock& lk, Writer* self) {
  // While more appends are on their way into the WAL (queued, or a group being written), wait
  // for them — at most half as long as the last sync took — so that this sync covers them too
  // instead of the next one. Without it, appenders fall into two alternating halves, each
  // waiting for its own sync. A lone appender finds the queue empty and syncs at once.
  const auto linger_until = std::chrono::steady_clock::now() + linger_;
  // The driver syncing does not wait for async appends queued behind it: it is the thread
  // that would write them.
  const auto everyone_written = [&]() CAIRN_REQUIRES(mu_) {
    if (self->async && !queue_.empty() && queue_.front()->async) return true;
    std::size_t written = 0;
    for (const UnsyncedGroup& g : unsynced_) written += g.writers.size();
    return !writing_ && queue_.empty() && written >= in_submit_;
  };
  while (!everyone_written()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= linger_until) break;
    lk.WaitFor(*self->cv, linger_until - now, everyone_written);
  }
  lk.Wait(*self->cv, [&]() CAIRN_REQUIRES(mu_) { return !writing_; });  // see SyncTurn
  syncing_ = true;
  return unsynced_.size();  // what was written before the sync began
}

void Sequencer::EndSync(std::size_t covered, const rocksdb::Status& rs, Writer* self) {
  syncing_ = false;
  if (!rs.ok()) {
    const Status failure = FromRocks(
        rs, fmt::format("syncing the write-ahead log for positions {}..{}",
                        unsynced_.front().first_position, unsynced_.back().last_position));
    s_.logger->error(
        "append failed (whether it is stored is known once the store writes again): {}",
        failure.ToString());
    // Every unsynced group fails: those written after the sync began chain onto these.
    for (UnsyncedGroup& g : unsynced_)
      for (Writer* w : g.writers) {
        w->status = failure;
        w->results.clear();
        Finish(w, self);
      }
    unsynced_.clear();
    if (wal_broken_.ok()) {  // else the leader whose write failed already recovers from that
      sync_failure_ = failure;
      s_.head->SetWriteError(failure);
    }
  } else {
    std::size_t bytes = 0;
    bool clears_write_error = false;
    UnsyncedGroup last;
    for (std::size_t i = 0; i < covered; ++i) {
      UnsyncedGroup& g = unsynced_.front();
      for (Writer* w : g.writers) Finish(w, self);
      bytes += g.bytes;
      clears_write_error = clears_write_error || g.clears_write_error;
      last = std::move(g);
      unsynced_.pop_front();
    }
    if (clears_write_error) s_.head->SetWriteError(Status::Ok());
    s_.backlog->NoteCommitted(last.last_position, bytes);
    s_.head->Publish(last.last_position, last.last_hash, last.timestamp_us);
  }
  WakeSyncer();  // the groups written during this sync
  if (unsynced_.empty() && !queue_.empty()) queue_.front()->cv->notify_one();  // may await this
}

bool Sequencer::closed() const {
  internal::MutexLock lk(mu_);
  return closed_;
}

bool Sequencer::Close() {
  {
    internal::MutexLock lk(mu_);
    if (closed_) return false;
    closed_ = true;
    async_room_cv_.notify_all();  // callers waiting for room: refused now
    // Appends already queued or syncing finish first; new ones see closed_.
    while (!queue_.empty() || !unsynced_.empty() || syncing_) {
      lk.Unlock();
      std::this_thread::yield();
      lk.Lock();
    }
  }
  StopDriver();  // after the completions of every async append
  return true;
}

// After a failed write: asks RocksDB to resume and re-reads the head from disk (a failed
// fsync may still have written the WAL). A full disk is a "hard" error RocksDB recovers from
// by itself once there is room to flush its memtables: Resume() says Busy while that recovery
// waits, and OK once it is done (the memtables flushed, the write-ahead log that held the
// failed write retired). Any other write error is "fatal" to RocksDB: only a reopen, which
// replays the log, recovers (FaultTest, FullDiskTest). The error names the first failure and
// the remedy.
//
// A failed sync of the write-ahead log (kSync) leaves its groups in the memtables, whose
// durability the WAL can no longer vouch for (after a failed fsync the kernel may have dropped
// the dirty pages). A full disk recovers by flushing the memtables into table files, which
// makes what readers are about to see durable; any other sync error is treated as RocksDB
// treats one on a synchronous write: fatal until a reopen.
Status Sequencer::RecoverFromWriteError() {
  if (!failed_sync_.ok()) {
    const std::string what = fmt::format("store {} cannot write since a sync failed ({})", s_.path,
                                         failed_sync_.message());
    if (!failed_sync_.IsRetryable())
      return Status(failed_sync_.code(),
                    what + "; fix the cause (the device), then reopen the store");
    rocksdb::FlushOptions fo;
    fo.wait = true;
    fo.allow_write_stall = true;
    std::vector<rocksdb::ColumnFamilyHandle*> families{s_.log, s_.streams, s_.ids};
    if (s_.types) families.push_back(s_.types);
    if (rocksdb::Status r = s_.db->Flush(fo, families); !r.ok())
      return Status::TransientIOError(
          fmt::format("{}; appends resume once the memtables can be flushed ({} MiB free on the "
                      "store's file system): {}",
                      what, s_.write_buffer_bytes >> 20, r.ToString()));
    failed_sync_ = Status::Ok();
  }
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
  codec::Hash hash = hasher_.Genesis(s_.store_id);
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

std::optional<Sequencer::UnsyncedGroup> Sequencer::CommitGroup(const std::vector<Writer*>& group) {
  const bool recovering = reload_head_;
  if (recovering) {
    if (Status s = RecoverFromWriteError(); !s.ok()) {
      for (Writer* w : group) w->status = s;
      return std::nullopt;
    }
  }
  batch_.Clear();
  batch_log_bytes_ = 0;
  pending_versions_.clear();
  pending_ids_.clear();
  group_timestamp_us_ = std::max(s_.now_us(), head_timestamp_us_);
  const std::uint64_t group_start = next_position_;
  const codec::Hash start_hash = head_hash_;

  std::vector<Writer*> writing;
  for (Writer* w : group) {
    const std::uint64_t before = next_position_;
    PrepareWriter(w);
    if (w->status.ok() && next_position_ != before) writing.push_back(w);
  }
  if (writing.empty()) return std::nullopt;

  return WriteGroup(writing, group_start, start_hash, recovering);
}

// Writes the prepared batch. On success: in kBuffered publishes the new head; in kSync returns
// the group for the sync stage, which publishes it once durable. On failure undoes the group's
// positions and chain and marks the head for a reload (the write's outcome is unknown).
std::optional<Sequencer::UnsyncedGroup> Sequencer::WriteGroup(const std::vector<Writer*>& writing,
                                                              std::uint64_t group_start,
                                                              const codec::Hash& start_hash,
                                                              bool recovering) {
  rocksdb::WriteOptions wo;
  wo.sync = false;  // kSync: the sync stage (BeginSync, EndSync) makes it durable
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
    return std::nullopt;
  }
  head_timestamp_us_ = group_timestamp_us_;
  if (version_cache_.size() + pending_versions_.size() > s_.stream_cache_entries)
    version_cache_.clear();
  for (const auto& [stream, version] : pending_versions_) {
    auto it = version_cache_.find(stream);
    if (it != version_cache_.end())
      it->second = version;
    else
      version_cache_.emplace(std::string(stream), version);
  }
  if (s_.sync) {
    UnsyncedGroup g;
    g.first_position = group_start;
    g.last_position = next_position_ - 1;
    g.last_hash = head_hash_;
    g.timestamp_us = head_timestamp_us_;
    g.bytes = batch_log_bytes_;
    g.clears_write_error = recovering;
    return g;
  }
  if (recovering) s_.head->SetWriteError(Status::Ok());
  s_.backlog->NoteCommitted(next_position_ - 1, batch_log_bytes_);
  s_.head->Publish(next_position_ - 1, head_hash_, head_timestamp_us_);
  return std::nullopt;
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

// One sequenced event's own entries: the log value and (for a caller's id) the id index. Its
// stream and type index entries are written per run (AddRunsToBatch).
rocksdb::Status Sequencer::AddToBatch(const RecordedEvent& f) {
  char position_key[8];
  value_.clear();
  codec::EncodeEvent(f, &fbb_, &value_);
  PutBigEndian64(f.position, position_key);
  const rocksdb::Slice pos(position_key, 8);
  rocksdb::Status rs = batch_.Put(s_.log, pos, value_);
  if (rs.ok()) batch_log_bytes_ += LogRecordBytes(pos.size(), value_.size());
  if (rs.ok() && f.id_from_caller)
    rs = batch_.Put(s_.ids, rocksdb::Slice(reinterpret_cast<const char*>(f.id.bytes().data()), 16),
                    pos);
  return rs;
}

// One stream's part of an append, sequenced at consecutive versions from `first_version` and
// positions from `first_position`: one stream index entry for all of it, and one type index
// entry per run of consecutive events of the same type (docs/format.md, "Index runs").
rocksdb::Status Sequencer::AddRunsToBatch(const AppendView& v, std::uint64_t first_version,
                                          std::uint64_t first_position) {
  key_.clear();
  AppendStreamKey(v.stream, first_version, &key_);
  value_.clear();
  AppendStreamRunValue(first_position, v.events.size(), &value_);
  rocksdb::Status rs = batch_.Put(s_.streams, key_, value_);
  if (s_.types == nullptr) return rs;
  for (std::size_t j = 0; rs.ok() && j < v.events.size();) {
    std::size_t end = j + 1;
    while (end < v.events.size() && v.events[end].type == v.events[j].type) ++end;
    key_.clear();
    AppendTypeKey(v.events[j].type, first_position + j, &key_);
    value_.clear();
    AppendTypeRunValue(end - j, &value_);
    rs = batch_.Put(s_.types, key_, value_);
    j = end;
  }
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
  const codec::Hash start_hash = head_hash_;
  const std::uint64_t start_log_bytes = batch_log_bytes_;
  batch_.SetSavePoint();
  // Leaves the batch, the position and the chain as they were before this writer.
  const auto undo = [&](const rocksdb::Status& rs) {
    w->status = FromRocks(rs, "building the write batch");
    (void)batch_.RollbackToSavePoint();
    next_position_ = start_position;
    head_hash_ = start_hash;
    batch_log_bytes_ = start_log_bytes;
    w->results.clear();
  };
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
      f.traceparent = e.traceparent;
      f.tracestate = e.tracestate;
      f.chain_hash = hasher_.Next(head_hash_, f);
      head_hash_ = f.chain_hash;
      if (rocksdb::Status rs = AddToBatch(f); !rs.ok()) return undo(rs);
      if (f.id_from_caller)
        new_ids.emplace_back(f.id, IdLocation{f.position, f.version, v.stream, &e});
    }
    if (rocksdb::Status rs = AddRunsToBatch(v, r.first_version, r.first_position); !rs.ok())
      return undo(rs);
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
  // Everything written, synced or not: this group comes after all of it.
  auto loaded = StreamVersionThrough(stream, UINT64_MAX);
  if (loaded.ok()) {
    if (version_cache_.size() >= s_.stream_cache_entries) version_cache_.clear();
    version_cache_.emplace(std::string(stream), *loaded);
  }
  return loaded;
}

Result<std::uint64_t> Sequencer::StreamVersionThrough(std::string_view stream,
                                                      std::uint64_t through) const {
  std::unique_ptr<rocksdb::Iterator> it(s_.db->NewIterator(rocksdb::ReadOptions(), s_.streams));
  for (it->SeekForPrev(StreamKey(stream, UINT64_MAX)); it->Valid(); it->Prev()) {
    std::string_view found;
    std::uint64_t first_version = 0, first_position = 0, count = 0;
    if (!DecodeStreamKey(it->key().ToStringView(), &found, &first_version) ||
        !DecodeStreamRunValue(it->value().ToStringView(), &first_position, &count)) {
      // Guessing "no events" here could re-issue version 1 of a live stream: refuse instead.
      return Status::Corruption(
          fmt::format("malformed stream index entry next to stream '{}' ({} byte key)", stream,
                      it->key().size()));
    }
    if (found != stream) return std::uint64_t{0};
    // Past `through`: written by a group whose sync is still under way (kSync). A run is
    // written by one group, so it is visible whole or not at all.
    if (first_position <= through) return first_version + count - 1;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the stream index");
  return std::uint64_t{0};
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

// A retry must be the same event, not a new one reusing an id. Trace context is not part of
// what makes it the same: a retry is new work in the caller's trace (a new span, often a new
// traceparent) appending the same event, and the stored event keeps the trace it came with.
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
