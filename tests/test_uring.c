/* The io_uring backend: choosing it, falling back to epoll when it cannot
 * be set up, and what only a completion backend can get wrong: an
 * operation cancelled in the ring that happened anyway must not lose (or
 * duplicate) bytes; more operations than SQ entries; more completions than
 * CQ entries (overflow); peer resets with receives in flight; dumps that
 * name the operation a task waits on. Every test that needs the ring asks
 * for it in the loop config (so it runs in every CI mode) and is skipped
 * where the kernel refuses io_uring. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static corio_loop_config ring_cfg(void)
{
    corio_loop_config c;
    memset(&c, 0, sizeof c);
    c.backend = CORIO_BACKEND_IO_URING;
    return c;
}

/* 1 if this kernel lets us set up a ring (else the test is skipped). */
static int ring_works(void)
{
    corio_loop *l;
    corio_loop_config c = ring_cfg();
    FILE *f = tmpfile();
    int ok;
    c.report_file = f;
    assert_int_equal(corio_loop_create(&l, &c), 0);
    ok = strcmp(corio_loop_backend(l), "io_uring") == 0;
    corio_loop_close(l);
    fclose(f);
    return ok;
}

#define RING_TEST(name)                                              \
    static void *name##_main(void *arg);                             \
    static void name(void **state)                                   \
    {                                                                \
        corio_loop_config c = ring_cfg();                            \
        (void)state;                                                 \
        if (!ring_works())                                           \
            skip();                                                  \
        assert_int_equal(tu_run_cfg(name##_main, NULL, NULL, &c), 0); \
    }                                                                \
    static void *name##_main(void *arg)

static char *slurp(FILE *f)
{
    static char buf[4096];
    size_t k;
    fflush(f);
    rewind(f);
    k = fread(buf, 1, sizeof buf - 1, f);
    buf[k] = 0;
    return buf;
}

/* ---- choosing and falling back ----------------------------------------------*/

static void test_config_chooses(void **state)
{
    static const struct { int b; const char *name; } cases[] = {
        {CORIO_BACKEND_EPOLL, "epoll"}, {CORIO_BACKEND_POLL, "poll"}};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        corio_loop *l;
        corio_loop_config c;
        memset(&c, 0, sizeof c);
        c.backend = cases[i].b;
        assert_int_equal(corio_loop_create(&l, &c), 0);
        assert_string_equal(corio_loop_backend(l), cases[i].name);
        corio_loop_close(l);
    }
    assert_string_equal(corio_loop_backend(NULL), "");
}

static void *echo_once(void *arg)
{
    int sv[2];
    corio_socket *a, *b;
    char buf[8];
    if (arg)
        assert_string_equal(corio_loop_backend(NULL), (const char *)arg);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(corio_socket_wrap(&a, sv[0]), 0);
    assert_int_equal(corio_socket_wrap(&b, sv[1]), 0);
    assert_int_equal(corio_socket_send(a, "ping", 4, 0), 4);
    assert_int_equal(corio_socket_recv(b, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "ping", 4);
    corio_socket_close(a);
    corio_socket_close(b);
    return NULL;
}

/* io_uring_setup failing as under seccomp (ENOSYS) or with sysctl
 * kernel.io_uring_disabled (EPERM): the loop runs on epoll and says so,
 * once, in its report. */
static void test_fallback_when_setup_fails(void **state)
{
    static const char *const errs[] = {"1" /* EPERM */, "38" /* ENOSYS */};
    size_t i;
    (void)state;
    for (i = 0; i < 2; i++) {
        corio_loop *l;
        corio_loop_config c = ring_cfg();
        FILE *f = tmpfile();
        const char *rep;
        c.report_file = f;
        setenv("CORIO__TEST_URING_FAIL", errs[i], 1);
        assert_int_equal(corio_loop_create(&l, &c), 0);
        unsetenv("CORIO__TEST_URING_FAIL");
        assert_string_equal(corio_loop_backend(l), "epoll");
        rep = slurp(f);
        assert_non_null(strstr(rep, "io_uring unavailable"));
        assert_non_null(strstr(rep, "using epoll"));
        assert_null(strstr(strstr(rep, "using epoll"), "io_uring")); /* once */
        corio_loop_close(l);
        fclose(f);
        /* And it works: a whole run on the fallback. */
        f = tmpfile();
        c.report_file = f;
        setenv("CORIO__TEST_URING_FAIL", errs[i], 1);
        assert_int_equal(corio_run_ex(echo_once, (void *)"epoll", NULL, &c), 0);
        unsetenv("CORIO__TEST_URING_FAIL");
        fclose(f);
    }
}

/* CORIO_BACKEND picks it when the config says AUTO. */
static void test_env_chooses(void **state)
{
    corio_loop *l;
    FILE *f = tmpfile();
    corio_loop_config c;
    const char *was = getenv("CORIO_BACKEND");
    char *saved = was ? strdup(was) : NULL; /* CI modes set it: put it back */
    (void)state;
    memset(&c, 0, sizeof c);
    c.report_file = f;
    setenv("CORIO_BACKEND", "io_uring", 1);
    assert_int_equal(corio_loop_create(&l, &c), 0);
    assert_true(strcmp(corio_loop_backend(l), "io_uring") == 0 ||
                strcmp(corio_loop_backend(l), "epoll") == 0);
    corio_loop_close(l);
    setenv("CORIO_BACKEND", "poll", 1);
    assert_int_equal(corio_loop_create(&l, &c), 0);
    assert_string_equal(corio_loop_backend(l), "poll");
    corio_loop_close(l);
    if (saved)
        setenv("CORIO_BACKEND", saved, 1);
    else
        unsetenv("CORIO_BACKEND");
    free(saved);
    fclose(f);
}

/* ---- cancellation never loses data ------------------------------------------*/

/* Pairs of sockets; on each, a writer sends a byte sequence (i mod 251)
 * and a reader checks it arrives whole and in order, while both keep
 * being interrupted: short scope deadlines around every call, and a
 * canceller task that cancels readers, which are then replaced. A call
 * that returned -ETIMEDOUT or -ECANCELED although its operation happened
 * would lose bytes (recv) or duplicate them (send): the sequence breaks. */
#define STORM_PAIRS 16
static size_t storm_total;
static long storm_interrupts; /* calls that returned -ETIMEDOUT/-ECANCELED */

typedef struct storm {
    corio_socket *a, *b;
    size_t sent, got;   /* bytes the calls said they moved */
    corio_task *reader, *writer;
    int broken;
    unsigned seed;
} storm;
static storm storms[STORM_PAIRS];

static double jitter(unsigned *seed)
{
    return (double)(rand_r(seed) % 1000) / 1e6; /* 0 .. 1 ms */
}

static void *storm_writer(void *arg)
{
    storm *s = arg;
    char buf[4096];
    while (s->sent < storm_total) {
        size_t n = storm_total - s->sent, i;
        corio_scope sc;
        ssize_t r;
        if (n > sizeof buf)
            n = sizeof buf;
        n = 1 + (size_t)rand_r(&s->seed) % n;
        for (i = 0; i < n; i++)
            buf[i] = (char)((s->sent + i) % 251);
        corio_scope_enter(&sc, jitter(&s->seed), 0);
        r = corio_socket_send(s->a, buf, n, 0);
        corio_scope_exit(&sc);
        if (r == -ETIMEDOUT) {
            storm_interrupts++;
            continue; /* it did not happen: the same bytes go again */
        }
        if (r == -ECANCELED) {
            storm_interrupts++;
            return NULL; /* replaced by a new writer */
        }
        assert_true(r > 0);
        s->sent += (size_t)r;
        if (corio_yield() == -ECANCELED)
            return NULL;
    }
    return NULL;
}

static void *storm_reader(void *arg)
{
    storm *s = arg;
    char buf[3000];
    while (s->got < storm_total) {
        corio_scope sc;
        ssize_t r, i;
        size_t want = 1 + (size_t)rand_r(&s->seed) % sizeof buf;
        corio_scope_enter(&sc, jitter(&s->seed), 0);
        r = corio_socket_recv(s->b, buf, want, 0);
        corio_scope_exit(&sc);
        if (r == -ETIMEDOUT) {
            storm_interrupts++;
            continue;
        }
        if (r == -ECANCELED) {
            storm_interrupts++;
            return NULL; /* replaced by a new reader */
        }
        assert_true(r > 0);
        for (i = 0; i < r; i++)
            if (buf[i] != (char)((s->got + (size_t)i) % 251))
                s->broken = 1;
        s->got += (size_t)r;
    }
    return NULL;
}

/* Every loop iteration, cancels a random quarter of the readers and of the
 * writers (most of them parked with an operation in the ring, some with
 * its completion already on the way) and replaces them. */
static void *storm_canceller(void *arg)
{
    unsigned seed = 7;
    int i, done;
    /* Bounded: lost bytes would leave a reader waiting forever. */
    double end = corio_now() + 20 * tu_timescale();
    (void)arg;
    do {
        done = 1;
        corio_yield();
        if (corio_now() > end) {
            for (i = 0; i < STORM_PAIRS; i++) {
                corio_cancel(storms[i].reader);
                corio_cancel(storms[i].writer);
            }
            break;
        }
        for (i = 0; i < STORM_PAIRS; i++) {
            storm *s = &storms[i];
            if (s->got < storm_total)
                done = 0;
            if (s->got < storm_total && rand_r(&seed) % 4 == 0) {
                corio_cancel(s->reader);
                corio_await(s->reader, NULL);
                s->reader = corio_spawn(storm_reader, s);
            }
            if (s->sent < storm_total && rand_r(&seed) % 4 == 0) {
                corio_cancel(s->writer);
                corio_await(s->writer, NULL);
                s->writer = corio_spawn(storm_writer, s);
            }
        }
    } while (!done);
    return NULL;
}

RING_TEST(test_cancel_storm_loses_nothing)
{
    corio_task *c;
    int i, sv[2], small = 4096;
    (void)arg;
    storm_total = tu_slow() ? 200000 : 400000;
    storm_interrupts = 0;
    for (i = 0; i < STORM_PAIRS; i++) {
        storm *s = &storms[i];
        memset(s, 0, sizeof *s);
        s->seed = (unsigned)i + 1;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        /* Small buffers: sends wait in the ring, where deadlines hit them. */
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        assert_int_equal(corio_socket_wrap(&s->a, sv[0]), 0);
        assert_int_equal(corio_socket_wrap(&s->b, sv[1]), 0);
        s->writer = corio_spawn(storm_writer, s);
        s->reader = corio_spawn(storm_reader, s);
    }
    c = corio_spawn(storm_canceller, NULL);
    assert_int_equal(corio_await(c, NULL), 0);
    /* The storm must have hit calls, or this tests nothing. */
    assert_true(storm_interrupts > 100);
    for (i = 0; i < STORM_PAIRS; i++) {
        storm *s = &storms[i];
        corio_await(s->reader, NULL);
        corio_await(s->writer, NULL);
        assert_int_equal(s->broken, 0);
        assert_int_equal(s->sent, storm_total);
        assert_int_equal(s->got, storm_total);
        corio_socket_close(s->a);
        corio_socket_close(s->b);
    }
    return NULL;
}

/* ---- a full ring, an overflowing CQ -----------------------------------------*/

#define MANY 300
static corio_socket *rx[MANY];
static int wfd[MANY];
static corio_watch *watches[MANY];
static int pfd[MANY][2];

static void *recv_one(void *arg)
{
    corio_socket *s = arg;
    char c;
    return (void *)(intptr_t)corio_socket_recv(s, &c, 1, 0);
}

static void *watch_one(void *arg)
{
    return (void *)(intptr_t)corio_watch_wait(arg, CORIO_READABLE);
}

/* MANY receives and MANY readiness waits on a ring of 4 SQ entries and 64
 * CQ entries: submissions flush a full SQ; completions overflow the CQ
 * (the kernel keeps them, and ends multishot polls, which are re-armed). */
static void *full_ring_main(void *arg)
{
    corio_task *tr[MANY], *tw[MANY];
    int i, sv[2];
    void *res;
    (void)arg;
    for (i = 0; i < MANY; i++) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        assert_int_equal(corio_socket_wrap(&rx[i], sv[0]), 0);
        wfd[i] = sv[1];
        assert_int_equal(pipe2(pfd[i], O_NONBLOCK), 0);
        assert_int_equal(corio_watch_open(&watches[i], pfd[i][0]), 0);
        tr[i] = corio_spawn(recv_one, rx[i]);
        tw[i] = corio_spawn(watch_one, watches[i]);
    }
    corio_sleep(0.02); /* all parked, their SQEs submitted */
    for (i = 0; i < MANY; i++) {
        assert_int_equal(write(wfd[i], "x", 1), 1);
        assert_int_equal(write(pfd[i][1], "y", 1), 1);
    }
    for (i = 0; i < MANY; i++) {
        assert_int_equal(corio_await(tr[i], &res), 0);
        assert_int_equal((intptr_t)res, 1);
        assert_int_equal(corio_await(tw[i], &res), 0);
        assert_int_equal((intptr_t)res, CORIO_READABLE);
    }
    /* The re-armed polls still report. */
    for (i = 0; i < MANY; i++) {
        char c;
        assert_int_equal(read(pfd[i][0], &c, 1), 1);
        tw[i] = corio_spawn(watch_one, watches[i]);
    }
    corio_sleep(0.01);
    for (i = 0; i < MANY; i++)
        assert_int_equal(write(pfd[i][1], "z", 1), 1);
    for (i = 0; i < MANY; i++) {
        assert_int_equal(corio_await(tw[i], &res), 0);
        assert_int_equal((intptr_t)res, CORIO_READABLE);
    }
    for (i = 0; i < MANY; i++) {
        corio_socket_close(rx[i]);
        close(wfd[i]);
        corio_watch_close(watches[i]);
        close(pfd[i][0]);
        close(pfd[i][1]);
    }
    return NULL;
}

static void test_full_ring_and_cq_overflow(void **state)
{
    corio_loop_config c = ring_cfg();
    (void)state;
    if (!ring_works())
        skip();
    setenv("CORIO__TEST_URING_ENTRIES", "4", 1);
    assert_int_equal(tu_run_cfg(full_ring_main, NULL, NULL, &c), 0);
    unsetenv("CORIO__TEST_URING_ENTRIES");
}

/* ---- resets, close, dumps ---------------------------------------------------*/

static void *recv_big(void *arg)
{
    char buf[256];
    return (void *)(intptr_t)corio_socket_recv(arg, buf, sizeof buf, 0);
}

/* Receives in flight when the peer resets end with -ECONNRESET (TCP) or 0
 * (end of stream on a Unix socket), never hang. */
RING_TEST(test_reset_with_receives_in_flight)
{
    corio_socket *l, *c[50], *s[50];
    corio_addr a;
    corio_task *t[50];
    struct linger lg = {1, 0};
    int i;
    void *res;
    (void)arg;
    assert_int_equal(corio_tcp_listen(&l, "127.0.0.1", 0, 64, 0), 0);
    assert_int_equal(corio_socket_local_addr(l, &a), 0);
    for (i = 0; i < 50; i++) {
        assert_int_equal(corio_socket_open(&c[i], AF_INET, SOCK_STREAM, 0), 0);
        assert_int_equal(corio_socket_connect(c[i], &a), 0);
        assert_int_equal(corio_socket_accept(l, &s[i], NULL), 0);
        t[i] = corio_spawn(recv_big, s[i]);
    }
    corio_sleep(0.01);
    for (i = 0; i < 50; i++) {
        corio_socket_setopt(c[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        corio_socket_close(c[i]);
    }
    for (i = 0; i < 50; i++) {
        assert_int_equal(corio_await(t[i], &res), 0);
        assert_int_equal((intptr_t)res, -ECONNRESET);
        corio_socket_close(s[i]);
    }
    corio_socket_close(l);
    return NULL;
}

/* Closing a socket with a receive in the ring wakes the receiver with
 * -EBADF once the kernel has given the operation back. */
RING_TEST(test_close_with_receive_in_flight)
{
    int sv[2];
    corio_socket *a;
    corio_task *t;
    void *res;
    (void)arg;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(corio_socket_wrap(&a, sv[0]), 0);
    t = corio_spawn(recv_big, a);
    corio_sleep(0.005);
    corio_socket_close(a);
    assert_int_equal(corio_await(t, &res), 0);
    assert_int_equal((intptr_t)res, -EBADF);
    close(sv[1]);
    return NULL;
}

/* A dump names the operation, the fd and how long it has waited. */
RING_TEST(test_dump_names_the_ring_operation)
{
    int sv[2];
    corio_socket *a;
    corio_task *t;
    FILE *f = tmpfile();
    char want[64];
    (void)arg;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(corio_socket_wrap(&a, sv[0]), 0);
    t = corio_spawn(recv_big, a);
    corio_sleep(0.005);
    assert_true(corio_dump(f) >= 2);
    snprintf(want, sizeof want, "fd %d, io_uring recv of 256, in the ring for", sv[0]);
    assert_non_null(strstr(slurp(f), want));
    fclose(f);
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    corio_socket_close(a);
    close(sv[1]);
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_chooses),
        cmocka_unit_test(test_fallback_when_setup_fails),
        cmocka_unit_test(test_env_chooses),
        cmocka_unit_test(test_cancel_storm_loses_nothing),
        cmocka_unit_test(test_full_ring_and_cq_overflow),
        cmocka_unit_test(test_reset_with_receives_in_flight),
        cmocka_unit_test(test_close_with_receive_in_flight),
        cmocka_unit_test(test_dump_names_the_ring_operation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
