// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `Store::Verify`: an offline audit of everything stored (docs/cli.md, `cairn verify`).
//
// The log is read once, in position order, checking each envelope, the chain and the
// per-stream version sequence. The indexes are checked without a random read per event: the
// log scan folds every (stream, version, position) into a per-stream digest and every
// (caller id, position) into one digest; a scan of each index folds its entries the same way,
// and the digests must agree. Only when one disagrees does a targeted pass find the first
// bad entry.
//
// The audit runs in named phases (Verification below), in this order:
// CollectAnchors, AnchorChain, ScanLog, CheckStreamIndex, CheckIdIndex, CheckTypeIndex,
// CheckSideRecords, CheckPastHead. A phase that finds damage the later ones cannot read past
// ends the audit; the others add a problem and go on. It only reads.
#include "audit/verify.h"

#include <cstring>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "codec/chain.h"
#include "codec/envelope.h"
#include "store/keys.h"
#include "store/scoped_snapshot.h"
#include "store/store_impl.h"
#include "util/string_hash.h"

namespace cairn::audit {
namespace {

std::uint64_t Mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// An order-independent digest of a set of entries: the sum of a hash of each. It detects
// accidental damage (a lost, extra or altered entry); it is no defence against a forger —
// the chain hash is the tamper evidence.
struct SetDigest {
  std::uint64_t sum = 0;
  std::uint64_t count = 0;
  void Add(std::string_view a, std::uint64_t b, std::uint64_t c) {
    sum += Mix(std::hash<std::string_view>()(a) ^ Mix(b ^ Mix(c)));
    ++count;
  }
  bool operator==(const SetDigest&) const = default;
};

struct StreamTally {
  std::uint64_t last_version = 0;  // events and removed-event markers: the version sequence
  std::uint64_t last_indexed = 0;  // events only: what the stream index must end with
  SetDigest digest;
  bool seen_in_index = false;  // CheckStreamIndex met this stream
};

// One run of Verify: the bounds it checks, what the log scan folded, and the report.
class Verification {
 public:
  Verification(const store::StoreView& store, const VerifyOptions& options)
      : store_(store),
        options_(options),
        head_(store.committed_position()),
        log_start_(store.log_start),
        from_(std::max<std::uint64_t>(log_start_, options.from_position)),
        full_(from_ == log_start_),
        snapshot_(store.db, store.writer) {
    report_.first_position = from_;
    report_.last_position = head_;
    report_.indexes_checked = full_;
    read_.snapshot = snapshot_.get();
    read_.fill_cache = false;  // a full scan would only evict the service's hot blocks
  }

  Result<VerifyReport> Run() {
    if (from_ > head_ + 1) {
      Problem(0, fmt::format("--from-position {} is past the head {}", from_, head_));
      return std::move(report_);
    }
    CollectAnchors();
    if (!AnchorChain() || !ScanLog()) return std::move(report_);
    if (full_) {
      if (Status s = CheckStreamIndex(); !s.ok()) return s;
      if (Status s = CheckIdIndex(); !s.ok()) return s;
      if (store_.types)
        if (Status s = CheckTypeIndex(); !s.ok()) return s;
    }
    CheckSideRecords();
    CheckPastHead();
    return std::move(report_);
  }

 private:
  void Problem(std::uint64_t position, std::string what) {
    report_.problems.push_back({position, std::move(what)});
  }
  // Index entries and side records that point past the head: appends that raced the check,
  // or events removed from the end of the log, which no later chain link can betray. Told
  // apart by CheckPastHead, by looking for those positions in the log as it is then.
  void NotePastHead(std::uint64_t position, std::string what) {
    if (past_head_.size() < 16) past_head_.emplace_back(position, std::move(what));
  }
  std::unique_ptr<rocksdb::Iterator> Scan(rocksdb::ColumnFamilyHandle* family) {
    return std::unique_ptr<rocksdb::Iterator>(store_.db->NewIterator(read_, family));
  }

