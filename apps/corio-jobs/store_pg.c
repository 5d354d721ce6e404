/*
 * The shared job store: PostgreSQL, through corio_pg on the loop.
 *
 * Any number of corio-jobs processes, on one machine or many, point at the
 * same database and share one queue. Nobody keeps the queue in memory:
 *
 *  - A process with free workers CLAIMS jobs: one UPDATE picks the oldest
 *    created jobs with SELECT ... FOR UPDATE SKIP LOCKED, so two processes claiming at the
 *    same moment never get the same job and never wait for each other, and
 *    marks them running, owned by this process (`owner`), under a lease
 *    (`lease_until`, on the server's clock, so the processes' clocks do not
 *    matter).
 *  - Every process RENEWS the leases of everything it holds, every third
 *    of a lease (at most every second). A process that dies (kill -9, a
 *    power cut, a network partition) stops renewing; the next renewal of
 *    any process after the lease has expired puts the job back in the
 *    queue, at its head, and a claim takes it again (attempts + 1). After
 *    max_attempts starts it is given up as interrupted rather than retried
 *    forever: a job that kills its worker must not kill them all.
 *  - The final state of a job is written only WHERE owner = this process
 *    AND attempts = the claim's AND status = 'running' (a fence): a
 *    process that lost its lease (paused past it, partitioned) cannot
 *    overwrite the outcome of whoever claimed the job next, itself
 *    included. The renewal tells a process which claims it no longer
 *    holds, and it cancels their tasks.
 *  - DELETE of a job held by another process sets cancel_requested; the
 *    holder sees it at its next renewal and cancels the job's task.
 *
 * Every operation suspends the calling task (corio_pg's pool of
 * connections), never blocks the loop, and is bounded by OP_TIMEOUT. A
 * group of writes is one transaction sent as one pipeline (BEGIN, the
 * statements, COMMIT: one round trip). Commits are durable with
 * PostgreSQL's default synchronous_commit = on.
 */
#ifdef CORIO_JOBS_PG

#include "store_pg_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Several processes may create the schema at the same moment: the
 * transaction-scoped advisory lock serialises them. */
static const char *const schema[] = {
    "BEGIN",
    /* "already exists, skipping" is not news at every start. */
    "SET LOCAL client_min_messages = warning",
    "SELECT pg_advisory_xact_lock(7362731)",
    ("CREATE TABLE IF NOT EXISTS corio_jobs ("
    "  id text PRIMARY KEY,"            /* a ULID: sorts by creation */
    "  type text NOT NULL,"
    "  status text NOT NULL,"
    "  spec text NOT NULL,"             /* parameters, JSON */
    "  result text,"
    "  error text,"
    "  attempts integer NOT NULL DEFAULT 0,"
    "  created_at bigint NOT NULL,"     /* Unix ms, the submitter's clock */
    "  started_at bigint,"
    "  finished_at bigint,"
    "  updated_at bigint NOT NULL,"
    "  owner text,"                     /* the process holding it */
    "  lease_until timestamptz,"        /* the server's clock */
    "  cancel_requested boolean NOT NULL DEFAULT false)"),
    ("CREATE INDEX IF NOT EXISTS corio_jobs_by_status "
     "ON corio_jobs(status, id)"),
    /* Retries (added to an older table in place). */
    ("ALTER TABLE corio_jobs "
     "ADD COLUMN IF NOT EXISTS max_attempts integer NOT NULL DEFAULT 1, "
     "ADD COLUMN IF NOT EXISTS retry_backoff float8 NOT NULL DEFAULT 1, "
     "ADD COLUMN IF NOT EXISTS run_at bigint, "   /* Unix ms: scheduled */
     "ADD COLUMN IF NOT EXISTS errors text, "     /* JSON array */
     "ADD COLUMN IF NOT EXISTS queue text NOT NULL DEFAULT 'default', "
     "ADD COLUMN IF NOT EXISTS priority integer NOT NULL DEFAULT 0, "
     "ADD COLUMN IF NOT EXISTS timeout float8 NOT NULL DEFAULT 0, "
     "ADD COLUMN IF NOT EXISTS unique_key text"),
    ("CREATE UNIQUE INDEX IF NOT EXISTS corio_jobs_by_key "
     "ON corio_jobs(unique_key) WHERE unique_key IS NOT NULL"),
    ("CREATE INDEX IF NOT EXISTS corio_jobs_by_finished "
     "ON corio_jobs(finished_at) WHERE finished_at IS NOT NULL"),
    /* Claims: the next created jobs by priority, of every queue or of
     * one. Partial: a job enters them once, when it is created; the claim
     * and the outcome (every later update) write no entry in them. Full
     * indexes on (status, ...) took an entry per update, two of the five
     * index insertions per job of a burn-down. They replace the full ones
     * of earlier versions. */
    ("CREATE INDEX IF NOT EXISTS corio_jobs_claim_created "
     "ON corio_jobs(priority DESC, id) WHERE status = 'created'"),
    ("CREATE INDEX IF NOT EXISTS corio_jobs_claim_queue_created "
     "ON corio_jobs(queue, priority DESC, id) WHERE status = 'created'"),
    "DROP INDEX IF EXISTS corio_jobs_claim",
    "DROP INDEX IF EXISTS corio_jobs_claim_queue",
    "COMMIT",
};

