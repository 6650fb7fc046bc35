#!/usr/bin/env bash
# The peer the seed's team would reach for first: a PostgreSQL 15 events table used as a
# transactional outbox (Debian's postgresql), on the same disk as cairn's benchmarks, with
# the same durability (synchronous_commit=on, fsync on: a commit returns once its WAL is
# flushed, as cairn's kSync append does) and the same 200-byte JSON payloads. Each client
# appends one event per transaction to one of its own 64 streams, taking the stream's next
# version under a unique (stream, version) constraint — cairn's append with ExpectedVersion::Any.
#
# Usage: bench/peers/postgres_outbox.sh CLIENTS SECONDS   -> prints "CLIENTS TPS"
# Env: CAIRN_BENCH_DIR (where the cluster's data directory goes; default a temp dir),
#      PG_BIN (default /usr/lib/postgresql/15/bin; bench/peers/pg_lib.sh).
set -euo pipefail
CLIENTS=${1:?clients}
SECONDS_RUN=${2:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/pg_lib.sh"
base=$(mktemp -d "${CAIRN_BENCH_DIR:-/tmp}/pg-outbox.XXXXXX")
cleanup() {
  pg_stop
  rm -rf "$base"
}
trap cleanup EXIT
pg_start "$base" "-c listen_addresses='' -c max_wal_size=4GB"
psql_ <<'SQL'
CREATE TABLE events (
  position   bigserial PRIMARY KEY,
  stream     text        NOT NULL,
  version    bigint      NOT NULL,
  type       text        NOT NULL,
  payload    jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream, version)
);
SQL
# The payload: the same 200-byte JSON document as bench/store_bench.cc's.
payload='{"orderId":"order-0000042","sku":"sku-117","qty":2,"total":99.50,"note":"'
while [ ${#payload} -lt 198 ]; do payload+=x; done
payload+='"}'
cat >"$base/append.sql" <<SQL
\set s random(0, 63)
INSERT INTO events (stream, version, type, payload)
  SELECT 'order-' || :client_id || '-' || :s, coalesce(max(version), 0) + 1, 'OrderPlaced',
         '$payload'::jsonb
  FROM events WHERE stream = 'order-' || :client_id || '-' || :s;
SQL
chmod a+r "$base/append.sql"
threads=$((CLIENTS < 2 ? 1 : 2))
tps=$("${as_pg[@]}" "$PG_BIN/pgbench" -n -h "$base" -p "$pg_port" -U bench -c "$CLIENTS" -j "$threads" \
  -T "$SECONDS_RUN" -f "$base/append.sql" postgres 2>/dev/null |
  awk '/^tps = / {print $3; exit}')
[ -n "$tps" ] || { echo "pgbench failed; server log:" >&2; tail -20 "$pg_dir/server.log" >&2; exit 1; }
stored=$(psql_ -At -c "SELECT count(*) FROM events")
((stored > 0)) || { echo "no events stored" >&2; exit 1; }
echo "$CLIENTS $tps"
