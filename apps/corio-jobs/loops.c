/*
 * corio-jobs on PostgreSQL on every core: every loop is a worker of its
 * own on the shared queue (issue 14, item 8).
 *
 * On PostgreSQL, separate processes already share one queue safely:
 * claims take jobs with FOR UPDATE SKIP LOCKED, each claim is fenced by
 * its owner and attempt, leases hand back what a dead owner held, cron
 * ticks and idempotency keys are unique in the table. So a process of N
 * loops needs no home loop: each loop gets a UNIT, its own store (its own
 * pool of connections, its own owner name), service (committer, claims,
 * leases) and extras (progress), exactly as a process of one loop has. A
 * request is served on the loop that accepted it, by that loop's unit; the
 * jobs that loop claims run there and their outcomes are written through
 * its pool. Nothing is forwarded; no lock is shared.
 *
 * What stays one per process:
 *   - --workers, each --queue NAME:N and each --rate-limit are limits of
 *     the process: they are split over the loops (loop i runs at most its
 *     share; the shares add up to the limit). A queue whose limit is
 *     smaller than the loops runs on that many loops only (which ones
 *     rotates with the queue, so that small queues do not all land on
 *     loop 0); its rate is split over the same loops.
 *   - Cron (corio_jobs_schedule) ticks on loop 0 only; retention prunes
 *     on loop 0 only.
 *   - /metrics sums the loops' counters (each read on its loop); the job
 *     counts by status are the store's (every loop's and process's),
 *     recounted by the answering loop as one process does.
 *   - The connections: each loop's pool holds at most a share of the one
 *     pool a process had (POOL_MAX, 8), at least 2: 4 + 4 on two loops,
 *     2 per loop from four loops on.
 * SQLite keeps one service on the home loop (multi.c): one writer.
 */
#include "ext.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_TOTAL 8 /* store_pg_int.h's POOL_MAX: one process's pool */

unsigned jobs__loops_count(const char *url, int loops)
{
    unsigned count = corio_loop_count();
    if (loops < 2 || count < 2 || corio_loop_index(NULL) != 0 || !url ||
        (strncmp(url, "postgresql://", 13) != 0 &&
         strncmp(url, "postgres://", 11) != 0))
        return 0;
    return (unsigned)loops < count ? (unsigned)loops : count;
}

/* Loop pos's share of total over n loops. */
static int share(int total, unsigned n, unsigned pos)
{
    return total / (int)n + ((int)pos < total % (int)n);
}

/* Opening one unit, on its loop. Allocated by jobs__loops_open. */
typedef struct unit_open {
    corio_jobs *j;
    unsigned i, n;
    const char *url;
    jobs_store_opts sto;
    jobs_service_opts so;
    int *limits, *rates;
    char err[512];
    int rc;
} unit_open;

static int open_unit(unit_open *o)
{
    jobs_unit *u = &o->j->units[o->i];
    const jobs_service_opts *base = &o->so;
    jobs_service_opts so = *base;
    int w = base->workers > 0 ? base->workers : 4;
    so.workers = share(w, o->n, o->i);
    if (so.workers == 0)
        so.workers = -1; /* none: jobs__service_open's "0" is 4 */
    for (size_t k = 0; k < base->nqueues; k++) {
        int c = base->queue_limits[k];
        int r = base->queue_rates ? base->queue_rates[k] : 0;
        unsigned p = (unsigned)c < o->n ? (unsigned)c : o->n;
        if (r > 0 && (unsigned)r < p)
            p = (unsigned)r;
        unsigned pos = (o->i + o->n - (unsigned)(k % o->n)) % o->n;
        o->limits[k] = pos < p ? share(c, p, pos) : 0;
        o->rates[k] = pos < p && r > 0 ? share(r, p, pos) : 0;
    }
    so.queue_limits = o->limits;
    so.queue_rates = o->rates;
    so.loops = 1; /* its jobs run here */
    if (o->i != 0)
        so.retention = 0; /* loop 0 prunes */
    int rc = jobs_store_open_ex(o->url, &o->sto, &u->store, o->err,
                                sizeof o->err);
    if (rc == 0)
        rc = jobs_service_open(&u->svc, u->store, &so, o->err, sizeof o->err);
    if (rc == 0 &&
        (rc = jobs__ext_open(&u->ext, u->svc, u->store, o->err,
                             sizeof o->err)) < 0) {
        jobs_service_drain(u->svc, 0);
        jobs_service_close(u->svc);
        u->svc = NULL;
    }
    if (rc < 0) {
        jobs_store_close(u->store);
        u->store = NULL;
    }
    return rc;
}

static void *open_main(void *arg)
{
    unit_open *o = arg;
    o->rc = open_unit(o);
    return NULL;
}

static void *close_main(void *arg)
{
    jobs_unit *u = arg;
    if (u->ext)
        jobs__ext_close(u->ext);
    if (u->svc)
        jobs_service_close(u->svc);
    if (u->store)
        jobs_store_close(u->store);
    memset(u, 0, sizeof *u);
    return NULL;
}

