// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Writing beside the owner (docs/guarantees.md, "Writing beside the owner"): a store opened
// with StoreOptions::owner_socket carries out the writes of handles opened with
// StoreOptions::through_owner, with the same results and errors as its own calls, and the
// through-owner handle reads what it wrote at once. The owner here is in this process (RocksDB
// refuses a second writer in one process as in another); tests/owner_test.sh runs the same
// with the owner in another process, killed -9, and a foreign listener on the socket.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include "owner/protocol.h"
#include "test_util.h"

namespace cairn::testing {
namespace {

using namespace std::chrono_literals;

StoreOptions OwnerOptions() {
  StoreOptions o = QuietOptions();
  o.owner_socket = true;
  return o;
}

StoreOptions ThroughOptions() {
  StoreOptions o = QuietOptions();
  o.through_owner = true;
  o.create_if_missing = false;
  return o;
}

EventData WithId(std::string type, const std::string& id) {
  EventData e = Event(std::move(type));
  e.id = EventId::Parse(id).value();
  return e;
}

// A raw connection to a store's owner socket, for bytes no cairn client would send.
int RawConnect(const std::string& dir) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = dir + "/owner.sock";
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(OwnerTest, WritesGoThroughTheOwnerAndReadBackAtOnce) {
  TempDir dir;
  auto owner = OpenOrDie(dir.path(), OwnerOptions());
  ASSERT_NE(owner, nullptr);
  ASSERT_THAT(owner->Append("order-1", ExpectedVersion::NoStream(), Event("Placed")), IsOk());

  auto through = Store::Open(dir.path(), ThroughOptions());
  ASSERT_THAT(through, IsOk());
  const StoreInfo info = (*through)->GetInfo();
  EXPECT_TRUE(info.through_owner);
  EXPECT_FALSE(info.read_only);
  EXPECT_EQ(info.owner_pid, ::getpid());
  EXPECT_EQ(info.store_id, owner->GetInfo().store_id);

  auto r = (*through)->Append("order-1", ExpectedVersion::Exact(1), Event("Paid"));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->first_position, 2u);
  EXPECT_EQ(r->last_version, 2u);
  // The owner has it, and the handle that wrote it reads it without a Refresh.
  EXPECT_EQ(owner->last_position(), 2u);
  EXPECT_EQ((*through)->last_position(), 2u);
  auto events = Drain((*through)->ReadStream("order-1").value());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type, "Paid");

  // Metadata, checkpoints, snapshots, dead letters: carried out by the owner, visible here.
  StreamMetadata meta;
  meta.max_count = 7;
  ASSERT_THAT(S((*through)->SetStreamMetadata("order-1", meta)), IsOk());
  EXPECT_EQ(owner->GetStreamMetadata("order-1")->max_count, 7u);
  EXPECT_EQ((*through)->GetStreamMetadata("order-1")->max_count, 7u);
  ASSERT_THAT(S((*through)->SaveCheckpoint("projection", 2)), IsOk());
  EXPECT_EQ(*owner->LoadCheckpoint("projection"), 2u);
  EXPECT_EQ(*(*through)->LoadCheckpoint("projection"), 2u);
  ASSERT_THAT(S((*through)->DeleteCheckpoint("projection")), IsOk());
  EXPECT_EQ(owner->ListCheckpoints()->size(), 0u);
  EXPECT_EQ((*through)->ListCheckpoints()->size(), 0u);
  Snapshot snap{"order-1", 2, "OrderState", 1, "{\"paid\":true}", 0};
  ASSERT_THAT(S((*through)->SaveSnapshot(snap)), IsOk());
  EXPECT_EQ((*through)->LoadSnapshot("order-1", UINT64_MAX)->payload, snap.payload);
  DeadLetter dl{1, "order-1", 1, "orders", "too large", 5, 0};
  ASSERT_THAT(S((*through)->PutDeadLetters(std::span<const DeadLetter>(&dl, 1))), IsOk());
  EXPECT_EQ(owner->ListDeadLetters()->size(), 1u);
  const std::uint64_t positions[] = {1};
  ASSERT_THAT(S((*through)->RemoveDeadLetters(positions)), IsOk());
  EXPECT_TRUE(owner->ListDeadLetters()->empty());
  auto deleted = (*through)->DeleteStream("order-1", ExpectedVersion::Exact(2));
  ASSERT_THAT(deleted, IsOk());
  EXPECT_TRUE(owner->GetStreamInfo("order-1")->deleted);
  EXPECT_TRUE((*through)->GetStreamInfo("order-1")->deleted);
  ASSERT_THAT(S((*through)->Close()), IsOk());
  ASSERT_THAT(S(owner->Close()), IsOk());
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("owner.sock")));
}

