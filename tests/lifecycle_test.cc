// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "Lifecycle" (docs/lifecycle.md): upcasting, snapshots (readers keep
// theirs through retention), soft delete, retention and the backlog quota.
#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include <rocksdb/db.h>

#include "cairn/subscription.h"
#include "store/keys.h"
#include "test_util.h"

namespace cairn::testing {
namespace {

using namespace std::chrono_literals;

std::uint64_t SstBytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    if (f.path().extension() == ".sst") total += f.file_size();
  return total;
}

std::vector<std::uint64_t> Positions(Store& store) {
  std::vector<std::uint64_t> out;
  for (const auto& e : Drain(std::move(store.ReadLog()).value())) out.push_back(e.position);
  return out;
}

void ExpectVerifies(Store& store) {
  auto report = store.Verify();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << report->problems.front().position << ": "
                            << report->problems.front().what;
  EXPECT_TRUE(report->indexes_checked);
}

// ---------------------------------------------------------------- upcasting

StoreOptions WithOrderUpcasters() {
  StoreOptions o = QuietOptions();
  // v1 {"amount":N} -> v2 {"amount":N,"currency":"EUR"} -> v3 {"total":{"amount":N,...}}
  o.upcasters.push_back({"OrderPlaced", 1, [](const RecordedEvent& e) -> Result<std::string> {
                           std::string p(e.payload);
                           if (p.empty() || p.back() != '}')
                             return Status::InvalidArgument("not an object");
                           p.pop_back();
                           return p + ",\"currency\":\"EUR\"}";
                         }});
  o.upcasters.push_back({"OrderPlaced", 2, [](const RecordedEvent& e) -> Result<std::string> {
                           return "{\"total\":" + std::string(e.payload) + "}";
                         }});
  return o;
}

EventData Versioned(std::string payload, std::uint32_t schema) {
  EventData e = Event("OrderPlaced", std::move(payload));
  e.schema_version = schema;
  return e;
}

TEST(UpcastTest, StepsApplyByVersionOnEveryReadAndStoredBytesNeverChange) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"), WithOrderUpcasters());
  ASSERT_THAT(store->Append("order-1", ExpectedVersion::NoStream(),
                            std::vector<EventData>{Versioned(R"({"amount":5})", 1),
                                                   Versioned(R"({"amount":6,"currency":"USD"})", 2),
                                                   Versioned(R"({"total":{"amount":7}})", 3),
                                                   Event("OrderShipped", "{}")}),
              IsOk());
  const std::string want3[] = {R"({"total":{"amount":5,"currency":"EUR"}})",
                               R"({"total":{"amount":6,"currency":"USD"}})",
                               R"({"total":{"amount":7}})"};
  auto by_stream = Drain(std::move(store->ReadStream("order-1")).value());
  auto by_log = Drain(std::move(store->ReadLog()).value());
  auto by_type =
      Drain(std::move(store->ReadByTypes(std::vector<std::string>{"OrderPlaced"})).value());
  ASSERT_EQ(by_stream.size(), 4u);
  ASSERT_EQ(by_type.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(by_stream[i].payload, want3[i]);
    EXPECT_EQ(by_stream[i].schema_version, 3u);
    EXPECT_EQ(by_log[i].payload, want3[i]);
    EXPECT_EQ(by_type[i].payload, want3[i]);
  }
  EXPECT_EQ(by_stream[3].payload, "{}");  // no upcaster for the type: as stored
  EXPECT_EQ(store->ReadEvent(1)->payload, want3[0]);
  // Stored bytes, and the schema version they were appended with.
  auto raw = store->ReadEvent(1, /*upcast=*/false);
  EXPECT_EQ(raw->payload, R"({"amount":5})");
  EXPECT_EQ(raw->schema_version, 1u);
  StreamReadOptions stored;
  stored.upcast = false;
  EXPECT_EQ(Drain(std::move(store->ReadStream("order-1", stored)).value())[1].schema_version, 2u);
  ExpectVerifies(*store);
  // Subscriptions see the current shape.
  std::vector<std::string> seen;
  auto sub = Subscription::Start(*store, {}, [&](const RecordedEvent& e) {
    seen.emplace_back(e.payload);
    return Status::Ok();
  });
  ASSERT_THAT(sub, IsOk());
  ASSERT_THAT(S((*sub)->WaitUntil(4, 10s)), IsOk());
  (*sub).reset();
  EXPECT_EQ(seen[0], want3[0]);

  // Reopened without upcasters: the stored bytes, and the chain still verifies.
  store.reset();
  store = OpenOrDie(dir.Sub("s"));
  EXPECT_EQ(store->ReadEvent(1)->payload, R"({"amount":5})");
  ExpectVerifies(*store);
}

