#!/usr/bin/env bash
# The cairn tool against Kafka: ship, reconcile, dead-letters retry, metrics, and the errors
# of their options; what reached Kafka is read with kcat, a client independent of cairn.
# Usage: cli_kafka_test.sh PATH/TO/cairn. On `cairn kafka-mock` unless KAFKA_BOOTSTRAP_SERVERS
# names a real cluster (topics then get a random prefix).
set -u
source "$(dirname "$0")/cli_lib.sh"  # $CAIRN, $WORK, fail, expect_exit/eq/has

P=""
if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  BS=$KAFKA_BOOTSTRAP_SERVERS
  P="cairn-cli-$RANDOM$RANDOM-"
  MOCK=""
else
  "$CAIRN" kafka-mock --brokers 3 --topic cli-events:3 --bootstrap-file "$WORK/bs" </dev/null >/dev/null 2>"$WORK/mock.err" &
  MOCK=$!
  for _ in $(seq 100); do [ -s "$WORK/bs" ] && break; sleep 0.05; done
  BS=$(cat "$WORK/bs")
fi

# The store: 6 events in 4 streams, and a copy made through export and append --jsonl.
S=$WORK/store
"$CAIRN" append "$S" order-1 --type OrderPlaced -e no-stream --data '{"total":10}' >/dev/null
"$CAIRN" append "$S" order-1 --type ItemAdded -e 1 --data '{"sku":"A"}' >/dev/null
"$CAIRN" append "$S" payment-1 --type PaymentAuthorized --data '{"amount":10}' >/dev/null
printf '%s\n' '{"stream":"customer-1","type":"CustomerRegistered","data":{"email":"a@example.com"}}' \
  '{"stream":"customer-1","type":"EmailChanged","data":{"email":"b@example.com"}}' \
  '{"stream":"blob-1","type":"Scanned","content_type":"application/octet-stream","data_base64":"AAEC/w=="}' \
  | "$CAIRN" append "$S" --jsonl >/dev/null || fail "jsonl append"
"$CAIRN" read "$S" --format jsonl | "$CAIRN" append "$WORK/copy" --jsonl >/dev/null || fail "copy"

expect_exit 0 -- "$CAIRN" ship "$S" -b "$BS" --default-topic ${P}cli-events --exit-when-caught-up --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["shipped_through"]==6 and d["lag_events"]==0 and d["state"]=="stopped", d' <<<"$OUT" || fail "ship json: $OUT"
expect_exit 0 -- kcat -C -b "$BS" -t ${P}cli-events -o beginning -e -q -f '%k|%h\n'
expect_eq "$(echo "$OUT" | wc -l)" "6" "kcat sees 6 messages"
expect_has "$OUT" "order-1|" "kcat key"
expect_has "$OUT" "cairn.type=ItemAdded" "kcat type header"
expect_has "$OUT" "cairn.version=2" "kcat version header"
# The checkpoint is saved: shipping again sends nothing new.
expect_exit 0 -- "$CAIRN" ship "$S" -b "$BS" --default-topic ${P}cli-events --exit-when-caught-up
expect_eq "$(kcat -C -b "$BS" -t ${P}cli-events -o beginning -e -q -f '%k\n' | wc -l)" "6" "no re-send after a clean stop"
# reconcile: clean after a normal run; a duplicate and an altered copy are reported.
expect_exit 0 -- "$CAIRN" reconcile "$S" -b "$BS" --default-topic ${P}cli-events
expect_has "$OUT" "CLEAN" "reconcile clean"
expect_has "$OUT" "matched    6 events" "reconcile matched"
H1=$("$CAIRN" read "$S" order-1 --format jsonl | head -1 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["chain_hash"])')
echo '{"total":10}' | kcat -P -b "$BS" -t ${P}cli-events -k order-1 -H cairn.stream=order-1 -H cairn.version=1 -H "cairn.chain_hash=$H1"
echo '{"sku":"X"}' | kcat -P -b "$BS" -t ${P}cli-events -k order-1 -H cairn.stream=order-1 -H cairn.version=2 -H "cairn.chain_hash=$(printf '0%.0s' $(seq 64))"
expect_exit 7 -- "$CAIRN" reconcile "$S" -b "$BS" --default-topic ${P}cli-events --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert not d["clean"] and d["duplicates"]==2 and d["hash_mismatches"]==1 and d["missing"]==0, d' <<<"$OUT" || fail "reconcile duplicate + altered: $OUT"
expect_has "$ERR" "order-1 version 1 is in Kafka more than once" "reconcile names the duplicate"

