/*
 * Cancellation scopes and timeouts: -ETIMEDOUT (level-triggered), nesting
 * (nearest deadline wins), shields, exit results, moving deadlines,
 * wait_for, and timeouts racing completions.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void *return_arg(void *arg) { return arg; }

static void *sleep_long(void *arg)
{
    int rc = corio_sleep(10);
    if (arg)
        *(int *)arg = rc;
    return NULL;
}

static void scope_enter_outside_a_task_is_eperm(void **state)
{
    corio_scope s;
    (void)state;
    assert_int_equal(corio_scope_enter(&s, 1, 0), -EPERM);
    assert_int_equal(corio_scope_enter_at(&s, corio_now() + 1, 0), -EPERM);
}

/* Every kind of suspending call inside an expired scope. */
TU_TASK_TEST(timeout_is_level_triggered_inside_the_expired_scope)
{
    static int child_rc;
    corio_future *f, *done;
    corio_task *t, *d;
    corio_scope s;
    double t0 = corio_now();

    assert_int_equal(corio_future_create(NULL, &f), 0);
    assert_int_equal(corio_future_create(NULL, &done), 0);
    corio_future_set_result(done, NULL);
    child_rc = 1;
    t = corio_spawn(sleep_long, &child_rc);
    d = corio_spawn(return_arg, NULL);
    assert_int_equal(corio_scope_enter(&s, 0.25, 0), 0);
    assert_int_equal(corio_scope_expired(&s), 0);
    assert_int_equal(corio_sleep(10), -ETIMEDOUT);
    assert_true(corio_now() - t0 >= 0.25);
    assert_true(corio_now() - t0 < 0.25 + tu_slack());
    assert_int_equal(corio_scope_expired(&s), 1);
    assert_int_equal(corio_sleep(0), -ETIMEDOUT);
    assert_int_equal(corio_sleep(0.001), -ETIMEDOUT);
    assert_int_equal(corio_sleep_until(corio_now() + 1), -ETIMEDOUT);
    assert_int_equal(corio_yield(), -ETIMEDOUT);
    assert_int_equal(corio_future_await(f, NULL), -ETIMEDOUT);
    assert_int_equal(corio_future_await(done, NULL), -ETIMEDOUT);
    assert_int_equal(corio_await(d, NULL), -ETIMEDOUT);  /* consumed */
    assert_int_equal(corio_await(t, NULL), -ETIMEDOUT);  /* cancelled + detached */
    assert_int_equal(corio_cancelled(), 0);              /* not a cancellation */
    assert_true(corio_now() - t0 < 0.25 + tu_slack());
    assert_int_equal(corio_scope_exit(&s), 1);
    /* Outside the scope, everything works again. */
    assert_int_equal(corio_sleep(0.001), 0);
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(child_rc, -ECANCELED);
    assert_int_equal(corio_task_count(NULL), 1);
    assert_int_equal(corio_future_done(f), 0); /* an interrupted wait leaves f alone */
    corio_future_destroy(f);
    corio_future_destroy(done);
    return NULL;
}

/* corio_checkpoint() reports what the next suspending call would return,
 * shields included, without suspending. */
static void *checkpoint_child(void *arg)
{
    int *r = arg;
    corio_scope s;
    r[0] = corio_checkpoint();
    r[1] = corio_sleep(10); /* cancelled here */
    r[2] = corio_checkpoint();
    assert_int_equal(corio_scope_enter(&s, -1, CORIO_SCOPE_SHIELD), 0);
    r[3] = corio_checkpoint();
    assert_int_equal(corio_scope_exit(&s), 0);
    r[4] = corio_checkpoint();
    return NULL;
}

