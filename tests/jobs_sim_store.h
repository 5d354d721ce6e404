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
#ifndef CORIO_TEST_JOBS_SIM_STORE_H
#define CORIO_TEST_JOBS_SIM_STORE_H

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

#endif
