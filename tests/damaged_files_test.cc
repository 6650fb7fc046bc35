// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "Write-ahead log recovery and damaged files": a damaged WAL, SST,
// MANIFEST or CURRENT is refused by every open mode, naming the file, and only
// `Store::Repair` drops data — keeping a copy and recording what it did.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

void Overwrite(const fs::path& file, std::uint64_t offset, std::string_view bytes) {
  const int fd = ::open(file.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << file;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
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

// One append of 200 KB is one write-ahead log record over several 32 KB blocks: damage in
// its middle leaves repair nothing to keep from that log. The log must still be retired: CI
// once found the repaired store refusing its next open at the same damage (an asynchronous
// import's first group was such a record).
TEST(DamagedFilesTest, RepairThatKeepsNothingFromTheLogStillRetiresIt) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  {
    auto store = OpenOrDie(path);
    std::vector<EventData> batch;
    for (int i = 0; i < 400; ++i) batch.push_back(Event("E", std::string(500, 'a' + i % 26)));
    ASSERT_THAT(store->Append("s-1", ExpectedVersion::Any(), batch), IsOk());
    ASSERT_THAT(S(store->Close()), IsOk());
  }
  auto logs = FilesEndingIn(path, ".log");
  ASSERT_FALSE(logs.empty());
  Overwrite(logs.back(), fs::file_size(logs.back()) / 2, "XXXXXXXXXXXXXXXX");
  RepairOptions o;
  o.backup_dir = dir.Sub("copy");
  o.log_level = LogLevel::kError;
  auto done = Store::Repair(path, o);
  ASSERT_THAT(done, IsOk());
  EXPECT_TRUE(done->needed);
  EXPECT_EQ(done->kept_through, 0u);
  // Readers first: a writer's open would retire the log itself and hide the fault.
  auto modes = EveryOpenMode();
  std::reverse(modes.begin(), modes.end());
  for (const StoreOptions& mode : modes) {
    auto reopened = Store::Open(path, mode);
    ASSERT_THAT(reopened, IsOk()) << "read_only " << mode.read_only << " follow "
                                  << mode.follow_writer;
    EXPECT_EQ((*reopened)->GetInfo().last_position, 0u);
    EXPECT_EQ((*reopened)->GetInfo().repairs, 1u);
    EXPECT_TRUE((*reopened)->Verify()->ok());
  }
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

}  // namespace
}  // namespace cairn::testing
