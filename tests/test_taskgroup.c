/* Task groups: the scenarios of CPython's test_taskgroups.py (results, a
 * failure cancels the siblings, spawning while running and from children,
 * a cancelled parent, errors racing the parent's cancellation) and the two
 * CPython bugs about swallowed cancellation (gh-86296: a cancel arriving as
 * the awaited work completes; gh-155433: a child failing while the parent
 * is being cancelled). A test per rule documented in corio.h. */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static int finished, cancelled_kids;

/* arg = ms*10 + how: sleeps ms, then returns ms (0), fails -EIO (1), fails
 * -EPIPE (3). A cancelled sleep counts in cancelled_kids. */
static void *kid(void *arg)
{
    int a = I(arg), ms = a / 10, how = a % 10;
    int rc = corio_sleep(ms / 1000.0);
    if (rc) {
        cancelled_kids++;
        return corio_fail(rc);
    }
    finished++;
    if (how == 1)
        return corio_fail(-EIO);
    if (how == 3)
        return corio_fail(-EPIPE);
    return P(ms);
}
#define OK(ms) P((ms) * 10)
#define FAIL(ms) P((ms) * 10 + 1)

static void reset(void) { finished = cancelled_kids = 0; }

/* test_taskgroup_01/02: results, spawn while the group runs. */
static void *main_results(void *arg)
{
    corio_group *g;
    corio_task *t1, *t2;
    void *v;
    reset();
    assert_int_equal(corio_group_create(&g), 0);
    assert_int_equal(corio_group_spawn_ex(g, &t1, kid, OK(10), NULL), 0);
    corio_sleep(0.005);
    assert_int_equal(corio_group_spawn_ex(g, &t2, kid, OK(20), NULL), 0);
    assert_int_equal(corio_group_size(g), 2);
    assert_int_equal(corio_group_wait(g), 0);
    assert_int_equal(corio_group_running(g), 0);
    assert_int_equal(corio_future_result(corio_task_future(t1), &v), 0);
    assert_int_equal(I(v), 10);
    assert_int_equal(corio_future_result(corio_task_future(t2), &v), 0);
    assert_int_equal(I(v), 20);
    /* Waited: no more spawns; wait again returns the same. */
    assert_int_equal(corio_group_spawn(g, kid, OK(1)), CORIO_ESHUTDOWN);
    assert_int_equal(corio_group_wait(g), 0);
    corio_group_destroy(g);
    /* An empty group waits for nothing. */
    corio_group_create(&g);
    assert_int_equal(corio_group_wait(g), 0);
    corio_group_destroy(g);
    return NULL;
}
static void test_results(void **s) { assert_int_equal(tu_run(main_results, NULL, NULL), 0); }

/* The group cannot end before its children. */
static void *main_outlives(void *arg)
{
    corio_group *g;
    double t0 = corio_now();
    reset();
    corio_group_create(&g);
    corio_group_spawn(g, kid, OK(30));
    corio_group_spawn(g, kid, OK(10));
    assert_int_equal(corio_group_wait(g), 0);
    assert_true(corio_now() - t0 >= 0.029);
    assert_int_equal(finished, 2);
    corio_group_destroy(g);
    return NULL;
}
static void test_outlives(void **s) { assert_int_equal(tu_run(main_outlives, NULL, NULL), 0); }

/* test_taskgroup_03/04: the first failure cancels the siblings and is what
 * wait reports; later failures do not replace it; spawning is refused. */
static void *main_failure(void *arg)
{
    corio_group *g;
    reset();
    corio_group_create(&g);
    corio_group_spawn(g, kid, OK(1000));
    corio_group_spawn(g, kid, FAIL(5));
    corio_group_spawn(g, kid, OK(1000));
    assert_int_equal(corio_group_wait(g), -EIO);
    assert_int_equal(corio_group_error(g), -EIO);
    assert_int_equal(cancelled_kids, 2);
    assert_int_equal(corio_cancelled(), 0); /* the parent is not cancelled */
    assert_int_equal(corio_group_spawn(g, kid, OK(1)), CORIO_ESHUTDOWN);
    corio_group_destroy(g);
    assert_int_equal(corio_sleep(0), 0);
    return NULL;
}
static void test_failure_cancels_siblings(void **s) { assert_int_equal(tu_run(main_failure, NULL, NULL), 0); }

/* Two failures: the first (in completion order) wins. */
static void *main_two_failures(void *arg)
{
    corio_group *g;
    reset();
    corio_group_create(&g);
    corio_group_spawn(g, kid, P(20 * 10 + 3)); /* -EPIPE at 20 ms */
    corio_group_spawn(g, kid, FAIL(5));         /* -EIO at 5 ms */
    assert_int_equal(corio_group_wait(g), -EIO);
    corio_group_destroy(g);
    return NULL;
}
static void test_two_failures(void **s) { assert_int_equal(tu_run(main_two_failures, NULL, NULL), 0); }

