// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `cairn ship` (the shipper in the foreground) and `cairn kafka-mock` (the embedded Kafka as
// a standalone broker for tests and demos).
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <unistd.h>

#include "cairn/embedded_kafka.h"
#include "cairn/shipper.h"
#include "command.h"
#include "commands.h"
#include "output.h"
#include "ship/client_config.h"
#include "ship/routing.h"
#include "ship/wire.h"

namespace cairn::tool {
namespace {

std::atomic<int> g_signal{0};

extern "C" void OnSignal(int sig) { g_signal = sig; }

}  // namespace

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int PendingSignal() { return g_signal.load(); }

namespace {

Result<std::string> ReadFile(const std::string& path, std::string_view what) {
  return ReadFileAtMost(path, kMaxConfigFileBytes, what);
}

// "host:port" with a port in 1..65535, optionally after "PROTOCOL://"; IPv6 in brackets.
bool IsBrokerAddress(std::string_view a) {
  if (const auto scheme = a.find("://"); scheme != std::string_view::npos)
    a.remove_prefix(scheme + 3);
  const auto colon = a.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) return false;
  const std::string_view port = a.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
    return false;
  const int n = std::stoi(std::string(port));
  const std::string_view host = a.substr(0, colon);
  return n >= 1 && n <= 65535 && host.find_first_of(" \t,") == std::string_view::npos;
}

Status CheckBrokerList(std::string_view list, std::string_view from) {
  std::size_t at = 0;
  while (at <= list.size()) {
    std::size_t end = list.find(',', at);
    if (end == std::string_view::npos) end = list.size();
    std::string_view entry = list.substr(at, end - at);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (!IsBrokerAddress(entry))
      return Status::InvalidArgument(
          fmt::format("{}: '{}' is not a broker address (host:port[,host:port...])", from, entry));
    at = end + 1;
  }
  return Status::Ok();
}

// Whether librdkafka has a setting of this name (tried on a scratch configuration).
bool LibrdkafkaKnows(const std::string& key) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[256];
  size_t size = 0;
  const bool known =
      rd_kafka_conf_get(conf, key.c_str(), nullptr, &size) == RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, key.c_str(), "", err, sizeof err) != RD_KAFKA_CONF_UNKNOWN;
  rd_kafka_conf_destroy(conf);
  return known;
}

}  // namespace

std::string StatusLine(const ShipperStatus& s) {
  return fmt::format(
      "{} | head {} | shipped {} | lag {} ev {:.1f} s | {:.0f} ev/s | p99 {:.1f} ms "
      "| dead {} | rewinds {} | broker {}",
      ToString(s.state), s.head_position, s.shipped_through, s.lag_events, s.lag_seconds,
      s.events_per_second, s.produce_latency_p99_ms, s.dead_letters, s.rewinds,
      s.broker_reachable || s.last_error.empty() ? std::string(s.broker_reachable ? "up" : "down")
                                                 : "down: " + s.last_error);
}

// Splits "host:port" (the host may be empty or "*" for every interface).
Result<std::pair<std::string, int>> ParseListen(const std::string& addr, std::string_view option) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos)
    return Status::InvalidArgument(fmt::format("{} '{}': expected HOST:PORT", option, addr));
  std::string host = addr.substr(0, colon);
  if (host.empty() || host == "*") host = "0.0.0.0";
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(addr.substr(colon + 1), &used);
    if (used != addr.size() - colon - 1) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535)
    return Status::InvalidArgument(fmt::format("{} '{}': bad port", option, addr));
  return std::make_pair(host, port);
}

Result<std::vector<std::pair<std::string, std::string>>> LoadKafkaSettings(const KafkaArgs& args) {
  std::vector<std::pair<std::string, std::string>> settings;
  if (!args.config_file.empty()) {
    auto text = ReadFile(args.config_file, "Kafka client properties");
    if (!text.ok()) return text.status();
    auto props = ParseClientProperties(*text);
    if (!props.ok())
      return Status::InvalidArgument(
          fmt::format("{}: {}", args.config_file, props.status().message()));
    std::vector<std::string> warnings;
    settings = ship::TranslateJavaClientProperties(*props, LibrdkafkaKnows, &warnings);
    for (const std::string& w : warnings)
      std::fprintf(stderr, "cairn: warning: %s: %s\n", args.config_file.c_str(), w.c_str());
  }
  for (const std::string& kv : args.settings) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::InvalidArgument(fmt::format("-X '{}': expected key=value", kv));
    settings.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return settings;
}