printf '# test\nbootstrap.servers=%s\nlinger.ms : 1\n' "$BS" >"$WORK/client.properties"
printf 'category customer %scli-customers\ndefault %scli-rest\n' "$P" "$P" >"$WORK/routes"
expect_exit 0 -- "$CAIRN" ship "$WORK/copy" --kafka-config "$WORK/client.properties" --routes "$WORK/routes" --exit-when-caught-up
expect_eq "$(kcat -C -b "$BS" -t ${P}cli-customers -o beginning -e -q -f '%k\n' | sort -u)" "customer-1" "routed by category"
# Reading back only one of the two routed topics: the other's events are missing.
expect_exit 7 -- "$CAIRN" reconcile "$WORK/copy" -b "$BS" --topic ${P}cli-rest
expect_has "$OUT" "missing    2 (in 1 streams)" "reconcile reports missing events"
expect_exit 0 -- "$CAIRN" reconcile "$WORK/copy" --kafka-config "$WORK/client.properties" --routes "$WORK/routes"
# Dead letters: an event over the client's message.max.bytes is recorded, then retried.
D=$WORK/dl
head -c 50000 /dev/zero | tr '\0' x | "$CAIRN" append "$D" order-9 --type Huge --content-type text/plain >/dev/null
"$CAIRN" append "$D" order-9 --type After --data '{}' >/dev/null
expect_exit 0 -- "$CAIRN" ship "$D" -b "$BS" --default-topic ${P}cli-dl -X message.max.bytes=20000 --exit-when-caught-up
expect_exit 0 -- "$CAIRN" dead-letters "$D" --format jsonl
expect_eq "$(echo "$OUT" | wc -l)" "2" "two dead letters (one failed, one held)"
expect_has "$OUT" '"held_behind":1' "the second is held behind the first"
expect_exit 0 -- "$CAIRN" status "$D"
expect_has "$OUT" "dead letters 2 (1 held" "status counts dead letters"
expect_exit 2 -- "$CAIRN" dead-letters "$D" retry -b "$BS"
expect_has "$ERR" "--position P (repeatable) or --all" "retry needs a selection"
expect_exit 1 -- "$CAIRN" dead-letters "$D" retry --all -b "$BS" --default-topic ${P}cli-dl -X message.max.bytes=20000
expect_has "$OUT" "0 sent, 1 failed again, 1 still held" "retry that fails again"
expect_exit 0 -- "$CAIRN" dead-letters "$D" retry --all -b "$BS" --default-topic ${P}cli-dl
expect_has "$OUT" "2 sent" "retry that succeeds"
expect_eq "$(kcat -C -b "$BS" -t ${P}cli-dl -o beginning -e -q -f '%h\n' | grep -o 'cairn.version=[0-9]*' | tr '\n' ' ')" "cairn.version=1 cairn.version=2 " "retried in order"
expect_exit 0 -- "$CAIRN" dead-letters "$D" --format json
expect_eq "$OUT" "[]" "records removed after the retry"
# SIGTERM drains and exits 0; metrics are served while it runs.
PORT=$((20000 + RANDOM % 20000))
"$CAIRN" ship "$S" -b "$BS" --default-topic ${P}cli-events --metrics-listen "127.0.0.1:$PORT" >"$WORK/ship.out" 2>"$WORK/ship.err" &
SHIP=$!
metrics=""
for _ in $(seq 50); do
  metrics=$(/usr/bin/python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$PORT/metrics').read().decode())" 2>/dev/null) && break
  sleep 0.1
done
expect_has "$metrics" "cairn_shipper_head_position 6" "metrics endpoint"
kill -TERM $SHIP; wait $SHIP; code=$?
expect_eq "$code" "0" "ship exits 0 on SIGTERM"
expect_has "$(cat "$WORK/ship.err")" "stopping (signal 15)" "ship reports the signal"
# Errors: each names what was wrong.
expect_exit 2 -- "$CAIRN" ship "$S" -b "$BS" --mode twice
expect_has "$ERR" "--mode 'twice'" "bad mode"
expect_exit 2 -- "$CAIRN" ship "$S" -b "$BS" -X no.such.key=1
expect_has "$ERR" "no.such.key" "unknown Kafka setting"
expect_exit 2 -- "$CAIRN" ship "$S" -b "$BS" -X linger.ms
expect_has "$ERR" "expected key=value" "bad -X"
expect_exit 2 -- "$CAIRN" ship "$S" -b "$BS" --kafka-config "$WORK/none.properties"
expect_has "$ERR" "none.properties" "missing properties file"
expect_exit 2 -- "$CAIRN" ship "$S" -b "$BS" --kafka-config "$WORK"
expect_has "$ERR" "is a directory" "a directory as properties file"
# No brokers is a usage error, never a throwaway in-process Kafka that moves the checkpoint.
expect_exit 2 -- "$CAIRN" ship "$S" -b ""
expect_has "$ERR" "is empty" "empty -b"
expect_exit 2 -- env -u KAFKA_BOOTSTRAP_SERVERS "$CAIRN" ship "$S"
expect_has "$ERR" "no Kafka brokers" "no brokers at all"
expect_exit 2 -- "$CAIRN" ship "$S" -b localhost
expect_has "$ERR" "not a broker address" "-b without a port"
# Exactly-once with 5 ms transactions, with overlapping commits (the default) and without:
# Kafka's committed data (reconcile reads read_committed) is the store, once.
for variant in overlap no-overlap; do
  flag=()
  [[ $variant == no-overlap ]] && flag=(--no-overlap-transactions)
  rm -rf "$WORK/eos" && cp -r "$S" "$WORK/eos"
  expect_exit 0 -- "$CAIRN" ship "$WORK/eos" -b "$BS" --mode exactly-once --transaction-interval 0.005 \
      "${flag[@]}" --checkpoint-topic ${P}cli-ckpt-$variant --default-topic ${P}cli-eos-$variant \
      --exit-when-caught-up
  expect_exit 0 -- "$CAIRN" reconcile "$WORK/eos" -b "$BS" --default-topic ${P}cli-eos-$variant
  expect_has "$OUT" "matched    6 events" "exactly-once ($variant) reconciles"
done
# A transaction left open on a topic (here by a raw producer that never commits) holds a
# read_committed reader's end back: reconcile waits for it (up to 10 s), says so, and compares
# what is committed. On the mock, which shows uncommitted records, there is nothing to wait for.
if [[ -z $MOCK ]]; then
  "$(dirname "$0")/kafka/python" -c '
import sys, time
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "transactional.id": sys.argv[2]})
p.init_transactions(); p.begin_transaction()
p.produce(sys.argv[3], key=b"stranger", value=b"uncommitted"); p.flush()
print("open", flush=True); time.sleep(120)
' "$BS" "${P}cli-stranger" "${P}cli-eos-overlap" >"$WORK/stranger.out" 2>&1 &
  stranger=$!
  for _ in $(seq 100); do grep -q open "$WORK/stranger.out" 2>/dev/null && break; sleep 0.2; done
  expect_exit 0 -- "$CAIRN" reconcile "$WORK/eos" -b "$BS" --default-topic ${P}cli-eos-overlap
  expect_has "$OUT" "matched    6 events" "reconcile beside an open transaction"
  expect_has "$ERR" "1 partition(s) still hold a transaction open" "reconcile names the open one"
  kill "$stranger" 2>/dev/null; wait "$stranger" 2>/dev/null
