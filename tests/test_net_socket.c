/* Sockets: TCP listen/accept/connect (refused, timeout, Happy Eyeballs),
 * UDP and Unix (stream and datagram), shutdown, options, addresses,
 * foreign-fd watches, and cancellation/close while parked. Loopback only. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
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

static int last_rc;

static int local_port(corio_socket *s)
{
    corio_addr a;
    assert_int_equal(corio_socket_local_addr(s, &a), 0);
    return corio_addr_port(&a);
}

/* ---- addresses ---------------------------------------------------------------*/

static void test_addr(void **state)
{
    corio_addr a;
    char buf[64];
    (void)state;
    assert_int_equal(corio_addr_ip(&a, "127.0.0.1", 8080), 0);
    corio_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.1:8080");
    assert_int_equal(corio_addr_port(&a), 8080);
    assert_int_equal(corio_addr_ip(&a, "[::1]", 80), 0);
    corio_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "[::1]:80");
    assert_int_equal(corio_addr_ip(&a, "::ffff:1.2.3.4", 1), 0);
    assert_int_equal(corio_addr_ip(&a, NULL, 0), 0);
    corio_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "0.0.0.0:0");
    assert_int_equal(corio_addr_ip(&a, "example.com", 80), -EINVAL);
    assert_int_equal(corio_addr_ip(&a, "1.2.3.4", 65536), -EINVAL);
    assert_int_equal(corio_addr_ip(&a, "1.2.3.4", -1), -EINVAL);
    assert_int_equal(corio_addr_unix(&a, "/tmp/x.sock"), 0);
    corio_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "/tmp/x.sock");
    assert_int_equal(corio_addr_port(&a), -1);
    assert_int_equal(corio_addr_unix(&a, "@abstract"), 0);
    corio_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "@abstract");
    memset(buf, 'p', sizeof buf);
    buf[sizeof buf - 1] = 0;
    {
        char longp[200];
        memset(longp, 'p', sizeof longp);
        longp[199] = 0;
        assert_int_equal(corio_addr_unix(&a, longp), -ENAMETOOLONG);
    }
    assert_int_equal(corio_addr_unix(&a, ""), -EINVAL);
}

/* ---- TCP --------------------------------------------------------------------------*/

static void *accept_echo_once(void *arg)
{
    corio_socket *l = arg, *c;
    corio_addr peer;
    char buf[64];
    ssize_t n;
    last_rc = corio_socket_accept(l, &c, &peer);
    if (last_rc)
        return NULL;
    assert_int_equal(corio_addr_port(&peer) > 0, 1);
    while ((n = corio_socket_recv(c, buf, sizeof buf, 0)) > 0)
        assert_int_equal(corio_socket_sendall(c, buf, (size_t)n), n);
    corio_socket_close(c);
    return NULL;
}