/* A child cancelled by someone else is not a group failure. */
static void *main_child_cancelled(void *arg)
{
    corio_group *g;
    corio_task *t;
    reset();
    corio_group_create(&g);
    corio_group_spawn_ex(g, &t, kid, OK(1000), NULL);
    corio_group_spawn(g, kid, OK(5));
    corio_yield();
    corio_cancel(t);
    assert_int_equal(corio_group_wait(g), 0);
    assert_int_equal(finished, 1);
    corio_group_destroy(g);
    return NULL;
}
static void test_child_cancelled(void **s) { assert_int_equal(tu_run(main_child_cancelled, NULL, NULL), 0); }

/* Children may spawn siblings into the group (nursery passing). */
static corio_group *G;
static void *spawner(void *arg)
{
    int rc = corio_group_spawn(G, kid, OK(5));
    return rc ? corio_fail(rc) : NULL;
}

static void *self_wait(void *arg) { return P(corio_group_wait(G)); }

static void *main_nested_spawn(void *arg)
{
    corio_task *t;
    void *v;
    reset();
    corio_group_create(&G);
    corio_group_spawn(G, spawner, NULL);
    corio_group_spawn_ex(G, &t, self_wait, NULL, NULL);
    assert_int_equal(corio_group_wait(G), 0);
    assert_int_equal(corio_group_size(G), 3);
    assert_int_equal(finished, 1);
    corio_future_result(corio_task_future(t), &v);
    assert_int_equal(I(v), -EDEADLK); /* a child cannot wait for its group */
    corio_group_destroy(G);
    return NULL;
}
static void test_nested_spawn(void **s) { assert_int_equal(tu_run(main_nested_spawn, NULL, NULL), 0); }

/* The group cancelled as a whole. */
static void cancel_group_cb(void *arg) { corio_group_cancel(arg); }

static void *main_group_cancel(void *arg)
{
    corio_group *g;
    reset();
    corio_group_create(&g);
    corio_group_spawn(g, kid, OK(1000));
    corio_group_spawn(g, kid, OK(1000));
    corio_call_later(NULL, 0.005, cancel_group_cb, g);
    assert_int_equal(corio_group_wait(g), -ECANCELED);
    assert_int_equal(cancelled_kids, 2);
    assert_int_equal(corio_cancelled(), 0); /* only the group was */
    assert_int_equal(corio_sleep(0), 0);
    corio_group_destroy(g);
    return NULL;
}
static void test_group_cancel(void **s) { assert_int_equal(tu_run(main_group_cancel, NULL, NULL), 0); }

/* test_cancel_parent: the parent is cancelled while waiting: children are
 * cancelled and waited for, wait returns -ECANCELED, and the parent's next
 * suspending call returns -ECANCELED too. */
static int parent_wait_rc, parent_next_rc, parent_saw_running;
static void *parent(void *arg)
{
    corio_group *g;
    corio_group_create(&g);
    corio_group_spawn(g, kid, OK(1000));
    corio_group_spawn(g, kid, OK(1000));
    parent_wait_rc = corio_group_wait(g);
    parent_saw_running = (int)corio_group_running(g);
    parent_next_rc = corio_sleep(0);
    corio_group_destroy(g);
    return NULL;
}

static void *main_parent_cancel(void *arg)
{
    corio_task *p;
    reset();
    p = corio_spawn(parent, NULL);
    corio_sleep(0.005);
    corio_cancel(p);
    assert_int_equal(corio_await(p, NULL), -ECANCELED);
    assert_int_equal(parent_wait_rc, -ECANCELED);
    assert_int_equal(parent_saw_running, 0); /* children ended first */
    assert_int_equal(parent_next_rc, -ECANCELED);
    assert_int_equal(cancelled_kids, 2);
    return NULL;
}
static void test_parent_cancel(void **s) { assert_int_equal(tu_run(main_parent_cancel, NULL, NULL), 0); }

/* The parent is cancelled in its own code before it reaches wait. */
static void *parent_early(void *arg)
{
    corio_group *g;
    corio_group_create(&g);
    corio_group_spawn(g, kid, OK(1000));
    (void)corio_sleep(10); /* cancelled here */
    parent_wait_rc = corio_group_wait(g);
    parent_saw_running = (int)corio_group_running(g);
    corio_group_destroy(g);
    return NULL;
}

static void *main_parent_cancel_early(void *arg)
{
    corio_task *p;
    reset();
    p = corio_spawn(parent_early, NULL);
    corio_sleep(0.005);
    corio_cancel(p);
    assert_int_equal(corio_await(p, NULL), -ECANCELED);
    assert_int_equal(parent_wait_rc, -ECANCELED);
    assert_int_equal(parent_saw_running, 0);
    assert_int_equal(cancelled_kids, 1);
    return NULL;
}
static void test_parent_cancel_early(void **s) { assert_int_equal(tu_run(main_parent_cancel_early, NULL, NULL), 0); }

/* gh-155433: a child fails while the parent is being cancelled. The
 * group reports the parent's -ECANCELED, not the child's -EIO, and the
 * parent stays cancelled. */
