/* Other threads: corio_run_threadsafe from foreign threads, loop ref/unref,
 * futures completed from other threads, and several loops on several
 * threads at once (run this one under TSan). */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *double_it(void *arg)
{
    if (corio_sleep(0.001) < 0)
        return corio_fail(-ECANCELED);
    return (void *)((intptr_t)arg * 2);
}

static void *fail_it(void *arg)
{
    return corio_fail(-EPROTO);
}

static void *sleep_long(void *arg)
{
    int rc = corio_sleep(30);
    return corio_fail(rc < 0 ? rc : -EPROTO);
}

typedef struct foreign_ctx {
    corio_loop *loop;
    int ok;
} foreign_ctx;

static void *foreign_thread(void *arg)
{
    foreign_ctx *c = arg;
    corio_tfuture *tf[50];
    intptr_t i;
    void *r;
    int good = 1;

    for (i = 0; i < 50; i++)
        if (corio_run_threadsafe(c->loop, double_it, (void *)i, &tf[i]) < 0)
            good = 0;
    for (i = 0; i < 50; i++) {
        if (corio_tfuture_wait(tf[i], -1, &r) != 0 || (intptr_t)r != i * 2)
            good = 0;
        if (!corio_tfuture_done(tf[i]))
            good = 0;
        corio_tfuture_destroy(tf[i]);
    }
    /* Failure status crosses over. */
    if (corio_run_threadsafe(c->loop, fail_it, NULL, &tf[0]) < 0 ||
        corio_tfuture_wait(tf[0], 5, NULL) != -EPROTO)
        good = 0;
    corio_tfuture_destroy(tf[0]);
    /* A timed wait that expires, then a cancel. */
    if (corio_run_threadsafe(c->loop, sleep_long, NULL, &tf[0]) < 0)
        good = 0;
    if (corio_tfuture_wait(tf[0], 0.02, NULL) != -ETIMEDOUT)
        good = 0;
    if (corio_tfuture_cancel(tf[0]) != 0)
        good = 0;
    if (corio_tfuture_wait(tf[0], 5, NULL) != -ECANCELED)
        good = 0;
    corio_tfuture_destroy(tf[0]);
    /* Destroying before the task finished: the task runs on. */
    if (corio_run_threadsafe(c->loop, double_it, (void *)1, &tf[0]) < 0)
        good = 0;
    corio_tfuture_destroy(tf[0]);
    c->ok = good;
    corio_loop_unref_threadsafe(c->loop);
    return NULL;
}

static void test_run_threadsafe(void **state)
{
    foreign_ctx c;
    pthread_t th;
    memset(&c, 0, sizeof c);
    assert_int_equal(corio_loop_create(&c.loop, NULL), 0);
    assert_int_equal(corio_loop_ref(c.loop), 0);
    assert_int_equal(pthread_create(&th, NULL, foreign_thread, &c), 0);
    /* No task, no timer: only the ref keeps it running until the foreign
     * thread is done and unrefs it. */
    assert_int_equal(corio_loop_run(c.loop, CORIO_RUN_DEFAULT), 0);
    pthread_join(th, NULL);
    assert_int_equal(c.ok, 1);
    assert_int_equal(corio_loop_unref(c.loop), -EINVAL); /* no ref left */
    assert_int_equal(corio_loop_close(c.loop), 0);
}

static void *deadlk_main(void *arg)
{
    corio_tfuture *tf;
    void *r;
    assert_int_equal(corio_run_threadsafe(corio_loop_current(), double_it, (void *)4, &tf), 0);
    /* Blocking on our own loop's thread could never finish. */
    assert_int_equal(corio_tfuture_wait(tf, 1, &r), -EDEADLK);
    corio_sleep(0.05);
    assert_int_equal(corio_tfuture_done(tf), 1);
    corio_tfuture_destroy(tf);
    return NULL;
}

static void test_wait_on_own_loop(void **state)
{
    assert_int_equal(tu_run(deadlk_main, NULL, NULL), 0);
    assert_int_equal(corio_run_threadsafe(NULL, double_it, NULL, NULL), -EINVAL);
}

