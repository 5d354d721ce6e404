/* gather, wait, as_completed and shield: the scenarios of CPython's
 * test_tasks.py (gather order, return_exceptions, failing fast with the
 * others left running or cancelled, cancelling the gather cancels the
 * children, wait's three modes and timeout, as_completed's order and
 * timeout, shield) plus ownership rules of the C API. */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

/* A child: sleeps ms milliseconds (arg = ms*10 + how), then returns
 * ms (how 0), fails with -EIO (how 1), or cancels itself (how 2). */
static int finished[16], nfinished;
static void *child(void *arg)
{
    int a = I(arg), ms = a / 10, how = a % 10, rc;
    rc = corio_sleep(ms / 1000.0);
    if (rc)
        return corio_fail(rc);
    finished[nfinished++] = ms;
    if (how == 1)
        return corio_fail(-EIO);
    if (how == 2) {
        corio_cancel(corio_current());
        corio_yield();
        return NULL;
    }
    return P(ms);
}
/* Each child's sleep counts from its own start, and starting a task (a
 * stack to map) can take milliseconds under TSan on a loaded machine, where
 * the OS may also hold the loop for 100 ms and more: sleeps whose order a
 * test asserts are 100 ms or more apart. */
#define OK(ms) P((ms) * 10)
#define FAIL(ms) P((ms) * 10 + 1)
#define CANCEL(ms) P((ms) * 10 + 2)

/* ---- gather -----------------------------------------------------------*/

/* Results come back in input order, not completion order. */
static void *main_gather_order(void *arg)
{
    corio_task *t[3];
    void *res[3];
    int st[3];
    nfinished = 0;
    t[0] = corio_spawn(child, OK(300));
    t[1] = corio_spawn(child, OK(100));
    t[2] = corio_spawn(child, OK(200));
    assert_int_equal(corio_gather(t, 3, res, st, 0), 0);
    assert_int_equal(I(res[0]), 300);
    assert_int_equal(I(res[1]), 100);
    assert_int_equal(I(res[2]), 200);
    assert_int_equal(st[0] | st[1] | st[2], 0);
    assert_int_equal(finished[0], 100); /* they ran concurrently */
    /* Empty gather: nothing to wait for. */
    assert_int_equal(corio_gather(NULL, 0, NULL, NULL, 0), 0);
    return NULL;
}
static void test_gather_order(void **s) { assert_int_equal(tu_run(main_gather_order, NULL, NULL), 0); }

/* return_exceptions=True: every status reported, the count of failures
 * returned; nothing is cancelled. */
static void *main_gather_all_errors(void *arg)
{
    corio_task *t[4];
    void *res[4];
    int st[4];
    nfinished = 0;
    t[0] = corio_spawn(child, OK(5));
    t[1] = corio_spawn(child, FAIL(1));
    t[2] = corio_spawn(child, CANCEL(2));
    t[3] = corio_spawn(child, OK(10));
    assert_int_equal(corio_gather(t, 4, res, st, CORIO_GATHER_ALL_ERRORS), 2);
    assert_int_equal(st[0], 0);
    assert_int_equal(I(res[0]), 5);
    assert_int_equal(st[1], -EIO);
    assert_null(res[1]);
    assert_int_equal(st[2], -ECANCELED);
    assert_int_equal(st[3], 0);
    assert_int_equal(I(res[3]), 10);
    assert_int_equal(nfinished, 4);
    return NULL;
}
static void test_gather_all_errors(void **s) { assert_int_equal(tu_run(main_gather_all_errors, NULL, NULL), 0); }

/* Fail fast, default: the first failure returns at once; the others keep
 * running detached (asyncio's behaviour) and still finish. */
