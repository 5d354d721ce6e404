/*
 * TLS for corio streams: OpenSSL 3 over memory BIOs.
 *
 * OpenSSL never touches the socket. Ciphertext from the network is read by
 * us into the SSL's read BIO; ciphertext OpenSSL produces lands in its
 * write BIO, from which we move it to our own record buffer (tout) and on
 * to the kernel. So every OpenSSL call is non-suspending, and all waiting
 * happens in the stream layer on the socket's readiness, like any other
 * stream: cancellation, scopes and backpressure work unchanged, and one task
 * may read while another writes (OpenSSL is only ever entered by one of
 * them at a time: a task runs until it parks, never in the middle of an
 * SSL call).
 *
 * The transport keeps the stream's contract (net.h): read/write return
 * bytes of plaintext; records not yet taken by the kernel are "pending" and
 * pushed by the stream's background flush. Raw reads use the same
 * short-read readiness shortcut as plain sockets.
 */
#include "io/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef CORIO_HAVE_OPENSSL
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_OUT_HIGH (64u * 1024u)   /* records held before write waits */
#define TLS_RAW_CHUNK (16u * 1024u + 512u) /* one full record and then some */
#define HANGUP (CORIO__IO_RDHUP | CORIO__IO_HUP | CORIO__IO_ERR)

/* Allocated by corio_tls_ctx_create; freed with the last reference (the
 * creator's, dropped by destroy, and one per stream using it). Streams on
 * several loops of a runtime may share one context: refs is atomic, and
 * OpenSSL's SSL_CTX may be used by several threads once configured. */
struct corio_tls_ctx {
    SSL_CTX *ssl_ctx;
    int mode;
    int refs;
};

/* A stream's TLS state (s->tctx); allocated by corio_stream_starttls,
 * freed by the transport's close. */
typedef struct tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio;      /* owned by ssl */
    corio_tls_ctx *ctx;    /* a reference */
    char *tout;            /* records for the kernel: tout[off .. off+len) */
    size_t tout_off, tout_len, tout_cap;
    int raw_eof;           /* the peer closed the TCP connection */
    int failed;            /* a fatal TLS error: no more SSL calls */
} tls_conn;

static int tls_failure(SSL *ssl, int rc)
{
    long v;
    if (SSL_get_error(ssl, rc) == SSL_ERROR_SSL &&
        (v = SSL_get_verify_result(ssl)) != X509_V_OK && v != 0)
        return CORIO_ECERT;
    return CORIO_ETLS;
}

/* ---- raw ciphertext I/O ----------------------------------------------------*/

/* Moves what OpenSSL wrote into its BIO to tout, then as much of tout as
 * the kernel takes. 0 once all is out, -EAGAIN (*want = OUT), or -errno. */
static int tls_push(corio_stream *s, unsigned *want)
{
    tls_conn *c = s->tctx;
    corio_socket *k = s->sock;
    size_t pend;
    *want = CORIO__IO_OUT;
    while ((pend = BIO_ctrl_pending(c->wbio)) > 0) {
        int n;
        if (c->tout_off && c->tout_off + c->tout_len + pend > c->tout_cap) {
            memmove(c->tout, c->tout + c->tout_off, c->tout_len);
            c->tout_off = 0;
        }
        if (c->tout_len + pend > c->tout_cap) {
            size_t cap = c->tout_cap ? c->tout_cap : 16384;
            char *p;
            while (cap < c->tout_len + pend)
                cap *= 2;
            p = realloc(c->tout, cap);
            if (!p)
                return -ENOMEM;
            c->tout = p;
            c->tout_cap = cap;
        }
        n = BIO_read(c->wbio, c->tout + c->tout_off + c->tout_len, (int)pend);
        if (n <= 0)
            break;
        c->tout_len += (size_t)n;
    }
    while (c->tout_len) {
        ssize_t n;
        if (!(k->f.io.ready & CORIO__IO_OUT))
            return -EAGAIN;
        n = send(k->fd, c->tout + c->tout_off, c->tout_len, MSG_NOSIGNAL);
        if (n > 0) {
            if ((size_t)n < c->tout_len && !(k->f.io.ready & HANGUP))
                k->f.io.ready &= ~CORIO__IO_OUT;
            c->tout_off += (size_t)n;
            c->tout_len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            k->f.io.ready &= ~CORIO__IO_OUT;
            return -EAGAIN;
        }
        return n < 0 ? -errno : -EPIPE;
    }
    c->tout_off = 0;
    return 0;
}

