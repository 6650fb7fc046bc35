// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `cairn reconcile` (docs/cli.md): reads the topics back from Kafka with the shipper's own
// consumer set-up and checks them against the store. In phases: ResolveTopics (what to read),
// LoadStore (each stream's chain hashes by version), Match (every record in Kafka against
// them), FindMissing (what the store shipped that Kafka lacks), Print.
#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "cairn/shipper.h"
#include "command.h"
#include "commands.h"
#include "kafka_check.h"
#include "output.h"

namespace cairn::tool {
namespace {

// The store's side of one stream. Versions start wherever retention left the stream (`first`);
// a version retention removed in the middle is a hole (empty hash): Kafka may still hold it,
// the store cannot check it.
struct StoredStream {
  std::uint64_t first = 0;        // the lowest version still stored
  std::vector<std::string> hash;  // index version - first
  std::vector<std::uint64_t> position;
  std::vector<std::uint8_t> seen;  // times found in Kafka
};

struct Tally {
  std::uint64_t duplicates = 0, out_of_order = 0, mismatched = 0, unknown = 0, missing = 0,
                not_yet = 0, dead = 0, matched = 0, removed_here = 0, beyond_head = 0;
  std::map<std::string, std::uint64_t> missing_by_stream;
  std::vector<std::string> problems;  // the first 20, for stderr and the JSON report
  void Note(std::string p) {
    if (problems.size() < 20) problems.push_back(std::move(p));
  }
  bool clean() const {
    return !duplicates && !out_of_order && !mismatched && !unknown && !missing && !beyond_head;
  }
};

class Reconciliation {
 public:
  explicit Reconciliation(const ReconcileArgs& args) : args_(args) {}

  int Run(const CommonOptions& common) {
    auto format = ParseFormat(args_.format, false);
    if (!format.ok()) return Fail(format.status());
    auto settings = LoadKafkaSettings(args_.kafka);
    if (!settings.ok()) return Fail(settings.status());
    auto resolved = ResolveBootstrap(args_.kafka, *settings, /*use_environment=*/true);
    if (!resolved.ok()) return Fail(resolved.status());
    std::string bootstrap = *resolved;
    for (const auto& [k, v] : *settings)
      if (k == "bootstrap.servers" && bootstrap.empty()) bootstrap = v;
    if (bootstrap.empty())
      return Fail(Status::InvalidArgument(
          "reconcile reads the topics back: give -b HOST:PORT, bootstrap.servers in "
          "--kafka-config, or KAFKA_BOOTSTRAP_SERVERS"));
    if (Status s = ResolveTopics(); !s.ok()) return Fail(s);
    auto store = OpenForAudit(common, args_.store);
    if (!store.ok()) return Fail(store.status());
    if (Status s = LoadStore(**store); !s.ok()) return Fail(s);
    std::uint64_t foreign = 0;
    int open_transactions = 0;
    auto records = ReadBack(bootstrap, *settings, topics_, &foreign, &open_transactions);
    if (!records.ok()) return Fail(records.status());
    if (open_transactions > 0)
      std::fprintf(stderr,
                   "cairn: %d partition(s) still hold a transaction open after %d s (a shipper "
                   "at work, or one killed mid-transaction: Kafka aborts it after "
                   "transaction.timeout.ms); only committed records are compared\n",
                   open_transactions, kTransactionSettleMs / 1000);
    for (const ShippedRecord& r : *records) Match(r);
    FindMissing();
    Print(*format, records->size(), foreign);
    for (const std::string& p : tally_.problems) std::fprintf(stderr, "cairn: %s\n", p.c_str());
    return tally_.clean() ? kExitOk : kExitMismatch;
  }

 private:
  // --topic, or every topic the routes file (and the default topic) can send to.
  Status ResolveTopics() {
    topics_ = args_.topics;
    if (!topics_.empty()) return Status::Ok();
    std::string default_topic = args_.default_topic;
    auto rules = LoadRoutes(args_.routes_file, &default_topic);
    if (!rules.ok()) return rules.status();
    auto add = [&](const std::string& topic) {
      if (std::find(topics_.begin(), topics_.end(), topic) == topics_.end())
        topics_.push_back(topic);
    };
    for (const RouteRule& r : *rules) add(r.topic);
    add(default_topic);
    return Status::Ok();
  }

