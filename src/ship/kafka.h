// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Small helpers over librdkafka's C API, shared by the shipper and the tool.
#pragma once

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

// Creates `topic` as a compacted topic with one partition unless it exists. Failures other
// than "already exists" are returned (the caller may carry on if the broker auto-creates).
Status CreateCompactedTopic(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

// The last record with key `key` in partition 0 of `topic`, read with isolation.level =
// read_committed; std::nullopt-like empty string with found=false when there is none.
struct LastRecord {
  bool found = false;
  std::string value;
};
Result<LastRecord> ReadLastRecord(const KafkaSettings& settings, ClientContext* context,
                                  const std::string& topic, std::string_view key, int timeout_ms);

}  // namespace cairn::ship
