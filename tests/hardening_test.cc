// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Issue #12: the defects a hostile newcomer found, one test each — damaged files (WAL, SST,
// MANIFEST, CURRENT) refused by every open mode and only `Store::Repair` dropping data; calls
// after Close; readers keeping their snapshot across retention; ids and types that are not
// UTF-8; the chain's blind spot at the head of the log, and anchors that cover it.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <rocksdb/db.h>

#include "cairn/shipper.h"
#include "cairn/subscription.h"
#include "store/keys.h"
#include "test_util.h"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> FilesEndingIn(const std::string& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

void Overwrite(const fs::path& file, std::uint64_t offset, std::string_view bytes) {
  const int fd = ::open(file.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << file;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

// Every way cairn opens a store, for "every command refuses it".
std::vector<StoreOptions> EveryOpenMode() {
  StoreOptions writer = QuietOptions();
  writer.create_if_missing = false;
  StoreOptions reader = writer;
  reader.read_only = true;
  StoreOptions follower = reader;
  follower.follow_writer = true;
  return {writer, reader, follower};
}

void ExpectEveryOpenRefuses(const std::string& path, StatusCode code, const std::string& names) {
  for (const StoreOptions& o : EveryOpenMode()) {
    auto s = Store::Open(path, o);
    ASSERT_FALSE(s.ok()) << "read_only " << o.read_only << " follow " << o.follow_writer;
    EXPECT_EQ(s.status().code(), code) << s.status().ToString();
    EXPECT_THAT(s.status().message(), ::testing::HasSubstr(names)) << s.status().ToString();
  }
}

// 5,000 synchronous events in a store whose only copy of them is its write-ahead log.
std::uint64_t FillWal(const std::string& path) {
  auto store = OpenOrDie(path);
  std::vector<EventData> batch;
  for (int i = 0; i < 50; ++i) batch.push_back(Event("E", std::string(200, 'a' + i % 26)));
  for (int i = 0; i < 100; ++i)
    EXPECT_THAT(store->Append("s-" + std::to_string(i % 7), ExpectedVersion::Any(), batch), IsOk());
  const std::uint64_t head = store->GetInfo().last_position;
  EXPECT_THAT(S(store->Close()), IsOk());
  return head;
}

TEST(DamagedFilesTest, AWalDamagedInTheMiddleIsRefusedByEveryOpenNamingFileAndOffset) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  const std::uint64_t head = FillWal(path);
  ASSERT_EQ(head, 5000u);
  auto logs = FilesEndingIn(path, ".log");
  ASSERT_FALSE(logs.empty());
  const auto size = fs::file_size(logs.back());
  Overwrite(logs.back(), size / 2, "XXXXXXXXXXXXXXXX");
  // Before the fix a writer opened it, truncated at the damage, and reused the positions.
  ExpectEveryOpenRefuses(path, StatusCode::kCorruption, logs.back().filename().string());
  auto again = Store::Open(path, EveryOpenMode()[0]);
  EXPECT_THAT(again.status().message(), ::testing::HasSubstr("offset"));
  EXPECT_THAT(again.status().message(), ::testing::HasSubstr("cairn repair"));
  EXPECT_EQ(fs::file_size(logs.back()), size) << "a refused open must not change the log";
}

TEST(DamagedFilesTest, ATornLastWalRecordIsWhatACrashLeavesAndOpensWithoutIt) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  FillWal(path);
  auto logs = FilesEndingIn(path, ".log");
  ASSERT_FALSE(logs.empty());
  fs::resize_file(logs.back(), fs::file_size(logs.back()) - 7);
  // A crash is what tears a record, and a crashed writer leaves no note of its head.
  fs::remove(fs::path(path) / "CAIRN-HEAD");
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  // The last append (50 events, one record) is torn away whole; the rest is there.
  EXPECT_EQ(store->GetInfo().last_position, 4950u);
  EXPECT_TRUE(store->Verify()->ok());
}

