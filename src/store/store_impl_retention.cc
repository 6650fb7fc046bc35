// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `Store::ApplyRetention` (docs/lifecycle.md): removes what a RetentionPolicy and the streams'
// metadata allow, in named phases (Store::Impl::Retention below):
//   LoadLimits     what shipping, dead letters and stream metadata allow;
//   Plan           one scan of the log under a snapshot deciding each event (Decide);
//   Summarize      the report's per-stream lines;
//   WriteRemovals  atomic chunks: range deletes at the start of the log, markers further on;
//   FreeDisk       a flush and a compaction of the removed range.
//
// Retention is the only writer of the log besides the sequencer. It does not go through the
// group-commit queue, and need not: it never assigns a position, a version or a chain link —
// it only replaces the values of positions below the head (positions the sequencer will
// never write again) and deletes their index entries, and it never touches the newest event,
// which the sequencer's tail rests on. Each chunk is one atomic WriteBatch, so a reader sees an
// event or its marker, never half of either; a stream's highest removed version keeps a
// marker entry so StreamVersion (the sequencer's version check) is unchanged. retention_mu_
// runs one retention at a time. docs/architecture.md states the same rule.
#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <rocksdb/iterator.h>

#include "codec/envelope.h"
#include "store/keys.h"
#include "store/scoped_snapshot.h"
#include "store/store_impl.h"
#include "store/stream_metadata.h"
#include "util/saturating.h"
#include "util/string_hash.h"

namespace cairn {
namespace {
// Whether `n` falls outside the newest `keep` numbers ending at `newest` (n + keep <= newest,
// without the sum: a max_events or max_count of 2^64-1 means "keep all", not a wrap to few).
bool OutsideNewest(std::uint64_t n, std::uint64_t keep, std::uint64_t newest) {
  return newest >= n && newest - n >= keep;
}
}  // namespace

class Store::Impl::Retention {
 public:
  Retention(Impl* store, const RetentionPolicy& policy)
      : store_(*store),
        policy_(policy),
        head_(store->CommittedPosition()),
        start_(store->head_.log_start()),
        now_us_(store->NowUs()),
        prefix_end_(start_) {
    report_.dry_run = policy.dry_run;
    report_.log_start_before = report_.log_start_after = start_;
  }

  Result<RetentionReport> Run() {
    if (head_ < 2) return std::move(report_);
    if (Status s = LoadLimits(); !s.ok()) return s;
    if (Status s = Plan(); !s.ok()) return s;
    Summarize();
    if (policy_.dry_run) return std::move(report_);
    if (removals_.empty()) {
      // Only earlier runs' markers at the start: they go with the next run that removes events.
      report_.log_start_after = start_;
      return std::move(report_);
    }
    if (Status s = WriteRemovals(); !s.ok()) return s;
    FreeDisk();
    return std::move(report_);
  }

 private:
  struct StreamState {
    bool blocked = false;            // an event of the stream stays: later ones stay too
    std::uint64_t last_version = 0;  // for max_count, loaded on demand
    std::uint64_t removed = 0;
    std::uint64_t first_removed = 0;
    std::uint64_t last_removed = 0;
    std::uint64_t first_kept = 0;
  };
  struct Removal {
    std::uint64_t position;
    std::string stream;
    std::uint64_t version;
    std::string type;
    std::optional<EventId> caller_id;
    std::int64_t timestamp_us;
    codec::Hash chain_hash;
  };
  enum class Verdict {
    kNoRule,
    kKeptUnshipped,
    kKeptTooYoung,
    kKeptDeadLetter,
    kKeptStreamOrder,
    kRemove
  };

  bool OlderThan(std::int64_t timestamp_us, std::chrono::seconds age) const {
    return timestamp_us < internal::CutoffBefore(now_us_, age);
  }

  // What shipping allows (every listed checkpoint must have passed), the dead letters' events
  // (kept for their retry) and every stream's metadata (few, by nature: loaded all at once).
  Status LoadLimits() {
    shipped_ = head_;
    for (const std::string& name : policy_.shipped_checkpoints) {
      auto c = store_.side_records_->LoadCheckpoint(name);
      if (!c.ok()) return c.status();
      shipped_ = std::min(shipped_, *c);
    }
    auto dead = store_.side_records_->ListDeadLetters(0, SIZE_MAX);
    if (!dead.ok()) return dead.status();
    for (const DeadLetter& d : *dead) dead_positions_.insert(d.position);
    std::unique_ptr<rocksdb::Iterator> it(
        store_.database_->db()->NewIterator(rocksdb::ReadOptions(), store_.database_->meta()));
    const std::string_view prefix = store::kMetaStreamPrefix;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      const std::string stream(it->key().ToStringView().substr(prefix.size()));
      auto m = store::DecodeStreamMetadata(stream, it->value().ToStringView());
      if (!m.ok()) return m.status();
      metadata_.emplace(stream, *m);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading stream metadata");
    return Status::Ok();
  }

