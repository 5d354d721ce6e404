/*
 * Internals of the service, shared by service.c (the API, the table of
 * active jobs, metrics) and runner.c (the dispatcher, job tasks and the
 * work each job type does). Not used elsewhere.
 */
#ifndef CORIO_JOBS_SERVICE_INT_H
#define CORIO_JOBS_SERVICE_INT_H

/* Default seconds between recounts of a shared store (shared.c). */
#define COUNTS_EVERY 15.0

#include <stdatomic.h>

#include "service.h"

/* A run queue: jobs waiting for a worker slot, highest priority first,
 * then oldest (id order); its dispatcher starts them while its semaphore
 * has a unit. rqs[0] is the default one, for every queue without its own
 * limit, with `workers` slots. Allocated with the service. */
typedef struct jobs_runq {
    char name[JOBS_TYPE_NAME_MAX + 1]; /* "" for the default */
    struct entry *head;          /* list sentinel (heap: entry is below) */
    size_t n;
    int limit;
    corio_sem *slots;
    corio_sem *finishing;        /* jobs whose work is over and whose
                                    outcome is being committed, off slots */
    corio_chan *bell;            /* capacity 1: the queue grew */
    corio_task *dispatcher;
    struct jobs_service *svc;
    struct jobs_rate *rate;      /* a rate limit (ratelimit.c), or NULL */
    unsigned claims_seen;        /* shared: the committed inserts its
                                    claims have seen (jobs_committer_claim) */
} jobs_runq;

/* Where an active job is. */
enum {
    E_PENDING = 0, /* its insert is not committed yet: invisible */
    E_QUEUED,      /* durable, on the run queue */
    E_RUNNING,     /* its task runs it */
    E_FINISHING,   /* its final state is being committed */
    E_DONE,        /* final state committed; off the table */
    E_SCHEDULED    /* durable as scheduled, on the scheduled list, waiting
                      for its run_at (not a shared store's: the store holds
                      those) */
};

/* A job this process has accepted and not yet finished. Allocated by
 * api_submit (or at startup for queued jobs); reference counted: the table
 * holds one reference while the entry is on it, a running task one, each
 * task waiting for it one (the submitter until its commit returns, a
 * DELETE until the job has ended). The last unref frees the entry, its job
 * and its future. Everything here is touched on the loop thread only,
 * except `stop`, which pool work polls. */
typedef struct entry {
    jobs_job *job;               /* the live state (owned) */
    struct jobs_service *svc;
    struct entry *hnext;         /* table bucket chain */
    struct entry *next, *prev;   /* run queue or running list */
    corio_task *task;            /* E_RUNNING: its task (detached) */
    corio_future *done;          /* NULL until someone waits for the end */
    int refs;
    int state;                   /* E_* */
    int cancel;                  /* DELETE asked for it */
    int interrupt;               /* drain ran out of grace */
    int lost;                    /* shared store: another process took it
                                    over (this one's lease expired) */
    int noretry;                 /* the handler said CORIO_JOB_NORETRY */
    int prestart;                /* E_PENDING: inserted as running, with a
                                    worker slot of rq held; it starts when
                                    the insert commits (runner.c) */
    int finish_rc;               /* E_DONE: jobs__finish's commit status
                                    (< 0: the end was not recorded) */
    jobs_runq *rq;               /* queued or running: its run queue */
    double deadline;             /* running: corio_now() when the attempt
                                    times out, or 0 */
    unsigned claim_gen;          /* shared store: s->renew_gen when claimed */
    atomic_int stop;             /* cancel or interrupt: pool work stops */
    /* Every core (multi.c): */
    struct entry *home;          /* a shadow (an attempt on another loop):
                                    the home loop's entry, whose stop flag
                                    it polls; NULL otherwise */
    struct jobs_xrun *xrun;      /* home: the attempt on another loop, while
                                    it runs (its progress mailbox) */
} entry;

/* A submission with an idempotency key whose outcome is not known yet:
 * later ones with the same key wait for it instead of racing it.
 * Allocated by the first submitter, on s->keys while it works; freed by
 * the last to let go (refs). */
typedef struct keywait {
    char *key;
    char id[JOBS_ID_LEN + 1]; /* the job holding the key, once known */
    int rc;                   /* once done: 0/1 (id valid) or an error */
    int done;
    int refs;
    corio_event *ev;          /* set when done */
    struct keywait *next;
} keywait;

/* The service on every core (multi.c): the loops it spreads jobs over,
 * the calls other loops forward to the home loop. */
typedef struct jobs_multi jobs_multi;

