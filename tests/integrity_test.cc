// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "What the chain proves, and what needs an anchor": the hash chain,
// verify and anchors (a head removed from the log), and opening foreign, locked, newer and
// corrupt stores. These tests reach under the API with raw RocksDB to damage stores the way
// disks and people do.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <flatbuffers/flatbuffers.h>
#include <rocksdb/db.h>

#include "codec/chain.h"
#include "codec/crc32c.h"
#include "codec/envelope.h"
#include "store/keys.h"
#include "test_util.h"

namespace cairn {
namespace {
using testing::Drain;
using testing::Event;
using testing::IsOk;
using testing::StatusIs;
using testing::WithRawDb;

std::string Fill(const std::string& path, int n) {
  auto store = testing::OpenOrDie(path);
  for (int i = 0; i < n; ++i)
    EXPECT_THAT(store->Append("order-" + std::to_string(i % 3), ExpectedVersion::Any(),
                              Event("OrderPlaced", "{\"i\":" + std::to_string(i) + "}")),
                IsOk());
  return store->GetInfo().store_id;
}

TEST(OpenTest, SecondWriterIsRefusedWithTheDirectoryNamed) {
  testing::TempDir dir;
  auto first = testing::OpenOrDie(dir.Sub("store"));
  auto second = Store::Open(dir.Sub("store"), testing::QuietOptions());
  EXPECT_THAT(second, StatusIs(StatusCode::kBusy));
  EXPECT_THAT(second.status().message(), ::testing::HasSubstr(dir.Sub("store")));
  // A read-only handle may coexist with the writer.
  StoreOptions ro = testing::QuietOptions();
  ro.read_only = true;
  EXPECT_THAT(Store::Open(dir.Sub("store"), ro), IsOk());
}

TEST(OpenTest, ForeignDirectoryIsRefusedAndLeftAlone) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("notes.txt")) << "keep me";
  auto r = Store::Open(dir.path(), testing::QuietOptions());
  EXPECT_THAT(r, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("not a cairn store"));
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("notes.txt")));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("CURRENT")));

  std::ofstream(dir.Sub("file")) << "x";
  EXPECT_THAT(Store::Open(dir.Sub("file"), testing::QuietOptions()),
              StatusIs(StatusCode::kFailedPrecondition));
}

TEST(OpenTest, PlainRocksDbIsNotACairnStore) {
  testing::TempDir dir;
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, dir.Sub("rocks"), &db).ok());
  delete db;
  auto r = Store::Open(dir.Sub("rocks"), testing::QuietOptions());
  EXPECT_THAT(r, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("not a cairn store"));
}

TEST(OpenTest, MissingStoreWithoutCreateIsNotFound) {
  testing::TempDir dir;
  StoreOptions o = testing::QuietOptions();
  o.create_if_missing = false;
  EXPECT_THAT(Store::Open(dir.Sub("nope"), o), StatusIs(StatusCode::kNotFound));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("nope")));
}

TEST(OpenTest, NewerFormatIsRefusedClearly) {
  testing::TempDir dir;
  Fill(dir.Sub("store"), 2);
  WithRawDb(dir.Sub("store"), [](rocksdb::DB* db, auto& cf) {
    std::string v;
    store::PutLittleEndian(kFormatVersion + 1, 4, &v);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["default"], store::kMetaFormatVersion, v).ok());
  });
  auto r = Store::Open(dir.Sub("store"), testing::QuietOptions());
  EXPECT_THAT(r, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("newer cairn (format version " +
                                                         std::to_string(kFormatVersion + 1) + ")"));
}

TEST(IntegrityTest, CorruptValueIsACorruptionErrorNotACrash) {
  testing::TempDir dir;
  Fill(dir.Sub("store"), 6);
  WithRawDb(dir.Sub("store"), [](rocksdb::DB* db, auto& cf) {
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf["log"], store::PositionKey(3), &value).ok());
    value[value.size() / 2] ^= 0x20;  // one flipped bit in the middle of the envelope
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["log"], store::PositionKey(3), value).ok());
  });
  auto store = testing::OpenOrDie(dir.Sub("store"));
  EXPECT_THAT(store->ReadEvent(3), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(store->ReadEvent(2), IsOk());
  auto reader = store->ReadLog();
  ASSERT_THAT(reader, IsOk());
  std::uint64_t seen = 0;
  for (; reader->Valid(); reader->Next()) seen = reader->event().position;
  EXPECT_EQ(seen, 2u);
  EXPECT_EQ(reader->status().code(), StatusCode::kCorruption);
  EXPECT_THAT(reader->status().message(), ::testing::HasSubstr("position 3"));
  // The stream reader also stops with Corruption (position 3 is order-2 version 1).
  auto stream = store->ReadStream("order-2");
  ASSERT_THAT(stream, IsOk());
  while (stream->Valid()) stream->Next();
  EXPECT_EQ(stream->status().code(), StatusCode::kCorruption);
}