  // Whether a rule allows `e` to go: the policy's, or its stream's metadata.
  Result<bool> Allowed(const RecordedEvent& e, StreamState& st) {
    if ((policy_.max_age && OlderThan(e.timestamp_us, *policy_.max_age)) ||
        (policy_.max_events && OutsideNewest(e.position, *policy_.max_events, head_)))
      return true;
    auto m = metadata_.find(e.stream);
    if (m == metadata_.end()) return false;
    const StreamMetadata& md = m->second;
    if (e.version < md.truncate_before || (md.max_age && OlderThan(e.timestamp_us, *md.max_age)))
      return true;
    if (!md.max_count) return false;
    if (st.last_version == 0) {
      auto v = store_.sequencer_->CommittedStreamVersion(e.stream);
      if (!v.ok()) return v.status();
      st.last_version = *v;
    }
    return OutsideNewest(e.version, *md.max_count, st.last_version);
  }

  Result<Verdict> Decide(const RecordedEvent& e, StreamState& st) {
    auto allowed = Allowed(e, st);
    if (!allowed.ok()) return allowed.status();
    if (!*allowed) return Verdict::kNoRule;
    if (e.position > shipped_) return Verdict::kKeptUnshipped;
    if (!OlderThan(e.timestamp_us, policy_.min_audit_age)) return Verdict::kKeptTooYoung;
    if (dead_positions_.count(e.position)) return Verdict::kKeptDeadLetter;
    if (st.blocked) return Verdict::kKeptStreamOrder;
    return Verdict::kRemove;
  }

  void Count(Verdict v) {
    switch (v) {
      case Verdict::kKeptUnshipped:
        ++report_.kept_unshipped;
        break;
      case Verdict::kKeptTooYoung:
        ++report_.kept_too_young;
        break;
      case Verdict::kKeptDeadLetter:
        ++report_.kept_dead_letter;
        break;
      case Verdict::kKeptStreamOrder:
        ++report_.kept_stream_order;
        break;
      case Verdict::kNoRule:
      case Verdict::kRemove:
        break;
    }
  }

  // The scan: decides every event below the head (the newest event always stays: it anchors
  // the head when the store reopens) and grows the removed prefix while it is unbroken.
  Status Plan() {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    ro.readahead_size = 2 << 20;
    // Read-only handles do not change under the scan (and secondaries have no snapshots). The
    // snapshot is released before writing: a live one would keep every removed value through
    // the compaction.
    Status status;
    {
      store::ScopedSnapshot snapshot(store_.database_->db(), !store_.options_.read_only);
      ro.snapshot = snapshot.get();
      status = ScanLog(ro);
    }
    report_.log_start_after = prefix_end_;
    return status;
  }

