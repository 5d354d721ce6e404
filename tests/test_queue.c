/* Queues: the scenarios of CPython's test_queues.py (order per kind,
 * maxsize, blocking put/get, cancellation races, join/task_done, 3.13
 * shutdown) plus hand-off rules: a woken waiter completed its operation, a
 * cancelled one never did. */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static corio_queue *mkq(int kind, size_t maxsize)
{
    corio_queue *q;
    assert_int_equal(corio_queue_create(&q, kind, maxsize), 0);
    return q;
}

/* ---- order per kind -----------------------------------------------------*/
static void test_order(void **s)
{
    static const int in[] = {1, 3, 2};
    static const int want[3][3] = {{1, 3, 2}, {2, 3, 1}, {1, 2, 3}};
    int kind, i;
    for (kind = 0; kind < 3; kind++) {
        corio_queue *q = mkq(kind, 0);
        void *v;
        for (i = 0; i < 3; i++)
            assert_int_equal(corio_queue_try_put_prio(q, P(in[i]), in[i]), 0);
        assert_int_equal(corio_queue_len(q), 3);
        for (i = 0; i < 3; i++) {
            assert_int_equal(corio_queue_try_get(q, &v), 0);
            assert_int_equal(I(v), want[kind][i]);
        }
        assert_int_equal(corio_queue_try_get(q, &v), -EAGAIN);
        assert_null(v);
        corio_queue_destroy(q);
    }
}

/* Priority: equal priorities come out FIFO; the heap survives growth and
 * interleaved puts and gets. */
static void test_priority_stable(void **s)
{
    corio_queue *q = mkq(CORIO_QUEUE_PRIORITY, 0);
    int64_t prio;
    void *v;
    int i, last_p = -1, last_i = -1;
    for (i = 0; i < 300; i++)
        assert_int_equal(corio_queue_try_put_prio(q, P(i), (i * 7) % 5), 0);
    for (i = 0; i < 300; i++) {
        assert_int_equal(corio_queue_try_get_prio(q, &v, &prio), 0);
        assert_true(prio >= last_p);
        if (prio == last_p)
            assert_true(I(v) > last_i); /* FIFO among equals */
        assert_int_equal((I(v) * 7) % 5, prio);
        last_p = (int)prio;
        last_i = I(v);
        if (i % 3 == 0 && i < 150) /* interleave */
            assert_int_equal(corio_queue_try_put_prio(q, P(1000 + i), 9), 0);
    }
    assert_int_equal(corio_queue_len(q), 50);
    corio_queue_destroy(q);
}

/* FIFO ring wraps and grows with items in the middle of the ring. */
static void test_fifo_wrap_grow(void **s)
{
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 0);
    int next_in = 0, next_out = 0, round, i;
    void *v;
    for (round = 0; round < 20; round++) {
        for (i = 0; i < 13; i++)
            assert_int_equal(corio_queue_try_put(q, P(next_in++)), 0);
        for (i = 0; i < 9; i++) {
            assert_int_equal(corio_queue_try_get(q, &v), 0);
            assert_int_equal(I(v), next_out++);
        }
    }
    while (corio_queue_try_get(q, &v) == 0)
        assert_int_equal(I(v), next_out++);
    assert_int_equal(next_in, next_out);
    corio_queue_destroy(q);
}

/* ---- maxsize: a putter blocks after maxsize items ------------------------*/
static int have_put;
static void *putter3(void *arg)
{
    int i;
    for (i = 0; i < 3; i++) {
        int rc = corio_queue_put(arg, P(i));
        if (rc)
            return corio_fail(rc);
        have_put = i + 1;
    }
    return NULL;
}

