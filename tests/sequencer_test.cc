// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The sequencer (src/store/sequencer.h) on its own: a bare RocksDB database with the log and
// index families, no Store around it. What the store's tests see only through Append: the
// positions, versions and timestamps it decides, the chain it extends, the head it publishes,
// the bytes it reports to the backlog quota, idempotent retries, and asynchronous appends
// completing in submission order.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include "codec/chain.h"
#include "codec/envelope.h"
#include "store/backlog.h"
#include "store/head.h"
#include "store/keys.h"
#include "store/sequencer.h"
#include "store/store_metrics.h"
#include "store/wal_sync_gate.h"
#include "test_util.h"

namespace cairn::store {
namespace {

using cairn::testing::IsOk;
using cairn::testing::S;
using cairn::testing::StatusIs;

EventData Event(std::string type, std::string payload = "{}") {
  EventData e;
  e.type = std::move(type);
  e.payload = std::move(payload);
  e.content_type = "application/json";
  return e;
}

// A database shaped as a store's (the families the sequencer writes), and everything the
// sequencer answers to, with a clock the test steps.
class SequencerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = rocksdb::NewCompositeEnv(gate_->Wrap(rocksdb::Env::Default()->GetFileSystem()));
    rocksdb::Options o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    o.env = env_.get();
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}},
        {"log", {}},
        {"streams", {}},
        {"ids", {}},
        {"types", {}}};
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_.Sub("db"), families, &handles_, &raw).ok());
    db_.reset(raw);
    sequencer_ = MakeSequencer(/*sync=*/true);
    ASSERT_THAT(S(sequencer_->LoadTail()), IsOk());
  }
  void TearDown() override {
    if (sequencer_) sequencer_->Close();
    sequencer_.reset();
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
    db_.reset();
  }

  std::unique_ptr<Sequencer> MakeSequencer(bool sync) {
    Sequencer::Setup s;
    s.path = dir_.Sub("db");
    s.db = db_.get();
    s.log = handles_[1];
    s.streams = handles_[2];
    s.ids = handles_[3];
    s.types = handles_[4];
    s.store_id = store_id_;
    s.sync = sync;
    s.max_group_appends = 64;
    s.stream_cache_entries = 1024;
    s.now_us = [this] { return now_us_.load(); };
    s.read_event = [this](std::uint64_t position) { return ReadEvent(position); };
    s.wal_sync_gate = gate_.get();
    s.head = &head_;
    s.backlog = &backlog_;
    s.metrics = &metrics_;
    s.logger = std::make_shared<spdlog::logger>("sequencer_test");  // no sinks: silent
    return std::make_unique<Sequencer>(std::move(s));
  }

  Result<OwnedEvent> ReadEvent(std::uint64_t position) {
    std::string value;
    rocksdb::Status rs =
        db_->Get(rocksdb::ReadOptions(), handles_[1], PositionKey(position), &value);
    if (!rs.ok()) return Status::NotFound(rs.ToString());
    RecordedEvent e;
    std::string scratch;
    if (Status s = codec::DecodeEvent(value, &scratch, &e); !s.ok()) return s;
    return OwnedEvent::From(e);
  }

  Result<std::vector<AppendResult>> Append(std::string_view stream, ExpectedVersion expected,
                                           const std::vector<EventData>& events) {
    return sequencer_->Submit({AppendView{stream, expected, events}});
  }

  testing::TempDir dir_;
  const EventId store_id_ = EventId::Generate();
  std::shared_ptr<WalSyncGate> gate_ = std::make_shared<WalSyncGate>();
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::atomic<std::int64_t> now_us_{1'000'000};
  PublishedHead head_;
  // A quota large enough never to refuse: the test reads what the sequencer reports to it.
  Backlog backlog_{BacklogQuota{.max_events = 1'000'000, .max_bytes = 1ull << 40}, false};
  WriteMetrics metrics_;
  std::unique_ptr<Sequencer> sequencer_;
};

