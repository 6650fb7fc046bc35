# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# Sourced by the Kafka shell tests: makes the scratch directory $work, removed on exit with
# the mock (if started). start_kafka_mock [--topic NAME:PARTITIONS]...: starts `cairn
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
