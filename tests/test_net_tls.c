/* TLS: client and server over corio streams (verification on by default,
 * SNI, IP SANs), failures (unknown CA, wrong name, a plaintext or silent
 * or vanishing peer), STARTTLS on an open stream, and megabytes both ways
 * at once with backpressure. Loopback only; skipped without OpenSSL. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_TEST(name)                                        \
    static void *name##_main(void *arg);                      \
    static void name(void **state)                            \
    {                                                         \
        (void)state;                                          \
        assert_int_equal(tu_run(name##_main, NULL, NULL), 0); \
    }                                                         \
    static void *name##_main(void *arg)

#include "test_pki.h"

/* ---- helpers ----------------------------------------------------------------*/

static corio_tls_ctx *server_ctx(void)
{
    corio_tls_ctx *c;
    assert_int_equal(corio_tls_ctx_create(&c, CORIO_TLS_SERVER), 0);
    assert_int_equal(corio_tls_ctx_load_cert_mem(c, TEST_SERVER_CERT_PEM,
                                                 TEST_SERVER_KEY_PEM), 0);
    return c;
}

static corio_tls_ctx *client_ctx(int trust_test_ca)
{
    corio_tls_ctx *c;
    assert_int_equal(corio_tls_ctx_create(&c, CORIO_TLS_CLIENT), 0);
    if (trust_test_ca)
        assert_int_equal(corio_tls_ctx_load_ca_mem(c, TEST_CA_PEM), 0);
    return c;
}

static char last_sni[64];

static void echo_handler(corio_stream *s, void *arg)
{
    char buf[4096];
    ssize_t n;
    const char *sni = corio_stream_tls_server_name(s);
    (void)arg;
    snprintf(last_sni, sizeof last_sni, "%s", sni ? sni : "(none)");
    while ((n = corio_stream_read(s, buf, sizeof buf)) > 0)
        if (corio_stream_write(s, buf, (size_t)n))
            break;
}

typedef struct tls_server {
    corio_server *srv;
    corio_tls_ctx *ctx;
    int port;
} tls_server;

static void tls_server_start(tls_server *t)
{
    corio_server_opts o;
    memset(&o, 0, sizeof o);
    t->ctx = server_ctx();
    o.tls = t->ctx;
    assert_int_equal(corio_server_start(&t->srv, "127.0.0.1", 0, echo_handler, NULL, &o), 0);
    t->port = corio_server_port(t->srv);
}

static void tls_server_stop(tls_server *t)
{
    assert_int_equal(corio_server_close(t->srv, 1.0), 0);
    corio_tls_ctx_destroy(t->ctx);
}

/* ---- tests ---------------------------------------------------------------------*/

NET_TEST(test_tls_echo_verified)
{
    tls_server ts;
    corio_tls_ctx *cc = client_ctx(1);
    corio_stream *s;
    char buf[64];
    size_t len;
    tls_server_start(&ts);
    assert_int_equal(corio_tls_connect(&s, "localhost", ts.port, cc), 0);
    assert_string_equal(corio_stream_tls_version(s), "TLSv1.3");
    assert_int_equal(corio_stream_write(s, "over tls\n", 9), 0);
    assert_int_equal(corio_stream_readline(s, buf, sizeof buf, &len), 0);
    assert_string_equal(buf, "over tls\n");
    assert_string_equal(last_sni, "localhost"); /* SNI reached the server */
    assert_int_equal(corio_stream_close(s), 0);
    /* An IP literal: verified against the certificate's IP SAN, no SNI. */
    assert_int_equal(corio_tls_connect(&s, "127.0.0.1", ts.port, cc), 0);
    assert_int_equal(corio_stream_write(s, "ip\n", 3), 0);
    assert_int_equal(corio_stream_readline(s, buf, sizeof buf, &len), 0);
    assert_string_equal(last_sni, "(none)");
    corio_stream_close(s);
    corio_tls_ctx_destroy(cc);
    tls_server_stop(&ts);
    return NULL;
}

