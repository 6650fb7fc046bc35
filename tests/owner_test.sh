#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# The whole CLI beside a running owner (issue #26; docs/cli.md, "Beside a running owner").
#   owner_test.sh CAIRN_BINARY CRASH_WRITER_BINARY
# - Every writing command run against a store that `cairn serve` owns prints the same output
#   and exits with the same code as on a free store holding the same events (the two runs are
#   compared line by line).
# - `cairn ship` owns a spool that `cairn append` feeds while it ships; `cairn ship` ships a
#   store that `cairn serve` owns, keeping its checkpoint there.
# - kill -9 of the owner while a script appends through it: every append that was
#   acknowledged is in the store; the dead owner's socket does not block the next owner.
# - A foreign process listening on the socket of a store whose writer has no owner socket is
#   refused: nothing is sent to it. The socket's mode follows the directory's.
source "$(dirname "$0")/cli_lib.sh"
CAIRN=$(realpath "$1")
WRITER=$(realpath "$2")
PY=/usr/bin/python3
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$WORK"' EXIT

# wait_owner STORE: until something listens on STORE/owner.sock (a stale file does not count).
wait_owner() {
  $PY - "$1/owner.sock" <<'EOF'
import socket, sys, time
for _ in range(200):
    try:
        socket.socket(socket.AF_UNIX).connect(sys.argv[1])
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# start_owner STORE [args...]: `cairn serve --no-ship` on STORE in the background, until its
# owner socket answers.
start_owner() {
  local store=$1; shift
  "$CAIRN" serve "$store" --no-ship --unix "$WORK/http-$RANDOM.sock" "$@" \
    >>"$WORK/serve.log" 2>&1 &
  owner_pid=$!
  pids+=("$owner_pid")
  wait_owner "$store" || fail "serve did not open $store/owner.sock: $(tail -3 "$WORK/serve.log")"
}

# --- The same commands, free and owned: the same output and exit codes ---------------------
"$CAIRN" append "$WORK/owned" seed -t Seed -d '{}' >/dev/null
"$CAIRN" append "$WORK/free" seed -t Seed -d '{}' >/dev/null
start_owner "$WORK/owned"
script() {  # one writing command per line: STORE is replaced by each store's path
  cat <<'EOF'
append STORE order-1 -t Placed -e no-stream -d {"total":1}
append STORE order-1 -t Placed -e no-stream -d {"total":1}
append STORE order-1 -t Paid -e 1 --id 0190a0e4-1111-7000-8000-000000000001 --format json
append STORE order-1 -t Paid -e 1 --id 0190a0e4-1111-7000-8000-000000000001 --format json
append STORE order-1 -t Other --id 0190a0e4-1111-7000-8000-000000000001
append STORE '' -t Placed -d {}
stream-meta STORE order-1 --max-count 1 --format json
stream-meta STORE order-1 --max-age 3x
checkpoints STORE --set shipper=2
checkpoints STORE --set shipper=99
checkpoints STORE --set typo=1
checkpoints STORE --set projection=1 --create --format json
checkpoints STORE --delete projection
delete-stream STORE seed -e 5
delete-stream STORE seed -e 1
retention STORE --max-events 1 --min-audit-age 0s --dry-run
retention STORE --max-events 1 --min-audit-age 0s --format json
append STORE order-2 -t Placed -d {} --format json
EOF
}
n=0
while IFS= read -r line; do
  n=$((n + 1))
  for kind in free owned; do
    eval "set -- ${line//STORE/\"\$WORK/$kind\"}"
    "$CAIRN" "$@" >"$WORK/$kind.$n.out" 2>"$WORK/$kind.$n.err"
    echo $? >"$WORK/$kind.$n.rc"
  done
  expect_eq "$(cat "$WORK/owned.$n.rc")" "$(cat "$WORK/free.$n.rc")" "exit code of: $line"
  expect_eq "$(sed "s|$WORK/owned|STORE|g" "$WORK/owned.$n.out")" \
    "$(sed "s|$WORK/free|STORE|g" "$WORK/free.$n.out")" "output of: $line"
  expect_eq "$(sed "s|$WORK/owned|STORE|g" "$WORK/owned.$n.err")" \
    "$(sed "s|$WORK/free|STORE|g" "$WORK/free.$n.err")" "errors of: $line"
done < <(script)
# Many lines at once; an id reused with other content is refused before anything is stored.
for kind in free owned; do
  $PY -c 'import json
for i in range(3000): print(json.dumps({"stream": "bulk-%d" % (i % 7), "type": "T", "data": {"i": i}}))' |
    "$CAIRN" append "$WORK/$kind" --jsonl >"$WORK/$kind.jsonl.out" 2>&1
  echo $? >>"$WORK/$kind.jsonl.out"
done
expect_eq "$(cat "$WORK/owned.jsonl.out")" "$(cat "$WORK/free.jsonl.out")" "append --jsonl"
expect_has "$(cat "$WORK/owned.jsonl.out")" "appended 3000 events" "append --jsonl summary"
# Reading back: the owner's store now holds what the free one does, event for event.
"$CAIRN" read "$WORK/free" --format jsonl | $PY -c 'import json,sys
for l in sys.stdin: e=json.loads(l); print(e["position"], e["stream"], e["version"], e["type"])' >"$WORK/free.events"
"$CAIRN" read "$WORK/owned" --format jsonl | $PY -c 'import json,sys
for l in sys.stdin: e=json.loads(l); print(e["position"], e["stream"], e["version"], e["type"])' >"$WORK/owned.events"
expect_eq "$(cat "$WORK/owned.events")" "$(cat "$WORK/free.events")" "the events stored"

# A backup beside the owner, to a relative path; a second to the same path is refused.
cd "$WORK"
expect_exit 0 -- "$CAIRN" backup owned bak --format json
expect_has "$OUT" '"dir": "bak"' "backup reports the directory as given"
expect_exit 0 -- "$CAIRN" verify bak --expect "$($PY -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%d:%s" % (r["last_position"], r["chain_head"]))' "$WORK/out")"
expect_exit 2 -- "$CAIRN" backup owned bak
expect_has "$ERR" "already exists" "a second backup to the same directory"
cd - >/dev/null

