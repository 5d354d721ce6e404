# shellcheck shell=bash
# Shared helpers for scripts/test.sh and scripts/run-examples.sh. Sourced,
# not run. Sets ROOT (the source tree) and JOBS
# (parallel build/test jobs; default 2).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${JOBS:-2}   # the project's machines have 2 cores

log() { printf '%s: %s\n' "${CORIO_SCRIPT:-corio}" "$*" >&2; }

# Installs dependency groups (scripts/deps.sh). When that is impossible (not
# root, no sudo) it says so and carries on: the build then fails clearly
# on whatever is really missing.
deps_or_warn() {
    if ! "$ROOT/scripts/deps.sh" "$@"; then
        log "warning: could not install dependencies ($*); trying with what is installed"
    fi
}

# The C++ compiler that goes with a C compiler: gcc-12 -> g++-12,
# clang -> clang++, anything else -> c++.
cxx_for() {
    case "$1" in
        *clang*) printf '%s\n' "${1/clang/clang++}" ;;
        *gcc*)   printf '%s\n' "${1/gcc/g++}" ;;
        *)       printf 'c++\n' ;;
    esac
}

need_cmd() {
    local c
    for c in "$@"; do
        if ! command -v "$c" >/dev/null 2>&1; then
            log "error: '$c' not found (scripts/deps.sh installs it; it needs root or sudo)"
            return 1
        fi
    done
}

# configure DIR KEY [cmake args...]: configures build directory DIR. KEY names
# the toolchain (compilers / toolchain file); CMake cannot switch compilers
# in an existing cache, so a DIR configured with another KEY is started
# afresh. Other options may change freely from one call to the next.
configure() {
    local dir=$1 key=$2
    shift 2
    local stamp="$dir/.corio-toolchain"
    if [ -e "$dir/CMakeCache.txt" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$key" ]; then
        log "$dir was configured for another toolchain: starting it afresh"
        rm -rf "$dir"
    fi
    mkdir -p "$dir"
    log "cmake -S . -B $dir $*"
    cmake -S "$ROOT" -B "$ROOT/$dir" "$@" || return 1
    printf '%s\n' "$key" >"$stamp"
}

build() {
    local dir=$1
    shift
    log "cmake --build $dir -j$JOBS $*"
    cmake --build "$ROOT/$dir" -j"$JOBS" "$@"
}

# 83 -> 1m23s
fmt_secs() {
    local s=$1
    if [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# The release build shared by scripts/test.sh (release, poll, valgrind) and
# scripts/run-examples.sh: RelWithDebInfo, no sanitizers.
configure_release() {
    local cc=${CC:-gcc}
    local cxx=${CXX:-$(cxx_for "$cc")}
    need_cmd cmake "$cc" "$cxx" || return 1
    configure build-release "cc=$cc cxx=$cxx" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORIO_SANITIZE= \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" "$@"
}
