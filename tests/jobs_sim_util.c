/* Helpers of tests/test_jobs_sim.c: see jobs_sim_util.h. */
#include "jobs_sim_util.h"

#include "service.h" /* jobs_offload */

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* ---- the slow store ------------------------------------------------------ */

typedef struct slow {
    jobs_store base;
    jobs_store_ops ops;
    jobs_store *in;
    double max_delay;
} slow;

/* One operation of the inner store, run on the pool (where SQLite's
 * blocking calls belong). Heap: the pool reads it. */
typedef struct op {
    jobs_store *in;
    int kind;
    const jobs_write *w;
    size_t n, limit;
    const char *id;
    int status, policy;
    int64_t ms;
    jobs_job **one;
    jobs_job ***many;
    size_t *count;
    uint64_t *counts;
    jobs_queue_count **q;
    size_t max;
} op;

enum { O_WRITE, O_GET, O_LIST, O_FIND_KEY, O_PRUNE, O_RETRY, O_COUNTS,
       O_LIST_DESC, O_QUEUE_COUNTS, O_RECOVER };

static int run_op(void *arg)
{
    op *o = arg;
    const jobs_store_ops *f = o->in->ops;
    switch (o->kind) {
    case O_WRITE: return f->write(o->in, o->w, o->n);
    case O_GET: return f->get(o->in, o->id, o->one);
    case O_LIST: return f->list(o->in, o->status, o->id, o->limit, o->many, o->count);
    case O_FIND_KEY: return f->find_key(o->in, o->id, o->one);
    case O_PRUNE: return f->prune(o->in, o->ms, o->max, o->counts);
    case O_RETRY: return f->retry(o->in, o->id, o->ms, o->one);
    case O_COUNTS: return f->counts(o->in, o->counts);
    case O_LIST_DESC:
        return f->list_desc(o->in, o->status, o->id, o->limit, o->many, o->count);
    case O_QUEUE_COUNTS: return f->queue_counts(o->in, o->q, o->count);
    case O_RECOVER: return f->recover(o->in, o->policy, o->ms, o->count);
    default: return -EINVAL;
    }
}

static int call(jobs_store *base, op *o)
{
    op *h = malloc(sizeof *h);
    if (!h)
        return -ENOMEM;
    *h = *o;
    h->in = ((slow *)base)->in;
    int rc = jobs_offload(run_op, h);
    free(h);
    return rc;
}

static int s_write(jobs_store *b, const jobs_write *w, size_t n)
{
    slow *s = (slow *)b;
    /* The latency: whatever happens to the caller, the write then runs
     * (jobs_store_call shields an on_loop store's operations). */
    double d = s->max_delay * (double)(corio_sim_random() % 1001) / 1000.0;
    if (d > 0)
        corio_sleep(d);
    return call(b, &(op){.kind = O_WRITE, .w = w, .n = n});
}

static int s_get(jobs_store *b, const char *id, jobs_job **out)
{
    return call(b, &(op){.kind = O_GET, .id = id, .one = out});
}

static int s_list(jobs_store *b, int status, const char *after, size_t limit,
                  jobs_job ***out, size_t *n)
{
    return call(b, &(op){.kind = O_LIST, .status = status, .id = after,
                         .limit = limit, .many = out, .count = n});
}

static int s_find_key(jobs_store *b, const char *key, jobs_job **out)
{
    return call(b, &(op){.kind = O_FIND_KEY, .id = key, .one = out});
}

static int s_prune(jobs_store *b, int64_t before, size_t max, uint64_t removed[JOBS_NSTATUS])
{
    return call(b, &(op){.kind = O_PRUNE, .ms = before, .max = max, .counts = removed});
}

static int s_retry(jobs_store *b, const char *id, int64_t now, jobs_job **out)
{
    return call(b, &(op){.kind = O_RETRY, .id = id, .ms = now, .one = out});
}

static int s_counts(jobs_store *b, uint64_t counts[JOBS_NSTATUS])
{
    return call(b, &(op){.kind = O_COUNTS, .counts = counts});
}

static int s_list_desc(jobs_store *b, int status, const char *before, size_t limit,
                       jobs_job ***out, size_t *n)
{
    return call(b, &(op){.kind = O_LIST_DESC, .status = status, .id = before,
                         .limit = limit, .many = out, .count = n});
}

