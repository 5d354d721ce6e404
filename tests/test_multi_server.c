/*
 * Servers on every loop (corio_server_start_all): one SO_REUSEPORT listener
 * per loop; every connection is answered by the loop that accepted it, and
 * the kernel spreads connections over all loops. Clients run on every loop
 * too. The same with one acceptor handing connections out round-robin
 * (an exact even split) or to the least busy loop (fewest open
 * connections), corio_mserver_served's counts, a close whose grace period
 * ends with handlers still running on other loops, and max_connections as
 * the whole server's limit in both modes (limit + 3 held connections: at
 * most limit served at once, the rest after closes). Tasks record failures
 * with CHECK (cmocka is not thread-safe).
 */
#include "testutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static atomic_int failures;
static atomic_int per_loop[4], answered;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            atomic_fetch_add(&failures, 1);                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

#define CLIENTS 64

/* Answers one line with the index of the loop serving it. */
static void handler(corio_stream *s, void *arg)
{
    char buf[64];
    size_t len = 0;
    int idx = corio_loop_index(NULL);
    (void)arg;
    if (corio_stream_readuntil(s, buf, sizeof buf, "\n", 1, &len) != 0)
        return;
    CHECK(idx >= 0 && idx < 4);
    if (idx >= 0 && idx < 4)
        atomic_fetch_add(&per_loop[idx], 1);
    snprintf(buf, sizeof buf, "%d\n", idx);
    CHECK(corio_stream_write(s, buf, strlen(buf)) == 0);
}

static void *client(void *arg)
{
    int port = (int)(intptr_t)arg;
    corio_stream *s;
    char buf[64];
    size_t len = 0;
    int rc = corio_stream_connect_tcp(&s, "127.0.0.1", port);
    CHECK(rc == 0);
    if (rc)
        return NULL;
    CHECK(corio_stream_write(s, "hi\n", 3) == 0);
    rc = corio_stream_readuntil(s, buf, sizeof buf, "\n", 1, &len);
    CHECK(rc == 0 && len >= 2);
    if (rc == 0)
        atomic_fetch_add(&answered, 1);
    corio_stream_close(s);
    return NULL;
}

static long served[4];

static void *server_main(void *arg)
{
    corio_mserver *ms;
    corio_xtask *c[CLIENTS];
    corio_server_opts o;
    int i, port;
    memset(&o, 0, sizeof o);
    o.flags = arg ? *(unsigned *)arg : 0;
    o.flags |= CORIO_SERVER_NODELAY;
    CHECK(corio_server_start_all(&ms, "127.0.0.1", 0, handler, NULL, &o) == 0);
    port = corio_mserver_port(ms);
    CHECK(port > 0);
    for (i = 0; i < CLIENTS; i++)
        CHECK(corio_spawn_on(&c[i], corio_loop_pick(CORIO_PICK_ROUND_ROBIN), client,
                             (void *)(intptr_t)port) == 0);
    for (i = 0; i < CLIENTS; i++)
        CHECK(corio_xtask_await(c[i], NULL, 0) == 0);
    for (i = 0; i < 4; i++)
        served[i] = corio_mserver_served(ms, (unsigned)i);
    CHECK(corio_mserver_served(ms, 2) == -EINVAL);
    CHECK(corio_mserver_close(ms, 1.0) == 0);
    return NULL;
}

static void run_server(unsigned flags)
{
    corio_multi_config c;
    int i, sum = 0;
    memset(&c, 0, sizeof c);
    c.threads = 2;
    atomic_store(&failures, 0);
    atomic_store(&answered, 0);
    memset(served, 0, sizeof served);
    for (i = 0; i < 4; i++)
        atomic_store(&per_loop[i], 0);
    assert_int_equal(corio_run_multi(server_main, &flags, NULL, &c), 0);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(atomic_load(&answered), CLIENTS);
    for (i = 0; i < 2; i++) {
        int n = atomic_load(&per_loop[i]);
        fprintf(stderr, "flags %#x: loop %d served %d connections\n", flags, i, n);
        assert_int_equal(served[i], n);
        if (!(flags & CORIO_SERVER_LEAST_BUSY)) {
            /* REUSEPORT: 64 connections hashed over 2 listeners: both get
             * some (an empty one has probability 2^-63). */
            assert_true(n > 0);
        }
        if ((flags & CORIO_SERVER_ONE_ACCEPTOR) && !(flags & CORIO_SERVER_LEAST_BUSY))
            assert_int_equal(n, CLIENTS / 2); /* round-robin: exact */
        sum += n;
    }
    assert_int_equal(sum, CLIENTS);
}

static void test_every_loop_serves(void **state)
{
    (void)state;
    run_server(0);
}

