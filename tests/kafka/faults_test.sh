#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# Real faults on a real cluster (tests/kafka/cluster), while a writer process appends
# synchronously and ships in-process (tests/crash_writer.cc), as a service does:
#   faults_test.sh CAIRN WRITER MODE SCENARIO        MODE: at-least-once | exactly-once
# SCENARIO:
#   leader-kill   kill -9 the leader of order-events/0, three times, restarting it each time
#   pause         SIGSTOP that leader for 12 s (> request.timeout.ms 5 s, > the broker session
#                 timeout 6 s: the controller fences it and moves leadership), then SIGCONT
#   isr           two brokers down: the ISR falls below min.insync.replicas=2, every produce
#                 fails NOT_ENOUGH_REPLICAS; appends must go on, shipping must wait, nothing
#                 may be dead-lettered; then both return
#   outage        every broker down for FAULTS_OUTAGE_S seconds (60), then all started again;
#                 reports how long after the cluster took acks=all writes again the shipper
#                 resumed (a raw kcat producer probes for that moment)
#   txn-kill      (exactly-once) the writer is killed -9 inside open transactions, five times
#                 (the brokers confirm each: tests/kafka/open_transactions.py); the next
#                 shipper must abort them: their records are in the log (a read_uncommitted
#                 reader sees more) yet a read_committed reader never sees them
# Afterwards: `cairn verify`, then tests/kafka_verify.py reads every topic with confluent-kafka
# (read_committed in exactly-once mode, which is Kafka's own judgement): every event present,
# in stream order, in the partition Java's partitioner picks; no duplicate in exactly-once
# mode, only re-sent tails in at-least-once mode; then Apache Kafka's own Java consumer
# (tests/interop/spring's LogVerifier) checks the same, as a second judge. Needs CAIRN_KAFKA_CLUSTER (the cluster
# script) and KAFKA_BOOTSTRAP_SERVERS, as CTest sets them.
set -euo pipefail
CAIRN=$(realpath "$1")
WRITER=$(realpath "$2")
MODE=$3
SCENARIO=$4
HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER=${CAIRN_KAFKA_CLUSTER:-$HERE/cluster}
PYTHON="$HERE/python"
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:?needs a real cluster: set KAFKA_BOOTSTRAP_SERVERS (tests/kafka/cluster start)}
prefix="cairn-fault-$SCENARIO-$RANDOM$RANDOM-"
topic="${prefix}order-events"
work=$(mktemp -d)
writer_pid=""
cleanup() {
  [[ -n "$writer_pid" ]] && kill -9 "$writer_pid" 2>/dev/null
  # Leave the cluster whole for the next test, whatever happened here.
  for id in 1 2 3; do "$CLUSTER" resume "$id" 2>/dev/null || true; done
  "$CLUSTER" up >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now_ms() { /usr/bin/python3 -c 'import time; print(int(time.monotonic() * 1000))'; }
say() { echo "faults[$MODE/$SCENARIO]: $*"; }

# request.timeout.ms 5 s: the pause outlives it. The default message.timeout.ms (300 s) is
# longer than every outage here, so nothing should even need a rewind.
# librdkafka's debug contexts FAULTS_KAFKA_DEBUG (default eos: the idempotent producer's states
# and producer ids, a few dozen lines a run) go to writer.err, which a failure prints: CI once
# saw the shipper stop after a single "Failed to acquire idempotence PID" and nothing said why.
# FAULTS_KAFKA_DEBUG= (empty) turns them off.
kafka_debug=${FAULTS_KAFKA_DEBUG-eos}
export CAIRN_WRITER_KAFKA_CONFIG="request.timeout.ms=5000${kafka_debug:+,debug=$kafka_debug}"
export CAIRN_WRITER_PAUSE_US=${FAULTS_PAUSE_US:-2000}
export CAIRN_CRASH_STREAMS=10
start_writer() {  # a new writer, a new progress file: `shipped` speaks of this one only
  : >"$work/progress"
  CAIRN_WRITER_PROGRESS="$work/progress" "$WRITER" "$work/store" 2 "$bootstrap" "$MODE" \
      "$prefix" >>"$work/acks" 2>>"$work/writer.err" &
  writer_pid=$!
}
progress() {  # "MS HEAD SHIPPED" of the writer's last report
  local last
  last=$(tail -n 1 "$work/progress" 2>/dev/null || true)
  echo "${last:-0 0 0}"
}
shipped() { progress | awk '{print $3}'; }
head_pos() { progress | awk '{print $2}'; }
wait_shipping() {  # until the writer's shipper has shipped something past $1
  # Up to 120 s: after the 60 s outage, three brokers restarting on a loaded 2-core machine
  # (coordinator load, librdkafka's reconnect backoff) once took more than 60 s to take writes.
  for _ in $(seq 1200); do (($(shipped) > $1)) && return; sleep 0.1; done
  say "shipping never got past $1"; tail -n 400 "$work/writer.err"; exit 1
}
open_transactions() {  # "OFFSETS PARTITIONS" of $topic in transactions still open
  "$PYTHON" "$HERE/open_transactions.py" "$bootstrap" "$topic"
}
drain_writer() {  # (not in a subshell: the writer is this shell's child)
  kill -TERM "$writer_pid"
  local code=0
  wait "$writer_pid" || code=$?
  writer_pid=""
  if ((code != 0)); then say "the writer did not drain (exit $code):"; tail -n 400 "$work/writer.err"; exit 1; fi
}

start_writer
wait_shipping 0
case $SCENARIO in
  leader-kill)
    for round in 1 2 3; do
      leader=$("$CLUSTER" leader "$topic" 0)
      before=$(shipped)
      "$CLUSTER" kill "$leader"
      say "round $round: killed broker $leader (leader of $topic/0) at shipped $before"
      sleep 3
      "$CLUSTER" restart "$leader"
      "$CLUSTER" wait 3 >/dev/null
      wait_shipping "$(shipped)"
    done ;;
  pause)
    leader=$("$CLUSTER" leader "$topic" 0)
    "$CLUSTER" pause "$leader"
    say "paused broker $leader (leader of $topic/0)"
    sleep 12
    "$CLUSTER" resume "$leader"
    "$CLUSTER" wait 3 >/dev/null
    wait_shipping "$(shipped)" ;;
  isr)
    "$CLUSTER" kill 2
    "$CLUSTER" kill 3
    sleep 4  # the controller notices (broker session timeout 6 s) and shrinks the ISR
    stalled_at=$(shipped); head_at=$(head_pos)
    sleep 8
    # Appends went on, shipping waited (produces fail NOT_ENOUGH_REPLICAS / time out).
    (($(head_pos) > head_at)) || { say "appends stopped while the ISR was short"; exit 1; }
    (($(shipped) <= stalled_at + 50)) || { say "shipped $(($(shipped) - stalled_at)) events with one broker of min.insync.replicas=2"; exit 1; }
    say "ISR below min.insync.replicas: head $head_at -> $(head_pos), shipped stayed at $(shipped)"
    "$CLUSTER" restart 2
    "$CLUSTER" restart 3
    "$CLUSTER" wait 3 >/dev/null
    wait_shipping "$(shipped)" ;;
  outage)
    "$CLUSTER" down
    say "every broker down for ${FAULTS_OUTAGE_S:-60} s"
    sleep "${FAULTS_OUTAGE_S:-60}"
    stalled_at=$(shipped); head_at=$(head_pos)
    (($(head_pos) > 0)) || { say "no appends during the outage"; exit 1; }
    for id in 1 2 3; do "$CLUSTER" restart "$id"; done
    # The moment the cluster takes an acks=all write again, probed by a plain producer.
    until echo probe | kcat -P -b "$bootstrap" -t "${prefix}probe" -X acks=all \
        -X message.timeout.ms=1000 -X topic.metadata.refresh.interval.ms=100 >/dev/null 2>&1; do
      sleep 0.05
    done
    writable=$(now_ms)
    wait_shipping "$stalled_at"
    resumed=$(awk -v s="$stalled_at" '$3 > s {print $1; exit}' "$work/progress")
    say "appended $((head_at)) events in all; cluster writable again, the shipper resumed $((resumed - writable)) ms later (negative: before the probe saw it)"
    echo "$((resumed - writable))" >"${FAULTS_RESUME_FILE:-/dev/null}" ;;
  txn-kill)
    [[ "$MODE" == exactly-once ]] || { say "txn-kill is an exactly-once scenario"; exit 2; }
    # A kill at a random moment often lands while the new shipper is still starting (finding
    # its coordinator, fencing the dead producer), before it has produced anything. So each
    # round waits until the brokers show the writer's transaction holding records, kills it at
    # a random moment soon after, and asks the brokers again: a dead producer's records beyond
    # the last stable offset prove the kill landed inside the transaction (a commit already on
    # its way when the kill came would have moved that offset). Five such kills are needed, in
    # at most 30 rounds: a full suite's load once left 10 of 15 kills between transactions.
    inside=0 left_open=0
    for round in $(seq 30); do
      open=0
      for _ in $(seq 300); do
        read -r open _ < <(open_transactions) || open=0
        ((open > 0)) && break
        sleep 0.1
      done
      ((open > 0)) || { say "round $round: the writer's shipper never held a transaction open"; tail -n 400 "$work/writer.err"; exit 1; }
      sleep "$(/usr/bin/python3 -c 'import random; print(random.uniform(0, 0.08))')"
      before=$(shipped)
      kill -9 "$writer_pid"; wait "$writer_pid" 2>/dev/null || true
      read -r open _ < <(open_transactions) || { say "the brokers did not answer"; exit 1; }
      if ((open > 0)); then
        inside=$((inside + 1)) left_open=$((left_open + open))
        say "round $round: killed inside a transaction holding $open records (shipped $before)"
      else
        say "round $round: the kill landed between transactions"
      fi
      # The dead writer's head, from the store itself: the new shipper must ship past it, which
      # it can only do after it fenced the dead one and aborted its transaction. ($before may
      # already be passed by the checkpoint the new writer loads, before any fencing.)
      dead_head=$("$CAIRN" info "$work/store" --format json |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["last_position"])')
      start_writer
      wait_shipping "$dead_head"
      ((inside < 5)) || break
    done
    ((inside >= 5)) || { say "only $inside of 30 kills landed inside a transaction"; exit 1; } ;;
  *) say "unknown scenario"; exit 2 ;;
