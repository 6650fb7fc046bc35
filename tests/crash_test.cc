// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "Durability": synchronous durability against a real kill -9. A child
// process appends, the test kills it mid-flight with SIGKILL, reopens the store and checks
// that every acknowledged append is there, intact, and that no append is half there.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "test_util.h"

namespace cairn {
namespace {
using testing::IsOk;

struct Ack {
  std::uint64_t version;
  std::uint64_t position;
};

// Starts the writer, lets it acknowledge at least `acks` appends, kills it, returns the acks.
std::map<std::string, Ack> RunAndKill(const std::string& store, int acks) {
  int out[2];
  EXPECT_EQ(pipe(out), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execl(CAIRN_CRASH_WRITER, CAIRN_CRASH_WRITER, store.c_str(), "4", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::map<std::string, Ack> last;
  std::string buffer;
  int seen = 0;
  char chunk[4096];
  while (seen < acks) {
    ssize_t n = read(out[0], chunk, sizeof(chunk));
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      std::istringstream line(buffer.substr(0, nl));
      buffer.erase(0, nl + 1);
      std::string word, stream;
      Ack a{};
      line >> word >> stream >> a.version >> a.position;
      auto& slot = last[stream];
      if (a.version > slot.version) slot = a;
      ++seen;
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  close(out[0]);
  EXPECT_TRUE(WIFSIGNALED(status)) << "writer exited on its own (status " << status << ")";
  EXPECT_GE(seen, acks) << "writer stopped before acknowledging enough appends";
  return last;
}

TEST(CrashTest, AcknowledgedSyncAppendsSurviveKill9) {
  testing::TempDir dir;
  const std::string path = dir.Sub("store");
  std::map<std::string, Ack> acked;
  for (int round = 0; round < 3; ++round) {
    for (auto& [stream, ack] : RunAndKill(path, 150 + 50 * round)) acked[stream] = ack;

    auto store = testing::OpenOrDie(path);
    ASSERT_NE(store, nullptr);
    for (const auto& [stream, ack] : acked) {
      auto info = store->GetStreamInfo(stream);
      ASSERT_THAT(info, IsOk()) << stream;
      EXPECT_GE(info->last_version, ack.version) << stream << " lost acknowledged events";
      EXPECT_EQ(info->last_version % 2, 0u) << stream << " holds half of an append";
      auto e = store->ReadEvent(ack.position);
      ASSERT_THAT(e, IsOk());
      EXPECT_EQ(e->stream, stream);
      EXPECT_EQ(e->payload, stream + ":" + std::to_string(ack.version));
    }
    // Positions are dense and every stream's versions gap-free.
    auto reader = store->ReadLog();
    ASSERT_THAT(reader, IsOk());
    std::map<std::string, std::uint64_t> versions;
    std::uint64_t expect_position = 1;
    for (; reader->Valid(); reader->Next()) {
      const RecordedEvent& e = reader->event();
      ASSERT_EQ(e.position, expect_position++);
      ASSERT_EQ(e.version, ++versions[std::string(e.stream)]);
      ASSERT_EQ(e.payload, std::string(e.stream) + ":" + std::to_string(e.version));
    }
    ASSERT_THAT(testing::S(reader->status()), IsOk());
  }
}

// A writer killed while it creates its store (0-45 ms after start) leaves either no store or
// a whole one that opens and appends: never a RocksDB database without cairn's metadata,
// which would be refused as foreign (what the crash loop found before stores were built
// aside and moved into place).
TEST(CrashTest, AKillWhileCreatingTheStoreLeavesNoStoreOrAWholeOne) {
  for (int round = 0; round < 15; ++round) {
    testing::TempDir dir;
    const std::string store = dir.Sub("store");
    pid_t pid = fork();
    if (pid == 0) {
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, STDOUT_FILENO);
      execl(CAIRN_CRASH_WRITER, CAIRN_CRASH_WRITER, store.c_str(), "1",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    usleep(static_cast<useconds_t>(round * 3000));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    auto opened = Store::Open(store, testing::QuietOptions());
    ASSERT_THAT(opened, IsOk()) << "round " << round;
    ASSERT_THAT((*opened)->Append("x", ExpectedVersion::Any(), testing::Event("E")), IsOk());
    auto report = (*opened)->Verify();
    ASSERT_THAT(report, IsOk());
    EXPECT_TRUE(report->ok()) << "round " << round;
  }
}

// What a kill during creation leaves (a store directory holding only the half-built
// subdirectory) is told apart from a foreign directory: readers are told the creation was
// interrupted, and the next writer builds the store over.
TEST(CrashTest, AnInterruptedCreationIsNamedToReadersAndStartedOverByAWriter) {
  testing::TempDir dir;
  const std::string store = dir.Sub("store");
  std::filesystem::create_directories(std::filesystem::path(store) / ".cairn-creating");
  std::ofstream(std::filesystem::path(store) / ".cairn-creating" / "000003.log") << "half";
  StoreOptions ro = testing::QuietOptions();
  ro.read_only = true;
  auto reader = Store::Open(store, ro);
  ASSERT_THAT(reader, testing::StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(reader.status().message(), ::testing::HasSubstr("creation was interrupted"));
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(store) / ".cairn-creating"))
      << "a reader must not touch the directory";

  // While a creator holds the creation lock (an flock on the directory), the same leftovers
  // are a creation under way, and a writer that does not create leaves them alone.
  {
    const int held = ::open(store.c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(held, 0);
    ASSERT_EQ(::flock(held, LOCK_EX), 0);
    auto during = Store::Open(store, ro);
    EXPECT_THAT(during, testing::StatusIs(StatusCode::kNotFound));
    EXPECT_THAT(during.status().message(), ::testing::HasSubstr("another process is creating it"));
    StoreOptions existing_only = testing::QuietOptions();
    existing_only.create_if_missing = false;
    EXPECT_THAT(Store::Open(store, existing_only), testing::StatusIs(StatusCode::kNotFound));
    EXPECT_TRUE(
        std::filesystem::exists(std::filesystem::path(store) / ".cairn-creating" / "000003.log"))
        << "only the creator may clear a creation";
    ::close(held);
  }

  auto writer = Store::Open(store, testing::QuietOptions());
  ASSERT_THAT(writer, IsOk());
  ASSERT_THAT((*writer)->Append("x", ExpectedVersion::NoStream(), testing::Event("E")), IsOk());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(store) / ".cairn-creating"));
}

}  // namespace
}  // namespace cairn
