/*
 * Jobs that other connections insert into a SQLite store: the caller's own
 * transaction (corio_jobs_enqueue_sqlite, River's point: the job commits
 * or rolls back with the caller's data) and the ticks of periodic jobs
 * (cron.c), which record the tick and its job in one transaction.
 *
 * The service keeps a SQLite store's queue in memory (it is the file's one
 * process), so it has to learn of a job that it did not insert itself.
 * Such an insert also adds the job's id to a small table, jobs_inbox, in
 * the same transaction; the service's inbox task reads it every poll
 * (0.25 s) or at once after corio_jobs_kick(), queues each job it does
 * not know yet (still created or scheduled), and deletes the ids. A job
 * adopted twice is impossible: the table of active jobs is checked first,
 * and a job that already ran has left created. After a crash, the start
 * loads every created job anyway, and the stale ids are skipped.
 *
 * Tables, beside the store's own (created by the first service that opens
 * the file, with CREATE TABLE IF NOT EXISTS):
 *   jobs_inbox(id)               jobs inserted by other connections
 *   jobs_cron(name, last_tick)   the last tick enqueued per schedule
 */
#include "ext.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

static const char tables[] =
    "CREATE TABLE IF NOT EXISTS jobs_inbox(id TEXT PRIMARY KEY) "
    "WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS jobs_cron(name TEXT PRIMARY KEY, "
    "last_tick INTEGER NOT NULL) WITHOUT ROWID;";

#define COLS "id, type, status, spec, result, error, attempts, created_at, " \
             "started_at, finished_at, max_attempts, retry_backoff, run_at, " \
             "errors, queue, priority, timeout, unique_key, updated_at"

static int say(char *err, size_t errlen, sqlite3 *db, int rc)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", db ? sqlite3_errmsg(db)
                                       : sqlite3_errstr(rc));
    switch (rc & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_CORRUPT: case SQLITE_NOTADB: return JOBS_ECORRUPT;
    default: return -EIO;
    }
}

