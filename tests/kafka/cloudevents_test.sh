#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# Issue #28 on a real cluster: `cairn ship --value cloudevents` read back by the CloudEvents SDK
# for Python (tests/kafka/cloudevents_read.py: the Kafka protocol binding's binary mode, a
# read_committed consumer), events appended with W3C trace context shipped with their
# traceparent and tracestate headers (from `cairn append` and from `cairn serve`'s HTTP
# requests), and the options' bad input refused before anything ships.
#   cloudevents_test.sh CAIRN           needs KAFKA_BOOTSTRAP_SERVERS (a real cluster)
set -euo pipefail
CAIRN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:?needs a real cluster (KAFKA_BOOTSTRAP_SERVERS)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT  # (serve_start replaces it with one that also stops the server)
prefix="cairn-ce-$RANDOM$RANDOM-"
fail() { echo "FAIL: $*"; exit 1; }

# Events of every shape: JSON, bytes that are not UTF-8, an empty payload, no content type, a
# schema version, and trace context given each way (flag, environment, JSONL, none).
store="$work/store"
"$CAIRN" append "$store" order-1 --type OrderPlaced --data '{"total":9.5,"note":"café"}' >/dev/null
printf '\xff\xfe\x00binary' | "$CAIRN" append "$store" order-1 --type Blob \
    --content-type application/octet-stream >/dev/null
"$CAIRN" append "$store" order-2 --type Empty --data '' --content-type '' >/dev/null
"$CAIRN" append "$store" order-2 --type OrderPlaced --data '{"n":1}' \
    --traceparent 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 \
    --tracestate 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' >/dev/null
TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 \
    "$CAIRN" append "$store" order-3 --type OrderPlaced --data '{"n":2}' >/dev/null
cat <<'EOF' | "$CAIRN" append "$store" --jsonl >/dev/null
{"stream":"order-3","type":"OrderShipped","data":{"n":3},"schema_version":3,"traceparent":"01-11111111111111111111111111111111-2222222222222222-01-later"}
{"stream":"order-4","type":"OrderPlaced","data":{"n":4}}
EOF
"$CAIRN" read "$store" --format jsonl >"$work/expected.jsonl"
[[ $(wc -l <"$work/expected.jsonl") == 7 ]] || fail "expected 7 events in the store"
store_id=$("$CAIRN" info "$store" --format json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["store_id"])')

# Bad options: exit 2, a message naming the rule, and nothing shipped (no checkpoint moves).
bad() {  # expected-message args...
  local want=$1; shift
  set +e
  "$CAIRN" ship "$store" -b "$bootstrap" --default-topic "${prefix}bad" --exit-when-caught-up \
      --log-level error "$@" >"$work/bad.out" 2>"$work/bad.err"
  local code=$?
  set -e
  [[ $code == 2 ]] || fail "ship $* exited $code, not 2: $(cat "$work/bad.err")"
  grep -q -- "$want" "$work/bad.err" || fail "ship $*: '$(cat "$work/bad.err")' does not say '$want'"
}
bad "CloudEvents source is empty" --value cloudevents --cloudevents-source ''
bad "not a URI-reference: character 6" --value cloudevents --cloudevents-source 'shop/ orders'
bad "needs --value cloudevents" --cloudevents-source /shop/orders
bad "expected payload, envelope or cloudevents" --value cloudevent
[[ $("$CAIRN" checkpoints "$store" --format json) == "[]" ]] ||
  fail "a refused ship moved a checkpoint: $("$CAIRN" checkpoints "$store" --format json)"

# Exactly-once with a chosen source, then at-least-once with the default one.
cp -r "$store" "$work/copy"  # the same store id, nothing shipped yet
"$CAIRN" ship "$store" -b "$bootstrap" --mode exactly-once --value cloudevents \
    --cloudevents-source /shop/orders --default-topic "${prefix}eos" \
    --checkpoint-topic "${prefix}checkpoints" --exit-when-caught-up --log-level error >/dev/null
