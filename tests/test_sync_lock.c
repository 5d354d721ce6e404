/* Lock and Condition: the scenarios of CPython's test_locks.py (FIFO
 * order, cancellation in every state, the cancel/release races, condition
 * notify/wait/wait_for, re-acquire after cancellation, gh-112202's
 * cancelled waiter not eating a notification) plus owner checks. */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static corio_lock *L;
static corio_cond *C;
static int result[16], nresult;

static void *lock_and_log(void *arg)
{
    int rc = corio_lock_acquire(L);
    if (rc)
        return corio_fail(rc);
    result[nresult++] = I(arg);
    corio_yield(); /* hold it across a suspension */
    corio_lock_release(L);
    return NULL;
}

/* ---- Lock ---------------------------------------------------------------*/

/* test_acquire: waiters get the lock in arrival order. */
static void *main_fifo(void *arg)
{
    corio_task *t[3];
    int i;
    nresult = 0;
    assert_int_equal(corio_lock_create(&L), 0);
    assert_int_equal(corio_lock_acquire(L), 0);
    assert_true(corio_lock_locked(L));
    assert_ptr_equal(corio_lock_owner(L), corio_current());
    for (i = 0; i < 3; i++)
        t[i] = corio_spawn(lock_and_log, P(i + 1));
    corio_yield();
    assert_int_equal(nresult, 0);
    assert_int_equal(corio_lock_release(L), 0);
    /* Handed off, not just released: the first waiter owns it now, before
     * it even ran, so nobody can barge in. */
    assert_ptr_equal(corio_lock_owner(L), t[0]);
    assert_int_equal(corio_lock_try_acquire(L), -EBUSY);
    for (i = 0; i < 3; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    for (i = 0; i < 3; i++)
        assert_int_equal(result[i], i + 1);
    assert_false(corio_lock_locked(L));
    corio_lock_destroy(L);
    return NULL;
}
static void test_lock_fifo(void **s) { assert_int_equal(tu_run(main_fifo, NULL, NULL), 0); }

/* Owner rules: release by a non-owner or of an unlocked lock is -EPERM;
 * re-acquire by the owner is -EDEADLK. */
static void *other_release(void *arg) { return P(corio_lock_release(L)); }

static void *main_owner(void *arg)
{
    void *r;
    assert_int_equal(corio_lock_create(&L), 0);
    assert_int_equal(corio_lock_release(L), -EPERM);
    assert_int_equal(corio_lock_try_acquire(L), 0);
    assert_int_equal(corio_lock_acquire(L), -EDEADLK);
    assert_int_equal(corio_lock_try_acquire(L), -EDEADLK);
    assert_int_equal(corio_await(corio_spawn(other_release, NULL), &r), 0);
    assert_int_equal(I(r), -EPERM);
    assert_true(corio_lock_locked(L));
    assert_int_equal(corio_lock_release(L), 0);
    assert_int_equal(corio_lock_release(L), -EPERM);
    corio_lock_destroy(L);
    return NULL;
}
static void test_lock_owner(void **s) { assert_int_equal(tu_run(main_owner, NULL, NULL), 0); }

static void test_lock_outside_task(void **s)
{
    corio_lock *l;
    assert_int_equal(corio_lock_create(&l), 0);
    assert_int_equal(corio_lock_acquire(l), -EPERM);
    assert_int_equal(corio_lock_try_acquire(l), -EPERM);
    assert_int_equal(corio_lock_release(l), -EPERM);
    assert_int_equal(corio_lock_create(NULL), -EINVAL);
    corio_lock_destroy(l);
    corio_lock_destroy(NULL);
}

/* test_acquire_cancel: a cancelled waiter never gets the lock. */
static void *main_acquire_cancel(void *arg)
{
    corio_task *t;
    nresult = 0;
    corio_lock_create(&L);
    corio_lock_acquire(L);
    t = corio_spawn(lock_and_log, P(1));
    corio_yield();
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(corio_lock_release(L), 0);
    assert_false(corio_lock_locked(L));
    assert_int_equal(nresult, 0);
    corio_lock_destroy(L);
    return NULL;
}
static void test_lock_acquire_cancel(void **s) { assert_int_equal(tu_run(main_acquire_cancel, NULL, NULL), 0); }

/* test_cancel_race: ta, tb, tc wait; tb is cancelled; releases go to ta
 * then tc. */
static void *main_cancel_race(void *arg)
{
    corio_task *ta, *tb, *tc;
    nresult = 0;
    corio_lock_create(&L);
    corio_lock_acquire(L);
    ta = corio_spawn(lock_and_log, P(1));
    tb = corio_spawn(lock_and_log, P(2));
    tc = corio_spawn(lock_and_log, P(3));
    corio_yield();
    corio_cancel(tb);
    corio_lock_release(L);
    assert_ptr_equal(corio_lock_owner(L), ta);
    assert_int_equal(corio_await(ta, NULL), 0);
    assert_int_equal(corio_await(tb, NULL), -ECANCELED);
    assert_int_equal(corio_await(tc, NULL), 0);
    assert_int_equal(nresult, 2);
    assert_int_equal(result[0], 1);
    assert_int_equal(result[1], 3);
    assert_false(corio_lock_locked(L));
    corio_lock_destroy(L);
    return NULL;
}
static void test_lock_cancel_race(void **s) { assert_int_equal(tu_run(main_cancel_race, NULL, NULL), 0); }

/* test_cancel_release_race: the lock is handed to ta and ta is cancelled
 * before it runs. First wake wins: ta owns the lock and its acquire
 * returned 0, so it releases it and tb gets it — no deadlock, no lost
 * lock. */
static int ta_rc;
static void *acquire_record(void *arg)
{
    ta_rc = corio_lock_acquire(L);
    if (ta_rc == 0) {
        /* We own it; cancellation is pending and shows at the next
         * suspension, but release is not one. */
        assert_int_equal(corio_yield(), -ECANCELED);
        corio_lock_release(L);
    }
    return NULL;
}

static void *main_cancel_release_race(void *arg)
{
    corio_task *ta, *tb;
    nresult = 0;
    ta_rc = 1;
    corio_lock_create(&L);
    corio_lock_acquire(L);
    ta = corio_spawn(acquire_record, NULL);
    tb = corio_spawn(lock_and_log, P(2));
    corio_yield();
    corio_lock_release(L); /* handed to ta */
    corio_cancel(ta);      /* ... which is cancelled before it runs */
    assert_ptr_equal(corio_lock_owner(L), ta);
    assert_int_equal(corio_await(ta, NULL), -ECANCELED);
    assert_int_equal(ta_rc, 0);
    assert_int_equal(corio_await(tb, NULL), 0);
    assert_int_equal(nresult, 1);
    assert_false(corio_lock_locked(L));
    corio_lock_destroy(L);
    return NULL;
}
static void test_lock_cancel_release_race(void **s) { assert_int_equal(tu_run(main_cancel_release_race, NULL, NULL), 0); }

/* A waiter timing out (scope) leaves the lock intact; the next waiter is
 * served. */
static void *acquire_timeout(void *arg)
{
    corio_scope sc;
    int rc;
    corio_scope_enter(&sc, 0.01, 0);
    rc = corio_lock_acquire(L);
    corio_scope_exit(&sc);
    if (rc == 0)
        corio_lock_release(L);
    return P(rc);
}

static void *main_timeout(void *arg)
{
    corio_task *t1, *t2;
    void *r;
    nresult = 0;
    corio_lock_create(&L);
    corio_lock_acquire(L);
    t1 = corio_spawn(acquire_timeout, NULL);
    t2 = corio_spawn(lock_and_log, P(7));
    assert_int_equal(corio_await(t1, &r), 0);
    assert_int_equal(I(r), -ETIMEDOUT);
    corio_lock_release(L);
    assert_int_equal(corio_await(t2, NULL), 0);
    assert_int_equal(result[0], 7);
    corio_lock_destroy(L);
    return NULL;
}
static void test_lock_timeout(void **s) { assert_int_equal(tu_run(main_timeout, NULL, NULL), 0); }

/* A cancelled task's acquire fails at once, even on a free lock. */
static void *cancelled_acquire(void *arg)
{
    corio_cancel(corio_current());
    return P(corio_lock_acquire(L));
}

static void *main_cancelled_first(void *arg)
{
    void *r;
    corio_lock_create(&L);
    assert_int_equal(corio_await(corio_spawn(cancelled_acquire, NULL), &r), -ECANCELED);
    assert_int_equal(I(r), -ECANCELED);
    assert_false(corio_lock_locked(L));
    corio_lock_destroy(L);
    return NULL;
}
static void test_lock_cancelled_first(void **s) { assert_int_equal(tu_run(main_cancelled_first, NULL, NULL), 0); }

/* Destroying a lock with waiters wakes them with -EIDRM. */
static void *main_destroy(void *arg)
{
    corio_task *t;
    corio_lock_create(&L);
    corio_lock_acquire(L);
    t = corio_spawn(lock_and_log, P(1));
    corio_yield();
    corio_lock_destroy(L);
    assert_int_equal(corio_await(t, NULL), -EIDRM);
    return NULL;
}
static void test_lock_destroy_waiters(void **s) { assert_int_equal(tu_run(main_destroy, NULL, NULL), 0); }

/* ---- Condition ------------------------------------------------------------*/

static void *cond_waiter(void *arg)
{
    int rc;
    if (corio_cond_acquire(C))
        return corio_fail(-EIO);
    rc = corio_cond_wait(C);
    /* Whatever wait returned, we hold the lock again. */
    if (corio_lock_owner(corio_cond_lock(C)) != corio_current())
        return corio_fail(-EFAULT);
    if (rc == 0)
        result[nresult++] = I(arg);
    corio_cond_release(C);
    return rc ? corio_fail(rc) : NULL;
}

/* test_wait / test_notify: notify(1) wakes in FIFO order; notify_all the
 * rest; waiters run with the lock held. */
static void *main_cond_notify(void *arg)
{
    corio_task *t[3];
    int i;
    nresult = 0;
    assert_int_equal(corio_cond_create(&C, NULL), 0);
    for (i = 0; i < 3; i++)
        t[i] = corio_spawn(cond_waiter, P(i + 1));
    corio_yield();
    assert_false(corio_lock_locked(corio_cond_lock(C)));
    assert_int_equal(corio_cond_notify(C, 1), -EPERM); /* lock not held */
    corio_cond_acquire(C);
    assert_int_equal(corio_cond_notify(C, 1), 1);
    corio_cond_release(C);
    corio_yield();
    assert_int_equal(nresult, 1);
    assert_int_equal(result[0], 1);
    corio_cond_acquire(C);
    assert_int_equal(corio_cond_notify_all(C), 2);
    assert_int_equal(corio_cond_notify_all(C), 0);
    corio_cond_release(C);
    for (i = 0; i < 3; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    assert_int_equal(result[1], 2);
    assert_int_equal(result[2], 3);
    corio_cond_destroy(C);
    return NULL;
}
static void test_cond_notify(void **s) { assert_int_equal(tu_run(main_cond_notify, NULL, NULL), 0); }

/* test_wait_unacquired / wait while cancelled. */
static void *main_cond_unacquired(void *arg)
{
    corio_lock *l;
    corio_lock_create(&l);
    assert_int_equal(corio_cond_create(&C, l), 0);
    assert_ptr_equal(corio_cond_lock(C), l);
    assert_int_equal(corio_cond_wait(C), -EPERM);
    corio_cond_destroy(C);
    assert_int_equal(corio_lock_try_acquire(l), 0); /* given lock survives */
    corio_lock_release(l);
    corio_lock_destroy(l);
    return NULL;
}
static void test_cond_unacquired(void **s) { assert_int_equal(tu_run(main_cond_unacquired, NULL, NULL), 0); }

/* test_wait_cancel_contested: cancelled while waiting, when the lock is
 * held by someone else: wait returns -ECANCELED only once it holds the
 * lock again. */
static void *main_cond_cancel_contested(void *arg)
{
    corio_task *t;
    nresult = 0;
    corio_cond_create(&C, NULL);
    t = corio_spawn(cond_waiter, P(1));
    corio_yield();
    corio_cond_acquire(C); /* main holds the lock */
    corio_cancel(t);
    corio_yield();
    corio_yield();
    /* t is stuck re-acquiring (uninterruptibly) behind us. */
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    corio_cond_release(C);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(nresult, 0);
    assert_false(corio_lock_locked(corio_cond_lock(C)));
    corio_cond_destroy(C);
    return NULL;
}
static void test_cond_cancel_contested(void **s) { assert_int_equal(tu_run(main_cond_cancel_contested, NULL, NULL), 0); }

/* gh-112202: a waiter cancelled before the notify does not consume it; the
 * next waiter is woken instead. */
static void *main_cond_cancelled_no_eat(void *arg)
{
    corio_task *t1, *t2;
    nresult = 0;
    corio_cond_create(&C, NULL);
    t1 = corio_spawn(cond_waiter, P(1));
    t2 = corio_spawn(cond_waiter, P(2));
    corio_yield();
    corio_cancel(t1);
    corio_cond_acquire(C);
    assert_int_equal(corio_cond_notify(C, 1), 1);
    corio_cond_release(C);
    assert_int_equal(corio_await(t1, NULL), -ECANCELED);
    assert_int_equal(corio_await(t2, NULL), 0);
    assert_int_equal(nresult, 1);
    assert_int_equal(result[0], 2);
    corio_cond_destroy(C);
    return NULL;
}
static void test_cond_cancelled_no_eat(void **s) { assert_int_equal(tu_run(main_cond_cancelled_no_eat, NULL, NULL), 0); }

/* Notified, then cancelled before it ran: the notification was consumed,
 * so wait returns 0 with the lock held (first wake wins). */
static int cw_rc;
static void *cond_waiter_record(void *arg)
{
    corio_cond_acquire(C);
    cw_rc = corio_cond_wait(C);
    corio_cond_release(C);
    return NULL;
}

static void *main_cond_notified_then_cancelled(void *arg)
{
    corio_task *t;
    cw_rc = 1;
    corio_cond_create(&C, NULL);
    t = corio_spawn(cond_waiter_record, NULL);
    corio_yield();
    corio_cond_acquire(C);
    corio_cond_notify(C, 1);
    corio_cancel(t);
    corio_cond_release(C);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(cw_rc, 0);
    assert_false(corio_lock_locked(corio_cond_lock(C)));
    corio_cond_destroy(C);
    return NULL;
}
static void test_cond_notified_then_cancelled(void **s) { assert_int_equal(tu_run(main_cond_notified_then_cancelled, NULL, NULL), 0); }

/* test_wait_for + test_timeout_in_block: wait_for re-checks the predicate;
 * a timeout returns -ETIMEDOUT with the lock held. */
static int presult;
static int pred(void *arg) { return presult; }

static void *wait_for_task(void *arg)
{
    int rc;
    corio_cond_acquire(C);
    rc = corio_cond_wait_for(C, pred, NULL);
    result[nresult++] = rc;
    corio_cond_release(C);
    return NULL;
}

static void *main_cond_wait_for(void *arg)
{
    corio_task *t;
    corio_scope sc;
    nresult = 0;
    presult = 0;
    corio_cond_create(&C, NULL);
    t = corio_spawn(wait_for_task, NULL);
    corio_yield();
    corio_cond_acquire(C);
    corio_cond_notify(C, 1); /* predicate still false: waits again */
    corio_cond_release(C);
    corio_yield();
    corio_yield();
    assert_int_equal(nresult, 0);
    corio_cond_acquire(C);
    presult = 1;
    corio_cond_notify(C, 1);
    corio_cond_release(C);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(nresult, 1);
    assert_int_equal(result[0], 0);

    presult = 0;
    corio_cond_acquire(C);
    corio_scope_enter(&sc, 0.01, 0);
    assert_int_equal(corio_cond_wait_for(C, pred, NULL), -ETIMEDOUT);
    corio_scope_exit(&sc);
    assert_ptr_equal(corio_lock_owner(corio_cond_lock(C)), corio_current());
    corio_cond_release(C);
    assert_int_equal(corio_cond_wait_for(C, NULL, NULL), -EINVAL);
    corio_cond_destroy(C);
    return NULL;
}
static void test_cond_wait_for(void **s) { assert_int_equal(tu_run(main_cond_wait_for, NULL, NULL), 0); }

/* Every test runs twice, the second time in CORIO_STACK_COMPACT mode. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_fifo),
        cmocka_unit_test(test_lock_owner),
        cmocka_unit_test(test_lock_outside_task),
        cmocka_unit_test(test_lock_acquire_cancel),
        cmocka_unit_test(test_lock_cancel_race),
        cmocka_unit_test(test_lock_cancel_release_race),
        cmocka_unit_test(test_lock_timeout),
        cmocka_unit_test(test_lock_cancelled_first),
        cmocka_unit_test(test_lock_destroy_waiters),
        cmocka_unit_test(test_cond_notify),
        cmocka_unit_test(test_cond_unacquired),
        cmocka_unit_test(test_cond_cancel_contested),
        cmocka_unit_test(test_cond_cancelled_no_eat),
        cmocka_unit_test(test_cond_notified_then_cancelled),
        cmocka_unit_test(test_cond_wait_for),
    };
    return tu_run_both_modes(tests);
}
