/*
 * TLS echo: a TLS server and a verifying client in one program.
 *
 *   tls_echo
 *
 * The server is an ordinary corio_server whose options carry a TLS context:
 * each handler task gets a stream whose handshake is already done, and uses
 * the same calls as on plain TCP. The client trusts only the test CA below
 * and checks the certificate is for "localhost" (verification is on by
 * default; SNI is sent). The certificates are test-only, generated for
 * corio's test suite: never trust them anywhere else.
 */
#include <corio.h>

#include <stdio.h>
#include <string.h>

/* Test-only PKI (generated for corio's tests, valid until 2126; the keys
 * are public: never trust them anywhere else). CA: "corio test CA";
 * server: CN=localhost, SAN DNS:localhost, IP:127.0.0.1. */
static const char TEST_CA_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhzCCAS2gAwIBAgIUMfK1mkDMFFhaWbemotjvIk1fscowCgYIKoZIzj0EAwIw\n"
    "GDEWMBQGA1UEAwwNY29yaW8gdGVzdCBDQTAgFw0yNjExMjMwNjAyMjlaGA8yMTI2\n"
    "MTAzMDA2MDIyOVowGDEWMBQGA1UEAwwNY29yaW8gdGVzdCBDQTBZMBMGByqGSM49\n"
    "AgEGCCqGSM49AwEHA0IABEcJnrT43g8AL1PtS9Bz6B79op4SllQktwI2xY5Tzo6s\n"
    "UVOLWuwlncXGgVUTj/0Ytn0sNkdLuQ+itUHCsfV3x8KjUzBRMB0GA1UdDgQWBBQ7\n"
    "rLatRP8qEf/bLeyR3N+ASku1TzAfBgNVHSMEGDAWgBQ7rLatRP8qEf/bLeyR3N+A\n"
    "Sku1TzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIEKyTwXSkcZ5\n"
    "cZQ3AOR0IqjMKtFMqvmyw4TE68lqseOTAiEAtD6rapti/LkgRukhTRsE8C0YZ3UO\n"
    "GEerx9uqQVXnKyU=\n"
    "-----END CERTIFICATE-----\n";
static const char TEST_SERVER_CERT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBxzCCAW2gAwIBAgIUNiyDEgvuL9ajKJ1K/9qz1HGzLg4wCgYIKoZIzj0EAwIw\n"
    "GDEWMBQGA1UEAwwNY29yaW8gdGVzdCBDQTAgFw0yNjExMjMwNjAyMjlaGA8yMTI2\n"
    "MTAzMDA2MDIyOVowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYI\n"
    "KoZIzj0DAQcDQgAET3/gwf6mjpBVSXGR0hQlCbrhxvr7QsKRe/gUE4I3UifzPBcr\n"
    "fkyAviUm/5J8+5HFJIKc9opBX5i3N86CPacKo6OBljCBkzAaBgNVHREEEzARggls\n"
    "b2NhbGhvc3SHBH8AAAEwCQYDVR0TBAIwADALBgNVHQ8EBAMCB4AwHQYDVR0lBBYw\n"
    "FAYIKwYBBQUHAwEGCCsGAQUFBwMCMB0GA1UdDgQWBBTqqsy9NHne4+pfFMtX51YQ\n"
    "QE3SjDAfBgNVHSMEGDAWgBQ7rLatRP8qEf/bLeyR3N+ASku1TzAKBggqhkjOPQQD\n"
    "AgNIADBFAiBWkIfxwDzQzn4mumR8vTa9lHiJnYz3PsUGc+2cRTceNQIhAPUgCgN4\n"
    "XvhZ89wp5QlOC64njTw4OnSVVyzmpc+KpQAq\n"
    "-----END CERTIFICATE-----\n";
static const char TEST_SERVER_KEY_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyM9j+B8rgabKn1q4\n"
    "JkE7kDxEdOm05s9sHoFUss8BmnShRANCAARPf+DB/qaOkFVJcZHSFCUJuuHG+vtC\n"
    "wpF7+BQTgjdSJ/M8Fyt+TIC+JSb/knz7kcUkgpz2ikFfmLc3zoI9pwqj\n"
    "-----END PRIVATE KEY-----\n";

static void echo(corio_stream *s, void *arg)
{
    char line[256];
    size_t len;
    (void)arg;
    printf("server: %s, client asked for \"%s\"\n", corio_stream_tls_version(s),
           corio_stream_tls_server_name(s) ? corio_stream_tls_server_name(s) : "");
    while (corio_stream_readline(s, line, sizeof line, &len) == 0)
        if (corio_stream_write(s, line, len))
            break;
}

static void *main_task(void *arg)
{
    static const char *const lines[] = {"hello\n", "over\n", "TLS\n"};
    corio_tls_ctx *sctx, *cctx;
    corio_server_opts o;
    corio_server *srv;
    corio_stream *s;
    char buf[256];
    size_t len, i;
    int rc;
    (void)arg;

    if ((rc = corio_tls_ctx_create(&sctx, CORIO_TLS_SERVER)) ||
        (rc = corio_tls_ctx_load_cert_mem(sctx, TEST_SERVER_CERT_PEM, TEST_SERVER_KEY_PEM)) ||
        (rc = corio_tls_ctx_create(&cctx, CORIO_TLS_CLIENT)) ||
        (rc = corio_tls_ctx_load_ca_mem(cctx, TEST_CA_PEM))) {
        fprintf(stderr, "tls setup: %s\n", corio_strerror(rc));
        return corio_fail(rc);
    }
    memset(&o, 0, sizeof o);
    o.tls = sctx;
    rc = corio_server_start(&srv, "127.0.0.1", 0, echo, NULL, &o);
    if (rc)
        return corio_fail(rc);

    rc = corio_tls_connect(&s, "localhost", corio_server_port(srv), cctx);
    if (rc) {
        fprintf(stderr, "connect: %s\n", corio_strerror(rc));
    } else {
        for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
            if (corio_stream_write(s, lines[i], strlen(lines[i])) ||
                corio_stream_readline(s, buf, sizeof buf, &len))
                break;
            printf("client: sent %.*s, got %s", (int)strlen(lines[i]) - 1, lines[i], buf);
        }
        corio_stream_close(s); /* sends close_notify */
    }
    /* A client that does not trust the test CA refuses the server. */
    {
        corio_tls_ctx *sys;
        corio_tls_ctx_create(&sys, CORIO_TLS_CLIENT);
        rc = corio_tls_connect(&s, "localhost", corio_server_port(srv), sys);
        printf("client with the system's CAs: %s\n", corio_strerror(rc));
        if (rc == 0)
            corio_stream_close(s);
        corio_tls_ctx_destroy(sys);
    }
    corio_server_close(srv, 1.0);
    corio_tls_ctx_destroy(cctx);
    corio_tls_ctx_destroy(sctx);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