TEST(IntegrityTest, GarbageValuesOfEveryLengthNeverCrash) {
  testing::TempDir dir;
  Fill(dir.Sub("store"), 2);
  std::mt19937 rng(7);
  for (int len : {0, 1, 7, 8, 9, 15, 16, 40, 200, 4096}) {
    std::string garbage(len, '\0');
    for (auto& c : garbage) c = static_cast<char>(rng());
    if (len > 0) garbage[0] = 1;  // pass the format byte to reach the deeper checks
    RecordedEvent e;
    std::string scratch;
    EXPECT_EQ(codec::DecodeEvent(garbage, &scratch, &e).code(), StatusCode::kCorruption) << len;
  }
  // A value with a valid checksum but a broken FlatBuffer inside.
  WithRawDb(dir.Sub("store"), [](rocksdb::DB* db, auto& cf) {
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf["log"], store::PositionKey(1), &value).ok());
    std::string body = value.substr(8);
    body[0] = static_cast<char>(0xFF);  // root offset far out of bounds
    body[1] = static_cast<char>(0xFF);
    std::string rebuilt = value.substr(0, 4);
    const std::uint32_t crc = codec::Crc32c(body.data(), body.size());
    for (int i = 0; i < 4; ++i) rebuilt.push_back(static_cast<char>(crc >> (8 * i)));
    rebuilt += body;
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["log"], store::PositionKey(1), rebuilt).ok());
  });
  auto store = testing::OpenOrDie(dir.Sub("store"));
  EXPECT_THAT(store->ReadEvent(1), StatusIs(StatusCode::kCorruption));
}

TEST(IntegrityTest, CorruptLastEventFailsOpenWithCorruption) {
  testing::TempDir dir;
  Fill(dir.Sub("store"), 3);
  WithRawDb(dir.Sub("store"), [](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["log"], store::PositionKey(3), "junk").ok());
  });
  EXPECT_THAT(Store::Open(dir.Sub("store"), testing::QuietOptions()),
              StatusIs(StatusCode::kCorruption));
}

// Recomputes the chain from the genesis value and each event's canonical bytes.
TEST(IntegrityTest, ChainHashesRecompute) {
  testing::TempDir dir;
  const std::string store_id = Fill(dir.Sub("store"), 50);
  auto store = testing::OpenOrDie(dir.Sub("store"));
  codec::ChainHasher hasher;
  codec::Hash prev = hasher.Genesis(*EventId::Parse(store_id));
  auto reader = store->ReadLog();
  ASSERT_THAT(reader, IsOk());
  int n = 0;
  for (; reader->Valid(); reader->Next(), ++n) {
    const RecordedEvent& e = reader->event();
    codec::Hash expect = hasher.Next(prev, e);
    ASSERT_EQ(HexHash(expect), HexHash(e.chain_hash)) << "position " << e.position;
    prev = expect;
  }
  EXPECT_EQ(n, 50);
  EXPECT_EQ(store->GetInfo().last_chain_hash, prev);
  // Editing any field changes the hash.
  auto e = store->ReadEvent(10);
  ASSERT_THAT(e, IsOk());
  RecordedEvent f{e->id,      e->stream,       e->version,       e->position,
                  e->type,    e->timestamp_us, e->content_type,  e->metadata,
                  e->payload, e->chain_hash,   e->id_from_caller};
  auto before = store->ReadEvent(9);
  const codec::Hash good = hasher.Next(before->chain_hash, f);
  EXPECT_EQ(good, e->chain_hash);
  std::string payload = e->payload + " ";
  f.payload = payload;
  EXPECT_NE(hasher.Next(before->chain_hash, f), e->chain_hash);
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

TEST(LoggingTest, LogLinesGoToTheHostSink) {
  testing::TempDir dir;
  std::mutex mu;
  std::vector<std::pair<LogLevel, std::string>> lines;
  StoreOptions o;
  o.log_level = LogLevel::kInfo;
  o.log_sink = [&](LogLevel level, std::string_view msg) {
    std::lock_guard<std::mutex> lk(mu);
    lines.emplace_back(level, std::string(msg));
  };
  {
    auto store = testing::OpenOrDie(dir.Sub("store"), o);
    ASSERT_NE(store, nullptr);
  }
  std::lock_guard<std::mutex> lk(mu);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].first, LogLevel::kInfo);
  EXPECT_THAT(lines[0].second, ::testing::HasSubstr("opened store " + dir.Sub("store")));
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

