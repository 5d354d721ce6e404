/*
 * The shared job store on PostgreSQL (store_pg.c): writing jobs. A group
 * of writes is one transaction sent as one pipeline; unique inserts
 * (also on the caller's connection, jobs_pg_insert_on), retry and prune.
 */
#ifdef CORIO_JOBS_PG

#include "store_pg_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *ms_text(char buf[24], int64_t ms)
{
    if (!ms)
        return NULL;
    snprintf(buf, 24, "%" PRId64, ms);
    return buf;
}

static int write_by_id(const void *a, const void *b)
{
    return strcmp((*(const jobs_write *const *)a)->job->id,
                  (*(const jobs_write *const *)b)->job->id);
}

/* ---- writes ------------------------------------------------------------- */

/* Text parameters of one write, kept alive until the pipeline returns. */
typedef struct wparams {
    const char *v[11];
    char attempts[16], created[24], started[24], finished[24], now[24];
    char max_attempts[16], backoff[32], run_at[24], priority[16];
    char timeout[32];
} wparams;

static const char insert_head[] =
    "INSERT INTO corio_jobs(" COLS ", updated_at) VALUES ";
/* Fenced: only the claim that runs the job (this owner, this attempt)
 * records how it ended. Every outcome of a batch in one statement: $1 now,
 * $2 this owner, then one array per column (UPD_COLS of wparams.v), so
 * PostgreSQL parses and plans one UPDATE per batch, not one per job.
 * UPDATE_HEAD is the statement up to its fence, shared with the mutant. */
#define UPDATE_HEAD \
    "UPDATE corio_jobs j SET status=v.status, result=v.result, " \
    "error=v.error, started_at=v.started_at, finished_at=v.finished_at, " \
    "updated_at=$1::bigint, run_at=v.run_at, " \
    "errors=COALESCE(v.errors, j.errors), owner=NULL, lease_until=NULL " \
    "FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], " \
    "$7::int[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[]) " \
    "AS v(id, status, result, error, attempts, started_at, finished_at, " \
    "run_at, errors) WHERE j.id = v.id AND j.owner = $2 AND "
static const char update_sql[] =
    UPDATE_HEAD "j.attempts = v.attempts AND j.status = 'running' "
    "RETURNING j.id";
/* JOBS_MUTANT_NO_ATTEMPT_FENCE (jobs.h): the same without the attempt
 * number, for the mutation tests. */
static const char update_sql_no_attempt[] =
    UPDATE_HEAD "j.status = 'running' RETURNING j.id";
#undef UPDATE_HEAD
/* The columns of update_sql's arrays, as indices into wparams.v. */
static const int upd_cols[9] = {0, 1, 2, 3, 4, 5, 6, 9, 10};

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

#define INSERT_ROWS 500 /* rows per INSERT statement: 7,500 parameters */

/* "INSERT ... VALUES ($1,..,$15),($16,..)" for rows rows: bound parameters
 * only; the text depends on nothing but the count. malloc'ed. */
static char *insert_text(size_t rows)
{
    size_t cap = sizeof insert_head + rows * NCOLS * 8 + 16;
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    size_t len = (size_t)snprintf(sql, cap, "%s", insert_head);
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < NCOLS; c++)
            len += (size_t)snprintf(sql + len, cap - len, "%s$%zu%s",
                                    c ? "," : r ? ",(" : "(",
                                    r * NCOLS + (size_t)c + 1,
                                    c == NCOLS - 1 ? ")" : "");
    return sql;
}

/* One transaction, one round trip: BEGIN, the inserts as multi-row INSERTs
 * (PostgreSQL parses and plans one statement per 500 jobs, not one per
 * job), one fenced UPDATE for every outcome, COMMIT. Inserts and updates of one
 * batch never concern the same job (the service changes a job only after
 * its previous change has committed), so their order does not matter to
 * the result; the updates go in id order, so that two transactions that
 * lock several of the same rows (a batch and a renewal, once) take them
 * in one order and cannot deadlock. */
