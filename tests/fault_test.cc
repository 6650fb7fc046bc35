// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "I/O errors and a full disk" and the power-loss half of "Durability":
// the fault-injecting file system in fault_fs.h (one store's file layer, src/store/storage_env.h),
// and a real full disk (a small tmpfs this test mounts; needs root, as CI has).
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "fault_fs.h"
#include "store/storage_env.h"
#include "test_util.h"

namespace cairn::testing {
namespace {

using namespace std::chrono_literals;

// Stores opened with OpenOnFaults() run on a FaultFileSystem (src/store/storage_env.h).
class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = std::make_shared<FaultFileSystem>();
    env_ = std::make_shared<StorageEnv>(rocksdb::NewCompositeEnv(fs_));
  }

  StoreOptions Options(Durability d) const {
    StoreOptions o = QuietOptions();
    o.log_level = LogLevel::kOff;  // the failures below are the point
    o.durability = d;
    return o;
  }
  Result<std::unique_ptr<Store>> OpenOnFaults(const std::string& path,
                                              const StoreOptions& options) const {
    return OpenStoreOnStorage(path, options, env_);
  }
  // Reopens without faults (the disk after the machine came back) and checks it whole.
  std::unique_ptr<Store> Reopen(const std::string& path) {
    auto store = OpenOrDie(path);
    if (!store) return nullptr;
    auto report = store->Verify();
    EXPECT_THAT(report, IsOk());
    if (report.ok()) EXPECT_TRUE(report->ok()) << report->problems.front().what;
    return store;
  }
  // After a power cut: reopened whole, every acknowledged (stream, version) holds its payload.
  void ExpectAcknowledgedSurvived(
      const std::string& path,
      const std::map<std::pair<std::string, std::uint64_t>, std::string>& acked) {
    auto store = Reopen(path);
    ASSERT_NE(store, nullptr);
    for (const auto& [key, payload] : acked) {
      auto r = store->ReadStream(key.first, {Direction::kForward, key.second, 1});
      ASSERT_THAT(r, IsOk());
      ASSERT_TRUE(r->Valid()) << key.first << " v" << key.second << " acknowledged, then lost";
      EXPECT_EQ(r->event().payload, payload);
    }
  }

  TempDir dir_;
  std::shared_ptr<FaultFileSystem> fs_;
  std::shared_ptr<StorageEnv> env_;
};

struct Ack {
  std::string stream;
  std::uint64_t version;
  std::string payload;
};

// Appends from 4 threads until the power goes; returns every acknowledged append.
std::vector<Ack> AppendUntilPowerCut(Store& store, FaultFileSystem& fs, int round,
                                     std::chrono::milliseconds run_for) {
  std::mutex mu;
  std::vector<Ack> acks;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const std::string stream = "acct-" + std::to_string(t) + "-" + std::to_string(i % 5);
        const std::string payload =
            std::to_string(round) + "/" + std::to_string(t) + "/" + std::to_string(i);
        auto r = store.Append(stream, ExpectedVersion::Any(), Event("Deposited", payload));
        if (!r.ok()) {
          EXPECT_TRUE(fs.powered_off()) << r.status().ToString();
          return;  // the machine is down
        }
        std::lock_guard<std::mutex> lk(mu);
        acks.push_back({stream, r->first_version, payload});
      }
    });
  std::this_thread::sleep_for(run_for);
  fs.PowerCut();
  stop = true;
  for (auto& th : threads) th.join();
  return acks;
}

