// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The gateway's HTTP/1.1 connections, under httplib's request parser and router (issue #24).
// Debian 12's httplib 0.11.4 reads each request through a new stream whose read-ahead buffer
// dies with it, so a second request sent in the same write as the first (HTTP/1.1
// pipelining, RFC 9112 §9.3) was read into that buffer and dropped: never answered, never
// stored. Its read timeout is per recv(), so a client trickling one header byte every half
// second held a worker for as long as it liked. Here one stream lives as long as its
// connection and keeps what it has read ahead for the next request, and every read of a
// request (its line, headers and body) shares one deadline: a request not received whole
// within --request-timeout is answered 408 and its connection closed.
//
// Owns: the accepted socket (and its TLS session) from accept to close. httplib still parses
// and routes each request (Server::process_request) and writes each answer through this
// stream. Thread-safety: each connection is served by one httplib worker thread; nothing here
// is shared between connections.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <httplib.h>

namespace cairn::gateway {

// RFC 9112 message framing, checked on a request's head (request line and header fields,
// through the empty line) before httplib reads it. httplib 0.11.4 takes "Content-Length: +5",
// lists, two different lengths, Transfer-Encoding beside Content-Length and obs-folded lines,
// each a way for two parsers to disagree on where a request ends (request smuggling); it
// routes an absolute-form target ("POST http://host/v1/...") to a 404 though a server must
// accept it, and waits out the timeout on a POST with no length at all.
struct FramingVerdict {
  int status = 0;       // 0: the head is well framed; else the HTTP status to refuse it with
  std::string message;  // what was wrong, for the answer
  // An absolute-form target's origin form ("/v1/log?x=1"): the request line is rewritten to
  // it. Empty when the target was already in origin form.
  std::string origin_form;
  std::size_t target_offset = 0, target_size = 0;  // where the target is in the head
  // What a well-framed head says of its route and body (the event loop decides by them).
  std::string method;
  std::string target;  // in origin form
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool expect = false;  // an Expect field (100-continue): httplib answers it
};
FramingVerdict CheckRequestHead(std::string_view head);

// The most a request head (request line and fields) may be: 64 KiB, else 431.
inline constexpr std::size_t kMaxHeadBytes = 64 * 1024;
// Where a request's head ends in `buffered` (past its empty line; a bare LF is seen too so
// that CheckRequestHead can refuse it), or npos when it has not all arrived.
std::size_t HeadEnd(std::string_view buffered);
// The address and port of a connected socket's peer (`peer`) or its own end; left as they are
// for a Unix socket, which has neither.
void SocketAddress(int fd, bool peer, std::string& ip, int& port);

// httplib::Server and SSLServer with the connection handling above.
// on_refused, when set, is told the status of each request the connection layer answers
// itself (framing refusals, 408s), for the gateway's metrics.
class ConnectionLoop;  // http_event_loop.h

// With `loop` set, every accepted connection is handed to it (plain HTTP, http_event_loop.h);
// without, each is served on one of httplib's worker threads from accept to close.
class HttpServer final : public httplib::Server {
 public:
  HttpServer();
  ~HttpServer() override;
  std::function<void(int status)> on_refused;
  std::unique_ptr<ConnectionLoop> loop;
  // httplib's parser and router for one request on `stream` (for the loop).
  bool ProcessRequest(httplib::Stream& stream, bool last, bool& closed) {
    return process_request(stream, last, closed, nullptr);
  }

 private:
  bool process_and_close_socket(socket_t sock) override;
};

// Over TLS the accepting worker does the handshake (bounded by the request timeout) and, with
// `loop` set, hands the connection to it; without, it serves the connection to its close.
class HttpsServer final : public httplib::SSLServer {
 public:
  HttpsServer(const char* cert_file, const char* key_file);
  ~HttpsServer() override;
  std::function<void(int status)> on_refused;
  std::unique_ptr<ConnectionLoop> loop;
  bool ProcessRequest(httplib::Stream& stream, bool last, bool& closed) {
    return process_request(stream, last, closed, nullptr);
  }

 private:
  bool process_and_close_socket(socket_t sock) override;
};

// How long and how much a connection may take (httplib's settings, read by the servers).
struct ConnectionLimits {
  std::size_t max_requests;
  std::chrono::seconds keep_alive;
  std::chrono::seconds request_timeout;
  std::chrono::seconds write_timeout;
};
// httplib's Server::process_request for one request on `stream`.
using ProcessRequest = std::function<bool(httplib::Stream&, bool last, bool& closed)>;
using RefusalObserver = std::function<void(int status)>;

// The whole answer (status line, headers, JSON body, "Connection: close") the connection layer
// writes for a request it refuses itself.
std::string RefusalAnswer(int status, std::string_view message);

// One request served on this (worker) thread from socket `fd` (and TLS session `ssl`, or null),
// starting with the bytes
// `read_ahead` someone already read (the event loop hands over requests it does not answer
// itself). `keep`: the connection may go on; `read_ahead`: what was read past the request.
struct HandedOffRequest {
  bool keep = false;
  std::string read_ahead;
};
HandedOffRequest ServeOneRequest(int fd, SSL* ssl, std::string read_ahead, bool last,
                                 const ConnectionLimits& limits, const ProcessRequest& process,
                                 const RefusalObserver& refused);

// Closes `fd` so that its last answer arrives (no more writes, then a moment of reading and
// dropping what the client still sends, then close).
void LingeringClose(int fd, SSL* ssl);

// True while the current worker thread answers a request that missed its deadline (the
// refusal handler makes it a 408 instead of httplib's 400).
bool RequestTimedOut();

// The "error" name of an error answer's JSON body for an HTTP status ("bad_request",
// "request_timeout", ...): one table for the gateway's answers and the connection layer's.
std::string_view HttpErrorName(int http_status);

}  // namespace cairn::gateway
