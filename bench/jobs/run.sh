#!/usr/bin/env bash
# Load figures for corio-jobs (docs/benchmarks.md): durable submissions per
# second and latency, with and without group commit, and GET /jobs/<id>.
#
#   bench/jobs/run.sh BUILD_DIR [SECONDS]
#
# Server pinned to CPU 0, wrk (1 thread, 64 connections) to CPU 1. Each run
# uses a fresh SQLite file in a temporary directory (on the file system of
# $TMPDIR: its fsync cost is part of the figure).
set -euo pipefail
BUILD=${1:?usage: run.sh BUILD_DIR [SECONDS]}
D=${2:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/apps/corio-jobs/corio-jobs
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

start() { # extra flags...
    rm -f "$TMP"/jobs.db*
    taskset -c 0 "$BIN" --listen 127.0.0.1:0 --db "$TMP/jobs.db" "$@" \
        > "$TMP/out" 2> "$TMP/err" &
    PID=$!
    for _ in $(seq 100); do
        PORT=$(grep -o '127.0.0.1:[0-9]*' "$TMP/out" 2>/dev/null | head -1 | cut -d: -f2 || true)
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "corio-jobs did not start" >&2; cat "$TMP/err" >&2; exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=; }
# CPU seconds (user + system, all threads) the server has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$PID/stat"; }
# Runs wrk (args...) and prints its figures plus requests per server CPU s.
measure() {
    local c0 c1 out
    c0=$(cpu)
    out=$(taskset -c 1 wrk -t1 -c64 -d"${D}s" --latency "$@")
    c1=$(cpu)
    printf '%s\n' "$out" | grep -E 'Requests/sec|  50%|  99%|Non-2xx|Socket errors|requests in'
    local n
    n=$(printf '%s\n' "$out" | awk '/requests in/ { print $1 }')
    awk -v n="$n" -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" \
        'BEGIN { printf "  server CPU %.2f s, %.0f requests per server CPU second\n", c, n / c }'
}
load() { # label script
    echo "== $1"
    taskset -c 1 wrk -t1 -c64 -d1s -s "$HERE/$2" "http://127.0.0.1:$PORT/jobs" > /dev/null
    measure -s "$HERE/$2" "http://127.0.0.1:$PORT/jobs"
    curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^corio_jobs_commit(s|_writes)_total' || true
}

start
load "POST /jobs, group commit (sleep 3600: submission only)" post_sleep.lua
stop
start --no-group-commit
load "POST /jobs, one transaction per job (sleep 3600)" post_sleep.lua
stop
start --workers 64
load "POST /jobs, group commit, jobs run at once (3 writes per job)" post_run.lua
stop

start
ID=$(curl -s -X POST "http://127.0.0.1:$PORT/jobs" -d '{"type":"sleep","seconds":3600}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
DONE=$(curl -s -X POST "http://127.0.0.1:$PORT/jobs" -d '{"type":"sleep","seconds":0}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
sleep 0.5
echo "== GET /jobs/<id> of a running job (served from memory)"
measure "http://127.0.0.1:$PORT/jobs/$ID"
echo "== GET /jobs/<id> of a finished job (read from SQLite on the pool)"
measure "http://127.0.0.1:$PORT/jobs/$DONE"
stop