int jobs__pg_write_claim(jobs_store *base, const jobs_write *w, size_t n,
                         jobs_claim_req *cl, size_t nc)
{
    pg_store *s = (pg_store *)base;
    for (size_t i = 0; i < nc; i++) {
        cl[i].v = NULL;
        cl[i].n = 0;
        cl[i].rc = 0;
    }
    if (n == 0 && nc == 0)
        return 0;
    const jobs_write **ow = malloc((n ? n : 1) * sizeof *ow);
    if (!ow)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        ow[i] = &w[i];
    qsort(ow, n, sizeof *ow, write_by_id);
    size_t ni = 0;
    for (size_t i = 0; i < n; i++)
        ni += ow[i]->kind == JOBS_W_INSERT;
    size_t nchunks = (ni + INSERT_ROWS - 1) / INSERT_ROWS;
    size_t nu = n - ni, ku = 0; /* updates */
    /* The claims come last: the outcomes before them have freed the
     * workers they claim for, and the inserts before them are theirs to
     * take (a job can start in the commit that records it). */
    size_t kc = 1 + nchunks + (nu ? 1 : 0); /* the first claim statement */
    size_t nst = kc + (nc ? 1 + nc : 0) + 1;
    jobs_pg_claim_args *ca = nc ? calloc(nc, sizeof *ca) : NULL;
    const wparams **up = calloc(nu + 1, sizeof *up);
    const char **col = calloc(nu + 1, sizeof *col);
    char *arr[9] = {NULL};
    const char *uv[11];
    corio_pg_stmt *st = calloc(nst, sizeof *st);
    wparams *p = calloc(n ? n : 1, sizeof *p);
    PGresult **res = calloc(nst, sizeof *res);
    const char **iv = calloc(ni * NCOLS + 1, sizeof *iv);
    char **sqls = calloc(nchunks + 1, sizeof *sqls);
    int rc = st && p && res && iv && sqls && up && col && (ca || !nc)
                 ? 0
                 : -ENOMEM;
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, jobs_now_ms());
    size_t ins = 0; /* next row */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const jobs_job *j = ow[i]->job;
        wparams *q = &p[i];
        snprintf(q->attempts, sizeof q->attempts, "%d", j->attempts);
        snprintf(q->max_attempts, sizeof q->max_attempts, "%d",
                 j->max_attempts > 0 ? j->max_attempts : 1);
        snprintf(q->backoff, sizeof q->backoff, "%.17g", j->retry_backoff);
        snprintf(q->priority, sizeof q->priority, "%d", j->priority);
        snprintf(q->timeout, sizeof q->timeout, "%.17g", j->timeout);
        if (ow[i]->kind == JOBS_W_INSERT) {
            /* The order of COLS, then updated_at. */
            const char *v[NCOLS] = {
                j->id, jobs_type_name(j->type), jobs_status_name(j->status),
                j->spec ? j->spec : "{}", j->result, j->error, q->attempts,
                ms_text(q->created, j->created_ms),
                ms_text(q->started, j->started_ms),
                ms_text(q->finished, j->finished_ms), q->max_attempts,
                q->backoff, ms_text(q->run_at, j->run_at_ms), j->errors,
                j->queue[0] ? j->queue : "default", q->priority, q->timeout,
                j->unique_key, now};
            memcpy(&iv[ins++ * NCOLS], v, sizeof v);
        } else if (ow[i]->kind == JOBS_W_UPDATE) {
            const char *v[11] = {j->id, jobs_status_name(j->status), j->result,
                                 j->error, q->attempts,
                                 ms_text(q->started, j->started_ms),
                                 ms_text(q->finished, j->finished_ms), now,
                                 s->owner, ms_text(q->run_at, j->run_at_ms),
                                 j->errors};
            memcpy(q->v, v, sizeof v);
            up[ku++] = q;
        } else {
            rc = -EINVAL;
        }
    }
    for (size_t c = 0; rc == 0 && c < nchunks; c++) {
        size_t rows = ni - c * INSERT_ROWS < INSERT_ROWS ? ni - c * INSERT_ROWS
                                                         : INSERT_ROWS;
        if (!(sqls[c] = insert_text(rows)))
            rc = -ENOMEM;
        else
            st[1 + c] = (corio_pg_stmt){sqls[c], (int)(rows * NCOLS),
                                        &iv[c * INSERT_ROWS * NCOLS]};
    }
    for (size_t c = 0; rc == 0 && nu && c < 9; c++) {
        for (size_t u = 0; u < nu; u++)
            col[u] = up[u]->v[upd_cols[c]];
        if (!(arr[c] = jobs_pg_array(col, nu)))
            rc = -ENOMEM;
        uv[2 + c] = arr[c];
    }
    if (rc == 0 && nu) {
        uv[0] = now;
        uv[1] = s->owner;
        st[1 + nchunks] = (corio_pg_stmt){
            jobs_mutant & JOBS_MUTANT_NO_ATTEMPT_FENCE ? update_sql_no_attempt
                                                       : update_sql,
            11, uv};
    }
    for (size_t i = 0; rc == 0 && i < nc; i++)
        rc = jobs__pg_claim_stmt(s, cl[i].filter, cl[i].max, &ca[i],
                                 &st[kc + 1 + i]);
    if (rc == 0 && nc) /* due scheduled jobs first, as pg_claim does */
        st[kc] = (corio_pg_stmt){jobs__pg_due_sql, 1, &ca[0].v[2]};
    if (rc == 0) {
        st[0] = (corio_pg_stmt){"BEGIN", 0, NULL};
        st[nst - 1] = (corio_pg_stmt){"COMMIT", 0, NULL};
        rc = jobs__pg_run(s, nst, st, res, 1);
    }
    /* An update the fence stopped: the job was claimed again (this claim's
     * lease expired). Its outcome is the new claim's to record. The
     * statement returned the ids it updated; the updates are in id
     * order, and so is col once sorted. */
    int got = rc == 0 && nu ? PQntuples(res[1 + nchunks]) : 0;
    if (rc == 0 && nu && (size_t)got < nu) {
        for (int r = 0; r < got; r++)
            col[r] = PQgetvalue(res[1 + nchunks], r, 0);
        qsort(col, (size_t)got, sizeof *col, str_cmp);
        size_t r = 0;
        for (size_t i = 0; i < n; i++) {
            if (ow[i]->kind != JOBS_W_UPDATE)
                continue;
            while (r < (size_t)got && strcmp(col[r], ow[i]->job->id) < 0)
                r++;
            if (r < (size_t)got && strcmp(col[r], ow[i]->job->id) == 0)
                continue;
            fprintf(stderr, "corio-jobs: job %s: not recorded as %s: this "
                    "process no longer holds it (its lease expired)\n",
                    ow[i]->job->id, jobs_status_name(ow[i]->job->status));
        }
    }
    /* Committed: a claim whose rows cannot be read (out of memory) leaves
     * its jobs held here but not running; the renewal hands them back. */
    for (size_t i = 0; rc == 0 && i < nc; i++)
        cl[i].rc = jobs__pg_claim_rows(res[kc + 1 + i], &cl[i].v, &cl[i].n);
    for (size_t i = 0; ca && i < nc; i++)
        free(ca[i].arr);
    free(ca);
    for (int c = 0; c < 9; c++)
        free(arr[c]);
    free(col);
    free(up);
    for (size_t i = 0; res && i < nst; i++)
        PQclear(res[i]);
    for (size_t c = 0; sqls && c < nchunks; c++)
        free(sqls[c]);
    free(sqls);
    free(iv);
    free(res);
    free(p);
    free(st);
    free(ow);
    return rc;
}

