#!/usr/bin/env bash
# End to end, side by side, on one real Kafka cluster (tests/kafka/cluster: 3 brokers,
# replication 3, min.insync.replicas 2) and one disk, at a paced RATE events/s:
#   - cairn: build/bench/cairn_ship_bench --only latency (append -> read_committed consumer, in
#     each delivery mode; its own schedule of 10,000 events/s);
#   - PostgreSQL 15 + Debezium 3.6 (embedded engine, Postgres connector over pgoutput, the
#     outbox event router) -> an idempotent acks=all producer -> a read_committed consumer
#     (bench/peers/debezium/DebeziumOutbox.java): insert -> consumer, WRITERS writer threads,
#     one event per transaction, synchronous_commit=on.
# Prints both as Markdown (docs/performance.md).
#
# Usage: bench/peers/debezium.sh [BUILD_DIR] [RATE] [SECONDS] [WRITERS]
#   (CAIRN_LATENCY=0: the PostgreSQL + Debezium half only, e.g. at a rate PostgreSQL sustains)
set -euo pipefail
BUILD=${1:-build}
RATE=${2:-10000}
SECS=${3:-10}
WRITERS=${4:-16}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$HERE/pg_lib.sh"
[ -x "$BUILD/bench/cairn_ship_bench" ] || { echo "build first: $BUILD/bench/cairn_ship_bench" >&2; exit 1; }

base=$(mktemp -d)
chmod 755 "$base"
export CAIRN_KAFKA_DIR=$base/kafka CAIRN_KAFKA_PORT=${CAIRN_KAFKA_PORT:-39500}
cleanup() {
  pg_stop
  "$ROOT/tests/kafka/cluster" stop >/dev/null 2>&1 || true
  rm -rf "$base"
}
trap cleanup EXIT

echo "starting a 3-broker Kafka cluster and PostgreSQL (wal_level=logical)" >&2
bootstrap=$("$ROOT/tests/kafka/cluster" start | tail -n 1)
pg_start "$base/pg" "-c listen_addresses=127.0.0.1 -c wal_level=logical \
  -c max_replication_slots=4 -c max_wal_senders=4"

echo "building the Debezium harness (Maven Central, cached in ~/.m2)" >&2
log=$base/mvn.log
mvn -q -B -f "$HERE/debezium/pom.xml" compile dependency:build-classpath \
  -Dmdep.outputFile="$base/cp.txt" >"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }

echo "PostgreSQL + Debezium at $RATE events/s for $SECS s, $WRITERS writers" >&2
dbz=$(java -cp "$HERE/debezium/target/classes:$(cat "$base/cp.txt")" \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn dev.cairn.bench.DebeziumOutbox \
  127.0.0.1 "$pg_port" "$bootstrap" "$RANDOM" "$RATE" "$SECS" "$WRITERS" 2>"$base/dbz.err") ||
  { echo "the Debezium harness failed:" >&2; tail -30 "$base/dbz.err" >&2; exit 1; }
echo "$dbz" >&2

cairn="(not run: CAIRN_LATENCY=0)"
if [[ "${CAIRN_LATENCY:-1}" != 0 ]]; then
  echo "cairn at 10,000 events/s (cairn_ship_bench --only latency)" >&2
  cairn=$(KAFKA_BOOTSTRAP_SERVERS=$bootstrap "$BUILD/bench/cairn_ship_bench" "$BUILD/cairn" \
    --only latency 2>"$base/cairn.err") || { tail -30 "$base/cairn.err" >&2; exit 1; }
fi

read -r _ sent _ received _ rate _ inserted _ p50 _ p95 _ p99 _ max <<<"$dbz"
echo "PostgreSQL 15 + Debezium 3.6 outbox, $WRITERS writers, paced at $RATE events/s for $SECS s (sent $sent, received $received; committed at $inserted events/s, delivered at $rate events/s):"
echo
echo "| path | latency |"
echo "|---|---|"
echo "| insert -> read_committed consumer | p50 $p50 ms, p95 $p95 ms, p99 $p99 ms, max $max ms |"
echo
echo "cairn on the same cluster (cairn_ship_bench --only latency):"
echo
echo "$cairn"
