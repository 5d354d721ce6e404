/*
 * corio_pg: PostgreSQL on the corio loop, over libpq's non-blocking API.
 *
 * A task calls one suspending function and gets a PGresult; while the
 * server works, the loop runs other tasks (no thread per query, no
 * reimplemented wire protocol). Optional component: build with
 * CORIO_BUILD_PG (on when pkg-config finds libpq), link corio_pg.
 *
 * Objects and ownership:
 *  - corio_pg: one connection. Made by corio_pg_connect, freed by
 *    corio_pg_close (which also closes the PGconn). Used by one task at a
 *    time: a second task calling a query function meanwhile gets -EBUSY.
 *  - corio_pg_pool: a bounded set of connections. Made by
 *    corio_pg_pool_create, freed by corio_pg_pool_destroy once every
 *    acquired connection has been released.
 *  - PGresult: every *res a function fills belongs to the caller, who
 *    PQclear()s it -- also when the function returned an error with *res
 *    non-NULL (a server-side error comes with its result, so the caller can
 *    read PQresultErrorMessage / PQresultErrorField(res, PG_DIAG_SQLSTATE)).
 *    When *res is NULL there is nothing to clear.
 *
 * Errors: 0 on success; -EIO when the server reported an error for the
 * statement (*res holds it); -ECONNRESET when the connection broke (the
 * connection is then unusable: close it, or release it to its pool, which
 * replaces it; *res may hold the server's parting message, e.g. after
 * pg_terminate_backend); -ECANCELED / -ETIMEDOUT when the task was cancelled or its
 * scope expired -- the server-side statement is then really cancelled
 * (PQcancel, run on the thread pool) before the call returns; -EBUSY, -EPERM
 * (not in a task), -ENOMEM, -EINVAL.
 *
 * Parameters are always bound ($1, $2, ... in the SQL, values separately):
 * there is no function taking a string-built query with values in it.
 */
#ifndef CORIO_PG_H
#define CORIO_PG_H

#include <stddef.h>
/* libpq's header is in the compiler's path with `pkg-config --cflags
 * libpq`; Debian also has it as <postgresql/libpq-fe.h> without flags. */
#if defined(__has_include)
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#elif __has_include(<postgresql/libpq-fe.h>)
#include <postgresql/libpq-fe.h>
#else
#include <libpq-fe.h>
#endif
#else
#include <libpq-fe.h>
#endif

#include <corio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_pg corio_pg;
typedef struct corio_pg_pool corio_pg_pool;

/* Suspending: connects with a libpq conninfo string or URI
 * ("host=/tmp port=5432 dbname=x", "postgresql://u@h/db") through
 * PQconnectStart/PQconnectPoll. Bound it with a scope for a timeout.
 * Returns 0, -ECONNREFUSED (libpq failed to connect: the reason went to
 * *errmsg if errmsg is non-NULL, a malloc'ed string the caller frees),
 * -ECANCELED, -ETIMEDOUT, -ENOMEM, -EPERM. */
CORIO_API int corio_pg_connect(corio_pg **cp, const char *conninfo, char **errmsg);
/* Closes the connection and frees c (NULL: no-op). Not suspending. Not
 * while a task is inside a query function on c (it would wake on a freed
 * connection); cancel and await that task first. */
CORIO_API void corio_pg_close(corio_pg *c);
/* The underlying PGconn, for PQescape*, PQparameterStatus, ... Do not run
 * blocking libpq calls on it (PQexec) from the loop thread. */
CORIO_API PGconn *corio_pg_conn(corio_pg *c);
/* 1 if the connection is usable (not broken, PQstatus OK). */
CORIO_API int corio_pg_ok(const corio_pg *c);

/* Suspending: runs one statement with bound parameters
 * (PQsendQueryParams; see its documentation for types, lengths, formats,
 * which may be NULL for all-text parameters). *res gets the result. */
CORIO_API int corio_pg_query_params(corio_pg *c, PGresult **res, const char *sql,
                                    int nparams, const Oid *types,
                                    const char *const *values, const int *lengths,
                                    const int *formats, int result_format);
/* The same with text parameters and text results. */
CORIO_API int corio_pg_query(corio_pg *c, PGresult **res, const char *sql, int nparams,
                             const char *const *values);

/* One statement of a pipeline. */
typedef struct corio_pg_stmt {
    const char *sql;
    int nparams;
    const char *const *values; /* text parameters */
} corio_pg_stmt;

/* Suspending: sends n statements at once in libpq's pipeline mode (one
 * round trip for all of them) and collects their results into res[0..n-1]
 * (each set, NULL only if the connection broke first; the caller clears
 * every non-NULL one). The statements run in order, each in its own
 * implicit transaction unless the SQL says BEGIN/COMMIT; after one fails,
 * the rest are skipped with PGRES_PIPELINE_ABORTED. Returns 0 if all
 * succeeded, -EIO if one failed, or an error above. Interrupted
 * (-ECANCELED/-ETIMEDOUT), the server side is cancelled and the connection
 * marked broken (a pool replaces it). */
CORIO_API int corio_pg_pipeline(corio_pg *c, size_t n, const corio_pg_stmt *stmts,
                                PGresult **res);

/* ---- pool ------------------------------------------------------------- */

typedef struct corio_pg_pool_config {
    size_t max;          /* at most this many connections (0: 10) */
    double health_idle;  /* a connection idle longer than this (seconds)
                            is checked with "SELECT 1" before it is
                            handed out (0: 30 s; < 0: never) */
    double connect_timeout; /* per new connection (0: 10 s; < 0: none) */
} corio_pg_pool_config;

/* Makes a pool for conninfo (copied). Connections are opened lazily by
 * corio_pg_pool_acquire. cfg may be NULL. Returns 0, -ENOMEM, -EPERM (no
 * loop). */
CORIO_API int corio_pg_pool_create(corio_pg_pool **pp, const char *conninfo,
                                   const corio_pg_pool_config *cfg);
/* Closes the idle connections and frees p. Every acquired connection must
 * have been released first (else returns -EBUSY and frees nothing). */
CORIO_API int corio_pg_pool_destroy(corio_pg_pool *p);
/* Suspending: waits (FIFO) until fewer than max connections are handed
 * out, then gives an idle healthy one or opens a new one. A connection
 * that fails its health check (its server hung up on it while it was
 * idle, or, idle longer than health_idle, it does not answer SELECT 1) is
 * closed and replaced (reconnect). Returns
 * 0, -ECONNREFUSED (could not connect), -ECANCELED, -ETIMEDOUT, -EPERM. */
CORIO_API int corio_pg_pool_acquire(corio_pg_pool *p, corio_pg **cp);
/* Gives c back. A broken connection, or one left inside a transaction, is
 * closed instead of reused (the next acquire opens a fresh one). */
CORIO_API void corio_pg_pool_release(corio_pg_pool *p, corio_pg *c);
/* Acquire, corio_pg_query, release. */
CORIO_API int corio_pg_pool_query(corio_pg_pool *p, PGresult **res, const char *sql,
                                  int nparams, const char *const *values);
/* Connections open now (idle + handed out). */
CORIO_API size_t corio_pg_pool_size(const corio_pg_pool *p);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PG_H */
