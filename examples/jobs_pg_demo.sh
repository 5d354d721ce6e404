#!/usr/bin/env bash
# corio-jobs on PostgreSQL, shown end to end: a private PostgreSQL, two
# corio-jobs processes sharing its queue, ten jobs submitted to the first,
# the first killed with SIGKILL while it runs them, and the second finishing
# every one of them (the killed process's jobs after their 2 s lease).
#
#   examples/jobs_pg_demo.sh [BUILD_DIR]     (default: build-release)
#
# Needs the Debian packages postgresql and curl (scripts/deps.sh core).
# Runs PostgreSQL as the postgres user when run as root.
set -euo pipefail
BUILD=${1:-build-release}
BIN=$BUILD/apps/corio-jobs/corio-jobs
PG=/usr/lib/postgresql/15/bin
[ -x "$BIN" ] || { echo "build corio-jobs first: cmake -B $BUILD -DCMAKE_BUILD_TYPE=Release && make -C $BUILD corio-jobs" >&2; exit 1; }
[ -x $PG/initdb ] || { echo "PostgreSQL is not installed: scripts/deps.sh core" >&2; exit 1; }
TMP=$(mktemp -d /tmp/corio-jobs-demo-XXXXXX)
AS=""
[ "$(id -u)" = 0 ] && { chown postgres "$TMP"; AS="runuser -u postgres --"; }
P1= P2=
cleanup() {
    kill $P1 $P2 2>/dev/null || true
    $AS $PG/pg_ctl -D "$TMP/data" -s -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT
$AS $PG/initdb -D "$TMP/data" -A trust -U postgres --no-sync >/dev/null
$AS $PG/pg_ctl -D "$TMP/data" -w -s -l "$TMP/log" -o "-k $TMP -p 5432 -c listen_addresses=''" start
URL="postgresql:///postgres?host=$TMP&port=5432&user=postgres"

port() { for _ in $(seq 100); do p=$(grep -o '127.0.0.1:[0-9]*' "$1" 2>/dev/null | head -1 | cut -d: -f2 || true); [ -n "$p" ] && { echo "$p"; return; }; sleep 0.05; done; echo "no port in $1" >&2; exit 1; }
"$BIN" --listen 127.0.0.1:0 --db "$URL" --lease 2 --workers 4 > "$TMP/out1" 2>&1 & P1=$!
"$BIN" --listen 127.0.0.1:0 --db "$URL" --lease 2 --workers 4 > "$TMP/out2" 2>&1 & P2=$!
A=$(port "$TMP/out1"); B=$(port "$TMP/out2")
echo "two corio-jobs on one PostgreSQL queue: :$A (pid $P1) and :$B (pid $P2)"

count() { curl -s "$1" | { grep -o '"id"' || true; } | wc -l; }
IDS=()
for i in $(seq 10); do
    IDS+=("$(curl -s -X POST "http://127.0.0.1:$A/jobs" -d '{"type":"sleep","seconds":1.5}' | sed 's/.*"id":"\([^"]*\)".*/\1/')")
done
echo "submitted 10 jobs of 1.5 s to :$A"
sleep 0.5
echo "running now: $(count "http://127.0.0.1:$B/jobs?status=running") (both processes take jobs)"
kill -9 $P1; wait $P1 2>/dev/null || true; P1=
echo "killed :$A with SIGKILL; :$B takes its jobs over when their leases expire"
for _ in $(seq 100); do
    left=$(count "http://127.0.0.1:$B/jobs?status=created")
    run=$(count "http://127.0.0.1:$B/jobs?status=running")
    [ "$left" = 0 ] && [ "$run" = 0 ] && break
    sleep 0.2
done
for id in "${IDS[@]}"; do
    curl -s "http://127.0.0.1:$B/jobs/$id" | sed 's/.*"status":"\([a-z]*\)".*"attempts":\([0-9]*\).*/\1, attempts \2/' | sed "s/^/$id: /"
done
