/*
 * CapacityLimiter (Trio's) and Condition.wait_for's value (asyncio's):
 * borrowers, FIFO hand-off, adjustable total, acquire_on_behalf_of,
 * statistics, and cancellation/timeout of waiters racing a hand-off.
 * Shared data is static (the suite runs in compact mode too).
 */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>

static corio_limiter *L;
static tu_log order;

/* Acquires, logs its number, holds the token until *release_flag. */
static int release_now[8];
static int acq_rc[8];
static void *borrow(void *arg)
{
    int i = (int)(intptr_t)arg;
    acq_rc[i] = corio_limiter_acquire(L);
    if (acq_rc[i])
        return NULL;
    tu_log_add(&order, i);
    while (!release_now[i])
        if (corio_sleep(0.002) < 0)
            break;
    assert_int_equal(corio_limiter_release(L), 0);
    return NULL;
}

static void reset(void)
{
    int i;
    tu_log_reset(&order);
    for (i = 0; i < 8; i++) {
        release_now[i] = 0;
        acq_rc[i] = 7;
    }
}

TU_TASK_TEST(limiter_lends_tokens_fifo_and_counts)
{
    corio_task *t[3];
    corio_limiter_stats st;
    const void *who[4] = {0};
    int i;
    (void)arg;
    reset();
    assert_int_equal(corio_limiter_create(&L, 2), 0);
    for (i = 0; i < 3; i++)
        t[i] = corio_spawn(borrow, (void *)(intptr_t)i);
    corio_sleep(0.01);
    assert_int_equal(corio_limiter_statistics(L, &st), 0);
    assert_int_equal(st.borrowed_tokens, 2);
    assert_int_equal(st.total_tokens, 2);
    assert_int_equal(st.tasks_waiting, 1);
    assert_int_equal(corio_limiter_available_tokens(L), 0);
    assert_int_equal(corio_limiter_borrowers(L, who, 4), 2);
    assert_true((who[0] == t[0] && who[1] == t[1]) ||
                (who[0] == t[1] && who[1] == t[0]));
    /* A newcomer cannot overtake the waiter. */
    assert_int_equal(corio_limiter_try_acquire(L), -EAGAIN);
    release_now[1] = 1;
    corio_sleep(0.02);
    assert_int_equal(corio_limiter_borrowers(L, who, 4), 2);
    assert_true(who[0] == t[2] || who[1] == t[2]);
    release_now[0] = release_now[2] = 1;
    for (i = 0; i < 3; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    {
        const int want[] = {0, 1, 2};
        tu_log_expect(&order, want, 3);
    }
    assert_int_equal(corio_limiter_borrowed_tokens(L), 0);
    assert_int_equal(corio_limiter_statistics(L, &st), 0);
    assert_int_equal(st.tasks_waiting, 0);
    corio_limiter_destroy(L);
    return NULL;
}

TU_TASK_TEST(limiter_borrowers_and_misuse)
{
    static int job1, job2, job3;
    const void *who[2];
    (void)arg;
    assert_int_equal(corio_limiter_create(&L, 0), -EINVAL);
    assert_int_equal(corio_limiter_create(NULL, 1), -EINVAL);
    assert_int_equal(corio_limiter_create(&L, 2), 0);
    assert_int_equal(corio_limiter_acquire_on_behalf_of(L, &job1), 0);
    assert_int_equal(corio_limiter_acquire_on_behalf_of(L, &job1), -EDEADLK);
    assert_int_equal(corio_limiter_try_acquire_on_behalf_of(L, &job1), -EDEADLK);
    assert_int_equal(corio_limiter_acquire(L), 0); /* the task itself */
    assert_int_equal(corio_limiter_acquire(L), -EDEADLK);
    assert_int_equal(corio_limiter_try_acquire_on_behalf_of(L, &job2), -EAGAIN);
    assert_int_equal(corio_limiter_borrowers(L, who, 2), 2);
    assert_true((who[0] == &job1 && who[1] == corio_current()) ||
                (who[1] == &job1 && who[0] == corio_current()));
    assert_int_equal(corio_limiter_release_on_behalf_of(L, &job3), -EPERM);
    assert_int_equal(corio_limiter_release_on_behalf_of(L, &job1), 0);
    assert_int_equal(corio_limiter_release_on_behalf_of(L, &job1), -EPERM);
    assert_int_equal(corio_limiter_try_acquire_on_behalf_of(L, &job2), 0);
    assert_int_equal(corio_limiter_release(L), 0);
    assert_int_equal(corio_limiter_release(L), -EPERM);
    assert_int_equal(corio_limiter_release_on_behalf_of(L, &job2), 0);
    assert_int_equal(corio_limiter_set_total_tokens(L, 0), -EINVAL);
    assert_int_equal(corio_limiter_acquire_on_behalf_of(L, NULL), -EINVAL);
    assert_int_equal(corio_limiter_statistics(L, NULL), -EINVAL);
    corio_limiter_destroy(L);
    return NULL;
}

static void limiter_outside_a_task(void **state)
{
    static int job;
    (void)state;
    assert_int_equal(corio_limiter_create(&L, 1), 0);
    assert_int_equal(corio_limiter_acquire(L), -EPERM);
    assert_int_equal(corio_limiter_try_acquire(L), -EPERM);
    /* on_behalf_of works from callbacks and plain code. */
    assert_int_equal(corio_limiter_try_acquire_on_behalf_of(L, &job), 0);
    assert_int_equal(corio_limiter_release_on_behalf_of(L, &job), 0);
    corio_limiter_destroy(L);
}

TU_TASK_TEST(limiter_total_tokens_adjust)
{
    corio_task *t[4];
    int i;
    (void)arg;
    reset();
    assert_int_equal(corio_limiter_create(&L, 1), 0);
    for (i = 0; i < 4; i++)
        t[i] = corio_spawn(borrow, (void *)(intptr_t)i);
    corio_sleep(0.01);
    assert_int_equal(order.n, 1);
    /* Raising the total hands the new tokens to waiters at once, FIFO. */
    assert_int_equal(corio_limiter_set_total_tokens(L, 3), 0);
    assert_int_equal(corio_limiter_borrowed_tokens(L), 3);
    corio_sleep(0.01);
    {
        const int want[] = {0, 1, 2};
        tu_log_expect(&order, want, 3);
    }
    /* Lowering revokes nothing; no token is lent until fewer than the new
     * total are borrowed. */
    assert_int_equal(corio_limiter_set_total_tokens(L, 1), 0);
    assert_int_equal(corio_limiter_borrowed_tokens(L), 3);
    assert_int_equal(corio_limiter_available_tokens(L), 0);
    release_now[0] = 1;
    corio_sleep(0.02);
    assert_int_equal(corio_limiter_borrowed_tokens(L), 2);
    assert_int_equal(order.n, 3); /* 3 still waits */
    release_now[1] = 1;
    corio_sleep(0.02);
    assert_int_equal(order.n, 3);
    release_now[2] = 1;
    corio_sleep(0.02);
    /* Now below the total: 3 was handed the token at the release (it may
     * not have run yet on a loaded machine, so look at the borrowers). */
    {
        const void *who[2] = {0};
        assert_int_equal(corio_limiter_borrowers(L, who, 2), 1);
        assert_ptr_equal(who[0], t[3]);
    }
    release_now[3] = 1;
    for (i = 0; i < 4; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    {
        const int want[] = {0, 1, 2, 3};
        tu_log_expect(&order, want, 4);
    }
    corio_limiter_destroy(L);
    return NULL;
}

/* A waiter cancelled before the hand-off never holds a token; one handed a
 * token and cancelled before it runs keeps it. */
TU_TASK_TEST(limiter_cancel_and_hand_off_race)
{
    corio_task *a, *b;
    (void)arg;
    reset();
    assert_int_equal(corio_limiter_create(&L, 1), 0);
    assert_int_equal(corio_limiter_acquire(L), 0);
    a = corio_spawn(borrow, (void *)0);
    b = corio_spawn(borrow, (void *)1);
    corio_sleep(0.01);
    corio_cancel(a);                       /* a withdraws */
    assert_int_equal(corio_limiter_release(L), 0); /* goes to b */
    corio_cancel(b);                       /* after the hand-off */
    assert_int_equal(corio_await(a, NULL), -ECANCELED);
    assert_int_equal(acq_rc[0], -ECANCELED);
    assert_int_equal(corio_await(b, NULL), -ECANCELED);
    assert_int_equal(acq_rc[1], 0);        /* it held the token, released */
    assert_int_equal(order.n, 1);
    assert_int_equal(order.v[0], 1);
    assert_int_equal(corio_limiter_borrowed_tokens(L), 0);
    corio_limiter_destroy(L);
    return NULL;
}

static void *acquire_with_timeout(void *arg)
{
    corio_scope s;
    (void)arg;
    corio_scope_enter(&s, 0.02, 0);
    acq_rc[0] = corio_limiter_acquire(L);
    corio_scope_exit(&s);
    return NULL;
}

static void *acquire_forever(void *arg)
{
    (void)arg;
    acq_rc[1] = corio_limiter_acquire(L);
    return NULL;
}

TU_TASK_TEST(limiter_timeout_and_destroy)
{
    corio_limiter_stats st;
    corio_task *t;
    (void)arg;
    reset();
    assert_int_equal(corio_limiter_create(&L, 1), 0);
    assert_int_equal(corio_limiter_acquire(L), 0);
    t = corio_spawn(acquire_with_timeout, NULL);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(acq_rc[0], -ETIMEDOUT);
    corio_limiter_statistics(L, &st);
    assert_int_equal(st.tasks_waiting, 0);
    assert_int_equal(st.borrowed_tokens, 1);
    t = corio_spawn(acquire_forever, NULL);
    corio_sleep(0.01);
    corio_limiter_destroy(L); /* a bug, but the waiter is not left hanging */
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(acq_rc[1], -EIDRM);
    return NULL;
}

TU_TASK_TEST(limiter_many_borrowers)
{
    static char jobs[300];
    corio_limiter_stats st;
    int i;
    (void)arg;
    assert_int_equal(corio_limiter_create(&L, 250), 0);
    for (i = 0; i < 250; i++)
        assert_int_equal(corio_limiter_acquire_on_behalf_of(L, &jobs[i]), 0);
    assert_int_equal(corio_limiter_try_acquire_on_behalf_of(L, &jobs[299]),
                     -EAGAIN);
    corio_limiter_statistics(L, &st);
    assert_int_equal(st.borrowed_tokens, 250);
    for (i = 0; i < 250; i += 2)
        assert_int_equal(corio_limiter_release_on_behalf_of(L, &jobs[i]), 0);
    assert_int_equal(corio_limiter_available_tokens(L), 125);
    for (i = 1; i < 250; i += 2)
        assert_int_equal(corio_limiter_release_on_behalf_of(L, &jobs[i]), 0);
    assert_int_equal(corio_limiter_borrowed_tokens(L), 0);
    corio_limiter_destroy(L);
    return NULL;
}

/* ---- Condition.wait_for's value ---------------------------------------------*/

static corio_cond *C;
static int items;
static int pred_items(void *arg)
{
    (void)arg;
    return items;
}

static void *producer(void *arg)
{
    (void)arg;
    corio_sleep(0.01);
    corio_cond_acquire(C);
    items = 3;
    corio_cond_notify_all(C);
    corio_cond_release(C);
    return NULL;
}

TU_TASK_TEST(cond_wait_value_returns_the_predicates_value)
{
    corio_task *p;
    (void)arg;
    items = 0;
    assert_int_equal(corio_cond_create(&C, NULL), 0);
    assert_int_equal(corio_cond_wait_value(C, pred_items, NULL), -EPERM);
    p = corio_spawn(producer, NULL);
    corio_cond_acquire(C);
    assert_int_equal(corio_cond_wait_value(C, pred_items, NULL), 3);
    assert_ptr_equal(corio_lock_owner(corio_cond_lock(C)), corio_current());
    /* A negative predicate value stops the wait with it. */
    items = -EBADMSG;
    assert_int_equal(corio_cond_wait_value(C, pred_items, NULL), -EBADMSG);
    assert_int_equal(corio_cond_wait_value(C, NULL, NULL), -EINVAL);
    corio_cond_release(C);
    assert_int_equal(corio_await(p, NULL), 0);
    corio_cond_destroy(C);
    return NULL;
}

static int waiter_rc, waiter_owned;
static void *waits_for_items(void *arg)
{
    (void)arg;
    corio_cond_acquire(C);
    waiter_rc = corio_cond_wait_value(C, pred_items, NULL);
    waiter_owned = corio_lock_owner(corio_cond_lock(C)) == corio_current();
    corio_cond_release(C);
    return NULL;
}

TU_TASK_TEST(cond_wait_value_cancelled_keeps_the_lock)
{
    corio_task *w;
    (void)arg;
    items = 0;
    waiter_rc = waiter_owned = 7;
    assert_int_equal(corio_cond_create(&C, NULL), 0);
    w = corio_spawn(waits_for_items, NULL);
    corio_sleep(0.01);
    corio_cancel(w);
    assert_int_equal(corio_await(w, NULL), -ECANCELED);
    assert_int_equal(waiter_rc, -ECANCELED);
    assert_int_equal(waiter_owned, 1);
    corio_cond_destroy(C);
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limiter_lends_tokens_fifo_and_counts),
        cmocka_unit_test(limiter_borrowers_and_misuse),
        cmocka_unit_test(limiter_outside_a_task),
        cmocka_unit_test(limiter_total_tokens_adjust),
        cmocka_unit_test(limiter_cancel_and_hand_off_race),
        cmocka_unit_test(limiter_timeout_and_destroy),
        cmocka_unit_test(limiter_many_borrowers),
        cmocka_unit_test(cond_wait_value_returns_the_predicates_value),
        cmocka_unit_test(cond_wait_value_cancelled_keeps_the_lock),
    };
    return tu_run_both_modes(tests);
}
