#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# The client examples of docs/examples/http/ (curl, Python requests, Node fetch, a REST Proxy
# client) against a real `cairn serve` shipping to its embedded Kafka, with bearer tokens on:
# each example checks its own answers and exits non-zero when one is wrong; then the store
# must hold what they appended, verified, and the server must stop cleanly on SIGTERM.
#   http_examples_test.sh CAIRN_BINARY
set -euo pipefail
CAIRN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/serve_lib.sh"  # serve_start, serve_stop
EXAMPLES=$HERE/../docs/examples/http
work=$(mktemp -d)
trap serve_cleanup EXIT
for tool in curl node; do command -v "$tool" >/dev/null || { echo "$tool missing" >&2; exit 1; }; done

export CAIRN_TOKEN=$(openssl rand -hex 24)
printf 'append %s\nread %s\n' "$CAIRN_TOKEN" "$(openssl rand -hex 24)" >"$work/tokens"
chmod 600 "$work/tokens"
serve_start "$work/store" --embedded-kafka --tokens "$work/tokens"
export CAIRN_URL=$base

echo "== curl";            "$EXAMPLES/curl.sh"
echo "== Python requests"; /usr/bin/python3 "$EXAMPLES/python_requests.py"
echo "== Node fetch";      node "$EXAMPLES/node_fetch.mjs"
echo "== REST Proxy";      /usr/bin/python3 "$EXAMPLES/rest_proxy_client.py"

serve_stop
"$CAIRN" verify "$work/store" >/dev/null
# curl 1, Python 2, Node 2, REST Proxy 3.
events=$("$CAIRN" read "$work/store" --format jsonl | wc -l)
[[ "$events" == 8 ]] || { echo "expected 8 events in the store, found $events" >&2; exit 1; }
echo "all four examples ran; 8 events stored and verified"
