// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The owner socket's listener (listener.h): accepting, one thread per connection, and the
// requests carried out on the owner's Store.
#include "owner/listener.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <list>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "owner/protocol.h"
#include "owner/unix_socket.h"
#include "util/mutex.h"

namespace cairn::owner {
namespace {

// More connections than this are answered kBusy and closed: a client that opens connections
// in a loop cannot make the owner start threads without end.
constexpr int kMaxConnections = 64;
// The hello must arrive this soon after the connect; a message, once begun, this soon whole.
constexpr int kHelloTimeoutMs = 10'000;
constexpr int kBodyTimeoutMs = 60'000;

// Most appends gathered into one group from one connection (the client pipelines as many).
constexpr std::size_t kMaxBatch = 256;

// The appends of one gathered group: submitted asynchronously, their answers kept in
// submission order until every one completed.
class AppendBatch {
 public:
  std::size_t size() const { return size_; }

  void Submit(Store& store, const Message& m) {
    std::size_t slot = 0;
    {
      internal::MutexLock lk(mu_);
      slot = answers_.size();
      answers_.emplace_back();
    }
    ++size_;
    auto appends = ReadAppend(m);
    if (!appends.ok()) return Set(slot, ErrorAnswer(appends.status()));
    Status s = store.AppendMultiAsync(
        std::move(appends).value(), [this, slot](Result<std::vector<AppendResult>> r) {
          Set(slot, r.ok() ? AppendAnswer(*r) : ErrorAnswer(r.status()));
        });
    if (!s.ok()) Set(slot, ErrorAnswer(s));
  }

  // Waits for every completion (Close() of the store completes them too).
  std::vector<Message> Wait() {
    internal::MutexLock lk(mu_);
    lk.Wait(cv_, [&]() CAIRN_REQUIRES(mu_) { return filled_ == answers_.size(); });
    std::vector<Message> out;
    out.reserve(answers_.size());
    for (auto& a : answers_) out.push_back(std::move(*a));
    return out;
  }

 private:
  void Set(std::size_t slot, Message m) {
    internal::MutexLock lk(mu_);
    answers_[slot] = std::move(m);
    ++filled_;
    cv_.notify_all();
  }

  std::size_t size_ = 0;
  internal::Mutex mu_;
  std::condition_variable cv_;
  std::vector<std::optional<Message>> answers_ CAIRN_GUARDED_BY(mu_);
  std::size_t filled_ CAIRN_GUARDED_BY(mu_) = 0;
};

}  // namespace

class Listener::Impl {
 public:
  Impl(Store& store, std::string dir, int listen_fd, int wake_fd,
       std::shared_ptr<spdlog::logger> logger)
      : store_(store),
        dir_(std::move(dir)),
        listen_fd_(listen_fd),
        wake_fd_(wake_fd),
        logger_(std::move(logger)) {}

