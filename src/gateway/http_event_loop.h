// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The gateway's event loop for HTTP and HTTPS (issue #25): one thread, epoll, holds every
// connection between requests and answers appends without a thread each. With a thread per
// connection (httplib's model) every durable append held its thread across the fsync, and
// the wake-up of each blocked thread — not the disk — bound `cairn serve` at a third of what
// the same server answered on /healthz. Here the loop reads a whole request, httplib's own
// parser and router run it on the loop thread, and an append hands its events to
// Store::AppendAsync and returns; the store's completion thread posts the outcome back in a
// batch, and the loop runs the request through httplib a second time to write the answer
// from it (RequestContinuation). Every request other than an append — reads, the live feed,
// the REST Proxy route, anything chunked or unusual — is handed to a worker thread with the
// bytes read so far and served as before; the connection comes back to the loop after it.
//
// Owns: the connections it was given, from Adopt to close, and its worker threads.
// Thread-safety: Adopt and Post from any thread; everything else runs on the loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <httplib.h>

#include "cairn/status.h"
#include "gateway/http_connection.h"

namespace cairn::gateway {

// A request the loop runs through httplib twice: first to start its work (the handler calls
// Defer and returns without an answer), then, once the work is done, to answer. Handlers find
// it with Current(); it is null on worker threads, where they answer as they always did.
class RequestContinuation {
 public:
  using Answer = std::function<void(httplib::Response&)>;
  // Called (from any thread, exactly once) with how to answer.
  using Resume = std::function<void(Answer)>;

  static RequestContinuation* Current();

  // Second pass: the answer the deferred work left; the handler calls it and returns.
  bool resuming() const { return static_cast<bool>(answer_); }
  void WriteAnswer(httplib::Response& res) const { answer_(res); }
  // First pass: the answer comes later, through the returned function.
  Resume Defer();
  bool deferred() const { return deferred_; }
  // When the request was first run: the time its metrics count from.
  std::chrono::steady_clock::time_point started() const { return started_; }

 private:
  friend class ConnectionLoop;
  RequestContinuation(std::chrono::steady_clock::time_point started, Resume resume)
      : started_(started), resume_(std::move(resume)) {}
  std::chrono::steady_clock::time_point started_;
  Resume resume_;
  Answer answer_;
  bool deferred_ = false;
};

class ConnectionLoop {
 public:
  struct Setup {
    ConnectionLimits limits;
    std::size_t max_body_bytes = 0;
    std::size_t workers = 1;  // threads for the requests handed off
    // Whether the loop may answer a request itself: given its method and target.
    std::function<bool(std::string_view method, std::string_view target)> runs_on_loop;
    ProcessRequest process;   // httplib's process_request
    RefusalObserver refused;  // the status of each request the loop refuses itself
  };
  explicit ConnectionLoop(Setup setup);
  ~ConnectionLoop();
  ConnectionLoop(const ConnectionLoop&) = delete;
  ConnectionLoop& operator=(const ConnectionLoop&) = delete;

  Status Start();
  // Takes over an accepted socket (from httplib's accept thread), and over TLS its session,
  // handshake done (SSL_MODE_ENABLE_PARTIAL_WRITE and SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
  // set); the loop frees it.
  void Adopt(int fd, SSL* ssl = nullptr);
  // Stops reading requests, answers those whose work is under way (waiting up to the request
  // timeout), closes every connection and joins its threads.
  void Stop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::gateway
