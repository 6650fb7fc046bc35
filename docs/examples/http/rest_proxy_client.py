#!/usr/bin/env python3
"""An app written for Confluent's REST Proxy, unchanged but for its base URL: it produces to
cairn serve, which keeps the records (key = stream, in order) until Kafka takes them. Uses only
the REST Proxy v2 API (POST /topics/{topic}, application/vnd.kafka.json.v2+json). CAIRN_URL,
CAIRN_TOKEN as in curl.sh. Run by tests/http_examples_test.sh."""
import json
import os
import urllib.request

REST_PROXY = os.environ.get("CAIRN_URL", "http://127.0.0.1:8080")


def produce(topic, records):
    req = urllib.request.Request(
        f"{REST_PROXY}/topics/{topic}", data=json.dumps({"records": records}).encode(),
        headers={"Content-Type": "application/vnd.kafka.json.v2+json",
                 "Accept": "application/vnd.kafka.v2+json, application/json"})
    if os.environ.get("CAIRN_TOKEN"):
        req.add_header("Authorization", "Bearer " + os.environ["CAIRN_TOKEN"])
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


answer = produce("inventory-events", [
    {"key": "sku-100", "value": {"event": "StockReserved", "qty": 3}},
    {"key": "sku-200", "value": {"event": "StockReserved", "qty": 1}},
    {"key": "sku-100", "value": {"event": "StockReleased", "qty": 3}},
])
errors = [o for o in answer["offsets"] if o["error_code"] is not None]
assert not errors and len(answer["offsets"]) == 3, answer
print("produced", [o["offset"] for o in answer["offsets"]])
