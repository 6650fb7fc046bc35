#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# kill -9 of `cairn serve` under HTTP load, again and again (issue #15). Eight client threads
# (tests/serve_load.py) append three-event requests with ids and expected versions while the
# server ships to Kafka; it is killed at a random moment, restarted, and the requests whose
# answer the kill swallowed are sent again unchanged (each must then be a 201: deduplicated
# if it had been stored, fresh if not). After every kill `cairn verify` passes, every request
# that got a 201 is in the store with its ids at its versions, and no request is half there
# (every stream ends on a multiple of three). At the end the restarted server ships the rest
# and is stopped with SIGTERM (it must exit 0), and an independent client reads every topic
# back (tests/kafka_verify.py): every event, each stream in order.
#   serve_crash_test.sh CAIRN_BINARY [MODE]
# SERVE_CRASH_KILLS: number of kills (default 8). Uses `cairn kafka-mock` unless
# KAFKA_BOOTSTRAP_SERVERS names a real cluster (topics then get a random prefix).
set -euo pipefail
CAIRN=$(realpath "$1")
MODE=${2:-at-least-once}
KILLS=${SERVE_CRASH_KILLS:-8}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/serve_lib.sh"  # free_port, wait_ready
PY=/usr/bin/python3

source "$HERE/kafka_mock.sh"  # $work, cleanup on exit, use_kafka
use_kafka serve --topic order-events:12 --topic events:3 --topic cairn-checkpoints:1
printf 'category order %sorder-events\ndefault %sevents\n' "$prefix" "$prefix" >"$work/routes"
port=$(free_port)
serve_pid=""
stop_serve() { [[ -n "$serve_pid" ]] && kill -9 "$serve_pid" 2>/dev/null; true; }
trap 'stop_serve; cleanup' EXIT

start_serve() {
  "$CAIRN" serve "$work/store" -b "$bootstrap" --mode "$MODE" --routes "$work/routes" \
      --checkpoint-topic "${prefix}cairn-checkpoints" --listen "127.0.0.1:$port" \
      --log-level error 2>>"$work/serve.err" &
  serve_pid=$!
  wait_ready "http://127.0.0.1:$port" "$serve_pid" "$work/serve.err"
}

check_store() {  # after a kill: verify, every acknowledged request present, none half there
  "$CAIRN" verify "$work/store" >"$work/verify.out" 2>&1 ||
    { echo "kill $1: verify failed:" >&2; cat "$work/verify.out" >&2; exit 1; }
  "$CAIRN" read "$work/store" --format jsonl >"$work/log.jsonl"
  "$PY" - "$work/acks" "$work/log.jsonl" "$1" <<'PY'
import json, sys
acks, log, kill = sys.argv[1:4]
at = {}
last = {}
for line in open(log):
    e = json.loads(line)
    at[(e["stream"], e["version"])] = e["id"]
    last[e["stream"]] = max(last.get(e["stream"], 0), e["version"])
half = [s for s, v in last.items() if v % 3]
if half:
    sys.exit(f"kill {kill}: a request half stored in {half[:3]}")
n = 0
for line in open(acks):
    p = line.split()
    stream, first, ids = p[1], int(p[2]), p[3:]
    for i, event_id in enumerate(ids):
        if at.get((stream, first + i)) != event_id:
            sys.exit(f"kill {kill}: acknowledged {stream} v{first + i} ({event_id}) is missing")
    n += 1
print(n)
PY
}

for kill in $(seq "$KILLS"); do
  start_serve
  "$PY" "$HERE/serve_load.py" --port "$port" --state "$work/state.json" --acks "$work/acks" &
  load_pid=$!
  sleep "$($PY -c "import random; print(random.uniform(0.4, 1.5))")"
  kill -9 "$serve_pid"
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=""
  wait "$load_pid" || { echo "kill $kill: the load client failed (above)" >&2; exit 1; }
  acked=$(check_store "$kill")
done
# The last run: the swallowed requests once more, a little load, then shipping catches up.
start_serve
"$PY" "$HERE/serve_load.py" --port "$port" --state "$work/state.json" --acks "$work/acks" \
    --seconds 0.5 || { echo "the last load run failed (above)" >&2; exit 1; }
acked=$(check_store final)
for _ in $(seq 600); do
  status=$(curl -sf "http://127.0.0.1:$port/status")
  "$PY" -c 'import json,sys; s=json.loads(sys.argv[1]);
sys.exit(0 if s["shipper"]["shipped_through"] >= s["store"]["head"] else 1)' "$status" && break
  sleep 0.1
done
kill -TERM "$serve_pid"
wait "$serve_pid" || { echo "serve did not stop cleanly on SIGTERM:" >&2; cat "$work/serve.err" >&2; exit 1; }
serve_pid=""
"$CAIRN" read "$work/store" --format jsonl >"$work/expected.jsonl"
pending=$("$PY" -c 'import json,sys; print(sum(len(t["pending"]) for t in json.load(open(sys.argv[1]))["threads"]))' "$work/state.json")
[[ "$pending" == 0 ]] || { echo "$pending requests still without an answer" >&2; exit 1; }
echo "$MODE: $KILLS kill -9 of cairn serve under load, $acked acknowledged requests all present, none half there, $(wc -l <"$work/expected.jsonl") events"
verify_kafka "${prefix}order-events" "${prefix}events"
