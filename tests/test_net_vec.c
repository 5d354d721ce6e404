/* corio_socket_readv / corio_socket_writev on every backend (epoll, poll,
 * io_uring where the kernel allows it): order across buffers, partial
 * reads and writes, end of stream, a reset peer without SIGPIPE, argument
 * errors, and cancellation and timeouts that lose no byte. (The io_uring
 * cancel storm for these opcodes is in test_uring_ops.c.) */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static const int backends[] = {CORIO_BACKEND_EPOLL, CORIO_BACKEND_POLL,
                               CORIO_BACKEND_IO_URING};

/* Runs fn on a loop of each backend; io_uring is skipped where the kernel
 * refuses it (the loop falls back to epoll, already covered). */
static void each_backend(corio_fn fn)
{
    size_t i;
    for (i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        corio_loop_config c;
        FILE *rep = tmpfile();
        memset(&c, 0, sizeof c);
        c.backend = backends[i];
        c.report_file = rep;
        assert_int_equal(tu_run_cfg(fn, (void *)&backends[i], NULL, &c), 0);
        fclose(rep);
    }
}

static void pair(corio_socket **a, corio_socket **b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(corio_socket_wrap(a, sv[0]), 0);
    assert_int_equal(corio_socket_wrap(b, sv[1]), 0);
}

/* ---- order across buffers, zero-length entries -------------------------------*/

static void *roundtrip_main(void *arg)
{
    corio_socket *a, *b;
    char x[] = "abc", y[] = "defgh", z[] = "ij";
    char r1[2], r2[4], r3[16];
    struct iovec w[4] = {{x, 3}, {y, 0}, {y, 5}, {z, 2}};
    struct iovec r[3] = {{r1, sizeof r1}, {r2, sizeof r2}, {r3, sizeof r3}};
    ssize_t n;
    (void)arg;
    pair(&a, &b);
    assert_int_equal(corio_socket_writev(a, w, 4), 10);
    n = corio_socket_readv(b, r, 3);
    assert_int_equal(n, 10);
    assert_memory_equal(r1, "ab", 2);
    assert_memory_equal(r2, "cdef", 4);
    assert_memory_equal(r3, "ghij", 4);
    /* Buffers holding no byte: 0 at once, nothing consumed. */
    assert_int_equal(corio_socket_writev(a, w, 0), 0);
    assert_int_equal(corio_socket_readv(b, r, 0), 0);
    assert_int_equal(corio_socket_close(a), 0);
    assert_int_equal(corio_socket_close(b), 0);
    return NULL;
}

static void test_vec_roundtrip(void **state)
{
    (void)state;
    each_backend(roundtrip_main);
}

/* ---- partial reads: what has arrived, not what the buffers hold --------------*/

static void *partial_read_main(void *arg)
{
    corio_socket *a, *b;
    char r1[4], r2[100];
    struct iovec r[2] = {{r1, sizeof r1}, {r2, sizeof r2}};
    (void)arg;
    pair(&a, &b);
    assert_int_equal(corio_socket_send(a, "0123456789", 10, 0), 10);
    assert_int_equal(corio_socket_readv(b, r, 2), 10);
    assert_memory_equal(r1, "0123", 4);
    assert_memory_equal(r2, "456789", 6);
    /* End of stream after the bytes. */
    assert_int_equal(corio_socket_send(a, "xy", 2, 0), 2);
    assert_int_equal(corio_socket_shutdown(a, SHUT_WR), 0);
    assert_int_equal(corio_socket_readv(b, r, 2), 2);
    assert_int_equal(corio_socket_readv(b, r, 2), 0);
    corio_socket_close(a);
    corio_socket_close(b);
    return NULL;
}

static void test_vec_partial_read(void **state)
{
    (void)state;
    each_backend(partial_read_main);
}

/* ---- partial writes: a full socket takes part of the vector ------------------*/

#define BIG (1u << 20)
static char *big;

static void fill_big(void)
{
    size_t i;
    if (!big) {
        big = malloc(BIG);
        assert_non_null(big);
    }
    for (i = 0; i < BIG; i++)
        big[i] = (char)(i % 251);
}

typedef struct reader_arg {
    corio_socket *s;
    size_t got;
    int broken;
} reader_arg;

static void *vec_reader(void *arg)
{
    reader_arg *ra = arg;
    char buf[3000];
    for (;;) {
        struct iovec r[3] = {{buf, 7}, {buf + 7, 1000}, {buf + 1007, sizeof buf - 1007}};
        ssize_t n = corio_socket_readv(ra->s, r, 3), i;
        if (n <= 0)
            break;
        for (i = 0; i < n; i++)
            if (buf[i] != (char)((ra->got + (size_t)i) % 251))
                ra->broken = 1;
        ra->got += (size_t)n;
    }
    return NULL;
}

/* Advances an iovec array past n bytes it moved. */
static void advance(struct iovec **iov, int *cnt, size_t n)
{
    while (n && *cnt) {
        if (n >= (*iov)->iov_len) {
            n -= (*iov)->iov_len;
            (*iov)++;
            (*cnt)--;
        } else {
            (*iov)->iov_base = (char *)(*iov)->iov_base + n;
            (*iov)->iov_len -= n;
            n = 0;
        }
    }
}

