// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The shipper against Kafka: the embedded mock cluster (3 brokers) by default, a real cluster
// when KAFKA_BOOTSTRAP_SERVERS is set. How each test accounts for the mock's limits:
// - volumes stay far under the mock's ~5 MiB per partition (a few hundred KiB per test);
// - an idempotent producer may duplicate on the mock when responses are lost, so tests that
//   inject faults in at-least-once mode allow duplicates but never a gap or a step backwards;
// - the mock writes no transaction markers, so exactly-once checks count an event as committed
//   only when its transaction's checkpoint record (same cairn.txn tag) is in the checkpoint
//   topic — on a real cluster read_committed hides aborted data and the rule changes nothing.
#include <map>
#include <set>
#include <thread>

#include "cairn/shipper.h"
#include "kafka_test_util.h"
#include "ship/client_config.h"
#include "ship/routing.h"

namespace cairn::testing {
namespace {

using namespace std::chrono_literals;

// The Java client's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), written from its
// definition, so the test checks partitions against what a Java producer would choose.
std::int32_t JavaMurmur2(std::string_view data) {
  const std::uint32_t m = 0x5bd1e995;
  const int r = 24;
  const std::size_t length = data.size();
  std::uint32_t h = 0x9747b28c ^ static_cast<std::uint32_t>(length);
  const std::size_t blocks = length / 4;
  for (std::size_t i = 0; i < blocks; ++i) {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data()) + i * 4;
    std::uint32_t k = p[0] | p[1] << 8 | p[2] << 16 | static_cast<std::uint32_t>(p[3]) << 24;
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const auto* tail = reinterpret_cast<const unsigned char*>(data.data()) + blocks * 4;
  switch (length % 4) {
    case 3:
      h ^= static_cast<std::uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<std::uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= tail[0];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<std::int32_t>(h);
}

int JavaPartition(std::string_view key, int partitions) {
  return static_cast<int>((JavaMurmur2(key) & 0x7fffffff) % partitions);
}

ShipperOptions BaseOptions(const TestKafka& kafka) {
  ShipperOptions o;
  o.bootstrap_servers = kafka.bootstrap();
  o.default_topic = kafka.Topic("events");
  o.routes = {{RouteRule::Match::kCategory, "order", kafka.Topic("order-events")},
              {RouteRule::Match::kTypePrefix, "Customer", kafka.Topic("customer-events")}};
  o.log_level = LogLevel::kError;
  return o;
}

std::vector<std::pair<std::string, int>> Topics() {
  return {{"events", 3}, {"order-events", 6}, {"customer-events", 4}, {"dead-letters", 1}};
}

// Appends `per_stream` events to each of `streams` streams, interleaved, and returns the
// expected count.
std::uint64_t AppendInterleaved(Store& store, int streams, int per_stream, int first_version = 1) {
  std::uint64_t n = 0;
  for (int v = first_version; v < first_version + per_stream; ++v) {
    for (int s = 0; s < streams; ++s) {
      std::string stream = (s % 3 == 0   ? "order-"
                            : s % 3 == 1 ? "customer-"
                                         : "cart-") +
                           std::to_string(s);
      EventData e = Event(s % 3 == 1 ? "CustomerUpdated" : "ThingHappened",
                          R"({"stream":")" + stream + R"(","v":)" + std::to_string(v) + "}");
      e.content_type = "application/json";
      auto r = store.Append(stream, ExpectedVersion::Exact(v - 1), e);
      EXPECT_THAT(r, IsOk());
      ++n;
    }
  }
  return n;
}

struct Shipped {
  // stream -> versions in the order Kafka holds them (by partition offset).
  std::map<std::string, std::vector<std::uint64_t>> versions;
  std::map<std::string, std::set<int>> partitions;
  std::size_t messages = 0;
};

Shipped Collect(const TestKafka& kafka, const std::vector<std::string>& topics,
                const std::set<std::string>* committed_txns = nullptr) {
  Shipped out;
  for (const std::string& topic : topics) {
    auto msgs = kafka.ReadAll(topic, committed_txns != nullptr);
    std::sort(msgs.begin(), msgs.end(), [](const KafkaMessage& a, const KafkaMessage& b) {
      return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
    });
    for (const KafkaMessage& m : msgs) {
      if (committed_txns && !committed_txns->count(m.headers.at("cairn.txn"))) continue;
      out.versions[m.key].push_back(std::stoull(m.headers.at("cairn.version")));
      out.partitions[m.key].insert(m.partition);
      ++out.messages;
    }
  }
  return out;
}

// Every stream has versions 1..expected[stream], in order. With `allow_duplicates`, a version
// may repeat (at-least-once) but the sequence never skips ahead or goes back past a version
// not yet seen.
void ExpectComplete(const Shipped& shipped, const std::map<std::string, std::uint64_t>& expected,
                    bool allow_duplicates) {
  EXPECT_EQ(shipped.versions.size(), expected.size());
  for (const auto& [stream, last] : expected) {
    auto it = shipped.versions.find(stream);
    ASSERT_NE(it, shipped.versions.end()) << stream << " never reached Kafka";
    std::uint64_t highest = 0;
    for (std::uint64_t v : it->second) {
      if (v <= highest) {
        EXPECT_TRUE(allow_duplicates) << stream << ": version " << v << " after " << highest;
        continue;
      }
      ASSERT_EQ(v, highest + 1) << stream << ": gap or reorder in "
                                << ::testing::PrintToString(it->second);
      highest = v;
    }
    EXPECT_EQ(highest, last) << stream;
    EXPECT_EQ(shipped.partitions.at(stream).size(), 1u) << stream << " spans partitions";
  }
}

std::map<std::string, std::uint64_t> ExpectedVersions(Store& store) {
  std::map<std::string, std::uint64_t> out;
  auto streams = store.ListStreams("");
  EXPECT_THAT(streams, IsOk());
  for (const auto& s : *streams) out[s.stream] = s.last_version;
  return out;
}

std::set<std::string> CommittedTxns(const TestKafka& kafka, const std::string& topic) {
  std::set<std::string> txns;
  for (const KafkaMessage& m : kafka.ReadAll(topic, true)) {
    auto pos = m.value.find("\"txn\":\"");
    if (pos == std::string::npos) continue;
    auto end = m.value.find('"', pos + 7);
    txns.insert(m.value.substr(pos + 7, end - pos - 7));
  }
  return txns;
}

// GTEST_SKIP leaves only the function it is in, so this is a macro: it ends the test.
#define CAIRN_REQUIRE_MOCK()                                                                    \
  do {                                                                                          \
    if (kafka_.real()) GTEST_SKIP() << "needs injected request errors: the embedded mock only"; \
  } while (0)

class ShipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.Sub("store"));
    ASSERT_NE(store_, nullptr);
  }
  std::vector<std::string> EventTopics() const {
    return {kafka_.Topic("events"), kafka_.Topic("order-events"), kafka_.Topic("customer-events")};
  }
  ShipperOptions ExactlyOnceOptions() const {
    ShipperOptions o = BaseOptions(kafka_);
    o.mode = DeliveryMode::kExactlyOnce;
    o.checkpoint_topic = kafka_.Topic("cairn-checkpoints");
    return o;
  }
  // Kafka's committed data (events whose transaction has a checkpoint record) holds each of
  // the store's `n` events exactly once, every stream complete and in order.
  void ExpectExactlyOnceInKafka(std::uint64_t n) {
    const auto txns = CommittedTxns(kafka_, kafka_.Topic("cairn-checkpoints"));
    Shipped shipped = Collect(kafka_, EventTopics(), &txns);
    EXPECT_EQ(shipped.messages, n);
    ExpectComplete(shipped, ExpectedVersions(*store_), false);
  }

