#!/usr/bin/env bash
# Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#
# docs/monitoring/ against the real thing: the alerting rules pass `promtool check rules` and
# their unit tests (`promtool test rules alerts_test.yml`); a live `cairn serve` (embedded
# Kafka, a backlog quota, one event appended and shipped) exposes metrics that pass `promtool
# check metrics`; and every cairn_* metric the rules and the Grafana dashboard use is one that
# scrape has — so a renamed metric fails here, not on an operator's silent dashboard.
#   monitoring_test.sh CAIRN_BINARY
set -euo pipefail
CAIRN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/serve_lib.sh"  # serve_start, serve_stop
DOCS=$HERE/../docs/monitoring
command -v promtool >/dev/null || { echo "promtool missing (Debian's prometheus; .ci/install-deps)" >&2; exit 1; }
work=$(mktemp -d)
trap serve_cleanup EXIT

promtool check rules "$DOCS/alerts.yml"
(cd "$DOCS" && promtool test rules alerts_test.yml)

serve_start "$work/store" --embedded-kafka --backlog-max-events 100000
curl -sf "$base/v1/streams/order-1/events" -H 'Content-Type: application/json' \
    -d '{"type":"OrderPlaced","data":{"total":1}}' >/dev/null
for _ in $(seq 100); do
  curl -sf "$base/metrics" | grep -q '^cairn_shipper_shipped_through_position 1$' && break
  sleep 0.1
done
curl -sf "$base/metrics" >"$work/metrics.txt"
promtool check metrics <"$work/metrics.txt"

/usr/bin/python3 - "$work/metrics.txt" "$DOCS/alerts.yml" "$DOCS/grafana-dashboard.json" <<'PY'
import json, re, sys
scrape, rules, dashboard = sys.argv[1:4]
have = set()
for line in open(scrape):
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
    if m and not line.startswith("#"):
        have.add(m.group(1))
used = set(re.findall(r"\bcairn_[a-z0-9_]+", open(rules).read()))
for p in json.load(open(dashboard))["panels"]:
    for t in p.get("targets", []):
        used |= set(re.findall(r"\bcairn_[a-z0-9_]+", t["expr"]))
missing = sorted(n for n in used if n not in have)
if missing:
    sys.exit(f"used by docs/monitoring but not exposed by cairn serve: {missing}")
print(f"{len(used)} metrics used by the rules and the dashboard, all exposed ({len(have)} series names scraped)")
PY