TEST(UpcastTest, SchemaVersionIsPartOfTheEventAndItsChainHash) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  EventData e = Versioned("{}", 1);
  e.id = EventId::Generate();
  ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), e), IsOk());
  // A retry claiming another schema version is another event.
  EventData other = e;
  other.schema_version = 2;
  EXPECT_THAT(store->Append("a", ExpectedVersion::Any(), other),
              StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(store->Append("a", ExpectedVersion::Any(), Versioned("{}", 0)),
              StatusIs(StatusCode::kInvalidArgument));
  ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), Versioned("{}", 7)), IsOk());
  EXPECT_EQ(store->ReadEvent(2)->schema_version, 7u);
  ExpectVerifies(*store);
}

TEST(UpcastTest, BadUpcastersAreRefusedAndFailuresStopTheReadNamingThePosition) {
  TempDir dir;
  StoreOptions dup = WithOrderUpcasters();
  dup.upcasters.push_back(dup.upcasters.front());
  auto refused = Store::Open(dir.Sub("s"), dup);
  EXPECT_THAT(refused, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("two upcasters for 'OrderPlaced'"));

  auto store = OpenOrDie(dir.Sub("s"), WithOrderUpcasters());
  ASSERT_THAT(store->Append("o", ExpectedVersion::Any(),
                            std::vector<EventData>{Versioned(R"({"amount":1})", 1),
                                                   Versioned("not json", 1)}),
              IsOk());
  {
    auto reader = store->ReadStream("o");
    ASSERT_THAT(reader, IsOk());
    ASSERT_TRUE(reader->Valid());
    reader->Next();
    EXPECT_FALSE(reader->Valid());
    EXPECT_EQ(reader->status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(reader->status().message(), ::testing::HasSubstr("at position 2"));
  }

  StoreOptions throwing = QuietOptions();
  throwing.upcasters.push_back({"OrderPlaced", 1, [](const RecordedEvent&) -> Result<std::string> {
                                  throw std::runtime_error("bad shape");
                                }});
  store.reset();
  store = OpenOrDie(dir.Sub("s"), throwing);
  auto e = store->ReadEvent(1);
  EXPECT_THAT(e, StatusIs(StatusCode::kInternal));
  EXPECT_THAT(e.status().message(), ::testing::HasSubstr("bad shape"));
}

namespace {
// Rewrites the store at `path` as a version-2 build wrote it: one stream index entry and one
// type index entry per event (the index runs of format version 3 expanded), format version 2.
void RewriteAsVersionTwo(const std::string& path) {
  testing::WithRawDb(path, [](rocksdb::DB* db, auto& families) {
    rocksdb::WriteBatch batch;
    std::size_t expanded = 0;
    for (const bool streams : {true, false}) {
      rocksdb::ColumnFamilyHandle* family =
          families[streams ? store::kStreamsFamily : store::kTypesFamily];
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::string_view name;
        std::uint64_t first = 0, position = 0, count = 0;
        if (streams) {
          ASSERT_TRUE(store::DecodeStreamKey(it->key().ToStringView(), &name, &first));
          ASSERT_TRUE(store::DecodeStreamRunValue(it->value().ToStringView(), &position, &count));
        } else {
          ASSERT_TRUE(store::DecodeTypeKey(it->key().ToStringView(), &name, &first));
          ASSERT_TRUE(store::DecodeTypeRunValue(it->value().ToStringView(), &count));
        }
        if (count == 1) continue;  // already what version 2 wrote
        ++expanded;
        batch.Delete(family, it->key());
        for (std::uint64_t k = 0; k < count; ++k) {
          std::string key;
          if (streams) {
            store::AppendStreamKey(name, first + k, &key);
            batch.Put(family, key, store::PositionKey(position + k));
          } else {
            store::AppendTypeKey(name, first + k, &key);
            batch.Put(family, key, rocksdb::Slice());
          }
        }
      }
    }
    EXPECT_GT(expanded, 0u) << "the store held no run to expand";
    std::string v;
    store::PutLittleEndian(2, 4, &v);
    batch.Put(families[store::kMetaFamily], store::kMetaFormatVersion, v);
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &batch).ok());
  });
}

std::vector<std::uint64_t> Versions(Store& store, std::string_view stream, Direction d) {
  std::vector<std::uint64_t> out;
  auto r = store.ReadStream(stream, {d});
  EXPECT_THAT(r, IsOk());
  if (!r.ok()) return out;
  for (; r->Valid(); r->Next()) out.push_back(r->event().version);
  EXPECT_THAT(S(r->status()), IsOk());
  return out;
}
std::vector<std::uint64_t> TypePositions(Store& store, const std::string& type,
                                         std::uint64_t from) {
  std::vector<std::uint64_t> out;
  std::vector<std::string> types{type};
  LogReadOptions o;
  o.from_position = from;
  auto r = store.ReadByTypes(types, o);
  EXPECT_THAT(r, IsOk());
  if (!r.ok()) return out;
  for (; r->Valid(); r->Next()) out.push_back(r->event().position);
  EXPECT_THAT(S(r->status()), IsOk());
  return out;
}
}  // namespace

