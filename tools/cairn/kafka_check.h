// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Reads topics back from Kafka and checks them against a store: the demo's proof that every
// event arrived, in stream order, once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cairn/cairn.h"

namespace cairn::tool {

struct DeliveryReport {
  std::uint64_t messages = 0;      // read from the topics
  std::uint64_t streams = 0;       // streams expected
  std::uint64_t missing = 0;       // versions never seen
  std::uint64_t duplicates = 0;    // versions seen more than once
  std::uint64_t out_of_order = 0;  // a version seen after a later one
  std::string first_problem;       // e.g. "order-7: version 4 missing"
  // At-least-once allows re-delivery (duplicates); a missing or reordered version is never
  // allowed.
  bool ok(bool allow_duplicates) const {
    return missing == 0 && out_of_order == 0 && (allow_duplicates || duplicates == 0);
  }
};

// One cairn message read back from Kafka.
struct ShippedRecord {
  std::string stream;  // cairn.stream header
  std::uint64_t version = 0;
  std::uint64_t position = 0;
  std::string chain_hash;  // cairn.chain_hash header
  std::string topic;
  int partition = 0;
  std::int64_t offset = 0;
};

// How long ReadBack waits for the transactions open when it starts to end (their commit
// markers to land) before it reads what is committed by then.
inline constexpr int kTransactionSettleMs = 10000;

// Every message of `topics` (all partitions, start to end, read_committed), in topic,
// partition, offset order, once the transactions open at the start have ended (up to
// kTransactionSettleMs; *open_transactions, when given: the partitions whose transaction was
// still open then). Messages without cairn headers are counted in *foreign.
Result<std::vector<ShippedRecord>> ReadBack(
    const std::string& bootstrap_servers,
    const std::vector<std::pair<std::string, std::string>>& settings,
    const std::vector<std::string>& topics, std::uint64_t* foreign, int* open_transactions);

// Reads every partition of `topics` from its start to its end and compares each stream's
// versions (cairn.stream and cairn.version headers, in offset order) with `expected`
// (stream -> last version).
Result<DeliveryReport> CheckDelivery(
    const std::string& bootstrap_servers,
    const std::vector<std::pair<std::string, std::string>>& settings,
    const std::vector<std::string>& topics, const std::map<std::string, std::uint64_t>& expected);

}  // namespace cairn::tool