TU_TASK_TEST(checkpoint_reports_cancellation_and_expiry_without_suspending)
{
    static int r[5];
    corio_scope outer, shield;
    corio_task *t;
    double t0 = corio_now();

    assert_int_equal(corio_checkpoint(), 0);
    /* An expired scope, and a shield inside it. */
    assert_int_equal(corio_scope_enter(&outer, 0, 0), 0);
    assert_int_equal(corio_checkpoint(), -ETIMEDOUT);
    assert_int_equal(corio_checkpoint(), -ETIMEDOUT); /* level-triggered */
    assert_int_equal(corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD), 0);
    assert_int_equal(corio_checkpoint(), 0);
    assert_int_equal(corio_scope_exit(&shield), 0);
    assert_int_equal(corio_checkpoint(), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&outer), 1);
    assert_int_equal(corio_checkpoint(), 0);
    /* A cancelled task, shielded and not. */
    t = corio_spawn(checkpoint_child, r);
    assert_non_null(t);
    assert_int_equal(corio_yield(), 0); /* the child runs into its sleep */
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(r[0], 0);
    assert_int_equal(r[1], -ECANCELED);
    assert_int_equal(r[2], -ECANCELED);
    assert_int_equal(r[3], 0);
    assert_int_equal(r[4], -ECANCELED);
    assert_true(corio_now() - t0 < tu_slack()); /* nothing slept its 10 s */
    return NULL;
}

static void checkpoint_outside_a_task_is_0(void **state)
{
    (void)state;
    assert_int_equal(corio_checkpoint(), 0);
}

/* How the timeout argument is read. */
struct timeout_case {
    double timeout;
    int expired_at_once;
};

static const struct timeout_case timeout_cases[] = {
    {0.0, 1}, {-1.0, 0}, {-0.001, 0}, {INFINITY, 0}, {NAN, 0}, {1e300, 0}, {3600, 0},
};

TU_TASK_TEST(timeout_argument_zero_expired_negative_or_infinite_none)
{
    size_t i;
    for (i = 0; i < sizeof timeout_cases / sizeof timeout_cases[0]; i++) {
        corio_scope s;
        assert_int_equal(corio_scope_enter(&s, timeout_cases[i].timeout, 0), 0);
        assert_int_equal(corio_scope_expired(&s), timeout_cases[i].expired_at_once);
        assert_int_equal(corio_sleep(0.001), timeout_cases[i].expired_at_once ? -ETIMEDOUT : 0);
        assert_int_equal(corio_scope_exit(&s), timeout_cases[i].expired_at_once);
    }
    return NULL;
}

TU_TASK_TEST(enter_at_uses_an_absolute_deadline)
{
    corio_scope s;
    double when = corio_now() + 0.1;
    assert_int_equal(corio_scope_enter_at(&s, when, 0), 0);
    assert_int_equal(corio_sleep(0.005), 0);
    assert_int_equal(corio_sleep(1), -ETIMEDOUT);
    assert_true(corio_now() >= when);
    assert_int_equal(corio_scope_exit(&s), 1);
    /* A deadline in the past: expired at once. */
    assert_int_equal(corio_scope_enter_at(&s, corio_now() - 1, 0), 0);
    assert_int_equal(corio_yield(), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&s), 1);
    return NULL;
}

/* ---- nesting ------------------------------------------------------------------------*/

TU_TASK_TEST(nested_scopes_nearest_deadline_wins_inner_first)
{
    corio_scope outer, inner;
    double t0 = corio_now();
    corio_scope_enter(&outer, 1.5, 0);
    corio_scope_enter(&inner, 0.01, 0);
    assert_int_equal(corio_sleep(10), -ETIMEDOUT);
    /* If the outer deadline won instead, this would take the whole 1.5 s. */
    assert_true(corio_now() - t0 >= 0.01 && corio_now() - t0 < 1.0);
    assert_int_equal(corio_scope_exit(&inner), 1);
    /* The outer scope has not expired: calls work until it does. */
    assert_int_equal(corio_scope_expired(&outer), 0);
    assert_int_equal(corio_sleep(0.001), 0);
    assert_int_equal(corio_sleep(10), -ETIMEDOUT);
    assert_true(corio_now() - t0 >= 1.5);
    assert_int_equal(corio_scope_exit(&outer), 1);
    return NULL;
}

TU_TASK_TEST(nested_scopes_nearest_deadline_wins_outer_first)
{
    corio_scope outer, inner;
    double t0 = corio_now();
    corio_scope_enter(&outer, 0.01, 0);
    corio_scope_enter(&inner, 5, 0);
    assert_int_equal(corio_sleep(10), -ETIMEDOUT);
    assert_true(corio_now() - t0 >= 0.01 && corio_now() - t0 < 0.01 + tu_slack());
    /* The inner scope's own deadline did not pass: exit says 0. That is how
     * wait_for tells its own timeout from an outer one. */
    assert_int_equal(corio_scope_exit(&inner), 0);
    assert_int_equal(corio_sleep(0), -ETIMEDOUT); /* still inside outer */
    assert_int_equal(corio_scope_exit(&outer), 1);
    return NULL;
}

