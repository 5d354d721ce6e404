/*
 * corio_jobs.h: a durable job queue a corio program embeds.
 *
 * A program opens a job service on a store (a SQLite file, or a PostgreSQL
 * URL that any number of processes share), registers its own job types by
 * name with a handler, enqueues jobs from C or lets clients submit them
 * over HTTP (the service's routes mount on the program's own corio_http
 * server, under a path prefix), and the service runs every job in its own
 * corio task. A job is recorded durably before enqueue returns (or the
 * HTTP 202 goes out), and every change of its status is recorded too: a
 * kill -9 loses nothing acknowledged. The corio-jobs server is this
 * library plus a command line; docs/jobs.md documents the HTTP API and
 * docs/reference/jobs.md every function here.
 *
 * Link with pkg-config corio_jobs. Names: corio_jobs_* (the service),
 * corio_job_* (a running job, for its handler).
 *
 * Threading: a service lives on the loop of the task that opened it (its
 * home loop); call every function from a task on that loop, except
 * corio_jobs_http_handle() and corio_jobs_set_http_server(), which a task
 * on any loop of the same corio_run_multi runtime may call (a server on
 * every loop: each call is forwarded to the home loop). With
 * corio_jobs_opts.loops, handlers run on other loops too; on a PostgreSQL
 * store opened on loop 0, every one of those loops gets a service of its
 * own (its own pool), and corio_jobs_http_handle(),
 * corio_jobs_set_http_server(), corio_jobs_enqueue() and
 * corio_jobs_kick() use the calling loop's.
 */
#ifndef CORIO_JOBS_PUBLIC_H
#define CORIO_JOBS_PUBLIC_H

#include <stddef.h>

#include <corio.h>
#include <corio_http.h>

