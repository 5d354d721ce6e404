/*
 * Trio's and asyncio's scope semantics: cancel a scope by hand, its
 * deadline, the task's effective deadline, cancelled_caught; and an await
 * that keeps its handle (CORIO_AWAIT_KEEP), corio_wait_for_cleanup().
 * Everything shared between tasks is static or on the heap (the suite runs
 * in compact mode too).
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- cancel by hand --------------------------------------------------------*/

TU_TASK_TEST(scope_cancel_interrupts_only_the_calls_inside)
{
    corio_scope s;
    (void)arg;
    assert_int_equal(corio_scope_enter(&s, -1, 0), 0);
    assert_int_equal(corio_scope_cancel_called(&s), 0);
    assert_int_equal(corio_scope_cancel(&s), 1);
    assert_int_equal(corio_scope_cancel(&s), 0); /* already */
    assert_int_equal(corio_scope_cancel_called(&s), 1);
    /* Nothing suspended yet: nothing caught. */
    assert_int_equal(corio_scope_cancelled_caught(&s), 0);
    double t0 = corio_now();
    assert_int_equal(corio_sleep(10), -ECANCELED);
    assert_true(corio_now() - t0 < tu_slack());
    assert_int_equal(corio_yield(), -ECANCELED); /* level-triggered */
    assert_int_equal(corio_scope_cancelled_caught(&s), 1);
    assert_int_equal(corio_cancelled(), 0); /* the task is not cancelled */
    assert_int_equal(corio_scope_exit(&s), 0); /* its deadline did not pass */
    /* Outside the scope, calls work again; the scope still tells. */
    assert_int_equal(corio_sleep(0.001), 0);
    assert_int_equal(corio_scope_cancelled_caught(&s), 1);
    assert_int_equal(corio_scope_cancel(NULL), -EINVAL);
    return NULL;
}

TU_TASK_TEST(nothing_caught_when_no_call_noticed)
{
    corio_scope s;
    (void)arg;
    /* Cancelled, but no suspending call ran inside. */
    corio_scope_enter(&s, -1, 0);
    corio_scope_cancel(&s);
    assert_int_equal(corio_scope_exit(&s), 0);
    assert_int_equal(corio_scope_cancelled_caught(&s), 0);
    /* Expired deadline, nothing suspended: exit says 1, caught 0. */
    corio_scope_enter(&s, 0, 0);
    assert_int_equal(corio_scope_exit(&s), 1);
    assert_int_equal(corio_scope_cancelled_caught(&s), 0);
    /* A deadline that interrupts a call is caught. */
    corio_scope_enter(&s, 0.01, 0);
    assert_int_equal(corio_sleep(10), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&s), 1);
    assert_int_equal(corio_scope_cancelled_caught(&s), 1);
    assert_int_equal(corio_scope_cancel_called(&s), 0);
    return NULL;
}

/* The outermost cancelled/expired scope is the one that catches it. */
TU_TASK_TEST(outermost_cancelled_scope_catches)
{
    corio_scope outer, inner;
    (void)arg;
    corio_scope_enter(&outer, -1, 0);
    corio_scope_enter(&inner, 0, 0); /* expired */
    corio_scope_cancel(&outer);
    assert_int_equal(corio_sleep(1), -ECANCELED);
    assert_int_equal(corio_scope_exit(&inner), 1);
    assert_int_equal(corio_scope_exit(&outer), 0);
    assert_int_equal(corio_scope_cancelled_caught(&outer), 1);
    assert_int_equal(corio_scope_cancelled_caught(&inner), 0);
    /* The other way round: the outer deadline wins as -ETIMEDOUT. */
    corio_scope_enter(&outer, 0, 0);
    corio_scope_enter(&inner, -1, 0);
    corio_scope_cancel(&inner);
    assert_int_equal(corio_sleep(1), -ETIMEDOUT);
    corio_scope_exit(&inner);
    corio_scope_exit(&outer);
    assert_int_equal(corio_scope_cancelled_caught(&outer), 1);
    assert_int_equal(corio_scope_cancelled_caught(&inner), 0);
    return NULL;
}

