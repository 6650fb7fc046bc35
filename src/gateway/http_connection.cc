// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// One HTTP connection under httplib: framing checks, deadlines, read-ahead for pipelined
// requests, refusals and the lingering close (http_connection.h).
#include "gateway/http_connection.h"
#include "gateway/http_event_loop.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <openssl/ssl.h>

#include <nlohmann/json.hpp>
#include "cairn/status.h"

namespace cairn::gateway {
namespace {

using Clock = std::chrono::steady_clock;

thread_local bool request_timed_out = false;

constexpr std::size_t kReadChunk = 16384;
constexpr auto kStopCheck = std::chrono::milliseconds(200);

// Rounded up: a poll that ends before `t` would read as no deadline reached yet.
int MillisUntil(Clock::time_point t) {
  if (t == Clock::time_point::max()) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(t - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1 << 30));
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

// One connection's byte stream, plain or TLS, with its read-ahead kept across requests.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, SSL* ssl, std::chrono::seconds write_timeout)
      : fd_(fd), ssl_(ssl), write_timeout_(write_timeout) {}

  bool is_readable() const override { return Buffered() > 0 || PollFor(POLLIN, 0); }

  // Writable, and the peer has not gone: a live feed stops writing to a client that left.
  bool is_writable() const override {
    if (!PollFor(POLLOUT, MillisUntil(Clock::now() + write_timeout_))) return false;
    if (!PollFor(POLLIN, 0)) return true;
    char byte;
    return ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (Buffered() == 0 && !Fill()) return -1;
    const std::size_t n = std::min(size, Buffered());
    std::copy_n(buffer_.data() + offset_, n, ptr);
    offset_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (timed_out_) {
      // The request missed its deadline: whatever httplib answers, the client gets the 408
      // (written once, by the connection loop) and nothing else.
      return static_cast<ssize_t>(size);
    }
    std::size_t done = 0;
    while (done < size) {
      if (!PollFor(POLLOUT, MillisUntil(Clock::now() + write_timeout_))) return -1;
      ssize_t n;
      if (ssl_ != nullptr) {
        n = SSL_write(ssl_, ptr + done,
                      static_cast<int>(std::min<std::size_t>(size - done, 1 << 30)));
        if (n <= 0) return -1;
      } else {
        n = ::send(fd_, ptr + done, size - done, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return -1;
      }
      done += static_cast<std::size_t>(n);
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    SocketAddress(fd_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    SocketAddress(fd_, false, ip, port);
  }
  socket_t socket() const override { return fd_; }

  // Waits, up to `idle`, for the first byte of the next request; false when the client went,
  // the wait ran out or `stopping()` says the server stops.
  bool WaitForRequest(std::chrono::seconds idle, const std::function<bool()>& stopping) {
    if (Buffered() > 0 || (ssl_ != nullptr && SSL_pending(ssl_) > 0)) return true;
    const Clock::time_point until = Clock::now() + idle;
    while (!stopping()) {
      const Clock::time_point slice = std::min(until, Clock::now() + kStopCheck);
      if (PollFor(POLLIN, MillisUntil(slice))) return true;
      if (Clock::now() >= until) return false;
    }
    return false;
  }

  // Reads until the request's head (through its empty line) is buffered, under the request's
  // deadline: its size, 0 when the client went or the deadline passed, SIZE_MAX when it is
  // over kMaxHeadBytes.
  std::size_t ReadHead(std::size_t max_bytes) {
    for (;;) {
      const std::size_t end = HeadEnd(std::string_view(buffer_.data() + offset_, Buffered()));
      if (end != std::string_view::npos) return end <= max_bytes ? end : SIZE_MAX;
      if (Buffered() > max_bytes) return SIZE_MAX;
      if (!Fill()) return 0;
    }
  }
  std::string_view Buffer() const { return {buffer_.data() + offset_, Buffered()}; }
  void ReplaceBuffered(std::size_t at, std::size_t size, const std::string& with) {
    buffer_.replace(offset_ + at, size, with);
  }

  // An answer of the connection layer's own (the request never reaches httplib), after which
  // the connection closes.
  void WriteRefusal(int status, std::string_view message) {
    const std::string answer = RefusalAnswer(status, message);
    (void)write(answer.data(), answer.size());
  }

  // Bytes read ahead by someone else (the event loop), served first.
  void Prime(std::string bytes) {
    buffer_ = std::move(bytes);
    offset_ = 0;
  }
  // What is read ahead and not yet served: the start of the next request, if any.
  std::string TakeBuffered() {
    std::string rest = buffer_.substr(offset_);
    buffer_.clear();
    offset_ = 0;
    return rest;
  }

  // Every read of the request from here shares `deadline`.
  void BeginRequest(Clock::time_point deadline) {
    deadline_ = deadline;
    timed_out_ = false;
  }
  bool timed_out() const { return timed_out_; }

  // The answer to a request that missed its deadline (RFC 9110 §15.5.9): written past the
  // silence the timeout put on everything else httplib would write for it.
  void WriteTimeoutAnswer() {
    timed_out_ = false;
    WriteRefusal(408, "the request was not received whole within --request-timeout");
    timed_out_ = true;
  }

 private:
  std::size_t Buffered() const { return buffer_.size() - offset_; }

  bool PollFor(short events, int timeout_ms) const {
    pollfd p{fd_, events, 0};
    int r;
    do {
      r = ::poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }

  // Reads what the socket has (up to kReadChunk) after what is buffered, waiting no later
  // than the request's deadline.
  bool Fill() {
    buffer_.erase(0, offset_);
    offset_ = 0;
    const bool pending = ssl_ != nullptr && SSL_pending(ssl_) > 0;
    if (!pending && !PollFor(POLLIN, MillisUntil(deadline_))) {
      if (Clock::now() >= deadline_) {
        timed_out_ = true;
        request_timed_out = true;
      }
      return false;
    }
    char chunk[kReadChunk];
    ssize_t n;
    do {
      n = ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof(chunk))
                          : ::recv(fd_, chunk, sizeof(chunk), 0);
    } while (n < 0 && ssl_ == nullptr && errno == EINTR);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  const int fd_;
  SSL* const ssl_;
  const std::chrono::seconds write_timeout_;
  std::string buffer_;
  std::size_t offset_ = 0;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timed_out_ = false;
};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 §5.6.2's tchar.
bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

FramingVerdict Refuse(int status, std::string message) {
  FramingVerdict v;
  v.status = status;
  v.message = std::move(message);
  return v;
}

// The head's lines without their CRLFs and without the final empty line. Lines end in CRLF
// (a bare LF is refused rather than guessed at, §2.2).
Result<std::vector<std::string_view>> SplitHead(std::string_view head) {
  std::vector<std::string_view> lines;
  for (std::size_t at = 0; at < head.size();) {
    const std::size_t lf = head.find('\n', at);
    if (lf == std::string_view::npos) break;
    if (lf == at || head[lf - 1] != '\r')
      return Status::InvalidArgument("a line of the request head does not end in CRLF");
    lines.push_back(head.substr(at, lf - 1 - at));
    at = lf + 1;
  }
  if (lines.size() < 2 || !lines.back().empty())
    return Status::InvalidArgument("the request head does not end with an empty line");
  lines.pop_back();
  return lines;
}

struct RequestLine {
  std::string_view method, target, version;
  std::size_t target_offset = 0;
};

// request-line = method SP request-target SP HTTP-version (§3)
FramingVerdict ParseRequestLine(std::string_view line, RequestLine* out) {
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 ||
      sp2 == sp1 + 1 || line.find(' ', sp2 + 1) != std::string_view::npos)
    return Refuse(400, "the request line is not 'METHOD TARGET HTTP/1.1'");
  *out = {line.substr(0, sp1), line.substr(sp1 + 1, sp2 - sp1 - 1), line.substr(sp2 + 1), sp1 + 1};
  for (unsigned char c : out->method)
    if (!IsTokenChar(c)) return Refuse(400, "the request method is not a token");
  const std::string_view v = out->version;
  if (v.size() != 8 || !v.starts_with("HTTP/") || !std::isdigit(v[5]) || v[6] != '.' ||
      !std::isdigit(v[7]))
    return Refuse(400, "the request line's version is not HTTP/x.y");
  if (v != "HTTP/1.1" && v != "HTTP/1.0")
    return Refuse(505, fmt::format("{} is not served here: HTTP/1.1 and HTTP/1.0 are", v));
  return {};
}

// What the header fields say about where the body ends.
struct Framing {
  std::vector<std::string_view> lengths;  // every Content-Length value
  std::string codings;                    // every Transfer-Encoding, lower case, comma-joined
  int hosts = 0;
  bool expect = false;
};

FramingVerdict ReadFields(std::span<const std::string_view> fields, Framing* out) {
  for (const std::string_view field : fields) {
    if (field.front() == ' ' || field.front() == '\t')
      return Refuse(400, "a header field is folded over lines (obs-fold, RFC 9112 §5.2)");
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return Refuse(400, "a header line is not 'Name: value'");
    for (unsigned char c : field.substr(0, colon))
      if (!IsTokenChar(c))
        return Refuse(400,
                      "a header field name holds a character a name may not (whitespace "
                      "before the colon, RFC 9112 §5.1)");
    const std::string name = Lower(field.substr(0, colon));
    const std::string_view value = TrimOws(field.substr(colon + 1));
    if (name == "content-length") out->lengths.push_back(value);
    if (name == "transfer-encoding")
      out->codings += (out->codings.empty() ? "" : ",") + Lower(value);
    if (name == "host") ++out->hosts;
    if (name == "expect") out->expect = true;
  }
  return {};
}

// §6.3: one way for the body to end, and a well-formed one.
FramingVerdict CheckBodyFraming(const Framing& f) {
  if (!f.codings.empty() && !f.lengths.empty())
    return Refuse(400,
                  "Transfer-Encoding and Content-Length together: where the body ends "
                  "would be ambiguous (RFC 9112 §6.3)");
  if (!f.codings.empty()) {
    std::string only;
    for (char c : f.codings)
      if (c != ' ' && c != '\t') only += c;
    if (only != "chunked")
      return Refuse(501,
                    fmt::format("Transfer-Encoding '{}': only chunked is understood", f.codings));
  }
  if (f.lengths.size() > 1) return Refuse(400, "more than one Content-Length (RFC 9112 §6.3)");
  if (f.lengths.size() == 1) {
    const std::string_view v = f.lengths.front();
    if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos)
      return Refuse(400, fmt::format("Content-Length '{}' is not a number of bytes", v));
    std::uint64_t n = 0;
    const auto [end, error] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (error != std::errc() || end != v.data() + v.size())
      return Refuse(413, fmt::format("Content-Length {} is past any body this server takes", v));
  }
  return {};
}

}  // namespace

FramingVerdict CheckRequestHead(std::string_view head) {
  auto lines = SplitHead(head);
  if (!lines.ok()) return Refuse(400, lines.status().message());
  RequestLine request;
  if (FramingVerdict v = ParseRequestLine(lines->front(), &request); v.status != 0) return v;
  Framing framing;
  if (FramingVerdict v = ReadFields(std::span(*lines).subspan(1), &framing); v.status != 0)
    return v;
  if (FramingVerdict v = CheckBodyFraming(framing); v.status != 0) return v;
  if (request.version == "HTTP/1.1" && framing.hosts != 1)
    return Refuse(400, framing.hosts == 0 ? "an HTTP/1.1 request without Host (RFC 9112 §3.2)"
                                          : "more than one Host header field");
  if (framing.lengths.empty() && framing.codings.empty() &&
      (request.method == "POST" || request.method == "PUT"))
    return Refuse(
        411, fmt::format("a {} needs Content-Length or chunked Transfer-Encoding", request.method));
  FramingVerdict ok;
  // absolute-form (§3.2.2): a server must accept it; httplib routes only the origin form.
  const std::string_view target = request.target;
  const std::string scheme = Lower(target.substr(0, std::min<std::size_t>(target.size(), 8)));
  if (scheme.starts_with("http://") || scheme.starts_with("https://")) {
    const std::size_t authority = target.find("://") + 3;
    const std::size_t path = target.find_first_of("/?", authority);
    ok.origin_form = path == std::string_view::npos ? "/" : std::string(target.substr(path));
    if (ok.origin_form.front() == '?') ok.origin_form.insert(0, "/");
    ok.target_offset = request.target_offset;
    ok.target_size = target.size();
  }
  ok.method = std::string(request.method);
  ok.target = ok.origin_form.empty() ? std::string(target) : ok.origin_form;
  if (!framing.lengths.empty()) {  // CheckBodyFraming made sure it is a number that fits
    std::uint64_t n = 0;
    const std::string_view v = framing.lengths.front();
    std::from_chars(v.data(), v.data() + v.size(), n);
    ok.content_length = n;
  }
  ok.chunked = !framing.codings.empty();
  ok.expect = framing.expect;
  return ok;
}

std::size_t HeadEnd(std::string_view buffered) {
  const std::size_t crlf = buffered.find("\n\r\n");
  const std::size_t lf = buffered.find("\n\n");
  return std::min(crlf == std::string_view::npos ? crlf : crlf + 3,
                  lf == std::string_view::npos ? lf : lf + 2);
}

void SocketAddress(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  auto* any = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? ::getpeername(fd, any, &len) : ::getsockname(fd, any, &len)) != 0) return;
  if (addr.ss_family == AF_INET)
    port = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  else if (addr.ss_family == AF_INET6)
    port = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  else
    return;  // a Unix socket's peer has no address or port
  char host[NI_MAXHOST];
  if (::getnameinfo(any, len, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) == 0) ip = host;
}

