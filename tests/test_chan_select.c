/* corio_chan_select: order among ready cases, waiting on several channels,
 * exactly-one completion, timeouts, polling, closed channels, cancellation,
 * disabled cases, bad input; all of it in both stack modes. */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static void set_case(corio_chan_case *cs, corio_chan *c, int op, void *v)
{
    cs->chan = c;
    cs->op = op;
    cs->value = v;
    cs->status = -1;
}

/* ---- ready cases: the first in array order wins -------------------------*/
static void *main_ready_order(void *arg)
{
    corio_chan *a, *b;
    corio_chan_case cs[2];
    void *v;
    corio_chan_create(&a, 1);
    corio_chan_create(&b, 1);
    corio_chan_try_send(a, P(1));
    corio_chan_try_send(b, P(2));
    set_case(&cs[0], a, CORIO_CHAN_RECV, NULL);
    set_case(&cs[1], b, CORIO_CHAN_RECV, NULL);
    assert_int_equal(corio_chan_select(cs, 2, -1), 0);
    assert_int_equal(I(cs[0].value), 1);
    assert_int_equal(cs[0].status, 0);
    assert_int_equal(corio_chan_len(b), 1); /* the other case did nothing */
    assert_int_equal(corio_chan_select(cs, 2, -1), 1);
    assert_int_equal(I(cs[1].value), 2);
    /* A send case is ready when the buffer has room. */
    set_case(&cs[0], a, CORIO_CHAN_SEND, P(5));
    assert_int_equal(corio_chan_select(cs, 1, -1), 0);
    assert_int_equal(cs[0].status, 0);
    assert_int_equal(corio_chan_try_recv(a, &v), 0);
    assert_int_equal(I(v), 5);
    corio_chan_destroy(a);
    corio_chan_destroy(b);
    return NULL;
}
static void test_ready_order(void **s) { assert_int_equal(tu_run(main_ready_order, NULL, NULL), 0); }

/* ---- waits on several, completes the one that becomes ready -------------*/
typedef struct { corio_chan *a, *b; int which; void *v; int rc; } sel_t;

static void *selector(void *arg)
{
    sel_t *x = arg;
    corio_chan_case cs[2];
    set_case(&cs[0], x->a, CORIO_CHAN_RECV, NULL);
    set_case(&cs[1], x->b, CORIO_CHAN_RECV, NULL);
    x->rc = corio_chan_select(cs, 2, -1);
    if (x->rc >= 0)
        x->v = cs[x->rc].value;
    return NULL;
}

static void *main_wait_several(void *arg)
{
    static sel_t x; /* shared with the selector: not on the stack */
    corio_task *t;
    void *v;
    memset(&x, 0, sizeof x);
    corio_chan_create(&x.a, 0);
    corio_chan_create(&x.b, 0);
    t = corio_spawn(selector, &x);
    corio_yield();
    assert_int_equal(corio_chan_send(x.b, P(7)), 0);
    /* Exactly one case completes: the selector is woken but has not run
     * yet; its node on a is stale, so a has no receiver. */
    assert_int_equal(corio_chan_try_send(x.a, P(8)), -EAGAIN);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(x.rc, 1);
    assert_int_equal(I(x.v), 7);
    /* And nothing is left behind on a. */
    assert_int_equal(corio_chan_try_send(x.a, P(8)), -EAGAIN);
    assert_int_equal(corio_chan_try_recv(x.a, &v), -EAGAIN);
    corio_chan_destroy(x.a);
    corio_chan_destroy(x.b);
    return NULL;
}
static void test_wait_several(void **s) { assert_int_equal(tu_run(main_wait_several, NULL, NULL), 0); }

/* ---- a send case completes when a receiver arrives ----------------------*/
static void *send_selector(void *arg)
{
    sel_t *x = arg;
    corio_chan_case cs[2];
    set_case(&cs[0], x->a, CORIO_CHAN_SEND, P(11));
    set_case(&cs[1], x->b, CORIO_CHAN_RECV, NULL);
    x->rc = corio_chan_select(cs, 2, -1);
    x->v = cs[0].value; /* a SEND case's value is left as it was */
    return NULL;
}

static void *main_send_case(void *arg)
{
    static sel_t x; /* shared with the selector: not on the stack */
    corio_task *t;
    void *v;
    memset(&x, 0, sizeof x);
    corio_chan_create(&x.a, 0);
    corio_chan_create(&x.b, 0);
    t = corio_spawn(send_selector, &x);
    corio_yield();
    assert_int_equal(corio_chan_recv(x.a, &v), 0);
    assert_int_equal(I(v), 11);
    assert_int_equal(corio_chan_try_send(x.b, P(1)), -EAGAIN); /* stale */
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(x.rc, 0);
    assert_int_equal(I(x.v), 11);
    corio_chan_destroy(x.a);
    corio_chan_destroy(x.b);
    return NULL;
}
static void test_send_case(void **s) { assert_int_equal(tu_run(main_send_case, NULL, NULL), 0); }