/* ---- plumbing ------------------------------------------------------------ */

/* Runs the pipeline stmts[0..n-1] on a connection of the pool. res gets
 * the results (the caller clears them) or NULL when res is NULL. With
 * txn, the statements are one transaction the caller wrapped in
 * BEGIN/COMMIT: after a failure it is rolled back so that the connection
 * can be reused. */
int jobs__pg_run(pg_store *s, size_t n, const corio_pg_stmt *stmts,
                 PGresult **res, int txn)
{
    PGresult *local[8];
    PGresult **r = res ? res : local;
    if (!res && n > 8)
        return -EINVAL;
    memset(r, 0, n * sizeof *r);
    corio_scope sc;
    corio_scope_enter(&sc, OP_TIMEOUT, 0);
    corio_pg *c;
    int rc = corio_pg_pool_acquire(s->pool, &c);
    if (rc == 0) {
        rc = corio_pg_pipeline(c, n, stmts, r);
        if (rc == -EIO && txn) {
            PGresult *rb = NULL;
            corio_pg_query(c, &rb, "ROLLBACK", 0, NULL);
            PQclear(rb);
        }
        corio_pg_pool_release(s->pool, c);
    }
    corio_scope_exit(&sc);
    if (rc == -EIO) {
        /* A unique violation is the caller's -EEXIST; the rest is the
         * server's trouble. */
        for (size_t i = 0; i < n; i++) {
            const char *state =
                r[i] ? PQresultErrorField(r[i], PG_DIAG_SQLSTATE) : NULL;
            if (state && strcmp(state, "23505") == 0)
                rc = -EEXIST;
            /* data_corrupted, index_corrupted: the server found damage. */
            int corrupt = state && (strcmp(state, "XX001") == 0 ||
                                    strcmp(state, "XX002") == 0);
            if (state && state[0] != '0' && (rc == -EIO || corrupt))
                fprintf(stderr, "corio-jobs: PostgreSQL: %s",
                        PQresultErrorMessage(r[i]));
            if (corrupt)
                rc = JOBS_ECORRUPT;
        }
    }
    if (!res)
        for (size_t i = 0; i < n; i++)
            PQclear(r[i]);
    return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -ECONNRESET ||
                   rc == JOBS_ECORRUPT
               ? rc
               : rc < 0 && rc != -EEXIST && rc != -ENOMEM ? -EIO : rc;
}

/* One statement; *res gets its result (the caller clears it). */
int jobs__pg_run1(pg_store *s, PGresult **res, const char *sql, int nparams,
                  const char *const *values)
{
    corio_pg_stmt st = {sql, nparams, values};
    return jobs__pg_run(s, 1, &st, res, 0);
}