  // Anchors from outside the store (VerifyOptions::expect): those at or after `from` are
  // checked where the scan passes them, those before against the stored hashes now.
  void CollectAnchors() {
    for (const ChainAnchor& a : options_.expect) {
      if (a.position == 0) {
        Problem(0, "an expected head needs a position of at least 1");
      } else if (a.position > head_) {
        Problem(a.position, fmt::format("the log ends at position {}, before the expected head "
                                        "{}: events were removed from its end",
                                        head_, a.position));
      } else if (a.position + 1 < log_start_) {
        report_.notes.push_back(fmt::format(
            "expected head {} cannot be checked: retention removed the positions before {}",
            a.position, log_start_));
      } else if (a.position >= from_) {
        anchors_.emplace(a.position, a.chain_hash);
      } else if (auto stored = store_.chain_hash_at(a.position); !stored.ok()) {
        Problem(a.position, "cannot check the expected head: " + stored.status().message());
      } else if (*stored != a.chain_hash) {
        Problem(a.position, fmt::format("chain hash {} differs from the expected {}",
                                        HexHash(*stored), HexHash(a.chain_hash)));
      } else {
        ++report_.anchors_checked;
      }
    }
  }

  void CheckAnchor(std::uint64_t position) {
    auto it = anchors_.find(position);
    if (it == anchors_.end()) return;
    if (it->second == previous_)
      ++report_.anchors_checked;
    else
      Problem(position, fmt::format("chain hash {} differs from the expected {}: the log was "
                                    "rewritten at or before this position",
                                    HexHash(previous_), HexHash(it->second)));
  }

  // The hash the first checked link must follow: the genesis, or at the start of a removed
  // range the hash retention recorded when it removed the positions before.
  bool AnchorChain() {
    previous_ = hasher_.Genesis(store_.store_id);
    if (from_ <= 1) return true;
    auto before = store_.chain_hash_at(from_ - 1);
    if (!before.ok()) {
      Problem(from_ - 1, "cannot anchor the chain: " + before.status().message());
      return false;
    }
    previous_ = *before;
    return true;
  }

  // Once retention removed the start of the log, a stream may start at any version.
  bool CheckNextVersion(std::uint64_t position, std::string_view stream, std::uint64_t version,
                        bool inserted, const StreamTally& tally, const char* suffix) {
    if (inserted && !(full_ && log_start_ == 1)) return true;
    if (version == tally.last_version + 1) return true;
    Problem(position, fmt::format("stream '{}' goes from version {} to {}{}", stream,
                                  tally.last_version, version, suffix));
    return false;
  }

  // The one pass over the log from `from` to the head; false when damage ended the audit.
  bool ScanLog() {
    std::uint64_t expected = from_;
    auto it = Scan(store_.log);
    for (it->Seek(store::PositionKey(from_)); it->Valid() && expected <= head_; it->Next()) {
      std::uint64_t position = 0;
      if (!store::DecodePositionKey(it->key().ToStringView(), &position)) {
        Problem(expected, fmt::format("malformed log key of {} bytes after position {}",
                                      it->key().size(), expected - 1));
        return false;
      }
      if (position != expected) {
        Problem(expected,
                fmt::format("position {} is missing (the log jumps to {})", expected, position));
        return false;
      }
      const std::string_view value = it->value().ToStringView();
      if (!(codec::IsRemovedValue(value) ? CheckRemoved(position, value)
                                         : CheckEvent(position, value)))
        return false;
      ++expected;
    }
    if (!it->status().ok()) {
      // Damage RocksDB itself detects (a block checksum): name where reading stopped.
      Problem(expected, "unreadable: " + it->status().ToString());
      return false;
    }
    if (expected <= head_) {
      Problem(expected, fmt::format("positions {}..{} are missing", expected, head_));
      return false;
    }
    report_.chain_head = previous_;
    if (options_.progress) options_.progress(report_.events, head_ - from_ + 1);
    return true;
  }