TEST_F(FaultTest, PowerLossKeepsEverySynchronousAcknowledgedAppend) {
  const std::string path = dir_.Sub("s");
  std::size_t total_acks = 0;
  std::uint64_t dropped = 0;
  std::map<std::pair<std::string, std::uint64_t>, std::string> acked;
  for (int round = 0; round < 4; ++round) {
    {
      auto store = OpenOnFaults(path, Options(Durability::kSync));
      ASSERT_THAT(store, IsOk());
      for (const Ack& a : AppendUntilPowerCut(**store, *fs_, round, 150ms + round * 50ms))
        acked[{a.stream, a.version}] = a.payload;
    }  // the store goes down with the power: its close fails, nothing more reaches the disk
    dropped += fs_->DropUnsyncedData();
    auto store = Reopen(path);
    ASSERT_NE(store, nullptr);
    // Every acknowledged append is there with its content; positions dense (verify did that).
    for (const auto& [key, payload] : acked) {
      auto r = store->ReadStream(key.first, {Direction::kForward, key.second, 1});
      ASSERT_THAT(r, IsOk());
      ASSERT_TRUE(r->Valid()) << key.first << " v" << key.second << " lost";
      EXPECT_EQ(r->event().payload, payload);
    }
    total_acks = acked.size();
  }
  EXPECT_GT(total_acks, 100u);
  RecordProperty("acknowledged", std::to_string(total_acks));
  RecordProperty("unsynced_bytes_dropped", std::to_string(dropped));
}