// A damaged stream index entry must stop appends to that stream, not restart it at version 1.
TEST(IntegrityTest, MalformedStreamIndexStopsAppendsToThatStream) {
  testing::TempDir dir;
  Fill(dir.Sub("store"), 3);  // order-0, order-1, order-2 at version 1
  WithRawDb(dir.Sub("store"), [](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), cf["streams"], store::StreamKey("order-1", 1), "bad")
            .ok());
  });
  auto store = testing::OpenOrDie(dir.Sub("store"));
  EXPECT_THAT(store->Append("order-1", ExpectedVersion::Any(), Event("X")),
              StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(store->Append("order-2", ExpectedVersion::Exact(1), Event("X")), IsOk());
  EXPECT_EQ(store->GetInfo().last_position, 4u);
}

}  // namespace
}  // namespace cairn

// --- Store::Verify --------------------------------------------------------------------------

namespace cairn {
namespace {
namespace verify {

StoreOptions ReadOnly() {
  StoreOptions o = testing::QuietOptions();
  o.read_only = true;
  return o;
}

VerifyReport VerifyStore(const std::string& path, VerifyOptions vo = {}) {
  auto store = Store::Open(path, ReadOnly());
  EXPECT_THAT(store, IsOk());
  if (!store.ok()) return {};
  auto report = (*store)->Verify(vo);
  EXPECT_THAT(report, IsOk());
  return report.ok() ? *report : VerifyReport{};
}

std::string FillWithIds(const std::string& path, int n) {
  auto store = testing::OpenOrDie(path);
  for (int i = 0; i < n; ++i) {
    EventData e = Event("OrderPlaced", "{\"i\":" + std::to_string(i) + "}");
    if (i % 2) e.id = EventId::Generate();
    EXPECT_THAT(store->Append("order-" + std::to_string(i % 3), ExpectedVersion::Any(), e), IsOk());
  }
  return store->GetInfo().store_id;
}

TEST(VerifyTest, ACleanStorePasses) {
  testing::TempDir dir;
  FillWithIds(dir.Sub("s"), 100);
  VerifyReport r = VerifyStore(dir.Sub("s"));
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems[0].what);
  EXPECT_EQ(r.events, 100u);
  EXPECT_EQ(r.streams, 3u);
  EXPECT_EQ(r.caller_ids, 50u);
  EXPECT_TRUE(r.indexes_checked);
  // From a later position the chain is anchored at the stored hash before it.
  VerifyOptions vo;
  vo.from_position = 60;
  r = VerifyStore(dir.Sub("s"), vo);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.events, 41u);
  EXPECT_FALSE(r.indexes_checked);
}

TEST(VerifyTest, EveryByteOfAnEventEditedIsCaughtAtItsPosition) {
  testing::TempDir dir;
  FillWithIds(dir.Sub("s"), 20);
  const std::string key = store::PositionKey(10);
  std::string original;
  WithRawDb(dir.Sub("s"), [&](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf["log"], key, &original).ok());
  });
  for (std::size_t i = 0; i < original.size(); ++i) {
    std::string damaged = original;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x01);
    WithRawDb(dir.Sub("s"), [&](rocksdb::DB* db, auto& cf) {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["log"], key, damaged).ok());
    });
    VerifyReport r = VerifyStore(dir.Sub("s"));
    ASSERT_FALSE(r.ok()) << "byte " << i << " of " << original.size() << " edited, not caught";
    EXPECT_EQ(r.problems[0].position, 10u) << "byte " << i << ": " << r.problems[0].what;
  }
}