  // A removed event: its chain hash is taken as given (its bytes are gone), and it still
  // holds its place in its stream's version sequence.
  bool CheckRemoved(std::uint64_t position, std::string_view value) {
    codec::RemovedEvent r;
    if (Status s = codec::DecodeRemoved(value, &r); !s.ok()) {
      Problem(position, s.message());
      return false;
    }
    if (r.position != position) {
      Problem(position, fmt::format("the removed-event marker at position {} says position {}",
                                    position, r.position));
      return false;
    }
    auto [tally, inserted] = streams_.try_emplace(std::string(r.stream));
    if (!CheckNextVersion(position, r.stream, r.version, inserted, tally->second, " (removed)"))
      return false;
    tally->second.last_version = r.version;
    previous_ = r.chain_hash;
    CheckAnchor(position);
    last_timestamp_us_ = std::max(last_timestamp_us_, r.timestamp_us);
    ++report_.removed;
    return true;
  }

  bool CheckEvent(std::uint64_t position, std::string_view value) {
    RecordedEvent e;
    if (Status s = codec::DecodeEvent(value, &scratch_, &e); !s.ok()) {
      Problem(position, s.message());
      return false;
    }
    if (e.position != position) {
      Problem(position, fmt::format("the event stored at position {} says position {}", position,
                                    e.position));
      return false;
    }
    const codec::Hash want = hasher_.Next(previous_, e);
    if (want != e.chain_hash) {
      Problem(position, fmt::format("chain hash mismatch: stored {}, recomputed {}",
                                    HexHash(e.chain_hash), HexHash(want)));
      return false;
    }
    previous_ = e.chain_hash;
    CheckAnchor(position);
    if (e.timestamp_us < last_timestamp_us_)
      Problem(position, fmt::format("timestamp {} is before the previous event's {}",
                                    e.timestamp_us, last_timestamp_us_));
    last_timestamp_us_ = e.timestamp_us;
    auto [tally, inserted] = streams_.try_emplace(std::string(e.stream));
    if (!CheckNextVersion(position, e.stream, e.version, inserted, tally->second, "")) return false;
    tally->second.last_version = e.version;
    tally->second.last_indexed = e.version;
    tally->second.digest.Add(e.stream, e.version, position);
    if (position >= store_.type_index_from) log_types_.Add(e.type, position, 0);
    if (e.id_from_caller)
      log_ids_.Add(std::string_view(reinterpret_cast<const char*>(e.id.bytes().data()), 16),
                   position, 0);
    ++report_.events;
    if (options_.progress && (report_.events & 0xffff) == 0)
      options_.progress(report_.events, head_ - from_ + 1);
    return true;
  }

  // The stream index, folded per stream the same way as the log scan folded it.
  Status CheckStreamIndex() {
    auto it = Scan(store_.streams);
    std::string current;
    SetDigest digest;
    std::uint64_t last_version = 0;
    std::vector<std::string> bad;
    auto finish = [&]() {
      if (current.empty()) return;
      auto t = streams_.find(current);
      if (digest.count == 0 && (t == streams_.end() || t->second.digest.count == 0)) {
        // Only a removed-version marker: every event of the stream is gone.
      } else if (t == streams_.end() || !(t->second.digest == digest) ||
                 t->second.last_indexed != last_version) {
        bad.push_back(current);
      }
      if (t != streams_.end()) t->second.seen_in_index = true;
    };
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view stream;
      std::uint64_t version = 0, position = 0, count = 0;
      if (!store::DecodeStreamKey(it->key().ToStringView(), &stream, &version) ||
          !store::DecodeStreamRunValue(it->value().ToStringView(), &position, &count)) {
        Problem(0, fmt::format("malformed stream index entry (key of {} bytes)", it->key().size()));
        break;
      }
      if (position + count - 1 > head_) {  // (a run longer than the log: damage too)
        NotePastHead(position + count - 1,
                     fmt::format("stream index entry '{}' version {}", stream, version));
        continue;
      }
      if (stream != current) {
        finish();
        current = std::string(stream);
        digest = SetDigest();
        last_version = 0;
      }
      if (position == store::kRemovedPosition) continue;  // a removed version's marker
      // A run: `count` versions at consecutive positions, each folded as the log folds it.
      for (std::uint64_t i = 0; i < count; ++i) digest.Add(stream, version + i, position + i);
      last_version = std::max(last_version, version + count - 1);
    }
    finish();
    if (!it->status().ok()) return FromRocks(it->status(), "reading the stream index");
    for (const auto& [stream, tally] : streams_)
      if (!tally.seen_in_index && tally.digest.count > 0) bad.push_back(stream);
    report_.streams = streams_.size();
    for (const std::string& stream : bad) NameStreamIndexDamage(stream);
    return Status();
  }