NET_TEST(test_tls_verification_failures)
{
    tls_server ts;
    corio_tls_ctx *sys = client_ctx(0), *test = client_ctx(1), *off = client_ctx(0);
    corio_stream *s;
    char buf[8];
    size_t len;
    tls_server_start(&ts);
    /* The system trust store does not know the test CA. */
    assert_int_equal(corio_tls_connect(&s, "localhost", ts.port, sys), CORIO_ECERT);
    /* Trusted CA, wrong name. */
    {
        corio_stream *p;
        assert_int_equal(corio_stream_connect_tcp(&p, "127.0.0.1", ts.port), 0);
        assert_int_equal(corio_stream_starttls(p, test, "wrong.example"), CORIO_ECERT);
        corio_stream_abort(p);
    }
    /* Verification off (tests only): connects to anything. */
    assert_int_equal(corio_tls_ctx_set_verify(off, 0), 0);
    assert_int_equal(corio_tls_connect(&s, "localhost", ts.port, off), 0);
    assert_int_equal(corio_stream_write(s, "x\n", 2), 0);
    assert_int_equal(corio_stream_readline(s, buf, sizeof buf, &len), 0);
    corio_stream_close(s);
    corio_tls_ctx_destroy(sys);
    corio_tls_ctx_destroy(test);
    corio_tls_ctx_destroy(off);
    tls_server_stop(&ts);
    return NULL;
}

/* STARTTLS: a plaintext exchange, then both sides upgrade the same stream. */
static corio_tls_ctx *starttls_sctx;

static void starttls_handler(corio_stream *s, void *arg)
{
    char buf[64];
    size_t len;
    (void)arg;
    if (corio_stream_readline(s, buf, sizeof buf, &len) || strcmp(buf, "STARTTLS\n"))
        return;
    if (corio_stream_write(s, "OK go ahead\n", 12))
        return;
    if (corio_stream_starttls(s, starttls_sctx, NULL))
        return;
    while (corio_stream_readline(s, buf, sizeof buf, &len) == 0)
        if (corio_stream_write(s, buf, len))
            break;
}

NET_TEST(test_starttls)
{
    corio_server *srv;
    corio_tls_ctx *cc = client_ctx(1);
    corio_stream *s;
    char buf[64];
    size_t len;
    starttls_sctx = server_ctx();
    assert_int_equal(corio_server_start(&srv, "127.0.0.1", 0, starttls_handler, NULL, NULL), 0);
    assert_int_equal(corio_stream_connect_tcp(&s, "127.0.0.1", corio_server_port(srv)), 0);
    assert_null(corio_stream_tls_version(s));
    assert_int_equal(corio_stream_write(s, "STARTTLS\n", 9), 0);
    assert_int_equal(corio_stream_readline(s, buf, sizeof buf, &len), 0);
    assert_string_equal(buf, "OK go ahead\n");
    assert_int_equal(corio_stream_starttls(s, cc, "localhost"), 0);
    assert_int_equal(corio_stream_starttls(s, cc, "localhost"), -EALREADY);
    assert_int_equal(corio_stream_write(s, "secret\n", 7), 0);
    assert_int_equal(corio_stream_readline(s, buf, sizeof buf, &len), 0);
    assert_string_equal(buf, "secret\n");
    assert_int_equal(corio_stream_close(s), 0);
    assert_int_equal(corio_server_close(srv, 1.0), 0);
    corio_tls_ctx_destroy(cc);
    corio_tls_ctx_destroy(starttls_sctx);
    return NULL;
}

/* Megabytes both ways at once over one TLS stream, a reader task and a
 * writer task, with backpressure: every byte arrives, in order. */
typedef struct bulk {
    corio_stream *s;
    size_t total;
    int rc;
} bulk;

static void *bulk_writer(void *arg)
{
    bulk *b = arg;
    unsigned char chunk[10000];
    size_t sent = 0, i;
    while (sent < b->total) {
        size_t n = b->total - sent < sizeof chunk ? b->total - sent : sizeof chunk;
        for (i = 0; i < n; i++)
            chunk[i] = (unsigned char)((sent + i) * 7);
        if ((b->rc = corio_stream_write(b->s, chunk, n)) != 0)
            return NULL;
        sent += n;
    }
    b->rc = corio_stream_shutdown_write(b->s);
    return NULL;
}

