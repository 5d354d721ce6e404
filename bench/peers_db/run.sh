#!/bin/sh
# Runs db-bench beside its ceilings on one private PostgreSQL:
#   pgbench -c N -j 1 with a "SELECT 1" script (same statement, extended
#   protocol like libpq's PQsendQueryParams) and pgbench -S (its built-in
#   select-only test), and asyncpg (Debian python3-asyncpg) if installed.
#   bench/peers_db/run.sh BUILD_DIR [SECONDS]
# Starts PostgreSQL 15 as the postgres user in a temp dir, stops it at exit.
set -eu
BUILD=${1:?build dir}; SECS=${2:-3}
BIN=/usr/lib/postgresql/15/bin
HERE=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d /tmp/corio-dbbench-XXXXXX)
AS=""; [ "$(id -u)" = 0 ] && { chown postgres "$D"; AS="runuser -u postgres --"; }
trap '$AS $BIN/pg_ctl -D $D/data -s -m immediate stop >/dev/null 2>&1 || true; rm -rf "$D"' EXIT
$AS $BIN/initdb -D "$D/data" -A trust -U postgres --no-sync >/dev/null
$AS $BIN/pg_ctl -D "$D/data" -w -s -l "$D/log" -o "-k $D -p 5432 -c listen_addresses='' -c fsync=off -c max_connections=200" start
echo "SELECT 1;" > "$D/select1.sql"
$AS $BIN/pgbench -h "$D" -U postgres -i -s 1 -q postgres >/dev/null 2>&1
"$BUILD/db-bench" "host=$D user=postgres dbname=postgres" "$SECS" 1 10 100
for n in 1 10 100; do
  q=$($AS $BIN/pgbench -h "$D" -U postgres -n -M extended -f "$D/select1.sql" -c $n -j 1 -T "$SECS" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  s=$($AS $BIN/pgbench -h "$D" -U postgres -n -S -c $n -j 1 -T "$SECS" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  printf 'pgbench   SELECT 1  -c %-4d -j 1     %10.0f queries/s   (-S: %.0f)\n' $n "$q" "$s"
done
if /usr/bin/python3 -c 'import asyncpg' 2>/dev/null; then
  /usr/bin/python3 "$HERE/asyncpg_select1.py" "$D" "$SECS" 1 10 100
else
  echo "asyncpg: not installed (apt-get install python3-asyncpg)"
fi