# The socket's mode follows the directory's: group members who may write it may connect.
expect_eq "$(stat -c %a "$WORK/owned/owner.sock")" "600" "socket mode under a 0755 directory"
kill "$owner_pid"; wait "$owner_pid" 2>/dev/null
[ -e "$WORK/owned/owner.sock" ] && fail "serve left its owner socket behind at a clean stop"
chmod 0770 "$WORK/owned"
start_owner "$WORK/owned"
expect_eq "$(stat -c %a "$WORK/owned/owner.sock")" "660" "socket mode under a 0770 directory"

# --- kill -9 of the owner while a script appends through it -----------------------------------
(
  for i in $(seq 1 100000); do
    [ -e "$WORK/stop" ] && break
    id=$(printf '0190a0e4-2222-7000-8000-%012d' "$i")
    "$CAIRN" append "$WORK/owned" crash-1 -t Tick --id "$id" -d "{\"i\":$i}" 2>/dev/null ||
      break
  done
) >"$WORK/acked.txt" &
appender=$!
sleep 3
kill -9 "$owner_pid"
touch "$WORK/stop"  # after the kill the store is free: later appends would not go through it
wait "$appender" 2>/dev/null
acked=$(grep -c "^appended" "$WORK/acked.txt" || true)
[ "$acked" -ge 3 ] || fail "only $acked appends acknowledged before the kill"
[ -S "$WORK/owned/owner.sock" ] || fail "kill -9 should leave the socket file (a stale socket)"
# Each acknowledged append is stored at the position it was acknowledged with.
"$CAIRN" read "$WORK/owned" crash-1 --format jsonl | $PY -c 'import json,sys
print("\n".join(str(json.loads(l)["position"]) for l in sys.stdin))' | sort >"$WORK/stored.positions"
sed -n 's/.*positions \([0-9]*\)\.\..*/\1/p' "$WORK/acked.txt" | sort >"$WORK/acked.positions"
echo "owner_test: kill -9 of the owner after $acked appends acknowledged through it"
missing=$(comm -23 "$WORK/acked.positions" "$WORK/stored.positions" | wc -l)
expect_eq "$missing" "0" "acknowledged appends missing after kill -9 of the owner"
expect_exit 0 -- "$CAIRN" verify "$WORK/owned"
# The stale socket blocks nothing: a command on the free store, then a new owner.
expect_exit 0 -- "$CAIRN" append "$WORK/owned" after-kill -t T -d '{}'
start_owner "$WORK/owned"
expect_exit 0 -- "$CAIRN" append "$WORK/owned" after-kill -t T -e 1 -d '{}'
expect_has "$OUT" "versions 2..2" "append through the new owner"
kill "$owner_pid"; wait "$owner_pid" 2>/dev/null

