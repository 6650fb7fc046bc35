// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The gateway's server: listening, TLS, limits, authentication, metrics, and the operational
// routes (/healthz, /readyz, /metrics, /status, the status page at /).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

#include <fmt/format.h>

#include "gateway/gateway_impl.h"
#include "gateway/http_connection.h"
#include "gateway/http_event_loop.h"
#include "textio/event_json.h"

namespace cairn::gateway {

using textio::DumpJson;
using textio::EventToJson;
using textio::ParseWholeNumber;
using textio::ShipperStatusJson;

extern const char* const kStatusPageHtml;  // status_page.cc

namespace {

constexpr std::size_t kKeepAliveRequests = 100000;
constexpr std::size_t kMaxWorkers = 4096;

// The HTTP status for an error code. Retryable ones (429, 503) carry Retry-After.
int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kWrongExpectedVersion:
      return 409;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kNotSupported:
      return 501;
    case StatusCode::kIOError:
      return s.IsRetryable() ? 503 : 500;
    case StatusCode::kBusy:
    case StatusCode::kUnavailable:
    case StatusCode::kCancelled:
    case StatusCode::kTimedOut:
    case StatusCode::kFailedPrecondition:
      return 503;
    default:
      return 500;
  }
}

// httplib reads a request's body only for POST, PUT, PATCH and DELETE, and refuses an
// oversized one (413) without reading it. Whatever it leaves on the connection is parsed as
// the next request: a GET whose body followed its headers a moment later came back as a 405
// for the method '{"records":', and a body holding a whole request would be run as one.
bool HttplibReadsBodyOf(const httplib::Request& req) {
  return req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
         req.method == "DELETE";
}

bool DeclaresBody(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return true;
  const std::string length = req.get_header_value("Content-Length");
  return !length.empty() && length != "0";
}

// After httplib has read what it would: is some of the declared body still on the connection?
bool BodyLeftUnread(const httplib::Request& req) {
  if (!DeclaresBody(req)) return false;
  if (!HttplibReadsBodyOf(req)) return true;
  // A chunked body is read whole, or refused with a 400 or 413 that closes anyway.
  if (req.has_header("Transfer-Encoding")) return false;
  const std::optional<std::uint64_t> declared =
      ParseWholeNumber(req.get_header_value("Content-Length"));
  return !declared || req.body.size() != *declared;
}

// A connection whose answer said "Connection: close". httplib serves each connection on one
// worker thread from accept to close, so the record is per thread. httplib itself keeps the
// socket open (it takes the close only from the request's header, read before any handler
// runs), so requests that still come on it, the leftover body first, are refused here until the
// client goes. A new peer on the thread clears the record, and so does time: the keep-alive wait
// and one request's time, after which httplib has hung up anyway.
struct ClosingConnection {
  std::string addr;
  int port = -1;
  std::chrono::steady_clock::time_point until;
};
thread_local ClosingConnection closing_connection;

// Makes the answer end the connection, so that no client or proxy sends another request where
// leftover bytes would be read as one. The request httplib hands to handlers is its own
// non-const object, so setting the header that httplib answers from there is well defined.
void CloseAfterAnswer(const httplib::Request& req, std::chrono::seconds linger) {
  auto& own = const_cast<httplib::Request&>(req);
  own.headers.erase("Connection");  // httplib reads the first one: a client's keep-alive
  own.set_header("Connection", "close");
  // A Unix socket's peer has no port: every connection would look alike, so none is recorded
  // there (the Connection: close still goes out).
  if (req.remote_port > 0)
    closing_connection = {req.remote_addr, req.remote_port,
                          std::chrono::steady_clock::now() + linger};
}

bool OnClosingConnection(const httplib::Request& req) {
  if (closing_connection.port < 0) return false;
  if (req.remote_port == closing_connection.port && req.remote_addr == closing_connection.addr &&
      std::chrono::steady_clock::now() < closing_connection.until)
    return true;
  closing_connection = {};
  return false;
}