/* A send case on a full buffered channel enters the buffer when a receiver
 * frees a slot, behind the values already there. */
static void *main_send_buffered(void *arg)
{
    static sel_t x; /* shared with the selector: not on the stack */
    corio_task *t;
    void *v;
    memset(&x, 0, sizeof x);
    corio_chan_create(&x.a, 1);
    corio_chan_create(&x.b, 0);
    corio_chan_try_send(x.a, P(10));
    t = corio_spawn(send_selector, &x);
    corio_yield();
    assert_int_equal(corio_chan_try_recv(x.a, &v), 0);
    assert_int_equal(I(v), 10);
    assert_int_equal(corio_chan_len(x.a), 1);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(x.rc, 0);
    assert_int_equal(corio_chan_try_recv(x.a, &v), 0);
    assert_int_equal(I(v), 11);
    corio_chan_destroy(x.a);
    corio_chan_destroy(x.b);
    return NULL;
}
static void test_send_buffered(void **s) { assert_int_equal(tu_run(main_send_buffered, NULL, NULL), 0); }

/* ---- timeout, poll, disabled cases ---------------------------------------*/
static void *main_timeout(void *arg)
{
    corio_chan *a, *b;
    corio_chan_case cs[3];
    double t0;
    void *v;
    corio_chan_create(&a, 0);
    corio_chan_create(&b, 0);
    set_case(&cs[0], a, CORIO_CHAN_RECV, NULL);
    set_case(&cs[1], NULL, CORIO_CHAN_RECV, NULL); /* disabled */
    set_case(&cs[2], b, CORIO_CHAN_SEND, P(3));
    t0 = corio_now();
    assert_int_equal(corio_chan_select(cs, 3, 0.02), -ETIMEDOUT);
    assert_true(corio_now() - t0 >= 0.019);
    /* No stale node stays live after the timeout. */
    assert_int_equal(corio_chan_try_send(a, P(1)), -EAGAIN);
    assert_int_equal(corio_chan_try_recv(b, &v), -EAGAIN);
    /* Poll: nothing ready. */
    assert_int_equal(corio_chan_select(cs, 3, 0), -EAGAIN);
    /* No enabled case: waits for the timeout. */
    assert_int_equal(corio_chan_select(cs + 1, 1, 0.005), -ETIMEDOUT);
    assert_int_equal(corio_chan_select(NULL, 0, 0.005), -ETIMEDOUT);
    corio_chan_destroy(a);
    corio_chan_destroy(b);
    return NULL;
}
static void test_timeout_poll(void **s) { assert_int_equal(tu_run(main_timeout, NULL, NULL), 0); }

/* An enclosing scope's deadline applies too. */
static void *main_scope(void *arg)
{
    corio_chan *a;
    corio_chan_case cs[1];
    corio_scope sc;
    corio_chan_create(&a, 0);
    set_case(&cs[0], a, CORIO_CHAN_RECV, NULL);
    corio_scope_enter(&sc, 0.01, 0);
    assert_int_equal(corio_chan_select(cs, 1, 10.0), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&sc), 1);
    corio_chan_destroy(a);
    return NULL;
}
static void test_scope(void **s) { assert_int_equal(tu_run(main_scope, NULL, NULL), 0); }

static void test_poll_outside_task(void **s)
{
    corio_chan *a;
    corio_chan_case cs[1];
    corio_chan_create(&a, 1);
    set_case(&cs[0], a, CORIO_CHAN_RECV, NULL);
    assert_int_equal(corio_chan_select(cs, 1, 0), -EAGAIN);
    assert_int_equal(corio_chan_select(cs, 1, -1), -EPERM);
    corio_chan_try_send(a, P(4));
    assert_int_equal(corio_chan_select(cs, 1, 0), 0);
    assert_int_equal(I(cs[0].value), 4);
    cs[0].op = 99;
    assert_int_equal(corio_chan_select(cs, 1, 0), -EINVAL);
    assert_int_equal(corio_chan_select(NULL, 1, 0), -EINVAL);
    corio_chan_destroy(a);
}

/* ---- closed channels: ready, status CORIO_ECLOSED -------------------------*/
static void *main_closed(void *arg)
{
    static sel_t x; /* shared with the selector: not on the stack */
    corio_chan *c;
    corio_chan_case cs[2];
    corio_task *t;
    corio_chan_create(&c, 0);
    corio_chan_close(c);
    set_case(&cs[0], c, CORIO_CHAN_SEND, P(1));
    assert_int_equal(corio_chan_select(cs, 1, -1), 0);
    assert_int_equal(cs[0].status, CORIO_ECLOSED);
    set_case(&cs[0], c, CORIO_CHAN_RECV, P(1));
    assert_int_equal(corio_chan_select(cs, 1, -1), 0);
    assert_int_equal(cs[0].status, CORIO_ECLOSED);
    assert_null(cs[0].value);
    corio_chan_destroy(c);
    /* Closed while the selector waits. */
    memset(&x, 0, sizeof x);
    corio_chan_create(&x.a, 0);
    corio_chan_create(&x.b, 0);
    t = corio_spawn(selector, &x);
    corio_yield();
    corio_chan_close(x.b);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(x.rc, 1);
    assert_null(x.v);
    corio_chan_destroy(x.a);
    corio_chan_destroy(x.b);
    return NULL;
}
static void test_closed(void **s) { assert_int_equal(tu_run(main_closed, NULL, NULL), 0); }