TEST(VerifyTest, AReencodedEventWithAValidChecksumBreaksTheChain) {
  testing::TempDir dir;
  FillWithIds(dir.Sub("s"), 20);
  WithRawDb(dir.Sub("s"), [&](rocksdb::DB* db, auto& cf) {
    std::string value, scratch;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf["log"], store::PositionKey(7), &value).ok());
    RecordedEvent e;
    ASSERT_THAT(testing::S(codec::DecodeEvent(value, &scratch, &e)), IsOk());
    const std::string forged = "{\"i\":999}";  // a forger's edit, with a fresh CRC
    e.payload = forged;
    flatbuffers::FlatBufferBuilder fbb;
    std::string out;
    codec::EncodeEvent(e, &fbb, &out);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["log"], store::PositionKey(7), out).ok());
  });
  VerifyReport r = VerifyStore(dir.Sub("s"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].position, 7u);
  EXPECT_THAT(r.problems[0].what, ::testing::HasSubstr("chain hash mismatch"));
}

TEST(VerifyTest, AMissingPositionIsNamed) {
  testing::TempDir dir;
  FillWithIds(dir.Sub("s"), 20);
  WithRawDb(dir.Sub("s"), [&](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf["log"], store::PositionKey(12)).ok());
  });
  VerifyReport r = VerifyStore(dir.Sub("s"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].position, 12u);
  EXPECT_THAT(r.problems[0].what, ::testing::HasSubstr("missing"));
}

TEST(VerifyTest, IndexDamageIsNamed) {
  testing::TempDir dir;
  FillWithIds(dir.Sub("s"), 30);
  // order-1 version 2 now points at position 3 (which holds order-2 version 1).
  WithRawDb(dir.Sub("s"), [&](rocksdb::DB* db, auto& cf) {
    char p[8];
    store::PutBigEndian64(3, p);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["streams"], store::StreamKey("order-1", 2),
                        rocksdb::Slice(p, 8))
                    .ok());
  });
  VerifyReport r = VerifyStore(dir.Sub("s"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].position, 3u);
  EXPECT_THAT(r.problems[0].what, ::testing::HasSubstr("'order-1' version 2 points at position 3"));

  testing::TempDir dir2;
  FillWithIds(dir2.Sub("s"), 30);
  WithRawDb(dir2.Sub("s"), [&](rocksdb::DB* db, auto& cf) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf["event_ids"]));
    it->SeekToFirst();
    ASSERT_TRUE(it->Valid());
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf["event_ids"], it->key()).ok());
  });
  r = VerifyStore(dir2.Sub("s"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.problems[0].what, ::testing::HasSubstr("id index holds 14 caller ids, the log 15"));
}

// Index runs (format version 3) whose length was damaged: far too long, a length of one
// written out, a length that overflows the position. Reads fail with kCorruption at once (no
// walk through four billion versions), verify names the entries, appends elsewhere go on.
TEST(VerifyTest, DamagedIndexRunLengthsAreNamedNotWalked) {
  for (const std::string& damage : {std::string("huge"), std::string("one"), std::string("wrap")}) {
    testing::TempDir dir;
    Fill(dir.Sub("s"), 6);  // order-0..2, versions 1 and 2 each, single-event appends
    WithRawDb(dir.Sub("s"), [&](rocksdb::DB* db, auto& cf) {
      std::string stream_value, type_value;
      const std::uint64_t first = damage == "wrap" ? UINT64_MAX - 1 : 2;
      const std::uint64_t count = damage == "one" ? 1 : 0xffffffffu;
      char be[8];
      store::PutBigEndian64(first, be);
      stream_value.assign(be, 8);
      store::PutLittleEndian(count, 4, &stream_value);
      store::PutLittleEndian(count, 4, &type_value);
      std::string type_key;
      store::AppendTypeKey("OrderPlaced", 2, &type_key);
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["streams"], store::StreamKey("order-1", 1),
                          stream_value)
                      .ok());
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["types"], type_key, type_value).ok());
    });
    VerifyReport r = VerifyStore(dir.Sub("s"));
    EXPECT_FALSE(r.ok()) << damage;
    auto store = testing::OpenOrDie(dir.Sub("s"));
    auto read = store->ReadStream("order-1", {Direction::kForward, 1, UINT64_MAX});
    if (read.ok()) {
      std::size_t events = 0;
      for (; read->Valid() && events < 100; read->Next()) ++events;
      EXPECT_LE(events, 2u) << damage;
      EXPECT_EQ(read->status().code(), StatusCode::kCorruption) << damage;
    } else {
      EXPECT_EQ(read.status().code(), StatusCode::kCorruption) << damage;
    }
    std::vector<std::string> types{"OrderPlaced"};
    auto by_type = store->ReadByTypes(types, {});
    ASSERT_THAT(by_type, IsOk());
    std::size_t n = 0;
    for (; by_type->Valid() && n < 100; by_type->Next()) ++n;
    EXPECT_LT(n, 100u) << damage;
    EXPECT_EQ(by_type->status().code(), StatusCode::kCorruption) << damage;
    EXPECT_THAT(store->Append("order-2", ExpectedVersion::Exact(2), Event("X")), IsOk()) << damage;
  }
}

