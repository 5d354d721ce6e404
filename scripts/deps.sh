#!/usr/bin/env bash
# Installs what corio needs from Debian's packages, and only what is missing.
#
#   scripts/deps.sh [core|cross|bench|all]...     (default: core)
#
#   core   compilers, CMake, pkg-config, cmocka, Valgrind, clang's sanitizer
#          runtimes (ThreadSanitizer builds use clang); llhttp's sources,
#          jansson, SQLite and libcurl for corio_http and corio-jobs;
#          chromium and python3 for the corio-jobs dashboard's browser test
#          (jobs_dashboard_browser, skipped without them)
#   cross  aarch64 cross compilers, qemu-user, and cmocka for arm64 (this one
#          needs dpkg's foreign architecture arm64, which it adds)
#   bench  Boost.Context (the baseline in bench/), hyperfine, Go and Python
#          (the peers of bench/run_process_bench.sh)
#   all    all of the above
#
# Idempotent: presence is tested with dpkg-query; apt-get update runs once,
# and only if something must be installed. Needs root for that; otherwise it
# tries `sudo -n`, and failing that it names what is missing and exits 1.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

CORE_PKGS=(build-essential cmake pkg-config clang libclang-rt-dev
           libcmocka-dev valgrind libdw-dev
           node-llhttp libjansson-dev libsqlite3-dev libcurl4-openssl-dev
           libpq-dev libhiredis-dev postgresql redis-server
           libc-ares-dev libssl-dev liburing-dev
           chromium python3) # tests/jobs_dashboard_browser.py
CROSS_PKGS=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
            qemu-user libcmocka-dev:arm64)
BENCH_PKGS=(libboost-context-dev hyperfine golang-go python3 python3-asyncpg) # go, python3: bench/run_process_bench.sh

say() { printf 'deps: %s\n' "$*" >&2; }

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit "${1:-2}"
}

want=()
[ $# -eq 0 ] && set -- core
for g in "$@"; do
    case "$g" in
        core)  want+=("${CORE_PKGS[@]}") ;;
        cross) want+=("${CROSS_PKGS[@]}") ;;
        bench) want+=("${BENCH_PKGS[@]}") ;;
        all)   want+=("${CORE_PKGS[@]}" "${CROSS_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
        -h|--help) usage 0 ;;
        *) say "unknown group '$g'"; usage ;;
    esac
done

NATIVE_ARCH=$(dpkg --print-architecture 2>/dev/null || echo none)

# installed PKG[:ARCH]: a name without :ARCH means the native (or an
# architecture-independent) package, whatever foreign ones are installed.
installed() {
    local name=${1%%:*} arch=${1#*:} a st
    [ "$arch" = "$1" ] && arch=$NATIVE_ARCH
    while IFS=' ' read -r a st; do
        if { [ "$a" = "$arch" ] || [ "$a" = all ]; } &&
           [ "$st" = "install ok installed" ]; then
            return 0
        fi
    done < <(dpkg-query -W -f='${Architecture} ${Status}\n' "$name" 2>/dev/null)
    return 1
}

missing=()
for p in "${want[@]}"; do
    # skip repeats (groups may be given together)
    case " ${missing[*]-} " in *" $p "*) continue ;; esac
    installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    say "all present ($*)"
    exit 0
fi

say "missing: ${missing[*]}"

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    say "error: no apt-get/dpkg here (corio's scripts target Debian/Ubuntu)."
    say "install these by hand: ${missing[*]}"
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        say "not root: installing with sudo -n"
        SUDO=(sudo -n env DEBIAN_FRONTEND=noninteractive)
    else
        say "error: not root and passwordless sudo is not available, so the"
        say "missing packages cannot be installed. As root, run:"
        say "  apt-get update && apt-get install -y ${missing[*]}"
        say "(or run this script as root: scripts/deps.sh $*)"
        exit 1
    fi
fi

# Packages for a foreign architecture (name:arch) need it enabled first.
for p in "${missing[@]}"; do
    case "$p" in
        *:*)
            arch=${p##*:}
            if [ "$arch" != "$NATIVE_ARCH" ] &&
               ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
                say "adding dpkg architecture $arch (multiarch)"
                "${SUDO[@]}" dpkg --add-architecture "$arch"
            fi
            ;;
    esac
done

APT_OPTS=(-y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=600
          --no-install-recommends)

say "apt-get update"
if ! "${SUDO[@]}" apt-get -q -o DPkg::Lock::Timeout=600 update >&2; then
    say "warning: apt-get update reported errors; trying to install anyway"
fi

say "apt-get install ${missing[*]}"
if ! "${SUDO[@]}" apt-get install "${APT_OPTS[@]}" "${missing[@]}" >&2; then
    say "error: apt-get install failed for: ${missing[*]}"
    exit 1
fi

still=()
for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
if [ ${#still[@]} -ne 0 ]; then
    say "error: still missing after install: ${still[*]}"
    exit 1
fi
say "installed: ${missing[*]}"