// Format version 3 keeps one index entry per run of an append's events (docs/format.md,
// "Index runs"). A store a version-2 build wrote (one entry per event) reads as it is,
// upgrades on its first writable open, and then holds both layouts side by side: reads,
// reads by type, retention across both and verify all agree.
TEST(FormatTest, AVersionTwoStoreWithPerEventIndexEntriesReadsUpgradesAndKeepsWorking) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  {
    auto store = OpenOrDie(path);
    std::vector<EventData> three{Event("E", "1"), Event("E", "2"), Event("F", "3")};
    ASSERT_THAT(store->Append("a", ExpectedVersion::NoStream(), three), IsOk());
    ASSERT_THAT(store->Append("b", ExpectedVersion::Any(), Event("E")), IsOk());
  }
  RewriteAsVersionTwo(path);
  StoreOptions ro = QuietOptions();
  ro.read_only = true;
  {
    auto old = OpenOrDie(path, ro);
    EXPECT_EQ(old->GetInfo().format_version, 2u);
    EXPECT_EQ(Versions(*old, "a", Direction::kForward), (std::vector<std::uint64_t>{1, 2, 3}));
    ExpectVerifies(*old);
  }
  auto store = OpenOrDie(path);
  EXPECT_EQ(store->GetInfo().format_version, kFormatVersion);
  // New appends write runs beside the per-event entries.
  std::vector<EventData> more{Event("E", "4"), Event("E", "5"), Event("E", "6"), Event("F", "7")};
  ASSERT_THAT(store->Append("a", ExpectedVersion::Exact(3), more), IsOk());
  EXPECT_EQ(Versions(*store, "a", Direction::kForward),
            (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(Versions(*store, "a", Direction::kBackward),
            (std::vector<std::uint64_t>{7, 6, 5, 4, 3, 2, 1}));
  {
    auto from5 = store->ReadStream("a", {Direction::kForward, 5, 2});
    ASSERT_THAT(from5, IsOk());
    ASSERT_TRUE(from5->Valid());
    EXPECT_EQ(from5->event().payload, "5");
  }
  EXPECT_EQ(TypePositions(*store, "E", 6),  // inside the run of E at positions 5..7
            (std::vector<std::uint64_t>{6, 7}));
  auto info = store->GetStreamInfo("a");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->last_version, 7u);
  EXPECT_EQ(info->last_position, 8u);
  ExpectVerifies(*store);

  // Retention through the old entries and into the middle of a run: a keeps versions 6 and 7.
  StreamMetadata keep_two;
  keep_two.max_count = 2;
  ASSERT_THAT(S(store->SetStreamMetadata("a", keep_two)), IsOk());
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", store->GetInfo().last_position)), IsOk());
  RetentionPolicy policy;
  policy.min_audit_age = 0s;
  auto removed = store->ApplyRetention(policy);
  ASSERT_THAT(removed, IsOk());
  EXPECT_EQ(removed->removed_events, 5u);
  EXPECT_EQ(Versions(*store, "a", Direction::kForward), (std::vector<std::uint64_t>{6, 7}));
  EXPECT_EQ(Versions(*store, "a", Direction::kBackward), (std::vector<std::uint64_t>{7, 6}));
  auto after = store->GetStreamInfo("a");
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->first_version, 6u);
  EXPECT_EQ(after->first_position, 7u);
  EXPECT_EQ(TypePositions(*store, "E", 1),
            (std::vector<std::uint64_t>{4, 7}));  // b's event, then a's version 6
  ExpectVerifies(*store);
  store.reset();
  store = OpenOrDie(path);
  EXPECT_EQ(Versions(*store, "a", Direction::kForward), (std::vector<std::uint64_t>{6, 7}));
  ExpectVerifies(*store);
}

TEST(FormatTest, AVersionOneStoreIsUpgradedByItsWriterOnly) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.Sub("s"));
    ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), Event("E")), IsOk());
  }
  testing::WithRawDb(dir.Sub("s"), [](rocksdb::DB* db, auto& families) {
    std::string v;
    store::PutLittleEndian(1, 4, &v);
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), families[store::kMetaFamily], store::kMetaFormatVersion, v)
            .ok());
  });
  StoreOptions ro = QuietOptions();
  ro.read_only = true;
  EXPECT_EQ(OpenOrDie(dir.Sub("s"), ro)->GetInfo().format_version, 1u);
  EXPECT_EQ(OpenOrDie(dir.Sub("s"))->GetInfo().format_version, kFormatVersion);
  auto store = OpenOrDie(dir.Sub("s"), ro);
  EXPECT_EQ(store->GetInfo().format_version, kFormatVersion);
  ExpectVerifies(*store);
}

// ---------------------------------------------------------------- snapshots

// A toy aggregate: the sum and count of the amounts in its events.
struct Tally {
  std::int64_t sum = 0;
  std::uint64_t count = 0;
  Status Apply(const RecordedEvent& e) {
    sum += std::stoll(std::string(e.payload));
    ++count;
    return Status::Ok();
  }
  std::string Encode() const { return std::to_string(sum) + "," + std::to_string(count); }
  Status Restore(const Snapshot& s) {
    const auto comma = s.payload.find(',');
    sum = std::stoll(s.payload.substr(0, comma));
    count = std::stoull(s.payload.substr(comma + 1));
    return Status::Ok();
  }
};

