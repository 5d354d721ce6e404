#!/bin/sh
# The HTTP server on every loop (corio_http_server_start_all) under wrk:
# connections and requests each loop served, requests/s, and requests per
# CPU-second of the server, for one loop (the baseline) and for two loops
# with SO_REUSEPORT, one acceptor round-robin, and one acceptor least busy.
# Rounds interleave the four so machine noise hits them alike
# (docs/benchmarks.md, "The HTTP server on every loop").
#
#   bench/run_http_multi_bench.sh [path/to/http_multi] [rounds] [wrk args]
#
# Build examples/http_multi in a RelWithDebInfo build without sanitizers
# (scripts/run-examples.sh builds build-release/ with the examples). Needs
# wrk (Debian: apt-get install wrk). Default wrk load: -t2 -c64 -d5s.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build-release/examples/http_multi}
rounds=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
load=${*:--t2 -c64 -d5s}
[ -x "$bin" ] || { echo "no http_multi at $bin (build it, or pass its path)" >&2; exit 1; }
command -v wrk >/dev/null 2>&1 || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
tck=$(getconf CLK_TCK)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
port=$((20000 + $$ % 20000))
r=1
while [ "$r" -le "$rounds" ]; do
    for mode in "--threads 1" "--threads 2" "--threads 2 --one-acceptor" \
                "--threads 2 --one-acceptor --least-busy"; do
        port=$((port + 1))
        # shellcheck disable=SC2086
        "$bin" $mode "$port" >"$out" 2>&1 &
        pid=$!
        sleep 0.3
        avg=$(cut -d' ' -f1 /proc/loadavg)
        # shellcheck disable=SC2086
        rps=$(wrk $load "http://127.0.0.1:$port/" 2>&1 | awk '/Requests\/sec/ {print $2}')
        cpu=$(awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$pid/stat")
        kill -INT "$pid"
        wait "$pid" || true
        per=$(awk '/^loop/ {printf "%s %s/%s ", $2, $3, $5}' "$out")
        tot=$(awk '/^total/ {print $4}' "$out")
        echo "round $r | $mode | load $avg | req/s $rps | server cpu ${cpu}s |" \
             "req/cpu-s $(awk -v n="$tot" -v c="$cpu" 'BEGIN {printf "%.0f", (c > 0 ? n / c : 0)}') |" \
             "per loop conns/reqs: $per"
    done
    r=$((r + 1))
done
