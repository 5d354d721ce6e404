/*
 * Simulated sockets (include/corio_sim.h, docs/simulation.md "The
 * simulated network").
 *
 * In a simulation corio_socket_open (io/socket.c) comes here: the app gets
 * one end of an AF_UNIX socketpair of the same type as a real fd, and the
 * simulation keeps the other end (the wire) in an sn_sock, hung off the
 * corio_socket's ->sim. Because the app's fd is an ordinary socket, the
 * stream layer, TLS, the servers and HTTP read and write it unchanged, and
 * its readiness comes from the loop's poller; the bytes are in the kernel
 * before the poll, so the poll sees them the same way in every run.
 *
 * Streams (TCP, and Unix stream sockets within a host): a hook on the
 * wire reads what the app wrote into segments (at most SN_WINDOW bytes in
 * flight per direction: beyond that the socketpair's buffer fills and the
 * app's writes wait, as with a real window) and gives each a delivery time
 * now + latency (+ len / bandwidth), never earlier than the segment before
 * (TCP is ordered). A corio timer per direction, armed at the head's time,
 * writes it into the peer's wire, where the peer app reads it. End of
 * stream travels as a FIN segment (shutdown of the peer's wire). A reset
 * closes a wire: the app then reads ECONNRESET once (socket.c, stream.c,
 * tls.c ask corio__simnet_eof at end of stream) and writes EPIPE.
 *
 * Connect sleeps one latency (the SYN), finds a listener on the
 * destination host, makes the accepting side's socketpair and queues it on
 * the listener (a byte written to the listener's wire makes its fd
 * readable, so accept parks on the poller like a real one), then sleeps
 * the latency back (the SYN-ACK).
 *
 * Datagrams (UDP, Unix datagram sockets) do not go through the app's fd on
 * the way out: sendto here takes them, draws loss and latency, and queues
 * them net-wide by delivery time; at delivery they are written into the
 * destination socket's wire behind a small header that carries the
 * sender's address, which recvfrom strips. Independent latencies reorder
 * them.
 *
 * Everything the relay does goes into the trace hash (corio__sn_event).
 */
#include "sim/simnet.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define SN_WINDOW (256 * 1024)
#define SN_CHUNK (16 * 1024)

/* A reset on its way to `to`. Allocated by corio__sn_send_rst, freed when it fires
 * or at corio__simnet_end. */
typedef struct sn_rst {
    struct sn_rst *next;
    corio_timer timer;
    sn_sock *to;
} sn_rst;

/* Net-wide state of this file (one simulation per thread at a time);
 * reset by corio__sn_free_socks. */
static __thread sn_rst *tls_rsts;

static int64_t now_ns(void) { return corio__clock_ns(); }

static sn_sock *of_fd(corio__fd *f) { return (sn_sock *)((char *)f - offsetof(sn_sock, wf)); }

static void want(sn_net *n, sn_sock *x, unsigned ev)
{
    x->wf.keep = ev;
    n->loop->pops->want(n->loop->poller, &x->wf.io, ev);
}

static void free_queue(sn_sock *x)
{
    sn_seg *g;
    while ((g = x->q)) {
        x->q = g->next;
        free(g);
    }
    x->qtail = NULL;
    x->qbytes = 0;
}

static void stream_fire(void *arg);

static void arm(sn_net *n, sn_sock *x, int64_t due)
{
    corio__timer_arm(n->loop, &x->timer, due, CORIO__TIMER_USER, stream_fire, x);
}

/* Closes x's two descriptors (its end of the wire and the app's end), if
 * still open. */
static void close_fds(sn_sock *x)
{
    if (x->wire >= 0) {
        corio__fd_close(&x->wf);
        close(x->wire);
        x->wire = -1;
    }
    if (x->app_fd >= 0) {
        close(x->app_fd);
        x->app_fd = -1;
    }
}

/* Closes x's wire (the app sees end of stream, or ECONNRESET if x->reset)
 * and drops what it had in flight. */