static void *main_maxsize(void *arg)
{
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 2);
    corio_task *t;
    void *v;
    have_put = 0;
    assert_int_equal(corio_queue_maxsize(q), 2);
    t = corio_spawn(putter3, q);
    corio_sleep(0.001);
    assert_int_equal(have_put, 2);
    assert_int_equal(corio_queue_try_put(q, P(9)), -EAGAIN);
    assert_int_equal(corio_queue_try_get(q, &v), 0);
    assert_int_equal(I(v), 0);
    /* The freed slot went to the parked putter at once. */
    assert_int_equal(corio_queue_len(q), 2);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(have_put, 3);
    assert_int_equal(corio_queue_try_get(q, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(corio_queue_try_get(q, &v), 0);
    assert_int_equal(I(v), 2);
    corio_queue_destroy(q);
    return NULL;
}
static void test_maxsize(void **s) { assert_int_equal(tu_run(main_maxsize, NULL, NULL), 0); }

/* ---- blocking get, get with waiting putters -----------------------------*/
static void *getter(void *arg)
{
    void *v;
    int rc = corio_queue_get(arg, &v);
    return rc ? corio_fail(rc) : v;
}

static void put_later(void *arg) { corio_queue_try_put(arg, P(1)); }

static void *main_blocking_get(void *arg)
{
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 0);
    corio_task *t;
    void *v;
    double t0 = corio_now();
    corio_call_later(NULL, 0.01, put_later, q);
    t = corio_spawn(getter, q);
    assert_int_equal(corio_await(t, &v), 0);
    assert_int_equal(I(v), 1);
    assert_true(corio_now() - t0 >= 0.009);
    corio_queue_destroy(q);
    return NULL;
}
static void test_blocking_get(void **s) { assert_int_equal(tu_run(main_blocking_get, NULL, NULL), 0); }

typedef struct { corio_queue *q; int v; } put_arg;
static void *put_one(void *arg)
{
    put_arg *a = arg;
    int rc = corio_queue_put(a->q, P(a->v));
    return rc ? corio_fail(rc) : NULL;
}

static void *main_get_with_putters(void *arg)
{
    static put_arg a[2];
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 1);
    corio_task *t[2];
    void *v;
    int i;
    for (i = 0; i < 2; i++) {
        a[i].q = q;
        a[i].v = 'a' + i;
        t[i] = corio_spawn(put_one, &a[i]);
    }
    corio_yield();
    assert_int_equal(corio_queue_get(q, &v), 0);
    assert_int_equal(I(v), 'a');
    assert_int_equal(corio_queue_get(q, &v), 0);
    assert_int_equal(I(v), 'b');
    for (i = 0; i < 2; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    corio_queue_destroy(q);
    return NULL;
}
static void test_get_with_putters(void **s) { assert_int_equal(tu_run(main_get_with_putters, NULL, NULL), 0); }

/* ---- cancellation races ---------------------------------------------------*/
/* test_get_cancelled_race: t1 and t2 wait; t1 is cancelled; the item goes
 * to t2. */
static void *main_get_cancel_race(void *arg)
{
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 0);
    corio_task *t1 = corio_spawn(getter, q), *t2 = corio_spawn(getter, q);
    void *v;
    corio_yield();
    corio_cancel(t1);
    assert_int_equal(corio_queue_try_put(q, P('a')), 0);
    assert_int_equal(corio_await(t1, NULL), -ECANCELED);
    assert_int_equal(corio_await(t2, &v), 0);
    assert_int_equal(I(v), 'a');
    assert_int_equal(corio_queue_len(q), 0);
    corio_queue_destroy(q);
    return NULL;
}
static void test_get_cancel_race(void **s) { assert_int_equal(tu_run(main_get_cancel_race, NULL, NULL), 0); }

/* A getter handed an item and cancelled before it runs keeps the item
 * (first wake wins): the item is neither lost nor delivered twice. */
static int rec_rc;
static void *rec_v;
static void *getter_rec(void *arg)
{
    rec_rc = corio_queue_get(arg, &rec_v);
    return NULL;
}