static void test_one_acceptor(void **state)
{
    (void)state;
    run_server(CORIO_SERVER_ONE_ACCEPTOR);
    run_server(CORIO_SERVER_ONE_ACCEPTOR | CORIO_SERVER_LEAST_BUSY);
}

/* ---- close with handlers still running on other loops -----------------------*/

static atomic_int stuck_started;

static void stuck_handler(corio_stream *s, void *arg)
{
    (void)s;
    (void)arg;
    atomic_fetch_add(&stuck_started, 1);
    corio_sleep(60); /* until the close cancels it */
}

static void *stuck_client(void *arg)
{
    corio_stream *s;
    int rc = corio_stream_connect_tcp(&s, "127.0.0.1", (int)(intptr_t)arg);
    char b;
    size_t len = 0;
    CHECK(rc == 0);
    if (rc)
        return NULL;
    /* The server closes the connection when its handler is cancelled. */
    (void)corio_stream_readexactly(s, &b, 1, &len);
    corio_stream_close(s);
    return NULL;
}

static void *grace_main(void *arg)
{
    corio_mserver *ms;
    corio_server_opts o;
    corio_xtask *c[4];
    int i, port;
    memset(&o, 0, sizeof o);
    o.flags = *(unsigned *)arg;
    atomic_store(&stuck_started, 0);
    CHECK(corio_server_start_all(&ms, "127.0.0.1", 0, stuck_handler, NULL, &o) == 0);
    port = corio_mserver_port(ms);
    for (i = 0; i < 4; i++)
        CHECK(corio_spawn_on(&c[i], corio_loop_get((unsigned)i % 2), stuck_client,
                             (void *)(intptr_t)port) == 0);
    while (atomic_load(&stuck_started) < 4)
        corio_sleep(0.001);
    /* Round-robin alternates; least busy (fewest open connections) does
     * too while none of them ends, whatever else each loop runs. */
    CHECK(corio_mserver_served(ms, 0) == 2 && corio_mserver_served(ms, 1) == 2);
    CHECK(corio_mserver_close(ms, 0.05) == 4); /* all four cancelled */
    for (i = 0; i < 4; i++)
        CHECK(corio_xtask_await(c[i], NULL, 0) == 0);
    return NULL;
}

static void test_one_acceptor_grace(void **state)
{
    corio_multi_config c;
    unsigned modes[2] = {CORIO_SERVER_ONE_ACCEPTOR,
                         CORIO_SERVER_ONE_ACCEPTOR | CORIO_SERVER_LEAST_BUSY};
    (void)state;
    memset(&c, 0, sizeof c);
    c.threads = 2;
    for (int m = 0; m < 2; m++) {
        atomic_store(&failures, 0);
        assert_int_equal(corio_run_multi(grace_main, &modes[m], NULL, &c), 0);
        assert_int_equal(atomic_load(&failures), 0);
    }
}

/* ---- max_connections: the whole server's limit, in both modes -------------*/

#define OVER 3 /* connections beyond the limit */

static atomic_int active, peak, held;
static corio_xchan *release; /* closed by the main task: handlers finish */

/* Holds its connection until release is closed, then answers. */
static void hold_handler(corio_stream *s, void *arg)
{
    void *v;
    int a = atomic_fetch_add(&active, 1) + 1, p = atomic_load(&peak);
    (void)arg;
    while (a > p && !atomic_compare_exchange_weak(&peak, &p, a))
        ;
    atomic_fetch_add(&held, 1);
    CHECK(corio_xchan_recv(release, &v) == CORIO_ECLOSED);
    atomic_fetch_sub(&active, 1);
    CHECK(corio_stream_write(s, "ok\n", 3) == 0);
}

static atomic_int connected;

static void *limit_client(void *arg)
{
    corio_stream *s;
    char buf[8];
    size_t len = 0;
    int rc = corio_stream_connect_tcp(&s, "127.0.0.1", (int)(intptr_t)arg);
    CHECK(rc == 0);
    if (rc)
        return NULL;
    atomic_fetch_add(&connected, 1); /* in the kernel's queue, at least */
    rc = corio_stream_readuntil(s, buf, sizeof buf, "\n", 1, &len);
    CHECK(rc == 0 && len == 3);
    if (rc == 0)
        atomic_fetch_add(&answered, 1);
    corio_stream_close(s);
    return NULL;
}

typedef struct limit_case {
    unsigned flags;
    size_t limit;
    int held_at_limit; /* handlers running while the rest waited */
} limit_case;

