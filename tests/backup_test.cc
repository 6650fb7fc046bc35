// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "Backups": Store::Backup of a live store holds every event acknowledged
// before it began, with its chain, opens as a store, and is published whole or not at all;
// Store::Restore makes a working store of it. Kill -9 of a backup midway: tests/cli_test.sh.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "store/backup.h"
#include "test_util.h"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;

void Fill(Store& store, int appends, int per_append = 10) {
  std::vector<EventData> batch;
  for (int i = 0; i < per_append; ++i) batch.push_back(Event("E", std::string(100, 'a' + i)));
  for (int i = 0; i < appends; ++i)
    ASSERT_THAT(store.Append("s-" + std::to_string(i % 5), ExpectedVersion::Any(), batch), IsOk());
}

std::unique_ptr<Store> OpenReadOnly(const std::string& path) {
  StoreOptions o = QuietOptions();
  o.read_only = true;
  o.create_if_missing = false;
  auto s = Store::Open(path, o);
  EXPECT_THAT(s, IsOk());
  return s.ok() ? std::move(s).value() : nullptr;
}

TEST(BackupTest, ABackupTakenUnderLoadHoldsEveryAcknowledgedEventAndVerifies) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  Fill(*store, 200);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> acknowledged{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        auto r = store->Append("w-" + std::to_string(t), ExpectedVersion::Any(),
                               {Event("W", std::to_string(i))});
        ASSERT_THAT(r, IsOk());
        std::uint64_t seen = acknowledged.load();
        while (seen < r->last_position &&
               !acknowledged.compare_exchange_weak(seen, r->last_position)) {
        }
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::uint64_t before = acknowledged.load();
  auto backup = store->Backup(dir.Sub("b"));
  stop = true;
  for (auto& w : writers) w.join();
  ASSERT_THAT(backup, IsOk());
  EXPECT_GE(backup->acknowledged_position, before);
  EXPECT_GE(backup->last_position, backup->acknowledged_position);
  EXPECT_TRUE(backup->verified);
  EXPECT_EQ(backup->store_id, store->GetInfo().store_id);
  EXPECT_FALSE(fs::exists(dir.Sub("b") + store::kPartialBackupSuffix));

  auto copy = OpenReadOnly(dir.Sub("b"));
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->last_position(), backup->last_position);
  VerifyOptions vo;
  ChainAnchor anchor;
  anchor.position = backup->acknowledged_position;
  auto original = store->ReadEvent(backup->acknowledged_position);
  ASSERT_THAT(original, IsOk());
  anchor.chain_hash = original->chain_hash;
  vo.expect.push_back(anchor);
  auto report = copy->Verify(vo);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << report->problems.front().what;
  EXPECT_EQ(report->anchors_checked, 1u) << "the copy holds the original's chain";
}

TEST(BackupTest, BackupsOnTheStoresFileSystemShareItsTableFiles) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  Fill(*store, 300);
  auto first = store->Backup(dir.Sub("b1"));
  ASSERT_THAT(first, IsOk());
  Fill(*store, 10);
  auto second = store->Backup(dir.Sub("b2"));
  ASSERT_THAT(second, IsOk());
  EXPECT_GT(second->linked_files, 0u);
  EXPECT_EQ(second->last_position, first->last_position + 100);
  // The first backup is not touched by the second, nor by the store's later writes.
  auto copy = OpenReadOnly(dir.Sub("b1"));
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->last_position(), first->last_position);
  EXPECT_TRUE(copy->Verify()->ok());
}

TEST(BackupTest, BadTargetsAreRefusedNamingWhyAndLeaveNothing) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  auto store = OpenOrDie(path);
  Fill(*store, 5);
  std::ofstream(dir.Sub("file")) << "x";
  fs::create_directories(dir.Sub("taken"));
  struct Case {
    std::string target;
    StatusCode code;
    const char* says;
  };
  const Case cases[] = {
      {"", StatusCode::kInvalidArgument, "empty"},
      {dir.Sub("taken"), StatusCode::kInvalidArgument, "already exists"},
      {dir.Sub("file"), StatusCode::kInvalidArgument, "is a file"},
      {path + "/inside", StatusCode::kInvalidArgument, "inside the store"},
      {path, StatusCode::kInvalidArgument, "already exists"},
      {dir.Sub("missing") + "/b", StatusCode::kNotFound, "no directory"},
      {"/proc/cairn-backup", StatusCode::kIOError, "/proc/cairn-backup"},
  };
  for (const Case& c : cases) {
    auto r = store->Backup(c.target);
    ASSERT_FALSE(r.ok()) << c.target;
    EXPECT_EQ(r.status().code(), c.code) << c.target << ": " << r.status().ToString();
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(c.says)) << c.target;
  }
  EXPECT_FALSE(fs::exists(path + "/inside"));
  EXPECT_TRUE(fs::is_empty(dir.Sub("taken")));
  EXPECT_EQ(store->last_position(), 50u);
  EXPECT_TRUE(store->Verify()->ok());
}