  void Start() {
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~Impl() {
    stopping_.store(true);
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
    if (accept_thread_.joinable()) accept_thread_.join();
    std::list<Connection> connections;
    {
      internal::MutexLock lk(mu_);
      for (Connection& c : connections_) ::shutdown(c.fd, SHUT_RDWR);  // wakes its reads
      connections.splice(connections.end(), connections_);
    }
    for (Connection& c : connections) c.thread.join();
    ::close(listen_fd_);
    ::close(wake_fd_);
    ::unlink(SocketPath(dir_).c_str());
  }

 private:
  struct Connection {
    int fd = -1;
    std::int64_t pid = 0;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void AcceptLoop() {
    for (;;) {
      pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
      if (stopping_.load()) return;
      if ((p[0].revents & POLLIN) == 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;  // EINTR, ECONNABORTED, EMFILE: the next poll tries again
      ReapFinished();
      internal::MutexLock lk(mu_);
      if (connections_.size() >= static_cast<std::size_t>(kMaxConnections)) {
        (void)WriteFrame(fd, ErrorAnswer(Status::Busy(fmt::format(
                                 "the owner of store {} serves {} connections already; try again",
                                 dir_, kMaxConnections))));
        ::close(fd);
        continue;
      }
      Connection& c = connections_.emplace_back();
      c.fd = fd;
      c.pid = PeerPid(fd);
      c.thread = std::thread([this, &c] { Serve(c); });
    }
  }

  void ReapFinished() {
    std::list<Connection> finished;
    {
      internal::MutexLock lk(mu_);
      for (auto it = connections_.begin(); it != connections_.end();) {
        auto next = std::next(it);
        if (it->done.load()) finished.splice(finished.end(), connections_, it);
        it = next;
      }
    }
    for (Connection& c : finished) c.thread.join();
  }

  void Serve(Connection& c) {
    std::set<std::string> claims;
    if (Greet(c)) ServeRequests(c, claims);
    for (const std::string& name : claims) store_.ReleaseCheckpoint(name);
    ::close(c.fd);
    c.done.store(true);
  }

  void ServeRequests(Connection& c, std::set<std::string>& claims) {
    std::optional<Message> read_ahead;  // a request read while gathering appends
    for (;;) {
      Result<Message> request = read_ahead ? Result<Message>(std::move(*read_ahead))
                                           : ReadFrame(c.fd, -1, kBodyTimeoutMs);
      read_ahead.reset();
      if (!request.ok()) return Refuse(c, request.status());
      if (request->op() != "append") {
        if (!WriteFrame(c.fd, Carry(*request, claims)).ok()) return;
        continue;
      }
      // Appends that arrived together (a pipelining client) are submitted together, so they
      // commit as one group with one sync, and are answered in the order they came.
      AppendBatch batch;
      batch.Submit(store_, *request);
      Status read_error;
      while (batch.size() < kMaxBatch && Readable(c.fd)) {
        auto more = ReadFrame(c.fd, kBodyTimeoutMs, kBodyTimeoutMs);
        if (!more.ok()) {
          read_error = more.status();
          break;
        }
        if (more->op() != "append") {
          read_ahead = std::move(more).value();
          break;
        }
        batch.Submit(store_, *more);
      }
      for (const Message& answer : batch.Wait())
        if (!WriteFrame(c.fd, answer).ok()) return;
      if (!read_error.ok()) return Refuse(c, read_error);
    }
  }

  // A read that failed: a bad message is answered before the connection closes.
  void Refuse(Connection& c, const Status& why) {
    if (why.code() != StatusCode::kInvalidArgument) return;  // closed, timed out, I/O error
    logger_->warn("owner socket: pid {} sent a bad message: {}", c.pid, why.message());
    (void)WriteFrame(c.fd, ErrorAnswer(why));
  }

  static bool Readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  // The first message must be a hello of this protocol; answered with the store's id.
  bool Greet(Connection& c) {
    auto request = ReadFrame(c.fd, kHelloTimeoutMs, kBodyTimeoutMs);
    if (!request.ok()) {
      if (request.status().code() != StatusCode::kNotFound)
        logger_->warn("owner socket: pid {} connected and sent no hello: {}", c.pid,
                      request.status().message());
      (void)WriteFrame(c.fd, ErrorAnswer(request.status()));
      return false;
    }
    auto hello = request->op() == "hello"
                     ? ReadHello(*request)
                     : Result<Hello>(Status::InvalidArgument(
                           "owner protocol: the first message must be a hello"));
    if (hello.ok() && hello->version != kProtocolVersion)
      hello = Status::FailedPrecondition(
          fmt::format("owner protocol: the owner speaks version {}, the client {}",
                      kProtocolVersion, hello->version));
    if (!hello.ok()) {
      logger_->warn("owner socket: pid {}: {}", c.pid, hello.status().message());
      (void)WriteFrame(c.fd, ErrorAnswer(hello.status()));
      return false;
    }
    logger_->debug("owner socket: pid {} connected", c.pid);
    return WriteFrame(c.fd, HelloAnswer(store_.GetInfo().store_id, ::getpid())).ok();
  }

  // One request other than an append (ServeRequests gathers those) carried out on the store;
  // the answer to send.
  Message Carry(const Message& m, std::set<std::string>& claims) {
    const std::string op = m.op();
    if (op == "set_stream_metadata") {
      auto a = ReadSetStreamMetadata(m);
      if (!a.ok()) return ErrorAnswer(a.status());
      return Done(store_.SetStreamMetadata(a->stream, a->metadata));
    }
    if (op == "delete_stream") {
      auto a = ReadDeleteStream(m);
      if (!a.ok()) return ErrorAnswer(a.status());
      auto r = store_.DeleteStream(a->stream, a->expected);
      return r.ok() ? NumberAnswer(*r) : ErrorAnswer(r.status());
    }
    if (op == "apply_retention") {
      auto policy = ReadRetention(m);
      if (!policy.ok()) return ErrorAnswer(policy.status());
      auto r = store_.ApplyRetention(*policy);
      return r.ok() ? RetentionAnswer(*r) : ErrorAnswer(r.status());
    }
    if (op == "save_snapshot") {
      auto s = ReadSaveSnapshot(m);
      if (!s.ok()) return ErrorAnswer(s.status());
      return Done(store_.SaveSnapshot(*s));
    }
    if (op == "delete_snapshots") {
      auto s = ReadStreamName(m);
      if (!s.ok()) return ErrorAnswer(s.status());
      return Done(store_.DeleteSnapshots(*s));
    }
    if (op == "save_checkpoint" || op == "delete_checkpoint" || op == "claim_checkpoint" ||
        op == "release_checkpoint")
      return CarryCheckpoint(op, m, claims);
    if (op == "put_dead_letters") {
      auto records = ReadPutDeadLetters(m);
      if (!records.ok()) return ErrorAnswer(records.status());
      return Done(store_.PutDeadLetters(*records));
    }
    if (op == "remove_dead_letters") {
      auto positions = ReadPositions(m);
      if (!positions.ok()) return ErrorAnswer(positions.status());
      return Done(store_.RemoveDeadLetters(*positions));
    }
    if (op == "backup") {
      auto a = ReadBackup(m);
      if (!a.ok()) return ErrorAnswer(a.status());
      if (a->dir.empty() || a->dir.front() != '/')
        return ErrorAnswer(Status::InvalidArgument(fmt::format(
            "backup directory '{}' must be an absolute path to be taken by the owner", a->dir)));
      BackupOptions o;
      o.verify = a->verify;
      auto r = store_.Backup(a->dir, o);
      return r.ok() ? BackupAnswer(*r) : ErrorAnswer(r.status());
    }
    return ErrorAnswer(Status::NotSupported(
        fmt::format("owner protocol: unknown request '{}' (this owner speaks version {})", op,
                    kProtocolVersion)));
  }

  Message CarryCheckpoint(const std::string& op, const Message& m, std::set<std::string>& claims) {
    auto a = ReadCheckpoint(m);
    if (!a.ok()) return ErrorAnswer(a.status());
    if (op == "save_checkpoint") return Done(store_.SaveCheckpoint(a->name, a->position, a->sync));
    if (op == "delete_checkpoint") return Done(store_.DeleteCheckpoint(a->name));
    if (op == "claim_checkpoint") {
      if (claims.count(a->name) != 0)
        return ErrorAnswer(Status::Busy(
            fmt::format("checkpoint '{}' is already claimed on this connection", a->name)));
      Status s = store_.ClaimCheckpoint(a->name);
      if (s.ok()) claims.insert(a->name);
      if (s.code() == StatusCode::kBusy)
        s = Status::Busy(fmt::format(
            "checkpoint '{}' already has a consumer in the store's owner (pid {}) or in another "
            "process writing through it: two would each deliver every event",
            a->name, ::getpid()));
      return Done(s);
    }
    if (claims.erase(a->name) != 0) store_.ReleaseCheckpoint(a->name);
    return OkAnswer();
  }

  static Message Done(const Status& s) { return s.ok() ? OkAnswer() : ErrorAnswer(s); }

  Store& store_;
  const std::string dir_;
  const int listen_fd_;
  const int wake_fd_;
  std::shared_ptr<spdlog::logger> logger_;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  internal::Mutex mu_;
  std::list<Connection> connections_ CAIRN_GUARDED_BY(mu_);
};

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Listener::~Listener() = default;

Result<std::unique_ptr<Listener>> Listener::Start(Store& store, const std::string& dir,
                                                  std::shared_ptr<spdlog::logger> logger) {
  const std::string path = SocketPath(dir);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Status::FailedPrecondition(fmt::format(
          "{} exists and is not a socket: left alone; the owner socket cannot be opened "
          "(remove the file to let other processes write through this store's owner)",
          path));
    auto probe = Connect(dir);
    if (probe.ok()) {
      const std::int64_t pid = PeerPid(*probe);
      ::close(*probe);
      return Status::Busy(fmt::format(
          "another process (pid {}) listens on {}, though this process holds the store: it "
          "is not the store's owner; stop it, or remove the socket",
          pid, path));
    }
    // Nobody listens: a dead owner's leftover (this process holds the lock now).
    logger->info("owner socket: removing {}, left by an owner that is gone", path);
    ::unlink(path.c_str());
  }
  auto fd = Listen(dir);
  if (!fd.ok()) return fd.status();
  const int wake = ::eventfd(0, EFD_CLOEXEC);
  if (wake < 0) {
    ::close(*fd);
    ::unlink(path.c_str());
    return Status::IOError(fmt::format("eventfd: {}", std::strerror(errno)));
  }
  auto impl = std::make_unique<Impl>(store, dir, *fd, wake, std::move(logger));
  impl->Start();
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

}  // namespace cairn::owner