/* ---- cancellation: nothing lost, nothing stale ---------------------------*/
static void *main_cancel(void *arg)
{
    static sel_t x; /* shared with the selector: not on the stack */
    corio_task *t, *r;
    void *v;
    memset(&x, 0, sizeof x);
    corio_chan_create(&x.a, 0);
    corio_chan_create(&x.b, 0);
    t = corio_spawn(selector, &x);
    corio_yield();
    corio_cancel(t);
    assert_int_equal(corio_chan_try_send(x.a, P(1)), -EAGAIN);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(x.rc, -ECANCELED);
    /* Selector claimed, then cancelled before it ran: the case completed
     * (first wake wins) and the value is in x.v. */
    memset(&x.rc, 0, sizeof x.rc);
    x.v = NULL;
    t = corio_spawn(selector, &x);
    corio_yield();
    assert_int_equal(corio_chan_try_send(x.a, P(2)), 0);
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(x.rc, 0);
    assert_int_equal(I(x.v), 2);
    /* A cancelled task's select fails at once even with a case ready. */
    (void)r;
    (void)v;
    corio_chan_destroy(x.a);
    corio_chan_destroy(x.b);
    return NULL;
}
static void test_cancel(void **s) { assert_int_equal(tu_run(main_cancel, NULL, NULL), 0); }

/* ---- a select does not match itself ---------------------------------------*/
static void *self_match(void *arg)
{
    corio_chan *c = arg;
    corio_chan_case cs[2];
    set_case(&cs[0], c, CORIO_CHAN_SEND, P(1));
    set_case(&cs[1], c, CORIO_CHAN_RECV, NULL);
    return P(corio_chan_select(cs, 2, 0.01));
}

static void *main_self(void *arg)
{
    corio_chan *c;
    void *r;
    corio_chan_create(&c, 0);
    assert_int_equal(corio_await(corio_spawn(self_match, c), &r), 0);
    assert_int_equal(I(r), -ETIMEDOUT);
    corio_chan_destroy(c);
    return NULL;
}
static void test_no_self_match(void **s) { assert_int_equal(tu_run(main_self, NULL, NULL), 0); }

/* ---- fan-in of many producers through select, both stack modes ----------*/
typedef struct { corio_chan *c; int base; } prod_t;
static void *produce(void *arg)
{
    prod_t *p = arg;
    int i;
    for (i = 0; i < 100; i++)
        if (corio_chan_send(p->c, P(p->base + i)))
            return corio_fail(-EIO);
    corio_chan_close(p->c);
    return NULL;
}

static void *main_fanin(void *arg)
{
    static prod_t p[3]; /* read by the producers: not on the stack */
    corio_task *t[3];
    corio_chan_case cs[3];
    long sum = 0;
    int i, open = 3, last[3] = {-1, -1, -1};
    for (i = 0; i < 3; i++) {
        corio_chan_create(&p[i].c, (size_t)i); /* 0, 1, 2: mixed capacities */
        p[i].base = i * 1000;
        t[i] = corio_spawn(produce, &p[i]);
        set_case(&cs[i], p[i].c, CORIO_CHAN_RECV, NULL);
    }
    while (open) {
        int k = corio_chan_select(cs, 3, -1);
        assert_true(k >= 0 && k < 3);
        if (cs[k].status == CORIO_ECLOSED) {
            cs[k].chan = NULL; /* disable it */
            open--;
            continue;
        }
        assert_true(I(cs[k].value) > last[k]); /* per-producer FIFO */
        last[k] = I(cs[k].value);
        sum += I(cs[k].value);
    }
    assert_int_equal(sum, 3 * 4950 + 100 * 1000 + 100 * 2000);
    for (i = 0; i < 3; i++) {
        assert_int_equal(corio_await(t[i], NULL), 0);
        corio_chan_destroy(p[i].c);
    }
    return NULL;
}
static void test_fanin(void **s) { assert_int_equal(tu_run(main_fanin, NULL, NULL), 0); }


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_order),
        cmocka_unit_test(test_wait_several),
        cmocka_unit_test(test_send_case),
        cmocka_unit_test(test_send_buffered),
        cmocka_unit_test(test_timeout_poll),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_poll_outside_task),
        cmocka_unit_test(test_closed),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_no_self_match),
        cmocka_unit_test(test_fanin),
    };
    return tu_run_both_modes(tests);
}
