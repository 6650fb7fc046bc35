#!/usr/bin/env bash
# Same-run A/B of the store benchmarks: two builds of cairn (say the commit before a change
# and after it), ROUNDS rounds interleaved (A, B, A, B, ...) on the same disk, so that the
# machine's drift hits both alike. Prints each benchmark's median for A and B and B/A, as a
# Markdown table (docs/performance.md). Higher is better for rates, lower for times.
#
# Usage: bench/compare_builds.sh BUILD_A BUILD_B [ROUNDS] [FILTER]
#   e.g. git worktree add /tmp/base HEAD~1 && cmake -S /tmp/base -B /tmp/base/build &&
#        cmake --build /tmp/base/build --target cairn_store_bench &&
#        bench/compare_builds.sh /tmp/base/build build 3
#   FILTER: a --benchmark_filter regex (default: every benchmark).
set -euo pipefail
A=$1/bench/cairn_store_bench
B=$2/bench/cairn_store_bench
ROUNDS=${3:-3}
FILTER=${4:-.}
for bin in "$A" "$B"; do [ -x "$bin" ] || { echo "not built: $bin" >&2; exit 1; }; done
WORK=${CAIRN_BENCH_DIR:-$(mktemp -d)}
export CAIRN_BENCH_DIR=$WORK
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for r in $(seq "$ROUNDS"); do
  for side in a b; do
    echo "round $r/$ROUNDS: $side" >&2
    bin=$A; [[ $side == b ]] && bin=$B
    "$bin" --benchmark_min_time=1 --benchmark_filter="$FILTER" --benchmark_format=json \
      >"$OUT/${side}_$r.json" 2>/dev/null
  done
done
/usr/bin/python3 - "$OUT" "$ROUNDS" "$1" "$2" <<'PY'
import json, statistics, sys
out, rounds, name_a, name_b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = {"a": {}, "b": {}}
order = []
for side in runs:
    for r in range(1, rounds + 1):
        for b in json.load(open(f"{out}/{side}_{r}.json"))["benchmarks"]:
            if b["name"] not in order: order.append(b["name"])
            runs[side].setdefault(b["name"], []).append(b)
print(f"A = {name_a}, B = {name_b}; median of {rounds} interleaved rounds each.\n")
print("| benchmark | A | B | B/A | spread of B (min..max) |")
print("|---|---:|---:|---:|---|")
for name in order:
    if name not in runs["b"]: continue
    rate = "items_per_second" in runs["b"][name][0]
    field = "items_per_second" if rate else "real_time"
    unit = "/s" if rate else " " + runs["b"][name][0].get("time_unit", "ns")
    vals = [x[field] for x in runs["b"][name]]
    b = statistics.median(vals)
    if name not in runs["a"]:  # new in B: its figure alone
        print(f"| {name} | — | {b:,.0f}{unit} | — | {min(vals):,.0f}..{max(vals):,.0f} |")
        continue
    a = statistics.median(x[field] for x in runs["a"][name])
    ratio = b / a if a else float("nan")
    print(f"| {name} | {a:,.0f}{unit} | {b:,.0f}{unit} | {ratio:.2f}x | {min(vals):,.0f}..{max(vals):,.0f} |")
PY