static int s_queue_counts(jobs_store *b, jobs_queue_count **out, size_t *n)
{
    return call(b, &(op){.kind = O_QUEUE_COUNTS, .q = out, .count = n});
}

static int s_recover(jobs_store *b, int policy, int64_t now, size_t *n)
{
    return call(b, &(op){.kind = O_RECOVER, .policy = policy, .ms = now, .count = n});
}

static void s_close(jobs_store *b)
{
    slow *s = (slow *)b;
    s->in->ops->close(s->in);
    free(s);
}

jobs_store *sim_slow_store(jobs_store *in, double max_delay)
{
    slow *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->in = in;
    s->max_delay = max_delay;
    s->ops = (jobs_store_ops){
        .name = in->ops->name, .write = s_write, .get = s_get, .list = s_list,
        .find_key = s_find_key, .prune = s_prune, .retry = s_retry,
        .counts = s_counts, .list_desc = s_list_desc,
        .queue_counts = s_queue_counts, .recover = s_recover, .close = s_close,
        .on_loop = 1};
    s->base.ops = &s->ops;
    s->base.name = in->name;
    s->base.repair = in->repair;
    return &s->base;
}

/* ---- the audit ------------------------------------------------------------- */

static const char audit_sql[] =
    "CREATE TABLE IF NOT EXISTS sim_audit(seq INTEGER PRIMARY KEY, "
    "id TEXT NOT NULL, ost TEXT, oat INTEGER, nst TEXT, nat INTEGER);"
    "CREATE TRIGGER IF NOT EXISTS sim_audit_upd AFTER UPDATE OF status, "
    "attempts ON jobs WHEN old.status IS NOT new.status OR old.attempts IS "
    "NOT new.attempts BEGIN INSERT INTO sim_audit(id, ost, oat, nst, nat) "
    "VALUES(old.id, old.status, old.attempts, new.status, new.attempts); END;";

static int open_db(const char *path, const char *vfs, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE, vfs);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(*db, 0);
    if (rc != SQLITE_OK) {
        sqlite3_close(*db);
        *db = NULL;
        return -EIO;
    }
    return 0;
}