/* The task's own cancellation wins over a cancelled scope: not caught. */
static int self_cancel_rc, self_caught;
static void *cancel_self_in_scope(void *arg)
{
    corio_scope s;
    (void)arg;
    corio_scope_enter(&s, -1, 0);
    corio_scope_cancel(&s);
    corio_cancel(corio_current());
    self_cancel_rc = corio_sleep(1);
    corio_scope_exit(&s);
    self_caught = corio_scope_cancelled_caught(&s);
    return NULL;
}

TU_TASK_TEST(task_cancellation_is_not_caught_by_the_scope)
{
    corio_task *t = corio_spawn(cancel_self_in_scope, NULL);
    (void)arg;
    self_cancel_rc = 1;
    self_caught = -1;
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(self_cancel_rc, -ECANCELED);
    assert_int_equal(self_caught, 0);
    return NULL;
}

/* Another task cancels the scope the owner is sleeping in: the owner wakes
 * at once, not when its sleep ends. The scope is on the heap: in compact
 * mode another task may not touch the owner's stack. */
static corio_scope *shared_scope;
static int owner_rc, owner_caught, owner_after;
static double owner_woke;
static void *owner_sleeps_in_scope(void *arg)
{
    (void)arg;
    corio_scope_enter(shared_scope, -1, 0);
    owner_rc = corio_sleep(10);
    owner_woke = corio_now();
    corio_scope_exit(shared_scope);
    owner_caught = corio_scope_cancelled_caught(shared_scope);
    owner_after = corio_sleep(0.001);
    return NULL;
}

