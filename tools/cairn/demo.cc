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

// An order placed and its stock reserved: one atomic append to two streams.
std::vector<StreamAppend> PlaceAndReserve(const std::string& order_id, int customer, int sku,
                                          int qty, double total) {
  std::vector<StreamAppend> place(2);
  place[0] = {
      order_id,
      ExpectedVersion::NoStream(),
      {Json("OrderPlaced",
            fmt::format(
                R"({{"orderId":"{}","customerId":"c-{}","sku":"sku-{}","qty":{},"total":{:.2f}}})",
                order_id, customer, sku, qty, total))}};
  place[1] = {fmt::format("inventory-sku-{:03}", sku),
              ExpectedVersion::Any(),
              {Json("StockReserved", fmt::format(R"({{"sku":"sku-{}","orderId":"{}","qty":{}}})",
                                                 sku, order_id, qty))}};
  return place;
}

// The payment gateway's event, with the id its duplicate callback will carry too.
EventData Payment(const std::string& order_id, double total) {
  EventData paid =
      Json("PaymentAuthorized",
           fmt::format(R"({{"orderId":"{}","amount":{:.2f},"currency":"EUR"}})", order_id, total));
  paid.id = EventId::Generate();
  paid.metadata = fmt::format(R"({{"correlationId":"{}"}})", order_id);
  return paid;
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
      return store.Append(
          fmt::format("customer-{:06}", customer), ExpectedVersion::NoStream(),
          Json("CustomerRegistered",
               fmt::format(R"({{"customerId":"c-{}","email":"c{}@example.com","tier":"{}"}})",
                           customer, customer, customer % 10 == 0 ? "gold" : "standard")));
    });
    if (!r.ok()) return totals.error = r.status(), false;
    ++events, ++appends;
  }

  // Order and stock reservation commit together or not at all.
  const std::vector<StreamAppend> place = PlaceAndReserve(order_id, customer, sku, qty, total);
  auto placed = timed([&] { return store.AppendMulti(place); });
  if (!placed.ok()) return totals.error = placed.status(), false;
  events += 2, ++appends;

  // The payment gateway's callback may arrive twice: the event id makes the retry harmless.
  const EventData paid = Payment(order_id, total);
  const std::string payment = fmt::format("payment-{:07}", order);
  for (int attempt = 0; attempt < (order % 50 == 0 ? 2 : 1); ++attempt) {
    auto r = timed([&] { return store.Append(payment, ExpectedVersion::NoStream(), paid); });
    if (!r.ok()) return totals.error = r.status(), false;
    if (r->deduplicated)
      ++dedup;
    else
      ++events;
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

// The demo's seed topics (the decision record's per-bounded-context topics) and partitions.
const std::vector<std::pair<std::string, int>> kTopics = {
    {"customer-events", 10}, {"order-events", 20}, {"inventory-events", 10}, {"domain-events", 5}};

// One run of the demo, in the order it prints: OpenStore, StartShipping, AppendOrders (with
// the broker outage mid-run), FinishShipping (caught up, read back from Kafka), Replay and
// ScanLog, Close.
class Demo {
 public:
  explicit Demo(const DemoArgs& args) : args_(args) {}

  Status Run(const CommonOptions& common) {
    auto level = ParseLogLevel(common.log_level);
    if (!level.ok()) return level.status();
    level_ = *level;
    if (Status s = OpenStore(); !s.ok()) return s;
    if (!args_.no_kafka)
      if (Status s = StartShipping(); !s.ok()) return s;
    if (Status s = AppendOrders(); !s.ok()) return s;
    if (shipper_)
      if (Status s = FinishShipping(); !s.ok()) return s;
    return ReplayAndClose();
  }

 private:
  Status OpenStore() {
    auto durability = ParseDurability(args_.durability);
    if (!durability.ok()) return durability.status();
    namespace fs = std::filesystem;
    temporary_ = args_.store.empty();
    path_ = temporary_
                ? (fs::temp_directory_path() / fmt::format("cairn-demo-{}", std::random_device()()))
                      .string()
                : args_.store;
    StoreOptions options;
    options.durability = *durability;
    options.log_level = level_;
    auto opened = Store::Open(path_, options);
    if (!opened.ok()) return opened.status();
    store_ = std::move(opened).value();
    if (store_->last_position() > 0)
      return Status::FailedPrecondition(
          fmt::format("{} already holds events; the demo needs an empty store", path_));
    fmt::print("cairn demo: {} orders from {} threads into {} ({} durability)\n", args_.orders,
               args_.threads, path_, args_.durability);
    return Status::Ok();
  }

  // Kafka: an embedded cluster unless brokers are given. The shipper runs from the first
  // append on.
  Status StartShipping() {
    auto settings = LoadKafkaSettings(args_.kafka);
    if (!settings.ok()) return settings.status();
    // (Not KAFKA_BOOTSTRAP_SERVERS: the demo's default is the embedded Kafka, whatever the
    // environment says; -b or a config file choose a real one.)
    auto bootstrap = ResolveBootstrap(args_.kafka, *settings, /*use_environment=*/false);
    if (!bootstrap.ok()) return bootstrap.status();
    bool in_settings = false;
    for (const auto& [k, v] : *settings) in_settings |= k == "bootstrap.servers";
    ship_.kafka_config = std::move(settings).value();
    ship_.bootstrap_servers = *bootstrap;
    if (ship_.bootstrap_servers.empty() && !in_settings) {
      EmbeddedKafkaOptions ko;
      ko.topics = kTopics;
      auto k = EmbeddedKafka::Start(ko);
      if (!k.ok()) return k.status();
      embedded_ = std::move(k).value();
      ship_.bootstrap_servers = embedded_->bootstrap_servers();
    }
    ship_.routes = {{RouteRule::Match::kCategory, "customer", "customer-events"},
                    {RouteRule::Match::kCategory, "order", "order-events"},
                    {RouteRule::Match::kCategory, "inventory", "inventory-events"}};
    ship_.default_topic = "domain-events";
    ship_.log_level = level_;
    auto started = Shipper::Start(*store_, ship_);
    if (!started.ok()) return started.status();
    shipper_ = std::move(started).value();
    std::vector<std::string> described;
    for (const auto& [name, partitions] : kTopics)
      described.push_back(fmt::format("{}:{}", name, partitions));
    fmt::print("kafka      {} at {}, topics {}, shipping at-least-once from the first append\n",
               embedded_ ? fmt::format("embedded {}-broker cluster", embedded_->broker_count())
                         : std::string("cluster"),
               ship_.bootstrap_servers, fmt::join(described, " "));
    return Status::Ok();
  }

  Status AppendOrders() {
    const int customers = std::max(1, args_.orders / 4);
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < args_.threads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(static_cast<unsigned>(t) * 7919u + 1);
        std::vector<double> latencies;
        for (int i; (i = next_order_.fetch_add(1)) < args_.orders;)
          if (!PlaceOrder(*store_, i, customers, rng, totals_, latencies)) break;
        std::lock_guard<std::mutex> lk(totals_.mu);
        totals_.latencies_us.insert(totals_.latencies_us.end(), latencies.begin(), latencies.end());
      });
    }
    std::thread outage_thread;
    if (embedded_ && args_.outage_s > 0) outage_thread = std::thread([this] { BrokerOutage(); });
    for (auto& th : threads) th.join();
    if (outage_thread.joinable()) outage_thread.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!totals_.error.ok()) return totals_.error;
    fmt::print(
        "\nappended   {} events in {} appends over {:.2f} s: {:.0f} events/s, {:.0f} appends/s\n",
        totals_.events, totals_.appends, secs, totals_.events / secs, totals_.appends / secs);
    fmt::print("latency    append p50 {:.0f} us, p99 {:.0f} us\n",
               Percentile(totals_.latencies_us, 0.50), Percentile(totals_.latencies_us, 0.99));
    fmt::print("retries    {} duplicate payment callbacks deduplicated by event id\n",
               totals_.deduplicated);
    fmt::print("conflicts  {} stale writers refused with wrong_expected_version\n",
               totals_.conflicts);
    return Status::Ok();
  }

  // Mid-run, every broker goes down while the appenders carry on.
  void BrokerOutage() {
    while (next_order_.load() < args_.orders / 2)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!embedded_->SetAllBrokersDown().ok()) return;
    outage_.happened = true;
    outage_.head_at_down = store_->last_position();
    std::this_thread::sleep_for(std::chrono::duration<double>(args_.outage_s));
    const ShipperStatus s = shipper_->GetStatus();
    outage_.head_at_up = s.head_position;
    outage_.shipped_at_up = s.shipped_through;
    outage_.peak_lag = s.lag_events;
    const auto up = Clock::now();
    (void)embedded_->SetAllBrokersUp();
    while (shipper_->GetStatus().shipped_through <= outage_.shipped_at_up &&
           Clock::now() - up < std::chrono::seconds(60))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    outage_.resumed_after_s = std::chrono::duration<double>(Clock::now() - up).count();
  }

  // Waits until the shipper has caught up, stops it, and reads every topic back to prove
  // each stream arrived whole and in order.
  Status FinishShipping() {
    if (outage_.happened)
      fmt::print(
          "outage     every broker down for {:.1f} s at position {}: appends went on ({} "
          "events meanwhile), lag reached {} events\n"
          "recovered  shipping resumed {:.2f} s after the brokers returned\n",
          args_.outage_s, outage_.head_at_down, outage_.head_at_up - outage_.head_at_down,
          outage_.peak_lag, outage_.resumed_after_s);
    const auto d0 = Clock::now();
    if (Status s = shipper_->WaitUntilShipped(store_->last_position(), std::chrono::seconds(120));
        !s.ok())
      return s;
    const ShipperStatus st = shipper_->GetStatus();
    fmt::print(
        "shipped    {} events to Kafka (caught up {:.2f} s after the last append), "
        "produce latency p50 {:.1f} ms p99 {:.1f} ms, {} rewinds\n",
        st.shipped_through, std::chrono::duration<double>(Clock::now() - d0).count(),
        st.produce_latency_p50_ms, st.produce_latency_p99_ms, st.rewinds);
    if (Status s = shipper_->Stop(); !s.ok()) return s;
    shipper_.reset();
    auto streams = store_->ListStreams("");
    if (!streams.ok()) return streams.status();
    std::map<std::string, std::uint64_t> expected;
    for (const StreamInfo& si : *streams) expected[si.stream] = si.last_version;
    std::vector<std::string> names;
    for (const auto& [name, partitions] : kTopics) names.push_back(name);
    auto report = CheckDelivery(ship_.bootstrap_servers, ship_.kafka_config, names, expected);
    if (!report.ok()) return report.status();
    fmt::print(
        "confirmed  read back {} messages: every stream complete and in version order "
        "({} streams), {} missing, {} out of order, {} re-delivered\n",
        report->messages, report->streams, report->missing, report->out_of_order,
        report->duplicates);
    if (report->duplicates > 0)
      fmt::print(
          "           (at-least-once allows re-delivery; the embedded broker cannot drop an "
          "idempotent producer's retried duplicates, a real broker does)\n");
    if (!report->ok(/*allow_duplicates=*/true))
      return Status::Internal("Kafka does not hold the store's events: " + report->first_problem);
    return Status::Ok();
  }

  // Replays one aggregate the way a service rebuilds state.
  Status Replay(const std::string& order_id) {
    const auto r0 = Clock::now();
    auto reader = store_->ReadStream(order_id);
    if (!reader.ok()) return reader.status();
    std::string status;
    std::vector<std::string> history;
    for (; reader->Valid(); reader->Next()) {
      const RecordedEvent& e = reader->event();
      history.push_back(fmt::format("v{} {}", e.version, e.type));
      status = std::string(e.type);
    }
    if (!reader->status().ok()) return reader->status();
    const double replay_us = std::chrono::duration<double, std::micro>(Clock::now() - r0).count();
    fmt::print("\nreplayed   {}: {} -> state {} ({:.0f} us)\n", order_id, fmt::join(history, ", "),
               status, replay_us);
    return Status::Ok();
  }

  // Scans the whole log in commit order, as the shipper and auditors do.
  Status ScanLog() {
    const auto s0 = Clock::now();
    auto log = store_->ReadLog();
    if (!log.ok()) return log.status();
    std::map<std::string, std::uint64_t> by_type;
    std::uint64_t expect = 1;
    for (; log->Valid(); log->Next(), ++scanned_) {
      if (log->event().position != expect++) return Status::Internal("positions are not dense");
      ++by_type[std::string(log->event().type)];
    }
    if (!log->status().ok()) return log->status();
    const double scan_secs = std::chrono::duration<double>(Clock::now() - s0).count();
    fmt::print("scanned    {} events in position order in {:.3f} s ({:.0f} events/s), no gaps\n",
               scanned_, scan_secs, scanned_ / scan_secs);
    for (const auto& [type, n] : by_type) fmt::print("             {:<20} {}\n", type, n);
    return Status::Ok();
  }

  Status ReplayAndClose() {
    const std::string order_id = fmt::format("order-{:07}", std::min(42, args_.orders - 1));
    if (Status s = Replay(order_id); !s.ok()) return s;
    if (Status s = ScanLog(); !s.ok()) return s;
    auto streams = store_->ListStreams("");
    if (!streams.ok()) return streams.status();
    fmt::print("streams    {}\nchain head {}\n", streams->size(),
               HexHash(store_->GetInfo().last_chain_hash));
    if (Status s = store_->Close(); !s.ok()) return s;
    if (!temporary_)
      fmt::print("\nstore kept at {}: try `cairn read {} {}`\n", path_, path_, order_id);
    if (scanned_ != totals_.events)
      return Status::Internal("scan count differs from appended count");
    return Status::Ok();
  }

 public:
  ~Demo() {
    shipper_.reset();
    store_.reset();
    std::error_code ec;
    if (temporary_ && !path_.empty()) std::filesystem::remove_all(path_, ec);
  }

 private:
  struct Outage {
    bool happened = false;
    std::uint64_t head_at_down = 0, head_at_up = 0, shipped_at_up = 0, peak_lag = 0;
    double resumed_after_s = -1;
  };

  const DemoArgs& args_;
  LogLevel level_{};
  bool temporary_ = false;  // no --store: a directory of its own, removed at the end
  std::string path_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<EmbeddedKafka> embedded_;
  ShipperOptions ship_;
  std::unique_ptr<Shipper> shipper_;
  Totals totals_;
  std::atomic<int> next_order_{0};
  Outage outage_;
  std::uint64_t scanned_ = 0;
};

}  // namespace

