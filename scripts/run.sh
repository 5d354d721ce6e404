#!/usr/bin/env bash
# The README's main command: builds corio (release, no sanitizers, in
# build-release/) and starts corio-jobs, the seeds' batch-job web server,
# on its embedded default store (./corio-jobs.db, SQLite) at
# 127.0.0.1:8080. It prints three curl lines to try; Ctrl-C (SIGINT) drains
# running jobs for up to --grace seconds and exits.
#
#   scripts/run.sh [corio-jobs flags...]     e.g. --listen 127.0.0.1:9090
#
# Missing packages are apt-installed by scripts/deps.sh (root or sudo
# needed). Environment: CC/CXX, JOBS (default 2).
set -uo pipefail

CORIO_SCRIPT=run.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 1

deps_or_warn core
configure_release -DCORIO_BUILD_HTTP=ON -DCORIO_BUILD_EXAMPLES=ON -DCORIO_BUILD_BENCH=OFF || exit 1
build build-release || exit 1

bin=$(find "$ROOT/build-release" -type f -name corio-jobs -perm -u+x 2>/dev/null | head -1)
if [ -z "$bin" ]; then
    log "error: corio-jobs was not built (is the HTTP component's dependencies installed? see scripts/deps.sh)"
    exit 1
fi
exec "$bin" "$@"
