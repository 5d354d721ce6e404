/* Channels: buffered and unbuffered send/recv, try_*, close, FIFO order,
 * cancellation and timeouts of waiting senders and receivers, compact mode. */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

typedef struct {
    corio_chan *c;
    int n;
    int log[64];
    int nlog;
} ctx_t;

static void *producer(void *arg)
{
    ctx_t *x = arg;
    int i;
    for (i = 1; i <= x->n; i++)
        if (corio_chan_send(x->c, P(i)) != 0)
            return corio_fail(-EIO);
    return NULL;
}

/* ---- buffered / unbuffered ordering ---------------------------------------*/
static void *main_order(void *arg)
{
    size_t cap = (size_t)(intptr_t)arg;
    static ctx_t x; /* shared with the producer: not on the stack */
    corio_task *t;
    int i;
    void *v;
    memset(&x, 0, sizeof x);
    assert_int_equal(corio_chan_create(&x.c, cap), 0);
    assert_int_equal(corio_chan_cap(x.c), cap);
    x.n = 50;
    t = corio_spawn(producer, &x);
    for (i = 1; i <= 50; i++) {
        assert_int_equal(corio_chan_recv(x.c, &v), 0);
        assert_int_equal(I(v), i);
    }
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(corio_chan_try_recv(x.c, &v), -EAGAIN);
    corio_chan_destroy(x.c);
    return NULL;
}

static void test_unbuffered_order(void **s) { assert_int_equal(tu_run(main_order, P(0), NULL), 0); }
static void test_buffered_order(void **s) { assert_int_equal(tu_run(main_order, P(3), NULL), 0); }
static void test_cap1_order(void **s) { assert_int_equal(tu_run(main_order, P(1), NULL), 0); }

/* ---- unbuffered send blocks until received --------------------------------*/
static int sent_flag;
static void *send_one(void *arg)
{
    int rc = corio_chan_send(arg, P(7));
    sent_flag = 1;
    return P(rc);
}

static void *main_rendezvous(void *arg)
{
    corio_chan *c;
    corio_task *t;
    void *v, *r;
    assert_int_equal(corio_chan_create(&c, 0), 0);
    assert_int_equal(corio_chan_try_send(c, P(1)), -EAGAIN); /* nobody there */
    sent_flag = 0;
    t = corio_spawn(send_one, c);
    corio_sleep(0.01);
    assert_int_equal(sent_flag, 0);
    assert_int_equal(corio_chan_len(c), 0);
    assert_int_equal(corio_chan_try_recv(c, &v), 0);
    assert_int_equal(I(v), 7);
    assert_int_equal(corio_await(t, &r), 0);
    assert_int_equal(I(r), 0);
    assert_int_equal(sent_flag, 1);
    corio_chan_destroy(c);
    return NULL;
}
static void test_rendezvous(void **s) { assert_int_equal(tu_run(main_rendezvous, NULL, NULL), 0); }

/* ---- try_send to a parked receiver skips the buffer ----------------------*/
static void *recv_one(void *arg)
{
    void *v = NULL;
    int rc = corio_chan_recv(arg, &v);
    if (rc)
        return corio_fail(rc);
    return v;
}