  Status LoadStore(Store& store) {
    head_ = store.GetInfo().last_position;
    auto checkpoint = store.LoadCheckpoint(args_.checkpoint);
    if (!checkpoint.ok()) return checkpoint.status();
    shipped_ = std::min(*checkpoint, head_);
    auto dead = store.ListDeadLetters();
    if (!dead.ok()) return dead.status();
    for (const DeadLetter& d : *dead) dead_positions_.insert(d.position);
    Progress progress("reconcile");
    auto reader = store.ReadLog();
    if (!reader.ok()) return reader.status();
    for (; reader->Valid() && reader->event().position <= head_; reader->Next()) {
      const RecordedEvent& e = reader->event();
      StoredStream& x = streams_[std::string(e.stream)];
      if (x.hash.empty()) x.first = e.version;
      if (e.version < x.first + x.hash.size()) continue;  // cannot happen: versions increase
      const std::size_t at = e.version - x.first;
      x.hash.resize(at + 1);
      x.position.resize(at + 1, 0);
      x.seen.resize(at + 1, 0);
      x.hash[at] = HexHash(e.chain_hash);
      x.position[at] = e.position;
      if ((e.position & 0xffff) == 0) progress.Update(e.position, head_ * 2);
    }
    if (!reader->status().ok()) return reader->status();
    progress.Done();
    return Status::Ok();
  }

  static std::string Where(const ShippedRecord& r) {
    return fmt::format("{}/{}@{}", r.topic, r.partition, r.offset);
  }

  void Match(const ShippedRecord& r) {
    if (r.position > head_) {
      // Kafka holds a position the store no longer has: its head went back (events it had
      // shipped were removed or lost). The chain cannot show this from inside the store.
      ++tally_.beyond_head;
      tally_.Note(
          fmt::format("{} version {} at position {} ({}) is in Kafka, but the store's "
                      "head is {}: the store lost events it had shipped",
                      r.stream, r.version, r.position, Where(r), head_));
      return;
    }
    auto it = streams_.find(r.stream);
    if (it != streams_.end() && r.version < it->second.first) {
      ++tally_.removed_here;  // retention removed it from the store; Kafka keeps its own retention
      return;
    }
    if (it == streams_.end() || r.version >= it->second.first + it->second.hash.size()) {
      ++tally_.unknown;
      tally_.Note(
          fmt::format("{} version {} ({}) is not in the store", r.stream, r.version, Where(r)));
      return;
    }
    StoredStream& x = it->second;
    const std::size_t i = r.version - x.first;
    if (x.hash[i].empty()) {
      ++tally_.removed_here;
      return;
    }
    if (r.chain_hash != x.hash[i]) {
      ++tally_.mismatched;
      tally_.Note(fmt::format("{} version {} ({}): chain hash {} differs from the store's {}",
                              r.stream, r.version, Where(r), r.chain_hash, x.hash[i]));
    }
    if (x.seen[i]) {
      ++tally_.duplicates;
      tally_.Note(fmt::format("{} version {} is in Kafka more than once ({})", r.stream, r.version,
                              Where(r)));
    } else {
      ++tally_.matched;
      std::uint64_t& top = highest_[r.stream];
      if (r.version < top) {
        ++tally_.out_of_order;
        tally_.Note(fmt::format("{} version {} comes after version {} ({})", r.stream, r.version,
                                top, Where(r)));
      }
      top = std::max<std::uint64_t>(top, r.version);
    }
    x.seen[i] = static_cast<std::uint8_t>(std::min(255, x.seen[i] + 1));
  }

  // Stored versions Kafka lacks: dead-lettered, not shipped yet, or missing.
  void FindMissing() {
    for (auto& [stream, x] : streams_) {
      for (std::size_t i = 0; i < x.seen.size(); ++i) {
        if (x.seen[i] || x.hash[i].empty()) continue;
        if (dead_positions_.count(x.position[i])) {
          ++tally_.dead;
        } else if (x.position[i] > shipped_) {
          ++tally_.not_yet;
        } else {
          ++tally_.missing;
          if (tally_.missing_by_stream[stream]++ == 0)
            tally_.Note(fmt::format("{} version {} (position {}) is not in Kafka", stream,
                                    x.first + i, x.position[i]));
        }
      }
    }
  }