int jobs__pg_write(jobs_store *base, const jobs_write *w, size_t n)
{
    return jobs__pg_write_claim(base, w, n, NULL, 0);
}

int jobs__pg_prune(jobs_store *base, int64_t before_ms, size_t max,
                    uint64_t removed[JOBS_NSTATUS])
{
    pg_store *s = (pg_store *)base;
    memset(removed, 0, sizeof(uint64_t) * JOBS_NSTATUS);
    char before[24], lim[24];
    snprintf(before, sizeof before, "%" PRId64, before_ms);
    snprintf(lim, sizeof lim, "%zu", max);
    const char *v[2] = {before, lim};
    PGresult *r = NULL;
    /* SKIP LOCKED: two processes pruning at once share the work. */
    int rc = jobs__pg_run1(
        s, &r,
        "DELETE FROM corio_jobs WHERE id IN (SELECT id FROM "
        "corio_jobs WHERE finished_at IS NOT NULL AND finished_at "
        "< $1::bigint AND status IN ('succeeded', 'failed', "
        "'cancelled', 'interrupted') ORDER BY finished_at LIMIT "
        "$2::int FOR UPDATE SKIP LOCKED) RETURNING status",
        2, v);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        int k = jobs_status_parse(PQgetvalue(r, i, 0));
        if (k >= 0)
            removed[k]++;
    }
    PQclear(r);
    return rc;
}

