#!/usr/bin/env python3
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# open_transactions.py BOOTSTRAP TOPIC: how many offsets of TOPIC lie in transactions that are
# still open, as the brokers see it: the sum over its partitions of (high watermark - last
# stable offset). The high watermark is the end a read_uncommitted reader sees; the last stable
# offset is where a read_committed reader must stop, the first offset of the oldest open
# transaction. Prints "OPEN PARTITIONS_WITH_OPEN" and exits 0; exits 1 when the brokers do not
# answer.
#
# tests/kafka/faults_test.sh (txn-kill) asks this right after a kill -9 of the writer: a
# dead producer cannot commit or abort any more, so a non-zero answer proves that the kill
# landed inside a transaction whose records had already reached the log.
import sys

from confluent_kafka import IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec


def main() -> int:
    bootstrap, topic = sys.argv[1], sys.argv[2]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        metadata = admin.list_topics(topic, timeout=10)
        partitions = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
        ends = {}
        for level in (IsolationLevel.READ_UNCOMMITTED, IsolationLevel.READ_COMMITTED):
            futures = admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions},
                                         isolation_level=level, request_timeout=10)
            ends[level] = {tp.partition: f.result().offset for tp, f in futures.items()}
    except KafkaException as e:
        print(f"open_transactions: {topic}: {e}", file=sys.stderr)
        return 1
    high = ends[IsolationLevel.READ_UNCOMMITTED]
    stable = ends[IsolationLevel.READ_COMMITTED]
    open_offsets = [high[p] - stable[p] for p in high if high[p] > stable[p]]
    print(sum(open_offsets), len(open_offsets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