static void *main_get_woken_then_cancelled(void *arg)
{
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 0);
    corio_task *t1 = corio_spawn(getter_rec, q), *t2 = corio_spawn(getter, q);
    rec_rc = -1;
    corio_yield();
    assert_int_equal(corio_queue_try_put(q, P(5)), 0);
    corio_cancel(t1);
    assert_int_equal(corio_queue_try_put(q, P(6)), 0);
    assert_int_equal(corio_await(t1, NULL), -ECANCELED);
    assert_int_equal(rec_rc, 0);
    assert_int_equal(I(rec_v), 5);
    assert_int_equal(corio_await(t2, &rec_v), 0);
    assert_int_equal(I(rec_v), 6);
    corio_queue_destroy(q);
    return NULL;
}
static void test_get_woken_then_cancelled(void **s) { assert_int_equal(tu_run(main_get_woken_then_cancelled, NULL, NULL), 0); }

/* test_put_cancelled_race: a, b, X put into maxsize 1; X is cancelled while
 * waiting; the queue yields a then b and X never appears. */
static void *main_put_cancel_race(void *arg)
{
    static put_arg a[3];
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 1);
    corio_task *t[3];
    void *v;
    int i;
    for (i = 0; i < 3; i++) {
        a[i].q = q;
        a[i].v = i == 2 ? 'X' : 'a' + i;
        t[i] = corio_spawn(put_one, &a[i]);
    }
    corio_yield();
    assert_int_equal(corio_task_state(t[0]), CORIO_TASK_DONE);
    corio_cancel(t[2]);
    assert_int_equal(corio_await(t[2], NULL), -ECANCELED);
    assert_int_equal(corio_queue_try_get(q, &v), 0);
    assert_int_equal(I(v), 'a');
    assert_int_equal(corio_queue_try_get(q, &v), 0);
    assert_int_equal(I(v), 'b');
    assert_int_equal(corio_queue_try_get(q, &v), -EAGAIN);
    assert_int_equal(corio_await(t[0], NULL), 0);
    assert_int_equal(corio_await(t[1], NULL), 0);
    /* The cancelled put did not count as unfinished. */
    assert_int_equal(corio_queue_unfinished(q), 2);
    corio_queue_destroy(q);
    return NULL;
}
static void test_put_cancel_race(void **s) { assert_int_equal(tu_run(main_put_cancel_race, NULL, NULL), 0); }

/* test_get_cancelled (wait_for): the timeout does not fire once the get
 * has its item; a get timing out leaves nothing behind. */
static void *main_get_timeout(void *arg)
{
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 0);
    corio_scope sc;
    void *v;
    corio_scope_enter(&sc, 0.01, 0);
    assert_int_equal(corio_queue_get(q, &v), -ETIMEDOUT);
    assert_int_equal(corio_queue_put(q, P(1)), -ETIMEDOUT); /* level */
    corio_scope_exit(&sc);
    assert_int_equal(corio_queue_try_put(q, P(1)), 0);
    assert_int_equal(corio_queue_len(q), 1); /* no stale getter took it */
    corio_queue_destroy(q);
    return NULL;
}
static void test_get_timeout(void **s) { assert_int_equal(tu_run(main_get_timeout, NULL, NULL), 0); }

/* ---- fairness: getters are served in arrival order -----------------------*/
static int order_log[8], order_n;
static void *getter_log(void *arg)
{
    void *v;
    if (corio_queue_get(arg, &v) == 0)
        order_log[order_n++] = I(v);
    return NULL;
}

