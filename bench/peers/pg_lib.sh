# Sourced by bench/peers/*.sh: a private PostgreSQL 15 cluster (Debian's postgresql) in a
# directory of its own, with cairn's durability (synchronous_commit=on, fsync on).
#   pg_start DIR [-c option=value ...]  initdb and start in DIR; sets pg_port, as_pg, pg_dir
#   pg_stop                             stop it at once (from an EXIT trap)
#   psql_ ARGS...                       psql as the superuser "bench" (trust auth)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
as_pg=()
pg_dir=""
pg_start() {
  pg_dir=$1
  shift
  [ -x "$PG_BIN/pg_ctl" ] || { echo "PostgreSQL 15 missing: apt-get install postgresql" >&2; return 1; }
  mkdir -p "$pg_dir"
  if [ "$(id -u)" -eq 0 ]; then  # initdb and postgres refuse to run as root
    chown postgres: "$pg_dir"
    as_pg=(runuser -u postgres --)
    "${as_pg[@]}" test -x "$pg_dir" || {
      echo "user postgres cannot reach $pg_dir: make its parent directories searchable (chmod o+x)" >&2
      return 1; }
  fi
  pg_port=$((20000 + RANDOM % 20000))
  "${as_pg[@]}" "$PG_BIN/initdb" -D "$pg_dir/data" -A trust -U bench --no-sync >/dev/null
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w start -o \
    "-k $pg_dir -p $pg_port -c synchronous_commit=on -c fsync=on -c shared_buffers=256MB \
     -c max_connections=200 $*" >/dev/null
}
pg_stop() {
  [ -n "$pg_dir" ] || return 0
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
}
psql_() { "${as_pg[@]}" psql -q -h "$pg_dir" -p "$pg_port" -U bench -d postgres -v ON_ERROR_STOP=1 "$@"; }
