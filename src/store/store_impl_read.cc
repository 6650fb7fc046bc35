// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Reads: cursors over the global log and over one stream's index, and point lookups. Every
// value read is verified (codec::DecodeEvent) and cross-checked against the key it was found
// under before it is handed out.
#include <fmt/format.h>
#include <rocksdb/iterator.h>

#include "codec/envelope.h"
#include "store/keys.h"
#include "store/scoped_snapshot.h"
#include "store/store_impl.h"
#include "store/upcast.h"

namespace cairn {

class EventReader::Impl {
 public:
  virtual ~Impl() {
    it_.reset();  // release the RocksDB iterator before Close() may proceed
    --*open_readers_;
  }
  bool Valid() const { return valid_; }
  const RecordedEvent& event() const { return event_; }
  Status status() const { return status_; }
  void Next() {
    if (!valid_) return;
    if (++returned_ >= limit_) {
      valid_ = false;
      return;
    }
    Advance();
    Load();
  }

 protected:
  // `visible_through`: the published head when the reader opened (head.h): events past it
  // belong to groups still syncing and are not handed out.
  Impl(std::atomic<int>* open_readers, std::uint64_t limit, bool backward,
       const store::UpcasterSet* upcasters, std::uint64_t visible_through)
      : backward_(backward),
        visible_through_(visible_through),
        open_readers_(open_readers),
        limit_(limit),
        upcasters_(upcasters != nullptr && !upcasters->empty() ? upcasters : nullptr) {
    ++*open_readers_;
  }
  virtual void Advance() {
    if (backward_)
      it_->Prev();
    else
      it_->Next();
  }
  // False when the cursor is past the end or failed (then the reader ends, with the error).
  bool AtEntry(std::string_view what) {
    if (it_->Valid()) return true;
    valid_ = false;
    if (!it_->status().ok()) Fail(FromRocks(it_->status(), what));
    return false;
  }
  // Loads the event under the cursor into event_, or ends/fails the read.
  virtual void LoadEntry() = 0;
  // LoadEntry, then the upcasters.
  void Load() {
    LoadEntry();
    while (valid_ && event_.position > visible_through_) {
      if (!backward_) {  // positions only grow from here
        valid_ = false;
        return;
      }
      Advance();
      LoadEntry();
    }
    if (!valid_ || upcasters_ == nullptr) return;
    if (Status s = upcasters_->Apply(&event_, &upcast_buffer_); !s.ok()) Fail(std::move(s));
  }

  void Fail(Status s) {
    status_ = std::move(s);
    valid_ = false;
  }
  bool Decode(std::string_view value, std::uint64_t expected_position) {
    Status s = codec::DecodeEvent(value, &scratch_, &event_);
    if (!s.ok()) {
      Fail(Status::Corruption(fmt::format("position {}: {}", expected_position, s.message())));
      return false;
    }
    if (event_.position != expected_position) {
      Fail(Status::Corruption(fmt::format("log key {} holds an event claiming position {}",
                                          expected_position, event_.position)));
      return false;
    }
    return true;
  }

  const bool backward_;
  const std::uint64_t visible_through_;
  std::unique_ptr<rocksdb::Iterator> it_;
  bool valid_ = false;
  RecordedEvent event_;
  std::string scratch_;

 private:
  std::atomic<int>* open_readers_;
  Status status_;
  std::uint64_t limit_;
  std::uint64_t returned_ = 0;
  const store::UpcasterSet* upcasters_;
  std::string upcast_buffer_;
};

// Walks the log column family in key (= position) order.
class Store::Impl::LogReader final : public EventReader::Impl {
 public:
  LogReader(std::atomic<int>* open_readers, rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family,
            const LogReadOptions& o, const store::UpcasterSet* upcasters,
            std::uint64_t visible_through)
      : Impl(open_readers, o.limit, o.direction == Direction::kBackward,
             o.upcast ? upcasters : nullptr, visible_through) {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;  // a scan must not evict the working set
    ro.readahead_size = 2 << 20;
    it_.reset(db->NewIterator(ro, family));
    if (o.limit == 0) return;
    if (backward_) {
      it_->SeekForPrev(
          store::PositionKey(std::min(o.from_position.value_or(UINT64_MAX), visible_through)));
    } else {
      it_->Seek(store::PositionKey(o.from_position.value_or(1)));
    }
    Load();
  }