/* Allocated by jobs_service_open, freed by jobs_service_close. */
struct jobs_service {
    jobs_store *store;           /* the caller's */
    jobs_committer *commit;
    jobs_service_opts opts;
    char **allow;                /* copy of opts.allow */
    jobs_api api;
    entry **buckets;             /* id -> entry, chained */
    size_t nbuckets, nentries;
    jobs_runq *rqs;              /* run queues, [0] the default */
    size_t nrqs;
    size_t nqueued;              /* in every run queue */
    entry running;               /* running list sentinel */
    size_t nrunning;
    size_t nprestart;            /* entries pending with prestart set */
    entry sched;                 /* scheduled list sentinel (unordered) */
    size_t nsched;
    corio_task *sched_task;      /* moves due jobs to the run queue */
    corio_event *sched_bell;     /* the scheduled list changed */
    corio_event *idle;           /* set while nothing runs */
    corio_task *lag_task;
    int shared;                  /* the store is shared (PostgreSQL) */
    corio_task *lease_task;      /* shared: renews the leases */
    unsigned renew_gen;          /* shared: renewals begun */
    unsigned claims_begun;       /* shared: claims whose transaction began */
    unsigned claims_ended;       /* shared: ... and whose jobs are started */
    keywait *keys;               /* idempotency keys being recorded */
    corio_task *prune_task;      /* retention, or NULL */
    uint64_t pruned;             /* jobs pruned since start */
    corio_http_server *http;     /* for /metrics, or NULL */
    corio_http_client *http_client; /* fetch jobs (on the home loop) */
    jobs_multi *multi;           /* every core (multi.c) */
    int draining;
    uint64_t by_status[JOBS_NSTATUS];
    uint64_t submitted;
    double lag, lag_max;
    struct jobs_ext *ext;        /* the library's extras (ext.h), or NULL */
};

/* service.c */
entry *jobs__entry_find(jobs_service *s, const char *id);
/* A new entry for j (owned from now on), not on the table: refs 0. */
entry *jobs__entry_new(jobs_service *s, jobs_job *j);
/* Puts e on the table (one reference). 0 or -ENOMEM. */
int jobs__table_add(jobs_service *s, entry *e);
void jobs__entry_unref(entry *e);
void jobs__table_remove(jobs_service *s, entry *e);
void jobs__list_push(entry *head, entry *e);
void jobs__list_remove(entry *e);
/* Sets the job's final status (with result or error, copied), commits it
 * (shielded: it is recorded whatever happens to the caller), takes e off
 * the table and wakes whoever waits for it. Suspending. */
int jobs__finish(entry *e, int status, const char *result, const char *error);

/* A running job of a registered type, as its handler sees it
 * (corio_jobs.h): on the job task's stack for the handler call. */
struct corio_job {
    entry *e;
    char **result, **error; /* jobs__execute's outputs */
    int flags;              /* CORIO_JOB_* of the last corio_job_fail */
};

/* Puts e (its job durably scheduled) on the scheduled list; the scheduler
 * queues it at its run_at. */
void jobs__sched_add(jobs_service *s, entry *e);
/* The run queue of a queue name (the default one if it has no limit). */
jobs_runq *jobs__runq_of(jobs_service *s, const char *queue);
/* Puts e on its run queue (E_QUEUED), in priority-then-id order, and
 * wakes its dispatcher. */
void jobs__enqueue(jobs_service *s, entry *e);
/* Takes a queued e off its run queue. */
void jobs__dequeue(jobs_service *s, entry *e);

/* service.c: records j (insert, group commit) and queues it once durable.
 * Takes j. */
int jobs__submit_plain(jobs_service *s, jobs_job *j);
/* service.c: the job from the store (not the table). */
int jobs__store_get(jobs_service *s, const char *id, jobs_job **out);

/* service_more.c */
/* Submits j, which has a unique_key: 0 recorded, 1 a job holds the key
 * (existing gets its id), or an error. Takes j. */
int jobs__submit_keyed(jobs_service *s, jobs_job *j, char *existing);
int jobs__api_retry(void *ctx, const char *id, jobs_job **out);
void *jobs__prune_main(void *arg); /* the retention task; arg: s */

/* runner.c */
int jobs__runner_start(jobs_service *s);
/* Stops the dispatcher; waits for running jobs, interrupting them after
 * grace. Returns how many were interrupted. */
int jobs__runner_stop(jobs_service *s, double grace);
void jobs__runner_kick(jobs_service *s); /* the queue grew */
/* Starts a task for e (E_RUNNING, on the running list). 0 or an error
 * (then e is finished as failed). */
