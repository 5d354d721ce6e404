#!/usr/bin/env bash
# corio-jobs on PostgreSQL (docs/benchmarks.md): durable submissions per
# second with one process, and jobs that also run, with one and with two
# processes sharing the queue.
#
#   bench/jobs/run_pg.sh BUILD_DIR [SECONDS]
#
# Starts a private PostgreSQL 15 (as the postgres user when run as root) with
# its durable defaults (fsync on, synchronous_commit on), so a 202 costs a
# WAL flush as with SQLite's synchronous=FULL; stops it at exit. wrk runs 64
# connections per corio-jobs process.
set -euo pipefail
BUILD=${1:?usage: run_pg.sh BUILD_DIR [SECONDS]}
D=${2:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/apps/corio-jobs/corio-jobs
PG=/usr/lib/postgresql/15/bin
TMP=$(mktemp -d /tmp/corio-jobs-pgbench-XXXXXX)
AS=""
[ "$(id -u)" = 0 ] && { chown postgres "$TMP"; AS="runuser -u postgres --"; }
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    $AS $PG/pg_ctl -D "$TMP/data" -s -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT
$AS $PG/initdb -D "$TMP/data" -A trust -U postgres --no-sync >/dev/null
$AS $PG/pg_ctl -D "$TMP/data" -w -s -l "$TMP/log" \
    -o "-k $TMP -p 5432 -c listen_addresses=''" start
URL="postgresql:///postgres?host=$TMP&port=5432&user=postgres"
psql_() { $AS psql -h "$TMP" -U postgres -qAt -c "$1" postgres; }

PORTS=()
start() { # n
    PIDS=(); PORTS=()
    psql_ "DROP TABLE IF EXISTS corio_jobs" >/dev/null 2>&1 || true
    for i in $(seq "$1"); do
        "$BIN" --listen 127.0.0.1:0 --db "$URL" --workers 64 \
            > "$TMP/out$i" 2> "$TMP/err$i" &
        PIDS+=($!)
        for _ in $(seq 200); do
            P=$(grep -o '127.0.0.1:[0-9]*' "$TMP/out$i" 2>/dev/null | head -1 | cut -d: -f2 || true)
            [ -n "$P" ] && break
            sleep 0.05
        done
        [ -n "$P" ] || { echo "corio-jobs did not start" >&2; cat "$TMP/err$i" >&2; exit 1; }
        PORTS+=("$P")
    done
}
stop() { for p in "${PIDS[@]}"; do kill -TERM "$p"; wait "$p" || true; done; PIDS=(); }
load() { # label script
    echo "== $1 (${#PORTS[@]} process(es))"
    local outs=() wrks=()
    for p in "${PORTS[@]}"; do
        wrk -t1 -c64 -d"${D}s" --latency -s "$HERE/$2" "http://127.0.0.1:$p/jobs" > "$TMP/wrk$p" &
        wrks+=($!)
        outs+=("$TMP/wrk$p")
    done
    wait "${wrks[@]}"
    for o in "${outs[@]}"; do
        grep -E 'Requests/sec|  50%|  99%|Non-2xx|Socket errors' "$o"
    done
    awk '/Requests\/sec/ { s += $2 } END { printf "  total %.0f submissions/s\n", s }' "${outs[@]}"
    sleep 1
    echo "  jobs by status: $(psql_ "SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) n FROM corio_jobs GROUP BY status) s")"
}

start 1
load "POST /jobs (sleep 3600: submission only)" post_sleep.lua
stop
start 1
load "POST /jobs, each job also runs (claim + final write)" post_run.lua
stop
start 2
load "POST /jobs, each job also runs, two processes sharing the queue" post_run.lua
stop