/* Runs fn(&units[i]) on loop i for every unit at once (here for loop 0),
 * waits for all, and returns the sum of their results (ints). Shielded. */
static int each_unit(corio_jobs *j, void *(*fn)(void *))
{
    corio_scope sc;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    corio_xtask **h = calloc(j->nunits, sizeof *h);
    for (unsigned i = 1; h && i < j->nunits; i++)
        if (j->units[i].svc &&
            corio_spawn_on(&h[i], corio_loop_get(i), fn, &j->units[i]) < 0)
            h[i] = NULL;
    int total = 0;
    if (j->units[0].svc)
        total += (int)(intptr_t)fn(&j->units[0]);
    for (unsigned i = 1; i < j->nunits; i++) {
        void *res = NULL;
        corio_xtask *x = h ? h[i] : NULL;
        /* No memory for them all at once: one at a time. */
        if (!x && j->units[i].svc &&
            corio_spawn_on(&x, corio_loop_get(i), fn, &j->units[i]) < 0)
            x = NULL;
        if (x && corio_xtask_await(x, &res, 0) == 0)
            total += (int)(intptr_t)res;
    }
    free(h);
    corio_scope_exit(&sc);
    return total;
}

int jobs__loops_open(corio_jobs *j, const char *url,
                     const jobs_store_opts *sto, const jobs_service_opts *so,
                     unsigned n, char *err, size_t errlen)
{
    unsigned slots = corio_loop_count();
    j->units = calloc(n, sizeof *j->units);
    j->peers = calloc(slots, sizeof *j->peers);
    unit_open *o = calloc(1, sizeof *o);
    int *limits = calloc(so->nqueues + 1, sizeof *limits);
    int *rates = calloc(so->nqueues + 1, sizeof *rates);
    int rc = j->units && j->peers && o && limits && rates ? 0 : -ENOMEM;
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    j->nunits = 0;
    /* One at a time: each creates the tables if need be (CREATE ... IF
     * NOT EXISTS races with itself on other connections). */
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        *o = (unit_open){.j = j, .i = i, .n = n, .url = url, .sto = *sto,
                         .so = *so, .limits = limits, .rates = rates};
        int ps = POOL_TOTAL / (int)n;
        o->sto.pool_max = ps < 2 ? 2 : ps;
        if (i == 0) {
            rc = open_unit(o);
        } else {
            corio_xtask *h;
            rc = corio_spawn_on(&h, corio_loop_get(i), open_main, o);
            if (rc == 0) /* shielded: o is on the heap, but the unit */
                rc = corio_xtask_await(h, NULL, CORIO_AWAIT_SHIELD);
            if (rc == 0)
                rc = o->rc;
        }
        if (rc < 0) {
            snprintf(err, errlen, "%s", o->err[0] ? o->err
                                                  : corio_strerror(rc));
            break;
        }
        j->nunits = i + 1;
        j->peers[i] = j->units[i].svc;
    }
    free(o);
    free(limits);
    free(rates);
    if (rc < 0) {
        if (j->units) {
            jobs__loops_drain(j, 0);
            jobs__loops_close(j);
        }
        free(j->units);
        free(j->peers);
        j->units = NULL;
        j->peers = NULL;
        j->nunits = 0;
        return rc;
    }
    /* Before any request: the servers start after this returns. */
    for (unsigned i = 0; i < n; i++)
        jobs__multi_set_peers(j->units[i].svc, j->peers);
    j->store = j->units[0].store;
    j->svc = j->units[0].svc;
    j->ext = j->units[0].ext;
    return 0;
}

static void *drain_main(void *arg)
{
    jobs_unit *u = arg;
    jobs__ext_stop(u->ext);
    return (void *)(intptr_t)jobs_service_drain(u->svc, u->grace);
}

int jobs__loops_drain(corio_jobs *j, double grace)
{
    for (unsigned i = 0; i < j->nunits; i++)
        j->units[i].grace = grace;
    return each_unit(j, drain_main);
}

void jobs__loops_close(corio_jobs *j)
{
    each_unit(j, close_main);
    free(j->units);
    free(j->peers);
    j->units = NULL;
    j->peers = NULL;
    j->nunits = 0;
    j->store = NULL;
    j->svc = NULL;
    j->ext = NULL;
}

jobs_service *jobs__svc_here(corio_jobs *j)
{
    int i = corio_loop_index(NULL);
    if (j->units && i >= 0 && (unsigned)i < j->nunits && j->units[i].svc)
        return j->units[i].svc;
    return j->svc;
}

jobs_ext *jobs__ext_here(corio_jobs *j)
{
    int i = corio_loop_index(NULL);
    if (j->units && i >= 0 && (unsigned)i < j->nunits && j->units[i].svc)
        return j->units[i].ext;
    return j->ext;
}