  Status ScanLog(const rocksdb::ReadOptions& ro) {
    std::unique_ptr<rocksdb::Iterator> it(
        store_.database_->db()->NewIterator(ro, store_.database_->log()));
    std::string scratch;
    for (it->Seek(store::PositionKey(start_)); it->Valid(); it->Next()) {
      std::uint64_t position = 0;
      if (!store::DecodePositionKey(it->key().ToStringView(), &position))
        return Status::Corruption("malformed log key");
      if (position >= head_) break;
      const std::string_view value = it->value().ToStringView();
      if (codec::IsRemovedValue(value)) {
        codec::RemovedEvent r;
        if (Status s = codec::DecodeRemoved(value, &r); !s.ok())
          return Status::Corruption(fmt::format("position {}: {}", position, s.message()));
        ExtendPrefix(position, r.chain_hash);
        continue;
      }
      RecordedEvent e;
      if (Status s = codec::DecodeEvent(value, &scratch, &e); !s.ok())
        return Status::Corruption(fmt::format("position {}: {}", position, s.message()));
      ++report_.examined;
      if (policy_.progress && (report_.examined & 0xffff) == 0)
        policy_.progress(position - start_, head_ - start_);
      StreamState& st = streams_.try_emplace(std::string(e.stream)).first->second;
      auto verdict = Decide(e, st);
      if (!verdict.ok()) return verdict.status();
      if (*verdict != Verdict::kRemove) {
        Count(*verdict);
        if (!st.blocked) st.first_kept = e.version;
        st.blocked = true;
        prefix_open_ = false;
        // Timestamps never decrease: past the audit window nothing more can go.
        if (!OlderThan(e.timestamp_us, policy_.min_audit_age)) break;
        continue;
      }
      if (st.removed++ == 0) st.first_removed = e.version;
      st.last_removed = e.version;
      ++report_.removed_events;
      report_.removed_bytes += it->key().size() + value.size();
      ExtendPrefix(position, e.chain_hash);
      if (!policy_.dry_run)
        removals_.push_back({position, std::string(e.stream), e.version, std::string(e.type),
                             e.id_from_caller ? std::optional<EventId>(e.id) : std::nullopt,
                             e.timestamp_us, e.chain_hash});
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading the log");
    return Status::Ok();
  }

  void ExtendPrefix(std::uint64_t position, const codec::Hash& hash) {
    if (!prefix_open_) return;
    prefix_end_ = position + 1;
    prefix_hash_ = hash;
  }

  // The 100 streams that lost the most events.
  void Summarize() {
    for (auto& [stream, st] : streams_) {
      if (st.removed == 0) continue;
      report_.streams.push_back(
          {stream, st.removed, st.blocked ? st.first_kept : st.last_removed + 1});
    }
    std::sort(report_.streams.begin(), report_.streams.end(),
              [](const auto& a, const auto& b) { return a.events > b.events; });
    if (report_.streams.size() > 100) report_.streams.resize(100);
  }

  // One removal's entries: a marker in place of the event (past the removed prefix, which
  // goes by range delete), its index entries gone, except that each stream's highest removed
  // version keeps a marker entry so the stream's version survives.
  void AddRemoval(const Removal& r, rocksdb::WriteBatch* batch) {
    const StreamState& st = streams_.find(r.stream)->second;
    if (r.position >= prefix_end_) {
      codec::RemovedEvent m{r.position, r.version, r.timestamp_us, r.chain_hash, r.stream};
      value_.clear();
      codec::EncodeRemoved(m, &value_);
      batch->Put(store_.database_->log(), store::PositionKey(r.position), value_);
    }
    // (The index runs holding it were cut by CutIndexRuns, earlier in the same batch.)
    if (r.version == st.last_removed)
      batch->Put(store_.database_->streams(), store::StreamKey(r.stream, r.version),
                 store::PositionKey(store::kRemovedPosition));
    // The marker of an earlier run sat just below this run's first removed version.
    if (r.version == st.first_removed && r.version > 1)
      batch->Delete(store_.database_->streams(), store::StreamKey(r.stream, r.version - 1));
    if (r.caller_id)
      batch->Delete(store_.database_->ids(),
                    rocksdb::Slice(reinterpret_cast<const char*>(r.caller_id->bytes().data()), 16));
  }

  // One index run (docs/format.md, "Index runs") some of whose events a chunk removes.
  struct RunCut {
    std::string key;      // the run's key as stored
    std::uint64_t first;  // its first version (stream index) or position (type index)
    std::uint64_t count;
    std::uint64_t first_position;        // stream index: the position of its first version
    std::vector<std::uint64_t> removed;  // versions or positions, ascending
  };

  // Cuts the removed events of removals_[begin, end) out of the stream and type index runs
  // holding them: each run is deleted and what it keeps is written back as runs of its own
  // (retention removes a prefix of each stream, so that is at most one). Reads the index as
  // the chunks before this one left it.
  Status CutIndexRuns(std::size_t begin, std::size_t end, rocksdb::WriteBatch* batch) {
    std::unique_ptr<rocksdb::Iterator> streams(
        store_.database_->db()->NewIterator(rocksdb::ReadOptions(), store_.database_->streams()));
    std::unique_ptr<rocksdb::Iterator> types;
    if (store_.database_->types())
      types.reset(
          store_.database_->db()->NewIterator(rocksdb::ReadOptions(), store_.database_->types()));
    std::unordered_map<std::string, RunCut> stream_runs, type_runs;
    for (std::size_t i = begin; i < end; ++i) {
      const Removal& r = removals_[i];
      if (Status s = NoteCut(streams.get(), true, r.stream, r.version, &stream_runs, batch);
          !s.ok())
        return s;
      if (!types) continue;
      if (Status s = NoteCut(types.get(), false, r.type, r.position, &type_runs, batch); !s.ok())
        return s;
    }
    for (auto& [stream, cut] : stream_runs) WriteKeptRuns(cut, true, batch);
    for (auto& [type, cut] : type_runs) WriteKeptRuns(cut, false, batch);
    return Status::Ok();
  }

  // Notes `at` — a version of stream `name` in the stream index, or a position of type `name`
  // in the type index (`it` walks that index) — as removed from the run holding it in `runs`.
  // The run is looked up when it is not the one noted last for `name`, whose cut is then
  // written. Nothing is noted when no run holds `at`.
  Status NoteCut(rocksdb::Iterator* it, bool stream_index, const std::string& name,
                 std::uint64_t at, std::unordered_map<std::string, RunCut>* runs,
                 rocksdb::WriteBatch* batch) {
    auto noted = runs->find(name);
    if (noted != runs->end() && at < noted->second.first + noted->second.count) {
      noted->second.removed.push_back(at);
      return Status::Ok();
    }
    if (noted != runs->end()) {
      WriteKeptRuns(noted->second, stream_index, batch);
      runs->erase(noted);
    }
    key_.clear();
    if (stream_index)
      store::AppendStreamKey(name, at, &key_);
    else
      store::AppendTypeKey(name, at, &key_);
    it->SeekForPrev(key_);
    std::string_view found;
    std::uint64_t first = 0, position = 0, count = 0;
    const bool decoded =
        it->Valid() &&
        (stream_index
             ? store::DecodeStreamKey(it->key().ToStringView(), &found, &first) &&
                   store::DecodeStreamRunValue(it->value().ToStringView(), &position, &count) &&
                   position != store::kRemovedPosition
             : store::DecodeTypeKey(it->key().ToStringView(), &found, &first) &&
                   store::DecodeTypeRunValue(it->value().ToStringView(), &count));
    if (decoded && found == name && at < first + count) {
      RunCut cut{it->key().ToString(), first, count, position, {at}};
      runs->emplace(name, std::move(cut));
    } else if (!it->status().ok()) {
      return FromRocks(it->status(),
                       stream_index ? "reading the stream index" : "reading the type index");
    }
    return Status::Ok();
  }

  // Deletes a cut run and writes back what it keeps, as runs of their own: the gaps between
  // its removed events.
  void WriteKeptRuns(const RunCut& cut, bool stream_index, rocksdb::WriteBatch* batch) {
    batch->Delete(stream_index ? store_.database_->streams() : store_.database_->types(), cut.key);
    const auto keep = [&](std::uint64_t from, std::uint64_t to) {  // [from, to)
      if (from >= to) return;
      key_.clear();
      value_.clear();
      if (stream_index) {
        std::string_view stream;
        std::uint64_t ignored = 0;
        store::DecodeStreamKey(cut.key, &stream, &ignored);
        store::AppendStreamKey(stream, from, &key_);
        store::AppendStreamRunValue(cut.first_position + (from - cut.first), to - from, &value_);
        batch->Put(store_.database_->streams(), key_, value_);
      } else {
        const std::string_view type(cut.key.data(), cut.key.size() - 9);
        store::AppendTypeKey(type, from, &key_);
        store::AppendTypeRunValue(to - from, &value_);
        batch->Put(store_.database_->types(), key_, value_);
      }
    };
    std::uint64_t kept_from = cut.first;
    for (std::uint64_t r : cut.removed) {
      keep(kept_from, r);
      kept_from = r + 1;
    }
    keep(kept_from, cut.first + cut.count);
  }

  // Range-deletes [log_start_, new_start) and records the new start and its anchor hash.
  void AddMoveLogStart(std::uint64_t new_start, const codec::Hash& hash,
                       rocksdb::WriteBatch* batch) {
    batch->DeleteRange(store_.database_->log(), store::PositionKey(log_start_),
                       store::PositionKey(new_start));
    std::string v;
    store::PutLittleEndian(new_start, 8, &v);
    batch->Put(store_.database_->meta(), store::kMetaLogStart, v);
    batch->Put(store_.database_->meta(), store::kMetaLogStartHash,
               rocksdb::Slice(reinterpret_cast<const char*>(hash.data()), 32));
  }

  Status Commit(rocksdb::WriteBatch* batch, std::uint64_t new_start, const codec::Hash& hash,
                std::string_view what) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (Status s = FromRocks(store_.database_->db()->Write(wo, batch), what); !s.ok()) return s;
    if (new_start > log_start_) {
      store_.head_.SetLogStart(new_start, hash);
      log_start_ = new_start;
    }
    return Status::Ok();
  }

