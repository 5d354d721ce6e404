/*
 * Driving a loop by hand (issue 11, defect 1): corio_loop_run_until returns
 * as soon as its future is done, and CORIO_RUN_ONCE blocks only if nothing
 * is ready, and then until something actually happened.
 *
 * The "unrelated later timer" of these tests is placed on a boundary of the
 * timer wheel (a multiple of 4096 one-millisecond ticks, seconds ahead), so
 * that the wheel has no internal event (cascade) before it: a loop that
 * wrongly blocks after its work is done then blocks for seconds, every run.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

/* Absolute time (corio_now scale) of a wheel boundary at least min_s ahead. */
static double aligned_later(double min_s)
{
    int64_t now_ms = corio_now_ns() / 1000000;
    int64_t t = ((now_ms >> 12) + 1) << 12;
    while (t - now_ms < (int64_t)(min_s * 1000))
        t += 4096;
    return (double)t / 1000.0;
}

static void spin(double s)
{
    double t0 = corio_now();
    while (corio_now() - t0 < s)
        ;
}

static void count_cb(void *arg) { (*(int *)arg)++; }

/* ---- run_until -------------------------------------------------------------*/

static corio_future *f_done, *f_never;

static void complete_cb(void *arg) { corio_future_set_result(arg, (void *)7); }

/* Busy past the moment the timer is due, then parked on something that
 * never comes: the timer fires at the start of the next iteration, with
 * nothing ready. */
static void *busy_then_parked(void *arg)
{
    spin(0.1 * tu_timescale());
    return corio_future_await(f_never, NULL) ? NULL : arg;
}

static void run_until_returns_when_a_timer_completes_the_future(void **state)
{
    corio_loop *l;
    corio_task *t;
    corio_timer later;
    int later_fired = 0;
    double far;
    void *v;
    (void)state;
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    assert_int_equal(corio_future_create(l, &f_done), 0);
    assert_int_equal(corio_future_create(l, &f_never), 0);
    t = corio_spawn(busy_then_parked, NULL);
    assert_non_null(t);
    assert_int_equal(corio_call_later(l, 0.02 * tu_timescale(), complete_cb, f_done), 0);
    far = aligned_later(3.0 + 0.3 * tu_timescale());
    corio_timer_init(&later);
    assert_int_equal(corio_timer_start_at(l, &later, far, count_cb, &later_fired), 0);
    assert_int_equal(corio_loop_run_until(l, f_done), 0);
    /* Before the fix it returned only when the unrelated timer fired. */
    assert_int_equal(later_fired, 0);
    assert_true(corio_now() < far - 0.5);
    assert_int_equal(corio_future_result(f_done, &v), 0);
    assert_ptr_equal(v, (void *)7);
    corio_timer_stop(&later);
    corio_cancel(t);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_DEFAULT), 0);
    corio_detach(t);
    corio_future_destroy(f_done);
    corio_future_destroy(f_never);
    assert_int_equal(corio_loop_close(l), 0);
}

/* ---- RUN_ONCE --------------------------------------------------------------*/

static void run_once_does_not_block_after_a_due_timer(void **state)
{
    corio_loop *l;
    corio_timer later;
    int due = 0, later_fired = 0;
    double far;
    struct timespec ts = {0, 30 * 1000000};
    (void)state;
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    assert_int_equal(corio_call_later(l, 0.005, count_cb, &due), 0);
    far = aligned_later(3.0);
    corio_timer_init(&later);
    assert_int_equal(corio_timer_start_at(l, &later, far, count_cb, &later_fired), 0);
    nanosleep(&ts, NULL); /* the 5 ms timer is due before the loop runs */
    assert_int_equal(corio_loop_run(l, CORIO_RUN_ONCE), 1);
    assert_int_equal(due, 1);
    /* It ran the due timer, which was work: no blocking for the next one. */
    assert_int_equal(later_fired, 0);
    assert_true(corio_now() < far - 0.5);
    corio_timer_stop(&later);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_ONCE), 0);
    assert_int_equal(corio_loop_close(l), 0);
}

static void run_once_blocks_until_a_timer_fires_not_a_wheel_tick(void **state)
{
    corio_loop *l;
    int fired = 0, i;
    (void)state;
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    for (i = 0; i < 3; i++) {
        /* A deadline 30 ticks past a 64-tick boundary, 300+ ms ahead: the
         * wheel files it on a higher level and re-files it (an internal
         * event, nothing fired) at that boundary, 30 ms before it is due. */
        int64_t now_ms = corio_now_ns() / 1000000;
        int64_t at = (((now_ms >> 6) + 5) << 6) + 30;
        corio_timer tm;
        corio_timer_init(&tm);
        fired = 0;
        assert_int_equal(corio_timer_start_at(l, &tm, (double)at / 1000.0, count_cb, &fired), 0);
        /* Nothing is ready: ONCE blocks until something happens, and the
         * only thing that can is the timer. */
        assert_int_equal(corio_loop_run(l, CORIO_RUN_ONCE), 0);
        assert_int_equal(fired, 1);
        assert_true(corio_now_ns() / 1000000 >= at - 1);
    }
    assert_int_equal(corio_loop_close(l), 0);
}

/* Each NOWAIT/ONCE return value says whether work remains. */
static void *sleeper(void *arg)
{
    return corio_sleep(0.01) ? NULL : arg;
}

static void run_once_returns_whether_work_remains(void **state)
{
    corio_loop *l;
    corio_task *t;
    int rc, n = 0;
    (void)state;
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_ONCE), 0); /* nothing at all */
    t = corio_spawn(sleeper, (void *)1);
    while ((rc = corio_loop_run(l, CORIO_RUN_ONCE)) == 1)
        assert_true(++n < 10); /* start+park, wake+finish: no empty wake-ups */
    assert_int_equal(rc, 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    corio_detach(t);
    assert_int_equal(corio_loop_close(l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_until_returns_when_a_timer_completes_the_future),
        cmocka_unit_test(run_once_does_not_block_after_a_due_timer),
        cmocka_unit_test(run_once_blocks_until_a_timer_fires_not_a_wheel_tick),
        cmocka_unit_test(run_once_returns_whether_work_remains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