#ifdef __cplusplus
extern "C" {
#endif

struct corio_pg; /* corio_pg.h */

/* The service. Allocated by corio_jobs_open(); corio_jobs_drain() then
 * corio_jobs_close() end it (close frees it and closes its store). */
typedef struct corio_jobs corio_jobs;

/* A job while its handler runs. Owned by the service; valid only during
 * the handler call, on the handler's task. */
typedef struct corio_job corio_job;

/* A job type's handler. Runs in the job's own corio task, on the service's
 * loop (or, with corio_jobs_opts.loops, on any loop of its runtime: keep
 * what it shares thread-safe); spec is the job's parameters, a JSON object as compact text (the
 * submission without "type"), valid during the call. It may suspend (I/O,
 * corio_sleep, corio_work_submit...) and should return promptly once
 * cancelled (a DELETE, or a drain past its grace period): every suspending
 * corio call then fails with -ECANCELED.
 *
 * Return 0: the job succeeded, with the result set by corio_job_set_result
 * (or none: null). A negative errno: it failed, with the message given to
 * corio_job_fail (or that errno's text). -ECANCELED while the job is being
 * cancelled: it is recorded cancelled (or interrupted, by a drain). */
typedef int (*corio_jobs_handler)(corio_job *job, const char *spec,
                                  void *arg);

/* A named queue with its own concurrency limit (corio_jobs_opts.queues):
 * jobs submitted with "queue": name run up to `concurrency` at once, apart
 * from the `workers` that every other queue shares, so that long jobs in
 * one queue cannot starve short ones in another. */
typedef struct corio_jobs_queue {
    const char *name;   /* 1..64 of [a-z0-9_.-], starting with a letter */
    int concurrency;    /* 1..100000 */
    int rate_limit;     /* 0: none; else at most this many of its jobs
                           start in any rate_period seconds (1..1000000;
                           on PostgreSQL, in each process) */
    double rate_period; /* seconds, > 0 and at most a day, with rate_limit */
} corio_jobs_queue;

/* How a service runs. Zero fields take the defaults. */
typedef struct corio_jobs_opts {
    int workers;            /* jobs running at once (4) */
    int requeue_interrupted;/* at open, run again the jobs that were running
                               when the process died (0: mark them
                               interrupted, since a job may not be safe to
                               repeat) */
    const char *const *allow_command; /* programs the built-in "command" type
                                         may run (argv[0] exactly); none by
                                         default */
    size_t nallow_command;
    int no_group_commit;    /* 1: one transaction per write (benchmarks) */
    const char *admin_token; /* if set, DELETE and POST /jobs/<id>/retry
                                need "Authorization: Bearer <token>"
                                (copied); if not, they are allowed only
                                from this machine (docs/jobs.md, "The
                                dashboard") */
    double retention;       /* seconds an ended job is kept after it
                               finished, then deleted (with its
                               idempotency key); 0: kept forever */
    const corio_jobs_queue *queues; /* queues with their own limit; on
                                       PostgreSQL the limits are each
                                       process's */
    size_t nqueues;
    /* PostgreSQL only: */
    double lease;           /* seconds a claim lasts unrenewed (30) */
    int max_attempts;       /* starts before a job whose process keeps
                               dying is given up as interrupted (3) */
    /* SQLite only: */
    double check_timeout;   /* seconds the startup integrity check may run
                               (10); < 0: no check */
    const char *sqlite_vfs; /* the SQLite VFS to open the file with (a
                               registered name that outlives the service;
                               no lock file is then taken), e.g. corio-jobs'
                               "corio-sim" for a simulated disk; NULL: the
                               default */
    /* Every core (a service opened inside corio_run_multi): each job's
     * attempt runs on one of loops 0..loops-1 of the runtime, round robin
     * (the handler then runs on that loop's thread; the home loop still
     * records every change). 0 or 1: every job on the home loop, as
     * before. More than the runtime has: all of them.
     * PostgreSQL (opened on loop 0): each of these loops is instead a
     * worker of its own on the shared queue, as a separate process would
     * be: its own connection pool (8 / loops connections, at least 2),
     * claims, leases and commits; a job runs on the loop that claimed it.
     * workers and each queue's concurrency and rate limit are split over
     * the loops (the shares add up to them); periodic jobs and retention
     * run on loop 0. */
    int loops;
} corio_jobs_opts;

/* Registers a job type for every service of this process: jobs whose
 * "type" is name run handler(job, spec, arg). Call before
 * corio_jobs_open(), so that jobs found in the store can run. name: 1..64
 * of [a-z0-9_.-], starting with a letter. The built-in types (sleep, hash,
 * fetch, command) are always there. Returns 0, -EINVAL (bad name or NULL
 * handler), -EEXIST (registered already, or built-in), -ENOSPC (256 types).
 * Not suspending; thread-safe. */
CORIO_API int corio_jobs_register(const char *name, corio_jobs_handler handler,
                                  void *arg);

/* A type's retry policy (corio_jobs_register_ex). Zero fields take the
 * defaults; a job's own "max_attempts" / "retry_backoff" fields override
 * them. */
typedef struct corio_jobs_type_opts {
    int max_attempts;     /* runs a failing job may have (1: no retry) */
    double retry_backoff; /* seconds before the first retry (1); each next
                             wait doubles, with jitter */
} corio_jobs_type_opts;

/* corio_jobs_register() with a retry policy (opts may be NULL). */
CORIO_API int corio_jobs_register_ex(const char *name, corio_jobs_handler handler,
                                     void *arg, const corio_jobs_type_opts *opts);

/* Opens the store named by url ("postgresql://..." or "postgres://...",
 * "sqlite:PATH", or a plain file path), recovers the jobs a dead process
 * left running, queues the waiting ones and starts running them. opts may
 * be NULL. err (errlen bytes, may be NULL) gets a sentence on failure.
 * Returns 0, -EINVAL, -EIO, -ENOMEM, -ECONNREFUSED, -EPROTONOSUPPORT (built
 * without PostgreSQL), -EUCLEAN (the store is damaged; err says how to
 * repair it), -EBUSY (another process uses the SQLite file). Suspending. */
CORIO_API int corio_jobs_open(corio_jobs **out, const char *url,
                              const corio_jobs_opts *opts, char *err, size_t errlen);

/* Records a job of type with spec (a JSON object as text; NULL: {}) and
 * queues it; returns once the record is durable. id (27 bytes, may be
 * NULL) gets its id. The spec may hold the fields of POST /jobs that say
 * how a job runs (max_attempts, retry_backoff, queue, priority, timeout,
 * delay, run_at, unique_key). Returns 0, 1 (a job with that unique_key
 * exists already: nothing recorded, id gets that job's), -EINVAL (unknown type, or a spec the type
 * refuses; err says why), -EPERM (a command the service may not run),
 * CORIO_ESHUTDOWN (draining), -EUCLEAN (store damaged), or a store error.
 * Suspending; an interruption of the caller (-ECANCELED) leaves the job
 * recorded or not, as the commit goes. */
CORIO_API int corio_jobs_enqueue(corio_jobs *jobs, const char *type, const char *spec,
                                 char id[27], char *err, size_t errlen);

/* Enqueues inside the caller's own PostgreSQL transaction (River's point:
 * the job is recorded atomically with the data it is about). conn is the
 * caller's connection to the database of a PostgreSQL service (any
 * process's), in a transaction it began; the job is inserted there,
 * validated as corio_jobs_enqueue does (a command's program is checked
 * when it runs), and exists once, and only if, the caller commits; a
 * rollback leaves nothing. A service claims it at its next poll (0.25 s),
 * or at once after corio_jobs_kick(). The store's schema must exist (a
 * service opened it once). Returns 0, 1 (a job holds its unique_key: id
 * gets that job's), -EINVAL, -EPROTONOSUPPORT (built without PostgreSQL),
 * -EIO (the statement failed: the caller's transaction is aborted), or the
 * connection's errors. Suspending. */
CORIO_API int corio_jobs_enqueue_pg(struct corio_pg *conn, const char *type,
                                    const char *spec, char id[27], char *err,
                                    size_t errlen);

struct sqlite3; /* sqlite3.h */

/* Enqueues inside the caller's own SQLite transaction: db is the caller's
 * connection to the file of a SQLite service (opened with sqlite3_open*;
 * give it a busy timeout, since the service writes to the file too, and
 * keep the transaction short: it holds the file's write lock; do not wait
 * for the service's commits, such as corio_jobs_enqueue, inside it). The
 * job is
 * inserted under a savepoint, validated as corio_jobs_enqueue does (a
 * command's program is checked when it runs), and exists once, and only
 * if, the caller's transaction commits (outside a transaction: at once).
 * The service queues it at its next poll (0.25 s), or at once after
 * corio_jobs_kick(). The store's tables must exist (a service opened the
 * file once). Returns 0, 1 (a job holds its unique_key: id gets that
 * job's), -EINVAL, -EBUSY (the file is locked past the busy timeout),
 * -EIO (err says why; the caller's transaction is intact: roll it back or
 * go on), -ENOMEM. Blocking, like the caller's own SQLite calls; any
 * thread that may use db. */
CORIO_API int corio_jobs_enqueue_sqlite(struct sqlite3 *db, const char *type,
                                        const char *spec, char id[27], char *err,
                                        size_t errlen);

/* Tells the service to look for new work at once (after the caller's
 * transaction holding corio_jobs_enqueue_pg or corio_jobs_enqueue_sqlite
 * jobs has committed). */
CORIO_API void corio_jobs_kick(corio_jobs *jobs);

/* Makes type a periodic job: at every tick of schedule, one job of type
 * with spec (a JSON object as text, with the fields of POST /jobs; NULL:
 * {}) is enqueued, exactly once per tick however many processes share a
 * PostgreSQL store (every process should register the same schedules).
 * Schedules, in UTC: "every N" with a unit s, m, h or d ("every 30s":
 * ticks at multiples of N since the epoch); five cron fields "minute hour
 * day-of-month month day-of-week" of numbers, "*", ranges "A-B", steps
 * "/S" and lists; "@hourly", "@daily", "@weekly", "@monthly", "@yearly".
 * A new schedule first runs at its next tick; after a downtime that
 * missed ticks, one job runs at once for the latest missed tick (the
 * others are skipped). The job's unique_key is "cron:TYPE:TICK_MS". One
 * schedule per type. Returns 0, -EINVAL (err says why), -EEXIST (type has
 * one), -ENOMEM, CORIO_ESHUTDOWN (draining). Not suspending. */
CORIO_API int corio_jobs_schedule(corio_jobs *jobs, const char *type,
                                  const char *schedule, const char *spec,
                                  char *err, size_t errlen);

/* Serves the HTTP API (POST /jobs, GET /jobs/<id>, GET /jobs, DELETE
 * /jobs/<id>, GET /counts, GET /healthz, GET /metrics, and the dashboard
 * at GET / for browsers; docs/jobs.md) under prefix, from
 * the program's own corio_http handler: if req's path is prefix or under
 * it, fills resp and returns 1; otherwise returns 0 and leaves resp alone.
 * prefix: "" (the root) or "/path" without a trailing slash; the Location
 * of a new job includes it. Suspending (a POST waits for its commit). From
 * a task on any loop of the service's runtime: on another loop than the
 * home loop, the request is parsed there and each call to the service is
 * forwarded to the home loop; close such servers before corio_jobs_close. */
CORIO_API int corio_jobs_http_handle(corio_jobs *jobs, const char *prefix,
                                     const corio_http_request *req,
                                     corio_http_response *resp);

/* Fills resp with a JSON error {"error": message}, as the API answers
 * every failure: for a corio_http_server_opts.error_response hook, so
 * that malformed requests get JSON too. */
CORIO_API void corio_jobs_error_response(corio_http_response *resp, int status,
                                         const char *message);

/* Lets GET /metrics include srv's counters (NULL: no longer). Called on the
 * loop srv serves on, for a server on each loop: /metrics sums them. */
CORIO_API void corio_jobs_set_http_server(corio_jobs *jobs, corio_http_server *srv);

/* Stops taking jobs (enqueue and POST answer "draining") and starting
 * queued ones (they stay queued for the next start); waits up to grace
 * seconds for the running ones, then cancels the rest (recorded
 * interrupted, or handed back on PostgreSQL). Returns how many had to be
 * cancelled. Suspending; shielded. */
CORIO_API int corio_jobs_drain(corio_jobs *jobs, double grace);

/* Drains with no grace if corio_jobs_drain() was not called, frees the
 * service and closes its store. NULL: no-op. Suspending. */
CORIO_API void corio_jobs_close(corio_jobs *jobs);

/* 1 if the store is shared by several processes (PostgreSQL). */
CORIO_API int corio_jobs_shared(const corio_jobs *jobs);

/* ---- inside a handler ------------------------------------------------- */

CORIO_API const char *corio_job_id(const corio_job *job);   /* 26 characters */
CORIO_API const char *corio_job_type(const corio_job *job);
/* 1 for the first run, 2 for the second (a retry, or a requeue)... */
CORIO_API int corio_job_attempt(const corio_job *job);

/* Sets the job's result: a JSON value as text (copied), stored and shown
 * by GET as "result". A failed job keeps its result too. Returns 0,
 * -EINVAL (not JSON), -ENOMEM. */
CORIO_API int corio_job_set_result(corio_job *job, const char *json);

/* Flags of corio_job_fail(). */
#define CORIO_JOB_NORETRY 1 /* do not retry this failure: the job ends
                               failed whatever attempts it has left */

/* Sets the error message (copied) the job fails with when the handler
 * returns a negative value; returns -EIO so that a handler can write
 * `return corio_job_fail(job, "...", 0);`. flags: CORIO_JOB_*. */
CORIO_API int corio_job_fail(corio_job *job, const char *message, int flags);

/* Reports progress: fraction 0..1 (clamped) and a message (copied, may be
 * NULL). GET shows it as "progress": {"fraction", "message"} while the job
 * runs; on PostgreSQL, GET in another process shows the last report
 * written to the store (at most every 0.25 s per job). Returns 0, -EINVAL
 * (fraction not a number), -ENOMEM. */
CORIO_API int corio_job_progress(corio_job *job, double fraction, const char *message);

#ifdef __cplusplus
}
#endif

#endif
