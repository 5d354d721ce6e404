#!/usr/bin/env bash
# Builds corio and runs its tests.
#
#   scripts/test.sh [MODE]
#
#   asan      (default) Debug build with AddressSanitizer + UBSan, -Werror,
#             gcc (or $CC), in build-asan/
#   tsan      clang (or $TSAN_CC) with ThreadSanitizer, in build-tsan/
#   release   RelWithDebInfo, no sanitizers, in build-release/: the heavy
#             scale tests run at full size here
#   poll      the release build's tests with CORIO_BACKEND=poll
#   uring     the release build's tests with CORIO_BACKEND=io_uring (fails
#             if this kernel refuses io_uring: the suite would only test
#             the epoll fallback)
#   valgrind  every release test binary under Valgrind (memcheck)
#   aarch64   cross-compiled for aarch64, core tests run under qemu-user
#   repeat-tsan, repeat-asan
#             the multi-loop suites (issue 14: test_multi_*, test_jobs_multi,
#             test_jobs_lib_multi) CORIO_REPEAT times each (default 50),
#             `ctest --repeat until-fail:N`, in the tsan / asan build; prints
#             "N tests x R runs" and the load average. Long (about 15 min
#             on 2 loaded cores): not part of `all` nor of CI.
#             CORIO_REPEAT_TESTS=REGEX picks other tests.
#   all       every mode above in turn, going on after failures; ends with
#             per-mode results and a line "N passed, M failed, K skipped"
#             (tests summed over the modes; a mode that failed before
#             reporting test counts counts as one failure)
#
# Missing packages are apt-installed by scripts/deps.sh (root or sudo
# needed). Environment: CC/CXX (asan, release, poll, valgrind), TSAN_CC,
# JOBS (default 2), CORIO_TEST_BUDGET (seconds for `all`, default 1680),
# CORIO_MODE_TIMEOUT (seconds per mode in `all`, default 900).
set -uo pipefail

CORIO_SCRIPT=test.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 1

MODES_ALL=(asan tsan release poll uring valgrind aarch64)
AARCH64_TESTS='test_(loop|task|future|timer|scope|context|stack|cancel)'

# Tests this mode counted, for `all` (which sets CORIO_RESULT_FILE).
record() { # passed failed skipped
    [ -n "${CORIO_RESULT_FILE:-}" ] && printf '%s %s %s\n' "$1" "$2" "$3" >"$CORIO_RESULT_FILE"
    return 0
}

# Sanitizer runtimes of this toolchain (gcc 12, clang 14) cannot map their
# shadow memory when the kernel randomises mmap with more than 28 bits; run
# the tests with ASLR off there.
NOASLR=()
sanitizer_aslr_workaround() {
    local bits
    bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
    if [ "$bits" -gt 28 ] && command -v setarch >/dev/null 2>&1; then
        log "vm.mmap_rnd_bits=$bits: running sanitized tests with ASLR off (setarch -R)"
        NOASLR=(setarch "$(uname -m)" -R)
    fi
}

# run_ctest DIR [ctest args...]: runs ctest, shows its output, records its
# counts. Fails when any test failed or no test ran.
run_ctest() {
    local dir=$1
    shift
    local out rc
    out=$(mktemp)
    log "ctest --test-dir $dir --output-on-failure -j$JOBS --timeout 300 $*"
    "${NOASLR[@]}" ctest --test-dir "$ROOT/$dir" --output-on-failure -j"$JOBS" \
        --timeout 300 --no-tests=error "$@" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    local line total failed skipped
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -1)
    if [ -n "$line" ]; then
        failed=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")
        total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
        skipped=$(grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)[[:space:]]*$' "$out")
        record $((total - failed - skipped)) "$failed" "$skipped"
    fi
    rm -f "$out"
    return "$rc"
}