static void *main_gather_fail_fast_leave(void *arg)
{
    corio_task *t[3];
    int st[3];
    double t0 = corio_now();
    nfinished = 0;
    t[0] = corio_spawn(child, OK(400));
    t[1] = corio_spawn(child, FAIL(5));
    t[2] = corio_spawn(child, OK(300));
    assert_int_equal(corio_gather(t, 3, NULL, st, 0), -EIO);
    /* A gather that waited for the others would take the whole 0.4 s. */
    assert_true(corio_now() - t0 < 0.25);
    assert_int_equal(st[0], -EINPROGRESS);
    assert_int_equal(st[1], -EIO);
    assert_int_equal(st[2], -EINPROGRESS);
    assert_int_equal(nfinished, 1);
    corio_sleep(0.6); /* the detached ones finish on their own */
    assert_int_equal(nfinished, 3);
    return NULL;
}
static void test_gather_fail_fast_leave(void **s) { assert_int_equal(tu_run(main_gather_fail_fast_leave, NULL, NULL), 0); }

/* Fail fast with CANCEL_REST: the others are cancelled and waited for
 * before gather returns. */
static void *main_gather_fail_fast_cancel(void *arg)
{
    corio_task *t[3];
    int st[3];
    nfinished = 0;
    t[0] = corio_spawn(child, OK(600));
    t[1] = corio_spawn(child, FAIL(100));
    t[2] = corio_spawn(child, OK(1));
    assert_int_equal(corio_gather(t, 3, NULL, st, CORIO_GATHER_CANCEL_REST), -EIO);
    assert_int_equal(st[0], -ECANCELED);
    assert_int_equal(st[1], -EIO);
    assert_int_equal(st[2], 0); /* finished before the failure */
    assert_int_equal(nfinished, 2);
    return NULL;
}
static void test_gather_fail_fast_cancel(void **s) { assert_int_equal(tu_run(main_gather_fail_fast_cancel, NULL, NULL), 0); }

/* A cancelled child counts as a failure in fail-fast mode (asyncio raises
 * CancelledError out of gather). */
static void *main_gather_child_cancelled(void *arg)
{
    corio_task *t[2];
    t[0] = corio_spawn(child, CANCEL(1));
    t[1] = corio_spawn(child, OK(2));
    assert_int_equal(corio_gather(t, 2, NULL, NULL, CORIO_GATHER_CANCEL_REST), -ECANCELED);
    assert_int_equal(corio_cancelled(), 0); /* the caller is not cancelled */
    return NULL;
}
static void test_gather_child_cancelled(void **s) { assert_int_equal(tu_run(main_gather_child_cancelled, NULL, NULL), 0); }

/* Cancelling the gathering task cancels the children (test_gather's
 * "cancel the outer future") and returns -ECANCELED. */
static corio_task *kids[3];
static void *gatherer(void *arg)
{
    int st[3];
    int rc = corio_gather(kids, 3, NULL, st, 0);
    return P(rc);
}

static void *main_gather_outer_cancel(void *arg)
{
    corio_task *g;
    void *r;
    nfinished = 0;
    kids[0] = corio_spawn(child, OK(500));
    kids[1] = corio_spawn(child, OK(1));
    kids[2] = corio_spawn(child, OK(500));
    g = corio_spawn(gatherer, NULL);
    corio_sleep(0.02);
    corio_cancel(g);
    assert_int_equal(corio_await(g, &r), -ECANCELED);
    corio_sleep(0.005);
    assert_int_equal(nfinished, 1); /* the slow ones were cancelled */
    return NULL;
}
static void test_gather_outer_cancel(void **s) { assert_int_equal(tu_run(main_gather_outer_cancel, NULL, NULL), 0); }

/* gh-86296's race for gather: the caller is woken because its last child
 * finished, and cancelled before it runs again. The cancellation is
 * reported, not swallowed. Done-callbacks run in registration order, so
 * the test's callback cancels the gatherer right after the gather's own
 * callback woke it. */
static corio_task *racer_kid, *racer_gatherer;
static int race_rc;
static void *gather_one(void *arg)
{
    race_rc = corio_gather(&racer_kid, 1, NULL, NULL, 0);
    return NULL;
}

static void *slow_quick(void *arg)
{
    corio_yield();
    corio_yield();
    return P(7);
}

static void cancel_gatherer(corio_future *f, void *arg) { corio_cancel(arg); }