 private:
  void LoadEntry() override {
    if (!AtEntry("reading the log")) return;
    // Events retention removed leave a marker at their position: not an event, skip it.
    while (codec::IsRemovedValue(it_->value().ToStringView())) {
      Advance();
      if (!AtEntry("reading the log")) return;
    }
    std::uint64_t position = 0;
    if (!store::DecodePositionKey(it_->key().ToStringView(), &position)) {
      Fail(Status::Corruption(fmt::format("malformed log key of {} bytes", it_->key().size())));
      return;
    }
    valid_ = Decode(it_->value().ToStringView(), position);
  }
};

namespace {

bool AtStream(const rocksdb::Iterator& it, std::string_view stream) {
  std::string_view found;
  std::uint64_t version = 0;
  return it.Valid() && store::DecodeStreamKey(it.key().ToStringView(), &found, &version) &&
         found == stream;
}

// Leaves `it` on the stream index run of `stream` holding `version` (docs/format.md, "Index
// runs"), else on the first entry after it (another stream's, or none). A run beginning at
// `version` — a replay from version 1, stream info of an untruncated stream — takes one Seek.
void SeekStreamRun(rocksdb::Iterator* it, std::string_view stream, std::uint64_t version) {
  const std::string key = store::StreamKey(stream, version);
  it->Seek(key);
  if ((AtStream(*it, stream) && it->key() == rocksdb::Slice(key)) || !it->status().ok()) return;
  it->SeekForPrev(key);  // the run before may reach it
  std::string_view found;
  std::uint64_t v0 = 0, p0 = 0, n = 0;
  if (it->Valid() && store::DecodeStreamKey(it->key().ToStringView(), &found, &v0) &&
      found == stream && store::DecodeStreamRunValue(it->value().ToStringView(), &p0, &n) &&
      v0 + n - 1 >= version)
    return;
  if (it->status().ok()) it->Seek(key);
}

}  // namespace

// Walks one stream's index runs (docs/format.md, "Index runs") version by version and
// fetches each event from the log.
class Store::Impl::StreamReader final : public EventReader::Impl {
 public:
  StreamReader(std::atomic<int>* open_readers, rocksdb::DB* db,
               rocksdb::ColumnFamilyHandle* streams, rocksdb::ColumnFamilyHandle* log,
               std::string_view stream, const StreamReadOptions& o,
               const store::UpcasterSet* upcasters, std::uint64_t first_visible, bool snapshot,
               std::uint64_t visible_through)
      : Impl(open_readers, o.limit, o.direction == Direction::kBackward,
             o.upcast ? upcasters : nullptr, visible_through),
        snapshot_(db, snapshot),
        db_(db),
        log_(log),
        stream_(stream),
        first_visible_(std::max<std::uint64_t>(first_visible, 1)),
        lower_(store::StreamKey(stream, 0)),  // a run may begin below first_visible
        upper_(store::StreamKeyLimit(stream)) {
    lower_slice_ = rocksdb::Slice(lower_);
    upper_slice_ = rocksdb::Slice(upper_);
    rocksdb::ReadOptions ro = snapshot_.Options();
    ro.iterate_lower_bound = &lower_slice_;
    ro.iterate_upper_bound = &upper_slice_;
    it_.reset(db->NewIterator(ro, streams));
    if (o.limit == 0) return;
    // The run holding the first version to return begins at or below it.
    start_at_ = backward_ ? o.from_version.value_or(UINT64_MAX)
                          : std::max(o.from_version.value_or(1), first_visible_);
    if (backward_)
      it_->SeekForPrev(store::StreamKey(stream, start_at_));
    else
      SeekStreamRun(it_.get(), stream, start_at_);
    Load();
  }

  ~StreamReader() override { it_.reset(); }  // before the snapshot it reads