build_asan() {
    deps_or_warn core
    local cc=${CC:-gcc}
    local cxx=${CXX:-$(cxx_for "$cc")}
    need_cmd cmake "$cc" "$cxx" || return 1
    configure build-asan "cc=$cc cxx=$cxx" \
        -DCMAKE_BUILD_TYPE=Debug -DCORIO_SANITIZE=address,undefined \
        -DCORIO_WERROR=ON -DCORIO_BUILD_BENCH=OFF \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" || return 1
    build build-asan
}

# run_asan [ctest args...]: the asan build's tests, with its options.
run_asan() {
    sanitizer_aslr_workaround
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest build-asan "$@"
}

mode_asan() {
    build_asan || return 1
    run_asan
}

build_tsan() {
    deps_or_warn core
    local cc=${TSAN_CC:-clang}
    local cxx=${TSAN_CXX:-$(cxx_for "$cc")}
    need_cmd cmake "$cc" "$cxx" || return 1
    configure build-tsan "cc=$cc cxx=$cxx" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORIO_SANITIZE=thread \
        -DCORIO_BUILD_BENCH=OFF \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" || return 1
    build build-tsan
}

# run_tsan [ctest args...]: the tsan build's tests, with its options.
run_tsan() {
    sanitizer_aslr_workaround
    # corio-jobs' simulation seeds get their full 150 s in asan and release;
    # the modes that rerun the same code on other builds or backends, 20 s.
    CORIO_SIM_BUDGET=20 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        run_ctest build-tsan "$@"
}

mode_tsan() {
    build_tsan || return 1
    run_tsan
}

# The suites of corio_run_multi runtimes (issue 14), repeated: each must
# pass CORIO_REPEAT times in a row. Both builds' tests run, JOBS at a time,
# beside whatever else loads the machine (the adversarial case).
MULTI_TESTS='^test_(multi_.*|jobs_multi|jobs_lib_multi)$'
repeat_multi() { # asan|tsan
    local san=$1 n=${CORIO_REPEAT:-50} re=${CORIO_REPEAT_TESTS:-$MULTI_TESTS}
    local ntests load0 rc start=$SECONDS
    "build_$san" || return 1
    ntests=$(ctest --test-dir "$ROOT/build-$san" -N -R "$re" 2>/dev/null |
             grep -cE '^ *Test +#')
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    log "$ntests tests matching '$re', $n runs each (load average $load0)"
    "run_$san" -R "$re" --repeat until-fail:"$n"
    rc=$?
    log "$san: $ntests tests x $n runs: $([ $rc -eq 0 ] && echo "0 failures" ||
        echo "FAILED (a failing test stops repeating)") in $(fmt_secs $((SECONDS - start)));" \
        "load average $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after"
    return $rc
}

mode_repeat_tsan() { repeat_multi tsan; }
mode_repeat_asan() { repeat_multi asan; }

release_build() {
    deps_or_warn core bench
    configure_release -DCORIO_BUILD_BENCH=ON -DCORIO_BUILD_EXAMPLES=ON || return 1
    build build-release
}

mode_release() {
    release_build || return 1
    run_ctest build-release
}

mode_poll() {
    release_build || return 1
    CORIO_SIM_BUDGET=20 CORIO_BACKEND=poll run_ctest build-release
}

mode_uring() {
    release_build || return 1
    local probe
    probe=$(CORIO_BACKEND=io_uring "$ROOT/build-release/tests/test_uring" 2>&1 | grep -c SKIPPED)
    if [ "$probe" != 0 ]; then
        log "error: io_uring is unavailable here (kernel, seccomp or sysctl kernel.io_uring_disabled)"
        return 1
    fi
    CORIO_SIM_BUDGET=20 CORIO_BACKEND=io_uring run_ctest build-release
}

