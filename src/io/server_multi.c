/*
 * Servers on every loop of a corio_run_multi runtime: one SO_REUSEPORT
 * listener per loop, each with its own corio_server (accept loop and
 * handler tasks) on that loop, so a connection is accepted and served on
 * one loop and never crosses. The kernel spreads new connections over the
 * listeners by a hash of the 4-tuple.
 *
 * Each loop's server lives in a task spawned there (corio_spawn_on) that
 * starts it, reports the port (or the error) on a cross-loop channel,
 * sleeps until cancelled, and then closes it with the caller's grace
 * period. The first listener is bound first, so port 0 picks one port that
 * every other loop then binds too.
 *
 * CORIO_SERVER_ONE_ACCEPTOR: one listener instead, on the calling loop,
 * whose accept task hands each connection's fd to a loop chosen
 * round-robin (or, with CORIO_SERVER_LEAST_BUSY, the loop with the fewest
 * open connections of this server: each slot's `open`, incremented by the
 * acceptor at the hand-off and decremented by that loop when the
 * connection ends, so a burst of connections accepted before any loop ran
 * is spread at once) through that loop's feed channel. A feeder task on every
 * loop receives fds and runs one handler task per connection there; it
 * tracks them (a list, as corio_server does) so that the close can wait
 * for them within the grace period and cancel the rest. The fd crosses as
 * a plain int: nothing of one loop's (no corio_socket) moves to another.
 *
 * Both modes count the connections each loop served (corio_mserver_served),
 * in a slot per loop written only by that loop.
 *
 * max_connections is the limit of the whole server in both modes.
 *  - REUSEPORT: each loop's corio_server gets a share (max / N, the
 *    remainder to the first loops; with max < N only max loops listen), so
 *    the shares add up to max. A loop at its share pauses its own accepting
 *    even while another has room: the kernel's hash, not corio, picks the
 *    listener of a new connection.
 *  - ONE_ACCEPTOR: `live` counts the connections handed out and not yet
 *    ended, on every loop. Only the acceptor increments it, and only after
 *    it saw live < max, so live never exceeds max. At the limit the acceptor
 *    waits on `room`, a one-slot channel: the connection whose end takes
 *    live from max to max - 1 rings it (try_send; a token already there
 *    serves as well). The acceptor re-checks live after every ring, so a
 *    stale token only costs a loop around. No lock on a connection's path:
 *    one atomic decrement, and the ring only at the limit.
 */
#include "core/internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FEED_CAPACITY 1024
#define TLS_HANDSHAKE_TIMEOUT 10.0

static const corio__waitable wait_feed = {"server feeder", CORIO_WAIT_OTHER, NULL};

/* One loop's part, on a line of its own (written once or twice per
 * connection, never per request). */
typedef struct ms_slot {
    _Alignas(64) atomic_size_t served; /* written by that loop only */
    corio_xchan *feed;                 /* ONE_ACCEPTOR: fds for this loop */
    atomic_size_t open;                /* ONE_ACCEPTOR: handed here and not
                                          ended; the acceptor adds, that
                                          loop subtracts */
} ms_slot;

/* ONE_ACCEPTOR's connection count, on a line of its own: decremented on
 * every loop, incremented by the acceptor only. */
typedef struct ms_live {
    _Alignas(64) atomic_size_t n;
} ms_live;

/* Allocated by corio_server_start_all, freed by corio_mserver_close. */
struct corio_mserver {
    unsigned n;            /* listeners started */
    corio_xtask **tasks;   /* one per loop */
    corio_xchan *ready;    /* each task's start result: port or error */
    char *host;            /* NULL: all addresses */
    int port;
    corio_server_handler handler;
    void *arg;
    corio_server_opts opts;
    double grace;          /* written before the cancels that read it */
    unsigned nloops;
    ms_slot *slots;        /* nloops, cache-line aligned */
    int one;               /* ONE_ACCEPTOR */
    corio_xtask *acceptor; /* ONE_ACCEPTOR: the accept task (caller's loop) */
    corio_socket *lsock;   /* ONE_ACCEPTOR: the listener, owned by acceptor */
    ms_live *live;         /* ONE_ACCEPTOR: connections handed out, alive */
    corio_xchan *room;     /* ONE_ACCEPTOR with max_connections: rung when
                              live drops below the limit */
    unsigned rr;           /* ONE_ACCEPTOR | LEAST_BUSY: tie-break cursor */
};