 private:
  bool DecodeRun(std::uint64_t* first_version, std::uint64_t* first_position,
                 std::uint64_t* count) const {
    std::string_view stream;
    return store::DecodeStreamKey(it_->key().ToStringView(), &stream, first_version) &&
           stream == stream_ &&
           store::DecodeStreamRunValue(it_->value().ToStringView(), first_position, count);
  }
  // Takes the run under the cursor, skipping removed-version markers; false at the end.
  bool ReadRun() {
    for (;;) {
      if (!AtEntry("reading the stream index")) return false;
      if (!DecodeRun(&run_version_, &run_position_, &run_count_)) {
        Fail(Status::Corruption(
            fmt::format("malformed stream index entry in stream '{}'", stream_)));
        return false;
      }
      if (run_position_ != store::kRemovedPosition) break;
      // Only a stream's last version keeps an entry once removed (so its version survives);
      // nothing is readable there.
      EventReader::Impl::Advance();
    }
    const std::uint64_t last = run_version_ + run_count_ - 1;
    version_ = backward_ ? std::min(last, start_at_) : std::max(run_version_, start_at_);
    on_run_ = true;
    return true;
  }
  void Advance() override {
    if (backward_ ? version_ > run_version_ : version_ < run_version_ + run_count_ - 1) {
      version_ += backward_ ? -1 : 1;
      return;
    }
    EventReader::Impl::Advance();
    on_run_ = false;
  }
  void LoadEntry() override {
    if (!on_run_ && !ReadRun()) return;
    if (version_ < first_visible_) {  // backward, past the stream's truncation
      valid_ = false;
      return;
    }
    const std::uint64_t position = run_position_ + (version_ - run_version_);
    value_.Reset();
    rocksdb::Status s = db_->Get(snapshot_.Options(), log_, store::PositionKey(position), &value_);
    if (s.IsNotFound()) {
      Fail(Status::Corruption(
          fmt::format("stream '{}' version {} points at position {}, which is not in the log",
                      stream_, version_, position)));
      return;
    }
    if (!s.ok()) {
      Fail(FromRocks(s, "reading the log"));
      return;
    }
    if (!Decode(value_.ToStringView(), position)) return;
    if (event_.stream != stream_ || event_.version != version_) {
      Fail(Status::Corruption(fmt::format(
          "stream '{}' version {} points at position {}, which holds stream '{}' version {}",
          stream_, version_, position, event_.stream, event_.version)));
      return;
    }
    valid_ = true;
  }

  store::ScopedSnapshot snapshot_;
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* log_;
  std::string stream_;
  std::uint64_t first_visible_;
  std::string lower_, upper_;
  rocksdb::Slice lower_slice_, upper_slice_;
  rocksdb::PinnableSlice value_;
  std::uint64_t start_at_ = 0;  // the first version asked for (the last, backward)
  // The run under the cursor and the version within it.
  bool on_run_ = false;
  std::uint64_t run_version_ = 0, run_position_ = 0, run_count_ = 0, version_ = 0;
};

// Events of any of a set of types, in position order, from `from` on: below the type index's
// start it filters a log scan; from there it merges each type's index entries and fetches
// every event from the log.
class Store::Impl::TypeReader final : public EventReader::Impl {
 public:
  TypeReader(std::atomic<int>* open_readers, rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log,
             rocksdb::ColumnFamilyHandle* types, std::uint64_t index_from,
             std::span<const std::string> wanted, const LogReadOptions& o,
             const store::UpcasterSet* upcasters, bool snapshot, std::uint64_t visible_through)
      : Impl(open_readers, o.limit, false, o.upcast ? upcasters : nullptr, visible_through),
        snapshot_(db, snapshot),
        db_(db),
        log_(log),
        index_from_(index_from),
        wanted_(wanted.begin(), wanted.end()) {
    const std::uint64_t from = o.from_position.value_or(1);
    if (o.limit == 0) return;
    rocksdb::ReadOptions ro = snapshot_.Options();
    ro.fill_cache = false;
    if (from < index_from_) {
      it_.reset(db->NewIterator(ro, log_));
      it_->Seek(store::PositionKey(from));
    }
    if (types) {
      for (const std::string& t : wanted_) {
        Cursor c;
        c.upper = t;
        c.upper.push_back('\x01');
        cursors_.push_back(std::move(c));
      }
      // Slices and iterators point into cursors_, which no longer moves.
      for (std::size_t i = 0; i < wanted_.size(); ++i) {
        Cursor& c = cursors_[i];
        c.upper_slice = rocksdb::Slice(c.upper);
        rocksdb::ReadOptions cro = snapshot_.Options();
        cro.iterate_upper_bound = &c.upper_slice;
        c.it.reset(db->NewIterator(cro, types));
        // The run holding `from` begins at or below it (docs/format.md, "Index runs").
        c.start = std::max(from, index_from_);
        std::string start;
        store::AppendTypeKey(wanted_[i], c.start, &start);
        c.it->SeekForPrev(start);
        std::string_view type;
        std::uint64_t p0 = 0, n = 0;
        if (!c.it->Valid() || !store::DecodeTypeKey(c.it->key().ToStringView(), &type, &p0) ||
            type != wanted_[i])
          c.it->Seek(start);  // no run of this type at or below it
        else if (store::DecodeTypeRunValue(c.it->value().ToStringView(), &n) &&
                 p0 + n - 1 < c.start)
          c.it->Next();  // that run ends before it
      }
    }
    Load();
  }

