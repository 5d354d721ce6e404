/* Streams: buffered reads (read, readexactly, readline, readuntil, fill/
 * peek/consume), EOF and overrun reporting with no byte lost, writes with
 * backpressure, drain, close that flushes, abort, concurrent use, and
 * cancellation/timeouts in every suspended state. Each test runs on a
 * socketpair or a pipe inside a fresh loop. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NET_TEST(name)                                        \
    static void *name##_main(void *arg);                      \
    static void name(void **state)                            \
    {                                                         \
        (void)state;                                          \
        assert_int_equal(tu_run(name##_main, NULL, NULL), 0); \
    }                                                         \
    static void *name##_main(void *arg)

/* Two connected streams over a Unix socketpair. */
static void pair(corio_stream **a, corio_stream **b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(corio_stream_open_fd(a, sv[0], 0), 0);
    assert_int_equal(corio_stream_open_fd(b, sv[1], 0), 0);
}

static corio_task *spawn(corio_fn fn, void *arg)
{
    corio_task *t = corio_spawn(fn, arg);
    assert_non_null(t);
    return t;
}

static int await_status(corio_task *t, void **res)
{
    return corio_await(t, res);
}

/* A task that writes a list of chunks with a yield between them, so the
 * reader sees them arrive in separate reads. */
typedef struct chunks {
    corio_stream *s;
    const char *const *parts;
    int n;
    int close_after;
} chunks;

static void *write_chunks(void *arg)
{
    chunks *c = arg;
    int i;
    for (i = 0; i < c->n; i++) {
        assert_int_equal(corio_stream_write(c->s, c->parts[i], strlen(c->parts[i])), 0);
        assert_int_equal(corio_stream_drain(c->s), 0);
        corio_sleep(0.002);
    }
    if (c->close_after)
        assert_int_equal(corio_stream_shutdown_write(c->s), 0);
    return NULL;
}

/* ---- reads ----------------------------------------------------------------*/

NET_TEST(test_readline_basic)
{
    static const char *const parts[] = {"hel", "lo\nwor", "ld\n", "tail"};
    chunks c;
    corio_stream *a, *b;
    char buf[64];
    size_t len;
    corio_task *w;
    pair(&a, &b);
    c.s = b;
    c.parts = parts;
    c.n = 4;
    c.close_after = 1;
    w = spawn(write_chunks, &c);
    assert_int_equal(corio_stream_readline(a, buf, sizeof buf, &len), 0);
    assert_int_equal(len, 6);
    assert_string_equal(buf, "hello\n");
    assert_int_equal(corio_stream_readline(a, buf, sizeof buf, &len), 0);
    assert_string_equal(buf, "world\n");
    /* An unterminated last line: CORIO_EEOF with its bytes. */
    assert_int_equal(corio_stream_readline(a, buf, sizeof buf, &len), CORIO_EEOF);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "tail", 4);
    /* Then a clean end: EEOF with nothing, every time. */
    assert_int_equal(corio_stream_readline(a, buf, sizeof buf, &len), CORIO_EEOF);
    assert_int_equal(len, 0);
    assert_int_equal(corio_stream_read(a, buf, sizeof buf), 0);
    assert_int_equal(await_status(w, NULL), 0);
    corio_stream_close(a);
    corio_stream_close(b);
    return NULL;
}

/* Multi-byte separators that straddle reads, and several in one chunk. */
NET_TEST(test_readuntil_multibyte)
{
    static const char *const parts[] = {"GET / HTTP/1.1\r\nA: b\r", "\n\r",
                                        "\nGET /2 HTTP/1.1\r\n\r\nX"};
    chunks c;
    corio_stream *a, *b;
    char buf[128];
    size_t len;
    corio_task *w;
    pair(&a, &b);
    c.s = b;
    c.parts = parts;
    c.n = 3;
    c.close_after = 1;
    w = spawn(write_chunks, &c);
    assert_int_equal(corio_stream_readuntil(a, buf, sizeof buf, "\r\n\r\n", 4, &len), 0);
    assert_int_equal(len, strlen("GET / HTTP/1.1\r\nA: b\r\n\r\n"));
    assert_memory_equal(buf, "GET / HTTP/1.1\r\nA: b\r\n\r\n", len);
    assert_int_equal(corio_stream_readuntil(a, buf, sizeof buf, "\r\n\r\n", 4, &len), 0);
    assert_string_equal(buf, "GET /2 HTTP/1.1\r\n\r\n");
    assert_int_equal(corio_stream_readuntil(a, buf, sizeof buf, "\r\n\r\n", 4, &len), CORIO_EEOF);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 'X');
    assert_int_equal(await_status(w, NULL), 0);
    corio_stream_close(a);
    corio_stream_close(b);
    return NULL;
}