  // The first bad entry of a stream whose index disagrees with the log.
  void NameStreamIndexDamage(const std::string& stream) {
    std::string where = fmt::format("stream index of '{}' disagrees with the log", stream);
    std::uint64_t at = 0;
    std::uint64_t want_version = 0;
    bool after_marker = false;
    auto it = Scan(store_.streams);
    for (it->Seek(store::StreamKey(stream, 0)); it->Valid(); it->Next()) {
      std::string_view s;
      std::uint64_t v0 = 0, p0 = 0, n = 0;
      if (!store::DecodeStreamKey(it->key().ToStringView(), &s, &v0) || s != stream ||
          !store::DecodeStreamRunValue(it->value().ToStringView(), &p0, &n))
        break;
      if (p0 + n - 1 > head_) break;
      if (p0 == store::kRemovedPosition) {
        after_marker = true;
        continue;
      }
      bool damaged = false;
      for (std::uint64_t i = 0; i < n && !damaged; ++i) {
        const std::uint64_t v = v0 + i, p = p0 + i;
        // After retention the sequence starts at whatever version it left.
        want_version =
            want_version == 0 ? (log_start_ == 1 && !after_marker ? 1 : v) : want_version + 1;
        auto e = store_.read_stored_event(p);
        if (v != want_version) {
          where = fmt::format("stream index of '{}' has version {} where {} was expected", stream,
                              v, want_version);
        } else if (!e.ok() || e->stream != stream || e->version != v) {
          where = fmt::format(
              "stream index entry '{}' version {} points at position {}, which "
              "holds {}",
              stream, v, p,
              e.ok() ? fmt::format("'{}' version {}", e->stream, e->version)
                     : e.status().message());
        } else {
          continue;
        }
        at = p;
        damaged = true;
      }
      if (damaged) break;
    }
    Problem(at, where);
  }