static void bind_ms(sqlite3_stmt *st, int i, int64_t ms)
{
    if (ms)
        sqlite3_bind_int64(st, i, ms);
    else
        sqlite3_bind_null(st, i);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* One statement with the job's columns bound where it names them. */
static int insert_row(sqlite3 *db, const jobs_job *j)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO jobs(" COLS ") VALUES(?1,"
                                "?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,"
                                "?15,?16,?17,?18,?19) ON CONFLICT DO NOTHING",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, jobs_type_name(j->type), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, jobs_status_name(j->status), -1, SQLITE_STATIC);
    bind_text(st, 4, j->spec ? j->spec : "{}");
    bind_text(st, 5, j->result);
    bind_text(st, 6, j->error);
    sqlite3_bind_int(st, 7, j->attempts);
    sqlite3_bind_int64(st, 8, j->created_ms);
    bind_ms(st, 9, j->started_ms);
    bind_ms(st, 10, j->finished_ms);
    sqlite3_bind_int(st, 11, j->max_attempts > 0 ? j->max_attempts : 1);
    sqlite3_bind_double(st, 12, j->retry_backoff);
    bind_ms(st, 13, j->run_at_ms);
    bind_text(st, 14, j->errors);
    bind_text(st, 15, j->queue[0] ? j->queue : "default");
    sqlite3_bind_int(st, 16, j->priority);
    sqlite3_bind_double(st, 17, j->timeout);
    bind_text(st, 18, j->unique_key);
    sqlite3_bind_int64(st, 19, jobs_now_ms());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The id of the job holding key into out: SQLITE_OK, SQLITE_DONE (none). */
static int key_holder(sqlite3 *db, const char *key, char *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT id FROM jobs WHERE unique_key=?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    const char *id = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
                                      : NULL;
    if (id)
        snprintf(out, JOBS_ID_LEN + 1, "%s", id);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

int jobs__sqx_insert(sqlite3 *db, const jobs_job *j, char *existing,
                     char *err, size_t errlen)
{
    /* A savepoint: atomic on its own, or a part of the caller's
     * transaction. */
    int rc = sqlite3_exec(db, "SAVEPOINT corio_jobs_enqueue", NULL, NULL,
                          NULL);
    if (rc != SQLITE_OK)
        return say(err, errlen, db, rc);
    int out = 0;
    rc = insert_row(db, j);
    if (rc == SQLITE_OK && sqlite3_changes(db) == 0) {
        /* A job holds the unique_key (or, never in practice, the id). */
        rc = j->unique_key ? key_holder(db, j->unique_key, existing)
                           : SQLITE_CONSTRAINT;
        out = 1;
    } else if (rc == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(db, "INSERT INTO jobs_inbox(id) VALUES(?1)",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        int r = say(err, errlen, db, rc);
        sqlite3_exec(db, "ROLLBACK TO corio_jobs_enqueue; "
                     "RELEASE corio_jobs_enqueue", NULL, NULL, NULL);
        return r;
    }
    rc = sqlite3_exec(db, "RELEASE corio_jobs_enqueue", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return say(err, errlen, db, rc);
    return out;
}

int corio_jobs_enqueue_sqlite(struct sqlite3 *db, const char *type,
                              const char *spec, char id[27], char *err,
                              size_t errlen)
{
    if (!db) {
        if (err && errlen)
            snprintf(err, errlen, "no connection");
        return -EINVAL;
    }
    jobs_job *j;
    char *prog;
    int rc = jobs__build_job(type, spec, &j, &prog, err, errlen);
    if (rc < 0)
        return rc;
    free(prog); /* a command is checked when it runs (--allow-command) */
    char existing[JOBS_ID_LEN + 1] = "";
    rc = jobs__sqx_insert(db, j, existing, err, errlen);
    if (rc >= 0 && id)
        memcpy(id, rc == 1 ? existing : j->id, JOBS_ID_LEN + 1);
    jobs_job_free(j);
    return rc;
}

/* ---- the service's side ------------------------------------------------------------ */

int jobs__sqx_open(jobs_ext *x, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(x->store->name, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        rc = sqlite3_exec(db, "PRAGMA synchronous=FULL;", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, tables, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", x->store->name,
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return rc == SQLITE_BUSY ? -EBUSY : -EIO;
    }
    x->db = db;
    return 0;
}

void jobs__sqx_close(jobs_ext *x)
{
    sqlite3_close(x->db);
    x->db = NULL;
}

int jobs__sqx_tick(jobs_ext *x, const char *name, int64_t first,
                   int64_t tick_ms, const jobs_job *j)
{
    pthread_mutex_lock(&x->dblock);
    sqlite3 *db = x->db;
    sqlite3_stmt *ins = NULL, *up = NULL;
    int out = 0;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO jobs_cron(name, "
                                "last_tick) VALUES(?1, ?2)", -1, &ins, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, first);
        rc = sqlite3_step(ins);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "UPDATE jobs_cron SET last_tick=?2 WHERE "
                                "name=?1 AND last_tick<?2", -1, &up, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(up, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(up, 2, tick_ms);
        rc = sqlite3_step(up);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    int r = 0;
    if (rc == SQLITE_OK && sqlite3_changes(db) == 1) {
        char existing[JOBS_ID_LEN + 1];
        r = jobs__sqx_insert(db, j, existing, NULL, 0);
        out = r == 0; /* 1: the tick's key is held: enqueued already */
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(up);
    if (rc == SQLITE_OK && r >= 0)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    int ret = r < 0 ? r : rc != SQLITE_OK ? say(NULL, 0, db, rc) : out;
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&x->dblock);
    return ret;
}

/* ---- adopting jobs_inbox -------------------------------------------------------------- */

#define INBOX_BATCH 256

typedef struct inbox_call {
    jobs_ext *x;
    char (*ids)[JOBS_ID_LEN + 1];
    size_t n;
} inbox_call;

static int inbox_read(void *arg)
{
    inbox_call *c = arg;
    pthread_mutex_lock(&c->x->dblock);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->x->db, "SELECT id FROM jobs_inbox ORDER "
                                "BY id LIMIT 256", -1, &st, NULL);
    c->n = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (id && strlen(id) == JOBS_ID_LEN && c->n < INBOX_BATCH)
            memcpy(c->ids[c->n++], id, JOBS_ID_LEN + 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&c->x->dblock);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

static int inbox_delete(void *arg)
{
    inbox_call *c = arg;
    pthread_mutex_lock(&c->x->dblock);
    sqlite3 *db = c->x->db;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "DELETE FROM jobs_inbox WHERE id=?1", -1,
                                &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < c->n; i++) {
        sqlite3_bind_text(st, 1, c->ids[i], -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&c->x->dblock);
    return rc == SQLITE_OK ? 0 : -EIO;
}

entry *jobs__sqx_adopt(jobs_service *s, const char *id)
{
    entry *e = jobs__entry_find(s, id);
    if (e || !s->ext || !s->ext->sqlite)
        return e;
    jobs_job *j = NULL;
    if (jobs__store_get(s, id, &j) < 0 || !j)
        return NULL;
    if ((j->status != JOBS_CREATED && j->status != JOBS_SCHEDULED) ||
        (e = jobs__entry_find(s, id)) || s->draining) {
        jobs_job_free(j);
        return e;
    }
    e = jobs__entry_new(s, j);
    if (!e || jobs__table_add(s, e) < 0) {
        free(e); /* out of memory: the next start queues it */
        jobs_job_free(j);
        return NULL;
    }
    s->by_status[j->status]++;
    s->submitted++;
    if (j->status == JOBS_SCHEDULED && j->run_at_ms > jobs_now_ms())
        jobs__sched_add(s, e);
    else
        jobs__enqueue(s, e);
    return e;
}

void *jobs__sqx_inbox_main(void *arg)
{
    jobs_ext *x = arg;
    inbox_call c = {x, calloc(INBOX_BATCH, sizeof *c.ids), 0};
    if (!c.ids)
        return NULL;
    for (;;) {
        corio_scope sc;
        corio_scope_enter(&sc, x->svc->opts.poll, 0);
        corio_event_wait(x->inbox_bell);
        corio_scope_exit(&sc);
        if (corio_cancelled())
            break;
        corio_event_clear(x->inbox_bell);
        if (jobs_offload(inbox_read, &c) < 0 || c.n == 0)
            continue;
        for (size_t i = 0; i < c.n; i++)
            jobs__sqx_adopt(x->svc, c.ids[i]);
        jobs_offload(inbox_delete, &c);
        if (c.n == INBOX_BATCH)
            corio_event_set(x->inbox_bell); /* there may be more */
    }
    free(c.ids);
    return NULL;
}
