#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# schemathesis against `cairn serve` from docs/openapi.yaml: requests generated from the
# schema, valid and not (hostile strings, huge numbers, wrong types, missing fields, unknown
# methods), each answer checked — never a 5xx or a crash, every status code, header and body
# the one the schema documents, invalid input refused. Then the store must pass `cairn
# verify`, and every pipelined append it acknowledged must be in it (the wire-level pass of
# tests/http_wire_fuzz.py: pipelined, slow, cut-off and badly framed requests). The live feed
# is left out (it never ends). Not checked: that every schema-valid
# request is accepted, because JSON Schema cannot say what the store also demands (a base64
# key that decodes to UTF-8, a body's `stream` equal to the path's).
#   http_fuzz.sh CAIRN_BINARY [EXAMPLES_PER_OPERATION]   (.ci/reliability runs it under ASan)
set -euo pipefail
CAIRN=$(realpath "$1")
EXAMPLES=${2:-40}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/serve_lib.sh"  # serve_start, serve_stop
work=$(mktemp -d)
serve_start "$work/store" --no-ship
cd "$work"  # schemathesis writes its example database and reports into the working directory
"$HERE/schemathesis" run "$HERE/../docs/openapi.yaml" -u "http://127.0.0.1:$port" \
    -n "$EXAMPLES" --checks all --exclude-checks positive_data_acceptance \
    --exclude-operation-id feed --generation-deterministic --no-color
kill -0 "$serve_pid" || { echo "cairn serve died:" >&2; cat "$work/serve.err" >&2; exit 1; }
# The wire-level half: pipelined, slow, cut-off and badly framed requests from four threads
# (tests/http_wire_fuzz.py), /healthz answering throughout.
/usr/bin/python3 "$HERE/http_wire_fuzz.py" "$port" "$work/ids" --seconds "${CAIRN_HTTP_WIRE_SECONDS:-15}"
kill -0 "$serve_pid" || { echo "cairn serve died:" >&2; cat "$work/serve.err" >&2; exit 1; }
serve_stop
"$CAIRN" verify "$work/store"
# Every pipelined append answered 201 is in the store.
"$CAIRN" read "$work/store" --format json | /usr/bin/python3 -c '
import json, sys
stored = {e["id"] for e in json.load(sys.stdin)}
wanted = [l.strip() for l in open(sys.argv[1]) if l.strip()]
missing = [i for i in wanted if i not in stored]
print(f"{len(wanted)} acknowledged pipelined appends, {len(missing)} missing from the store")
sys.exit(1 if missing else 0)' "$work/ids"