TEST(SnapshotTest, SnapshotPlusTailEqualsFullReplay) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  std::vector<EventData> batch;
  for (int i = 1; i <= 1000; ++i) batch.push_back(Event("Added", std::to_string(i * 7 % 13 - 6)));
  ASSERT_THAT(store->Append("acct-1", ExpectedVersion::NoStream(), batch), IsOk());
  const std::uint64_t head = store->GetInfo().last_position;

  Tally full;
  auto replay = store->LoadAggregate("acct-1", nullptr,
                                     [&](const RecordedEvent& e) { return full.Apply(e); });
  ASSERT_THAT(replay, IsOk());
  EXPECT_EQ(replay->events_applied, 1000u);
  EXPECT_EQ(replay->snapshot_version, 0u);

  Tally at600;
  ASSERT_THAT(store->LoadAggregate(
                  "acct-1", nullptr, [&](const RecordedEvent& e) { return at600.Apply(e); }, 600),
              IsOk());
  ASSERT_THAT(S(store->SaveSnapshot({"acct-1", 600, "Tally", 1, at600.Encode()})), IsOk());
  EXPECT_EQ(store->GetInfo().last_position, head);  // snapshots are not events

  Tally fast;
  auto load = store->LoadAggregate(
      "acct-1", [&](const Snapshot& s) { return fast.Restore(s); },
      [&](const RecordedEvent& e) { return fast.Apply(e); });
  ASSERT_THAT(load, IsOk());
  EXPECT_EQ(load->snapshot_version, 600u);
  EXPECT_EQ(load->events_applied, 400u);
  EXPECT_EQ(load->version, 1000u);
  EXPECT_EQ(fast.sum, full.sum);
  EXPECT_EQ(fast.count, full.count);

  // Loading as of an earlier version ignores newer snapshots.
  Tally early;
  auto at_500 = store->LoadAggregate(
      "acct-1", [&](const Snapshot& s) { return early.Restore(s); },
      [&](const RecordedEvent& e) { return early.Apply(e); }, 500);
  ASSERT_THAT(at_500, IsOk());
  EXPECT_EQ(at_500->snapshot_version, 0u);
  EXPECT_EQ(early.count, 500u);
  EXPECT_THAT(store->LoadSnapshot("acct-1", 599), StatusIs(StatusCode::kNotFound));
}

TEST(SnapshotTest, KeepsTheNewestAndRefusesBadOnes) {
  TempDir dir;
  StoreOptions o = QuietOptions();
  o.snapshots_per_stream = 2;
  auto store = OpenOrDie(dir.Sub("s"), o);
  for (int i = 0; i < 10; ++i)
    ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), Event("E", "1")), IsOk());
  for (std::uint64_t v : {2, 4, 6, 8})
    ASSERT_THAT(S(store->SaveSnapshot({"a", v, "S", 1, std::to_string(v)})), IsOk());
  EXPECT_EQ(store->LoadSnapshot("a")->version, 8u);
  EXPECT_EQ(store->LoadSnapshot("a", 7)->version, 6u);
  EXPECT_THAT(store->LoadSnapshot("a", 5), StatusIs(StatusCode::kNotFound));  // 2 and 4 dropped
  EXPECT_THAT(S(store->SaveSnapshot({"a", 11, "S", 1, ""})),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(store->SaveSnapshot({"a", 0, "S", 1, ""})), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(store->SaveSnapshot({"nope", 1, "S", 1, ""})), StatusIs(StatusCode::kNotFound));
  // An apply error stops the load and is returned.
  auto failed = store->LoadAggregate("a", nullptr, [](const RecordedEvent& e) {
    return e.version == 3 ? Status::InvalidArgument("bad event") : Status::Ok();
  });
  EXPECT_THAT(failed, StatusIs(StatusCode::kInvalidArgument));
  ASSERT_THAT(S(store->DeleteSnapshots("a")), IsOk());
  EXPECT_THAT(store->LoadSnapshot("a"), StatusIs(StatusCode::kNotFound));
}

// ---------------------------------------------------------------- soft delete