TU_TASK_TEST(cancel_from_another_task_wakes_the_owner_at_once)
{
    corio_task *t;
    double t0;
    (void)arg;
    shared_scope = calloc(1, sizeof *shared_scope);
    owner_rc = owner_caught = owner_after = 1;
    t = corio_spawn(owner_sleeps_in_scope, NULL);
    assert_int_equal(corio_sleep(0.02), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    t0 = corio_now();
    assert_int_equal(corio_scope_cancel(shared_scope), 1);
    assert_int_equal(corio_await(t, NULL), 0); /* the task itself is fine */
    assert_int_equal(owner_rc, -ECANCELED);
    assert_true(owner_woke - t0 < tu_slack());
    assert_int_equal(owner_caught, 1);
    assert_int_equal(owner_after, 0);
    free(shared_scope);
    return NULL;
}

/* A shield inside the cancelled scope hides it; the owner is not woken. */
static int shielded_rc, after_shield_rc;
static void *owner_shielded_inside(void *arg)
{
    corio_scope shield;
    (void)arg;
    corio_scope_enter(shared_scope, -1, 0);
    corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
    shielded_rc = corio_sleep(0.05);
    corio_scope_exit(&shield);
    after_shield_rc = corio_sleep(10);
    corio_scope_exit(shared_scope);
    return NULL;
}

TU_TASK_TEST(shield_inside_hides_a_scope_cancel)
{
    corio_task *t;
    double t0 = corio_now();
    (void)arg;
    shared_scope = calloc(1, sizeof *shared_scope);
    shielded_rc = after_shield_rc = 1;
    t = corio_spawn(owner_shielded_inside, NULL);
    corio_sleep(0.01);
    corio_scope_cancel(shared_scope);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(shielded_rc, 0);      /* slept its full time */
    assert_true(corio_now() - t0 >= 0.05);
    assert_int_equal(after_shield_rc, -ECANCELED);
    assert_true(corio_now() - t0 < 0.05 + tu_slack());
    free(shared_scope);
    return NULL;
}

/* Hand-off and scope cancel in the same iteration: first wake wins. */
static corio_lock *race_lock;
static int race_acq_rc, race_owned, race_next_rc;
static void *acquire_in_scope(void *arg)
{
    (void)arg;
    corio_scope_enter(shared_scope, -1, 0);
    race_acq_rc = corio_lock_acquire(race_lock);
    race_owned = corio_lock_owner(race_lock) == corio_current();
    race_next_rc = corio_yield();
    corio_scope_exit(shared_scope);
    if (race_owned)
        corio_lock_release(race_lock);
    return NULL;
}

static void race_once(int release_first)
{
    corio_task *t;
    shared_scope = calloc(1, sizeof *shared_scope);
    race_acq_rc = race_owned = race_next_rc = 7;
    assert_int_equal(corio_lock_acquire(race_lock), 0);
    t = corio_spawn(acquire_in_scope, NULL);
    corio_yield(); /* t parks on the lock */
    if (release_first) {
        corio_lock_release(race_lock);
        corio_scope_cancel(shared_scope);
    } else {
        corio_scope_cancel(shared_scope);
        corio_lock_release(race_lock);
    }
    assert_int_equal(corio_await(t, NULL), 0);
    if (release_first) {
        assert_int_equal(race_acq_rc, 0); /* it was handed the lock */
        assert_int_equal(race_owned, 1);
        assert_int_equal(race_next_rc, -ECANCELED);
    } else {
        assert_int_equal(race_acq_rc, -ECANCELED); /* never owned it */
        assert_int_equal(race_owned, 0);
    }
    assert_int_equal(corio_lock_locked(race_lock), 0);
    free(shared_scope);
}

TU_TASK_TEST(scope_cancel_races_a_hand_off)
{
    (void)arg;
    assert_int_equal(corio_lock_create(&race_lock), 0);
    race_once(1);
    race_once(0);
    corio_lock_destroy(race_lock);
    return NULL;
}

/* ---- deadlines ----------------------------------------------------------*/

TU_TASK_TEST(scope_deadline_reads_when)
{
    corio_scope s;
    double d;
    (void)arg;
    corio_scope_enter(&s, -1, 0);
    assert_true(isinf(corio_scope_deadline(&s)) && corio_scope_deadline(&s) > 0);
    d = corio_now() + 5;
    corio_scope_set_deadline(&s, d);
    tu_assert_near(corio_scope_deadline(&s), d, 1e-6);
    corio_scope_exit(&s);
    corio_scope_enter_at(&s, d + 1, 0);
    tu_assert_near(corio_scope_deadline(&s), d + 1, 1e-6);
    corio_scope_exit(&s);
    d = corio_now();
    corio_scope_enter(&s, 2, 0);
    assert_true(corio_scope_deadline(&s) >= d + 2);
    assert_true(corio_scope_deadline(&s) < d + 2 + tu_slack());
    corio_scope_exit(&s);
    return NULL;
}

static double eff_cancelled, eff_cancelled_shield;
static void *effective_when_cancelled(void *arg)
{
    corio_scope shield;
    (void)arg;
    corio_cancel(corio_current());
    eff_cancelled = corio_current_effective_deadline();
    corio_scope_enter_at(&shield, 1234.5, CORIO_SCOPE_SHIELD);
    eff_cancelled_shield = corio_current_effective_deadline();
    corio_scope_exit(&shield);
    return NULL;
}

static void effective_deadline_outside_a_task(void **state)
{
    (void)state;
    assert_true(isinf(corio_current_effective_deadline()));
    assert_true(corio_current_effective_deadline() > 0);
}

TU_TASK_TEST(effective_deadline_considers_nesting_shields_and_cancel)
{
    corio_scope a, b, sh, c;
    double now = corio_now();
    corio_task *t;
    (void)arg;
    assert_true(isinf(corio_current_effective_deadline()));
    corio_scope_enter_at(&a, now + 10, 0);
    tu_assert_near(corio_current_effective_deadline(), now + 10, 1e-6);
    corio_scope_enter_at(&b, now + 5, 0);
    tu_assert_near(corio_current_effective_deadline(), now + 5, 1e-6);
    corio_scope_enter_at(&sh, now + 20, CORIO_SCOPE_SHIELD);
    /* A shield hides the outer deadlines: only its own applies. */
    tu_assert_near(corio_current_effective_deadline(), now + 20, 1e-6);
    corio_scope_enter(&c, -1, 0);
    tu_assert_near(corio_current_effective_deadline(), now + 20, 1e-6);
    corio_scope_exit(&c);
    corio_scope_exit(&sh);
    /* An outer scope cancelled by hand: a call would fail at once. */
    corio_scope_cancel(&a);
    assert_true(isinf(corio_current_effective_deadline()) &&
                corio_current_effective_deadline() < 0);
    corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
    assert_true(isinf(corio_current_effective_deadline()) &&
                corio_current_effective_deadline() > 0);
    corio_scope_exit(&sh);
    corio_scope_exit(&b);
    corio_scope_exit(&a);
    assert_true(isinf(corio_current_effective_deadline()) &&
                corio_current_effective_deadline() > 0);
    /* The task's own cancellation, and a shield around it. */
    t = corio_spawn(effective_when_cancelled, NULL);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_true(isinf(eff_cancelled) && eff_cancelled < 0);
    tu_assert_near(eff_cancelled_shield, 1234.5, 1e-6);
    return NULL;
}

/* ---- await keeps the handle -------------------------------------------------*/

static int cleaned;
static void *slow_value(void *arg)
{
    int rc = corio_sleep(0.05);
    if (rc)
        return corio_fail(rc);
    return arg;
}

/* Sleeps long; when cancelled, cleans up for 40 ms under a shield, then
 * ends (with *arg as its failure when arg is non-NULL). */
static void *slow_cleanup(void *arg)
{
    corio_scope sh;
    int rc = corio_sleep(10);
    if (rc == 0)
        return (void *)(intptr_t)1;
    corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
    corio_sleep(0.04);
    corio_scope_exit(&sh);
    cleaned = 1;
    if (arg)
        return corio_fail(*(int *)arg);
    return (void *)(intptr_t)2;
}

TU_TASK_TEST(shielded_await_keeps_the_handle)
{
    corio_task *t;
    corio_scope s;
    void *r = NULL;
    (void)arg;
    t = corio_spawn(slow_value, (void *)(intptr_t)42);
    corio_scope_enter(&s, 0.01, 0);
    assert_int_equal(corio_await_ex(t, &r, CORIO_AWAIT_SHIELD | CORIO_AWAIT_KEEP),
                     -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&s), 1);
    /* Still the caller's, still running, not cancelled. */
    assert_int_not_equal(corio_task_state(t), CORIO_TASK_DONE);
    assert_int_equal(corio_future_done(corio_task_future(t)), 0);
    assert_int_equal(corio_await(t, &r), 0);
    assert_ptr_equal(r, (void *)(intptr_t)42);
    return NULL;
}