int sim_audit_install(const char *path, const char *vfs)
{
    sqlite3 *db;
    int rc = open_db(path, vfs, &db);
    if (rc < 0)
        return rc;
    rc = sqlite3_exec(db, audit_sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    sqlite3_close(db);
    return rc;
}

int sim_audit_read(const char *path, const char *vfs, int64_t after,
                   int (*fn)(const sim_audit_row *r, void *arg), void *arg)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int rc = open_db(path, vfs, &db);
    if (rc < 0)
        return rc;
    if (sqlite3_prepare_v2(db, "SELECT seq, id, ost, oat, nst, nat FROM sim_audit "
                           "WHERE seq > ?1 ORDER BY seq", -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -EIO;
    }
    sqlite3_bind_int64(st, 1, after);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        sim_audit_row r = {.seq = sqlite3_column_int64(st, 0)};
        const char *id = (const char *)sqlite3_column_text(st, 1);
        const char *o = (const char *)sqlite3_column_text(st, 2);
        const char *n = (const char *)sqlite3_column_text(st, 4);
        if (id)
            strncpy(r.id, id, JOBS_ID_LEN);
        r.from = o ? jobs_status_parse(o) : -1;
        r.to = n ? jobs_status_parse(n) : -1;
        r.from_att = sqlite3_column_int(st, 3);
        r.to_att = sqlite3_column_int(st, 5);
        if (fn(&r, arg) != 0)
            break;
    }
    rc = step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

const char *sim_audit_illegal(const sim_audit_row *r)
{
    int waiting = r->from == JOBS_CREATED || r->from == JOBS_SCHEDULED;
    int ended = r->from == JOBS_FAILED || r->from == JOBS_CANCELLED ||
                r->from == JOBS_INTERRUPTED;
    if (r->from == JOBS_SUCCEEDED)
        return "a succeeded job changed again";
    if (r->to == JOBS_RUNNING) {
        if (!waiting)
            return "a start of a job that was not waiting";
        return r->to_att == r->from_att + 1 ? NULL
                                            : "a start that is not the next attempt";
    }
    if (r->to_att != r->from_att)
        return "an outcome recorded for an attempt that was not the current one";
    if (r->from == JOBS_RUNNING)
        return NULL; /* an outcome, a retry's wait, or requeued after a crash */
    if (waiting && (r->to == JOBS_CANCELLED || r->to == JOBS_FAILED))
        return NULL; /* DELETE before a start; a start that failed */
    if (ended && r->to == JOBS_CREATED)
        return NULL; /* POST /jobs/<id>/retry */
    return "a change corio-jobs does not make";
}

/* ---- an HTTP client over the simulated network -------------------------------- */

#include <stdio.h>

static int post(const char *host, int port, const char *key, const char *body, char *id)
{
    corio_stream *st;
    char req[1024], head[2048], resp[4096];
    size_t len;
    int rc = corio_stream_connect_tcp(&st, host, port);
    if (rc < 0)
        return rc;
    int n = snprintf(req, sizeof req,
                     "POST /jobs HTTP/1.1\r\nHost: %s\r\nIdempotency-Key: %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     host, key, strlen(body), body);
    if (n < 0 || (size_t)n >= sizeof req) {
        corio_stream_abort(st);
        return -EINVAL;
    }
    rc = corio_stream_write(st, req, (size_t)n);
    if (rc == 0)
        rc = corio_stream_readuntil(st, head, sizeof head, "\r\n\r\n", 4, &len);
    if (rc < 0) {
        corio_stream_abort(st);
        return rc == CORIO_EEOF ? -ECONNRESET : rc;
    }
    int status = 0;
    if (len >= sizeof head)
        len = sizeof head - 1;
    head[len] = '\0';
    if (sscanf(head, "HTTP/1.1 %d", &status) != 1 || status < 100) {
        corio_stream_abort(st);
        return -EPROTO;
    }
    const char *cl = strcasestr(head, "\r\nContent-Length:");
    size_t blen = cl ? strtoul(cl + 17, NULL, 10) : 0;
    if (blen >= sizeof resp) {
        corio_stream_abort(st);
        return -EPROTO;
    }
    rc = corio_stream_readexactly(st, resp, blen, NULL);
    corio_stream_abort(st);
    if (rc < 0)
        return rc == CORIO_EEOF ? -ECONNRESET : rc;
    resp[blen] = '\0';
    id[0] = '\0';
    const char *p = strstr(resp, "\"id\"");
    if (p && (p = strchr(p + 4, '"'))) {
        const char *q = strchr(p + 1, '"');
        if (q && q - p - 1 <= JOBS_ID_LEN) {
            memcpy(id, p + 1, (size_t)(q - p - 1));
            id[q - p - 1] = '\0';
        }
    }
    return status;
}

int sim_post_job(const char *host, int port, const char *key, const char *body,
                 double timeout, char *id)
{
    corio_scope sc;
    id[0] = '\0';
    corio_scope_enter(&sc, timeout, 0);
    int rc = post(host, port, key, body, id);
    if (corio_scope_exit(&sc) == 1)
        rc = -ETIMEDOUT;
    return rc;
}

/* ---- running seeds ---------------------------------------------------------- */

/* The command that replays seed, from /proc/self/cmdline. */
void sim_print_replay(uint64_t seed)
{
    char buf[4096];
    size_t n = 0;
    FILE *c = fopen("/proc/self/cmdline", "rb");
    if (c) {
        n = fread(buf, 1, sizeof buf - 1, c);
        fclose(c);
    }
    fprintf(stderr, "  replay: CORIO_SIM_SEED=%llu", (unsigned long long)seed);
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        fprintf(stderr, " '%s'", buf + i);
    fprintf(stderr, "\n");
}

int sim_quiet_stderr(int yes)
{
    int saved, null;
    if (!yes)
        return -1;
    fflush(stderr);
    saved = dup(2);
    null = open("/dev/null", O_WRONLY);
    if (saved < 0 || null < 0) {
        if (saved >= 0)
            close(saved);
        if (null >= 0)
            close(null);
        return -1;
    }
    dup2(null, 2);
    close(null);
    return saved;
}

void sim_restore_stderr(int saved)
{
    if (saved < 0)
        return;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

uint64_t sim_env_u64(const char *name, int *set)
{
    const char *e = getenv(name);
    *set = e && *e;
    return *set ? strtoull(e, NULL, 0) : 0;
}

double sim_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