fi
expect_exit 2 -- "$CAIRN" ship "$S" -b "$BS" --transaction-interval 0
expect_has "$ERR" "--transaction-interval" "a zero transaction interval"
expect_exit 2 -- "$CAIRN" ship "$S" -b "$BS" --transaction-interval nan
expect_has "$ERR" "not a finite number" "a NaN transaction interval"
expect_exit 2 -- "$CAIRN" ship "$S" -b "$BS" --stall-timeout nan
expect_exit 2 -- "$CAIRN" ship "$S" -b "$BS" --transaction-interval soon
expect_has "$ERR" "--transaction-interval" "a transaction interval that is not a number"
before=$("$CAIRN" checkpoints "$S" --format json)
expect_exit 0 -- env -u KAFKA_BOOTSTRAP_SERVERS "$CAIRN" ship "$S" --embedded-kafka --exit-when-caught-up
expect_eq "$(/usr/bin/python3 -c 'import json,sys; print([c["position"] for c in json.loads(sys.argv[1]) if c["checkpoint"]=="shipper"])' "$("$CAIRN" checkpoints "$S" --format json)")" \
    "$(/usr/bin/python3 -c 'import json,sys; print([c["position"] for c in json.loads(sys.argv[1]) if c["checkpoint"]=="shipper"])' "$before")" \
    "--embedded-kafka leaves the shipper checkpoint alone"
