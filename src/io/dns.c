/*
 * DNS without blocking the loop: c-ares, driven by corio's poller.
 *
 * Each corio_resolve call makes its own c-ares channel (reading
 * resolv.conf and the hosts file, as getaddrinfo does), so no resolver
 * state outlives the call or crosses loops. c-ares tells us which sockets
 * it opens and closes (ARES_OPT_SOCK_STATE_CB); each one is registered with
 * the loop as a corio__fd whose hook runs ares_process_fd on readiness,
 * on the loop's stack, and wakes the resolving task once the answer is in.
 * The task itself parks with a deadline at c-ares' next timeout, so
 * retransmissions happen on time, and under the caller's scopes, so a
 * timeout or a cancellation abandons the query at once (ares_cancel, then
 * the channel and its sockets are destroyed).
 *
 * The poller is edge-triggered and c-ares may read one TCP segment per
 * call, so the hook keeps calling ares_process_fd while a zero-timeout
 * poll(2) says the socket is still readable.
 */
#include "io/net.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CORIO_HAVE_CARES
#include <ares.h>

/* What a task parked here waits on, for dumps and reports. */
static const corio__waitable wait_dns = {"DNS query", CORIO_WAIT_IO, NULL};

typedef struct dns_query dns_query;

/* One socket c-ares opened. When c-ares closes it, it moves to the dead
 * list (its corio__fd may be inside its own hook right then) and is freed
 * when the query ends. */
typedef struct dns_sock {
    corio__fd f;
    dns_query *q;
    int fd;
    struct dns_sock *next;
} dns_sock;

/* Allocated by corio_resolve_ex for one call (heap, not the task's stack:
 * the hooks reach it from the loop's stack). */
struct dns_query {
    ares_channel ch;
    corio_task *task;       /* parked waiting for the answer, or NULL */
    dns_sock *socks;        /* registered sockets */
    dns_sock *dead;         /* closed by c-ares, freed at the end */
    int done;
    int status;             /* ARES_* */
    struct ares_addrinfo *res;
    corio_loop *loop;
};

static int map_ares(int st)
{
    switch (st) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
        return CORIO_ENOTFOUND;
    case ARES_ETIMEOUT:
        return -ETIMEDOUT;
    case ARES_ECONNREFUSED:
        return -ECONNREFUSED;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ARES_EBADNAME:
    case ARES_EBADFAMILY:
    case ARES_EBADFLAGS:
        return -EINVAL;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return -ECANCELED;
    default:
        return -EIO;
    }
}

static void dns_hook(corio__fd *f, unsigned events)
{
    dns_sock *s = corio__container_of(f, dns_sock, f);
    dns_query *q = s->q;
    int fd = s->fd, rounds;
    int r = (events & (CORIO__IO_IN | CORIO__IO_ERR | CORIO__IO_HUP)) != 0;
    int w = (events & CORIO__IO_OUT) != 0;
    ares_process_fd(q->ch, r ? fd : ARES_SOCKET_BAD, w ? fd : ARES_SOCKET_BAD);
    for (rounds = 0; r && !q->done && rounds < 64; rounds++) {
        struct pollfd p = {fd, POLLIN, 0};
        dns_sock *k;
        for (k = q->socks; k && k->fd != fd; k = k->next)
            ;
        if (!k || poll(&p, 1, 0) != 1)
            break;
        ares_process_fd(q->ch, fd, ARES_SOCKET_BAD);
    }
    /* Level-triggered backends (poll) stop asking after a report: ask
     * again for what c-ares wants, unless the socket is gone. */
    if (s->f.registered)
        q->loop->pops->want(q->loop->poller, &s->f.io, s->f.keep);
    if (q->done && q->task)
        corio__wake(q->task, 0);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    dns_query *q = data;
    dns_sock **pp, *s;
    for (pp = &q->socks; *pp && (*pp)->fd != fd; pp = &(*pp)->next)
        ;
    s = *pp;
    if (!readable && !writable) {
        if (s) {
            *pp = s->next;
            corio__fd_close(&s->f);
            s->next = q->dead;
            q->dead = s;
        }
        return;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return; /* the query will time out in c-ares */
        s->q = q;
        s->fd = fd;
        if (corio__fd_open(q->loop, &s->f, fd) < 0) {
            free(s);
            return;
        }
        s->f.hook = dns_hook;
        s->next = q->socks;
        q->socks = s;
    }
    /* epoll is armed for IN|OUT already; poll asks for what is wanted. */
    s->f.keep = (readable ? CORIO__IO_IN : 0) | (writable ? CORIO__IO_OUT : 0);
    q->loop->pops->want(q->loop->poller, &s->f.io, s->f.keep);
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    dns_query *q = arg;
    (void)timeouts;
    q->done = 1;
    q->status = status;
    q->res = res;
}