  ~TypeReader() override {
    log_it_.reset();  // iterators go before the base counts this reader closed
    for (Cursor& c : cursors_) c.it.reset();
    it_.reset();  // and before the snapshot they read
  }

 private:
  struct Cursor {
    std::unique_ptr<rocksdb::Iterator> it;
    std::string upper;
    rocksdb::Slice upper_slice;
    std::uint64_t start = 0;  // the first position asked for
    // The run under the cursor: the next position to return and the run's last.
    bool on_run = false;
    std::uint64_t position = 0, last = 0;
  };
  // Takes the run under c's cursor; false at its end or on damage (then status says so).
  bool ReadRun(Cursor& c) {
    if (!c.it->Valid()) {
      if (!c.it->status().ok()) Fail(FromRocks(c.it->status(), "reading the type index"));
      return false;
    }
    std::string_view type;
    std::uint64_t p0 = 0, n = 0;
    if (!store::DecodeTypeKey(c.it->key().ToStringView(), &type, &p0) ||
        !store::DecodeTypeRunValue(c.it->value().ToStringView(), &n) || p0 > UINT64_MAX - n) {
      Fail(Status::Corruption("malformed type index entry"));
      return false;
    }
    c.position = std::max(p0, c.start);
    c.last = p0 + n - 1;
    c.on_run = true;
    return true;
  }

  void LoadEntry() override {
    // Phase 1: the unindexed prefix of the log.
    while (it_) {
      if (!it_->Valid()) {
        if (!it_->status().ok()) return Fail(FromRocks(it_->status(), "reading the log"));
        it_.reset();
        break;
      }
      std::uint64_t position = 0;
      if (!store::DecodePositionKey(it_->key().ToStringView(), &position))
        return Fail(Status::Corruption("malformed log key"));
      if (position >= index_from_) {
        it_.reset();
        break;
      }
      if (codec::IsRemovedValue(it_->value().ToStringView())) {
        it_->Next();
        continue;
      }
      if (!Decode(it_->value().ToStringView(), position)) return;
      if (std::find(wanted_.begin(), wanted_.end(), event_.type) != wanted_.end()) {
        valid_ = true;
        return;
      }
      it_->Next();
    }
    // Phase 2: the smallest position among the types' cursors.
    Cursor* best = nullptr;
    std::uint64_t best_position = 0;
    for (Cursor& c : cursors_) {
      if (!c.on_run && !ReadRun(c)) {
        if (!status().ok()) return;
        continue;
      }
      if (!best || c.position < best_position) best = &c, best_position = c.position;
    }
    if (!best) {
      valid_ = false;
      return;
    }
    current_ = best;
    // Positions only grow: one forward log iterator, seeking, reuses its blocks and readahead
    // where a Get per event would look each one up from the top.
    if (!log_it_) {
      rocksdb::ReadOptions lro = snapshot_.Options();
      lro.fill_cache = false;
      lro.readahead_size = 256 << 10;
      log_it_.reset(db_->NewIterator(lro, log_));
    }
    const std::string key = store::PositionKey(best_position);
    log_it_->Seek(key);
    if (!log_it_->Valid() || log_it_->key() != rocksdb::Slice(key)) {
      if (!log_it_->status().ok()) return Fail(FromRocks(log_it_->status(), "reading the log"));
      return Fail(Status::Corruption(
          fmt::format("the type index names position {}, which is not in the log", best_position)));
    }
    if (!Decode(log_it_->value().ToStringView(), best_position)) return;
    const auto type_key = best->it->key().ToStringView();
    const auto indexed_type = type_key.substr(0, type_key.size() - 9);
    if (indexed_type != event_.type)
      return Fail(Status::Corruption(
          fmt::format("the type index lists position {} under '{}', but it holds a '{}'",
                      best_position, indexed_type, event_.type)));
    valid_ = true;
  }

