// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#include "kafka_check.h"

#include <chrono>
#include <algorithm>
#include <memory>
#include <tuple>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

namespace cairn::tool {
namespace {

struct Consumer {
  rd_kafka_t* rk = nullptr;
  ~Consumer() {
    if (rk) {
      rd_kafka_consumer_close(rk);
      rd_kafka_destroy(rk);
    }
  }
};

std::string Header(rd_kafka_headers_t* hdrs, const char* name) {
  const void* value = nullptr;
  size_t size = 0;
  if (!hdrs || rd_kafka_header_get_last(hdrs, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return {};
  return std::string(static_cast<const char*>(value), size);
}

}  // namespace

Result<std::vector<ShippedRecord>> ReadBack(
    const std::string& bootstrap_servers,
    const std::vector<std::pair<std::string, std::string>>& settings,
    const std::vector<std::string>& topics, std::uint64_t* foreign) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) {
    return rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK;
  };
  for (const auto& [k, v] : settings)
    if (k.starts_with("security.") || k.starts_with("sasl.") || k.starts_with("ssl.") ||
        k == "bootstrap.servers")
      set(k, v);
  if (!bootstrap_servers.empty()) set("bootstrap.servers", bootstrap_servers);
  set("group.id", "cairn-delivery-check");
  set("enable.auto.commit", "false");
  set("enable.partition.eof", "true");
  set("isolation.level", "read_committed");
  set("log_level", "0");
  Consumer c;
  c.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!c.rk) return Status::InvalidArgument(fmt::format("Kafka consumer: {}", err));

  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(16);
  int pending = 0;
  for (const std::string& topic : topics) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(c.rk, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t e = rd_kafka_metadata(c.rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_topic_partition_list_destroy(parts);
      return Status::Unavailable(fmt::format("metadata for {}: {}", topic, rd_kafka_err2str(e)));
    }
    const int n = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    for (int p = 0; p < n; ++p) {
      std::int64_t lo = 0, hi = 0;
      e = rd_kafka_query_watermark_offsets(c.rk, topic.c_str(), p, &lo, &hi, 10000);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(parts);
        return Status::Unavailable(
            fmt::format("offsets of {}/{}: {}", topic, p, rd_kafka_err2str(e)));
      }
      if (hi > lo) {
        rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = lo;
        ++pending;
      }
    }
  }
  rd_kafka_assign(c.rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);

  std::vector<ShippedRecord> records;
  *foreign = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (pending > 0) {
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Unavailable("reading the topics back: no progress for 30 s");
    rd_kafka_message_t* m = rd_kafka_consumer_poll(c.rk, 200);
    if (!m) continue;
    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      --pending;
    } else if (m->err) {
      std::string what = rd_kafka_message_errstr(m);
      rd_kafka_message_destroy(m);
      return Status::Unavailable("reading the topics back: " + what);
    } else {
      rd_kafka_headers_t* hdrs = nullptr;
      rd_kafka_message_headers(m, &hdrs);
      ShippedRecord r;
      r.stream = Header(hdrs, headers::kStream);
      const std::string version = Header(hdrs, headers::kVersion);
      r.version = std::strtoull(version.c_str(), nullptr, 10);
      r.position = std::strtoull(Header(hdrs, headers::kPosition).c_str(), nullptr, 10);
      r.chain_hash = Header(hdrs, headers::kChainHash);
      r.topic = rd_kafka_topic_name(m->rkt);
      r.partition = m->partition;
      r.offset = m->offset;
      if (r.stream.empty() || r.version == 0)
        ++*foreign;
      else
        records.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }

  std::stable_sort(records.begin(), records.end(), [](const ShippedRecord& a, const ShippedRecord& b) {
    return std::tie(a.topic, a.partition, a.offset) < std::tie(b.topic, b.partition, b.offset);
  });
  return records;
}

Result<DeliveryReport> CheckDelivery(const std::string& bootstrap_servers,
                                     const std::vector<std::pair<std::string, std::string>>& settings,
                                     const std::vector<std::string>& topics,
                                     const std::map<std::string, std::uint64_t>& expected) {
  std::uint64_t foreign = 0;
  auto records = ReadBack(bootstrap_servers, settings, topics, &foreign);
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