TEST(VerifyTest, ABadCheckpointOrDeadLetterIsReported) {
  testing::TempDir dir;
  FillWithIds(dir.Sub("s"), 5);
  WithRawDb(dir.Sub("s"), [&](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["default"],
                        std::string(store::kMetaCheckpointPrefix) + "shipper", "xyz")
                    .ok());
  });
  VerifyReport r = VerifyStore(dir.Sub("s"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.problems[0].what, ::testing::HasSubstr("checkpoint 'shipper' is 3 bytes"));
}

TEST(VerifyTest, FollowsAndVerifiesWhileAnotherProcessAppends) {
  testing::TempDir dir;
  const std::string path = dir.Sub("s");
  FillWithIds(path, 10);  // the store must exist before a follower can open it
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execl(CAIRN_CRASH_WRITER, CAIRN_CRASH_WRITER, path.c_str(), "2", static_cast<char*>(nullptr));
    _exit(127);
  }
  StoreOptions o = ReadOnly();
  o.follow_writer = true;
  auto follower = Store::Open(path, o);
  ASSERT_THAT(follower, IsOk());
  std::uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    auto head = (*follower)->Refresh();
    ASSERT_THAT(head, IsOk());
    EXPECT_GE(*head, last);
    last = *head;
    auto report = (*follower)->Verify();
    ASSERT_THAT(report, IsOk());
    EXPECT_TRUE(report->ok()) << report->problems[0].position << ": " << report->problems[0].what;
    EXPECT_EQ(report->events, *head);
    // Queries on the follower see the same head: a scan and a read by type.
    auto log = (*follower)->ReadLog();
    ASSERT_THAT(log, IsOk());
    std::uint64_t scanned = 0, confirmed = 0;
    for (; log->Valid() && log->event().position <= *head; log->Next())
      ++scanned, confirmed += log->event().type == "OrderConfirmed";
    EXPECT_EQ(scanned, *head);
    const std::vector<std::string> types{"OrderConfirmed"};
    auto by_type = (*follower)->ReadByTypes(types);
    ASSERT_THAT(by_type, IsOk());
    std::uint64_t indexed = 0;
    for (; by_type->Valid() && by_type->event().position <= *head; by_type->Next()) ++indexed;
    EXPECT_EQ(indexed, confirmed);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_GT(last, 10u) << "the writer appended nothing while we followed";
}

}  // namespace verify
}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

std::vector<std::uint64_t> TypePositions(Store& store, std::vector<std::string> types,
                                         std::uint64_t from = 1) {
  LogReadOptions o;
  o.from_position = from;
  auto reader = store.ReadByTypes(types, o);
  EXPECT_THAT(reader, IsOk());
  std::vector<std::uint64_t> out;
  for (; reader->Valid(); reader->Next()) {
    EXPECT_NE(std::find(types.begin(), types.end(), reader->event().type), types.end());
    out.push_back(reader->event().position);
  }
  EXPECT_THAT(testing::S(reader->status()), IsOk());
  return out;
}

std::vector<std::uint64_t> ScanPositions(Store& store, std::vector<std::string> types,
                                         std::uint64_t from = 1) {
  std::vector<std::uint64_t> out;
  for (const OwnedEvent& e : Drain(std::move(store.ReadLog()).value()))
    if (e.position >= from && std::find(types.begin(), types.end(), e.type) != types.end())
      out.push_back(e.position);
  return out;
}