// In kSync an append is acknowledged, and its events become visible to readers, only once the
// sync that covers it is done; while that sync waits, later appends are written to the WAL
// (the next group) and wait for the next sync. Holding the WAL's syncs shows both.
TEST_F(FaultTest, AnAppendIsAcknowledgedAndVisibleOnlyOnceItsSyncIsDone) {
  auto opened = OpenOnFaults(dir_.Sub("s"), Options(Durability::kSync));
  ASSERT_THAT(opened, IsOk());
  Store& store = **opened;
  ASSERT_THAT(store.Append("base", ExpectedVersion::Any(), Event("E")), IsOk());
  const auto wait_for = [](const std::function<bool()>& what) {
    for (int i = 0; i < 500 && !what(); ++i) std::this_thread::sleep_for(10ms);
    return what();
  };

  fs_->HoldLogSyncs(true);
  std::atomic<int> acknowledged{0};
  Result<AppendResult> first = Status::Internal("not run"), second = Status::Internal("not run");
  std::thread a([&] {
    first = store.Append("acct-a", ExpectedVersion::NoStream(), Event("Opened", "a"));
    ++acknowledged;
  });
  ASSERT_TRUE(wait_for([&] { return fs_->syncs_held() == 1; })) << "the first append never synced";
  const std::uint64_t unsynced_first = fs_->unsynced_log_bytes();
  EXPECT_GT(unsynced_first, 0u);
  std::thread b([&] {
    second = store.Append("acct-b", ExpectedVersion::NoStream(), Event("Opened", "b"));
    ++acknowledged;
  });
  // The second append's group reaches the WAL while the first sync still waits.
  EXPECT_TRUE(wait_for([&] { return fs_->unsynced_log_bytes() > unsynced_first; }))
      << "the second group was not written during the first sync";
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(acknowledged.load(), 0) << "an append was acknowledged before its sync";
  // Nothing of either is visible: not the head, the log, the streams or a position.
  EXPECT_EQ(store.GetInfo().last_position, 1u);
  auto log = store.ReadLog({});
  ASSERT_THAT(log, IsOk());
  int seen = 0;
  for (; log->Valid(); log->Next()) ++seen;
  EXPECT_EQ(seen, 1);
  LogReadOptions backward;
  backward.direction = Direction::kBackward;
  auto last = store.ReadLog(backward);
  ASSERT_THAT(last, IsOk());
  ASSERT_TRUE(last->Valid());
  EXPECT_EQ(last->event().position, 1u);
  EXPECT_EQ(store.ReadStream("acct-a", {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.GetStreamInfo("acct-b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.ReadEvent(2).status().code(), StatusCode::kNotFound);
  auto streams = store.ListStreams("");
  ASSERT_THAT(streams, IsOk());
  EXPECT_EQ(streams->size(), 1u);

  fs_->HoldLogSyncs(false);
  a.join();
  b.join();
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(store.GetInfo().last_position, 3u);
  EXPECT_EQ(first->first_position + second->first_position, 5u);  // 2 and 3, in either order
  EXPECT_THAT(store.ReadStream("acct-a", {}), IsOk());
  EXPECT_THAT(store.ReadEvent(3), IsOk());
}

// Many appenders in kSync, power cuts at random moments: what was acknowledged survived.
TEST_F(FaultTest, PowerLossKeepsEveryAcknowledgedAppendOfSixtyFourAppenders) {
  const std::string path = dir_.Sub("s");
  std::map<std::pair<std::string, std::uint64_t>, std::string> acked;
  for (int round = 0; round < 3; ++round) {
    {
      auto opened = OpenOnFaults(path, Options(Durability::kSync));
      ASSERT_THAT(opened, IsOk());
      Store& store = **opened;
      std::mutex mu;
      std::atomic<bool> stop{false};
      std::vector<std::thread> threads;
      for (int t = 0; t < 64; ++t)
        threads.emplace_back([&, t] {
          for (int i = 0; !stop; ++i) {
            const std::string stream = "s-" + std::to_string(t);
            const std::string payload = std::to_string(round) + "/" + std::to_string(i);
            auto r = store.Append(stream, ExpectedVersion::Any(), Event("E", payload));
            if (!r.ok()) return;  // the power is off
            std::lock_guard<std::mutex> lk(mu);
            acked[{stream, r->first_version}] = payload;
          }
        });
      std::this_thread::sleep_for(200ms + round * 70ms);
      fs_->PowerCut();
      stop = true;
      for (auto& th : threads) th.join();
    }
    fs_->DropUnsyncedData();
    ExpectAcknowledgedSurvived(path, acked);
  }
  EXPECT_GT(acked.size(), 200u);
  RecordProperty("acknowledged", std::to_string(acked.size()));
}

// The same power cut under asynchronous appends (Store::AppendAsync): 8 threads hand appends
// over without waiting; an append counts as acknowledged when its completion said OK. Every
// one must survive the cut, and the store closes (completing what was in flight, as failures)
// after the power is gone.
TEST_F(FaultTest, PowerLossKeepsEveryAcknowledgedAsyncAppend) {
  const std::string path = dir_.Sub("s");
  std::map<std::pair<std::string, std::uint64_t>, std::string> acked;
  std::mutex mu;
  std::atomic<std::uint64_t> failed{0};
  for (int round = 0; round < 3; ++round) {
    {
      auto opened = OpenOnFaults(path, Options(Durability::kSync));
      ASSERT_THAT(opened, IsOk());
      Store& store = **opened;
      std::atomic<bool> stop{false};
      std::vector<std::thread> threads;
      for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
          for (int i = 0; !stop; ++i) {
            const std::string stream = "a-" + std::to_string(t);
            std::string payload = std::to_string(round) + "/" + std::to_string(i);
            std::vector<EventData> one{Event("E", payload)};
            const Status s = store.AppendAsync(stream, ExpectedVersion::Any(), std::move(one),
                                               [&, stream, payload](Result<AppendResult> r) {
                                                 if (!r.ok()) {
                                                   ++failed;
                                                   return;
                                                 }
                                                 std::lock_guard<std::mutex> lk(mu);
                                                 acked[{stream, r->first_version}] = payload;
                                               });
            if (!s.ok()) return;
          }
        });
      std::this_thread::sleep_for(200ms + round * 70ms);
      fs_->PowerCut();
      stop = true;
      for (auto& th : threads) th.join();
      (void)store.Close();  // completes every accepted append, the unlucky ones as failures
    }
    fs_->DropUnsyncedData();
    std::lock_guard<std::mutex> lk(mu);
    ExpectAcknowledgedSurvived(path, acked);
  }
  EXPECT_GT(acked.size(), 200u);
  RecordProperty("acknowledged", std::to_string(acked.size()));
  RecordProperty("failed_after_the_cut", std::to_string(failed.load()));
}

// RocksDB 7.8 aborts (an assertion in WritableFileWriter) when SyncWAL reaches a log whose
// writer has already failed a write. So no write may fail while a sync of the store is
// starting. Here the store's sync has to wait inside RocksDB, at its start, for a flush that
// is syncing the log it closed (held), and a write that fails with EIO is tried meanwhile.
// That write has to wait until the sync is under way, then fails as an error: the process
// lives, every acknowledged append is stored, and the failed one is not half there.
TEST_F(FaultTest, AWriteFailingWhileASyncStartsIsAnErrorNotAnAbort) {
  const std::string path = dir_.Sub("s");
  const auto wait_for = [](const std::function<bool()>& done) {
    for (int i = 0; i < 3000 && !done(); ++i) std::this_thread::sleep_for(10ms);
    return done();
  };
  std::uint64_t acknowledged = 0;
  {
    auto opened = OpenOnFaults(path, Options(Durability::kSync));
    ASSERT_THAT(opened, IsOk());
    Store& store = **opened;
    fs_->HoldBackgroundLogSyncs(true);
    // 1 MiB appends fill the 64 MiB memtable: RocksDB switches to a new log, and its flush
    // syncs the closed one on its own thread, which waits; the next sync waits for it.
    std::atomic<bool> appending{true};
    std::thread appender([&] {
      for (int i = 0; i < 300 && appending; ++i) {
        if (!store.Append("big", ExpectedVersion::Any(), Event("E", std::string(1 << 20, 'x')))
                 .ok())
          return;
        ++acknowledged;
      }
    });
    ASSERT_TRUE(wait_for([&] { return fs_->syncs_held() == 1; })) << "no flush synced a log";
    std::this_thread::sleep_for(300ms);  // the appender's next sync is waiting by now
    appending = false;
    fs_->write_fault = Fault::kEIO;
    Result<AppendResult> failed = Status::Internal("not run");
    std::thread failing(
        [&] { failed = store.Append("f", ExpectedVersion::Any(), Event("E", "failed")); });
    std::this_thread::sleep_for(300ms);
    fs_->HoldBackgroundLogSyncs(false);
    failing.join();
    appender.join();
    fs_->write_fault = Fault::kNone;
    EXPECT_FALSE(failed.ok());
    EXPECT_EQ(failed.status().code(), StatusCode::kIOError) << failed.status().ToString();
  }
  auto store = Reopen(path);
  ASSERT_NE(store, nullptr);
  ASSERT_GT(acknowledged, 0u);
  auto big = store->ReadStream("big", {Direction::kForward, acknowledged, 1});
  ASSERT_THAT(big, IsOk());
  EXPECT_TRUE(big->Valid()) << "acknowledged append " << acknowledged << " is gone";
}

TEST_F(FaultTest, PowerLossInBufferedModeLosesOnlyASuffix) {
  const std::string path = dir_.Sub("s");
  std::vector<Ack> acks;
  {
    auto store = OpenOnFaults(path, Options(Durability::kBuffered));
    ASSERT_THAT(store, IsOk());
    // A synced prefix: a clean close syncs a buffered store.
    for (int i = 0; i < 100; ++i)
      ASSERT_THAT((*store)->Append("base", ExpectedVersion::Any(), Event("E", std::to_string(i))),
                  IsOk());
    ASSERT_THAT(S((*store)->Close()), IsOk());
  }
  {
    auto store = OpenOnFaults(path, Options(Durability::kBuffered));
    ASSERT_THAT(store, IsOk());
    acks = AppendUntilPowerCut(**store, *fs_, 0, 200ms);
  }
  const std::uint64_t dropped = fs_->DropUnsyncedData();
  auto store = Reopen(path);
  ASSERT_NE(store, nullptr);
  const std::uint64_t head = store->GetInfo().last_position;
  // The synced prefix survives; of the rest, what survives is a prefix of the commit order
  // (verify checked density), so each stream keeps a prefix of its acknowledged versions.
  EXPECT_GE(head, 100u);
  EXPECT_GT(dropped, 0u);
  std::map<std::string, std::uint64_t> kept;
  auto streams = store->ListStreams("");
  ASSERT_THAT(streams, IsOk());
  for (const auto& info : *streams) kept[info.stream] = info.last_version;
  for (const Ack& a : acks) {
    if (a.version > kept[a.stream]) continue;  // lost with the page cache: allowed
    auto r = store->ReadStream(a.stream, {Direction::kForward, a.version, 1});
    ASSERT_THAT(r, IsOk());
    ASSERT_TRUE(r->Valid());
    EXPECT_EQ(r->event().payload, a.payload);
  }
  RecordProperty("acknowledged_after_sync", std::to_string(acks.size()));
  RecordProperty("survived", std::to_string(head - 100));
}

// Appends `e` until it is stored or `within` passes; the last result.
Result<AppendResult> AppendUntilStored(Store& store, const EventData& e,
                                       std::chrono::seconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  for (;;) {
    auto r = store.Append("acct-1", ExpectedVersion::Any(), e);
    if (r.ok() || std::chrono::steady_clock::now() > deadline) return r;
    std::this_thread::sleep_for(100ms);
  }
}

// A write or sync error fails the append clearly and damages nothing. Once the fault is gone
// the store writes again — by itself after ENOSPC (RocksDB's recovery from a full disk), after
// a reopen for EIO (fatal to RocksDB) — and a retry with the same event id stores the event
// once.
void ExpectFailsThenRecovers(std::unique_ptr<Store>& store, const std::string& path,
                             const StoreOptions& options,
                             const std::shared_ptr<StorageEnv>& storage, std::atomic<Fault>& fault,
                             Fault kind, const char* expect_in_message) {
  const bool recovers_in_place = kind == Fault::kENOSPC;
  const std::uint64_t before = store->GetInfo().last_position;
  fault = kind;
  EventData e = Event("Deposited", "{\"amount\":5}");
  e.id = EventId::Generate();  // so the retry below cannot duplicate it
  auto failed = store->Append("acct-1", ExpectedVersion::Any(), e);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kIOError) << failed.status().ToString();
  EXPECT_THAT(failed.status().message(), ::testing::HasSubstr(expect_in_message));
  EXPECT_EQ(failed.status().IsRetryable(), recovers_in_place);
  EXPECT_FALSE(store->GetInfo().write_error.empty());
  EXPECT_THAT(store->ReadEvent(1), IsOk());  // reads work throughout
  fault = Fault::kNone;
  if (recovers_in_place) {
    auto retried = AppendUntilStored(*store, e, 30s);
    ASSERT_THAT(retried, IsOk()) << "RocksDB did not recover from ENOSPC within 30 s";
    EXPECT_EQ(retried->first_position, before + 1);
    EXPECT_TRUE(store->GetInfo().write_error.empty()) << store->GetInfo().write_error;
    EXPECT_THAT(store->Append("acct-2", ExpectedVersion::Any(), Event("E")), IsOk());
    return;
  }
  // Still failing, naming the first error and the remedy, while the store is not reopened.
  auto again = store->Append("acct-1", ExpectedVersion::Any(), e);
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.status().message(), ::testing::HasSubstr(expect_in_message));
  EXPECT_THAT(again.status().message(), ::testing::HasSubstr("reopen"));
  store.reset();
  auto reopened = OpenStoreOnStorage(path, options, storage);
  ASSERT_THAT(reopened, IsOk());
  store = std::move(reopened).value();
  auto retried = store->Append("acct-1", ExpectedVersion::Any(), e);
  ASSERT_THAT(retried, IsOk());
  EXPECT_TRUE(store->GetInfo().write_error.empty());
  // Stored once: either an attempt reached the log (and the retry is deduplicated) or not.
  EXPECT_EQ(retried->first_position, before + 1);
  EXPECT_THAT(store->Append("acct-2", ExpectedVersion::Any(), Event("E")), IsOk());
}