  // Chunks, each one atomic and leaving a consistent store. A chunk moves the start of the log
  // to the end of the prefix when it holds the prefix's last removal, else just past its own
  // last removal inside the prefix.
  Status WriteRemovals() {
    constexpr std::size_t kChunk = 20000;
    log_start_ = start_;
    for (std::size_t begin = 0; begin < removals_.size(); begin += kChunk) {
      rocksdb::WriteBatch batch;
      const std::size_t end = std::min(removals_.size(), begin + kChunk);
      if (Status s = CutIndexRuns(begin, end, &batch); !s.ok()) return s;
      for (std::size_t i = begin; i < end; ++i) AddRemoval(removals_[i], &batch);
      std::uint64_t new_start = log_start_;
      codec::Hash new_hash{};
      const Removal& last = removals_[end - 1];
      if (last.position + 1 >= prefix_end_ && prefix_end_ > log_start_) {
        new_start = prefix_end_;
        new_hash = prefix_hash_;
      } else if (last.position < prefix_end_) {
        new_start = last.position + 1;
        new_hash = last.chain_hash;
      }
      if (new_start > log_start_) AddMoveLogStart(new_start, new_hash, &batch);
      if (Status s = Commit(&batch, new_start, new_hash, "removing events"); !s.ok()) return s;
    }
    // A prefix made only of earlier runs' markers past this run's last removal.
    if (prefix_end_ > log_start_) {
      rocksdb::WriteBatch batch;
      AddMoveLogStart(prefix_end_, prefix_hash_, &batch);
      if (Status s = Commit(&batch, prefix_end_, prefix_hash_, "removing the start of the log");
          !s.ok())
        return s;
    }
    return Status::Ok();
  }

