#!/bin/sh
# Runs the concurrency-toolkit micro-benchmarks side by side: corio's
# sync-bench (default and CORIO_STACK_COMPACT stacks), Go (GOMAXPROCS=1, like ../shared/peers), asyncio and uvloop
# (Debian's python3-uvloop, if installed). Rounds alternate between the
# implementations so machine noise hits all of them alike; the table shows
# the median ns per operation of each and its ratio to corio's median.
#
#   bench/run_sync_bench.sh [path/to/sync-bench] [rounds]
#
# Build sync-bench first in a RelWithDebInfo/Release build without
# sanitizers (cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo ...; make sync-bench).
# The Python runs use smaller sizes where asyncio would take minutes; the
# numbers are per operation, so sizes only change the noise.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
corio=${1:-$here/../build/bench/sync-bench}
rounds=${2:-3}
[ -x "$corio" ] || { echo "no sync-bench at $corio (build it, or pass its path)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gobin=""
if command -v go >/dev/null 2>&1; then
    (cd "$here/peers_sync" && GOFLAGS=-mod=mod go build -o "$tmp/syncbench-go" .) &&
        gobin="$tmp/syncbench-go"
else
    echo "go not found (Debian: apt-get install golang-go); skipping Go" >&2
fi
py=$(command -v python3 || true)
uv=""
if /usr/bin/python3 -c 'import uvloop' 2>/dev/null; then uv=/usr/bin/python3; fi

# bench name, corio/go args, python args
set -- "lock" "" "--m 2000" \
       "fanin" "" "" \
       "pingpong" "" "--m 100000"
log=$tmp/log
: > "$log"
while [ $# -gt 0 ]; do
    b=$1 cargs=$2 pargs=$3
    shift 3
    r=1
    while [ "$r" -le "$rounds" ]; do
        "$corio" "$b" $cargs >> "$log"
        "$corio" "$b" $cargs --compact >> "$log"
        [ -n "$gobin" ] && GOMAXPROCS=1 "$gobin" "$b" $cargs >> "$log"
        [ -n "$py" ] && "$py" "$here/peers_sync/sync_bench.py" "$b" $pargs >> "$log"
        [ -n "$uv" ] && "$uv" "$here/peers_sync/sync_bench.py" "$b" $pargs --uvloop >> "$log"
        r=$((r + 1))
    done
done

# Median per (bench, impl) and ratio to corio's median.
awk '
/^RESULT/ {
    name = ""; impl = ""; ns = ""
    for (i = 2; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "name") name = kv[2]
        else if (kv[1] == "impl") impl = kv[2]
        else if (kv[1] == "ns_per_op") ns = kv[2]
    }
    k = name SUBSEP impl
    if (!(k in n)) { order[++no] = k }
    v[k, ++n[k]] = ns + 0
}
function median(k,   i, j, t, c, a) {
    c = n[k]
    for (i = 1; i <= c; i++) a[i] = v[k, i]
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++)
        if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}
END {
    printf "%-9s %-13s %14s %10s %s\n", "bench", "impl", "median ns/op", "x corio", "(rounds)"
    for (o = 1; o <= no; o++) {
        split(order[o], p, SUBSEP)
        med[order[o]] = median(order[o])
    }
    for (o = 1; o <= no; o++) {
        split(order[o], p, SUBSEP)
        base = med[p[1] SUBSEP "corio"]
        printf "%-9s %-13s %14.1f %10.2f (%d)\n", p[1], p[2], med[order[o]],
               (base > 0 ? med[order[o]] / base : 0), n[order[o]]
    }
}' "$log"