namespace {

// One request from `stream` (its first byte already there or on the way): the head's framing
// checked, then httplib's parser and router. False when the connection must close.
bool ServeNext(ConnectionStream& stream, bool last, const ConnectionLimits& limits,
               const ProcessRequest& process, const RefusalObserver& refused, bool* ok) {
  stream.BeginRequest(Clock::now() + limits.request_timeout);
  request_timed_out = false;
  // The head's framing first: a request that fails it never reaches httplib.
  const std::size_t head = stream.ReadHead(kMaxHeadBytes);
  FramingVerdict verdict;
  if (head == SIZE_MAX)
    verdict = Refuse(431, fmt::format("the request head is over {} bytes", kMaxHeadBytes));
  else if (head != 0)
    verdict = CheckRequestHead(stream.Buffer().substr(0, head));
  else if (!stream.timed_out())
    return false;  // the client went
  if (verdict.status != 0 || stream.timed_out()) {
    const int status = stream.timed_out() ? 408 : verdict.status;
    if (refused) refused(status);
    if (status == 408)
      stream.WriteTimeoutAnswer();
    else
      stream.WriteRefusal(status, verdict.message);
    return false;
  }
  if (!verdict.origin_form.empty())
    stream.ReplaceBuffered(verdict.target_offset, verdict.target_size, verdict.origin_form);
  bool closed = false;
  *ok = process(stream, last, closed);
  const bool timed_out = stream.timed_out();
  request_timed_out = false;
  if (timed_out) {
    if (refused) refused(408);
    stream.WriteTimeoutAnswer();
    return false;
  }
  return *ok && !closed;
}

// The keep-alive loop: the next request may already be in the stream's buffer (pipelined).
bool ServeConnection(int fd, SSL* ssl, const ConnectionLimits& limits,
                     const std::atomic<socket_t>& listening, const ProcessRequest& process,
                     const RefusalObserver& refused) {
  ConnectionStream stream(fd, ssl, limits.write_timeout);
  const auto stopping = [&] { return listening.load() == INVALID_SOCKET; };
  bool ok = true;
  for (std::size_t left = limits.max_requests; left > 0; --left) {
    if (!stream.WaitForRequest(limits.keep_alive, stopping)) break;
    if (!ServeNext(stream, left == 1, limits, process, refused, &ok)) break;
  }
  return ok;
}

}  // namespace