/* Overrun: CORIO_ETOOLONG, and every byte is still there afterwards. */
NET_TEST(test_readuntil_toolong_keeps_data)
{
    corio_stream *a, *b;
    char buf[16], all[64];
    size_t len, got;
    const char *msg = "0123456789abcdefghij\nrest\n";
    pair(&a, &b);
    assert_int_equal(corio_stream_write(b, msg, strlen(msg)), 0);
    assert_int_equal(corio_stream_shutdown_write(b), 0);
    assert_int_equal(corio_stream_readline(a, buf, sizeof buf, &len), CORIO_ETOOLONG);
    assert_int_equal(len, 0);
    /* Again: still too long, still nothing lost. */
    assert_int_equal(corio_stream_readline(a, buf, sizeof buf, &len), CORIO_ETOOLONG);
    /* A separator exactly at the limit fits: "…j\n" is 21 bytes. */
    assert_int_equal(corio_stream_readline(a, all, 21, &len), 0);
    assert_int_equal(len, 21);
    assert_memory_equal(all, msg, 21);
    assert_int_equal(corio_stream_readexactly(a, all, 5, &got), 0);
    assert_memory_equal(all, "rest\n", 5);
    assert_int_equal(corio_stream_readexactly(a, all, 1, &got), CORIO_EEOF);
    assert_int_equal(got, 0);
    corio_stream_close(a);
    corio_stream_close(b);
    return NULL;
}

/* The stream's own limit bounds readuntil even with a larger buffer. */
NET_TEST(test_readuntil_stream_limit)
{
    corio_stream *a, *b;
    char *big = malloc(10000), *buf = malloc(20000);
    size_t len;
    pair(&a, &b);
    memset(big, 'x', 10000);
    assert_int_equal(corio_stream_set_limits(a, 4096, SIZE_MAX), 0);
    assert_int_equal(corio_stream_write(b, big, 10000), 0);
    assert_int_equal(corio_stream_readline(a, buf, 20000, &len), CORIO_ETOOLONG);
    assert_int_equal(corio_stream_set_limits(a, 0, SIZE_MAX), -EINVAL);
    assert_int_equal(corio_stream_readexactly(a, buf, 10000, &len), 0);
    assert_memory_equal(buf, big, 10000);
    assert_int_equal(corio_stream_readuntil(a, buf, 10, "", 0, &len), -EINVAL);
    corio_stream_close(a);
    corio_stream_close(b);
    free(big);
    free(buf);
    return NULL;
}

NET_TEST(test_readexactly_eof_partial)
{
    corio_stream *a, *b;
    char buf[100];
    size_t got = 99;
    pair(&a, &b);
    assert_int_equal(corio_stream_write(b, "abcdefg", 7), 0);
    corio_stream_close(b);
    assert_int_equal(corio_stream_readexactly(a, buf, 3, &got), 0);
    assert_int_equal(got, 3);
    assert_int_equal(corio_stream_readexactly(a, buf, 10, &got), CORIO_EEOF);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "defg", 4);
    corio_stream_close(a);
    return NULL;
}

/* Large transfers take the direct path (no buffer) and stay in order. */
static void *big_writer(void *arg)
{
    corio_stream *s = arg;
    unsigned char *p = malloc(1 << 20);
    size_t i;
    for (i = 0; i < (1u << 20); i++)
        p[i] = (unsigned char)(i * 31 + (i >> 8));
    assert_int_equal(corio_stream_write(s, p, 1 << 20), 0);
    assert_int_equal(corio_stream_close(s), 0);
    free(p);
    return NULL;
}

NET_TEST(test_large_transfer)
{
    corio_stream *a, *b;
    unsigned char *p = malloc(1 << 20);
    size_t i, got = 0;
    corio_task *w;
    pair(&a, &b);
    w = spawn(big_writer, b);
    /* Mixed read sizes: small (buffered), exact, large (direct). */
    while (got < (1u << 20)) {
        size_t want = (got / 7) % 3 == 0 ? 100 : (got / 7) % 3 == 1 ? 5000 : 70000;
        ssize_t n;
        if (want > (1u << 20) - got)
            want = (1u << 20) - got;
        if (got % 2) {
            assert_int_equal(corio_stream_readexactly(a, p + got, want, NULL), 0);
            n = (ssize_t)want;
        } else {
            n = corio_stream_read(a, p + got, want);
            assert_true(n > 0);
        }
        got += (size_t)n;
    }
    for (i = 0; i < (1u << 20); i++)
        if (p[i] != (unsigned char)(i * 31 + (i >> 8)))
            fail_msg("byte %zu differs", i);
    assert_int_equal(corio_stream_read(a, p, 10), 0);
    assert_int_equal(await_status(w, NULL), 0);
    corio_stream_close(a);
    free(p);
    return NULL;
}

