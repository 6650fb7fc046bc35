#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# Writing beside the owner (issue #26), measured against the same work on a free store in the
# same run (docs/performance.md, "Writing beside the owner"):
#   - `cairn append --jsonl`, LINES 200-byte events (sync durability), free vs through a
#     `cairn serve --no-ship` owner;
#   - SINGLES separate `cairn append` processes, free vs through the owner (a cron script's
#     case: each one a process start, an open and one durable append).
# Usage: bench/owner_bench.sh CAIRN_BINARY [LINES [SINGLES]]
set -euo pipefail
CAIRN=$(realpath "$1")
LINES=${2:-100000}
SINGLES=${3:-200}
WORK=$(mktemp -d)
owner=""
trap '[ -n "$owner" ] && kill -9 "$owner" 2>/dev/null; rm -rf "$WORK"' EXIT
python3 -c 'import json,sys
pad = "x" * 150
for i in range(int(sys.argv[1])): print(json.dumps({"stream": "bench-%d" % (i % 1000), "type": "Bench", "data": {"i": i, "pad": pad}}))' \
  "$LINES" >"$WORK/input.jsonl"

seconds() { local t0=$EPOCHREALTIME; "$@" >/dev/null; python3 -c "print(f'{$EPOCHREALTIME - $t0:.3f}')"; }
singles() {
  for i in $(seq 1 "$SINGLES"); do "$CAIRN" append "$1" "single-$i" -t T -d '{}' >/dev/null; done
}

"$CAIRN" append "$WORK/free" seed -t T -d '{}' >/dev/null
"$CAIRN" append "$WORK/owned" seed -t T -d '{}' >/dev/null
"$CAIRN" serve "$WORK/owned" --no-ship --unix "$WORK/http.sock" 2>/dev/null &
owner=$!
python3 - "$WORK/owned/owner.sock" <<'PY'
import socket, sys, time
for _ in range(200):
    try:
        socket.socket(socket.AF_UNIX).connect(sys.argv[1]); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
free_jsonl=$(seconds "$CAIRN" append "$WORK/free" --jsonl <"$WORK/input.jsonl")
owned_jsonl=$(seconds "$CAIRN" append "$WORK/owned" --jsonl <"$WORK/input.jsonl")
free_singles=$(seconds singles "$WORK/free")
owned_singles=$(seconds singles "$WORK/owned")
python3 - "$LINES" "$SINGLES" "$free_jsonl" "$owned_jsonl" "$free_singles" "$owned_singles" <<'PY'
import sys
lines, singles = int(sys.argv[1]), int(sys.argv[2])
fj, oj, fs, os_ = map(float, sys.argv[3:])
print(f"{'work':<40} {'free store':>14} {'through owner':>14} {'ratio':>7}")
print(f"{f'append --jsonl, {lines} events (ev/s)':<40} {lines/fj:>14,.0f} {lines/oj:>14,.0f} {fj/oj:>6.2f}x")
print(f"{f'{singles} cairn append processes (/s)':<40} {singles/fs:>14,.1f} {singles/os_:>14,.1f} {fs/os_:>6.2f}x")
PY