/* ---- futures completed from other threads --------------------------------*/

static void *complete_later(void *arg)
{
    usleep(2000);
    corio_future_set_result_threadsafe(arg, (void *)42);
    return NULL;
}

static void *future_ts_main(void *arg)
{
    corio_future *f;
    pthread_t th;
    void *v;
    assert_int_equal(corio_future_create(NULL, &f), 0);
    /* Nothing else keeps the loop alive while the thread works. */
    corio_loop_ref(corio_loop_current());
    assert_int_equal(pthread_create(&th, NULL, complete_later, f), 0);
    assert_int_equal(corio_future_await(f, &v), 0);
    corio_loop_unref(corio_loop_current());
    assert_int_equal((intptr_t)v, 42);
    pthread_join(th, NULL);
    corio_future_destroy(f);
    return NULL;
}

static void test_future_from_thread(void **state)
{
    assert_int_equal(tu_run(future_ts_main, NULL, NULL), 0);
}

/* ---- several loops, several threads ----------------------------------------*/

#define NLOOPS 4

typedef struct multi_ctx {
    int idx;
    corio_future *inbox;          /* completed by the previous loop */
    struct multi_ctx *next;
    int ok;
} multi_ctx;

static multi_ctx multi[NLOOPS];
static atomic_int multi_started;

static void *sq(void *arg)
{
    intptr_t v = (intptr_t)arg;
    return (void *)(v * v);
}

static void *multi_worker(void *arg)
{
    intptr_t i = (intptr_t)arg, k;
    void *r;
    for (k = 0; k < 30; k++) {
        if (corio_to_thread(sq, (void *)(i + k), &r) < 0 || (intptr_t)r != (i + k) * (i + k))
            return corio_fail(-EIO);
        if (corio_sleep(0) < 0)
            return corio_fail(-EIO);
    }
    return NULL;
}

static void *multi_main(void *arg)
{
    multi_ctx *m = arg;
    corio_task *ts[8];
    intptr_t i;
    void *v;
    int good = 1;
    /* Each loop's inbox is a future on that loop, completed by the previous
     * loop's thread. Let every inbox exist before messages cross. */
    assert_int_equal(corio_future_create(NULL, &m->inbox), 0);
    atomic_fetch_add(&multi_started, 1);
    while (atomic_load(&multi_started) < NLOOPS)
        corio_sleep(0.001);
    for (i = 0; i < 8; i++)
        ts[i] = corio_spawn(multi_worker, (void *)(i + m->idx * 100));
    /* Complete the next loop's inbox from this thread. */
    if (corio_future_set_result_threadsafe(m->next->inbox, (void *)(intptr_t)(m->idx + 1)) < 0)
        good = 0;
    for (i = 0; i < 8; i++)
        if (corio_await(ts[i], NULL) != 0)
            good = 0;
    if (corio_future_wait_for(m->inbox, 10, &v) != 0)
        good = 0;
    else if ((intptr_t)v != (m->idx + NLOOPS - 1) % NLOOPS + 1)
        good = 0;
    corio_future_destroy(m->inbox);
    m->ok = good;
    return NULL;
}

static void *multi_thread(void *arg)
{
    multi_ctx *m = arg;
    if (corio_run(multi_main, m, NULL) != 0)
        m->ok = 0;
    return NULL;
}

static void test_several_loops(void **state)
{
    pthread_t th[NLOOPS];
    int i;
    atomic_store(&multi_started, 0);
    for (i = 0; i < NLOOPS; i++) {
        memset(&multi[i], 0, sizeof multi[i]);
        multi[i].idx = i;
        multi[i].next = &multi[(i + 1) % NLOOPS];
    }
    for (i = 0; i < NLOOPS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, multi_thread, &multi[i]), 0);
    for (i = 0; i < NLOOPS; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < NLOOPS; i++)
        assert_int_equal(multi[i].ok, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_threadsafe),
        cmocka_unit_test(test_wait_on_own_loop),
        cmocka_unit_test(test_future_from_thread),
        cmocka_unit_test(test_several_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
