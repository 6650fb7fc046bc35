#!/usr/bin/python3
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
"""Checks what reached Kafka against a store, with a client independent of cairn.

    kafka_verify.py --bootstrap HOST:PORT --expected events.jsonl --topic T [--topic T ...]
                    [--mode at-least-once|exactly-once] [--committed FILE]
                    [--client kafka-python|confluent]

--client confluent reads with confluent-kafka (PyPI; .ci/install-deps puts it in the venv of
tests/kafka/python) as a read_committed consumer: on a real cluster that is Kafka's own
isolation, the judge of exactly-once, and no --committed file is needed. kafka-python (the
default, Debian's python3-kafka) is a client sharing no code with librdkafka at all.

`events.jsonl` is `cairn read STORE --format jsonl` (the store's global log). Every event must
be in Kafka: key = stream, headers cairn.stream/cairn.version/cairn.event_id, value = the
payload, each stream's new versions in order. In exactly-once mode an event counts only when
its transaction's checkpoint record is committed (FILE: the checkpoint topic's values as a
read_committed consumer sees them, one a line, e.g. from kcat) and must appear exactly once.
kafka-python 2.0.2 has no read_committed mode, so aborted events are filtered by that rule;
the mock cluster shows aborted data even to read_committed readers, so there the rule counts
what the shipper itself saw on restart. In
at-least-once mode a re-delivered version is allowed (the un-checkpointed tail after a crash)
and counted.

A partition whose log start has moved (beginning offset > 0: the broker's retention deleted
its oldest records; the mock keeps ~5 MiB a partition) cannot show what it deleted. An event
not found there counts as `truncated_by_retention`, not missing, only if its position is below
every cairn position the partition still holds: the shipper sends a partition's events in
position order and re-sends from a checkpoint it never passes without delivery, so anything
after the oldest retained record must still be there. Every record's partition must also be
the one Java's default partitioner (murmur2, written out below) gives its key:
consumers in other languages rely on it. Exit 0 when everything holds; prints a one-line JSON
summary.
"""
import argparse
import base64
import json
import sys

import collections

Record = collections.namedtuple("Record", "topic partition offset key value headers")


def murmur2(data):
    """The Java client's default partitioner hash (org.apache.kafka.common.utils.Utils)."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = data[length - length % 4:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def transient(error):
    """Errors a cluster recovering from a fault gives for a while. librdkafka flags few of
    them retriable, so the codes are named."""
    from confluent_kafka import KafkaError as E
    return not error.fatal() and (error.retriable() or error.code() in (
        E.NOT_LEADER_FOR_PARTITION, E.LEADER_NOT_AVAILABLE, E.REQUEST_TIMED_OUT,
        E.NOT_ENOUGH_REPLICAS, E._TRANSPORT, E._TIMED_OUT, E._ALL_BROKERS_DOWN,
        E._WAIT_COORD, E.COORDINATOR_NOT_AVAILABLE, E.NOT_COORDINATOR))


def await_stable_ends(bootstrap, consumer, topic, partitions):
    """Waits (up to 30 s) until every transaction open now has ended: each partition's last
    stable offset (the end a read_committed reader is given) reaches its high watermark of
    now. commit_transaction returns before the commit markers reach the partitions, and a
    read_committed reader meeting the partition end before them stops short of the last
    committed events."""
    import time
    from confluent_kafka import Consumer, TopicPartition as TP
    uncommitted = Consumer({"bootstrap.servers": bootstrap, "group.id": "cairn-verify-hw",
                            "isolation.level": "read_uncommitted"})
    highs = {p: watermarks(uncommitted, TP(topic, p))[1] for p in partitions}
    uncommitted.close()
    deadline = time.monotonic() + 30
    while True:
        short = [p for p in partitions if watermarks(consumer, TP(topic, p))[1] < highs[p]]
        if not short or time.monotonic() > deadline:
            if short:
                print(f"kafka_verify: {topic}: partitions {short} still hold an open "
                      "transaction after 30 s", file=sys.stderr)
            return
        time.sleep(0.1)


def watermarks(consumer, tp):
    """The partition's (low, high) offsets as the consumer's isolation level gives them.
    Leadership can still be moving right after a fault (a resumed or restarted broker takes its
    partitions back), and the watermark request does not re-route by itself: retry a retriable
    error for up to a minute."""
    import time
    from confluent_kafka import KafkaException
    deadline = time.monotonic() + 60
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=15)
        except KafkaException as e:
            error = e.args[0]
            if not transient(error) or time.monotonic() > deadline:
                raise
            print(f"kafka_verify: {tp.topic}/{tp.partition}: {error.str()}; retrying",
                  file=sys.stderr)
            time.sleep(0.5)


def read_topic_confluent(bootstrap, topic, read_committed):
    """Every record of `topic` a read_committed (or uncommitted) consumer sees, and each
    partition's log start offset."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition as TP
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "cairn-verify",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed" if read_committed
                         else "read_uncommitted"})
    md = consumer.list_topics(topic, timeout=15)
    partitions = sorted(md.topics[topic].partitions) if topic in md.topics else []
    starts = {p: watermarks(consumer, TP(topic, p))[0] for p in partitions}
    if read_committed:
        await_stable_ends(bootstrap, consumer, topic, partitions)
    consumer.assign([TP(topic, p, starts[p]) for p in partitions])
    pending, records, idle = set(partitions), [], 0
    while pending:
        m = consumer.poll(1.0)
        if m is None:
            idle += 1
            if idle > 30:
                raise SystemExit(f"{topic}: no progress for 30 s before the end of {pending}")
            continue
        idle = 0
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                pending.discard(m.partition())
                continue
            if transient(m.error()):
                continue  # e.g. a leader that moved after a fault: the client re-routes
            raise SystemExit(f"{topic}: {m.error()}")
        records.append(Record(m.topic(), m.partition(), m.offset(), m.key() or b"",
                              m.value() or b"", m.headers() or []))
    consumer.close()
    return records, starts


