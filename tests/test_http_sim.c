/*
 * The HTTP server and TLS over the simulated network (include/corio_sim.h):
 * unchanged corio_http and corio TLS code, a server on host "srv" and a
 * client on host "cli", every byte taking a virtual latency. (The HTTP
 * client, corio_http_fetch, is libcurl with its own sockets: it stays on
 * the real network; the client here speaks HTTP/1.1 over a corio stream.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>
#include <corio_http.h>
#include <corio_sim.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Test-only PKI for this file (Ed25519, generated with openssl 3.0 for
 * corio's tests, valid for 100 years; the keys are public: never trust them
 * anywhere else). CA "corio sim test CA"; server CN=srv, SAN DNS:srv,
 * IP:10.0.0.2. Ed25519 rather than ECDSA on purpose: an ECDSA signature's
 * length varies with its random nonce, so a handshake's record sizes would
 * differ between two runs of one seed and the check mode would (rightly)
 * see two different runs; Ed25519 signatures are deterministic. */
static const char TEST_CA_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBTzCCAQGgAwIBAgIUZayQR/7VF0vjiBKcSl3nV+CASiMwBQYDK2VwMBwxGjAY\n"
    "BgNVBAMMEWNvcmlvIHNpbSB0ZXN0IENBMCAXDTI2MTIwNzIyMDEwMVoYDzIxMjYx\n"
    "MTEzMjIwMTAxWjAcMRowGAYDVQQDDBFjb3JpbyBzaW0gdGVzdCBDQTAqMAUGAytl\n"
    "cAMhAPf9V30MVeq5C+BKOPwIpyV462FXDrAAeIxcO3cXe6Mzo1MwUTAdBgNVHQ4E\n"
    "FgQUPT3T6937JqbWIJa3vYTXh9AcMeswHwYDVR0jBBgwFoAUPT3T6937JqbWIJa3\n"
    "vYTXh9AcMeswDwYDVR0TAQH/BAUwAwEB/zAFBgMrZXADQQBqILWhEZpY9uQCfDdk\n"
    "4qaz2kzjYAgd08CLNlNUOkSd+L32hJMhyQpJUGoJ7D3G9iy2+bOGQRxIkdib71d2\n"
    "utUC\n"
    "-----END CERTIFICATE-----\n";
static const char TEST_SERVER_CERT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBdTCCASegAwIBAgIUIAmt4TxO2/lXhFdbGauXiAn2M2owBQYDK2VwMBwxGjAY\n"
    "BgNVBAMMEWNvcmlvIHNpbSB0ZXN0IENBMCAXDTI2MTIwNzIyMDEwMloYDzIxMjYx\n"
    "MTEzMjIwMTAyWjAOMQwwCgYDVQQDDANzcnYwKjAFBgMrZXADIQAr+04p6VCbQs8J\n"
    "oAp2iBlIXxBZqID5NPo7KugbBg43UqOBhjCBgzAUBgNVHREEDTALggNzcnaHBAoA\n"
    "AAIwCQYDVR0TBAIwADALBgNVHQ8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEw\n"
    "HQYDVR0OBBYEFEeeFfyDe04ViqvAsK9VlOE3mDazMB8GA1UdIwQYMBaAFD090+vd\n"
    "+yam1iCWt72E14fQHDHrMAUGAytlcANBAHj9r8PXTlTeeiDh1ygu0z3a15RVe8FJ\n"
    "a9kmN2ZvBOuxN9wjI7akLkGl07WV8pvpTIcIcdN3XYHMoXIfC7N9pwE=\n"
    "-----END CERTIFICATE-----\n";
static const char TEST_SERVER_KEY_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEICnJGoMlGYPLTPx/37V6RkEhUg0md6mb+PGAKuUKj00b\n"
    "-----END PRIVATE KEY-----\n";

#define LAT 0.020
static int h_srv, h_cli;

static int two_hosts(void)
{
    corio_sim_net_config nc;
    memset(&nc, 0, sizeof nc);
    nc.latency_min = nc.latency_max = LAT;
    if (corio_sim_net_configure(&nc) < 0)
        return -1;
    h_srv = corio_sim_host_add("srv", "10.0.0.2");
    h_cli = corio_sim_host_add("cli", "10.0.0.3");
    return h_srv > 0 && h_cli > 0 ? 0 : -1;
}

/* ---- HTTP ------------------------------------------------------------------------------*/

#define REQUESTS 5
static double http_connect_took, http_requests_took;
static int http_ok;

static int hello(const corio_http_request *req, corio_http_response *resp, void *arg)
{
    (void)req;
    (void)arg;
    return corio_http_response_set(resp, 200, "text/plain", "hello from srv\n", 15);
}

static void *http_server_task(void *arg)
{
    corio_http_server *s;
    int rc = corio_http_server_start(&s, "0.0.0.0", 8080, hello, NULL, NULL);
    (void)arg;
    if (rc)
        return corio_fail(rc);
    corio_sleep(10.0); /* serve for 10 virtual seconds */
    rc = corio_http_server_close(s, 1.0);
    return rc < 0 ? corio_fail(rc) : NULL;
}