void corio__sn_kill(sn_net *n, sn_sock *x)
{
    if (x->dead)
        return;
    x->dead = 1;
    close_fds(x);
    corio__timer_disarm(&x->timer);
    free_queue(x);
    if (x->peer_ep && x->peer_ep->feeder == x)
        x->peer_ep->feeder = NULL;
    if (x->feeder) {
        /* Its delivery waited for our wire: let it find us gone. */
        sn_sock *f = x->feeder;
        x->feeder = NULL;
        f->blocked = 0;
        arm(n, f, now_ns());
    }
}

static void rst_fire(void *arg)
{
    sn_rst *r = arg, **pp;
    sn_net *n = corio__sn_get();
    for (pp = &tls_rsts; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    if (n && !r->to->dead) {
        corio__sn_event(n, "rst-in", r->to->id, 0, 0);
        r->to->reset = 1;
        corio__sn_kill(n, r->to);
    }
    free(r);
}

/* A reset from host `from` to socket to, one latency later; lost if the
 * link is cut (to is then half-open). */
void corio__sn_send_rst(sn_net *n, int from, sn_sock *to)
{
    sn_rst *r;
    if (!to || to->dead)
        return;
    if (corio__sn_cut(n, from, to->host)) {
        corio__sn_event(n, "rst-lost", to->id, 0, 0);
        return;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        to->reset = 1; /* out of memory: at once */
        corio__sn_kill(n, to);
        return;
    }
    r->to = to;
    r->next = tls_rsts;
    tls_rsts = r;
    corio_timer_init(&r->timer);
    corio__timer_arm(n->loop, &r->timer, now_ns() + corio__sn_latency(n, from, to->host),
                     CORIO__TIMER_USER, rst_fire, r);
}

/* ---- streams: the relay ---------------------------------------------------------*/

static void enqueue(sn_net *n, sn_sock *x, sn_seg *g, int kind, size_t len)
{
    int64_t now = now_ns(), base = now, due;
    sn_sock *y = x->peer_ep;
    g->kind = (uint8_t)kind;
    g->len = len;
    g->off = 0;
    g->next = NULL;
    if (n->cfg.bandwidth > 0 && len) {
        int64_t start = x->link_free > now ? x->link_free : now;
        x->link_free = start + corio__seconds_to_ns((double)len / n->cfg.bandwidth);
        base = x->link_free;
    }
    due = base + corio__sn_latency(n, x->host, y->host);
    if (due < x->last_due)
        due = x->last_due; /* TCP delivers in order */
    x->last_due = due;
    g->due = due;
    if (x->qtail)
        x->qtail->next = g;
    else
        x->q = g;
    x->qtail = g;
    x->qbytes += len;
    corio__sn_event(n, kind == SN_FIN ? "fin-out" : "seg-out", x->id, len, (uint64_t)due);
    if (!x->held && !x->blocked && !corio_timer_active(&x->timer))
        arm(n, x, x->q->due);
}

/* Reads what x's app wrote, while the window allows. */
void corio__sn_pump(sn_net *n, sn_sock *x)
{
    while (x->wire_in && !x->rd_eof && !x->dead && x->connected && x->peer_ep &&
           x->qbytes < SN_WINDOW) {
        size_t room = SN_WINDOW - x->qbytes;
        sn_seg *g = malloc(sizeof *g + (room < SN_CHUNK ? room : SN_CHUNK));
        ssize_t r;
        if (!g)
            return; /* out of memory: the app's writes wait */
        r = recv(x->wire, g->data, room < SN_CHUNK ? room : SN_CHUNK, MSG_DONTWAIT);
        if (r > 0) {
            enqueue(n, x, g, SN_DATA, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR) {
            free(g);
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            free(g);
            x->wire_in = 0;
            break;
        }
        /* 0 (or an error): the app shut its side down or closed. */
        x->rd_eof = 1;
        enqueue(n, x, g, SN_FIN, 0);
        break;
    }
}

/* A crash of x's host: its app end and wire close at once (nothing more is
 * read from the app), but what it wrote before still arrives,
 * in order, as packets on a wire do when the machine that sent them dies;
 * with reset, a reset follows them. */
void corio__sn_crash_stream(sn_net *n, sn_sock *x, int reset)
{
    sn_seg *g;
    if (x->dead)
        return;
    /* What the app handed to its kernel before the crash left the host:
     * a crash in the middle of a disk call that takes no virtual time
     * here would take milliseconds on a real disk, long enough for it. */
    x->wire_in = 1;
    corio__sn_pump(n, x);
    x->dead = 1;
    x->reset = 1;
    x->vanished = !reset;
    x->rd_eof = 1;
    close_fds(x);
    if (x->peer_ep && x->peer_ep->feeder == x)
        x->peer_ep->feeder = NULL;
    x->blocked = 0;
    if (x->feeder) {
        sn_sock *f = x->feeder;
        x->feeder = NULL;
        f->blocked = 0;
        arm(n, f, now_ns());
    }
    if (reset && x->peer_ep && !x->peer_ep->dead && (g = calloc(1, sizeof *g))) {
        x->drain = 1;
        enqueue(n, x, g, SN_RST, 0);
    } else if (x->q && x->peer_ep) {
        x->drain = 1;
        if (!x->held && !corio_timer_active(&x->timer))
            arm(n, x, x->q->due);
    } else {
        corio__timer_disarm(&x->timer);
        free_queue(x);
    }
}

static void block_on(sn_net *n, sn_sock *x, sn_sock *y)
{
    x->blocked = 1;
    y->feeder = x;
    want(n, y, CORIO__IO_IN | CORIO__IO_OUT);
}

/* A connection's end whose app has shut its side (or closed), whose bytes
 * are all delivered and whose peer has finished too is done: its wire is
 * closed now, not at the end of the simulation, so a long run does not
 * pile up fds. What the app has not read stays readable. */
static void maybe_done(sn_net *n, sn_sock *x)
{
    if (!x->dead && x->rd_eof && !x->q && x->fin_in) {
        corio__sn_event(n, "done", x->id, 0, 0);
        corio__sn_kill(n, x);
    }
}

/* Delivers x's due segments into its peer's wire. */
static void deliver(sn_net *n, sn_sock *x)
{
    sn_sock *y = x->peer_ep;
    int64_t now = now_ns();
    sn_seg *g;
    x->blocked = 0;
    while ((g = x->q) && g->due <= now && (!x->dead || x->drain)) {
        if (y && n->hosts[y->host].silent) {
            /* Its host crashed without a word: retransmitted until it
             * restarts, then answered with a reset (below). */
            x->held = 1;
            corio__sn_event(n, "held", x->id, x->qbytes, 1);
            return;
        }
        if (!y || y->dead) {
            /* Nobody there any more: the other host answers with a reset. */
            corio__sn_event(n, "seg-to-dead", x->id, g->len, 0);
            free_queue(x);
            corio__sn_send_rst(n, y ? y->host : x->host, x);
            return;
        }
        /* What a crashed host sent before it died is on the wire: only a
         * partition holds it. */
        if (x->drain ? corio__sn_partitioned(n, x->host, y->host)
                     : corio__sn_cut(n, x->host, y->host)) {
            x->held = 1; /* retransmitted after the heal */
            corio__sn_event(n, "held", x->id, x->qbytes, 0);
            return;
        }
        if (g->kind == SN_DATA) {
            ssize_t w = send(y->wire, g->data + g->off, g->len - g->off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                block_on(n, x, y); /* the peer app is not reading */
                return;
            }
            if (w < 0) {
                /* EPIPE: the peer app closed its socket; data to a closed
                 * socket is answered with a reset. */
                corio__sn_event(n, "seg-to-closed", x->id, g->len, 0);
                corio__sn_kill(n, y);
                free_queue(x);
                corio__sn_send_rst(n, y->host, x);
                return;
            }
            g->off += (size_t)w;
            if (g->off < g->len) {
                block_on(n, x, y);
                return;
            }
            corio__sn_event(n, "seg-in", y->id, g->len, (uint64_t)now);
        } else if (g->kind == SN_RST) {
            corio__sn_event(n, "rst-in", y->id, 0, (uint64_t)now);
            free_queue(x);
            y->reset = 1;
            corio__sn_kill(n, y);
            return;
        } else {
            shutdown(y->wire, SHUT_WR);
            y->fin_in = 1;
            corio__sn_event(n, "fin-in", y->id, 0, (uint64_t)now);
        }
        x->q = g->next;
        if (!x->q)
            x->qtail = NULL;
        x->qbytes -= g->len;
        free(g);
        corio__sn_pump(n, x);
        maybe_done(n, y);
        maybe_done(n, x);
        if (x->dead && !x->drain)
            return;
    }
    if (x->q && (!x->dead || x->drain) && !x->held && !x->blocked)
        arm(n, x, x->q->due);
}

static void stream_fire(void *arg)
{
    sn_net *n = corio__sn_get();
    if (n)
        deliver(n, arg);
}

static void wire_hook(corio__fd *f, unsigned events)
{
    sn_sock *x = of_fd(f);
    sn_net *n = corio__sn_get();
    if (!n || x->dead)
        return;
    if (events & CORIO__IO_OUT && x->feeder) {
        sn_sock *fd_ = x->feeder;
        x->feeder = NULL;
        want(n, x, CORIO__IO_IN);
        deliver(n, fd_);
        if (x->dead)
            return;
    }
    if (events & (CORIO__IO_IN | CORIO__IO_HUP | CORIO__IO_RDHUP | CORIO__IO_ERR)) {
        if (x->type == SOCK_STREAM) {
            x->wire_in = 1;
            corio__sn_pump(n, x);
        } else {
            char b[256]; /* a datagram app end is never written to: drop */
            while (recv(x->wire, b, sizeof b, MSG_DONTWAIT) > 0)
                ;
        }
    }
}

void corio__sn_heal_all(sn_net *n)
{
    sn_sock *x;
    for (x = n->all; x; x = x->all_next) {
        if (!x->held || (x->dead && !x->drain) || !x->peer_ep ||
            (x->drain ? corio__sn_partitioned(n, x->host, x->peer_ep->host)
                      : corio__sn_cut(n, x->host, x->peer_ep->host)))
            continue;
        x->held = 0;
        arm(n, x, now_ns() + corio__sn_latency(n, x->host, x->peer_ep->host));
    }
}

/* ---- sockets ----------------------------------------------------------------------*/

sn_sock *corio__sn_sock_new(sn_net *n, int host, int type, int family, int app_fd, int wire)
{
    sn_sock *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    if (corio__fd_open(n->loop, &x->wf, wire) < 0) {
        free(x);
        return NULL;
    }
    x->wf.hook = wire_hook;
    want(n, x, CORIO__IO_IN);
    x->id = ++n->next_id;
    x->host = host;
    x->type = type;
    x->family = family;
    x->app_fd = app_fd;
    x->wire = wire;
    corio_timer_init(&x->timer);
    x->all_next = n->all;
    n->all = x;
    return x;
}

void corio__sn_free_socks(sn_net *n)
{
    sn_sock *x;
    while ((x = n->all)) {
        n->all = x->all_next;
        if (x->wire >= 0) {
            corio__fd_close(&x->wf);
            close(x->wire);
        }
        if (x->app_fd >= 0)
            close(x->app_fd);
        corio__timer_disarm(&x->timer);
        free_queue(x);
        free(x);
    }
    corio__sn_dgram_free();
    while (tls_rsts) {
        sn_rst *r = tls_rsts;
        tls_rsts = r->next;
        corio__timer_disarm(&r->timer);
        free(r);
    }
}

int corio__simnet_open(corio_socket **sp, int domain, int type, int protocol)
{
    sn_net *n = corio__sn_get();
    sn_sock *x;
    int sv[2], rc;
    (void)protocol;
    if (!n)
        return -ENOMEM;
    if (corio__sn_task_doomed(n, corio_current()))
        return -ECANCELED; /* a task of a crashed host opens nothing */
    /* The relay relies on edge-triggered readiness (a wire it has stopped
     * reading, or whose app hung up, must not be reported again and
     * again, or virtual time would never move): epoll only. */
    if (strcmp(n->loop->pops->name, "epoll") != 0)
        return -ENOTSUP;
    type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_INET && domain != AF_INET6 && domain != AF_UNIX)
        return -EAFNOSUPPORT;
    if (type != SOCK_STREAM && type != SOCK_DGRAM)
        return -EPROTONOSUPPORT;
    if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    x = corio__sn_sock_new(n, corio__sn_task_host(n, corio_current()), type, domain, -1, sv[1]);
    if (!x) {
        close(sv[0]);
        close(sv[1]);
        return -ENOMEM;
    }
    rc = corio__socket_new(sp, sv[0], 1, type);
    if (rc < 0) {
        close(sv[0]);
        corio__sn_kill(n, x);
        return rc;
    }
    (*sp)->sim = x;
    corio__sn_event(n, "open", x->id, (uint64_t)x->host, (uint64_t)type);
    return 0;
}

/* The app closed its socket (corio_socket_close or _detach). */
void corio__simnet_closed(corio_socket *s)
{
    sn_net *n = corio__sn_get();
    sn_sock *x = s->sim, *y;
    if (!n)
        return;
    x->app_closed = 1;
    corio__sn_event(n, "close", x->id, 0, 0);
    if (x->listening) {
        /* Connections not yet accepted are reset. */
        x->listening = 0;
        while ((y = x->acc_head)) {
            x->acc_head = y->acc_next;
            if (!y->dead) {
                y->reset = 1;
                corio__sn_kill(n, y);
                corio__sn_send_rst(n, y->host, y->peer_ep);
            }
        }
        x->acc_tail = NULL;
    }
    if (!x->peer_ep)
        corio__sn_kill(n, x); /* a connection's end is told by its wire */
}

ssize_t corio__simnet_eof(corio_socket *s)
{
    sn_sock *x = s->sim;
    if (corio__sn_get() && x->reset && !x->reset_seen) {
        x->reset_seen = 1;
        return -ECONNRESET;
    }
    return 0;
}

/* ---- addresses ----------------------------------------------------------------------*/

static int unix_eq(const corio_addr *a, const corio_addr *b)
{
    const struct sockaddr_un *ua = (const void *)&a->ss, *ub = (const void *)&b->ss;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (a->ss.ss_family != AF_UNIX || b->ss.ss_family != AF_UNIX || a->len != b->len ||
        a->len <= off)
        return 0;
    return memcmp(ua->sun_path, ub->sun_path, a->len - off) == 0;
}

/* Whether a socket bound to `local` receives what is sent to `to`. */
int corio__sn_addr_match(sn_net *n, const sn_sock *x, const corio_addr *to)
{
    if (to->ss.ss_family == AF_UNIX)
        return unix_eq(&x->local, to);
    if (x->local.ss.ss_family == AF_INET6 && to->ss.ss_family == AF_INET &&
        corio__sn_is_any(&x->local))
        return corio_addr_port(&x->local) == corio_addr_port(to); /* dual stack */
    if (x->local.ss.ss_family != to->ss.ss_family ||
        corio_addr_port(&x->local) != corio_addr_port(to))
        return 0;
    if (corio__sn_is_any(&x->local))
        return 1;
    if (corio__sn_is_loopback(to))
        return corio__sn_is_loopback(&x->local);
    return corio__sn_ip_eq(&x->local, to);
}

int corio__sn_live(const sn_sock *x) { return !x->dead && !x->app_closed; }

static int port_used(sn_net *n, int host, int type, int family, int port)
{
    sn_sock *x;
    for (x = n->all; x; x = x->all_next)
        if (x->host == host && x->type == type && x->bound && corio__sn_live(x) &&
            x->local.ss.ss_family == family && corio_addr_port(&x->local) == port)
            return 1;
    return 0;
}

static int ephemeral(sn_net *n, sn_sock *x)
{
    sn_host *h = &n->hosts[x->host];
    int i;
    for (i = 0; i < 21000; i++) {
        int p = (int)h->next_port;
        h->next_port = h->next_port >= 60999 ? 40000 : h->next_port + 1;
        if (!port_used(n, x->host, x->type, x->family, p))
            return p;
    }
    return -EADDRNOTAVAIL;
}

/* Binds x to a local address for talking to `to` (NULL: any). */
int corio__sn_autobind(sn_net *n, sn_sock *x, const corio_addr *to)
{
    int i, port;
    memset(&x->local, 0, sizeof x->local);
    if (x->family == AF_UNIX) {
        x->local.ss.ss_family = AF_UNIX;
        x->local.len = sizeof(sa_family_t);
        x->bound = 1;
        return 0;
    }
    if (!to || corio__sn_is_loopback(to) || corio__sn_is_any(to)) {
        corio_addr_ip(&x->local, !to ? (x->family == AF_INET ? "0.0.0.0" : "::")
                                 : x->family == AF_INET ? "127.0.0.1" : "::1", 0);
    } else {
        for (i = 0; i < n->hosts[x->host].naddr; i++)
            if (n->hosts[x->host].addr[i].ss.ss_family == x->family)
                break;
        if (i == n->hosts[x->host].naddr)
            return -ENETUNREACH;
        x->local = n->hosts[x->host].addr[i];
    }
    port = ephemeral(n, x);
    if (port < 0)
        return port;
    corio__sn_set_port(&x->local, port);
    x->bound = 1;
    return 0;
}

int corio__simnet_bind(corio_socket *s, const corio_addr *a)
{
    sn_net *n = corio__sn_get();
    sn_sock *x = s->sim, *o;
    int port;
    if (!n)
        return -ENOMEM;
    if (corio__sn_task_doomed(n, corio_current()))
        return -ECANCELED;
    if (x->bound || x->dead)
        return -EINVAL;
    if (a->ss.ss_family != x->family)
        return -EINVAL;
    if (x->family == AF_UNIX) {
        for (o = n->all; o; o = o->all_next)
            if (o->host == x->host && o->bound && corio__sn_live(o) && unix_eq(&o->local, a))
                return -EADDRINUSE;
        x->local = *a;
        x->bound = 1;
        return 0;
    }
    if (!corio__sn_is_any(a) && !corio__sn_is_loopback(a) &&
        !corio__sn_host_has_ip(n, x->host, a))
        return -EADDRNOTAVAIL;
    x->local = *a;
    port = corio_addr_port(a);
    if (port == 0) {
        port = ephemeral(n, x);
        if (port < 0)
            return port;
        corio__sn_set_port(&x->local, port);
    } else {
        for (o = n->all; o; o = o->all_next)
            if (o->host == x->host && o->type == x->type && o->bound && corio__sn_live(o) &&
                o->local.ss.ss_family == a->ss.ss_family &&
                corio_addr_port(&o->local) == port &&
                (corio__sn_is_any(&o->local) || corio__sn_is_any(a) ||
                 memcmp(&o->local.ss, &a->ss, a->len) == 0))
                return -EADDRINUSE;
    }
    x->bound = 1;
    corio__sn_event(n, "bind", x->id, (uint64_t)port, 0);
    return 0;
}

int corio__simnet_listen(corio_socket *s, int backlog)
{
    sn_net *n = corio__sn_get();
    sn_sock *x = s->sim;
    int rc;
    (void)backlog;
    if (!n)
        return -ENOMEM;
    if (corio__sn_task_doomed(n, corio_current()))
        return -ECANCELED;
    if (x->type != SOCK_STREAM)
        return -EOPNOTSUPP;
    if (x->connected || x->dead)
        return -EINVAL;
    if (!x->bound && (rc = corio__sn_autobind(n, x, NULL)) < 0)
        return rc;
    x->listening = 1;
    corio__sn_event(n, "listen", x->id, (uint64_t)corio_addr_port(&x->local), 0);
    return 0;
}

int corio__simnet_addr(corio_socket *s, corio_addr *a, int peer)
{
    sn_sock *x = s->sim;
    if (peer) {
        if (!x->connected)
            return -ENOTCONN;
        *a = x->peer;
        return 0;
    }
    if (x->bound || x->connected) {
        *a = x->local;
        return 0;
    }
    memset(a, 0, sizeof *a);
    if (x->family == AF_UNIX) {
        a->ss.ss_family = AF_UNIX;
        a->len = sizeof(sa_family_t);
        return 0;
    }
    return corio_addr_ip(a, x->family == AF_INET ? "0.0.0.0" : "::", 0);
}

int corio__simnet_setopt(corio_socket *s, int level, int name, const void *val, socklen_t len)
{
    /* TCP and IP options mean nothing to a socketpair: accepted. */
    if (level != SOL_SOCKET || name == SO_REUSEADDR || name == SO_REUSEPORT)
        return 0;
    return setsockopt(s->fd, level, name, val, len) < 0 ? -errno : 0;
}
