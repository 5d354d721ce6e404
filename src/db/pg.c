/*
 * corio_pg: one PostgreSQL connection driven by libpq's non-blocking API
 * from corio fd readiness (see include/corio_pg.h).
 *
 * The connection's socket is registered once with a corio_watch; every
 * wait for readable/writable is then a suspending corio_watch_wait with no
 * epoll_ctl. libpq may replace its socket while connecting (another
 * address, SSL/GSS retry), so during PQconnectPoll the watch is
 * re-registered at every step; after that the socket is fixed for the
 * connection's life (we never PQreset: the pool reconnects with a fresh
 * PGconn instead).
 */
#include "pg_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Re-registers the watch on the current PQsocket. */
static int pg_rewatch(corio_pg *c)
{
    int fd = PQsocket(c->conn);
    corio_watch_close(c->w);
    c->w = NULL;
    if (fd < 0)
        return -ECONNRESET;
    return corio_watch_open(&c->w, fd);
}

static int pg_wait(corio_pg *c, unsigned events)
{
    if (!c->w)
        return -ECONNRESET;
    return corio_watch_wait(c->w, events);
}

static int is_interrupt(int rc)
{
    return rc == -ECANCELED || rc == -ETIMEDOUT;
}

int corio_pg_connect(corio_pg **cp, const char *conninfo, char **errmsg)
{
    corio_pg *c;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    int rc = 0;
    if (errmsg)
        *errmsg = NULL;
    if (!cp || !conninfo)
        return -EINVAL;
    *cp = NULL;
    if (!corio_current())
        return -EPERM;
    c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->conn = PQconnectStart(conninfo);
    if (!c->conn) {
        free(c);
        return -ENOMEM;
    }
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        rc = -ECONNREFUSED;
        goto fail;
    }
    for (;;) {
        if (st == PGRES_POLLING_OK)
            break;
        if (st == PGRES_POLLING_FAILED) {
            rc = -ECONNREFUSED;
            goto fail;
        }
        rc = pg_rewatch(c);
        if (rc)
            goto fail;
        rc = pg_wait(c, st == PGRES_POLLING_READING ? CORIO_READABLE
                                                    : CORIO_WRITABLE);
        if (rc < 0)
            goto fail;
        st = PQconnectPoll(c->conn);
    }
    if (PQsetnonblocking(c->conn, 1) != 0) {
        rc = -ECONNREFUSED;
        goto fail;
    }
    rc = pg_rewatch(c);
    if (rc)
        goto fail;
    *cp = c;
    return 0;
fail:
    if (rc == -ECONNREFUSED && errmsg)
        *errmsg = strdup(PQerrorMessage(c->conn));
    corio_pg_close(c);
    return rc;
}

void corio_pg_close(corio_pg *c)
{
    if (!c)
        return;
    /* The watch goes before the fd that PQfinish closes. */
    corio_watch_close(c->w);
    PQfinish(c->conn);
    free(c);
}

PGconn *corio_pg_conn(corio_pg *c)
{
    return c ? c->conn : NULL;
}

int corio_pg_ok(const corio_pg *c)
{
    return c && !c->broken && PQstatus(c->conn) == CONNECTION_OK;
}

/* Sends what libpq has buffered. While the server's answers come back
 * faster than we can send (a long pipeline), reads them too, so neither
 * side blocks on a full socket buffer. */
static int pg_flush(corio_pg *c)
{
    int r, ev;
    while ((r = PQflush(c->conn)) == 1) {
        ev = pg_wait(c, CORIO_READABLE | CORIO_WRITABLE);
        if (ev < 0)
            return ev;
        if ((ev & CORIO_READABLE) && !PQconsumeInput(c->conn))
            return -ECONNRESET;
    }
    return r < 0 ? -ECONNRESET : 0;
}

/* The next PGresult (NULL: end of this statement's results), read without
 * blocking: waits for the socket while libpq says it would block. */
static int pg_next(corio_pg *c, PGresult **res)
{
    int ev;
    *res = NULL;
    while (PQisBusy(c->conn)) {
        ev = pg_wait(c, CORIO_READABLE);
        if (ev < 0)
            return ev;
        if (!PQconsumeInput(c->conn))
            return -ECONNRESET;
    }
    *res = PQgetResult(c->conn);
    return 0;
}

/* Runs on a pool thread: PQcancel blocks (it opens its own connection to
 * the server). Allocated and freed by pg_cancel_server. */
typedef struct pg_cancel_job {
    PGcancel *pc;
    int ok;
    char err[256];
} pg_cancel_job;

static void *pg_cancel_fn(void *arg)
{
    pg_cancel_job *j = arg;
    j->ok = PQcancel(j->pc, j->err, (int)sizeof j->err);
    return NULL;
}

static void pg_cancel_free(pg_cancel_job *j)
{
    PQfreeCancel(j->pc);
    free(j);
}

/* The pool calls this when nobody collected the job (our shield expired
 * while PQcancel ran): the job is freed once fn is done with it. */
static void pg_cancel_discard(void *result, void *arg)
{
    (void)result;
    pg_cancel_free(arg);
}

/* Asks the server to cancel the running statement, from inside a shield
 * scope (the caller's task is being cancelled or has timed out, so without
 * the shield this very wait would be interrupted too), bounded to 5 s. */
static int pg_cancel_server(corio_pg *c)
{
    corio_work_opts opts;
    corio_scope sc;
    pg_cancel_job *j;
    int rc;
    j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->pc = PQgetCancel(c->conn);
    if (!j->pc) {
        free(j);
        return -ECONNRESET;
    }
    memset(&opts, 0, sizeof opts);
    opts.discard = pg_cancel_discard;
    opts.discard_arg = j;
    corio_scope_enter(&sc, 5.0, CORIO_SCOPE_SHIELD);
    rc = corio_run_in_executor(NULL, pg_cancel_fn, j, NULL, &opts);
    corio_scope_exit(&sc);
    if (rc)
        return rc; /* j now belongs to pg_cancel_discard */
    rc = j->ok ? 0 : -EIO;
    pg_cancel_free(j);
    return rc;
}

