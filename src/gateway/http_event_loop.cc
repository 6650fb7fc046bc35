// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The epoll loop that holds HTTP and HTTPS connections and answers appends when the store
// completes them (http_event_loop.h).
#include "gateway/http_event_loop.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace cairn::gateway {
namespace {

using Clock = std::chrono::steady_clock;

thread_local RequestContinuation* current_continuation = nullptr;

// Answers not yet taken by a client: past this the loop stops reading its requests, so a
// client that pipelines without reading is held back by TCP, not by the server's memory.
constexpr std::size_t kMaxUnsentBytes = 1 << 20;
// Read ahead past the request being served (pipelined requests).
constexpr std::size_t kReadAheadBytes = 64 * 1024;
// Requests of one connection run and not yet answered (pipelined appends in the store).
constexpr std::size_t kMaxPipelined = 1024;
constexpr auto kSweepEvery = std::chrono::milliseconds(100);
constexpr auto kLinger = std::chrono::milliseconds(500);
constexpr std::uint64_t kWakeId = 0;

// One request's bytes for httplib to parse, and its answer collected.
class BufferStream final : public httplib::Stream {
 public:
  BufferStream(std::string_view request, int fd, const std::string& peer_ip, int peer_port)
      : request_(request), fd_(fd), peer_ip_(peer_ip), peer_port_(peer_port) {}
  bool is_readable() const override { return at_ < request_.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, request_.size() - at_);
    std::copy_n(request_.data() + at_, n, ptr);
    at_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    answer_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_ip_;
    port = peer_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip.clear();
    port = 0;
  }
  socket_t socket() const override { return fd_; }
  std::string& answer() { return answer_; }

 private:
  std::string_view request_;
  std::size_t at_ = 0;
  int fd_;
  const std::string& peer_ip_;
  int peer_port_;
  std::string answer_;
};

void SetBlocking(int fd, bool blocking) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK));
}

}  // namespace

RequestContinuation* RequestContinuation::Current() { return current_continuation; }

RequestContinuation::Resume RequestContinuation::Defer() {
  deferred_ = true;
  return resume_;
}

namespace {

struct Adoption {
  int fd;
  SSL* ssl;  // null for plain HTTP
  std::string read_ahead;
  std::size_t served;
};

// Closes a connection's socket and frees its TLS session.
void CloseSocket(int fd, SSL* ssl) {
  if (ssl != nullptr) SSL_free(ssl);
  ::close(fd);
}
// The same, letting its last answer arrive first (LingeringClose).
void LingerAndClose(int fd, SSL* ssl) {
  LingeringClose(fd, ssl);
  if (ssl != nullptr) SSL_free(ssl);
}
struct Completion {
  std::uint64_t id;   // the connection
  std::uint64_t seq;  // the request on it
  RequestContinuation::Answer answer;
};

// What other threads hand the loop: sockets to adopt and completed work. Shared with the
// completion callbacks, which the store may run after the gateway is gone (an append still in
// flight when Stop gave up waiting): they then post into a mailbox nobody reads.
struct Mailbox {
  Mailbox() : wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~Mailbox() {
    if (wake >= 0) ::close(wake);
  }
  void Wake() const {
    const std::uint64_t one = 1;
    (void)::write(wake, &one, sizeof one);
  }
  void Post(std::uint64_t id, std::uint64_t seq, RequestContinuation::Answer answer) {
    std::lock_guard lk(mu);
    if (exited) return;
    const bool first = completed.empty();
    completed.push_back({id, seq, std::move(answer)});
    if (first) Wake();  // one wake-up for a batch of completions
  }
  const int wake;
  std::mutex mu;
  std::deque<Adoption> adopted;
  std::deque<Completion> completed;
  bool exited = false;
};

}  // namespace

class ConnectionLoop::Impl {
 public:
  explicit Impl(Setup setup) : s_(std::move(setup)) {}