static void *main_gather_cancel_race(void *arg)
{
    race_rc = 1;
    racer_gatherer = corio_spawn(gather_one, NULL);
    racer_kid = corio_spawn(slow_quick, NULL);
    corio_yield(); /* the gatherer registers its callback and parks */
    assert_int_equal(corio_task_state(racer_gatherer), CORIO_TASK_SUSPENDED);
    corio_future_add_done_callback(corio_task_future(racer_kid),
                                   cancel_gatherer, racer_gatherer);
    assert_int_equal(corio_await(racer_gatherer, NULL), -ECANCELED);
    assert_int_equal(race_rc, -ECANCELED);
    return NULL;
}
static void test_gather_cancel_race(void **s) { assert_int_equal(tu_run(main_gather_cancel_race, NULL, NULL), 0); }

static void *self_gather(void *arg)
{
    corio_task *me = corio_current();
    return P(corio_gather(&me, 1, NULL, NULL, 0));
}

static void *main_gather_bad(void *arg)
{
    corio_task *t[2] = {NULL, NULL};
    void *r;
    assert_int_equal(corio_gather(t, 2, NULL, NULL, 0), -EINVAL);
    assert_int_equal(corio_gather(NULL, 2, NULL, NULL, 0), -EINVAL);
    assert_int_equal(corio_await(corio_spawn(self_gather, NULL), &r), 0);
    assert_int_equal(I(r), -EDEADLK);
    return NULL;
}
static void test_gather_bad(void **s)
{
    assert_int_equal(corio_gather(NULL, 0, NULL, NULL, 0), -EPERM);
    assert_int_equal(tu_run(main_gather_bad, NULL, NULL), 0);
}

/* gather over futures consumes nothing and an interruption cancels
 * nothing. */
static void complete_later(void *arg) { corio_future_set_result(arg, P(3)); }

static void *main_gather_futures(void *arg)
{
    corio_future *f[2];
    corio_task *t;
    void *res[2];
    int st[2];
    corio_scope sc;
    corio_future_create(NULL, &f[0]);
    t = corio_spawn(child, OK(5));
    f[1] = corio_task_future(t);
    corio_call_later(NULL, 0.002, complete_later, f[0]);
    assert_int_equal(corio_gather_futures(f, 2, res, st, 0), 0);
    assert_int_equal(I(res[0]), 3);
    assert_int_equal(I(res[1]), 5);
    assert_int_equal(corio_await(t, NULL), 0); /* still ours */
    corio_future_destroy(f[0]);

    corio_future_create(NULL, &f[0]);
    corio_scope_enter(&sc, 0.005, 0);
    assert_int_equal(corio_gather_futures(f, 1, res, st, 0), -ETIMEDOUT);
    corio_scope_exit(&sc);
    assert_int_equal(st[0], -EINPROGRESS);
    assert_false(corio_future_done(f[0])); /* not cancelled */
    corio_future_destroy(f[0]);
    return NULL;
}
static void test_gather_futures(void **s) { assert_int_equal(tu_run(main_gather_futures, NULL, NULL), 0); }

/* ---- wait ----------------------------------------------------------------*/
/* A gated child: waits until the test opens its gate (completes the
 * future arg), then returns 7, or fails with -EIO if the gate's value is
 * 1. The order of completions is the test's, not the clock's. */
static void *gated(void *arg)
{
    void *v = NULL;
    int rc = corio_future_await(arg, &v);
    if (rc)
        return corio_fail(rc);
    return I(v) ? corio_fail(-EIO) : P(7);
}

