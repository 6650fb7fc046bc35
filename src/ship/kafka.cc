// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// librdkafka glue: configuration, the compacted checkpoint topic, and the one read_committed
// consumer set-up (kafka.h).
#include "ship/kafka.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include <fmt/format.h>

namespace cairn::ship {
namespace {

void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  auto* context = static_cast<ClientContext*>(rd_kafka_opaque(rk));
  if (!context || !context->logger) return;
  // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug. Connection failures ("FAIL")
  // are expected during an outage and reported through the shipper's status; keep them quiet.
  if (std::string_view(facility) == "FAIL" && level <= 4) level = 6;
  const auto lvl = level <= 3   ? spdlog::level::err
                   : level == 4 ? spdlog::level::warn
                   : level <= 6 ? spdlog::level::info
                                : spdlog::level::debug;
  context->logger->log(lvl, "kafka {}: {}", facility, message);
}

}  // namespace

Result<ConfPtr> MakeConf(const KafkaSettings& settings, ClientContext* context) {
  ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK)
      return Status::InvalidArgument(fmt::format("Kafka setting {}={}: {}", key, value, err));
  }
  rd_kafka_conf_set_opaque(conf.get(), context);
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  return conf;
}

std::string FindSetting(const KafkaSettings& settings, std::string_view key) {
  std::string value;
  for (const auto& [k, v] : settings)
    if (k == key) value = v;
  return value;
}

bool IsFencing(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__FENCED || err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

bool IsPermanentMessageError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:  // invalid topic name
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
      return true;
    default:
      return false;
  }
}

Status CreateCompactedTopic(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  // Most of the time it exists: ask the metadata first (some clusters, the mock among them,
  // have no controller to answer CreateTopics).
  {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    bool exists = false;
    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      exists = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
               md->topics[0].partition_cnt > 0;
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    if (exists) return Status::Ok();
  }
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), 1, -1, err, sizeof err);
  if (!nt) return Status::InvalidArgument(fmt::format("topic {}: {}", topic, err));
  rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, err, sizeof err);
  rd_kafka_CreateTopics(rk, &nt, 1, options, queue);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, timeout_ms + 1000);
  Status result;
  if (!ev) {
    result = Status::Unavailable(fmt::format("creating topic {}: no answer in time", topic));
  } else if (rd_kafka_event_error(ev)) {
    result = Status::Unavailable(
        fmt::format("creating topic {}: {}", topic, rd_kafka_event_error_string(ev)));
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        result = Status::Unavailable(fmt::format("creating topic {}: {}", topic,
                                                 rd_kafka_topic_result_error_string(results[i])));
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(nt);
  return result;
}

namespace {

Result<KafkaPtr> NewConsumer(const KafkaSettings& settings, const std::string& bootstrap_servers,
                             const std::string& group_id, ClientContext* context,
                             bool read_committed) {
  KafkaSettings consumer_settings;
  // Producer-only keys would make librdkafka warn (or refuse): keep the ones both kinds of
  // client accept.
  for (const auto& [k, v] : settings) {
    if (k.starts_with("bootstrap.servers") || k.starts_with("security.") ||
        k.starts_with("sasl.") || k.starts_with("ssl.") || k.starts_with("client.") ||
        k.starts_with("socket.") || k.starts_with("broker.") || k.starts_with("reconnect.") ||
        k.starts_with("debug") || k.starts_with("log_level") || k.starts_with("api.version"))
      consumer_settings.emplace_back(k, v);
  }
  if (!bootstrap_servers.empty())
    consumer_settings.emplace_back("bootstrap.servers", bootstrap_servers);
  consumer_settings.emplace_back("group.id", group_id);
  consumer_settings.emplace_back("enable.auto.commit", "false");
  consumer_settings.emplace_back("enable.partition.eof", "true");
  consumer_settings.emplace_back("isolation.level",
                                 read_committed ? "read_committed" : "read_uncommitted");
  auto conf = MakeConf(consumer_settings, context);
  if (!conf.ok()) return conf.status();
  char err[512];
  KafkaPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf->release(), err, sizeof err));
  if (!rk) return Status::InvalidArgument(fmt::format("Kafka consumer: {}", err));
  return rk;
}

}  // namespace

Result<KafkaPtr> NewReadCommittedConsumer(const KafkaSettings& settings,
                                          const std::string& bootstrap_servers,
                                          const std::string& group_id, ClientContext* context) {
  return NewConsumer(settings, bootstrap_servers, group_id, context, /*read_committed=*/true);
}