Result<std::string> ResolveBootstrap(
    const KafkaArgs& args, const std::vector<std::pair<std::string, std::string>>& settings,
    bool use_environment) {
  if (args.bootstrap_servers) {
    if (args.bootstrap_servers->find_first_not_of(" \t") == std::string::npos)
      return Status::InvalidArgument(
          "-b/--bootstrap-servers is empty (an unset variable?): give host:port[,host:port...]");
    if (Status s = CheckBrokerList(*args.bootstrap_servers, "-b"); !s.ok()) return s;
    return *args.bootstrap_servers;
  }
  for (const auto& [k, v] : settings) {
    if (k != "bootstrap.servers") continue;
    if (Status s = CheckBrokerList(v, fmt::format("bootstrap.servers in {}", args.config_file));
        !s.ok())
      return s;
    return std::string();
  }
  if (use_environment) {
    if (const char* env = std::getenv("KAFKA_BOOTSTRAP_SERVERS"); env && *env) {
      if (Status s = CheckBrokerList(env, "KAFKA_BOOTSTRAP_SERVERS"); !s.ok()) return s;
      return std::string(env);
    }
  }
  return std::string();
}

Result<std::vector<RouteRule>> LoadRoutes(const std::string& path, std::string* default_topic) {
  if (path.empty()) return std::vector<RouteRule>{};
  auto text = ReadFile(path, "routes file");
  if (!text.ok()) return text.status();
  auto routes = ship::ParseRoutes(*text, default_topic);
  if (!routes.ok())
    return Status::InvalidArgument(fmt::format("{}: {}", path, routes.status().message()));
  return routes;
}

Result<ShipperOptions> ProducerOptions(const CommonOptions& common, const KafkaArgs& kafka) {
  auto level = ParseLogLevel(common.log_level);
  if (!level.ok()) return level.status();
  ShipperOptions o;
  o.log_level = *level;
  auto settings = LoadKafkaSettings(kafka);
  if (!settings.ok()) return settings.status();
  auto bootstrap = ResolveBootstrap(kafka, *settings, /*use_environment=*/true);
  if (!bootstrap.ok()) return bootstrap.status();
  o.kafka_config = std::move(settings).value();
  o.bootstrap_servers = std::move(bootstrap).value();
  return o;
}

Status ApplyValueFormat(const std::string& value, const std::optional<std::string>& ce_source,
                        ShipperOptions* o) {
  if (value == "payload")
    o->value_format = ValueFormat::kPayload;
  else if (value == "envelope")
    o->value_format = ValueFormat::kEnvelope;
  else if (value == "cloudevents")
    o->value_format = ValueFormat::kCloudEvents;
  else
    return Status::InvalidArgument(
        fmt::format("--value '{}': expected payload, envelope or cloudevents", value));
  if (ce_source && o->value_format != ValueFormat::kCloudEvents)
    return Status::InvalidArgument("--cloudevents-source needs --value cloudevents");
  o->cloudevents_source = ce_source;
  // Checked now, so that a bad source is a usage error before any store or broker is touched.
  return ship::WireSettingsOf(*o, "").status();
}

