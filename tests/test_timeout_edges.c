/*
 * Timeouts at their edges (issue 11, defects 2 and 3): a scope deadline
 * pulled earlier by another task takes effect at once (asyncio's
 * Timeout.reschedule), and wait_for with timeout 0 on something already
 * finished returns its result.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>

/* Shared between tasks: static, not on a task's stack (compact mode). */
static corio_scope shared_scope;
static int entered, woke_rc, exit_rc;
static double woke_at;

static void *parked_in_scope(void *arg)
{
    int rc = corio_scope_enter(&shared_scope, 10.0, 0);
    if (rc)
        return corio_fail(rc);
    entered = 1;
    woke_rc = corio_sleep(10.0);
    woke_at = corio_now();
    exit_rc = corio_scope_exit(&shared_scope);
    return arg;
}

TU_TASK_TEST(deadline_pulled_earlier_by_another_task_wakes_the_owner_now)
{
    corio_task *t;
    double t0;
    entered = 0;
    woke_rc = 1;
    t = corio_spawn(parked_in_scope, NULL);
    assert_non_null(t);
    while (!entered)
        assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_yield(), 0); /* t is parked in its 10 s sleep */
    t0 = corio_now();
    corio_scope_set_deadline(&shared_scope, t0 + 0.05);
    assert_int_equal(corio_await(t, NULL), 0);
    /* Before the fix it slept its whole 10 s. */
    assert_int_equal(woke_rc, -ETIMEDOUT);
    assert_true(woke_at >= t0 + 0.05 - 0.002);
    assert_true(woke_at - t0 < 0.05 + 2 * tu_slack());
    assert_int_equal(exit_rc, 1);
    return arg;
}

TU_TASK_TEST(deadline_moved_into_the_past_by_another_task_wakes_the_owner)
{
    corio_task *t;
    double t0;
    entered = 0;
    t = corio_spawn(parked_in_scope, NULL);
    while (!entered)
        assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_yield(), 0);
    t0 = corio_now();
    corio_scope_set_deadline(&shared_scope, t0 - 1.0);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(woke_rc, -ETIMEDOUT);
    assert_true(woke_at - t0 < 2 * tu_slack());
    return arg;
}

static corio_scope later_scope;
static int later_entered, later_rc;

static void *short_sleep_in_scope(void *arg)
{
    if (corio_scope_enter(&later_scope, 0.05, 0))
        return NULL;
    later_entered = 1;
    later_rc = corio_sleep(0.2 * tu_timescale());
    corio_scope_exit(&later_scope);
    return arg;
}

TU_TASK_TEST(deadline_moved_later_by_another_task_lets_the_owner_sleep_on)
{
    corio_task *t;
    later_entered = 0;
    later_rc = 1;
    t = corio_spawn(short_sleep_in_scope, NULL);
    while (!later_entered)
        assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_yield(), 0);
    corio_scope_set_deadline(&later_scope, corio_now() + 60.0);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(later_rc, 0); /* the sleep ended, not the scope */
    return arg;
}

/* ---- wait_for(0) on something already finished ------------------------------*/

static void *answer(void *arg) { return arg; }

TU_TASK_TEST(wait_for_zero_on_a_finished_task_returns_its_result)
{
    corio_task *t = corio_spawn(answer, (void *)42);
    void *r = NULL;
    assert_non_null(t);
    while (corio_task_state(t) != CORIO_TASK_DONE)
        assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_wait_for(t, 0, &r), 0);
    assert_ptr_equal(r, (void *)42);
    return arg;
}

static void *fails_eio(void *arg) { return corio_fail(-EIO); }

TU_TASK_TEST(wait_for_zero_on_a_failed_task_returns_its_error)
{
    corio_task *t = corio_spawn(fails_eio, NULL);
    while (corio_task_state(t) != CORIO_TASK_DONE)
        assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_wait_for(t, 0, NULL), -EIO);
    return arg;
}

TU_TASK_TEST(wait_for_zero_on_a_running_task_times_out)
{
    corio_task *t = corio_spawn(answer, (void *)1);
    /* Not finished (never ran): timeout 0 expires at once, t is cancelled
     * and handed to the loop. */
    assert_int_equal(corio_wait_for(t, 0, NULL), -ETIMEDOUT);
    return arg;
}

TU_TASK_TEST(future_wait_for_zero_on_a_done_future_returns_its_result)
{
    corio_future *f;
    void *v = NULL;
    assert_int_equal(corio_future_create(NULL, &f), 0);
    assert_int_equal(corio_future_set_result(f, (void *)9), 0);
    assert_int_equal(corio_future_wait_for(f, 0, &v), 0);
    assert_ptr_equal(v, (void *)9);
    corio_future_destroy(f);
    return arg;
}

static int waiter_rc;

static void *cancelled_waiter(void *arg)
{
    corio_future *f = arg;
    corio_cancel(corio_current());
    /* Done, but the caller is cancelled: still -ECANCELED (level-triggered). */
    waiter_rc = corio_future_wait_for(f, 0, NULL);
    return NULL;
}

TU_TASK_TEST(wait_for_zero_on_a_done_future_still_reports_the_callers_cancel)
{
    corio_future *f;
    corio_task *t;
    void *r;
    assert_int_equal(corio_future_create(NULL, &f), 0);
    assert_int_equal(corio_future_set_result(f, (void *)9), 0);
    t = corio_spawn(cancelled_waiter, f);
    waiter_rc = 1;
    assert_int_equal(corio_await(t, &r), -ECANCELED);
    assert_int_equal(waiter_rc, -ECANCELED);
    corio_future_destroy(f);
    return arg;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deadline_pulled_earlier_by_another_task_wakes_the_owner_now),
        cmocka_unit_test(deadline_moved_into_the_past_by_another_task_wakes_the_owner),
        cmocka_unit_test(deadline_moved_later_by_another_task_lets_the_owner_sleep_on),
        cmocka_unit_test(wait_for_zero_on_a_finished_task_returns_its_result),
        cmocka_unit_test(wait_for_zero_on_a_failed_task_returns_its_error),
        cmocka_unit_test(wait_for_zero_on_a_running_task_times_out),
        cmocka_unit_test(future_wait_for_zero_on_a_done_future_returns_its_result),
        cmocka_unit_test(wait_for_zero_on_a_done_future_still_reports_the_callers_cancel),
    };
    return tu_run_both_modes(tests);
}