// A listening Unix socket at `path` with `mode`. The mode is set between bind and listen: no
// one can connect before it holds.
Result<int> ListenOnUnixSocket(const std::string& path, unsigned mode) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return Status::InvalidArgument(fmt::format("--unix '{}': a socket path is 1 to {} bytes", path,
                                               sizeof(addr.sun_path) - 1));
  path.copy(addr.sun_path, path.size());
  const auto* any = reinterpret_cast<const sockaddr*>(&addr);
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Status::InvalidArgument(
          fmt::format("--unix '{}': exists and is not a socket; not replacing it", path));
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = probe >= 0 && connect(probe, any, sizeof(addr)) == 0;
    if (probe >= 0) close(probe);
    if (live)
      return Status::Unavailable(
          fmt::format("--unix '{}': another server is listening there", path));
    unlink(path.c_str());  // left by a server that did not stop cleanly
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError(fmt::format("--unix '{}': socket: {}", path, strerror(errno)));
  if (bind(fd, any, sizeof(addr)) != 0 || chmod(path.c_str(), mode) != 0 ||
      listen(fd, SOMAXCONN) != 0) {
    const int error = errno;
    close(fd);
    unlink(path.c_str());
    return Status::Unavailable(fmt::format("--unix '{}': {}", path, strerror(error)));
  }
  return fd;
}

bool CertificateReadable(const std::string& path) {
  std::ifstream in(path);
  return static_cast<bool>(in);
}

}  // namespace

void ReplyJson(httplib::Response& res, int http_status, const nlohmann::ordered_json& body) {
  res.status = http_status;
  res.set_content(DumpJson(body) + "\n", "application/json");
}

void ReplyError(httplib::Response& res, int http_status, std::string_view error,
                std::string_view message, std::chrono::seconds retry_after,
                const nlohmann::ordered_json& extra) {
  nlohmann::ordered_json body = {
      {"error_code", http_status}, {"error", error}, {"message", message}};
  for (const auto& [k, v] : extra.items()) body[k] = v;
  if (http_status == 429 || http_status == 503)
    res.set_header("Retry-After", std::to_string(retry_after.count()));
  ReplyJson(res, http_status, body);
}

void ReplyStatus(httplib::Response& res, const Status& status, std::chrono::seconds retry_after) {
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  if (const auto& c = status.version_conflict()) {
    extra["stream"] = c->stream;
    extra["expected"] = c->expected;
    extra["actual"] = c->actual;
  }
  ReplyError(res, HttpStatusFor(status), StatusCodeName(status.code()), status.message(),
             retry_after, extra);
}

Gateway::Impl::Impl(Store& store, Shipper* shipper, GatewayOptions options, TokenSet tokens)
    : store_(store), shipper_(shipper), options_(std::move(options)), tokens_(std::move(tokens)) {}

// The answers the server gives itself: requests no route takes, exceptions, and what comes
// on a connection it has closed.
void Gateway::Impl::InstallRefusalHandlers() {
  const httplib::Server::HandlerWithResponse on_error = [this](const httplib::Request& req,
                                                               httplib::Response& res) {
    // Routed answers carry their own JSON body; this names what the server refused itself.
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    AnswerRefused(req, res);
    return httplib::Server::HandlerResponse::Handled;
  };
  server_->set_error_handler(on_error);
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (OnClosingConnection(req)) {
      metrics_.RecordRefused(400);
      CloseAfterAnswer(req, CloseLinger());
      ReplyError(res, 400, "bad_request",
                 "a request on a connection this server closed (Connection: close): after a "
                 "body it does not read, such as a GET's, or one over --max-body",
                 options_.retry_after);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (DeclaresBody(req) && !HttplibReadsBodyOf(req)) CloseAfterAnswer(req, CloseLinger());
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_->set_exception_handler(
      [this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(std::move(ep));
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        ReplyError(res, 500, "internal", "internal error: " + what, options_.retry_after);
      });
}

// Binds host:port or the Unix socket, deepening the listen backlog.
Status Gateway::Impl::Bind() {
  // httplib listens with a backlog of 5: a burst of clients connecting at once overflows it
  // and waits out a 1 s SYN retransmission. Keep the listening socket to deepen its backlog
  // once bound (Linux takes a second listen() as a new backlog).
  int listen_fd = -1;
  server_->set_socket_options([&listen_fd](socket_t fd) {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd = fd;
  });
  // Debian 12's httplib (0.11.4) listens only on TCP. On a Unix socket it binds an ephemeral
  // loopback port, and the listening socket's descriptor is then swapped for the Unix one
  // (dup2 closes the TCP socket): httplib accepts on that descriptor and never looks at its
  // address. httplib 0.14 has AF_UNIX of its own.
  int unix_fd = -1;
  std::string host = options_.host;
  int port = options_.port;
  if (!options_.unix_path.empty()) {
    auto listening = ListenOnUnixSocket(options_.unix_path, options_.unix_mode);
    if (!listening.ok()) return listening.status();
    unix_fd = *listening;
    unix_socket_bound_ = true;
    host = "127.0.0.1";
    port = 0;
  }
  const int bound =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    Unlink();
    return Status::Unavailable(
        fmt::format("--listen {}:{}: cannot listen there (in use, or not an address of this "
                    "host)",
                    host, port));
  }
  port_ = bound;
  if (unix_fd >= 0) {
    const bool swapped = listen_fd >= 0 && dup2(unix_fd, listen_fd) == listen_fd;
    close(unix_fd);
    if (!swapped) {
      Unlink();
      return Status::IOError("--unix: cannot take over the listening socket");
    }
    port_ = 0;
  } else if (listen_fd >= 0) {
    ::listen(listen_fd, SOMAXCONN);
  }
  return Status::Ok();
}

