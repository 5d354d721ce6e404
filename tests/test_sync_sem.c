/* Semaphore, BoundedSemaphore and Event: the scenarios of CPython's
 * test_locks.py (FIFO order, cancel before/after being awoken, the
 * bpo-45997 hang, bounded release, event set/clear races). */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static corio_sem *S;
static corio_event *E;
static int result[16], nresult;

static void *sem_and_log(void *arg)
{
    int rc = corio_sem_acquire(S);
    if (rc)
        return corio_fail(rc);
    result[nresult++] = I(arg);
    return NULL; /* keeps the unit */
}

/* ---- Semaphore ----------------------------------------------------------*/

/* test_acquire: value 3; 4 acquirers: 3 pass, one waits; releases serve
 * the waiters FIFO. */
static void *main_sem_fifo(void *arg)
{
    corio_task *t[5];
    int i;
    nresult = 0;
    assert_int_equal(corio_sem_create(&S, 3), 0);
    assert_false(corio_sem_locked(S));
    for (i = 0; i < 5; i++)
        t[i] = corio_spawn(sem_and_log, P(i + 1));
    corio_yield();
    assert_int_equal(nresult, 3);
    assert_true(corio_sem_locked(S));
    assert_int_equal(corio_sem_value(S), 0);
    assert_int_equal(corio_sem_try_acquire(S), -EAGAIN);
    assert_int_equal(corio_sem_release(S), 0);
    /* Handed to t[3]: the value stays 0 so a newcomer cannot take it. */
    assert_int_equal(corio_sem_value(S), 0);
    assert_int_equal(corio_sem_try_acquire(S), -EAGAIN);
    corio_sem_release(S);
    for (i = 0; i < 5; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    for (i = 0; i < 5; i++)
        assert_int_equal(result[i], i + 1);
    corio_sem_release(S);
    assert_int_equal(corio_sem_value(S), 1);
    corio_sem_destroy(S);
    return NULL;
}
static void test_sem_fifo(void **s) { assert_int_equal(tu_run(main_sem_fifo, NULL, NULL), 0); }

/* test_acquire_cancel_before_awoken / bpo-45997 (test_acquire_hang): a
 * waiter cancelled before release never takes the unit, the unit goes to
 * the next waiter, and nothing hangs. */
static void *main_sem_cancel(void *arg)
{
    corio_task *t1, *t2, *t3;
    nresult = 0;
    corio_sem_create(&S, 0);
    t1 = corio_spawn(sem_and_log, P(1));
    t2 = corio_spawn(sem_and_log, P(2));
    t3 = corio_spawn(sem_and_log, P(3));
    corio_yield();
    corio_cancel(t1);
    corio_sem_release(S);
    corio_cancel(t3);
    assert_int_equal(corio_await(t1, NULL), -ECANCELED);
    assert_int_equal(corio_await(t2, NULL), 0);
    assert_int_equal(corio_await(t3, NULL), -ECANCELED);
    assert_int_equal(nresult, 1);
    assert_int_equal(result[0], 2);
    assert_int_equal(corio_sem_value(S), 0); /* t2 holds it; none leaked */
    corio_sem_destroy(S);
    return NULL;
}
static void test_sem_cancel(void **s) { assert_int_equal(tu_run(main_sem_cancel, NULL, NULL), 0); }

/* Awoken (handed the unit) then cancelled: keeps the unit (first wake
 * wins), so the total of units is conserved. */
static int rec_rc;
static void *sem_record(void *arg)
{
    rec_rc = corio_sem_acquire(S);
    return NULL;
}

static void *main_sem_woken_cancelled(void *arg)
{
    corio_task *t;
    rec_rc = 1;
    corio_sem_create(&S, 0);
    t = corio_spawn(sem_record, NULL);
    corio_yield();
    corio_sem_release(S);
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(rec_rc, 0);
    assert_int_equal(corio_sem_value(S), 0);
    corio_sem_destroy(S);
    return NULL;
}
static void test_sem_woken_cancelled(void **s) { assert_int_equal(tu_run(main_sem_woken_cancelled, NULL, NULL), 0); }

/* BoundedSemaphore: release above the initial value is -EOVERFLOW and
 * changes nothing. */
static void test_bounded(void **s)
{
    assert_int_equal(corio_sem_create_bounded(&S, 2), 0);
    assert_int_equal(corio_sem_release(S), -EOVERFLOW);
    assert_int_equal(corio_sem_try_acquire(S), 0);
    assert_int_equal(corio_sem_release(S), 0);
    assert_int_equal(corio_sem_value(S), 2);
    assert_int_equal(corio_sem_release(S), -EOVERFLOW);
    assert_int_equal(corio_sem_value(S), 2);
    corio_sem_destroy(S);
    /* A plain semaphore may be released above its start. */
    assert_int_equal(corio_sem_create(&S, 0), 0);
    assert_int_equal(corio_sem_release(S), 0);
    assert_int_equal(corio_sem_release(S), 0);
    assert_int_equal(corio_sem_value(S), 2);
    assert_int_equal(corio_sem_acquire(S), -EPERM); /* not in a task */
    corio_sem_destroy(S);
    assert_int_equal(corio_sem_create(NULL, 1), -EINVAL);
}

/* Timeout while waiting: the semaphore is unchanged. */
static void *main_sem_timeout(void *arg)
{
    corio_scope sc;
    corio_sem_create(&S, 0);
    corio_scope_enter(&sc, 0.01, 0);
    assert_int_equal(corio_sem_acquire(S), -ETIMEDOUT);
    corio_scope_exit(&sc);
    corio_sem_release(S);
    assert_int_equal(corio_sem_value(S), 1); /* no stale waiter took it */
    assert_int_equal(corio_sem_acquire(S), 0);
    corio_sem_destroy(S);
    return NULL;
}
static void test_sem_timeout(void **s) { assert_int_equal(tu_run(main_sem_timeout, NULL, NULL), 0); }

/* ---- Event ------------------------------------------------------------------*/

static void *event_waiter(void *arg)
{
    int rc = corio_event_wait(E);
    if (rc == 0)
        result[nresult++] = I(arg);
    return rc ? corio_fail(rc) : NULL;
}

/* test_wait: set wakes every waiter, in order; waits on a set event return
 * at once. */
static void *main_event(void *arg)
{
    corio_task *t[3];
    int i;
    nresult = 0;
    assert_int_equal(corio_event_create(&E), 0);
    assert_false(corio_event_is_set(E));
    for (i = 0; i < 3; i++)
        t[i] = corio_spawn(event_waiter, P(i + 1));
    corio_yield();
    assert_int_equal(nresult, 0);
    corio_event_set(E);
    assert_true(corio_event_is_set(E));
    for (i = 0; i < 3; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    for (i = 0; i < 3; i++)
        assert_int_equal(result[i], i + 1);
    assert_int_equal(corio_event_wait(E), 0);
    corio_event_clear(E);
    assert_false(corio_event_is_set(E));
    corio_event_destroy(E);
    return NULL;
}
static void test_event(void **s) { assert_int_equal(tu_run(main_event, NULL, NULL), 0); }

/* test_clear_with_waiters: set() then clear() before the waiters run: they
 * were woken and stay woken. */
static void *main_event_set_clear(void *arg)
{
    corio_task *t;
    nresult = 0;
    corio_event_create(&E);
    t = corio_spawn(event_waiter, P(1));
    corio_yield();
    corio_event_set(E);
    corio_event_clear(E);
    corio_event_set(E);
    corio_event_clear(E);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(nresult, 1);
    corio_event_destroy(E);
    return NULL;
}
static void test_event_set_clear(void **s) { assert_int_equal(tu_run(main_event_set_clear, NULL, NULL), 0); }

/* test_wait_cancel: a cancelled waiter goes; the others still wake. */
static void *main_event_cancel(void *arg)
{
    corio_task *t1, *t2;
    corio_scope sc;
    nresult = 0;
    corio_event_create(&E);
    t1 = corio_spawn(event_waiter, P(1));
    t2 = corio_spawn(event_waiter, P(2));
    corio_yield();
    corio_cancel(t1);
    assert_int_equal(corio_await(t1, NULL), -ECANCELED);
    corio_scope_enter(&sc, 0.005, 0);
    assert_int_equal(corio_event_wait(E), -ETIMEDOUT);
    corio_scope_exit(&sc);
    corio_event_set(E);
    assert_int_equal(corio_await(t2, NULL), 0);
    assert_int_equal(nresult, 1);
    assert_int_equal(result[0], 2);
    corio_event_destroy(E);
    return NULL;
}
static void test_event_cancel(void **s) { assert_int_equal(tu_run(main_event_cancel, NULL, NULL), 0); }

/* Destroy with waiters: -EIDRM. Set from a plain callback works. */
static void set_cb(void *arg) { corio_event_set(arg); }

static void *main_event_misc(void *arg)
{
    corio_task *t;
    corio_event_create(&E);
    corio_call_later(NULL, 0.005, set_cb, E);
    assert_int_equal(corio_event_wait(E), 0);
    corio_event_destroy(E);
    corio_event_create(&E);
    t = corio_spawn(event_waiter, P(1));
    corio_yield();
    corio_event_destroy(E);
    assert_int_equal(corio_await(t, NULL), -EIDRM);
    corio_sem_create(&S, 0);
    t = corio_spawn(sem_and_log, P(1));
    corio_yield();
    corio_sem_destroy(S);
    assert_int_equal(corio_await(t, NULL), -EIDRM);
    return NULL;
}
static void test_event_misc(void **s) { assert_int_equal(tu_run(main_event_misc, NULL, NULL), 0); }


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sem_fifo),
        cmocka_unit_test(test_sem_cancel),
        cmocka_unit_test(test_sem_woken_cancelled),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_sem_timeout),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_event_set_clear),
        cmocka_unit_test(test_event_cancel),
        cmocka_unit_test(test_event_misc),
    };
    return tu_run_both_modes(tests);
}
