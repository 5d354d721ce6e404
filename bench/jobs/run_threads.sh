#!/usr/bin/env bash
# corio-jobs with --threads 1 against --threads N in the same run
# (docs/benchmarks.md, "corio-jobs on two threads"):
#
#   bench/jobs/run_threads.sh BUILD_DIR [SECONDS] [THREADS] [ROUNDS]
#
# For each round and each thread count, on a fresh SQLite file:
#  - submissions/s: wrk -t1 -c64 -dSECONDS with post_sleep.lua (sleep 3600
#    jobs that stay queued behind 64 busy workers: durable submission only);
#  - burn-down: N jobs of sleep 0 are submitted (post_run.lua, the same wrk
#    run) with --workers 64; the figure is jobs completed per second from
#    the start of the load to the moment the last one has succeeded.
# Nothing is pinned: server and wrk share the machine's CPUs in both runs,
# so the same-run ratio is the figure to read; `uptime` is printed.
set -euo pipefail
BUILD=${1:?usage: run_threads.sh BUILD_DIR [SECONDS] [THREADS] [ROUNDS]}
D=${2:-5}
T=${3:-2}
R=${4:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/apps/corio-jobs/corio-jobs
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

start() { # flags...
    rm -f "$TMP"/jobs.db*
    "$BIN" --listen 127.0.0.1:0 --db "$TMP/jobs.db" "$@" > "$TMP/out" 2> "$TMP/err" &
    PID=$!
    for _ in $(seq 200); do
        PORT=$(grep -o '127.0.0.1:[0-9]*' "$TMP/out" 2>/dev/null | head -1 | cut -d: -f2 || true)
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "corio-jobs did not start" >&2; cat "$TMP/err" >&2; exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=; }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

uptime
for round in $(seq "$R"); do
    for th in 1 "$T"; do
        start --threads "$th" --workers 64
        sub=$(wrk -t1 -c64 -d"${D}s" -s "$HERE/post_sleep.lua" \
                  "http://127.0.0.1:$PORT/jobs" | awk '/Requests\/sec/ { print $2 }')
        stop
        start --threads "$th" --workers 64
        t0=$(date +%s.%N)
        n=$(wrk -t1 -c64 -d"${D}s" -s "$HERE/post_run.lua" \
                "http://127.0.0.1:$PORT/jobs" | awk '/requests in/ { print $1 }')
        acked=$(metric corio_jobs_submitted_total)
        while [ "$(metric 'corio_jobs_jobs{status="succeeded"}')" != "$acked" ]; do
            sleep 0.02
        done
        t1=$(date +%s.%N)
        stop
        awk -v r="$round" -v th="$th" -v s="$sub" -v a="$acked" -v t0="$t0" -v t1="$t1" \
            'BEGIN { printf "round %d threads %d: submissions/s %.0f; burn-down %d jobs in %.2f s = %.0f jobs/s\n", r, th, s, a, t1 - t0, a / (t1 - t0) }'
    done
done
uptime
