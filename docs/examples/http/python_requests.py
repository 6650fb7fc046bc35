#!/usr/bin/env python3
"""cairn serve from Python with `requests`: idempotent appends that survive timeouts, restarts
and a full backlog (429/503 with Retry-After), and a read back. CAIRN_URL, CAIRN_TOKEN as in
curl.sh. Run by tests/http_examples_test.sh."""
import os
import time
import uuid

import requests

URL = os.environ.get("CAIRN_URL", "http://127.0.0.1:8080")
session = requests.Session()
if os.environ.get("CAIRN_TOKEN"):
    session.headers["Authorization"] = "Bearer " + os.environ["CAIRN_TOKEN"]


def append(stream, events, expected="any", attempts=10):
    """POSTs events (each with an id, so a retry is harmless) until a 201 or a final error."""
    for attempt in range(attempts):
        try:
            r = session.post(f"{URL}/v1/streams/{stream}/events", json=events, timeout=10,
                             headers={"Cairn-Expected-Version": str(expected)})
        except requests.ConnectionError:
            time.sleep(0.5)  # the server restarting: the same ids make the retry safe
            continue
        if r.status_code in (429, 503):
            time.sleep(float(r.headers.get("Retry-After", "1")))
            continue
        if r.status_code == 409:
            raise RuntimeError(f"conflict: {r.json()['message']}")
        r.raise_for_status()
        return r.json()
    raise RuntimeError(f"gave up after {attempts} attempts")


stream = f"order-py-{uuid.uuid4().hex[:8]}"
placed = {"id": str(uuid.uuid4()), "type": "OrderPlaced", "data": {"orderId": stream, "total": 42.0}}
paid = {"id": str(uuid.uuid4()), "type": "OrderPaid", "data": {"amount": 42.0},
        "metadata": {"correlationId": "c-1"}}
result = append(stream, [placed, paid], expected="no-stream")
print("appended", result["first_version"], "..", result["last_version"], "at", result["last_position"])
assert append(stream, [placed, paid], expected="no-stream")["deduplicated"] is True

page = session.get(f"{URL}/v1/streams/{stream}", timeout=10).json()
assert [e["type"] for e in page["events"]] == ["OrderPlaced", "OrderPaid"], page
assert page["events"][1]["metadata"] == {"correlationId": "c-1"}, page
print("read back", len(page["events"]), "events; last version", page["last_version"])