TEST_F(FaultTest, WriteAndSyncErrorsFailAppendsCleanlyAndTheStoreRecovers) {
  const std::string path = dir_.Sub("s");
  const StoreOptions o = Options(Durability::kSync);
  {
    auto opened = OpenOnFaults(path, o);
    ASSERT_THAT(opened, IsOk());
    std::unique_ptr<Store> store = std::move(opened).value();
    for (int i = 0; i < 20; ++i)
      ASSERT_THAT(store->Append("acct-0", ExpectedVersion::Any(), Event("E")), IsOk());
    ExpectFailsThenRecovers(store, path, o, env_, fs_->write_fault, Fault::kEIO, "EIO");
    ExpectFailsThenRecovers(store, path, o, env_, fs_->write_fault, Fault::kENOSPC, "ENOSPC");
    ExpectFailsThenRecovers(store, path, o, env_, fs_->sync_fault, Fault::kEIO, "EIO");
    ExpectFailsThenRecovers(store, path, o, env_, fs_->sync_fault, Fault::kENOSPC, "ENOSPC");
    EXPECT_GE(fs_->injected.load(), 4);
  }
  auto store = Reopen(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetInfo().last_position, 28u);
}

// The fault file system is one store's option, not the process's: a power cut under one store
// leaves a second store in the same process, opened without it, writing to the real disk.
TEST_F(FaultTest, AFaultReachesOnlyTheStoreItWasGivenTo) {
  auto faulty = OpenOnFaults(dir_.Sub("faulty"), Options(Durability::kSync));
  ASSERT_THAT(faulty, IsOk());
  StoreOptions plain = QuietOptions();
  plain.durability = Durability::kSync;
  auto healthy = Store::Open(dir_.Sub("healthy"), plain);
  ASSERT_THAT(healthy, IsOk());
  ASSERT_THAT((*faulty)->Append("a", ExpectedVersion::Any(), Event("E")), IsOk());
  fs_->PowerCut();
  EXPECT_FALSE((*faulty)->Append("a", ExpectedVersion::Any(), Event("E")).ok());
  for (int i = 0; i < 20; ++i)
    ASSERT_THAT((*healthy)->Append("b", ExpectedVersion::Any(), Event("E")), IsOk());
  EXPECT_EQ((*healthy)->GetInfo().last_position, 20u);
  EXPECT_TRUE((*healthy)->GetInfo().write_error.empty());
}

