/*
 * corio_xchan: a bounded MPMC channel between loops. Ping-pong across two
 * loops (parking and spinning), many producers and consumers on three
 * loops, a close while senders on three loops are parked, and the race of a
 * cross-loop hand-off against the waiter's timeout or cancellation: every
 * value a send reports as delivered is received exactly once.
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

/* spin_us: -1 never (every cross-loop wake is an eventfd write), 0 the
 * runtime's default spin-then-park, > 0 that long. */
static int run(corio_fn fn, void *arg, unsigned threads, int spin_us)
{
    corio_multi_config c;
    memset(&c, 0, sizeof c);
    c.threads = threads;
    c.spin_us = spin_us;
    atomic_store(&failures, 0);
    return corio_run_multi(fn, arg, NULL, &c);
}

/* ---- ping-pong --------------------------------------------------------------*/

static corio_xchan *ping, *pong;
#define ROUNDS 3000

static void *ponger(void *arg)
{
    void *v;
    (void)arg;
    CHECK(corio_loop_index(NULL) == 1);
    for (;;) {
        if (corio_xchan_recv(ping, &v) != 0)
            break;
        CHECK(corio_xchan_send(pong, (void *)((intptr_t)v + 1)) == 0);
    }
    return NULL;
}

static void *pingpong_main(void *arg)
{
    unsigned spin = (unsigned)(uintptr_t)arg;
    corio_xtask *h;
    intptr_t tok = 0;
    int i;
    CHECK(corio_xchan_create(&ping, 1, spin) == 0);
    CHECK(corio_xchan_create(&pong, 1, spin) == 0);
    CHECK(corio_spawn_on(&h, corio_loop_get(1), ponger, NULL) == 0);
    for (i = 0; i < ROUNDS; i++) {
        void *v = NULL;
        CHECK(corio_xchan_send(ping, (void *)tok) == 0);
        CHECK(corio_xchan_recv(pong, &v) == 0);
        CHECK((intptr_t)v == tok + 1);
        tok = (intptr_t)v;
    }
    CHECK(tok == ROUNDS);
    CHECK(corio_xchan_close(ping) == 0);
    CHECK(corio_xchan_close(ping) == -EALREADY);
    CHECK(corio_xtask_await(h, NULL, 0) == 0);
    corio_xchan_destroy(ping);
    corio_xchan_destroy(pong);
    return NULL;
}