Status Gateway::Impl::Listen() {
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty())
    return Status::InvalidArgument("--tls-cert and --tls-key go together: give both or neither");
  if (!options_.tls_cert_file.empty()) {
    for (const auto* f : {&options_.tls_cert_file, &options_.tls_key_file})
      if (!CertificateReadable(*f))
        return Status::InvalidArgument(fmt::format("TLS file '{}': cannot read it", *f));
    auto tls = std::make_unique<HttpsServer>(options_.tls_cert_file.c_str(),
                                             options_.tls_key_file.c_str());
    if (!tls->is_valid())
      return Status::InvalidArgument(
          fmt::format("--tls-cert '{}' / --tls-key '{}': not a PEM certificate chain and its "
                      "private key",
                      options_.tls_cert_file, options_.tls_key_file));
    tls->on_refused = [this](int status) { metrics_.RecordRefused(status); };
    tls->loop = std::make_unique<ConnectionLoop>(
        LoopSetup([server = tls.get()](httplib::Stream& stream, bool last, bool& closed) {
          return server->ProcessRequest(stream, last, closed);
        }));
    loop_ = tls->loop.get();
    server_ = std::move(tls);
  } else {
    auto plain = std::make_unique<HttpServer>();
    plain->on_refused = [this](int status) { metrics_.RecordRefused(status); };
    plain->loop = std::make_unique<ConnectionLoop>(
        LoopSetup([server = plain.get()](httplib::Stream& stream, bool last, bool& closed) {
          return server->ProcessRequest(stream, last, closed);
        }));
    loop_ = plain->loop.get();
    server_ = std::move(plain);
  }
  // httplib's threads only hand each accepted socket to the event loop, whose own workers
  // serve what it does not answer itself. Over TLS they do the handshake first (a slow one
  // holds its thread up to the request timeout), so there are as many as the loop has.
  const std::size_t workers = options_.tls_cert_file.empty() ? 2 : options_.max_connections;
  server_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  // Answers are small and written in pieces: without TCP_NODELAY, Nagle holds the second
  // piece until the client acknowledges the first, which a delayed ACK makes 40 ms.
  server_->set_tcp_nodelay(true);
  server_->set_payload_max_length(options_.max_body_bytes);
  server_->set_read_timeout(options_.request_timeout);
  server_->set_write_timeout(options_.request_timeout);
  server_->set_keep_alive_timeout(options_.keep_alive_timeout.count());
  // httplib closes a keep-alive connection after 5 requests by default: far too few for a
  // client appending in a loop.
  server_->set_keep_alive_max_count(kKeepAliveRequests);
  InstallRefusalHandlers();
  AddRoutes();
  if (Status bound = Bind(); !bound.ok()) return bound;
  if (loop_ != nullptr)
    if (Status s = loop_->Start(); !s.ok()) return s;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::Ok();
}

