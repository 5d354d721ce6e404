/*
 * "Start all API calls, then await all": fetch N URLs concurrently.
 *
 *   fetch_concurrent [http://HOST:PORT/PATH ...]
 *
 * With no URL it starts its own tiny HTTP server task on 127.0.0.1, whose
 * every answer takes 200 ms (a slow API), and fetches 10 paths from it:
 * once one after the other (about 2 s), then all at once (about 0.2 s).
 * Each fetch is plain sequential code in its own task (connect, write the
 * request, read the head, read the body); the loop overlaps their waits.
 * A scope gives every fetch a 5 s deadline.
 */
#define _GNU_SOURCE /* strcasestr */
#include <corio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the slow local server -------------------------------------------------*/

static void serve(corio_stream *s, void *arg)
{
    char head[2048], body[256], resp[512];
    char path[256] = "/";
    size_t len;
    int n, m;
    (void)arg;
    if (corio_stream_readuntil(s, head, sizeof head, "\r\n\r\n", 4, &len))
        return;
    sscanf(head, "GET %255s", path);
    corio_sleep(0.2); /* the slow API */
    n = snprintf(body, sizeof body, "response for %s\n", path);
    m = snprintf(resp, sizeof resp,
                 "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
                 n, body);
    corio_stream_write(s, resp, (size_t)m);
}

/* ---- the client ----------------------------------------------------------------*/

typedef struct fetch {
    char host[128];
    int port;
    char path[256];
    char body[512];  /* the response body (truncated to fit) */
    int status;      /* HTTP status, or 0 */
} fetch;

static int parse_url(fetch *f, const char *url)
{
    memset(f, 0, sizeof *f);
    strcpy(f->path, "/");
    if (sscanf(url, "http://%127[^:/]:%d%255s", f->host, &f->port, f->path) >= 2)
        return 0;
    if (sscanf(url, "http://%127[^:/]%255s", f->host, f->path) >= 1) {
        f->port = 80;
        return 0;
    }
    return -EINVAL;
}

static void *fetch_task(void *arg)
{
    fetch *f = arg;
    corio_stream *s;
    corio_scope sc;
    char req[512], head[4096];
    const char *cl;
    size_t len, want = 0, got;
    int rc, n;

    corio_scope_enter(&sc, 5.0, 0);
    rc = corio_stream_connect_tcp(&s, f->host, f->port);
    if (rc)
        goto out;
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 f->path, f->host);
    rc = corio_stream_write(s, req, (size_t)n);
    if (!rc)
        rc = corio_stream_readuntil(s, head, sizeof head, "\r\n\r\n", 4, &len);
    if (!rc) {
        sscanf(head, "HTTP/%*s %d", &f->status);
        cl = strcasestr(head, "\r\nContent-Length:");
        want = cl ? strtoul(cl + 17, NULL, 10) : sizeof f->body - 1;
        if (want > sizeof f->body - 1)
            want = sizeof f->body - 1;
        rc = corio_stream_readexactly(s, f->body, want, &got);
        if (rc == CORIO_EEOF && !cl)
            rc = 0; /* no length: the body ends with the connection */
        f->body[got] = '\0';
    }
    corio_stream_close(s);
out:
    corio_scope_exit(&sc);
    return rc ? corio_fail(rc) : NULL;
}

static void report(const fetch *f, int rc)
{
    if (rc)
        printf("  %s:%d%s: %s\n", f->host, f->port, f->path, corio_strerror(rc));
    else
        printf("  %s:%d%s: %d %s", f->host, f->port, f->path, f->status, f->body);
}

typedef struct args {
    int n;
    char **urls;
} args;

static void *main_task(void *arg)
{
    args *a = arg;
    corio_server *srv = NULL;
    fetch *fs;
    corio_task **ts;
    char url[128];
    double t0;
    int i, n = a->n ? a->n : 10, rc;

    fs = calloc((size_t)n, sizeof *fs);
    ts = calloc((size_t)n, sizeof *ts);
    if (!fs || !ts)
        return corio_fail(-ENOMEM);
    if (!a->n) {
        rc = corio_server_start(&srv, "127.0.0.1", 0, serve, NULL, NULL);
        if (rc)
            return corio_fail(rc);
    }
    for (i = 0; i < n; i++) {
        if (srv)
            snprintf(url, sizeof url, "http://127.0.0.1:%d/item/%d",
                     corio_server_port(srv), i);
        if (parse_url(&fs[i], srv ? url : a->urls[i]) < 0) {
            fprintf(stderr, "bad URL %s\n", a->urls[i]);
            return corio_fail(-EINVAL);
        }
    }

    if (srv) {
        /* One after the other: each waits for the previous answer. */
        t0 = corio_now();
        for (i = 0; i < n; i++)
            corio_await(corio_spawn(fetch_task, &fs[i]), NULL);
        printf("sequential: %d fetches in %.2f s\n", n, corio_now() - t0);
    }

    /* Start all, then await all: the waits overlap. */
    t0 = corio_now();
    for (i = 0; i < n; i++)
        ts[i] = corio_spawn(fetch_task, &fs[i]);
    for (i = 0; i < n; i++)
        report(&fs[i], corio_await(ts[i], NULL));
    printf("concurrent: %d fetches in %.2f s\n", n, corio_now() - t0);

    if (srv)
        corio_server_close(srv, 1.0);
    free(fs);
    free(ts);
    return NULL;
}

int main(int argc, char **argv)
{
    args a;
    a.n = argc - 1;
    a.urls = argv + 1;
    return corio_run(main_task, &a, NULL) == 0 ? 0 : 1;
}
