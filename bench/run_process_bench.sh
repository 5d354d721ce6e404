#!/bin/bash
# Subprocess spawn+wait throughput: corio vs asyncio (and uvloop) vs Go's
# os/exec, side by side, R rounds each, alternating. N `true` children,
# C at a time. Usage:
#   bench/run_process_bench.sh [CORIO_BENCH] [N] [C] [ROUNDS]
# CORIO_BENCH defaults to build/bench/corio-bench. Go runs with the
# default GOMAXPROCS (its os/exec needs no tuning); every impl is pinned to
# CPU 0 like the peer benchmarks.
set -e
here=$(cd "$(dirname "$0")" && pwd)
bench=${1:-$here/../build/bench/corio-bench}
n=${2:-2000}
c=${3:-100}
rounds=${4:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here/peers_os" && GOFLAGS=-mod=mod go build -o "$tmp/proc_go" proc_go.go)
impls=("corio|$bench process --n $n --concurrency $c"
       "asyncio|python3 $here/peers_os/proc_asyncio.py --n $n --concurrency $c"
       "go|$tmp/proc_go -n $n -concurrency $c")
if python3 -c 'import uvloop' 2>/dev/null; then
  impls+=("uvloop|python3 $here/peers_os/proc_asyncio.py --uvloop --n $n --concurrency $c")
fi
for r in $(seq 1 "$rounds"); do
  for spec in "${impls[@]}"; do
    name=${spec%%|*}
    cmd=${spec#*|}
    line=$(taskset -c 0 $cmd | grep '^RESULT' | tail -1)
    rate=$(sed -n 's/.*spawns_per_s=\([0-9]*\).*/\1/p' <<<"$line")
    hwm=$(sed -n 's/.*hwm_kb=\([0-9]*\).*/\1/p' <<<"$line")
    echo "$name $rate $hwm" >> "$tmp/results"
    echo "round $r: $line"
  done
done
echo
echo "| impl | spawn+wait per s (median of $rounds) | peak RSS kB |"
echo "|---|---|---|"
for spec in "${impls[@]}"; do
  name=${spec%%|*}
  grep "^$name " "$tmp/results" | sort -k2 -n | awk -v n="$name" \
    '{r[NR]=$2; h[NR]=$3} END {m=int((NR+1)/2); printf "| %s | %s | %s |\n", n, r[m], h[m]}'
done
