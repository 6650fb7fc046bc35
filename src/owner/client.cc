// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The client of the owner socket (client.h): the checks that the listener is the store's
// owner, the request/answer turns and the thread that sends asynchronous appends.
#include "owner/client.h"

#include <unistd.h>

#include <exception>
#include <utility>

#include <fmt/format.h>

#include "owner/unix_socket.h"

namespace cairn::owner {
namespace {

constexpr int kHelloTimeoutMs = 10'000;
constexpr int kBodyTimeoutMs = 60'000;

thread_local const Client* async_thread_of = nullptr;

// Most asynchronous appends written to the owner before their answers are read; their
// answers (about 100 bytes each) fit the socket's buffer, so neither side can block the
// other by writing while it does not read.
constexpr std::size_t kMaxPipelined = 256;

// Is the process on the other end of `fd` the one holding store `dir`'s lock?
Status CheckPeerHoldsLock(int fd, const std::string& dir) {
  const std::int64_t peer = PeerPid(fd);
  const std::int64_t holder = LockHolderPid(dir);
  if (holder < 0 || peer == 0) return Status::Ok();  // cannot be told here: the hello decides
  if (holder == 0)
    return Status::Unavailable(
        fmt::format("a process (pid {}) listens on {}, but nobody holds the store's lock", peer,
                    SocketPath(dir)));
  if (peer != holder)
    return Status::FailedPrecondition(
        fmt::format("a process (pid {}) listens on {}, but the store's lock is held by pid {}: the "
                    "listener is not the store's owner, and nothing was sent to it",
                    peer, SocketPath(dir), holder));
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Client>> Client::Connect(const std::string& dir, Options options) {
  auto fd = owner::Connect(dir);
  if (!fd.ok()) {
    if (fd.status().code() == StatusCode::kNotFound)
      return Status::Unavailable(fd.status().message());
    return fd.status();
  }
  Status s = CheckPeerHoldsLock(*fd, dir);
  if (s.ok()) s = WriteFrame(*fd, HelloRequest());
  Result<Message> answer = s.ok() ? ReadFrame(*fd, kHelloTimeoutMs, kBodyTimeoutMs) : s;
  if (answer.ok()) s = AnswerStatus(*answer);
  if (!answer.ok()) s = answer.status();
  Result<HelloInfo> hello = s.ok() ? ReadHelloAnswer(*answer) : s;
  if (hello.ok() && hello->version != kProtocolVersion)
    hello = Status::FailedPrecondition(
        fmt::format("the owner of {} speaks owner protocol {}, this build {}", dir, hello->version,
                    kProtocolVersion));
  if (hello.ok() && PeerPid(*fd) != 0 && hello->pid != PeerPid(*fd))
    hello = Status::FailedPrecondition(fmt::format(
        "the listener on {} says it is pid {}, the kernel says pid {}: not the store's owner",
        SocketPath(dir), hello->pid, PeerPid(*fd)));
  if (!hello.ok()) {
    ::close(*fd);
    return hello.status();
  }
  return std::unique_ptr<Client>(
      new Client(*fd, dir, std::move(hello).value(), std::move(options)));
}

Client::Client(int fd, std::string dir, HelloInfo owner, Options options)
    : dir_(std::move(dir)), owner_(std::move(owner)), options_(std::move(options)), fd_(fd) {
  async_thread_ = std::thread([this] { SendQueued(); });
}

Client::~Client() { Close(); }

void Client::Close() {
  {
    internal::MutexLock lk(queue_mu_);
    closing_ = true;
  }
  queue_cv_.notify_all();
  if (async_thread_.joinable() && std::this_thread::get_id() != async_thread_.get_id())
    async_thread_.join();
  internal::MutexLock lk(call_mu_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (broken_.ok())
    broken_ = Status::FailedPrecondition("the connection to the store's owner is closed");
}

Status Client::Broke(const Status& why) {
  broken_ = Status::Unavailable(fmt::format(
      "the owner of store {} (pid {}) closed the connection or stopped answering ({}); a "
      "write in flight may or may not have been carried out: retry appends with their ids",
      dir_, owner_.pid, why.message()));
  return broken_;
}

Result<Message> Client::Call(const Message& request) {
  internal::MutexLock lk(call_mu_);
  if (!broken_.ok()) return broken_;
  Status sent = WriteFrame(fd_, request);
  if (sent.code() == StatusCode::kInvalidArgument) return sent;  // too large; nothing was sent
  Result<Message> answer = sent.ok() ? ReadFrame(fd_, -1, kBodyTimeoutMs) : Result<Message>(sent);
  if (!answer.ok()) return Broke(answer.status());
  if (Status s = AnswerStatus(*answer); !s.ok()) return s;
  return answer;
}

std::vector<Result<std::vector<AppendResult>>> Client::AppendPipelined(
    const std::vector<Queued>& batch) {
  std::vector<Result<std::vector<AppendResult>>> results;
  results.reserve(batch.size());
  internal::MutexLock lk(call_mu_);
  // Every request is written before the first answer is read: the owner submits what arrives
  // together as one group (one sync) and answers in order.
  std::vector<Status> sent(batch.size(), broken_);
  for (std::size_t i = 0; i < batch.size() && broken_.ok(); ++i) {
    sent[i] = WriteFrame(fd_, AppendRequest(batch[i].appends));
    // Too large (kInvalidArgument) sent nothing and fails alone; anything else broke the line.
    if (!sent[i].ok() && sent[i].code() != StatusCode::kInvalidArgument) (void)Broke(sent[i]);
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!sent[i].ok() || !broken_.ok()) {
      results.emplace_back(
          !sent[i].ok() && sent[i].code() == StatusCode::kInvalidArgument ? sent[i] : broken_);
      continue;
    }
    auto answer = ReadFrame(fd_, -1, kBodyTimeoutMs);
    if (!answer.ok()) {
      results.emplace_back(Broke(answer.status()));
      continue;
    }
    Status st = AnswerStatus(*answer);
    results.emplace_back(st.ok() ? ReadAppendAnswer(*answer)
                                 : Result<std::vector<AppendResult>>(st));
  }
  return results;
}

Status Client::Plain(const Message& request) {
  auto answer = Call(request);
  if (!answer.ok()) return answer.status();
  if (options_.after_write) options_.after_write(0);
  return Status::Ok();
}

Result<std::vector<AppendResult>> Client::Append(std::span<const StreamAppend> appends) {
  auto answer = Call(AppendRequest(appends));
  if (!answer.ok()) return answer.status();
  auto results = ReadAppendAnswer(*answer);
  if (!results.ok()) return results.status();
  if (results->size() != appends.size())
    return Status::Internal(fmt::format("the store's owner answered {} appends with {} results",
                                        appends.size(), results->size()));
  std::uint64_t last = 0;
  for (const AppendResult& r : *results) last = std::max(last, r.last_position);
  if (options_.after_write) options_.after_write(last);
  return results;
}

Status Client::AppendAsync(std::vector<StreamAppend> appends,
                           std::function<void(Result<std::vector<AppendResult>>)> done) {
  if (!done) return Status::InvalidArgument("an asynchronous append needs a completion callback");
  internal::MutexLock lk(queue_mu_);
  const auto full = [&]() CAIRN_REQUIRES(queue_mu_) {
    return in_flight_ >= std::max<std::size_t>(1, options_.max_async_appends);
  };
  if (full()) {
    if (!options_.async_appends_block || OnAsyncThread())
      return Status::ResourceExhausted(fmt::format(
          "{} asynchronous appends are in flight to the store's owner (max_async_appends)",
          in_flight_));
    lk.Wait(queue_cv_, [&]() CAIRN_REQUIRES(queue_mu_) { return !full() || closing_; });
  }
  if (closing_) return Status::FailedPrecondition(fmt::format("store {} is closed", dir_));
  ++in_flight_;
  queue_.push_back(Queued{std::move(appends), std::move(done)});
  queue_cv_.notify_all();
  return Status::Ok();
}

bool Client::OnAsyncThread() const { return async_thread_of == this; }

void Client::SendQueued() {
  async_thread_of = this;
  internal::MutexLock lk(queue_mu_);
  for (;;) {
    lk.Wait(queue_cv_, [&]() CAIRN_REQUIRES(queue_mu_) { return !queue_.empty() || closing_; });
    if (queue_.empty()) return;  // closing, and every queued append completed
    std::vector<Queued> batch;
    while (!queue_.empty() && batch.size() < kMaxPipelined) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lk.Unlock();
    auto results = AppendPipelined(batch);
    std::uint64_t last = 0;
    for (const auto& r : results)
      if (r.ok())
        for (const AppendResult& a : *r) last = std::max(last, a.last_position);
    if (last > 0 && options_.after_write) options_.after_write(last);  // once for the batch
    for (std::size_t i = 0; i < batch.size(); ++i) {
      try {
        batch[i].done(std::move(results[i]));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "cairn: an append's completion callback threw (ignored): %s\n",
                     e.what());
      } catch (...) {
        std::fprintf(stderr, "cairn: an append's completion callback threw (ignored)\n");
      }
    }
    lk.Lock();
    in_flight_ -= batch.size();
    queue_cv_.notify_all();
  }
}

Status Client::SetStreamMetadata(std::string_view stream, const StreamMetadata& metadata) {
  return Plain(SetStreamMetadataRequest(stream, metadata));
}

Result<std::uint64_t> Client::DeleteStream(std::string_view stream, ExpectedVersion expected) {
  auto answer = Call(DeleteStreamRequest(stream, expected));
  if (!answer.ok()) return answer.status();
  auto version = ReadNumberAnswer(*answer);
  if (version.ok() && options_.after_write) options_.after_write(0);
  return version;
}

Result<RetentionReport> Client::ApplyRetention(const RetentionPolicy& policy) {
  auto answer = Call(RetentionRequest(policy));
  if (!answer.ok()) return answer.status();
  auto report = ReadRetentionAnswer(*answer);
  if (report.ok() && options_.after_write) options_.after_write(0);
  return report;
}

Status Client::SaveSnapshot(const Snapshot& snapshot) {
  return Plain(SaveSnapshotRequest(snapshot));
}
Status Client::DeleteSnapshots(std::string_view stream) {
  return Plain(DeleteSnapshotsRequest(stream));
}
Status Client::SaveCheckpoint(std::string_view name, std::uint64_t position, bool sync) {
  return Plain(CheckpointRequest("save_checkpoint", name, position, sync));
}
Status Client::DeleteCheckpoint(std::string_view name) {
  return Plain(CheckpointRequest("delete_checkpoint", name));
}
Status Client::ClaimCheckpoint(std::string_view name) {
  auto answer = Call(CheckpointRequest("claim_checkpoint", name));
  return answer.ok() ? Status::Ok() : answer.status();
}
void Client::ReleaseCheckpoint(std::string_view name) {
  (void)Call(CheckpointRequest("release_checkpoint", name));  // a closed connection released it
}
Status Client::PutDeadLetters(std::span<const DeadLetter> records) {
  return Plain(PutDeadLettersRequest(records));
}
Status Client::RemoveDeadLetters(std::span<const std::uint64_t> positions) {
  return Plain(RemoveDeadLettersRequest(positions));
}

Result<BackupReport> Client::Backup(const std::string& dir, bool verify) {
  auto answer = Call(BackupRequest(dir, verify));
  if (!answer.ok()) return answer.status();
  return ReadBackupAnswer(*answer);
}

}  // namespace cairn::owner