TU_TASK_TEST(keep_on_success_leaves_the_result_readable)
{
    corio_task *t = corio_spawn(slow_value, (void *)(intptr_t)7);
    void *r = NULL, *v = NULL;
    (void)arg;
    assert_int_equal(corio_await_ex(t, &r, CORIO_AWAIT_KEEP), 0);
    assert_ptr_equal(r, (void *)(intptr_t)7);
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    assert_int_equal(corio_future_result(corio_task_future(t), &v), 0);
    assert_ptr_equal(v, (void *)(intptr_t)7);
    corio_detach(t); /* frees it; tu_run checks nothing leaked */
    return NULL;
}

TU_TASK_TEST(keep_without_shield_cancels_but_keeps)
{
    corio_task *t;
    corio_scope s;
    void *r = NULL;
    (void)arg;
    cleaned = 0;
    t = corio_spawn(slow_cleanup, NULL);
    corio_scope_enter(&s, 0.01, 0);
    assert_int_equal(corio_await_ex(t, NULL, CORIO_AWAIT_KEEP), -ETIMEDOUT);
    corio_scope_exit(&s);
    assert_int_equal(cleaned, 0);
    /* Awaiting it again waits for its cleanup. */
    assert_int_equal(corio_await(t, &r), -ECANCELED);
    assert_int_equal(cleaned, 1);
    assert_ptr_equal(r, (void *)(intptr_t)2);
    return NULL;
}

