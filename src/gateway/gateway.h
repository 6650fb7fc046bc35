// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The edge gateway behind `cairn serve`: an HTTP/1.1 JSON API over one open store (and the
// shipper mirroring it to Kafka), so that apps in any language append durably while the
// uplink is away. docs/http.md is the API's reference; this header is the tool's own, not
// part of libcairn's public API.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <cairn/cairn.h>

namespace cairn::gateway {

struct GatewayOptions {
  // Where to listen. Default: loopback only, port 8080. Port 0 picks a free port (port()).
  std::string host = "127.0.0.1";
  int port = 8080;
  // A Unix socket to listen on instead of host:port, so that file permissions say who may
  // connect: created with unix_mode (default 0660, owner and group) and removed at Stop. A
  // stale socket file nobody listens on is replaced; a live one, or a file of another kind,
  // is refused. Default: empty (TCP).
  std::string unix_path;
  unsigned unix_mode = 0660;
  // PEM certificate chain and private key: both set serves HTTPS only. Default: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Bearer tokens, one per line: "append TOKEN" or "read TOKEN" ('#' starts a comment). Empty:
  // no authentication (fine on loopback or a Unix-permission-guarded host). /healthz and
  // /readyz never need a token.
  std::string tokens_file;
  // A request body over this is refused with 413; its bytes are discarded, never parsed or
  // stored. Default: 8 MiB.
  std::size_t max_body_bytes = 8 << 20;
  // Worker threads: they serve the requests the event loop hands over (all but appends; an
  // open live feed holds one), and connections themselves need none. Over TLS as many again
  // do handshakes (each up to request_timeout), then hand the connection to the loop.
  // 1 to 4096. Default: 128.
  std::size_t max_connections = 128;
  // Live feeds (server-sent events) open at once; more get 503. Default: 32.
  std::size_t max_feeds = 32;
  // A request (its line, headers and body) must arrive whole within this from its first byte,
  // or it is answered 408 and its connection closed; each write of an answer must progress
  // within it too. Default: 30 s.
  std::chrono::seconds request_timeout{30};
  // An idle keep-alive connection is closed after this. Default: 5 s.
  std::chrono::seconds keep_alive_timeout{5};
  // Retry-After on 429 and 503 answers. Default: 1 s.
  std::chrono::seconds retry_after{1};
  // The store's limits, for naming an oversized event with 413 before appending. Default: the
  // store's defaults.
  std::size_t max_payload_bytes = StoreOptions{}.max_payload_bytes;
};

// Thread-safety: Start, port and Stop from one thread; requests are served on the gateway's
// own threads (the event loop and its workers). The store (and shipper, when given) must
// outlive the gateway.
class Gateway {
 public:
  // Validates the options (certificate, key and tokens readable and well-formed), binds and
  // starts serving in the background. `shipper` may be null (no Kafka: /readyz says so).
  static Result<std::unique_ptr<Gateway>> Start(Store& store, Shipper* shipper,
                                                GatewayOptions options);
  ~Gateway();

  // The bound port (the one chosen when options.port was 0); 0 on a Unix socket.
  int port() const;
  // Stops accepting, ends live feeds, and waits for requests in flight to be answered.
  void Stop();

  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  class Impl;

 private:
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::gateway