std::string RefusalAnswer(int status, std::string_view message) {
  const nlohmann::ordered_json body = {
      {"error_code", status}, {"error", HttpErrorName(status)}, {"message", message}};
  const std::string text =
      body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return fmt::format(
      "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Type: application/json\r\n"
      "Content-Length: {}\r\n\r\n{}",
      status, ReasonPhrase(status), text.size(), text);
}

HandedOffRequest ServeOneRequest(int fd, SSL* ssl, std::string read_ahead, bool last,
                                 const ConnectionLimits& limits, const ProcessRequest& process,
                                 const RefusalObserver& refused) {
  ConnectionStream stream(fd, ssl, limits.write_timeout);
  stream.Prime(std::move(read_ahead));
  bool ok = true;
  HandedOffRequest outcome;
  outcome.keep = ServeNext(stream, last, limits, process, refused, &ok);
  outcome.read_ahead = stream.TakeBuffered();
  return outcome;
}

bool RequestTimedOut() { return request_timed_out; }

std::string_view HttpErrorName(int http_status) {
  switch (http_status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 411:
      return "length_required";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 415:
      return "unsupported_media_type";
    case 431:
      return "request_header_fields_too_large";
    case 501:
      return "not_implemented";
    case 505:
      return "http_version_not_supported";
    default:
      return http_status >= 500 ? "server_error" : "client_error";
  }
}

