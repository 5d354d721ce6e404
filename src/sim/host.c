/*
 * Simulated hosts (include/corio_sim.h, "the simulated network"): names
 * and addresses, which host a task lives on, partitions between hosts,
 * the network's configuration and its seeded random stream, and name
 * resolution against the hosts.
 *
 * The state (sn_net) is per simulation run: made at first use on the
 * simulated loop's thread (a thread-local: one simulation runs on a thread
 * at a time), freed by corio__simnet_end, which corio_sim_run calls
 * before it closes the loop.
 */
#include "sim/simnet.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static __thread sn_net *tls_net;

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t corio__sn_rand(sn_net *n) { return splitmix(&n->rng); }

static int add_host(sn_net *n, const char *name)
{
    if (n->nhosts == n->hosts_cap) {
        int cap = n->hosts_cap ? 2 * n->hosts_cap : 8;
        sn_host *h = realloc(n->hosts, (size_t)cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        n->hosts = h;
        n->hosts_cap = cap;
    }
    memset(&n->hosts[n->nhosts], 0, sizeof n->hosts[0]);
    snprintf(n->hosts[n->nhosts].name, SN_HOST_NAME, "%s", name);
    n->hosts[n->nhosts].next_port = 40000;
    n->hosts[n->nhosts].inc = 1;
    return n->nhosts++;
}

sn_net *corio__sn_get(void)
{
    corio_loop *loop = corio__tls_loop;
    sn_net *n;
    if (!loop || !loop->sim)
        return NULL;
    if (tls_net)
        return tls_net;
    n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->loop = loop;
    n->rng = corio_sim_seed() ^ 0x4E37u;
    n->cfg.latency_min = 0.0005;
    n->cfg.latency_max = 0.001;
    n->tracing = getenv("CORIO_SIM_TRACE") && *getenv("CORIO_SIM_TRACE") == '1';
    if (add_host(n, "localhost") < 0) {
        free(n);
        return NULL;
    }
    tls_net = n;
    return n;
}

sn_net *corio__sn_peek(void) { return tls_net; }

void corio__simnet_end(void)
{
    sn_net *n = tls_net;
    if (!n)
        return;
    corio__sn_free_socks(n);
    free(n->hosts);
    free(n->cut);
    free(n->tkeys);
    free(n->tvals);
    free(n);
    tls_net = NULL;
}

void corio__sn_event(sn_net *n, const char *what, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t ev[4];
    size_t i;
    ev[0] = 0;
    for (i = 0; what[i]; i++)
        ev[0] = ev[0] * 131 + (unsigned char)what[i];
    ev[1] = a;
    ev[2] = b;
    ev[3] = c;
    corio_sim_trace(ev, sizeof ev);
    if (n->tracing)
        fprintf(stderr, "simnet t=%.6f %s %llu %llu %llu\n", corio_now() - 1000.0, what,
                (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
}

int64_t corio__sn_latency(sn_net *n, int a, int b)
{
    double lo = n->cfg.latency_min, hi = n->cfg.latency_max, f;
    if (a == b)
        return 0; /* loopback */
    f = (double)(corio__sn_rand(n) >> 11) / 9007199254740992.0; /* [0, 1) */
    return corio__seconds_to_ns(lo + (hi - lo) * f);
}

/* ---- which host a task lives on ---------------------------------------------*/

static int map_put(sn_net *n, uint64_t id, sn_where w)
{
    size_t i;
    if (2 * (n->tn + 1) > n->tcap) {
        size_t cap = n->tcap ? 2 * n->tcap : 64, j;
        uint64_t *k = calloc(cap, sizeof *k);
        sn_where *v = calloc(cap, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return -ENOMEM;
        }
        for (j = 0; j < n->tcap; j++) {
            if (!n->tkeys[j])
                continue;
            for (i = (size_t)((n->tkeys[j] * 0x9E3779B97F4A7C15ULL) & (cap - 1)); k[i];
                 i = (i + 1) & (cap - 1))
                ;
            k[i] = n->tkeys[j];
            v[i] = n->tvals[j];
        }
        free(n->tkeys);
        free(n->tvals);
        n->tkeys = k;
        n->tvals = v;
        n->tcap = cap;
    }
    for (i = (size_t)((id * 0x9E3779B97F4A7C15ULL) & (n->tcap - 1)); n->tkeys[i];
         i = (i + 1) & (n->tcap - 1))
        if (n->tkeys[i] == id) {
            n->tvals[i] = w;
            return 0;
        }
    n->tkeys[i] = id;
    n->tvals[i] = w;
    n->tn++;
    return 0;
}

sn_where corio__sn_where(sn_net *n, const corio_task *t)
{
    sn_where none = {0, 0};
    size_t i;
    if (!t || !n->tcap)
        return none;
    for (i = (size_t)((t->id * 0x9E3779B97F4A7C15ULL) & (n->tcap - 1)); n->tkeys[i];
         i = (i + 1) & (n->tcap - 1))
        if (n->tkeys[i] == t->id)
            return n->tvals[i];
    return none;
}

int corio__sn_task_host(sn_net *n, const corio_task *t) { return corio__sn_where(n, t).host; }

int corio__sn_task_doomed(sn_net *n, const corio_task *t)
{
    sn_where w = corio__sn_where(n, t);
    return w.host > 0 && w.inc != n->hosts[w.host].inc;
}

/* Called by spawn (task.c) in a simulation: the child lives where its
 * parent does, in the parent's incarnation. Host 0 is the default and
 * needs no entry. A child of a doomed task is doomed too: it is born
 * cancelled (its first suspending call fails, and the network and the
 * disk refuse it). */
void corio__simnet_spawned(corio_task *parent, corio_task *child)
{
    sn_net *n = tls_net;
    sn_where w;
    if (!n || !parent)
        return;
    w = corio__sn_where(n, parent);
    if (!w.host)
        return;
    map_put(n, child->id, w); /* -ENOMEM: the child is on host 0 */
    if (w.inc != n->hosts[w.host].inc)
        child->flags |= CORIO__TF_CANCEL;
}

/* ---- addresses ----------------------------------------------------------------*/

int corio__sn_is_loopback(const corio_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 24) == 127;
    if (a->ss.ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
    return 0;
}

int corio__sn_is_any(const corio_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (a->ss.ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
    return 0;
}

int corio__sn_ip_eq(const corio_addr *a, const corio_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return 0;
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
    if (a->ss.ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
                      &((const struct sockaddr_in6 *)&b->ss)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return 0;
}

int corio__sn_host_has_ip(sn_net *n, int h, const corio_addr *a)
{
    int i;
    for (i = 0; i < n->hosts[h].naddr; i++)
        if (corio__sn_ip_eq(&n->hosts[h].addr[i], a))
            return 1;
    return 0;
}

/* The host an address names, seen from host `from`; -1 if none. */
int corio__sn_host_of_addr(sn_net *n, const corio_addr *a, int from)
{
    int h;
    if (corio__sn_is_loopback(a))
        return from;
    for (h = 1; h < n->nhosts; h++)
        if (corio__sn_host_has_ip(n, h, a))
            return h;
    return -1;
}

void corio__sn_set_port(corio_addr *a, int port)
{
    if (a->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
    else if (a->ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
}

/* ---- partitions -----------------------------------------------------------------*/

int corio__sn_silent(const sn_net *n, int h)
{
    return h >= 0 && h < n->nhosts && n->hosts[h].silent;
}

int corio__sn_cut(const sn_net *n, int a, int b)
{
    /* A host crashed without a word (a power cut) is cut from everyone
     * until it restarts. */
    if (corio__sn_silent(n, a) || corio__sn_silent(n, b))
        return 1;
    return corio__sn_partitioned(n, a, b);
}

int corio__sn_partitioned(const sn_net *n, int a, int b)
{
    size_t i;
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    for (i = 0; i < n->ncut; i++)
        if (n->cut[2 * i] == a && n->cut[2 * i + 1] == b)
            return 1;
    return 0;
}

static int host_pair(sn_net **np, int *a, int *b)
{
    sn_net *n = corio__sn_get();
    if (!n)
        return corio__tls_loop && corio__tls_loop->sim ? -ENOMEM : -EPERM;
    if (*a == *b || *a < 0 || *b < 0 || *a >= n->nhosts || *b >= n->nhosts)
        return -EINVAL;
    if (*a > *b) {
        int t = *a;
        *a = *b;
        *b = t;
    }
    *np = n;
    return 0;
}

int corio_sim_partition(int a, int b)
{
    sn_net *n;
    int rc = host_pair(&n, &a, &b);
    if (rc)
        return rc;
    if (corio__sn_cut(n, a, b))
        return 0;
    if (n->ncut == n->cut_cap) {
        size_t cap = n->cut_cap ? 2 * n->cut_cap : 8;
        int *c = realloc(n->cut, 2 * cap * sizeof *c);
        if (!c)
            return -ENOMEM;
        n->cut = c;
        n->cut_cap = cap;
    }
    n->cut[2 * n->ncut] = a;
    n->cut[2 * n->ncut + 1] = b;
    n->ncut++;
    corio__sn_event(n, "partition", (uint64_t)a, (uint64_t)b, 0);
    return 0;
}

int corio_sim_heal(int a, int b)
{
    sn_net *n;
    size_t i;
    int rc = host_pair(&n, &a, &b);
    if (rc)
        return rc;
    for (i = 0; i < n->ncut; i++) {
        if (n->cut[2 * i] == a && n->cut[2 * i + 1] == b) {
            n->cut[2 * i] = n->cut[2 * (n->ncut - 1)];
            n->cut[2 * i + 1] = n->cut[2 * (n->ncut - 1) + 1];
            n->ncut--;
            corio__sn_event(n, "heal", (uint64_t)a, (uint64_t)b, 0);
            corio__sn_heal_all(n);
            break;
        }
    }
    return 0;
}

/* ---- the public host API --------------------------------------------------------*/

static sn_net *need_net(int *rc)
{
    sn_net *n = corio__sn_get();
    *rc = n ? 0 : corio__tls_loop && corio__tls_loop->sim ? -ENOMEM : -EPERM;
    return n;
}

int corio_sim_net_configure(const corio_sim_net_config *cfg)
{
    int rc;
    sn_net *n = need_net(&rc);
    if (!n)
        return rc;
    if (!cfg)
        return -EINVAL;
    if (!(cfg->latency_min >= 0) || !(cfg->latency_max >= cfg->latency_min) ||
        !(cfg->bandwidth >= 0) || !(cfg->udp_loss >= 0 && cfg->udp_loss <= 1))
        return -EINVAL;
    n->cfg = *cfg;
    if (cfg->latency_max == 0 && cfg->latency_min == 0 && cfg->bandwidth == 0 &&
        cfg->udp_loss == 0) {
        n->cfg.latency_min = 0.0005; /* all-zero: the defaults */
        n->cfg.latency_max = 0.001;
    }
    return 0;
}

int corio_sim_host_add_addr(int host, const char *addr)
{
    corio_addr a;
    int rc, h;
    sn_net *n = need_net(&rc);
    if (!n)
        return rc;
    if (host <= 0 || host >= n->nhosts || !addr || corio_addr_ip(&a, addr, 0) < 0 ||
        corio__sn_is_loopback(&a) || corio__sn_is_any(&a))
        return -EINVAL;
    if (n->hosts[host].naddr == SN_MAX_ADDRS)
        return -EINVAL;
    for (h = 1; h < n->nhosts; h++)
        if (corio__sn_host_has_ip(n, h, &a))
            return -EEXIST;
    n->hosts[host].addr[n->hosts[host].naddr++] = a;
    return 0;
}

int corio_sim_host_add(const char *name, const char *addr)
{
    corio_addr a;
    int rc, h;
    sn_net *n = need_net(&rc);
    if (!n)
        return rc;
    if (!name || !*name || strlen(name) >= SN_HOST_NAME)
        return -EINVAL;
    if (addr && (corio_addr_ip(&a, addr, 0) < 0 || corio__sn_is_loopback(&a) ||
                 corio__sn_is_any(&a)))
        return -EINVAL;
    for (h = 0; h < n->nhosts; h++)
        if (strcasecmp(n->hosts[h].name, name) == 0 ||
            (addr && corio__sn_host_has_ip(n, h, &a)))
            return -EEXIST;
    h = add_host(n, name);
    if (h < 0)
        return h;
    if (addr)
        n->hosts[h].addr[n->hosts[h].naddr++] = a;
    corio__sn_event(n, "host", (uint64_t)h, 0, 0);
    return h;
}

int corio_sim_host_current(void)
{
    sn_net *n = corio__sn_get();
    return n ? corio__sn_task_host(n, corio_current()) : 0;
}

int corio_sim_spawn_on(int host, corio_task **taskp, corio_fn fn, void *arg)
{
    int rc;
    sn_net *n = need_net(&rc);
    sn_where w;
    if (taskp)
        *taskp = NULL;
    if (!n)
        return rc;
    if (host < 0 || host >= n->nhosts)
        return -EINVAL;
    if (corio__sn_task_doomed(n, corio_current()))
        return -ECANCELED; /* a crashed host's task acts for nobody */
    if (n->hosts[host].down)
        return -EHOSTDOWN;
    w.host = host;
    w.inc = n->hosts[host].inc;
    rc = corio_spawn_ex(taskp, fn, arg, NULL);
    if (rc == 0 && taskp && *taskp && map_put(n, (*taskp)->id, w) < 0) {
        corio_cancel(*taskp);
        return -ENOMEM; /* the caller still owns the (cancelled) task */
    }
    return rc;
}

/* ---- names ----------------------------------------------------------------------*/

/* corio_resolve in a simulation: numeric hosts as they are, "localhost"
 * as the loopback, other names as the simulated host of that name (a
 * trailing dot ignored). CORIO_ENOTFOUND for an unknown name. */
int corio__simnet_resolve(const char *name, int port, int family, corio_addr *addrs,
                          size_t max)
{
    sn_net *n = corio__sn_get();
    size_t len, k = 0;
    int h, i;
    if (!n)
        return -ENOMEM;
    if (!name || !*name || !addrs || max == 0 || port < 0 || port > 65535)
        return -EINVAL;
    if (corio_addr_ip(&addrs[0], name, port) == 0)
        return family == AF_UNSPEC || family == addrs[0].ss.ss_family ? 1 : CORIO_ENOTFOUND;
    len = strlen(name);
    if (len && name[len - 1] == '.')
        len--;
    if (len == 9 && strncasecmp(name, "localhost", 9) == 0) {
        if (family != AF_INET6)
            corio_addr_ip(&addrs[k++], "127.0.0.1", port);
        if (family != AF_INET && k < max)
            corio_addr_ip(&addrs[k++], "::1", port);
        return (int)k;
    }
    for (h = 1; h < n->nhosts; h++) {
        if (strlen(n->hosts[h].name) != len || strncasecmp(n->hosts[h].name, name, len) != 0)
            continue;
        for (i = 0; i < n->hosts[h].naddr && k < max; i++) {
            const corio_addr *a = &n->hosts[h].addr[i];
            if (family != AF_UNSPEC && a->ss.ss_family != family)
                continue;
            addrs[k] = *a;
            corio__sn_set_port(&addrs[k], port);
            k++;
        }
        break;
    }
    return k ? (int)k : CORIO_ENOTFOUND;
}