static void *partial_write_main(void *arg)
{
    corio_socket *a, *b;
    int small = 4096, calls = 0, cnt = 4;
    struct iovec w[4], *p = w;
    size_t sent = 0, q = BIG / 4;
    ssize_t first;
    reader_arg ra;
    corio_task *t;
    (void)arg;
    fill_big();
    pair(&a, &b);
    assert_int_equal(corio_socket_setopt_int(a, SOL_SOCKET, SO_SNDBUF, small), 0);
    assert_int_equal(corio_socket_setopt_int(b, SOL_SOCKET, SO_RCVBUF, small), 0);
    w[0].iov_base = big;
    w[0].iov_len = 1;
    w[1].iov_base = big + 1;
    w[1].iov_len = q - 1;
    w[2].iov_base = big + q;
    w[2].iov_len = q;
    w[3].iov_base = big + 2 * q;
    w[3].iov_len = BIG - 2 * q;
    /* Nobody reads yet: the socket takes part of the megabyte. */
    first = corio_socket_writev(a, w, 4);
    assert_true(first > 0 && (size_t)first < BIG);
    sent = (size_t)first;
    advance(&p, &cnt, (size_t)first);
    memset(&ra, 0, sizeof ra);
    ra.s = b;
    t = corio_spawn(vec_reader, &ra);
    while (sent < BIG) {
        ssize_t n = corio_socket_writev(a, p, cnt);
        assert_true(n > 0);
        sent += (size_t)n;
        advance(&p, &cnt, (size_t)n);
        calls++;
    }
    assert_int_equal(cnt, 0);
    assert_int_equal(corio_socket_shutdown(a, SHUT_WR), 0);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(ra.got, BIG);
    assert_int_equal(ra.broken, 0);
    assert_true(calls >= 1);
    corio_socket_close(a);
    corio_socket_close(b);
    return NULL;
}

static void test_vec_partial_write(void **state)
{
    (void)state;
    each_backend(partial_write_main);
}

/* ---- errors: arguments, a closed peer (no SIGPIPE), a closed socket ----------*/

static void *errors_main(void *arg)
{
    corio_socket *a, *b;
    char buf[8] = {0};
    struct iovec v = {buf, sizeof buf};
    ssize_t n;
    (void)arg;
    pair(&a, &b);
    assert_int_equal(corio_socket_readv(b, &v, -1), -EINVAL);
    assert_int_equal(corio_socket_writev(a, &v, IOV_MAX + 1), -EINVAL);
    assert_int_equal(corio_socket_readv(b, NULL, 1), -EINVAL);
    assert_int_equal(corio_socket_readv(NULL, &v, 1), -EBADF);
    corio_socket_close(b);
    /* The default action of SIGPIPE would kill this test. */
    do
        n = corio_socket_writev(a, &v, 1);
    while (n > 0);
    assert_true(n == -EPIPE || n == -ECONNRESET);
    corio_socket_close(a);
    return NULL;
}

static void test_vec_errors(void **state)
{
    struct iovec v = {NULL, 0};
    (void)state;
    each_backend(errors_main);
    /* Outside a task. */
    assert_int_equal(corio_socket_readv(NULL, &v, 1), -EPERM);
}

/* ---- cancellation and timeouts lose nothing ----------------------------------*/

static corio_socket *ca, *cb;
static ssize_t parked_rc;

static void *parked_readv(void *arg)
{
    char buf[16];
    struct iovec v = {buf, sizeof buf};
    (void)arg;
    parked_rc = corio_socket_readv(cb, &v, 1);
    return NULL;
}

static void *cancel_main(void *arg)
{
    char r1[3], r2[16];
    struct iovec r[2] = {{r1, sizeof r1}, {r2, sizeof r2}};
    corio_scope sc;
    corio_task *t;
    int i;
    (void)arg;
    pair(&ca, &cb);
    /* Cancelled while parked (on io_uring: in the ring). */
    t = corio_spawn(parked_readv, NULL);
    for (i = 0; i < 3; i++)
        corio_yield();
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(parked_rc, -ECANCELED);
    /* Timed out while parked. */
    corio_scope_enter(&sc, 0.02, 0);
    assert_int_equal(corio_socket_readv(cb, r, 2), -ETIMEDOUT);
    corio_scope_exit(&sc);
    /* Neither consumed the bytes that come now. */
    assert_int_equal(corio_socket_send(ca, "hello", 5, 0), 5);
    assert_int_equal(corio_socket_readv(cb, r, 2), 5);
    assert_memory_equal(r1, "hel", 3);
    assert_memory_equal(r2, "lo", 2);
    corio_socket_close(ca);
    corio_socket_close(cb);
    return NULL;
}

static void test_vec_cancel_loses_nothing(void **state)
{
    (void)state;
    each_backend(cancel_main);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vec_roundtrip),
        cmocka_unit_test(test_vec_partial_read),
        cmocka_unit_test(test_vec_partial_write),
        cmocka_unit_test(test_vec_errors),
        cmocka_unit_test(test_vec_cancel_loses_nothing),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(big);
    return rc;
}