int corio_resolve_ex(const char *host, int port, int family, corio_addr *addrs,
                     size_t max, const corio_resolve_opts *o)
{
    corio_task *t = corio_current();
    struct ares_options opts;
    struct ares_addrinfo_hints hints;
    struct ares_addrinfo_node *n;
    dns_query *q;
    char service[16];
    int rc, count = 0, mask;

    if (!t)
        return -EPERM;
    if (CORIO__UNLIKELY(corio__task_loop(t)->sim != NULL))
        return corio__simnet_resolve(host, port, family, addrs, max); /* hosts */
    if (!host || !addrs || max == 0 || port < 0 || port > 65535)
        return -EINVAL;
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        return -EINVAL;
    rc = corio__interrupted(t);
    if (rc)
        return rc;
    q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->loop = corio__task_loop(t);
    memset(&opts, 0, sizeof opts);
    opts.sock_state_cb = sock_state;
    opts.sock_state_cb_data = q;
    mask = ARES_OPT_SOCK_STATE_CB;
    if (o && o->attempt_timeout > 0) {
        opts.timeout = (int)(o->attempt_timeout * 1000);
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (o && o->tries > 0) {
        opts.tries = o->tries;
        mask |= ARES_OPT_TRIES;
    }
    rc = ares_init_options(&q->ch, &opts, mask);
    if (rc != ARES_SUCCESS) {
        free(q);
        return map_ares(rc);
    }
    if (o && o->servers) {
        rc = ares_set_servers_ports_csv(q->ch, o->servers);
        if (rc != ARES_SUCCESS) {
            ares_destroy(q->ch);
            free(q);
            return -EINVAL;
        }
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NUMERICSERV | ARES_AI_NOSORT;
    snprintf(service, sizeof service, "%d", port);
    ares_getaddrinfo(q->ch, host, service, &hints, on_answer, q);

    rc = 0;
    while (!q->done) {
        struct timeval tv, *tvp;
        corio_scope sc;
        int expired = 0;
        tvp = ares_timeout(q->ch, NULL, &tv);
        if (tvp)
            corio_scope_enter(&sc, (double)tv.tv_sec + tv.tv_usec / 1e6, 0);
        q->task = t;
        corio__task_loop(t)->io_waiters++; /* the loop must poll for our sockets */
        rc = corio__park(t, &wait_dns, q);
        corio__task_loop(t)->io_waiters--;
        q->task = NULL;
        if (tvp)
            expired = corio_scope_exit(&sc) == 1;
        if (rc == -ETIMEDOUT && expired && !corio__interrupted(t)) {
            /* c-ares' own timeout: let it retransmit or give up. */
            ares_process_fd(q->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            rc = 0;
            continue;
        }
        if (rc)
            break;
    }
    if (!q->done)
        ares_cancel(q->ch); /* calls on_answer with ARES_ECANCELLED */
    if (!rc) {
        rc = map_ares(q->status);
        for (n = q->res ? q->res->nodes : NULL; !rc && n && (size_t)count < max;
             n = n->ai_next) {
            if ((size_t)n->ai_addrlen > sizeof addrs[count].ss)
                continue;
            memset(&addrs[count], 0, sizeof addrs[count]);
            memcpy(&addrs[count].ss, n->ai_addr, n->ai_addrlen);
            addrs[count].len = (socklen_t)n->ai_addrlen;
            count++;
        }
        if (!rc && count == 0)
            rc = CORIO_ENOTFOUND;
    }
    if (q->res)
        ares_freeaddrinfo(q->res);
    ares_destroy(q->ch); /* closes its sockets: sock_state deregisters them */
    while (q->socks) {
        dns_sock *s = q->socks;
        q->socks = s->next;
        corio__fd_close(&s->f);
        free(s);
    }
    while (q->dead) {
        dns_sock *s = q->dead;
        q->dead = s->next;
        free(s);
    }
    free(q);
    return rc ? rc : count;
}

#else /* !CORIO_HAVE_CARES */

int corio_resolve_ex(const char *host, int port, int family, corio_addr *addrs,
                     size_t max, const corio_resolve_opts *o)
{
    corio_task *t = corio_current();
    (void)o;
    if (t && corio__task_loop(t)->sim != NULL)
        return corio__simnet_resolve(host, port, family, addrs, max);
    (void)host, (void)port, (void)family, (void)addrs, (void)max;
    return t ? -ENOTSUP : -EPERM;
}

#endif

int corio_resolve(const char *host, int port, int family, corio_addr *addrs,
                  size_t max)
{
    return corio_resolve_ex(host, port, family, addrs, max, NULL);
}