  // Appends one event to each of 4 streams every 100 ms (at most 10 s) until `shipper` fails:
  // it must have stopped because it was fenced, and say so. *n counts the events.
  void AppendUntilItStopsFenced(Shipper& shipper, std::uint64_t* n) {
    for (int i = 0; i < 100 && shipper.GetStatus().state != ShipperState::kFailed; ++i) {
      *n += AppendInterleaved(*store_, 4, 1, static_cast<int>(*n / 4) + 1);
      std::this_thread::sleep_for(100ms);
    }
    const ShipperStatus st = shipper.GetStatus();
    EXPECT_EQ(st.state, ShipperState::kFailed);
    EXPECT_THAT(st.last_error, ::testing::HasSubstr("fenced"));
    EXPECT_THAT(S(shipper.Stop()), StatusIs(StatusCode::kFailedPrecondition));
  }

  TempDir dir_;
  TestKafka kafka_{Topics()};
  std::unique_ptr<Store> store_;
};

TEST_F(ShipTest, ShipsEveryEventOnceInStreamOrderWithHeaders) {
  const std::uint64_t n = AppendInterleaved(*store_, 30, 20);
  auto shipper = Shipper::Start(*store_, BaseOptions(kafka_));
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());

  Shipped shipped = Collect(kafka_, EventTopics());
  EXPECT_EQ(shipped.messages, n);
  ExpectComplete(shipped, ExpectedVersions(*store_), /*allow_duplicates=*/false);

  // Routing, keys, Java-compatible partitions, headers and values, event by event.
  const std::string store_id = store_->GetInfo().store_id;
  std::size_t checked = 0;
  for (const std::string& topic : EventTopics()) {
    const int partitions = topic == kafka_.Topic("order-events")      ? 6
                           : topic == kafka_.Topic("customer-events") ? 4
                                                                      : 3;
    for (const KafkaMessage& m : kafka_.ReadAll(topic)) {
      auto e = store_->ReadEvent(std::stoull(m.headers.at("cairn.position")));
      ASSERT_THAT(e, IsOk());
      EXPECT_EQ(m.key, e->stream);
      EXPECT_EQ(m.value, e->payload);
      EXPECT_EQ(m.headers.at("cairn.event_id"), e->id.ToString());
      EXPECT_EQ(m.headers.at("cairn.type"), e->type);
      EXPECT_EQ(m.headers.at("cairn.stream"), e->stream);
      EXPECT_EQ(m.headers.at("cairn.version"), std::to_string(e->version));
      EXPECT_EQ(m.headers.at("cairn.timestamp_us"), std::to_string(e->timestamp_us));
      EXPECT_EQ(m.headers.at("content-type"), "application/json");
      EXPECT_EQ(m.headers.at("cairn.store_id"), store_id);
      EXPECT_EQ(m.headers.at("cairn.chain_hash"), HexHash(e->chain_hash));
      const std::string want_topic = e->stream.starts_with("order-") ? kafka_.Topic("order-events")
                                     : e->type.starts_with("Customer")
                                         ? kafka_.Topic("customer-events")
                                         : kafka_.Topic("events");
      EXPECT_EQ(topic, want_topic) << e->stream;
      if (!kafka_.real()) EXPECT_EQ(m.partition, JavaPartition(m.key, partitions)) << m.key;
      ++checked;
    }
  }
  EXPECT_EQ(checked, n);
  // The shipped-through position is a checkpoint in the store.
  EXPECT_EQ(*store_->LoadCheckpoint("shipper"), n);
}