TU_TASK_TEST(keep_on_a_finished_task_with_an_interrupted_caller)
{
    corio_task *t = corio_spawn(slow_value, (void *)(intptr_t)5);
    corio_scope s;
    void *v = NULL;
    (void)arg;
    assert_int_equal(corio_sleep(0.08), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    corio_scope_enter(&s, 0, 0); /* expired */
    assert_int_equal(corio_await_ex(t, NULL, CORIO_AWAIT_KEEP), -ETIMEDOUT);
    corio_scope_exit(&s);
    assert_int_equal(corio_future_result(corio_task_future(t), &v), 0);
    assert_ptr_equal(v, (void *)(intptr_t)5);
    assert_int_equal(corio_await(t, &v), 0);
    return NULL;
}

/* ---- wait_for that waits for the cleanup ------------------------------------*/

TU_TASK_TEST(wait_for_cleanup_returns_after_the_cleanup)
{
    corio_task *t;
    void *r = NULL;
    double t0;
    (void)arg;
    cleaned = 0;
    t = corio_spawn(slow_cleanup, NULL);
    t0 = corio_now();
    assert_int_equal(corio_wait_for_cleanup(t, 0.02, &r), -ETIMEDOUT);
    assert_int_equal(cleaned, 1); /* t has ended */
    assert_true(corio_now() - t0 >= 0.06);
    assert_ptr_equal(r, (void *)(intptr_t)2);
    /* The plain wait_for returns before the cleanup (the difference). */
    cleaned = 0;
    t = corio_spawn(slow_cleanup, NULL);
    assert_int_equal(corio_wait_for(t, 0.02, NULL), -ETIMEDOUT);
    assert_int_equal(cleaned, 0);
    while (!cleaned)
        corio_sleep(0.01);
    return NULL;
}

TU_TASK_TEST(wait_for_cleanup_success_and_ready_results)
{
    corio_task *t;
    void *r = NULL;
    (void)arg;
    t = corio_spawn(slow_value, (void *)(intptr_t)3);
    assert_int_equal(corio_wait_for_cleanup(t, 5, &r), 0);
    assert_ptr_equal(r, (void *)(intptr_t)3);
    /* Already finished, timeout 0: the ready result wins (asyncio). */
    t = corio_spawn(slow_value, (void *)(intptr_t)4);
    corio_sleep(0.08);
    r = NULL;
    assert_int_equal(corio_wait_for_cleanup(t, 0, &r), 0);
    assert_ptr_equal(r, (void *)(intptr_t)4);
    assert_int_equal(corio_wait_for_cleanup(NULL, 1, &r), -EINVAL);
    return NULL;
}

TU_TASK_TEST(wait_for_cleanup_reports_a_cleanup_failure)
{
    static int err = -EIO;
    corio_task *t;
    (void)arg;
    cleaned = 0;
    t = corio_spawn(slow_cleanup, &err);
    assert_int_equal(corio_wait_for_cleanup(t, 0.01, NULL), -EIO);
    assert_int_equal(cleaned, 1);
    return NULL;
}

/* An outer scope's deadline interrupts it the same way; a scope cancelled
 * by hand too (-ECANCELED, the task itself is not cancelled). */
TU_TASK_TEST(wait_for_cleanup_under_an_outer_scope)
{
    corio_scope outer;
    corio_task *t;
    (void)arg;
    cleaned = 0;
    t = corio_spawn(slow_cleanup, NULL);
    corio_scope_enter(&outer, 0.02, 0);
    assert_int_equal(corio_wait_for_cleanup(t, 10, NULL), -ETIMEDOUT);
    assert_int_equal(cleaned, 1);
    assert_int_equal(corio_scope_exit(&outer), 1);
    assert_int_equal(corio_scope_cancelled_caught(&outer), 1);
    cleaned = 0;
    t = corio_spawn(slow_cleanup, NULL);
    corio_yield(); /* t starts (never started, it would end without running) */
    corio_scope_enter(&outer, -1, 0);
    corio_scope_cancel(&outer);
    assert_int_equal(corio_wait_for_cleanup(t, 10, NULL), -ECANCELED);
    assert_int_equal(cleaned, 1);
    corio_scope_exit(&outer);
    assert_int_equal(corio_cancelled(), 0);
    assert_int_equal(corio_sleep(0.001), 0);
    return NULL;
}

static corio_task *cleanup_target;
static int waiter_rc, waiter_saw_cleaned, waiter_next_rc;
static void *waits_for_cleanup(void *arg)
{
    (void)arg;
    waiter_rc = corio_wait_for_cleanup(cleanup_target, 10, NULL);
    waiter_saw_cleaned = cleaned;
    waiter_next_rc = corio_yield();
    return NULL;
}

static void *cancelled_then_waits(void *arg)
{
    (void)arg;
    corio_cancel(corio_current());
    waiter_rc = corio_wait_for_cleanup(cleanup_target, 10, NULL);
    return NULL;
}

TU_TASK_TEST(wait_for_cleanup_when_the_caller_is_cancelled)
{
    corio_task *w;
    (void)arg;
    cleaned = 0;
    waiter_rc = waiter_saw_cleaned = waiter_next_rc = 1;
    cleanup_target = corio_spawn(slow_cleanup, NULL);
    w = corio_spawn(waits_for_cleanup, NULL);
    corio_sleep(0.02);
    corio_cancel(w);
    assert_int_equal(corio_await(w, NULL), -ECANCELED);
    assert_int_equal(waiter_rc, -ECANCELED);
    assert_int_equal(waiter_saw_cleaned, 1);
    assert_int_equal(waiter_next_rc, -ECANCELED);
    /* A finished task and a cancelled caller: the cancellation wins, and
     * the handle is consumed all the same (tu_run checks no leak). */
    cleanup_target = corio_spawn(slow_value, NULL);
    corio_sleep(0.08);
    waiter_rc = 1;
    w = corio_spawn(cancelled_then_waits, NULL);
    assert_int_equal(corio_await(w, NULL), -ECANCELED);
    assert_int_equal(waiter_rc, -ECANCELED);
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scope_cancel_interrupts_only_the_calls_inside),
        cmocka_unit_test(nothing_caught_when_no_call_noticed),
        cmocka_unit_test(outermost_cancelled_scope_catches),
        cmocka_unit_test(task_cancellation_is_not_caught_by_the_scope),
        cmocka_unit_test(cancel_from_another_task_wakes_the_owner_at_once),
        cmocka_unit_test(shield_inside_hides_a_scope_cancel),
        cmocka_unit_test(scope_cancel_races_a_hand_off),
        cmocka_unit_test(scope_deadline_reads_when),
        cmocka_unit_test(effective_deadline_outside_a_task),
        cmocka_unit_test(effective_deadline_considers_nesting_shields_and_cancel),
        cmocka_unit_test(shielded_await_keeps_the_handle),
        cmocka_unit_test(keep_on_success_leaves_the_result_readable),
        cmocka_unit_test(keep_without_shield_cancels_but_keeps),
        cmocka_unit_test(keep_on_a_finished_task_with_an_interrupted_caller),
        cmocka_unit_test(wait_for_cleanup_returns_after_the_cleanup),
        cmocka_unit_test(wait_for_cleanup_success_and_ready_results),
        cmocka_unit_test(wait_for_cleanup_reports_a_cleanup_failure),
        cmocka_unit_test(wait_for_cleanup_under_an_outer_scope),
        cmocka_unit_test(wait_for_cleanup_when_the_caller_is_cancelled),
    };
    return tu_run_both_modes(tests);
}