static void *limit_main(void *arg)
{
    limit_case *lc = arg;
    corio_mserver *ms;
    corio_server_opts o;
    corio_xtask *c[16];
    int i, port, n = (int)lc->limit + OVER;
    memset(&o, 0, sizeof o);
    o.flags = lc->flags;
    o.max_connections = lc->limit;
    CHECK(corio_xchan_create(&release, 1, 0) == 0);
    CHECK(corio_server_start_all(&ms, "127.0.0.1", 0, hold_handler, NULL, &o) == 0);
    port = corio_mserver_port(ms);
    for (i = 0; i < n; i++)
        CHECK(corio_spawn_on(&c[i], corio_loop_pick(CORIO_PICK_ROUND_ROBIN),
                             limit_client, (void *)(intptr_t)port) == 0);
    /* Every client connected; one acceptor fills the limit exactly (which
     * loops the kernel's hash picks decides it under REUSEPORT). Then give
     * the servers time to (wrongly) take more. */
    while (atomic_load(&connected) < n ||
           ((lc->flags & CORIO_SERVER_ONE_ACCEPTOR) &&
            atomic_load(&held) < (int)lc->limit))
        corio_sleep(0.001);
    corio_sleep(0.2 * tu_timescale());
    lc->held_at_limit = atomic_load(&held);
    /* The held connections end; the others are served as slots free up. */
    CHECK(corio_xchan_close(release) == 0);
    for (i = 0; i < n; i++)
        CHECK(corio_xtask_await(c[i], NULL, 0) == 0);
    CHECK(corio_mserver_close(ms, 1.0) == 0);
    corio_xchan_destroy(release);
    return NULL;
}

static void run_limit(unsigned flags, size_t limit)
{
    corio_multi_config c;
    limit_case lc = {.flags = flags, .limit = limit};
    memset(&c, 0, sizeof c);
    c.threads = 2;
    atomic_store(&failures, 0);
    atomic_store(&answered, 0);
    atomic_store(&connected, 0);
    atomic_store(&active, 0);
    atomic_store(&peak, 0);
    atomic_store(&held, 0);
    assert_int_equal(corio_run_multi(limit_main, &lc, NULL, &c), 0);
    assert_int_equal(atomic_load(&failures), 0);
    fprintf(stderr, "flags %#x limit %zu: %d held while %d waited; peak %d\n", flags,
            limit, lc.held_at_limit, (int)limit + OVER - lc.held_at_limit,
            atomic_load(&peak));
    assert_int_equal(atomic_load(&answered), (int)limit + OVER);
    assert_true(atomic_load(&peak) <= (int)limit);
    assert_true(lc.held_at_limit <= (int)limit);
    assert_true(lc.held_at_limit >= 1);
    if (flags & CORIO_SERVER_ONE_ACCEPTOR)
        assert_int_equal(lc.held_at_limit, (int)limit);
}

static void test_limit_one_acceptor(void **state)
{
    (void)state;
    run_limit(CORIO_SERVER_ONE_ACCEPTOR, 3);
    run_limit(CORIO_SERVER_ONE_ACCEPTOR | CORIO_SERVER_LEAST_BUSY, 3);
    run_limit(CORIO_SERVER_ONE_ACCEPTOR, 1);
}

static void test_limit_reuseport(void **state)
{
    (void)state;
    run_limit(0, 3); /* shares 2 + 1 */
    run_limit(0, 1); /* below the loop count: loop 0 alone listens */
}

static void test_misuse(void **state)
{
    corio_mserver *ms;
    (void)state;
    assert_int_equal(corio_server_start_all(&ms, NULL, 0, handler, NULL, NULL), -EPERM);
    assert_int_equal(corio_mserver_port(NULL), -EINVAL);
    assert_int_equal(corio_mserver_served(NULL, 0), -EINVAL);
}

static void *least_busy_alone_main(void *arg)
{
    corio_mserver *ms;
    corio_server_opts o;
    (void)arg;
    memset(&o, 0, sizeof o);
    o.flags = CORIO_SERVER_LEAST_BUSY;
    CHECK(corio_server_start_all(&ms, "127.0.0.1", 0, handler, NULL, &o) == -EINVAL);
    return NULL;
}

static void test_least_busy_needs_one_acceptor(void **state)
{
    corio_multi_config c;
    (void)state;
    memset(&c, 0, sizeof c);
    c.threads = 2;
    atomic_store(&failures, 0);
    assert_int_equal(corio_run_multi(least_busy_alone_main, NULL, NULL, &c), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_loop_serves),
        cmocka_unit_test(test_one_acceptor),
        cmocka_unit_test(test_one_acceptor_grace),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_least_busy_needs_one_acceptor),
        cmocka_unit_test(test_limit_one_acceptor),
        cmocka_unit_test(test_limit_reuseport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