static void test_pingpong(void **state)
{
    (void)state;
    assert_int_equal(run(pingpong_main, (void *)(uintptr_t)0, 2, -1), 0);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(run(pingpong_main, (void *)(uintptr_t)0, 2, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
    /* Spinning channels and spinning loops. */
    assert_int_equal(run(pingpong_main, (void *)(uintptr_t)20000, 2, 20), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- many producers and consumers ----------------------------------------------*/

#define PRODUCERS 6
#define PER 400

static corio_xchan *mp;
static atomic_long got_sum, got_n;

static void *producer(void *arg)
{
    intptr_t p = (intptr_t)arg;
    int i;
    for (i = 0; i < PER; i++)
        CHECK(corio_xchan_send(mp, (void *)(p * PER + i + 1)) == 0);
    return NULL;
}

static void *consumer(void *arg)
{
    void *v;
    long last[PRODUCERS];
    int i;
    (void)arg;
    for (i = 0; i < PRODUCERS; i++)
        last[i] = -1;
    while (corio_xchan_recv(mp, &v) == 0) {
        long x = (long)(intptr_t)v - 1, p = x / PER;
        CHECK(p >= 0 && p < PRODUCERS);
        if (p >= 0 && p < PRODUCERS) {
            CHECK(x > last[p]); /* FIFO per producer */
            last[p] = x;
        }
        atomic_fetch_add(&got_sum, x + 1);
        atomic_fetch_add(&got_n, 1);
    }
    return NULL;
}

static void *mpmc_main(void *arg)
{
    corio_xtask *prod[PRODUCERS], *cons[3];
    long want = 0;
    int i;
    (void)arg;
    atomic_store(&got_sum, 0);
    atomic_store(&got_n, 0);
    CHECK(corio_xchan_create(&mp, 4, 0) == 0);
    for (i = 0; i < 3; i++)
        CHECK(corio_spawn_on(&cons[i], corio_loop_get((unsigned)i), consumer, NULL) == 0);
    for (i = 0; i < PRODUCERS; i++)
        CHECK(corio_spawn_on(&prod[i], corio_loop_get((unsigned)(i % 3)), producer,
                             (void *)(intptr_t)i) == 0);
    for (i = 0; i < PRODUCERS; i++)
        CHECK(corio_xtask_await(prod[i], NULL, 0) == 0);
    CHECK(corio_xchan_close(mp) == 0);
    for (i = 0; i < 3; i++)
        CHECK(corio_xtask_await(cons[i], NULL, 0) == 0);
    for (i = 0; i < PRODUCERS * PER; i++)
        want += i + 1;
    CHECK(atomic_load(&got_n) == PRODUCERS * PER);
    CHECK(atomic_load(&got_sum) == want);
    corio_xchan_destroy(mp);
    return NULL;
}

static void test_mpmc(void **state)
{
    (void)state;
    assert_int_equal(run(mpmc_main, NULL, 3, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- close with senders parked on three loops -----------------------------------*/

static corio_xchan *full;
static atomic_int parked_senders;

static void *blocked_sender(void *arg)
{
    int rc;
    atomic_fetch_add(&parked_senders, 1);
    rc = corio_xchan_send(full, arg);
    CHECK(rc == CORIO_ECLOSED);
    return NULL;
}

static void *close_main(void *arg)
{
    corio_xtask *h[3];
    void *v = NULL;
    int i;
    (void)arg;
    atomic_store(&parked_senders, 0);
    CHECK(corio_xchan_create(&full, 1, 0) == 0);
    CHECK(corio_xchan_send(full, (void *)(intptr_t)99) == 0);
    CHECK(corio_xchan_try_send(full, NULL) == -EAGAIN);
    for (i = 0; i < 3; i++)
        CHECK(corio_spawn_on(&h[i], corio_loop_get((unsigned)i), blocked_sender,
                             (void *)(intptr_t)i) == 0);
    while (atomic_load(&parked_senders) < 3)
        corio_sleep(0.001);
    corio_sleep(0.01); /* not needed for correctness: a late sender sees closed */
    CHECK(corio_xchan_close(full) == 0);
    for (i = 0; i < 3; i++)
        CHECK(corio_xtask_await(h[i], NULL, 0) == 0);
    /* The buffered value survives the close, then the channel is empty. */
    CHECK(corio_xchan_recv(full, &v) == 0 && (intptr_t)v == 99);
    CHECK(corio_xchan_recv(full, &v) == CORIO_ECLOSED);
    CHECK(corio_xchan_try_recv(full, &v) == CORIO_ECLOSED);
    CHECK(corio_xchan_send(full, v) == CORIO_ECLOSED);
    corio_xchan_destroy(full);
    return NULL;
}

static void test_close_parked_senders(void **state)
{
    (void)state;
    assert_int_equal(run(close_main, NULL, 3, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- a hand-off racing the waiter's timeout / cancel ------------------------------*/

#define RACE_N 2000

static corio_xchan *rc_chan;
static atomic_long delivered_sum, received_sum;
static atomic_int senders_done;

static void *race_receiver(void *arg)
{
    intptr_t id = (intptr_t)arg;
    unsigned k = 0;
    for (;;) {
        corio_scope s;
        void *v = NULL;
        int rc;
        corio_scope_enter(&s, (double)(k++ % 4) * 0.0001, 0);
        rc = corio_xchan_recv(rc_chan, &v);
        corio_scope_exit(&s);
        if (rc == 0)
            atomic_fetch_add(&received_sum, (long)(intptr_t)v);
        else if (rc == CORIO_ECLOSED)
            break;
        else
            CHECK(rc == -ETIMEDOUT);
        if (id == 0 && k % 16 == 0)
            corio_yield();
    }
    return NULL;
}

static void *race_sender(void *arg)
{
    intptr_t base = (intptr_t)arg;
    int i;
    for (i = 1; i <= RACE_N; i++) {
        corio_scope s;
        int rc;
        corio_scope_enter(&s, 0.0003, 0);
        rc = corio_xchan_send(rc_chan, (void *)(base + i));
        corio_scope_exit(&s);
        if (rc == 0)
            atomic_fetch_add(&delivered_sum, (long)(base + i));
        else
            CHECK(rc == -ETIMEDOUT);
    }
    atomic_fetch_add(&senders_done, 1);
    return NULL;
}

/* Cancels a parked receiver now and then: its handle says which won. */
static void *cancel_victim(void *arg)
{
    void *v = NULL;
    int rc;
    (void)arg;
    rc = corio_xchan_recv(rc_chan, &v);
    if (rc == 0)
        atomic_fetch_add(&received_sum, (long)(intptr_t)v);
    else
        CHECK(rc == -ECANCELED || rc == CORIO_ECLOSED);
    return NULL;
}

static void *race_main(void *arg)
{
    corio_xtask *recv[2], *send[2];
    void *v;
    int i, rc;
    (void)arg;
    atomic_store(&delivered_sum, 0);
    atomic_store(&received_sum, 0);
    atomic_store(&senders_done, 0);
    CHECK(corio_xchan_create(&rc_chan, 1, 0) == 0);
    CHECK(corio_spawn_on(&recv[0], corio_loop_get(1), race_receiver, (void *)0) == 0);
    CHECK(corio_spawn_on(&recv[1], corio_loop_get(2), race_receiver, (void *)1) == 0);
    CHECK(corio_spawn_on(&send[0], corio_loop_get(0), race_sender, (void *)0) == 0);
    CHECK(corio_spawn_on(&send[1], corio_loop_get(2), race_sender,
                         (void *)(intptr_t)1000000) == 0);
    while (atomic_load(&senders_done) < 2) {
        corio_xtask *h;
        CHECK(corio_spawn_on(&h, corio_loop_get(1), cancel_victim, NULL) == 0);
        corio_sleep(0.0002);
        corio_xtask_cancel(h);
        rc = corio_xtask_await(h, NULL, 0); /* -ECANCELED: never started */
        CHECK(rc == 0 || rc == -ECANCELED);
    }
    for (i = 0; i < 2; i++)
        CHECK(corio_xtask_await(send[i], NULL, 0) == 0);
    /* Drain what is buffered, then stop the receivers. */
    while (corio_xchan_try_recv(rc_chan, &v) == 0)
        atomic_fetch_add(&received_sum, (long)(intptr_t)v);
    CHECK(corio_xchan_close(rc_chan) == 0);
    for (i = 0; i < 2; i++)
        CHECK(corio_xtask_await(recv[i], NULL, 0) == 0);
    while (corio_xchan_try_recv(rc_chan, &v) == 0)
        atomic_fetch_add(&received_sum, (long)(intptr_t)v);
    CHECK(atomic_load(&delivered_sum) == atomic_load(&received_sum));
    CHECK(atomic_load(&delivered_sum) > 0);
    corio_xchan_destroy(rc_chan);
    return NULL;
}

static void test_handoff_races(void **state)
{
    (void)state;
    /* Both wake paths: loops that sleep (eventfd) and loops that spin. */
    assert_int_equal(run(race_main, NULL, 3, -1), 0);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(run(race_main, NULL, 3, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- the claim-then-interrupted window, held open -------------------------------
 * A sender on loop 0 claims R's wait on loop 1; before its wake-up is
 * posted, R is cancelled on its own loop and runs: it must see the claim,
 * wait for the wake-up that points at its stack, and report the value (the
 * hand-off happened), then see its cancellation at its next call. */

extern void (*corio__xchan_after_claim)(void);
static corio_xchan *win;
static atomic_int claimed, proceed, r_parked, r_rc, r_next;
static atomic_long r_val;
static corio_task *r_task; /* loop 1's only */

static void hold_window(void)
{
    atomic_store(&claimed, 1);
    while (!atomic_load(&proceed))
        ;
}

static void *win_receiver(void *arg)
{
    void *v = NULL;
    (void)arg;
    r_task = corio_current();
    atomic_store(&r_rc, corio_xchan_recv(win, &v));
    atomic_store(&r_val, (long)(intptr_t)v);
    atomic_store(&r_next, corio_yield());
    return NULL;
}

/* On loop 1 beside R: cancels R inside the window, lets it run, then lets
 * the sender go on. */
static void *win_canceller(void *arg)
{
    (void)arg;
    /* Same loop as R: its state may be read here. Parked in recv on an
     * empty channel, it stays parked until the sender comes. */
    while (!r_task || corio_task_state(r_task) != CORIO_TASK_SUSPENDED)
        corio_sleep(0.001);
    atomic_store(&r_parked, 1);
    while (!atomic_load(&claimed))
        corio_sleep(0.001);
    corio_cancel(r_task);
    corio_yield(); /* R runs: sees its claimed node and waits, shielded */
    corio_yield();
    atomic_store(&proceed, 1);
    return NULL;
}

static void *window_main(void *arg)
{
    corio_xtask *r, *k;
    (void)arg;
    atomic_store(&claimed, 0);
    atomic_store(&proceed, 0);
    atomic_store(&r_parked, 0);
    r_task = NULL;
    CHECK(corio_xchan_create(&win, 1, 0) == 0);
    CHECK(corio_spawn_on(&r, corio_loop_get(1), win_receiver, NULL) == 0);
    CHECK(corio_spawn_on(&k, corio_loop_get(1), win_canceller, NULL) == 0);
    while (!atomic_load(&r_parked))
        corio_sleep(0.001);
    corio__xchan_after_claim = hold_window;
    CHECK(corio_xchan_send(win, (void *)(intptr_t)77) == 0);
    corio__xchan_after_claim = NULL;
    CHECK(corio_xtask_await(k, NULL, 0) == 0);
    CHECK(corio_xtask_await(r, NULL, 0) == -ECANCELED);
    CHECK(atomic_load(&r_rc) == 0);
    CHECK(atomic_load(&r_val) == 77);
    CHECK(atomic_load(&r_next) == -ECANCELED);
    corio_xchan_destroy(win);
    return NULL;
}

static void test_claim_window(void **state)
{
    (void)state;
    assert_int_equal(run(window_main, NULL, 2, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- waits across loops are not deadlocks; misuse ---------------------------------*/

static corio_xchan *late;

static void *late_sender(void *arg)
{
    (void)arg;
    corio_sleep(0.05);
    CHECK(corio_xchan_send(late, (void *)(intptr_t)5) == 0);
    return NULL;
}

static void *late_main(void *arg)
{
    void *v = NULL;
    (void)arg;
    CHECK(corio_xchan_create(&late, 1, 0) == 0);
    CHECK(corio_spawn_on(NULL, corio_loop_get(1), late_sender, NULL) == 0);
    /* Loop 0 has nothing else: its only task waits on another loop. */
    CHECK(corio_xchan_recv(late, &v) == 0 && (intptr_t)v == 5);
    corio_xchan_destroy(late);
    return NULL;
}

static void test_not_a_deadlock(void **state)
{
    corio_xchan *c;
    (void)state;
    assert_int_equal(run(late_main, NULL, 2, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(corio_xchan_create(&c, 0, 0), -EINVAL);
    assert_int_equal(corio_xchan_create(&c, 2, 0), 0);
    assert_int_equal(corio_xchan_try_send(c, NULL), -EPERM); /* no runtime */
    assert_int_equal(corio_xchan_send(c, NULL), -EPERM);
    corio_xchan_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pingpong),
        cmocka_unit_test(test_mpmc),
        cmocka_unit_test(test_close_parked_senders),
        cmocka_unit_test(test_handoff_races),
        cmocka_unit_test(test_claim_window),
        cmocka_unit_test(test_not_a_deadlock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
