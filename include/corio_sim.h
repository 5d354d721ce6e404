/*
 * corio_sim.h: deterministic simulation of a corio program.
 *
 * corio_sim_run() runs a main task like corio_run_ex(), on a loop whose
 * clock is virtual and whose scheduling choices come from a seed:
 *  - Virtual time. corio_now(), sleeps, timers, scopes' deadlines and
 *    corio_wait_for() read the virtual clock. When no task can run, the
 *    clock jumps to the next timer, so an hour of sleeps and timeouts takes
 *    milliseconds. Thread-pool jobs (corio_to_thread, corio_file_*) run on
 *    the loop itself, in scheduler order, taking no virtual time.
 *  - Seeded order. Where corio promises no order (tasks made ready by
 *    different events in one loop iteration: timers firing, fds becoming
 *    ready, tasks woken by the tasks that ran before), the seed chooses an
 *    interleaving. What corio promises stays as promised: call_soon
 *    callbacks run FIFO, timers with equal deadlines fire in the order
 *    armed, a lock is handed to its waiters FIFO.
 *  - A trace hash. Every loop iteration (virtual time, what is ready, in
 *    which order) is mixed into a 64-bit hash. The same seed gives the same
 *    run and the same hash; corio_sim_check() runs a seed twice and fails
 *    if the hashes differ (a wall-clock read, unseeded randomness, real I/O
 *    or threads leaking into the run).
 *
 * Not simulated yet (issue 17): the network and the disk. Real sockets and
 * files still work inside a simulation, but they are real: their timing is
 * not virtual, so a run that depends on them may not replay (the check
 * mode says so).
 *
 * Compiles as C11 and as C++.
 */
#ifndef CORIO_SIM_H
#define CORIO_SIM_H

#include <corio.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CORIO_ENONDET (corio.h's error list): the two runs of one seed took
 * different paths (corio_sim_check). */

enum corio_sim_flags {
    /* Keep every ready entry in FIFO order (no seeded interleaving): the
     * clock is still virtual. For comparing with the seeded order. */
    CORIO_SIM_FIFO = 0x1,
    /* corio_sim_run_seeds(): run every seed twice and compare the hashes
     * (also switched on by the environment variable CORIO_SIM_CHECK=1). */
    CORIO_SIM_CHECK = 0x2
};

/* Options of a simulation; all-zero (or a NULL pointer) is the default.
 * Owned by the caller; read during the call only. */
typedef struct corio_sim_config {
    /* Virtual seconds the run may last; 0: one simulated day. A run that
     * would pass it is stopped, its tasks cancelled, and the run fails with
     * -ETIMEDOUT: "nothing hangs past a bound in virtual time". */
    double time_limit;
    unsigned flags;                  /* CORIO_SIM_* */
    const corio_loop_config *loop;   /* for the loop; NULL: defaults */
    /* Where failing seeds are reported (corio_sim_run_seeds,
     * corio_sim_check): a FILE*; NULL: stderr. */
    void *report_file;
} corio_sim_config;

/* What a run did. Filled by the caller's request (may be NULL). */
typedef struct corio_sim_stats {
    uint64_t seed;
    uint64_t trace_hash;      /* equal for equal runs */
    uint64_t iterations;      /* loop iterations */
    uint64_t time_jumps;      /* times the clock jumped to a timer */
    uint64_t reorders;        /* iterations whose ready order the seed changed */
    uint64_t real_waits;      /* times the loop blocked on real fds/threads */
    uint64_t seeds_run;       /* corio_sim_run_seeds: seeds completed */
    double virtual_seconds;   /* virtual time that passed */
    double real_seconds;      /* wall-clock time the run took */
} corio_sim_stats;

/* Runs main_fn(arg) as the main task of a new simulated loop on the calling
 * thread, like corio_run_ex(): returns when main and every task it left
 * behind have finished. seed chooses every unordered choice; the same seed
 * and the same program give the same run. Returns main's status (0, its
 * corio_fail() code, -ECANCELED), -EDEADLK (nothing can wake a live task),
 * -ETIMEDOUT (cfg->time_limit passed), or an error from creating the loop
 * (-ENOMEM, ...), -EBUSY if a loop is running on this thread. *result gets
 * main's return value when it finished (may be NULL). */
CORIO_API int corio_sim_run(uint64_t seed, corio_fn main_fn, void *arg, void **result,
                            const corio_sim_config *cfg, corio_sim_stats *stats);

/* Runs seed twice and compares the trace hashes. Returns the first run's
 * status, or CORIO_ENONDET if the runs differed (reported with the seed
 * and the command that replays it). */
CORIO_API int corio_sim_check(uint64_t seed, corio_fn main_fn, void *arg,
                              const corio_sim_config *cfg, corio_sim_stats *stats);

/* Runs seeds first .. first+count-1 and stops at the first that fails
 * (status < 0, or a hash mismatch in check mode). A failing seed is
 * reported with the one command that replays it:
 *     CORIO_SIM_SEED=<seed> <this program's command line>
 * Environment: CORIO_SIM_SEED=<n> runs only seed n; CORIO_SIM_SEEDS=<n>
 * runs n seeds instead of count; CORIO_SIM_CHECK=1 checks every seed.
 * Returns 0 when every seed passed, else the failing seed's status;
 * stats (may be NULL) gets the last run's figures, seeds_run, and the
 * summed virtual and real seconds. */
CORIO_API int corio_sim_run_seeds(uint64_t first, uint64_t count, corio_fn main_fn, void *arg,
                                  const corio_sim_config *cfg, corio_sim_stats *stats);

/* Inside a simulation (the calling thread's loop is simulated): 1, else 0. */
CORIO_API int corio_sim_active(void);
/* The running simulation's seed; 0 outside one. */
CORIO_API uint64_t corio_sim_seed(void);
/* A pseudo-random number from the simulation's seed (a stream of its own,
 * apart from the scheduler's). Programs under test should take their
 * randomness from here. Outside a simulation: from a per-thread generator
 * seeded by the clock. */
CORIO_API uint64_t corio_sim_random(void);
/* Mixes len bytes into the trace hash (an application event: "job 7
 * acknowledged"), so the check mode compares what the program did, not
 * only what the scheduler did. No-op outside a simulation. */
CORIO_API void corio_sim_trace(const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
