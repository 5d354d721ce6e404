/*
 * corio_run_multi and corio_spawn_on: loops and their indexes, tasks on
 * other loops awaited, cancelled (level-triggered there), detached, awaited
 * with a timeout; the races of a cross-loop wake against a cancel and a
 * timeout; and shutdown while messages are in flight, leaking nothing
 * (ASan's leak check and each loop's close report).
 *
 * cmocka is not thread-safe and tasks run on several threads: tasks record
 * failures with CHECK (an atomic count and a message on stderr); the test
 * asserts the count after corio_run_multi returned.
 */
#include "testutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multi_check.h"

static int run(corio_fn fn, unsigned threads, void **result)
{
    corio_multi_config c;
    memset(&c, 0, sizeof c);
    c.threads = threads;
    atomic_store(&failures, 0);
    return corio_run_multi(fn, NULL, result, &c);
}

static void *my_index(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)corio_loop_index(NULL);
}

/* ---- the runtime --------------------------------------------------------------*/

static void *basics_main(void *arg)
{
    unsigned i, n = corio_loop_count();
    (void)arg;
    CHECK(n == 3);
    CHECK(corio_loop_index(NULL) == 0);
    for (i = 0; i < n; i++) {
        corio_loop *l = corio_loop_get(i);
        CHECK(l != NULL);
        CHECK(corio_loop_index(l) == (int)i);
    }
    CHECK(corio_loop_get(n) == NULL);
    return (void *)(intptr_t)42;
}

static void test_basics(void **state)
{
    void *res = NULL;
    (void)state;
    assert_int_equal(run(basics_main, 3, &res), 0);
    assert_int_equal((intptr_t)res, 42);
    assert_int_equal(atomic_load(&failures), 0);
    /* Outside a runtime. */
    assert_int_equal(corio_loop_count(), 0);
    assert_null(corio_loop_get(0));
    assert_null(corio_loop_pick(CORIO_PICK_ROUND_ROBIN));
    assert_int_equal(corio_loop_index(NULL), -EINVAL);
    assert_int_equal(corio_spawn_on(NULL, NULL, my_index, NULL), -EPERM);
}

static void *fail_main(void *arg)
{
    (void)arg;
    return corio_fail(-EPROTO);
}

static void test_main_status(void **state)
{
    corio_multi_config c;
    corio_loop_config lc;
    (void)state;
    assert_int_equal(run(fail_main, 2, NULL), -EPROTO);
    memset(&c, 0, sizeof c);
    memset(&lc, 0, sizeof lc);
    lc.stack_mode = CORIO_STACK_COMPACT;
    c.loop = &lc;
    assert_int_equal(corio_run_multi(fail_main, NULL, NULL, &c), -ENOTSUP);
    assert_int_equal(corio_run_multi(NULL, NULL, NULL, NULL), -EINVAL);
}

/* ---- spawn_on and await -------------------------------------------------------*/

static void *each_loop_main(void *arg)
{
    unsigned i, n = corio_loop_count();
    corio_xtask *h[8];
    (void)arg;
    for (i = 0; i < n; i++)
        CHECK(corio_spawn_on(&h[i], corio_loop_get(i), my_index, NULL) == 0);
    for (i = 0; i < n; i++) {
        void *v = NULL;
        CHECK(corio_xtask_await(h[i], &v, 0) == 0);
        CHECK((intptr_t)v == (intptr_t)i);
    }
    return NULL;
}