TEST(BackupTest, OneBackupAtATimeAndOnlyByTheWriter) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  Fill(*store, 20);
  BackupOptions o;
  Result<BackupReport> nested = Status::Internal("not tried");
  o.progress = [&](std::uint64_t, std::uint64_t) {
    if (nested.status().code() == StatusCode::kInternal) nested = store->Backup(dir.Sub("b2"));
  };
  ASSERT_THAT(store->Backup(dir.Sub("b1"), o), IsOk());
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.status().code(), StatusCode::kBusy) << nested.status().ToString();
  EXPECT_FALSE(fs::exists(dir.Sub("b2")));
  // Once the first is done, the next one runs.
  EXPECT_THAT(store->Backup(dir.Sub("b3")), IsOk());
  ASSERT_THAT(S(store->Close()), IsOk());

  auto reader = OpenReadOnly(dir.Sub("s"));
  ASSERT_NE(reader, nullptr);
  auto refused = reader->Backup(dir.Sub("b4"));
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("read-only"));
}

TEST(BackupTest, WhatAKilledBackupLeftIsNeverABackupAndTheNextOneClearsIt) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  Fill(*store, 20);
  // A backup killed midway leaves its partial directory (and RocksDB's staging one).
  const std::string partial = dir.Sub("b") + store::kPartialBackupSuffix;
  fs::create_directories(partial);
  std::ofstream(partial + "/000001.sst") << "half";
  fs::create_directories(partial + ".tmp");
  auto restored = Store::Restore(partial, dir.Sub("r"));
  EXPECT_EQ(restored.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(restored.status().message(), ::testing::HasSubstr("not a cairn backup"));
  EXPECT_FALSE(fs::exists(dir.Sub("r")));
  auto backup = store->Backup(dir.Sub("b"));
  ASSERT_THAT(backup, IsOk());
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_FALSE(fs::exists(partial + ".tmp"));
}

TEST(BackupTest, RestoreMakesAWorkingStoreThatGoesOnFromTheBackup) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  Fill(*store, 30);
  auto backup = store->Backup(dir.Sub("b"));
  ASSERT_THAT(backup, IsOk());
  Fill(*store, 5);  // after the backup: not in the restored store
  ASSERT_THAT(S(store->Close()), IsOk());

  auto restored = Store::Restore(dir.Sub("b"), dir.Sub("r"));
  ASSERT_THAT(restored, IsOk());
  EXPECT_TRUE(restored->verified);
  EXPECT_EQ(restored->last_position, 300u);
  EXPECT_FALSE(fs::exists(dir.Sub("r") + "/" + store::kBackupNoteFile));
  EXPECT_TRUE(fs::exists(dir.Sub("b") + "/" + store::kBackupNoteFile)) << "the backup stays";
  auto r = OpenOrDie(dir.Sub("r"));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->last_position(), 300u);
  auto next = r->Append("s-0", ExpectedVersion::Any(), {Event("After")});
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->first_position, 301u);
  EXPECT_TRUE(r->Verify()->ok());

  // A target that exists, and a source that is a store but not a backup, are refused.
  EXPECT_EQ(Store::Restore(dir.Sub("b"), dir.Sub("r")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Store::Restore(dir.Sub("s"), dir.Sub("r2")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir.Sub("r2")));
}

TEST(BackupTest, ABackupWhoseContentNoLongerMatchesItsNoteIsNotRestored) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("s"));
  Fill(*store, 30);
  ASSERT_THAT(store->Backup(dir.Sub("b")), IsOk());
  ASSERT_THAT(S(store->Close()), IsOk());
  // The note claims a head the copy does not hold (a backup mixed up with another).
  const std::string note = dir.Sub("b") + "/" + store::kBackupNoteFile;
  std::string text;
  {
    std::ifstream in(note);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto at = text.find("last_position 300");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 17, "last_position 299");
  std::ofstream(note, std::ios::trunc) << text;
  auto restored = Store::Restore(dir.Sub("b"), dir.Sub("r"));
  ASSERT_FALSE(restored.ok());
  EXPECT_EQ(restored.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(restored.status().message(), ::testing::HasSubstr("changed since it was taken"));
  EXPECT_FALSE(fs::exists(dir.Sub("r")));
}

}  // namespace
}  // namespace cairn::testing
