/*
 * corio_server: an accept loop in a task of its own, one handler task per
 * connection, a connection limit, graceful close.
 *
 * The server records every live connection (struct conn, on a list), so
 * that close can cancel the handlers still running when the grace period
 * ends and wait for them. Handler tasks are detached: each unlinks its own
 * record just before it returns, so a task on the list is always alive and
 * may be cancelled.
 *
 * fd exhaustion: accept failing with EMFILE/ENFILE leaves the connection in
 * the kernel's queue, and with an edge-triggered poller no new edge will
 * announce it. The accept loop therefore pauses (until one of its own
 * connections ends, which frees an fd, or 100 ms pass) and then retries
 * accept directly, never spinning on the error.
 */
#include "io/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

/* What a task parked here waits on, for dumps and reports. */
static const corio__waitable wait_server = {"server", CORIO_WAIT_OTHER, NULL};

#define EMFILE_BACKOFF 0.1
#define TLS_HANDSHAKE_TIMEOUT 10.0

/* One connection; allocated by the accept loop, freed by its handler task
 * when the handler has returned and the stream is closed. */
typedef struct conn {
    corio__list node;     /* in srv->conns */
    corio_server *srv;
    corio_stream *stream;
    corio_task *task;     /* the handler task (detached) */
} conn;

/* Allocated by corio_server_start*, freed by corio_server_close. */
struct corio_server {
    corio_socket *lsock;       /* the listener; NULL once closed */
    corio_server_handler handler;
    void *arg;
    corio_server_opts opts;
    corio_task *acceptor;      /* the accept loop (owned, awaited at close) */
    corio__list conns;         /* live connections */
    size_t nconns;
    corio_task *acceptor_wait; /* acceptor parked for a free slot, or NULL */
    corio_task *closer;        /* close() parked until nconns == 0, or NULL */
    int port;
};

static void conn_done(corio_server *srv)
{
    srv->nconns--;
    if (srv->acceptor_wait)
        corio__wake(srv->acceptor_wait, 0);
    if (srv->closer && srv->nconns == 0)
        corio__wake(srv->closer, 0);
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    corio_server *srv = c->srv;
    int rc = 0;
    if (srv->opts.tls) {
        /* A client that never finishes its handshake must not hold the
         * connection (and its task) forever. */
        corio_scope sc;
        corio_scope_enter(&sc, TLS_HANDSHAKE_TIMEOUT, 0);
        rc = corio_stream_starttls(c->stream, srv->opts.tls, NULL);
        corio_scope_exit(&sc);
    }
    if (rc == 0) {
        srv->handler(c->stream, srv->arg);
        corio_stream_close(c->stream);
    } else {
        corio_stream_abort(c->stream);
    }
    corio__list_remove(&c->node);
    conn_done(srv);
    free(c);
    return NULL;
}

/* Parks the acceptor until a connection ends or `timeout` seconds pass
 * (< 0: no timeout). Returns 0 on either, or the interruption. */
static int acceptor_pause(corio_server *srv, double timeout)
{
    corio_task *t = corio_current();
    corio_scope sc;
    int rc, expired = 0;
    if (timeout >= 0)
        corio_scope_enter(&sc, timeout, 0);
    srv->acceptor_wait = t;
    rc = corio__park(t, &wait_server, srv);
    srv->acceptor_wait = NULL;
    if (timeout >= 0)
        expired = corio_scope_exit(&sc) == 1;
    if (rc == -ETIMEDOUT && expired && !corio__interrupted(t))
        rc = 0;
    return rc;
}

static void *accept_main(void *arg)
{
    corio_server *srv = arg;
    corio_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.name = "conn";
    o.stack_size = srv->opts.stack_size;
    for (;;) {
        corio_socket *k;
        conn *c;
        int rc;
        if (srv->opts.max_connections && srv->nconns >= srv->opts.max_connections) {
            if (acceptor_pause(srv, -1))
                break;
            continue;
        }
        rc = corio_socket_accept(srv->lsock, &k, NULL);
        if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
            if (acceptor_pause(srv, EMFILE_BACKOFF))
                break;
            continue;
        }
        if (rc)
            break; /* cancelled (close), or the listener failed */
        if (srv->opts.flags & CORIO_SERVER_NODELAY)
            corio_socket_setopt_int(k, IPPROTO_TCP, TCP_NODELAY, 1);
        c = calloc(1, sizeof *c);
        if (!c || corio_stream_open_socket(&c->stream, k) != 0) {
            free(c);
            corio_socket_close(k);
            continue;
        }
        c->srv = srv;
        corio__list_push_back(&srv->conns, &c->node);
        srv->nconns++;
        if (corio_spawn_ex(&c->task, conn_main, c, &o) != 0) {
            corio__list_remove(&c->node);
            srv->nconns--;
            corio_stream_abort(c->stream);
            free(c);
            continue;
        }
        /* The loop frees the task when it ends; until then (while c is on
         * the list) the handle stays valid for corio_cancel. */
        corio_detach(c->task);
    }
    return NULL;
}