TEST(DamagedFilesTest, RepairKeepsACopyRecoversToTheDamageAndRecordsItself) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  FillWal(path);
  auto logs = FilesEndingIn(path, ".log");
  Overwrite(logs.back(), fs::file_size(logs.back()) / 2, "XXXXXXXXXXXXXXXX");

  RepairOptions dry;
  dry.dry_run = true;
  dry.log_level = LogLevel::kError;
  auto preview = Store::Repair(path, dry);
  ASSERT_THAT(preview, IsOk());
  EXPECT_TRUE(preview->needed);
  EXPECT_EQ(fs::path(preview->damaged_file).filename(), logs.back().filename());
  EXPECT_GT(preview->bytes_dropped, 0u);
  EXPECT_GT(preview->kept_through, 0u);
  EXPECT_LT(preview->kept_through, 5000u);
  EXPECT_TRUE(preview->backup_dir.empty());
  EXPECT_FALSE(Store::Open(path, EveryOpenMode()[0]).ok()) << "a dry run changes nothing";

  RepairOptions real = dry;
  real.dry_run = false;
  real.backup_dir = dir.Sub("copy");
  auto done = Store::Repair(path, real);
  ASSERT_THAT(done, IsOk());
  EXPECT_EQ(done->kept_through, preview->kept_through);
  EXPECT_EQ(done->backup_dir, real.backup_dir);
  // The copy is the store as it was: still damaged.
  EXPECT_EQ(Store::Open(real.backup_dir, EveryOpenMode()[1]).status().code(),
            StatusCode::kCorruption);
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetInfo().last_position, done->kept_through);
  EXPECT_EQ(store->GetInfo().repairs, 1u);
  EXPECT_THAT(store->GetInfo().last_repair, ::testing::HasSubstr("kept positions 1.."));
  EXPECT_TRUE(store->Verify()->ok());
  // A second repair has nothing to do and says so.
  store.reset();
  auto nothing = Store::Repair(path, dry);
  ASSERT_THAT(nothing, IsOk());
  EXPECT_FALSE(nothing->needed);
}

TEST(DamagedFilesTest, ADeletedWalIsRefusedNotAnEmptyStoreAndRepairOnlyAcceptsTheLoss) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  ASSERT_EQ(FillWal(path), 5000u);  // every event only in the WAL, then a clean close
  for (const auto& log : FilesEndingIn(path, ".log")) fs::remove(log);
  // Before: it opened as an empty store and gave position 1 to the next append.
  ExpectEveryOpenRefuses(path, StatusCode::kCorruption, "closed it holding positions up to 5000");
  RepairOptions o;
  o.log_level = LogLevel::kError;
  o.backup_dir = dir.Sub("copy");
  auto r = Store::Repair(path, o);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->needed);
  EXPECT_EQ(r->kept_through, 0u);
  EXPECT_THAT(r->damage, ::testing::HasSubstr("deleted"));
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetInfo().repairs, 1u);
  EXPECT_EQ(Store::Open(o.backup_dir, EveryOpenMode()[1]).status().code(), StatusCode::kCorruption);
}

// A store whose events live in table files (a reopen flushes what the WAL replayed).
std::string StoreWithTables(const TempDir& dir) {
  const std::string path = dir.Sub("s");
  FillWal(path);
  { auto reopened = OpenOrDie(path); }
  return path;
}

TEST(DamagedFilesTest, ATruncatedOrMissingTableFileIsRefusedByEveryOpenNamingIt) {
  for (const bool remove : {false, true}) {
    TempDir dir;
    const std::string path = StoreWithTables(dir);
    auto tables = FilesEndingIn(path, ".sst");
    ASSERT_FALSE(tables.empty());
    // The largest holds events: before the fix, follower opens (every audit command) read
    // the store without it, as if its events had never been.
    auto biggest = *std::max_element(tables.begin(), tables.end(), [](auto& a, auto& b) {
      return fs::file_size(a) < fs::file_size(b);
    });
    if (remove)
      fs::remove(biggest);
    else
      fs::resize_file(biggest, 10'000'000);
    ExpectEveryOpenRefuses(path, StatusCode::kCorruption, biggest.stem().string());
  }
}