/* Reads ciphertext from the kernel into OpenSSL's read BIO. Returns bytes
 * read, 0 at end of stream, -EAGAIN, or -errno. */
static ssize_t tls_pull(corio_stream *s)
{
    tls_conn *c = s->tctx;
    corio_socket *k = s->sock;
    char buf[TLS_RAW_CHUNK];
    ssize_t n;
    if (!(k->f.io.ready & CORIO__IO_IN))
        return -EAGAIN;
    do
        n = recv(k->fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            k->f.io.ready &= ~CORIO__IO_IN;
            return -EAGAIN;
        }
        return -errno;
    }
    if (n > 0) {
        if ((size_t)n < sizeof buf && !(k->f.io.ready & HANGUP))
            k->f.io.ready &= ~CORIO__IO_IN;
        if (BIO_write(c->rbio, buf, (int)n) != (int)n)
            return -ENOMEM;
    } else {
        if (CORIO__UNLIKELY(k->sim != NULL) && (n = corio__simnet_eof(k)) < 0)
            return n; /* a reset, in a simulation */
        c->raw_eof = 1;
    }
    return n;
}

/* ---- the transport ------------------------------------------------------------*/

static ssize_t tls_read(corio_stream *s, void *buf, size_t len, unsigned *want)
{
    tls_conn *c = s->tctx;
    unsigned w;
    *want = CORIO__IO_IN;
    if (c->failed)
        return CORIO_ETLS;
    for (;;) {
        int n, err;
        ssize_t r;
        ERR_clear_error();
        n = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
        err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
        /* Reading may produce records (alerts, TLS 1.3 key updates). */
        if (BIO_ctrl_pending(c->wbio)) {
            tls_push(s, &w);
            corio__stream_flush(s);
        }
        if (n > 0)
            return n;
        if (err == SSL_ERROR_ZERO_RETURN)
            return 0; /* close_notify */
        if (err != SSL_ERROR_WANT_READ) {
            c->failed = 1;
            return tls_failure(c->ssl, n);
        }
        if (c->raw_eof)
            return 0; /* the TCP connection ended without close_notify */
        r = tls_pull(s);
        if (r < 0)
            return r;
    }
}

static ssize_t tls_write(corio_stream *s, const void *buf, size_t len,
                         unsigned *want)
{
    tls_conn *c = s->tctx;
    int n, rc;
    unsigned w;
    *want = CORIO__IO_OUT;
    if (c->failed)
        return CORIO_ETLS;
    rc = tls_push(s, want);
    if (rc < 0 && rc != -EAGAIN)
        return rc;
    if (c->tout_len >= TLS_OUT_HIGH)
        return -EAGAIN;
    if (len > TLS_OUT_HIGH)
        len = TLS_OUT_HIGH;
    ERR_clear_error();
    n = SSL_write(c->ssl, buf, (int)len);
    if (n <= 0) {
        c->failed = 1;
        return tls_failure(c->ssl, n);
    }
    rc = tls_push(s, &w);
    if (rc < 0 && rc != -EAGAIN)
        return rc;
    return n;
}

static size_t tls_pending(corio_stream *s)
{
    tls_conn *c = s->tctx;
    return c->tout_len + BIO_ctrl_pending(c->wbio);
}

static int tls_flush(corio_stream *s, unsigned *want)
{
    return tls_push(s, want);
}

static int tls_shutdown_write(corio_stream *s)
{
    tls_conn *c = s->tctx;
    if (c->failed)
        return 0;
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* queues close_notify; the stream flushes it */
    return 0;
}

