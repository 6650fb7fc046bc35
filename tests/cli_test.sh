#!/usr/bin/env bash
# End-to-end checks of the cairn tool: output text, JSON, exit codes and error lines.
# Usage: cli_test.sh PATH/TO/cairn
set -u
CAIRN=$1
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

S=$WORK/store
expect_exit 0 -- "$CAIRN" --help
expect_has "$OUT" "Exit codes" "--help lists exit codes"
for cmd in info append read demo ship kafka-mock query export tail verify streams status dead-letters reconcile stream-meta delete-stream retention checkpoints; do
  expect_exit 0 -- "$CAIRN" $cmd --help
  expect_has "$OUT" "Usage" "$cmd --help"
done
expect_exit 2 -- "$CAIRN" read "$S" --bogus
expect_has "$ERR" "--bogus" "unknown option named"
expect_exit 2 -- "$CAIRN"

expect_exit 0 -- "$CAIRN" append "$S" order-1 --type OrderPlaced -e no-stream --data '{"total":10}'
expect_eq "$OUT" "appended 1 event to order-1: versions 1..1, positions 1..1" "append text"
echo -n '{"sku":"A"}' | "$CAIRN" append "$S" order-1 --type ItemAdded -e 1 >/dev/null || fail "stdin append"
expect_exit 3 -- "$CAIRN" append "$S" order-1 --type ItemAdded -e 5 --data '{}'
expect_eq "$ERR" "cairn: stream 'order-1' expected version 5, actual 2" "conflict line"
expect_exit 2 -- "$CAIRN" append "$S" order-1 --type ItemAdded -e five --data '{}'
expect_has "$ERR" "invalid expected version 'five'" "bad expected version"
expect_exit 2 -- "$CAIRN" append "$S" "" --type A --data '{}'
expect_has "$ERR" "stream id is empty" "empty stream"
head -c 1048577 /dev/zero >"$WORK/big"
expect_exit 2 -- bash -c "'$CAIRN' append '$S' order-1 --type A --content-type application/octet-stream <'$WORK/big'"
expect_has "$ERR" "over the limit of 1048576" "oversized payload"
expect_exit 2 -- "$CAIRN" append "$S" order-1 --type A --id not-a-uuid --data '{}'
expect_has "$ERR" "invalid event id 'not-a-uuid'" "bad id"

ID=0190c6f3-6a1e-7b8c-9d0e-1f2a3b4c5d6e
expect_exit 0 -- "$CAIRN" append "$S" payment-1 --type PaymentAuthorized --id $ID --data '{"amount":10}' --format json
expect_has "$OUT" '"deduplicated": false' "first id append"
expect_exit 0 -- "$CAIRN" append "$S" payment-1 --type PaymentAuthorized --id $ID --data '{"amount":10}'
expect_eq "$OUT" "already stored 1 event to payment-1: versions 1..1, positions 3..3" "idempotent retry"
expect_exit 3 -- "$CAIRN" append "$S" payment-1 --type PaymentAuthorized --id $ID --data '{"amount":11}'
expect_has "$ERR" "with different content" "id reuse"

printf '%s\n' '{"stream":"customer-1","type":"CustomerRegistered","data":{"email":"a@example.com"}}' \
  '{"stream":"customer-1","type":"EmailChanged","data":{"email":"b@example.com"},"metadata":{"by":"support"}}' \
  '{"stream":"blob-1","type":"Scanned","content_type":"application/octet-stream","data_base64":"AAEC/w=="}' \
  | "$CAIRN" append "$S" --jsonl >"$WORK/out" 2>&1 || fail "jsonl append: $(cat "$WORK/out")"
expect_exit 2 -- bash -c "echo 'not json' | '$CAIRN' append '$S' x --jsonl"
expect_has "$ERR" "stdin line 1: not valid JSON" "bad jsonl"