static void test_spawn_on_each_loop(void **state)
{
    (void)state;
    assert_int_equal(run(each_loop_main, 4, NULL), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

static void *square(void *arg)
{
    intptr_t i = (intptr_t)arg;
    if (i % 7 == 0)
        corio_yield();
    return (void *)(i * i);
}

#define FAN 2000

static void *fanout_main(void *arg)
{
    static corio_xtask *h[FAN];
    intptr_t i;
    (void)arg;
    for (i = 0; i < FAN; i++)
        CHECK(corio_spawn_on(&h[i], corio_loop_pick(i & 1 ? CORIO_PICK_LEAST_BUSY
                                                          : CORIO_PICK_ROUND_ROBIN),
                             square, (void *)i) == 0);
    for (i = 0; i < FAN; i++) {
        void *v = NULL;
        CHECK(corio_xtask_await(h[i], &v, 0) == 0);
        CHECK((intptr_t)v == i * i);
    }
    return NULL;
}

static void test_fanout(void **state)
{
    (void)state;
    assert_int_equal(run(fanout_main, 3, NULL), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* A task on another loop that awaits a task on a third: nested hops. */
static void *hop(void *arg)
{
    intptr_t left = (intptr_t)arg;
    corio_xtask *h;
    void *v = NULL;
    if (left == 0)
        return (void *)(intptr_t)1000;
    CHECK(corio_spawn_on(&h, corio_loop_pick(CORIO_PICK_ROUND_ROBIN), hop,
                         (void *)(left - 1)) == 0);
    CHECK(corio_xtask_await(h, &v, 0) == 0);
    return (void *)((intptr_t)v + 1);
}

static void *hops_main(void *arg)
{
    corio_xtask *h;
    void *v = NULL;
    (void)arg;
    CHECK(corio_spawn_on(&h, corio_loop_get(1), hop, (void *)(intptr_t)50) == 0);
    CHECK(corio_xtask_await(h, &v, 0) == 0);
    CHECK((intptr_t)v == 1050);
    return NULL;
}

static void test_nested_hops(void **state)
{
    (void)state;
    assert_int_equal(run(hops_main, 3, NULL), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- cancel ---------------------------------------------------------------------*/

static atomic_int level_hits, ran;

/* Sleeps; once cancelled, every later suspension fails again. */
static void *stubborn(void *arg)
{
    int i;
    (void)arg;
    atomic_fetch_add(&ran, 1);
    if (corio_sleep(30) != -ECANCELED)
        return NULL;
    for (i = 0; i < 3; i++)
        if (corio_sleep(0.001) == -ECANCELED && corio_yield() == -ECANCELED)
            atomic_fetch_add(&level_hits, 1);
    return (void *)(intptr_t)7;
}

static void *cancel_main(void *arg)
{
    corio_xtask *h;
    void *v = NULL;
    (void)arg;
    atomic_store(&level_hits, 0);
    atomic_store(&ran, 0);
    CHECK(corio_spawn_on(&h, corio_loop_get(1), stubborn, NULL) == 0);
    /* Let it start and park (structure, not timing: wait until it ran). */
    while (atomic_load(&ran) == 0)
        corio_sleep(0.001);
    CHECK(!corio_xtask_done(h));
    CHECK(corio_xtask_cancel(h) == 1);
    CHECK(corio_xtask_cancel(h) == 0);
    CHECK(corio_xtask_await(h, &v, 0) == -ECANCELED);
    CHECK((intptr_t)v == 7); /* its return value still comes out */
    CHECK(atomic_load(&level_hits) == 3);

    /* Cancelled before it started (its spawn and the cancel are drained
     * together, in order): it never runs. */
    atomic_store(&ran, 0);
    CHECK(corio_spawn_on(&h, corio_loop_get(0), stubborn, NULL) == 0);
    CHECK(corio_xtask_cancel(h) == 1);
    CHECK(corio_xtask_await(h, NULL, 0) == -ECANCELED);
    CHECK(atomic_load(&ran) == 0);
    return NULL;
}

static void test_cancel(void **state)
{
    (void)state;
    assert_int_equal(run(cancel_main, 2, NULL), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- awaiter interrupted ------------------------------------------------------*/

static atomic_int saw_cancel, finished, release;

/* Runs until released: finishes only after the test says so. */
static void *held(void *arg)
{
    (void)arg;
    while (!atomic_load(&release))
        if (corio_sleep(0.001) == -ECANCELED)
            atomic_fetch_add(&saw_cancel, 1);
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void *sleeper(void *arg)
{
    double s = (double)(intptr_t)arg / 1000.0;
    int rc = corio_sleep(s);
    if (rc == -ECANCELED)
        atomic_fetch_add(&saw_cancel, 1);
    else
        atomic_fetch_add(&finished, 1);
    return (void *)(intptr_t)5;
}

static void *timeout_main(void *arg)
{
    corio_xtask *h;
    corio_scope s;
    void *v = NULL;
    (void)arg;
    atomic_store(&saw_cancel, 0);
    atomic_store(&finished, 0);
    /* Timed out: the remote task is cancelled. */
    CHECK(corio_spawn_on(&h, corio_loop_get(1), sleeper, (void *)(intptr_t)30000) == 0);
    CHECK(corio_scope_enter(&s, 0.02, 0) == 0);
    CHECK(corio_xtask_await(h, &v, 0) == -ETIMEDOUT);
    CHECK(corio_scope_exit(&s) == 1);
    while (atomic_load(&saw_cancel) == 0)
        corio_sleep(0.001);
    /* Shielded: it runs on (not cancelled) and finishes when released. */
    atomic_store(&release, 0);
    CHECK(corio_spawn_on(&h, corio_loop_get(1), held, NULL) == 0);
    CHECK(corio_scope_enter(&s, 0.01, 0) == 0);
    CHECK(corio_xtask_await(h, &v, CORIO_AWAIT_SHIELD) == -ETIMEDOUT);
    corio_scope_exit(&s);
    corio_sleep(0.01);
    atomic_store(&release, 1);
    while (atomic_load(&finished) == 0)
        corio_sleep(0.001);
    CHECK(atomic_load(&saw_cancel) == 1);
    /* Already done, caller cancelled: the interruption, handle consumed. */
    CHECK(corio_spawn_on(&h, corio_loop_get(1), square, (void *)(intptr_t)3) == 0);
    while (!corio_xtask_done(h))
        corio_sleep(0.001);
    corio_cancel(corio_current());
    CHECK(corio_xtask_await(h, &v, 0) == -ECANCELED);
    return NULL;
}

static void test_await_interrupted(void **state)
{
    (void)state;
    assert_int_equal(run(timeout_main, 2, NULL), -ECANCELED);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- races: completion vs cancel vs timeout ---------------------------------*/

#define RACES 300

static void *quick(void *arg)
{
    intptr_t i = (intptr_t)arg;
    if (i % 3 == 0)
        corio_yield();
    else if (i % 3 == 1)
        corio_sleep(0.0005);
    return (void *)(i + 1);
}

static void *racer(void *arg)
{
    intptr_t i = (intptr_t)arg;
    corio_xtask *h;
    corio_scope s;
    void *v = NULL;
    int rc;
    CHECK(corio_spawn_on(&h, corio_loop_get((unsigned)(i % 3)), quick, (void *)i) == 0);
    switch (i % 4) {
    case 0: /* cancel races the completion */
        if (i % 8 == 0)
            corio_yield();
        corio_xtask_cancel(h);
        rc = corio_xtask_await(h, &v, 0);
        CHECK(rc == -ECANCELED || (rc == 0 && (intptr_t)v == i + 1));
        break;
    case 1: /* a timeout races the completion */
        CHECK(corio_scope_enter(&s, (i % 5) * 0.0002, 0) == 0);
        rc = corio_xtask_await(h, &v, 0);
        corio_scope_exit(&s);
        CHECK(rc == -ETIMEDOUT || (rc == 0 && (intptr_t)v == i + 1));
        break;
    case 2: /* detach races the completion */
        if (i % 8 == 2)
            corio_yield();
        corio_xtask_detach(h);
        break;
    default: /* a plain await */
        rc = corio_xtask_await(h, &v, 0);
        CHECK(rc == 0 && (intptr_t)v == i + 1);
    }
    return NULL;
}

static void *races_main(void *arg)
{
    static corio_xtask *h[RACES];
    intptr_t i;
    (void)arg;
    for (i = 0; i < RACES; i++)
        CHECK(corio_spawn_on(&h[i], corio_loop_get((unsigned)((i + 1) % 3)), racer,
                             (void *)i) == 0);
    for (i = 0; i < RACES; i++)
        CHECK(corio_xtask_await(h[i], NULL, 0) == 0);
    return NULL;
}

static void test_races(void **state)
{
    (void)state;
    assert_int_equal(run(races_main, 3, NULL), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- shutdown with messages in flight ------------------------------------------*/

static void *forever(void *arg)
{
    corio_xtask *h;
    intptr_t depth = (intptr_t)arg;
    /* Spawns more remote work as it goes, even while being cancelled. */
    if (depth < 3) {
        if (corio_spawn_on(&h, corio_loop_pick(CORIO_PICK_ROUND_ROBIN), forever,
                           (void *)(depth + 1)) == 0) {
            if (depth % 2)
                corio_xtask_detach(h);
            else
                corio_xtask_await(h, NULL, 0);
        }
    }
    corio_sleep(3600);
    corio_spawn_on(NULL, corio_loop_pick(CORIO_PICK_ROUND_ROBIN), forever,
                   (void *)(intptr_t)3);
    return NULL;
}

static void *shutdown_main(void *arg)
{
    int i;
    (void)arg;
    for (i = 0; i < 200; i++) {
        corio_xtask *h;
        CHECK(corio_spawn_on(&h, corio_loop_pick(CORIO_PICK_ROUND_ROBIN), forever,
                             (void *)(intptr_t)(i % 3)) == 0);
        if (i % 2)
            corio_xtask_detach(h);
        else
            corio_xtask_cancel(h), corio_xtask_detach(h);
    }
    corio_yield();
    return (void *)(intptr_t)1; /* returns with everything in flight */
}

static void test_shutdown_in_flight(void **state)
{
    void *res = NULL;
    (void)state;
    assert_int_equal(run(shutdown_main, 3, &res), 0);
    assert_int_equal((intptr_t)res, 1);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- dump of every loop ----------------------------------------------------------*/

static atomic_int parked;

static void *parked_forever(void *arg)
{
    (void)arg;
    atomic_fetch_add(&parked, 1);
    corio_sleep(3600);
    return NULL;
}

static void *dump_main(void *arg)
{
    FILE *f = arg;
    corio_xtask *h[3];
    unsigned i;
    for (i = 0; i < 3; i++)
        CHECK(corio_spawn_on(&h[i], corio_loop_get(i), parked_forever, NULL) == 0);
    while (atomic_load(&parked) < 3)
        corio_sleep(0.001);
    CHECK(corio_dump_all(f) >= 4);
    {
        corio_loop_metrics per[3], sum;
        CHECK(corio_loop_metrics_all(per, 3, &sum) == 3);
        /* Every loop holds one parked task (and the helper that read it). */
        for (i = 0; i < 3; i++)
            CHECK(per[i].tasks_pending >= 1 && per[i].iterations > 0);
        CHECK(sum.tasks_pending == per[0].tasks_pending + per[1].tasks_pending +
                                       per[2].tasks_pending);
        CHECK(sum.iterations == per[0].iterations + per[1].iterations +
                                    per[2].iterations);
    }
    for (i = 0; i < 3; i++) {
        corio_xtask_cancel(h[i]);
        CHECK(corio_xtask_await(h[i], NULL, 0) == -ECANCELED);
    }
    return NULL;
}

static void test_dump_all(void **state)
{
    corio_multi_config c;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    (void)state;
    assert_non_null(f);
    memset(&c, 0, sizeof c);
    c.threads = 3;
    atomic_store(&failures, 0);
    atomic_store(&parked, 0);
    assert_int_equal(corio_run_multi(dump_main, f, NULL, &c), 0);
    fclose(f);
    assert_int_equal(atomic_load(&failures), 0);
    assert_non_null(strstr(buf, "==== loop 0 of 3 ===="));
    assert_non_null(strstr(buf, "==== loop 1 of 3 ===="));
    assert_non_null(strstr(buf, "==== loop 2 of 3 ===="));
    assert_true(strstr(buf, "==== loop 0") < strstr(buf, "==== loop 1"));
    assert_true(strstr(buf, "==== loop 1") < strstr(buf, "==== loop 2"));
    assert_non_null(strstr(buf, "parked_forever"));
    assert_int_equal(corio_dump_all(NULL), -EPERM);
    assert_int_equal(corio_loop_metrics_all(NULL, 0, NULL), -EPERM);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_main_status),
        cmocka_unit_test(test_spawn_on_each_loop),
        cmocka_unit_test(test_fanout),
        cmocka_unit_test(test_nested_hops),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_await_interrupted),
        cmocka_unit_test(test_races),
        cmocka_unit_test(test_shutdown_in_flight),
        cmocka_unit_test(test_dump_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
