/*
 * Helpers of tests/test_jobs_sim.c (corio-jobs under simulation).
 *
 * A slow store: a wrapper around a job store whose writes each take a
 * seeded virtual latency before they run. The service's two committers
 * (commit.c) then commit their batches in either order, as they do on
 * real threads racing for SQLite's writer lock; in a simulation the thread
 * pool runs jobs in order, which would hide that.
 *
 * The audit: a trigger on the store's file that records, in the same
 * transaction, every change of a job's status and attempt number, so that
 * a check can read the job's whole durable history and judge each step.
 */
#ifndef CORIO_TEST_JOBS_SIM_UTIL_H
#define CORIO_TEST_JOBS_SIM_UTIL_H

#include "jobs.h"

#include <stddef.h>
#include <stdint.h>

/* Wraps in (taken: closing the wrapper closes it) in a store whose writes
 * first sleep a uniform [0, max_delay] virtual seconds (corio_sim_random).
 * Its operations suspend (on_loop): call them from a task. NULL: ENOMEM. */
jobs_store *sim_slow_store(jobs_store *in, double max_delay);

/* Creates the audit table and trigger in the SQLite file path (on the VFS
 * vfs) unless they exist. Blocking (the pool). 0 or a negative errno. */
int sim_audit_install(const char *path, const char *vfs);

/* One recorded change. */
typedef struct sim_audit_row {
    int64_t seq;
    char id[JOBS_ID_LEN + 1];
    int from, to;              /* statuses (jobs_status_parse) */
    int from_att, to_att;
} sim_audit_row;

/* Reads the recorded changes with seq > after, in order, calling fn for
 * each (fn returns 0 to go on). Blocking. 0 or a negative errno. */
int sim_audit_read(const char *path, const char *vfs, int64_t after,
                   int (*fn)(const sim_audit_row *r, void *arg), void *arg);

/* Whether a change is one corio-jobs may make on a SQLite store: NULL if
 * legal, else a sentence saying why not. */
const char *sim_audit_illegal(const sim_audit_row *r);

/* ---- running seeds ------------------------------------------------------- */
/* Prints the command that replays seed (from /proc/self/cmdline). */
void sim_print_replay(uint64_t seed);
/* yes: sends stderr to /dev/null, returning what restores it (or -1). */
int sim_quiet_stderr(int yes);
void sim_restore_stderr(int saved);
/* The environment variable name as a number; *set: it is set. */
uint64_t sim_env_u64(const char *name, int *set);
/* Wall-clock seconds (CLOCK_MONOTONIC), for budgets and figures. */
double sim_wall(void);

#endif

/* ---- an HTTP client over the simulated network ----------------------------
 * POSTs body to http://host:port/jobs with an Idempotency-Key, on a
 * connection of its own ("Connection: close"), within timeout virtual
 * seconds. Returns the HTTP status (> 0) with the answer's "id" in id
 * (JOBS_ID_LEN + 1 bytes, "" if none), or a negative errno (-ETIMEDOUT,
 * -ECONNRESET, ...: the answer never came; the job may exist). Suspending;
 * from a task on the client's simulated host. */
int sim_post_job(const char *host, int port, const char *key, const char *body,
                 double timeout, char *id);