static void *main_wait(void *arg)
{
    corio_task *t[3];
    corio_future *f[3], *gate[3];
    size_t done[3];
    int i, n;
    for (i = 0; i < 3; i++) {
        assert_int_equal(corio_future_create(NULL, &gate[i]), 0);
        t[i] = corio_spawn(gated, gate[i]);
        f[i] = corio_task_future(t[i]);
    }
    corio_future_set_result(gate[2], P(0)); /* t[2] ends first */
    n = corio_wait(f, 3, CORIO_WAIT_FIRST_COMPLETED, -1, done);
    assert_int_equal(n, 1);
    assert_int_equal(done[0], 2);
    corio_future_set_result(gate[1], P(1)); /* then t[1] fails */
    n = corio_wait(f, 3, CORIO_WAIT_FIRST_EXCEPTION, -1, done);
    assert_int_equal(n, 2);
    assert_int_equal(done[0], 2); /* already done come first */
    assert_int_equal(done[1], 1);
    assert_false(corio_future_done(f[0])); /* pending */
    corio_future_set_result(gate[0], P(0));
    n = corio_wait(f, 3, CORIO_WAIT_ALL_COMPLETED, -1, done);
    assert_int_equal(n, 3);
    assert_int_equal(done[2], 0);
    /* wait consumed nothing: the tasks are still ours. */
    assert_int_equal(corio_await(t[0], NULL), 0);
    assert_int_equal(corio_await(t[1], NULL), -EIO);
    assert_int_equal(corio_await(t[2], NULL), 0);
    for (i = 0; i < 3; i++)
        corio_future_destroy(gate[i]);
    return NULL;
}
static void test_wait_modes(void **s) { assert_int_equal(tu_run(main_wait, NULL, NULL), 0); }

/* Timeout: returns what is done, cancels nothing, is not an error. */
static void *main_wait_timeout(void *arg)
{
    corio_task *t[2];
    corio_future *f[2];
    size_t done[2];
    double t0;
    t[0] = corio_spawn(child, OK(1));
    t[1] = corio_spawn(child, OK(2000));
    f[0] = corio_task_future(t[0]);
    f[1] = corio_task_future(t[1]);
    /* The short one ends first. Waited for here, not raced against the
     * 20 ms timeout below: on a loaded machine the loop can sleep past both
     * deadlines at once, and the timeout may then win. */
    assert_int_equal(corio_wait(f, 2, CORIO_WAIT_FIRST_COMPLETED, -1, done), 1);
    assert_int_equal(done[0], 0);
    t0 = corio_now();
    assert_int_equal(corio_wait(f, 2, CORIO_WAIT_ALL_COMPLETED, 0.02, done), 1);
    assert_int_equal(done[0], 0);
    /* A wait that ignored its timeout would take the whole 2 s. */
    assert_true(corio_now() - t0 < 1.0);
    assert_int_equal(corio_task_state(t[1]), CORIO_TASK_SUSPENDED);
    assert_int_equal(corio_wait(f, 2, CORIO_WAIT_FIRST_COMPLETED, 0, NULL), 1);
    corio_cancel(t[1]);
    assert_int_equal(corio_await(t[1], NULL), -ECANCELED);
    assert_int_equal(corio_await(t[0], NULL), 0);
    assert_int_equal(corio_wait(f, 0, 0, -1, NULL), -EINVAL);
    return NULL;
}
static void test_wait_timeout(void **s) { assert_int_equal(tu_run(main_wait_timeout, NULL, NULL), 0); }

/* Cancelling the waiter: -ECANCELED, the futures are not cancelled. */
static corio_future *wf[1];
static void *waiter_task(void *arg)
{
    return P(corio_wait(wf, 1, CORIO_WAIT_ALL_COMPLETED, -1, NULL));
}

static void *main_wait_cancel(void *arg)
{
    corio_task *w;
    void *r;
    corio_future_create(NULL, &wf[0]);
    w = corio_spawn(waiter_task, NULL);
    corio_yield();
    corio_cancel(w);
    assert_int_equal(corio_await(w, &r), -ECANCELED);
    assert_false(corio_future_done(wf[0]));
    corio_future_destroy(wf[0]);
    return NULL;
}
static void test_wait_cancel(void **s) { assert_int_equal(tu_run(main_wait_cancel, NULL, NULL), 0); }