NET_TEST(test_fill_peek_consume)
{
    corio_stream *a, *b;
    const char *p;
    size_t len;
    pair(&a, &b);
    assert_null(corio_stream_peek(a, &len));
    assert_int_equal(len, 0);
    assert_int_equal(corio_stream_write(b, "abc", 3), 0);
    assert_int_equal(corio_stream_fill(a), 3);
    p = corio_stream_peek(a, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(p, "abc", 3);
    corio_stream_consume(a, 2);
    p = corio_stream_peek(a, &len);
    assert_int_equal(len, 1);
    assert_int_equal(p[0], 'c');
    corio_stream_consume(a, 100); /* clamps */
    corio_stream_peek(a, &len);
    assert_int_equal(len, 0);
    corio_stream_close(b);
    assert_int_equal(corio_stream_fill(a), 0);
    corio_stream_close(a);
    return NULL;
}

/* ---- concurrency, cancellation, timeouts -----------------------------------*/

static int last_rc; /* what the last helper task's call returned */

static void *reader_line(void *arg)
{
    corio_stream *s = arg;
    char buf[64];
    size_t len;
    last_rc = corio_stream_readline(s, buf, sizeof buf, &len);
    return (void *)(intptr_t)last_rc;
}

NET_TEST(test_concurrent_reader_ebusy)
{
    corio_stream *a, *b;
    char buf[8];
    void *res;
    corio_task *r;
    pair(&a, &b);
    r = spawn(reader_line, a);
    corio_sleep(0.005); /* r is parked in readline */
    assert_int_equal(corio_stream_read(a, buf, sizeof buf), -EBUSY);
    assert_int_equal(corio_stream_readline(a, buf, sizeof buf, NULL), -EBUSY);
    assert_int_equal(corio_stream_write(b, "x\n", 2), 0);
    assert_int_equal(await_status(r, &res), 0);
    assert_int_equal((intptr_t)res, 0);
    corio_stream_close(a);
    corio_stream_close(b);
    return NULL;
}

/* A cancelled readline consumes nothing: the next reader sees every byte. */
NET_TEST(test_cancel_parked_read_loses_nothing)
{
    corio_stream *a, *b;
    char buf[64];
    size_t len;
    void *res;
    corio_task *r;
    pair(&a, &b);
    r = spawn(reader_line, a);
    corio_sleep(0.005);
    assert_int_equal(corio_stream_write(b, "part", 4), 0);
    corio_sleep(0.005); /* r has buffered "part" and parked again */
    assert_int_equal(corio_cancel(r), 1);
    assert_int_equal(await_status(r, &res), -ECANCELED);
    assert_int_equal(last_rc, -ECANCELED);
    assert_int_equal(corio_stream_write(b, "ial\n", 4), 0);
    assert_int_equal(corio_stream_readline(a, buf, sizeof buf, &len), 0);
    assert_string_equal(buf, "partial\n");
    corio_stream_close(a);
    corio_stream_close(b);
    return NULL;
}

NET_TEST(test_read_timeout_scope)
{
    corio_stream *a, *b;
    corio_scope sc;
    char buf[8];
    double t0 = corio_now();
    pair(&a, &b);
    corio_scope_enter(&sc, 0.02, 0);
    assert_int_equal(corio_stream_read(a, buf, sizeof buf), -ETIMEDOUT);
    assert_int_equal(corio_stream_readexactly(a, buf, 4, NULL), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&sc), 1);
    assert_true(corio_now() - t0 >= 0.019);
    /* The stream is fine afterwards. */
    assert_int_equal(corio_stream_write(b, "ok", 2), 0);
    assert_int_equal(corio_stream_read(a, buf, sizeof buf), 2);
    corio_stream_close(a);
    corio_stream_close(b);
    return NULL;
}