/* ONE_ACCEPTOR: a connection handed to loop idx has ended (or was never
 * served). */
static void conn_ended(corio_mserver *ms, int idx)
{
    size_t was;
    atomic_fetch_sub_explicit(&ms->slots[idx].open, 1, memory_order_relaxed);
    was = atomic_fetch_sub_explicit(&ms->live->n, 1, memory_order_acq_rel);
    if (ms->room && was == ms->opts.max_connections)
        (void)corio_xchan_try_send(ms->room, NULL); /* full: already rung */
}

/* REUSEPORT: loop i's share of max_connections (0: no limit). */
static size_t share_of(const corio_mserver *ms, unsigned i)
{
    size_t max = ms->opts.max_connections;
    if (!max)
        return 0;
    return max / ms->nloops + (i < max % ms->nloops ? 1 : 0);
}

/* Every connection passes here, on the loop that serves it. */
static void count_served(corio_mserver *ms)
{
    atomic_size_t *c = &ms->slots[corio_loop_index(NULL)].served;
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void counting_handler(corio_stream *s, void *arg)
{
    corio_mserver *ms = arg;
    count_served(ms);
    ms->handler(s, ms->arg);
}

static void *serve_here(void *arg)
{
    corio_mserver *ms = arg;
    corio_server *srv;
    corio_scope sh;
    corio_server_opts o = ms->opts;
    int rc;
    o.max_connections = share_of(ms, (unsigned)corio_loop_index(NULL));
    rc = corio_server_start(&srv, ms->host, ms->port, counting_handler, ms, &o);
    if (rc < 0) {
        corio_xchan_send(ms->ready, (void *)(intptr_t)rc);
        return corio_fail(rc);
    }
    rc = corio_xchan_send(ms->ready, (void *)(intptr_t)corio_server_port(srv));
    if (rc == 0)
        while (corio_sleep(3600) == 0) /* until corio_mserver_close cancels */
            ;
    /* Close with the caller's grace, not at once as a cancelled caller
     * would: the shield hides our cancellation from the close. */
    corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
    rc = corio_server_close(srv, ms->grace);
    corio_scope_exit(&sh);
    return (void *)(intptr_t)(rc > 0 ? rc : 0);
}

/* ---- one acceptor ----------------------------------------------------------*/

/* A feeder's connections, on its stack. */
typedef struct feeder {
    corio_mserver *ms;
    corio__list conns;
    size_t nconns;
    corio_task *closer;   /* parked until nconns == 0, or NULL */
} feeder;

/* One connection on a feeder's loop; freed by its handler task. */
typedef struct fconn {
    corio__list node;
    feeder *fd_owner;
    corio_stream *stream;
    corio_task *task;
} fconn;

static void *fconn_main(void *arg)
{
    fconn *c = arg;
    feeder *fe = c->fd_owner;
    corio_mserver *ms = fe->ms;
    int rc = 0;
    if (ms->opts.tls) {
        corio_scope sc;
        corio_scope_enter(&sc, TLS_HANDSHAKE_TIMEOUT, 0);
        rc = corio_stream_starttls(c->stream, ms->opts.tls, NULL);
        corio_scope_exit(&sc);
    }
    if (rc == 0) {
        count_served(ms);
        ms->handler(c->stream, ms->arg);
        corio_stream_close(c->stream);
    } else {
        corio_stream_abort(c->stream);
    }
    corio__list_remove(&c->node);
    free(c);
    conn_ended(ms, corio_loop_index(NULL)); /* before the feeder ends (and ms) */
    if (--fe->nconns == 0 && fe->closer)
        corio__wake(fe->closer, 0);
    return NULL;
}

/* Starts a handler task for fd on this loop; closes fd on failure. */
static void feed_one(feeder *fe, int fd)
{
    corio_spawn_opts o;
    corio_socket *k = NULL;
    fconn *c = calloc(1, sizeof *c);
    if (!c || corio_socket_wrap(&k, fd) != 0) {
        free(c);
        close(fd);
        conn_ended(fe->ms, corio_loop_index(NULL));
        return;
    }
    if (corio_stream_open_socket(&c->stream, k) != 0) {
        corio_socket_close(k);
        free(c);
        conn_ended(fe->ms, corio_loop_index(NULL));
        return;
    }
    memset(&o, 0, sizeof o);
    o.name = "conn";
    o.stack_size = fe->ms->opts.stack_size;
    c->fd_owner = fe;
    if (corio_spawn_ex(&c->task, fconn_main, c, &o) != 0) {
        corio_stream_abort(c->stream);
        free(c);
        conn_ended(fe->ms, corio_loop_index(NULL));
        return;
    }
    corio__list_push_back(&fe->conns, &c->node);
    fe->nconns++;
    corio_detach(c->task);
}

/* Waits (uninterruptibly: the caller is shielded) until every connection
 * of fe has ended. */
static void feeder_drain(feeder *fe)
{
    corio_task *t = corio_current();
    while (fe->nconns) {
        fe->closer = t;
        (void)corio__park(t, &wait_feed, fe);
        fe->closer = NULL;
    }
}

/* The feeder of one loop: handler tasks for the fds the acceptor sends,
 * until corio_mserver_close cancels it; then the grace period. */
static void *feed_here(void *arg)
{
    corio_mserver *ms = arg;
    ms_slot *sl = &ms->slots[corio_loop_index(NULL)];
    feeder fe;
    corio_scope sh, sc;
    corio__list *n;
    int cancelled = 0;
    void *v;
    memset(&fe, 0, sizeof fe);
    fe.ms = ms;
    corio__list_init(&fe.conns);
    while (corio_xchan_recv(sl->feed, &v) == 0)
        feed_one(&fe, (int)(intptr_t)v);
    /* Closing: fds still in the channel are not served. */
    while (corio_xchan_try_recv(sl->feed, &v) == 0) {
        close((int)(intptr_t)v);
        conn_ended(ms, corio_loop_index(NULL));
    }
    corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
    if (fe.nconns && ms->grace != 0) {
        int rc;
        corio_task *t = corio_current();
        corio_scope_enter(&sc, ms->grace, 0);
        while (fe.nconns) {
            fe.closer = t;
            rc = corio__park(t, &wait_feed, &fe);
            fe.closer = NULL;
            if (rc)
                break; /* the grace period ended */
        }
        corio_scope_exit(&sc);
    }
    for (n = fe.conns.next; n != &fe.conns; n = n->next) {
        corio_cancel(corio__container_of(n, fconn, node)->task);
        cancelled++;
    }
    feeder_drain(&fe);
    corio_scope_exit(&sh);
    return (void *)(intptr_t)cancelled;
}

/* ONE_ACCEPTOR with max_connections: waits until fewer than max
 * connections are alive. 0, or the acceptor's interruption. */
static int wait_room(corio_mserver *ms)
{
    while (atomic_load_explicit(&ms->live->n, memory_order_acquire) >=
           ms->opts.max_connections) {
        void *v;
        int rc = corio_xchan_recv(ms->room, &v);
        if (rc)
            return rc;
    }
    return 0;
}

/* LEAST_BUSY: the loop with the fewest open connections of this server;
 * ties go round-robin. Reads n lines, each written once per connection. */
static int least_open(corio_mserver *ms)
{
    unsigned k, start = ms->rr++ % ms->nloops, best = start;
    size_t best_open = (size_t)-1;
    for (k = 0; k < ms->nloops; k++) {
        unsigned i = (start + k) % ms->nloops;
        size_t o = atomic_load_explicit(&ms->slots[i].open, memory_order_relaxed);
        if (o < best_open) {
            best_open = o;
            best = i;
        }
    }
    return (int)best;
}

/* The one accept loop, on the calling loop: hands every connection's fd
 * to a loop's feeder. */
static void *accept_here(void *arg)
{
    corio_mserver *ms = arg;
    int least = (ms->opts.flags & CORIO_SERVER_LEAST_BUSY) != 0;
    for (;;) {
        corio_socket *k;
        int fd, rc, to;
        if (ms->room && wait_room(ms) != 0)
            break; /* cancelled (close) */
        rc = corio_socket_accept(ms->lsock, &k, NULL);
        if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
            if (corio_sleep(0.1) != 0)
                break;
            continue;
        }
        if (rc)
            break; /* cancelled (close), or the listener failed */
        if (ms->opts.flags & CORIO_SERVER_NODELAY)
            corio_socket_setopt_int(k, IPPROTO_TCP, TCP_NODELAY, 1);
        fd = corio_socket_detach(k);
        if (fd < 0)
            continue;
        to = least ? least_open(ms)
                   : corio_loop_index(corio_loop_pick(CORIO_PICK_ROUND_ROBIN));
        /* Counted before the hand-off: the feeder may end it at once. */
        atomic_fetch_add_explicit(&ms->live->n, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ms->slots[to].open, 1, memory_order_relaxed);
        /* Backpressure: a full feed parks the acceptor. */
        if (corio_xchan_send(ms->slots[to].feed, (void *)(intptr_t)fd) != 0) {
            close(fd);
            conn_ended(ms, to);
            break;
        }
    }
    return NULL;
}

