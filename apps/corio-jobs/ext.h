/*
 * The library's features beside the service (issue 16's second part):
 * periodic jobs (cron.c), jobs inserted by other connections to a SQLite
 * store (store_sqlite_ext.c: the caller's own transaction, and the cron
 * ticks), progress shared through a PostgreSQL store (store_pg_ext.c),
 * and per-queue rate limits (ratelimit.c). Private to corio-jobs; names
 * jobs__ext_*, jobs__cron_*, jobs__sqx_*, jobs__pgx_*, jobs__rate_*.
 *
 * Why apart: the store and service files are the core; these features
 * hook into them at a few points (lib.c's open, drain, close, kick and
 * progress; service.c's GET; the dispatchers' starts) and keep their state
 * in one jobs_ext per service.
 */
#ifndef CORIO_JOBS_EXT_H
#define CORIO_JOBS_EXT_H

#include <corio_jobs.h>

#include "service_int.h"

#include <pthread.h>

struct sqlite3;
struct jobs_cron; /* cron.c */

/* One per library service. Allocated by jobs__ext_open (after the service
 * is open), stopped by jobs__ext_stop (before the drain: no tick fires and
 * no job is adopted after it), freed by jobs__ext_close. Loop thread,
 * except what the pool touches under dblock. */
typedef struct jobs_ext {
    jobs_service *svc;
    jobs_store *store;
    int sqlite;                 /* the store is a SQLite file */
    int stopped;
    /* SQLite: a connection of our own to the store's file, for the cron
     * ticks and for adopting jobs other connections inserted (used on the
     * pool, one call at a time: dblock). */
    struct sqlite3 *db;
    pthread_mutex_t dblock;
    corio_task *inbox_task;     /* polls jobs_inbox */
    corio_event *inbox_bell;    /* corio_jobs_kick */
    /* Periodic jobs (cron.c). */
    struct jobs_cron *cron;
    /* PostgreSQL: progress waiting to be written (ids, deduplicated). */
    char (*dirty)[JOBS_ID_LEN + 1];
    size_t ndirty, cdirty;
    corio_task *progress_task;
    corio_event *progress_bell;
} jobs_ext;

/* One loop's service: its store (own pool), service and extras. */
typedef struct jobs_unit {
    jobs_store *store;
    jobs_service *svc;
    jobs_ext *ext;
    double grace;        /* jobs__loops_drain's, for the unit's loop */
} jobs_unit;

/* The library's handle (include/corio_jobs.h). Allocated by
 * corio_jobs_open, freed by corio_jobs_close. store, svc and ext are the
 * home loop's; on PostgreSQL over several loops (loops.c) every loop
 * 0..nunits-1 has a unit of its own, units[0] being the home's. */
struct corio_jobs {
    jobs_store *store;   /* owned (units[0].store with units) */
    jobs_service *svc;   /* owned */
    char **allow;        /* copy of opts.allow_command, NULL-terminated */
    char *admin_token;   /* copy, or NULL */
    jobs_ext *ext;       /* owned: periodic jobs, adoption, progress */
    int drained;
    jobs_unit *units;    /* loops.c: [nunits], or NULL */
    unsigned nunits;
    jobs_service **peers;/* loops.c: [loop count] units' services (NULL
                            past nunits), or NULL */
};

/* loops.c: corio_jobs on PostgreSQL with a service per loop. */
/* How many loops get a service of their own for url and opts.loops: 0
 * when one service does (SQLite; one loop; not opened on loop 0). */
unsigned jobs__loops_count(const char *url, int loops);
/* Opens a unit on each of loops 0..n-1 (this task is on loop 0), each
 * with its share of so's workers, queue limits and rates and of the
 * connections, and fills j's units, peers, store, svc and ext. so's
 * queue arrays are read during the call. 0 or an error (err says why;
 * nothing is left open). Suspending. */
int jobs__loops_open(corio_jobs *j, const char *url,
                     const jobs_store_opts *sto, const jobs_service_opts *so,
                     unsigned n, char *err, size_t errlen);
/* Stops every unit's extras and drains every unit, at once, each on its
 * loop; the number of jobs interrupted. Suspending. */
int jobs__loops_drain(corio_jobs *j, double grace);
/* Closes every unit on its loop and frees the arrays. Suspending. */
void jobs__loops_close(corio_jobs *j);
/* The service and extras of the current loop (the home's elsewhere). */
jobs_service *jobs__svc_here(corio_jobs *j);
jobs_ext *jobs__ext_here(corio_jobs *j);

/* lib.c: a new job of type with spec, validated as a POST. *prog gets a
 * command's argv[0] (malloc'ed) or NULL. 0, -EINVAL (err says why),
 * -ENOMEM. */