expect_exit 0 -- "$CAIRN" read "$S" order-1 --format jsonl
expect_eq "$(echo "$OUT" | wc -l)" "2" "read line count"
expect_has "$OUT" '"data":{"total":10}' "read data as JSON"
expect_exit 0 -- "$CAIRN" read "$S" order-1 --backward --limit 1 --format jsonl
expect_has "$OUT" '"version":2' "backward read"
expect_exit 0 -- "$CAIRN" read "$S" --from 6 --format jsonl
expect_has "$OUT" '"data_base64":"AAEC/w=="' "binary payload as base64"
expect_exit 0 -- "$CAIRN" read "$S" --format table
expect_has "$OUT" "POSITION" "table header"
expect_exit 0 -- "$CAIRN" read "$S" order-1 --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d)==2 and d[1]["type"]=="ItemAdded"' <<<"$OUT" || fail "json read"
expect_exit 4 -- "$CAIRN" read "$S" order-404
expect_eq "$ERR" "cairn: stream 'order-404' not found" "missing stream"

# Round trip: what `read` prints, `append --jsonl` takes back.
"$CAIRN" read "$S" --format jsonl | "$CAIRN" append "$WORK/copy" --jsonl >/dev/null || fail "round trip append"
strip='import json,sys
for l in sys.stdin:
    d=json.loads(l)
    for k in ("id","timestamp","chain_hash","position"): d.pop(k)
    print(json.dumps(d,sort_keys=True))'
diff <("$CAIRN" read "$S" --format jsonl | /usr/bin/python3 -c "$strip") \
     <("$CAIRN" read "$WORK/copy" --format jsonl | /usr/bin/python3 -c "$strip") || fail "round trip differs"

expect_exit 0 -- "$CAIRN" info "$S" --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["events"]==6 and d["streams"]==4 and d["format_version"]==2, d' <<<"$OUT" || fail "info json"
expect_exit 0 -- "$CAIRN" info "$S"
expect_has "$OUT" "events           6" "info text"
expect_exit 4 -- "$CAIRN" info "$WORK/nowhere"
expect_eq "$ERR" "cairn: no cairn store at $WORK/nowhere" "missing store"
mkdir -p "$WORK/foreign" && echo hi >"$WORK/foreign/file"
expect_exit 1 -- "$CAIRN" info "$WORK/foreign"
expect_has "$ERR" "is not a cairn store" "foreign dir"
expect_exit 0 -- "$CAIRN" demo --orders 200 --threads 4
expect_has "$OUT" "no gaps" "demo"
expect_has "$OUT" "every stream complete and in version order" "demo confirms Kafka"
expect_has "$OUT" "0 missing, 0 out of order" "demo: nothing missing or reordered"
expect_has "$OUT" "recovered  shipping resumed" "demo outage"
expect_exit 0 -- "$CAIRN" demo --orders 50 --threads 2 --no-kafka
expect_has "$OUT" "no gaps" "demo without Kafka"

# --- ship, reconcile, dead letters against Kafka: tests/cli_kafka_test.sh (mock and real) --
# Errors that need no broker:
expect_exit 2 -- "$CAIRN" kafka-mock --topic bad:0
expect_has "$ERR" "NAME:PARTITIONS" "bad mock topic"

