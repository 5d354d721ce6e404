/*
 * Internals of the embedded store on SQLite, shared by store_sqlite.c (the
 * operations, the ops table, opening the store) and store_sqlite_conn.c
 * (connections: the schema, the startup check of the file, opening and
 * closing one connection). Not used elsewhere.
 */
#ifndef CORIO_JOBS_STORE_SQLITE_INT_H
#define CORIO_JOBS_STORE_SQLITE_INT_H

#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include <sqlite3.h>

#define COLS "id, type, status, spec, result, error, attempts, created_at, " \
             "started_at, finished_at, max_attempts, retry_backoff, run_at, " \
             "errors, queue, priority, timeout, unique_key"

/* A connection and its prepared statements. Allocated by
 * jobs__sq_conn_open, freed by jobs__sq_conn_close. */
typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *get, *list_any, *list_status, *counts, *by_key;
    sqlite3_stmt *insert, *update, *start; /* writer only */
    struct conn *next;              /* reader free list */
} conn;

/* Allocated by jobs_store_open_sqlite, freed by sq_close. */
typedef struct sq_store {
    jobs_store base;
    char *path;
    char *repair;              /* base.repair's text */
    double check_timeout;      /* < 0: no startup check */
    int lock_fd;               /* flock'ed "<path>.lock" */
    const char *vfs;           /* opts->vfs (outlives the store), or NULL */
    pthread_mutex_t wlock;     /* guards w */
    conn *w;                   /* the writer connection */
    pthread_mutex_t rlock;     /* guards readers */
    conn *readers;             /* idle reader connections */
    /* The checkpointer (store_sqlite_conn.c): a thread with its own
     * connection that copies the WAL into the file, off the commits'
     * path. ck_lock guards ck_due and ck_stop. */
    sqlite3 *ck_db;            /* NULL: SQLite's own checkpoints */
    pthread_t ck_thread;
    pthread_mutex_t ck_lock;
    pthread_cond_t ck_cond;
    int ck_due, ck_stop;
    int ck_rung;               /* WAL frames at the last bell (writer) */
} sq_store;

static inline int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
    case SQLITE_CONSTRAINT: return -EEXIST;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH: return -EACCES;
    case SQLITE_CANTOPEN: return -ENOENT;
    case SQLITE_CORRUPT: case SQLITE_NOTADB: return JOBS_ECORRUPT;
    default: return -EIO;
    }
}

/* Opens a connection to s->path: the writer (writer != 0: creates the
 * file, checks it, sets WAL and the schema) or a reader, with its
 * statements prepared. err gets a sentence on failure. */
int jobs__sq_conn_open(sq_store *s, int writer, conn **out, char *err,
                       size_t errlen);
/* Frees c and its statements (NULL: nothing). */
void jobs__sq_conn_close(conn *c);
/* Starts the checkpointer for s's writer (s->w open); without it (a
 * simulated VFS, or no thread) the writer checkpoints as SQLite does by
 * default. jobs__sq_ckpt_stop joins it and closes its connection; both
 * are no-ops when it is not running. */
void jobs__sq_ckpt_start(sq_store *s);
void jobs__sq_ckpt_stop(sq_store *s);

#endif
