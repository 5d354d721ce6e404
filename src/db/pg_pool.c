/*
 * corio_pg_pool: a bounded pool of PostgreSQL connections with health
 * checks and reconnect (see include/corio_pg.h).
 *
 * The bound is a corio_sem holding one unit per connection that may be
 * handed out, so waiting acquirers are served FIFO and a cancelled or
 * timed-out acquirer never takes a unit. Idle connections sit on a LIFO
 * list (the most recently used one is the most likely to be alive and
 * warm). Broken ones are closed on release; the next acquire opens a fresh
 * connection -- that is the reconnect.
 */
#include "pg_int.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* Allocated by corio_pg_pool_create, freed by corio_pg_pool_destroy. */
struct corio_pg_pool {
    char *conninfo;
    corio_sem *units;    /* max - handed out */
    corio_pg *idle;      /* idle connections, most recent first */
    size_t open;         /* idle + handed out */
    size_t max;
    double health_idle;
    double connect_timeout;
};

int corio_pg_pool_create(corio_pg_pool **pp, const char *conninfo,
                         const corio_pg_pool_config *cfg)
{
    corio_pg_pool *p;
    if (!pp || !conninfo)
        return -EINVAL;
    if (!corio_loop_current())
        return -EPERM;
    p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->max = cfg && cfg->max ? cfg->max : 10;
    p->health_idle = cfg && cfg->health_idle ? cfg->health_idle : 30.0;
    p->connect_timeout =
        cfg && cfg->connect_timeout ? cfg->connect_timeout : 10.0;
    p->conninfo = strdup(conninfo);
    if (!p->conninfo || corio_sem_create(&p->units, p->max) != 0) {
        free(p->conninfo);
        free(p);
        return -ENOMEM;
    }
    *pp = p;
    return 0;
}

int corio_pg_pool_destroy(corio_pg_pool *p)
{
    corio_pg *c;
    if (!p)
        return 0;
    if (corio_sem_value(p->units) != p->max)
        return -EBUSY;
    while ((c = p->idle)) {
        p->idle = c->next;
        corio_pg_close(c);
    }
    corio_sem_destroy(p->units);
    free(p->conninfo);
    free(p);
    return 0;
}

/* An idle connection has nothing to read unless the server spoke, and
 * what a server says to an idle session is almost always goodbye: a
 * restart or pg_terminate_backend sends a FATAL error, then closes the
 * socket (the two may arrive apart, so libpq cannot be relied on to have
 * seen the end yet). One poll(2) tells. A readable idle connection is
 * replaced: at worst (a NOTIFY for a LISTENing session, a parameter
 * change) that costs one reconnect; without it, every connection a
 * restart killed would fail one caller's query first. */
static int pg_still_open(corio_pg *c)
{
    struct pollfd pfd = {PQsocket(corio_pg_conn(c)), POLLIN, 0};
    return pfd.fd >= 0 && poll(&pfd, 1, 0) == 0;
}

/* An idle connection is worth handing out if it is not known broken, its
 * server has not hung up on it, and, when it sat idle long enough for a
 * NAT timeout to have killed it silently, it answers a trivial query. */
static int pg_healthy(corio_pg_pool *p, corio_pg *c, int *interrupted)
{
    PGresult *r;
    int rc;
    if (!corio_pg_ok(c) || !pg_still_open(c))
        return 0;
    if (p->health_idle < 0 || corio_now() - c->idle_since < p->health_idle)
        return 1;
    rc = corio_pg_query(c, &r, "SELECT 1", 0, NULL);
    PQclear(r);
    if (rc == -ECANCELED || rc == -ETIMEDOUT)
        *interrupted = rc;
    return rc == 0;
}

static int pg_open(corio_pg_pool *p, corio_pg **cp)
{
    corio_scope sc;
    int rc, expired;
    corio_scope_enter(&sc, p->connect_timeout, 0);
    rc = corio_pg_connect(cp, p->conninfo, NULL);
    expired = corio_scope_exit(&sc);
    if (rc == -ETIMEDOUT && expired == 1)
        rc = -ECONNREFUSED; /* the pool's own connect timeout */
    return rc;
}

int corio_pg_pool_acquire(corio_pg_pool *p, corio_pg **cp)
{
    corio_pg *c;
    int rc, intr = 0;
    if (!p || !cp)
        return -EINVAL;
    *cp = NULL;
    rc = corio_sem_acquire(p->units);
    if (rc)
        return rc;
    while ((c = p->idle)) {
        p->idle = c->next;
        c->next = NULL;
        if (pg_healthy(p, c, &intr)) {
            *cp = c;
            return 0;
        }
        corio_pg_close(c);
        p->open--;
        if (intr) {
            corio_sem_release(p->units);
            return intr;
        }
    }
    p->open++; /* counted while connecting so the bound holds */
    rc = pg_open(p, &c);
    if (rc) {
        p->open--;
        corio_sem_release(p->units);
        return rc;
    }
    *cp = c;
    return 0;
}

void corio_pg_pool_release(corio_pg_pool *p, corio_pg *c)
{
    if (!p || !c)
        return;
    /* A connection left inside a transaction (or in an unknown state)
     * would leak that state into the next user: close it instead. */
    if (!corio_pg_ok(c) || c->busy ||
        PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
        corio_pg_close(c);
        p->open--;
    } else {
        c->idle_since = corio_now();
        c->next = p->idle;
        p->idle = c;
    }
    corio_sem_release(p->units);
}

int corio_pg_pool_query(corio_pg_pool *p, PGresult **res, const char *sql,
                        int nparams, const char *const *values)
{
    corio_pg *c;
    int rc;
    if (!res)
        return -EINVAL;
    *res = NULL;
    rc = corio_pg_pool_acquire(p, &c);
    if (rc)
        return rc;
    rc = corio_pg_query(c, res, sql, nparams, values);
    corio_pg_pool_release(p, c);
    return rc;
}

size_t corio_pg_pool_size(const corio_pg_pool *p)
{
    return p ? p->open : 0;
}