# --- audit commands ------------------------------------------------------------------------
A=$WORK/audit
"$CAIRN" demo --orders 300 --threads 2 --store "$A" --no-kafka >/dev/null || fail "demo store for audits"
expect_exit 0 -- "$CAIRN" verify "$A"
expect_has "$OUT" "OK" "verify ok"
expect_has "$OUT" "streams and" "verify checks indexes"
expect_exit 0 -- "$CAIRN" verify "$A" --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] and d["events"]==d["last_position"] and d["indexes_checked"], d' <<<"$OUT" || fail "verify json"
expect_exit 0 -- "$CAIRN" verify "$A" --from-position 100
expect_has "$OUT" "not checked" "partial verify skips indexes"
expect_exit 0 -- "$CAIRN" streams "$A" --prefix order- --format jsonl
expect_eq "$(echo "$OUT" | wc -l)" "300" "streams --prefix"
expect_has "$OUT" '"events":3' "stream event counts"
expect_exit 0 -- "$CAIRN" streams "$A" --prefix customer-00000 --format csv
expect_eq "$(echo "$OUT" | head -1)" "stream,last_version,events,first,last" "streams csv header"
expect_exit 0 -- "$CAIRN" query "$A" --type OrderPlaced --format jsonl
expect_eq "$(echo "$OUT" | wc -l)" "300" "query by type"
expect_exit 0 -- "$CAIRN" query "$A" --type OrderPlaced --type OrderShipped --category order --limit 7 --format jsonl
expect_eq "$(echo "$OUT" | wc -l)" "7" "query types + category + limit"
expect_exit 0 -- "$CAIRN" query "$A" --where sku=sku-7 --type StockReserved --format jsonl
/usr/bin/python3 -c 'import json,sys
rows=[json.loads(l) for l in sys.stdin if l.strip()]
assert rows and all(r["data"]["sku"]=="sku-7" and r["type"]=="StockReserved" for r in rows), rows[:2]' <<<"$OUT" || fail "query --where"
expect_exit 0 -- "$CAIRN" query "$A" --stream order-0000042 --format jsonl
expect_eq "$(echo "$OUT" | wc -l)" "3" "query one stream"
expect_exit 0 -- "$CAIRN" query "$A" --from-position 10 --to-position 19 --format csv
expect_eq "$(echo "$OUT" | wc -l)" "11" "query position range as csv (header + 10)"
expect_exit 0 -- "$CAIRN" query "$A" --since 1h --until 2099-01-01T00:00:00Z --format jsonl --limit 5
expect_eq "$(echo "$OUT" | wc -l)" "5" "query time window"
expect_exit 0 -- "$CAIRN" query "$A" --since 2099-01-01T00:00:00Z --format jsonl
expect_eq "$OUT" "" "query in the future finds nothing"
expect_exit 2 -- "$CAIRN" query "$A" --since yesterday
expect_has "$ERR" "--since 'yesterday'" "bad time named"
expect_exit 2 -- "$CAIRN" query "$A" --where nothing
expect_has "$ERR" "expected path=value" "bad --where"
expect_exit 2 -- "$CAIRN" query "$A" --format xml
expect_exit 4 -- "$CAIRN" query "$WORK/nowhere"
expect_exit 1 -- "$CAIRN" verify "$WORK/foreign"
expect_has "$ERR" "not a cairn store" "verify foreign dir"
# Export -> append into an empty store reproduces streams, versions and payloads.
expect_exit 0 -- "$CAIRN" export "$A" -o "$WORK/export.jsonl"
expect_has "$ERR" "exported 1575 events" "export count"
"$CAIRN" append "$WORK/reimport" --jsonl <"$WORK/export.jsonl" >/dev/null || fail "append the export"
diff <("$CAIRN" export "$A" | /usr/bin/python3 -c "$strip") \
     <("$CAIRN" export "$WORK/reimport" | /usr/bin/python3 -c "$strip") || fail "export round trip differs"
expect_exit 0 -- "$CAIRN" status "$A" --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["head_position"]==1575 and d["dead_letters"]==0, d' <<<"$OUT" || fail "status json"
expect_exit 0 -- "$CAIRN" dead-letters "$A" --format json
expect_eq "$OUT" "[]" "no dead letters"
# tail follows a store another process is appending to.
"$CAIRN" tail "$S" --format jsonl --max-events 3 --poll-interval 0.05 >"$WORK/tail.out" 2>"$WORK/tail.err" &
TAIL=$!
sleep 0.5
for i in 1 2 3; do "$CAIRN" append "$S" tail-1 --type Tick --data "{\"n\":$i}" >/dev/null; done
for _ in $(seq 50); do kill -0 $TAIL 2>/dev/null || break; sleep 0.1; done
if kill -0 $TAIL 2>/dev/null; then kill $TAIL; fail "tail did not see 3 new events: $(cat "$WORK/tail.err")"; fi
expect_eq "$(grep -c '"stream":"tail-1"' "$WORK/tail.out")" "3" "tail prints new events"
# verify fails, naming the position, when an event's bytes change (edited with RocksDB's ldb).
KEY=0x0000000000000064  # position 100
VAL=$(ldb --db="$A" --column_family=log get --key_hex --value_hex $KEY 2>/dev/null)
BAD=$(/usr/bin/python3 -c 'import sys; v=sys.argv[1]; i=len(v)-20; print(v[:i] + ("1" if v[i] != "1" else "2") + v[i+1:])' "$VAL")
ldb --db="$A" --column_family=log put --key_hex --value_hex $KEY "$BAD" >/dev/null 2>&1 || fail "ldb put"
expect_exit 5 -- "$CAIRN" verify "$A"
expect_has "$ERR" "cairn: position 100: " "verify names the position"