TEST_F(ShipTest, ShipsStoredBytesWithTheirSchemaVersionNotUpcastOnes) {
  store_.reset();
  StoreOptions so = QuietOptions();
  so.upcasters.push_back({"OrderPlaced", 1, [](const RecordedEvent&) -> Result<std::string> {
                            return std::string("{\"upcast\":true}");
                          }});
  store_ = OpenOrDie(dir_.Sub("store"), so);
  EventData v1 = Event("OrderPlaced", "{\"v\":1}");
  EventData v2 = Event("OrderPlaced", "{\"v\":2}");
  v2.schema_version = 2;
  ASSERT_THAT(
      store_->Append("order-1", ExpectedVersion::NoStream(), std::vector<EventData>{v1, v2}),
      IsOk());
  auto shipper = Shipper::Start(*store_, BaseOptions(kafka_));
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(2, 30s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  auto messages = kafka_.ReadAll(kafka_.Topic("order-events"));
  ASSERT_EQ(messages.size(), 2u);
  std::sort(messages.begin(), messages.end(), [](const auto& a, const auto& b) {
    return a.headers.at("cairn.position") < b.headers.at("cairn.position");
  });
  EXPECT_EQ(messages[0].value, "{\"v\":1}");
  EXPECT_EQ(messages[0].headers.count("cairn.schema_version"), 0u);
  EXPECT_EQ(messages[1].value, "{\"v\":2}");
  EXPECT_EQ(messages[1].headers.at("cairn.schema_version"), "2");
}

TEST_F(ShipTest, SpringTypeHeaderAndEnvelopeValues) {
  AppendInterleaved(*store_, 2, 3);
  ShipperOptions o = BaseOptions(kafka_);
  o.type_header = "__TypeId__";
  o.value_format = ValueFormat::kEnvelope;
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(6, 30s)), IsOk());
  (*shipper).reset();
  auto msgs = kafka_.ReadAll(kafka_.Topic("order-events"));
  ASSERT_EQ(msgs.size(), 3u);
  for (const auto& m : msgs) {
    EXPECT_EQ(m.headers.at("__TypeId__"), "ThingHappened");
    EXPECT_EQ(m.headers.count("cairn.type"), 0u);
    // The value is the stored envelope: format byte 1, then CRC and the FlatBuffer.
    ASSERT_GT(m.value.size(), 8u);
    EXPECT_EQ(m.value[0], 1);
  }
}

TEST_F(ShipTest, AppendsGoOnWhileEveryBrokerIsDownAndShippingResumes) {
  CAIRN_REQUIRE_MOCK();
  auto shipper = Shipper::Start(*store_, BaseOptions(kafka_));
  ASSERT_THAT(shipper, IsOk());
  std::uint64_t n = AppendInterleaved(*store_, 12, 10);
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());

  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersDown()), IsOk());
  // Appends during the outage never wait on Kafka.
  n += AppendInterleaved(*store_, 12, 40, 11);
  std::this_thread::sleep_for(3s);
  ShipperStatus during = (*shipper)->GetStatus();
  EXPECT_EQ(during.head_position, n);
  EXPECT_GT(during.lag_events, 0u);
  EXPECT_LT(during.shipped_through, n);
  EXPECT_GT(during.lag_seconds, 1.0);

  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersUp()), IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 60s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  // Idempotent producer on the mock: duplicates are possible when responses were lost.
  ExpectComplete(Collect(kafka_, EventTopics()), ExpectedVersions(*store_), true);
}

// An outage is not a stall: with every broker down nothing answers, so the stall watchdog
// (stall_timeout) must leave the producer alone however long its events wait.
TEST_F(ShipTest, AnOutageLongerThanTheStallTimeoutRewindsNothing) {
  CAIRN_REQUIRE_MOCK();
  ShipperOptions o = BaseOptions(kafka_);
  o.stall_timeout = 1s;
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  std::uint64_t n = AppendInterleaved(*store_, 6, 10);
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());
  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersDown()), IsOk());
  n += AppendInterleaved(*store_, 6, 10, 11);
  std::this_thread::sleep_for(5s);
  EXPECT_LT((*shipper)->shipped_through(), n);
  EXPECT_EQ((*shipper)->GetStatus().rewinds, 0u) << (*shipper)->GetStatus().last_error;
  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersUp()), IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 60s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  ExpectComplete(Collect(kafka_, EventTopics()), ExpectedVersions(*store_), true);
}