TEST_F(FaultTest, ReadErrorsAreReportedNotCrashedOn) {
  const std::string path = dir_.Sub("s");
  {
    auto store = OpenOnFaults(path, Options(Durability::kSync));
    ASSERT_THAT(store, IsOk());
    for (int i = 0; i < 500; ++i)
      ASSERT_THAT((*store)->Append("acct-" + std::to_string(i % 7), ExpectedVersion::Any(),
                                   Event("E", std::string(200, 'x'))),
                  IsOk());
  }  // closed: everything is in SST files, read through the file system
  StoreOptions o = Options(Durability::kSync);
  o.block_cache_bytes = 0;
  auto store = OpenOnFaults(path, o);
  ASSERT_THAT(store, IsOk());
  fs_->read_fault = Fault::kEIO;
  {
    auto reader = (*store)->ReadLog();
    ASSERT_THAT(reader, IsOk());
    while (reader->Valid()) reader->Next();
    EXPECT_EQ(reader->status().code(), StatusCode::kIOError) << reader->status().ToString();
  }
  auto verify = (*store)->Verify();
  EXPECT_TRUE(!verify.ok() || !verify->ok());
  fs_->read_fault = Fault::kNone;
  auto after = (*store)->Verify();
  ASSERT_THAT(after, IsOk());
  EXPECT_TRUE(after->ok());
}