  // Moves past the event just returned: the log cursor in phase 1, else the type cursor
  // that produced it.
  void Advance() override {
    if (it_) {
      it_->Next();
    } else if (current_ && current_->position < current_->last) {
      ++current_->position;
    } else if (current_) {
      current_->it->Next();
      current_->on_run = false;
    }
  }

  store::ScopedSnapshot snapshot_;
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* log_;
  std::uint64_t index_from_;
  std::vector<std::string> wanted_;
  std::vector<Cursor> cursors_;
  Cursor* current_ = nullptr;
  std::unique_ptr<rocksdb::Iterator> log_it_;
};

EventReader::EventReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventReader::EventReader(EventReader&&) noexcept = default;
EventReader& EventReader::operator=(EventReader&&) noexcept = default;
EventReader::~EventReader() = default;
bool EventReader::Valid() const { return impl_ && impl_->Valid(); }
const RecordedEvent& EventReader::event() const { return impl_->event(); }
void EventReader::Next() { impl_->Next(); }
Status EventReader::status() const { return impl_ ? impl_->status() : Status::Ok(); }

namespace {
Status ClosedError() { return Status::FailedPrecondition("store is closed"); }
}  // namespace

Result<EventReader> Store::Impl::ReadLog(const LogReadOptions& options) {
  if (!database_) return ClosedError();
  // An error on the first event surfaces through the reader's status(), like any later one.
  auto reader = std::make_unique<LogReader>(&open_readers_, database_->db(), database_->log(),
                                            options, &upcasters_, head_.position());
  return EventReader(std::move(reader));
}

Result<EventReader> Store::Impl::ReadByTypes(std::span<const std::string> types,
                                             const LogReadOptions& options) {
  if (!database_) return ClosedError();
  if (types.empty()) return Status::InvalidArgument("no event types given");
  if (options.direction != Direction::kForward)
    return Status::NotSupported("reading by type goes forward only");
  auto reader = std::make_unique<TypeReader>(
      &open_readers_, database_->db(), database_->log(), database_->types(),
      database_->types() ? type_index_from_ : UINT64_MAX, types, options, &upcasters_,
      !options_.read_only, head_.position());
  return EventReader(std::move(reader));
}

Result<EventReader> Store::Impl::ReadStream(std::string_view stream,
                                            const StreamReadOptions& options) {
  if (!database_) return ClosedError();
  if (stream.empty()) return Status::InvalidArgument("stream id is empty");
  if (stream.find('\0') != std::string_view::npos)
    return Status::InvalidArgument("stream id contains a NUL byte");
  const std::uint64_t visible_through = head_.position();
  auto info = ReadableStreamInfo(stream);
  if (!info.ok()) return info.status();
  auto reader = std::make_unique<StreamReader>(
      &open_readers_, database_->db(), database_->streams(), database_->log(), stream, options,
      &upcasters_, info->first_version, !options_.read_only, visible_through);
  return EventReader(std::move(reader));
}

Result<OwnedEvent> Store::Impl::ReadEvent(std::uint64_t position, bool upcast) {
  if (!database_) return ClosedError();
  if (const std::uint64_t start = head_.log_start(); position < start)
    return Status::NotFound(fmt::format(
        "position {} was removed by retention (the log starts at {})", position, start));
  rocksdb::PinnableSlice value;
  rocksdb::Status s = database_->db()->Get(rocksdb::ReadOptions(), database_->log(),
                                           store::PositionKey(position), &value);
  if (s.IsNotFound()) return Status::NotFound(fmt::format("no event at position {}", position));
  if (!s.ok()) return FromRocks(s, "reading the log");
  if (codec::IsRemovedValue(value.ToStringView()))
    return Status::NotFound(fmt::format("position {} was removed by retention", position));
  RecordedEvent e;
  std::string scratch;
  Status d = codec::DecodeEvent(value.ToStringView(), &scratch, &e);
  if (!d.ok()) return Status::Corruption(fmt::format("position {}: {}", position, d.message()));
  if (e.position != position)
    return Status::Corruption(
        fmt::format("log key {} holds an event claiming position {}", position, e.position));
  std::string upcast_buffer;
  if (upcast && !upcasters_.empty())
    if (Status u = upcasters_.Apply(&e, &upcast_buffer); !u.ok()) return u;
  return OwnedEvent::From(e);
}

Result<codec::Hash> Store::Impl::ChainHashAt(std::uint64_t position) {
  if (position + 1 == head_.log_start() && position > 0) return head_.log_start_hash();
  rocksdb::PinnableSlice value;
  rocksdb::Status s = database_->db()->Get(rocksdb::ReadOptions(), database_->log(),
                                           store::PositionKey(position), &value);
  if (s.IsNotFound()) return Status::NotFound(fmt::format("no event at position {}", position));
  if (!s.ok()) return FromRocks(s, "reading the log");
  codec::ChainLink link;
  std::string scratch;
  if (Status d = codec::DecodeChainLink(value.ToStringView(), &scratch, &link); !d.ok())
    return Status::Corruption(fmt::format("position {}: {}", position, d.message()));
  return link.chain_hash;
}

namespace {

// Decodes the stream index run under `it`, which must belong to `stream`.
Status DecodeIndexRun(const rocksdb::Iterator& it, std::string_view stream,
                      std::uint64_t* first_version, std::uint64_t* first_position,
                      std::uint64_t* count) {
  std::string_view found;
  if (!store::DecodeStreamKey(it.key().ToStringView(), &found, first_version) || found != stream ||
      !store::DecodeStreamRunValue(it.value().ToStringView(), first_position, count))
    return Status::Corruption(fmt::format("malformed stream index entry in stream '{}'", stream));
  return Status::Ok();
}

// Fills `info` for info->stream, whose versions below `truncate_before` are hidden and whose
// events past position `through` (the published head) are not visible yet: kNotFound when
// none is. Leaves `it` on the stream's last visible entry. A stream always keeps its last
// entry (a removed-version marker once retention took every event), and its readable events
// are one run of versions, held by index runs (docs/format.md, "Index runs").
Status FillStreamInfo(rocksdb::Iterator* it, std::uint64_t truncate_before, std::uint64_t through,
                      StreamInfo* info) {
  const std::uint64_t from = std::max<std::uint64_t>(truncate_before, 1);
  // The first readable version: in the run holding `from`, or in the first run after it.
  SeekStreamRun(it, info->stream, from);
  std::uint64_t first_version = 0, first_position = store::kRemovedPosition;
  for (; AtStream(*it, info->stream); it->Next()) {
    std::uint64_t v0 = 0, p0 = 0, n = 0;
    if (Status s = DecodeIndexRun(*it, info->stream, &v0, &p0, &n); !s.ok()) return s;
    if (p0 == store::kRemovedPosition || v0 + n - 1 < from) continue;
    first_version = std::max(v0, from);
    first_position = p0 + (first_version - v0);
    break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the stream index");
  it->SeekForPrev(store::StreamKey(info->stream, UINT64_MAX));
  for (bool stepped_back = false;; stepped_back = true) {
    if (!it->Valid()) {
      if (!it->status().ok()) return FromRocks(it->status(), "reading the stream index");
      if (stepped_back) return Status::NotFound(fmt::format("stream '{}' not found", info->stream));
      return Status::Corruption(fmt::format("stream '{}' index has no last entry", info->stream));
    }
    if (!AtStream(*it, info->stream))
      return Status::NotFound(fmt::format("stream '{}' not found", info->stream));
    std::uint64_t v0 = 0, p0 = 0, n = 0;
    if (Status s = DecodeIndexRun(*it, info->stream, &v0, &p0, &n); !s.ok()) return s;
    // A run is written by one group: visible whole (a removed-version marker's position is 0)
    // or, while that group's sync is under way, not at all.
    if (p0 <= through) {
      info->last_version = v0 + n - 1;
      info->last_position = p0 == store::kRemovedPosition ? p0 : p0 + n - 1;
      break;
    }
    it->Prev();
  }
  if (first_position > through) first_position = info->last_position;
  if (info->last_position == store::kRemovedPosition || first_position == store::kRemovedPosition ||
      info->last_version < from) {
    info->deleted = true;
    info->last_position = 0;
    return Status::Ok();
  }
  info->first_version = first_version;
  info->first_position = first_position;
  info->event_count = info->last_version - first_version + 1;
  return Status::Ok();
}

}  // namespace

Result<StreamInfo> Store::Impl::ReadableStreamInfo(std::string_view stream) {
  auto info = GetStreamInfo(stream);
  if (info.ok() && info->deleted)
    return Status::NotFound(
        fmt::format("stream '{}' has no readable events: deleted or truncated through version {}",
                    stream, info->last_version));
  return info;
}

Result<StreamInfo> Store::Impl::GetStreamInfo(std::string_view stream) {
  if (!database_) return ClosedError();
  const std::string lower = store::StreamKey(stream, 0);
  const std::string upper = store::StreamKeyLimit(stream);
  rocksdb::Slice lo(lower), hi(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lo;
  ro.iterate_upper_bound = &hi;
  std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(ro, database_->streams()));
  it->SeekToFirst();
  if (!it->Valid()) {
    if (!it->status().ok()) return FromRocks(it->status(), "reading the stream index");
    return Status::NotFound(fmt::format("stream '{}' not found", stream));
  }
  auto truncate_before = TruncateBefore(stream);
  if (!truncate_before.ok()) return truncate_before.status();
  StreamInfo info;
  info.stream = std::string(stream);
  if (Status s = FillStreamInfo(it.get(), *truncate_before, head_.position(), &info); !s.ok())
    return s;
  return info;
}

// One iterator walks the whole listing: per stream, its first entry, a jump to its last
// entry, then a jump past it; a second walks the stream metadata beside it.
Result<std::vector<StreamInfo>> Store::Impl::ListStreams(std::string_view prefix, std::size_t limit,
                                                         std::string_view start_after) {
  if (!database_) return ClosedError();
  std::vector<StreamInfo> out;
  const std::uint64_t through = head_.position();
  std::unique_ptr<rocksdb::Iterator> it(
      database_->db()->NewIterator(rocksdb::ReadOptions(), database_->streams()));
  std::string seek = std::string(prefix);
  std::string_view first_stream = prefix;
  if (!start_after.empty() && start_after > prefix) {
    seek = store::StreamKeyLimit(start_after);
    first_stream = start_after;
  }
  it->Seek(seek);
  std::unique_ptr<rocksdb::Iterator> metadata = NewStreamMetadataScan(first_stream);
  while (it->Valid() && out.size() < limit) {
    std::string_view stream;
    std::uint64_t version = 0;
    if (!store::DecodeStreamKey(it->key().ToStringView(), &stream, &version))
      return Status::Corruption("malformed stream index key");
    if (stream.substr(0, prefix.size()) != prefix) break;
    StreamInfo info;
    info.stream = std::string(stream);
    auto truncate_before = TruncateBefore(metadata.get(), info.stream);
    if (!truncate_before.ok()) return truncate_before.status();
    if (Status s = FillStreamInfo(it.get(), *truncate_before, through, &info);
        s.code() == StatusCode::kNotFound) {
      it->Seek(store::StreamKeyLimit(info.stream));  // its first events are still syncing
      continue;
    } else if (!s.ok()) {
      return s;
    }
    out.push_back(std::move(info));
    it->Seek(store::StreamKeyLimit(out.back().stream));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing streams");
  return out;
}

}  // namespace cairn
