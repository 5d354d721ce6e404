/* DNS: corio_resolve on c-ares against a fake DNS server task on
 * 127.0.0.1 (answers, NXDOMAIN, silence), timeouts from c-ares and from
 * scopes, cancellation, concurrency, the hosts file and numeric hosts.
 * Skipped when corio was built without c-ares. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

/* ---- a fake DNS server -------------------------------------------------------*/

typedef struct fake_dns {
    corio_socket *sock;
    corio_task *task;
    char servers[64];
    int queries;
} fake_dns;

/* Reads the question name as "a.b.c"; returns the offset after QTYPE/QCLASS
 * or -1. */
static int parse_question(const unsigned char *m, int len, char *name, int *qtype)
{
    int off = 12, n = 0;
    while (off < len && m[off]) {
        int l = m[off++];
        if (off + l > len || n + l + 2 > 255)
            return -1;
        if (n)
            name[n++] = '.';
        memcpy(name + n, m + off, (size_t)l);
        n += l;
        off += l;
    }
    name[n] = '\0';
    off++;
    if (off + 4 > len)
        return -1;
    *qtype = m[off] << 8 | m[off + 1];
    return off + 4;
}

static void *fake_dns_main(void *arg)
{
    fake_dns *d = arg;
    unsigned char q[512], r[512];
    corio_addr from;
    for (;;) {
        char name[256];
        int qtype, qend, rlen;
        ssize_t n = corio_socket_recvfrom(d->sock, q, sizeof q, 0, &from);
        if (n < 0)
            break;
        d->queries++;
        qend = parse_question(q, (int)n, name, &qtype);
        if (qend < 0)
            continue;
        if (strncmp(name, "silent", 6) == 0)
            continue; /* never answers */
        memcpy(r, q, (size_t)qend);
        r[2] = 0x81; /* QR, RD */
        r[3] = 0x80; /* RA, rcode 0 */
        r[4] = 0, r[5] = 1; /* one question */
        r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
        rlen = qend;
        if (strcmp(name, "test.corio") == 0 || strcmp(name, "loop.corio") == 0) {
            if (qtype == 1) { /* A */
                unsigned char ip[4] = {10, 1, 2, 3};
                if (name[0] == 'l')
                    ip[0] = 127, ip[1] = 0, ip[2] = 0, ip[3] = 1;
                r[7] = 1; /* one answer */
                r[rlen++] = 0xc0, r[rlen++] = 12; /* name: the question's */
                r[rlen++] = 0, r[rlen++] = 1;     /* A */
                r[rlen++] = 0, r[rlen++] = 1;     /* IN */
                r[rlen++] = 0, r[rlen++] = 0, r[rlen++] = 0, r[rlen++] = 60;
                r[rlen++] = 0, r[rlen++] = 4;
                memcpy(r + rlen, ip, 4);
                rlen += 4;
            }
            /* AAAA: no error, no answer. */
        } else {
            r[3] = 0x83; /* NXDOMAIN */
        }
        corio_socket_sendto(d->sock, r, (size_t)rlen, 0, &from);
    }
    return NULL;
}

static void fake_dns_start(fake_dns *d)
{
    corio_addr a;
    memset(d, 0, sizeof *d);
    assert_int_equal(corio_udp_bind(&d->sock, "127.0.0.1", 0), 0);
    corio_socket_local_addr(d->sock, &a);
    snprintf(d->servers, sizeof d->servers, "127.0.0.1:%d", corio_addr_port(&a));
    d->task = corio_spawn(fake_dns_main, d);
}

static void fake_dns_stop(fake_dns *d)
{
    corio_cancel(d->task);
    corio_await(d->task, NULL);
    corio_socket_close(d->sock);
}

static corio_resolve_opts opts_for(fake_dns *d, double attempt, int tries)
{
    corio_resolve_opts o;
    memset(&o, 0, sizeof o);
    o.servers = d->servers;
    o.attempt_timeout = attempt;
    o.tries = tries;
    return o;
}

/* 1 if corio was built with c-ares (probed once in main). */
static void *probe_main(void *arg)
{
    corio_addr a[1];
    *(int *)arg = corio_resolve("127.0.0.1", 1, AF_INET, a, 1) != -ENOTSUP;
    return NULL;
}

/* ---- tests ------------------------------------------------------------------------*/

NET_TEST(test_resolve_answer)
{
    fake_dns d;
    corio_addr a[4];
    corio_resolve_opts o;
    char buf[64];
    int n;
    fake_dns_start(&d);
    o = opts_for(&d, 1.0, 2);
    n = corio_resolve_ex("test.corio", 443, AF_INET, a, 4, &o);
    if (n == -ENOTSUP) {
        fake_dns_stop(&d);
        return NULL;
    }
    assert_int_equal(n, 1);
    corio_addr_format(&a[0], buf, sizeof buf);
    assert_string_equal(buf, "10.1.2.3:443");
    /* AF_UNSPEC asks for A and AAAA: still the one IPv4 address. */
    n = corio_resolve_ex("test.corio", 80, AF_UNSPEC, a, 4, &o);
    assert_int_equal(n, 1);
    assert_int_equal(corio_resolve_ex("nope.corio", 80, AF_INET, a, 4, &o), CORIO_ENOTFOUND);
    assert_int_equal(corio_resolve_ex("test.corio", 80, 12345, a, 4, &o), -EINVAL);
    assert_int_equal(corio_resolve_ex("test.corio", 80, AF_INET, a, 0, &o), -EINVAL);
    assert_true(d.queries >= 3);
    fake_dns_stop(&d);
    return NULL;
}