NET_TEST(test_tcp_roundtrip)
{
    corio_socket *l, *c;
    corio_task *t;
    corio_addr a;
    char buf[64];
    int port, v = 0;
    assert_int_equal(corio_tcp_listen(&l, "127.0.0.1", 0, 16, 0), 0);
    port = local_port(l);
    assert_true(port > 0);
    assert_int_equal(corio_socket_getopt_int(l, SOL_SOCKET, SO_REUSEADDR, &v), 0);
    assert_int_equal(v, 1);
    t = corio_spawn(accept_echo_once, l);
    assert_int_equal(corio_tcp_connect(&c, "127.0.0.1", port), 0);
    assert_int_equal(corio_socket_setopt_int(c, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    assert_int_equal(corio_socket_getopt_int(c, IPPROTO_TCP, TCP_NODELAY, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(corio_socket_peer_addr(c, &a), 0);
    assert_int_equal(corio_addr_port(&a), port);
    assert_int_equal(corio_socket_sendall(c, "hello", 5), 5);
    assert_int_equal(corio_socket_recv(c, buf, sizeof buf, MSG_WAITALL), 5);
    assert_memory_equal(buf, "hello", 5);
    /* Half-close: the server sees EOF, closes, we see EOF. */
    assert_int_equal(corio_socket_shutdown(c, SHUT_WR), 0);
    assert_int_equal(corio_socket_recv(c, buf, sizeof buf, 0), 0);
    assert_int_equal(corio_await(t, NULL), 0);
    corio_socket_close(c);
    corio_socket_close(l);
    return NULL;
}

NET_TEST(test_tcp_refused)
{
    corio_socket *l, *c;
    int port;
    /* A port we know is free: bind it, note it, close it. */
    assert_int_equal(corio_tcp_listen(&l, "127.0.0.1", 0, 1, 0), 0);
    port = local_port(l);
    corio_socket_close(l);
    assert_int_equal(corio_tcp_connect(&c, "127.0.0.1", port), -ECONNREFUSED);
    assert_int_equal(corio_tcp_listen(&l, "bogus", 0, 1, 0), -EINVAL);
    return NULL;
}

NET_TEST(test_listen_in_use_and_reuseport)
{
    corio_socket *a, *b;
    int port;
    assert_int_equal(corio_tcp_listen(&a, "127.0.0.1", 0, 4, 0), 0);
    port = local_port(a);
    assert_int_equal(corio_tcp_listen(&b, "127.0.0.1", port, 4, 0), -EADDRINUSE);
    corio_socket_close(a);
    assert_int_equal(corio_tcp_listen(&a, "127.0.0.1", 0, 4, CORIO_LISTEN_REUSEPORT), 0);
    port = local_port(a);
    assert_int_equal(corio_tcp_listen(&b, "127.0.0.1", port, 4, CORIO_LISTEN_REUSEPORT), 0);
    corio_socket_close(a);
    corio_socket_close(b);
    return NULL;
}

/* A listener whose accept queue is full drops further SYNs, so a connect
 * to it hangs (the kernel retransmits): a loopback "black hole". Returns
 * the listener and the connections that filled it. */
typedef struct blackhole {
    corio_socket *l;
    corio_socket *fill[4];
    int nfill;
    int port;
} blackhole;

static void blackhole_open(blackhole *bh)
{
    int i;
    memset(bh, 0, sizeof *bh);
    assert_int_equal(corio_tcp_listen(&bh->l, "127.0.0.1", 0, 0, 0), 0);
    /* corio_socket_listen turns backlog 0 into SOMAXCONN: force 0. */
    assert_int_equal(listen(corio_socket_fd(bh->l), 0), 0);
    bh->port = local_port(bh->l);
    for (i = 0; i < 4; i++) {
        corio_scope sc;
        int rc;
        corio_scope_enter(&sc, 0.2, 0);
        rc = corio_tcp_connect(&bh->fill[bh->nfill], "127.0.0.1", bh->port);
        corio_scope_exit(&sc);
        if (rc == -ETIMEDOUT)
            return; /* full: the next connect will hang too */
        assert_int_equal(rc, 0);
        bh->nfill++;
    }
    fail_msg("could not fill the accept queue");
}

static void blackhole_close(blackhole *bh)
{
    int i;
    for (i = 0; i < bh->nfill; i++)
        corio_socket_close(bh->fill[i]);
    corio_socket_close(bh->l);
}

NET_TEST(test_connect_timeout)
{
    blackhole bh;
    corio_socket *c;
    corio_scope sc;
    double t0;
    blackhole_open(&bh);
    t0 = corio_now();
    corio_scope_enter(&sc, 0.05, 0);
    assert_int_equal(corio_tcp_connect(&c, "127.0.0.1", bh.port), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&sc), 1);
    assert_true(corio_now() - t0 >= 0.045);
    assert_true(corio_now() - t0 < 1.0 + tu_slow());
    blackhole_close(&bh);
    return NULL;
}

static void *serve_accept_one(void *arg)
{
    corio_socket *l = arg, *c;
    last_rc = corio_socket_accept(l, &c, NULL);
    if (!last_rc)
        corio_socket_close(c);
    return NULL;
}

/* Happy Eyeballs: a hanging first address costs one stagger delay; the
 * second address wins. */
NET_TEST(test_happy_eyeballs_stagger)
{
    blackhole bh;
    corio_socket *l, *c;
    corio_addr addrs[2];
    corio_task *srv;
    corio_addr peer;
    double t0, dt;
    blackhole_open(&bh);
    assert_int_equal(corio_tcp_listen(&l, "127.0.0.1", 0, 8, 0), 0);
    srv = corio_spawn(serve_accept_one, l);
    corio_addr_ip(&addrs[0], "127.0.0.1", bh.port);
    corio_addr_ip(&addrs[1], "127.0.0.1", local_port(l));
    t0 = corio_now();
    assert_int_equal(corio_tcp_connect_addrs(&c, addrs, 2, 0.05), 0);
    dt = corio_now() - t0;
    assert_true(dt >= 0.045);
    assert_true(dt < 0.5 + tu_slow());
    assert_int_equal(corio_socket_peer_addr(c, &peer), 0);
    assert_int_equal(corio_addr_port(&peer), local_port(l));
    corio_socket_close(c);
    assert_int_equal(corio_await(srv, NULL), 0);
    corio_socket_close(l);
    blackhole_close(&bh);
    return NULL;
}

/* A refused first address starts the next attempt at once, not after the
 * delay. */
NET_TEST(test_happy_eyeballs_fail_fast)
{
    corio_socket *l, *c, *tmp;
    corio_addr addrs[3];
    corio_task *srv;
    double t0;
    int dead;
    assert_int_equal(corio_tcp_listen(&tmp, "127.0.0.1", 0, 1, 0), 0);
    dead = local_port(tmp);
    corio_socket_close(tmp);
    assert_int_equal(corio_tcp_listen(&l, "127.0.0.1", 0, 8, 0), 0);
    srv = corio_spawn(serve_accept_one, l);
    corio_addr_ip(&addrs[0], "127.0.0.1", dead);
    corio_addr_ip(&addrs[1], "127.0.0.1", dead);
    corio_addr_ip(&addrs[2], "127.0.0.1", local_port(l));
    t0 = corio_now();
    assert_int_equal(corio_tcp_connect_addrs(&c, addrs, 3, 2.0), 0);
    assert_true(corio_now() - t0 < 1.0);
    corio_socket_close(c);
    assert_int_equal(corio_await(srv, NULL), 0);
    corio_socket_close(l);
    /* All refused: the last attempt's error. */
    assert_int_equal(corio_tcp_connect_addrs(&c, addrs, 2, 2.0), -ECONNREFUSED);
    assert_int_equal(corio_tcp_connect_addrs(&c, addrs, 0, 0), -EINVAL);
    return NULL;
}

static void *he_connect_all_hanging(void *arg)
{
    blackhole *bh = arg;
    corio_addr addrs[3];
    corio_socket *c;
    int i;
    for (i = 0; i < 3; i++)
        corio_addr_ip(&addrs[i], "127.0.0.1", bh->port);
    last_rc = corio_tcp_connect_addrs(&c, addrs, 3, 0.01);
    return NULL;
}

/* Cancelling a Happy Eyeballs connect with attempts in flight returns at
 * once; the attempts end on their own and nothing leaks (tu_run checks). */
NET_TEST(test_happy_eyeballs_cancel_and_timeout)
{
    blackhole bh;
    corio_task *t;
    corio_scope sc;
    corio_addr addrs[2];
    corio_socket *c;
    blackhole_open(&bh);
    t = corio_spawn(he_connect_all_hanging, &bh);
    corio_sleep(0.05); /* all three attempts started */
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(last_rc, -ECANCELED);
    corio_addr_ip(&addrs[0], "127.0.0.1", bh.port);
    corio_addr_ip(&addrs[1], "127.0.0.1", bh.port);
    corio_scope_enter(&sc, 0.05, 0);
    assert_int_equal(corio_tcp_connect_addrs(&c, addrs, 2, 0.01), -ETIMEDOUT);
    corio_scope_exit(&sc);
    corio_sleep(0.01); /* let the cancelled attempts finish */
    blackhole_close(&bh);
    return NULL;
}

static void *accept_parked(void *arg)
{
    corio_socket *l = arg, *c;
    last_rc = corio_socket_accept(l, &c, NULL);
    return NULL;
}

NET_TEST(test_accept_cancel_and_close)
{
    corio_socket *l;
    corio_task *t;
    assert_int_equal(corio_tcp_listen(&l, "127.0.0.1", 0, 8, 0), 0);
    t = corio_spawn(accept_parked, l);
    corio_sleep(0.005);
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(last_rc, -ECANCELED);
    /* Closing under a parked accept wakes it with -EBADF (no UAF). */
    t = corio_spawn(accept_parked, l);
    corio_sleep(0.005);
    corio_socket_close(l);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(last_rc, -EBADF);
    return NULL;
}

/* ---- UDP -------------------------------------------------------------------------------*/

NET_TEST(test_udp)
{
    corio_socket *a, *b;
    corio_addr to, from;
    char buf[8];
    ssize_t n;
    assert_int_equal(corio_udp_bind(&a, "127.0.0.1", 0), 0);
    assert_int_equal(corio_udp_bind(&b, "127.0.0.1", 0), 0);
    corio_addr_ip(&to, "127.0.0.1", local_port(b));
    assert_int_equal(corio_socket_sendto(a, "ping", 4, 0, &to), 4);
    assert_int_equal(corio_socket_recvfrom(b, buf, sizeof buf, 0, &from), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(corio_addr_port(&from), local_port(a));
    /* Reply to the sender's address; a datagram too long is truncated. */
    assert_int_equal(corio_socket_sendto(b, "0123456789abcdef", 16, 0, &from), 16);
    n = corio_socket_recvfrom(a, buf, 4, MSG_TRUNC, NULL);
    assert_int_equal(n, 16);
    assert_memory_equal(buf, "0123", 4);
    corio_socket_close(a);
    corio_socket_close(b);
    return NULL;
}

static void *udp_recv_parked(void *arg)
{
    corio_socket *s = arg;
    char buf[8];
    last_rc = (int)corio_socket_recvfrom(s, buf, sizeof buf, 0, NULL);
    return NULL;
}

NET_TEST(test_udp_recv_timeout_then_data)
{
    corio_socket *a, *b;
    corio_scope sc;
    corio_addr to;
    corio_task *t;
    char buf[8];
    assert_int_equal(corio_udp_bind(&a, "127.0.0.1", 0), 0);
    assert_int_equal(corio_udp_bind(&b, "127.0.0.1", 0), 0);
    corio_scope_enter(&sc, 0.01, 0);
    assert_int_equal(corio_socket_recvfrom(b, buf, sizeof buf, 0, NULL), -ETIMEDOUT);
    corio_scope_exit(&sc);
    t = corio_spawn(udp_recv_parked, b);
    corio_sleep(0.005);
    corio_addr_ip(&to, "127.0.0.1", local_port(b));
    assert_int_equal(corio_socket_sendto(a, "x", 1, 0, &to), 1);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(last_rc, 1);
    corio_socket_close(a);
    corio_socket_close(b);
    return NULL;
}

/* ---- Unix sockets ----------------------------------------------------------------------------*/

static void *unix_echo_once(void *arg)
{
    corio_socket *l = arg, *c;
    char buf[32];
    ssize_t n;
    assert_int_equal(corio_socket_accept(l, &c, NULL), 0);
    n = corio_socket_recv(c, buf, sizeof buf, 0);
    assert_true(n > 0);
    assert_int_equal(corio_socket_sendall(c, buf, (size_t)n), n);
    corio_socket_close(c);
    return NULL;
}

static void unix_roundtrip(const char *path)
{
    corio_socket *l;
    corio_stream *s;
    corio_task *t;
    char buf[32];
    size_t len;
    assert_int_equal(corio_unix_listen(&l, path, 4), 0);
    t = corio_spawn(unix_echo_once, l);
    assert_int_equal(corio_stream_connect_unix(&s, path), 0);
    assert_int_equal(corio_stream_write(s, "unix\n", 5), 0);
    assert_int_equal(corio_stream_readline(s, buf, sizeof buf, &len), 0);
    assert_string_equal(buf, "unix\n");
    assert_int_equal(corio_await(t, NULL), 0);
    corio_stream_close(s);
    corio_socket_close(l);
}

NET_TEST(test_unix_stream)
{
    char path[64];
    corio_socket *c;
    snprintf(path, sizeof path, "/tmp/corio-test-%d.sock", (int)getpid());
    unix_roundtrip(path);
    /* A stale socket file from an earlier run is replaced. */
    unix_roundtrip(path);
    unlink(path);
    assert_int_equal(corio_unix_connect(&c, path), -ENOENT);
    snprintf(path, sizeof path, "@corio-test-%d", (int)getpid());
    unix_roundtrip(path);
    return NULL;
}

NET_TEST(test_unix_dgram)
{
    char pa[64], pb[64], buf[16];
    corio_socket *a, *b;
    corio_addr to, from;
    snprintf(pa, sizeof pa, "/tmp/corio-dg-a-%d.sock", (int)getpid());
    snprintf(pb, sizeof pb, "/tmp/corio-dg-b-%d.sock", (int)getpid());
    assert_int_equal(corio_unix_bind_dgram(&a, pa), 0);
    assert_int_equal(corio_unix_bind_dgram(&b, pb), 0);
    assert_int_equal(corio_addr_unix(&to, pb), 0);
    assert_int_equal(corio_socket_sendto(a, "dgram", 5, 0, &to), 5);
    assert_int_equal(corio_socket_recvfrom(b, buf, sizeof buf, 0, &from), 5);
    corio_addr_format(&from, buf, sizeof buf);
    assert_memory_equal(buf, pa, strlen(buf));
    corio_socket_close(a);
    corio_socket_close(b);
    unlink(pa);
    unlink(pb);
    return NULL;
}

/* ---- wrap, detach, misuse ----------------------------------------------------------------------*/

NET_TEST(test_wrap_detach)
{
    int sv[2], fd;
    corio_socket *a, *b;
    char c;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(corio_socket_wrap(&a, sv[0]), 0);
    assert_int_equal(corio_socket_wrap(&b, sv[1]), 0);
    assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    assert_int_equal(corio_socket_send(a, "z", 1, 0), 1);
    assert_int_equal(corio_socket_recv(b, &c, 1, 0), 1);
    fd = corio_socket_detach(a);
    assert_int_equal(fd, sv[0]);
    assert_int_equal(write(fd, "y", 1), 1); /* still open */
    close(fd);
    assert_int_equal(corio_socket_recv(b, &c, 1, 0), 1);
    assert_int_equal(corio_socket_recv(b, &c, 1, 0), 0);
    /* Writing to the closed peer: EPIPE, never SIGPIPE. */
    {
        ssize_t n;
        do
            n = corio_socket_send(b, "x", 1, 0);
        while (n == 1);
        assert_true(n == -EPIPE || n == -ECONNRESET);
    }
    corio_socket_close(b);
    assert_int_equal(corio_socket_wrap(&a, -1), -EBADF);
    return NULL;
}

static void test_outside_task(void **state)
{
    corio_loop *loop;
    corio_socket *l, *c;
    char buf[4];
    (void)state;
    assert_int_equal(corio_tcp_connect(&c, "127.0.0.1", 1), -EPERM);
    assert_int_equal(corio_loop_create(&loop, NULL), 0);
    assert_int_equal(corio_tcp_listen(&l, "127.0.0.1", 0, 4, 0), 0);
    assert_int_equal(corio_socket_accept(l, &c, NULL), -EPERM);
    assert_int_equal(corio_socket_recv(l, buf, 4, 0), -EPERM);
    assert_int_equal(corio_tcp_connect(&c, "127.0.0.1", 1), -EPERM);
    corio_socket_close(l);
    assert_int_equal(corio_loop_close(loop), 0);
}

/* ---- watches on foreign fds --------------------------------------------------------------------*/

static void *watch_waiter(void *arg)
{
    corio_watch *w = arg;
    last_rc = corio_watch_wait(w, CORIO_READABLE);
    return NULL;
}

NET_TEST(test_watch)
{
    int p[2];
    corio_watch *w, *w2;
    corio_task *t;
    char c;
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    assert_int_equal(corio_watch_open(&w, p[0]), 0);
    {
        /* epoll refuses a second registration of one fd; poll and
         * io_uring (one poll request per registration) allow it. */
        int rc = corio_watch_open(&w2, p[0]);
        const char *b = corio_loop_backend(NULL);
        if (strcmp(b, "poll") == 0 || strcmp(b, "io_uring") == 0) {
            assert_int_equal(rc, 0);
            corio_watch_close(w2);
        } else {
            assert_int_equal(rc, -EEXIST);
        }
    }
    /* Not readable: a wait parks until another task writes. */
    t = corio_spawn(watch_waiter, w);
    corio_sleep(0.005);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    assert_int_equal(write(p[1], "ab", 2), 2);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(last_rc, CORIO_READABLE);
    /* Level-triggered: data still there, every wait returns at once,
     * although the library did not read until EAGAIN. */
    assert_int_equal(read(p[0], &c, 1), 1);
    assert_int_equal(corio_watch_wait(w, CORIO_READABLE), CORIO_READABLE);
    assert_int_equal(corio_watch_wait(w, CORIO_READABLE), CORIO_READABLE);
    assert_int_equal(read(p[0], &c, 1), 1);
    /* Drained: a timed wait times out. */
    {
        corio_scope sc;
        corio_scope_enter(&sc, 0.01, 0);
        assert_int_equal(corio_watch_wait(w, CORIO_READABLE), -ETIMEDOUT);
        corio_scope_exit(&sc);
    }
    /* Cancel a parked wait; then close the watch under a parked wait. */
    t = corio_spawn(watch_waiter, w);
    corio_sleep(0.005);
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(last_rc, -ECANCELED);
    t = corio_spawn(watch_waiter, w);
    corio_sleep(0.005);
    corio_watch_close(w);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(last_rc, -EBADF);
    /* One-off waits; the write end is writable. */
    assert_int_equal(corio_wait_fd(p[1], CORIO_WRITABLE), CORIO_WRITABLE);
    assert_int_equal(corio_wait_fd(p[1], CORIO_READABLE | CORIO_WRITABLE), CORIO_WRITABLE);
    assert_int_equal(corio_wait_fd(p[1], 0), -EINVAL);
    close(p[1]);
    /* Hang-up counts as readable (the library's read sees EOF). */
    assert_int_equal(corio_wait_fd(p[0], CORIO_READABLE), CORIO_READABLE);
    close(p[0]);
    return NULL;
}

/* Both directions at once: whichever is ready first wakes the task. */
NET_TEST(test_watch_both_directions)
{
    int sv[2];
    corio_watch *w;
    char buf[65536];
    memset(buf, 0, sizeof buf);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    while (write(sv[0], buf, sizeof buf) > 0)
        ; /* fill: not writable, not readable */
    assert_int_equal(corio_watch_open(&w, sv[0]), 0);
    {
        corio_scope sc;
        corio_scope_enter(&sc, 0.01, 0);
        assert_int_equal(corio_watch_wait(w, CORIO_READABLE | CORIO_WRITABLE), -ETIMEDOUT);
        corio_scope_exit(&sc);
    }
    assert_int_equal(write(sv[1], "r", 1), 1);
    assert_int_equal(corio_watch_wait(w, CORIO_READABLE | CORIO_WRITABLE), CORIO_READABLE);
    corio_watch_close(w);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_tcp_roundtrip),
        cmocka_unit_test(test_tcp_refused),
        cmocka_unit_test(test_listen_in_use_and_reuseport),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_happy_eyeballs_stagger),
        cmocka_unit_test(test_happy_eyeballs_fail_fast),
        cmocka_unit_test(test_happy_eyeballs_cancel_and_timeout),
        cmocka_unit_test(test_accept_cancel_and_close),
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_udp_recv_timeout_then_data),
        cmocka_unit_test(test_unix_stream),
        cmocka_unit_test(test_unix_dgram),
        cmocka_unit_test(test_wrap_detach),
        cmocka_unit_test(test_outside_task),
        cmocka_unit_test(test_watch),
        cmocka_unit_test(test_watch_both_directions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