esac

drain_writer
read -r _ head shipped_through dead rewinds < <(grep '^drained ' "$work/acks" | tail -n 1)
say "drained: head $head, shipped through $shipped_through, dead letters $dead, rewinds $rewinds"
((shipped_through >= head)) || { say "not everything shipped"; exit 1; }
((dead == 0)) || { say "$dead events dead-lettered by a transient fault"; exit 1; }
"$CAIRN" verify "$work/store" >/dev/null
"$CAIRN" read "$work/store" --format jsonl >"$work/expected.jsonl"
if [[ "$SCENARIO" == txn-kill ]]; then
  count() { kcat -C -b "$bootstrap" -t "$topic" -o beginning -e -q -X isolation.level="$1" \
      -f '.\n' 2>/dev/null | wc -l; }
  committed=$(count read_committed); uncommitted=$(count read_uncommitted)
  say "records: $uncommitted in the log, $committed committed; the kills left ${left_open:-?} in open transactions"
  ((uncommitted > committed)) || { say "no aborted records: no kill landed inside a transaction"; exit 1; }
fi
"$PYTHON" "$HERE/../kafka_verify.py" --client confluent --bootstrap "$bootstrap" \
    --expected "$work/expected.jsonl" --mode "$MODE" --topic "$topic" --topic "${prefix}events" \
    | tee "$work/summary.json"
# A second judge sharing no code with librdkafka: Apache Kafka's own Java consumer
# (tests/interop/spring's LogVerifier), read_committed in exactly-once mode.
jar=$("$HERE/../interop/spring_jar.sh")
java -cp "$jar" -Dloader.main=dev.cairn.interop.LogVerifier \
    org.springframework.boot.loader.launch.PropertiesLauncher \
    "$bootstrap" "$work/expected.jsonl" "$MODE" "$topic" "${prefix}events" 2>"$work/java.err" |
  tee "$work/java.json" || { say "the Java consumer disagrees:"; tail -5 "$work/java.err"; exit 1; }
# At-least-once may re-send what was in flight at each fault: the window (10,000 events) each.
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
sys.exit(0 if d["duplicates"] <= 40000 else "too many re-sent events")' "$work/summary.json"
