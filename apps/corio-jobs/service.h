/*
 * corio-jobs above the store: the blocking seam, the group committer, the
 * API the router calls, and the router.
 */
#ifndef CORIO_JOBS_SERVICE_H
#define CORIO_JOBS_SERVICE_H

#include <corio.h>
#include <corio_http.h>

#include "jobs.h"

struct sockaddr; /* <sys/socket.h> */

/* ---- the blocking seam -------------------------------------------------------
 * Runs fn(arg), a blocking call (SQLite, hashing), on corio's thread pool
 * while the calling task is suspended, and returns fn's result. The wait is
 * shielded: the caller's cancellation or timeouts do not end it, so fn's
 * arguments stay valid and its outcome is always known; long work polls a
 * stop flag instead. Errors of its own: -EPERM (not in a task), -ENOMEM,
 * CORIO_ESHUTDOWN (the pool was shut down). Suspending.
 * jobs_offload_slow() uses the pool's slow lane (long CPU work), so it can
 * never occupy every thread and delay the store's short calls. */
int jobs_offload(int (*fn)(void *arg), void *arg);
int jobs_offload_slow(int (*fn)(void *arg), void *arg);
int jobs_offload_inline(void); /* 1 if fn runs inline on the loop */
/* Runs fn(arg), a call of one of s's operations, the way s needs: on the
 * pool (jobs_offload) for a blocking store, inline and shielded for one
 * whose operations suspend on the loop (PostgreSQL). Suspending. */
int jobs_store_call(jobs_store *s, int (*fn)(void *arg), void *arg);

/* ---- the group committer --------------------------------------------------
 * Every durable write of the service goes through one committer task.
 * Writers append to the pending batch and (optionally) wait; the committer
 * takes the whole pending batch, applies it in one store transaction on the
 * pool, then wakes every writer of that batch with its status. While one
 * transaction runs, the next batch fills: under load each fsync covers many
 * jobs (group commit) and an idle server commits a lone job at once.
 *
 * Allocated by jobs_committer_create() (which spawns the task on the
 * current loop); jobs_committer_close() flushes what is pending, stops the
 * task and frees everything. */
typedef struct jobs_committer jobs_committer;

/* Called on the loop after each batch, with its status (0: committed) and
 * each write: kind and the job copy (valid only during the call). */
typedef void (*jobs_commit_hook)(void *arg, int status, int kind,
                                 const jobs_job *job);

typedef struct jobs_committer_opts {
    size_t max_batch;      /* writes per transaction; 0: unlimited, 1: no
                              grouping (for comparison benchmarks) */
    jobs_commit_hook hook; /* may be NULL */
    void *hook_arg;
} jobs_committer_opts;

/* Returns 0, -ENOMEM, -EPERM (no loop). opts may be NULL. */
int jobs_committer_create(jobs_committer **cp, jobs_store *store,
                          const jobs_committer_opts *opts);

/* Queues a write of a copy of *job (taken now: the caller may change or
 * free job afterwards). With wait, suspends until the transaction holding
 * it has finished and returns its status: 0 means durable. An interrupted
 * wait returns -ECANCELED / -ETIMEDOUT but the write still happens. Without
 * wait, returns 0 once queued. Errors: -ENOMEM, CORIO_ESHUTDOWN (closing),
 * the store's errors. Suspending only with wait. */
int jobs_committer_submit(jobs_committer *c, int kind, const jobs_job *job,
                          int wait);

/* A shared store's claim (jobs_store_ops.claim) run in the transaction of
 * a batch, after its writes (jobs_store_ops.write_claim): the outcomes of
 * finished jobs and the claim for the workers they freed share one round
 * trip and one commit, and a claim can take a job in the commit that
 * inserts it. With idle <= 0 the batch runs now; with idle > 0 the claim
 * waits for the next batch of writes, or at most idle seconds, then runs.
 * *begun (if not NULL) is incremented when its transaction starts, and
 * *started is 1 on return if it did (then the call waited for it). *seen
 * (the caller's, may be NULL) tells which committed inserts its claims
 * have seen: an idle claim runs at once if jobs were inserted since (in
 * a batch that carried no claim of this caller's), and a batch that
 * inserts jobs makes the idle claims waiting for the next one run. *out
 * gets a malloc'ed array of the *n jobs claimed. Returns 0, -ENOTSUP (the
 * store has no write_claim: use claim), CORIO_ESHUTDOWN, -ENOMEM,
 * -ECANCELED / -ETIMEDOUT (only before the transaction started: once it
 * has, the call waits for it), or the store's errors. Suspending. */
int jobs_committer_claim(jobs_committer *c, const jobs_claim_filter *f,
                         size_t max, double idle, unsigned *begun,
                         unsigned *seen, int *started, jobs_job ***out,
                         size_t *n);

/* Statistics: transactions run, writes committed, largest batch. */
typedef struct jobs_commit_stats {
    uint64_t transactions, writes, failed, max_batch;
} jobs_commit_stats;
void jobs_committer_stats(const jobs_committer *c, jobs_commit_stats *out);