static void tls_close(corio_stream *s)
{
    tls_conn *c = s->tctx;
    if (!c)
        return;
    SSL_free(c->ssl);
    corio_tls_ctx_destroy(c->ctx);
    free(c->tout);
    free(c);
    s->tctx = NULL;
}

static const corio__transport tls_transport = {
    "tls", tls_read, tls_write, tls_pending, tls_flush, tls_shutdown_write,
    tls_close
};

/* ---- contexts -------------------------------------------------------------------*/

int corio_tls_ctx_create(corio_tls_ctx **cp, int mode)
{
    corio_tls_ctx *c;
    if (mode != CORIO_TLS_CLIENT && mode != CORIO_TLS_SERVER)
        return -EINVAL;
    c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->ssl_ctx = SSL_CTX_new(mode == CORIO_TLS_CLIENT ? TLS_client_method()
                                                      : TLS_server_method());
    if (!c->ssl_ctx) {
        free(c);
        return -ENOMEM;
    }
    c->mode = mode;
    c->refs = 1;
    SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    /* Our write BIO never blocks, and a write may be retried with a moved
     * buffer (the stream copies what the transport did not take). */
    SSL_CTX_set_mode(c->ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (mode == CORIO_TLS_CLIENT) {
        SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_default_verify_paths(c->ssl_ctx);
    }
    *cp = c;
    return 0;
}

void corio_tls_ctx_destroy(corio_tls_ctx *c)
{
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        SSL_CTX_free(c->ssl_ctx);
        free(c);
    }
}

/* OpenSSL decodes a certificate's extensions into a cache inside the X509
 * at its first use in a verification or chain build: a write, under the
 * certificate's lock, into an object every stream of the context shares;
 * later uses skip the lock after an atomic check. Correct, but invisible
 * to ThreadSanitizer (libcrypto is not instrumented), which then reports
 * the first handshake on one loop racing the next on another
 * (tests/test_multi_tls.c). Filling the caches here, on the thread that
 * loads the context, makes a loaded context read-only in fact, which is
 * what the header promises for a context shared by loops.
 * X509_check_purpose(x, -1, 0) only fills the cache. */
static void fill_cert_caches(SSL_CTX *ctx)
{
    STACK_OF(X509) *chain = NULL;
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    if (leaf)
        X509_check_purpose(leaf, -1, 0);
    if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1)
        for (int i = 0; i < sk_X509_num(chain); i++)
            X509_check_purpose(sk_X509_value(chain, i), -1, 0);
    if (st && X509_STORE_lock(st)) {
        STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
        for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
            X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
            if (x)
                X509_check_purpose(x, -1, 0);
        }
        X509_STORE_unlock(st);
    }
    ERR_clear_error();
}

