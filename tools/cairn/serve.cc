// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `cairn serve`: one process that owns a store, ships it to Kafka, and takes events over HTTP
// (src/gateway/gateway.h). SIGTERM or SIGINT stops taking requests, answers those in flight, drains
// the shipper, checkpoints and closes the store.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "command.h"
#include "commands.h"
#include "gateway/gateway.h"
#include "output.h"

namespace cairn::tool {

using gateway::Gateway;
using gateway::GatewayOptions;
namespace {

struct ServeArgs {
  ShipArgs ship;
  std::string listen = "127.0.0.1:8080";
  std::string unix_path;
  std::string unix_mode = "0660";
  bool no_ship = false;
  std::string durability = "sync";
  std::string tokens_file;
  std::string tls_cert;
  std::string tls_key;
  std::size_t max_body = GatewayOptions{}.max_body_bytes;
  std::size_t max_connections = GatewayOptions{}.max_connections;
  std::size_t max_feeds = GatewayOptions{}.max_feeds;
  double request_timeout_s = static_cast<double>(GatewayOptions{}.request_timeout.count());
  std::uint64_t backlog_max_events = 0;
  std::uint64_t backlog_max_bytes = 0;
  std::string backlog_policy = "reject";
};

Result<StoreOptions> ServeStoreOptions(const CommonOptions& common, const ServeArgs& args) {
  auto level = ParseLogLevel(common.log_level);
  if (!level.ok()) return level.status();
  auto durability = ParseDurability(args.durability);
  if (!durability.ok()) return durability.status();
  StoreOptions so;
  so.log_level = *level;
  so.durability = *durability;
  so.create_if_missing = true;  // an edge box starts with an empty directory
  so.owner_socket = true;       // `cairn append`, `backup`, ... work beside the server
  so.backlog_quota.max_events = args.backlog_max_events;
  so.backlog_quota.max_bytes = args.backlog_max_bytes;
  if (args.backlog_policy == "reject")
    so.backlog_quota.policy = BacklogQuota::Policy::kReject;
  else if (args.backlog_policy == "block")
    so.backlog_quota.policy = BacklogQuota::Policy::kBlock;
  else
    return Status::InvalidArgument(fmt::format(
        "--backlog-policy '{}': expected reject (answer 429 at once) or block (wait, then 429)",
        args.backlog_policy));
  return so;
}

Result<GatewayOptions> ServeGatewayOptions(const ServeArgs& args, const StoreOptions& so) {
  auto listen = ParseListen(args.listen, "--listen");
  if (!listen.ok()) return listen.status();
  GatewayOptions g;
  g.host = listen->first;
  g.port = listen->second;
  g.unix_path = args.unix_path;
  const std::optional<std::uint64_t> mode = ParseWholeNumber(args.unix_mode, 8);
  if (!mode || *mode > 0777)
    return Status::InvalidArgument(fmt::format(
        "--unix-mode '{}': expected octal permissions, such as 0660 or 0600", args.unix_mode));
  g.unix_mode = static_cast<unsigned>(*mode);
  g.tokens_file = args.tokens_file;
  g.tls_cert_file = args.tls_cert;
  g.tls_key_file = args.tls_key;
  g.max_body_bytes = args.max_body;
  g.max_connections = args.max_connections;
  g.max_feeds = args.max_feeds;
  if (!(args.request_timeout_s >= 1 && args.request_timeout_s <= 3600))
    return Status::InvalidArgument("--request-timeout: expected 1 to 3600 seconds");
  g.request_timeout = std::chrono::seconds(static_cast<std::int64_t>(args.request_timeout_s));
  g.max_payload_bytes = so.max_payload_bytes;
  return g;
}

// Until SIGTERM/SIGINT: a status line at a TTY; a failed shipper is logged once (the gateway
// keeps taking events, /readyz turns 503 so that an orchestrator sees it).
void WaitForSignal(Shipper* shipper) {
  const bool tty = isatty(STDERR_FILENO) != 0;
  bool failure_logged = false;
  while (PendingSignal() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (shipper == nullptr) continue;
    const ShipperStatus s = shipper->GetStatus();
    if (tty) std::fprintf(stderr, "\r\033[K%s", StatusLine(s).c_str());
    if (s.state == ShipperState::kFailed && !failure_logged) {
      std::fprintf(stderr, "%scairn: shipper failed: %s (still taking events; /readyz is 503)\n",
                   tty ? "\n" : "", s.last_error.c_str());
      failure_logged = true;
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  std::fprintf(stderr, "cairn: stopping (signal %d): answering requests in flight, then draining\n",
               PendingSignal());
}

int RunServe(const CommonOptions& common, const ServeArgs& args) {
  auto so = ServeStoreOptions(common, args);
  if (!so.ok()) return Fail(so.status());
  auto gateway_options = ServeGatewayOptions(args, *so);
  if (!gateway_options.ok()) return Fail(gateway_options.status());
  ShipperOptions ship_options;
  Result<std::unique_ptr<EmbeddedKafka>> embedded = std::unique_ptr<EmbeddedKafka>();
  if (!args.no_ship) {
    auto o = ShipOptions(common, args.ship);
    if (!o.ok()) return Fail(o.status());
    ship_options = std::move(o).value();
    embedded = EmbeddedKafkaIfAsked(args.ship, &ship_options);
    if (!embedded.ok() && embedded.status().message().starts_with("no Kafka brokers"))
      return Fail(Status::InvalidArgument(embedded.status().message() +
                                          "; --no-ship takes events without shipping them"));
    if (!embedded.ok()) return Fail(embedded.status());
    so->backlog_quota.checkpoint = ship_options.checkpoint_name;
  }
  auto store = Store::Open(args.ship.store, *so);
  if (!store.ok()) return Fail(store.status());
  InstallSignalHandlers();
  std::unique_ptr<Shipper> shipper;
  if (!args.no_ship) {
    auto started = Shipper::Start(**store, ship_options);
    if (!started.ok()) return Fail(started.status());
    shipper = std::move(started).value();
  }
  auto gateway = Gateway::Start(**store, shipper.get(), *gateway_options);
  if (!gateway.ok()) return Fail(gateway.status());
  const char* scheme = args.tls_cert.empty() ? "http" : "https";
  const std::string where =
      args.unix_path.empty()
          ? fmt::format("{}://{}:{}/", scheme, gateway_options->host, (*gateway)->port())
          : fmt::format("{} on Unix socket {} (curl --unix-socket {} {}://localhost/)", scheme,
                        args.unix_path, args.unix_path, scheme);
  std::fprintf(stderr, "cairn: serving %s (store %s, %s)\n", where.c_str(), args.ship.store.c_str(),
               shipper ? "shipping to Kafka" : "not shipping: --no-ship");
  WaitForSignal(shipper.get());
  (*gateway)->Stop();
  int exit_code = kExitOk;
  if (shipper) {
    if (Status s = shipper->Stop(); !s.ok()) exit_code = Fail(s);
    std::fprintf(stderr, "cairn: %s\n", StatusLine(shipper->GetStatus()).c_str());
    shipper.reset();
  }
  gateway->reset();
  if (Status s = (*store)->Close(); !s.ok() && exit_code == kExitOk) exit_code = Fail(s);
  return exit_code;
}

class ServeCommand final : public CommandWith<ServeArgs, RunServe> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "serve", "Take events over HTTP into a store and ship them to Kafka (docs/http.md)");
    cmd_->add_option("STORE", args_.ship.store, "Store directory (created if missing)")->required();
    auto* listen = cmd_->add_option("--listen", args_.listen, "HOST:PORT (port 0: any free port)")
                       ->capture_default_str();
    cmd_->add_option("--unix", args_.unix_path,
                     "Listen on this Unix socket instead (file permissions guard it)")
        ->excludes(listen);
    cmd_->add_option("--unix-mode", args_.unix_mode, "Permissions of the --unix socket (octal)")
        ->capture_default_str();
    cmd_->add_flag("--no-ship", args_.no_ship, "Take events without shipping them anywhere");
    cmd_->add_option("--durability", args_.durability, "sync (201 after fsync) or buffered")
        ->capture_default_str();
    cmd_->add_option("--tokens", args_.tokens_file,
                     "Bearer tokens file: lines 'append TOKEN' or 'read TOKEN'");
    cmd_->add_option("--tls-cert", args_.tls_cert, "PEM certificate chain (HTTPS)");
    cmd_->add_option("--tls-key", args_.tls_key, "PEM private key of --tls-cert");
    cmd_->add_option("--max-body", args_.max_body, "Largest request body in bytes (413 above)")
        ->capture_default_str();
    cmd_->add_option("--max-connections", args_.max_connections,
                     "Worker threads for requests other than appends (over TLS, as many again for "
                     "handshakes)")
        ->capture_default_str();
    cmd_->add_option("--max-feeds", args_.max_feeds, "Live feeds open at once (503 above)")
        ->capture_default_str();
    cmd_->add_option("--request-timeout", args_.request_timeout_s,
                     "Seconds to read a request or write an answer")
        ->capture_default_str();
    cmd_->add_option("--backlog-max-events", args_.backlog_max_events,
                     "Refuse appends (429) while this many events are unshipped (0: no limit)");
    cmd_->add_option("--backlog-max-bytes", args_.backlog_max_bytes,
                     "Refuse appends (429) while this many bytes are unshipped (0: no limit)");
    cmd_->add_option("--backlog-policy", args_.backlog_policy, "reject or block (then 429)")
        ->capture_default_str();
    AddShipperOptions(cmd_, args_.ship);
    cmd_->footer(
        "Examples:\n"
        "  cairn serve ./store --embedded-kafka\n"
        "  cairn serve /var/lib/cairn -b b-1.msk:9096 --kafka-config client.properties \\\n"
        "      --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem --tokens tokens\n"
        "  curl -X POST localhost:8080/v1/streams/order-1/events -H 'Content-Type: "
        "application/json' \\\n"
        "      -d '{\"type\":\"OrderPlaced\",\"data\":{\"total\":5}}'\n"
        "  cairn serve /var/lib/cairn --no-ship --unix /run/cairn/http.sock --unix-mode 0660\n"
        "  curl --unix-socket /run/cairn/http.sock http://localhost/healthz");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(175, ServeCommand);

}  // namespace
}  // namespace cairn::tool