static void *cancel_self_then_read(void *arg)
{
    corio_stream *s = arg;
    char buf[4];
    corio_cancel(corio_current());
    /* Level-triggered: even with data ready the call says -ECANCELED. */
    last_rc = (int)corio_stream_read(s, buf, sizeof buf);
    return NULL;
}

NET_TEST(test_cancelled_task_read_ecanceled)
{
    corio_stream *a, *b;
    void *res;
    corio_task *t;
    pair(&a, &b);
    assert_int_equal(corio_stream_write(b, "data", 4), 0);
    t = spawn(cancel_self_then_read, a);
    assert_int_equal(await_status(t, &res), -ECANCELED);
    assert_int_equal(last_rc, -ECANCELED);
    corio_stream_close(a);
    corio_stream_close(b);
    return NULL;
}

/* Closing a stream another task is parked on wakes it with -EBADF; the
 * memory lives until that task has left (ASan checks). */
NET_TEST(test_close_under_parked_reader)
{
    corio_stream *a, *b;
    void *res;
    corio_task *r;
    pair(&a, &b);
    r = spawn(reader_line, a);
    corio_sleep(0.005);
    assert_int_equal(corio_stream_close(a), 0);
    assert_int_equal(await_status(r, &res), 0);
    assert_int_equal((intptr_t)res, -EBADF);
    corio_stream_close(b);
    return NULL;
}