// The brokers answer, yet the producer never gets a producer id: every InitProducerId is
// refused with COORDINATOR_LOAD_IN_PROGRESS, which librdkafka retries every 500 ms without
// end, as CI once saw a real cluster do after all its brokers restarted (faults_test.sh
// outage). The watchdog must replace the producer; with it off, nothing moves.
TEST_F(ShipTest, AProducerStalledWhileTheBrokersAnswerIsReplaced) {
  CAIRN_REQUIRE_MOCK();
  constexpr int kInitProducerId = 22, kCoordinatorLoadInProgress = 14;
  const std::uint64_t n = AppendInterleaved(*store_, 6, 10);
  {
    ShipperOptions off = BaseOptions(kafka_);
    off.stall_timeout = 0ms;
    off.drain_timeout = 500ms;  // its events can never be delivered
    ASSERT_THAT(
        S(kafka_.mock()->PushRequestErrors(kInitProducerId, 100000, kCoordinatorLoadInProgress)),
        IsOk());
    auto shipper = Shipper::Start(*store_, off);
    ASSERT_THAT(shipper, IsOk());
    std::this_thread::sleep_for(4s);
    EXPECT_EQ((*shipper)->shipped_through(), 0u);
    EXPECT_EQ((*shipper)->GetStatus().rewinds, 0u);
    ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  }
  ShipperOptions o = BaseOptions(kafka_);
  o.stall_timeout = 2s;
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  ShipperStatus status;
  for (int i = 0; i < 150 && status.rewinds == 0; ++i) {
    std::this_thread::sleep_for(100ms);
    status = (*shipper)->GetStatus();
  }
  EXPECT_GE(status.rewinds, 1u) << "the stalled producer was never replaced";
  EXPECT_THAT(status.last_error, ::testing::HasSubstr("stalled"));
  EXPECT_EQ(status.shipped_through, 0u);
  // The brokers hand out producer ids again: every event ships, once, in order.
  ASSERT_THAT(S(kafka_.mock()->ClearRequestErrors(kInitProducerId)), IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  ExpectComplete(Collect(kafka_, EventTopics()), ExpectedVersions(*store_), false);
}

TEST_F(ShipTest, TheBacklogQuotaHoldsAppendsDuringAnOutageAndReleasesThemAfter) {
  CAIRN_REQUIRE_MOCK();
  store_.reset();
  StoreOptions so = QuietOptions();
  so.backlog_quota.max_events = 500;
  so.backlog_quota.policy = BacklogQuota::Policy::kReject;
  store_ = OpenOrDie(dir_.Sub("store"), so);
  auto shipper = Shipper::Start(*store_, BaseOptions(kafka_));
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersDown()), IsOk());
  std::uint64_t accepted = 0;
  Status refused;
  for (int i = 0; i < 2000 && refused.ok(); ++i) {
    auto r = store_->Append("order-" + std::to_string(i % 7), ExpectedVersion::Any(),
                            Event("OrderPlaced"));
    if (r.ok())
      ++accepted;
    else
      refused = r.status();
  }
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(accepted, 500u);  // nothing was shipped: exactly the quota
  EXPECT_THAT((*shipper)->PrometheusMetrics(),
              ::testing::HasSubstr("cairn_shipper_backlog_quota_used_ratio 1\n"));
  EXPECT_EQ((*shipper)->GetStatus().backlog.rejected_appends, 1u);

  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersUp()), IsOk());
  // The quota frees as the checkpoint moves: appends go through again.
  bool stored = false;
  for (int i = 0; i < 200 && !stored; ++i) {
    stored = store_->Append("order-1", ExpectedVersion::Any(), Event("OrderPlaced")).ok();
    if (!stored) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(stored);
  const std::uint64_t n = store_->GetInfo().last_position;
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 60s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  ExpectComplete(Collect(kafka_, EventTopics()), ExpectedVersions(*store_), true);
}

TEST_F(ShipTest, InjectedProduceErrorsLoseNothing) {
  CAIRN_REQUIRE_MOCK();
  ShipperOptions o = BaseOptions(kafka_);
  // One request in flight per broker: the mock does not check an idempotent producer's
  // sequence numbers, so with two in flight it accepts the second after failing the first
  // (a real broker answers OUT_OF_ORDER_SEQUENCE_NUMBER), and librdkafka then counts the
  // failed batch as implicitly acknowledged — a loss made by the mock, seen in debug logs
  // ("implicitly acked by subsequent batch success"). Leader moves can put two requests for a
  // partition in flight on two brokers, so they are tested in exactly-once mode below.
  o.kafka_config = {
      {"message.timeout.ms", "3000"}, {"retry.backoff.ms", "20"}, {"max.in.flight", "1"}};
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  std::uint64_t n = 0;
  for (int round = 0; round < 6; ++round) {
    // Produce (API key 0): retriable errors while events keep coming.
    ASSERT_THAT(S(kafka_.mock()->PushRequestErrors(0, 3, 6 /*NOT_LEADER_OR_FOLLOWER*/)), IsOk());
    ASSERT_THAT(S(kafka_.mock()->PushRequestErrors(0, 2, 7 /*REQUEST_TIMED_OUT*/)), IsOk());
    n += AppendInterleaved(*store_, 9, 5, round * 5 + 1);
  }
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 60s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  ExpectComplete(Collect(kafka_, EventTopics()), ExpectedVersions(*store_), true);
}

TEST_F(ShipTest, LeaderChangesAndProduceErrorsLoseNothingExactlyOnce) {
  CAIRN_REQUIRE_MOCK();
  ShipperOptions o = ExactlyOnceOptions();
  o.kafka_config = {{"retry.backoff.ms", "20"}};
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  std::uint64_t n = 0;
  for (int round = 0; round < 6; ++round) {
    ASSERT_THAT(S(kafka_.mock()->PushRequestErrors(0, 2, 6 /*NOT_LEADER_OR_FOLLOWER*/)), IsOk());
    n += AppendInterleaved(*store_, 9, 5, round * 5 + 1);
    // Every order partition's leader moves, as after a broker restart.
    for (int p = 0; p < 6; ++p)
      ASSERT_THAT(S(kafka_.mock()->SetPartitionLeader(kafka_.Topic("order-events"), p,
                                                      1 + (round + p) % 3)),
                  IsOk());
  }
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 60s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  ExpectExactlyOnceInKafka(n);
}