ConnectionLoop::Setup Gateway::Impl::LoopSetup(ProcessRequest process) {
  ConnectionLoop::Setup ls;
  ls.limits = {kKeepAliveRequests, options_.keep_alive_timeout, options_.request_timeout,
               options_.request_timeout};
  ls.max_body_bytes = options_.max_body_bytes;
  ls.workers = options_.max_connections;
  // The append route (POST /v1/streams/{stream}/events, as AddRoutes matches it): the one
  // request that waits on an fsync, so the one the loop answers without a thread.
  ls.runs_on_loop = [](std::string_view method, std::string_view target) {
    constexpr std::string_view kPrefix = "/v1/streams/", kSuffix = "/events";
    const std::string_view path = target.substr(0, target.find('?'));
    return method == "POST" && path.size() > kPrefix.size() + kSuffix.size() &&
           path.starts_with(kPrefix) && path.ends_with(kSuffix);
  };
  ls.process = std::move(process);
  ls.refused = [this](int status) { metrics_.RecordRefused(status); };
  return ls;
}

void Gateway::Impl::Stop() {
  stopping_ = true;
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  // After httplib's accept loop: nothing more is handed to the event loop.
  if (loop_ != nullptr) loop_->Stop();
  Unlink();
}

void Gateway::Impl::Unlink() {
  if (unix_socket_bound_) unlink(options_.unix_path.c_str());
  unix_socket_bound_ = false;
}

void Gateway::Impl::AnswerRefused(const httplib::Request& req, httplib::Response& res) {
  // httplib's own refusals (a request line it could not parse, an unknown method, a line or
  // body over its limits) leave the rest of that request unread: its headers too, when the
  // request line failed. Decided before the 400 of an unknown method becomes a 405.
  if (res.status == 400 || res.status == 413 || res.status == 414 || res.status == 431 ||
      BodyLeftUnread(req))
    CloseAfterAnswer(req, CloseLinger());
  // httplib answers 400 to methods it has no handlers for (TRACE, CONNECT, ...).
  const bool known_method = req.method == "GET" || req.method == "POST" || req.method == "HEAD" ||
                            req.method == "OPTIONS";
  if (res.status == 400 && !known_method && !req.method.empty()) {
    res.status = 405;
    res.set_header("Allow", "GET, POST");
  }
  // A request not received whole within --request-timeout: the client gets a 408 (written by
  // http_connection.cc, which then closes), and the metrics count it as one.
  if (RequestTimedOut()) res.status = 408;
  metrics_.RecordRefused(res.status);
  std::string message;
  switch (res.status) {
    case 404:
      message = "no such route (see docs/http.md)";
      break;
    case 405:
      message = fmt::format("{} is not a method of this API: GET reads, POST appends", req.method);
      break;
    case 413:
      message =
          fmt::format("the request body is over {} bytes (--max-body)", options_.max_body_bytes);
      break;
    case 400:
      message = "not a valid HTTP/1.1 request, or a header line over 8 KiB";
      break;
    default:
      message = fmt::format("the server refused the request ({})", res.status);
  }
  ReplyError(res, res.status, HttpErrorName(res.status), message, options_.retry_after);
}

bool Gateway::Impl::Authorized(const httplib::Request& req, httplib::Response& res,
                               Scope scope) const {
  if (scope == Scope::kNone || !tokens_.enabled()) return true;
  const Scope granted = tokens_.Check(req.get_header_value("Authorization"));
  if (granted == Scope::kNone) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"cairn\"");
    ReplyError(res, 401, "unauthorized",
               "a bearer token is needed: send 'Authorization: Bearer TOKEN' with a token of "
               "the --tokens file",
               options_.retry_after);
    return false;
  }
  if (static_cast<int>(granted) < static_cast<int>(scope)) {
    ReplyError(res, 403, "forbidden", "this token may read, not append", options_.retry_after);
    return false;
  }
  return true;
}

