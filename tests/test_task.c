/*
 * Tasks: spawn, await, corio_fail, await's consumption of the handle,
 * detach, eager spawn, names, ids, enumeration, FIFO fairness.
 * Cancellation in every state and shields: test_task_cancel.c.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tu_log lg;

static void *return_arg(void *arg) { return arg; }

static void *sleep_then_return(void *arg)
{
    int rc = corio_sleep(0.02);
    return rc == 0 ? arg : corio_fail(rc);
}

/* ---- spawning and awaiting ------------------------------------------------*/

static int ran;
static void *count_run(void *arg)
{
    ran++;
    return arg;
}

TU_TASK_TEST(spawn_does_not_run_until_the_caller_suspends)
{
    void *r = NULL;
    corio_task *t;

    ran = 0;
    t = corio_spawn(count_run, (void *)7);
    assert_non_null(t);
    assert_int_equal(corio_task_state(t), CORIO_TASK_CREATED);
    assert_int_equal(ran, 0);
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(ran, 1);
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    assert_int_equal(corio_await(t, &r), 0);
    assert_ptr_equal(r, (void *)7);
    return NULL;
}

TU_TASK_TEST(await_suspends_until_the_task_returns_its_value)
{
    double t0 = corio_now();
    void *r = NULL;
    corio_task *t = corio_spawn(sleep_then_return, (void *)42);
    assert_non_null(t);
    assert_int_equal(corio_await(t, &r), 0);
    assert_ptr_equal(r, (void *)42);
    assert_true(corio_now() - t0 >= 0.02);
    return NULL;
}