TEST_F(ShipTest, MessageTimeoutRewindsToTheCheckpointAndReproduces) {
  CAIRN_REQUIRE_MOCK();
  ShipperOptions o = BaseOptions(kafka_);
  // Messages time out while the brokers are down: the shipper must rewind, not drop them.
  o.kafka_config = {{"message.timeout.ms", "1000"}};
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersDown()), IsOk());
  const std::uint64_t n = AppendInterleaved(*store_, 6, 10);
  std::this_thread::sleep_for(3s);
  EXPECT_GT((*shipper)->GetStatus().rewinds, 0u);
  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersUp()), IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 60s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  ExpectComplete(Collect(kafka_, EventTopics()), ExpectedVersions(*store_), true);
}

TEST_F(ShipTest, OversizedEventIsDeadLetteredItsStreamHeldOthersFlow) {
  ShipperOptions o = BaseOptions(kafka_);
  o.kafka_config = {{"message.max.bytes", "20000"}};
  o.dead_letter_topic = kafka_.Topic("dead-letters");
  AppendInterleaved(*store_, 6, 3);  // versions 1..3 of six streams
  // order-0 version 4 is too large for the topic; later order-0 events must wait behind it.
  ASSERT_THAT(
      store_->Append("order-0", ExpectedVersion::Exact(3), Event("Huge", std::string(50000, 'x'))),
      IsOk());
  for (int v = 5; v <= 6; ++v)
    ASSERT_THAT(store_->Append("order-0", ExpectedVersion::Exact(v - 1), Event("After")), IsOk());
  for (int s = 1; s < 6; ++s) {
    const std::string stream = (s % 3 == 1   ? "customer-"
                                : s % 3 == 2 ? "cart-"
                                             : "order-") +
                               std::to_string(s);
    for (int v = 4; v <= 5; ++v)
      ASSERT_THAT(store_->Append(stream, ExpectedVersion::Exact(v - 1),
                                 Event(s % 3 == 1 ? "CustomerUpdated" : "ThingHappened")),
                  IsOk());
  }
  const std::uint64_t head = store_->GetInfo().last_position;

  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(head, 30s)), IsOk());
  const std::uint64_t dead_letters = (*shipper)->GetStatus().dead_letters;
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());

  auto dead = store_->ListDeadLetters();
  ASSERT_THAT(dead, IsOk());
  std::string listed;
  for (const auto& d : *dead)
    listed += d.stream + " v" + std::to_string(d.version) + ": " + d.error + "\n";
  ASSERT_EQ(dead->size(), 3u) << listed;
  EXPECT_EQ(dead_letters, 3u);
  EXPECT_EQ((*dead)[0].stream, "order-0");
  EXPECT_EQ((*dead)[0].version, 4u);
  EXPECT_EQ((*dead)[0].held_behind, 0u);
  EXPECT_THAT((*dead)[0].error, ::testing::HasSubstr("too large"));
  EXPECT_EQ((*dead)[0].destination, kafka_.Topic("order-events"));
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ((*dead)[i].stream, "order-0");
    EXPECT_EQ((*dead)[i].version, 4u + i);
    EXPECT_EQ((*dead)[i].held_behind, (*dead)[0].position);
  }

  Shipped shipped = Collect(kafka_, EventTopics());
  auto expected = ExpectedVersions(*store_);
  expected["order-0"] = 3;  // held from version 4 on
  ExpectComplete(shipped, expected, false);

  auto dlt = kafka_.ReadAll(kafka_.Topic("dead-letters"));
  ASSERT_EQ(dlt.size(), 3u);
  EXPECT_EQ(dlt[0].headers.at("cairn.error_code"), "MSG_SIZE_TOO_LARGE");
  EXPECT_EQ(dlt[0].headers.at("cairn.version"), "4");
  EXPECT_TRUE(dlt[0].value.empty());  // the payload did not fit the first time either
  EXPECT_EQ(dlt[1].headers.at("cairn.error_code"), "held");
  EXPECT_EQ(dlt[1].value, (*store_->ReadEvent((*dead)[1].position)).payload);

  // A restart keeps the stream held: new order-0 events are held too.
  ASSERT_THAT(store_->Append("order-0", ExpectedVersion::Exact(6), Event("Later")), IsOk());
  shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(head + 1, 30s)), IsOk());
  (*shipper).reset();
  EXPECT_EQ(store_->ListDeadLetters()->size(), 4u);

  // Retrying a held event alone would reorder its stream: refused.
  const std::uint64_t held_only = (*dead)[1].position;
  EXPECT_THAT(RetryDeadLetters(*store_, o, std::span<const std::uint64_t>(&held_only, 1)),
              StatusIs(StatusCode::kFailedPrecondition));
  // With the limit still too small, the first fails again and its stream stays held.
  auto again = RetryDeadLetters(*store_, o);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->sent, 0u);
  EXPECT_EQ(again->failed, 1u);
  EXPECT_EQ(again->held, 3u);
  // Once the limit allows it, all four go, in order, and the records are gone.
  o.kafka_config = {{"message.max.bytes", "200000"}};
  auto retried = RetryDeadLetters(*store_, o);
  ASSERT_THAT(retried, IsOk());
  EXPECT_EQ(retried->sent, 4u);
  EXPECT_TRUE(store_->ListDeadLetters()->empty());
  ExpectComplete(Collect(kafka_, EventTopics()), ExpectedVersions(*store_), false);
}