void Gateway::Impl::Serve(const char* method, const char* pattern, Route route, Scope scope,
                          Handler handler) {
  auto wrapped = [this, route, scope, handler](const httplib::Request& req,
                                               httplib::Response& res) {
    // On the event loop a request may run twice (http_event_loop.h): it is counted once, when
    // answered, timed from its first run.
    const RequestContinuation* continuation = RequestContinuation::Current();
    const auto start = continuation ? continuation->started() : std::chrono::steady_clock::now();
    if (Authorized(req, res, scope)) (this->*handler)(req, res);
    if (continuation != nullptr && continuation->deferred()) return;
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    metrics_.Record(route, res.status, took.count());
  };
  if (std::string_view(method) == "GET")
    server_->Get(pattern, wrapped);
  else
    server_->Post(pattern, wrapped);
}

void Gateway::Impl::AddRoutes() {
  Serve("POST", R"(/v1/streams/(.+)/events)", Route::kAppend, Scope::kAppend, &Impl::Append);
  Serve("GET", R"(/v1/streams/(.+))", Route::kReadStream, Scope::kRead, &Impl::ReadStream);
  Serve("GET", "/v1/log", Route::kReadLog, Scope::kRead, &Impl::ReadLog);
  Serve("GET", "/v1/feed", Route::kFeed, Scope::kRead, &Impl::Feed);
  Serve("POST", R"(/topics/([^/]+))", Route::kProduce, Scope::kAppend, &Impl::Produce);
  Serve("GET", "/healthz", Route::kOperations, Scope::kNone, &Impl::Healthz);
  Serve("GET", "/readyz", Route::kOperations, Scope::kNone, &Impl::Readyz);
  Serve("GET", "/metrics", Route::kOperations, Scope::kRead, &Impl::Metrics);
  Serve("GET", "/status", Route::kOperations, Scope::kRead, &Impl::StatusJson);
  Serve("GET", "/", Route::kOperations, Scope::kNone, &Impl::StatusPage);
  // A route asked with the wrong method is a 405 naming the right one, not a bare 404.
  auto allow = [this](const std::string& allowed) {
    return [this, allowed](const httplib::Request& req, httplib::Response& res) {
      metrics_.RecordRefused(405);
      res.set_header("Allow", allowed);
      ReplyError(
          res, 405, "method_not_allowed",
          fmt::format("{} {}: this route takes {} (docs/http.md)", req.method, req.path, allowed),
          options_.retry_after);
    };
  };
  for (const char* get_only : {R"(/v1/streams/(.+))", "/v1/log", "/v1/feed", "/healthz", "/readyz",
                               "/metrics", "/status", "/"})
    server_->Post(get_only, allow("GET"));
  server_->Get(R"(/topics/([^/]+))", allow("POST"));
  server_->Put(".*", allow("GET, POST"));
  server_->Patch(".*", allow("GET, POST"));
  server_->Delete(".*", allow("GET, POST"));
}

void Gateway::Impl::Healthz(const httplib::Request&, httplib::Response& res) {
  // Alive: the process answers. Whether it should get traffic is /readyz.
  ReplyJson(res, 200, {{"status", "ok"}});
}

nlohmann::ordered_json Gateway::Impl::Readiness(const StoreInfo& info,
                                                const ShipperStatus* shipper) const {
  // "ready" first in the answer; its value is known only once the shipper is asked.
  nlohmann::ordered_json j = {{"ready", false}};
  bool ready = !stopping_ && !info.read_only && info.write_error.empty();
  j["store"] = {{"path", info.path},
                {"head", info.last_position},
                {"writable", !info.read_only},
                {"write_error", info.write_error}};
  if (shipper != nullptr) {
    const ShipperStatus& s = *shipper;
    // A broker that is down does not make the gateway unready: taking events while Kafka is
    // away is its job. A failed shipper (fenced, misconfigured) does.
    ready = ready && s.state != ShipperState::kFailed;
    j["shipper"] = {{"state", ToString(s.state)},
                    {"broker_reachable", s.broker_reachable},
                    {"lag_events", s.lag_events},
                    {"last_error", s.last_error}};
  } else {
    j["shipper"] = {{"state", "none"}};
  }
  j["ready"] = ready;
  if (stopping_) j["stopping"] = true;
  return j;
}