# --- cairn ship owns an edge spool that cairn append feeds ------------------------------------
"$CAIRN" append "$WORK/spool" s-0 -t T -d '{}' >/dev/null
"$CAIRN" ship "$WORK/spool" --embedded-kafka >"$WORK/ship.out" 2>"$WORK/ship.err" &
ship_pid=$!
pids+=("$ship_pid")
wait_owner "$WORK/spool" || fail "cairn ship opened no owner socket: $(cat "$WORK/ship.err")"
refused=0
for i in $(seq 1 20); do
  "$CAIRN" append "$WORK/spool" "s-$i" -t T -d '{}' >/dev/null 2>>"$WORK/spool.err" || refused=$((refused + 1))
done
expect_eq "$refused" "0" "appends refused beside cairn ship ($(head -2 "$WORK/spool.err"))"
for _ in $(seq 100); do
  "$CAIRN" checkpoints "$WORK/spool" --format json | grep -q '"position": 21' && break
  sleep 0.1
done
expect_exit 0 -- "$CAIRN" checkpoints "$WORK/spool" --format json
expect_has "$OUT" '"position": 21' "cairn ship shipped what was appended beside it"
kill -TERM "$ship_pid"
wait "$ship_pid"
expect_eq "$?" "0" "cairn ship stopped by SIGTERM ($(tail -2 "$WORK/ship.err"))"

# --- cairn ship beside a writer (cairn serve owns the store) -----------------------------------
start_owner "$WORK/spool"
"$CAIRN" append "$WORK/spool" s-21 -t T -d '{}' >/dev/null
expect_exit 0 -- timeout 60 "$CAIRN" ship "$WORK/spool" --embedded-kafka --exit-when-caught-up
expect_exit 0 -- "$CAIRN" checkpoints "$WORK/spool" --format json
expect_has "$OUT" '"position": 22' "the checkpoint of a shipper beside the owner"
# Two shippers of one checkpoint are refused even across processes.
"$CAIRN" ship "$WORK/spool" --embedded-kafka >/dev/null 2>&1 &
second=$!
pids+=("$second")
sleep 2
expect_exit 6 -- timeout 60 "$CAIRN" ship "$WORK/spool" --embedded-kafka --exit-when-caught-up
expect_has "$ERR" "already has a consumer" "a second shipper of the same checkpoint"
kill -TERM "$second"; wait "$second" 2>/dev/null
kill "$owner_pid"; wait "$owner_pid" 2>/dev/null

# --- A writer without an owner socket, and a foreign listener on the socket path -------------
"$WRITER" "$WORK/held" 1 >/dev/null 2>&1 &
writer_pid=$!
pids+=("$writer_pid")
for _ in $(seq 100); do [ -e "$WORK/held/LOCK" ] && break; sleep 0.05; done
sleep 0.5
expect_exit 6 -- "$CAIRN" append "$WORK/held" x -t T -d '{}'
expect_has "$ERR" "owner socket" "a writer without an owner socket"
$PY - "$WORK/held/owner.sock" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(8)
s.settimeout(30)
try:
    while True:
        c, _ = s.accept()
        if c.recv(65536):
            open(sys.argv[1] + ".got", "w").write("received a request")
except Exception:
    pass
EOF
foreign=$!
pids+=("$foreign")
for _ in $(seq 100); do [ -S "$WORK/held/owner.sock" ] && break; sleep 0.05; done
expect_exit 1 -- "$CAIRN" append "$WORK/held" x -t T -d '{}'
expect_has "$ERR" "not the store's owner" "a foreign listener"
[ -e "$WORK/held/owner.sock.got" ] && fail "a request was sent to a foreign listener"
kill -9 "$writer_pid" "$foreign" 2>/dev/null

[ "$failures" = 0 ] && echo "owner_test: all passed" || { echo "owner_test: $failures failure(s)"; exit 1; }