static void *main_fair(void *arg)
{
    corio_queue *q = mkq(CORIO_QUEUE_LIFO, 0);
    corio_task *t[4];
    int i;
    order_n = 0;
    for (i = 0; i < 4; i++)
        t[i] = corio_spawn(getter_log, q);
    corio_yield();
    for (i = 0; i < 4; i++)
        corio_queue_try_put(q, P(i));
    for (i = 0; i < 4; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    for (i = 0; i < 4; i++)
        assert_int_equal(order_log[i], i);
    corio_queue_destroy(q);
    return NULL;
}
static void test_fair(void **s) { assert_int_equal(tu_run(main_fair, NULL, NULL), 0); }

/* ---- join / task_done -------------------------------------------------------*/
static long accumulator;
static void *worker(void *arg)
{
    void *v;
    while (corio_queue_get(arg, &v) == 0) {
        accumulator += I(v);
        corio_yield();
        corio_queue_task_done(arg);
    }
    return NULL;
}

static void *main_join(void *arg)
{
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 0);
    corio_task *w[2];
    int i;
    accumulator = 0;
    assert_int_equal(corio_queue_task_done(q), -EINVAL); /* underflow */
    assert_int_equal(corio_queue_join(q), 0);           /* empty: at once */
    assert_int_equal(corio_queue_join(q), 0);
    for (i = 0; i < 100; i++)
        corio_queue_try_put(q, P(i));
    assert_int_equal(corio_queue_unfinished(q), 100);
    for (i = 0; i < 2; i++)
        w[i] = corio_spawn(worker, q);
    assert_int_equal(corio_queue_join(q), 0);
    assert_int_equal(accumulator, 4950);
    assert_int_equal(corio_queue_unfinished(q), 0);
    corio_queue_shutdown(q, 0, NULL, NULL); /* ends the workers */
    for (i = 0; i < 2; i++)
        assert_int_equal(corio_await(w[i], NULL), 0);
    corio_queue_destroy(q);
    return NULL;
}
static void test_join(void **s) { assert_int_equal(tu_run(main_join, NULL, NULL), 0); }

/* ---- shutdown (3.13) --------------------------------------------------------*/
static void *joiner(void *arg)
{
    int rc = corio_queue_join(arg);
    return rc ? corio_fail(rc) : NULL;
}

