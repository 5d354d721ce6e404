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
    sqlite3_finalize(c->start);
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
        /* A job's start changes only these: the other columns hold what
         * its last write stored, and leaving them out of the SET spares
         * the work on them and on the index of finished_at. Fenced as
         * the update is, with ?5 and ?6. */
        if (rc == SQLITE_OK)
            rc = prep(c, &c->start,
                      "UPDATE jobs SET status='running', attempts=?2, "
                      "started_at=?3, updated_at=?4 WHERE id=?1 AND "
                      "(?5 IS NULL OR status=?5) AND "
                      "(?6 IS NULL OR attempts=?6)");
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

/* ---- the checkpointer ------------------------------------------------------ */

/* SQLite's default checkpoint runs inside the COMMIT that takes the WAL
 * past 1000 pages: that commit (and every writer queued behind it, and
 * their 202s) waits while ~4 MB are copied into the file and the file is
 * fsynced — the longest commits of a busy store. Here the commit only
 * rings a bell and a thread of the store checkpoints on its own
 * connection, PASSIVE: it copies what is committed without taking the
 * writer's lock, so commits go on meanwhile, and the WAL starts again
 * from its beginning at the first commit after a complete checkpoint.
 * Durability is unchanged: a commit is durable when its WAL frames are
 * synced (synchronous=FULL); the checkpoint syncs the WAL before it
 * copies and the file after. Should the thread fall far behind (a reader
 * holding an old snapshot stops a checkpoint short), the writer
 * checkpoints itself past CK_FRAMES_MAX, as SQLite would. */
#define CK_FRAMES 1000      /* SQLite's wal_autocheckpoint default */
#define CK_FRAMES_MAX 8000  /* ~32 MB of WAL */

static int ck_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    sq_store *s = arg;
    if (frames < s->ck_rung)
        s->ck_rung = 0; /* the WAL started again */
    if (frames >= CK_FRAMES_MAX) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                  NULL);
    } else if (frames >= s->ck_rung + CK_FRAMES) {
        /* Once per CK_FRAMES new frames: a commit that lands while a
         * checkpoint runs keeps the WAL from starting again (its frames
         * are not copied yet), and ringing at every such commit would
         * checkpoint (two fsyncs) per commit. */
        s->ck_rung = frames;
        pthread_mutex_lock(&s->ck_lock);
        s->ck_due = 1;
        pthread_cond_signal(&s->ck_cond);
        pthread_mutex_unlock(&s->ck_lock);
    }
    return SQLITE_OK;
}

static void *ck_main(void *arg)
{
    sq_store *s = arg;
    pthread_mutex_lock(&s->ck_lock);
    for (;;) {
        while (!s->ck_due && !s->ck_stop)
            pthread_cond_wait(&s->ck_cond, &s->ck_lock);
        if (s->ck_stop)
            break;
        s->ck_due = 0;
        pthread_mutex_unlock(&s->ck_lock);
        /* SQLITE_BUSY (the writer's own checkpoint runs) is fine: the
         * next bell tries again. */
        sqlite3_wal_checkpoint_v2(s->ck_db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                  NULL, NULL);
        pthread_mutex_lock(&s->ck_lock);
    }
    pthread_mutex_unlock(&s->ck_lock);
    return NULL;
}

void jobs__sq_ckpt_start(sq_store *s)
{
    if (s->vfs) /* the simulation's VFS: one thread, deterministic */
        return;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(s->path, &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) !=
            SQLITE_OK) {
        sqlite3_close(db);
        return;
    }
    pthread_mutex_init(&s->ck_lock, NULL);
    pthread_cond_init(&s->ck_cond, NULL);
    s->ck_db = db;
    if (pthread_create(&s->ck_thread, NULL, ck_main, s) != 0) {
        s->ck_db = NULL;
        sqlite3_close(db);
        pthread_mutex_destroy(&s->ck_lock);
        pthread_cond_destroy(&s->ck_cond);
        return;
    }
    /* Replaces the writer's automatic checkpoint (itself a WAL hook). */
    sqlite3_wal_hook(s->w->db, ck_hook, s);
}

void jobs__sq_ckpt_stop(sq_store *s)
{
    if (!s->ck_db)
        return;
    if (s->w)
        sqlite3_wal_autocheckpoint(s->w->db, CK_FRAMES); /* unhooks */
    pthread_mutex_lock(&s->ck_lock);
    s->ck_stop = 1;
    pthread_cond_signal(&s->ck_cond);
    pthread_mutex_unlock(&s->ck_lock);
    pthread_join(s->ck_thread, NULL);
    sqlite3_close(s->ck_db);
    s->ck_db = NULL;
    pthread_mutex_destroy(&s->ck_lock);
    pthread_cond_destroy(&s->ck_cond);
}
