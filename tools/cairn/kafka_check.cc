// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Reading shipped events back from Kafka for `reconcile` and the demo (kafka_check.h).
#include "kafka_check.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <tuple>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "ship/kafka.h"

namespace cairn::tool {
namespace {

std::string Header(rd_kafka_headers_t* hdrs, const char* name) {
  const void* value = nullptr;
  size_t size = 0;
  if (!hdrs || rd_kafka_header_get_last(hdrs, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return {};
  return std::string(static_cast<const char*>(value), size);
}

ShippedRecord ToShippedRecord(const rd_kafka_message_t& m) {
  rd_kafka_headers_t* hdrs = nullptr;
  rd_kafka_message_headers(&m, &hdrs);
  ShippedRecord r;
  r.stream = Header(hdrs, headers::kStream);
  r.version = std::strtoull(Header(hdrs, headers::kVersion).c_str(), nullptr, 10);
  r.position = std::strtoull(Header(hdrs, headers::kPosition).c_str(), nullptr, 10);
  r.chain_hash = Header(hdrs, headers::kChainHash);
  r.topic = rd_kafka_topic_name(m.rkt);
  r.partition = m.partition;
  r.offset = m.offset;
  return r;
}

}  // namespace

Result<std::vector<ShippedRecord>> ReadBack(
    const std::string& bootstrap_servers,
    const std::vector<std::pair<std::string, std::string>>& settings,
    const std::vector<std::string>& topics, std::uint64_t* foreign, int* open_transactions) {
  // The shipper's own consumer set-up (ship/kafka.h): the same settings filter and isolation.
  ship::ClientContext context;
  auto consumer =
      ship::NewReadCommittedConsumer(settings, bootstrap_servers, "cairn-delivery-check", &context);
  if (!consumer.ok()) return consumer.status();
  int unsettled = 0;
  auto ranges =
      ship::FindSettledPartitionRanges(settings, bootstrap_servers, &context, consumer->get(),
                                       topics, 10000, kTransactionSettleMs, &unsettled);
  if (!ranges.ok()) return ranges.status();
  if (open_transactions != nullptr) *open_transactions = unsettled;
  std::vector<ShippedRecord> records;
  *foreign = 0;
  Status s = ship::ReadRanges(
      consumer->get(), *ranges,
      [&](const rd_kafka_message_t& m) {
        ShippedRecord r = ToShippedRecord(m);
        if (r.stream.empty() || r.version == 0)
          ++*foreign;
        else
          records.push_back(std::move(r));
      },
      30000, "reading the topics back");
  if (!s.ok()) return s;
  std::stable_sort(
      records.begin(), records.end(), [](const ShippedRecord& a, const ShippedRecord& b) {
        return std::tie(a.topic, a.partition, a.offset) < std::tie(b.topic, b.partition, b.offset);
      });
  return records;
}

Result<DeliveryReport> CheckDelivery(
    const std::string& bootstrap_servers,
    const std::vector<std::pair<std::string, std::string>>& settings,
    const std::vector<std::string>& topics, const std::map<std::string, std::uint64_t>& expected) {
  std::uint64_t foreign = 0;
  auto records = ReadBack(bootstrap_servers, settings, topics, &foreign, nullptr);
  if (!records.ok()) return records.status();
  DeliveryReport report;
  report.messages = records->size() + foreign;
  std::map<std::string, std::vector<std::uint64_t>> seen;
  for (const ShippedRecord& r : *records) seen[r.stream].push_back(r.version);
  auto problem = [&](std::string what) {
    if (report.first_problem.empty()) report.first_problem = std::move(what);
  };
  report.streams = expected.size();
  for (const auto& [stream, last] : expected) {
    const auto it = seen.find(stream);
    const std::vector<std::uint64_t> empty;
    const auto& versions = it == seen.end() ? empty : it->second;
    std::uint64_t highest = 0;
    std::vector<bool> present(last + 1, false);
    for (std::uint64_t v : versions) {
      if (v == 0 || v > last) continue;
      if (present[v]) {
        ++report.duplicates;
        problem(fmt::format("{}: version {} more than once", stream, v));
      } else if (v < highest) {
        ++report.out_of_order;
        problem(fmt::format("{}: version {} after {}", stream, v, highest));
      }
      present[v] = true;
      highest = std::max(highest, v);
    }
    for (std::uint64_t v = 1; v <= last; ++v)
      if (!present[v]) {
        ++report.missing;
        problem(fmt::format("{}: version {} missing", stream, v));
      }
  }
  return report;
}

}  // namespace cairn::tool