static void *main_shutdown(void *arg)
{
    static put_arg pa;
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 2);
    corio_task *p, *g1, *g2;
    void *v;
    corio_queue_try_put(q, P(1));
    corio_queue_try_put(q, P(2));
    pa.q = q;
    pa.v = 3;
    p = corio_spawn(put_one, &pa); /* blocks: full */
    corio_yield();
    assert_int_equal(corio_queue_shutdown(q, 0, NULL, NULL), 0);
    assert_int_equal(corio_queue_is_shutdown(q), 1);
    /* The waiting putter fails and keeps its item. */
    assert_int_equal(corio_await(p, NULL), CORIO_ESHUTDOWN);
    assert_int_equal(corio_queue_put(q, P(4)), CORIO_ESHUTDOWN);
    assert_int_equal(corio_queue_try_put(q, P(4)), CORIO_ESHUTDOWN);
    /* Getters drain what is left, then fail. */
    assert_int_equal(corio_queue_get(q, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(corio_queue_try_get(q, &v), 0);
    assert_int_equal(I(v), 2);
    assert_int_equal(corio_queue_get(q, &v), CORIO_ESHUTDOWN);
    assert_int_equal(corio_queue_try_get(q, &v), CORIO_ESHUTDOWN);
    corio_queue_destroy(q);

    /* Waiting getters wake with CORIO_ESHUTDOWN. */
    q = mkq(CORIO_QUEUE_PRIORITY, 0);
    g1 = corio_spawn(getter, q);
    g2 = corio_spawn(getter, q);
    corio_yield();
    assert_int_equal(corio_queue_shutdown(q, 0, NULL, NULL), 0);
    assert_int_equal(corio_queue_shutdown(q, 0, NULL, NULL), 0); /* again */
    assert_int_equal(corio_await(g1, NULL), CORIO_ESHUTDOWN);
    assert_int_equal(corio_await(g2, NULL), CORIO_ESHUTDOWN);
    corio_queue_destroy(q);
    return NULL;
}
static void test_shutdown(void **s) { assert_int_equal(tu_run(main_shutdown, NULL, NULL), 0); }

static int dropped_sum, dropped_n;
static void drop_cb(void *item, void *arg)
{
    dropped_sum += I(item);
    dropped_n++;
    (void)arg;
}

static void *main_shutdown_immediate(void *arg)
{
    corio_queue *q = mkq(CORIO_QUEUE_LIFO, 0);
    corio_task *j;
    void *v;
    int i;
    dropped_sum = dropped_n = 0;
    for (i = 1; i <= 4; i++)
        corio_queue_try_put(q, P(i));
    assert_int_equal(corio_queue_try_get(q, &v), 0); /* 4, unfinished */
    j = corio_spawn(joiner, q);
    corio_yield();
    assert_int_equal(corio_task_state(j), CORIO_TASK_SUSPENDED);
    assert_int_equal(corio_queue_shutdown(q, 1, drop_cb, NULL), 3);
    assert_int_equal(dropped_n, 3);
    assert_int_equal(dropped_sum, 6);
    assert_int_equal(corio_queue_len(q), 0);
    /* One item is still being worked on: join waits for it. */
    assert_int_equal(corio_queue_unfinished(q), 1);
    corio_yield();
    assert_int_equal(corio_task_state(j), CORIO_TASK_SUSPENDED);
    assert_int_equal(corio_queue_task_done(q), 0);
    assert_int_equal(corio_await(j, NULL), 0);
    assert_int_equal(corio_queue_get(q, &v), CORIO_ESHUTDOWN);
    corio_queue_destroy(q);
    return NULL;
}
static void test_shutdown_immediate(void **s) { assert_int_equal(tu_run(main_shutdown_immediate, NULL, NULL), 0); }

/* ---- bad input ------------------------------------------------------------*/
static void test_bad_input(void **s)
{
    corio_queue *q;
    void *v = P(1);
    assert_int_equal(corio_queue_create(NULL, 0, 0), -EINVAL);
    assert_int_equal(corio_queue_create(&q, 7, 0), -EINVAL);
    assert_null(q);
    q = mkq(CORIO_QUEUE_FIFO, 0);
    assert_int_equal(corio_queue_put(q, P(1)), -EPERM);
    assert_int_equal(corio_queue_get(q, &v), -EPERM);
    assert_null(v);
    assert_int_equal(corio_queue_join(q), -EPERM);
    assert_int_equal(corio_queue_try_put(NULL, P(1)), -EINVAL);
    assert_int_equal(corio_queue_try_get(NULL, &v), -EINVAL);
    assert_int_equal(corio_queue_task_done(NULL), -EINVAL);
    assert_int_equal(corio_queue_shutdown(NULL, 0, NULL, NULL), -EINVAL);
    corio_queue_destroy(q);
    corio_queue_destroy(NULL);
}

/* ---- many producers, one consumer ------------------------------------------*/
static void *produce(void *arg)
{
    int rc = corio_queue_put(arg, P(1));
    return rc ? corio_fail(rc) : NULL;
}

static void *main_fanin(void *arg)
{
    int n = tu_slow() ? 500 : 5000, i, got = 0;
    corio_queue *q = mkq(CORIO_QUEUE_FIFO, 16);
    void *v;
    for (i = 0; i < n; i++)
        corio_spawn_ex(NULL, produce, q,
                       &(corio_spawn_opts){.flags = CORIO_SPAWN_DETACHED});
    while (got < n) {
        assert_int_equal(corio_queue_get(q, &v), 0);
        got += I(v);
    }
    assert_int_equal(corio_queue_len(q), 0);
    corio_queue_destroy(q);
    return NULL;
}

static void test_fanin(void **s) { assert_int_equal(tu_run(main_fanin, NULL, NULL), 0); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_priority_stable),
        cmocka_unit_test(test_fifo_wrap_grow),
        cmocka_unit_test(test_maxsize),
        cmocka_unit_test(test_blocking_get),
        cmocka_unit_test(test_get_with_putters),
        cmocka_unit_test(test_get_cancel_race),
        cmocka_unit_test(test_get_woken_then_cancelled),
        cmocka_unit_test(test_put_cancel_race),
        cmocka_unit_test(test_get_timeout),
        cmocka_unit_test(test_fair),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_shutdown_immediate),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_fanin),
    };
    return tu_run_both_modes(tests);
}
