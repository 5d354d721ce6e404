/*
 * The embedded job store: one SQLite file in WAL mode.
 *
 * Durability. "Acknowledged means durable": the 202 goes out only after the
 * transaction recording the job has committed, and that commit must survive
 * not only kill -9 but a power cut. In WAL mode, synchronous=NORMAL syncs
 * the WAL only at checkpoints, so a commit survives a process crash but the
 * last ones can be lost with the machine; synchronous=FULL syncs the WAL on
 * every commit. This store uses FULL. The cost of that fsync is paid once
 * per transaction, not per job, because the committer groups concurrent
 * writes into one transaction (commit.c). Checkpoints run on a thread of
 * the store, not inside a commit (store_sqlite_conn.c, "the
 * checkpointer").
 *
 * Threads. Every operation may be called from any thread (the service
 * calls them on the thread pool). There is one writer connection, guarded
 * by wlock, and a stack of reader connections, each used by one thread at a
 * time and returned after the call; WAL lets the readers run while the
 * writer commits. Connections are opened with SQLITE_OPEN_NOMUTEX since
 * these locks already serialise each one.
 *
 * One process. A second corio-jobs on the same file would run the same
 * queued jobs twice, so the store holds an exclusive flock() on
 * "<path>.lock" while open and refuses to open if another holds it.
 *
 * Damage. A file with damaged pages still opens, and SQLite reports the
 * damage only when a statement happens to read a damaged page: a listing
 * stops short (queued jobs never queued), a row comes back garbled. So the
 * open checks the file first with PRAGMA quick_check (every page and
 * record read, index contents not compared with their tables: O(N) where
 * integrity_check is O(N log N)) and refuses a damaged file with a message
 * naming it and saying how to recover it. The check is bounded in time
 * (check_timeout, default 10 s; a 100 MB file in the page cache takes
 * 0.26 s, so about 4 GB) by
 * a progress handler and a watchdog thread that interrupts it (see
 * watchdog): a store too large to check in that time opens unchecked, with
 * a warning on stderr. At run time SQLITE_CORRUPT, SQLITE_NOTADB and rows this
 * program cannot have written are JOBS_ECORRUPT, never a generic -EIO.
 */
#include "store_sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define DEF_CHECK_TIMEOUT 10.0 /* seconds for the startup quick_check */

/* ---- rows ---------------------------------------------------------------- */

static int64_t col_ms(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
               ? 0
               : (int64_t)sqlite3_column_int64(st, i);
}

static int col_str(sqlite3_stmt *st, int i, char **out)
{
    *out = NULL;
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : -ENOMEM;
    *out = strdup((const char *)t);
    return *out ? 0 : -ENOMEM;
}

