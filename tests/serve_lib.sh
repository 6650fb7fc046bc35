# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# Sourced by the tests and the benchmark that run `cairn serve`: one harness for starting and
# stopping it, instead of the same lines in each script.
# free_port: prints a loopback port nobody listens on.
# wait_ready BASE_URL PID [ERR_FILE]: waits until BASE_URL/healthz answers; fails, printing
# ERR_FILE, if the server exits first or does not answer within 10 s.
# serve_start STORE [ARGS...]: runs `$CAIRN serve STORE --listen 127.0.0.1:PORT --log-level
#   error ARGS...` in the background (stderr in $work/serve.err) on a free port, kills it and
#   removes $work when the script exits, and waits until it answers. Sets serve_pid, port and
#   base (http://127.0.0.1:PORT). Needs $CAIRN and $work.
# serve_stop: SIGTERM, then fails (printing serve.err) unless the server exits 0.
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() {
  for _ in $(seq 200); do
    curl -skf "$1/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "cairn serve at $1 did not answer /healthz:" >&2
  [[ -n "${3:-}" && -f "$3" ]] && cat "$3" >&2
  exit 1
}

serve_pid=""
serve_cleanup() {
  [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null
  [[ -n "${work:-}" ]] && rm -rf "$work"
  return 0
}

serve_start() {
  local store=$1
  shift
  trap serve_cleanup EXIT
  port=$(free_port)
  base="http://127.0.0.1:$port"
  "$CAIRN" serve "$store" --listen "127.0.0.1:$port" --log-level error "$@" 2>"$work/serve.err" &
  serve_pid=$!
  wait_ready "$base" "$serve_pid" "$work/serve.err"
}

serve_stop() {
  kill -TERM "$serve_pid"
  wait "$serve_pid" || { echo "cairn serve did not stop cleanly:" >&2; cat "$work/serve.err" >&2; exit 1; }
  serve_pid=""
}
