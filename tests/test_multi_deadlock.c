/*
 * Deadlock detection across loops: corio_run_multi returns -EDEADLK (after
 * each loop reported what its tasks wait on) when every loop is blocked
 * for good and the only thing that could wake a task is a message no loop
 * will send; and never while a task waits on something another loop can
 * still deliver (a sleeping peer, a peer waiting on the thread pool, a
 * peer busy computing).
 *
 * Tasks record failures with CHECK (cmocka is not thread-safe).
 */
#include "testutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "multi_check.h"

static corio_xchan *never;

static int run(corio_fn fn, unsigned threads, FILE *report)
{
    corio_multi_config c;
    corio_loop_config lc;
    memset(&c, 0, sizeof c);
    memset(&lc, 0, sizeof lc);
    lc.report_file = report;
    c.threads = threads;
    c.loop = &lc;
    atomic_store(&failures, 0);
    return corio_run_multi(fn, NULL, NULL, &c);
}

static void *waits_forever(void *arg)
{
    void *v;
    (void)arg;
    CHECK(corio_xchan_recv(never, &v) == -ECANCELED);
    return NULL;
}

/* main (loop 0) awaits a task on loop 1 that waits on a channel nobody
 * will ever send on. */
static void *chain_main(void *arg)
{
    corio_xtask *h;
    (void)arg;
    CHECK(corio_spawn_on(&h, corio_loop_get(1), waits_forever, NULL) == 0);
    CHECK(corio_xtask_await(h, NULL, 0) == -ECANCELED);
    return NULL;
}

static void *self_main(void *arg)
{
    void *v;
    (void)arg;
    CHECK(corio_xchan_recv(never, &v) == -ECANCELED);
    return NULL;
}

static void check_deadlock(corio_fn fn, unsigned threads)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(corio_xchan_create(&never, 1, 0), 0);
    assert_int_equal(run(fn, threads, f), -EDEADLK);
    fclose(f);
    assert_int_equal(atomic_load(&failures), 0);
    assert_true(len > 0); /* each loop with tasks reported them */
    corio_xchan_destroy(never);
    free(buf);
}

static void test_deadlock_across_loops(void **state)
{
    (void)state;
    check_deadlock(chain_main, 2);
    check_deadlock(self_main, 3);
}

/* ---- never a false deadlock ------------------------------------------------------*/

static corio_xchan *later;

static void *blocking_work(void *arg)
{
    struct timespec ts = {0, 150 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return arg;
}

/* The peer's only task waits on the thread pool, then sends. */
static void *pool_sender(void *arg)
{
    void *v = NULL;
    (void)arg;
    CHECK(corio_to_thread(blocking_work, (void *)(intptr_t)9, &v) == 0);
    CHECK(corio_xchan_send(later, v) == 0);
    return NULL;
}

/* The peer computes (never blocks) for a while, then sends. */
static void *busy_sender(void *arg)
{
    double end = corio_now() + 0.15;
    volatile unsigned x = 1;
    (void)arg;
    while (corio_now() < end)
        x = x * 1103515245u + 12345u;
    CHECK(corio_xchan_send(later, (void *)(intptr_t)9) == 0);
    return NULL;
}

static void *sleepy_sender(void *arg)
{
    (void)arg;
    corio_sleep(0.15);
    CHECK(corio_xchan_send(later, (void *)(intptr_t)9) == 0);
    return NULL;
}

static void *receiver_main(void *arg)
{
    corio_fn senders[3] = {pool_sender, busy_sender, sleepy_sender};
    int i;
    (void)arg;
    CHECK(corio_xchan_create(&later, 1, 0) == 0);
    for (i = 0; i < 3; i++) {
        void *v = NULL;
        CHECK(corio_spawn_on(NULL, corio_loop_get(1), senders[i], NULL) == 0);
        CHECK(corio_xchan_recv(later, &v) == 0 && (intptr_t)v == 9);
    }
    corio_xchan_destroy(later);
    return NULL;
}

static void test_no_false_deadlock(void **state)
{
    (void)state;
    assert_int_equal(run(receiver_main, 2, NULL), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadlock_across_loops),
        cmocka_unit_test(test_no_false_deadlock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