TEST(DamagedFilesTest, AMissingCurrentOrABrokenManifestIsDamageNotAForeignDirectory) {
  {
    TempDir dir;
    const std::string path = StoreWithTables(dir);
    fs::remove(fs::path(path) / "CURRENT");
    ExpectEveryOpenRefuses(path, StatusCode::kCorruption, "CURRENT");
  }
  {
    TempDir dir;
    const std::string path = StoreWithTables(dir);
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().filename().string().starts_with("MANIFEST-")) fs::resize_file(e.path(), 0);
    ExpectEveryOpenRefuses(path, StatusCode::kCorruption, "damaged");
  }
  {
    TempDir dir;  // and a directory of someone else's files is still foreign, not damaged
    std::ofstream(dir.Sub("notes.txt")) << "hello";
    auto s = Store::Open(dir.path(), EveryOpenMode()[0]);
    EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  }
}

TEST(CloseTest, EveryCallAfterCloseFailsWithFailedPrecondition) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  ASSERT_THAT(store->Append("a-1", ExpectedVersion::Any(), Event("E")), IsOk());
  ASSERT_THAT(S(store->Close()), IsOk());
  const auto closed = StatusCode::kFailedPrecondition;
  const EventData e = Event("E");
  const StreamAppend multi{"a-1", ExpectedVersion::Any(), {e}};
  const std::vector<std::string> types = {"E"};
  const std::uint64_t one = 1;
  const DeadLetter dl{1, "a-1", 1, "t", "x", 0, 0};
  EXPECT_EQ(store->Append("a-1", ExpectedVersion::Any(), e).status().code(), closed);
  EXPECT_EQ(store->AppendMulti(std::span(&multi, 1)).status().code(), closed);
  EXPECT_EQ(store->CheckAppend(std::span(&multi, 1)).code(), closed);
  EXPECT_EQ(store->ReadStream("a-1").status().code(), closed);
  EXPECT_EQ(store->ReadLog().status().code(), closed);
  EXPECT_EQ(store->ReadByTypes(types).status().code(), closed);
  EXPECT_EQ(store->ReadEvent(1).status().code(), closed);
  EXPECT_EQ(store->GetStreamInfo("a-1").status().code(), closed);
  EXPECT_EQ(store->ListStreams("").status().code(), closed);
  EXPECT_EQ(store->Verify().status().code(), closed);
  EXPECT_EQ(store->Refresh().status().code(), closed);
  EXPECT_EQ(store->SaveCheckpoint("c", 1).code(), closed);
  EXPECT_EQ(store->LoadCheckpoint("c").status().code(), closed);
  EXPECT_EQ(store->ListCheckpoints().status().code(), closed);
  EXPECT_EQ(store->PutDeadLetters(std::span(&dl, 1)).code(), closed);
  EXPECT_EQ(store->ListDeadLetters().status().code(), closed);
  EXPECT_EQ(store->RemoveDeadLetters(std::span(&one, 1)).code(), closed);
  EXPECT_EQ(store->SetStreamMetadata("a-1", {}).code(), closed);
  EXPECT_EQ(store->GetStreamMetadata("a-1").status().code(), closed);
  EXPECT_EQ(store->DeleteStream("a-1").status().code(), closed);
  EXPECT_EQ(store->ApplyRetention({}).status().code(), closed);
  EXPECT_EQ(store->SaveSnapshot({"a-1", 1, "S", 1, "x"}).code(), closed);
  EXPECT_EQ(store->LoadSnapshot("a-1").status().code(), closed);
  EXPECT_EQ(store->DeleteSnapshots("a-1").code(), closed);
  EXPECT_EQ(store->LoadAggregate(
                     "a-1", [](const Snapshot&) { return Status::Ok(); },
                     [](const RecordedEvent&) { return Status::Ok(); })
                .status()
                .code(),
            closed);
  // What needs no database still answers, and closing twice is fine.
  EXPECT_EQ(store->GetInfo().last_position, 1u);
  EXPECT_EQ(store->WaitForPosition(0, std::chrono::milliseconds(1)), 1u);
  (void)store->GetBacklog();
  EXPECT_THAT(S(store->Close()), IsOk());
  // Shippers and subscriptions started on a closed store fail cleanly too.
  ShipperOptions so;
  so.bootstrap_servers = "127.0.0.1:1";
  auto shipper = Shipper::Start(*store, so);
  EXPECT_EQ(shipper.status().code(), closed);
  SubscriptionOptions sub;
  auto subscription =
      Subscription::Start(*store, sub, [](const RecordedEvent&) { return Status::Ok(); });
  EXPECT_EQ(subscription.status().code(), closed);
}

