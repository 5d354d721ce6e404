/*
 * Scale: a million concurrent sleeping tasks with default stacks, ten
 * million in compact mode, all pending at once, all completing. Full size
 * only in a plain (non-sanitizer, non-Valgrind) build; scaled down
 * otherwise. Prints the peak memory per task (VmHWM delta / N) and the
 * times, but asserts only correctness and a generous wall-time bound.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scale {
    size_t n;
    double wake_at;     /* every task sleeps until then (it only moves later) */
    size_t started, finished, peak, resleeps;
    corio_task **t;
    double t_spawned, t_all_asleep, t_done;
};

static struct scale sc;

/* Sleeps until sc.wake_at. How long starting N tasks takes depends on the
 * machine, so the deadline is not fixed in advance: a task that starts
 * less than a second before it pushes it later, and tasks that
 * parked earlier wake at their old deadline, see the new one, and sleep
 * again (pushing it two seconds at a time keeps those re-sleeps few). So no task finishes before the last one has started and parked:
 * all N are pending at once (peak == N checks it). */
static void *scale_sleeper(void *arg)
{
    double now = corio_now();
    (void)arg;
    sc.started++;
    if (sc.started - sc.finished > sc.peak)
        sc.peak = sc.started - sc.finished;
    if (now > sc.wake_at - 1.0)
        sc.wake_at = now + 2.0;
    for (;;) {
        if (corio_sleep_until(sc.wake_at) != 0)
            return corio_fail(-EIO);
        if (corio_now() >= sc.wake_at)
            break;
        sc.resleeps++;
    }
    sc.finished++;
    return (void *)1;
}

static void *scale_main(void *arg)
{
    double t0 = corio_now();
    size_t i;
    (void)arg;
    sc.t = malloc(sc.n * sizeof *sc.t);
    assert_non_null(sc.t);
    sc.wake_at = t0 + 1.0;
    for (i = 0; i < sc.n; i++) {
        sc.t[i] = corio_spawn(scale_sleeper, NULL);
        if (!sc.t[i])
            fail_msg("spawn %zu of %zu failed", i, sc.n);
    }
    sc.t_spawned = corio_now() - t0;
    /* We wake behind every task queued before us: all have started. */
    assert_int_equal(corio_sleep(0.001), 0);
    assert_int_equal(sc.started, sc.n);
    assert_int_equal(sc.finished, 0);
    sc.t_all_asleep = corio_now() - t0;
    assert_int_equal(corio_task_count(NULL), sc.n + 1);
    for (i = 0; i < sc.n; i++) {
        void *r = NULL;
        assert_int_equal(corio_await(sc.t[i], &r), 0);
        assert_ptr_equal(r, (void *)1);
    }
    sc.t_done = corio_now() - t0;
    free(sc.t);
    return NULL;
}

static void run_scale(const char *what, size_t n, int mode, double max_seconds)
{
    corio_loop_config c = {0};
    long base_kib, peak_kib;
    int hwm_reset;

    memset(&sc, 0, sizeof sc);
    sc.n = n;
    c.stack_mode = mode;
    hwm_reset = tu_reset_hwm() == 0;
    base_kib = tu_proc_kib(hwm_reset ? "VmHWM" : "VmRSS");
    assert_int_equal(tu_run_cfg(scale_main, NULL, NULL, &c), 0);
    peak_kib = tu_proc_kib("VmHWM");
    assert_int_equal(sc.started, n);
    assert_int_equal(sc.finished, n);
    if (sc.peak != n)
        fail_msg("only %zu of %zu tasks were asleep at once (starting them took too long?)",
                 sc.peak, n);
    printf("    %s: %zu sleeping tasks: spawned in %.2f s, all asleep at %.2f s, done at "
           "%.2f s (%zu re-sleeps); peak memory %.0f bytes/task (VmHWM +%ld KiB%s)\n",
           what, n, sc.t_spawned, sc.t_all_asleep, sc.t_done, sc.resleeps,
           (double)(peak_kib - base_kib) * 1024.0 / (double)n, peak_kib - base_kib,
           hwm_reset ? "" : ", HWM not resettable: vs RSS before");
    if (sc.t_done > max_seconds)
        fail_msg("%s took %.1f s (bound %.0f s)", what, sc.t_done, max_seconds);
}

/* TU_SCALE_DEFAULT_N / TU_SCALE_COMPACT_N override the sizes (manual runs). */
static size_t env_n(const char *name)
{
    const char *s = getenv(name);
    return s ? (size_t)strtoull(s, NULL, 10) : 0;
}

static size_t default_n(void)
{
    if (env_n("TU_SCALE_DEFAULT_N"))
        return env_n("TU_SCALE_DEFAULT_N");
    if (tu_under_valgrind() || tu_under_tsan()) /* TSan maps memory per fiber */
        return 10000;
    return tu_slow() ? 100000 : 1000000;
}

static size_t compact_n(void)
{
    if (env_n("TU_SCALE_COMPACT_N"))
        return env_n("TU_SCALE_COMPACT_N");
    if (tu_under_tsan()) /* a fiber (with its own mapping) per task */
        return 10000;
    if (tu_under_valgrind())
        return 50000;
    return tu_slow() ? 1000000 : 10000000;
}

static void million_sleepers_default_stacks(void **state)
{
    (void)state;
    run_scale("default stacks", default_n(), CORIO_STACK_DEFAULT, 100);
}

static void ten_million_sleepers_compact_stacks(void **state)
{
    (void)state;
    if (!tu_compact_supported()) {
        printf("[  SKIPPED ] compact mode is not supported in this build "
               "(-ENOTSUP, e.g. under ASan)\n");
        skip();
    }
    run_scale("compact stacks", compact_n(), CORIO_STACK_COMPACT, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(million_sleepers_default_stacks),
        cmocka_unit_test(ten_million_sleepers_compact_stacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
