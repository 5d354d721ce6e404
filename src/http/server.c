/*
 * The HTTP/1.1 server: corio_server gives each connection a task and a
 * stream; this file runs the request/response cycle on it.
 *
 * One connection, one loop:
 *   1. Feed whatever the stream has buffered to the parser.
 *   2. A complete request: call the handler, append its response to the
 *      output batch, and go back to 1 — pipelined requests already buffered
 *      are answered without another read, and their responses leave
 *      together in one write.
 *   3. The parser needs more: flush the output batch, then wait for bytes
 *      under the deadline of the parser's state — idle (between requests),
 *      head (from the request's first byte), body (from the end of its
 *      head). A request that misses its deadline gets 408; an idle
 *      connection is simply closed.
 * Errors the parser reports are answered with their status and the
 * connection is closed, since the byte stream cannot be trusted after them.
 *
 * Lingering close. Such an error (413, 400, 408, ...) often comes before
 * the client has finished sending: a client posting 20 MB without
 * "Expect: 100-continue" reads the answer only once its body is out.
 * Closing a socket with unread input makes the kernel send a reset, and
 * the reset destroys the answer still in flight or unread at the client.
 * So, as nginx's lingering_close does, the answer is sent, the write side
 * shut (the client sees the end of the answer), and what the client still
 * sends is read and discarded until it closes, it is silent for
 * LINGER_IDLE (1 s), linger_timeout (5 s) has passed, or LINGER_MAX (64
 * MiB) was discarded; then the socket is closed.
 *
 * Graceful close marks the server closing, cancels the connections that
 * sit idle between requests (nothing is lost: no request is in progress),
 * and lets corio_server_close() wait for the busy ones, whose responses
 * then carry "Connection: close".
 */
#include "server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define DEF_HEADER_TIMEOUT 10.0
#define DEF_BODY_TIMEOUT 30.0
#define DEF_IDLE_TIMEOUT 60.0
#define DEF_WRITE_TIMEOUT 30.0
#define DEF_LINGER_TIMEOUT 5.0
#define LINGER_IDLE 1.0               /* silence that ends lingering early */
#define LINGER_MAX (64u * 1024 * 1024) /* bytes discarded at most */
#define OUT_BATCH (64 * 1024) /* flush the output batch beyond this */

static void default_error(corio_http_response *resp, int status,
                          const char *reason, void *arg)
{
    (void)arg;
    resp->status = status;
    corio_http_response_header(resp, "Content-Type",
                               "text/plain; charset=utf-8");
    corio_http_buf_puts(&resp->body, reason ? reason : corio_http_reason(status));
    corio_http_buf_puts(&resp->body, "\n");
}

static const char *date_now(corio_http_server *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != s->date_sec) {
        s->date_sec = ts.tv_sec;
        corio_http_date(s->date, ts.tv_sec);
    }
    return s->date;
}

/* Finishes resp (Date, Connection) and appends its bytes to out. */
static void emit(corio_http_server *s, corio_http_response *resp,
                 const corio_http_request *req, int close,
                 corio_http_buf *out)
{
    resp->close = close;
    if (!close && req && req->version_minor == 0)
        corio_http_response_header(resp, "Connection", "keep-alive");
    corio_http_response_header(resp, "Date", date_now(s));
    unsigned flags = req && strcmp(req->method, "HEAD") == 0
                         ? CORIO_HTTP_WRITE_HEAD
                         : 0;
    if (corio_http_response_write(resp, flags, out) < 0) {
        /* A status outside 100..599 from the handler: a bug, answered 500. */
        corio_http_response_clear(resp);
        default_error(resp, 500, "invalid response", NULL);
        resp->close = 1;
        corio_http_response_write(resp, flags, out);
    }
    int cls = resp->status / 100;
    if (cls >= 1 && cls <= 5)
        s->stats.responses[cls]++;
}

/* Hands the output batch to the stream within write_timeout. On failure
 * the connection is shut down, so that corio_server's closing flush fails
 * at once instead of waiting on a peer that does not read. */
static int flush(corio_http_server *s, corio_stream *st, corio_http_buf *out)
{
    if (!out->len)
        return 0;
    corio_scope sc;
    corio_scope_enter(&sc, s->opts.write_timeout, 0);
    int rc = corio_stream_write(st, out->data, out->len);
    corio_scope_exit(&sc);
    corio_http_buf_clear(out);
    if (rc < 0) {
        if (rc == -ETIMEDOUT)
            s->stats.timeouts++;
        corio_socket *sock = corio_stream_socket(st);
        if (sock)
            corio_socket_shutdown(sock, SHUT_RDWR);
    }
    return rc;
}

/* The lingering close (see the top of the file): shuts the write side
 * and discards input within the bounds. Interrupted by a cancellation (a
 * closing server) like any wait. */