// A real full disk: a 100 MiB tmpfs, most of it taken by a filler file. Appends fail with a
// clear, retryable error when it fills and nothing stored is damaged; once the filler goes
// (more than the 64 MiB RocksDB wants free to flush its memtables), RocksDB's own recovery
// runs and the same store appends again, no reopen, holding every acknowledged event.
TEST(FullDiskTest, AppendsFailClearlyAndResumeWithoutAReopenOnceSpaceReturns) {
  TempDir dir;
  const std::string mnt = dir.Sub("tmpfs");
  std::filesystem::create_directories(mnt);
  if (geteuid() != 0 || mount("cairn-test", mnt.c_str(), "tmpfs", 0, "size=100m") != 0)
    GTEST_SKIP() << "needs root to mount a small tmpfs (CI runs as root)";
  struct Unmount {
    std::string at;
    ~Unmount() { umount2(at.c_str(), MNT_DETACH); }
  } unmount{mnt};
  {
    std::ofstream filler(mnt + "/filler", std::ios::binary);
    std::string mb(1 << 20, 'f');
    for (int i = 0; i < 84; ++i) filler << mb;
  }
  const std::string path = mnt + "/store";
  StoreOptions o = QuietOptions();
  o.log_level = LogLevel::kOff;
  std::map<std::uint64_t, std::string> acked;  // position -> payload
  Status failure;
  auto store = Store::Open(path, o);
  ASSERT_THAT(store, IsOk());
  for (int i = 0; i < 100000; ++i) {
    const std::string payload = std::to_string(i) + std::string(4000, 'p');
    auto r = (*store)->Append("acct-" + std::to_string(i % 50), ExpectedVersion::Any(),
                              Event("Deposited", payload));
    if (!r.ok()) {
      failure = r.status();
      break;
    }
    acked[r->first_position] = payload;
  }
  ASSERT_FALSE(failure.ok()) << "the disk never filled";
  EXPECT_EQ(failure.code(), StatusCode::kIOError) << failure.ToString();
  EXPECT_TRUE(failure.IsRetryable()) << failure.ToString();
  EXPECT_THAT(failure.message(), ::testing::HasSubstr("space")) << failure.ToString();
  EXPECT_FALSE((*store)->GetInfo().write_error.empty());
  EXPECT_THAT((*store)->ReadEvent(1), IsOk());  // what is stored still reads
  // While the disk is full, appends fail saying what ends it.
  auto still = (*store)->Append("acct-0", ExpectedVersion::Any(), Event("Deposited", "x"));
  ASSERT_FALSE(still.ok());
  EXPECT_TRUE(still.status().IsRetryable());
  EXPECT_THAT(still.status().message(), ::testing::HasSubstr("64 MiB are free"));

  // Space returns. The store's status says when RocksDB has recovered, with no append
  // needed to find out; the next append then succeeds.
  std::filesystem::remove(mnt + "/filler");
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!(*store)->GetInfo().write_error.empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  ASSERT_TRUE((*store)->GetInfo().write_error.empty())
      << "no recovery within 30 s of space returning: " << (*store)->GetInfo().write_error;
  auto resumed = (*store)->Append("acct-0", ExpectedVersion::Any(), Event("Deposited", "after"));
  ASSERT_THAT(resumed, IsOk());
  EXPECT_EQ(resumed->first_position, acked.rbegin()->first + 1) << "positions stay dense";
  for (const auto& [position, payload] : acked) {
    auto e = (*store)->ReadEvent(position);
    ASSERT_THAT(e, IsOk()) << position;
    ASSERT_EQ(e->payload, payload) << position;
  }
  auto report = (*store)->Verify();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << report->problems.front().what;
  store->reset();
  auto reopened = OpenOrDie(path);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->GetInfo().last_position, resumed->first_position);
  report = reopened->Verify();
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << report->problems.front().what;
  RecordProperty("acknowledged_before_full", std::to_string(acked.size()));
}

}  // namespace
}  // namespace cairn::testing