static int start_one_acceptor(corio_mserver *ms)
{
    unsigned i;
    corio_addr a;
    int rc = corio_tcp_listen(&ms->lsock, ms->host, ms->port, ms->opts.backlog, 0);
    if (rc < 0)
        return rc;
    rc = corio_socket_local_addr(ms->lsock, &a);
    if (rc < 0)
        return rc;
    ms->port = corio_addr_port(&a);
    for (i = 0; i < ms->nloops; i++) {
        rc = corio_spawn_on(&ms->tasks[i], corio_loop_get(i), feed_here, ms);
        if (rc < 0)
            return rc;
        ms->n++;
    }
    return corio_spawn_on(&ms->acceptor, corio_loop_current(), accept_here, ms);
}

/* Starts the listener of loop i and waits for its result. */
static int start_one(corio_mserver *ms, unsigned i)
{
    void *v = NULL;
    int rc = corio_spawn_on(&ms->tasks[i], corio_loop_get(i), serve_here, ms);
    if (rc < 0)
        return rc;
    ms->n++;
    rc = corio_xchan_recv(ms->ready, &v);
    if (rc < 0)
        return rc;
    return (int)(intptr_t)v;
}

int corio_server_start_all(corio_mserver **msp, const char *host, int port,
                           corio_server_handler handler, void *arg,
                           const corio_server_opts *opts)
{
    corio_mserver *ms;
    unsigned i, n = corio_loop_count();
    int rc;
    if (!msp)
        return -EINVAL;
    *msp = NULL;
    if (!n || !corio_current())
        return -EPERM;
    if (!handler || port < 0 || port > 65535)
        return -EINVAL;
    if (opts && (opts->flags & CORIO_SERVER_LEAST_BUSY) &&
        !(opts->flags & CORIO_SERVER_ONE_ACCEPTOR))
        return -EINVAL;
    ms = calloc(1, sizeof *ms);
    if (!ms)
        return -ENOMEM;
    ms->tasks = calloc(n, sizeof *ms->tasks);
    ms->slots = aligned_alloc(64, n * sizeof *ms->slots);
    if (!ms->tasks || !ms->slots || (host && !(ms->host = strdup(host))) ||
        corio_xchan_create(&ms->ready, 1, 0) < 0) {
        free(ms->tasks);
        free(ms->slots);
        free(ms->host);
        free(ms);
        return -ENOMEM;
    }
    memset(ms->slots, 0, n * sizeof *ms->slots);
    ms->nloops = n;
    if (opts)
        ms->opts = *opts;
    ms->one = (ms->opts.flags & CORIO_SERVER_ONE_ACCEPTOR) != 0;
    if (!ms->one)
        ms->opts.flags |= CORIO_SERVER_REUSEPORT;
    ms->port = port;
    ms->handler = handler;
    ms->arg = arg;
    if (ms->one) {
        ms->live = aligned_alloc(64, sizeof *ms->live);
        if (!ms->live || (ms->opts.max_connections &&
                          corio_xchan_create(&ms->room, 1, 0) < 0)) {
            corio_mserver_close(ms, 0);
            return -ENOMEM;
        }
        atomic_init(&ms->live->n, 0);
        for (i = 0; i < n; i++)
            if (corio_xchan_create(&ms->slots[i].feed, FEED_CAPACITY, 0) < 0) {
                corio_mserver_close(ms, 0);
                return -ENOMEM;
            }
        rc = start_one_acceptor(ms);
        if (rc < 0) {
            corio_mserver_close(ms, 0);
            return rc;
        }
        *msp = ms;
        return 0;
    }
    /* With a limit below the loop count, only that many loops listen: each
     * takes one connection at a time (share_of). */
    if (ms->opts.max_connections && ms->opts.max_connections < n)
        n = (unsigned)ms->opts.max_connections;
    for (i = 0; i < n; i++) {
        rc = start_one(ms, i);
        if (rc < 0) {
            corio_mserver_close(ms, 0);
            return rc;
        }
        ms->port = rc; /* port 0: the first listener's choice, for all */
    }
    *msp = ms;
    return 0;
}