TEST_F(SequencerTest, PositionsAndVersionsFollowCommitOrderAndTheHeadIsPublished) {
  ASSERT_THAT(Append("a", ExpectedVersion::NoStream(), {Event("X"), Event("Y")}), IsOk());
  auto b = Append("b", ExpectedVersion::Any(), {Event("X")});
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ((*b)[0].first_position, 3u);
  EXPECT_EQ((*b)[0].first_version, 1u);
  auto a = Append("a", ExpectedVersion::Exact(2), {Event("Z")});
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ((*a)[0].first_position, 4u);
  EXPECT_EQ((*a)[0].first_version, 3u);
  EXPECT_EQ(head_.position(), 4u);
  EXPECT_THAT(sequencer_->CommittedStreamVersion("a"), IsOk());
  EXPECT_EQ(*sequencer_->CommittedStreamVersion("a"), 3u);
}

TEST_F(SequencerTest, AWrongExpectedVersionWritesNothing) {
  ASSERT_THAT(Append("a", ExpectedVersion::Any(), {Event("X")}), IsOk());
  EXPECT_THAT(Append("a", ExpectedVersion::Exact(5), {Event("X")}),
              StatusIs(StatusCode::kWrongExpectedVersion));
  EXPECT_THAT(Append("a", ExpectedVersion::NoStream(), {Event("X")}),
              StatusIs(StatusCode::kWrongExpectedVersion));
  EXPECT_EQ(head_.position(), 1u);
  EXPECT_FALSE(ReadEvent(2).ok());
}

// Each stored hash is SHA-256 over the previous one and the event, from the store's genesis:
// recomputed here with a hasher of the test's own.
TEST_F(SequencerTest, EveryEventExtendsTheChainFromTheGenesis) {
  for (int i = 0; i < 5; ++i)
    ASSERT_THAT(Append("s-" + std::to_string(i % 2), ExpectedVersion::Any(),
                       {Event("T", std::to_string(i))}),
                IsOk());
  codec::ChainHasher hasher;
  codec::Hash previous = hasher.Genesis(store_id_);
  for (std::uint64_t p = 1; p <= 5; ++p) {
    auto e = ReadEvent(p);
    ASSERT_THAT(e, IsOk());
    const RecordedEvent view = e->view();
    EXPECT_EQ(view.chain_hash, hasher.Next(previous, view)) << "position " << p;
    previous = view.chain_hash;
  }
  EXPECT_EQ(head_.Get().chain_hash, previous);
}

// The commit clock may step back (NTP, a restored VM): a later position never gets an earlier
// timestamp, in this process or after the tail is loaded again.
TEST_F(SequencerTest, TimestampsNeverGoBackWhenTheClockDoes) {
  now_us_ = 5'000'000;
  ASSERT_THAT(Append("a", ExpectedVersion::Any(), {Event("X")}), IsOk());
  now_us_ = 2'000'000;
  ASSERT_THAT(Append("a", ExpectedVersion::Any(), {Event("X")}), IsOk());
  sequencer_->Close();
  sequencer_ = MakeSequencer(true);
  ASSERT_THAT(S(sequencer_->LoadTail()), IsOk());
  ASSERT_THAT(Append("a", ExpectedVersion::Any(), {Event("X")}), IsOk());
  now_us_ = 7'000'000;
  ASSERT_THAT(Append("a", ExpectedVersion::Any(), {Event("X")}), IsOk());
  std::vector<std::int64_t> ts;
  for (std::uint64_t p = 1; p <= 4; ++p) ts.push_back(ReadEvent(p)->view().timestamp_us);
  EXPECT_THAT(ts, ::testing::ElementsAre(5'000'000, 5'000'000, 5'000'000, 7'000'000));
}