/* Flushes the pending writes, waits for the task and frees c. Later
 * submissions fail with CORIO_ESHUTDOWN. Suspending (call from a task);
 * returns 0 or the status of the last failed batch. */
int jobs_committer_close(jobs_committer *c);

/* ---- the API behind the routes -----------------------------------------------
 * What the router needs from the server. The real implementation is the
 * service (service.c); tests give the router a fake. Suspending calls may be
 * made (submit waits for the commit). */
/* Every function here is forwarded to the service's home loop when called
 * from another loop (multi.c, jobs__api_here): a new one needs its
 * forwarder there. */
typedef struct jobs_api {
    void *ctx;
    /* Records a new job durably and queues it. Takes ownership of j
     * (whatever the result). 0: durable; 1: j has a unique_key that a job
     * already holds (j was dropped; existing gets that job's id);
     * CORIO_ESHUTDOWN: draining (503); JOBS_ECORRUPT: the store is damaged
     * (503); other negative: 500. */
    int (*submit)(void *ctx, jobs_job *j, char existing[JOBS_ID_LEN + 1]);
    /* *out gets a new copy. 0 or -ENOENT, or another error (500). */
    int (*get)(void *ctx, const char *id, jobs_job **out);
    int (*list)(void *ctx, int status, const char *after, size_t limit,
                jobs_job ***out, size_t *n);
    /* Cancels a queued or running job and waits until that is recorded;
     * *out gets the job as it ended. -ENOENT; -EALREADY if it had already
     * finished (*out gets it). */
    int (*cancel)(void *ctx, const char *id, jobs_job **out);
    /* 1 if prog may run (--allow-command). */
    int (*allowed)(void *ctx, const char *prog);
    /* 0 when healthy; CORIO_ESHUTDOWN when draining; JOBS_ECORRUPT once
     * the store has reported damage. */
    int (*health)(void *ctx);
    /* Appends the Prometheus text. */
    int (*metrics)(void *ctx, corio_http_buf *out);
    /* Where the routes are mounted ("/api", or NULL / "": the root): the
     * Location of a new job starts with it. The router sees paths with it
     * already stripped (corio_jobs_http_handle). */
    const char *prefix;
    /* Runs a failed, cancelled or interrupted job again; *out gets it.
     * -ENOENT; -EBUSY in another status (*out gets it). NULL: no such
     * route. */
    int (*retry)(void *ctx, const char *id, jobs_job **out);
    /* If set, DELETE and POST .../retry need "Authorization: Bearer
     * <admin_token>" (401 otherwise). */
    const char *admin_token;
    /* list() newest first: ids less than before (NULL: from the newest).
     * NULL: GET /jobs?order=desc is refused. */
    int (*list_desc)(void *ctx, int status, const char *before, size_t limit,
                     jobs_job ***out, size_t *n);
    /* GET /counts: by_status[] gets the jobs in the store by status (as
     * /metrics counts them), *q (malloc'ed, the caller free()s it) the
     * created, scheduled and running jobs of each queue. NULL: no such
     * route. */
    int (*counts)(void *ctx, uint64_t by_status[JOBS_NSTATUS],
                  jobs_queue_count **q, size_t *nq);
} jobs_api;

/* ---- the service ---------------------------------------------------------------
 * The jobs_api of the real server: the store behind the group committer,
 * the jobs this process has queued or running (in memory, by id), a
 * dispatcher that starts a task per job while fewer than `workers` run (a
 * semaphore), and the counters behind /metrics.
 *
 * Allocated by jobs_service_open() (from a task, on the loop it will use);
 * jobs_service_drain() then jobs_service_close() end it. The store stays
 * the caller's. */
typedef struct jobs_service jobs_service;

typedef struct jobs_service_opts {
    int workers;                /* jobs running at once; default 4 */
    const char *const *allow;   /* --allow-command programs */
    size_t nallow;
    int recover;                /* JOBS_RECOVER_*: jobs found running */
    size_t max_batch;           /* committer: 1 turns group commit off */
    double lag_interval;        /* loop-lag probe period; default 0.1 s */
    /* Named queues with their own concurrency limit (--queue NAME:N): each
     * runs up to its limit of jobs, apart from `workers`, which every
     * other queue shares. On a shared store the limits are this
     * process's. */
    const char *admin_token;    /* DELETE and retry need it (the caller
                                   keeps the string alive); NULL: none */
    double retention;           /* prune ended jobs this many seconds after
                                   they finished; 0: keep them */
    const char *const *queue_names;
    const int *queue_limits;
    const int *queue_rates;     /* per queue: at most this many starts per
                                   queue_periods seconds (0: no limit);
                                   both NULL: none (ratelimit.c) */
    const double *queue_periods;
    size_t nqueues;
    /* Shared stores (PostgreSQL) only: */
    double lease;               /* the store's lease, seconds (default 30):
                                   renewed every third of it */
    double poll;                /* how often to look for work that other
                                   processes queued (default 0.25 s) */
    double counts_every;        /* how often /metrics' job counts are
                                   recounted from the store (default 15 s;
                                   this process's changes are added in
                                   between) */
    /* Every core: run jobs on loops 0..loops-1 of the corio_run_multi
     * runtime (0, 1: only the service's own loop). multi.c. */
    unsigned loops;
} jobs_service_opts;

