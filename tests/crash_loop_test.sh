#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# The crash loop of issue #6: a writer process (4 threads of synchronous pair appends, with a
# shipper to Kafka in the same process, as a service runs) is killed with SIGKILL at a random
# moment, again and again. After every kill: the store opens and `cairn verify` passes
# (positions dense, chain, indexes), every append the writer saw acknowledged is there with
# its content, and no append is half there (appends are pairs: every stream ends on an even
# version). At the end the rest is shipped and kafka-python reads every topic back
# (tests/kafka_verify.py): every event in stream order; no duplicate in exactly-once mode,
# only re-sent tails in at-least-once mode; where the mock's retention truncated a partition,
# only events before everything it still holds may be absent (kafka_verify.py explains).
#   crash_loop_test.sh CAIRN_BINARY CRASH_WRITER MODE
# CRASH_LOOP_KILLS: number of kills (default 20); CRASH_LOOP_THREADS: appending threads (4);
# CRASH_LOOP_PARTITIONS: order-events partitions (24; long runs need more, see below);
# CAIRN_CRASH_STREAMS: streams per writer thread (5; long runs need more).
# CAIRN_CRASH_ASYNC=1: the writer appends through Store::AppendAsync (crash_writer.cc).
# CRASH_LOOP_RESEND_PER_KILL: the at-least-once re-send bound per kill (10,000; see the end).
# Uses `cairn kafka-mock` unless KAFKA_BOOTSTRAP_SERVERS names a real cluster (topics then get
# a random prefix and are created by the broker's auto-creation or beforehand).
set -euo pipefail
CAIRN=$(realpath "$1")
WRITER=$(realpath "$2")
MODE=${3:-at-least-once}
KILLS=${CRASH_LOOP_KILLS:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3

source "$HERE/kafka_mock.sh"  # $work, cleanup on exit, use_kafka

# The mock keeps only ~5 MiB per partition and drops the oldest records past it: 24
# partitions hold a 20-kill run whole; long runs want more partitions and streams to spread
# over them (docs/guarantees.md) — or accept truncated partitions, which kafka_verify.py checks.
use_kafka crash --topic "order-events:${CRASH_LOOP_PARTITIONS:-24}" --topic events:3 \
    --topic cairn-checkpoints:1

check_store() {  # after a kill: verify, acknowledged appends present, no half append
  # Prints the round's acknowledged appends on stdout; what went wrong on stderr.
  # A store exists once RocksDB's CURRENT is in place (it is moved there last); before
  # that the directory may hold an interrupted creation, which the next writer starts over.
  if [[ ! -f "$work/store/CURRENT" ]] && ! grep -q '^ack ' "$work/round"; then
    echo 0; return  # killed before it created the store: nothing was acknowledged
  fi
  if ! "$CAIRN" verify "$work/store" >"$work/verify.out" 2>&1; then
    echo "kill $1: verify failed:" >&2; cat "$work/verify.out" >&2; exit 1
  fi
  # Only this round's events need reading: from the first position it acknowledged.
  local from
  # (awk alone: `sort | head` under pipefail fails on SIGPIPE once a round has many acks)
  from=$(awk '$1 == "ack" && NF == 4 && (min == "" || $4 - 1 < min) {min = $4 - 1} END {print min}' "$work/round")
  "$CAIRN" read "$work/store" --from "${from:-1}" --format jsonl >"$work/log.jsonl"
  "$CAIRN" streams "$work/store" --format jsonl >"$work/streams.jsonl"
  "$PY" - "$work/round" "$work/log.jsonl" "$work/streams.jsonl" "$1" <<'PY'
import base64, json, sys
acks, log, streams, kill = sys.argv[1:5]
stored = {}
for line in open(log):
    e = json.loads(line)
    data = e["data"] if "data" in e else base64.b64decode(e["data_base64"]).decode()
    stored[(e["stream"], e["version"])] = data if isinstance(data, str) else json.dumps(data)
bad = [s["stream"] for s in map(json.loads, open(streams)) if s["last_version"] % 2]
if bad:
    sys.exit(f"kill {kill}: half an append stored in {bad[:3]}")
n = 0
for line in open(acks):
    parts = line.split()
    if len(parts) != 4 or parts[0] != "ack":
        continue  # the line the kill cut short
    s, v = parts[1], int(parts[2])
    for version in (v - 1, v):
        if stored.get((s, version)) != f"{s}:{version}":
            sys.exit(f"kill {kill}: acknowledged {s} v{version} is missing or altered")
    n += 1
print(n)
PY
}

total_acks=0
for kill in $(seq "$KILLS"); do
  "$WRITER" "$work/store" "${CRASH_LOOP_THREADS:-4}" "$bootstrap" "$MODE" "$prefix" \
      >"$work/round" 2>"$work/writer.err" &
  pid=$!
  sleep "$($PY -c "import random; print(random.uniform(0.15, 0.8))")"
  kill -9 "$pid" 2>/dev/null || { echo "writer exited early:" >&2; cat "$work/writer.err" >&2; exit 1; }
  wait "$pid" 2>/dev/null || true
  round_acks=$(check_store "$kill")
  total_acks=$((total_acks + round_acks))
  (( kill % 50 == 0 )) && echo "$kill kills, $total_acks acknowledged appends checked" >&2
done
# Ship what the kills left unshipped, as the restarted service would.
printf 'category order %sorder-events\ndefault %sevents\n' "$prefix" "$prefix" >"$work/routes"
if ! "$CAIRN" ship "$work/store" -b "$bootstrap" --mode "$MODE" --routes "$work/routes" \
     --checkpoint-topic "${prefix}cairn-checkpoints" --exit-when-caught-up --log-level error \
     >/dev/null 2>"$work/ship.err"; then
  echo "final ship failed:"; cat "$work/ship.err"; exit 1
fi
"$CAIRN" read "$work/store" --format jsonl >"$work/expected.jsonl"
echo "$MODE: $KILLS kill -9 of the writer+shipper, $total_acks acknowledged appends all present, $(wc -l <"$work/expected.jsonl") events"
verify_kafka "${prefix}order-events" "${prefix}events"
# At-least-once re-sends after a crash only what was shipped after the last checkpoint save:
# the in-flight window (ShipperOptions, 10,000 events) plus what was delivered during one
# checkpoint interval (200 ms) — per kill CRASH_LOOP_RESEND_PER_KILL (10,000: the synchronous
# writer ships too slowly for the second term to count; the asynchronous one appends ~4x
# faster, and 200 ms of its shipping adds up to ~20,000).
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); k=int(sys.argv[2]); b=int(sys.argv[3]) * k;
n=d["duplicates"]; sys.exit(0 if n <= b else f"{n} re-sent events exceed the bound of {b}")' \
    "$work/summary.json" "$KILLS" "${CRASH_LOOP_RESEND_PER_KILL:-10000}"