TEST(StreamDeleteTest, HidesTheStreamThenAppendsContinueFromTheNextVersion) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 5; ++i)
    ASSERT_THAT(store->Append("cart-1", ExpectedVersion::Any(), Event("Added")), IsOk());
  ASSERT_THAT(store->Append("cart-2", ExpectedVersion::Any(), Event("Added")), IsOk());
  ASSERT_THAT(S(store->SaveSnapshot({"cart-1", 5, "Cart", 1, "{}"})), IsOk());

  EXPECT_THAT(store->DeleteStream("cart-1", ExpectedVersion::Exact(4)),
              StatusIs(StatusCode::kWrongExpectedVersion));
  EXPECT_THAT(store->DeleteStream("nope"), StatusIs(StatusCode::kNotFound));
  auto deleted = store->DeleteStream("cart-1", ExpectedVersion::Exact(5));
  ASSERT_THAT(deleted, IsOk());
  EXPECT_EQ(*deleted, 5u);

  auto read = store->ReadStream("cart-1");
  EXPECT_THAT(read, StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(read.status().message(), ::testing::HasSubstr("deleted"));
  auto info = store->GetStreamInfo("cart-1");
  ASSERT_THAT(info, IsOk());
  EXPECT_TRUE(info->deleted);
  EXPECT_EQ(info->last_version, 5u);
  EXPECT_EQ(info->event_count, 0u);
  EXPECT_THAT(store->LoadSnapshot("cart-1"), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(store->GetStreamMetadata("cart-1")->truncate_before, 6u);
  // The log (the audit record, and the shipper's source) still has every event.
  EXPECT_EQ(Positions(*store).size(), 6u);

  // Appends continue from version 6; the expectation sees the true last version.
  EXPECT_THAT(store->Append("cart-1", ExpectedVersion::NoStream(), Event("Added")),
              StatusIs(StatusCode::kWrongExpectedVersion));
  auto again = store->Append("cart-1", ExpectedVersion::Exact(5), Event("Added"));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->first_version, 6u);
  auto events = Drain(std::move(store->ReadStream("cart-1")).value());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].version, 6u);
  StreamReadOptions backward;
  backward.direction = Direction::kBackward;
  EXPECT_EQ(Drain(std::move(store->ReadStream("cart-1", backward)).value()).size(), 1u);
  info = store->GetStreamInfo("cart-1");
  EXPECT_FALSE(info->deleted);
  EXPECT_EQ(info->first_version, 6u);
  EXPECT_EQ(info->event_count, 1u);
  ExpectVerifies(*store);
}

// Listings read stream metadata in one walk beside the stream index; they must say what a
// lookup of each stream says, whatever the prefix or page — with metadata on neighbours whose
// ids are prefixes of each other, and on streams that have no events.
TEST(StreamDeleteTest, ListingsShowTruncationAndDeletionAsLookupsDo) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  const std::vector<std::string> streams = {"a", "a-b", "a-bc", "b", "c", "c-1"};
  for (const auto& stream : streams)
    for (int i = 0; i < 3; ++i)
      ASSERT_THAT(store->Append(stream, ExpectedVersion::Any(), Event("E")), IsOk());
  StreamMetadata truncate;
  truncate.truncate_before = 3;
  ASSERT_THAT(S(store->SetStreamMetadata("a-b", truncate)), IsOk());
  StreamMetadata capped;
  capped.max_count = 1;  // metadata without truncation
  ASSERT_THAT(S(store->SetStreamMetadata("a-bc", capped)), IsOk());
  // Metadata the walk must step over (a truncation past an event-less stream's next version
  // is refused: it would hide events not appended yet).
  for (const char* eventless : {"bb", "bc"}) {
    EXPECT_EQ(store->SetStreamMetadata(eventless, truncate).code(), StatusCode::kInvalidArgument);
    ASSERT_THAT(S(store->SetStreamMetadata(eventless, capped)), IsOk());
  }
  ASSERT_THAT(store->DeleteStream("c"), IsOk());

  auto expect_as_lookups = [&](std::string_view prefix, std::size_t limit,
                               std::string_view start_after) {
    auto listed = store->ListStreams(prefix, limit, start_after);
    ASSERT_THAT(listed, IsOk());
    std::vector<std::string> want;
    for (const auto& stream : streams)
      if (stream.starts_with(prefix) && stream > start_after && want.size() < limit)
        want.push_back(stream);
    ASSERT_EQ(listed->size(), want.size()) << prefix << " after " << start_after;
    for (std::size_t i = 0; i < want.size(); ++i) {
      const StreamInfo& got = (*listed)[i];
      auto lookup = store->GetStreamInfo(want[i]);
      ASSERT_THAT(lookup, IsOk());
      EXPECT_EQ(got.stream, want[i]);
      EXPECT_EQ(got.first_version, lookup->first_version) << got.stream;
      EXPECT_EQ(got.event_count, lookup->event_count) << got.stream;
      EXPECT_EQ(got.deleted, lookup->deleted) << got.stream;
      EXPECT_EQ(got.last_version, lookup->last_version) << got.stream;
    }
  };
  expect_as_lookups("", 100, "");
  expect_as_lookups("a", 100, "");
  expect_as_lookups("a-b", 100, "");
  expect_as_lookups("", 2, "a");
  expect_as_lookups("", 100, "a-b");
  expect_as_lookups("", 100, "b");
  expect_as_lookups("c", 1, "");

  auto all = store->ListStreams("");
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ((*all)[1].first_version, 3u);  // a-b, truncated before 3
  EXPECT_EQ((*all)[2].first_version, 1u);  // a-bc, max_count alone hides nothing
  EXPECT_TRUE((*all)[4].deleted);          // c
  EXPECT_FALSE((*all)[5].deleted);         // c-1
}

// ---------------------------------------------------------------- retention

