/*
 * Internals of the shared store on PostgreSQL, shared by store_pg.c (the
 * schema, the plumbing, reads, claims, leases, opening) and
 * store_pg_write.c (writes). Not used elsewhere.
 */
#ifndef CORIO_JOBS_STORE_PG_INT_H
#define CORIO_JOBS_STORE_PG_INT_H

#include "jobs.h"
#include "service.h"

#include <corio_pg.h>

#include <stddef.h>
#include <stdint.h>

#define OP_TIMEOUT 30.0 /* seconds, any one operation */
#define POOL_MAX 8      /* connections per process */

/* Allocated by jobs_store_open_pg, freed by pg_close. */
typedef struct pg_store {
    jobs_store base;
    corio_pg_pool *pool;
    char owner[96];       /* this process: host:pid:random */
    char lease[32];       /* seconds, as the text parameter */
    char max_attempts[16];
} pg_store;

#define COLS "id, type, status, spec, result, error, attempts, created_at, " \
             "started_at, finished_at, max_attempts, retry_backoff, run_at, " \
             "errors, queue, priority, timeout, unique_key"
#define NCOLS 19 /* parameters of an inserted row: COLS and updated_at */

/* ---- plumbing (store_pg.c) ------------------------------------------------ */

/* Runs the pipeline stmts[0..n-1] on a connection of the pool. res gets
 * the results (the caller clears them) or NULL when res is NULL. With
 * txn, the statements are one transaction the caller wrapped in
 * BEGIN/COMMIT: after a failure it is rolled back so that the connection
 * can be reused. */
int jobs__pg_run(pg_store *s, size_t n, const corio_pg_stmt *stmts,
                 PGresult **res, int txn);
/* One statement; *res gets its result (the caller clears it). */
int jobs__pg_run1(pg_store *s, PGresult **res, const char *sql, int nparams,
                  const char *const *values);
/* Row `row` of a result whose first columns are COLS, as a new job. */
int jobs__pg_row_job(const PGresult *r, int row, jobs_job **out);

/* ---- claims (store_pg.c) ------------------------------------------------ */

/* The parameters of one claim statement, kept alive until it has run. */
typedef struct jobs_pg_claim_args {
    char now[24], lim[24];
    char *arr; /* malloc'ed or NULL: the caller frees it */
    const char *v[5];
} jobs_pg_claim_args;
/* Scheduled jobs that are due go back to created; $1 is now (Unix ms). */
extern const char jobs__pg_due_sql[];
/* *st gets the claim of up to max jobs that f allows, for this process,
 * with its parameters in *a. 0 or -ENOMEM. */
int jobs__pg_claim_stmt(pg_store *s, const jobs_claim_filter *f, size_t max,
                        jobs_pg_claim_args *a, corio_pg_stmt *st);
/* The rows a claim returned, as new jobs in id order. */
int jobs__pg_claim_rows(const PGresult *r, jobs_job ***out, size_t *n);

/* ---- writes (store_pg_write.c): the store's ops ---------------------------- */

int jobs__pg_write(jobs_store *base, const jobs_write *w, size_t n);
int jobs__pg_write_claim(jobs_store *base, const jobs_write *w, size_t n,
                         jobs_claim_req *c, size_t nc);
int jobs__pg_prune(jobs_store *base, int64_t before_ms, size_t max,
                   uint64_t removed[JOBS_NSTATUS]);
int jobs__pg_retry(jobs_store *base, const char *id, int64_t now_ms,
                   jobs_job **out);
int jobs__pg_insert_unique(jobs_store *base, const jobs_job *j,
                           jobs_job **existing);

#endif
