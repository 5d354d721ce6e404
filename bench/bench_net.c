/*
 * The network servers of the peer benchmarks (SPEC.md, "echo" and "http"),
 * written the way a corio user would write them: corio_server_start with a
 * handler task per connection, and corio_stream calls in the handler.
 *
 *   corio-bench echo-server --port P [--max-seconds S]
 *   corio-bench http-server --port P [--max-seconds S]
 *
 * Both listen on 127.0.0.1:P (backlog 1024, TCP_NODELAY on accepted
 * sockets), serve until --max-seconds pass (default 600) and die of the
 * default action of SIGTERM/SIGINT, as SPEC.md allows.
 */
#include "bench.h"

#include <corio.h>

#include <stdio.h>
#include <string.h>

#define DEFAULT_MAX_SECONDS 600.0

typedef struct server_run {
    const bench_opts *o;
    corio_server_handler handler;
    int rc;
} server_run;

static void *server_main(void *arg)
{
    server_run *r = arg;
    corio_server *srv;
    corio_server_opts so;
    double max = r->o->max_seconds > 0 ? r->o->max_seconds : DEFAULT_MAX_SECONDS;
    memset(&so, 0, sizeof so);
    so.backlog = 1024;
    so.flags = CORIO_SERVER_NODELAY;
    r->rc = corio_server_start(&srv, "127.0.0.1", (int)r->o->port, r->handler,
                               NULL, &so);
    if (r->rc) {
        fprintf(stderr, "corio-bench: listen on 127.0.0.1:%ld: %s\n",
                r->o->port, corio_strerror(r->rc));
        return NULL;
    }
    corio_sleep(max);
    corio_server_close(srv, 1.0);
    return NULL;
}

static int run_server(const bench_opts *o, corio_server_handler h)
{
    server_run r;
    if (o->port < 0) {
        fprintf(stderr, "corio-bench: %s needs --port\n", o->name);
        return BENCH_EXIT_USAGE;
    }
    r.o = o;
    r.handler = h;
    r.rc = 0;
    if (corio_run(server_main, &r, NULL) != 0 || r.rc)
        return BENCH_EXIT_FAIL;
    return BENCH_EXIT_OK;
}

/* ---- echo: read up to 64 KiB, write back exactly that ----------------------*/

static void echo_conn(corio_stream *s, void *arg)
{
    char buf[65536];
    ssize_t n;
    (void)arg;
    while ((n = corio_stream_read(s, buf, sizeof buf)) > 0)
        if (corio_stream_write(s, buf, (size_t)n) != 0)
            break;
}

int bench_echo_server(const bench_opts *o)
{
    return run_server(o, echo_conn);
}

/* ---- http: answer every complete request head --------------------------------*/

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
    "Hello, World!";
#define RESPONSE_LEN (sizeof RESPONSE - 1)

/* Bytes accumulate in the stream's input buffer (fill); every complete
 * head in it gets a response, all responses of one read go out in one
 * write, and the heads are consumed. A head split across reads simply
 * waits in the buffer for the next fill. */
static void http_conn(corio_stream *s, void *arg)
{
    char out[64 * RESPONSE_LEN];
    (void)arg;
    while (corio_stream_fill(s) > 0) {
        size_t len, used = 0, nout = 0;
        const char *p = corio_stream_peek(s, &len);
        const char *end;
        while ((end = memmem(p + used, len - used, "\r\n\r\n", 4)) != NULL) {
            used = (size_t)(end - p) + 4;
            if (nout + RESPONSE_LEN > sizeof out) {
                if (corio_stream_write(s, out, nout) != 0)
                    return;
                nout = 0;
            }
            memcpy(out + nout, RESPONSE, RESPONSE_LEN);
            nout += RESPONSE_LEN;
        }
        corio_stream_consume(s, used);
        if (nout && corio_stream_write(s, out, nout) != 0)
            return;
    }
}

int bench_http_server(const bench_opts *o)
{
    return run_server(o, http_conn);
}