static void test_outside_task(void **state)
{
    corio_loop *loop;
    corio_stream *a, *b;
    char buf[4];
    int sv[2];
    (void)state;
    assert_int_equal(corio_loop_create(&loop, NULL), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(corio_stream_open_fd(&a, sv[0], 0), 0);
    assert_int_equal(corio_stream_open_fd(&b, sv[1], 0), 0);
    assert_int_equal(corio_stream_read(a, buf, 4), -EPERM);
    assert_int_equal(corio_stream_write(a, "x", 1), -EPERM);
    assert_int_equal(corio_stream_close(a), 0);
    corio_stream_abort(b);
    assert_int_equal(corio_loop_close(loop), 0);
}

/* ---- writes: backpressure, drain, close, abort ------------------------------*/

typedef struct bp {
    corio_stream *s;
    size_t total;
    size_t max_buffered;
    int rc;
} bp;

static void *fast_writer(void *arg)
{
    bp *w = arg;
    char chunk[8192];
    size_t sent = 0;
    memset(chunk, 'z', sizeof chunk);
    while (sent < w->total) {
        w->rc = corio_stream_write(w->s, chunk, sizeof chunk);
        if (w->rc)
            return NULL;
        sent += sizeof chunk;
        if (corio_stream_write_buffered(w->s) > w->max_buffered)
            w->max_buffered = corio_stream_write_buffered(w->s);
    }
    w->rc = corio_stream_close(w->s);
    return NULL;
}

NET_TEST(test_write_backpressure)
{
    corio_stream *a, *b;
    bp w;
    corio_task *t;
    char buf[4096];
    size_t got = 0;
    ssize_t n;
    pair(&a, &b);
    memset(&w, 0, sizeof w);
    w.s = b;
    w.total = 8u << 20;
    assert_int_equal(corio_stream_set_limits(b, SIZE_MAX, 16384), 0);
    t = spawn(fast_writer, &w);
    /* Nobody reads for a while: the writer must be suspended, not
     * buffering megabytes. */
    corio_sleep(0.02);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    assert_true(corio_stream_write_buffered(b) <= 16384);
    while ((n = corio_stream_read(a, buf, sizeof buf)) > 0)
        got += (size_t)n;
    assert_int_equal(n, 0);
    assert_int_equal(got, w.total);
    assert_true(w.max_buffered <= 16384);
    assert_int_equal(await_status(t, NULL), 0);
    assert_int_equal(w.rc, 0);
    corio_stream_close(a);
    return NULL;
}

/* High-water 0: write returns only when the kernel has every byte. */
NET_TEST(test_write_unbuffered)
{
    corio_stream *a, *b;
    bp w;
    corio_task *t;
    char buf[65536];
    size_t got = 0;
    ssize_t n;
    pair(&a, &b);
    memset(&w, 0, sizeof w);
    w.s = b;
    w.total = 1u << 20;
    assert_int_equal(corio_stream_set_limits(b, SIZE_MAX, 0), 0);
    t = spawn(fast_writer, &w);
    while ((n = corio_stream_read(a, buf, sizeof buf)) > 0)
        got += (size_t)n;
    assert_int_equal(got, w.total);
    assert_int_equal(w.max_buffered, 0);
    assert_int_equal(await_status(t, NULL), 0);
    corio_stream_close(a);
    return NULL;
}

static void *slow_reader(void *arg)
{
    corio_stream *s = arg;
    char buf[1000];
    size_t got = 0;
    ssize_t n;
    corio_sleep(0.02);
    while ((n = corio_stream_read(s, buf, sizeof buf)) > 0)
        got += (size_t)n;
    corio_stream_close(s);
    return (void *)got;
}

/* close flushes everything buffered before closing. */
NET_TEST(test_close_flushes)
{
    corio_stream *a, *b;
    char *big = calloc(1, 3 << 20);
    corio_task *r;
    void *got;
    pair(&a, &b);
    assert_int_equal(corio_stream_set_limits(b, SIZE_MAX, 4u << 20), 0);
    r = spawn(slow_reader, a);
    assert_int_equal(corio_stream_write(b, big, 3 << 20), 0);
    assert_true(corio_stream_write_buffered(b) > 0); /* the kernel took less */
    assert_int_equal(corio_stream_close(b), 0);
    assert_int_equal(await_status(r, &got), 0);
    assert_int_equal((size_t)got, (size_t)3 << 20);
    free(big);
    return NULL;
}

/* The loop flushes buffered output by itself while the writer does other
 * things (here: waits for the reply). */
static void *echo_once(void *arg)
{
    corio_stream *s = arg;
    char *buf = malloc(1 << 20);
    size_t len = 1 << 20;
    assert_int_equal(corio_stream_readexactly(s, buf, len, NULL), 0);
    assert_int_equal(corio_stream_write(s, "done\n", 5), 0);
    free(buf);
    return NULL;
}

NET_TEST(test_background_flush)
{
    corio_stream *a, *b;
    char *big = calloc(1, 1 << 20), line[16];
    corio_task *e;
    size_t len;
    pair(&a, &b);
    assert_int_equal(corio_stream_set_limits(b, SIZE_MAX, 2u << 20), 0);
    e = spawn(echo_once, a);
    assert_int_equal(corio_stream_write(b, big, 1 << 20), 0);
    /* No drain: the rest goes out while we wait for the answer. */
    assert_int_equal(corio_stream_readline(b, line, sizeof line, &len), 0);
    assert_string_equal(line, "done\n");
    assert_int_equal(await_status(e, NULL), 0);
    corio_stream_close(a);
    corio_stream_close(b);
    free(big);
    return NULL;
}

/* A close whose flush times out aborts: it returns -ETIMEDOUT quickly and
 * the stream is gone. */
NET_TEST(test_close_flush_timeout_aborts)
{
    corio_stream *a, *b;
    char *big = calloc(1, 4 << 20);
    corio_scope sc;
    pair(&a, &b);
    assert_int_equal(corio_stream_set_limits(b, SIZE_MAX, 8u << 20), 0);
    assert_int_equal(corio_stream_write(b, big, 4 << 20), 0);
    corio_scope_enter(&sc, 0.02, 0);
    assert_int_equal(corio_stream_close(b), -ETIMEDOUT);
    corio_scope_exit(&sc);
    corio_stream_close(a);
    free(big);
    return NULL;
}

static void *write_big(void *arg)
{
    corio_stream *s = arg;
    char *big = calloc(1, 1 << 20);
    last_rc = corio_stream_write(s, big, 1 << 20);
    free(big);
    return (void *)(intptr_t)last_rc;
}

NET_TEST(test_concurrent_writer_ebusy)
{
    corio_stream *a, *b;
    corio_task *w;
    void *res;
    pair(&a, &b);
    assert_int_equal(corio_stream_set_limits(b, SIZE_MAX, 1024), 0);
    w = spawn(write_big, b);
    corio_sleep(0.005);
    assert_int_equal(corio_stream_write(b, "x", 1), -EBUSY);
    assert_int_equal(corio_stream_drain(b), -EBUSY);
    /* Aborting under the writer wakes it with -EBADF. */
    corio_stream_abort(b);
    assert_int_equal(await_status(w, &res), 0);
    assert_int_equal((intptr_t)res, -EBADF);
    corio_stream_close(a);
    return NULL;
}

NET_TEST(test_cancel_parked_writer)
{
    corio_stream *a, *b;
    corio_task *w;
    void *res;
    char buf[4096];
    pair(&a, &b);
    assert_int_equal(corio_stream_set_limits(b, SIZE_MAX, 1024), 0);
    w = spawn(write_big, b);
    corio_sleep(0.005);
    corio_cancel(w);
    assert_int_equal(await_status(w, &res), -ECANCELED);
    assert_int_equal(last_rc, -ECANCELED);
    /* What the kernel took is still readable. */
    corio_stream_abort(b);
    assert_true(corio_stream_read(a, buf, sizeof buf) > 0);
    corio_stream_close(a);
    return NULL;
}

NET_TEST(test_shutdown_write_half_close)
{
    corio_stream *a, *b;
    char buf[16];
    size_t len;
    pair(&a, &b);
    assert_int_equal(corio_stream_write(b, "request\n", 8), 0);
    assert_int_equal(corio_stream_shutdown_write(b), 0);
    assert_int_equal(corio_stream_write(b, "more", 4), -EPIPE);
    assert_int_equal(corio_stream_readline(a, buf, sizeof buf, &len), 0);
    assert_int_equal(corio_stream_read(a, buf, sizeof buf), 0); /* EOF */
    /* The other direction still works. */
    assert_int_equal(corio_stream_write(a, "reply\n", 6), 0);
    assert_int_equal(corio_stream_readline(b, buf, sizeof buf, &len), 0);
    assert_string_equal(buf, "reply\n");
    corio_stream_close(a);
    corio_stream_close(b);
    return NULL;
}

/* ---- other fds ------------------------------------------------------------------*/

NET_TEST(test_pipe_stream)
{
    int p[2], fd;
    corio_stream *r, *w;
    char buf[16];
    size_t len;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(corio_stream_open_fd(&r, p[0], 0), 0);
    assert_int_equal(corio_stream_open_fd(&w, p[1], 0), 0);
    assert_int_equal(corio_stream_write(w, "via pipe\n", 9), 0);
    assert_int_equal(corio_stream_readline(r, buf, sizeof buf, &len), 0);
    assert_string_equal(buf, "via pipe\n");
    assert_int_equal(corio_stream_shutdown_write(w), -ENOTSOCK);
    corio_stream_close(w);
    assert_int_equal(corio_stream_read(r, buf, sizeof buf), 0);
    corio_stream_close(r);
    /* Writing to a pipe nobody reads: EPIPE, never SIGPIPE. */
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    assert_int_equal(corio_stream_open_fd(&w, p[1], 0), 0);
    assert_int_equal(corio_stream_write(w, "x", 1), -EPIPE);
    assert_int_equal(corio_stream_write(w, "x", 1), -EPIPE); /* sticky */
    corio_stream_close(w);
    /* A regular file cannot be a stream. */
    fd = open("/proc/self/status", O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(corio_stream_open_fd(&r, fd, 0), -EPERM);
    close(fd);
    assert_int_equal(corio_stream_open_fd(&r, -1, 0), -EBADF);
    return NULL;
}

NET_TEST(test_keep_fd)
{
    int sv[2];
    corio_stream *a;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(corio_stream_open_fd(&a, sv[0], CORIO_STREAM_KEEP_FD), 0);
    assert_int_equal(corio_stream_fd(a), sv[0]);
    assert_non_null(corio_stream_socket(a));
    corio_stream_close(a);
    assert_int_equal(fcntl(sv[0], F_GETFD) >= 0, 1); /* still open */
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readline_basic),
        cmocka_unit_test(test_readuntil_multibyte),
        cmocka_unit_test(test_readuntil_toolong_keeps_data),
        cmocka_unit_test(test_readuntil_stream_limit),
        cmocka_unit_test(test_readexactly_eof_partial),
        cmocka_unit_test(test_large_transfer),
        cmocka_unit_test(test_fill_peek_consume),
        cmocka_unit_test(test_concurrent_reader_ebusy),
        cmocka_unit_test(test_cancel_parked_read_loses_nothing),
        cmocka_unit_test(test_read_timeout_scope),
        cmocka_unit_test(test_cancelled_task_read_ecanceled),
        cmocka_unit_test(test_close_under_parked_reader),
        cmocka_unit_test(test_outside_task),
        cmocka_unit_test(test_write_backpressure),
        cmocka_unit_test(test_write_unbuffered),
        cmocka_unit_test(test_close_flushes),
        cmocka_unit_test(test_background_flush),
        cmocka_unit_test(test_close_flush_timeout_aborts),
        cmocka_unit_test(test_concurrent_writer_ebusy),
        cmocka_unit_test(test_cancel_parked_writer),
        cmocka_unit_test(test_shutdown_write_half_close),
        cmocka_unit_test(test_pipe_stream),
        cmocka_unit_test(test_keep_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