  void Print(Format format, std::size_t messages, std::uint64_t foreign) const {
    const Tally& t = tally_;
    if (format == Format::kJson) {
      nlohmann::json j = {{"clean", t.clean()},
                          {"topics", topics_},
                          {"store_events", head_},
                          {"shipped_through", shipped_},
                          {"kafka_messages", messages},
                          {"foreign_messages", foreign},
                          {"matched", t.matched},
                          {"missing", t.missing},
                          {"duplicates", t.duplicates},
                          {"out_of_order", t.out_of_order},
                          {"hash_mismatches", t.mismatched},
                          {"unknown_to_store", t.unknown},
                          {"not_yet_shipped", t.not_yet},
                          {"dead_lettered", t.dead},
                          {"streams_missing_events", t.missing_by_stream.size()},
                          {"beyond_store_head", t.beyond_head},
                          {"removed_from_store", t.removed_here},
                          {"problems", t.problems}};
      std::cout << DumpJson(j, 2) << "\n";
      return;
    }
    fmt::print("store      {} events, shipped through {} (checkpoint '{}')\n", head_, shipped_,
               args_.checkpoint);
    fmt::print("kafka      {} cairn messages in {}{}\n", messages, fmt::join(topics_, ", "),
               foreign ? fmt::format(" (+{} without cairn headers, ignored)", foreign) : "");
    fmt::print("matched    {} events, in stream order, with the store's chain hashes\n", t.matched);
    fmt::print(
        "missing    {} (in {} streams)\nduplicates {}\nreordered  {}\nhash diffs {}\nunknown    "
        "{}\n",
        t.missing, t.missing_by_stream.size(), t.duplicates, t.out_of_order, t.mismatched,
        t.unknown);
    fmt::print("pending    {} not shipped yet, {} dead-lettered\n", t.not_yet, t.dead);
    if (t.removed_here)
      fmt::print("retained   {} in Kafka that retention removed from the store (not checked)\n",
                 t.removed_here);
    if (t.beyond_head)
      fmt::print("lost       {} in Kafka past the store's head {}: the store lost shipped events\n",
                 t.beyond_head, head_);
    fmt::print("{}\n", t.clean() ? "CLEAN" : "MISMATCH");
  }

  const ReconcileArgs& args_;
  std::vector<std::string> topics_;
  std::uint64_t head_ = 0;
  std::uint64_t shipped_ = 0;
  std::set<std::uint64_t> dead_positions_;
  std::map<std::string, StoredStream, std::less<>> streams_;
  std::map<std::string, std::uint64_t> highest_;  // the highest version matched per stream
  Tally tally_;
};

}  // namespace

int RunReconcile(const CommonOptions& common, const ReconcileArgs& args) {
  return Reconciliation(args).Run(common);
}

namespace {

class ReconcileCommand final : public CommandWith<ReconcileArgs, RunReconcile> {
 public:
  CLI::App* Add(CLI::App& app) override {
    cmd_ = app.add_subcommand("reconcile",
                              "Read the topics back and report events missing, duplicated, "
                              "reordered or altered in Kafka");
    cmd_->add_option("STORE", args_.store, "Store directory")->required();
    AddKafkaOptions(cmd_, args_.kafka);
    cmd_->add_option("--routes", args_.routes_file, "The routes file the shipper uses");
    cmd_->add_option("--default-topic", args_.default_topic, "As for ship")->capture_default_str();
    cmd_->add_option("--topic", args_.topics, "Read these topics instead (repeatable)");
    cmd_->add_option("--checkpoint", args_.checkpoint,
                     "Shipper checkpoint name: events past it count as not shipped yet")
        ->capture_default_str();
    cmd_->add_option("--format", args_.format, "text or json")->capture_default_str();
    cmd_->footer(
        "Exit 0 when Kafka holds exactly the shipped events, 7 when it does not.\n"
        "Example: cairn reconcile ./store -b localhost:9092 --routes routes.txt");
    return cmd_;
  }
};
CAIRN_TOOL_COMMAND(160, ReconcileCommand);

}  // namespace
}  // namespace cairn::tool
