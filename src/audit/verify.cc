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
#include <cstring>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "audit/chain.h"
#include "codec/envelope.h"
#include "store/keys.h"
#include "store/store_impl.h"

namespace cairn {
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
};

}  // namespace

Result<VerifyReport> Store::Impl::Verify(const VerifyOptions& options) {
  VerifyReport report;
  const std::uint64_t head = CommittedPosition();
  const std::uint64_t log_start = head_.log_start();
  const std::uint64_t from = std::max<std::uint64_t>(log_start, options.from_position);
  report.first_position = from;
  report.last_position = head;
  auto problem = [&](std::uint64_t position, std::string what) {
    report.problems.push_back({position, std::move(what)});
  };
  if (from > head + 1) {
    problem(0, fmt::format("--from-position {} is past the head {}", from, head));
    return report;
  }

  // The writer verifies against a snapshot; a read-only or following handle does not change
  // between catch-ups (and RocksDB's secondary instances have no snapshots). Index entries
  // past `head` are appends that raced the check and are skipped either way.
  rocksdb::ReadOptions ro;
  const rocksdb::Snapshot* snapshot = options_.read_only ? nullptr : db_->GetSnapshot();
  ro.snapshot = snapshot;
  ro.fill_cache = false;  // a full scan would only evict the service's hot blocks
  struct ReleaseSnapshot {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~ReleaseSnapshot() {
      if (s) db->ReleaseSnapshot(s);
    }
  } release{db_.get(), snapshot};

  // Anchors from outside the store: checked where the scan passes them, or against stored
  // hashes before `from`.
  std::map<std::uint64_t, audit::Hash> anchors;
  for (const ChainAnchor& a : options.expect) {
    if (a.position == 0) {
      problem(0, "an expected head needs a position of at least 1");
      continue;
    }
    if (a.position > head) {
      problem(a.position, fmt::format("the log ends at position {}, before the expected head {}: "
                                      "events were removed from its end",
                                      head, a.position));
      continue;
    }
    if (a.position + 1 < log_start) {
      report.notes.push_back(fmt::format(
          "expected head {} cannot be checked: retention removed the positions before {}",
          a.position, log_start));
      continue;
    }
    if (a.position < from) {
      auto stored = ChainHashAt(a.position);
      if (!stored.ok()) {
        problem(a.position, "cannot check the expected head: " + stored.status().message());
      } else if (*stored != a.chain_hash) {
        problem(a.position, fmt::format("chain hash {} differs from the expected {}",
                                        HexHash(*stored), HexHash(a.chain_hash)));
      } else {
        ++report.anchors_checked;
      }
      continue;
    }
    anchors.emplace(a.position, a.chain_hash);
  }
  auto check_anchor = [&](std::uint64_t position, const audit::Hash& hash) {
    auto it = anchors.find(position);
    if (it == anchors.end()) return;
    if (it->second == hash)
      ++report.anchors_checked;
    else
      problem(position, fmt::format("chain hash {} differs from the expected {}: the log was "
                                    "rewritten at or before this position",
                                    HexHash(hash), HexHash(it->second)));
  };

  audit::ChainHasher hasher;
  audit::Hash previous = hasher.Genesis(store_id_);
  if (from > 1) {
    // At the start of the log the anchor is the hash retention recorded when it removed the
    // positions before.
    auto before = ChainHashAt(from - 1);
    if (!before.ok()) {
      problem(from - 1, "cannot anchor the chain: " + before.status().message());
      return report;
    }
    previous = *before;
  }

  // Index entries and side records that point past the head: appends that raced the check,
  // or events removed from the end of the log, which no later chain link can betray. Told
  // apart at the end, by looking for those positions in the log as it is then.
  std::vector<std::pair<std::uint64_t, std::string>> past_head;
  auto note_past_head = [&](std::uint64_t position, std::string what) {
    if (past_head.size() < 16) past_head.emplace_back(position, std::move(what));
  };

  const bool full = from == log_start;
  report.indexes_checked = full;
  std::unordered_map<std::string, StreamTally, StringHash, std::equal_to<>> streams;
  SetDigest log_ids;
  SetDigest log_types;  // (type, position) of every event the type index covers
  std::int64_t last_ts = 0;
  std::uint64_t expected = from;
  std::string scratch;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, log_));
    for (it->Seek(store::PositionKey(from)); it->Valid() && expected <= head; it->Next()) {
      std::uint64_t position = 0;
      if (!store::DecodePositionKey(it->key().ToStringView(), &position)) {
        problem(expected, fmt::format("malformed log key of {} bytes after position {}",
                                      it->key().size(), expected - 1));
        return report;
      }
      if (position != expected) {
        problem(expected, fmt::format("position {} is missing (the log jumps to {})", expected,
                                      position));
        return report;
      }
      RecordedEvent e;
      if (codec::IsRemovedValue(it->value().ToStringView())) {
        // A removed event: its chain hash is taken as given (its bytes are gone), and it still
        // holds its place in its stream's version sequence.
        codec::RemovedEvent r;
        if (Status s = codec::DecodeRemoved(it->value().ToStringView(), &r); !s.ok()) {
          problem(position, s.message());
          return report;
        }
        if (r.position != position) {
          problem(position, fmt::format("the removed-event marker at position {} says position {}",
                                        position, r.position));
          return report;
        }
        auto [tally, inserted] = streams.try_emplace(std::string(r.stream));
        if (!inserted || (full && log_start == 1)) {
          if (r.version != tally->second.last_version + 1) {
            problem(position, fmt::format("stream '{}' goes from version {} to {} (removed)",
                                          r.stream, tally->second.last_version, r.version));
            return report;
          }
        }
        tally->second.last_version = r.version;
        previous = r.chain_hash;
        check_anchor(position, previous);
        last_ts = std::max(last_ts, r.timestamp_us);
        ++report.removed;
        ++expected;
        continue;
      }
      if (Status s = codec::DecodeEvent(it->value().ToStringView(), &scratch, &e); !s.ok()) {
        problem(position, s.message());
        return report;
      }
      if (e.position != position) {
        problem(position, fmt::format("the event stored at position {} says position {}",
                                      position, e.position));
        return report;
      }
      const audit::Hash want = hasher.Next(previous, e);
      if (want != e.chain_hash) {
        problem(position, fmt::format("chain hash mismatch: stored {}, recomputed {}",
                                      HexHash(e.chain_hash), HexHash(want)));
        return report;
      }
      previous = e.chain_hash;
      check_anchor(position, previous);
      if (e.timestamp_us < last_ts)
        problem(position, fmt::format("timestamp {} is before the previous event's {}",
                                      e.timestamp_us, last_ts));
      last_ts = e.timestamp_us;
      auto [tally, inserted] = streams.try_emplace(std::string(e.stream));
      // Once retention removed the start of the log, a stream may start at any version.
      if ((full && log_start == 1) || !inserted) {
        if (e.version != tally->second.last_version + 1) {
          problem(position, fmt::format("stream '{}' goes from version {} to {}", e.stream,
                                        tally->second.last_version, e.version));
          return report;
        }
      }
      tally->second.last_version = e.version;
      tally->second.last_indexed = e.version;
      tally->second.digest.Add(e.stream, e.version, position);
      if (position >= type_index_from_) log_types.Add(e.type, position, 0);
      if (e.id_from_caller)
        log_ids.Add(std::string_view(reinterpret_cast<const char*>(e.id.bytes().data()), 16),
                    position, 0);
      ++report.events;
      ++expected;
      if (options.progress && (report.events & 0xffff) == 0)
        options.progress(report.events, head - from + 1);
    }
    if (!it->status().ok()) {
      // Damage RocksDB itself detects (a block checksum): name where reading stopped.
      problem(expected, "unreadable: " + it->status().ToString());
      return report;
    }
    if (expected <= head) {
      problem(expected, fmt::format("positions {}..{} are missing", expected, head));
      return report;
    }
  }
  report.chain_head = previous;
  if (options.progress) options.progress(report.events, head - from + 1);

  if (full) {
    // The stream index, folded per stream the same way.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, streams_));
    std::string current;
    SetDigest digest;
    std::uint64_t last_version = 0;
    std::vector<std::string> bad;
    auto finish = [&]() {
      if (current.empty()) return;
      auto t = streams.find(current);
      if (digest.count == 0 && (t == streams.end() || t->second.digest.count == 0)) {
        // Only a removed-version marker: every event of the stream is gone.
      } else if (t == streams.end() || !(t->second.digest == digest) ||
                 t->second.last_indexed != last_version) {
        bad.push_back(current);
      }
      if (t != streams.end()) t->second.digest.count = UINT64_MAX;  // seen
    };
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view stream;
      std::uint64_t version = 0;
      if (!store::DecodeStreamKey(it->key().ToStringView(), &stream, &version) ||
          it->value().size() != 8) {
        problem(0, fmt::format("malformed stream index entry (key of {} bytes)", it->key().size()));
        break;
      }
      const std::uint64_t position = store::GetBigEndian64(it->value().data());
      if (position > head) {
        note_past_head(position, fmt::format("stream index entry '{}' version {}", stream, version));
        continue;
      }
      if (stream != current) {
        finish();
        current = std::string(stream);
        digest = SetDigest();
        last_version = 0;
      }
      if (position == store::kRemovedPosition) continue;  // a removed version's marker
      digest.Add(stream, version, position);
      last_version = std::max(last_version, version);
    }
    finish();
    if (!it->status().ok()) return FromRocks(it->status(), "reading the stream index");
    for (const auto& [stream, tally] : streams)
      if (tally.digest.count != UINT64_MAX && tally.digest.count > 0) bad.push_back(stream);
    report.streams = streams.size();
    // Name the first bad entry of each stream that disagrees.
    for (const std::string& stream : bad) {
      std::string where = fmt::format("stream index of '{}' disagrees with the log", stream);
      std::uint64_t at = 0;
      std::unique_ptr<rocksdb::Iterator> si(db_->NewIterator(ro, streams_));
      std::uint64_t want_version = 0;
      bool after_marker = false;
      for (si->Seek(store::StreamKey(stream, 0)); si->Valid(); si->Next()) {
        std::string_view s;
        std::uint64_t v = 0;
        if (!store::DecodeStreamKey(si->key().ToStringView(), &s, &v) || s != stream) break;
        const std::uint64_t p = store::GetBigEndian64(si->value().data());
        if (p > head) break;
        if (p == store::kRemovedPosition) {
          after_marker = true;
          continue;
        }
        // After retention the sequence starts at whatever version it left.
        want_version = want_version == 0 ? (log_start == 1 && !after_marker ? 1 : v)
                                         : want_version + 1;
        auto e = ReadEvent(p, /*upcast=*/false);
        if (v != want_version) {
          where = fmt::format("stream index of '{}' has version {} where {} was expected",
                              stream, v, want_version);
          at = p;
          break;
        }
        if (!e.ok() || e->stream != stream || e->version != v) {
          where = fmt::format("stream index entry '{}' version {} points at position {}, which "
                              "holds {}",
                              stream, v, p,
                              e.ok() ? fmt::format("'{}' version {}", e->stream, e->version)
                                     : e.status().message());
          at = p;
          break;
        }
      }
      problem(at, where);
    }

    // The id index against the caller ids in the log.
    SetDigest index_ids;
    std::unique_ptr<rocksdb::Iterator> ii(db_->NewIterator(ro, ids_));
    std::uint64_t bad_id_position = 0;
    for (ii->SeekToFirst(); ii->Valid(); ii->Next()) {
      if (ii->key().size() != 16 || ii->value().size() != 8) {
        problem(0, "malformed id index entry");
        break;
      }
      const std::uint64_t p = store::GetBigEndian64(ii->value().data());
      if (p > head) {
        note_past_head(p, "an id index entry");
        continue;
      }
      index_ids.Add(ii->key().ToStringView(), p, 0);
    }
    if (!ii->status().ok()) return FromRocks(ii->status(), "reading the id index");
    report.caller_ids = log_ids.count;
    if (!(index_ids == log_ids)) {
      // Find the entry: each index entry must point at an event carrying that id.
      for (ii->SeekToFirst(); ii->Valid(); ii->Next()) {
        const std::uint64_t p = store::GetBigEndian64(ii->value().data());
        if (p > head) continue;
        auto e = ReadEvent(p, /*upcast=*/false);
        if (!e.ok() || std::memcmp(e->id.bytes().data(), ii->key().data(), 16) != 0 ||
            !e->id_from_caller) {
          bad_id_position = p;
          break;
        }
      }
      problem(bad_id_position,
              bad_id_position
                  ? fmt::format("id index entry points at position {}, whose event has another id",
                                bad_id_position)
                  : fmt::format("id index holds {} caller ids, the log {}: an entry is missing",
                                index_ids.count, log_ids.count));
    }
  }

  if (full && types_) {
    SetDigest index_types;
    std::unique_ptr<rocksdb::Iterator> ti(db_->NewIterator(ro, types_));
    for (ti->SeekToFirst(); ti->Valid(); ti->Next()) {
      const auto key = ti->key().ToStringView();
      if (key.size() < 9 || key[key.size() - 9] != '\0') {
        problem(0, "malformed type index entry");
        break;
      }
      const std::uint64_t p = store::GetBigEndian64(key.data() + key.size() - 8);
      if (p > head) {
        note_past_head(p, fmt::format("type index entry '{}'", key.substr(0, key.size() - 9)));
        continue;
      }
      index_types.Add(key.substr(0, key.size() - 9), p, 0);
    }
    if (!ti->status().ok()) return FromRocks(ti->status(), "reading the type index");
    if (!(index_types == log_types))
      problem(0, fmt::format("type index holds {} entries for positions {}..{}, the log {} "
                             "events: it disagrees with the log",
                             index_types.count, type_index_from_, head, log_types.count));
  }

  // Side records.
  auto checkpoints = ListCheckpoints();
  if (!checkpoints.ok()) {
    problem(0, checkpoints.status().message());
  } else {
    for (const auto& [name, position] : *checkpoints) {
      ++report.checkpoints;
      if (const std::uint64_t now = CommittedPosition(); position > now)
        problem(0, fmt::format("checkpoint '{}' is at {}, past the head {}", name, position, now));
    }
  }
  auto dead = ListDeadLetters(0, SIZE_MAX);
  if (!dead.ok()) {
    problem(0, dead.status().message());
  } else {
    report.dead_letters = dead->size();
    for (const DeadLetter& d : *dead)
      if (d.position > head) note_past_head(d.position, fmt::format("a dead letter of '{}'", d.stream));
  }
  // A race leaves the position in the log by now (the writer's batch holds the event and its
  // index entries together); a removal does not.
  for (const auto& [position, what] : past_head) {
    std::string value;
    const rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), log_, store::PositionKey(position), &value);
    if (got.ok()) continue;
    problem(position, fmt::format("{} points at position {}, past the head {}, and the log holds "
                                  "no such position: events were removed from the end of the log",
                                  what, position, head));
    break;  // one names the damage; the rest say the same
  }
  return report;
}

}  // namespace cairn
