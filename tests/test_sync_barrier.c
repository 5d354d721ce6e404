/* Barrier: the scenarios of CPython's test_locks.py BarrierTests (indexes,
 * several cycles, filling task by task, abort, reset, cancellation of a
 * waiter withdrawing it). */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static corio_barrier *B;
static int seen[64], nseen;

static void *party(void *arg)
{
    int cycles = I(arg), i, rc = 0;
    for (i = 0; i < cycles; i++) {
        rc = corio_barrier_wait(B);
        if (rc < 0)
            return corio_fail(rc);
        seen[nseen++] = rc;
    }
    return NULL;
}

static void *main_basic(void *arg)
{
    corio_task *t[3];
    int i, mask = 0;
    nseen = 0;
    assert_int_equal(corio_barrier_create(&B, 3), 0);
    assert_int_equal(corio_barrier_parties(B), 3);
    for (i = 0; i < 2; i++)
        t[i] = corio_spawn(party, P(1));
    corio_yield();
    assert_int_equal(corio_barrier_n_waiting(B), 2);
    assert_int_equal(nseen, 0);
    t[2] = corio_spawn(party, P(1));
    for (i = 0; i < 3; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    assert_int_equal(nseen, 3);
    for (i = 0; i < 3; i++)
        mask |= 1 << seen[i];
    assert_int_equal(mask, 7); /* indexes 0, 1, 2, each once */
    /* Arrival order: the first arrival got 0, the last parties-1. */
    assert_int_equal(seen[0], 2);
    assert_int_equal(corio_barrier_n_waiting(B), 0);
    assert_false(corio_barrier_broken(B));
    corio_barrier_destroy(B);
    return NULL;
}
static void test_basic(void **s) { assert_int_equal(tu_run(main_basic, NULL, NULL), 0); }

/* test_wait_more: several cycles back to back; arrivals for the next cycle
 * never mix with the one being released. */
static void *main_cycles(void *arg)
{
    corio_task *t[4];
    int i;
    nseen = 0;
    corio_barrier_create(&B, 4);
    for (i = 0; i < 4; i++)
        t[i] = corio_spawn(party, P(5));
    for (i = 0; i < 4; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    assert_int_equal(nseen, 20);
    for (i = 0; i < 20; i += 4) {
        int j, mask = 0;
        for (j = 0; j < 4; j++)
            mask |= 1 << seen[i + j];
        assert_int_equal(mask, 15);
    }
    corio_barrier_destroy(B);
    return NULL;
}
static void test_cycles(void **s) { assert_int_equal(tu_run(main_cycles, NULL, NULL), 0); }

/* One party: every wait passes at once with index 0. */
static void *main_one(void *arg)
{
    corio_barrier_create(&B, 1);
    assert_int_equal(corio_barrier_wait(B), 0);
    assert_int_equal(corio_barrier_wait(B), 0);
    corio_barrier_destroy(B);
    assert_int_equal(corio_barrier_create(&B, 0), -EINVAL);
    assert_null(B);
    return NULL;
}
static void test_one(void **s) { assert_int_equal(tu_run(main_one, NULL, NULL), 0); }

/* test_abort_barrier: waiters and later waits get CORIO_EBROKEN until
 * reset. */
static void *main_abort(void *arg)
{
    corio_task *t[2];
    int i;
    nseen = 0;
    corio_barrier_create(&B, 3);
    for (i = 0; i < 2; i++)
        t[i] = corio_spawn(party, P(1));
    corio_yield();
    assert_int_equal(corio_barrier_abort(B), 0);
    assert_true(corio_barrier_broken(B));
    for (i = 0; i < 2; i++)
        assert_int_equal(corio_await(t[i], NULL), CORIO_EBROKEN);
    assert_int_equal(corio_barrier_wait(B), CORIO_EBROKEN);
    assert_int_equal(corio_barrier_reset(B), 0);
    assert_false(corio_barrier_broken(B));
    /* Usable again. */
    for (i = 0; i < 2; i++)
        t[i] = corio_spawn(party, P(1));
    assert_true(corio_barrier_wait(B) >= 0);
    for (i = 0; i < 2; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    corio_barrier_destroy(B);
    return NULL;
}
static void test_abort(void **s) { assert_int_equal(tu_run(main_abort, NULL, NULL), 0); }

/* test_reset_barrier: waiters of the cycle get CORIO_EBROKEN; the barrier
 * is not broken afterwards. */
static void *main_reset(void *arg)
{
    corio_task *t;
    corio_barrier_create(&B, 2);
    t = corio_spawn(party, P(1));
    corio_yield();
    corio_barrier_reset(B);
    assert_int_equal(corio_await(t, NULL), CORIO_EBROKEN);
    assert_false(corio_barrier_broken(B));
    assert_int_equal(corio_barrier_n_waiting(B), 0);
    t = corio_spawn(party, P(1));
    corio_yield();
    assert_true(corio_barrier_wait(B) >= 0);
    assert_int_equal(corio_await(t, NULL), 0);
    corio_barrier_destroy(B);
    return NULL;
}
static void test_reset(void **s) { assert_int_equal(tu_run(main_reset, NULL, NULL), 0); }

/* A cancelled waiter withdraws: the barrier needs a full set of live
 * parties, even if the cancelled one has not run yet when the last party
 * arrives. */
static void *main_cancel(void *arg)
{
    corio_task *a, *b, *c;
    nseen = 0;
    corio_barrier_create(&B, 3);
    a = corio_spawn(party, P(1));
    b = corio_spawn(party, P(1));
    corio_yield();
    corio_cancel(a); /* a is woken but has not run yet */
    c = corio_spawn(party, P(1));
    corio_yield();
    corio_yield();
    /* b and c wait: a's withdrawal kept the barrier from tripping. */
    assert_int_equal(nseen, 0);
    assert_int_equal(corio_barrier_n_waiting(B), 2);
    assert_int_equal(corio_await(a, NULL), -ECANCELED);
    assert_true(corio_barrier_wait(B) >= 0); /* the third live party */
    assert_int_equal(corio_await(b, NULL), 0);
    assert_int_equal(corio_await(c, NULL), 0);
    assert_int_equal(nseen, 2);
    corio_barrier_destroy(B);
    return NULL;
}
static void test_cancel(void **s) { assert_int_equal(tu_run(main_cancel, NULL, NULL), 0); }

/* A waiter timing out withdraws too. */
static void *main_timeout(void *arg)
{
    corio_scope sc;
    corio_task *t;
    corio_barrier_create(&B, 2);
    corio_scope_enter(&sc, 0.005, 0);
    assert_int_equal(corio_barrier_wait(B), -ETIMEDOUT);
    corio_scope_exit(&sc);
    assert_int_equal(corio_barrier_n_waiting(B), 0);
    t = corio_spawn(party, P(1));
    corio_yield();
    assert_int_equal(corio_barrier_n_waiting(B), 1);
    assert_true(corio_barrier_wait(B) >= 0);
    assert_int_equal(corio_await(t, NULL), 0);
    corio_barrier_destroy(B);
    return NULL;
}
static void test_timeout(void **s) { assert_int_equal(tu_run(main_timeout, NULL, NULL), 0); }

static void test_outside_task(void **s)
{
    corio_barrier_create(&B, 2);
    assert_int_equal(corio_barrier_wait(B), -EPERM);
    corio_barrier_destroy(B);
    assert_int_equal(corio_barrier_abort(NULL), -EINVAL);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_one),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_outside_task),
    };
    return tu_run_both_modes(tests);
}
