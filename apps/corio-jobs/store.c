/*
 * Opening a store by URL, and the one way the service calls a store:
 * jobs_store_call() runs an operation on the thread pool for a blocking
 * store (SQLite) and inline on the loop for a suspending one (PostgreSQL
 * over corio_pg), with the same promise either way: once started, the
 * operation runs to its end whatever happens to the caller.
 */
#include "service.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int jobs_store_open_ex(const char *url, const jobs_store_opts *opts,
                       jobs_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!url || !*url) {
        snprintf(err, errlen, "no database given");
        return -EINVAL;
    }
    if (strncmp(url, "postgresql://", 13) == 0 ||
        strncmp(url, "postgres://", 11) == 0)
        return jobs_store_open_pg(url, opts, out, err, errlen);
    if (strncmp(url, "sqlite:", 7) == 0)
        url += 7;
    return jobs_store_open_sqlite(url, opts, out, err, errlen);
}

int jobs_store_open(const char *url, jobs_store **out, char *err,
                    size_t errlen)
{
    return jobs_store_open_ex(url, NULL, out, err, errlen);
}

const char *jobs_strerror(int rc)
{
    return rc == JOBS_ECORRUPT ? "the job store is damaged" : corio_strerror(rc);
}

/* The first sign of damage is said once on stderr, with the way out; from
 * then on /healthz answers 503 and no job is accepted (service.c). */
static void note_damage(jobs_store *s)
{
    if (s->damaged)
        return;
    s->damaged = 1;
    fprintf(stderr, "corio-jobs: the job store %s is damaged: %s reports "
            "corruption. /healthz now answers 503 and new jobs are refused. "
            "%s\n", s->name ? s->name : "?", s->ops->name,
            s->repair ? s->repair : "");
}

int jobs_store_call(jobs_store *s, int (*fn)(void *arg), void *arg)
{
    int rc;
    if (!s->ops->on_loop) {
        rc = jobs_offload(fn, arg);
    } else {
        if (!corio_current())
            return -EPERM;
        /* The same shield the pool call has: a store operation that has
         * begun (a transaction) is seen through, so its outcome is known.
         * The store bounds its own round trips with timeouts. */
        corio_scope sc;
        corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
        rc = fn(arg);
        corio_scope_exit(&sc);
    }
    if (rc == JOBS_ECORRUPT)
        note_damage(s);
    return rc;
}

#ifndef CORIO_JOBS_PG
int jobs_pg_insert_on(void *conn, const jobs_job *j, jobs_job **existing)
{
    (void)conn;
    (void)j;
    *existing = NULL;
    return -EPROTONOSUPPORT;
}

int jobs_store_open_pg(const char *conninfo, const jobs_store_opts *opts,
                       jobs_store **out, char *err, size_t errlen)
{
    (void)conninfo;
    (void)opts;
    *out = NULL;
    snprintf(err, errlen, "this corio-jobs was built without PostgreSQL "
             "support (libpq was not found at build time)");
    return -EPROTONOSUPPORT;
}
#endif
