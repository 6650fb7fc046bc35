// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// An in-process Kafka cluster for tests and demos: librdkafka's mock cluster, a real
// Kafka-protocol broker on loopback TCP that any client (kcat, kafka-python, a JVM) can use,
// with fault injection. Not a production broker: it keeps about 5 MiB per partition (older
// messages are dropped), writes no transaction markers (read_committed consumers also see
// aborted messages) and forgets everything when destroyed. docs/shipping.md lists its limits.
// It lives in its own library, not libcairn: CMake's cairn::embedded_kafka, pkg-config's
// cairn-embedded-kafka.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn {

struct EmbeddedKafkaOptions {
  int brokers = 3;  // broker ids are 1..brokers
  // Topics created up front, with their partition counts. Others are created on first use
  // with the mock's default of 4 partitions.
  std::vector<std::pair<std::string, int>> topics;
};

// Thread-safety: every method may be called from any thread.
class EmbeddedKafka {
 public:
  static Result<std::unique_ptr<EmbeddedKafka>> Start(const EmbeddedKafkaOptions& options = {});

  // "127.0.0.1:port,..." for bootstrap.servers. Ports are ephemeral.
  const std::string& bootstrap_servers() const;
  int broker_count() const;

  Status CreateTopic(std::string_view topic, int partitions);
  // A broker that is down closes its connections and refuses new ones.
  Status SetBrokerDown(int broker_id);
  Status SetBrokerUp(int broker_id);
  Status SetAllBrokersDown();
  Status SetAllBrokersUp();
  // Moves a partition's leadership (clients must refresh metadata, as after a real election).
  Status SetPartitionLeader(std::string_view topic, int partition, int broker_id);
  // The next `count` requests of the given Kafka API (e.g. 0 = Produce) fail with the given
  // Kafka protocol error code (e.g. 6 = NOT_LEADER_FOR_PARTITION, 7 = REQUEST_TIMED_OUT).
  Status PushRequestErrors(int api_key, int count, int kafka_error_code);
  // Drops the errors still waiting for requests of that API.
  Status ClearRequestErrors(int api_key);
  // Adds round-trip latency to a broker's responses.
  Status SetBrokerRoundTrip(int broker_id, int milliseconds);

  ~EmbeddedKafka();
  EmbeddedKafka(const EmbeddedKafka&) = delete;
  EmbeddedKafka& operator=(const EmbeddedKafka&) = delete;

 private:
  // The implementation lives in src/; nothing of it is reachable from this header.
  class Impl;
  explicit EmbeddedKafka(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
