#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# kill -9 of a shipping process, restarted, again and again; then what reached Kafka is read
# back with kafka-python (tests/kafka_verify.py), a client independent of librdkafka.
#   ship_crash_test.sh CAIRN_BINARY MODE      MODE: at-least-once | exactly-once
# SHIP_CRASH_KILLS sets the number of kills (default 6). Uses `cairn kafka-mock` unless
# KAFKA_BOOTSTRAP_SERVERS names a real cluster (topics then get a random prefix).
# The mock keeps ~5 MiB per partition: the volume here is ~0.6 MiB over 10 partitions.
set -euo pipefail
CAIRN=$(realpath "$1")
MODE=${2:-at-least-once}
KILLS=${SHIP_CRASH_KILLS:-6}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3   # Debian's python3-kafka lives here, not in a pyenv python

source "$HERE/kafka_mock.sh"  # $work, cleanup on exit, use_kafka

use_kafka ship --topic order-events:6 --topic events:3 --topic cairn-checkpoints:1
if [[ -n "$mock_pid" ]]; then
  # 20 ms per broker round trip: catching up takes long enough for the kills to land mid-way.
  for b in 1 2 3; do echo "rtt $b 20" >&3; done
fi
printf 'category order %sorder-events\ndefault %sevents\n' "$prefix" "$prefix" >"$work/routes"
ship=("$CAIRN" ship "$work/store" -b "$bootstrap" --mode "$MODE" --routes "$work/routes"
      --checkpoint-topic "${prefix}cairn-checkpoints" --exit-when-caught-up
      -X linger.ms=20 --log-level error)

batch() {  # 40 streams x 25 events, JSON payloads
  $PY - "$1" <<'PY'
import json, sys
b = int(sys.argv[1])
for v in range(25):
    for s in range(40):
        stream = ("order-" if s % 2 else "cart-") + str(s)
        print(json.dumps({"stream": stream, "type": "Happened",
                          "data": {"batch": b, "n": v, "pad": "x" * 80}}))
PY
}

kills=0
for round in $(seq "$KILLS"); do
  batch "$round" | "$CAIRN" append "$work/store" --jsonl --durability buffered >/dev/null
  "${ship[@]}" >"$work/ship.out" 2>"$work/ship.err" &
  pid=$!
  # Somewhere between connecting and catching up.
  sleep "$($PY -c "import random; print(random.uniform(0.02, 0.4))")"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
done
batch 0 | "$CAIRN" append "$work/store" --jsonl --durability buffered >/dev/null
if ! "${ship[@]}" >"$work/ship.out" 2>"$work/ship.err"; then
  echo "final ship failed:"; cat "$work/ship.err"; exit 1
fi
"$CAIRN" read "$work/store" --format jsonl >"$work/expected.jsonl"
echo "$MODE: $(wc -l <"$work/expected.jsonl") events, $kills kill -9 of the shipper"
verify_kafka "${prefix}order-events" "${prefix}events"