// Everything of `cairn ship`'s arguments that becomes a ShipperOptions field.
Result<ShipperOptions> ShipOptions(const CommonOptions& common, const ShipArgs& args) {
  auto options = ProducerOptions(common, args.kafka);
  if (!options.ok()) return options.status();
  ShipperOptions o = std::move(options).value();
  if (args.mode == "at-least-once")
    o.mode = DeliveryMode::kAtLeastOnce;
  else if (args.mode == "exactly-once")
    o.mode = DeliveryMode::kExactlyOnce;
  else
    return Status::InvalidArgument(
        fmt::format("--mode '{}': expected at-least-once or exactly-once", args.mode));
  o.default_topic = args.default_topic;
  auto routes = LoadRoutes(args.routes_file, &o.default_topic);
  if (!routes.ok()) return routes.status();
  o.routes = std::move(routes).value();
  if (Status s = ApplyValueFormat(args.value, args.cloudevents_source, &o); !s.ok()) return s;
  if (args.dead_letter_policy == "hold")
    o.dead_letter_policy = DeadLetterPolicy::kHoldStream;
  else if (args.dead_letter_policy == "skip")
    o.dead_letter_policy = DeadLetterPolicy::kSkip;
  else
    return Status::InvalidArgument(
        fmt::format("--dead-letter-policy '{}': expected hold or skip", args.dead_letter_policy));
  o.type_header = args.type_header;
  o.dead_letter_topic = args.dead_letter_topic;
  o.checkpoint_topic = args.checkpoint_topic;
  o.drain_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(args.drain_timeout_s * 1000));
  o.stall_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(args.stall_timeout_s * 1000));
  // Whole milliseconds; the option's range keeps it at least 1.
  o.transaction_max_interval =
      std::chrono::milliseconds(std::llround(args.transaction_interval_s * 1000));
  o.overlap_transactions = args.overlap_transactions;
  return o;
}

// --embedded-kafka: a throwaway Kafka in this process, exclusive with given brokers. Returns
// null when brokers are given.
Result<std::unique_ptr<EmbeddedKafka>> EmbeddedKafkaIfAsked(const ShipArgs& args,
                                                            ShipperOptions* o) {
  bool bootstrap_in_settings = false;
  for (const auto& [k, v] : o->kafka_config) bootstrap_in_settings |= k == "bootstrap.servers";
  const bool brokers_given = !o->bootstrap_servers.empty() || bootstrap_in_settings;
  if (args.embedded_kafka && brokers_given)
    return Status::InvalidArgument(
        "--embedded-kafka and brokers (-b, bootstrap.servers, "
        "KAFKA_BOOTSTRAP_SERVERS) exclude each other");
  if (!brokers_given && !args.embedded_kafka)
    return Status::InvalidArgument(
        "no Kafka brokers: give -b HOST:PORT, bootstrap.servers in --kafka-config, or "
        "KAFKA_BOOTSTRAP_SERVERS (--embedded-kafka ships to a throwaway Kafka in this process)");
  if (!args.embedded_kafka) return std::unique_ptr<EmbeddedKafka>();
  auto k = EmbeddedKafka::Start();
  if (!k.ok()) return k.status();
  o->bootstrap_servers = (*k)->bootstrap_servers();
  // Its own checkpoint: what reached a Kafka that vanishes with this process must never
  // count as shipped for retention, which trusts the "shipper" checkpoint.
  o->checkpoint_name = "embedded-kafka";
  std::fprintf(stderr,
               "cairn: shipping to an embedded Kafka at %s (in this process, gone when it "
               "exits; checkpoint 'embedded-kafka')\n",
               o->bootstrap_servers.c_str());
  return k;
}