int jobs__pg_retry(jobs_store *base, const char *id, int64_t now_ms,
                    jobs_job **out)
{
    pg_store *s = (pg_store *)base;
    *out = NULL;
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    const char *v[2] = {id, now};
    corio_pg_stmt st[2] = {
        {"UPDATE corio_jobs SET status='created', error=NULL, result=NULL, "
         "finished_at=NULL, run_at=NULL, updated_at=$2::bigint, owner=NULL, "
         "lease_until=NULL, cancel_requested=false, max_attempts="
         "greatest(max_attempts, attempts + 1) WHERE id=$1 AND status IN "
         "('failed', 'cancelled', 'interrupted') RETURNING " COLS, 2, v},
        {"SELECT " COLS " FROM corio_jobs WHERE id=$1", 1, v},
    };
    PGresult *r[2] = {NULL, NULL};
    int rc = jobs__pg_run(s, 2, st, r, 0);
    if (rc == 0) {
        if (PQntuples(r[0]) == 1)
            rc = jobs__pg_row_job(r[0], 0, out);
        else if (PQntuples(r[1]) == 1)
            rc = (rc = jobs__pg_row_job(r[1], 0, out)) < 0 ? rc : -EBUSY;
        else
            rc = -ENOENT;
    }
    PQclear(r[0]);
    PQclear(r[1]);
    return rc;
}

/* One INSERT ... ON CONFLICT DO NOTHING, then (if it inserted nothing) the
 * job that holds the key, in one round trip. The unique index decides
 * between processes. */
