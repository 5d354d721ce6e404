/*
 * corio_chan_select with cross-loop channels (corio_xchan) next to local
 * ones: values from senders on three loops and from a local task all
 * arrive exactly once; a select sending on an xchan; selects racing their
 * timeout and cancellation while peers on other loops poke them; a close
 * on another loop wakes a parked select; misuse.
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

#include "multi_check.h"

static int run(corio_fn fn, void *arg, unsigned threads, int spin_us)
{
    corio_multi_config c;
    memset(&c, 0, sizeof c);
    c.threads = threads;
    c.spin_us = spin_us;
    atomic_store(&failures, 0);
    return corio_run_multi(fn, arg, NULL, &c);
}

/* ---- values from three loops and a local task, each received once ------------*/

#define PER 1500
static corio_xchan *xa, *xb;
static corio_chan *lc;

static void *xsender(void *arg)
{
    intptr_t base = (intptr_t)arg;
    int i;
    for (i = 1; i <= PER; i++) {
        CHECK(corio_xchan_send(base < 2000000 ? xa : xb, (void *)(base + i)) == 0);
        if (i % 4 == 0)
            corio_sleep(0.00005); /* let the select park now and then */
    }
    return NULL;
}

static void *lsender(void *arg)
{
    intptr_t base = (intptr_t)arg;
    int i;
    for (i = 1; i <= PER; i++)
        CHECK(corio_chan_send(lc, (void *)(base + i)) == 0);
    return NULL;
}

static long expected_sum(intptr_t base)
{
    return (long)PER * base + (long)PER * (PER + 1) / 2;
}

static void *fanin_main(void *arg)
{
    corio_xtask *h[3];
    corio_task *lt;
    long sum = 0, want;
    int got = 0, per_case[3] = {0, 0, 0}, i;
    (void)arg;
    CHECK(corio_xchan_create(&xa, 2, 0) == 0);
    CHECK(corio_xchan_create(&xb, 1, 0) == 0);
    CHECK(corio_chan_create(&lc, 0) == 0);
    CHECK(corio_spawn_on(&h[0], corio_loop_get(1), xsender, (void *)(intptr_t)1000000) == 0);
    CHECK(corio_spawn_on(&h[1], corio_loop_get(2), xsender, (void *)(intptr_t)3000000) == 0);
    CHECK(corio_spawn_on(&h[2], corio_loop_get(0), xsender, (void *)(intptr_t)1500000) == 0);
    lt = corio_spawn(lsender, (void *)(intptr_t)5000000);
    CHECK(lt != NULL);
    while (got < 4 * PER) {
        corio_chan_case cs[4];
        int rc;
        memset(cs, 0, sizeof cs);
        cs[0].xchan = xa;
        cs[0].op = CORIO_CHAN_RECV | CORIO_CHAN_CROSS;
        cs[1].chan = lc;
        cs[1].op = CORIO_CHAN_RECV;
        /* cs[2] disabled */
        cs[3].xchan = xb;
        cs[3].op = CORIO_CHAN_RECV | CORIO_CHAN_CROSS;
        rc = corio_chan_select(cs, 4, -1);
        CHECK(rc == 0 || rc == 1 || rc == 3);
        if (rc < 0)
            break;
        CHECK(cs[rc].status == 0);
        sum += (long)(intptr_t)cs[rc].value;
        per_case[rc == 3 ? 2 : rc]++;
        got++;
    }
    want = expected_sum(1000000) + expected_sum(3000000) + expected_sum(1500000) +
           expected_sum(5000000);
    CHECK(sum == want);
    CHECK(per_case[0] == 2 * PER && per_case[1] == PER && per_case[2] == PER);
    for (i = 0; i < 3; i++)
        CHECK(corio_xtask_await(h[i], NULL, 0) == 0);
    CHECK(corio_await(lt, NULL) == 0);
    /* Nothing is left over. */
    {
        corio_chan_case cs[2];
        memset(cs, 0, sizeof cs);
        cs[0].xchan = xa;
        cs[0].op = CORIO_CHAN_RECV | CORIO_CHAN_CROSS;
        cs[1].xchan = xb;
        cs[1].op = CORIO_CHAN_RECV | CORIO_CHAN_CROSS;
        CHECK(corio_chan_select(cs, 2, 0) == -EAGAIN);
        CHECK(corio_chan_select(cs, 2, 0.001) == -ETIMEDOUT);
    }
    corio_xchan_destroy(xa);
    corio_xchan_destroy(xb);
    corio_chan_destroy(lc);
    return NULL;
}