TU_TASK_TEST(scope_exit_must_be_innermost)
{
    corio_scope a, b;
    corio_scope_enter(&a, 5, 0);
    corio_scope_enter(&b, 0, 0);
    assert_int_equal(corio_scope_exit(&a), -EINVAL);
    /* Nothing changed: b still applies, a is still entered. */
    assert_int_equal(corio_yield(), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&b), 1);
    assert_int_equal(corio_scope_exit(&b), -EINVAL); /* twice */
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_scope_exit(&a), 0);
    return NULL;
}

/* ---- shields ------------------------------------------------------------------------*/

TU_TASK_TEST(shield_hides_an_expired_outer_deadline)
{
    corio_scope outer, shield;
    double t0;
    corio_scope_enter(&outer, 0, 0);
    assert_int_equal(corio_yield(), -ETIMEDOUT);
    corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
    t0 = corio_now();
    assert_int_equal(corio_sleep(0.02), 0);
    assert_true(corio_now() - t0 >= 0.02);
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_scope_exit(&shield), 0);
    assert_int_equal(corio_yield(), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&outer), 1);
    return NULL;
}

TU_TASK_TEST(shield_hides_an_outer_deadline_passing_while_inside)
{
    corio_scope outer, shield;
    double t0 = corio_now();
    corio_scope_enter(&outer, 0.01, 0);
    corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
    assert_int_equal(corio_sleep(0.03), 0); /* not woken at 0.01 */
    assert_true(corio_now() - t0 >= 0.03);
    assert_int_equal(corio_scope_exit(&shield), 0);
    assert_int_equal(corio_sleep(0), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&outer), 1);
    return NULL;
}

TU_TASK_TEST(shield_own_deadline_still_applies)
{
    corio_scope outer, shield;
    double t0;
    corio_scope_enter(&outer, 0, 0);
    corio_scope_enter(&shield, 0.02, CORIO_SCOPE_SHIELD);
    t0 = corio_now();
    assert_int_equal(corio_sleep(10), -ETIMEDOUT);
    assert_true(corio_now() - t0 >= 0.015);
    assert_true(corio_now() - t0 < 0.02 + tu_slack());
    assert_int_equal(corio_scope_exit(&shield), 1);
    assert_int_equal(corio_scope_exit(&outer), 1);
    return NULL;
}

TU_TASK_TEST(scope_inside_a_shield_still_times_out)
{
    corio_scope shield, inner;
    corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
    corio_scope_enter(&inner, 0.005, 0);
    assert_int_equal(corio_sleep(1), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&inner), 1);
    assert_int_equal(corio_sleep(0.001), 0);
    assert_int_equal(corio_scope_exit(&shield), 0);
    return NULL;
}

/* Cancellation and a timeout both pending: -ECANCELED wins; a shield hides
 * the cancellation and the outer timeout, but not its own deadline. */
static int both_rc[5];
static void *cancelled_in_expired_scope(void *arg)
{
    corio_scope s, sh;
    (void)arg;
    corio_scope_enter(&s, 0, 0); /* expired at once */
    corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
    both_rc[0] = corio_sleep(0.005); /* cancelled meanwhile, shielded */
    corio_scope_exit(&sh);
    both_rc[1] = corio_yield();      /* both pending: cancellation wins */
    both_rc[2] = corio_sleep(0);
    corio_scope_enter(&sh, 0.1, CORIO_SCOPE_SHIELD);
    both_rc[3] = corio_sleep(0.001); /* the shield hides both ... */
    both_rc[4] = corio_sleep(1);     /* ... but not its own deadline */
    corio_scope_exit(&sh);
    corio_scope_exit(&s);
    return NULL;
}

TU_TASK_TEST(cancellation_wins_over_a_timeout)
{
    corio_task *t = corio_spawn(cancelled_in_expired_scope, NULL);
    corio_cancel(t); /* never ran: it ends without running */
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    memset(both_rc, 0, sizeof both_rc);
    t = corio_spawn(cancelled_in_expired_scope, NULL);
    assert_int_equal(corio_yield(), 0); /* it runs and sleeps, shielded */
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(both_rc[0], 0);
    assert_int_equal(both_rc[1], -ECANCELED);
    assert_int_equal(both_rc[2], -ECANCELED);
    assert_int_equal(both_rc[3], 0);
    assert_int_equal(both_rc[4], -ETIMEDOUT);
    return NULL;
}