TU_TASK_TEST(await_of_a_finished_task_returns_at_once)
{
    void *r = NULL;
    corio_task *t = corio_spawn(return_arg, (void *)3);
    assert_int_equal(corio_sleep(0.005), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    assert_int_equal(corio_await(t, &r), 0);
    assert_ptr_equal(r, (void *)3);
    return NULL;
}

TU_TASK_TEST(await_null_result_pointer_is_allowed)
{
    corio_task *t = corio_spawn(return_arg, (void *)3);
    assert_int_equal(corio_await(t, NULL), 0);
    return NULL;
}

TU_TASK_TEST(spawn_ex_rejects_bad_arguments)
{
    corio_task *t = (corio_task *)&t;
    corio_spawn_opts o = {0};

    assert_int_equal(corio_spawn_ex(&t, NULL, NULL, NULL), -EINVAL);
    assert_null(t);
    /* A handle-less spawn must be detached, or nobody could free it. */
    assert_int_equal(corio_spawn_ex(NULL, return_arg, NULL, NULL), -EINVAL);
    assert_int_equal(corio_spawn_ex(NULL, return_arg, NULL, &o), -EINVAL);
    assert_int_equal(corio_await(NULL, NULL), -EINVAL);
    assert_int_equal(corio_task_count(NULL), 1); /* nothing was created */
    return NULL;
}

static void spawn_and_suspend_outside_a_task_fail(void **state)
{
    corio_task *t = (corio_task *)&t;
    (void)state;
    assert_null(corio_loop_current());
    assert_null(corio_spawn(return_arg, NULL));
    assert_int_equal(corio_spawn_ex(&t, return_arg, NULL, NULL), -EPERM);
    assert_null(t);
    assert_null(corio_current());
    assert_int_equal(corio_yield(), -EPERM);
    assert_int_equal(corio_sleep(0.01), -EPERM);
    assert_int_equal(corio_sleep(0), -EPERM);
    assert_int_equal(corio_sleep_until(corio_now() + 1), -EPERM);
    assert_int_equal(corio_cancelled(), 0);
    assert_null(corio_fail(-EIO));
    assert_int_equal(corio_task_count(NULL), 0);
}

/* ---- corio_fail -------------------------------------------------------------*/

static void *fails_with_eio(void *arg)
{
    (void)arg;
    assert_int_equal(corio_sleep(0.001), 0);
    return corio_fail(-EIO);
}

static void *fails_at_once(void *arg) { return corio_fail((int)(intptr_t)arg); }

TU_TASK_TEST(fail_sets_the_awaited_status)
{
    void *r = (void *)1;
    corio_task *t = corio_spawn(fails_with_eio, NULL);
    assert_int_equal(corio_await(t, &r), -EIO);
    assert_null(r);
    t = corio_spawn(fails_at_once, (void *)(intptr_t)CORIO_EEOF);
    assert_int_equal(corio_await(t, &r), CORIO_EEOF);
    assert_int_equal(corio_task_count(NULL), 1);
    return NULL;
}

/* ---- await consumes the handle ------------------------------------------------*/

struct awaiter {
    corio_task *child;
    unsigned flags;
    int rc;
};

static int shielded_child_rc;
static int shielded_child_done;
static void *shielded_child(void *arg)
{
    (void)arg;
    shielded_child_rc = corio_sleep(0.3);
    shielded_child_done = 1;
    return NULL;
}

static void *awaiter_fn(void *arg)
{
    struct awaiter *a = arg;
    a->rc = corio_await_ex(a->child, NULL, a->flags);
    return NULL;
}

TU_TASK_TEST(await_shield_leaves_the_awaited_task_running)
{
    static struct awaiter a;
    corio_task *t;
    memset(&a, 0, sizeof a);
    shielded_child_rc = 1;
    shielded_child_done = 0;
    a.child = corio_spawn(shielded_child, NULL);
    a.flags = CORIO_AWAIT_SHIELD;
    t = corio_spawn(awaiter_fn, &a);
    assert_int_equal(corio_sleep(0.005), 0);
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(a.rc, -ECANCELED);
    /* The child was handed to the loop, still running, not cancelled. */
    assert_int_equal(shielded_child_done, 0);
    assert_int_equal(corio_task_count(NULL), 2);
    {
        double t0 = corio_now();
        while (!shielded_child_done && corio_now() - t0 < 5)
            assert_int_equal(corio_sleep(0.01), 0);
    }
    assert_int_equal(shielded_child_done, 1);
    assert_int_equal(shielded_child_rc, 0);
    assert_int_equal(corio_task_count(NULL), 1); /* freed when it ended */
    return NULL;
}

TU_TASK_TEST(await_self_is_edeadlk_and_keeps_the_handle)
{
    corio_task *self = corio_current();
    assert_int_equal(corio_await(self, NULL), -EDEADLK);
    assert_int_equal(corio_await_ex(self, NULL, CORIO_AWAIT_SHIELD), -EDEADLK);
    assert_int_equal(corio_task_state(self), CORIO_TASK_RUNNING);
    assert_string_equal(corio_task_name(self), "main");
    return NULL;
}

/* ---- detach -------------------------------------------------------------------*/

static int detached_done;
static void *detached_fn(void *arg)
{
    assert_int_equal(corio_sleep(0.01), 0);
    detached_done = (int)(intptr_t)arg;
    return NULL;
}

/* Sleeps until detached_done == want (bounded), then lets the task that
 * set it end. */
static void wait_detached(int want)
{
    double t0 = corio_now();
    while (detached_done != want && corio_now() - t0 < 5)
        assert_int_equal(corio_sleep(0.005), 0);
    assert_int_equal(corio_yield(), 0);
}

TU_TASK_TEST(detach_done_task_frees_it_at_once)
{
    corio_task *t = corio_spawn(return_arg, NULL);
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    assert_int_equal(corio_task_count(NULL), 2);
    corio_detach(t);
    assert_int_equal(corio_task_count(NULL), 1);
    corio_detach(NULL); /* harmless */
    return NULL;
}

TU_TASK_TEST(detach_running_task_frees_it_when_it_ends)
{
    corio_task *t = corio_spawn(detached_fn, (void *)1);
    corio_spawn_opts o = {0};
    detached_done = 0;
    corio_detach(t);
    assert_int_equal(corio_task_count(NULL), 2);
    wait_detached(1);
    assert_int_equal(detached_done, 1);
    assert_int_equal(corio_task_count(NULL), 1);
    /* The same with the spawn flag: no handle comes back. */
    o.flags = CORIO_SPAWN_DETACHED;
    t = (corio_task *)&t;
    assert_int_equal(corio_spawn_ex(&t, detached_fn, (void *)2, &o), 0);
    assert_null(t);
    assert_int_equal(corio_spawn_ex(NULL, detached_fn, (void *)2, &o), 0);
    assert_int_equal(corio_task_count(NULL), 3);
    wait_detached(2);
    assert_int_equal(detached_done, 2);
    {
        double t0 = corio_now(); /* the other one ends too */
        while (corio_task_count(NULL) > 1 && corio_now() - t0 < 5)
            assert_int_equal(corio_sleep(0.005), 0);
    }
    assert_int_equal(corio_task_count(NULL), 1);
    return NULL;
}

static void *detach_self(void *arg)
{
    corio_detach(corio_current());
    assert_int_equal(corio_sleep(0.002), 0);
    *(int *)arg = 1;
    return NULL;
}

TU_TASK_TEST(detach_self_then_end)
{
    static int done;
    double t0 = corio_now();
    done = 0;
    corio_spawn(detach_self, &done);
    while (!done && corio_now() - t0 < 5)
        assert_int_equal(corio_sleep(0.005), 0);
    assert_int_equal(corio_yield(), 0); /* it ends */
    assert_int_equal(done, 1);
    assert_int_equal(corio_task_count(NULL), 1);
    return NULL;
}

/* ---- eager spawn --------------------------------------------------------------*/

static void *eager_yielder(void *arg)
{
    (void)arg;
    tu_log_add(&lg, 1);
    assert_int_equal(corio_yield(), 0);
    tu_log_add(&lg, 3);
    return (void *)11;
}

TU_TASK_TEST(eager_spawn_from_a_task_runs_until_first_suspension)
{
    static const int want[] = {0, 1, 2, 3};
    corio_spawn_opts o = {0};
    corio_task *t;
    void *r;
    tu_log_reset(&lg);
    o.flags = CORIO_SPAWN_EAGER;
    tu_log_add(&lg, 0);
    assert_int_equal(corio_spawn_ex(&t, eager_yielder, NULL, &o), 0);
    tu_log_add(&lg, 2);
    assert_int_equal(corio_task_state(t), CORIO_TASK_READY);
    assert_int_equal(corio_await(t, &r), 0);
    assert_ptr_equal(r, (void *)11);
    tu_log_expect(&lg, want, 4);
    /* One that never suspends is done when spawn returns. */
    assert_int_equal(corio_spawn_ex(&t, return_arg, (void *)12, &o), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    assert_int_equal(corio_await(t, &r), 0);
    assert_ptr_equal(r, (void *)12);
    /* One that sleeps is suspended in its sleep. */
    assert_int_equal(corio_spawn_ex(&t, sleep_then_return, (void *)13, &o), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    assert_int_equal(corio_await(t, &r), 0);
    assert_ptr_equal(r, (void *)13);
    return NULL;
}

static corio_task *cb_spawned;
static void eager_from_callback(void *arg)
{
    corio_spawn_opts o = {0};
    (void)arg;
    assert_null(corio_current());
    o.flags = CORIO_SPAWN_EAGER;
    tu_log_add(&lg, 10);
    assert_int_equal(corio_spawn_ex(&cb_spawned, eager_yielder, NULL, &o), 0);
    tu_log_add(&lg, 2);
    assert_null(corio_current());
}

TU_TASK_TEST(eager_spawn_from_a_callback_runs_inside_it)
{
    static const int want[] = {10, 1, 2, 3};
    tu_log_reset(&lg);
    cb_spawned = NULL;
    assert_int_equal(corio_call_soon(NULL, eager_from_callback, NULL), 0);
    assert_int_equal(corio_yield(), 0);
    assert_non_null(cb_spawned);
    assert_int_equal(corio_await(cb_spawned, NULL), 0);
    tu_log_expect(&lg, want, 4);
    return NULL;
}

/* An eager child that spawns an eager grandchild: three nested switches. */
static void *eager_nested(void *arg)
{
    int depth = (int)(intptr_t)arg;
    corio_spawn_opts o = {0};
    corio_task *t = NULL;
    tu_log_add(&lg, depth);
    if (depth < 3) {
        o.flags = CORIO_SPAWN_EAGER;
        assert_int_equal(corio_spawn_ex(&t, eager_nested, (void *)(intptr_t)(depth + 1), &o), 0);
    }
    tu_log_add(&lg, 10 + depth);
    assert_int_equal(corio_sleep(0.001), 0);
    if (t)
        assert_int_equal(corio_await(t, NULL), 0);
    tu_log_add(&lg, 20 + depth);
    return NULL;
}

TU_TASK_TEST(eager_spawn_nests)
{
    static const int want[] = {0, 1, 2, 3, 13, 12, 11, 10, 23, 22, 21, 20};
    tu_log_reset(&lg);
    eager_nested((void *)0);
    tu_log_expect(&lg, want, 12);
    return NULL;
}

/* ---- names, ids, current, enumeration, state -----------------------------------*/

static corio_task *seen_current[50];
static void *record_current(void *arg)
{
    seen_current[(intptr_t)arg] = corio_current();
    return arg;
}

static void current_in_callback(void *arg) { *(int *)arg = corio_current() == NULL; }

TU_TASK_TEST(names_ids_and_current)
{
    char want[64], buf[16];
    corio_spawn_opts o = {0};
    corio_task *t[50], *n;
    static int cb_ok;
    int i;
    cb_ok = 0;

    assert_string_equal(corio_task_name(corio_current()), "main");
    for (i = 0; i < 50; i++) {
        t[i] = corio_spawn(record_current, (void *)(intptr_t)i);
        assert_true(corio_task_id(t[i]) >= 1);
        if (i)
            assert_true(corio_task_id(t[i]) > corio_task_id(t[i - 1]));
    }
    snprintf(want, sizeof want, "task-%llu", (unsigned long long)corio_task_id(t[3]));
    assert_string_equal(corio_task_name(t[3]), want);
    assert_int_equal(corio_task_set_name(t[3], "renamed"), 0);
    assert_string_equal(corio_task_name(t[3]), "renamed");
    assert_int_equal(corio_task_set_name(t[3], "again"), 0);
    assert_string_equal(corio_task_name(t[3]), "again");
    for (i = 0; i < 50; i++) {
        corio_task *h = t[i];
        assert_int_equal(corio_await(t[i], NULL), 0);
        assert_ptr_equal(seen_current[i], h);
    }
    /* The name option is copied. */
    strcpy(buf, "fetcher");
    o.name = buf;
    assert_int_equal(corio_spawn_ex(&n, return_arg, NULL, &o), 0);
    strcpy(buf, "XXXXXXX");
    assert_string_equal(corio_task_name(n), "fetcher");
    assert_int_equal(corio_await(n, NULL), 0);
    /* A callback runs on the loop stack: no current task. */
    assert_int_equal(corio_call_soon(NULL, current_in_callback, &cb_ok), 0);
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(cb_ok, 1);
    return NULL;
}

struct visit {
    int n;
    uint64_t ids[16];
    int stop_at;
};

static int visit_fn(corio_task *t, void *arg)
{
    struct visit *v = arg;
    if (v->n < 16)
        v->ids[v->n] = corio_task_id(t);
    v->n++;
    return v->n == v->stop_at ? 42 : 0;
}

TU_TASK_TEST(foreach_visits_live_tasks_in_spawn_order)
{
    struct visit v = {0};
    corio_task *t[5];
    int i;
    for (i = 0; i < 5; i++)
        t[i] = corio_spawn(return_arg, NULL);
    assert_int_equal(corio_task_count(NULL), 6);
    assert_int_equal(corio_task_count(corio_loop_current()), 6);
    assert_int_equal(corio_task_foreach(NULL, visit_fn, &v), 0);
    assert_int_equal(v.n, 6);
    assert_int_equal(v.ids[0], corio_task_id(corio_current()));
    for (i = 0; i < 5; i++)
        assert_int_equal(v.ids[i + 1], corio_task_id(t[i]));
    /* A non-zero return stops the walk and is returned. */
    memset(&v, 0, sizeof v);
    v.stop_at = 3;
    assert_int_equal(corio_task_foreach(corio_loop_current(), visit_fn, &v), 42);
    assert_int_equal(v.n, 3);
    /* Finished tasks are live until awaited. */
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_task_count(NULL), 6);
    for (i = 0; i < 5; i++) {
        assert_int_equal(corio_await(t[i], NULL), 0);
        assert_int_equal(corio_task_count(NULL), (size_t)(5 - i));
    }
    return NULL;
}

static int observed_running;
static void *state_walker(void *arg)
{
    observed_running = corio_task_state(corio_current());
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_sleep(0.01), 0);
    return arg;
}

TU_TASK_TEST(task_state_goes_created_ready_running_suspended_done)
{
    corio_task *t = corio_spawn(state_walker, NULL);
    assert_int_equal(corio_task_state(t), CORIO_TASK_CREATED);
    assert_int_equal(corio_yield(), 0); /* t runs, yields: queued behind us */
    assert_int_equal(observed_running, CORIO_TASK_RUNNING);
    assert_int_equal(corio_task_state(t), CORIO_TASK_READY);
    assert_int_equal(corio_yield(), 0); /* t goes to sleep */
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    assert_int_equal(corio_sleep(0.02), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    assert_int_equal(corio_await(t, NULL), 0);
    return NULL;
}

static void *future_waiter(void *arg)
{
    corio_task *t = arg;
    void *v = NULL;
    int rc = corio_future_await(corio_task_future(t), &v);
    return rc == 0 ? v : corio_fail(rc);
}

TU_TASK_TEST(task_future_completes_with_the_task_and_does_not_consume_it)
{
    corio_task *t = corio_spawn(sleep_then_return, (void *)77), *w[3];
    corio_future *f = corio_task_future(t);
    void *r = NULL;
    int i;
    assert_non_null(f);
    assert_int_equal(corio_future_done(f), 0);
    assert_int_equal(corio_future_result(f, &r), -EAGAIN);
    for (i = 0; i < 3; i++)
        w[i] = corio_spawn(future_waiter, t);
    for (i = 0; i < 3; i++) {
        assert_int_equal(corio_await(w[i], &r), 0);
        assert_ptr_equal(r, (void *)77);
    }
    assert_int_equal(corio_future_done(f), 1);
    assert_int_equal(corio_future_result(f, &r), 0);
    assert_ptr_equal(r, (void *)77);
    /* Destroying a task's own future is ignored. */
    corio_future_destroy(f);
    assert_int_equal(corio_await(t, &r), 0);
    assert_ptr_equal(r, (void *)77);
    /* A failed task's future carries its error. */
    t = corio_spawn(fails_with_eio, NULL);
    assert_int_equal(corio_future_await(corio_task_future(t), NULL), -EIO);
    assert_int_equal(corio_await(t, NULL), -EIO);
    return NULL;
}

/* ---- FIFO fairness --------------------------------------------------------------*/

#define FAIR_TASKS 5
#define FAIR_ROUNDS 40

static void *fair_yielder(void *arg)
{
    int i, id = (int)(intptr_t)arg;
    for (i = 0; i < FAIR_ROUNDS; i++) {
        tu_log_add(&lg, id);
        assert_int_equal(corio_yield(), 0);
    }
    return NULL;
}

TU_TASK_TEST(yielding_tasks_interleave_round_robin_in_spawn_order)
{
    static int want[FAIR_TASKS * FAIR_ROUNDS];
    corio_task *t[FAIR_TASKS];
    int i;
    tu_log_reset(&lg);
    for (i = 0; i < FAIR_TASKS * FAIR_ROUNDS; i++)
        want[i] = i % FAIR_TASKS;
    for (i = 0; i < FAIR_TASKS; i++)
        t[i] = corio_spawn(fair_yielder, (void *)(intptr_t)i);
    for (i = 0; i < FAIR_TASKS; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    tu_log_expect(&lg, want, FAIR_TASKS * FAIR_ROUNDS);
    return NULL;
}

static void *log_and_return(void *arg)
{
    tu_log_add(&lg, (int)(intptr_t)arg);
    return NULL;
}

static void log_cb(void *arg) { tu_log_add(&lg, (int)(intptr_t)arg); }

TU_TASK_TEST(spawned_tasks_and_callbacks_start_in_queue_order)
{
    static const int want[] = {0, 100, 1, 101, 2};
    corio_task *t[3];
    tu_log_reset(&lg);
    t[0] = corio_spawn(log_and_return, (void *)0);
    corio_call_soon(NULL, log_cb, (void *)100);
    t[1] = corio_spawn(log_and_return, (void *)1);
    corio_call_soon(NULL, log_cb, (void *)101);
    t[2] = corio_spawn(log_and_return, (void *)2);
    assert_int_equal(corio_yield(), 0);
    tu_log_expect(&lg, want, 5);
    for (int i = 0; i < 3; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spawn_does_not_run_until_the_caller_suspends),
        cmocka_unit_test(await_suspends_until_the_task_returns_its_value),
        cmocka_unit_test(await_of_a_finished_task_returns_at_once),
        cmocka_unit_test(await_null_result_pointer_is_allowed),
        cmocka_unit_test(spawn_ex_rejects_bad_arguments),
        cmocka_unit_test(spawn_and_suspend_outside_a_task_fail),
        cmocka_unit_test(fail_sets_the_awaited_status),
        cmocka_unit_test(await_shield_leaves_the_awaited_task_running),
        cmocka_unit_test(await_self_is_edeadlk_and_keeps_the_handle),
        cmocka_unit_test(detach_done_task_frees_it_at_once),
        cmocka_unit_test(detach_running_task_frees_it_when_it_ends),
        cmocka_unit_test(detach_self_then_end),
        cmocka_unit_test(eager_spawn_from_a_task_runs_until_first_suspension),
        cmocka_unit_test(eager_spawn_from_a_callback_runs_inside_it),
        cmocka_unit_test(eager_spawn_nests),
        cmocka_unit_test(names_ids_and_current),
        cmocka_unit_test(foreach_visits_live_tasks_in_spawn_order),
        cmocka_unit_test(task_state_goes_created_ready_running_suspended_done),
        cmocka_unit_test(task_future_completes_with_the_task_and_does_not_consume_it),
        cmocka_unit_test(yielding_tasks_interleave_round_robin_in_spawn_order),
        cmocka_unit_test(spawned_tasks_and_callbacks_start_in_queue_order),
    };
    return tu_run_both_modes(tests);
}