// Closes a connection so that its last answer arrives: closing a socket that still has unread
// bytes (a trickling client's next byte, a refused request's body) makes the kernel send a
// reset, and a reset can discard the answer before the client reads it. So: no more writes,
// then what the client still sends is read and dropped for a moment, then close (Apache's
// lingering close, bounded here by time and bytes).
void LingeringClose(int fd, SSL* ssl) {
  if (ssl != nullptr) SSL_shutdown(ssl);
  ::shutdown(fd, SHUT_WR);
  const Clock::time_point until = Clock::now() + std::chrono::milliseconds(500);
  char sink[4096];
  for (std::size_t drained = 0; drained < (1u << 20);) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, MillisUntil(until)) <= 0) break;
    const ssize_t n = ::recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
    if (n <= 0) break;
    drained += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

HttpServer::HttpServer() = default;
HttpServer::~HttpServer() = default;

bool HttpServer::process_and_close_socket(socket_t sock) {
  if (loop) {
    loop->Adopt(sock);
    return true;
  }
  const ConnectionLimits limits{
      keep_alive_max_count_, std::chrono::seconds(keep_alive_timeout_sec_),
      std::chrono::seconds(read_timeout_sec_), std::chrono::seconds(write_timeout_sec_)};
  const bool ok = ServeConnection(
      sock, nullptr, limits, svr_sock_,
      [this](httplib::Stream& s, bool last, bool& closed) {
        return process_request(s, last, closed, nullptr);
      },
      on_refused);
  LingeringClose(sock, nullptr);
  return ok;
}

