/*
 * The stall detector: a task (or callback) that keeps the loop busy past
 * the threshold is reported while it still runs, with its name and a
 * backtrace that shows the function it is spinning in; an idle loop or a
 * task that suspends often is never reported.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

static void assert_has(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static volatile unsigned long sink;

/* Burns CPU without suspending for `secs` seconds. */
NOINLINE static void spin_hot(double secs)
{
    double end = corio_now() + secs;
    while (corio_now() < end)
        sink++;
}

NOINLINE static void crunch(void)
{
    spin_hot(tu_slow() ? 0.8 : 0.4);
    __asm__ volatile("" ::: "memory");
}

static void *cruncher(void *arg)
{
    (void)arg;
    crunch();
    return NULL;
}

static void *stall_main(void *arg)
{
    corio_spawn_opts o;
    corio_task *t;
    double threshold = *(double *)arg;
    if (threshold > 0)
        assert_int_equal(corio_debug_stall_detector(NULL, threshold), 0);
    memset(&o, 0, sizeof o);
    o.name = "cruncher";
    assert_int_equal(corio_spawn_ex(&t, cruncher, NULL, &o), 0);
    assert_int_equal(corio_await(t, NULL), 0);
    return NULL;
}

static void test_stalled_task_is_named_with_its_frames(void **state)
{
    double thr = 0.05;
    char *r;
    (void)state;
    r = tu_run_report(stall_main, &thr, NULL);
    assert_has(r, "corio: stall: task #");
    if (!tu_under_tsan()) /* the name comes with the backtrace */
        assert_has(r, "'cruncher' has run for");
    assert_has(r, "without suspending (threshold 0.050s)");
    if (!tu_under_tsan()) { /* no backtraces under TSan: see stall.c */
        assert_has(r, "spin_hot+0x");
        assert_has(r, "crunch+0x");
        assert_has(r, "cruncher+0x");
    }
    /* Repeats at 2x, 4x... the threshold, not every tick. */
    {
        int n = 0;
        const char *p = r;
        while ((p = strstr(p, "corio: stall:")) != NULL)
            n++, p++;
        assert_true(n >= 1 && n <= 6); /* 0.05, 0.1, 0.2, 0.4 s at most */
    }
    free(r);
}

static void test_env_var_enables_it(void **state)
{
    double thr = 0; /* not enabled by the call */
    char *r;
    (void)state;
    setenv("CORIO_STALL_MS", "50", 1);
    r = tu_run_report(stall_main, &thr, NULL);
    unsetenv("CORIO_STALL_MS");
    assert_has(r, "has run for");
    if (!tu_under_tsan())
        assert_has(r, "spin_hot+0x");
    free(r);
}

NOINLINE static void slow_callback(void *arg)
{
    (void)arg;
    spin_hot(tu_slow() ? 0.5 : 0.25);
    __asm__ volatile("" ::: "memory"); /* no tail call: keep our frame */
}

static void *callback_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_debug_stall_detector(NULL, 0.05), 0);
    assert_int_equal(corio_call_soon(NULL, slow_callback, NULL), 0);
    assert_int_equal(corio_sleep(0.01), 0);
    return NULL;
}

static void test_stalled_callback(void **state)
{
    char *r;
    (void)state;
    r = tu_run_report(callback_main, NULL, NULL);
    assert_has(r, "the loop has been busy outside any task");
    if (!tu_under_tsan())
        assert_has(r, "slow_callback+0x");
    free(r);
}

/* A task that suspends often, and an idle loop, are not stalls. */
static void *busy_but_polite(void *arg)
{
    double end = corio_now() + 0.5;
    (void)arg;
    while (corio_now() < end) {
        spin_hot(0.005);
        assert_int_equal(corio_yield(), 0);
    }
    return NULL;
}

static void *quiet_main(void *arg)
{
    corio_task *t;
    (void)arg;
    /* 0.2 s: the OS may deschedule the loop for 100 ms and more between two
     * switches on a loaded machine, and that is not a stall. A detector
     * that counted time in the poller would report the 0.4 s sleep; one
     * that counted since the task started would report its 0.5 s run. */
    assert_int_equal(corio_debug_stall_detector(NULL, 0.2), 0);
    assert_int_equal(corio_sleep(0.4), 0); /* idle in the poller */
    t = corio_spawn(busy_but_polite, NULL);
    assert_non_null(t);
    assert_int_equal(corio_await(t, NULL), 0);
    /* Turning it off twice is fine. */
    assert_int_equal(corio_debug_stall_detector(NULL, 0), 0);
    assert_int_equal(corio_debug_stall_detector(NULL, 0), 0);
    return NULL;
}

static void test_no_false_reports(void **state)
{
    (void)state;
    assert_int_equal(tu_run(quiet_main, NULL, NULL), 0);
}

static void test_bad_args(void **state)
{
    (void)state;
    assert_int_equal(corio_debug_stall_detector(NULL, 0.1), -EPERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stalled_task_is_named_with_its_frames),
        cmocka_unit_test(test_env_var_enables_it),
        cmocka_unit_test(test_stalled_callback),
        cmocka_unit_test(test_no_false_reports),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
