#!/usr/bin/env bash
# Compares corio's poller backends on the echo benchmark of
# ../shared/peers/SPEC.md: messages per second, per server CPU second, and
# system calls per message (a second run under strace -c -f).
#
#   bench/run_backend_bench.sh [BENCH_BIN] [ECHO_CLIENT] [CONNS] [SIZE] [SECONDS]
#
# BENCH_BIN defaults to build-release/bench/corio-bench; ECHO_CLIENT to
# /tmp/echo_client (build it: cc -O2 -o /tmp/echo_client
# ../shared/peers/load/echo_client.c). The server is pinned to CPU 0, the
# client to CPU 1, as the peers' runner does. BACKENDS (default
# "epoll io_uring") lists the variants, each BACKEND or io_uring:SETUP with
# SETUP a CORIO__URING_SETUP value (coop, defer, regfd; see
# src/platform/poller_uring.c). With WRK=1, each variant also serves
# http-server to `wrk -t1 -c64 -d${SECS}s --latency` (requests per server
# CPU second).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build-release/bench/corio-bench}
CLIENT=${2:-/tmp/echo_client}
CONNS=${3:-100}
SIZE=${4:-64}
SECS=${5:-5}
TCK=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for var in ${BACKENDS:-epoll io_uring}; do
    be=${var%%:*}
    setup=""
    [ "$var" != "$be" ] && setup=${var#*:}
    export CORIO__URING_SETUP=$setup
    [ -z "$setup" ] && unset CORIO__URING_SETUP
    port=$((20000 + RANDOM % 20000))
    CORIO_BACKEND=$be taskset -c 0 "$BIN" echo-server --port "$port" --max-seconds $((SECS + 10)) &
    pid=$!
    sleep 0.5
    t0=$(cpu_ticks $pid)
    out=$(taskset -c 1 "$CLIENT" --port "$port" --conns "$CONNS" --size "$SIZE" \
          --duration "$SECS" --warmup 1 --label "$be")
    t1=$(cpu_ticks $pid)
    kill $pid 2>/dev/null; wait $pid 2>/dev/null
    rate=$(sed -E 's/.*msgs_per_s=([0-9.]+).*/\1/' <<<"$out")
    p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$out")
    cpu=$(awk -v a="$t0" -v b="$t1" -v t="$TCK" -v s="$SECS" 'BEGIN{printf "%.3f", (b-a)/t/(s+1)}')
    per=$(awk -v r="$rate" -v c="$cpu" 'BEGIN{ if (c > 0) printf "%.0f", r/c; else print "?"}')
    # System calls per message: the same load under strace -c -f.
    port=$((20000 + RANDOM % 20000))
    CORIO_BACKEND=$be strace -f -c -o /tmp/corio-strace-$be.txt \
        taskset -c 0 "$BIN" echo-server --port "$port" --max-seconds $((SECS + 3)) &
    spid=$!
    sleep 0.5
    sout=$(taskset -c 1 "$CLIENT" --port "$port" --conns "$CONNS" --size "$SIZE" \
           --duration "$SECS" --warmup 0 --label "$be")
    wait $spid 2>/dev/null
    msgs=$(sed -E 's/.*msgs=([0-9]+).*/\1/' <<<"$sout")
    calls=$(awk '/total$/ {print $4}' /tmp/corio-strace-$be.txt)
    spm=$(awk -v c="$calls" -v m="$msgs" 'BEGIN{printf "%.3f", c/m}')
    printf '%-16s msgs_per_s=%s p99_us=%s server_cpu=%s msgs_per_server_cpu_s=%s syscalls_per_msg=%s\n' \
        "$var" "$rate" "$p99" "$cpu" "$per" "$spm"
    if [ "${WRK:-0}" = 1 ]; then
        port=$((20000 + RANDOM % 20000))
        CORIO_BACKEND=$be taskset -c 0 "$BIN" http-server --port "$port" --max-seconds $((SECS + 10)) &
        pid=$!
        sleep 0.5
        t0=$(cpu_ticks $pid)
        out=$(taskset -c 1 wrk -t1 -c64 -d"${SECS}s" --latency "http://127.0.0.1:$port/" 2>&1)
        t1=$(cpu_ticks $pid)
        kill $pid 2>/dev/null; wait $pid 2>/dev/null
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
        per=$(awk -v r="$rps" -v a="$t0" -v b="$t1" -v t="$TCK" -v s="$SECS" \
              'BEGIN{ c = (b-a)/t/s; if (c > 0) printf "%.0f", r/c; else print "?"}')
        printf '%-16s http requests_per_s=%s p99=%s requests_per_server_cpu_s=%s\n' \
            "$var" "$rps" "$p99" "$per"
    fi
done