NET_TEST(test_tls_bulk_duplex)
{
    tls_server ts;
    corio_tls_ctx *cc = client_ctx(1);
    corio_stream *s;
    corio_task *w;
    bulk b;
    unsigned char buf[7000];
    size_t got = 0;
    ssize_t n, i;
    tls_server_start(&ts);
    assert_int_equal(corio_tls_connect(&s, "localhost", ts.port, cc), 0);
    b.s = s;
    b.total = tu_slow() ? (size_t)1 << 20 : (size_t)8 << 20;
    b.rc = -1;
    w = corio_spawn(bulk_writer, &b);
    while ((n = corio_stream_read(s, buf, sizeof buf)) > 0) {
        for (i = 0; i < n; i++)
            if (buf[i] != (unsigned char)((got + (size_t)i) * 7))
                fail_msg("byte %zu differs", got + (size_t)i);
        got += (size_t)n;
    }
    /* The server echoes until our close_notify, then closes with its own. */
    assert_int_equal(n, 0);
    assert_int_equal(got, b.total);
    assert_int_equal(corio_await(w, NULL), 0);
    assert_int_equal(b.rc, 0);
    corio_stream_close(s);
    corio_tls_ctx_destroy(cc);
    tls_server_stop(&ts);
    return NULL;
}

/* Handshake against peers that misbehave. */
static void *plaintext_peer(void *arg)
{
    corio_socket *l = arg, *c;
    char buf[512];
    if (corio_socket_accept(l, &c, NULL))
        return NULL;
    corio_socket_recv(c, buf, sizeof buf, 0); /* the ClientHello */
    corio_socket_sendall(c, "HTTP/1.0 400 Bad Request\r\n\r\n", 28);
    corio_sleep(0.05);
    corio_socket_close(c);
    return NULL;
}

static void *closing_peer(void *arg)
{
    corio_socket *l = arg, *c;
    if (corio_socket_accept(l, &c, NULL) == 0)
        corio_socket_close(c);
    return NULL;
}

static void *silent_peer(void *arg)
{
    corio_socket *l = arg, *c;
    if (corio_socket_accept(l, &c, NULL))
        return NULL;
    corio_sleep(0.3);
    corio_socket_close(c);
    return NULL;
}

static int handshake_with(corio_fn peer, double timeout)
{
    corio_tls_ctx *cc = client_ctx(1);
    corio_socket *l;
    corio_stream *s;
    corio_task *t;
    corio_addr a;
    corio_scope sc;
    int rc;
    assert_int_equal(corio_tcp_listen(&l, "127.0.0.1", 0, 4, 0), 0);
    corio_socket_local_addr(l, &a);
    t = corio_spawn(peer, l);
    corio_scope_enter(&sc, timeout, 0);
    rc = corio_tls_connect(&s, "localhost", corio_addr_port(&a), cc);
    corio_scope_exit(&sc);
    if (rc == 0)
        corio_stream_close(s);
    corio_cancel(t);
    corio_await(t, NULL);
    corio_socket_close(l);
    corio_tls_ctx_destroy(cc);
    return rc;
}

NET_TEST(test_tls_handshake_failures)
{
    int rc = handshake_with(plaintext_peer, 5.0);
    assert_true(rc == CORIO_ETLS);
    rc = handshake_with(closing_peer, 5.0);
    assert_true(rc == CORIO_EEOF || rc == -ECONNRESET);
    assert_int_equal(handshake_with(silent_peer, 0.05), -ETIMEDOUT);
    return NULL;
}

static void test_tls_misuse(void **state)
{
    corio_tls_ctx *c;
    (void)state;
    assert_int_equal(corio_tls_ctx_create(&c, 7), -EINVAL);
    assert_int_equal(corio_tls_ctx_create(&c, CORIO_TLS_SERVER), 0);
    assert_int_equal(corio_tls_ctx_load_cert_mem(c, "garbage", "garbage"), CORIO_ETLS);
    assert_int_equal(corio_tls_ctx_load_cert_file(c, "/nonexistent", "/nonexistent"), CORIO_ETLS);
    assert_int_equal(corio_tls_ctx_load_ca_mem(c, "nothing"), CORIO_ETLS);
    corio_tls_ctx_destroy(c);
}

static void *probe_main(void *arg)
{
    corio_tls_ctx *c;
    int rc = corio_tls_ctx_create(&c, CORIO_TLS_CLIENT);
    *(int *)arg = rc != -ENOTSUP;
    if (!rc)
        corio_tls_ctx_destroy(c);
    return NULL;
}

int main(void)
{
    int have = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_echo_verified),
        cmocka_unit_test(test_tls_verification_failures),
        cmocka_unit_test(test_starttls),
        cmocka_unit_test(test_tls_bulk_duplex),
        cmocka_unit_test(test_tls_handshake_failures),
        cmocka_unit_test(test_tls_misuse),
    };
    corio_run(probe_main, &have, NULL);
    if (!have) {
        fprintf(stderr, "corio built without OpenSSL: skipped\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