/* The task was interrupted while its statement ran: cancel it on the
 * server, then read and drop what is left so the connection can be used
 * again. If that fails the connection is marked broken. */
static void pg_abandon(corio_pg *c, int drain)
{
    corio_scope sc;
    PGresult *r;
    int rc;
    if (pg_cancel_server(c) != 0 || !drain) {
        c->broken = 1;
        return;
    }
    corio_scope_enter(&sc, 5.0, CORIO_SCOPE_SHIELD);
    for (;;) {
        rc = pg_next(c, &r);
        if (rc || !r)
            break;
        PQclear(r);
    }
    corio_scope_exit(&sc);
    if (rc)
        c->broken = 1;
}

static int status_ok(const PGresult *r)
{
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
    case PGRES_SINGLE_TUPLE:
    case PGRES_PIPELINE_SYNC:
        return 1;
    default:
        return 0;
    }
}

static int pg_begin(corio_pg *c)
{
    int rc;
    if (!corio_current())
        return -EPERM;
    if (!c)
        return -EINVAL;
    if (c->busy)
        return -EBUSY;
    if (!corio_pg_ok(c))
        return -ECONNRESET;
    /* Cancellation is level-triggered: a task already cancelled (or in an
     * expired scope) sends nothing, rather than a statement it would have
     * to cancel on the server at once. */
    rc = corio_checkpoint();
    if (rc)
        return rc;
    c->busy = 1;
    return 0;
}

int corio_pg_query_params(corio_pg *c, PGresult **res, const char *sql,
                          int nparams, const Oid *types,
                          const char *const *values, const int *lengths,
                          const int *formats, int result_format)
{
    PGresult *r, *first = NULL;
    int rc;
    if (!res || !sql || nparams < 0)
        return -EINVAL;
    *res = NULL;
    rc = pg_begin(c);
    if (rc)
        return rc;
    if (!PQsendQueryParams(c->conn, sql, nparams, types, values, lengths,
                           formats, result_format)) {
        /* Nothing was sent: a connection that went bad, or bad input. */
        rc = PQstatus(c->conn) == CONNECTION_OK ? -EINVAL : -ECONNRESET;
        goto out;
    }
    rc = pg_flush(c);
    /* Several results only come from COPY or a multi-statement string
     * (which bound parameters forbid); keep the first, which is where an
     * error shows, and read the rest so the connection is idle again. */
    while (rc == 0) {
        rc = pg_next(c, &r);
        if (rc || !r)
            break;
        if (!first)
            first = r;
        else
            PQclear(r);
    }
out:
    if (is_interrupt(rc)) {
        pg_abandon(c, 1);
    } else if (rc) {
        c->broken = 1;
    }
    if (rc) {
        PQclear(first);
        first = NULL;
    } else if (!first) {
        rc = -ECONNRESET;
        c->broken = 1;
    } else if (!status_ok(first)) {
        /* The server's farewell (a FATAL before it closed the session)
         * is an error result too: tell it apart from a failed statement. */
        if (PQstatus(c->conn) == CONNECTION_BAD) {
            rc = -ECONNRESET;
            c->broken = 1;
        } else {
            rc = -EIO;
        }
    }
    *res = first;
    c->busy = 0;
    return rc;
}

int corio_pg_query(corio_pg *c, PGresult **res, const char *sql, int nparams,
                   const char *const *values)
{
    return corio_pg_query_params(c, res, sql, nparams, NULL, values, NULL,
                                 NULL, 0);
}

int corio_pg_pipeline(corio_pg *c, size_t n, const corio_pg_stmt *stmts,
                      PGresult **res)
{
    PGresult *r;
    size_t i;
    int rc, failed = 0;
    if (!res || (n && !stmts))
        return -EINVAL;
    for (i = 0; i < n; i++)
        res[i] = NULL;
    rc = pg_begin(c);
    if (rc)
        return rc;
    if (!PQenterPipelineMode(c->conn)) {
        c->busy = 0;
        return -EINVAL;
    }
    for (i = 0; i < n; i++) {
        if (!PQsendQueryParams(c->conn, stmts[i].sql, stmts[i].nparams, NULL,
                               stmts[i].values, NULL, NULL, 0)) {
            rc = -ECONNRESET;
            goto out;
        }
    }
    if (!PQpipelineSync(c->conn)) {
        rc = -ECONNRESET;
        goto out;
    }
    rc = pg_flush(c);
    /* Each statement's results end with a NULL; the sync's result ends
     * the pipeline. */
    for (i = 0; rc == 0 && i < n; i++) {
        rc = pg_next(c, &res[i]);
        if (rc)
            break;
        if (!res[i]) {
            rc = -ECONNRESET;
            break;
        }
        if (!status_ok(res[i]))
            failed = 1;
        while ((rc = pg_next(c, &r)) == 0 && r)
            PQclear(r);
    }
    if (rc == 0) {
        rc = pg_next(c, &r);
        if (rc == 0 && (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC))
            rc = -ECONNRESET;
        PQclear(r);
    }
    if (rc == 0 && !PQexitPipelineMode(c->conn))
        rc = -ECONNRESET;
out:
    if (is_interrupt(rc))
        pg_abandon(c, 0); /* marks the connection broken */
    else if (rc)
        c->broken = 1;
    c->busy = 0;
    if (rc == 0 && failed)
        rc = -EIO;
    return rc;
}