static void linger(corio_http_server *s, corio_stream *st)
{
    if (s->opts.linger_timeout < 0)
        return;
    /* What the stream still buffers goes out first, within write_timeout
     * like any response. */
    corio_scope wsc;
    corio_scope_enter(&wsc, s->opts.write_timeout, 0);
    int rc = corio_stream_shutdown_write(st);
    corio_scope_exit(&wsc);
    if (rc < 0)
        return;
    double end = corio_now() + s->opts.linger_timeout;
    size_t discarded = 0;
    for (;;) {
        size_t avail = 0;
        corio_stream_peek(st, &avail);
        corio_stream_consume(st, avail);
        discarded += avail;
        double now = corio_now();
        if (discarded >= LINGER_MAX || now >= end || corio_cancelled())
            break;
        corio_scope sc;
        corio_scope_enter_at(&sc, now + LINGER_IDLE < end ? now + LINGER_IDLE
                                                          : end, 0);
        ssize_t n = corio_stream_fill(st);
        corio_scope_exit(&sc);
        if (n <= 0)
            break; /* the client closed, was silent, or an error */
    }
}

/* Answers an error the server detected itself, then lingers; the caller
 * closes. */
static void refuse(corio_http_server *s, corio_stream *st,
                   corio_http_response *resp, corio_http_buf *out, int status,
                   const char *reason)
{
    corio_http_response_clear(resp);
    s->opts.error_response(resp, status, reason, s->arg);
    emit(s, resp, NULL, 1, out);
    if (flush(s, st, out) == 0)
        linger(s, st);
}

void corio__http_conn_main(corio_stream *st, void *arg)
{
    corio_http_server *s = arg;
    hconn *c = calloc(1, sizeof *c);
    corio_http_parser *p = NULL;
    if (!c || corio_http_parser_create(&p, &s->opts.limits) < 0) {
        free(c);
        return;
    }
    c->task = corio_current();
    c->next = s->conns.next;
    c->prev = &s->conns;
    s->conns.next->prev = c;
    s->conns.next = c;
    s->stats.connections++;
    s->stats.open++;

    /* The client's address, for corio_http_request_peer(): one
     * getpeername per connection (none is known for a stream that is not
     * a socket, or whose peer has already gone). */
    corio_addr peer;
    corio_socket *sock = corio_stream_socket(st);
    if (!sock || corio_socket_peer_addr(sock, &peer) < 0)
        peer.len = 0;

    corio_http_response resp;
    corio_http_response_init(&resp);
    corio_http_buf out = CORIO_HTTP_BUF_INIT;
    double head_deadline = 0, body_deadline = 0;

    for (;;) {
        size_t avail = 0, used = 0;
        const void *data = corio_stream_peek(st, &avail);
        int ev = CORIO_HTTP_NEED_MORE;
        if (avail) {
            ev = corio_http_parser_feed(p, data, avail, &used);
            corio_stream_consume(st, used);
        }
        if (ev == CORIO_HTTP_REQUEST) {
            corio_http_request r = *corio_http_parser_request(p);
            const corio_http_request *req = &r;
            r.peer = (const struct sockaddr *)&peer.ss;
            r.peer_len = peer.len;
            head_deadline = body_deadline = 0;
            s->stats.requests++;
            corio_http_response_clear(&resp);
            int rc = s->handler(req, &resp, s->arg);
            int close = rc < 0 || !req->keep_alive || resp.close || s->closing ||
                        corio_cancelled();
            emit(s, &resp, req, close, &out);
            if (close)
                break;
            if (out.len >= OUT_BATCH && flush(s, st, &out) < 0)
                goto done;
            continue;
        }
        if (ev == CORIO_HTTP_CONTINUE) {
            /* The client waits for this before sending the body. */
            corio_http_buf_puts(&out, "HTTP/1.1 100 Continue\r\n\r\n");
            if (flush(s, st, &out) < 0)
                goto done;
            continue;
        }
        if (ev < 0) {
            const char *why;
            int status = corio_http_parser_status(p, &why);
            s->stats.rejected++;
            flush(s, st, &out); /* answers to earlier pipelined requests */
            refuse(s, st, &resp, &out, status ? status : 400, why);
            goto done;
        }

        /* Need more bytes: send what is ready, then wait for them. */
        if (flush(s, st, &out) < 0)
            goto done;
        int busy = corio_http_parser_busy(p);
        double now = corio_now(), deadline;
        if (!busy) {
            if (s->closing)
                break;
            deadline = now + s->opts.idle_timeout;
        } else if (busy == CORIO_HTTP_IN_HEAD) {
            if (!head_deadline)
                head_deadline = now + s->opts.header_timeout;
            deadline = head_deadline;
        } else {
            if (!body_deadline)
                body_deadline = now + s->opts.body_timeout;
            deadline = body_deadline;
        }
        c->idle = !busy;
        corio_scope sc;
        corio_scope_enter_at(&sc, deadline, 0);
        ssize_t n = corio_stream_fill(st);
        corio_scope_exit(&sc);
        c->idle = 0;
        if (n > 0 && !corio_cancelled())
            continue;
        if (n == -ETIMEDOUT && busy) {
            s->stats.timeouts++;
            refuse(s, st, &resp, &out, 408,
                   busy == CORIO_HTTP_IN_HEAD ? "request head too slow"
                                              : "request body too slow");
        } else if (n == -ETIMEDOUT) {
            s->stats.timeouts++;
        }
        break; /* end of stream, error, timeout, cancelled (close) */
    }
    flush(s, st, &out);
done:
    c->prev->next = c->next;
    c->next->prev = c->prev;
    s->stats.open--;
    free(c);
    corio_http_parser_destroy(p);
    corio_http_response_free(&resp);
    corio_http_buf_free(&out);
}