"$HERE/python" "$HERE/cloudevents_read.py" "$bootstrap" "${prefix}eos" "$work/expected.jsonl" \
    /shop/orders | tee "$work/eos.json"
grep -q '"records": 7, "expected": 7, "traced": 3, "problems": 0' "$work/eos.json" ||
  fail "exactly-once CloudEvents: $(cat "$work/eos.json")"

"$CAIRN" ship "$work/copy" -b "$bootstrap" --value cloudevents --default-topic "${prefix}alo" \
    --exit-when-caught-up --log-level error >/dev/null
"$HERE/python" "$HERE/cloudevents_read.py" "$bootstrap" "${prefix}alo" "$work/expected.jsonl" \
    "urn:cairn:store:$store_id" | tee "$work/alo.json"
grep -q '"records": 7, "expected": 7, "traced": 3, "problems": 0' "$work/alo.json" ||
  fail "at-least-once CloudEvents: $(cat "$work/alo.json")"

# `cairn serve` shipping as it goes: the trace context of the HTTP requests (headers, and an
# event's own field) reaches the records.
source "$HERE/../serve_lib.sh"
serve_start "$work/http" -b "$bootstrap" --value cloudevents --cloudevents-source /edge/till-7 \
    --default-topic "${prefix}http"
post() { curl -sf -o /dev/null -X POST "$@"; }
json='Content-Type: application/json'

post -H "$json" -H 'traceparent: 00-5af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01' \
    -H 'tracestate: congo=t61rcWkgMzE' --data '[{"type":"Sold","data":{"sku":"a"}},{"type":"Sold","data":{"sku":"b"},"traceparent":"00-6af7651916cd43dd8448eb211c80319c-d7ad6b7169203331-01"}]' \
    "$base/v1/streams/till-7/events" || fail "traced POST"
post -H "$json" --data '{"type":"Opened"}' "$base/v1/streams/till-8/events" || fail "untraced POST"
post -H 'Content-Type: application/vnd.kafka.json.v2+json' \
    -H 'traceparent: 00-7af7651916cd43dd8448eb211c80319c-e7ad6b7169203331-01' \
    --data '{"records":[{"key":"till-9","value":{"n":1}}]}' "$base/topics/Counted" || fail "traced produce"
code=$(curl -s -o "$work/bad.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H 'traceparent: 00-00000000000000000000000000000000-c7ad6b7169203331-01' \
    --data '{"type":"Sold"}' "$base/v1/streams/till-7/events")
[[ $code == 400 ]] && grep -q "the trace id is all zeros" "$work/bad.out" || fail "a zero trace id got $code"
serve_stop
"$CAIRN" read "$work/http" --format jsonl >"$work/http.jsonl"
[[ $(wc -l <"$work/http.jsonl") == 4 ]] || fail "serve stored $(wc -l <"$work/http.jsonl") events, not 4"
"$HERE/python" "$HERE/cloudevents_read.py" "$bootstrap" "${prefix}http" "$work/http.jsonl" \
    /edge/till-7 | tee "$work/http.json"
grep -q '"records": 4, "expected": 4, "traced": 3, "problems": 0' "$work/http.json" ||
  fail "serve's CloudEvents: $(cat "$work/http.json")"

# The judge must be able to fail: against a store export with one event's type changed.
sed '1s/"OrderPlaced"/"OrderCancelled"/' "$work/expected.jsonl" >"$work/wrong.jsonl"
if "$HERE/python" "$HERE/cloudevents_read.py" "$bootstrap" "${prefix}alo" "$work/wrong.jsonl" \
    "urn:cairn:store:$store_id" >"$work/wrong.json"; then
  fail "the CloudEvents reader passed a wrong type: $(cat "$work/wrong.json")"
fi
grep -q '"problems": 1,' "$work/wrong.json" || fail "unexpected verdict: $(cat "$work/wrong.json")"
echo "cloudevents: ok"
