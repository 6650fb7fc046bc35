#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# docs/examples/serve/ must work as shipped: the systemd unit passes `systemd-analyze verify`,
# the Prometheus config passes `promtool check config`, and the command line the unit runs,
# with its env file, routes, client properties and tokens, starts `cairn serve` (against a
# broker that is down: serving must not need Kafka) and answers /readyz.
#   serve_config_test.sh CAIRN_BINARY
set -euo pipefail
CAIRN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/serve_lib.sh"  # free_port, wait_ready
EX=$HERE/../docs/examples/serve
work=$(mktemp -d)
serve_pid=""
trap '[[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT

# systemd-analyze wants the binary and files the unit names to exist: a private root.
sed -e "s|/usr/local/bin/cairn|$CAIRN|" "$EX/cairn-serve.service" >"$work/cairn-serve.service"
if command -v systemd-analyze >/dev/null; then
  # (In a container without systemd running as PID 1 it may say so; only the unit's own
  # problems count.)
  { systemd-analyze verify "$work/cairn-serve.service" 2>&1 || true; } |
      { grep "cairn-serve.service" || true; } | tee "$work/verify.out"
  [[ ! -s "$work/verify.out" ]] || { echo "systemd-analyze verify complained (above)" >&2; exit 1; }
fi
cp "$HERE/../docs/monitoring/alerts.yml" "$work/cairn-alerts.yml"
sed -e "s|/etc/prometheus/cairn-alerts.yml|$work/cairn-alerts.yml|; s|/etc/prometheus/cairn-read-token|$work/read-token|" \
    "$EX/prometheus.yml" >"$work/prometheus.yml"
echo token >"$work/read-token"
promtool check config "$work/prometheus.yml"

# The unit's ExecStart, with the env file's values and the files in $work.
set -a; source "$EX/cairn-serve.env"; set +a
port=$(free_port)
sed -e 's|^bootstrap.servers=.*|bootstrap.servers=127.0.0.1:1|; /^security.protocol/d' \
    "$EX/client.properties" >"$work/client.properties"
cp "$EX/tokens.example" "$work/tokens"
chmod 600 "$work/tokens"
"$CAIRN" serve "$work/events" --listen "127.0.0.1:$port" --tokens "$work/tokens" \
    --kafka-config "$work/client.properties" --routes "$EX/routes.txt" --mode "$CAIRN_MODE" \
    --backlog-max-bytes "$CAIRN_BACKLOG_MAX_BYTES" --log-level error 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >"$work/ready" 2>/dev/null && break; sleep 0.1; done
grep -q '"ready":true' "$work/ready" || { echo "not ready:"; cat "$work/ready" "$work/serve.err"; exit 1; } >&2
kill -TERM "$serve_pid"; wait "$serve_pid" || true; serve_pid=""

# --unix: curl over the socket, the mode asked for, the file gone after SIGTERM; bad uses refused.
sock="$work/http.sock"
"$CAIRN" serve "$work/unix-store" --no-ship --unix "$sock" --unix-mode 0600 --log-level error \
    2>"$work/unix.err" &
serve_pid=$!
for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.1; done
[[ "$(stat -c %a "$sock")" == 600 ]] || { echo "socket mode $(stat -c %a "$sock"), not 600" >&2; exit 1; }
curl -sf --unix-socket "$sock" -X POST http://localhost/v1/streams/till-1/events \
    -H 'Content-Type: application/json' -d '{"type":"Sale","data":{"total":5}}' | grep -q '"first_version":1'
curl -sf --unix-socket "$sock" http://localhost/v1/streams/till-1 | grep -q '"total":5'
kill -TERM "$serve_pid"; wait "$serve_pid"; serve_pid=""
[[ ! -e "$sock" ]] || { echo "the socket file outlived cairn serve" >&2; exit 1; }
refused() {  # refused EXIT_CODE MESSAGE ARGS...: the command fails so, naming what was wrong
  local code=$1 message=$2 got=0; shift 2
  "$CAIRN" serve "$work/unix-store" --no-ship "$@" >/dev/null 2>"$work/refused.err" || got=$?
  [[ $got == "$code" ]] && grep -q -- "$message" "$work/refused.err" ||
      { echo "serve $*: exit $got, wanted $code with '$message':" >&2; cat "$work/refused.err" >&2; exit 1; }
}
refused 2 "excludes" --unix "$sock" --listen 127.0.0.1:0
refused 2 "unix-mode '999'" --unix "$sock" --unix-mode 999
touch "$work/plain"
refused 2 "is not a socket" --unix "$work/plain"
[[ -f "$work/plain" ]] || { echo "--unix removed a plain file" >&2; exit 1; }

echo "the example unit, env, routes, client.properties, tokens and Prometheus config all work; so does --unix"
