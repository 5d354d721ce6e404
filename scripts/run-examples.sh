#!/usr/bin/env bash
# Builds corio (release, no sanitizers, in build-release/) with its examples
# and runs the seed examples in order:
#
#   hello_tasks      two tasks start, sleep concurrently, and end
#   gather_requests  start two requests, then await both
#
#   scripts/run-examples.sh [EXAMPLE...]     (default: the two above)
#
# Missing packages are apt-installed by scripts/deps.sh (root or sudo
# needed). Environment: CC/CXX, JOBS (default 2).
set -uo pipefail

CORIO_SCRIPT=run-examples.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 1

EXAMPLES=(hello_tasks gather_requests)
[ $# -gt 0 ] && EXAMPLES=("$@")

if [ ! -f "$ROOT/examples/CMakeLists.txt" ]; then
    log "error: examples/CMakeLists.txt does not exist yet: no examples to build"
    exit 1
fi

deps_or_warn core
configure_release -DCORIO_BUILD_EXAMPLES=ON -DCORIO_BUILD_BENCH=OFF || exit 1
build build-release || exit 1

# The built program for example NAME: build-release/examples/NAME, or
# wherever examples/CMakeLists.txt put it.
find_example() {
    local name=$1 f
    for f in "$ROOT/build-release/examples/$name" "$ROOT/build-release/$name"; do
        [ -f "$f" ] && [ -x "$f" ] && { printf '%s\n' "$f"; return 0; }
    done
    f=$(find "$ROOT/build-release/examples" -type f -name "$name" -perm -u+x 2>/dev/null | head -1)
    [ -n "$f" ] && { printf '%s\n' "$f"; return 0; }
    return 1
}

ran=0 failed=0 missing=0
for ex in "${EXAMPLES[@]}"; do
    printf '\n===== examples/%s =====\n' "$ex"
    if ! bin=$(find_example "$ex"); then
        printf '(not built: examples/%s does not exist yet)\n' "$ex"
        missing=$((missing + 1))
        continue
    fi
    ran=$((ran + 1))
    start=$SECONDS
    timeout --kill-after=5 120 "$bin" </dev/null
    rc=$?
    if [ $rc -ne 0 ]; then
        failed=$((failed + 1))
        printf '===== examples/%s FAILED (exit %d, %s) =====\n' "$ex" "$rc" "$(fmt_secs $((SECONDS - start)))"
    fi
done

printf '\n%d example(s) ran, %d failed, %d not built\n' "$ran" "$failed" "$missing"
[ "$ran" -gt 0 ] && [ "$failed" -eq 0 ]
