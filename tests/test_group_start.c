/*
 * Task groups, asyncio's and Trio's remaining semantics: every failure of a
 * group (ExceptionGroup in C form), and start-then-wait-until-ready
 * (nursery.start), including failure, cancellation and the races between
 * "ready" and the starter's cancellation. Shared data is static (the suite
 * runs in compact mode too).
 */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *fail_after_yield(void *arg)
{
    corio_yield();
    return corio_fail((int)(intptr_t)arg);
}

/* Sleeps; once cancelled, fails with arg (if non-zero) during cleanup. */
static void *fail_in_cleanup(void *arg)
{
    if (corio_sleep(10) == 0)
        return NULL;
    if (arg)
        return corio_fail((int)(intptr_t)arg);
    return NULL;
}

static void *succeed(void *arg) { return arg; }

/* ---- every failure ------------------------------------------------------*/

TU_TASK_TEST(failures_lists_every_failure_and_its_task)
{
    corio_group *g;
    corio_task *a, *b, *c, *d;
    corio_spawn_opts oa = {.name = "a"}, ob = {.name = "b"};
    corio_group_failure f[4];
    (void)arg;
    assert_int_equal(corio_group_create(&g), 0);
    assert_int_equal(corio_group_failures(g, NULL, 0), 0);
    assert_int_equal(corio_group_spawn_ex(g, &a, fail_after_yield,
                                          (void *)(intptr_t)-EIO, &oa), 0);
    assert_int_equal(corio_group_spawn_ex(g, &b, fail_in_cleanup,
                                          (void *)(intptr_t)-EPIPE, &ob), 0);
    assert_int_equal(corio_group_spawn_ex(g, &c, succeed, (void *)1, NULL), 0);
    assert_int_equal(corio_group_spawn_ex(g, &d, fail_in_cleanup, NULL, NULL), 0);
    assert_int_equal(corio_group_wait(g), -EIO); /* the first, as before */
    assert_int_equal(corio_group_error(g), -EIO);
    /* Both failures, in completion order; c succeeded, d was cancelled. */
    memset(f, 0, sizeof f);
    assert_int_equal(corio_group_failures(g, f, 4), 2);
    assert_ptr_equal(f[0].task, a);
    assert_int_equal(f[0].task_id, corio_task_id(a));
    assert_int_equal(f[0].index, 0);
    assert_int_equal(f[0].status, -EIO);
    assert_string_equal(corio_task_name(f[0].task), "a");
    assert_ptr_equal(f[1].task, b);
    assert_int_equal(f[1].index, 1);
    assert_int_equal(f[1].status, -EPIPE);
    assert_string_equal(corio_task_name(f[1].task), "b");
    assert_null(f[2].task); /* untouched */
    /* A short array: the count is still the whole. */
    memset(f, 0, sizeof f);
    assert_int_equal(corio_group_failures(g, f, 1), 2);
    assert_ptr_equal(f[0].task, a);
    assert_null(f[1].task);
    assert_int_equal(corio_group_failures(NULL, f, 4), 0);
    corio_group_destroy(g);
    return NULL;
}

TU_TASK_TEST(no_failures_when_all_succeed_or_are_cancelled)
{
    corio_group *g;
    (void)arg;
    assert_int_equal(corio_group_create(&g), 0);
    corio_group_spawn(g, succeed, NULL);
    corio_group_spawn(g, fail_in_cleanup, NULL);
    corio_yield();
    corio_group_cancel(g);
    assert_int_equal(corio_group_wait(g), -ECANCELED);
    assert_int_equal(corio_group_failures(g, NULL, 0), 0);
    corio_group_destroy(g);
    return NULL;
}

/* The waiter is cancelled: children fail while being cancelled, and every
 * one of those failures is still listed although wait reports the
 * cancellation. */
static corio_group *wg;
static int wg_rc;
static void *waits_on_group(void *arg)
{
    (void)arg;
    wg_rc = corio_group_wait(wg);
    return NULL;
}

TU_TASK_TEST(failures_during_the_waiters_cancellation_are_listed)
{
    corio_task *w;
    corio_group_failure f[3];
    int i;
    (void)arg;
    assert_int_equal(corio_group_create(&wg), 0);
    for (i = 0; i < 3; i++)
        corio_group_spawn(wg, fail_in_cleanup, (void *)(intptr_t)(-EIO - i));
    w = corio_spawn(waits_on_group, NULL);
    corio_sleep(0.01);
    corio_cancel(w);
    assert_int_equal(corio_await(w, NULL), -ECANCELED);
    assert_int_equal(wg_rc, -ECANCELED);
    assert_int_equal(corio_group_failures(wg, f, 3), 3);
    for (i = 0; i < 3; i++)
        assert_true(f[i].status <= -EIO && f[i].status >= -EIO - 2);
    assert_int_not_equal(f[0].status, f[1].status);
    corio_group_destroy(wg);
    return NULL;
}