void Gateway::Impl::Readyz(const httplib::Request&, httplib::Response& res) {
  std::optional<ShipperStatus> shipper;
  if (shipper_ != nullptr) shipper = shipper_->GetStatus();
  const auto j = Readiness(store_.GetInfo(), shipper ? &*shipper : nullptr);
  if (!j["ready"].get<bool>())
    res.set_header("Retry-After", std::to_string(options_.retry_after.count()));
  ReplyJson(res, j["ready"].get<bool>() ? 200 : 503, j);
}

void Gateway::Impl::Metrics(const httplib::Request&, httplib::Response& res) {
  std::string text = metrics_.Render();
  text += fmt::format(
      "# HELP cairn_http_feeds_open Live feeds (server-sent events) open now.\n"
      "# TYPE cairn_http_feeds_open gauge\ncairn_http_feeds_open {}\n",
      feeds_.load());
  text += store_.PrometheusMetrics();
  if (shipper_ != nullptr) text += shipper_->PrometheusMetrics();
  res.set_content(text, "text/plain; version=0.0.4");
}

void Gateway::Impl::StatusJson(const httplib::Request&, httplib::Response& res) {
  const StoreInfo info = store_.GetInfo();
  std::optional<ShipperStatus> shipper;
  if (shipper_ != nullptr) shipper = shipper_->GetStatus();
  nlohmann::ordered_json j = Readiness(info, shipper ? &*shipper : nullptr);
  j["store"]["store_id"] = info.store_id;
  j["store"]["format_version"] = info.format_version;
  j["store"]["first_position"] = info.first_position;
  if (shipper) j["shipper"] = ShipperStatusJson(*shipper);
  const BacklogStatus b = store_.GetBacklog();
  j["backlog"] = {{"events", b.events},
                  {"bytes", b.bytes},
                  {"max_events", b.max_events},
                  {"max_bytes", b.max_bytes},
                  {"rejected_appends", b.rejected_appends},
                  {"blocked_appends", b.blocked_appends}};
  constexpr std::size_t kShown = 100;
  auto dead = store_.ListDeadLetters(0, kShown + 1);
  j["dead_letters"] = dead.ok() ? nlohmann::ordered_json(std::min(dead->size(), kShown))
                                : nlohmann::ordered_json(nullptr);
  j["dead_letters_more"] = dead.ok() && dead->size() > kShown;
  nlohmann::ordered_json last = nlohmann::ordered_json::array();
  LogReadOptions lo;
  lo.direction = Direction::kBackward;
  lo.limit = 10;
  if (auto r = store_.ReadLog(lo); r.ok())
    for (; r->Valid(); r->Next()) last.push_back(EventToJson(r->event()));
  j["last_events"] = std::move(last);
  j["feeds_open"] = feeds_.load();
  ReplyJson(res, 200, j);
}

void Gateway::Impl::StatusPage(const httplib::Request&, httplib::Response& res) {
  res.set_content(kStatusPageHtml, "text/html; charset=utf-8");
}

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gateway::~Gateway() { Stop(); }

Result<std::unique_ptr<Gateway>> Gateway::Start(Store& store, Shipper* shipper,
                                                GatewayOptions options) {
  TokenSet tokens;
  if (!options.tokens_file.empty()) {
    auto t = TokenSet::Load(options.tokens_file);
    if (!t.ok()) return t.status();
    tokens = std::move(t).value();
  }
  // One worker thread per connection, all started at once: a limit keeps a typo from asking
  // the system for a million threads.
  if (options.max_connections == 0 || options.max_connections > kMaxWorkers)
    return Status::InvalidArgument(fmt::format("--max-connections {}: expected 1 to {}",
                                               options.max_connections, kMaxWorkers));
  if (options.max_body_bytes == 0) return Status::InvalidArgument("--max-body must be at least 1");
  auto impl = std::make_unique<Impl>(store, shipper, std::move(options), std::move(tokens));
  if (Status s = impl->Listen(); !s.ok()) return s;
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

int Gateway::port() const { return impl_->port(); }

void Gateway::Stop() {
  if (impl_) impl_->Stop();
}

}  // namespace cairn::gateway