TEST_F(ShipTest, SkipPolicyShipsLaterEventsOfTheStream) {
  ShipperOptions o = BaseOptions(kafka_);
  o.kafka_config = {{"message.max.bytes", "20000"}};
  o.dead_letter_policy = DeadLetterPolicy::kSkip;
  ASSERT_THAT(store_->Append("order-1", ExpectedVersion::NoStream(), Event("A")), IsOk());
  ASSERT_THAT(
      store_->Append("order-1", ExpectedVersion::Exact(1), Event("Huge", std::string(50000, 'x'))),
      IsOk());
  ASSERT_THAT(store_->Append("order-1", ExpectedVersion::Exact(2), Event("C")), IsOk());
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(3, 30s)), IsOk());
  (*shipper).reset();
  Shipped shipped = Collect(kafka_, EventTopics());
  EXPECT_EQ(shipped.versions["order-1"], (std::vector<std::uint64_t>{1, 3}));
  EXPECT_EQ(store_->ListDeadLetters()->size(), 1u);
}

TEST_F(ShipTest, RestartMidStreamContinuesFromTheCheckpoint) {
  std::uint64_t n = AppendInterleaved(*store_, 8, 10);
  {
    auto shipper = Shipper::Start(*store_, BaseOptions(kafka_));
    ASSERT_THAT(shipper, IsOk());
    ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());
    ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  }
  EXPECT_EQ(*store_->LoadCheckpoint("shipper"), n);
  n += AppendInterleaved(*store_, 8, 10, 11);
  {
    auto shipper = Shipper::Start(*store_, BaseOptions(kafka_));
    ASSERT_THAT(shipper, IsOk());
    ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());
  }
  // A clean stop saves the checkpoint: nothing is sent twice.
  Shipped shipped = Collect(kafka_, EventTopics());
  EXPECT_EQ(shipped.messages, n);
  ExpectComplete(shipped, ExpectedVersions(*store_), false);
}

TEST_F(ShipTest, ExactlyOnceAcrossRestartsWithCheckpointTopic) {
  ShipperOptions o = ExactlyOnceOptions();
  o.transaction_max_events = 50;
  if (getenv("DBG")) o.log_level = LogLevel::kInfo;
  std::uint64_t n = AppendInterleaved(*store_, 8, 10);
  for (int run = 0; run < 3; ++run) {
    auto shipper = Shipper::Start(*store_, o);
    ASSERT_THAT(shipper, IsOk());
    ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());
    EXPECT_GT((*shipper)->GetStatus().transactions_committed, 0u);
    ASSERT_THAT(S((*shipper)->Stop()), IsOk());
    n += AppendInterleaved(*store_, 8, 5, 11 + run * 5);
  }
  // The last batch was appended after the last run: ship it with the store's checkpoint
  // deliberately reset, so only the checkpoint topic tells the shipper what Kafka holds.
  ASSERT_THAT(S(store_->SaveCheckpoint("shipper", 0)), IsOk());
  {
    auto shipper = Shipper::Start(*store_, o);
    ASSERT_THAT(shipper, IsOk());
    ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());
  }
  ExpectExactlyOnceInKafka(n);
}

// Exactly-once, Kafka's checkpoint record is the truth; the store's checkpoint may be ahead of
// it (a store shipped at-least-once before, or to another cluster). Until the shipper has read
// Kafka's, nothing is "shipped": `cairn ship --exit-when-caught-up` on a fresh cluster (slow
// to its first transaction) exited 0 at once, having shipped nothing, because the store's
// checkpoint already said the head.
TEST_F(ShipTest, ExactlyOnceShipsNothingThroughUntilKafkasCheckpointIsRead) {
  CAIRN_REQUIRE_MOCK();
  const std::uint64_t n = AppendInterleaved(*store_, 4, 5);
  ASSERT_THAT(S(store_->SaveCheckpoint("shipper", n)), IsOk());
  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersDown()), IsOk());
  auto shipper = Shipper::Start(*store_, ExactlyOnceOptions());
  ASSERT_THAT(shipper, IsOk());
  EXPECT_THAT(S((*shipper)->WaitUntilShipped(n, 1500ms)), StatusIs(StatusCode::kTimedOut));
  EXPECT_EQ((*shipper)->GetStatus().state, ShipperState::kStarting);
  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersUp()), IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 60s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  ExpectExactlyOnceInKafka(n);
}

TEST_F(ShipTest, ExactlyOnceSurvivesABrokerOutage) {
  CAIRN_REQUIRE_MOCK();
  ShipperOptions o = ExactlyOnceOptions();
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  std::uint64_t n = AppendInterleaved(*store_, 6, 5);
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());
  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersDown()), IsOk());
  n += AppendInterleaved(*store_, 6, 20, 6);
  std::this_thread::sleep_for(2s);
  ASSERT_THAT(S(kafka_.mock()->SetAllBrokersUp()), IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 60s)), IsOk());
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  ExpectExactlyOnceInKafka(n);
}

