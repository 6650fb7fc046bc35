#!/usr/bin/python3
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
"""HTTP as clients speak it, against a running `cairn serve` (issue #24): the wire-level half
of tests/http_fuzz.sh, which schemathesis cannot reach (it sends one well-framed request at a
time). For a while, from several threads, it sends

  - pipelined batches: several appends in one write, each with an event id it remembers;
  - mutated framing: Content-Length signs, lists and duplicates, Transfer-Encoding beside
    Content-Length, unknown codings, folded lines, bare LFs, wrong versions, absolute-form;
  - slow clients: a request trickled in pieces with pauses;
  - requests cut off midway and connections dropped.

Every answer must be a well-formed HTTP/1.1 status line with a known status and never a 5xx;
every pipelined append answered 201 must be in the store afterwards (checked by the caller
with `cairn read`, from the ids written to IDS_FILE), and /healthz must answer throughout.

    http_wire_fuzz.py PORT IDS_FILE [--seconds N] [--seed S]
"""
import argparse
import json
import random
import socket
import sys
import threading
import time
import uuid

GOOD_STATUSES = {200, 201, 400, 404, 405, 408, 409, 411, 413, 415, 431, 501, 505}


def read_answers(sock, want, timeout=10.0):
    """Reads up to `want` whole answers (head + Content-Length body) or until EOF."""
    sock.settimeout(timeout)
    buf = b""
    answers = []
    while len(answers) < want:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            if len(buf) >= end + 4 + length:
                answers.append((head, buf[end + 4:end + 4 + length]))
                buf = buf[end + 4 + length:]
                continue
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        buf += chunk
    return answers


def status_of(head):
    parts = head.split(" ", 2)
    if len(parts) < 2 or parts[0] != "HTTP/1.1" or not parts[1].isdigit():
        raise AssertionError(f"not an HTTP/1.1 status line: {head[:80]!r}")
    return int(parts[1])


def append(stream, event_id, data):
    body = json.dumps({"type": "Fuzzed", "id": event_id, "data": data}).encode()
    return (b"POST /v1/streams/%s/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (stream.encode(), len(body), body))


def mutate(rng, request):
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    choice = rng.randrange(12)
    if choice == 0:
        lines = [l if not l.startswith(b"Content-Length") else l + b", " + l.split(b": ")[1] for l in lines]
    elif choice == 1:
        lines = [l.replace(b"Content-Length: ", b"Content-Length: +") for l in lines]
    elif choice == 2:
        lines.append(b"Content-Length: 3")
    elif choice == 3:
        lines.append(b"Transfer-Encoding: chunked")
    elif choice == 4:
        lines.append(b"Transfer-Encoding: " + rng.choice([b"gzip, chunked", b"identity", b"chunked, chunked"]))
    elif choice == 5:
        lines.insert(2, b" folded")
    elif choice == 6:
        return (head.replace(b"\r\n", b"\n") + b"\n\n" + body)
    elif choice == 7:
        lines[0] = lines[0].replace(b"HTTP/1.1", rng.choice([b"HTTP/2.0", b"HTTP/1", b"HTTX/1.1", b"HTTP/1.10"]))
    elif choice == 8:
        lines = [l for l in lines if not l.startswith(b"Host")]
    elif choice == 9:
        lines = [l.replace(b"Content-Length:", b"Content-Length :") for l in lines]
    elif choice == 10:
        lines[0] = lines[0].replace(b" /v1/", b" http://x/v1/")
    else:
        lines = [l.replace(b"Content-Length: ", b"Content-Length: 99999999999999999999") for l in lines]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class Fuzzer:
    def __init__(self, port, seed):
        self.port = port
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stored_ids = []
        self.failures = []
        self.counts = {}

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    def check(self, head):
        status = status_of(head)
        with self.lock:
            self.counts[status] = self.counts.get(status, 0) + 1
        if status >= 500 and status not in (501, 505) or status not in GOOD_STATUSES:
            self.fail(f"answer {head.splitlines()[0]!r}")
        return status

    def pipelined(self, rng):
        n = rng.randint(2, 8)
        ids = [str(uuid.uuid4()) for _ in range(n)]
        stream = "wire-%d" % rng.randrange(20)
        with self.connect() as s:
            s.sendall(b"".join(append(stream, i, k) for k, i in enumerate(ids)))
            answers = read_answers(s, n)
        if len(answers) != n:
            self.fail(f"{n} pipelined appends got {len(answers)} answers")
        for i, (head, _) in zip(ids, answers):
            if self.check(head) == 201:
                with self.lock:
                    self.stored_ids.append(i)

    def framed_badly(self, rng):
        with self.connect() as s:
            s.sendall(mutate(rng, append("bad-%d" % rng.randrange(5), str(uuid.uuid4()), 1)))
            for head, _ in read_answers(s, 1):
                self.check(head)

    def slow(self, rng):
        request = append("slow-%d" % rng.randrange(5), str(uuid.uuid4()), "slow")
        with self.connect() as s:
            at = 0
            while at < len(request):
                step = rng.randint(1, 40)
                try:
                    s.sendall(request[at:at + step])
                except OSError:
                    break
                at += step
                time.sleep(rng.uniform(0, 0.05))
            for head, _ in read_answers(s, 1):
                self.check(head)

    def cut_off(self, rng):
        request = append("cut-%d" % rng.randrange(5), str(uuid.uuid4()), "cut")
        with self.connect() as s:
            s.sendall(request[:rng.randrange(1, len(request))])
        # dropped without an answer: the server must just carry on

    def health(self):
        with self.connect() as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answers = read_answers(s, 1)
        if not answers or status_of(answers[0][0]) != 200:
            self.fail("/healthz did not answer 200")

    def run(self, seconds, threads=4):
        deadline = time.monotonic() + seconds

        def worker(seed):
            rng = random.Random(seed)
            actions = [self.pipelined, self.framed_badly, self.slow, self.cut_off]
            while time.monotonic() < deadline:
                try:
                    rng.choice(actions)(rng)
                except AssertionError as e:
                    self.fail(str(e))
                except OSError as e:
                    self.fail(f"connection error: {e}")

        workers = [threading.Thread(target=worker, args=(self.rng.random(),)) for _ in range(threads)]
        for w in workers:
            w.start()
        while any(w.is_alive() for w in workers):
            self.health()
            time.sleep(0.5)
        for w in workers:
            w.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("ids_file")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    f = Fuzzer(args.port, args.seed)
    f.run(args.seconds)
    with open(args.ids_file, "w") as out:
        out.write("\n".join(f.stored_ids) + "\n")
    print(f"http wire fuzz: answers by status {dict(sorted(f.counts.items()))}, "
          f"{len(f.stored_ids)} pipelined appends stored, {len(f.failures)} failures (seed {args.seed})")
    for what in f.failures[:20]:
        print("FAIL:", what, file=sys.stderr)
    return 1 if f.failures else 0


if __name__ == "__main__":
    sys.exit(main())