int corio_tls_ctx_load_cert_file(corio_tls_ctx *c, const char *cert_file,
                                 const char *key_file)
{
    if (!c || !cert_file || !key_file)
        return -EINVAL;
    if (SSL_CTX_use_certificate_chain_file(c->ssl_ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(c->ssl_ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(c->ssl_ctx) != 1) {
        ERR_clear_error();
        return CORIO_ETLS;
    }
    fill_cert_caches(c->ssl_ctx);
    return 0;
}

int corio_tls_ctx_load_cert_mem(corio_tls_ctx *c, const char *cert_pem,
                                const char *key_pem)
{
    BIO *b;
    X509 *x;
    EVP_PKEY *k;
    int ok = 1;
    if (!c || !cert_pem || !key_pem)
        return -EINVAL;
    b = BIO_new_mem_buf(cert_pem, -1);
    x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    ok = x && SSL_CTX_use_certificate(c->ssl_ctx, x) == 1;
    X509_free(x);
    /* The rest of the PEM is the chain. */
    while (ok && b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (SSL_CTX_add0_chain_cert(c->ssl_ctx, x) != 1) {
            X509_free(x);
            ok = 0;
        }
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, -1);
    k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    ok = ok && k && SSL_CTX_use_PrivateKey(c->ssl_ctx, k) == 1 &&
         SSL_CTX_check_private_key(c->ssl_ctx) == 1;
    EVP_PKEY_free(k);
    BIO_free(b);
    ERR_clear_error();
    if (ok)
        fill_cert_caches(c->ssl_ctx);
    return ok ? 0 : CORIO_ETLS;
}

int corio_tls_ctx_load_ca_file(corio_tls_ctx *c, const char *ca_file)
{
    X509_STORE *st;
    if (!c || !ca_file)
        return -EINVAL;
    /* Instead of the system store: a fresh store with only these. */
    st = X509_STORE_new();
    if (!st)
        return -ENOMEM;
    if (X509_STORE_load_file(st, ca_file) != 1) {
        X509_STORE_free(st);
        ERR_clear_error();
        return CORIO_ETLS;
    }
    SSL_CTX_set_cert_store(c->ssl_ctx, st);
    fill_cert_caches(c->ssl_ctx);
    return 0;
}

int corio_tls_ctx_load_ca_mem(corio_tls_ctx *c, const char *ca_pem)
{
    X509_STORE *st;
    BIO *b;
    X509 *x;
    int n = 0;
    if (!c || !ca_pem)
        return -EINVAL;
    st = X509_STORE_new();
    b = BIO_new_mem_buf(ca_pem, -1);
    if (!st || !b) {
        X509_STORE_free(st);
        BIO_free(b);
        return -ENOMEM;
    }
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(st, x) == 1)
            n++;
        X509_free(x);
    }
    BIO_free(b);
    ERR_clear_error();
    if (!n) {
        X509_STORE_free(st);
        return CORIO_ETLS;
    }
    SSL_CTX_set_cert_store(c->ssl_ctx, st);
    fill_cert_caches(c->ssl_ctx);
    return 0;
}