static int64_t col_ms(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0
                                    : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int col_str(const PGresult *r, int row, int col, char **out)
{
    *out = NULL;
    if (PQgetisnull(r, row, col))
        return 0;
    *out = strdup(PQgetvalue(r, row, col));
    return *out ? 0 : -ENOMEM;
}

/* Row `row` of a result whose first columns are COLS, as a new job. */
int jobs__pg_row_job(const PGresult *r, int row, jobs_job **out)
{
    *out = NULL;
    jobs_job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->prev_status = -1;
    const char *id = PQgetvalue(r, row, 0);
    int rc = 0;
    if (strlen(id) > JOBS_ID_LEN) {
        rc = JOBS_ECORRUPT; /* not a row this program wrote */
    } else {
        memcpy(j->id, id, strlen(id) + 1);
        j->type = jobs_type_intern(PQgetvalue(r, row, 1));
        j->status = jobs_status_parse(PQgetvalue(r, row, 2));
        if (j->type < 0 || j->status < 0)
            rc = JOBS_ECORRUPT;
    }
    if (rc == 0)
        rc = col_str(r, row, 3, &j->spec);
    if (rc == 0)
        rc = col_str(r, row, 4, &j->result);
    if (rc == 0)
        rc = col_str(r, row, 5, &j->error);
    if (rc < 0) {
        jobs_job_free(j);
        return rc;
    }
    j->attempts = atoi(PQgetvalue(r, row, 6));
    j->created_ms = col_ms(r, row, 7);
    j->started_ms = col_ms(r, row, 8);
    j->finished_ms = col_ms(r, row, 9);
    j->max_attempts = atoi(PQgetvalue(r, row, 10));
    j->retry_backoff = strtod(PQgetvalue(r, row, 11), NULL);
    j->run_at_ms = col_ms(r, row, 12);
    const char *q = PQgetvalue(r, row, 14);
    j->priority = atoi(PQgetvalue(r, row, 15));
    j->timeout = strtod(PQgetvalue(r, row, 16), NULL);
    if (strlen(q) < sizeof j->queue)
        strcpy(j->queue, q);
    rc = j->max_attempts < 1 || !j->queue[0]
             ? JOBS_ECORRUPT
             : col_str(r, row, 13, &j->errors);
    if (rc == 0)
        rc = col_str(r, row, 17, &j->unique_key);
    if (rc < 0) {
        jobs_job_free(j);
        return rc;
    }
    *out = j;
    return 0;
}

/* Every row of r as a malloc'ed array of new jobs, in id order. */
static int rows_jobs(const PGresult *r, jobs_job ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rows = PQntuples(r);
    if (rows == 0)
        return 0;
    jobs_job **v = calloc((size_t)rows, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (int i = 0; i < rows; i++) {
        int rc = jobs__pg_row_job(r, i, &v[i]);
        if (rc < 0) {
            jobs_job_free_array(v, (size_t)i);
            return rc;
        }
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(jobs_job *const *)a)->id, (*(jobs_job *const *)b)->id);
}

/* ---- reads ------------------------------------------------------------- */

static int pg_get(jobs_store *base, const char *id, jobs_job **out)
{
    pg_store *s = (pg_store *)base;
    *out = NULL;
    PGresult *r = NULL;
    const char *v[1] = {id};
    int rc = jobs__pg_run1(s, &r,
                           "SELECT " COLS " FROM corio_jobs WHERE id=$1", 1, v);
    if (rc == 0)
        rc = PQntuples(r) == 0 ? -ENOENT : jobs__pg_row_job(r, 0, out);
    PQclear(r);
    return rc;
}

static int pg_find_key(jobs_store *base, const char *key, jobs_job **out)
{
    pg_store *s = (pg_store *)base;
    *out = NULL;
    PGresult *r = NULL;
    const char *v[1] = {key};
    int rc = jobs__pg_run1(
        s, &r, "SELECT " COLS " FROM corio_jobs WHERE unique_key=$1", 1, v);
    if (rc == 0)
        rc = PQntuples(r) == 0 ? -ENOENT : jobs__pg_row_job(r, 0, out);
    PQclear(r);
    return rc;
}

static int pg_list(jobs_store *base, int status, const char *after,
                   size_t limit, jobs_job ***out, size_t *n)
{
    pg_store *s = (pg_store *)base;
    *out = NULL;
    *n = 0;
    if (status >= JOBS_NSTATUS)
        return -EINVAL;
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", limit > 100000 ? (size_t)100000 : limit);
    const char *v[3] = {after ? after : "", lim,
                        status >= 0 ? jobs_status_name(status) : NULL};
    PGresult *r = NULL;
    int rc = status >= 0
                 ? jobs__pg_run1(s, &r, "SELECT " COLS " FROM corio_jobs "
                                 "WHERE status=$3 AND id > $1 ORDER BY id "
                                 "LIMIT $2", 3, v)
                 : jobs__pg_run1(s, &r, "SELECT " COLS " FROM corio_jobs "
                                 "WHERE id > $1 ORDER BY id LIMIT $2", 2, v);
    if (rc == 0)
        rc = rows_jobs(r, out, n);
    PQclear(r);
    return rc;
}

static int pg_list_desc(jobs_store *base, int status, const char *before,
                        size_t limit, jobs_job ***out, size_t *n)
{
    pg_store *s = (pg_store *)base;
    *out = NULL;
    *n = 0;
    if (status >= JOBS_NSTATUS)
        return -EINVAL;
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", limit > 100000 ? (size_t)100000 : limit);
    /* $1 is always sent, so that every variant takes the same values. */
    const char *v[3] = {before ? before : "", lim,
                        status >= 0 ? jobs_status_name(status) : NULL};
    static const char *const sql[2][2] = {
        {"SELECT " COLS " FROM corio_jobs WHERE $1 = '' "
         "ORDER BY id DESC LIMIT $2",
         "SELECT " COLS " FROM corio_jobs WHERE $1 = '' AND status=$3 "
         "ORDER BY id DESC LIMIT $2"},
        {"SELECT " COLS " FROM corio_jobs WHERE id < $1 "
         "ORDER BY id DESC LIMIT $2",
         "SELECT " COLS " FROM corio_jobs WHERE id < $1 AND status=$3 "
         "ORDER BY id DESC LIMIT $2"}};
    PGresult *r = NULL;
    int rc = jobs__pg_run1(s, &r, sql[before != NULL][status >= 0],
                           status >= 0 ? 3 : 2, v);
    if (rc == 0)
        rc = rows_jobs(r, out, n);
    PQclear(r);
    return rc;
}

static int pg_queue_counts(jobs_store *base, jobs_queue_count **out,
                           size_t *n)
{
    pg_store *s = (pg_store *)base;
    *out = NULL;
    *n = 0;
    PGresult *r = NULL;
    int rc = jobs__pg_run1(s, &r,
                           "SELECT queue, status, count(*) FROM corio_jobs "
                           "WHERE status IN ('created', 'scheduled', "
                           "'running') GROUP BY queue, status ORDER BY queue",
                           0, NULL);
    jobs_queue_count *v = NULL;
    size_t cnt = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        rc = jobs_queue_counts_add(&v, &cnt, PQgetvalue(r, i, 0),
                                   jobs_status_parse(PQgetvalue(r, i, 1)),
                                   strtoull(PQgetvalue(r, i, 2), NULL, 10));
    }
    PQclear(r);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

static int pg_counts(jobs_store *base, uint64_t counts[JOBS_NSTATUS])
{
    pg_store *s = (pg_store *)base;
    memset(counts, 0, sizeof(uint64_t) * JOBS_NSTATUS);
    PGresult *r = NULL;
    int rc = jobs__pg_run1(s, &r, "SELECT status, count(*) FROM corio_jobs "
                           "GROUP BY status", 0, NULL);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        int st = jobs_status_parse(PQgetvalue(r, i, 0));
        if (st >= 0)
            counts[st] = strtoull(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    return rc;
}

/* Shared: nothing to do at startup. A dead process's jobs come back
 * through their expired leases, not through whoever starts next (which
 * may be a second process starting while the first is alive). */
static int pg_recover(jobs_store *base, int policy, int64_t now_ms, size_t *n)
{
    (void)base;
    (void)policy;
    (void)now_ms;
    *n = 0;
    return 0;
}

/* Takes the oldest created jobs. Only created ones: the index on (status,
 * id) makes this a short index scan however long the queue is. Expired
 * leases come back as created through the reaping in pg_renew. */
#define CLAIM_HEAD                                                          \
    "UPDATE corio_jobs j SET status='running', owner=$1, "                  \
    "lease_until=clock_timestamp() + make_interval(secs => "                \
    "$2::float8), attempts=j.attempts + 1, "                                \
    "started_at=$3::bigint, updated_at=$3::bigint, "                        \
    "finished_at=NULL, result=NULL, error=NULL, "                           \
    "cancel_requested=false FROM (SELECT id FROM corio_jobs "               \
    "WHERE status='created' "
#define CLAIM_TAIL                                                          \
    "ORDER BY priority DESC, id LIMIT $4::int "                             \
    "FOR UPDATE SKIP LOCKED) c WHERE j.id = c.id "                          \
    "RETURNING j.id, j.type, j.status, j.spec, j.result, "                  \
    "j.error, j.attempts, j.created_at, j.started_at, "                     \
    "j.finished_at, j.max_attempts, j.retry_backoff, j.run_at, "            \
    "j.errors, j.queue, j.priority, j.timeout, j.unique_key"
/* Any queue; one queue ($5); every queue but some ($5, a text array). */
static const char claim_sql[] = CLAIM_HEAD CLAIM_TAIL;
static const char claim_queue_sql[] = CLAIM_HEAD "AND queue = $5 " CLAIM_TAIL;
static const char claim_others_sql[] =
    CLAIM_HEAD "AND NOT (queue = ANY($5::text[])) " CLAIM_TAIL;

/* Scheduled jobs whose time has come (a retry's backoff over) go back to
 * created before a claim, in the same round trip: the claim itself stays a
 * short scan of its index. Their old ids put them at the head of the
 * queue. $1: now. */
const char jobs__pg_due_sql[] =
    "UPDATE corio_jobs SET status='created', updated_at=$1::bigint "
    "WHERE status='scheduled' AND run_at <= $1::bigint";

int jobs__pg_claim_stmt(pg_store *s, const jobs_claim_filter *f, size_t max,
                        jobs_pg_claim_args *a, corio_pg_stmt *st)
{
    snprintf(a->now, sizeof a->now, "%" PRId64, jobs_now_ms());
    snprintf(a->lim, sizeof a->lim, "%zu", max);
    a->arr = NULL;
    /* Queue names are [a-z0-9_.-]: an array literal needs no quoting. */
    const char *sql = claim_sql;
    const char *fv = NULL;
    if (f && f->queue) {
        sql = claim_queue_sql;
        fv = f->queue;
    } else if (f && f->nexclude) {
        size_t len = 3;
        for (size_t i = 0; i < f->nexclude; i++)
            len += strlen(f->exclude[i]) + 1;
        char *arr = malloc(len);
        if (!arr)
            return -ENOMEM;
        size_t k = 0;
        arr[k++] = '{';
        for (size_t i = 0; i < f->nexclude; i++) {
            size_t l = strlen(f->exclude[i]);
            if (i)
                arr[k++] = ',';
            memcpy(arr + k, f->exclude[i], l);
            k += l;
        }
        arr[k++] = '}';
        arr[k] = '\0';
        sql = claim_others_sql;
        fv = a->arr = arr;
    }
    a->v[0] = s->owner;
    a->v[1] = s->lease;
    a->v[2] = a->now;
    a->v[3] = a->lim;
    a->v[4] = fv;
    *st = (corio_pg_stmt){sql, fv ? 5 : 4, a->v};
    return 0;
}

int jobs__pg_claim_rows(const PGresult *r, jobs_job ***out, size_t *n)
{
    int rc = rows_jobs(r, out, n);
    if (rc == 0 && *n > 1)
        qsort(*out, *n, sizeof **out, by_id);
    return rc;
}

static int pg_claim(jobs_store *base, const jobs_claim_filter *f, size_t max,
                    jobs_job ***out, size_t *n)
{
    pg_store *s = (pg_store *)base;
    *out = NULL;
    *n = 0;
    jobs_pg_claim_args a;
    corio_pg_stmt st[2];
    int rc = jobs__pg_claim_stmt(s, f, max, &a, &st[1]);
    if (rc < 0)
        return rc;
    st[0] = (corio_pg_stmt){jobs__pg_due_sql, 1, &a.v[2]};
    PGresult *rr[2] = {NULL, NULL};
    rc = jobs__pg_run(s, 2, st, rr, 0);
    if (rc == 0)
        rc = jobs__pg_claim_rows(rr[1], out, n);
    PQclear(rr[0]);
    PQclear(rr[1]);
    free(a.arr);
    return rc;
}

/* Extends this process's leases, then reaps every process's expired ones. */
static int pg_renew(jobs_store *base, jobs_held **held, size_t *n)
{
    pg_store *s = (pg_store *)base;
    *held = NULL;
    *n = 0;
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, jobs_now_ms());
    const char *reap_v[2] = {now, s->max_attempts};
    const char *renew_v[2] = {s->owner, s->lease};
    corio_pg_stmt st[5] = {
        /* Renew first: after an outage of the database longer than the
         * lease, a live process keeps the jobs it still runs instead of
         * reaping them itself. A row another transaction has locked is
         * skipped, not waited for: that is nearly always this process's
         * own outcome being committed (the job has ended), and waiting
         * for it made every outcome behind it wait for the renewal in
         * turn (a renewal took about a second under a burn-down) or, in
         * another lock order, deadlock. A skipped job that still runs is
         * renewed next time, a third of a lease later. */
        {"UPDATE corio_jobs j SET lease_until=clock_timestamp() + "
         "make_interval(secs => $2::float8) FROM (SELECT id FROM corio_jobs "
         "WHERE owner=$1 AND status='running' FOR UPDATE SKIP LOCKED) c "
         "WHERE j.id = c.id", 2, renew_v},
        /* What this process holds, locked or not: the jobs that are not
         * here any more were taken over (or cancelled) elsewhere. */
        {"SELECT id, cancel_requested, attempts FROM corio_jobs WHERE "
         "owner=$1 AND status='running'", 1, renew_v},
        /* A DELETE asked for it and its holder died: it ends cancelled. */
        {"UPDATE corio_jobs SET status='cancelled', finished_at=$1::bigint, "
         "updated_at=$1::bigint, error='cancelled by DELETE /jobs/<id>', "
         "owner=NULL, lease_until=NULL WHERE status='running' AND "
         "cancel_requested AND lease_until < clock_timestamp()", 1, reap_v},
        /* Its holders died max_attempts times: give up on it. */
        {"UPDATE corio_jobs SET status='interrupted', finished_at=$1::bigint, "
         "updated_at=$1::bigint, error='the process running it stopped, ' "
         "|| attempts || ' time(s); not retried again', owner=NULL, "
         "lease_until=NULL WHERE status='running' AND attempts >= $2::int "
         "AND lease_until < clock_timestamp()", 2, reap_v},
        /* Otherwise back to the queue, where its id puts it first. */
        {"UPDATE corio_jobs SET status='created', owner=NULL, "
         "lease_until=NULL, updated_at=$1::bigint WHERE status='running' AND "
         "attempts < $2::int AND lease_until < clock_timestamp()", 2, reap_v},
    };
    PGresult *r[5] = {NULL, NULL, NULL, NULL, NULL};
    int rc = jobs__pg_run(s, 5, st, r, 0);
    int rows = rc == 0 ? PQntuples(r[1]) : 0;
    if (rows > 0) {
        *held = calloc((size_t)rows, sizeof **held);
        if (!*held)
            rc = -ENOMEM;
        for (int i = 0; rc == 0 && i < rows; i++) {
            jobs_held *h = &(*held)[i];
            snprintf(h->id, sizeof h->id, "%s", PQgetvalue(r[1], i, 0));
            h->cancel = PQgetvalue(r[1], i, 1)[0] == 't';
            h->attempts = atoi(PQgetvalue(r[1], i, 2));
        }
        if (rc == 0)
            *n = (size_t)rows;
    }
    for (int i = 0; i < 5; i++)
        PQclear(r[i]);
    return rc;
}

static int pg_cancel(jobs_store *base, const char *id, jobs_job **out)
{
    pg_store *s = (pg_store *)base;
    *out = NULL;
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, jobs_now_ms());
    const char *v[2] = {id, now};
    /* In this order, so that a job a claim moves from created to running
     * between the two statements still gets its request. */
    corio_pg_stmt st[3] = {
        {"UPDATE corio_jobs SET status='cancelled', finished_at=$2::bigint, "
         "updated_at=$2::bigint, error='cancelled by DELETE before it "
         "started' WHERE id=$1 AND status IN ('created', 'scheduled') "
         "RETURNING " COLS, 2, v},
        {"UPDATE corio_jobs SET cancel_requested=true, updated_at=$2::bigint "
         "WHERE id=$1 AND status='running' RETURNING " COLS, 2, v},
        {"SELECT " COLS " FROM corio_jobs WHERE id=$1", 1, v},
    };
    PGresult *r[3] = {NULL, NULL, NULL};
    int rc = jobs__pg_run(s, 3, st, r, 0);
    if (rc == 0) {
        if (PQntuples(r[0]) == 1)
            rc = jobs__pg_row_job(r[0], 0, out);
        else if (PQntuples(r[1]) == 1)
            rc = (rc = jobs__pg_row_job(r[1], 0, out)) < 0 ? rc : -EINPROGRESS;
        else if (PQntuples(r[2]) == 1)
            rc = (rc = jobs__pg_row_job(r[2], 0, out)) < 0 ? rc : -EALREADY;
        else
            rc = -ENOENT;
    }
    for (int i = 0; i < 3; i++)
        PQclear(r[i]);
    return rc;
}