namespace {

// --metrics-listen: /metrics and /status over HTTP while the shipper runs.
class MetricsServer {
 public:
  Status Start(const std::string& listen, Shipper* shipper) {
    auto l = ParseListen(listen, "--metrics-listen");
    if (!l.ok()) return l.status();
    server_ = std::make_unique<httplib::Server>();
    server_->Get("/metrics", [shipper](const httplib::Request&, httplib::Response& res) {
      res.set_content(shipper->PrometheusMetrics(), "text/plain; version=0.0.4");
    });
    server_->Get("/status", [shipper](const httplib::Request&, httplib::Response& res) {
      res.set_content(DumpJson(ShipperStatusJson(shipper->GetStatus())), "application/json");
    });
    if (!server_->bind_to_port(l->first, l->second))
      return Status::Unavailable(fmt::format("--metrics-listen {}: cannot listen there", listen));
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    std::fprintf(stderr, "cairn: metrics at http://%s/metrics\n", listen.c_str());
    return Status::Ok();
  }
  void Stop() {
    if (!server_) return;
    server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }
  ~MetricsServer() { Stop(); }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

// Until a signal, a failure, or (--exit-when-caught-up) the head at the start is shipped: a
// status line at a TTY, one every 10 s otherwise. Returns the exit code so far.
int WatchShipper(Shipper& shipper, std::uint64_t target, bool exit_when_caught_up) {
  const bool tty = isatty(STDERR_FILENO) != 0;
  auto last_line = std::chrono::steady_clock::now();
  int exit_code = kExitOk;
  while (g_signal == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const ShipperStatus s = shipper.GetStatus();
    if (s.state == ShipperState::kFailed) {
      exit_code = Fail(Status::FailedPrecondition("shipper failed: " + s.last_error));
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (tty) {
      std::fprintf(stderr, "\r\033[K%s", StatusLine(s).c_str());
    } else if (now - last_line >= std::chrono::seconds(10)) {
      std::fprintf(stderr, "%s\n", StatusLine(s).c_str());
      last_line = now;
    }
    // The shipper's own test: exactly-once, nothing is shipped before Kafka's checkpoint is read.
    if (exit_when_caught_up && shipper.WaitUntilShipped(target, std::chrono::milliseconds(0)).ok())
      break;
  }
  if (tty) std::fprintf(stderr, "\n");
  if (g_signal)
    std::fprintf(stderr, "cairn: stopping (signal %d): draining in-flight events\n",
                 g_signal.load());
  return exit_code;
}

}  // namespace

int RunShip(const CommonOptions& common, const ShipArgs& args) {
  auto level = ParseLogLevel(common.log_level);
  if (!level.ok()) return Fail(level.status());
  auto options = ShipOptions(common, args);
  if (!options.ok()) return Fail(options.status());
  ShipperOptions o = std::move(options).value();
  auto format = ParseFormat(args.format, false);
  if (!format.ok()) return Fail(format.status());
  if (!args.metrics_listen.empty())
    if (auto l = ParseListen(args.metrics_listen, "--metrics-listen"); !l.ok())
      return Fail(l.status());
  auto embedded = EmbeddedKafkaIfAsked(args, &o);
  if (!embedded.ok()) return Fail(embedded.status());

  StoreOptions so;
  so.log_level = *level;
  so.create_if_missing = false;
  // Free, the store is this process's and other commands write through it; held by another
  // owner, this process ships through that owner (its checkpoint and dead letters go there).
  so.owner_socket = true;
  so.through_owner = true;
  auto store = Store::Open(args.store, so);
  if (!store.ok()) return Fail(store.status());
  InstallSignalHandlers();
  auto shipper = Shipper::Start(**store, o);
  if (!shipper.ok()) return Fail(shipper.status());
  MetricsServer metrics;
  if (!args.metrics_listen.empty())
    if (Status s = metrics.Start(args.metrics_listen, shipper->get()); !s.ok()) return Fail(s);

  int exit_code = WatchShipper(**shipper, (*store)->last_position(), args.exit_when_caught_up);
  Status stopped = (*shipper)->Stop();
  const ShipperStatus final_status = (*shipper)->GetStatus();
  metrics.Stop();
  shipper->reset();
  if (Status s = (*store)->Close(); !s.ok() && exit_code == kExitOk) exit_code = Fail(s);
  if (!stopped.ok() && exit_code == kExitOk) exit_code = Fail(stopped);
  if (*format == Format::kJson)
    std::printf("%s\n", DumpJson(ShipperStatusJson(final_status), 2).c_str());
  else
    std::printf("%s\n", StatusLine(final_status).c_str());
  return exit_code;
}

namespace {

// --topic NAME:PARTITIONS, repeatable.
Result<std::vector<std::pair<std::string, int>>> ParseTopics(
    const std::vector<std::string>& topics) {
  std::vector<std::pair<std::string, int>> parsed;
  for (const std::string& t : topics) {
    const auto colon = t.rfind(':');
    int partitions = 1;
    std::string name = t;
    if (colon != std::string::npos) {
      name = t.substr(0, colon);
      try {
        partitions = std::stoi(t.substr(colon + 1));
      } catch (const std::exception&) {
        partitions = 0;
      }
    }
    if (name.empty() || partitions < 1 || partitions > 10000)
      return Status::InvalidArgument(fmt::format("--topic '{}': expected NAME:PARTITIONS", t));
    parsed.emplace_back(name, partitions);
  }
  return parsed;
}

// Written whole then renamed, so a reader never sees half an address.
Status WriteBootstrapFile(const std::string& path, const std::string& bootstrap) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << bootstrap << "\n";
    if (!out) return Status::IOError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::IOError("cannot write " + path);
  return Status::Ok();
}

// One fault-injection command of kafka-mock's stdin.
Status RunFaultCommand(EmbeddedKafka& kafka, const std::string& line) {
  std::istringstream in(line);
  std::string cmd, a, b, c;
  in >> cmd >> a >> b >> c;
  try {
    if (cmd == "down" || cmd == "up") {
      const bool up = cmd == "up";
      if (a == "all") return up ? kafka.SetAllBrokersUp() : kafka.SetAllBrokersDown();
      return up ? kafka.SetBrokerUp(std::stoi(a)) : kafka.SetBrokerDown(std::stoi(a));
    }
    if (cmd == "leader") return kafka.SetPartitionLeader(a, std::stoi(b), std::stoi(c));
    if (cmd == "errors") return kafka.PushRequestErrors(std::stoi(a), std::stoi(b), std::stoi(c));
    if (cmd == "rtt") return kafka.SetBrokerRoundTrip(std::stoi(a), std::stoi(b));
    if (cmd == "topic") return kafka.CreateTopic(a, std::stoi(b));
  } catch (const std::exception&) {
    return Status::InvalidArgument(fmt::format("bad arguments in '{}'", line));
  }
  return Status::InvalidArgument(fmt::format("unknown command '{}'", cmd));
}

// Feeds each line of stdin to `handle` until a signal. stdin is polled, so that a signal
// ends the loop even while no command comes.
void ReadCommandsUntilSignal(const std::function<void(const std::string&)>& handle) {
  std::string pending;
  bool stdin_open = true;
  while (g_signal == 0) {
    if (!stdin_open) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
      stdin_open = false;
      continue;
    }
    pending.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      handle(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
  }
}

}  // namespace

int RunKafkaMock(const CommonOptions&, const KafkaMockArgs& args) {
  EmbeddedKafkaOptions o;
  o.brokers = args.brokers;
  auto topics = ParseTopics(args.topics);
  if (!topics.ok()) return Fail(topics.status());
  o.topics = std::move(topics).value();
  auto kafka = EmbeddedKafka::Start(o);
  if (!kafka.ok()) return Fail(kafka.status());
  InstallSignalHandlers();
  const std::string& bootstrap = (*kafka)->bootstrap_servers();
  if (!args.bootstrap_file.empty())
    if (Status s = WriteBootstrapFile(args.bootstrap_file, bootstrap); !s.ok()) return Fail(s);
  std::printf("%s\n", bootstrap.c_str());
  std::fflush(stdout);
  std::fprintf(stderr,
               "cairn: embedded Kafka with %d broker(s) at %s; Ctrl-C to stop.\n"
               "Commands on stdin: down ID|all, up ID|all, leader TOPIC PARTITION ID, "
               "errors API COUNT CODE, rtt ID MS, topic NAME PARTITIONS\n",
               args.brokers, bootstrap.c_str());
  ReadCommandsUntilSignal([&](const std::string& line) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) return;
    const Status s = RunFaultCommand(**kafka, line);
    std::fprintf(stderr, "cairn: %s: %s\n", line.c_str(), s.ok() ? "ok" : s.message().c_str());
  });
  std::fprintf(stderr, "cairn: embedded Kafka stopped\n");
  return kExitOk;
}