/* ---- moving deadlines ------------------------------------------------------------------*/

TU_TASK_TEST(set_deadline_moves_it_later)
{
    corio_scope s;
    double t0 = corio_now();
    corio_scope_enter(&s, 0.01, 0);
    corio_scope_set_deadline(&s, corio_now() + 0.2);
    assert_int_equal(corio_sleep(0.03), 0);
    assert_int_equal(corio_sleep(1), -ETIMEDOUT);
    assert_true(corio_now() - t0 >= 0.2);
    assert_int_equal(corio_scope_exit(&s), 1);
    return NULL;
}

TU_TASK_TEST(set_deadline_moves_it_earlier)
{
    corio_scope s;
    double t0 = corio_now();
    corio_scope_enter(&s, 10, 0);
    corio_scope_set_deadline(&s, corio_now() + 0.01);
    assert_int_equal(corio_sleep(10), -ETIMEDOUT);
    assert_true(corio_now() - t0 >= 0.01);
    assert_true(corio_now() - t0 < 0.01 + tu_slack());
    assert_int_equal(corio_scope_exit(&s), 1);
    /* Into the past: expired at once. */
    corio_scope_enter(&s, 10, 0);
    corio_scope_set_deadline(&s, corio_now() - 1);
    assert_int_equal(corio_scope_expired(&s), 1);
    assert_int_equal(corio_yield(), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&s), 1);
    /* To infinity: none. */
    corio_scope_enter(&s, 0.005, 0);
    corio_scope_set_deadline(&s, INFINITY);
    assert_int_equal(corio_sleep(0.01), 0);
    assert_int_equal(corio_scope_exit(&s), 0);
    return NULL;
}

/* A deadline moved past the end of a sleep does not cut the sleep short. */
TU_TASK_TEST(deadline_moved_later_does_not_cut_a_sleep)
{
    corio_scope s;
    double t0 = corio_now();
    corio_scope_enter(&s, 0.005, 0);
    /* Far beyond the sleep: a loaded machine can stall us for 100s of ms. */
    corio_scope_set_deadline(&s, t0 + 10);
    assert_int_equal(corio_sleep(0.02), 0);
    assert_true(corio_now() - t0 >= 0.02);
    assert_int_equal(corio_scope_exit(&s), 0);
    return NULL;
}

/* ---- wait_for --------------------------------------------------------------------------*/

static void *sleep_then_value(void *arg)
{
    int rc = corio_sleep(0.005);
    return rc ? corio_fail(rc) : arg;
}

TU_TASK_TEST(wait_for_task_in_time_returns_its_result)
{
    void *r = NULL;
    assert_int_equal(corio_wait_for(corio_spawn(sleep_then_value, (void *)6), 5, &r), 0);
    assert_ptr_equal(r, (void *)6);
    assert_int_equal(corio_sleep(0.001), 0); /* its scope is gone */
    return NULL;
}

TU_TASK_TEST(wait_for_task_timeout_cancels_and_frees_it)
{
    static int child_rc;
    double t0 = corio_now();
    child_rc = 1;
    assert_int_equal(corio_wait_for(corio_spawn(sleep_long, &child_rc), 0.01, NULL),
                     -ETIMEDOUT);
    assert_true(corio_now() - t0 >= 0.01 && corio_now() - t0 < 0.01 + tu_slack());
    assert_int_equal(corio_sleep(0.001), 0); /* only its own scope timed out */
    assert_int_equal(child_rc, -ECANCELED);
    assert_int_equal(corio_task_count(NULL), 1);
    return NULL;
}

TU_TASK_TEST(wait_for_inside_an_outer_timeout)
{
    static int child_rc;
    corio_scope s;
    child_rc = 1;
    corio_scope_enter(&s, 0.01, 0);
    assert_int_equal(corio_wait_for(corio_spawn(sleep_long, &child_rc), 5, NULL),
                     -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&s), 1);
    assert_int_equal(corio_sleep(0.001), 0);
    assert_int_equal(child_rc, -ECANCELED);
    assert_int_equal(corio_task_count(NULL), 1);
    return NULL;
}

