#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# The seed's consumers, for real: a Spring Boot 3.5 service (tests/interop/spring: a
# @KafkaListener with Spring Kafka's JsonDeserializer and spring.json.type.mapping keyed by
# __TypeId__) reads what `cairn ship --type-header __TypeId__` sent from a `cairn demo` store,
# maps every event to its Java record, and checks each stream's versions in order and complete.
#   spring_test.sh CAIRN MODE        MODE: at-least-once | exactly-once (read_committed)
# Needs KAFKA_BOOTSTRAP_SERVERS (a real cluster), Java 17 and Maven (the jar is built on first
# use; its dependencies come from Maven Central and are cached in ~/.m2).
set -euo pipefail
CAIRN=$(realpath "$1")
MODE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:?needs a real cluster (KAFKA_BOOTSTRAP_SERVERS)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jar="$HERE/spring/target/cairn-spring-interop.jar"
if [[ ! -f "$jar" || -n "$(find "$HERE/spring/src" "$HERE/spring/pom.xml" -newer "$jar" -print -quit)" ]]; then
  mvn -q -B -f "$HERE/spring/pom.xml" package -DskipTests >"$work/mvn.log" 2>&1 ||
    { echo "building the Spring consumer failed:"; tail -30 "$work/mvn.log"; exit 1; }
fi

p="cairn-spring-$RANDOM$RANDOM-"
"$CAIRN" demo --orders 300 --threads 2 --store "$work/store" --no-kafka >/dev/null
printf 'category customer %scustomer-events\ncategory order %sorder-events\ncategory inventory %sinventory-events\ncategory payment %spayment-events\ndefault %sdomain-events\n' \
    "$p" "$p" "$p" "$p" "$p" >"$work/routes"
"$CAIRN" ship "$work/store" -b "$bootstrap" --mode "$MODE" --routes "$work/routes" \
    --type-header __TypeId__ --checkpoint-topic "${p}checkpoints" --exit-when-caught-up \
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
CAIRN_ISOLATION=$isolation java -jar "$jar" --cairn.topics="$topics" --cairn.expected="$work/expected" \
    --cairn.allow-duplicates="$allow" --cairn.timeout-seconds=120 2>"$work/spring.err" | tee "$work/spring.out" ||
  { echo "the Spring consumer failed:"; tail -20 "$work/spring.err"; exit 1; }
grep -q "spring: .* 0 problems" "$work/spring.out"
