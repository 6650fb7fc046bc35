# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# Sourced by the CLI checks (cli_test.sh, cli_kafka_test.sh): $CAIRN from the first argument,
# a scratch $WORK removed on exit, and the expect_* helpers that count failures.
CAIRN=$1
# `cairn append` takes trace context from these (issue #28): not from whoever runs the tests.
unset TRACEPARENT TRACESTATE
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect_exit CODE -- command...: runs it, keeps stdout/stderr in $OUT/$ERR.
expect_exit() {
  local want=$1; shift; shift
  "$@" >"$WORK/out" 2>"$WORK/err"
  local got=$?
  OUT=$(cat "$WORK/out"); ERR=$(cat "$WORK/err")
  [ "$got" = "$want" ] || fail "exit $got, wanted $want: $(echo "$*" | cut -c1-200) (stderr: $(echo "$ERR" | cut -c1-300))"
}
expect_eq() { [ "$1" = "$2" ] || fail "$3: got [$1] wanted [$2]"; }
expect_has() { case "$1" in *"$2"*) ;; *) fail "$3: [$1] lacks [$2]";; esac; }