/* ---- timeouts racing completion ----------------------------------------------------------
 * The deadline equals the completion time exactly (same absolute ns), so
 * both timers fire in the same wheel tick; which one is armed first
 * alternates. Whatever wins, the outcome must be whole: success with the
 * value, or -ETIMEDOUT with the work undone (task cancelled) or its result
 * still held by the future. Nothing is lost, leaked or delivered twice. */

#define RACE_ROUNDS 40

static double race_when;
static int race_child_rc, race_child_started;
static void *race_child(void *arg)
{
    race_child_started = 1;
    race_child_rc = corio_sleep_until(race_when);
    return race_child_rc ? corio_fail(race_child_rc) : arg;
}

TU_TASK_TEST(task_timeout_racing_completion_is_all_or_nothing)
{
    int round, ok = 0, timed_out = 0;
    for (round = 0; round < RACE_ROUNDS; round++) {
        corio_spawn_opts o = {0};
        corio_task *t;
        corio_scope s;
        void *r = NULL;
        int rc, expired;
        race_when = corio_now() + 0.003;
        race_child_rc = 1;
        race_child_started = 0;
        if (round & 1) {
            /* The child arms its timer first. */
            o.flags = CORIO_SPAWN_EAGER;
            assert_int_equal(corio_spawn_ex(&t, race_child, (void *)5, &o), 0);
            assert_int_equal(corio_scope_enter_at(&s, race_when, 0), 0);
        } else {
            /* We arm ours first (the child starts when we park). */
            assert_int_equal(corio_scope_enter_at(&s, race_when, 0), 0);
            assert_int_equal(corio_spawn_ex(&t, race_child, (void *)5, &o), 0);
        }
        rc = corio_await(t, &r);
        expired = corio_scope_exit(&s);
        assert_int_equal(expired, 1); /* the deadline did pass */
        if (rc == 0) {
            ok++;
            assert_ptr_equal(r, (void *)5);
            assert_int_equal(race_child_rc, 0);
        } else {
            timed_out++;
            assert_int_equal(rc, -ETIMEDOUT);
            /* The child was cancelled: its wait was undone, not completed.
             * If the 3 ms passed before we even parked (the OS held the
             * loop), it was cancelled before it started and never runs. */
            while (corio_task_count(NULL) > 1)
                assert_int_equal(corio_yield(), 0);
            if (race_child_started)
                assert_int_equal(race_child_rc, -ECANCELED);
            else
                assert_int_equal(race_child_rc, 1);
        }
        assert_int_equal(corio_yield(), 0);
        assert_int_equal(corio_task_count(NULL), 1); /* nothing left behind */
    }
    printf("    task race: %d completed, %d timed out\n", ok, timed_out);
    return NULL;
}

static corio_future *race_f;
static int race_set_rc;
static void race_complete(void *arg)
{
    race_set_rc = corio_future_set_result(race_f, arg);
}

/* Arms the completion from a task that runs once the waiter has parked, so
 * that the waiter's timer is armed first. */
static void *arm_completion_later(void *arg)
{
    assert_int_equal(corio_call_at(NULL, *(double *)arg, race_complete, (void *)9), 0);
    return NULL;
}

TU_TASK_TEST(future_timeout_racing_completion_loses_nothing)
{
    int round, ok = 0, timed_out = 0;
    for (round = 0; round < RACE_ROUNDS; round++) {
        corio_scope s;
        void *v = NULL;
        int rc;
        static double when;
        corio_task *helper = NULL;
        when = corio_now() + 0.003;
        assert_int_equal(corio_future_create(NULL, &race_f), 0);
        race_set_rc = 1;
        if (round & 1)
            assert_int_equal(corio_call_at(NULL, when, race_complete, (void *)9), 0);
        else
            helper = corio_spawn(arm_completion_later, &when);
        assert_int_equal(corio_scope_enter_at(&s, when, 0), 0);
        rc = corio_future_await(race_f, &v);
        assert_int_equal(corio_scope_exit(&s), 1);
        /* Outside the scope: awaited inside it after the timeout, a helper
         * that had not run yet (the 3 ms passed before the waiter parked,
         * as under Valgrind on a loaded machine) was cancelled unstarted,
         * and nothing ever completed the future. */
        if (helper)
            assert_int_equal(corio_await(helper, NULL), 0);
        assert_int_equal(corio_sleep(0.002), 0); /* the completion has run */
        assert_int_equal(race_set_rc, 0);
        if (rc == 0) {
            ok++;
            assert_ptr_equal(v, (void *)9);
        } else {
            timed_out++;
            assert_int_equal(rc, -ETIMEDOUT);
        }
        /* Either way the value is in the future, exactly once. */
        assert_int_equal(corio_future_result(race_f, &v), 0);
        assert_ptr_equal(v, (void *)9);
        corio_future_destroy(race_f);
    }
    printf("    future race: %d completed, %d timed out\n", ok, timed_out);
    return NULL;
}