mode_valgrind() {
    # One at a time by default: Valgrind runs tests 10-50x slower, and two
    # at once on two cores distort the timing some tests depend on.
    local vjobs=${VALGRIND_JOBS:-1}
    release_build || return 1
    need_cmd valgrind timeout || return 1
    local tdir="$ROOT/build-release/tests" logs="$ROOT/build-release/valgrind-logs"
    # The tests CTest knows (so no stale binary of a deleted test), each
    # an executable of the same name in build-release/tests.
    local bins=() t
    while read -r t; do
        if [ -x "$tdir/$t" ]; then
            bins+=("$tdir/$t")
        else
            log "warning: no executable $tdir/$t for test $t"
        fi
    done < <(ctest --test-dir "$ROOT/build-release" -N 2>/dev/null |
             sed -nE 's/^ *Test +#[0-9]+: +(test_[A-Za-z0-9_]+)$/\1/p')
    if [ ${#bins[@]} -eq 0 ]; then
        log "error: no test binaries in build-release/tests"
        return 1
    fi
    rm -rf "$logs"
    mkdir -p "$logs"
    log "running ${#bins[@]} test binaries under valgrind, $vjobs at a time"
    local b name
    for b in "${bins[@]}"; do
        name=$(basename "$b")
        (
            cd "$tdir" || exit 1
            start=$SECONDS
            # --fair-sched=yes: with Valgrind's default lock, a thread
            # spinning on the CPU keeps it and starves the others (the
            # stall detector's watchdog never ran on an idle machine).
            CORIO_UNDER_VALGRIND=1 CORIO_SOURCE_DIR="$ROOT" \
                timeout --kill-after=10 600 \
                valgrind --fair-sched=yes --error-exitcode=99 --leak-check=full \
                --errors-for-leak-kinds=definite,indirect --track-origins=no \
                --quiet "$b" </dev/null >"$logs/$name.log" 2>&1
            echo "$? $((SECONDS - start))" >"$logs/$name.rc"
        ) &
        while [ "$(jobs -rp | wc -l)" -ge "$vjobs" ]; do wait -n; done
    done
    wait
    local pass=0 fail=0 skip=0 rc secs
    for b in "${bins[@]}"; do
        name=$(basename "$b")
        read -r rc secs <"$logs/$name.rc" 2>/dev/null || { rc=255; secs=0; }
        case "$rc" in
            0)  pass=$((pass + 1)); printf '  PASS  %-28s %s\n' "$name" "$(fmt_secs "$secs")" ;;
            77) skip=$((skip + 1)); printf '  SKIP  %-28s %s\n' "$name" "$(fmt_secs "$secs")" ;;
            *)
                fail=$((fail + 1))
                local why="exit $rc"
                [ "$rc" = 99 ] && why="valgrind found errors"
                [ "$rc" = 124 ] || [ "$rc" = 137 ] && why="timed out (600s)"
                printf '  FAIL  %-28s %s (%s)\n' "$name" "$(fmt_secs "$secs")" "$why"
                printf -- '---- %s (last 100 lines; full log build-release/valgrind-logs/%s.log)\n' "$name" "$name"
                tail -n 100 "$logs/$name.log"
                printf -- '----\n'
                ;;
        esac
    done
    record "$pass" "$fail" "$skip"
    printf 'valgrind: %d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
    [ "$fail" -eq 0 ]
}

mode_aarch64() {
    deps_or_warn core cross
    need_cmd cmake aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ qemu-aarch64 || return 1
    if [ ! -e /usr/lib/aarch64-linux-gnu/pkgconfig/cmocka.pc ]; then
        log "error: cmocka for arm64 is missing (libcmocka-dev:arm64; scripts/deps.sh cross installs it)"
        return 1
    fi
    # pkg-config must find the arm64 .pc files (cmocka), not the host's.
    export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
    configure build-aarch64 "toolchain=cmake/aarch64-linux-gnu.cmake" \
        -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORIO_SANITIZE= \
        -DCORIO_BUILD_BENCH=OFF -DCORIO_BUILD_EXAMPLES=OFF || return 1
    build build-aarch64 || return 1
    # qemu is slow: heavy tests scale down as they do under valgrind.
    CORIO_UNDER_QEMU=1 CORIO_UNDER_VALGRIND=1 run_ctest build-aarch64 -R "$AARCH64_TESTS"
}

