/*
 * The library's extras on a PostgreSQL store (ext.h): the ticks of
 * periodic jobs, exactly once across processes, and progress that a GET in
 * any process shows.
 *
 * Ticks. A table corio_jobs_cron(name, last_tick): one transaction inserts
 * the schedule's row if it is missing, moves it to the tick with
 * "UPDATE ... WHERE last_tick < tick", and inserts the job only if that
 * UPDATE changed the row. Processes that race for one tick queue up on the
 * row lock; under READ COMMITTED each re-reads the row once the first has
 * committed, finds it at the tick, and changes nothing.
 *
 * Progress. Three columns of corio_jobs (progress, progress_msg,
 * progress_attempt), written by a task of the process running the job at
 * most every poll interval (0.25 s) per job, whatever the handler's rate:
 * only the last report of each interval is written, in one pipeline for
 * every job that reported. A GET in another process reads them for a job
 * that is running, under the same attempt.
 */
#include "ext.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CORIO_JOBS_PG

#include <corio_pg.h>

#include <inttypes.h>

#define OP_TIMEOUT 30.0

static const char *const schema[] = {
    "BEGIN",
    "SET LOCAL client_min_messages = warning",
    "SELECT pg_advisory_xact_lock(7362731)", /* store_pg.c's */
    ("CREATE TABLE IF NOT EXISTS corio_jobs_cron ("
     "  name text PRIMARY KEY,"
     "  last_tick bigint NOT NULL)"),         /* Unix ms */
    ("ALTER TABLE corio_jobs "
     "ADD COLUMN IF NOT EXISTS progress float8, "
     "ADD COLUMN IF NOT EXISTS progress_msg text, "
     "ADD COLUMN IF NOT EXISTS progress_attempt integer"),
    "COMMIT",
};

/* Runs stmts on a connection of the store's pool, within OP_TIMEOUT. */
static int run(jobs_ext *x, size_t n, const corio_pg_stmt *st, PGresult **r)
{
    corio_scope sc;
    corio_scope_enter(&sc, OP_TIMEOUT, 0);
    corio_pg_pool *pool = jobs_pg_pool(x->store);
    corio_pg *c;
    int rc = corio_pg_pool_acquire(pool, &c);
    if (rc == 0) {
        rc = corio_pg_pipeline(c, n, st, r);
        corio_pg_pool_release(pool, c);
    }
    corio_scope_exit(&sc);
    return rc;
}

int jobs__pgx_open(jobs_ext *x, char *err, size_t errlen)
{
    enum { N = sizeof schema / sizeof *schema };
    corio_pg_stmt st[N];
    PGresult *r[N];
    for (size_t i = 0; i < N; i++)
        st[i] = (corio_pg_stmt){schema[i], 0, NULL};
    int rc = run(x, N, st, r);
    for (size_t i = 0; i < N; i++) {
        if (rc < 0 && r[i] && PQresultStatus(r[i]) == PGRES_FATAL_ERROR &&
            err && errlen)
            snprintf(err, errlen, "creating the schema: %s",
                     PQresultErrorMessage(r[i]));
        PQclear(r[i]);
    }
    return rc < 0 ? -EIO : 0;
}

int jobs__pgx_tick(jobs_ext *x, const char *name, int64_t first,
                   int64_t tick_ms, const jobs_job *j)
{
    char f[24], t[24];
    snprintf(f, sizeof f, "%" PRId64, first);
    snprintf(t, sizeof t, "%" PRId64, tick_ms);
    const char *vi[2] = {name, f}, *vu[2] = {name, t};
    corio_pg_stmt st[3] = {
        {"BEGIN", 0, NULL},
        {"INSERT INTO corio_jobs_cron(name, last_tick) VALUES($1, $2) "
         "ON CONFLICT DO NOTHING", 2, vi},
        {"UPDATE corio_jobs_cron SET last_tick = $2 WHERE name = $1 AND "
         "last_tick < $2 RETURNING 1", 2, vu},
    };
    PGresult *r[3] = {NULL, NULL, NULL};
    corio_scope sc;
    corio_scope_enter(&sc, OP_TIMEOUT, 0);
    corio_pg_pool *pool = jobs_pg_pool(x->store);
    corio_pg *c;
    int out = 0;
    int rc = corio_pg_pool_acquire(pool, &c);
    if (rc == 0) {
        rc = corio_pg_pipeline(c, 3, st, r);
        if (rc == 0 && PQntuples(r[2]) == 1) {
            jobs_job *existing = NULL;
            rc = jobs_pg_insert_on(c, j, &existing);
            jobs_job_free(existing);
            out = rc == 0;
            if (rc == -EEXIST) /* the tick's key: enqueued already */
                rc = 0;
        }
        PGresult *e = NULL;
        corio_pg_query(c, &e, rc == 0 ? "COMMIT" : "ROLLBACK", 0, NULL);
        if (rc == 0 && PQresultStatus(e) != PGRES_COMMAND_OK)
            rc = -EIO;
        PQclear(e);
        corio_pg_pool_release(pool, c);
    }
    corio_scope_exit(&sc);
    for (int i = 0; i < 3; i++)
        PQclear(r[i]);
    return rc < 0 ? rc : out;
}

/* ---- progress -------------------------------------------------------------------- */