/* ---- start, then wait until ready --------------------------------------*/

static corio_group *sg;
static int server_after; /* the server kept running after it was ready */

static void *server(void *arg)
{
    (void)arg;
    corio_sleep(0.01); /* "binds" */
    assert_int_equal(corio_group_started(sg, (void *)(intptr_t)8080), 0);
    assert_int_equal(corio_group_started(sg, NULL), -EINVAL); /* once */
    corio_sleep(0.02);
    server_after = 1;
    return NULL;
}

TU_TASK_TEST(start_returns_the_ready_value_and_the_child_runs_on)
{
    corio_task *t = NULL;
    void *port = NULL;
    (void)arg;
    server_after = 0;
    assert_int_equal(corio_group_create(&sg), 0);
    assert_int_equal(corio_group_start(sg, &t, server, NULL, NULL, &port), 0);
    assert_ptr_equal(port, (void *)(intptr_t)8080);
    assert_non_null(t);
    assert_int_not_equal(corio_task_state(t), CORIO_TASK_DONE);
    assert_int_equal(server_after, 0);
    assert_int_equal(corio_group_running(sg), 1);
    assert_int_equal(corio_group_wait(sg), 0);
    assert_int_equal(server_after, 1);
    corio_group_destroy(sg);
    return NULL;
}

static void *fails_before_ready(void *arg)
{
    (void)arg;
    corio_sleep(0.01);
    return corio_fail(-EADDRINUSE);
}

static void *returns_before_ready(void *arg)
{
    (void)arg;
    return (void *)1;
}

TU_TASK_TEST(start_reports_a_child_that_ends_before_ready)
{
    corio_task *t = NULL;
    void *v = (void *)1;
    (void)arg;
    assert_int_equal(corio_group_create(&sg), 0);
    assert_int_equal(corio_group_start(sg, &t, fails_before_ready, NULL, NULL, &v),
                     -EADDRINUSE);
    assert_null(v);
    assert_non_null(t);
    /* Its failure is the starter's, not the group's. */
    assert_int_equal(corio_group_error(sg), 0);
    assert_int_equal(corio_group_failures(sg, NULL, 0), 0);
    assert_int_equal(corio_group_start(sg, NULL, returns_before_ready, NULL,
                                       NULL, NULL), -EPROTO);
    /* The group still takes children and waits clean. */
    assert_int_equal(corio_group_spawn(sg, succeed, NULL), 0);
    assert_int_equal(corio_group_wait(sg), 0);
    assert_int_equal(corio_group_start(sg, NULL, server, NULL, NULL, NULL),
                     CORIO_ESHUTDOWN);
    corio_group_destroy(sg);
    return NULL;
}

static void *never_ready(void *arg)
{
    (void)arg;
    return fail_in_cleanup((void *)(intptr_t)-EIO);
}

static void *cancels_group_soon(void *arg)
{
    (void)arg;
    corio_sleep(0.01);
    corio_group_cancel(sg);
    return NULL;
}

TU_TASK_TEST(start_of_a_child_cancelled_before_ready)
{
    corio_task *c;
    (void)arg;
    assert_int_equal(corio_group_create(&sg), 0);
    c = corio_spawn(cancels_group_soon, NULL);
    /* The group is cancelled while the child is starting; a child that
     * then fails in its cleanup reports that failure to the starter. */
    assert_int_equal(corio_group_start(sg, NULL, fail_in_cleanup, NULL, NULL,
                                       NULL), -ECANCELED);
    assert_int_equal(corio_await(c, NULL), 0);
    assert_int_equal(corio_group_wait(sg), -ECANCELED);
    corio_group_destroy(sg);
    assert_int_equal(corio_group_create(&sg), 0);
    c = corio_spawn(cancels_group_soon, NULL);
    assert_int_equal(corio_group_start(sg, NULL, never_ready, NULL, NULL, NULL),
                     -EIO);
    assert_int_equal(corio_await(c, NULL), 0);
    assert_int_equal(corio_group_failures(sg, NULL, 0), 0);
    assert_int_equal(corio_group_wait(sg), -ECANCELED);
    corio_group_destroy(sg);
    return NULL;
}

/* The starter is cancelled while the child has not reported: the child is
 * cancelled, start waits for it to end, and its cleanup failure is not the
 * group's. */