def read_topic(bootstrap, topic):
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=10000,
                             auto_offset_reset="earliest")
    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    starts = consumer.beginning_offsets(tps)
    records = []
    idle = 0
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        batch = consumer.poll(timeout_ms=1000, max_records=5000)
        idle = 0 if batch else idle + 1
        if idle > 20:
            raise SystemExit(f"{topic}: no progress for 20 s before its end offsets")
        for recs in batch.values():
            records.extend(Record(r.topic, r.partition, r.offset, r.key or b"", r.value or b"",
                                  r.headers or []) for r in recs)
    consumer.close()
    return records, {tp.partition: starts[tp] for tp in tps}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--topic", action="append", required=True)
    ap.add_argument("--mode", default="at-least-once")
    ap.add_argument("--committed")
    ap.add_argument("--client", default="kafka-python", choices=["kafka-python", "confluent"])
    args = ap.parse_args()
    if args.mode == "exactly-once" and args.client == "kafka-python" and not args.committed:
        ap.error("exactly-once with kafka-python needs --committed (it has no read_committed)")

    expected = {}
    with open(args.expected) as f:
        for line in f:
            e = json.loads(line)
            expected[(e["stream"], e["version"])] = e
    last_version = {}
    for stream, version in expected:
        last_version[stream] = max(last_version.get(stream, 0), version)

    committed = None
    if args.mode == "exactly-once" and args.committed:
        committed = set()
        with open(args.committed) as f:
            for line in f:
                if line.strip():
                    committed.add(json.loads(line)["txn"])

    records = []
    log_starts = {}  # topic -> {partition: beginning offset}
    for topic in args.topic:
        if args.client == "confluent":
            topic_records, log_starts[topic] = read_topic_confluent(
                args.bootstrap, topic, args.mode == "exactly-once")
        else:
            topic_records, log_starts[topic] = read_topic(args.bootstrap, topic)
        records.extend(topic_records)
    records.sort(key=lambda r: (r.topic, r.partition, r.offset))

    problems = []
    home = {}                # stream -> (topic, partition) its records are in
    lowest_retained = {}     # (topic, partition) -> lowest cairn position among its records
    highest = {}
    seen = {}
    duplicates = 0
    skipped_aborted = 0
    for r in records:
        h = {k: (v or b"").decode() for k, v in (r.headers or [])}
        # Aborted records count here too: they were written after everything below them.
        stored = expected.get((h.get("cairn.stream"), int(h.get("cairn.version", 0))))
        if stored is not None:
            tp = (r.topic, r.partition)
            lowest_retained[tp] = min(lowest_retained.get(tp, stored["position"]),
                                      stored["position"])
        if committed is not None and h.get("cairn.txn") not in committed:
            skipped_aborted += 1
            continue
        stream, version = h["cairn.stream"], int(h["cairn.version"])
        if r.key.decode() != stream:
            problems.append(f"{stream} v{version}: key {r.key!r}")
        java_partition = (murmur2(r.key) & 0x7FFFFFFF) % len(log_starts[r.topic])
        if r.partition != java_partition:
            problems.append(f"{stream}: in partition {r.partition}, Java's partitioner says "
                            f"{java_partition}")
        if home.setdefault(stream, (r.topic, r.partition)) != (r.topic, r.partition):
            problems.append(f"{stream}: split across {home[stream]} and {(r.topic, r.partition)}")
        e = expected.get((stream, version))
        if e is None:
            problems.append(f"{stream} v{version}: not in the store")
            continue
        if h["cairn.event_id"] != e["id"]:
            problems.append(f"{stream} v{version}: event id differs")
        payload = json.loads(r.value) if "data" in e else r.value
        want = e["data"] if "data" in e else base64.b64decode(e["data_base64"])
        if payload != want:
            problems.append(f"{stream} v{version}: payload differs")
        top = highest.get(stream, 0)
        if version <= top:
            duplicates += 1
            if args.mode == "exactly-once":
                problems.append(f"{stream} v{version}: duplicate in committed data")
        elif version != top + 1 and not (top == 0 and log_starts[r.topic][r.partition] > 0):
            # (a truncated partition may hold a stream from any version on: the rule for
            # missing events below checks what came before)
            problems.append(f"{stream}: v{version} after v{top} (gap or reorder)")
        else:
            highest[stream] = version
        seen[(stream, version)] = True

    def truncated(stream, position):
        # Where the stream's records would be: where they are, else any topic's partition
        # for its key (a stream with every record deleted shows no topic).
        homes = [home[stream]] if stream in home else [
            (t, (murmur2(stream.encode()) & 0x7FFFFFFF) % len(parts))
            for t, parts in log_starts.items()]
        return any(log_starts[t][p] > 0 and position < lowest_retained.get((t, p), float("inf"))
                   for t, p in homes)

    missing, truncated_by_retention = [], 0
    for key, e in expected.items():
        if key in seen:
            continue
        if truncated(key[0], e["position"]):
            truncated_by_retention += 1
        else:
            missing.append(key)
    for stream, version in missing[:5]:
        problems.append(f"{stream} v{version}: missing")
    summary = {"records": len(records), "events": len(expected), "streams": len(last_version),
               "missing": len(missing), "truncated_by_retention": truncated_by_retention,
               "partitions_truncated": sum(1 for parts in log_starts.values()
                                           for start in parts.values() if start > 0),
               "duplicates": duplicates,
               "aborted_skipped": skipped_aborted, "problems": problems[:10]}
    print(json.dumps(summary))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