int jobs__pg_insert_unique(jobs_store *base, const jobs_job *j,
                            jobs_job **existing)
{
    pg_store *s = (pg_store *)base;
    *existing = NULL;
    char *sql = insert_text(1);
    if (!sql)
        return -ENOMEM;
    char *full = NULL;
    if (asprintf(&full, "%s ON CONFLICT (unique_key) WHERE unique_key IS "
                 "NOT NULL DO NOTHING RETURNING id", sql) < 0)
        full = NULL;
    free(sql);
    if (!full)
        return -ENOMEM;
    wparams q;
    memset(&q, 0, sizeof q);
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, jobs_now_ms());
    snprintf(q.attempts, sizeof q.attempts, "%d", j->attempts);
    snprintf(q.max_attempts, sizeof q.max_attempts, "%d",
             j->max_attempts > 0 ? j->max_attempts : 1);
    snprintf(q.backoff, sizeof q.backoff, "%.17g", j->retry_backoff);
    snprintf(q.priority, sizeof q.priority, "%d", j->priority);
    snprintf(q.timeout, sizeof q.timeout, "%.17g", j->timeout);
    const char *v[NCOLS] = {
        j->id, jobs_type_name(j->type), jobs_status_name(j->status),
        j->spec ? j->spec : "{}", j->result, j->error, q.attempts,
        ms_text(q.created, j->created_ms), ms_text(q.started, j->started_ms),
        ms_text(q.finished, j->finished_ms), q.max_attempts, q.backoff,
        ms_text(q.run_at, j->run_at_ms), j->errors,
        j->queue[0] ? j->queue : "default", q.priority, q.timeout,
        j->unique_key, now};
    const char *kv[1] = {j->unique_key};
    corio_pg_stmt st[2] = {
        {full, NCOLS, v},
        /* Sees the other process's row once its insert has committed: the
         * conflict waited for that. */
        {"SELECT " COLS " FROM corio_jobs WHERE unique_key=$1", 1, kv},
    };
    PGresult *r[2] = {NULL, NULL};
    int rc = jobs__pg_run(s, 2, st, r, 0);
    if (rc == 0 && PQntuples(r[0]) == 0)
        rc = PQntuples(r[1]) == 1 ? jobs__pg_row_job(r[1], 0, existing) : -EIO;
    if (rc == 0 && *existing)
        rc = -EEXIST;
    PQclear(r[0]);
    PQclear(r[1]);
    free(full);
    return rc;
}

int jobs_pg_insert_on(void *conn, const jobs_job *j, jobs_job **existing)
{
    corio_pg *c = conn;
    *existing = NULL;
    char *sql = insert_text(1);
    char *full = NULL;
    if (sql && asprintf(&full, "%s ON CONFLICT (unique_key) WHERE "
                        "unique_key IS NOT NULL DO NOTHING RETURNING id",
                        sql) < 0)
        full = NULL;
    free(sql);
    if (!full)
        return -ENOMEM;
    wparams q;
    memset(&q, 0, sizeof q);
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, jobs_now_ms());
    snprintf(q.attempts, sizeof q.attempts, "%d", j->attempts);
    snprintf(q.max_attempts, sizeof q.max_attempts, "%d",
             j->max_attempts > 0 ? j->max_attempts : 1);
    snprintf(q.backoff, sizeof q.backoff, "%.17g", j->retry_backoff);
    snprintf(q.priority, sizeof q.priority, "%d", j->priority);
    snprintf(q.timeout, sizeof q.timeout, "%.17g", j->timeout);
    const char *v[NCOLS] = {
        j->id, jobs_type_name(j->type), jobs_status_name(j->status),
        j->spec ? j->spec : "{}", j->result, j->error, q.attempts,
        ms_text(q.created, j->created_ms), ms_text(q.started, j->started_ms),
        ms_text(q.finished, j->finished_ms), q.max_attempts, q.backoff,
        ms_text(q.run_at, j->run_at_ms), j->errors,
        j->queue[0] ? j->queue : "default", q.priority, q.timeout,
        j->unique_key, now};
    PGresult *r = NULL;
    int rc = corio_pg_query(c, &r, full, NCOLS, v);
    free(full);
    if (rc == 0 && PQntuples(r) == 0 && j->unique_key) {
        PQclear(r);
        r = NULL;
        const char *kv[1] = {j->unique_key};
        rc = corio_pg_query(c, &r, "SELECT " COLS " FROM corio_jobs WHERE "
                            "unique_key=$1", 1, kv);
        if (rc == 0)
            rc = PQntuples(r) == 1 ? jobs__pg_row_job(r, 0, existing) : -EIO;
        if (rc == 0)
            rc = -EEXIST;
    }
    PQclear(r);
    return rc;
}


#endif /* CORIO_JOBS_PG */