RetentionPolicy Unshipped() {  // a store that is not shipped, no audit window: rules alone
  RetentionPolicy p;
  p.shipped_checkpoints.clear();
  p.min_audit_age = 0s;
  return p;
}

TEST(RetentionTest, RemovesExactlyWhatThePolicySaysAndTheStoreStaysWhole) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  // 4 streams interleaved, 50 events each; positions 1..200.
  const char* names[] = {"keep", "trunc", "count", "gone"};
  for (int i = 0; i < 200; ++i) {
    EventData e = Event(i % 2 ? "Odd" : "Even", std::to_string(i));
    if (i % 7 == 0) e.id = EventId::Generate();
    ASSERT_THAT(store->Append(names[i % 4], ExpectedVersion::Any(), e), IsOk());
  }
  ASSERT_THAT(S(store->SetStreamMetadata("trunc", {std::nullopt, std::nullopt, 21})), IsOk());
  ASSERT_THAT(S(store->SetStreamMetadata("count", {std::nullopt, 10, 0})), IsOk());
  ASSERT_THAT(store->DeleteStream("gone"), IsOk());
  // Shipped through 150: events after it stay whatever the rules say.
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", 150)), IsOk());

  // The model: which positions the policy removes.
  std::set<std::uint64_t> expected_kept;
  for (std::uint64_t p = 1; p <= 200; ++p) {
    const int s = static_cast<int>((p - 1) % 4);
    const std::uint64_t version = (p - 1) / 4 + 1;
    bool rule = (s == 1 && version < 21) || (s == 2 && version + 10 <= 50) || s == 3;
    if (!(rule && p <= 150)) expected_kept.insert(p);
  }
  RetentionPolicy dry;
  dry.min_audit_age = 0s;
  dry.dry_run = true;
  auto preview = store->ApplyRetention(dry);
  ASSERT_THAT(preview, IsOk());
  EXPECT_EQ(preview->removed_events, 200 - expected_kept.size());
  EXPECT_EQ(Positions(*store).size(), 200u);  // a dry run removes nothing

  RetentionPolicy policy;
  policy.min_audit_age = 0s;
  auto report = store->ApplyRetention(policy);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->removed_events, preview->removed_events);
  EXPECT_GT(report->kept_unshipped, 0u);
  auto kept = Positions(*store);
  EXPECT_EQ(std::set<std::uint64_t>(kept.begin(), kept.end()), expected_kept);
  EXPECT_EQ(store->GetInfo().first_position, 1u);  // "keep" holds position 1
  ExpectVerifies(*store);

  EXPECT_EQ(store->GetStreamInfo("trunc")->first_version, 21u);
  EXPECT_EQ(Drain(std::move(store->ReadStream("trunc")).value()).front().version, 21u);
  EXPECT_EQ(store->GetStreamInfo("count")->first_version, 38u);  // 38 is at position 151
  EXPECT_THAT(store->ReadEvent(2), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(store->ReadEvent(2).status().message(), ::testing::HasSubstr("removed by retention"));
  EXPECT_EQ(Drain(std::move(store->ReadByTypes(std::vector<std::string>{"Odd"})).value()).size(),
            static_cast<std::size_t>(std::count_if(kept.begin(), kept.end(),
                                                   [](std::uint64_t p) { return p % 2 == 0; })));

  // After a reopen: the same, and appends continue every stream's versions.
  store.reset();
  store = OpenOrDie(dir.Sub("s"));
  ExpectVerifies(*store);
  for (const char* s : names) {
    auto r = store->Append(s, ExpectedVersion::Exact(50), Event("Even"));
    ASSERT_THAT(r, IsOk()) << s;
    EXPECT_EQ(r->first_version, 51u);
  }
  // Running it again removes nothing more until the shipper moves on.
  auto second = store->ApplyRetention(policy);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->removed_events, 0u);
  ExpectVerifies(*store);
}

TEST(RetentionTest, NeverRemovesUnshippedTooYoungDeadLetteredOrOutOfStreamOrder) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 40; ++i)
    ASSERT_THAT(store->Append("s-" + std::to_string(i % 2), ExpectedVersion::Any(), Event("E")),
                IsOk());
  RetentionPolicy policy;
  policy.max_events = 1;  // every rule says: remove all but the newest
  policy.min_audit_age = 0s;
  // Never shipped: the checkpoint was never saved.
  auto r = store->ApplyRetention(policy);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->removed_events, 0u);
  EXPECT_EQ(r->kept_unshipped, 39u);
  // Shipped, but younger than the audit window.
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", 40)), IsOk());
  policy.min_audit_age = 1h;
  r = store->ApplyRetention(policy);
  EXPECT_EQ(r->removed_events, 0u);
  EXPECT_EQ(r->kept_too_young, 1u);  // the scan stops at the first too-young event
  // A dead letter at position 11 (stream s-0 version 6) keeps it and the rest of s-0.
  DeadLetter d;
  d.position = 11;
  d.stream = "s-0";
  d.version = 6;
  d.error = "MSG_SIZE_TOO_LARGE";
  ASSERT_THAT(S(store->PutDeadLetters(std::span<const DeadLetter>(&d, 1))), IsOk());
  policy.min_audit_age = 0s;
  r = store->ApplyRetention(policy);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->kept_dead_letter, 1u);
  EXPECT_GT(r->kept_stream_order, 0u);
  EXPECT_EQ(store->GetStreamInfo("s-0")->first_version, 6u);  // versions 1..5 went
  EXPECT_EQ(store->GetStreamInfo("s-1")->event_count, 1u);    // all but position 40
  EXPECT_EQ(store->GetInfo().first_position, 11u);            // range-deleted up to it
  EXPECT_EQ(store->ReadEvent(11, false)->version, 6u);
  ExpectVerifies(*store);
}

