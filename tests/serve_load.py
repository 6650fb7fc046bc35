#!/usr/bin/python3
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
"""An HTTP load client for the kill -9 test of `cairn serve` (tests/serve_crash_test.sh).

    serve_load.py --port P --state FILE --acks FILE [--threads N] [--seconds S]

Each thread owns its streams and appends requests of three events, with event ids and the
expected version it knows, over a keep-alive connection (Python's http.client: no code shared
with cairn). A 201 is written to --acks ("ack STREAM FIRST_VERSION ID ID ID", flushed at once).
A request that got no answer (the server was killed) has an unknown outcome: it is kept in
--state and sent again, unchanged, when the next run starts; it must then be answered 201,
either as a deduplicated retry (it was stored) or as a fresh append (it was not). Anything
else (a 409, a 5xx, a 201 at other versions) is a failure: exit 1 naming it. The run ends
when the server stops answering or after --seconds.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import uuid

lock = threading.Lock()
failures = []


def post(conn, stream, body, expected):
    conn.request("POST", f"/v1/streams/{stream}/events", body=body,
                 headers={"Content-Type": "application/json", "Cairn-Expected-Version": expected})
    r = conn.getresponse()
    return r.status, r.read()


def new_request(stream, version):
    events = [{"id": str(uuid.uuid4()), "type": "LoadEvent",
               "data": {"stream": stream, "n": version + i + 1}} for i in range(3)]
    return {"stream": stream, "expected": version, "events": events}


def send(conn, req, acks):
    """True when answered 201 at the expected versions; raises OSError if the server is gone."""
    expected = str(req["expected"]) if req["expected"] else "no-stream"
    status, body = post(conn, req["stream"], json.dumps(req["events"]), expected)
    if status != 201:
        with lock:
            failures.append(f"{req['stream']} expected {expected}: {status} {body[:200]!r}")
        return False
    answer = json.loads(body)
    if answer["first_version"] != req["expected"] + 1:
        with lock:
            failures.append(f"{req['stream']}: stored at {answer['first_version']}, "
                            f"expected {req['expected'] + 1}")
        return False
    ids = " ".join(e["id"] for e in req["events"])
    with lock:
        acks.write(f"ack {req['stream']} {answer['first_version']} {ids}\n")
        acks.flush()
    return True


def worker(port, streams, versions, pending, acks, deadline):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        while pending:  # first the requests whose outcome the last kill hid
            req = pending[0]
            if not send(conn, req, acks):
                return
            versions[req["stream"]] = req["expected"] + 3
            pending.pop(0)
        i = 0
        while time.monotonic() < deadline:
            stream = streams[i % len(streams)]
            i += 1
            req = new_request(stream, versions[stream])
            pending.append(req)
            if not send(conn, req, acks):
                return
            pending.pop()
            versions[stream] += 3
    except (OSError, http.client.HTTPException):
        pass  # the server was killed: whatever is pending stays pending


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--acks", required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3600)
    args = ap.parse_args()
    if os.path.exists(args.state):
        state = json.load(open(args.state))
    else:
        state = {"threads": [{"streams": [f"order-{t}x{s}" for s in range(2)],
                              "versions": {f"order-{t}x{s}": 0 for s in range(2)},
                              "pending": []} for t in range(args.threads)]}
    deadline = time.monotonic() + args.seconds
    with open(args.acks, "a") as acks:
        threads = [threading.Thread(target=worker, args=(args.port, t["streams"], t["versions"],
                                                         t["pending"], acks, deadline))
                   for t in state["threads"]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    tmp = args.state + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, args.state)
    if failures:
        print("\n".join(failures[:10]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
