#!/usr/bin/env bash
# `cairn serve` under wrk (Debian's) beside the library's own append rate at the same
# concurrency and durability (bench/store_bench.cc's append/sync, one 200-byte event per
# append): 16 and 64 connections against 16 and 64 appender threads, ROUNDS rounds
# interleaved, medians, as a Markdown table for docs/performance.md. The gateway runs with
# --no-ship (the shipper's cost is cairn_ship_bench's) and durability sync: a 201 means
# fsynced. wrk shares the 2 cores with the server, as a client on the same box would; the same
# wrk against /healthz (no work) is the ceiling of HTTP itself here, measured in each round.
#
# With SERVE_TLS=1 the server speaks HTTPS (a self-signed certificate made here), and wrk and
# curl speak it too: the same table, over TLS.
#
# Usage: [SERVE_TLS=1] bench/run_serve_bench.sh [BUILD_DIR] [ROUNDS] [SECONDS]
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-3}
SECONDS_EACH=${3:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../tests/serve_lib.sh"  # free_port, wait_ready
CAIRN=$BUILD/cairn
BENCH=$BUILD/bench/cairn_store_bench
OUT=$(mktemp -d)
WORK=${CAIRN_BENCH_DIR:-$(mktemp -d)}
export CAIRN_BENCH_DIR=$WORK
serve_pid=""
trap '[[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null; rm -rf "$OUT" "$WORK/serve"' EXIT
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool missing (.ci/install-deps)" >&2; exit 1; }
done
[[ -x "$CAIRN" && -x "$BENCH" ]] || { echo "build first: $CAIRN, $BENCH" >&2; exit 1; }
port=$(free_port)
scheme=http
tls_args=()
if [[ ${SERVE_TLS:-0} == 1 ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
      -keyout "$OUT/key.pem" -out "$OUT/cert.pem" >/dev/null 2>&1
  scheme=https
  tls_args=(--tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem")
fi

serve_round() {  # connections -> appends "requests/s p99_us non2xx" to $OUT/serve_$1
  rm -rf "$WORK/serve"
  "$CAIRN" serve "$WORK/serve" --no-ship --listen "127.0.0.1:$port" --log-level error \
      "${tls_args[@]}" 2>"$OUT/serve.err" &
  serve_pid=$!
  wait_ready "$scheme://127.0.0.1:$port" "$serve_pid" "$OUT/serve.err"
  wrk -t2 -c"$1" -d"${SECONDS_EACH}s" -s "$HERE/serve_append.lua" "$scheme://127.0.0.1:$port" \
      >"$OUT/wrk.txt" 2>&1
  # The HTTP ceiling of this box: the same wrk at the same connections, on a route that does
  # no work (/healthz).
  wrk -t2 -c"$1" -d"${SECONDS_EACH}s" "$scheme://127.0.0.1:$port/healthz" |
      awk '/^Requests\/sec/ {print $2}' >>"$OUT/http_$1"
  local head
  head=$(curl -skf "$scheme://127.0.0.1:$port/readyz" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["store"]["head"])')
  kill -TERM "$serve_pid"; wait "$serve_pid" || true; serve_pid=""
  awk -v secs="$SECONDS_EACH" -v head="$head" '/^wrk_done/ {
      split($2, r, "="); split($3, n, "="); split($5, p, "=");
      printf "%f %s %s %s\n", r[2] / secs, p[2], n[2], head }' "$OUT/wrk.txt" >>"$OUT/serve_$1"
}

for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  "$BENCH" --benchmark_filter='append/sync/1/real_time/threads:(16|64)$' \
      --benchmark_min_time="$SECONDS_EACH" --benchmark_format=json >"$OUT/lib_$r.json" 2>/dev/null
  serve_round 16
  serve_round 64
done

/usr/bin/python3 - "$OUT" "$ROUNDS" "$SECONDS_EACH" <<'PY'
import json, statistics, sys
out, rounds, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lib = {}
for r in range(1, rounds + 1):
    for b in json.load(open(f"{out}/lib_{r}.json"))["benchmarks"]:
        lib.setdefault(b["name"].rsplit(":", 1)[1], []).append(b["items_per_second"])
print(f"Median of {rounds} interleaved rounds of {secs} s; one 200-byte event per request/append; durability sync.\n")
print("| concurrency | cairn serve (wrk) | p99 | library Append | ratio | target | wrk on /healthz | serve / healthz |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for c in ("16", "64"):
    rows = [line.split() for line in open(f"{out}/serve_{c}")]
    rps = statistics.median(float(x[0]) for x in rows)
    p99 = statistics.median(float(x[1]) for x in rows) / 1000
    non2xx = sum(int(x[2]) for x in rows)
    lib_rate = statistics.median(lib[c])
    ratio = rps / lib_rate
    http = statistics.median(float(x) for x in open(f"{out}/http_{c}").read().split())
    print(f"| {c} connections / appenders | {rps:,.0f} requests/s | {p99:.1f} ms | "
          f"{lib_rate:,.0f} appends/s | {ratio:.2f}x | >= 0.5x {'✓' if ratio >= 0.5 else '✗'} | "
          f"{http:,.0f} requests/s | {rps / http:.2f}x |")
    if non2xx:
        print(f"\n{non2xx} answers were not 2xx at {c} connections.")
PY