int corio_mserver_port(const corio_mserver *ms)
{
    return ms ? ms->port : -EINVAL;
}

long corio_mserver_served(const corio_mserver *ms, unsigned index)
{
    if (!ms || index >= ms->nloops)
        return -EINVAL;
    return (long)atomic_load_explicit(&((corio_mserver *)ms)->slots[index].served,
                                      memory_order_relaxed);
}

int corio_mserver_close(corio_mserver *ms, double grace)
{
    unsigned i;
    int total = 0;
    if (!ms)
        return -EINVAL;
    if (!corio_current())
        return -EPERM;
    ms->grace = grace;
    if (ms->acceptor) {
        /* One acceptor: stop accepting first, then the feeders. */
        corio_scope sh;
        corio_xtask_cancel(ms->acceptor);
        corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
        (void)corio_xtask_await(ms->acceptor, NULL, 0);
        corio_scope_exit(&sh);
    }
    if (ms->lsock)
        corio_socket_close(ms->lsock);
    for (i = 0; i < ms->n; i++)
        corio_xtask_cancel(ms->tasks[i]);
    for (i = 0; i < ms->n; i++) {
        void *v = NULL;
        /* Shielded: the servers are closed even if we are cancelled. */
        corio_scope sh;
        corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
        if (corio_xtask_await(ms->tasks[i], &v, 0) == -ECANCELED && v)
            total += (int)(intptr_t)v;
        corio_scope_exit(&sh);
    }
    for (i = 0; i < ms->nloops; i++)
        corio_xchan_destroy(ms->slots[i].feed);
    corio_xchan_destroy(ms->room);
    free(ms->live);
    free(ms->slots);
    corio_xchan_destroy(ms->ready);
    free(ms->tasks);
    free(ms->host);
    free(ms);
    return total;
}