  // Frees the disk now rather than whenever compaction would get there: flushes every family
  // (so the write-ahead log holding the removed values can go), then compacts the removed
  // range. Failures are logged: the removal itself has already happened.
  void FreeDisk() {
    rocksdb::DB* db = store_.database_->db();
    if (Status s = FromRocks(db->Flush(rocksdb::FlushOptions(), store_.database_->families()),
                             "flushing after removal");
        !s.ok())
      store_.logger_->warn("retention could not flush: {}", s.ToString());
    const std::string lo = store::PositionKey(start_);
    const std::string hi = store::PositionKey(removals_.back().position + 1);
    rocksdb::Slice lo_slice(lo), hi_slice(hi);
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    if (Status s = FromRocks(db->CompactRange(co, store_.database_->log(), &lo_slice, &hi_slice),
                             "compacting the removed range");
        !s.ok())
      store_.logger_->warn("retention removed {} events but could not compact them yet: {}",
                           report_.removed_events, s.ToString());
    store_.logger_->info("retention removed {} events ({} bytes); the log starts at {}",
                         report_.removed_events, report_.removed_bytes, prefix_end_);
  }

  Impl& store_;
  const RetentionPolicy& policy_;
  const std::uint64_t head_;
  const std::uint64_t start_;  // the log start when the run began
  const std::int64_t now_us_;
  RetentionReport report_;

  std::uint64_t shipped_ = 0;
  std::unordered_set<std::uint64_t> dead_positions_;
  std::unordered_map<std::string, StreamMetadata, internal::StringHash, std::equal_to<>> metadata_;
  std::unordered_map<std::string, StreamState, internal::StringHash, std::equal_to<>> streams_;
  std::vector<Removal> removals_;
  std::uint64_t prefix_end_;  // [start_, prefix_end_) is all removed after this run
  bool prefix_open_ = true;
  codec::Hash prefix_hash_{};    // chain hash at prefix_end_ - 1
  std::uint64_t log_start_ = 0;  // WriteRemovals: the log start as written so far
  std::string value_, key_;
};

Result<RetentionReport> Store::Impl::ApplyRetention(const RetentionPolicy& policy) {
  if (!database_) return Status::FailedPrecondition("store is closed");
  if (options_.read_only && !policy.dry_run)
    return Status::FailedPrecondition(fmt::format(
        "store {} is open read-only: retention needs the writer (or a dry run)", path_));
  if (policy.max_events && *policy.max_events == 0)
    return Status::InvalidArgument("retention: max_events must be at least 1");
  if (policy.max_age && policy.max_age->count() < 0)
    return Status::InvalidArgument("retention: max_age must not be negative");
  if (policy.min_audit_age.count() < 0)
    return Status::InvalidArgument("retention: min_audit_age must not be negative");
  internal::MutexLock one_at_a_time(retention_mu_);
  return Retention(this, policy).Run();
}

}  // namespace cairn