TEST(TypeIndexTest, ReadByTypesMergesTypesInPositionOrder) {
  testing::TempDir dir;
  auto store = testing::OpenOrDie(dir.Sub("s"));
  const char* kinds[] = {"OrderPlaced", "OrderPaid", "OrderShipped", "Order"};
  for (int i = 0; i < 200; ++i)
    ASSERT_THAT(store->Append("order-" + std::to_string(i % 7), ExpectedVersion::Any(),
                              Event(kinds[(i * 7 + i / 3) % 4])),
                IsOk());
  // Reopening flushes the recovered memtable: the reads below come from SST files (a reused
  // PinnableSlice aborted there once, in the audit benchmark).
  store.reset();
  store = testing::OpenOrDie(dir.Sub("s"));
  for (auto types : std::vector<std::vector<std::string>>{
           {"OrderPaid"},
           {"OrderPlaced", "OrderShipped"},
           {"Order"},
           {"Nothing"},
           {"Order", "OrderPaid", "OrderPlaced", "OrderShipped"}}) {
    EXPECT_EQ(TypePositions(*store, types), ScanPositions(*store, types));
    EXPECT_EQ(TypePositions(*store, types, 150), ScanPositions(*store, types, 150));
  }
  LogReadOptions o;
  o.limit = 3;
  const std::vector<std::string> paid{"OrderPaid"};
  EXPECT_EQ(Drain(std::move(store->ReadByTypes(paid, o)).value()).size(), 3u);
}

TEST(TypeIndexTest, AStoreWithoutTheIndexGainsItAndQueriesSpanBoth) {
  testing::TempDir dir;
  const std::string path = dir.Sub("s");
  {
    auto store = testing::OpenOrDie(path);
    for (int i = 0; i < 30; ++i)
      ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), Event(i % 2 ? "Odd" : "Even")),
                  IsOk());
  }
  // As a store made before the type index existed: no "types" family.
  WithRawDb(path, [&](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(db->DropColumnFamily(cf["types"]).ok());
  });
  {
    // Read-only: no index, the log is scanned.
    StoreOptions ro = testing::QuietOptions();
    ro.read_only = true;
    auto store = Store::Open(path, ro);
    ASSERT_THAT(store, IsOk());
    EXPECT_EQ(TypePositions(**store, {"Odd"}).size(), 15u);
  }
  auto store = testing::OpenOrDie(path);  // writable: creates the index from position 31 on
  for (int i = 0; i < 10; ++i)
    ASSERT_THAT(store->Append("a", ExpectedVersion::Any(), Event(i % 2 ? "Odd" : "Even")), IsOk());
  EXPECT_EQ(TypePositions(*store, {"Odd"}), ScanPositions(*store, {"Odd"}));
  EXPECT_EQ(TypePositions(*store, {"Odd"}).size(), 20u);
  auto report = store->Verify();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << report->problems[0].what;
}

TEST(TypeIndexTest, VerifyCatchesAMissingTypeEntry) {
  testing::TempDir dir;
  const std::string path = dir.Sub("s");
  verify::FillWithIds(path, 20);
  WithRawDb(path, [&](rocksdb::DB* db, auto& cf) {
    std::string key;
    store::AppendTypeKey("OrderPlaced", 5, &key);
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf["types"], key).ok());
  });
  VerifyReport r = verify::VerifyStore(path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.problems[0].what, ::testing::HasSubstr("type index"));
}

}  // namespace
}  // namespace cairn

namespace cairn::testing {
namespace {

// Removes the newest `n` positions of the log the way a careless hand or a lost file would:
// the log entries only (index entries stay), or everything of them (a consistent shorter
// store, which only an anchor kept elsewhere can tell from the original).
void RemoveHead(const std::string& path, std::uint64_t head, std::uint64_t n, bool indexes_too) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* log = nullptr;
  rocksdb::ColumnFamilyHandle* streams = nullptr;
  rocksdb::ColumnFamilyHandle* types = nullptr;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == store::kLogFamily) log = handles[i];
    if (names[i] == store::kStreamsFamily) streams = handles[i];
    if (names[i] == store::kTypesFamily) types = handles[i];
  }
  rocksdb::WriteBatch batch;
  for (std::uint64_t p = head - n + 1; p <= head; ++p) batch.Delete(log, store::PositionKey(p));
  if (indexes_too) {
    // Stream "h" holds exactly the head's events (see the test); the type index too.
    for (std::uint64_t v = 1; v <= n; ++v) batch.Delete(streams, store::StreamKey("h", v));
    for (std::uint64_t p = head - n + 1; p <= head; ++p) {
      std::string key;
      store::AppendTypeKey("H", p, &key);
      batch.Delete(types, key);
    }
  }
  ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &batch).ok());
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
}