/* The current row of a SELECT COLS as a new job. */
static int row_job(sqlite3_stmt *st, jobs_job **out)
{
    jobs_job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->prev_status = -1;
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *type = (const char *)sqlite3_column_text(st, 1);
    const char *status = (const char *)sqlite3_column_text(st, 2);
    int rc = 0;
    if (!id || strlen(id) > JOBS_ID_LEN || !type || !status) {
        rc = JOBS_ECORRUPT; /* not a row this program wrote */
    } else {
        memcpy(j->id, id, strlen(id) + 1);
        j->type = jobs_type_intern(type);
        j->status = jobs_status_parse(status);
        if (j->type < 0 || j->status < 0)
            rc = JOBS_ECORRUPT;
    }
    if (rc == 0)
        rc = col_str(st, 3, &j->spec);
    if (rc == 0 && !j->spec) /* NOT NULL in the schema */
        rc = JOBS_ECORRUPT;
    if (rc == 0)
        rc = col_str(st, 4, &j->result);
    if (rc == 0)
        rc = col_str(st, 5, &j->error);
    if (rc < 0) {
        jobs_job_free(j);
        return rc;
    }
    j->attempts = sqlite3_column_int(st, 6);
    j->created_ms = col_ms(st, 7);
    j->started_ms = col_ms(st, 8);
    j->finished_ms = col_ms(st, 9);
    j->max_attempts = sqlite3_column_int(st, 10);
    j->retry_backoff = sqlite3_column_double(st, 11);
    j->run_at_ms = col_ms(st, 12);
    const char *q = (const char *)sqlite3_column_text(st, 14);
    j->priority = sqlite3_column_int(st, 15);
    j->timeout = sqlite3_column_double(st, 16);
    if (q && strlen(q) < sizeof j->queue)
        strcpy(j->queue, q);
    rc = j->max_attempts < 1 || !j->queue[0] ? JOBS_ECORRUPT
                                             : col_str(st, 13, &j->errors);
    if (rc == 0)
        rc = col_str(st, 17, &j->unique_key);
    if (rc < 0) {
        jobs_job_free(j);
        return rc;
    }
    *out = j;
    return 0;
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

/* ---- readers ------------------------------------------------------------- */

static int reader_get(sq_store *s, conn **out)
{
    pthread_mutex_lock(&s->rlock);
    conn *c = s->readers;
    if (c)
        s->readers = c->next;
    pthread_mutex_unlock(&s->rlock);
    if (c) {
        *out = c;
        return 0;
    }
    char err[256];
    return jobs__sq_conn_open(s, 0, out, err, sizeof err);
}

static void reader_put(sq_store *s, conn *c)
{
    pthread_mutex_lock(&s->rlock);
    c->next = s->readers;
    s->readers = c;
    pthread_mutex_unlock(&s->rlock);
}

/* ---- operations ---------------------------------------------------------- */

/* The attempt fence (jobs.h): binds the status and the attempts the
 * writer last recorded to parameters i and i+1, or leaves them NULL (no
 * fence) for a writer that recorded none. */
static void bind_fence(sqlite3_stmt *st, int i, const jobs_job *j)
{
    if (j->prev_status < 0 || j->prev_status >= JOBS_NSTATUS)
        return;
    sqlite3_bind_text(st, i, jobs_status_name(j->prev_status), -1,
                      SQLITE_STATIC);
    if (!(jobs_mutant & JOBS_MUTANT_NO_ATTEMPT_FENCE))
        sqlite3_bind_int(st, i + 1, jobs_write_fence_attempts(j));
}

static int one_write(conn *c, const jobs_write *w, int64_t now)
{
    const jobs_job *j = w->job;
    sqlite3_stmt *st;
    if (w->kind == JOBS_W_INSERT) {
        st = c->insert;
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, jobs_type_name(j->type), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, jobs_status_name(j->status), -1,
                          SQLITE_STATIC);
        bind_text(st, 4, j->spec ? j->spec : "{}");
        bind_text(st, 5, j->result);
        bind_text(st, 6, j->error);
        sqlite3_bind_int(st, 7, j->attempts);
        sqlite3_bind_int64(st, 8, j->created_ms);
        bind_ms(st, 9, j->started_ms);
        bind_ms(st, 10, j->finished_ms);
        sqlite3_bind_int64(st, 11, now);
        sqlite3_bind_int(st, 12, j->max_attempts > 0 ? j->max_attempts : 1);
        sqlite3_bind_double(st, 13, j->retry_backoff);
        bind_ms(st, 14, j->run_at_ms);
        bind_text(st, 15, j->errors);
        bind_text(st, 16, j->queue[0] ? j->queue : "default");
        sqlite3_bind_int(st, 17, j->priority);
        sqlite3_bind_double(st, 18, j->timeout);
        bind_text(st, 19, j->unique_key);
    } else if (w->kind == JOBS_W_UPDATE && j->status == JOBS_RUNNING) {
        /* The start of an attempt (runner.c, the only writer of
         * "running" on this store): nothing else changes. */
        st = c->start;
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, j->attempts);
        bind_ms(st, 3, j->started_ms);
        sqlite3_bind_int64(st, 4, now);
        bind_fence(st, 5, j);
    } else if (w->kind == JOBS_W_UPDATE) {
        st = c->update;
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, jobs_status_name(j->status), -1,
                          SQLITE_STATIC);
        bind_text(st, 3, j->result);
        bind_text(st, 4, j->error);
        sqlite3_bind_int(st, 5, j->attempts);
        bind_ms(st, 6, j->started_ms);
        bind_ms(st, 7, j->finished_ms);
        sqlite3_bind_int64(st, 8, now);
        bind_ms(st, 9, j->run_at_ms);
        bind_text(st, 10, j->errors);
        bind_fence(st, 11, j);
    } else {
        return -EINVAL;
    }
    int rc = sqlite3_step(st);
    int changes = sqlite3_changes(c->db);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return map_rc(rc);
    if (w->kind == JOBS_W_UPDATE && changes == 0 && j->prev_status < 0)
        return -ENOENT;
    if (w->kind == JOBS_W_UPDATE && changes == 0)
        /* Fenced (or gone): the job moved on since its writer last
         * recorded it. The rest of the batch is not this write's to fail. */
        fprintf(stderr, "corio-jobs: job %s: not recorded as %s (attempt "
                "%d): the store no longer holds it as %s at attempt %d\n",
                j->id, jobs_status_name(j->status), j->attempts,
                jobs_status_name(j->prev_status),
                jobs_write_fence_attempts(j));
    return 0;
}

