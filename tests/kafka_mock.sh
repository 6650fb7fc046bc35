# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# Sourced by the Kafka shell tests: makes the scratch directory $work, removed on exit with
# the mock (if started). use_kafka (below) picks a real cluster or the mock. start_kafka_mock [--topic NAME:PARTITIONS]...: starts `cairn
# kafka-mock` (3 brokers) in the background and sets $bootstrap and $mock_pid; fd 3 then
# takes its fault-injection commands (docs/cli.md). Needs $CAIRN.
work=$(mktemp -d)
mock_pid=""
cleanup() {
  [[ -n "$mock_pid" ]] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

start_kafka_mock() {
  mkfifo "$work/control"
  "$CAIRN" kafka-mock --brokers 3 "$@" --bootstrap-file "$work/bootstrap" <"$work/control" \
      >/dev/null 2>"$work/mock.log" &
  mock_pid=$!
  exec 3>"$work/control"
  for _ in $(seq 100); do [[ -s "$work/bootstrap" ]] && break; sleep 0.05; done
  bootstrap=$(cat "$work/bootstrap")
}

# use_kafka NAME [--topic NAME:PARTITIONS]...: the cluster a test ships to, in $bootstrap. A
# real one when KAFKA_BOOTSTRAP_SERVERS names it: topic names then start with $prefix, unique
# to the run ("cairn-NAME-<random>-"), so runs never share topics. Otherwise the mock, started
# with the given topics, and no prefix.
use_kafka() {
  local name=$1
  shift
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
    bootstrap=$KAFKA_BOOTSTRAP_SERVERS
    prefix="cairn-$name-$RANDOM$RANDOM-"
  else
    prefix=""
    start_kafka_mock "$@"
  fi
}

# verify_kafka TOPIC...: reads the topics back and checks them against $work/expected.jsonl
# (tests/kafka_verify.py), printing its one-line JSON summary and keeping it in
# $work/summary.json. The reader of record: on a real cluster confluent-kafka as a
# read_committed consumer (Kafka's own isolation judges exactly-once); on the mock, which
# writes no transaction markers, kafka-python counting only transactions whose checkpoint
# record kcat reads as committed. Needs $HERE, $PY, $bootstrap, $prefix, $MODE.
verify_kafka() {
  local verify topics=()
  for t in "$@"; do topics+=(--topic "$t"); done
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
    verify=("$HERE/kafka/python" "$HERE/kafka_verify.py" --client confluent)
  else
    kcat -C -b "$bootstrap" -t "${prefix}cairn-checkpoints" -o beginning -e -q \
        -X isolation.level=read_committed -f '%s\n' >"$work/committed" 2>/dev/null || true
    verify=("$PY" "$HERE/kafka_verify.py" --committed "$work/committed")
  fi
  "${verify[@]}" --bootstrap "$bootstrap" --expected "$work/expected.jsonl" --mode "$MODE" \
      "${topics[@]}" | tee "$work/summary.json"
}
