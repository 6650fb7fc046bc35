#!/usr/bin/env bash
# Durable appends against concurrent writers, cairn beside its ceiling and its peer, in one
# run on one disk: for 1, 4, 16 and 64 writers,
#   - cairn: build/bench/cairn_store_bench append/sync (Durability::kSync, one 200-byte event
#     per append, one of 64 streams per thread);
#   - RocksDB: db_bench fillrandom --sync=1 --threads=N (Debian's rocksdb-tools 7.8.3, the
#     RocksDB cairn links; 16-byte keys, 200-byte values);
#   - PostgreSQL 15: bench/peers/postgres_outbox.sh (an events table as transactional outbox,
#     synchronous_commit=on, pgbench clients).
# ROUNDS interleaved rounds; prints medians and ratios as Markdown (docs/performance.md) and
# draws docs/perf/writers.png (gnuplot) unless PLOT is empty.
#
# Usage: bench/peers/run.sh [BUILD_DIR] [ROUNDS] [SECONDS]
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-3}
SECS=${3:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
PLOT=${PLOT-$HERE/../../docs/perf/writers.png}
BENCH=$BUILD/bench/cairn_store_bench
[ -x "$BENCH" ] || { echo "build first: $BENCH missing" >&2; exit 1; }
command -v db_bench >/dev/null || { echo "db_bench missing: apt-get install rocksdb-tools" >&2; exit 1; }
if [ -z "${CAIRN_BENCH_DIR:-}" ]; then
  WORK=$(mktemp -d)
  chmod 755 "$WORK"  # PostgreSQL's server runs as user postgres
else
  WORK=$CAIRN_BENCH_DIR
fi
export CAIRN_BENCH_DIR=$WORK
OUT=$(mktemp -d)
trap 'rm -rf "$OUT" "$WORK/dbb"' EXIT
WRITERS=(1 4 16 64)

db_bench_ops() {  # threads -> ops/s, about SECS seconds of fillrandom --sync=1
  rm -rf "$WORK/dbb"
  local num=$((1500 * SECS / $1 + 200))
  ((num < 200)) && num=200
  db_bench --benchmarks=fillrandom --db="$WORK/dbb" --key_size=16 --value_size=200 --sync=1 \
    --threads="$1" --num="$num" 2>/dev/null |
    awk '/^fillrandom/ {for (i = 1; i <= NF; i++) if ($i == "ops/sec") print $(i - 1)}'
}
cairn_appends() {  # threads -> appends/s
  "$BENCH" --benchmark_filter="^append/sync/1/real_time/threads:$1\$" \
    --benchmark_min_time="$SECS" --benchmark_format=json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["benchmarks"][0]["items_per_second"])'
}

for r in $(seq "$ROUNDS"); do
  for n in "${WRITERS[@]}"; do
    echo "round $r/$ROUNDS, $n writers" >&2
    echo "$(cairn_appends "$n")" >>"$OUT/cairn_$n"
    echo "$(db_bench_ops "$n")" >>"$OUT/rocksdb_$n"
    "$HERE/postgres_outbox.sh" "$n" "$SECS" | awk '{print $2}' >>"$OUT/postgres_$n"
  done
done

/usr/bin/python3 - "$OUT" "$ROUNDS" "${WRITERS[@]}" <<'PY' | tee "$OUT/table.md"
import statistics, sys
out, rounds, writers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def med(name, n):
    return statistics.median(float(x) for x in open(f"{out}/{name}_{n}").read().split())
print(f"Median of {rounds} interleaved rounds; kSync / --sync=1 / synchronous_commit=on; one 200-byte event per append.\n")
print("| writers | cairn appends/s | db_bench fillrandom --sync=1 ops/s | PostgreSQL outbox tx/s | cairn / RocksDB | cairn / PostgreSQL |")
print("|---:|---:|---:|---:|---:|---:|")
with open(f"{out}/plot.dat", "w") as dat:
    for n in writers:
        c, d, p = med("cairn", n), med("rocksdb", n), med("postgres", n)
        print(f"| {n} | {c:,.0f} | {d:,.0f} | {p:,.0f} | {c/d:.2f}x | {c/p:.2f}x |")
        dat.write(f"{n} {c} {d} {p}\n")
PY

if [ -n "$PLOT" ] && command -v gnuplot >/dev/null; then
  mkdir -p "$(dirname "$PLOT")"
  gnuplot <<GP
set terminal pngcairo size 900,560 font ",11"
set output "$PLOT"
set title "Durable appends (fsync per commit) against concurrent writers, one run, one disk"
set xlabel "concurrent writers"
set ylabel "durable appends per second"
set logscale x 2
set xtics (1, 4, 16, 64)
set format y "%.0s%c"
set key top left
set grid
plot "$OUT/plot.dat" using 1:2 with linespoints lw 2 pt 7 title "cairn (kSync)", \
     "" using 1:3 with linespoints lw 2 pt 5 title "RocksDB db_bench --sync=1", \
     "" using 1:4 with linespoints lw 2 pt 9 title "PostgreSQL 15 outbox (synchronous_commit=on)"
GP
  echo "plot: $PLOT" >&2
fi