static void test_fan_in(void **state)
{
    (void)state;
    assert_int_equal(run(fanin_main, NULL, 3, -1), 0);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(run(fanin_main, NULL, 3, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- a select that sends on an xchan, or receives locally ----------------------*/

static corio_xchan *out;
static long out_sum;

static void *xreceiver(void *arg)
{
    void *v;
    (void)arg;
    long n = 0;
    while (corio_xchan_recv(out, &v) == 0) {
        out_sum += (long)(intptr_t)v; /* only this task writes it */
        if (++n % 4 == 0)
            corio_sleep(0.00005); /* the select parks on a full channel */
    }
    return NULL;
}

static void *send_main(void *arg)
{
    corio_xtask *h;
    long sent = 0;
    int i;
    (void)arg;
    out_sum = 0;
    CHECK(corio_xchan_create(&out, 1, 0) == 0);
    CHECK(corio_chan_create(&lc, 1) == 0);
    CHECK(corio_spawn_on(&h, corio_loop_get(1), xreceiver, NULL) == 0);
    for (i = 1; i <= 2000; i++) {
        corio_chan_case cs[2];
        int rc;
        memset(cs, 0, sizeof cs);
        cs[0].chan = lc; /* nobody sends here: never ready */
        cs[0].op = CORIO_CHAN_RECV;
        cs[1].xchan = out;
        cs[1].op = CORIO_CHAN_SEND | CORIO_CHAN_CROSS;
        cs[1].value = (void *)(intptr_t)i;
        rc = corio_chan_select(cs, 2, -1);
        CHECK(rc == 1 && cs[1].status == 0);
        sent += i;
    }
    CHECK(corio_xchan_close(out) == 0);
    CHECK(corio_xtask_await(h, NULL, 0) == 0);
    CHECK(out_sum == sent);
    corio_xchan_destroy(out);
    corio_chan_destroy(lc);
    return NULL;
}

static void test_select_send(void **state)
{
    (void)state;
    assert_int_equal(run(send_main, NULL, 2, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- pokes racing the select's timeout and cancellation -------------------------
 * Senders on two other loops push values with short timeouts of their own;
 * the selecting side uses tiny timeouts and gets cancelled now and then.
 * Every value a send reports as delivered is received exactly once. */

#define RACE_N 1500
static corio_xchan *rx;
static atomic_long delivered, received;
static atomic_int senders_left;

static void *race_sender(void *arg)
{
    intptr_t base = (intptr_t)arg;
    int i;
    for (i = 1; i <= RACE_N; i++) {
        corio_scope s;
        int rc;
        corio_scope_enter(&s, 0.0003, 0);
        rc = corio_xchan_send(rx, (void *)(base + i));
        corio_scope_exit(&s);
        if (rc == 0)
            atomic_fetch_add(&delivered, (long)(base + i));
        else
            CHECK(rc == -ETIMEDOUT);
        if (i % 4 == 0)
            corio_sleep(0.00005);
    }
    atomic_fetch_sub(&senders_left, 1);
    return NULL;
}

static void *race_selector(void *arg)
{
    corio_chan *never;
    unsigned k = 0;
    (void)arg;
    CHECK(corio_chan_create(&never, 0) == 0);
    for (;;) {
        corio_chan_case cs[2];
        int rc;
        memset(cs, 0, sizeof cs);
        cs[0].chan = never;
        cs[0].op = CORIO_CHAN_RECV;
        cs[1].xchan = rx;
        cs[1].op = CORIO_CHAN_RECV | CORIO_CHAN_CROSS;
        /* Timeouts of 0 (poll), 0.1-0.3 ms, and now and then none. */
        rc = corio_chan_select(cs, 2, k % 8 == 7 ? -1 : (double)(k % 4) * 0.0001);
        k++;
        if (rc == 1) {
            if (cs[1].status == CORIO_ECLOSED)
                break;
            CHECK(cs[1].status == 0);
            atomic_fetch_add(&received, (long)(intptr_t)cs[1].value);
        } else if (rc == -ECANCELED) {
            break;
        } else {
            CHECK(rc == -ETIMEDOUT || rc == -EAGAIN);
        }
    }
    corio_chan_destroy(never);
    return NULL;
}

static void *select_race_main(void *arg)
{
    corio_xtask *s[2], *r;
    void *v;
    int i;
    (void)arg;
    atomic_store(&delivered, 0);
    atomic_store(&received, 0);
    atomic_store(&senders_left, 2);
    CHECK(corio_xchan_create(&rx, 1, 0) == 0);
    CHECK(corio_spawn_on(&s[0], corio_loop_get(1), race_sender, (void *)(intptr_t)0) == 0);
    CHECK(corio_spawn_on(&s[1], corio_loop_get(2), race_sender,
                         (void *)(intptr_t)1000000) == 0);
    /* Selectors on loop 0, each cancelled after a while; the last one is
     * stopped by the close. */
    while (atomic_load(&senders_left) > 0) {
        CHECK(corio_spawn_on(&r, corio_loop_get(0), race_selector, NULL) == 0);
        corio_sleep(0.003);
        corio_xtask_cancel(r);
        (void)corio_xtask_await(r, NULL, 0); /* 0 or -ECANCELED */
    }
    for (i = 0; i < 2; i++)
        CHECK(corio_xtask_await(s[i], NULL, 0) == 0);
    while (corio_xchan_try_recv(rx, &v) == 0)
        atomic_fetch_add(&received, (long)(intptr_t)v);
    CHECK(atomic_load(&delivered) == atomic_load(&received));
    CHECK(atomic_load(&delivered) > 0);
    corio_xchan_destroy(rx);
    return NULL;
}

static void test_select_races(void **state)
{
    (void)state;
    assert_int_equal(run(select_race_main, NULL, 3, -1), 0);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(run(select_race_main, NULL, 3, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- close on another loop wakes a parked select; misuse ------------------------*/

static corio_xchan *cx;

static void *closer(void *arg)
{
    (void)arg;
    corio_sleep(0.02);
    CHECK(corio_xchan_close(cx) == 0);
    return NULL;
}

static void *close_main(void *arg)
{
    corio_chan_case cs[2];
    corio_chan *never;
    corio_xtask *h;
    int rc;
    (void)arg;
    CHECK(corio_xchan_create(&cx, 1, 0) == 0);
    CHECK(corio_chan_create(&never, 0) == 0);
    memset(cs, 0, sizeof cs);
    cs[0].chan = never;
    cs[0].op = CORIO_CHAN_RECV;
    cs[1].xchan = cx;
    cs[1].op = CORIO_CHAN_RECV | CORIO_CHAN_CROSS;
    CHECK(corio_spawn_on(&h, corio_loop_get(1), closer, NULL) == 0);
    rc = corio_chan_select(cs, 2, -1);
    CHECK(rc == 1 && cs[1].status == CORIO_ECLOSED && cs[1].value == NULL);
    CHECK(corio_xtask_await(h, NULL, 0) == 0);
    /* A bad op. */
    cs[0].op = CORIO_CHAN_CROSS;
    CHECK(corio_chan_select(cs, 2, 0) == -EINVAL);
    corio_chan_destroy(never);
    corio_xchan_destroy(cx);
    return NULL;
}

static void test_close_and_misuse(void **state)
{
    corio_chan_case cs[1];
    corio_xchan *c;
    (void)state;
    assert_int_equal(run(close_main, NULL, 2, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
    /* Outside a runtime, even polling. */
    assert_int_equal(corio_xchan_create(&c, 1, 0), 0);
    memset(cs, 0, sizeof cs);
    cs[0].xchan = c;
    cs[0].op = CORIO_CHAN_RECV | CORIO_CHAN_CROSS;
    assert_int_equal(corio_chan_select(cs, 1, 0), -EPERM);
    corio_xchan_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fan_in),
        cmocka_unit_test(test_select_send),
        cmocka_unit_test(test_select_races),
        cmocka_unit_test(test_close_and_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
