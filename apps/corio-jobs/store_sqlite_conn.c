/*
 * The embedded store on SQLite (store_sqlite.c): its connections. The
 * schema and its migration, the startup check of the file (PRAGMA
 * quick_check bounded in time by a progress handler and a watchdog
 * thread: see store_sqlite.c's opening comment), and opening and closing
 * one connection with its prepared statements.
 */
#include "store_sqlite_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHEMA_VERSION 2
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  id TEXT PRIMARY KEY,"          /* a ULID: sorts by creation */
    "  type TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  spec TEXT NOT NULL,"           /* parameters, JSON */
    "  result TEXT,"                  /* JSON, once succeeded */
    "  error TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"  /* Unix ms */
    "  started_at INTEGER,"
    "  finished_at INTEGER,"
    "  updated_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, id);";

/* Version 2 (retries): added to a version-1 file by ALTER TABLE, in the
 * same transaction that sets user_version, so an old file opens fine and a
 * crash mid-migration leaves it at version 1. */
static const char schema_v2[] =
    "ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE jobs ADD COLUMN retry_backoff REAL NOT NULL DEFAULT 1;"
    "ALTER TABLE jobs ADD COLUMN run_at INTEGER;"   /* Unix ms: scheduled */
    "ALTER TABLE jobs ADD COLUMN errors TEXT;"      /* JSON array */
    "ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';"
    "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN timeout REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN unique_key TEXT;"  /* Idempotency-Key */
    "CREATE UNIQUE INDEX jobs_by_key ON jobs(unique_key) "
    "WHERE unique_key IS NOT NULL;"
    /* Retention: the oldest ended jobs first (finished_at is set on the
     * ended statuses only). */
    "CREATE INDEX jobs_by_finished ON jobs(finished_at) "
    "WHERE finished_at IS NOT NULL;";

void jobs__sq_conn_close(conn *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->list_any);
    sqlite3_finalize(c->list_status);
    sqlite3_finalize(c->counts);
    sqlite3_finalize(c->by_key);
    sqlite3_finalize(c->insert);
    sqlite3_finalize(c->update);
    sqlite3_close(c->db);
    free(c);
}

static int prep(conn *c, sqlite3_stmt **st, const char *sql)
{
    return sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
                              NULL);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Non-zero interrupts the statement: the check's time is up. */
static int check_progress(void *arg)
{
    return mono_now() > *(const double *)arg;
}

/* The progress handler runs between VM instructions, but quick_check walks
 * every b-tree inside ONE instruction (OP_IntegrityCk: 0.13 s for 100 MB,
 * so minutes for a large file on a cold disk). sqlite3_interrupt(), which
 * that walk does look at, is sent by this watchdog thread at the deadline.
 * On the opener's stack; the opener joins the thread before returning. */
typedef struct watchdog {
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* signalled when the check is over */
    int over;
    sqlite3 *db;
    struct timespec until; /* CLOCK_MONOTONIC */
} watchdog;

static void *watchdog_main(void *arg)
{
    watchdog *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->over) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &w->until) == ETIMEDOUT) {
            /* A no-op if the statement just ended (SQLite then clears the
             * flag when the next statement starts). */
            if (!w->over)
                sqlite3_interrupt(w->db);
            break;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* The refusal of a damaged file: what is wrong, and the way out. */
static void damaged(sq_store *s, const char *why, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s is damaged (%s); corio-jobs will not use it. %s",
             s->path, why, s->repair);
}

/* The startup check (see the top of the file). 0: the file is sound, or
 * too large to check in time (a warning says so); JOBS_ECORRUPT with err
 * filled; another error from SQLite (err filled). */
static int check_file(sq_store *s, sqlite3 *db, char *err, size_t errlen)
{
    if (s->check_timeout < 0)
        return 0;
    double deadline = mono_now() + s->check_timeout;
    sqlite3_progress_handler(db, 10000, check_progress, &deadline);
    watchdog w = {.over = 0, .db = db};
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, &ca);
    pthread_condattr_destroy(&ca);
    double whole = (double)(long long)deadline;
    w.until.tv_sec = (time_t)whole;
    w.until.tv_nsec = (long)((deadline - whole) * 1e9);
    pthread_t wt;
    int watching = pthread_create(&wt, NULL, watchdog_main, &w) == 0;
    sqlite3_stmt *st = NULL;
    char first[200] = "";
    /* quick_check(N) stops after N problems: enough to say what is wrong
     * without reading a wrecked file to its end. */
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(3)", -1, &st, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        const char *t = rc == SQLITE_ROW
                            ? (const char *)sqlite3_column_text(st, 0)
                            : NULL;
        if (t && strcmp(t, "ok") != 0 && !first[0]) {
            /* "*** in database main ***\nPage 139: ...\nPage 135: ..."
             * as one line. */
            if (strncmp(t, "*** in database main ***\n", 25) == 0)
                t += 25;
            size_t k = (size_t)snprintf(first, sizeof first,
                                        "PRAGMA quick_check: ");
            for (; *t && k + 3 < sizeof first; t++) {
                if (*t == '\n')
                    first[k++] = ';';
                first[k++] = *t == '\n' ? ' ' : *t;
            }
            first[k] = '\0';
        }
    }
    if (rc != SQLITE_DONE && !first[0])
        snprintf(first, sizeof first, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_progress_handler(db, 0, NULL, NULL);
    pthread_mutex_lock(&w.mu);
    w.over = 1;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
    if (watching)
        pthread_join(wt, NULL);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    if ((rc & 0xff) == SQLITE_INTERRUPT) {
        fprintf(stderr, "corio-jobs: %s: the integrity check (PRAGMA "
                "quick_check) did not finish within %g s; the store opens "
                "unchecked\n", s->path, s->check_timeout);
        return 0;
    }
    if (first[0] && (rc == SQLITE_DONE || map_rc(rc) == JOBS_ECORRUPT)) {
        damaged(s, first, err, errlen);
        return JOBS_ECORRUPT;
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s: %s", s->path, first);
        return map_rc(rc);
    }
    return 0;
}

