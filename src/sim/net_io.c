/*
 * Simulated sockets, the calls a task makes (see net.c for the relay):
 * connect and accept (a handshake in virtual time), datagrams out and in,
 * and the faults a test injects (corio_sim_reset, _host_drop_connections).
 * io/socket.c calls these from inside its own entry checks (the socket is
 * entered, the task is not interrupted yet) when s->sim is set.
 */
#include "sim/simnet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define SN_DGRAM_MAX 65507
#define SN_SYN_GIVEUP_NS (127LL * 1000000000LL) /* Linux: 6 SYN retries */

/* What travels in front of each datagram in the receiver's wire. */
typedef struct sn_dghdr {
    corio_addr from;
} sn_dghdr;

static __thread sn_seg *tls_dq; /* datagrams in flight, by (due, seq) */
static __thread corio_timer tls_dtimer;

static int64_t now_ns(void) { return corio__clock_ns(); }

static int sleep_ns(int64_t ns) { return corio_sleep((double)ns / 1e9); }

/* ---- connect and accept -----------------------------------------------------------*/

static sn_sock *find_listener(sn_net *n, int host, const corio_addr *a)
{
    sn_sock *x;
    for (x = n->all; x; x = x->all_next)
        if (x->host == host && x->type == SOCK_STREAM && x->listening && corio__sn_live(x) &&
            corio__sn_addr_match(n, x, a))
            return x;
    return NULL;
}

/* The listener l takes a connection from x: the accepting side's
 * socketpair, queued on l until accepted. */
