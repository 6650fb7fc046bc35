#!/usr/bin/env bash
# Runs cairn's store benchmarks and the RocksDB ceiling (db_bench from Debian's rocksdb-tools,
# same 200-byte values, same disk) in one run, ROUNDS times interleaved, and prints the median
# of each with the ratio to its ceiling as a Markdown table (docs/performance.md).
#
# Usage: bench/run_store_bench.sh [BUILD_DIR] [ROUNDS]   (env CAIRN_BENCH_DIR: where stores go)
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-3}
BENCH=$BUILD/bench/cairn_store_bench
WORK=${CAIRN_BENCH_DIR:-$(mktemp -d)}
export CAIRN_BENCH_DIR=$WORK
OUT=$(mktemp -d)
trap 'rm -rf "$OUT" "$WORK/dbb"' EXIT
[ -x "$BENCH" ] || { echo "build first: $BENCH missing" >&2; exit 1; }
command -v db_bench >/dev/null || { echo "db_bench missing: apt-get install rocksdb-tools" >&2; exit 1; }

db_bench_ops() {  # sync batch num -> ops/s
  rm -rf "$WORK/dbb"
  db_bench --benchmarks=fillseq --db="$WORK/dbb" --key_size=16 --value_size=200 \
    --sync="$1" --batch_size="$2" --num="$3" 2>/dev/null |
    awk '/^fillseq/ {for (i = 1; i <= NF; i++) if ($i == "ops/sec") print $(i - 1)}'
}

for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  db_bench_ops 0 1 300000 >>"$OUT/db_sync0_b1"
  db_bench_ops 0 100 2000000 >>"$OUT/db_sync0_b100"
  db_bench_ops 1 1 4000 >>"$OUT/db_sync1_b1"
  "$BENCH" --benchmark_min_time=1 --benchmark_format=json >"$OUT/cairn_$r.json" 2>/dev/null
done

/usr/bin/python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def median_file(name):
    return statistics.median(float(x) for x in open(f"{out}/{name}").read().split())
runs = {}
for r in range(1, rounds + 1):
    for b in json.load(open(f"{out}/cairn_{r}.json"))["benchmarks"]:
        runs.setdefault(b["name"], []).append(b)
def med(name, field):
    return statistics.median(b[field] for b in runs[name])
db1, db100, dbs = median_file("db_sync0_b1"), median_file("db_sync0_b100"), median_file("db_sync1_b1")
a1 = med("append/buffered/1/real_time", "items_per_second")
a100 = med("append/buffered/100/real_time", "items_per_second")
s1 = med("append/sync/1/real_time/threads:1", "items_per_second")
s16 = med("append/sync/1/real_time/threads:16", "items_per_second")
replay_us = med("replay/stream/1000", "real_time")
scan = med("scan/log/500000/min_time:2.000", "items_per_second")
print(f"Median of {rounds} interleaved rounds; 200-byte payloads; db_bench fillseq 16-byte keys, 200-byte values.\n")
print("| benchmark | cairn | ceiling | ratio | target |")
print("|---|---:|---:|---:|---:|")
print(f"| buffered, 1 event/append, 1 thread | {a1:,.0f} events/s | db_bench sync=0 batch=1: {db1:,.0f} ops/s | {a1/db1:.2f}x | >= 0.5x |")
print(f"| buffered, 100 events/append | {a100:,.0f} events/s | db_bench sync=0 batch=100: {db100:,.0f} ops/s | {a100/db100:.2f}x | >= 0.5x |")
print(f"| sync, 1 thread | {s1:,.0f} appends/s | db_bench sync=1 batch=1: {dbs:,.0f} ops/s | {s1/dbs:.2f}x | >= 0.7x |")
print(f"| sync, 16 appenders (group commit) | {s16:,.0f} appends/s | cairn sync 1 thread: {s1:,.0f} | {s16/s1:.1f}x | >= 8x |")
print(f"| replay a 1,000-event stream | {replay_us/1000:.2f} ms | | | < 2 ms |")
print(f"| scan the global log | {scan:,.0f} events/s | | | >= 1,000,000 |")
PY