TEST_F(ShipTest, AFencedExactlyOnceShipperStopsAndSaysWhy) {
  CAIRN_REQUIRE_MOCK();
  ShipperOptions o = ExactlyOnceOptions();
  std::uint64_t n = AppendInterleaved(*store_, 4, 5);
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());
  // The broker answers the next commit (EndTxn, API 26) with PRODUCER_FENCED (90), as Kafka
  // does once another producer has initialised the same transactional.id.
  ASSERT_THAT(S(kafka_.mock()->PushRequestErrors(26, 1, 90)), IsOk());
  n += AppendInterleaved(*store_, 4, 2, 6);
  for (int i = 0; i < 100 && (*shipper)->GetStatus().state != ShipperState::kFailed; ++i)
    std::this_thread::sleep_for(100ms);
  const ShipperStatus st = (*shipper)->GetStatus();
  EXPECT_EQ(st.state, ShipperState::kFailed);
  EXPECT_THAT(st.last_error, ::testing::HasSubstr("fenced"));
  EXPECT_THAT(S((*shipper)->WaitUntilShipped(n, 1s)), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(S((*shipper)->Stop()), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(ShipTest, ASecondExactlyOnceShipperFencesTheFirstWhichStops) {
  // The mock cluster does not fence an older transactional producer (both would commit).
  if (!kafka_.real()) GTEST_SKIP() << "needs a real cluster: the mock does not fence producers";
  ShipperOptions o = ExactlyOnceOptions();
  std::uint64_t n = AppendInterleaved(*store_, 4, 5);
  auto first = Shipper::Start(*store_, o);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(S((*first)->WaitUntilShipped(n, 30s)), IsOk());
  o.checkpoint_name = "second";  // its own store checkpoint; the same transactional.id
  auto second = Shipper::Start(*store_, o);
  ASSERT_THAT(second, IsOk());
  // The second one's init_transactions fences the first: the first must stop, not fight back.
  AppendUntilItStopsFenced(**first, &n);
  ASSERT_THAT(S((*second)->WaitUntilShipped(n, 30s)), IsOk());
  ASSERT_THAT(S((*second)->Stop()), IsOk());
  ExpectExactlyOnceInKafka(n);
}

// overlap_transactions (issue #25): with transactions of a few milliseconds and appends
// running, the next transaction is produced by the other producer while the previous one
// commits, hundreds of times. Kafka's committed data must still hold every event once, each
// stream in order in its partition: the hand-over waits for every record of a transaction to
// be acknowledged before the other producer sends, and commits stay in order.
TEST_F(ShipTest, OverlappingTransactionsKeepEveryStreamInOrder) {
  if (!kafka_.real()) GTEST_SKIP() << "the mock shows uncommitted records: one producer there";
  ShipperOptions o = ExactlyOnceOptions();
  o.transaction_max_interval = 3ms;
  o.transaction_max_events = 40;
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  std::uint64_t n = 0;
  for (int round = 0; round < 60; ++round) {  // 60 rounds of 24 streams, shipped as they come
    n += AppendInterleaved(*store_, 24, 1, round + 1);
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 60s)), IsOk());
  // About one per round (a transaction's cycle here is ~30 ms): each handed over to the other
  // producer while the next one filled.
  EXPECT_GT((*shipper)->GetStatus().transactions_committed, 15u);
  EXPECT_EQ((*shipper)->GetStatus().rewinds, 0u) << (*shipper)->GetStatus().last_error;
  ASSERT_THAT(S((*shipper)->Stop()), IsOk());
  ExpectExactlyOnceInKafka(n);
}

// The second producer's transactional.id is "<id>-2": a producer that takes it over (a second
// shipper, a zombie's successor) fences this shipper as taking over the first one does, and it
// stops rather than commit through its other producer.
TEST_F(ShipTest, TakingOverTheSecondTransactionalIdFencesTheShipper) {
  if (!kafka_.real()) GTEST_SKIP() << "needs a real cluster: the mock does not fence producers";
  ShipperOptions o = ExactlyOnceOptions();
  o.transactional_id = kafka_.Topic("txn");
  o.transaction_max_interval = 5ms;
  std::uint64_t n = AppendInterleaved(*store_, 4, 5);
  auto shipper = Shipper::Start(*store_, o);
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(
      rd_kafka_conf_set(conf, "bootstrap.servers", kafka_.bootstrap().c_str(), err, sizeof err),
      RD_KAFKA_CONF_OK);
  const std::string second_id = o.transactional_id + "-2";
  ASSERT_EQ(rd_kafka_conf_set(conf, "transactional.id", second_id.c_str(), err, sizeof err),
            RD_KAFKA_CONF_OK);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> usurper(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err), rd_kafka_destroy);
  ASSERT_NE(usurper, nullptr) << err;
  rd_kafka_error_t* e = rd_kafka_init_transactions(usurper.get(), 30000);
  ASSERT_EQ(e, nullptr) << rd_kafka_error_string(e);

  AppendUntilItStopsFenced(**shipper, &n);
  // What it committed before is whole, once, in order; nothing after the fencing.
  const auto txns = CommittedTxns(kafka_, kafka_.Topic("cairn-checkpoints"));
  Shipped shipped = Collect(kafka_, EventTopics(), &txns);
  EXPECT_GE(shipped.messages, 20u);
  for (const auto& [stream, versions] : shipped.versions)
    for (std::size_t i = 0; i < versions.size(); ++i)
      ASSERT_EQ(versions[i], i + 1) << stream << ": " << ::testing::PrintToString(versions);
}

