#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# The status page of `cairn serve` in headless Chromium (tests/status_page.cjs), against a
# server with tokens, a backlog quota and its embedded Kafka.
#   status_page_test.sh CAIRN_BINARY
set -euo pipefail
CAIRN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/serve_lib.sh"  # serve_start, serve_stop
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || { echo "chromium missing (.ci/install-deps)" >&2; exit 1; }
work=$(mktemp -d)
trap serve_cleanup EXIT
token=$(openssl rand -hex 24)
printf 'append %s\n' "$token" >"$work/tokens"
serve_start "$work/store" --embedded-kafka --tokens "$work/tokens" --backlog-max-events 1000
append() {  # TYPE
  curl -sf -o /dev/null "$base/v1/streams/order-$RANDOM/events" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d "{\"type\":\"$1\",\"data\":{}}"
}
for i in $(seq 12); do append OrderPlaced; done
cat >"$work/append-one" <<SH
#!/bin/sh
exec curl -sf -o /dev/null "$base/v1/streams/order-late/events" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"type":"AppendedWhileOpen","data":{}}'
SH
chmod +x "$work/append-one"
# Wait for the shipper to connect, so that the page shows it shipping.
for _ in $(seq 100); do
  curl -sf -H "Authorization: Bearer $token" "$base/status" | grep -q '"state":"shipping"' && break
  sleep 0.1
done
SCREENSHOT=${SCREENSHOT:-$work/status.png} "$HERE/playwright" "$HERE/status_page.cjs" "$base" "$token" 12 "$work/append-one"
