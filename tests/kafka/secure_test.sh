#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# A secured cluster as MSK users have one: TLS (a CA made by the cluster script with openssl)
# and SASL/SCRAM-SHA-512. `cairn ship --kafka-config` takes the Java-style client.properties an
# MSK user already has (sasl.jaas.config, a JKS trust store, serializers): the JAAS login is
# translated, the Java-only keys are skipped with a warning each, and every event arrives,
# read back over SASL_SSL by kcat. A wrong password fails with the reason named.
#   secure_test.sh CAIRN           needs CAIRN_KAFKA_CLUSTER of a cluster started with --secure
set -euo pipefail
CAIRN=$(realpath "$1")
CLUSTER=${CAIRN_KAFKA_CLUSTER:?needs the cluster script (CAIRN_KAFKA_CLUSTER)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$CLUSTER" secure-client-properties >"$work/client.properties"
bootstrap=$("$CLUSTER" secure-bootstrap)
topic="cairn-secure-$RANDOM$RANDOM"
for i in $(seq 500); do echo "{\"stream\":\"order-$((i % 7))\",\"type\":\"T\",\"data\":{\"i\":$i}}"; done \
  | "$CAIRN" append "$work/store" --jsonl >/dev/null
"$CAIRN" ship "$work/store" --kafka-config "$work/client.properties" --default-topic "$topic" \
    --exit-when-caught-up --format json >"$work/ship.json" 2>"$work/ship.err"
for skipped in ssl.truststore.location key.serializer value.serializer; do
  grep -q "warning: .*$skipped" "$work/ship.err" || { echo "no warning for $skipped"; cat "$work/ship.err"; exit 1; }
done
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["shipped_through"] == 500, d' "$work/ship.json"
# An independent reader over the same secured listener, configured the librdkafka way.
ca=$(sed -n 's/^ssl.ca.location=//p' "$work/client.properties")
n=$(kcat -C -b "$bootstrap" -t "$topic" -o beginning -e -q -f '%k\n' -X security.protocol=SASL_SSL \
      -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=cairn -X sasl.password=cairn-test-secret \
      -X ssl.ca.location="$ca" | wc -l)
[[ "$n" == 500 ]] || { echo "kcat read $n of 500 over SASL_SSL"; exit 1; }
echo "secure: 500 events shipped over SASL_SSL/SCRAM-SHA-512 with a Java client.properties, read back by kcat"
# The wrong password: the shipper keeps trying and says why.
sed 's/password="[^"]*"/password="wrong"/' "$work/client.properties" >"$work/wrong.properties"
"$CAIRN" append "$work/store" order-1 --type T --data '{}' >/dev/null
code=0
timeout -s TERM 8 "$CAIRN" ship "$work/store" --kafka-config "$work/wrong.properties" \
    --default-topic "$topic" >"$work/wrong.out" 2>&1 || code=$?
grep -qi "authentication" "$work/wrong.out" || { echo "a wrong password was not named:"; tail -5 "$work/wrong.out"; exit 1; }
echo "secure: a wrong password is reported: $(grep -oi '[^|]*authentication[^|]*' "$work/wrong.out" | head -1 | cut -c1-160)"
