// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Inside the gateway: the server, its state, and the handlers (gateway.cc sets the server up
// and answers the operational routes; gateway_api.cc answers the event routes).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "gateway/gateway.h"
#include "gateway/gateway_auth.h"
#include "gateway/gateway_metrics.h"
#include "gateway/http_connection.h"
#include "gateway/http_event_loop.h"

namespace cairn::gateway {

class Gateway::Impl {
 public:
  Impl(Store& store, Shipper* shipper, GatewayOptions options, TokenSet tokens);

  Status Listen();
  // The event loop's settings (http_event_loop.h); `process` is the server's httplib parser
  // and router.
  ConnectionLoop::Setup LoopSetup(ProcessRequest process);
  Status Bind();
  void Unlink();  // removes the Unix socket file this gateway made
  void Stop();
  int port() const { return port_; }

 private:
  using Handler = void (Impl::*)(const httplib::Request&, httplib::Response&);
  void AddRoutes();
  void InstallRefusalHandlers();
  // Registers `handler` for method + pattern: checks the bearer token against `scope`, times
  // the request and counts its answer under `route`.
  void Serve(const char* method, const char* pattern, Route route, Scope scope, Handler handler);
  bool Authorized(const httplib::Request& req, httplib::Response& res, Scope scope) const;
  // The JSON answer to a request the server refused before any route (404, 405, 413, 400).
  void AnswerRefused(const httplib::Request& req, httplib::Response& res);
  // How long after a "Connection: close" answer httplib may still read that connection: the
  // keep-alive wait for a next request, then that request's time.
  std::chrono::seconds CloseLinger() const {
    return options_.keep_alive_timeout + options_.request_timeout;
  }

  // gateway_api.cc
  void Append(const httplib::Request& req, httplib::Response& res);
  void Produce(const httplib::Request& req, httplib::Response& res);
  void ReadStream(const httplib::Request& req, httplib::Response& res);
  void ReadLog(const httplib::Request& req, httplib::Response& res);
  void Feed(const httplib::Request& req, httplib::Response& res);

  // gateway.cc
  void Healthz(const httplib::Request& req, httplib::Response& res);
  void Readyz(const httplib::Request& req, httplib::Response& res);
  void Metrics(const httplib::Request& req, httplib::Response& res);
  void StatusJson(const httplib::Request& req, httplib::Response& res);
  void StatusPage(const httplib::Request& req, httplib::Response& res);
  // /readyz's answer from one reading of the store and of the shipper (null: none runs), so
  // /status, which adds to it, reads each once.
  nlohmann::ordered_json Readiness(const StoreInfo& info, const ShipperStatus* shipper) const;

  Store& store_;
  Shipper* const shipper_;
  const GatewayOptions options_;
  const TokenSet tokens_;
  std::unique_ptr<httplib::Server> server_;
  ConnectionLoop* loop_ = nullptr;  // plain HTTP's event loop (owned by server_)
  std::thread thread_;
  int port_ = 0;
  bool unix_socket_bound_ = false;  // ours to remove at Stop
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> feeds_{0};
  HttpMetrics metrics_;
};

// An error answer: {"error_code": <HTTP status>, "error": <name>, "message": <what was wrong>}
// plus `extra`'s fields; Retry-After on 429 and 503.
void ReplyError(httplib::Response& res, int http_status, std::string_view error,
                std::string_view message, std::chrono::seconds retry_after,
                const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());
// The HTTP answer for a store or shipper error: 400, 404, 409, 429, 500, 501 or 503.
void ReplyStatus(httplib::Response& res, const Status& status, std::chrono::seconds retry_after);
void ReplyJson(httplib::Response& res, int http_status, const nlohmann::ordered_json& body);

}  // namespace cairn::gateway