TEST(OwnerTest, ErrorsArriveAsTheOwnerGaveThem) {
  TempDir dir;
  auto owner = OpenOrDie(dir.path(), OwnerOptions());
  ASSERT_NE(owner, nullptr);
  auto through = OpenOrDie(dir.path(), ThroughOptions());
  ASSERT_NE(through, nullptr);
  ASSERT_THAT(through->Append("s", ExpectedVersion::Any(), Event("A")), IsOk());

  auto conflict = through->Append("s", ExpectedVersion::NoStream(), Event("B"));
  ASSERT_THAT(conflict, StatusIs(StatusCode::kWrongExpectedVersion));
  ASSERT_TRUE(conflict.status().version_conflict().has_value());
  EXPECT_EQ(conflict.status().version_conflict()->actual, 1u);
  EXPECT_EQ(conflict.status().version_conflict()->expected, "no-stream");

  EXPECT_THAT(through->Append("", ExpectedVersion::Any(), Event("A")),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(through->Append("s", ExpectedVersion::Any(), Event("")),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(through->SaveCheckpoint("c", 99)), StatusIs(StatusCode::kInvalidArgument));

  // Ids: a retry is deduplicated by the owner; other content under the same id is refused.
  const std::string id = "0190a0e4-1111-7000-8000-000000000001";
  auto first = through->Append("s", ExpectedVersion::Any(), WithId("A", id));
  ASSERT_THAT(first, IsOk());
  auto again = through->Append("s", ExpectedVersion::Any(), WithId("A", id));
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->deduplicated);
  EXPECT_EQ(again->first_position, first->first_position);
  EXPECT_THAT(through->Append("s", ExpectedVersion::Any(), WithId("Other", id)),
              StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(owner->last_position(), 2u);

  // Bytes that are not UTF-8 pass through unchanged.
  EventData binary = Event("Bin", std::string("\xff\x00\xfe", 3));
  binary.metadata = std::string("\x80\x81", 2);
  ASSERT_THAT(through->Append("bin", ExpectedVersion::Any(), binary), IsOk());
  auto stored = owner->ReadEvent(3).value();
  EXPECT_EQ(stored.payload, binary.payload);
  EXPECT_EQ(stored.metadata, binary.metadata);

  // Trace context and schema versions travel (protocol 2); a bad one is the owner's error.
  EventData traced = Event("Traced");
  traced.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  traced.tracestate = "congo=t61rcWkgMzE";
  traced.schema_version = 7;
  ASSERT_THAT(through->Append("t", ExpectedVersion::Any(), traced), IsOk());
  stored = owner->ReadEvent(4).value();
  EXPECT_EQ(stored.traceparent, traced.traceparent);
  EXPECT_EQ(stored.tracestate, traced.tracestate);
  EXPECT_EQ(stored.schema_version, 7u);
  traced.traceparent = "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01";
  auto refused = through->Append("t", ExpectedVersion::Any(), traced);
  EXPECT_THAT(refused, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("upper-case hex"));
  EXPECT_EQ(owner->last_position(), 4u);
}

TEST(OwnerTest, AsyncAppendsCompleteInOrderAndCloseCompletesThemAll) {
  TempDir dir;
  auto owner = OpenOrDie(dir.path(), OwnerOptions());
  ASSERT_NE(owner, nullptr);
  StoreOptions o = ThroughOptions();
  o.max_async_appends = 8;  // the producer below blocks for room again and again
  auto through = OpenOrDie(dir.path(), o);
  ASSERT_NE(through, nullptr);
  constexpr int kAppends = 200;
  std::mutex mu;
  std::vector<std::uint64_t> positions;
  std::set<std::thread::id> threads;
  for (int i = 0; i < kAppends; ++i) {
    std::vector<EventData> events{Event("E")};
    ASSERT_THAT(S(through->AppendAsync("s", ExpectedVersion::Exact(i), std::move(events),
                                       [&](Result<AppendResult> r) {
                                         std::lock_guard lk(mu);
                                         ASSERT_TRUE(r.ok()) << r.status().ToString();
                                         positions.push_back(r->first_position);
                                         threads.insert(std::this_thread::get_id());
                                       })),
                IsOk());
  }
  ASSERT_THAT(S(through->Close()), IsOk());  // completes every one first
  ASSERT_EQ(positions.size(), static_cast<std::size_t>(kAppends));
  for (int i = 0; i < kAppends; ++i) EXPECT_EQ(positions[i], static_cast<std::uint64_t>(i + 1));
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
  EXPECT_EQ(owner->last_position(), static_cast<std::uint64_t>(kAppends));

  // Refusing instead of blocking, and a callback that closes.
  o.async_appends_block = false;
  o.max_async_appends = 1;
  auto refusing = OpenOrDie(dir.path(), o);
  ASSERT_NE(refusing, nullptr);
  std::promise<Status> closed_in_callback;
  ASSERT_THAT(S(refusing->AppendAsync(
                  "t", ExpectedVersion::Any(), {Event("E")},
                  [&](Result<AppendResult>) { closed_in_callback.set_value(refusing->Close()); })),
              IsOk());
  Status second =
      refusing->AppendAsync("t", ExpectedVersion::Any(), {Event("E")}, [](Result<AppendResult>) {});
  EXPECT_TRUE(second.ok() || second.code() == StatusCode::kResourceExhausted) << second.ToString();
  EXPECT_THAT(S(closed_in_callback.get_future().get()), StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_THAT(S(refusing->Close()), IsOk());
}

TEST(OwnerTest, ACheckpointClaimEndsWithItsConnection) {
  TempDir dir;
  auto owner = OpenOrDie(dir.path(), OwnerOptions());
  ASSERT_NE(owner, nullptr);
  auto a = OpenOrDie(dir.path(), ThroughOptions());
  auto b = OpenOrDie(dir.path(), ThroughOptions());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_THAT(S(a->ClaimCheckpoint("shipper")), IsOk());
  auto refused = b->ClaimCheckpoint("shipper");
  EXPECT_THAT(S(refused), StatusIs(StatusCode::kBusy));
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("already has a consumer"));
  EXPECT_THAT(S(owner->ClaimCheckpoint("shipper")), StatusIs(StatusCode::kBusy));
  ASSERT_THAT(S(a->Close()), IsOk());  // never released by a call: the connection ends
  for (int i = 0; i < 200; ++i) {      // the owner notices the close on its own thread
    if (b->ClaimCheckpoint("shipper").ok()) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_THAT(S(owner->ClaimCheckpoint("shipper")), StatusIs(StatusCode::kBusy));
  b->ReleaseCheckpoint("shipper");
  EXPECT_THAT(S(owner->ClaimCheckpoint("shipper")), IsOk());
  owner->ReleaseCheckpoint("shipper");
}

TEST(OwnerTest, AnOwnerWithoutASocketStillSaysBusy) {
  TempDir dir;
  auto owner = OpenOrDie(dir.path());
  ASSERT_NE(owner, nullptr);
  auto through = Store::Open(dir.path(), ThroughOptions());
  ASSERT_THAT(through, StatusIs(StatusCode::kBusy));
  EXPECT_THAT(through.status().message(), ::testing::HasSubstr("owner socket"));
  // Without through_owner nothing changes: kBusy as always.
  StoreOptions plain = QuietOptions();
  EXPECT_THAT(Store::Open(dir.path(), plain), StatusIs(StatusCode::kBusy));
}

TEST(OwnerTest, AStaleSocketIsReplacedAndAForeignFileLeftAlone) {
  TempDir dir;
  { auto created = OpenOrDie(dir.path()); }
  // A socket nobody listens on, as a killed owner leaves it.
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = dir.Sub("owner.sock");
    std::memcpy(addr.sun_path, path.data(), path.size());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  {
    auto owner = OpenOrDie(dir.path(), OwnerOptions());
    ASSERT_NE(owner, nullptr);
    auto through = OpenOrDie(dir.path(), ThroughOptions());
    ASSERT_NE(through, nullptr);
    EXPECT_THAT(through->Append("s", ExpectedVersion::Any(), Event("A")), IsOk());
  }
  // A regular file under the socket's name is not cairn's to remove.
  { std::ofstream(dir.Sub("owner.sock")) << "not a socket"; }
  auto refused = Store::Open(dir.path(), OwnerOptions());
  ASSERT_THAT(refused, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("not a socket"));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.Sub("owner.sock")));
  // The store itself opens and stays whole without the socket.
  auto plain = OpenOrDie(dir.path());
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->last_position(), 1u);
}