int corio_tls_ctx_set_verify(corio_tls_ctx *c, int verify)
{
    if (!c)
        return -EINVAL;
    if (c->mode == CORIO_TLS_CLIENT)
        SSL_CTX_set_verify(c->ssl_ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    else
        SSL_CTX_set_verify(c->ssl_ctx,
                           verify ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                  : SSL_VERIFY_NONE, NULL);
    return 0;
}

/* ---- the handshake ------------------------------------------------------------*/

static int is_ip_literal(const char *name)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static int setup(corio_stream *s, corio_tls_ctx *ctx, const char *name)
{
    tls_conn *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->ssl = SSL_new(ctx->ssl_ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        SSL_free(c->ssl);
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        free(c);
        return -ENOMEM;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    if (ctx->mode == CORIO_TLS_CLIENT) {
        SSL_set_connect_state(c->ssl);
        if (name && *name) {
            if (!is_ip_literal(name))
                SSL_set_tlsext_host_name(c->ssl, name); /* SNI */
            /* Verify the certificate is for this name (or IP). */
            if (is_ip_literal(name))
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name);
            else
                SSL_set1_host(c->ssl, name);
        }
    } else {
        SSL_set_accept_state(c->ssl);
        /* In a simulation, no TLS 1.3 session tickets: their encrypted
         * contents vary in length with OpenSSL's (unseeded) randomness, so
         * two runs of a seed would send different bytes. */
        if (CORIO__UNLIKELY(s->sock->sim != NULL))
            SSL_set_num_tickets(c->ssl, 0);
    }
    /* Bytes read as plaintext before the upgrade belong to TLS now. */
    if (s->in_len) {
        BIO_write(c->rbio, s->in + s->in_off, (int)s->in_len);
        s->in_len = 0;
        s->in_off = 0;
    }
    __atomic_add_fetch(&ctx->refs, 1, __ATOMIC_RELAXED);
    c->ctx = ctx;
    s->tctx = c;
    s->tr = &tls_transport;
    return 0;
}

int corio_stream_starttls(corio_stream *s, corio_tls_ctx *ctx,
                          const char *server_name)
{
    corio_task *t = corio_current();
    tls_conn *c;
    int rc;
    if (!t)
        return -EPERM;
    if (!s || s->closed || !ctx)
        return s && !s->closed ? -EINVAL : -EBADF;
    if (s->reader || s->writer)
        return -EBUSY;
    if (s->tctx)
        return -EALREADY;
    if (!s->sock->is_socket)
        return -ENOTSOCK;
    rc = corio__interrupted(t);
    if (rc)
        return rc;
    s->reader = s->writer = t;
    s->users++;
    rc = corio__stream_drain(s); /* plaintext written before the upgrade */
    if (!rc)
        rc = setup(s, ctx, server_name);
    c = s->tctx;
    while (!rc) {
        int n, err;
        unsigned want;
        ssize_t r;
        ERR_clear_error();
        n = SSL_do_handshake(c->ssl);
        err = n == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
        rc = tls_push(s, &want);
        if (rc == -EAGAIN)
            rc = 0;
        corio__stream_flush(s); /* accounting for what is still held */
        if (rc)
            break;
        if (n == 1) {
            rc = corio__stream_drain(s); /* our last flight */
            break;
        }
        if (err != SSL_ERROR_WANT_READ) {
            c->failed = 1;
            rc = tls_failure(c->ssl, n);
            break;
        }
        r = tls_pull(s);
        if (r == 0) {
            rc = CORIO_EEOF;
            break;
        }
        if (r == -EAGAIN) {
            rc = corio__fd_wait(&s->sock->f, CORIO__IO_IN);
            if (!rc && s->closed)
                rc = -EBADF;
        } else if (r < 0) {
            rc = (int)r;
        }
    }
    s->reader = s->writer = NULL;
    if (--s->users == 0 && s->closed)
        corio__stream_free(s);
    return rc;
}

const char *corio_stream_tls_version(corio_stream *s)
{
    tls_conn *c = s && !s->closed ? s->tctx : NULL;
    return c ? SSL_get_version(c->ssl) : NULL;
}

const char *corio_stream_tls_server_name(corio_stream *s)
{
    tls_conn *c = s && !s->closed ? s->tctx : NULL;
    return c ? SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

#else /* !CORIO_HAVE_OPENSSL */

int corio_tls_ctx_create(corio_tls_ctx **cp, int mode)
{
    (void)cp, (void)mode;
    return -ENOTSUP;
}
void corio_tls_ctx_destroy(corio_tls_ctx *c) { (void)c; }
int corio_tls_ctx_load_cert_file(corio_tls_ctx *c, const char *a, const char *b)
{
    (void)c, (void)a, (void)b;
    return -ENOTSUP;
}
int corio_tls_ctx_load_cert_mem(corio_tls_ctx *c, const char *a, const char *b)
{
    (void)c, (void)a, (void)b;
    return -ENOTSUP;
}
int corio_tls_ctx_load_ca_file(corio_tls_ctx *c, const char *a)
{
    (void)c, (void)a;
    return -ENOTSUP;
}
int corio_tls_ctx_load_ca_mem(corio_tls_ctx *c, const char *a)
{
    (void)c, (void)a;
    return -ENOTSUP;
}
int corio_tls_ctx_set_verify(corio_tls_ctx *c, int v)
{
    (void)c, (void)v;
    return -ENOTSUP;
}
int corio_stream_starttls(corio_stream *s, corio_tls_ctx *c, const char *n)
{
    (void)s, (void)c, (void)n;
    return corio_current() ? -ENOTSUP : -EPERM;
}
const char *corio_stream_tls_version(corio_stream *s)
{
    (void)s;
    return NULL;
}
const char *corio_stream_tls_server_name(corio_stream *s)
{
    (void)s;
    return NULL;
}

#endif

int corio_tls_connect(corio_stream **sp, const char *host, int port,
                      corio_tls_ctx *c)
{
    corio_stream *s;
    int rc;
    if (!c)
        return corio_current() ? -EINVAL : -EPERM;
    rc = corio_stream_connect_tcp(&s, host, port);
    if (rc)
        return rc;
    rc = corio_stream_starttls(s, c, host);
    if (rc) {
        corio_stream_abort(s);
        return rc;
    }
    *sp = s;
    return 0;
}