HttpsServer::HttpsServer(const char* cert_file, const char* key_file)
    : SSLServer(cert_file, key_file) {}
HttpsServer::~HttpsServer() = default;

bool HttpsServer::process_and_close_socket(socket_t sock) {
  const ConnectionLimits limits{
      keep_alive_max_count_, std::chrono::seconds(keep_alive_timeout_sec_),
      std::chrono::seconds(read_timeout_sec_), std::chrono::seconds(write_timeout_sec_)};
  // The handshake is bounded like a request: socket timeouts, as SSL_accept blocks.
  timeval tv{static_cast<time_t>(limits.request_timeout.count()), 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  bool ok = false;
  SSL* ssl = SSL_new(ssl_context());
  if (loop) {
    if (ssl != nullptr && SSL_set_fd(ssl, sock) == 1 && SSL_accept(ssl) == 1) {
      // The loop writes without blocking: part of a buffer at a time, from wherever its
      // answers buffer has moved to by the retry.
      SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      loop->Adopt(sock, ssl);
      return true;
    }
    LingeringClose(sock, nullptr);
    if (ssl != nullptr) SSL_free(ssl);
    return false;
  }
  if (ssl != nullptr && SSL_set_fd(ssl, sock) == 1 && SSL_accept(ssl) == 1) {
    ok = ServeConnection(
        sock, ssl, limits, svr_sock_,
        [this, ssl](httplib::Stream& s, bool last, bool& closed) {
          return process_request(s, last, closed, [ssl](httplib::Request& req) { req.ssl = ssl; });
        },
        on_refused);
  }
  LingeringClose(sock, ok ? ssl : nullptr);
  if (ssl != nullptr) SSL_free(ssl);
  return ok;
}

}  // namespace cairn::gateway