void jobs__pgx_progress_note(jobs_ext *x, entry *e)
{
    for (size_t i = 0; i < x->ndirty; i++)
        if (strcmp(x->dirty[i], e->job->id) == 0)
            return;
    if (x->ndirty == x->cdirty) {
        size_t c = x->cdirty ? 2 * x->cdirty : 16;
        void *p = realloc(x->dirty, c * sizeof *x->dirty);
        if (!p)
            return; /* the report stays in memory only */
        x->dirty = p;
        x->cdirty = c;
    }
    memcpy(x->dirty[x->ndirty++], e->job->id, JOBS_ID_LEN + 1);
    if (x->progress_bell)
        corio_event_set(x->progress_bell);
}

typedef struct pvals {
    char id[JOBS_ID_LEN + 1], frac[32], attempt[16];
    const char *v[4];
} pvals;

/* Writes the progress of every noted job still running here. */
static void flush(jobs_ext *x)
{
    size_t n = x->ndirty, k = 0;
    corio_pg_stmt *st = calloc(n ? n : 1, sizeof *st);
    pvals *pv = calloc(n ? n : 1, sizeof *pv);
    char **msgs = calloc(n ? n : 1, sizeof *msgs);
    if (!st || !pv || !msgs)
        goto out;
    for (size_t i = 0; i < n; i++) {
        entry *e = jobs__entry_find(x->svc, x->dirty[i]);
        if (!e || e->state != E_RUNNING || !e->job->has_progress)
            continue;
        snprintf(pv[k].frac, sizeof pv[k].frac, "%.6f", e->job->progress);
        snprintf(pv[k].attempt, sizeof pv[k].attempt, "%d",
                 e->job->attempts);
        msgs[k] = e->job->progress_msg ? strdup(e->job->progress_msg) : NULL;
        memcpy(pv[k].id, x->dirty[i], sizeof pv[k].id);
        pv[k].v[0] = pv[k].id;
        pv[k].v[1] = pv[k].frac;
        pv[k].v[2] = msgs[k];
        pv[k].v[3] = pv[k].attempt;
        st[k] = (corio_pg_stmt){
            "UPDATE corio_jobs SET progress = $2, progress_msg = $3, "
            "progress_attempt = $4 WHERE id = $1 AND status = 'running'",
            4, pv[k].v};
        k++;
    }
    if (k) {
        PGresult **r = calloc(k, sizeof *r);
        if (r) {
            run(x, k, st, r);
            for (size_t i = 0; i < k; i++)
                PQclear(r[i]);
            free(r);
        }
    }
out:
    for (size_t i = 0; msgs && i < k; i++)
        free(msgs[i]);
    free(msgs);
    free(pv);
    free(st);
    /* Reports noted during the pipeline were appended after n. */
    memmove(x->dirty, x->dirty + n, (x->ndirty - n) * sizeof *x->dirty);
    x->ndirty -= n;
}

void *jobs__pgx_progress_main(void *arg)
{
    jobs_ext *x = arg;
    for (;;) {
        if (corio_event_wait(x->progress_bell) < 0)
            break;
        /* The throttle: at most one write per job per interval. */
        if (corio_sleep(x->svc->opts.poll) < 0)
            break;
        corio_event_clear(x->progress_bell);
        flush(x);
        if (corio_cancelled())
            break;
    }
    return NULL;
}

void jobs__pgx_progress_fill(jobs_service *s, jobs_job *j)
{
    if (!s->ext || s->ext->sqlite || j->status != JOBS_RUNNING ||
        j->has_progress)
        return;
    char attempt[16];
    snprintf(attempt, sizeof attempt, "%d", j->attempts);
    const char *v[2] = {j->id, attempt};
    corio_pg_stmt st = {"SELECT progress, progress_msg FROM corio_jobs "
                        "WHERE id = $1 AND progress_attempt = $2 AND "
                        "progress IS NOT NULL", 2, v};
    PGresult *r = NULL;
    if (run(s->ext, 1, &st, &r) == 0 && PQntuples(r) == 1) {
        char *m = PQgetisnull(r, 0, 1) ? NULL
                                        : strdup(PQgetvalue(r, 0, 1));
        free(j->progress_msg);
        j->progress_msg = m;
        j->progress = strtod(PQgetvalue(r, 0, 0), NULL);
        j->has_progress = 1;
    }
    PQclear(r);
}

#else /* !CORIO_JOBS_PG */

int jobs__pgx_open(jobs_ext *x, char *err, size_t errlen)
{
    (void)x;
    if (err && errlen)
        snprintf(err, errlen, "built without PostgreSQL");
    return -EPROTONOSUPPORT;
}

int jobs__pgx_tick(jobs_ext *x, const char *name, int64_t first,
                   int64_t tick_ms, const jobs_job *j)
{
    (void)x, (void)name, (void)first, (void)tick_ms, (void)j;
    return -EPROTONOSUPPORT;
}

void jobs__pgx_progress_note(jobs_ext *x, entry *e)
{
    (void)x, (void)e;
}

void jobs__pgx_progress_fill(jobs_service *s, jobs_job *j)
{
    (void)s, (void)j;
}

void *jobs__pgx_progress_main(void *arg)
{
    (void)arg;
    return NULL;
}

#endif