# Kafka-tool spellings, KAFKA_BOOTSTRAP_SERVERS, and a Java client.properties.
printf 'bootstrap.servers=%s\nkey.serializer=org.apache.kafka.common.serialization.StringSerializer\nvalue.serializer=org.apache.kafka.common.serialization.StringSerializer\nssl.truststore.location=/etc/kafka/truststore.jks\nclient.dns.lookup=use_all_dns_ips\nlinger.ms=2\n' "$BS" >"$WORK/java.properties"
expect_exit 0 -- "$CAIRN" ship "$S" --command-config "$WORK/java.properties" --default-topic ${P}cli-events --exit-when-caught-up
expect_has "$ERR" "key.serializer: a Java client setting librdkafka does not have; skipped" "Java key skipped with a warning"
expect_has "$ERR" "ssl.truststore.location: Java trust and key stores" "trust store skipped with a warning"
expect_exit 0 -- "$CAIRN" ship "$S" --producer.config "$WORK/java.properties" --default-topic ${P}cli-events --exit-when-caught-up
expect_exit 0 -- env KAFKA_BOOTSTRAP_SERVERS="$BS" "$CAIRN" ship "$S" --bootstrap-server "$BS" --default-topic ${P}cli-events --exit-when-caught-up
# (The topic holds the duplicate and the altered copy made above: a mismatch, found.)
expect_exit 7 -- env KAFKA_BOOTSTRAP_SERVERS="$BS" "$CAIRN" reconcile "$S" --default-topic ${P}cli-events
expect_has "$OUT" "matched    6 events" "reconcile with KAFKA_BOOTSTRAP_SERVERS"
# The shipper names why it cannot reach a broker.
expect_exit 124 -- timeout -s TERM 4 "$CAIRN" ship "$S" -b 127.0.0.1:1 --default-topic ${P}cli-events
expect_has "$OUT" "Connection refused" "connection refused named"
printf 'category\n' >"$WORK/bad-routes"
expect_exit 2 -- "$CAIRN" ship "$S" -b "$BS" --routes "$WORK/bad-routes"
expect_has "$ERR" "line 1" "bad routes file"
expect_exit 4 -- "$CAIRN" ship "$WORK/nowhere" -b "$BS"


# reconcile after retention removed the start of a stream (it indexed versions from 1 before):
# the removed versions still in Kafka are counted, not reported as unknown or altered.
RT=$WORK/retained
for i in $(seq 12); do echo "{\"stream\":\"order-77\",\"type\":\"T\",\"data\":{\"i\":$i}}"; done \
  | "$CAIRN" append "$RT" --jsonl >/dev/null
expect_exit 0 -- "$CAIRN" ship "$RT" -b "$BS" --default-topic ${P}cli-retained --exit-when-caught-up
expect_exit 0 -- "$CAIRN" stream-meta "$RT" order-77 --max-count 4
expect_exit 0 -- "$CAIRN" retention "$RT" --min-audit-age 0s --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["removed_events"]==8, d' <<<"$OUT" || fail "retention removed the start: $OUT"
expect_exit 0 -- "$CAIRN" reconcile "$RT" -b "$BS" --default-topic ${P}cli-retained --format json
/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["clean"] and d["matched"]==4 and d["removed_from_store"]==8 and d["unknown_to_store"]==0, d' <<<"$OUT" || fail "reconcile after retention: $OUT"
# A head cut back after shipping, by someone who also removed CAIRN-HEAD and the index entries
# (RocksDB's ldb): the store verifies, but Kafka still holds what it lost.
HC=$WORK/headcut
for i in $(seq 5); do echo "{\"stream\":\"order-1\",\"type\":\"T\",\"data\":{\"i\":$i}}"; done \
  | "$CAIRN" append "$HC" --jsonl >/dev/null
expect_exit 0 -- "$CAIRN" ship "$HC" -b "$BS" --default-topic ${P}cli-headcut --exit-when-caught-up
rm -f "$HC/CAIRN-HEAD"
ldb --db="$HC" --column_family=log --hex delete 0x0000000000000005 >/dev/null
# The five came in one append: one stream index run (order-1 from version 1, at position 1,
# 5 long) and one type index run (T from position 1); both become runs of 4 (docs/format.md).
ldb --db="$HC" --column_family=streams --hex put 0x6f726465722d31000000000000000001 \
  0x000000000000000104000000 >/dev/null
ldb --db="$HC" --column_family=types --hex put 0x54000000000000000001 0x04000000 >/dev/null
"$CAIRN" checkpoints "$HC" --set shipper=4 >/dev/null
expect_exit 0 -- "$CAIRN" verify "$HC"
expect_exit 7 -- "$CAIRN" reconcile "$HC" -b "$BS" --default-topic ${P}cli-headcut
expect_has "$OUT" "lost       1 in Kafka past the store's head 4" "reconcile: Kafka holds what the store lost"
expect_has "$ERR" "the store lost events it had shipped" "reconcile names the loss"

[[ -n "$MOCK" ]] && { kill "$MOCK"; wait "$MOCK" 2>/dev/null; }
if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "cli kafka checks passed"