TEST(RetentionTest, AStreamWhollyRemovedKeepsItsVersion) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 10; ++i)
    ASSERT_THAT(store->Append(i < 6 ? "old" : "new", ExpectedVersion::Any(), Event("E")), IsOk());
  ASSERT_THAT(store->DeleteStream("old"), IsOk());
  auto r = store->ApplyRetention(Unshipped());
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->removed_events, 6u);
  EXPECT_EQ(store->GetInfo().first_position, 7u);
  store.reset();  // forget the writer's cached versions
  store = OpenOrDie(dir.Sub("s"));
  auto info = store->GetStreamInfo("old");
  ASSERT_THAT(info, IsOk());
  EXPECT_TRUE(info->deleted);
  EXPECT_EQ(info->last_version, 6u);
  auto next = store->Append("old", ExpectedVersion::Exact(6), Event("E"));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->first_version, 7u);
  ExpectVerifies(*store);
  // Verify from the first stored position anchors at the recorded hash.
  VerifyOptions from;
  from.from_position = 7;
  EXPECT_TRUE(store->Verify(from)->ok());
}

TEST(RetentionTest, AgeRulesAndReclaimedDisk) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  std::mt19937_64 rng(7);
  std::string payload(2000, '\0');
  for (char& c : payload) c = static_cast<char>('a' + rng() % 26);  // compresses poorly
  std::vector<EventData> batch(100, Event("Big", payload));
  for (int i = 0; i < 100; ++i)  // 10,000 events of 2 KB: old
    ASSERT_THAT(store->Append("old-" + std::to_string(i), ExpectedVersion::Any(), batch), IsOk());
  std::this_thread::sleep_for(1500ms);
  for (int i = 0; i < 5; ++i)
    ASSERT_THAT(store->Append("young", ExpectedVersion::Any(), Event("Small")), IsOk());
  // Measure what is on disk: flush everything into SST files first.
  store.reset();
  store = OpenOrDie(dir.Sub("s"));
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", store->GetInfo().last_position)), IsOk());
  std::vector<std::int64_t> young_ts;
  for (const auto& e : Drain(std::move(store->ReadStream("young")).value()))
    young_ts.push_back(e.timestamp_us);
  const std::uint64_t before = SstBytes(dir.Sub("s"));
  RetentionPolicy policy;
  policy.min_audit_age = 0s;
  policy.max_age = 1s;
  auto r = store->ApplyRetention(policy);
  const std::int64_t done_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
  ASSERT_THAT(r, IsOk());
  // The old events were 1.5 s old at least when retention started: all go. A young event may
  // go too only if it was over 1 s old by the time retention finished (a slow machine).
  std::size_t young_kept_for_sure = 0;
  for (std::int64_t ts : young_ts) young_kept_for_sure += ts >= done_us - 1000000;
  EXPECT_GE(r->removed_events, 10000u);
  EXPECT_LE(r->removed_events, 10000u + 5 - young_kept_for_sure);
  EXPECT_GE(store->GetInfo().first_position, 10001u);
  const std::uint64_t after = SstBytes(dir.Sub("s"));
  RecordProperty("sst_bytes_before", std::to_string(before));
  RecordProperty("sst_bytes_after", std::to_string(after));
  // 20 MB of payloads (12 MB compressed) went; what stays is the young events and index tombstones.
  EXPECT_GT(before, 10u << 20);
  EXPECT_LT(after, before / 4) << "before " << before << " after " << after;
  EXPECT_GE(Positions(*store).size(), young_kept_for_sure);
  ExpectVerifies(*store);
}

// ---------------------------------------------------------------- backlog quota

StoreOptions WithQuota(BacklogQuota::Policy policy, std::chrono::milliseconds timeout) {
  StoreOptions o = QuietOptions();
  o.backlog_quota.max_events = 100;
  o.backlog_quota.policy = policy;
  o.backlog_quota.block_timeout = timeout;
  return o;
}