static void *main_try(void *arg)
{
    corio_chan *c;
    corio_task *t;
    void *v;
    assert_int_equal(corio_chan_create(&c, 2), 0);
    t = corio_spawn(recv_one, c);
    corio_yield();
    assert_int_equal(corio_chan_try_send(c, P(5)), 0);
    assert_int_equal(corio_chan_len(c), 0); /* handed over, not buffered */
    assert_int_equal(corio_await(t, &v), 0);
    assert_int_equal(I(v), 5);
    assert_int_equal(corio_chan_try_send(c, P(1)), 0);
    assert_int_equal(corio_chan_try_send(c, P(2)), 0);
    assert_int_equal(corio_chan_try_send(c, P(3)), -EAGAIN);
    assert_int_equal(corio_chan_len(c), 2);
    assert_int_equal(corio_chan_try_recv(c, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(corio_chan_try_recv(c, &v), 0);
    assert_int_equal(I(v), 2);
    assert_int_equal(corio_chan_try_recv(c, NULL), -EAGAIN);
    corio_chan_destroy(c);
    return NULL;
}
static void test_try(void **s) { assert_int_equal(tu_run(main_try, NULL, NULL), 0); }

/* ---- full buffer: parked senders queue behind the buffer, FIFO -----------*/
static void *send_arg(void *arg)
{
    intptr_t *a = arg; /* a[0] = chan, a[1] = value */
    int rc = corio_chan_send((corio_chan *)a[0], (void *)a[1]);
    return rc ? corio_fail(rc) : NULL;
}

static void *main_full(void *arg)
{
    corio_chan *c;
    corio_task *t[3];
    static intptr_t a[3][2]; /* read by other tasks: not on the stack */
    void *v;
    int i;
    assert_int_equal(corio_chan_create(&c, 2), 0);
    assert_int_equal(corio_chan_send(c, P(1)), 0);
    assert_int_equal(corio_chan_send(c, P(2)), 0);
    for (i = 0; i < 3; i++) {
        a[i][0] = (intptr_t)c;
        a[i][1] = 3 + i;
        t[i] = corio_spawn(send_arg, a[i]);
    }
    corio_sleep(0.001);
    for (i = 1; i <= 5; i++) {
        assert_int_equal(corio_chan_recv(c, &v), 0);
        assert_int_equal(I(v), i);
    }
    for (i = 0; i < 3; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    corio_chan_destroy(c);
    return NULL;
}
static void test_full_fifo(void **s) { assert_int_equal(tu_run(main_full, NULL, NULL), 0); }

/* ---- close: drain, then ECLOSED; waiters wake ----------------------------*/
static void *main_close(void *arg)
{
    corio_chan *c, *c0;
    corio_task *r1, *r2, *s1;
    void *v;
    static intptr_t a[2]; /* read by send_arg: not on the stack */
    assert_int_equal(corio_chan_create(&c, 4), 0);
    assert_int_equal(corio_chan_send(c, P(1)), 0);
    assert_int_equal(corio_chan_send(c, P(2)), 0);
    assert_int_equal(corio_chan_close(c), 0);
    assert_int_equal(corio_chan_close(c), -EALREADY);
    assert_int_equal(corio_chan_closed(c), 1);
    assert_int_equal(corio_chan_send(c, P(3)), CORIO_ECLOSED);
    assert_int_equal(corio_chan_try_send(c, P(3)), CORIO_ECLOSED);
    assert_int_equal(corio_chan_recv(c, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(corio_chan_recv(c, &v), 0);
    assert_int_equal(I(v), 2);
    assert_int_equal(corio_chan_recv(c, &v), CORIO_ECLOSED);
    assert_null(v);
    assert_int_equal(corio_chan_try_recv(c, &v), CORIO_ECLOSED);
    corio_chan_destroy(c);

    /* Waiting receivers and senders wake with CORIO_ECLOSED. */
    assert_int_equal(corio_chan_create(&c0, 0), 0);
    r1 = corio_spawn(recv_one, c0);
    r2 = corio_spawn(recv_one, c0);
    corio_yield();
    assert_int_equal(corio_chan_close(c0), 0);
    assert_int_equal(corio_await(r1, NULL), CORIO_ECLOSED);
    assert_int_equal(corio_await(r2, NULL), CORIO_ECLOSED);
    corio_chan_destroy(c0);

    assert_int_equal(corio_chan_create(&c0, 0), 0);
    a[0] = (intptr_t)c0;
    a[1] = 9;
    s1 = corio_spawn(send_arg, a);
    corio_yield();
    assert_int_equal(corio_chan_close(c0), 0);
    assert_int_equal(corio_await(s1, NULL), CORIO_ECLOSED);
    corio_chan_destroy(c0);
    return NULL;
}
static void test_close(void **s) { assert_int_equal(tu_run(main_close, NULL, NULL), 0); }

/* ---- a cancelled receiver never loses a value ------------------------------*/
static int got_rc;
static void *got_v;
static void *recv_record(void *arg)
{
    got_rc = corio_chan_recv(arg, &got_v);
    return NULL;
}

static void *main_cancel_recv(void *arg)
{
    corio_chan *c;
    corio_task *r1, *r2;
    void *v;
    assert_int_equal(corio_chan_create(&c, 0), 0);
    r1 = corio_spawn(recv_one, c);
    r2 = corio_spawn(recv_one, c);
    corio_yield();
    /* r1 is cancelled while parked: its node is stale; the value must go to
     * r2, not vanish into r1. */
    assert_int_equal(corio_cancel(r1), 1);
    assert_int_equal(corio_chan_try_send(c, P(42)), 0);
    assert_int_equal(corio_await(r1, NULL), -ECANCELED);
    assert_int_equal(corio_await(r2, &v), 0);
    assert_int_equal(I(v), 42);

    /* Woken with the value, then cancelled before running: first wake wins,
     * the receiver still gets the value (and sees the cancel later). */
    got_rc = -1;
    got_v = NULL;
    r1 = corio_spawn(recv_record, c);
    corio_yield();
    assert_int_equal(corio_chan_try_send(c, P(43)), 0);
    corio_cancel(r1);
    /* The task ends cancelled (its cancel was requested), but its recv
     * returned the value: nothing was lost. */
    assert_int_equal(corio_await(r1, &v), -ECANCELED);
    assert_int_equal(got_rc, 0);
    assert_int_equal(I(got_v), 43);

    /* A cancelled task's send/recv fails at once, even if it could go. */
    assert_int_equal(corio_chan_try_send(c, P(1)), -EAGAIN);
    corio_chan_destroy(c);
    return NULL;
}
static void test_cancel_recv(void **s) { assert_int_equal(tu_run(main_cancel_recv, NULL, NULL), 0); }

static void *cancelled_sender(void *arg)
{
    corio_cancel(corio_current());
    return P(corio_chan_send(arg, P(1)));
}

static void *main_cancel_send(void *arg)
{
    corio_chan *c;
    corio_task *t;
    static intptr_t a[2]; /* read by send_arg: not on the stack */
    void *v;
    assert_int_equal(corio_chan_create(&c, 1), 0);
    /* Level-triggered: buffer has room but the task is cancelled. */
    t = corio_spawn(cancelled_sender, c);
    assert_int_equal(corio_await(t, &v), -ECANCELED);
    assert_int_equal(corio_chan_len(c), 0);
    /* A parked sender cancelled: its value is not delivered. */
    assert_int_equal(corio_chan_send(c, P(1)), 0);
    a[0] = (intptr_t)c;
    a[1] = 2;
    t = corio_spawn(send_arg, a);
    corio_yield();
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(corio_chan_recv(c, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(corio_chan_try_recv(c, &v), -EAGAIN);
    corio_chan_destroy(c);
    return NULL;
}
static void test_cancel_send(void **s) { assert_int_equal(tu_run(main_cancel_send, NULL, NULL), 0); }

/* ---- timeouts via scopes ---------------------------------------------------*/
static void *main_timeout(void *arg)
{
    corio_chan *c;
    corio_scope sc;
    void *v;
    double t0 = corio_now();
    assert_int_equal(corio_chan_create(&c, 0), 0);
    corio_scope_enter(&sc, 0.02, 0);
    assert_int_equal(corio_chan_recv(c, &v), -ETIMEDOUT);
    assert_int_equal(corio_chan_send(c, P(1)), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&sc), 1);
    assert_true(corio_now() - t0 >= 0.019);
    /* Nothing stale left behind: a later rendezvous works. */
    assert_int_equal(corio_chan_try_send(c, P(1)), -EAGAIN);
    corio_chan_destroy(c);
    return NULL;
}
static void test_timeout(void **s) { assert_int_equal(tu_run(main_timeout, NULL, NULL), 0); }

/* ---- bad input, outside a task -------------------------------------------*/
static void test_bad_input(void **s)
{
    corio_chan *c;
    void *v = P(1);
    assert_int_equal(corio_chan_create(NULL, 1), -EINVAL);
    assert_int_equal(corio_chan_create(&c, (size_t)-1), -EINVAL);
    assert_null(c);
    assert_int_equal(corio_chan_create(&c, 1), 0);
    assert_int_equal(corio_chan_send(c, P(1)), -EPERM);
    assert_int_equal(corio_chan_recv(c, &v), -EPERM);
    assert_null(v);
    assert_int_equal(corio_chan_try_send(c, P(1)), 0);
    assert_int_equal(corio_chan_try_recv(c, &v), 0);
    assert_int_equal(I(v), 1);
    assert_int_equal(corio_chan_try_send(NULL, P(1)), -EINVAL);
    assert_int_equal(corio_chan_close(NULL), -EINVAL);
    corio_chan_destroy(c);
    corio_chan_destroy(NULL);
}

/* ---- pingpong in both stack modes --------------------------------------------*/
typedef struct { corio_chan *a, *b; int n; } pp_t;

static void *ponger(void *arg)
{
    pp_t *p = arg;
    void *v;
    int i;
    for (i = 0; i < p->n; i++) {
        if (corio_chan_recv(p->a, &v) || corio_chan_send(p->b, (char *)v + 1))
            return corio_fail(-EIO);
    }
    return NULL;
}

static void *main_pingpong(void *arg)
{
    static pp_t p; /* shared with ponger: not on a stack (compact mode) */
    corio_task *t;
    void *v = NULL;
    int i;
    p.n = 10000;
    corio_chan_create(&p.a, 1);
    corio_chan_create(&p.b, 1);
    t = corio_spawn(ponger, &p);
    for (i = 0; i < p.n; i++) {
        assert_int_equal(corio_chan_send(p.a, v), 0);
        assert_int_equal(corio_chan_recv(p.b, &v), 0);
    }
    assert_int_equal((intptr_t)v, p.n);
    assert_int_equal(corio_await(t, NULL), 0);
    corio_chan_destroy(p.a);
    corio_chan_destroy(p.b);
    return NULL;
}

static void test_pingpong(void **s) { assert_int_equal(tu_run(main_pingpong, NULL, NULL), 0); }


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unbuffered_order),
        cmocka_unit_test(test_buffered_order),
        cmocka_unit_test(test_cap1_order),
        cmocka_unit_test(test_rendezvous),
        cmocka_unit_test(test_try),
        cmocka_unit_test(test_full_fifo),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_cancel_recv),
        cmocka_unit_test(test_cancel_send),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_pingpong),
    };
    return tu_run_both_modes(tests);
}