static void *http_client_task(void *arg)
{
    corio_stream *st;
    char head[1024], body[64];
    size_t len;
    double t0 = corio_now();
    int i, rc;
    (void)arg;
    rc = corio_stream_connect_tcp(&st, "srv", 8080);
    if (rc)
        return corio_fail(rc);
    http_connect_took = corio_now() - t0;
    t0 = corio_now();
    http_ok = 0;
    for (i = 0; i < REQUESTS; i++) {
        static const char req[] = "GET / HTTP/1.1\r\nHost: srv\r\n\r\n";
        const char *cl;
        rc = corio_stream_write(st, req, sizeof req - 1);
        if (!rc)
            rc = corio_stream_readuntil(st, head, sizeof head, "\r\n\r\n", 4, &len);
        if (rc)
            break;
        cl = strstr(head, "Content-Length: ");
        if (strncmp(head, "HTTP/1.1 200", 12) != 0 || !cl || atoi(cl + 16) != 15)
            break;
        rc = corio_stream_readexactly(st, body, 15, NULL);
        if (rc || memcmp(body, "hello from srv\n", 15) != 0)
            break;
        http_ok++;
    }
    http_requests_took = corio_now() - t0;
    corio_stream_close(st);
    return rc ? corio_fail(rc) : NULL;
}

static void *http_main(void *arg)
{
    corio_task *s, *c;
    int rc;
    (void)arg;
    if (two_hosts() < 0)
        return corio_fail(-EIO);
    corio_sim_spawn_on(h_srv, &s, http_server_task, NULL);
    corio_sleep(0.001);
    corio_sim_spawn_on(h_cli, &c, http_client_task, NULL);
    rc = corio_await(c, NULL);
    if (corio_await(s, NULL) || rc)
        return corio_fail(rc ? rc : -EIO);
    return NULL;
}

static void http_server_over_the_simulated_network(void **state)
{
    corio_sim_stats st;
    (void)state;
    /* Check mode: the HTTP exchange replays byte for byte in length and
     * time (the Date header's content is wall-clock, its length is not). */
    assert_int_equal(corio_sim_check(1, http_main, NULL, NULL, &st), 0);
    assert_int_equal(http_ok, REQUESTS);
    /* Connect: one round trip; each keep-alive request: one round trip. */
    tu_assert_near(http_connect_took, 2 * LAT, 0.002);
    tu_assert_near(http_requests_took, REQUESTS * 2 * LAT, 0.01);
    print_message("simnet http: connect %.3f s, %d requests %.3f s virtual\n",
                  http_connect_took, REQUESTS, http_requests_took);
}

/* ---- TLS -------------------------------------------------------------------------------*/

static corio_tls_ctx *srv_ctx, *cli_ctx;
static int tls_ok;
static double tls_took;

static void tls_echo(corio_stream *s, void *arg)
{
    char buf[256];
    ssize_t n;
    (void)arg;
    while ((n = corio_stream_read(s, buf, sizeof buf)) > 0)
        if (corio_stream_write(s, buf, (size_t)n))
            break;
}

static void *tls_server_task(void *arg)
{
    corio_server *srv;
    corio_server_opts o;
    int rc;
    (void)arg;
    memset(&o, 0, sizeof o);
    o.tls = srv_ctx;
    rc = corio_server_start(&srv, "0.0.0.0", 4433, tls_echo, NULL, &o);
    if (rc)
        return corio_fail(rc);
    corio_sleep(10.0);
    rc = corio_server_close(srv, 1.0);
    return rc < 0 ? corio_fail(rc) : NULL;
}

static void *tls_client_task(void *arg)
{
    corio_stream *st;
    char back[6];
    double t0 = corio_now();
    int rc;
    (void)arg;
    rc = corio_stream_connect_tcp(&st, "srv", 4433);
    if (rc)
        return corio_fail(rc);
    rc = corio_stream_starttls(st, cli_ctx, "srv"); /* verified */
    if (!rc)
        rc = corio_stream_write(st, "hello\n", 6);
    if (!rc)
        rc = corio_stream_readexactly(st, back, 6, NULL);
    tls_ok = !rc && memcmp(back, "hello\n", 6) == 0;
    tls_took = corio_now() - t0;
    corio_stream_close(st);
    return rc ? corio_fail(rc) : NULL;
}

static void *tls_main(void *arg)
{
    corio_task *s, *c;
    int rc;
    (void)arg;
    if (two_hosts() < 0)
        return corio_fail(-EIO);
    corio_sim_spawn_on(h_srv, &s, tls_server_task, NULL);
    corio_sleep(0.001);
    corio_sim_spawn_on(h_cli, &c, tls_client_task, NULL);
    rc = corio_await(c, NULL);
    if (corio_await(s, NULL) || rc)
        return corio_fail(rc ? rc : -EIO);
    return NULL;
}

static void tls_echo_over_the_simulated_network(void **state)
{
    (void)state;
    assert_int_equal(corio_tls_ctx_create(&srv_ctx, CORIO_TLS_SERVER), 0);
    assert_int_equal(corio_tls_ctx_load_cert_mem(srv_ctx, TEST_SERVER_CERT_PEM,
                                                 TEST_SERVER_KEY_PEM), 0);
    assert_int_equal(corio_tls_ctx_create(&cli_ctx, CORIO_TLS_CLIENT), 0);
    assert_int_equal(corio_tls_ctx_load_ca_mem(cli_ctx, TEST_CA_PEM), 0);
    /* Replays in check mode too (see the PKI's comment). */
    {
        corio_sim_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.flags = CORIO_SIM_CHECK;
        assert_int_equal(corio_sim_run_seeds(1, 10, tls_main, NULL, &cfg, NULL), 0);
    }
    assert_int_equal(tls_ok, 1);
    /* TCP connect (1 RTT) + TLS 1.3 handshake (1 RTT) + echo (1 RTT). */
    print_message("simnet tls: connect + handshake + echo %.3f s virtual\n", tls_took);
    tu_assert_near(tls_took, 3 * 2 * LAT, 0.01);
    corio_tls_ctx_destroy(srv_ctx);
    corio_tls_ctx_destroy(cli_ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(http_server_over_the_simulated_network),
        cmocka_unit_test(tls_echo_over_the_simulated_network),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