int corio__http_server_init(corio_http_server *s, corio_http_handler handler,
                            void *arg, const corio_http_server_opts *opts)
{
    if (opts)
        s->opts = *opts;
    if (!s->opts.max_connections)
        s->opts.max_connections = CORIO__HTTP_DEF_MAX_CONNS;
    if (s->opts.header_timeout <= 0)
        s->opts.header_timeout = DEF_HEADER_TIMEOUT;
    if (s->opts.body_timeout <= 0)
        s->opts.body_timeout = DEF_BODY_TIMEOUT;
    if (s->opts.idle_timeout <= 0)
        s->opts.idle_timeout = DEF_IDLE_TIMEOUT;
    if (s->opts.write_timeout <= 0)
        s->opts.write_timeout = DEF_WRITE_TIMEOUT;
    if (s->opts.linger_timeout == 0)
        s->opts.linger_timeout = DEF_LINGER_TIMEOUT;
    if (!s->opts.error_response)
        s->opts.error_response = default_error;
    s->handler = handler;
    s->arg = arg;
    s->conns.next = s->conns.prev = &s->conns;
    /* Check the limits now rather than failing every connection later. */
    corio_http_parser *probe;
    int rc = corio_http_parser_create(&probe, &s->opts.limits);
    if (rc < 0)
        return rc;
    corio_http_parser_destroy(probe);
    return 0;
}

void corio__http_server_opts_to(const corio_http_server_opts *o,
                                corio_server_opts *so)
{
    memset(so, 0, sizeof *so);
    so->backlog = o->backlog;
    so->max_connections = o->max_connections;
    so->flags = CORIO_SERVER_NODELAY;
    if (o->flags & CORIO_HTTP_SERVER_REUSEPORT)
        so->flags |= CORIO_SERVER_REUSEPORT;
    if (o->flags & CORIO_HTTP_SERVER_ONE_ACCEPTOR)
        so->flags |= CORIO_SERVER_ONE_ACCEPTOR;
    if (o->flags & CORIO_HTTP_SERVER_LEAST_BUSY)
        so->flags |= CORIO_SERVER_LEAST_BUSY;
    so->stack_size = o->stack_size;
    so->tls = o->tls;
}

void corio__http_server_begin_close(corio_http_server *s)
{
    s->closing = 1;
    /* Idle connections hold no request: end them now. Busy ones see
     * `closing` when their response is ready. */
    for (hconn *c = s->conns.next; c != &s->conns; c = c->next)
        if (c->idle)
            corio_cancel(c->task);
}

int corio_http_server_start(corio_http_server **sp, const char *host,
                            int port, corio_http_handler handler, void *arg,
                            const corio_http_server_opts *opts)
{
    *sp = NULL;
    if (!handler || (opts && (opts->flags & (CORIO_HTTP_SERVER_ONE_ACCEPTOR |
                                             CORIO_HTTP_SERVER_LEAST_BUSY))))
        return -EINVAL;
    corio_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    int rc = corio__http_server_init(s, handler, arg, opts);
    if (rc < 0) {
        free(s);
        return rc;
    }
    corio_server_opts so;
    corio__http_server_opts_to(&s->opts, &so);
    rc = corio_server_start(&s->srv, host, port, corio__http_conn_main, s, &so);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *sp = s;
    return 0;
}

int corio_http_server_port(const corio_http_server *s)
{
    return corio_server_port(s->srv);
}

void corio_http_server_stats_get(const corio_http_server *s,
                                 corio_http_server_stats *out)
{
    *out = s->stats;
}

int corio_http_server_close(corio_http_server *s, double grace)
{
    if (!corio_current())
        return -EPERM;
    corio__http_server_begin_close(s);
    int rc = corio_server_close(s->srv, grace);
    free(s);
    return rc;
}