static corio_task *race_parent;
static void *failing_kid_cancels_parent(void *arg)
{
    corio_cancel(race_parent); /* the parent's cancel and ... */
    return corio_fail(-EIO);   /* ... this failure land together */
}

static void *parent_race(void *arg)
{
    corio_group *g;
    corio_group_create(&g);
    corio_group_spawn(g, kid, OK(1000));
    corio_group_spawn(g, failing_kid_cancels_parent, NULL);
    parent_wait_rc = corio_group_wait(g);
    parent_next_rc = corio_yield();
    corio_group_destroy(g);
    return NULL;
}

static void *main_fail_and_cancel(void *arg)
{
    reset();
    race_parent = corio_spawn(parent_race, NULL);
    assert_int_equal(corio_await(race_parent, NULL), -ECANCELED);
    assert_int_equal(parent_wait_rc, -ECANCELED);
    assert_int_equal(parent_next_rc, -ECANCELED);
    assert_int_equal(cancelled_kids, 1);
    return NULL;
}
static void test_fail_and_cancel(void **s) { assert_int_equal(tu_run(main_fail_and_cancel, NULL, NULL), 0); }

/* gh-86296: the parent is woken because its last child completed
 * (successfully) and is cancelled before it runs again. The cancellation
 * is not swallowed. Done-callbacks run in registration order, so the
 * test's callback cancels the parent right after the group's own callback
 * woke it. */
static corio_task *p86296;
static void *quick(void *arg)
{
    corio_yield();
    corio_yield();
    return P(1);
}

static void cancel_parent_cb(corio_future *f, void *arg) { corio_cancel(arg); }

static void *parent_86296(void *arg)
{
    corio_group *g;
    corio_task *t;
    corio_group_create(&g);
    corio_group_spawn_ex(g, &t, quick, NULL, NULL);
    corio_future_add_done_callback(corio_task_future(t), cancel_parent_cb,
                                   p86296);
    parent_wait_rc = corio_group_wait(g);
    parent_next_rc = corio_yield();
    corio_group_destroy(g);
    return NULL;
}

static void *main_86296(void *arg)
{
    reset();
    p86296 = corio_spawn(parent_86296, NULL);
    assert_int_equal(corio_await(p86296, NULL), -ECANCELED);
    assert_int_equal(parent_wait_rc, -ECANCELED);
    assert_int_equal(parent_next_rc, -ECANCELED);
    return NULL;
}
static void test_gh86296(void **s) { assert_int_equal(tu_run(main_86296, NULL, NULL), 0); }

/* A timeout of the waiting task: children cancelled, -ETIMEDOUT. */
static void *main_timeout(void *arg)
{
    corio_group *g;
    corio_scope sc;
    reset();
    corio_group_create(&g);
    corio_group_spawn(g, kid, OK(1000));
    corio_scope_enter(&sc, 0.01, 0);
    assert_int_equal(corio_group_wait(g), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&sc), 1);
    assert_int_equal(corio_group_running(g), 0);
    assert_int_equal(cancelled_kids, 1);
    corio_group_destroy(g);
    return NULL;
}
static void test_timeout(void **s) { assert_int_equal(tu_run(main_timeout, NULL, NULL), 0); }

/* Destroy without wait: running children are cancelled and handed to the
 * loop (tu_run checks nothing leaks). */
static void *main_destroy_unwaited(void *arg)
{
    corio_group *g;
    reset();
    corio_group_create(&g);
    corio_group_spawn(g, kid, OK(1000));
    corio_group_spawn(g, kid, OK(0));
    corio_sleep(0.002); /* the quick one finishes */
    corio_group_destroy(g);
    corio_sleep(0.005);
    assert_int_equal(finished, 1);
    assert_int_equal(cancelled_kids, 1);
    return NULL;
}
static void test_destroy_unwaited(void **s) { assert_int_equal(tu_run(main_destroy_unwaited, NULL, NULL), 0); }

static void test_bad_input(void **s)
{
    corio_group *g;
    assert_int_equal(corio_group_create(NULL), -EINVAL);
    assert_int_equal(corio_group_create(&g), 0);
    assert_int_equal(corio_group_wait(g), -EPERM);
    assert_int_equal(corio_group_spawn(g, NULL, NULL), -EINVAL);
    assert_int_equal(corio_group_spawn_ex(g, NULL, kid, NULL,
                         &(corio_spawn_opts){.flags = CORIO_SPAWN_DETACHED}),
                     -EINVAL);
    corio_group_destroy(g);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_outlives),
        cmocka_unit_test(test_failure_cancels_siblings),
        cmocka_unit_test(test_two_failures),
        cmocka_unit_test(test_child_cancelled),
        cmocka_unit_test(test_nested_spawn),
        cmocka_unit_test(test_group_cancel),
        cmocka_unit_test(test_parent_cancel),
        cmocka_unit_test(test_parent_cancel_early),
        cmocka_unit_test(test_fail_and_cancel),
        cmocka_unit_test(test_gh86296),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_destroy_unwaited),
        cmocka_unit_test(test_bad_input),
    };
    return tu_run_both_modes(tests);
}
