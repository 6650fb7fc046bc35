#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# librdkafka 2.0.2 against this broker version: it decides some protocol features from single
# request versions, and Kafka 4.x removed old ones (KIP-896). With debug=feature the shipper's
# own log must show MsgVer2 and IdempotentProducer enabled, and each compression codec must
# really compress on the broker's disk (a codec librdkafka thinks the broker lacks would be
# dropped silently).
#   features_test.sh CAIRN          needs KAFKA_BOOTSTRAP_SERVERS and CAIRN_KAFKA_DIR (the
#                                   cluster's state directory, for the partitions' log sizes)
set -euo pipefail
CAIRN=$(realpath "$1")
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:?needs a real cluster (KAFKA_BOOTSTRAP_SERVERS)}
data="${CAIRN_KAFKA_DIR:?needs CAIRN_KAFKA_DIR}/node1/data"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="cairn-feat-$RANDOM$RANDOM-"
pad=$(printf 'a%.0s' $(seq 300))
for i in $(seq 2000); do
  echo "{\"stream\":\"f-$((i % 10))\",\"type\":\"T\",\"data\":{\"n\":$i,\"pad\":\"$pad\"}}"
done | "$CAIRN" append "$work/store" --jsonl >/dev/null

# Bytes of the topic's log segments on broker 1 (it holds a replica of every partition).
topic_bytes() { find "$data" -path "$data/$1-*" -name '*.log' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
ship() {  # codec
  rm -rf "$work/copy" && cp -r "$work/store" "$work/copy"
  "$CAIRN" ship "$work/copy" -b "$bootstrap" --default-topic "${prefix}$1" -X compression.type="$1" \
      -X debug=feature --log-level debug --exit-when-caught-up >"$work/$1.out" 2>"$work/$1.err"
}

ship none
for feature in MsgVer2 IdempotentProducer; do
  grep -q "Enabling feature $feature" "$work/none.err" ||
    { echo "librdkafka did not enable $feature:"; grep -i feature "$work/none.err" | head; exit 1; }
done
listed() { grep -o "$1 feature [A-Za-z0-9]*" "$work/none.err" | sed "s/$1 feature //" | sort -u | tr '\n' ' '; }
echo "enabled: $(listed Enabling)"
echo "disabled: $(listed Disabling)"
sleep 1  # the broker's segment sizes settle once the appends are acknowledged
plain=$(topic_bytes "${prefix}none")
((plain > 500000)) || { echo "only $plain bytes on disk for the uncompressed topic"; exit 1; }
for codec in gzip snappy lz4 zstd; do
  ship "$codec"
  sleep 1
  bytes=$(topic_bytes "${prefix}$codec")
  echo "compression $codec: $bytes bytes on disk, uncompressed $plain"
  ((bytes * 3 < plain)) || { echo "$codec did not compress ($bytes of $plain bytes)"; exit 1; }
done