int corio_server_start_socket(corio_server **srvp, corio_socket *listener,
                              corio_server_handler handler, void *arg,
                              const corio_server_opts *opts)
{
    corio_server *srv;
    corio_spawn_opts o;
    corio_addr a;
    int rc;
    if (!listener || !handler)
        return -EINVAL;
    srv = calloc(1, sizeof *srv);
    if (!srv)
        return -ENOMEM;
    if (opts)
        srv->opts = *opts;
    srv->lsock = listener;
    srv->handler = handler;
    srv->arg = arg;
    corio__list_init(&srv->conns);
    srv->port = corio_socket_local_addr(listener, &a) == 0 ? corio_addr_port(&a) : -1;
    memset(&o, 0, sizeof o);
    o.name = "acceptor";
    o.stack_size = 64 * 1024;
    rc = corio_spawn_ex(&srv->acceptor, accept_main, srv, &o);
    if (rc) {
        free(srv);
        return rc;
    }
    /* The server owns the listener now: a leak is the server's. */
    corio__obs_resource_close(corio__task_loop(srv->acceptor), listener);
    corio__obs_resource_open(corio__task_loop(srv->acceptor), srv, "server",
                             corio_socket_fd(listener));
    *srvp = srv;
    return 0;
}

int corio_server_start(corio_server **srvp, const char *host, int port,
                       corio_server_handler handler, void *arg,
                       const corio_server_opts *opts)
{
    corio_socket *l;
    unsigned lf = 0;
    int rc;
    if (!handler)
        return -EINVAL;
    if (opts && (opts->flags & CORIO_SERVER_REUSEPORT))
        lf |= CORIO_LISTEN_REUSEPORT;
    rc = corio_tcp_listen(&l, host, port, opts ? opts->backlog : 0, lf);
    if (rc)
        return rc;
    rc = corio_server_start_socket(srvp, l, handler, arg, opts);
    if (rc)
        corio_socket_close(l);
    return rc;
}

int corio_server_start_unix(corio_server **srvp, const char *path,
                            corio_server_handler handler, void *arg,
                            const corio_server_opts *opts)
{
    corio_socket *l;
    int rc;
    if (!handler)
        return -EINVAL;
    rc = corio_unix_listen(&l, path, opts ? opts->backlog : 0);
    if (rc)
        return rc;
    rc = corio_server_start_socket(srvp, l, handler, arg, opts);
    if (rc)
        corio_socket_close(l);
    return rc;
}

int corio_server_port(const corio_server *srv) { return srv ? srv->port : -1; }

size_t corio_server_connections(const corio_server *srv)
{
    return srv ? srv->nconns : 0;
}

/* Parks the closer until every handler has finished, within the caller's
 * scopes. */
static int wait_handlers(corio_server *srv)
{
    corio_task *t = corio_current();
    int rc = 0;
    while (srv->nconns && !rc) {
        srv->closer = t;
        rc = corio__park(t, &wait_server, srv);
        srv->closer = NULL;
    }
    return rc;
}

static void cancel_handlers(corio_server *srv)
{
    corio__list *n;
    for (n = srv->conns.next; n != &srv->conns; n = n->next)
        corio_cancel(corio__container_of(n, conn, node)->task);
}

int corio_server_close(corio_server *srv, double grace)
{
    corio_task *t = corio_current();
    corio_scope sc;
    int rc, cancelled = 0, interrupted;
    if (!t)
        return -EPERM;
    if (!srv)
        return -EINVAL;
    corio__obs_resource_close(corio__task_loop(t), srv);
    /* Stop accepting: the acceptor ends (it is awaited shielded below). */
    corio_cancel(srv->acceptor);
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    corio_await(srv->acceptor, NULL);
    corio_scope_exit(&sc);
    srv->acceptor = NULL;
    corio_socket_close(srv->lsock);
    srv->lsock = NULL;

    /* Let the handlers finish within the grace period. */
    corio_scope_enter(&sc, grace, 0);
    rc = wait_handlers(srv);
    corio_scope_exit(&sc);
    interrupted = rc && (rc != -ETIMEDOUT || corio__interrupted(t));
    if (srv->nconns) {
        cancelled = (int)srv->nconns;
        cancel_handlers(srv);
        corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
        wait_handlers(srv);
        corio_scope_exit(&sc);
    }
    free(srv);
    if (interrupted)
        return corio__interrupted(t) ? corio__interrupted(t) : rc;
    return cancelled;
}
