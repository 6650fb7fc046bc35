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

db_bench_threads() {  # threads num_per_thread -> ops/s of fillrandom --sync=1
  rm -rf "$WORK/dbb"
  db_bench --benchmarks=fillrandom --db="$WORK/dbb" --key_size=16 --value_size=200 --sync=1 \
    --threads="$1" --num="$2" 2>/dev/null |
    awk '/^fillrandom/ {for (i = 1; i <= NF; i++) if ($i == "ops/sec") print $(i - 1)}'
}

for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  db_bench_ops 0 1 300000 >>"$OUT/db_sync0_b1"
  db_bench_ops 0 100 2000000 >>"$OUT/db_sync0_b100"
  db_bench_threads 1 4000 >>"$OUT/db_sync1_b1"
  db_bench_threads 16 1500 >>"$OUT/db_sync1_t16"
  db_bench_threads 64 600 >>"$OUT/db_sync1_t64"
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
dbs16, dbs64 = median_file("db_sync1_t16"), median_file("db_sync1_t64")
a1 = med("append/buffered/1/real_time", "items_per_second")
a100 = med("append/buffered/100/real_time", "items_per_second")
s1 = med("append/sync/1/real_time/threads:1", "items_per_second")
s16 = med("append/sync/1/real_time/threads:16", "items_per_second")
s64 = med("append/sync/1/real_time/threads:64", "items_per_second")
sa = med("append_async/sync/real_time", "items_per_second")
replay_us = med("replay/stream/1000", "real_time")
scan = med("scan/log/500000/min_time:2.000", "items_per_second")
def mark(ok):
    return "✓" if ok else "✗"
print(f"Median of {rounds} interleaved rounds; 200-byte payloads; db_bench 16-byte keys, 200-byte values.\n")
print("| benchmark | cairn | ceiling | ratio | target |")
print("|---|---:|---:|---:|---:|")
print(f"| buffered, 1 event/append, 1 thread | {a1:,.0f} events/s | db_bench fillseq sync=0 batch=1: {db1:,.0f} ops/s | {a1/db1:.2f}x | >= 0.6x {mark(a1/db1 >= 0.6)} |")
print(f"| buffered, 100 events/append | {a100:,.0f} events/s | db_bench fillseq sync=0 batch=100: {db100:,.0f} ops/s | {a100/db100:.2f}x | >= 0.6x {mark(a100/db100 >= 0.6)} |")
print(f"| sync, 1 thread | {s1:,.0f} appends/s | db_bench fillrandom --sync=1: {dbs:,.0f} ops/s | {s1/dbs:.2f}x | >= 0.9x {mark(s1/dbs >= 0.9)} |")
print(f"| sync, 16 appenders | {s16:,.0f} appends/s | db_bench fillrandom --sync=1 --threads=16: {dbs16:,.0f} ops/s | {s16/dbs16:.2f}x | >= 2x {mark(s16/dbs16 >= 2)} |")
print(f"| sync, 64 appenders | {s64:,.0f} appends/s | db_bench fillrandom --sync=1 --threads=64: {dbs64:,.0f} ops/s | {s64/dbs64:.2f}x | >= 3x {mark(s64/dbs64 >= 3)}; the seed's 100,000/s peak: {mark(s64 >= 100000)} |")
print(f"| sync, 1 thread, AppendAsync | {sa:,.0f} appends/s | db_bench fillrandom --sync=1 --threads=64: {dbs64:,.0f} ops/s | {sa/dbs64:.2f}x | >= 3x {mark(sa/dbs64 >= 3)}; 1 thread over 64 sync ones: {sa/s64:.2f}x |")
print(f"| replay a 1,000-event stream | {replay_us/1000:.2f} ms | | | < 2 ms {mark(replay_us < 2000)} |")
print(f"| scan the global log | {scan:,.0f} events/s | | | >= 1,000,000 {mark(scan >= 1e6)} |")
PY