TEST(SnapshotTest, EveryReaderKeepsItsSnapshotWhileRetentionRemovesWhatItReads) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (int i = 0; i < 400; ++i)
    ASSERT_THAT(store->Append(i % 2 ? "a-1" : "b-1", ExpectedVersion::Any(), Event(i % 2 ? "A" : "B")),
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

TEST(ValidationTest, StreamIdsAndTypesMustBeUtf8) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  for (const std::string bad : {std::string("order-\xff"), std::string("\xc3\x28"),
                                std::string("a\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"),
                                std::string("\xc0\xaf")}) {
    auto r = store->Append(bad, ExpectedVersion::Any(), Event("E"));
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr("UTF-8"));
    auto t = store->Append("ok-1", ExpectedVersion::Any(), Event(bad));
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  }
  // Any bytes at all in payloads and metadata; real UTF-8 in ids.
  EventData binary = Event("Ünïcode✓", std::string("\xff\x00\xfe", 3));
  binary.metadata = std::string("\x80\x81", 2);
  EXPECT_THAT(store->Append("zähler-€-𝄞", ExpectedVersion::Any(), binary), IsOk());
  EXPECT_EQ(store->GetInfo().last_position, 1u);
}

TEST(ValidationTest, CheckAppendRefusesWhatAppendWouldWithoutStoringAnything) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  EventData first = Event("E", "{\"n\":1}");
  first.id = EventId::Generate();
  ASSERT_THAT(store->Append("a-1", ExpectedVersion::Any(), first), IsOk());
  EventData reuse = first;
  reuse.payload = "{\"n\":2}";
  StreamAppend a{"a-1", ExpectedVersion::Any(), {reuse}};
  EXPECT_EQ(store->CheckAppend(std::span(&a, 1)).code(), StatusCode::kAlreadyExists);
  StreamAppend retry{"a-1", ExpectedVersion::Any(), {first}};  // the same event: a retry
  EXPECT_THAT(S(store->CheckAppend(std::span(&retry, 1))), IsOk());
  StreamAppend big{"a-1", ExpectedVersion::Any(), {Event("E", std::string(2 << 20, 'x'))}};
  EXPECT_EQ(store->CheckAppend(std::span(&big, 1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->GetInfo().last_position, 1u);
}

TEST(ResultTest, ValueOnAnErrorAbortsWithAMessageInsteadOfThrowing) {
  Result<int> r = Status::NotFound("no such thing");
  EXPECT_DEATH((void)r.value(), "Result::value\\(\\) on an error.*no such thing");
}

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
    fs::remove(fs::path(path) / "CAIRN-HEAD");
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
    ASSERT_THAT(store->Append("till-" + std::to_string(i % 3), ExpectedVersion::Any(),
                              Event("Sale")),
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