TEST(BacklogQuotaTest, RejectFailsAtOnceAndRecoversWhenTheShipperMovesOn) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"), WithQuota(BacklogQuota::Policy::kReject, 0ms));
  for (int i = 0; i < 10; ++i)
    ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), std::vector<EventData>(10, Event("E"))),
                IsOk());
  auto refused = store->Append("a", ExpectedVersion::Any(), Event("E"));
  EXPECT_THAT(refused, StatusIs(StatusCode::kResourceExhausted));
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("backlog quota"));
  EXPECT_EQ(store->GetInfo().last_position, 100u);  // nothing stored
  BacklogStatus b = store->GetBacklog();
  EXPECT_EQ(b.events, 100u);
  EXPECT_EQ(b.rejected_appends, 1u);
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", 50)), IsOk());
  EXPECT_THAT(store->Append("a", ExpectedVersion::Any(), Event("E")), IsOk());
  EXPECT_EQ(store->GetBacklog().events, 51u);
  // The backlog is counted again from the checkpoint after a reopen.
  store.reset();
  store = OpenOrDie(dir.Sub("s"), WithQuota(BacklogQuota::Policy::kReject, 0ms));
  EXPECT_EQ(store->GetBacklog().events, 51u);
}

TEST(BacklogQuotaTest, BlockWaitsForTheShipperOrTimesOut) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"), WithQuota(BacklogQuota::Policy::kBlock, 10s));
  ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), std::vector<EventData>(100, Event("E"))),
              IsOk());
  auto blocked = std::async(std::launch::async,
                            [&] { return store->Append("a", ExpectedVersion::Any(), Event("E")); });
  EXPECT_EQ(blocked.wait_for(300ms), std::future_status::timeout);  // still waiting
  EXPECT_EQ(store->GetInfo().last_position, 100u);
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", 100)), IsOk());
  auto done = blocked.get();
  ASSERT_THAT(done, IsOk());
  EXPECT_EQ(done->first_position, 101u);
  EXPECT_EQ(store->GetBacklog().blocked_appends, 1u);

  store.reset();
  store = OpenOrDie(dir.Sub("s"), WithQuota(BacklogQuota::Policy::kBlock, 50ms));
  ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), std::vector<EventData>(99, Event("E"))),
              IsOk());
  auto timed_out = store->Append("a", ExpectedVersion::Any(), Event("E"));
  EXPECT_THAT(timed_out, StatusIs(StatusCode::kResourceExhausted));
  EXPECT_THAT(timed_out.status().message(), ::testing::HasSubstr("after waiting 50 ms"));
}

TEST(BacklogQuotaTest, ABytesLimitCountsStoredSize) {
  TempDir dir;
  StoreOptions o = QuietOptions();
  o.backlog_quota.max_bytes = 100 << 10;
  o.backlog_quota.policy = BacklogQuota::Policy::kReject;
  auto store = OpenOrDie(dir.Sub("s"), o);
  const std::string kb(1024, 'x');
  int stored = 0;
  while (store->Append("a", ExpectedVersion::Any(), Event("E", kb)).ok()) ++stored;
  EXPECT_GT(stored, 50);
  EXPECT_LT(stored, 100);
  EXPECT_GE(store->GetBacklog().bytes, static_cast<std::uint64_t>(stored) * 1024);
  ASSERT_THAT(S(store->SaveCheckpoint("shipper", store->GetInfo().last_position)), IsOk());
  EXPECT_EQ(store->GetBacklog().bytes, 0u);
  EXPECT_THAT(store->Append("a", ExpectedVersion::Any(), Event("E", kb)), IsOk());
}

// ---------------------------------------------------------------- subscribers

TEST(SnapshotTest, EveryReaderKeepsItsSnapshotWhileRetentionRemovesWhatItReads) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 400; ++i)
    ASSERT_THAT(
        store->Append(i % 2 ? "a-1" : "b-1", ExpectedVersion::Any(), Event(i % 2 ? "A" : "B")),
        IsOk());
  StreamReadOptions one_at_a_time;
  auto stream = store->ReadStream("a-1", one_at_a_time);
  ASSERT_THAT(stream, IsOk());
  const std::vector<std::string> types = {"A", "B"};
  auto by_type = store->ReadByTypes(types);
  ASSERT_THAT(by_type, IsOk());
  auto log = store->ReadLog();
  ASSERT_THAT(log, IsOk());
  ASSERT_TRUE(stream->Valid() && by_type->Valid() && log->Valid());

  RetentionPolicy everything;
  everything.shipped_checkpoints.clear();
  everything.min_audit_age = std::chrono::seconds(0);
  everything.max_events = 10;  // removes all but the newest 10 positions
  auto removed = store->ApplyRetention(everything);
  ASSERT_THAT(removed, IsOk());
  ASSERT_GT(removed->removed_events, 300u);

  std::uint64_t n = 0;
  for (; stream->Valid(); stream->Next()) ++n;
  EXPECT_THAT(S(stream->status()), IsOk());
  EXPECT_EQ(n, 200u);
  n = 0;
  for (; by_type->Valid(); by_type->Next()) ++n;
  EXPECT_THAT(S(by_type->status()), IsOk());
  EXPECT_EQ(n, 400u);
  n = 0;
  for (; log->Valid(); log->Next()) ++n;
  EXPECT_THAT(S(log->status()), IsOk());
  EXPECT_EQ(n, 400u);
}

}  // namespace
}  // namespace cairn::testing