int jobs__sq_conn_open(sq_store *s, int writer, conn **out, char *err,
                       size_t errlen)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(s->path, &c->db, flags, s->vfs);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(c->db, 10000);
    sqlite3_extended_result_codes(c->db, 1);
    if (writer && (rc = check_file(s, c->db, err, errlen)) < 0) {
        jobs__sq_conn_close(c);
        return rc;
    }
    if (writer) {
        /* WAL is a property of the file: set once, it stays. */
        rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL;"
                                 "PRAGMA synchronous=FULL;", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail;
        sqlite3_stmt *v;
        rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &v, NULL);
        if (rc != SQLITE_OK)
            goto fail;
        int version = sqlite3_step(v) == SQLITE_ROW ? sqlite3_column_int(v, 0)
                                                    : -1;
        sqlite3_finalize(v);
        if (version > SCHEMA_VERSION) {
            snprintf(err, errlen, "%s was written by a newer corio-jobs "
                     "(schema %d; this one knows %d)", s->path, version,
                     SCHEMA_VERSION);
            jobs__sq_conn_close(c);
            return -EINVAL;
        }
        if (version < SCHEMA_VERSION) {
            rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
            if (rc == SQLITE_OK && version < 1)
                rc = sqlite3_exec(c->db, schema, NULL, NULL, NULL);
            if (rc == SQLITE_OK && version < 2)
                rc = sqlite3_exec(c->db, schema_v2, NULL, NULL, NULL);
            if (rc == SQLITE_OK)
                rc = sqlite3_exec(c->db, "PRAGMA user_version = 2; COMMIT",
                                  NULL, NULL, NULL);
            if (rc != SQLITE_OK) {
                sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
                goto fail;
            }
        }
        rc = prep(c, &c->insert,
                  "INSERT INTO jobs(" COLS ", updated_at) "
                  "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?12,?13,?14,?15,"
                  "?16,?17,?18,?19,?11)");
        if (rc == SQLITE_OK)
            rc = prep(c, &c->update,
                      "UPDATE jobs SET status=?2, result=?3, error=?4, "
                      "attempts=?5, started_at=?6, finished_at=?7, "
                      "updated_at=?8, run_at=?9, errors=COALESCE(?10, errors) "
                      /* The attempt fence (jobs.h): ?11 the status and ?12
                       * the attempts the writer last recorded (NULL: no
                       * fence). */
                      "WHERE id=?1 AND (?11 IS NULL OR status=?11) AND "
                      "(?12 IS NULL OR attempts=?12)");
    } else {
        rc = sqlite3_exec(c->db, "PRAGMA query_only=1", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = prep(c, &c->get, "SELECT " COLS " FROM jobs WHERE id=?1");
    if (rc == SQLITE_OK)
        rc = prep(c, &c->by_key,
                  "SELECT " COLS " FROM jobs WHERE unique_key=?1");
    if (rc == SQLITE_OK)
        rc = prep(c, &c->list_any, "SELECT " COLS " FROM jobs WHERE id > ?1 "
                                   "ORDER BY id LIMIT ?2");
    if (rc == SQLITE_OK)
        rc = prep(c, &c->list_status,
                  "SELECT " COLS " FROM jobs WHERE status = ?3 AND id > ?1 "
                  "ORDER BY id LIMIT ?2");
    if (rc == SQLITE_OK)
        rc = prep(c, &c->counts,
                  "SELECT status, count(*) FROM jobs GROUP BY status");
    if (rc != SQLITE_OK)
        goto fail;
    *out = c;
    return 0;
fail:
    if (map_rc(rc) == JOBS_ECORRUPT)
        damaged(s, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc), err,
                errlen);
    else
        snprintf(err, errlen, "%s: %s", s->path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    rc = map_rc(rc ? rc : SQLITE_ERROR);
    jobs__sq_conn_close(c);
    return rc ? rc : -EIO;
}