static int starter_rc, starter_saw_running;
static corio_task *starter_child;
static void *starter(void *arg)
{
    (void)arg;
    starter_rc = corio_group_start(sg, &starter_child, never_ready, NULL,
                                   NULL, NULL);
    starter_saw_running = corio_group_running(sg);
    return NULL;
}

TU_TASK_TEST(start_when_the_starter_is_cancelled)
{
    corio_task *s;
    double t0 = corio_now();
    (void)arg;
    starter_rc = starter_saw_running = 7;
    assert_int_equal(corio_group_create(&sg), 0);
    s = corio_spawn(starter, NULL);
    corio_sleep(0.02);
    corio_cancel(s);
    assert_int_equal(corio_await(s, NULL), -ECANCELED);
    assert_int_equal(starter_rc, -ECANCELED);
    assert_int_equal(starter_saw_running, 0); /* the child had ended */
    assert_int_equal(corio_task_state(starter_child), CORIO_TASK_DONE);
    assert_true(corio_now() - t0 < tu_slack());
    assert_int_equal(corio_group_error(sg), 0);
    assert_int_equal(corio_group_failures(sg, NULL, 0), 0);
    assert_int_equal(corio_group_wait(sg), 0);
    corio_group_destroy(sg);
    return NULL;
}

/* Ready and the starter's cancellation in the same loop iteration: the
 * first wake wins, in both orders. */
static corio_task *race_starter;
static int race_started_rc, race_cancel_first;
static void *reports_and_cancels(void *arg)
{
    (void)arg;
    if (race_cancel_first) {
        corio_cancel(race_starter);
        race_started_rc = corio_group_started(sg, (void *)5);
    } else {
        race_started_rc = corio_group_started(sg, (void *)5);
        corio_cancel(race_starter);
    }
    corio_sleep(0.01); /* still running when the starter resumes */
    return NULL;
}

static void *race_start(void *arg)
{
    void *v = NULL;
    int rc;
    (void)arg;
    starter_rc = corio_group_start(sg, NULL, reports_and_cancels, NULL, NULL, &v);
    if (starter_rc == 0)
        assert_ptr_equal(v, (void *)5);
    rc = corio_yield(); /* the cancellation is still there */
    assert_int_equal(rc, -ECANCELED);
    return NULL;
}

static void start_race_once(int cancel_first)
{
    race_cancel_first = cancel_first;
    race_started_rc = starter_rc = 7;
    assert_int_equal(corio_group_create(&sg), 0);
    race_starter = corio_spawn(race_start, NULL);
    assert_int_equal(corio_await(race_starter, NULL), -ECANCELED);
    if (cancel_first) {
        assert_int_equal(starter_rc, -ECANCELED);
        assert_int_equal(race_started_rc, -ECANCELED);
    } else {
        assert_int_equal(starter_rc, 0);
        assert_int_equal(race_started_rc, 0);
    }
    assert_int_equal(corio_group_wait(sg), 0);
    corio_group_destroy(sg);
}

TU_TASK_TEST(start_races_ready_against_the_starters_cancellation)
{
    (void)arg;
    start_race_once(0);
    start_race_once(1);
    return NULL;
}

TU_TASK_TEST(started_misuse)
{
    (void)arg;
    assert_int_equal(corio_group_create(&sg), 0);
    assert_int_equal(corio_group_started(sg, NULL), -EINVAL); /* not a child */
    assert_int_equal(corio_group_started(NULL, NULL), -EINVAL);
    assert_int_equal(corio_group_start(NULL, NULL, server, NULL, NULL, NULL),
                     -EINVAL);
    assert_int_equal(corio_group_start(sg, NULL, NULL, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(corio_group_wait(sg), 0);
    corio_group_destroy(sg);
    return NULL;
}

static void started_outside_a_task(void **state)
{
    (void)state;
    assert_int_equal(corio_group_started(NULL, NULL), -EPERM);
    assert_int_equal(corio_group_start(NULL, NULL, server, NULL, NULL, NULL),
                     -EPERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failures_lists_every_failure_and_its_task),
        cmocka_unit_test(no_failures_when_all_succeed_or_are_cancelled),
        cmocka_unit_test(failures_during_the_waiters_cancellation_are_listed),
        cmocka_unit_test(start_returns_the_ready_value_and_the_child_runs_on),
        cmocka_unit_test(start_reports_a_child_that_ends_before_ready),
        cmocka_unit_test(start_of_a_child_cancelled_before_ready),
        cmocka_unit_test(start_when_the_starter_is_cancelled),
        cmocka_unit_test(start_races_ready_against_the_starters_cancellation),
        cmocka_unit_test(started_misuse),
        cmocka_unit_test(started_outside_a_task),
    };
    return tu_run_both_modes(tests);
}