static int sq_write(jobs_store *base, const jobs_write *w, size_t n)
{
    sq_store *s = (sq_store *)base;
    if (n == 0)
        return 0;
    int64_t now = jobs_now_ms();
    pthread_mutex_lock(&s->wlock);
    conn *c = s->w;
    int rc = map_rc(sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = one_write(c, &w[i], now);
    if (rc == 0)
        rc = map_rc(sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL));
    if (rc < 0 && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

static int sq_prune(jobs_store *base, int64_t before_ms, size_t max,
                    uint64_t removed[JOBS_NSTATUS])
{
    sq_store *s = (sq_store *)base;
    memset(removed, 0, sizeof(uint64_t) * JOBS_NSTATUS);
    pthread_mutex_lock(&s->wlock);
    conn *c = s->w;
    sqlite3_stmt *st = NULL;
    int rc = map_rc(sqlite3_prepare_v2(
        c->db,
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE "
        "finished_at IS NOT NULL AND finished_at < ?1 AND status IN "
        "('succeeded', 'failed', 'cancelled', 'interrupted') "
        "ORDER BY finished_at LIMIT ?2) RETURNING status",
        -1, &st, NULL));
    if (rc == 0)
        rc = map_rc(sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, before_ms);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            int k = jobs_status_parse((const char *)sqlite3_column_text(st, 0));
            if (k >= 0)
                removed[k]++;
        }
        rc = r == SQLITE_DONE ? 0 : map_rc(r);
        sqlite3_reset(st);
        if (rc == 0)
            rc = map_rc(sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL));
        if (rc < 0) {
            if (!sqlite3_get_autocommit(c->db))
                sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            memset(removed, 0, sizeof(uint64_t) * JOBS_NSTATUS);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

static int sq_retry(jobs_store *base, const char *id, int64_t now_ms,
                    jobs_job **out)
{
    sq_store *s = (sq_store *)base;
    *out = NULL;
    pthread_mutex_lock(&s->wlock);
    conn *c = s->w;
    sqlite3_stmt *up = NULL;
    int rc = map_rc(sqlite3_prepare_v2(
        c->db,
        "UPDATE jobs SET status='created', error=NULL, result=NULL, "
        "finished_at=NULL, run_at=NULL, updated_at=?2, max_attempts="
        "max(max_attempts, attempts + 1) WHERE id=?1 AND status IN "
        "('failed', 'cancelled', 'interrupted')",
        -1, &up, NULL));
    int changed = 0;
    if (rc == 0) {
        sqlite3_bind_text(up, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(up, 2, now_ms);
        int r = sqlite3_step(up);
        rc = r == SQLITE_DONE ? 0 : map_rc(r);
        changed = sqlite3_changes(c->db);
    }
    sqlite3_finalize(up);
    if (rc == 0) {
        sqlite3_bind_text(c->get, 1, id, -1, SQLITE_STATIC);
        int st = sqlite3_step(c->get);
        if (st == SQLITE_ROW)
            rc = row_job(c->get, out);
        else
            rc = st == SQLITE_DONE ? -ENOENT : map_rc(st);
        sqlite3_reset(c->get);
        sqlite3_clear_bindings(c->get);
    }
    pthread_mutex_unlock(&s->wlock);
    if (rc == 0 && !changed)
        rc = -EBUSY;
    return rc;
}

static int sq_get(jobs_store *base, const char *id, jobs_job **out)
{
    sq_store *s = (sq_store *)base;
    *out = NULL;
    conn *c;
    int rc = reader_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(c->get, 1, id, -1, SQLITE_STATIC);
    int st = sqlite3_step(c->get);
    if (st == SQLITE_ROW)
        rc = row_job(c->get, out);
    else
        rc = st == SQLITE_DONE ? -ENOENT : map_rc(st);
    sqlite3_reset(c->get);
    sqlite3_clear_bindings(c->get);
    reader_put(s, c);
    return rc;
}

static int sq_find_key(jobs_store *base, const char *key, jobs_job **out)
{
    sq_store *s = (sq_store *)base;
    *out = NULL;
    conn *c;
    int rc = reader_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(c->by_key, 1, key, -1, SQLITE_STATIC);
    int st = sqlite3_step(c->by_key);
    if (st == SQLITE_ROW)
        rc = row_job(c->by_key, out);
    else
        rc = st == SQLITE_DONE ? -ENOENT : map_rc(st);
    sqlite3_reset(c->by_key);
    sqlite3_clear_bindings(c->by_key);
    reader_put(s, c);
    return rc;
}

/* Steps st (bound) to its end, collecting its rows as jobs; resets it. */
static int collect(sqlite3_stmt *st, jobs_job ***out, size_t *n)
{
    jobs_job **v = NULL;
    size_t cnt = 0, cap = 0;
    int step, rc = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            jobs_job **nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        rc = row_job(st, &v[cnt]);
        if (rc < 0)
            break;
        cnt++;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = map_rc(step);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc < 0) {
        jobs_job_free_array(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

static void bind_list(sqlite3_stmt *st, int status, const char *from,
                      size_t limit)
{
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    if (status >= 0)
        sqlite3_bind_text(st, 3, jobs_status_name(status), -1, SQLITE_STATIC);
}

static int sq_list(jobs_store *base, int status, const char *after,
                   size_t limit, jobs_job ***out, size_t *n)
{
    sq_store *s = (sq_store *)base;
    *out = NULL;
    *n = 0;
    if (status >= JOBS_NSTATUS)
        return -EINVAL;
    conn *c;
    int rc = reader_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = status < 0 ? c->list_any : c->list_status;
    bind_list(st, status, after ? after : "", limit);
    rc = collect(st, out, n);
    reader_put(s, c);
    return rc;
}

/* The dashboard's reads (a few a second at most) prepare their statements
 * each time rather than keep them on every reader connection. */
static int sq_list_desc(jobs_store *base, int status, const char *before,
                        size_t limit, jobs_job ***out, size_t *n)
{
    sq_store *s = (sq_store *)base;
    *out = NULL;
    *n = 0;
    if (status >= JOBS_NSTATUS)
        return -EINVAL;
    conn *c;
    int rc = reader_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(c->db, status < 0
                ? "SELECT " COLS " FROM jobs WHERE id < ?1 "
                  "ORDER BY id DESC LIMIT ?2"
                : "SELECT " COLS " FROM jobs WHERE status = ?3 AND id < ?1 "
                  "ORDER BY id DESC LIMIT ?2", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        bind_list(st, status, before ? before : "~", limit); /* ids < "~" */
        rc = collect(st, out, n);
    } else {
        rc = map_rc(rc);
    }
    sqlite3_finalize(st);
    reader_put(s, c);
    return rc;
}

static int sq_queue_counts(jobs_store *base, jobs_queue_count **out,
                           size_t *n)
{
    sq_store *s = (sq_store *)base;
    *out = NULL;
    *n = 0;
    conn *c;
    int rc = reader_get(s, &c);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(c->db,
        "SELECT queue, status, count(*) FROM jobs WHERE status IN "
        "('created', 'scheduled', 'running') GROUP BY queue, status "
        "ORDER BY queue", -1, &st, NULL);
    rc = rc == SQLITE_OK ? 0 : map_rc(rc);
    jobs_queue_count *v = NULL;
    size_t cnt = 0;
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *sname = (const char *)sqlite3_column_text(st, 1);
        rc = jobs_queue_counts_add(&v, &cnt,
                                   (const char *)sqlite3_column_text(st, 0),
                                   sname ? jobs_status_parse(sname) : -1,
                                   (uint64_t)sqlite3_column_int64(st, 2));
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = map_rc(step);
    sqlite3_finalize(st);
    reader_put(s, c);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

static int sq_counts(jobs_store *base, uint64_t counts[JOBS_NSTATUS])
{
    sq_store *s = (sq_store *)base;
    memset(counts, 0, sizeof(uint64_t) * JOBS_NSTATUS);
    conn *c;
    int rc = reader_get(s, &c);
    if (rc < 0)
        return rc;
    int step;
    while ((step = sqlite3_step(c->counts)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(c->counts, 0);
        int st = name ? jobs_status_parse(name) : -1;
        if (st >= 0)
            counts[st] = (uint64_t)sqlite3_column_int64(c->counts, 1);
    }
    rc = step == SQLITE_DONE ? 0 : map_rc(step);
    sqlite3_reset(c->counts);
    reader_put(s, c);
    return rc;
}

static int sq_recover(jobs_store *base, int policy, int64_t now_ms, size_t *n)
{
    sq_store *s = (sq_store *)base;
    *n = 0;
    const char *sql =
        policy == JOBS_RECOVER_REQUEUE
            ? "UPDATE jobs SET status='created', started_at=NULL, "
              "updated_at=?1 WHERE status='running'"
            : "UPDATE jobs SET status='interrupted', finished_at=?1, "
              "updated_at=?1, error='the server stopped while the job was "
              "running' WHERE status='running'";
    pthread_mutex_lock(&s->wlock);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->w->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            *n = (size_t)sqlite3_changes(s->w->db);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->wlock);
    return map_rc(rc);
}

static void sq_close(jobs_store *base)
{
    sq_store *s = (sq_store *)base;
    jobs__sq_ckpt_stop(s);
    while (s->readers) {
        conn *c = s->readers;
        s->readers = c->next;
        jobs__sq_conn_close(c);
    }
    jobs__sq_conn_close(s->w);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&s->wlock);
    pthread_mutex_destroy(&s->rlock);
    free(s->path);
    free(s->repair);
    free(s);
}

static const jobs_store_ops sqlite_ops = {
    .name = "sqlite",
    .write = sq_write,
    .get = sq_get,
    .find_key = sq_find_key,
    .prune = sq_prune,
    .retry = sq_retry,
    .list = sq_list,
    .counts = sq_counts,
    .list_desc = sq_list_desc,
    .queue_counts = sq_queue_counts,
    .recover = sq_recover,
    .close = sq_close,
};

int jobs_store_open_sqlite(const char *path, const jobs_store_opts *opts,
                           jobs_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path || !*path) {
        snprintf(err, errlen, "empty database path");
        return -EINVAL;
    }
    sq_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return -ENOMEM;
    }
    s->base.ops = &sqlite_ops;
    s->base.name = s->path;
    s->check_timeout = opts && opts->check_timeout != 0 ? opts->check_timeout
                                                        : DEF_CHECK_TIMEOUT;
    s->lock_fd = -1;
    s->vfs = opts ? opts->vfs : NULL;
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->rlock, NULL);
    static const char fmt[] =
        "To recover: stop corio-jobs, keep a copy of the file, and copy what "
        "can still be read into a new one with the sqlite3 shell: "
        "\"sqlite3 %s .recover | sqlite3 %s.recovered\", then start with "
        "--db %s.recovered.";
    size_t rl = sizeof fmt + 3 * strlen(path);
    if ((s->repair = malloc(rl)))
        snprintf(s->repair, rl, fmt, path, path, path);
    s->base.repair = s->repair;
    if (!s->repair) {
        sq_close(&s->base);
        return -ENOMEM;
    }

    size_t ll = strlen(path) + 6;
    char *lockpath = malloc(ll);
    if (!lockpath) {
        sq_close(&s->base);
        return -ENOMEM;
    }
    snprintf(lockpath, ll, "%s.lock", path);
    s->lock_fd = s->vfs ? -1 : open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int rc = 0;
    if (s->vfs) {
        /* no lock file: see jobs_store_opts.vfs */
    } else if (s->lock_fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", lockpath, strerror(errno));
    } else if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        snprintf(err, errlen, "%s is in use by another corio-jobs process "
                 "(%s is locked)", path, lockpath);
    }
    free(lockpath);
    if (rc == 0)
        rc = jobs__sq_conn_open(s, 1, &s->w, err, errlen);
    if (rc == 0)
        jobs__sq_ckpt_start(s);
    if (rc < 0) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}
