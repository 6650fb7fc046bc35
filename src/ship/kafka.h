// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Small helpers over librdkafka's C API, shared by the shipper and the tool.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <spdlog/logger.h>

#include "cairn/status.h"

namespace cairn::ship {

using KafkaSettings = std::vector<std::pair<std::string, std::string>>;

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

// The opaque of every handle cairn makes: where librdkafka's log goes and who owns the handle
// (for callbacks). Must outlive the handle.
struct ClientContext {
  spdlog::logger* logger = nullptr;
  void* owner = nullptr;
};

// A configuration with `settings` applied in order; an unknown key or bad value is
// kInvalidArgument naming the key. librdkafka's log and errors go to context->logger.
Result<ConfPtr> MakeConf(const KafkaSettings& settings, ClientContext* context);

// The value of `key` in `settings` (the last one wins, as librdkafka applies them), or empty.
std::string FindSetting(const KafkaSettings& settings, std::string_view key);

// Errors that retrying the same message can never fix: it must go to the dead letters.
bool IsPermanentMessageError(rd_kafka_resp_err_t err);
// A transactional producer's fatal error saying another producer took over its
// transactional.id.
bool IsFencing(rd_kafka_resp_err_t err);

// Creates `topic` as a compacted topic with one partition unless it exists. Failures other
// than "already exists" are returned (the caller may carry on if the broker auto-creates).
Status CreateCompactedTopic(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

// The one consumer set-up of cairn (the shipper's checkpoint read, the tool's reconcile and
// delivery check): a consumer reading by assignment, never joining or committing to a group,
// with isolation.level=read_committed and partition EOF events. Of `settings` it takes only
// what a consumer accepts (connection, security, client and logging settings), so a
// producer's configuration can be passed as it is; `bootstrap_servers`, when not empty,
// overrides theirs. A bad setting is kInvalidArgument naming it.
Result<KafkaPtr> NewReadCommittedConsumer(const KafkaSettings& settings,
                                          const std::string& bootstrap_servers,
                                          const std::string& group_id, ClientContext* context);

// A partition's records to read: [low, high) as the watermarks gave them.
struct PartitionRange {
  std::string topic;
  int partition = 0;
  std::int64_t low = 0;
  std::int64_t high = 0;
};

// The non-empty partitions of `topics` (every partition with keep_empty) and their
// watermarks, as the consumer's isolation level gives them; a topic that does not exist has
// none. kUnavailable naming the topic when the brokers do not answer within timeout_ms.
Result<std::vector<PartitionRange>> FindPartitionRanges(rd_kafka_t* consumer,
                                                        const std::vector<std::string>& topics,
                                                        int timeout_ms, bool keep_empty = false);

// FindPartitionRanges for a read_committed `consumer`, once the transactions open when it is
// called have ended. A committed transaction's markers reach its partitions after
// commit_transaction has returned (the coordinator writes them afterwards), and until they do
// the partition's last stable offset — the end a read_committed reader is given — stays below
// the transaction: `cairn reconcile` run just after an exactly-once shipper called the last
// events missing. So each partition's end is read again, for up to settle_ms, until it reaches
// the high watermark the partition had at the call. *unsettled: the partitions still short of
// it then (a transaction left open, e.g. by a killed shipper, until transaction.timeout.ms).
Result<std::vector<PartitionRange>> FindSettledPartitionRanges(
    const KafkaSettings& settings, const std::string& bootstrap_servers, ClientContext* context,
    rd_kafka_t* consumer, const std::vector<std::string>& topics, int timeout_ms, int settle_ms,
    int* unsettled);

// Reads every range from its low watermark to its end, calling on_record for each record.
// kUnavailable (naming `what`) on a consume error or when no record comes for
// idle_timeout_ms.
Status ReadRanges(rd_kafka_t* consumer, const std::vector<PartitionRange>& ranges,
                  const std::function<void(const rd_kafka_message_t&)>& on_record,
                  int idle_timeout_ms, std::string_view what);

// The last record with key `key` in partition 0 of `topic`, read with isolation.level =
// read_committed; found=false when there is none.
struct LastRecord {
  bool found = false;
  std::string value;
};
Result<LastRecord> ReadLastRecord(const KafkaSettings& settings, ClientContext* context,
                                  const std::string& topic, std::string_view key, int timeout_ms);

}  // namespace cairn::ship