TEST(HeadRemovalTest, VerifyFindsIndexEntriesPastTheHeadAndAnchorsFindAConsistentTruncation) {
  for (const bool indexes_too : {false, true}) {
    TempDir dir;
    const std::string path = dir.Sub("s");
    ChainAnchor noted;
    {
      auto store = OpenOrDie(path);
      for (int i = 0; i < 100; ++i)
        ASSERT_THAT(store->Append("a-" + std::to_string(i % 5), ExpectedVersion::Any(), Event("E")),
                    IsOk());
      for (int i = 0; i < 5; ++i)
        ASSERT_THAT(store->Append("h", ExpectedVersion::Any(), Event("H")), IsOk());
      noted.position = store->GetInfo().last_position;
      noted.chain_hash = store->GetInfo().last_chain_hash;
    }
    RemoveHead(path, noted.position, 5, indexes_too);
    // The head the last clean close noted catches it at once...
    EXPECT_EQ(Store::Open(path, EveryOpenMode()[1]).status().code(), StatusCode::kCorruption);
    // ...unless whoever cut the log removed the note too: then verify and anchors must.
    std::filesystem::remove(std::filesystem::path(path) / "CAIRN-HEAD");
    auto store = OpenOrDie(path);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->GetInfo().last_position, 100u) << "the head went backward";
    auto plain = store->Verify();
    ASSERT_THAT(plain, IsOk());
    if (!indexes_too) {
      ASSERT_FALSE(plain->ok());
      EXPECT_THAT(plain->problems[0].what, ::testing::HasSubstr("removed from the end of the log"));
    } else {
      // Nothing inside the store betrays a consistent truncation: this is what anchors are for.
      EXPECT_TRUE(plain->ok());
    }
    VerifyOptions anchored;
    anchored.expect = {noted};
    auto checked = store->Verify(anchored);
    ASSERT_THAT(checked, IsOk());
    ASSERT_FALSE(checked->ok());
    bool named = false;
    for (const auto& p : checked->problems)
      named |= p.what.find("before the expected head") != std::string::npos;
    EXPECT_TRUE(named);
  }
}

TEST(HeadRemovalTest, AnAnchorThatHoldsIsCountedAndAWrongHashIsAProblem) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 20; ++i)
    ASSERT_THAT(store->Append("a-1", ExpectedVersion::Any(), Event("E")), IsOk());
  ChainAnchor at10{10, store->ReadEvent(10)->chain_hash};
  ChainAnchor head{20, store->GetInfo().last_chain_hash};
  VerifyOptions o;
  o.expect = {at10, head};
  auto good = store->Verify(o);
  ASSERT_THAT(good, IsOk());
  EXPECT_TRUE(good->ok());
  EXPECT_EQ(good->anchors_checked, 2u);
  o.from_position = 15;  // an anchor before `from` is checked against the stored hash
  EXPECT_EQ(store->Verify(o)->anchors_checked, 2u);
  at10.chain_hash[0] ^= 1;
  o.expect = {at10};
  o.from_position = 1;
  auto bad = store->Verify(o);
  ASSERT_THAT(bad, IsOk());
  ASSERT_FALSE(bad->ok());
  EXPECT_EQ(bad->problems[0].position, 10u);
}

TEST(ShortLivedWritersTest, ManyOneAppendOpensKeepTheFileCountFlat) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  auto count_tables = [&] { return FilesEndingIn(path, ".sst").size(); };
  std::size_t after_50 = 0;
  for (int i = 0; i < 300; ++i) {
    auto store = OpenOrDie(path);
    ASSERT_THAT(
        store->Append("till-" + std::to_string(i % 3), ExpectedVersion::Any(), Event("Sale")),
        IsOk());
    ASSERT_THAT(S(store->Close()), IsOk());
    if (i == 49) after_50 = count_tables();
  }
  // Before: three new table files per open, never merged (~900 here).
  EXPECT_LE(count_tables(), after_50 + 20) << "after 50 opens: " << after_50;
  EXPECT_LT(count_tables(), 80u);
  auto store = OpenOrDie(path);
  EXPECT_EQ(store->GetInfo().last_position, 300u);
  EXPECT_TRUE(store->Verify()->ok());
}

}  // namespace
}  // namespace cairn::testing