void AddShipperOptions(CLI::App* cmd, ShipArgs& a) {
  AddKafkaOptions(cmd, a.kafka);
  cmd->add_option("--mode", a.mode, "at-least-once or exactly-once")->capture_default_str();
  cmd->add_option("--routes", a.routes_file,
                  "Routes file: 'category C TOPIC', 'type-prefix P TOPIC', 'default TOPIC'");
  cmd->add_option("--default-topic", a.default_topic, "Topic for events no route matches")
      ->capture_default_str();
  cmd->add_option("--value", a.value,
                  "payload, envelope, or cloudevents (the payload with CloudEvents ce_ headers)")
      ->capture_default_str();
  cmd->add_option("--cloudevents-source", a.cloudevents_source,
                  "With --value cloudevents: the ce_source URI-reference "
                  "(default urn:cairn:store:<store id>)");
  cmd->add_option("--type-header", a.type_header,
                  "Header carrying the event type (Spring: __TypeId__)")
      ->capture_default_str();
  cmd->add_option("--dead-letter-topic", a.dead_letter_topic,
                  "Also send dead letters to this topic, with error headers");
  cmd->add_option("--dead-letter-policy", a.dead_letter_policy,
                  "hold (later events of the stream wait) or skip")
      ->capture_default_str();
  cmd->add_option("--checkpoint-topic", a.checkpoint_topic,
                  "Compacted topic of exactly-once checkpoints")
      ->capture_default_str();
  cmd->add_option("--drain-timeout", a.drain_timeout_s,
                  "Seconds to wait for in-flight events when stopping")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  cmd->add_option("--stall-timeout", a.stall_timeout_s,
                  "Seconds without a delivery report, the brokers answering, before the "
                  "producer is replaced (0: never)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  cmd->add_option("--transaction-interval", a.transaction_interval_s,
                  "Exactly-once: seconds a transaction collects events before it commits "
                  "(shorter: lower latency, more commits)")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  cmd->add_flag("!--no-overlap-transactions", a.overlap_transactions,
                "Exactly-once: one transactional producer, each commit done before the next "
                "transaction starts (by default a second one, transactional.id '<id>-2', "
                "produces while the previous transaction commits)");
  cmd->add_flag("--embedded-kafka", a.embedded_kafka,
                "Ship to a throwaway Kafka inside this process (for trying cairn out; "
                "its position is kept as checkpoint 'embedded-kafka', not 'shipper')");
}