/* Recovers the store (running -> interrupted or created, per opts), queues
 * every created job in id order, and starts the committer and the
 * dispatcher. Suspending. err gets a sentence on failure. Returns 0 or a
 * store error. */
int jobs_service_open(jobs_service **sp, jobs_store *store,
                      const jobs_service_opts *opts, char *err,
                      size_t errlen);
/* The API for the router; valid until jobs_service_close(). */
const jobs_api *jobs_service_api(jobs_service *s);
/* Lets /metrics include the HTTP server's counters (NULL: none). */
void jobs_service_set_http(jobs_service *s, corio_http_server *srv);

/* Stops taking jobs (submit: CORIO_ESHUTDOWN, /healthz: 503) and starting
 * queued ones (they stay created, for the next start); waits up to grace
 * seconds for the running ones; then cancels the rest, which are recorded
 * as interrupted. Returns once every job task has ended and every write is
 * committed; the number of jobs that had to be interrupted. Suspending
 * (shielded: an interruption of the caller does not cut it short). */
int jobs_service_drain(jobs_service *s, double grace);
/* Frees s (after drain). Suspending: closes the committer. */
void jobs_service_close(jobs_service *s);

typedef struct jobs_service_stats {
    uint64_t by_status[JOBS_NSTATUS]; /* jobs in the store */
    uint64_t submitted;               /* accepted since start */
    size_t queued, running;           /* in this process now */
    double lag, lag_max;              /* loop lag, seconds: last, worst */
} jobs_service_stats;
void jobs_service_stats_get(const jobs_service *s, jobs_service_stats *out);

/* ---- the router ----------------------------------------------------------------
 * Turns one parsed request into one response, calling api. Pure apart from
 * api: no sockets, no globals. Fills resp (which the caller initialised);
 * always produces a response (a JSON error if need be). Returns its status.
 *
 *   POST   /jobs              202 {"id","status":"created"} + Location
 *   GET    /jobs?status=&limit=&after=   200 {"jobs":[...],"next":...}
 *   GET    /jobs/<id>         200 job | 404
 *   DELETE /jobs/<id>         200 job | 404 | 409 (already finished)
 *   GET    /healthz           200 | 503 (draining, or the store damaged)
 *   GET    /metrics           200 Prometheus text
 * HEAD is accepted wherever GET is. Other methods: 405 with Allow. */
int jobs_route(const jobs_api *api, const corio_http_request *req,
               corio_http_response *resp);

/* A JSON error response {"error": msg}: what the router and the server
 * send for every failure. */
void jobs_error_response(corio_http_response *resp, int status,
                         const char *msg);
/* A JSON response from o (stolen; NULL: 500 out of memory). Returns the
 * status sent. */
int jobs_json_response(corio_http_response *resp, int status, json_t *o);

/* ---- authorization (auth.c) ------------------------------------------------
 * May a request change jobs (DELETE, retry)? With a token configured:
 * only with "Authorization: Bearer <token>". Without: only from this
 * machine: a loopback or Unix-socket peer, a loopback Host (when sent), and
 * no Origin of another site. authz, host, origin: the header values or
 * NULL; peer: NULL if unknown (then not local). */
enum {
    JOBS_AUTH_OK = 0,
    JOBS_AUTH_TOKEN = 1, /* 401: the token is missing or wrong */
    JOBS_AUTH_LOCAL = 2  /* 403: no token configured, not from here */
};
int jobs_auth_decide(const char *token, const char *authz,
                     const struct sockaddr *peer, size_t peer_len,
                     const char *host, const char *origin);
/* jobs_auth_decide() on req with api's token: 0 if allowed, else fills
 * resp with the 401 or 403 and returns it. */
int jobs_authorize(const jobs_api *api, const corio_http_request *req,
                   corio_http_response *resp);

/* ---- the dashboard (dashboard.c) -------------------------------------------
 * GET / from a browser: one self-contained HTML page (dashboard.html,
 * compiled in) that polls the JSON API with URLs relative to where it is
 * mounted. */
int jobs_wants_html(const corio_http_request *req); /* Accept: text/html */
int jobs_route_dashboard(corio_http_response *resp);
/* GET /counts: {"by_status": {...}, "queues": [{"queue", "created",
 * "scheduled", "running"}...]}. */
int jobs_route_counts(const jobs_api *api, corio_http_response *resp);
/* Fills in the service's list_desc and counts. */
void jobs__dashboard_api(jobs_service *s, jobs_api *api);

#define JOBS_LIST_DEFAULT 100
#define JOBS_LIST_MAX 1000

#endif
