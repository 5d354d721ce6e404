/*
 * The HTTP server on every loop of a corio_run_multi runtime, in one call.
 *
 * corio_server_start_all does the accepting (a SO_REUSEPORT listener per
 * loop, or one acceptor handing connections out) and runs each connection
 * in a task on the loop that serves it; this file gives that loop its own
 * HTTP server state (struct corio_http_server: the idle-connection list,
 * the counters, the cached Date) and runs server.c's request/response
 * cycle with it. Each state is touched only by its own loop, so nothing on
 * a request's path takes a lock or an atomic: counters are read, and a
 * close is begun, by a task spawned on that loop.
 */
#include "server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One loop's HTTP state, on cache lines of its own. */
typedef struct hloop {
    _Alignas(64) corio_http_server s; /* srv stays NULL: ms owns the accepting */
} hloop;

/* Allocated by corio_http_server_start_all, freed by
 * corio_http_mserver_close. */
struct corio_http_mserver {
    corio_mserver *ms;
    unsigned n;     /* loops */
    hloop *loops;   /* n; loops[i] belongs to loop i */
};

/* The connection handler, on the loop serving the connection. */
static void mconn_main(corio_stream *st, void *arg)
{
    corio_http_mserver *h = arg;
    corio__http_conn_main(st, &h->loops[corio_loop_index(NULL)].s);
}

static void free_mserver(corio_http_mserver *h)
{
    free(h->loops);
    free(h);
}

int corio_http_server_start_all(corio_http_mserver **hp, const char *host,
                                int port, corio_http_handler handler,
                                void *arg, const corio_http_server_opts *opts)
{
    if (!hp)
        return -EINVAL;
    *hp = NULL;
    unsigned n = corio_loop_count();
    if (!n || !corio_current())
        return -EPERM;
    if (!handler || port < 0 || port > 65535)
        return -EINVAL;
    if (opts && (opts->flags & CORIO_HTTP_SERVER_LEAST_BUSY) &&
        !(opts->flags & CORIO_HTTP_SERVER_ONE_ACCEPTOR))
        return -EINVAL;
    corio_http_mserver *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->loops = aligned_alloc(64, n * sizeof *h->loops);
    if (!h->loops) {
        free(h);
        return -ENOMEM;
    }
    memset(h->loops, 0, n * sizeof *h->loops);
    h->n = n;
    for (unsigned i = 0; i < n; i++) {
        int rc = corio__http_server_init(&h->loops[i].s, handler, arg, opts);
        if (rc < 0) {
            free_mserver(h);
            return rc;
        }
    }
    corio_server_opts so;
    corio__http_server_opts_to(&h->loops[0].s.opts, &so);
    int rc = corio_server_start_all(&h->ms, host, port, mconn_main, h, &so);
    if (rc < 0) {
        free_mserver(h);
        return rc;
    }
    *hp = h;
    return 0;
}

int corio_http_mserver_port(const corio_http_mserver *h)
{
    return h ? corio_mserver_port(h->ms) : -EINVAL;
}

/* ---- work done on one loop, by a task spawned there ------------------------*/

typedef struct on_loop {
    corio_http_server *s;
    corio_http_server_stats out;
} on_loop;

static void *read_stats(void *arg)
{
    on_loop *r = arg;
    r->out = r->s->stats;
    return NULL;
}

static void *begin_close(void *arg)
{
    corio__http_server_begin_close(((on_loop *)arg)->s);
    return NULL;
}

/* Runs fn(r) on loop i and waits for it, shielded: r is on our stack, so
 * the task must have ended before we return (it takes microseconds). */
static int run_on(unsigned i, corio_fn fn, on_loop *r)
{
    corio_xtask *x;
    corio_scope sh;
    int rc = corio_spawn_on(&x, corio_loop_get(i), fn, r);
    if (rc < 0)
        return rc;
    corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
    rc = corio_xtask_await(x, NULL, 0);
    corio_scope_exit(&sh);
    return rc;
}

int corio_http_mserver_stats(corio_http_mserver *h, int index,
                             corio_http_server_stats *out)
{
    if (!h || !out || index < -1 || (index >= 0 && (unsigned)index >= h->n))
        return -EINVAL;
    if (!corio_current() || corio_loop_count() == 0)
        return -EPERM;
    if (corio_cancelled())
        return -ECANCELED;
    corio_http_server_stats sum;
    memset(&sum, 0, sizeof sum);
    unsigned first = index < 0 ? 0 : (unsigned)index;
    unsigned last = index < 0 ? h->n : first + 1;
    for (unsigned i = first; i < last; i++) {
        on_loop r = {.s = &h->loops[i].s};
        int rc = run_on(i, read_stats, &r);
        if (rc < 0)
            return rc;
        sum.connections += r.out.connections;
        sum.open += r.out.open;
        sum.requests += r.out.requests;
        for (int k = 0; k < 6; k++)
            sum.responses[k] += r.out.responses[k];
        sum.rejected += r.out.rejected;
        sum.timeouts += r.out.timeouts;
    }
    *out = sum;
    return 0;
}

int corio_http_mserver_close(corio_http_mserver *h, double grace)
{
    if (!h)
        return -EINVAL;
    if (!corio_current())
        return -EPERM;
    /* Each loop marks its server closing and ends its idle connections,
     * then corio_mserver_close stops the accepting and gives the busy
     * ones grace seconds. A connection accepted in between is served with
     * "Connection: close", or closed at once if it sends nothing. */
    for (unsigned i = 0; i < h->n; i++) {
        /* Without memory for the task (-ENOMEM), that loop's idle
         * connections wait out the grace period and are cancelled. */
        on_loop r = {.s = &h->loops[i].s};
        (void)run_on(i, begin_close, &r);
    }
    int rc = corio_mserver_close(h->ms, grace);
    free_mserver(h);
    return rc;
}