TEST(OwnerTest, GarbageAndSilenceOnTheSocketHurtNothing) {
  TempDir dir;
  auto owner = OpenOrDie(dir.path(), OwnerOptions());
  ASSERT_NE(owner, nullptr);
  const auto answer_of = [&](const std::string& bytes) {
    const int fd = RawConnect(dir.path());
    EXPECT_GE(fd, 0);
    if (fd < 0) return Status::Internal("no connection");
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    auto m = owner::ReadFrame(fd, 5000, 5000);
    ::close(fd);
    return m.ok() ? owner::AnswerStatus(*m) : m.status();
  };
  // A length past the limit (nothing allocated for it), a body that is not CBOR, CBOR that
  // is not a map, a request before the hello, a hello of another protocol.
  EXPECT_THAT(S(answer_of(std::string("\xff\xff\xff\xff", 4))),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(answer_of(std::string("\x00\x00\x00\x03\xff\xff\xff", 7))),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(S(answer_of(std::string("\x00\x00\x00\x01\x01", 5))),
              StatusIs(StatusCode::kInvalidArgument));
  const auto frame = [](const owner::Message& m) {
    auto body = m.Serialize();
    const auto n = static_cast<std::uint32_t>(body.size());
    std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                    static_cast<char>(n >> 8), static_cast<char>(n)};
    return out + std::string(body.begin(), body.end());
  };
  EXPECT_THAT(S(answer_of(frame(owner::DeleteStreamRequest("s", ExpectedVersion::Any())))),
              StatusIs(StatusCode::kInvalidArgument));
  // After a good hello, a request with a missing field: {"op": "append"} and nothing else.
  const std::string hello = frame(owner::HelloRequest());
  {
    const int fd = RawConnect(dir.path());
    ASSERT_GE(fd, 0);
    const std::string append_without_appends(
        "\x00\x00\x00\x0b\xa1\x62op\x66"
        "append",
        15);
    const std::string req = hello + append_without_appends;
    ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    auto greeting = owner::ReadFrame(fd, 5000, 5000);
    ASSERT_THAT(greeting, IsOk());
    EXPECT_THAT(S(owner::AnswerStatus(*greeting)), IsOk());
    auto answer = owner::ReadFrame(fd, 5000, 5000);
    ASSERT_THAT(answer, IsOk());
    Status s = owner::AnswerStatus(*answer);
    EXPECT_THAT(S(s), StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(s.message(), ::testing::HasSubstr("'appends' is missing"));
    ::close(fd);
  }
  // A client that connects and says nothing, and one that stops in the middle of a frame:
  // the owner goes on serving others meanwhile.
  const int silent = RawConnect(dir.path());
  const int halfway = RawConnect(dir.path());
  ASSERT_GE(silent, 0);
  ASSERT_GE(halfway, 0);
  ASSERT_EQ(::write(halfway, "\x00\x00\x10", 3), 3);
  auto through = OpenOrDie(dir.path(), ThroughOptions());
  ASSERT_NE(through, nullptr);
  EXPECT_THAT(through->Append("s", ExpectedVersion::Any(), Event("A")), IsOk());
  ::close(silent);
  ::close(halfway);
  EXPECT_EQ(owner->last_position(), 1u);
  ASSERT_THAT(S(through->Close()), IsOk());
  ASSERT_THAT(S(owner->Close()), IsOk());  // with connections half-open: they end
}

TEST(OwnerTest, AnOwnerThatClosesFailsTheNextWriteClearly) {
  TempDir dir;
  auto owner = OpenOrDie(dir.path(), OwnerOptions());
  ASSERT_NE(owner, nullptr);
  auto through = OpenOrDie(dir.path(), ThroughOptions());
  ASSERT_NE(through, nullptr);
  ASSERT_THAT(through->Append("s", ExpectedVersion::Any(), Event("A")), IsOk());
  ASSERT_THAT(S(owner->Close()), IsOk());
  auto r = through->Append("s", ExpectedVersion::Any(), Event("B"));
  ASSERT_THAT(r, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("retry appends with their ids"));
  // Reads still work: the follower has what was written.
  EXPECT_EQ(Drain(through->ReadLog().value()).size(), 1u);
}

TEST(OwnerTest, ManyThreadsWriteThroughOneHandle) {
  TempDir dir;
  auto owner = OpenOrDie(dir.path(), OwnerOptions());
  ASSERT_NE(owner, nullptr);
  auto through = OpenOrDie(dir.path(), ThroughOptions());
  ASSERT_NE(through, nullptr);
  constexpr int kThreads = 8, kEach = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Owner and through-owner handle append to the same streams at once.
        Store& s = (i % 2 == 0) ? *through : *owner;
        if (!s.Append("s-" + std::to_string(t), ExpectedVersion::Exact(i), Event("E")).ok())
          failures.fetch_add(1);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(owner->last_position(), static_cast<std::uint64_t>(kThreads * kEach));
  VerifyReport report = owner->Verify().value();
  EXPECT_TRUE(report.ok());
}

}  // namespace
}  // namespace cairn::testing
