#!/usr/bin/python3
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
"""A fuzz pass over the cairn tool (issue #12): every subcommand driven with random and hostile
arguments and stdin — bytes that are not UTF-8, empty and huge values, negative and huge
numbers (max, max+1, units multiplied in), mistyped and odd paths — for a while, with three
processes creating one store at once now and then, and retention runs with huge audit windows
on a store that must lose nothing. No run may end on a signal (exit >= 128: an
abort, a crash) or hang past its timeout, and afterwards `cairn verify` must pass on every store
the runs touched.

    cli_fuzz.py CAIRN [--seconds N] [--seed S]

Commands that run until stopped by design (ship, tail, demo, kafka-mock) are driven only with
arguments that end them (a bad option, --max-events, --help).
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HOSTILE = [
    "", " ", "-", "--", "-1", "0", "1", "18446744073709551616", "99999999999999999999999",
    "1e308", "nan", "x" * 100000, "\xff", "order-\udcff", "a\u0000b", "../../etc/passwd",
    "/dev/null", "/dev/full", "/", "%s%s%s", "{}", "[]", '{"a":', "null", "é" * 300,
    "category", "2026-13-45", "7y", "1:zz", "1:" + "a" * 64, "=", "a=b", "--help",
    # Numbers at their limits (issue #24): max, max+1, the unit multiplied in.
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551615",
    "106751991d", "106751992d", "9999999999d", "153722867280912930m", "9223372036854s", "0s",
    "1e400", "shipper=18446744073709551616", "shipper=0", "shiper=0",
    # Trace context (issue #28): valid, upper-case, all-zero, version ff, a later version, junk.
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x", "congo=t61rcWkgMzE,rojo=1",
    "a=1,a=2", "k=" + "v" * 600, "cloudevents", "/shop/orders",
]
# Audit windows from "a day" to past what int64 microseconds hold: a retention run given any of
# them must remove nothing from a store whose events are seconds old.
HUGE_AGES = ["1d", "365d", "106751991d", "106751992d", "9999999999d", "99999999999999999999d",
             "2562047788015h", "153722867280912930m", "9223372036854775807s"]


def arg(rng, store_paths):
    pick = rng.random()
    if pick < 0.35:
        return rng.choice(store_paths)
    if pick < 0.75:
        return rng.choice(HOSTILE)
    n = rng.randint(1, 40)
    return "".join(chr(rng.randint(1, 0x2FF)) for _ in range(n))


# Subcommand -> options it takes (flags end with '!', they take no value).
COMMANDS = {
    "info": ["--format"],
    "append": ["--type", "-t", "--expected-version", "-e", "--id", "--content-type", "--metadata",
               "--data", "-d", "--jsonl!", "--durability", "--format", "--traceparent",
               "--tracestate"],
    "read": ["--from", "--backward!", "--limit", "--format"],
    "verify": ["--from-position", "--expect", "--format"],
    "repair": ["--dry-run!", "--backup-dir", "--format"],
    "query": ["--type", "--stream", "--category", "--since", "--until", "--where", "-n", "--format"],
    "export": ["--type", "--stream", "--category", "--since", "--where", "-o"],
    "streams": ["--prefix", "--limit", "-n", "--format"],
    "status": ["--format"],
    "dead-letters": ["--position", "--all!", "-b", "--format"],
    "reconcile": ["-b", "--routes", "--topic", "--format"],
    "stream-meta": ["--max-age", "--max-count", "--truncate-before", "--clear!", "--format"],
    "delete-stream": ["-e"],
    "retention": ["--max-age", "--max-events", "--min-audit-age", "--dry-run!", "--not-shipped!",
                  "--format"],
    "checkpoints": ["--set", "--create!", "--delete", "--format"],
    # Long-running by design: only arguments that end them.
    "tail": ["--max-events"],
    "ship": ["--mode", "-X", "--kafka-config", "--value", "--cloudevents-source",
             "--transaction-interval", "--no-overlap-transactions!"],
}


def build(rng, cmd, store_paths):
    argv = [cmd]
    positional = rng.randint(0, 3)
    for _ in range(positional):
        argv.append(arg(rng, store_paths))
    opts = COMMANDS[cmd]
    for _ in range(rng.randint(0, 4)):
        o = rng.choice(opts)
        if o.endswith("!"):
            argv.append(o[:-1])
        else:
            argv += [o, arg(rng, store_paths)]
    if cmd == "tail":
        argv += ["--max-events", "0", "--poll-interval", "0.05"]
    if cmd == "ship":
        argv.append("--definitely-not-an-option")  # must fail fast, never ship
    return argv


def stdin_bytes(rng, store_paths):
    pick = rng.random()
    if pick < 0.3:
        return b""
    if pick < 0.5:
        return os.urandom(rng.randint(1, 5000))
    lines = []
    for _ in range(rng.randint(1, 20)):
        if rng.random() < 0.2:
            lines.append(os.urandom(rng.randint(1, 80)))
        else:
            stream = rng.choice(["s-1", "s-2", "", "\xff", "x" * 300, "order-7"])
            data = rng.choice(['{"a":1}', '"text"', "[1,2]", "1e999", '{"k":1,"k":2}', "null"])
            trace = rng.choice(["", ',"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"',
                                ',"traceparent":"00-1"', ',"tracestate":"a=1"', ',"schema_version":0',
                                ',"schema_version":4294967296', ',"schema_version":3'])
            lines.append(('{"stream":"%s","type":"%s","data":%s%s}'
                          % (stream, rng.choice(["T", "", "\u00e9"]), data, trace))
                         .encode("utf-8", "surrogateescape"))
    return b"\n".join(lines) + b"\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cairn")
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    # The commands run in a scratch directory (cwd=work): a relative path to the binary, as
    # .ci/reliability gives, must not depend on where that is.
    args.cairn = os.path.abspath(args.cairn)
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="cairn-fuzz-")
    try:
        stores = []
        for name, n in (("small", 50), ("empty", 0)):
            path = os.path.join(work, name)
            if n:
                lines = "".join('{"stream":"s-%d","type":"T","data":{"i":%d}}\n' % (i % 5, i)
                                for i in range(n))
                subprocess.run([args.cairn, "append", path, "--jsonl"], input=lines.encode(),
                               stdout=subprocess.DEVNULL, check=True)
            stores.append(path)
        with open(os.path.join(work, "plain-file"), "w") as f:
            f.write("not a store\n")
        paths = stores + [os.path.join(work, "plain-file"), os.path.join(work, "typo"), work]
        # A store no run may lose events from: only retention runs with a huge audit window
        # touch it (checked after each), so any removal is a wrapped number.
        forever = os.path.join(work, "forever")
        lines = "".join('{"stream":"f-%d","type":"T","data":{"i":%d}}\n' % (i % 3, i)
                        for i in range(30))
        subprocess.run([args.cairn, "append", forever, "--jsonl"], input=lines.encode(),
                       stdout=subprocess.DEVNULL, check=True)
        deadline = time.monotonic() + args.seconds
        runs = failures = 0

        def head_of(store):
            out = subprocess.run([args.cairn, "info", store, "--format", "json"],
                                 capture_output=True)

            return json.loads(out.stdout)["last_position"] if out.returncode == 0 else 0

        def count_events(store):
            out = subprocess.run([args.cairn, "read", store, "--format", "json"],
                                 capture_output=True)
            return len(json.loads(out.stdout)) if out.returncode == 0 else None

        while time.monotonic() < deadline:
            pick = rng.random()
            if pick < 0.05:
                # Two actors: three processes creating one new store at once. Each stores its
                # event (exit 0) or is refused as another writer (exit 6); the store holds
                # exactly the ones that said 0.
                target = os.path.join(work, "race-%d" % runs)
                procs = [subprocess.Popen([args.cairn, "append", target, "r-%d" % i, "-t", "T",
                                           "--data", "{}"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE) for i in range(3)]
                codes = [p.wait(timeout=20) for p in procs]
                runs += 1
                if any(c not in (0, 6) for c in codes) or codes.count(0) != head_of(target):
                    failures += 1
                    print("CREATORS:", codes, [p.stderr.read()[-300:] for p in procs],
                          file=sys.stderr)
                shutil.rmtree(target, ignore_errors=True)
                continue
            if pick < 0.15:
                argv = [args.cairn, "retention", forever, "--max-age", rng.choice(["0s", "1s"]),
                        "--min-audit-age", rng.choice(HUGE_AGES)]
                if rng.random() < 0.5:
                    argv.append("--not-shipped")
                runs += 1
                p = subprocess.run(argv, capture_output=True, timeout=20, cwd=work)
                if p.returncode >= 128 or p.returncode < 0 or count_events(forever) != 30:
                    failures += 1
                    print(f"RETENTION LOST EVENTS (exit {p.returncode}):", argv[2:],
                          p.stderr.decode(errors="replace")[-300:], file=sys.stderr)
                continue
            cmd = rng.choice(list(COMMANDS))
            argv = [args.cairn] + build(rng, cmd, paths)
            argv = [a.encode("utf-8", "surrogateescape").replace(b"\0", b"") for a in argv]
            runs += 1
            try:
                p = subprocess.run(argv, input=stdin_bytes(rng, paths), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, timeout=20, cwd=work)
            except subprocess.TimeoutExpired:
                failures += 1
                print("HANG:", argv[:8], file=sys.stderr)
                continue
            if p.returncode >= 128 or p.returncode < 0:
                failures += 1
                print(f"SIGNAL/ABORT (exit {p.returncode}):", argv[:8],
                      p.stderr.decode(errors="replace")[-400:], file=sys.stderr)
        # Every store the runs touched (those that exist and are stores) must verify.
        touched = [p for p in [os.path.join(work, n) for n in os.listdir(work)]
                   if os.path.isfile(os.path.join(p, "CURRENT"))]
        for store in touched:
            v = subprocess.run([args.cairn, "verify", store], capture_output=True)
            if v.returncode != 0:
                failures += 1
                print(f"VERIFY FAILED for {store}:", v.stderr.decode(errors="replace")[-400:],
                      file=sys.stderr)
        print(f"cli fuzz: {runs} runs, {len(touched)} stores verified, {failures} failures "
              f"(seed {args.seed})")
        return 1 if failures else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