static int open_accepting(sn_net *n, sn_sock *l, sn_sock *x, const corio_addr *a)
{
    int sv[2];
    sn_sock *y;
    char token = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    y = corio__sn_sock_new(n, l->host, SOCK_STREAM, x->family, sv[0], sv[1]);
    if (!y) {
        close(sv[0]);
        close(sv[1]);
        return -ENOMEM;
    }
    y->local = *a;
    y->peer = x->local;
    x->peer = *a;
    x->peer_ep = y;
    y->peer_ep = x;
    x->connected = y->connected = 1;
    if (l->acc_tail)
        l->acc_tail->acc_next = y;
    else
        l->acc_head = y;
    l->acc_tail = y;
    /* One byte per queued connection makes the listener's fd readable. */
    if (send(l->wire, &token, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        return -errno;
    corio__sn_event(n, "accept-queued", x->id, y->id, l->id);
    return 0;
}

int corio__simnet_connect(corio_socket *s, const corio_addr *a)
{
    sn_net *n = corio__sn_get();
    sn_sock *x = s->sim, *l;
    int64_t rto = 1000000000LL, waited = 0, lat;
    int dst, rc;
    if (!n)
        return -ENOMEM;
    if (a->ss.ss_family != x->family)
        return -EAFNOSUPPORT;
    if (x->dead)
        return -EINVAL;
    if (x->type == SOCK_DGRAM) {
        if (!x->bound && (rc = corio__sn_autobind(n, x, a)) < 0)
            return rc;
        x->peer = *a;
        x->connected = 1;
        return 0;
    }
    if (x->listening)
        return -EINVAL;
    if (x->connected)
        return -EISCONN;
    if (!x->bound && (rc = corio__sn_autobind(n, x, a)) < 0)
        return rc;
    dst = a->ss.ss_family == AF_UNIX ? x->host : corio__sn_host_of_addr(n, a, x->host);
    corio__sn_event(n, "syn", x->id, (uint64_t)(int64_t)dst, 0);
    for (;;) {
        lat = corio__sn_latency(n, x->host, dst < 0 ? -1 : dst);
        rc = sleep_ns(lat);
        if (rc)
            return rc;
        if (dst < 0)
            return -EHOSTUNREACH; /* nothing has that address */
        if (corio__sn_cut(n, x->host, dst)) {
            /* The SYN is lost; retried after 1, 2, 4... s, as Linux does. */
            corio__sn_event(n, "syn-lost", x->id, (uint64_t)waited, 0);
            waited += rto;
            rc = sleep_ns(rto - lat > 0 ? rto - lat : 0);
            if (rc)
                return rc;
            if (waited >= SN_SYN_GIVEUP_NS)
                return -ETIMEDOUT;
            rto *= 2;
            continue;
        }
        break;
    }
    l = find_listener(n, dst, a);
    if (!l) {
        corio__sn_event(n, "refused", x->id, 0, 0);
        if (a->ss.ss_family == AF_UNIX) {
            /* No socket at that path: as if no file were there. */
            sn_sock *o;
            for (o = n->all; o; o = o->all_next)
                if (o->host == dst && o->bound && corio__sn_live(o) &&
                    corio__sn_addr_match(n, o, a))
                    return -ECONNREFUSED;
            return -ENOENT;
        }
        rc = sleep_ns(corio__sn_latency(n, dst, x->host));
        return rc ? rc : -ECONNREFUSED;
    }
    rc = open_accepting(n, l, x, a);
    if (rc < 0)
        return rc;
    x->wire_in = 1; /* whatever the app wrote early goes now */
    corio__sn_pump(n, x);
    return sleep_ns(corio__sn_latency(n, dst, x->host)); /* the SYN-ACK */
}

int corio__simnet_accept(corio_socket *s, corio_socket **connp, corio_addr *peer)
{
    sn_net *n = corio__sn_get();
    sn_sock *l = s->sim, *y;
    int rc;
    char token;
    if (!n)
        return -ENOMEM;
    if (!l->listening)
        return -EINVAL;
    for (;;) {
        while ((y = l->acc_head) && y->dead) {
            l->acc_head = y->acc_next; /* reset before it was accepted */
            if (!l->acc_head)
                l->acc_tail = NULL;
            recv(s->fd, &token, 1, MSG_DONTWAIT);
        }
        if (y)
            break;
        rc = corio__fd_wait(&s->f, CORIO__IO_IN);
        if (rc)
            return rc;
        if (!l->listening)
            return -EINVAL;
    }
    rc = corio__socket_new(connp, y->app_fd, 1, SOCK_STREAM);
    if (rc < 0)
        return rc; /* stays queued */
    l->acc_head = y->acc_next;
    if (!l->acc_head)
        l->acc_tail = NULL;
    recv(s->fd, &token, 1, MSG_DONTWAIT);
    y->app_fd = -1; /* the app's now */
    (*connp)->sim = y;
    if (peer)
        *peer = y->peer;
    corio__sn_event(n, "accept", l->id, y->id, 0);
    return 0;
}

/* ---- datagrams ---------------------------------------------------------------------*/

static void dgram_fire(void *arg);

void corio__sn_dgram_free(void)
{
    sn_seg *g;
    while ((g = tls_dq)) {
        tls_dq = g->next;
        free(g);
    }
    if (tls_dtimer.corio__loop)
        corio__timer_disarm(&tls_dtimer);
    memset(&tls_dtimer, 0, sizeof tls_dtimer);
}

static void dgram_arm(sn_net *n)
{
    if (!tls_dtimer.corio__loop)
        corio_timer_init(&tls_dtimer);
    if (tls_dq)
        corio__timer_arm(n->loop, &tls_dtimer, tls_dq->due, CORIO__TIMER_USER, dgram_fire, NULL);
}

static sn_sock *find_dgram(sn_net *n, int host, const corio_addr *to)
{
    sn_sock *x;
    for (x = n->all; x; x = x->all_next)
        if (x->host == host && x->type == SOCK_DGRAM && x->bound && corio__sn_live(x) &&
            corio__sn_addr_match(n, x, to))
            return x;
    return NULL;
}

static void dgram_fire(void *arg)
{
    sn_net *n = corio__sn_get();
    int64_t now = now_ns();
    sn_seg *g;
    (void)arg;
    if (!n)
        return;
    while ((g = tls_dq) && g->due <= now) {
        sn_sock *y;
        tls_dq = g->next;
        /* A datagram sent before its host crashed is on the wire: only a
         * partition or a silent destination loses it. */
        y = corio__sn_partitioned(n, g->src_host, g->dst_host) ||
                    corio__sn_silent(n, g->dst_host)
                ? NULL
                : find_dgram(n, g->dst_host, &g->to);
        if (!y) {
            corio__sn_event(n, "dgram-dropped", g->seq, g->len, 0);
        } else {
            sn_dghdr h;
            struct iovec iov[2];
            struct msghdr m;
            memset(&m, 0, sizeof m);
            h.from = g->from;
            iov[0].iov_base = &h;
            iov[0].iov_len = sizeof h;
            iov[1].iov_base = g->data;
            iov[1].iov_len = g->len;
            m.msg_iov = iov;
            m.msg_iovlen = 2;
            /* A full receive buffer drops it, as a real one would. */
            corio__sn_event(n, sendmsg(y->wire, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0
                                   ? "dgram-overflow" : "dgram-in",
                            y->id, g->seq, g->len);
        }
        free(g);
    }
    dgram_arm(n);
}

ssize_t corio__simnet_sendto(corio_socket *s, const void *buf, size_t len, int flags,
                             const corio_addr *to)
{
    sn_net *n = corio__sn_get();
    sn_sock *x = s->sim;
    sn_seg *g, **pp;
    int dst, rc;
    (void)flags;
    if (!n)
        return -ENOMEM;
    if (corio__sn_task_doomed(n, corio_current()))
        return -ECANCELED; /* a crashed host's task: nothing goes out */
    if (x->dead)
        return -ENETDOWN; /* its host crashed */
    if (!to || !to->len) {
        if (!x->connected)
            return -EDESTADDRREQ;
        to = &x->peer;
    }
    if (to->ss.ss_family != x->family)
        return -EAFNOSUPPORT;
    if (len > SN_DGRAM_MAX)
        return -EMSGSIZE;
    if (!x->bound && (rc = corio__sn_autobind(n, x, to)) < 0)
        return rc;
    dst = to->ss.ss_family == AF_UNIX ? x->host : corio__sn_host_of_addr(n, to, x->host);
    g = malloc(sizeof *g + len);
    if (!g)
        return -ENOMEM;
    memset(g, 0, sizeof *g);
    g->seq = ++n->seq;
    g->kind = SN_DGRAM;
    g->len = len;
    g->src_host = x->host;
    g->dst_host = dst;
    g->from = x->local;
    if (corio__sn_is_any(&g->from)) {
        /* Bound to any address: the source is the one toward `to`. */
        int i, port = corio_addr_port(&x->local);
        sn_host *h = &n->hosts[x->host];
        if (corio__sn_is_loopback(to) || dst == x->host)
            corio_addr_ip(&g->from, x->family == AF_INET ? "127.0.0.1" : "::1", port);
        for (i = 0; i < h->naddr && !corio__sn_is_loopback(to); i++)
            if (h->addr[i].ss.ss_family == x->family) {
                g->from = h->addr[i];
                corio__sn_set_port(&g->from, port);
                break;
            }
    }
    g->to = *to;
    if (len)
        memcpy(g->data, buf, len);
    if (dst < 0 || corio__sn_cut(n, x->host, dst) ||
        (n->cfg.udp_loss > 0 &&
         (double)(corio__sn_rand(n) >> 11) / 9007199254740992.0 < n->cfg.udp_loss)) {
        corio__sn_event(n, "dgram-lost", x->id, g->seq, len);
        free(g);
        return (ssize_t)len; /* UDP does not say */
    }
    g->due = now_ns() + corio__sn_latency(n, x->host, dst);
    corio__sn_event(n, "dgram-out", x->id, g->seq, (uint64_t)g->due);
    for (pp = &tls_dq; *pp && (*pp)->due <= g->due; pp = &(*pp)->next)
        ;
    g->next = *pp;
    *pp = g;
    if (tls_dq == g)
        dgram_arm(n);
    return (ssize_t)len;
}

ssize_t corio__simnet_recvfrom(corio_socket *s, void *buf, size_t len, int flags,
                               corio_addr *from)
{
    for (;;) {
        sn_dghdr h;
        struct iovec iov[2];
        struct msghdr m;
        ssize_t r;
        memset(&m, 0, sizeof m);
        iov[0].iov_base = &h;
        iov[0].iov_len = sizeof h;
        iov[1].iov_base = buf;
        iov[1].iov_len = len;
        m.msg_iov = iov;
        m.msg_iovlen = 2;
        r = recvmsg(s->fd, &m, flags | MSG_DONTWAIT);
        if (r >= 0) {
            if ((size_t)r < sizeof h)
                return 0;
            if (from)
                *from = h.from;
            return r - (ssize_t)sizeof h;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        r = corio__fd_wait(&s->f, CORIO__IO_IN);
        if (r)
            return r;
    }
}

/* ---- faults -----------------------------------------------------------------------*/

int corio_sim_reset(corio_socket *s)
{
    sn_net *n = corio__sn_get();
    sn_sock *x;
    if (!n)
        return -EPERM;
    if (!s || !s->sim)
        return -ENOTCONN;
    x = s->sim;
    if (x->type != SOCK_STREAM || !x->peer_ep || x->dead)
        return -ENOTCONN;
    corio__sn_event(n, "reset", x->id, x->peer_ep->id, 0);
    x->reset = 1;
    corio__sn_kill(n, x);
    corio__sn_send_rst(n, x->host, x->peer_ep);
    return 0;
}

int corio_sim_host_drop_connections(int host)
{
    sn_net *n = corio__sn_get();
    sn_sock *x;
    int count = 0;
    if (!n)
        return corio__tls_loop && corio__tls_loop->sim ? -ENOMEM : -EPERM;
    if (host < 0 || host >= n->nhosts)
        return -EINVAL;
    for (x = n->all; x; x = x->all_next) {
        if (x->host != host || x->type != SOCK_STREAM || !x->peer_ep || x->dead)
            continue;
        x->vanished = 1;
        x->reset = 1;
        corio__sn_kill(n, x);
        count++;
    }
    corio__sn_event(n, "drop-connections", (uint64_t)host, (uint64_t)count, 0);
    return count;
}

/* A crash of host (crash.c): every socket of the host dies. With reset,
 * each connection's peer gets a reset one latency later (the host's kernel
 * lived on); without, nobody is told (crash.c makes the host silent).
 * Connections queued on its listeners die with them. Returns how many
 * sockets died. */
int corio__sn_crash_socks(sn_net *n, int host, int reset)
{
    sn_sock *x;
    int count = 0;
    for (x = n->all; x; x = x->all_next) {
        if (x->host != host || x->dead)
            continue;
        if (x->type == SOCK_STREAM && x->peer_ep) {
            corio__sn_crash_stream(n, x, reset);
        } else {
            corio__sn_kill(n, x);
        }
        x->listening = 0;
        count++;
    }
    return count;
}