// --- the subcommands of this file (command.h) ---

namespace {

class ShipCommand final : public CommandWith<ShipArgs, RunShip> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "ship", "Ship a store's events to Kafka in the foreground (Ctrl-C drains and stops)");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    AddShipperOptions(cmd_, args_);
    cmd_->add_option("--metrics-listen", args_.metrics_listen,
                     "Serve Prometheus metrics at http://ADDR/metrics (e.g. :9464)");
    cmd_->add_flag("--exit-when-caught-up", args_.exit_when_caught_up,
                   "Stop once everything appended before the start is in Kafka");
    cmd_->add_option("--format", args_.format, "Final summary: text or json")
        ->capture_default_str();
    cmd_->footer(
        "While it ships, this process owns the store and other cairn commands write through it\n"
        "(STORE/owner.sock): `cairn append` feeds an edge box's spool as it ships. When another\n"
        "process owns the store (cairn serve, a service with StoreOptions::owner_socket), it\n"
        "ships beside that owner, which keeps the checkpoint and the dead letters.\n"
        "Examples:\n"
        "  cairn ship ./store -b b-1.msk:9096 --kafka-config client.properties --routes "
        "routes.txt\n"
        "  cairn ship ./store -b localhost:9092 --mode exactly-once --metrics-listen :9464\n"
        "  cairn ship ./store -b localhost:9092 -X linger.ms=20 -X compression.type=snappy");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(170, ShipCommand);

class KafkaMockCommand final : public CommandWith<KafkaMockArgs, RunKafkaMock> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "kafka-mock", "Run an embedded Kafka (librdkafka's mock cluster) for tests and demos");
    cmd_->add_option("--brokers", args_.brokers, "Number of brokers")
        ->capture_default_str()
        ->check(CLI::Range(1, 32));
    cmd_->add_option("--topic", args_.topics, "Create a topic: NAME:PARTITIONS (repeatable)");
    cmd_->add_option("--bootstrap-file", args_.bootstrap_file,
                     "Write the bootstrap servers to this file once listening");
    cmd_->footer(
        "Prints the bootstrap servers on stdout and runs until SIGINT/SIGTERM. Not a real broker:\n"
        "about 5 MiB per partition, no transaction markers, data gone at exit.\n"
        "Example: cairn kafka-mock --brokers 3 --topic order-events:20 --bootstrap-file /tmp/bs");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(180, KafkaMockCommand);

}  // namespace

}  // namespace cairn::tool
