/*
 * Sleep and timer delays at the edges of the clock: infinite, beyond what
 * int64 nanoseconds hold, and NaN. A deadline is "now + delay" in int64
 * nanoseconds, which must saturate instead of wrapping around into the past
 * (a wrapped deadline fires at once: corio_sleep(INFINITY) and
 * corio_sleep(1e12) used to return 0 immediately). test_timer.c covers far
 * but representable deadlines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "testutil.h"

/* Shared between tasks: statics, never a task's stack (compact mode). */
static double sleep_arg;
static int sleep_rc;

static void *sleeper(void *arg)
{
    (void)arg;
    sleep_rc = corio_sleep(sleep_arg);
    return NULL;
}

/* Sleeps `seconds` in a task; it must still be asleep 20 ms later and
 * wake only with the cancellation. */
static void sleeps_until_cancelled(double seconds)
{
    corio_task *t;
    sleep_arg = seconds;
    sleep_rc = 1;
    t = corio_spawn(sleeper, NULL);
    assert_non_null(t);
    assert_int_equal(corio_sleep(0.02), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    assert_int_equal(sleep_rc, 1);
    assert_int_equal(corio_cancel(t), 1);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(sleep_rc, -ECANCELED);
}

TU_TASK_TEST(sleep_infinity_waits_until_cancelled)
{
    (void)arg;
    sleeps_until_cancelled(INFINITY);
    return NULL;
}

TU_TASK_TEST(sleep_beyond_int64_ns_waits_until_cancelled)
{
    (void)arg;
    sleeps_until_cancelled(1e12); /* 1e21 ns: past INT64_MAX */
    sleeps_until_cancelled(9.1e9); /* a deadline just inside int64 ns */
    sleeps_until_cancelled(DBL_MAX);
    return NULL;
}

TU_TASK_TEST(sleep_nan_only_yields)
{
    (void)arg;
    assert_int_equal(corio_sleep(NAN), 0);
    return NULL;
}

static int fired;
static double fired_at;

static void on_fire(void *arg)
{
    (void)arg;
    fired++;
    fired_at = corio_now();
}

TU_TASK_TEST(timer_with_nan_delay_fires_soon)
{
    static corio_timer t;
    double start;
    (void)arg;
    fired = 0;
    memset(&t, 0, sizeof t);
    start = corio_now();
    assert_int_equal(corio_timer_start(NULL, &t, NAN, on_fire, NULL), 0);
    assert_int_equal(corio_sleep(0.01 + tu_slack()), 0);
    assert_int_equal(fired, 1);
    assert_true(fired_at >= start);
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sleep_infinity_waits_until_cancelled),
        cmocka_unit_test(sleep_beyond_int64_ns_waits_until_cancelled),
        cmocka_unit_test(sleep_nan_only_yields),
        cmocka_unit_test(timer_with_nan_delay_fires_soon),
    };
    return tu_run_both_modes(tests);
}