NET_TEST(test_resolve_numeric_and_hosts)
{
    corio_addr a[4];
    corio_resolve_opts o;
    char buf[64];
    int n;
    memset(&o, 0, sizeof o);
    o.servers = "127.0.0.1:9"; /* nobody there: must not be needed */
    o.attempt_timeout = 0.05;
    o.tries = 1;
    n = corio_resolve_ex("127.0.0.1", 8080, AF_INET, a, 4, &o);
    if (n == -ENOTSUP)
        return NULL;
    assert_int_equal(n, 1);
    corio_addr_format(&a[0], buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.1:8080");
    /* localhost comes from the hosts file. */
    n = corio_resolve_ex("localhost", 1, AF_INET, a, 4, &o);
    assert_true(n >= 1);
    corio_addr_format(&a[0], buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.1:1");
    return NULL;
}

NET_TEST(test_resolve_cares_timeout)
{
    fake_dns d;
    corio_addr a[2];
    corio_resolve_opts o;
    double t0;
    int n;
    fake_dns_start(&d);
    o = opts_for(&d, 0.05, 2);
    t0 = corio_now();
    n = corio_resolve_ex("silent.corio", 80, AF_INET, a, 2, &o);
    if (n != -ENOTSUP) {
        assert_int_equal(n, -ETIMEDOUT);
        assert_true(corio_now() - t0 >= 0.09); /* two tries of 50 ms */
        assert_true(corio_now() - t0 < 2.0 + tu_slow());
        assert_true(d.queries >= 2); /* it retransmitted */
    }
    fake_dns_stop(&d);
    return NULL;
}

NET_TEST(test_resolve_scope_timeout)
{
    fake_dns d;
    corio_addr a[2];
    corio_resolve_opts o;
    corio_scope sc;
    double t0;
    int n;
    fake_dns_start(&d);
    o = opts_for(&d, 5.0, 3);
    t0 = corio_now();
    corio_scope_enter(&sc, 0.05, 0);
    n = corio_resolve_ex("silent.corio", 80, AF_INET, a, 2, &o);
    corio_scope_exit(&sc);
    if (n != -ENOTSUP) {
        assert_int_equal(n, -ETIMEDOUT);
        assert_true(corio_now() - t0 < 1.0 + tu_slow());
    }
    fake_dns_stop(&d);
    return NULL;
}

typedef struct res_arg {
    fake_dns *d;
    const char *name;
    int rc;
} res_arg;

static void *resolver_task(void *arg)
{
    res_arg *r = arg;
    corio_addr a[2];
    corio_resolve_opts o = opts_for(r->d, 5.0, 3);
    r->rc = corio_resolve_ex(r->name, 80, AF_INET, a, 2, &o);
    return NULL;
}

NET_TEST(test_resolve_cancel_and_concurrency)
{
    fake_dns d;
    res_arg ra[20], slow;
    corio_task *t[20], *st;
    int i;
    fake_dns_start(&d);
    slow.d = &d;
    slow.name = "silent.corio";
    st = corio_spawn(resolver_task, &slow);
    for (i = 0; i < 20; i++) {
        ra[i].d = &d;
        ra[i].name = i % 2 ? "test.corio" : "nope.corio";
        t[i] = corio_spawn(resolver_task, &ra[i]);
    }
    for (i = 0; i < 20; i++) {
        assert_int_equal(corio_await(t[i], NULL), 0);
        if (ra[i].rc == -ENOTSUP)
            continue;
        assert_int_equal(ra[i].rc, i % 2 ? 1 : CORIO_ENOTFOUND);
    }
    /* The silent one is still waiting; cancel it. */
    corio_sleep(0.01);
    corio_cancel(st);
    assert_int_equal(corio_await(st, NULL), -ECANCELED);
    assert_true(slow.rc == -ECANCELED || slow.rc == -ENOTSUP);
    fake_dns_stop(&d);
    return NULL;
}

/* Resolve, then Happy-Eyeballs connect to what came back. */
static void *accept_one(void *arg)
{
    corio_socket *l = arg, *c;
    if (corio_socket_accept(l, &c, NULL) == 0)
        corio_socket_close(c);
    return NULL;
}

NET_TEST(test_resolve_then_connect)
{
    fake_dns d;
    corio_addr a[4];
    corio_resolve_opts o;
    corio_socket *l, *c;
    corio_task *t;
    int n;
    fake_dns_start(&d);
    assert_int_equal(corio_tcp_listen(&l, "127.0.0.1", 0, 4, 0), 0);
    {
        corio_addr la;
        corio_socket_local_addr(l, &la);
        o = opts_for(&d, 1.0, 2);
        n = corio_resolve_ex("loop.corio", corio_addr_port(&la), AF_UNSPEC, a, 4, &o);
    }
    if (n != -ENOTSUP) {
        assert_true(n >= 1);
        t = corio_spawn(accept_one, l);
        assert_int_equal(corio_tcp_connect_addrs(&c, a, (size_t)n, 0), 0);
        corio_socket_close(c);
        assert_int_equal(corio_await(t, NULL), 0);
    }
    corio_socket_close(l);
    fake_dns_stop(&d);
    return NULL;
}

static void test_outside_task(void **state)
{
    corio_addr a[1];
    (void)state;
    assert_int_equal(corio_resolve("localhost", 1, AF_INET, a, 1), -EPERM);
}

int main(void)
{
    int have = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_answer),
        cmocka_unit_test(test_resolve_numeric_and_hosts),
        cmocka_unit_test(test_resolve_cares_timeout),
        cmocka_unit_test(test_resolve_scope_timeout),
        cmocka_unit_test(test_resolve_cancel_and_concurrency),
        cmocka_unit_test(test_resolve_then_connect),
        cmocka_unit_test(test_outside_task),
    };
    corio_run(probe_main, &have, NULL);
    if (!have) {
        fprintf(stderr, "corio built without c-ares: skipped\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