int jobs__build_job(const char *type, const char *spec, jobs_job **out,
                    char **prog, char *err, size_t errlen);

/* ext (cron.c holds the glue). Suspending. */
int jobs__ext_open(jobs_ext **out, jobs_service *svc, jobs_store *store,
                   char *err, size_t errlen);
void jobs__ext_stop(jobs_ext *x);
void jobs__ext_close(jobs_ext *x);
void jobs__ext_kick(jobs_ext *x);

/* cron.c: parses a schedule. 0 or -EINVAL (err says why). */
typedef struct jobs_sched_spec {
    int64_t every_ms;           /* "every N": ticks at multiples of it */
    uint64_t minute;            /* cron: bit i set: minute i matches */
    uint32_t hour, dom, month;  /* bits 0..23, 1..31, 1..12 */
    uint8_t dow;                /* bits 0..6 (Sunday 0) */
    int dom_any, dow_any;       /* the field was "*" */
} jobs_sched_spec;
int jobs__sched_parse(const char *s, jobs_sched_spec *out, char *err,
                      size_t errlen);
/* Adds a schedule for type (corio_jobs_schedule). 0, -EINVAL, -EEXIST,
 * -ENOMEM, CORIO_ESHUTDOWN. */
int jobs__cron_add(jobs_ext *x, const char *type, const char *schedule,
                   const char *spec, char *err, size_t errlen);
/* The latest tick at or before t_ms (Unix ms, UTC), or -1 if none within
 * about five years. */
int64_t jobs__sched_prev(const jobs_sched_spec *sp, int64_t t_ms);
/* The first tick after t_ms, or INT64_MAX. */
int64_t jobs__sched_next(const jobs_sched_spec *sp, int64_t t_ms);

/* store_sqlite_ext.c (the blocking ones: call them on the pool) */
/* Inserts j on db (the caller's connection, in its transaction) and
 * notes it in jobs_inbox for the service to adopt. 0; 1 with existing
 * (JOBS_ID_LEN + 1) filled when j's unique_key is held; -EIO (err says
 * why), -EBUSY. */
int jobs__sqx_insert(struct sqlite3 *db, const jobs_job *j, char *existing,
                     char *err, size_t errlen);
/* Opens x->db and creates the tables of these features. */
int jobs__sqx_open(jobs_ext *x, char *err, size_t errlen);
void jobs__sqx_close(jobs_ext *x);
/* The cron tick of name at tick_ms: records it in one transaction with
 * the job j unless a tick >= tick_ms is recorded already (first: the tick
 * a new row starts at). 1 inserted, 0 not this process's to run, < 0. */
int jobs__sqx_tick(jobs_ext *x, const char *name, int64_t first,
                   int64_t tick_ms, const jobs_job *j);
/* The entry of job id: the service's, or (a SQLite store) a new one for a
 * job another connection inserted that is still created or scheduled,
 * now queued. NULL: neither. Suspending. */
entry *jobs__sqx_adopt(jobs_service *s, const char *id);
/* The task adopting jobs_inbox's jobs (arg: x). */
void *jobs__sqx_inbox_main(void *arg);

/* store_pg_ext.c (suspending; -EPROTONOSUPPORT without PostgreSQL) */
int jobs__pgx_open(jobs_ext *x, char *err, size_t errlen);
int jobs__pgx_tick(jobs_ext *x, const char *name, int64_t first,
                   int64_t tick_ms, const jobs_job *j);
/* Notes that e's progress changed; a task writes it, throttled. */
void jobs__pgx_progress_note(jobs_ext *x, entry *e);
/* Fills j's progress from the store (a job running elsewhere). */
void jobs__pgx_progress_fill(jobs_service *s, jobs_job *j);
void *jobs__pgx_progress_main(void *arg);
/* store_pg.c: the store's pool of connections. */
struct corio_pg_pool *jobs_pg_pool(jobs_store *s);

/* ratelimit.c: at most n starts per `per` seconds on a run queue (this
 * process's). */
typedef struct jobs_rate {
    int n;
    double per;
    double *starts; /* ring of the last n start times (corio_now) */
    size_t head, count;
} jobs_rate;
int jobs__rate_init(jobs_runq *q, int n, double per); /* 0 or -ENOMEM */
void jobs__rate_free(jobs_runq *q);
/* How many starts the queue may make now (up to want), or, when none,
 * suspends until one is allowed. -ECANCELED when cancelled. */
int jobs__rate_take(jobs_runq *q, size_t want);
/* Records k starts now. */
void jobs__rate_note(jobs_runq *q, size_t k);

#endif