run_one() {
    local mode=$1 start=$SECONDS rc
    printf '\n========== corio tests: %s ==========\n' "$mode"
    "mode_${mode//-/_}"
    rc=$?
    printf '========== %s: %s in %s ==========\n' "$mode" \
        "$([ $rc -eq 0 ] && echo PASS || echo "FAIL (exit $rc)")" "$(fmt_secs $((SECONDS - start)))"
    return $rc
}

mode_all() {
    local budget=${CORIO_TEST_BUDGET:-1680} cap=${CORIO_MODE_TIMEOUT:-900}
    local t0=$SECONDS m
    local -a lines=()
    local tp=0 tf=0 ts=0 modes_failed=0 child interrupted=0
    deps_or_warn all
    for m in "${MODES_ALL[@]}"; do
        local left=$((budget - (SECONDS - t0))) res rc p f s start
        start=$SECONDS
        res=$(mktemp)
        if [ "$left" -le 0 ]; then
            printf '\n========== corio tests: %s ==========\n' "$m"
            log "out of time budget (${budget}s): $m not run"
            rc=124
        else
            [ "$left" -gt "$cap" ] && left=$cap
            # timeout runs the mode in a process group of its own and kills
            # all of it when time is up; an interrupt of this script is
            # passed on to it (Ctrl-C, or .ci/run's own time limit).
            CORIO_RESULT_FILE=$res timeout --kill-after=30 "$left" \
                bash "$ROOT/scripts/test.sh" "$m" </dev/null &
            child=$!
            trap 'interrupted=1; kill -TERM "$child" 2>/dev/null' INT TERM HUP
            rc=0
            wait "$child" || rc=$?
            while kill -0 "$child" 2>/dev/null; do rc=0; wait "$child" || rc=$?; done
            trap - INT TERM HUP
            if [ "$interrupted" = 1 ]; then
                log "interrupted during $m"
            elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
                log "$m was stopped after ${left}s (time limit)"
            fi
        fi
        p=0 f=0 s=0
        if [ -s "$res" ]; then read -r p f s <"$res"; fi
        rm -f "$res"
        if [ $rc -ne 0 ]; then
            modes_failed=$((modes_failed + 1))
            [ "$f" -eq 0 ] && f=1   # failed before/beyond its test counts
        fi
        tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + s))
        lines+=("$(printf '  %-9s %-5s %7s   %d passed, %d failed, %d skipped%s' "$m" \
            "$([ $rc -eq 0 ] && echo PASS || echo FAIL)" "$(fmt_secs $((SECONDS - start)))" \
            "$p" "$f" "$s" "$([ $rc -ne 0 ] && echo " (exit $rc)")")")
        [ "$interrupted" = 1 ] && break
    done
    printf '\n========== corio tests: summary (%s) ==========\n' "$(fmt_secs $((SECONDS - t0)))"
    printf '%s\n' "${lines[@]}"
    [ "$interrupted" = 1 ] && printf '  (interrupted: later modes not run)\n'
    printf '  modes: %d passed, %d failed\n' $((${#lines[@]} - modes_failed)) "$modes_failed"
    printf '%d passed, %d failed, %d skipped\n' "$tp" "$tf" "$ts"
    [ "$modes_failed" -eq 0 ] && [ "$interrupted" = 0 ]
}

MODE=${1:-asan}
case "$MODE" in
    asan|tsan|release|poll|uring|valgrind|aarch64|repeat-tsan|repeat-asan)
        run_one "$MODE" ;;
    all)
        mode_all ;;
    -h|--help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0 ;;
    *)
        log "unknown mode '$MODE' (asan|tsan|valgrind|release|poll|uring|aarch64|all|repeat-tsan|repeat-asan)"
        exit 2 ;;
esac