TEST_F(SequencerTest, ARetriedIdIsAnsweredFromTheIndexAndAReusedIdIsRefused) {
  EventData e = Event("Paid", R"({"amount":5})");
  e.id = EventId::Generate();
  auto first = Append("order-1", ExpectedVersion::Any(), {e});
  ASSERT_THAT(first, IsOk());
  auto retry = Append("order-1", ExpectedVersion::Any(), {e});
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ((*retry)[0].first_position, (*first)[0].first_position);
  EXPECT_EQ(head_.position(), 1u);
  EXPECT_EQ(*sequencer_->StoredPositionOf(*e.id), 1u);
  EventData other = Event("Paid", R"({"amount":6})");
  other.id = e.id;
  EXPECT_THAT(Append("order-1", ExpectedVersion::Any(), {other}),
              StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(head_.position(), 1u);
}

// The backlog quota counts an event's log record as stored (backlog.h, LogRecordBytes): the
// sequencer reports exactly the bytes under the log's keys, and an append's admission estimate
// stays within padding of them.
TEST_F(SequencerTest, TheBacklogIsToldTheStoredBytesOfTheLogRecords) {
  std::vector<EventData> events = {Event("Small"), Event("Bigger", std::string(5000, 'x')),
                                   Event("Odd", "{\"n\":1}"), Event("E", "")};
  events[1].metadata = R"({"trace":"abc"})";
  events[2].content_type = "text/plain; charset=utf-8";
  events[3].content_type.clear();
  ASSERT_THAT(Append("order-77", ExpectedVersion::Any(), events), IsOk());
  std::uint64_t stored = 0;
  for (std::uint64_t p = 1; p <= events.size(); ++p) {
    std::string value;
    ASSERT_TRUE(db_->Get(rocksdb::ReadOptions(), handles_[1], PositionKey(p), &value).ok());
    const std::uint64_t bytes = LogRecordBytes(PositionKey(p).size(), value.size());
    stored += bytes;
    EXPECT_NEAR(static_cast<double>(EstimatedLogRecordBytes("order-77", events[p - 1])),
                static_cast<double>(bytes), 12.0)
        << "position " << p;
  }
  EXPECT_EQ(backlog_.Get().bytes, stored);
}

TEST_F(SequencerTest, AsynchronousAppendsCompleteInSubmissionOrderOnTheDriverThread) {
  std::vector<std::uint64_t> positions;
  std::atomic<bool> all_on_driver{true};
  internal::Mutex mu;
  for (int i = 0; i < 200; ++i) {
    std::vector<StreamAppend> one(1);
    one[0].stream = "s-" + std::to_string(i % 3);
    one[0].expected = ExpectedVersion::Any();
    one[0].events = {Event("T")};
    ASSERT_THAT(S(sequencer_->SubmitAsync(
                    std::move(one),
                    [&](Status s, std::vector<AppendResult> r) {
                      if (!sequencer_->OnDriverThread()) all_on_driver = false;
                      internal::MutexLock lk(mu);
                      positions.push_back(s.ok() ? r[0].first_position : 0);
                    },
                    /*block=*/true)),
                IsOk());
  }
  ASSERT_TRUE(sequencer_->Close());  // every completion has run
  ASSERT_EQ(positions.size(), 200u);
  for (std::size_t i = 0; i < positions.size(); ++i) EXPECT_EQ(positions[i], i + 1);
  EXPECT_TRUE(all_on_driver.load());
  EXPECT_EQ(head_.position(), 200u);
}

TEST_F(SequencerTest, AfterCloseAppendsAreRefused) {
  ASSERT_TRUE(sequencer_->Close());
  EXPECT_FALSE(sequencer_->Close());
  EXPECT_THAT(Append("a", ExpectedVersion::Any(), {Event("X")}),
              StatusIs(StatusCode::kFailedPrecondition));
  std::vector<StreamAppend> one(1);
  one[0].stream = "a";
  one[0].events = {Event("X")};
  EXPECT_THAT(S(sequencer_->SubmitAsync(
                  std::move(one), [](Status, std::vector<AppendResult>) {}, true)),
              StatusIs(StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace cairn::store
