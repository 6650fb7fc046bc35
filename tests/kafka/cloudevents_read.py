# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
"""Reads a topic shipped with `--value cloudevents` the way a CloudEvents consumer does, with
the CloudEvents SDK for Python (cloudevents.kafka.from_binary, the Kafka protocol binding's
binary content mode) over a read_committed confluent-kafka consumer, and judges every event
against the store's own export.

    tests/kafka/python cloudevents_read.py BOOTSTRAP TOPIC EXPECTED.jsonl SOURCE

EXPECTED.jsonl is `cairn read STORE --format jsonl`. For each of its events the topic must hold
one record that the SDK turns into a CloudEvent whose attributes are exactly specversion 1.0, id
(the event id), source (SOURCE), type, subject (the stream), time (the commit time, to the
microsecond), datacontenttype (the content type, when the event has one) and partitionkey (the
Kafka key, which the SDK adds), and whose data is the payload byte for byte. The W3C
traceparent and tracestate headers must be the event's own, and absent on events without. Prints
a one-line JSON summary; exit 0 when everything holds.
"""
import base64
import datetime
import json
import sys
import time
import uuid

from cloudevents.kafka import KafkaMessage, from_binary
from confluent_kafka import Consumer


def read_all(bootstrap, topic, count):
    """Every record of `topic` once `count` have arrived, and for 3 s more (to catch extras);
    gives up after 60 s."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "cairn-ce-" + uuid.uuid4().hex,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe([topic])
    records = []
    deadline = time.monotonic() + 60
    settle = None
    while time.monotonic() < (settle or deadline):
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit(f"consumer error: {msg.error()}")
        records.append(msg)
        if len(records) >= count and settle is None:
            settle = time.monotonic() + 3
    consumer.close()
    return records


def payload_of(event):
    if "data_base64" in event:
        return base64.b64decode(event["data_base64"])
    return json.dumps(event["data"], separators=(",", ":"), ensure_ascii=False).encode()


def main():
    bootstrap, topic, expected_file, source = sys.argv[1:5]
    expected = {}
    with open(expected_file, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                e = json.loads(line)
                expected[e["id"]] = e
    problems = []
    seen = set()
    traced = 0
    for msg in read_all(bootstrap, topic, len(expected)):
        headers = {}
        for name, value in msg.headers() or []:
            headers[name] = value
        where = f"{topic}/{msg.partition()}@{msg.offset()}"
        # The SDK's own reading of the record: it needs ce_specversion, ce_id, ce_source and
        # ce_type, and maps content-type to datacontenttype and the key to partitionkey.
        event = from_binary(KafkaMessage(headers=headers, key=msg.key(), value=msg.value()),
                            data_unmarshaller=lambda b: b)
        attrs = event.get_attributes()
        want = expected.get(attrs.get("id"))
        if want is None:
            problems.append(f"{where}: id {attrs.get('id')!r} is no event of the store")
            continue
        if attrs["id"] in seen:
            problems.append(f"{where}: event {attrs['id']} twice")
        seen.add(attrs["id"])
        committed = datetime.datetime.fromisoformat(want["timestamp"].replace("Z", "+00:00"))
        wanted = {
            "specversion": "1.0",
            "id": want["id"],
            "source": source,
            "type": want["type"],
            "subject": want["stream"],
            "partitionkey": want["stream"].encode(),
        }
        if want["content_type"]:
            wanted["datacontenttype"] = want["content_type"]
        got = {k: v for k, v in attrs.items() if k != "time"}
        if got != wanted:
            problems.append(f"{where}: attributes {got} != {wanted}")
        sent = datetime.datetime.fromisoformat(str(attrs.get("time")).replace("Z", "+00:00"))
        if sent != committed:
            problems.append(f"{where}: time {attrs.get('time')} != the commit time {want['timestamp']}")
        data = event.get_data()
        if (data or b"") != payload_of(want):
            problems.append(f"{where}: data {data!r} is not the payload")
        for name in ("traceparent", "tracestate"):
            have = headers.get(name)
            should = want.get(name)
            if (have.decode() if have is not None else None) != should:
                problems.append(f"{where}: header {name} {have!r}, the event has {should!r}")
        traced += "traceparent" in headers
    missing = set(expected) - seen
    if missing:
        problems.append(f"{len(missing)} events never arrived, e.g. {sorted(missing)[0]}")
    print(json.dumps({"records": len(seen), "expected": len(expected), "traced": traced,
                      "problems": len(problems), "first_problem": problems[0] if problems else None}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