Result<std::vector<PartitionRange>> FindSettledPartitionRanges(
    const KafkaSettings& settings, const std::string& bootstrap_servers, ClientContext* context,
    rd_kafka_t* consumer, const std::vector<std::string>& topics, int timeout_ms, int settle_ms,
    int* unsettled) {
  *unsettled = 0;
  auto committed = FindPartitionRanges(consumer, topics, timeout_ms, /*keep_empty=*/true);
  if (!committed.ok()) return committed.status();
  // The high watermarks (the end a read_uncommitted reader is given) of the same partitions.
  auto uncommitted_reader =
      NewConsumer(settings, bootstrap_servers, "cairn-high-watermarks", context, false);
  if (!uncommitted_reader.ok()) return uncommitted_reader.status();
  std::vector<std::int64_t> high(committed->size());
  for (std::size_t i = 0; i < committed->size(); ++i) {
    const PartitionRange& r = (*committed)[i];
    std::int64_t low = 0;
    if (rd_kafka_query_watermark_offsets(uncommitted_reader->get(), r.topic.c_str(), r.partition,
                                         &low, &high[i], timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
      high[i] = r.high;  // unknown: nothing to wait for
  }
  const auto settle_by = std::chrono::steady_clock::now() + std::chrono::milliseconds(settle_ms);
  for (;;) {
    int open = 0;
    for (std::size_t i = 0; i < committed->size(); ++i) {
      PartitionRange& r = (*committed)[i];
      if (r.high >= high[i]) continue;
      std::int64_t low = 0, stable = 0;
      if (rd_kafka_query_watermark_offsets(consumer, r.topic.c_str(), r.partition, &low, &stable,
                                           timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
        r.high = std::max(r.high, stable);
      if (r.high < high[i]) ++open;
    }
    *unsettled = open;
    if (open == 0 || std::chrono::steady_clock::now() >= settle_by) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::erase_if(*committed, [](const PartitionRange& r) { return r.high <= r.low; });
  return committed;
}

Result<std::vector<PartitionRange>> FindPartitionRanges(rd_kafka_t* consumer,
                                                        const std::vector<std::string>& topics,
                                                        int timeout_ms, bool keep_empty) {
  std::vector<PartitionRange> ranges;
  for (const std::string& topic : topics) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(consumer, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t e = rd_kafka_metadata(consumer, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
      return Status::Unavailable(fmt::format("metadata for {}: {}", topic, rd_kafka_err2str(e)));
    const int n = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR
                      ? md->topics[0].partition_cnt
                      : 0;
    rd_kafka_metadata_destroy(md);
    for (int p = 0; p < n; ++p) {
      PartitionRange r{topic, p, 0, 0};
      e = rd_kafka_query_watermark_offsets(consumer, topic.c_str(), p, &r.low, &r.high, timeout_ms);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return Status::Unavailable(
            fmt::format("offsets of {}/{}: {}", topic, p, rd_kafka_err2str(e)));
      if (keep_empty || r.high > r.low) ranges.push_back(std::move(r));
    }
  }
  return ranges;
}

Status ReadRanges(rd_kafka_t* consumer, const std::vector<PartitionRange>& ranges,
                  const std::function<void(const rd_kafka_message_t&)>& on_record,
                  int idle_timeout_ms, std::string_view what) {
  if (ranges.empty()) return Status::Ok();
  rd_kafka_topic_partition_list_t* parts =
      rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size()));
  std::map<std::pair<std::string, int>, std::int64_t> open;  // partition -> high watermark
  for (const PartitionRange& r : ranges) {
    rd_kafka_topic_partition_list_add(parts, r.topic.c_str(), r.partition)->offset = r.low;
    open[{r.topic, r.partition}] = r.high;
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(consumer, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Status::Unavailable(fmt::format("{}: {}", what, rd_kafka_err2str(e)));
  Status result;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(idle_timeout_ms);
  while (!open.empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      result = Status::Unavailable(fmt::format("{}: no progress for {} ms", what, idle_timeout_ms));
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (!m) continue;
    deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(idle_timeout_ms);
    auto at = open.find({rd_kafka_topic_name(m->rkt), m->partition});
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (at != open.end()) open.erase(at);
    } else if (m->err) {
      result = Status::Unavailable(fmt::format("{}: {}", what, rd_kafka_message_errstr(m)));
      rd_kafka_message_destroy(m);
      break;
    } else {
      on_record(*m);
      // Past the last record there may be only a transaction marker: the EOF event ends such
      // a partition, this ends the others without waiting for it.
      if (at != open.end() && m->offset + 1 >= at->second) open.erase(at);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(consumer);
  return result;
}

Result<LastRecord> ReadLastRecord(const KafkaSettings& settings, ClientContext* context,
                                  const std::string& topic, std::string_view key, int timeout_ms) {
  auto rk = NewReadCommittedConsumer(settings, "", "cairn-checkpoint-reader", context);
  if (!rk.ok()) return rk.status();
  PartitionRange range{topic, 0, 0, 0};
  rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk->get(), topic.c_str(), 0, &range.low,
                                                           &range.high, timeout_ms);
  if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
    return LastRecord{};
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Status::Unavailable(
        fmt::format("reading checkpoint topic {}: {}", topic, rd_kafka_err2str(e)));
  LastRecord last;
  if (range.high <= range.low) return last;
  Status s = ReadRanges(
      rk->get(), {range},
      [&](const rd_kafka_message_t& m) {
        std::string_view k(static_cast<const char*>(m.key), m.key ? m.key_len : 0);
        if (k != key) return;
        last.found = true;
        last.value.assign(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
      },
      timeout_ms, fmt::format("reading checkpoint topic {}", topic));
  if (!s.ok()) return s;
  return last;
}

}  // namespace cairn::ship