int RunDemo(const CommonOptions& common, const DemoArgs& args) {
  Status s = Demo(args).Run(common);
  return s.ok() ? kExitOk : Fail(s);
}

// --- the subcommands of this file (command.h) ---

namespace {

class DemoCommand final : public CommandWith<DemoArgs, RunDemo> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand(
        "demo",
        "Append a realistic e-commerce workload, ship it to Kafka through a broker "
        "outage, and report what it did");
    cmd_->add_option("--store", args_.store,
                     "Keep the store in this directory (default: temporary)");
    cmd_->add_option("--orders", args_.orders, "Orders to place")
        ->capture_default_str()
        ->check(CLI::Range(1, 10000000));
    cmd_->add_option("--threads", args_.threads, "Concurrent appenders")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    cmd_->add_option("--durability", args_.durability, "sync or buffered")->capture_default_str();
    AddKafkaOptions(cmd_, args_.kafka);
    cmd_->add_flag("--no-kafka", args_.no_kafka, "Only the store: no shipping");
    cmd_->add_option("--outage", args_.outage_s,
                     "Seconds every embedded broker is down mid-run (0: none)")
        ->check(CLI::Range(0.0, 3600.0))  // a sleep of 1e300 s overflowed the clock
        ->capture_default_str();
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(190, DemoCommand);

}  // namespace

}  // namespace cairn::tool