  // The id index against the caller ids in the log.
  Status CheckIdIndex() {
    SetDigest index_ids;
    auto it = Scan(store_.ids);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().size() != 16 || it->value().size() != 8) {
        Problem(0, "malformed id index entry");
        break;
      }
      const std::uint64_t p = store::GetBigEndian64(it->value().data());
      if (p > head_) {
        NotePastHead(p, "an id index entry");
        continue;
      }
      index_ids.Add(it->key().ToStringView(), p, 0);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading the id index");
    report_.caller_ids = log_ids_.count;
    if (index_ids == log_ids_) return Status();
    // Find the entry: each index entry must point at an event carrying that id.
    std::uint64_t bad_position = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::uint64_t p = store::GetBigEndian64(it->value().data());
      if (p > head_) continue;
      auto e = store_.read_stored_event(p);
      if (!e.ok() || std::memcmp(e->id.bytes().data(), it->key().data(), 16) != 0 ||
          !e->id_from_caller) {
        bad_position = p;
        break;
      }
    }
    Problem(bad_position,
            bad_position
                ? fmt::format("id index entry points at position {}, whose event has another id",
                              bad_position)
                : fmt::format("id index holds {} caller ids, the log {}: an entry is missing",
                              index_ids.count, log_ids_.count));
    return Status();
  }

  Status CheckTypeIndex() {
    SetDigest index_types;
    auto it = Scan(store_.types);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view type;
      std::uint64_t p = 0, n = 0;
      if (!store::DecodeTypeKey(it->key().ToStringView(), &type, &p) ||
          !store::DecodeTypeRunValue(it->value().ToStringView(), &n)) {
        Problem(0, "malformed type index entry");
        break;
      }
      if (p > UINT64_MAX - n || p + n - 1 > head_) {  // (a run longer than the log: damage too)
        NotePastHead(p > UINT64_MAX - n ? UINT64_MAX : p + n - 1,
                     fmt::format("type index entry '{}'", type));
        continue;
      }
      for (std::uint64_t i = 0; i < n; ++i) index_types.Add(type, p + i, 0);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading the type index");
    if (!(index_types == log_types_))
      Problem(0, fmt::format("type index holds {} entries for positions {}..{}, the log {} "
                             "events: it disagrees with the log",
                             index_types.count, store_.type_index_from, head_, log_types_.count));
    return Status();
  }

  // Checkpoints and dead letters.
  void CheckSideRecords() {
    if (auto checkpoints = store_.side_records->ListCheckpoints(); !checkpoints.ok()) {
      Problem(0, checkpoints.status().message());
    } else {
      for (const auto& [name, position] : *checkpoints) {
        ++report_.checkpoints;
        if (const std::uint64_t now = store_.committed_position(); position > now)
          Problem(0,
                  fmt::format("checkpoint '{}' is at {}, past the head {}", name, position, now));
      }
    }
    if (auto dead = store_.side_records->ListDeadLetters(0, SIZE_MAX); !dead.ok()) {
      Problem(0, dead.status().message());
    } else {
      report_.dead_letters = dead->size();
      for (const DeadLetter& d : *dead)
        if (d.position > head_)
          NotePastHead(d.position, fmt::format("a dead letter of '{}'", d.stream));
    }
  }

  // A race leaves the position in the log by now (the writer's batch holds the event and its
  // index entries together); a removal does not.
  void CheckPastHead() {
    for (const auto& [position, what] : past_head_) {
      std::string value;
      const rocksdb::Status got =
          store_.db->Get(rocksdb::ReadOptions(), store_.log, store::PositionKey(position), &value);
      if (got.ok()) continue;
      Problem(position, fmt::format("{} points at position {}, past the head {}, and the log "
                                    "holds no such position: events were removed from the end "
                                    "of the log",
                                    what, position, head_));
      break;  // one names the damage; the rest say the same
    }
  }

  const store::StoreView& store_;
  const VerifyOptions& options_;
  const std::uint64_t head_;
  const std::uint64_t log_start_;
  const std::uint64_t from_;
  const bool full_;  // from the log start: the indexes are checked too
  // The writer verifies against a snapshot; a read-only or following handle has none.
  store::ScopedSnapshot snapshot_;
  rocksdb::ReadOptions read_;
  VerifyReport report_;

  std::map<std::uint64_t, codec::Hash> anchors_;  // expected heads the scan will pass
  std::vector<std::pair<std::uint64_t, std::string>> past_head_;
  codec::ChainHasher hasher_;
  codec::Hash previous_{};  // the chain hash the next link must follow
  std::int64_t last_timestamp_us_ = 0;
  std::unordered_map<std::string, StreamTally, internal::StringHash, std::equal_to<>> streams_;
  SetDigest log_ids_;
  SetDigest log_types_;  // (type, position) of every event the type index covers
  std::string scratch_;
};

}  // namespace

Result<VerifyReport> Verify(const store::StoreView& store, const VerifyOptions& options) {
  return Verification(store, options).Run();
}

}  // namespace cairn::audit

namespace cairn {

// Store::Verify's body lives here, beside the audit it runs, so that src/store/ never
// includes src/audit/ (docs/architecture.md).
Result<VerifyReport> Store::Verify(const VerifyOptions& options) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return audit::Verify(impl_->View(), options);
}

}  // namespace cairn