  Status Start() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0 || mail_->wake < 0)
      return Status::IOError(fmt::format("the gateway's event loop: {}", std::strerror(errno)));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeId;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, mail_->wake, &ev);
    workers_ = std::make_unique<httplib::ThreadPool>(std::max<std::size_t>(1, s_.workers));
    thread_ = std::thread([this] { Run(); });
    return Status::Ok();
  }

  ~Impl() {
    Stop();
    if (epoll_ >= 0) ::close(epoll_);
  }

  // A socket from accept (over TLS, after its handshake), or back from a worker with what it
  // read ahead.
  void Adopt(int fd, SSL* ssl, std::string read_ahead, std::size_t served) {
    {
      std::lock_guard lk(mail_->mu);
      if (!mail_->exited) {
        mail_->adopted.push_back({fd, ssl, std::move(read_ahead), served});
        mail_->Wake();
        return;
      }
    }
    LingerAndClose(fd, ssl);
  }

  void Stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    mail_->Wake();
    thread_.join();
    // Workers serving a handed-off request finish it; the loop is gone, so they close.
    workers_->shutdown();
  }

 private:
  enum class State { kIdle, kReading, kLingering };
  // A request read and run once, in the order of the connection's requests: answered already
  // (`answer` holds its bytes) or waiting for its deferred work.
  struct Pending {
    std::uint64_t seq = 0;
    bool ready = false;
    std::string answer;
    std::string request;  // while waiting: for the second run
    bool last = false;
    Clock::time_point started;
    RequestContinuation::Answer resume;
  };
  struct Connection {
    int fd = -1;
    SSL* ssl = nullptr;  // TLS: the session, non-blocking like its socket
    std::uint64_t id = 0;
    State state = State::kIdle;
    std::string in, out;
    std::size_t sent = 0;        // of out
    std::size_t served = 0;      // requests on this connection
    std::size_t need = 0;        // bytes the request being read needs in `in`
    Clock::time_point deadline;  // kIdle: keep-alive; kReading: 408; kLingering: close
    Clock::time_point write_deadline = Clock::time_point::max();
    // Requests run, oldest first, whose answers are not yet in `out`: pipelined appends are
    // handed to the store together and answered in order.
    std::deque<Pending> pending;
    std::uint64_t next_seq = 0;
    bool peer_closed = false;
    bool close_after_send = false;
    std::uint32_t interest = 0;
    std::string peer_ip;
    int peer_port = -1;
  };
  void Run() {
    std::vector<epoll_event> events(256);
    Clock::time_point next_sweep = Clock::now() + kSweepEvery;
    Clock::time_point stop_by = Clock::time_point::max();
    for (;;) {
      // Decrypted bytes waiting inside a TLS session wake nothing: those connections are read
      // again without waiting.
      std::vector<std::uint64_t> reread;
      reread.swap(reread_);
      const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                                 reread.empty() ? static_cast<int>(kSweepEvery.count()) : 0);
      for (std::uint64_t id : reread)
        if (auto it = connections_.find(id); it != connections_.end())
          OnEvent(*it->second, EPOLLIN);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == kWakeId) {
          std::uint64_t count;
          (void)::read(mail_->wake, &count, sizeof count);
          continue;
        }
        auto it = connections_.find(events[i].data.u64);
        if (it != connections_.end()) OnEvent(*it->second, events[i].events);
      }
      TakeAdoptions();
      RunCompletions();
      const auto now = Clock::now();
      if (now >= next_sweep) {
        Sweep(now);
        next_sweep = now + kSweepEvery;
      }
      if (stopping_) {
        if (stop_by == Clock::time_point::max()) stop_by = now + s_.limits.request_timeout;
        CloseIdle();
        if (awaiting_ == 0 || now >= stop_by) break;
      }
    }
    {
      std::lock_guard lk(mail_->mu);
      mail_->exited = true;
      for (auto& a : mail_->adopted) CloseSocket(a.fd, a.ssl);
      mail_->adopted.clear();
      mail_->completed.clear();
    }
    for (auto& [id, c] : connections_) CloseSocket(c->fd, c->ssl);
    connections_.clear();
  }

  void TakeAdoptions() {
    std::deque<Adoption> adopted;
    {
      std::lock_guard lk(mail_->mu);
      adopted.swap(mail_->adopted);
    }
    for (Adoption& a : adopted) {
      if (stopping_) {
        CloseSocket(a.fd, a.ssl);
        continue;
      }
      auto c = std::make_unique<Connection>();
      c->fd = a.fd;
      c->ssl = a.ssl;
      c->id = ++last_id_;
      c->in = std::move(a.read_ahead);
      c->served = a.served;
      c->deadline = Clock::now() + s_.limits.keep_alive;
      SetBlocking(a.fd, false);
      SocketAddress(a.fd, true, c->peer_ip, c->peer_port);
      // Answers are small: without TCP_NODELAY Nagle holds one back for the client's ACK.
      const int one = 1;
      if (c->peer_port >= 0) ::setsockopt(a.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      Connection& conn = *c;
      const std::uint64_t id = conn.id;
      connections_.emplace(id, std::move(c));
      epoll_event ev{};
      ev.data.u64 = id;
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, conn.fd, &ev);
      Advance(conn);
      if (auto it = connections_.find(id); it != connections_.end()) UpdateInterest(*it->second);
    }
  }

  void OnEvent(Connection& c, std::uint32_t events) {
    const std::uint64_t id = c.id;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
      if (!ReadAvailable(c)) return Close(c);
    }
    if (c.state == State::kLingering) {
      if (c.peer_closed) return Close(c);
      return;
    }
    if (events & EPOLLOUT)
      if (!Flush(c)) return;
    Advance(c);
    if (auto it = connections_.find(id); it != connections_.end()) UpdateInterest(*it->second);
  }

  // Reads what the socket has; false on an error (the connection is then closed).
  bool ReadAvailable(Connection& c) {
    char chunk[16384];
    if (c.ssl != nullptr) return ReadAvailableTls(c, chunk, sizeof chunk);
    for (;;) {
      const ssize_t n = ::recv(c.fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0) {
        if (c.state != State::kLingering) c.in.append(chunk, static_cast<std::size_t>(n));
        if (c.in.size() >= std::max(c.need, kReadAheadBytes)) return true;
        continue;
      }
      if (n == 0) {
        c.peer_closed = true;
        return true;
      }
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }

  // ReadAvailable over TLS: SSL_read until the session wants more from the socket.
  bool ReadAvailableTls(Connection& c, char* chunk, std::size_t size) {
    for (;;) {
      ERR_clear_error();
      const int n = SSL_read(c.ssl, chunk, static_cast<int>(size));
      if (n > 0) {
        if (c.state != State::kLingering) c.in.append(chunk, static_cast<std::size_t>(n));
        if (c.in.size() >= std::max(c.need, kReadAheadBytes)) return true;
        continue;
      }
      switch (SSL_get_error(c.ssl, n)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:  // (renegotiation) the socket is polled again anyway
          return true;
        case SSL_ERROR_ZERO_RETURN:  // close_notify
          c.peer_closed = true;
          return true;
        case SSL_ERROR_SYSCALL:
          if (errno == EINTR) continue;
          if (n == 0 || errno == 0) {  // EOF without close_notify: the peer went
            c.peer_closed = true;
            return true;
          }
          return false;
        default:
          return false;
      }
    }
  }

  bool WantsToRead(const Connection& c) const {
    if (c.peer_closed) return false;
    if (c.state == State::kLingering) return true;
    if (c.close_after_send || c.out.size() - c.sent > kMaxUnsentBytes) return false;
    return c.in.size() < std::max(c.need, kReadAheadBytes);
  }

  void UpdateInterest(Connection& c) {
    std::uint32_t want = 0;
    if (WantsToRead(c)) want |= EPOLLIN | EPOLLRDHUP;
    if (c.sent < c.out.size()) want |= EPOLLOUT;
    if ((want & EPOLLIN) != 0 && c.ssl != nullptr && SSL_pending(c.ssl) > 0)
      reread_.push_back(c.id);
    if (want == c.interest) return;
    c.interest = want;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = c.id;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  // Sends what it can of the connection's answers; false when the connection was closed.
  bool Flush(Connection& c) {
    while (c.sent < c.out.size()) {
      const ssize_t n = Send(c);
      if (n > 0) {
        c.sent += static_cast<std::size_t>(n);
        c.write_deadline = Clock::now() + s_.limits.write_timeout;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (c.write_deadline == Clock::time_point::max())
          c.write_deadline = Clock::now() + s_.limits.write_timeout;
        UpdateInterest(c);
        return true;
      }
      Close(c);
      return false;
    }
    c.out.clear();
    c.sent = 0;
    c.write_deadline = Clock::time_point::max();
    if (c.close_after_send && c.pending.empty()) {
      // Lingering close: no more writes, read and drop what still comes, then close.
      if (c.ssl != nullptr) (void)SSL_shutdown(c.ssl);  // close_notify, as far as it goes
      ::shutdown(c.fd, SHUT_WR);
      c.state = State::kLingering;
      c.in.clear();
      c.deadline = Clock::now() + kLinger;
    }
    UpdateInterest(c);
    return true;
  }

  // Sends from c.out past c.sent, as send() does: bytes sent, or -1 with errno (EAGAIN when
  // the socket or the TLS session must wait).
  static ssize_t Send(Connection& c) {
    const std::size_t left = c.out.size() - c.sent;
    if (c.ssl == nullptr)
      return ::send(c.fd, c.out.data() + c.sent, left, MSG_NOSIGNAL | MSG_DONTWAIT);
    ERR_clear_error();
    // SSL_MODE_ENABLE_PARTIAL_WRITE and _ACCEPT_MOVING_WRITE_BUFFER (set at the handshake):
    // a write may take part of the buffer, and `out` may grow and move before a retry.
    const int n = SSL_write(c.ssl, c.out.data() + c.sent,
                            static_cast<int>(std::min<std::size_t>(left, 1 << 30)));
    if (n > 0) return n;
    const int error = SSL_get_error(c.ssl, n);
    errno = error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ ? EAGAIN : EPIPE;
    return -1;
  }

  // The connection layer's own answer (400, 408, 431, ...), then close. It queues behind the
  // answers of the pipelined requests before it, which are still owed first.
  void Refuse(Connection& c, int status, std::string_view message) {
    if (s_.refused) s_.refused(status);
    Pending refusal;
    refusal.seq = ++c.next_seq;
    refusal.ready = true;
    refusal.answer = RefusalAnswer(status, message);
    c.pending.push_back(std::move(refusal));
    c.in.clear();
    c.close_after_send = true;
    c.state = State::kIdle;
    WriteReady(c);
  }

  // Serves the requests buffered on `c` for as long as the loop may.
  void Advance(Connection& c) {
    while ((c.state == State::kIdle || c.state == State::kReading) && !c.close_after_send) {
      if (stopping_ && c.state == State::kIdle) return;
      if (c.pending.size() >= kMaxPipelined) return;  // a completion comes back here
      if (c.in.empty()) {
        if (c.peer_closed && c.pending.empty() && c.sent == c.out.size()) return Close(c);
        if (c.state == State::kIdle) c.need = 0;
        return;  // idle: Sweep closes it after the keep-alive wait
      }
      if (c.state == State::kIdle) {
        c.state = State::kReading;
        c.deadline = Clock::now() + s_.limits.request_timeout;
      }
      std::size_t head = HeadEnd(c.in);
      if (head > kMaxHeadBytes) {  // npos too: no end of head yet
        if (c.in.size() > kMaxHeadBytes || head != std::string::npos)
          return Refuse(c, 431, fmt::format("the request head is over {} bytes", kMaxHeadBytes));
        c.need = kMaxHeadBytes + 1;
        if (c.peer_closed && c.pending.empty()) return Close(c);
        return;
      }
      FramingVerdict verdict = CheckRequestHead(std::string_view(c.in).substr(0, head));
      if (verdict.status != 0) return Refuse(c, verdict.status, verdict.message);
      if (!verdict.origin_form.empty()) {
        c.in.replace(verdict.target_offset, verdict.target_size, verdict.origin_form);
        head = head - verdict.target_size + verdict.origin_form.size();
      }
      const bool on_loop = verdict.content_length && !verdict.chunked && !verdict.expect &&
                           *verdict.content_length <= s_.max_body_bytes &&
                           s_.runs_on_loop(verdict.method, verdict.target);
      if (!on_loop) {
        if (!c.pending.empty()) return;  // the answers before it first
        return HandOff(c);
      }
      c.need = head + static_cast<std::size_t>(*verdict.content_length);
      if (c.in.size() < c.need) {
        if (c.peer_closed && c.pending.empty()) return Close(c);
        return;
      }
      std::string request = c.in.substr(0, c.need);
      c.in.erase(0, c.need);
      c.need = 0;
      if (!RunFirstPass(c, std::move(request))) return;  // closed
    }
  }

  // Runs a request once: answered at once, or its work handed over (Pending until it
  // completes). False when the connection was closed (`c` is then gone).
  bool RunFirstPass(Connection& c, std::string request) {
    Pending p;
    p.last = ++c.served >= s_.limits.max_requests;
    p.seq = ++c.next_seq;
    RequestContinuation continuation(
        Clock::now(), [mail = mail_, id = c.id, seq = p.seq](RequestContinuation::Answer a) {
          mail->Post(id, seq, std::move(a));
        });
    BufferStream stream(request, c.fd, c.peer_ip, c.peer_port);
    bool closed = false;
    current_continuation = &continuation;
    const bool ok = s_.process(stream, p.last, closed);
    current_continuation = nullptr;
    // Known on the first run (the request's Connection header, the last request allowed):
    // nothing after this request is read.
    if (!ok || closed) c.close_after_send = true;
    c.state = State::kIdle;
    c.deadline = Clock::now() + s_.limits.keep_alive;
    if (continuation.deferred()) {
      ++awaiting_;
      p.request = std::move(request);
      p.started = continuation.started();
    } else {
      p.ready = true;
      p.answer = std::move(stream.answer());
    }
    c.pending.push_back(std::move(p));
    return WriteReady(c);
  }

  // Moves the answers that are ready, oldest first, to `out` (running the second pass of the
  // deferred ones), and sends. False when the connection was closed.
  bool WriteReady(Connection& c) {
    while (!c.pending.empty() && c.pending.front().ready) {
      Pending& p = c.pending.front();
      if (p.resume) {
        RequestContinuation continuation(p.started, nullptr);
        continuation.answer_ = std::move(p.resume);
        BufferStream stream(p.request, c.fd, c.peer_ip, c.peer_port);
        bool closed = false;
        current_continuation = &continuation;
        const bool ok = s_.process(stream, p.last, closed);
        current_continuation = nullptr;
        c.out += stream.answer();
        if (!ok || closed) c.close_after_send = true;
      } else {
        c.out += p.answer;
      }
      c.pending.pop_front();
    }
    return Flush(c);
  }

  void RunCompletions() {
    std::deque<Completion> done;
    {
      std::lock_guard lk(mail_->mu);
      done.swap(mail_->completed);
    }
    for (Completion& d : done) {
      --awaiting_;
      auto it = connections_.find(d.id);
      if (it == connections_.end()) continue;  // the client went
      Connection& c = *it->second;
      for (Pending& p : c.pending)
        if (p.seq == d.seq) {
          p.ready = true;
          p.resume = std::move(d.answer);
          break;
        }
      if (!WriteReady(c)) continue;
      Advance(c);  // pipelined requests may be waiting
      if (auto again = connections_.find(d.id); again != connections_.end())
        UpdateInterest(*again->second);
    }
  }

  // A request the loop does not answer itself: a worker serves it with the bytes read so far,
  // then gives the connection back.
  void HandOff(Connection& c) {
    if (c.sent < c.out.size()) return;  // answers first; Flush comes back here
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
    const int fd = c.fd;
    SSL* const ssl = c.ssl;
    const std::size_t served = c.served + 1;
    const bool last = served >= s_.limits.max_requests;
    std::string read_ahead = std::move(c.in);
    connections_.erase(c.id);
    workers_->enqueue([this, fd, ssl, served, last, read_ahead = std::move(read_ahead)]() mutable {
      SetBlocking(fd, true);
      HandedOffRequest r =
          ServeOneRequest(fd, ssl, std::move(read_ahead), last, s_.limits, s_.process, s_.refused);
      if (r.keep && !stopping_)
        Adopt(fd, ssl, std::move(r.read_ahead), served);
      else
        LingerAndClose(fd, ssl);
    });
  }

  void Close(Connection& c) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
    CloseSocket(c.fd, c.ssl);
    connections_.erase(c.id);  // `c` is gone
  }

  void Sweep(Clock::time_point now) {
    std::vector<Connection*> due;
    for (auto& [id, c] : connections_) {
      const bool write_stuck = c->sent < c->out.size() && now >= c->write_deadline;
      const bool late = c->pending.empty() && now >= c->deadline;
      if (write_stuck || late) due.push_back(c.get());
    }
    for (Connection* c : due) {
      if (c->sent < c->out.size() && now >= c->write_deadline) {
        Close(*c);
      } else if (c->state == State::kReading) {
        Refuse(*c, 408, "the request was not received whole within --request-timeout");
      } else {
        Close(*c);  // an idle keep-alive connection, or a lingering close done
      }
    }
  }

  void CloseIdle() {
    std::vector<Connection*> idle;
    for (auto& [id, c] : connections_)
      if (c->pending.empty() &&
          ((c->state == State::kIdle && c->in.empty() && c->sent == c->out.size()) ||
           c->state == State::kReading))
        idle.push_back(c.get());
    for (Connection* c : idle) Close(*c);
  }

  const Setup s_;
  const std::shared_ptr<Mailbox> mail_ = std::make_shared<Mailbox>();
  int epoll_ = -1;
  std::thread thread_;
  std::unique_ptr<httplib::ThreadPool> workers_;
  std::atomic<bool> stopping_{false};
  // The loop thread's own.
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::uint64_t last_id_ = kWakeId;
  std::vector<std::uint64_t> reread_;  // TLS connections with decrypted bytes not yet read
  std::size_t awaiting_ = 0;
};

ConnectionLoop::ConnectionLoop(Setup setup) : impl_(std::make_unique<Impl>(std::move(setup))) {}
ConnectionLoop::~ConnectionLoop() = default;
Status ConnectionLoop::Start() { return impl_->Start(); }
void ConnectionLoop::Adopt(int fd, SSL* ssl) { impl_->Adopt(fd, ssl, std::string(), 0); }
void ConnectionLoop::Stop() { impl_->Stop(); }

}  // namespace cairn::gateway
