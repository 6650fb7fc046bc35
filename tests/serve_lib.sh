# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# Sourced by the tests and the benchmark that run `cairn serve`.
# free_port: prints a loopback port nobody listens on.
# wait_ready BASE_URL PID [ERR_FILE]: waits until BASE_URL/healthz answers; fails, printing
# ERR_FILE, if the server exits first or does not answer within 10 s.
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() {
  for _ in $(seq 200); do
    curl -sf "$1/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "cairn serve at $1 did not answer /healthz:" >&2
  [[ -n "${3:-}" && -f "$3" ]] && cat "$3" >&2
  exit 1
}
