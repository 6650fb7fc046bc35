// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `cairn demo`: the e-commerce workload the project grew out of (customers, orders, payments,
// inventory), appended by concurrent threads with optimistic concurrency and idempotent
// payment retries, then replayed. Prints what it did and how fast.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "cairn/embedded_kafka.h"
#include "cairn/shipper.h"
#include "command.h"
#include "commands.h"
#include "kafka_check.h"
#include "output.h"

namespace cairn::tool {
namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
  std::mutex mu;
  std::vector<double> latencies_us;
  std::uint64_t appends = 0;
  std::uint64_t events = 0;
  std::uint64_t conflicts = 0;
  std::uint64_t deduplicated = 0;
  Status error;
};

EventData Json(std::string type, std::string payload) {
  EventData e;
  e.type = std::move(type);
  e.payload = std::move(payload);
  return e;
}

// One order's life: placed (with stock reserved atomically), paid (idempotent), confirmed,
// shipped. Returns false on an unexpected error (recorded in totals).
bool PlaceOrder(Store& store, int order, int customers, std::mt19937& rng, Totals& totals,
                std::vector<double>& latencies) {
  auto timed = [&](auto&& fn) {
    const auto t0 = Clock::now();
    auto r = fn();
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    return r;
  };
  const int customer = order % customers;
  const int sku = static_cast<int>(rng() % 200);
  const int qty = 1 + static_cast<int>(rng() % 3);
  const double total = 5.0 + static_cast<double>(rng() % 50000) / 100.0;
  const std::string order_id = fmt::format("order-{:07}", order);
  std::uint64_t events = 0, appends = 0, dedup = 0;

  if (order < customers) {
    auto r = timed([&] {
      return store.Append(fmt::format("customer-{:06}", customer), ExpectedVersion::NoStream(),
                          Json("CustomerRegistered",
                               fmt::format(R"({{"customerId":"c-{}","email":"c{}@example.com","tier":"{}"}})",
                                           customer, customer, customer % 10 == 0 ? "gold" : "standard")));
    });
    if (!r.ok()) return totals.error = r.status(), false;
    ++events, ++appends;
  }

  // Order and stock reservation commit together or not at all.
  std::vector<StreamAppend> place(2);
  place[0] = {order_id, ExpectedVersion::NoStream(),
              {Json("OrderPlaced", fmt::format(R"({{"orderId":"{}","customerId":"c-{}","sku":"sku-{}","qty":{},"total":{:.2f}}})",
                                               order_id, customer, sku, qty, total))}};
  place[1] = {fmt::format("inventory-sku-{:03}", sku), ExpectedVersion::Any(),
              {Json("StockReserved", fmt::format(R"({{"sku":"sku-{}","orderId":"{}","qty":{}}})", sku, order_id, qty))}};
  auto placed = timed([&] { return store.AppendMulti(place); });
  if (!placed.ok()) return totals.error = placed.status(), false;
  events += 2, ++appends;

  // The payment gateway's callback may arrive twice: the event id makes the retry harmless.
  EventData paid = Json("PaymentAuthorized",
                        fmt::format(R"({{"orderId":"{}","amount":{:.2f},"currency":"EUR"}})", order_id, total));
  paid.id = EventId::Generate();
  paid.metadata = fmt::format(R"({{"correlationId":"{}"}})", order_id);
  const std::string payment = fmt::format("payment-{:07}", order);
  for (int attempt = 0; attempt < (order % 50 == 0 ? 2 : 1); ++attempt) {
    auto r = timed([&] { return store.Append(payment, ExpectedVersion::NoStream(), paid); });
    if (!r.ok()) return totals.error = r.status(), false;
    if (r->deduplicated) ++dedup; else ++events;
    ++appends;
  }

  for (std::uint64_t v = 1; v <= 2; ++v) {
    auto r = timed([&] {
      return store.Append(order_id, ExpectedVersion::Exact(v),
                          Json(v == 1 ? "OrderConfirmed" : "OrderShipped",
                               fmt::format(R"({{"orderId":"{}"}})", order_id)));
    });
    if (!r.ok()) return totals.error = r.status(), false;
    ++events, ++appends;
  }
  // A stale writer (say, a second instance handling the same command) loses cleanly.
  if (order % 100 == 0) {
    auto stale = store.Append(order_id, ExpectedVersion::Exact(1), Json("OrderCancelled", "{}"));
    if (stale.ok() || stale.status().code() != StatusCode::kWrongExpectedVersion)
      return totals.error = Status::Internal("stale append was not refused"), false;
    std::lock_guard<std::mutex> lk(totals.mu);
    ++totals.conflicts;
  }
  std::lock_guard<std::mutex> lk(totals.mu);
  totals.events += events;
  totals.appends += appends;
  totals.deduplicated += dedup;
  return true;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int RunDemo(const CommonOptions& common, const DemoArgs& args) {
  auto durability = ParseDurability(args.durability);
  if (!durability.ok()) return Fail(durability.status());
  auto level = ParseLogLevel(common.log_level);
  if (!level.ok()) return Fail(level.status());
  namespace fs = std::filesystem;
  const bool temporary = args.store.empty();
  const std::string path =
      temporary ? (fs::temp_directory_path() / fmt::format("cairn-demo-{}", std::random_device()())).string()
                : args.store;
  struct Cleanup {
    bool on;
    std::string path;
    ~Cleanup() {
      std::error_code ec;
      if (on) fs::remove_all(path, ec);
    }
  } cleanup{temporary, path};

  StoreOptions options;
  options.durability = *durability;
  options.log_level = *level;
  auto opened = Store::Open(path, options);
  if (!opened.ok()) return Fail(opened.status());
  Store& store = **opened;
  const std::uint64_t start_position = store.GetInfo().last_position;
  if (start_position > 0)
    return Fail(Status::FailedPrecondition(fmt::format("{} already holds events; the demo needs an empty store", path)));

  fmt::print("cairn demo: {} orders from {} threads into {} ({} durability)\n", args.orders,
             args.threads, path, args.durability);

  // Kafka: the seed's per-bounded-context topics, on an embedded cluster unless brokers are
  // given. The shipper runs from the first append on.
  std::unique_ptr<EmbeddedKafka> embedded;
  std::unique_ptr<Shipper> shipper;
  ShipperOptions ship;
  const std::vector<std::pair<std::string, int>> topics = {
      {"customer-events", 10}, {"order-events", 20}, {"inventory-events", 10}, {"domain-events", 5}};
  if (!args.no_kafka) {
    auto settings = LoadKafkaSettings(args.kafka);
    if (!settings.ok()) return Fail(settings.status());
    // (Not KAFKA_BOOTSTRAP_SERVERS: the demo's default is the embedded Kafka, whatever the
    // environment says; -b or a config file choose a real one.)
    auto bootstrap = ResolveBootstrap(args.kafka, *settings, /*use_environment=*/false);
    if (!bootstrap.ok()) return Fail(bootstrap.status());
    bool in_settings = false;
    for (const auto& [k, v] : *settings) in_settings |= k == "bootstrap.servers";
    ship.kafka_config = std::move(settings).value();
    ship.bootstrap_servers = *bootstrap;
    if (ship.bootstrap_servers.empty() && !in_settings) {
      EmbeddedKafkaOptions ko;
      ko.topics = topics;
      auto k = EmbeddedKafka::Start(ko);
      if (!k.ok()) return Fail(k.status());
      embedded = std::move(k).value();
      ship.bootstrap_servers = embedded->bootstrap_servers();
    }
    ship.routes = {{RouteRule::Match::kCategory, "customer", "customer-events"},
                   {RouteRule::Match::kCategory, "order", "order-events"},
                   {RouteRule::Match::kCategory, "inventory", "inventory-events"}};
    ship.default_topic = "domain-events";
    ship.log_level = *level;
    auto started = Shipper::Start(store, ship);
    if (!started.ok()) return Fail(started.status());
    shipper = std::move(started).value();
    fmt::print("kafka      {} at {}, topics {}, shipping at-least-once from the first append\n",
               embedded ? fmt::format("embedded {}-broker cluster", embedded->broker_count())
                        : std::string("cluster"),
               ship.bootstrap_servers,
               fmt::join(std::vector<std::string>{"customer-events:10", "order-events:20",
                                                  "inventory-events:10", "domain-events:5"},
                         " "));
  }
  Totals totals;
  const int customers = std::max(1, args.orders / 4);
  std::atomic<int> next{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < args.threads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) * 7919u + 1);
      std::vector<double> latencies;
      for (int i; (i = next.fetch_add(1)) < args.orders;)
        if (!PlaceOrder(store, i, customers, rng, totals, latencies)) break;
      std::lock_guard<std::mutex> lk(totals.mu);
      totals.latencies_us.insert(totals.latencies_us.end(), latencies.begin(), latencies.end());
    });
  }
  // Mid-run, every broker goes down while the appenders carry on.
  struct Outage {
    bool happened = false;
    std::uint64_t head_at_down = 0, head_at_up = 0, shipped_at_up = 0, peak_lag = 0;
    double resumed_after_s = -1;
  } outage;
  std::thread outage_thread;
  if (embedded && args.outage_s > 0) {
    outage_thread = std::thread([&] {
      while (next.load() < args.orders / 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (!embedded->SetAllBrokersDown().ok()) return;
      outage.happened = true;
      outage.head_at_down = store.GetInfo().last_position;
      std::this_thread::sleep_for(std::chrono::duration<double>(args.outage_s));
      const ShipperStatus s = shipper->GetStatus();
      outage.head_at_up = s.head_position;
      outage.shipped_at_up = s.shipped_through;
      outage.peak_lag = s.lag_events;
      const auto up = Clock::now();
      (void)embedded->SetAllBrokersUp();
      while (shipper->GetStatus().shipped_through <= outage.shipped_at_up &&
             Clock::now() - up < std::chrono::seconds(60))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      outage.resumed_after_s = std::chrono::duration<double>(Clock::now() - up).count();
    });
  }
  for (auto& th : threads) th.join();
  if (outage_thread.joinable()) outage_thread.join();
  const double append_secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!totals.error.ok()) return Fail(totals.error);

  fmt::print("\nappended   {} events in {} appends over {:.2f} s: {:.0f} events/s, {:.0f} appends/s\n",
             totals.events, totals.appends, append_secs, totals.events / append_secs,
             totals.appends / append_secs);
  fmt::print("latency    append p50 {:.0f} us, p99 {:.0f} us\n", Percentile(totals.latencies_us, 0.50),
             Percentile(totals.latencies_us, 0.99));
  fmt::print("retries    {} duplicate payment callbacks deduplicated by event id\n", totals.deduplicated);
  fmt::print("conflicts  {} stale writers refused with wrong_expected_version\n", totals.conflicts);

  if (shipper) {
    if (outage.happened)
      fmt::print("outage     every broker down for {:.1f} s at position {}: appends went on ({} "
                 "events meanwhile), lag reached {} events\n"
                 "recovered  shipping resumed {:.2f} s after the brokers returned\n",
                 args.outage_s, outage.head_at_down, outage.head_at_up - outage.head_at_down,
                 outage.peak_lag, outage.resumed_after_s);
    const std::uint64_t head = store.GetInfo().last_position;
    const auto d0 = Clock::now();
    if (Status s = shipper->WaitUntilShipped(head, std::chrono::seconds(120)); !s.ok())
      return Fail(s);
    const ShipperStatus st = shipper->GetStatus();
    fmt::print("shipped    {} events to Kafka (caught up {:.2f} s after the last append), "
               "produce latency p50 {:.1f} ms p99 {:.1f} ms, {} rewinds\n",
               st.shipped_through, std::chrono::duration<double>(Clock::now() - d0).count(),
               st.produce_latency_p50_ms, st.produce_latency_p99_ms, st.rewinds);
    if (Status s = shipper->Stop(); !s.ok()) return Fail(s);
    shipper.reset();
    auto streams = store.ListStreams("");
    if (!streams.ok()) return Fail(streams.status());
    std::map<std::string, std::uint64_t> expected;
    for (const StreamInfo& si : *streams) expected[si.stream] = si.last_version;
    std::vector<std::string> names;
    for (const auto& [name, partitions] : topics) names.push_back(name);
    auto report = CheckDelivery(ship.bootstrap_servers, ship.kafka_config, names, expected);
    if (!report.ok()) return Fail(report.status());
    fmt::print("confirmed  read back {} messages: every stream complete and in version order "
               "({} streams), {} missing, {} out of order, {} re-delivered\n",
               report->messages, report->streams, report->missing, report->out_of_order,
               report->duplicates);
    if (report->duplicates > 0)
      fmt::print("           (at-least-once allows re-delivery; the embedded broker cannot drop an "
                 "idempotent producer's retried duplicates, a real broker does)\n");
    if (!report->ok(/*allow_duplicates=*/true))
      return Fail(Status::Internal("Kafka does not hold the store's events: " +
                                   report->first_problem));
  }

  // Replay one aggregate the way a service rebuilds state.
  const std::string order_id = fmt::format("order-{:07}", std::min(42, args.orders - 1));
  std::uint64_t scanned = 0;
  {
  const auto r0 = Clock::now();
  auto reader = store.ReadStream(order_id);
  if (!reader.ok()) return Fail(reader.status());
  std::string status;
  std::vector<std::string> history;
  for (; reader->Valid(); reader->Next()) {
    const RecordedEvent& e = reader->event();
    history.push_back(fmt::format("v{} {}", e.version, e.type));
    status = std::string(e.type);
  }
  if (!reader->status().ok()) return Fail(reader->status());
  const double replay_us = std::chrono::duration<double, std::micro>(Clock::now() - r0).count();
  fmt::print("\nreplayed   {}: {} -> state {} ({:.0f} us)\n", order_id, fmt::join(history, ", "),
             status, replay_us);

  // Scan the whole log in commit order, as the shipper and auditors do.
  const auto s0 = Clock::now();
  auto log = store.ReadLog();
  if (!log.ok()) return Fail(log.status());
  std::map<std::string, std::uint64_t> by_type;
  std::uint64_t expect = 1;
  for (; log->Valid(); log->Next(), ++scanned) {
    if (log->event().position != expect++)
      return Fail(Status::Internal("positions are not dense"));
    ++by_type[std::string(log->event().type)];
  }
  if (!log->status().ok()) return Fail(log->status());
  const double scan_secs = std::chrono::duration<double>(Clock::now() - s0).count();
  fmt::print("scanned    {} events in position order in {:.3f} s ({:.0f} events/s), no gaps\n",
             scanned, scan_secs, scanned / scan_secs);
  for (const auto& [type, n] : by_type) fmt::print("             {:<20} {}\n", type, n);
  }  // readers end here: a store closes only once its readers are gone
  auto streams = store.ListStreams("");
  if (!streams.ok()) return Fail(streams.status());
  const StoreInfo info = store.GetInfo();
  fmt::print("streams    {}\nchain head {}\n", streams->size(), HexHash(info.last_chain_hash));
  if (Status s = store.Close(); !s.ok()) return Fail(s);
  if (!temporary) fmt::print("\nstore kept at {}: try `cairn read {} {}`\n", path, path, order_id);
  return scanned == totals.events ? kExitOk : Fail(Status::Internal("scan count differs from appended count"));
}

// --- the subcommands of this file (command.h) ---

namespace {

class DemoCommand final : public CommandWith<DemoArgs, RunDemo> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "demo", "Append a realistic e-commerce workload, ship it to Kafka through a broker "
                              "outage, and report what it did");
    cmd_->add_option("--store", args_.store, "Keep the store in this directory (default: temporary)");
    cmd_->add_option("--orders", args_.orders, "Orders to place")->capture_default_str()->check(CLI::Range(1, 10000000));
    cmd_->add_option("--threads", args_.threads, "Concurrent appenders")->capture_default_str()->check(CLI::Range(1, 256));
    cmd_->add_option("--durability", args_.durability, "sync or buffered")->capture_default_str();
    AddKafkaOptions(cmd_, args_.kafka);
    cmd_->add_flag("--no-kafka", args_.no_kafka, "Only the store: no shipping");
    cmd_->add_option("--outage", args_.outage_s,
                     "Seconds every embedded broker is down mid-run (0: none)")
        ->capture_default_str();
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(190, DemoCommand);

}  // namespace

}  // namespace cairn::tool