/* ---- as_completed ----------------------------------------------------------*/
static void *main_as_completed(void *arg)
{
    corio_task *t[3];
    corio_future *f[3];
    corio_as_completed *it;
    void *v;
    int i, order[3];
    t[0] = corio_spawn(child, OK(300));
    t[1] = corio_spawn(child, OK(100));
    t[2] = corio_spawn(child, OK(200));
    for (i = 0; i < 3; i++)
        f[i] = corio_task_future(t[i]);
    assert_int_equal(corio_as_completed_create(&it, f, 3, -1), 0);
    for (i = 0; i < 3; i++) {
        order[i] = corio_as_completed_next(it);
        assert_true(order[i] >= 0);
        assert_int_equal(corio_future_result(f[order[i]], &v), 0);
    }
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 0);
    assert_int_equal(corio_as_completed_next(it), -ENOENT);
    corio_as_completed_destroy(it);
    for (i = 0; i < 3; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    return NULL;
}
static void test_as_completed(void **s) { assert_int_equal(tu_run(main_as_completed, NULL, NULL), 0); }

/* The timeout bounds the whole iteration; destroying the iterator early
 * with pending futures is fine. */
static void *main_as_completed_timeout(void *arg)
{
    corio_task *t[2];
    corio_future *f[2];
    corio_as_completed *it;
    t[0] = corio_spawn(child, OK(5));
    t[1] = corio_spawn(child, OK(3000));
    f[0] = corio_task_future(t[0]);
    f[1] = corio_task_future(t[1]);
    assert_int_equal(corio_as_completed_create(&it, f, 2, 0.3), 0);
    assert_int_equal(corio_as_completed_next(it), 0);
    assert_int_equal(corio_as_completed_next(it), -ETIMEDOUT);
    corio_as_completed_destroy(it);
    corio_cancel(t[1]);
    assert_int_equal(corio_await(t[1], NULL), -ECANCELED);
    assert_int_equal(corio_await(t[0], NULL), 0);
    return NULL;
}
static void test_as_completed_timeout(void **s) { assert_int_equal(tu_run(main_as_completed_timeout, NULL, NULL), 0); }

/* Already-done futures come out first, and the iterator works from a
 * plain context for create/destroy. */
static void test_as_completed_outside(void **s)
{
    corio_as_completed *it;
    assert_int_equal(corio_as_completed_create(&it, NULL, 0, -1), 0);
    assert_int_equal(corio_as_completed_next(it), -EPERM);
    corio_as_completed_destroy(it);
    assert_int_equal(corio_as_completed_create(NULL, NULL, 0, -1), -EINVAL);
}

/* ---- shield ------------------------------------------------------------------*/
/* asyncio.shield: cancelling the awaiter does not cancel the shielded
 * task, which keeps running (detached) and finishes. */
static corio_task *shielded_kid;
static void *shield_awaiter(void *arg)
{
    return P(corio_await_ex(shielded_kid, NULL, CORIO_AWAIT_SHIELD));
}

static void *main_shield(void *arg)
{
    corio_task *a;
    void *r;
    nfinished = 0;
    shielded_kid = corio_spawn(child, OK(200));
    a = corio_spawn(shield_awaiter, NULL);
    corio_sleep(0.005);
    corio_cancel(a);
    assert_int_equal(corio_await(a, &r), -ECANCELED);
    assert_int_equal(I(r), -ECANCELED);
    assert_int_equal(nfinished, 0);
    corio_sleep(0.4);
    assert_int_equal(nfinished, 1); /* it finished, uncancelled */
    return NULL;
}
static void test_shield(void **s) { assert_int_equal(tu_run(main_shield, NULL, NULL), 0); }


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_order),
        cmocka_unit_test(test_gather_all_errors),
        cmocka_unit_test(test_gather_fail_fast_leave),
        cmocka_unit_test(test_gather_fail_fast_cancel),
        cmocka_unit_test(test_gather_child_cancelled),
        cmocka_unit_test(test_gather_outer_cancel),
        cmocka_unit_test(test_gather_cancel_race),
        cmocka_unit_test(test_gather_bad),
        cmocka_unit_test(test_gather_futures),
        cmocka_unit_test(test_wait_modes),
        cmocka_unit_test(test_wait_timeout),
        cmocka_unit_test(test_wait_cancel),
        cmocka_unit_test(test_as_completed),
        cmocka_unit_test(test_as_completed_timeout),
        cmocka_unit_test(test_as_completed_outside),
        cmocka_unit_test(test_shield),
    };
    return tu_run_both_modes(tests);
}
