#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# The seed's consumers, for real: a Spring Boot 3.5 service (tests/interop/spring: a
# @KafkaListener with Spring Kafka's JsonDeserializer and spring.json.type.mapping keyed by
# __TypeId__) reads what `cairn ship --type-header __TypeId__` sent from a `cairn demo` store,
# maps every event to its Java record, and checks each stream's versions in order and complete.
# Tracing is on (Micrometer over Brave, Spring Kafka's listener observation): events appended
# with W3C trace context must be handled in a span of that trace (issue #28).
#   spring_test.sh CAIRN MODE [VALUE]   MODE: at-least-once | exactly-once (read_committed)
#                                       VALUE: payload (default) | envelope
# With envelope, cairn ships its FlatBuffers envelope (`--value envelope`) and the service reads
# it with EnvelopeDeserializer (classes flatc generates from schemas/event.fbs), each envelope's
# coordinates checked against the record's key and headers. Then LogVerifier, Apache Kafka's
# own Java consumer with no Spring in the way, judges the same topics against the store.
# Needs KAFKA_BOOTSTRAP_SERVERS (a real cluster), Java 17 and Maven (the jar is built on first
# use; its dependencies come from Maven Central and are cached in ~/.m2).
set -euo pipefail
CAIRN=$(realpath "$1")
MODE=$2
VALUE=${3:-payload}
[[ "$VALUE" == payload || "$VALUE" == envelope ]] || { echo "VALUE must be payload or envelope"; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:?needs a real cluster (KAFKA_BOOTSTRAP_SERVERS)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jar=$("$HERE/spring_jar.sh")

p="cairn-spring-$RANDOM$RANDOM-"
"$CAIRN" demo --orders 300 --threads 2 --store "$work/store" --no-kafka >/dev/null
# Events appended inside traces, each way an appender gives one: --traceparent (with a
# tracestate), the TRACEPARENT environment variable, and JSONL lines carrying their own. The
# consumer must handle each inside that trace; the demo's events carry none and must get none.
hex() { /usr/bin/python3 -c "import secrets; print(secrets.token_hex($1))"; }
customer() { printf '{"customerId":"%s","email":"%s@example.com","tier":"gold"}' "$1" "$1"; }
: >"$work/traces"
t=$(hex 16)
"$CAIRN" append "$work/store" customer-traced-1 --type CustomerRegistered --data "$(customer t1)" \
    --traceparent "00-$t-$(hex 8)-01" --tracestate "cairn=test,other@vendor=x y" >/dev/null
echo "customer-traced-1 1 $t" >>"$work/traces"
t=$(hex 16)
TRACEPARENT="00-$t-$(hex 8)-00" "$CAIRN" append "$work/store" customer-traced-2 \
    --type CustomerRegistered --data "$(customer t2)" >/dev/null
echo "customer-traced-2 1 $t" >>"$work/traces"
t3=$(hex 16) t4=$(hex 16)
printf '{"type":"CustomerRegistered","data":%s,"traceparent":"00-%s-%s-01"}\n' \
    "$(customer t3)" "$t3" "$(hex 8)" "$(customer t3)" "$t4" "$(hex 8)" |
  "$CAIRN" append "$work/store" customer-traced-3 --jsonl >/dev/null
printf 'customer-traced-3 1 %s\ncustomer-traced-3 2 %s\n' "$t3" "$t4" >>"$work/traces"
printf 'category customer %scustomer-events\ncategory order %sorder-events\ncategory inventory %sinventory-events\ncategory payment %spayment-events\ndefault %sdomain-events\n' \
    "$p" "$p" "$p" "$p" "$p" >"$work/routes"
"$CAIRN" ship "$work/store" -b "$bootstrap" --mode "$MODE" --routes "$work/routes" \
    --type-header __TypeId__ --value "$VALUE" --checkpoint-topic "${p}checkpoints" --exit-when-caught-up \
    --log-level error >/dev/null
"$CAIRN" streams "$work/store" --format jsonl | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    s = json.loads(line)
    print(s["stream"], s["last_version"])' >"$work/expected"

isolation=read_committed
allow=false
[[ "$MODE" == at-least-once ]] && isolation=read_uncommitted && allow=true
topics="${p}customer-events,${p}order-events,${p}inventory-events,${p}payment-events"
deserializer=()
[[ "$VALUE" == envelope ]] &&
  deserializer=(--spring.kafka.consumer.properties.spring.deserializer.value.delegate.class=dev.cairn.interop.EnvelopeDeserializer)
CAIRN_ISOLATION=$isolation java -jar "$jar" --cairn.topics="$topics" --cairn.expected="$work/expected" \
    --cairn.allow-duplicates="$allow" --cairn.timeout-seconds=120 --cairn.traces="$work/traces" \
    "${deserializer[@]}" \
    2>"$work/spring.err" | tee "$work/spring.out" ||
  { echo "the Spring consumer failed:"; tail -20 "$work/spring.err"; exit 1; }
grep -q "spring: .* 0 problems" "$work/spring.out"
grep -q "spring: 4 of 4 traces continued" "$work/spring.out"
if [[ "$VALUE" == envelope ]]; then  # every record came through the envelope path
  grep -Eq "spring: ([0-9]+) records \(\1 envelopes\)" "$work/spring.out" ||
    { echo "not every record was read as an envelope"; exit 1; }
else
  grep -q "spring: [0-9]* records (0 envelopes)" "$work/spring.out"
fi

"$CAIRN" read "$work/store" --format jsonl >"$work/expected.jsonl"
java -cp "$jar" -Dloader.main=dev.cairn.interop.LogVerifier \
    org.springframework.boot.loader.launch.PropertiesLauncher \
    "$bootstrap" "$work/expected.jsonl" "$MODE" ${topics//,/ } 2>"$work/verifier.err" |
  tee "$work/verifier.json" || { echo "the Java consumer found problems:"; tail -20 "$work/verifier.err"; exit 1; }
# The verifier must be able to fail: without the store's last event, Kafka holds one record the
# "store" lacks.
head -n -1 "$work/expected.jsonl" >"$work/short.jsonl"
if java -cp "$jar" -Dloader.main=dev.cairn.interop.LogVerifier \
    org.springframework.boot.loader.launch.PropertiesLauncher \
    "$bootstrap" "$work/short.jsonl" "$MODE" ${topics//,/ } >"$work/short.json" 2>>"$work/verifier.err"; then
  echo "the Java consumer passed a store missing its last event"; exit 1
fi
grep -q '"not_in_store":1,' "$work/short.json" || { echo "unexpected verdict:"; cat "$work/short.json"; exit 1; }