int jobs__runner_launch(jobs_service *s, entry *e);
/* A new job j (E_PENDING, not committed yet) whose run queue is idle:
 * takes a worker slot and marks j as started (running, attempt 1), so
 * that its insert records the start too and it runs the moment the
 * insert commits (jobs__prestart_commit). 1 if so, 0 if it waits its
 * turn as usual. */
int jobs__prestart(jobs_service *s, entry *e);
/* The insert of a prestarted e committed (status 0: start it; the
 * committer's hook) or failed or was refused (give the slot back). */
void jobs__prestart_commit(jobs_service *s, entry *e, int status);

/* shared.c: a store several processes share. The dispatcher claims jobs
 * from the store instead of taking them off the in-memory queue; a lease
 * task renews what this process holds and acts on cancellation requests
 * and lost leases; DELETE of a job held elsewhere goes through the store. */
void *jobs__shared_dispatcher(void *arg); /* arg: its jobs_runq */
void *jobs__lease_main(void *arg);
int jobs__shared_cancel(jobs_service *s, const char *id, jobs_job **out);
/* Runs one job's work: 0 with *result (malloc'ed JSON text), or a negative
 * error with *error (malloc'ed sentence, may be NULL). */
int jobs__execute(entry *e, char **result, char **error);
/* A malloc'd formatted string (NULL on failure), for results and errors. */
char *jobs__dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* service.c: the figures of /metrics that add up over loops. */
typedef struct jobs_msnap {
    uint64_t submitted, workers, transactions, writes, failed, pruned;
    size_t running;
    double lag, lag_max;      /* summed: the worst loop's */
} jobs_msnap;
/* s's own figures. On s's loop. */
void jobs__metrics_snap(jobs_service *s, jobs_msnap *m);
void jobs__metrics_add(jobs_msnap *a, const jobs_msnap *b);

/* multi.c: the service on every loop of a corio_run_multi runtime. */
/* Sets up s->multi on the current (home) loop, after s->api: jobs run on
 * loops 0..loops-1 of the runtime (0, 1: the home loop only). */
int jobs__multi_open(jobs_service *s, unsigned loops);
/* Waits for the calls forwarded from other loops, closes the per-loop
 * fetch clients, frees s->multi. Suspending; shielded. */
void jobs__multi_close(jobs_service *s);
/* One attempt of e's job, under its timeout, on the next loop round
 * robin (the home loop's turn, or one loop: here); returns when it has
 * ended, even if the caller is interrupted (then it is cancelled first).
 * As jobs__execute; *timed_out: the job's timeout ended it. */
int jobs__run_attempt(entry *e, char **result, char **error, int *timed_out);
/* The API for a task on the current loop: the service's own on the home
 * loop, elsewhere one that forwards each call to it. */
const jobs_api *jobs__api_here(jobs_service *s);
/* A handler's progress (in e->job) reaches the home loop's copy: for a
 * shadow entry, posts it; no-op otherwise. */
void jobs__progress_post(entry *e);
/* Home loop: takes the newest progress of e's attempt running elsewhere. */
void jobs__progress_pull(entry *e);
/* The stop flag that pool work of e's attempt polls. */
atomic_int *jobs__stop_flag(entry *e);
/* The HTTP client for fetch jobs on the current loop. */
corio_http_client *jobs__http_client(entry *e);
/* The current loop's HTTP server for /metrics (NULL: none). */
void jobs__multi_set_http(jobs_service *s, corio_http_server *srv);
/* The HTTP servers' counters summed over loops. Suspending. 1 if any
 * server was seen. */
int jobs__multi_http_stats(jobs_service *s, corio_http_server_stats *sum);
/* Appends the per-loop metrics (requests: as jobs__multi_http_stats last
 * read them). Tasks alive on every loop. Loops of the
 * runtime (1 outside one). */
void jobs__multi_metrics(jobs_service *s, corio_http_buf *b);
size_t jobs__multi_tasks_alive(jobs_service *s);
unsigned jobs__multi_slots(const jobs_service *s);
/* Every loop its own service (PostgreSQL, lib.c): peers[i] is loop i's
 * service (NULL: none), an array of jobs__multi_slots(s) that outlives
 * s's requests; set on each of them before any request is served. */
void jobs__multi_set_peers(jobs_service *s, jobs_service *const *peers);
/* With peers: fills *sum with every peer's figures (each read on its own
 * loop), *hs and *have_http with their HTTP servers', remembers the
 * per-loop attempts and requests for jobs__multi_metrics, and returns 1.
 * Without: 0 (nothing filled). Suspending. */
int jobs__multi_peers_sum(jobs_service *s, jobs_msnap *sum,
                          corio_http_server_stats *hs, int *have_http);

/* Mutation testing: jobs_mutant and its bits are in jobs.h (the stores
 * read them too). */

#endif