/* corio_future_wait_for cancels the future when its own timeout wins; the
 * producer then sees its completion refused (-EALREADY) and keeps what it
 * would have handed over. */
TU_TASK_TEST(future_wait_for_racing_completion_is_all_or_nothing)
{
    int round, ok = 0, timed_out = 0;
    for (round = 0; round < RACE_ROUNDS; round++) {
        void *v = NULL;
        int rc;
        static const double offset[] = {-0.0002, 0, 0.0002, 0.003};
        double timeout = 0.003;
        assert_int_equal(corio_future_create(NULL, &race_f), 0);
        race_set_rc = 1;
        /* corio_future_wait_for takes a relative timeout: aim the producer
         * just before, at, just after (same 1 ms tick) and well after the
         * waiter's deadline. */
        assert_int_equal(corio_call_later(NULL, timeout + offset[round % 4], race_complete,
                                          (void *)9), 0);
        rc = corio_future_wait_for(race_f, timeout, &v);
        assert_int_equal(corio_sleep(0.005), 0);
        assert_true(race_set_rc == 0 || race_set_rc == -EALREADY);
        if (rc == 0) {
            ok++;
            assert_ptr_equal(v, (void *)9);
            assert_int_equal(race_set_rc, 0);
        } else {
            timed_out++;
            assert_int_equal(rc, -ETIMEDOUT);
            if (race_set_rc == 0) {
                /* Completed after the timeout woke us: kept in f. */
                assert_int_equal(corio_future_result(race_f, &v), 0);
                assert_ptr_equal(v, (void *)9);
            } else {
                assert_int_equal(corio_future_result(race_f, NULL), -ECANCELED);
            }
        }
        corio_future_destroy(race_f);
    }
    printf("    future wait_for race: %d completed, %d timed out\n", ok, timed_out);
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scope_enter_outside_a_task_is_eperm),
        cmocka_unit_test(timeout_is_level_triggered_inside_the_expired_scope),
        cmocka_unit_test(timeout_argument_zero_expired_negative_or_infinite_none),
        cmocka_unit_test(enter_at_uses_an_absolute_deadline),
        cmocka_unit_test(nested_scopes_nearest_deadline_wins_inner_first),
        cmocka_unit_test(nested_scopes_nearest_deadline_wins_outer_first),
        cmocka_unit_test(scope_exit_must_be_innermost),
        cmocka_unit_test(shield_hides_an_expired_outer_deadline),
        cmocka_unit_test(shield_hides_an_outer_deadline_passing_while_inside),
        cmocka_unit_test(shield_own_deadline_still_applies),
        cmocka_unit_test(scope_inside_a_shield_still_times_out),
        cmocka_unit_test(cancellation_wins_over_a_timeout),
        cmocka_unit_test(set_deadline_moves_it_later),
        cmocka_unit_test(set_deadline_moves_it_earlier),
        cmocka_unit_test(deadline_moved_later_does_not_cut_a_sleep),
        cmocka_unit_test(checkpoint_reports_cancellation_and_expiry_without_suspending),
        cmocka_unit_test(checkpoint_outside_a_task_is_0),
        cmocka_unit_test(wait_for_task_in_time_returns_its_result),
        cmocka_unit_test(wait_for_task_timeout_cancels_and_frees_it),
        cmocka_unit_test(wait_for_inside_an_outer_timeout),
        cmocka_unit_test(task_timeout_racing_completion_is_all_or_nothing),
        cmocka_unit_test(future_timeout_racing_completion_loses_nothing),
        cmocka_unit_test(future_wait_for_racing_completion_is_all_or_nothing),
    };
    return tu_run_both_modes(tests);
}