# Lifecycle: stream metadata, soft delete, retention (dry run beside nothing, then for real),
# checkpoints; verify still passes afterwards.
L=$WORK/lifecycle
for i in 1 2 3 4 5; do
  "$CAIRN" append "$L" cart-1 --type Added --data "{\"n\":$i}" >/dev/null
  "$CAIRN" append "$L" cart-2 --type Added --data "{\"n\":$i}" >/dev/null
done
expect_exit 0 -- "$CAIRN" stream-meta "$L" cart-1 --max-count 2 --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["max_count"]==2 and d["max_age"] is None, d' <<<"$OUT" || fail "stream-meta json"
expect_exit 0 -- "$CAIRN" stream-meta "$L" cart-1 --max-age 7d
expect_has "$OUT" "max count        2" "stream-meta keeps settings not given"
expect_has "$OUT" "max age          7d" "stream-meta sets max age"
expect_exit 2 -- "$CAIRN" stream-meta "$L" cart-1 --max-age 7y
expect_has "$ERR" "--max-age '7y'" "bad duration named"
expect_exit 3 -- "$CAIRN" delete-stream "$L" cart-2 -e 4
expect_exit 0 -- "$CAIRN" delete-stream "$L" cart-2 -e 5
expect_has "$OUT" "through version 5" "delete-stream"
expect_exit 4 -- "$CAIRN" read "$L" cart-2
expect_has "$ERR" "deleted" "a deleted stream reads as not found"
expect_exit 4 -- "$CAIRN" delete-stream "$L" nope
# Never shipped: the default checkpoint holds everything back.
expect_exit 0 -- "$CAIRN" retention "$L" --min-audit-age 0s --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["removed_events"]==0 and d["kept_unshipped"]==7, d' <<<"$OUT" || fail "retention waits for the shipper"
expect_exit 0 -- "$CAIRN" checkpoints "$L" --set shipper=10
expect_has "$OUT" "shipper" "checkpoints --set"
expect_exit 2 -- "$CAIRN" checkpoints "$L" --set shipper=11x
expect_exit 0 -- "$CAIRN" retention "$L" --dry-run --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["removed_events"]==0 and d["kept_too_young"]==1, d' <<<"$OUT" || fail "retention keeps the audit window"
expect_exit 0 -- "$CAIRN" retention "$L" --dry-run --min-audit-age 0s --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["dry_run"] and d["removed_events"]==7, d' <<<"$OUT" || fail "retention dry run"
expect_exit 0 -- "$CAIRN" retention "$L" --min-audit-age 0s
expect_has "$OUT" "removed 7 events" "retention removes"
expect_exit 0 -- "$CAIRN" read "$L" cart-1 --format jsonl
expect_eq "$(echo "$OUT" | wc -l)" "2" "cart-1 keeps its newest 2"
expect_exit 0 -- "$CAIRN" verify "$L"
expect_exit 0 -- "$CAIRN" append "$L" cart-2 --type Added -e 5 --data '{}'
expect_has "$OUT" "versions 6..6" "a deleted stream continues at the next version"
expect_exit 0 -- "$CAIRN" checkpoints "$L" --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d==[{"checkpoint":"shipper","position":10,"lag_events":1}], d' <<<"$OUT" || fail "checkpoints json"

if [ "$failures" -gt 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "all CLI checks passed"