static void pg_close(jobs_store *base)
{
    pg_store *s = (pg_store *)base;
    corio_pg_pool_destroy(s->pool);
    free(s);
}

/* For the library's extras (store_pg_ext.c): their own statements. */
corio_pg_pool *jobs_pg_pool(jobs_store *base);
corio_pg_pool *jobs_pg_pool(jobs_store *base)
{
    return ((pg_store *)base)->pool;
}

static const jobs_store_ops pg_ops = {
    .name = "postgresql",
    .write = jobs__pg_write,
    .get = pg_get,
    .find_key = pg_find_key,
    .prune = jobs__pg_prune,
    .retry = jobs__pg_retry,
    .insert_unique = jobs__pg_insert_unique,
    .list = pg_list,
    .counts = pg_counts,
    .list_desc = pg_list_desc,
    .queue_counts = pg_queue_counts,
    .recover = pg_recover,
    .close = pg_close,
    .on_loop = 1,
    .claim = pg_claim,
    .renew = pg_renew,
    .cancel = pg_cancel,
    .write_claim = jobs__pg_write_claim,
};

int jobs_store_open_pg(const char *conninfo, const jobs_store_opts *opts,
                       jobs_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!corio_current()) {
        snprintf(err, errlen, "a PostgreSQL store is opened from a task");
        return -EPERM;
    }
    double lease = opts && opts->lease > 0 ? opts->lease : 30;
    int max_attempts = opts && opts->max_attempts > 0 ? opts->max_attempts : 3;
    pg_store *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->base.ops = &pg_ops;
    s->base.name = "in PostgreSQL (table corio_jobs)";
    s->base.repair = "PostgreSQL reported data corruption (SQLSTATE XX001 or "
                     "XX002): see the server's log; REINDEX a damaged index, "
                     "or restore the table from a backup.";
    snprintf(s->lease, sizeof s->lease, "%.3f", lease);
    snprintf(s->max_attempts, sizeof s->max_attempts, "%d", max_attempts);
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    uint32_t nonce = 0;
    if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce)
        nonce = (uint32_t)jobs_now_ms();
    snprintf(s->owner, sizeof s->owner, "%.63s:%ld:%08x", host, (long)getpid(),
             nonce);
    corio_pg_pool_config cfg = {
        .max = opts && opts->pool_max > 0 ? (size_t)opts->pool_max : POOL_MAX,
        .connect_timeout = 10};
    int rc = corio_pg_pool_create(&s->pool, conninfo, &cfg);
    if (rc < 0) {
        free(s);
        snprintf(err, errlen, "%s", corio_strerror(rc));
        return rc;
    }
    /* Connect now, so that a wrong URL is reported at startup, with
     * libpq's reason. */
    corio_pg *c = NULL;
    char *why = NULL;
    corio_scope sc;
    corio_scope_enter(&sc, 10, 0);
    rc = corio_pg_connect(&c, conninfo, &why);
    corio_scope_exit(&sc);
    corio_pg_close(c);
    if (rc < 0) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
                 why ? why : corio_strerror(rc));
        free(why);
        pg_close(&s->base);
        return rc;
    }
    corio_pg_stmt st[sizeof schema / sizeof *schema];
    for (size_t i = 0; i < sizeof schema / sizeof *schema; i++)
        st[i] = (corio_pg_stmt){schema[i], 0, NULL};
    PGresult *r[sizeof schema / sizeof *schema];
    rc = jobs__pg_run(s, sizeof schema / sizeof *schema, st, r, 1);
    for (size_t i = 0; i < sizeof schema / sizeof *schema; i++) {
        if (rc < 0 && r[i] && PQresultStatus(r[i]) == PGRES_FATAL_ERROR)
            snprintf(err, errlen, "creating the schema: %s",
                     PQresultErrorMessage(r[i]));
        PQclear(r[i]);
    }
    if (rc < 0) {
        if (!err[0])
            snprintf(err, errlen, "creating the schema: %s",
                     corio_strerror(rc));
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

#endif /* CORIO_JOBS_PG */