// Two shippers of one checkpoint would each send every event: the second is refused while
// the first runs (it shipped 1,000 duplicates before), and may start once the first stopped.
TEST_F(ShipTest, ASecondShipperOfTheSameCheckpointIsRefusedWhileTheFirstRuns) {
  const std::uint64_t n = AppendInterleaved(*store_, 10, 10);
  auto first = Shipper::Start(*store_, BaseOptions(kafka_));
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(Shipper::Start(*store_, BaseOptions(kafka_)), StatusIs(StatusCode::kBusy));
  // Another checkpoint is another consumer: allowed (a second cluster, say).
  ShipperOptions other = BaseOptions(kafka_);
  other.checkpoint_name = "shipper-dr";
  auto second = Shipper::Start(*store_, other);
  ASSERT_THAT(second, IsOk());
  ASSERT_THAT(S((*first)->WaitUntilShipped(n, 30s)), IsOk());
  ASSERT_THAT(S((*second)->WaitUntilShipped(n, 30s)), IsOk());
  ASSERT_THAT(S((*second)->Stop()), IsOk());
  // Nothing was sent twice by the refused one.
  ASSERT_THAT(S((*first)->Stop()), IsOk());
  auto again = Shipper::Start(*store_, BaseOptions(kafka_));
  ASSERT_THAT(again, IsOk()) << "a stopped shipper releases its checkpoint";
  ASSERT_THAT(S((*again)->Stop()), IsOk());
  Shipped shipped = Collect(kafka_, EventTopics());
  EXPECT_EQ(shipped.messages, 2 * n) << "one copy per checkpoint, none from the refused shipper";
}

TEST_F(ShipTest, MetricsInPrometheusFormat) {
  const std::uint64_t n = AppendInterleaved(*store_, 3, 3);
  auto shipper = Shipper::Start(*store_, BaseOptions(kafka_));
  ASSERT_THAT(shipper, IsOk());
  ASSERT_THAT(S((*shipper)->WaitUntilShipped(n, 30s)), IsOk());
  std::this_thread::sleep_for(300ms);  // the status is published every 100 ms
  const std::string text = (*shipper)->PrometheusMetrics();
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE cairn_shipper_lag_events gauge"));
  EXPECT_THAT(text, ::testing::HasSubstr("cairn_shipper_head_position 9\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("cairn_shipper_shipped_through_position 9\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("cairn_shipper_events_shipped_total 9\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("cairn_shipper_state{state=\"shipping\"} 1\n"));
  ShipperStatus st = (*shipper)->GetStatus();
  EXPECT_EQ(st.lag_events, 0u);
  EXPECT_GT(st.produce_latency_p99_ms, 0);
}

TEST_F(ShipTest, BadOptionsAreRefusedWithClearErrors) {
  ShipperOptions o = BaseOptions(kafka_);
  o.kafka_config = {{"no.such.setting", "1"}};
  EXPECT_THAT(Shipper::Start(*store_, o), StatusIs(StatusCode::kInvalidArgument));
  o = BaseOptions(kafka_);
  o.default_topic = "bad topic!";
  EXPECT_THAT(Shipper::Start(*store_, o), StatusIs(StatusCode::kInvalidArgument));
  o = BaseOptions(kafka_);
  o.bootstrap_servers.clear();
  EXPECT_THAT(Shipper::Start(*store_, o), StatusIs(StatusCode::kInvalidArgument));
  // A checkpoint past the head is refused where it would be saved (retention trusts it).
  EXPECT_THAT(S(store_->SaveCheckpoint("shipper", 100)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(*store_->LoadCheckpoint("shipper"), 0u);
}

TEST(ShipParseTest, RoutesFile) {
  std::string def;
  auto rules = ship::ParseRoutes(
      "# per bounded context\n"
      "category customer   customer-events\n"
      "type-prefix Payment payment-events  # trailing comment\n"
      "\n"
      "default domain-events\n",
      &def);
  ASSERT_THAT(rules, IsOk());
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[0].match, RouteRule::Match::kCategory);
  EXPECT_EQ((*rules)[0].pattern, "customer");
  EXPECT_EQ((*rules)[1].match, RouteRule::Match::kTypePrefix);
  EXPECT_EQ((*rules)[1].topic, "payment-events");
  EXPECT_EQ(def, "domain-events");
  EXPECT_THAT(ship::ParseRoutes("stream x y\n", &def), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ship::ParseRoutes("category x\n", &def), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ship::ParseRoutes("category x bad/topic\n", &def),
              StatusIs(StatusCode::kInvalidArgument));
  auto err = ship::ParseRoutes("\n\ncategory x\n", &def);
  EXPECT_THAT(err.status().message(), ::testing::HasSubstr("line 3"));
}

TEST(ShipParseTest, ClientProperties) {
  auto props = ParseClientProperties(
      "# MSK over TLS with SASL/SCRAM\n"
      "security.protocol=SASL_SSL\n"
      "sasl.mechanism : SCRAM-SHA-512\n"
      "  ! another comment\n"
      "sasl.username alice\n"
      "sasl.password=p\\=ss\\\n"
      "    word\n"
      "ssl.ca.location=/etc/ssl/certs/ca.pem\r\n"
      "empty.value=\n");
  ASSERT_THAT(props, IsOk());
  ASSERT_EQ(props->size(), 6u);
  EXPECT_EQ((*props)[0], (std::pair<std::string, std::string>{"security.protocol", "SASL_SSL"}));
  EXPECT_EQ((*props)[1].second, "SCRAM-SHA-512");
  EXPECT_EQ((*props)[2], (std::pair<std::string, std::string>{"sasl.username", "alice"}));
  EXPECT_EQ((*props)[3].second, "p=ssword");
  EXPECT_EQ((*props)[4].second, "/etc/ssl/certs/ca.pem");
  EXPECT_EQ((*props)[5].second, "");
  EXPECT_THAT(ParseClientProperties("=value\n"), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace cairn::testing
