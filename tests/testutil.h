/* Shared helpers for the cmocka suites. */
#ifndef CORIO_TESTUTIL_H
#define CORIO_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <corio.h>

/* Runs fn(arg) as the main task of a fresh loop (corio_run_ex) and fails the
 * test unless the loop closes clean: nothing leaked, nothing left pending.
 * cfg may be NULL. Returns the main task's status. */
int tu_run(corio_fn fn, void *arg, void **result);
int tu_run_cfg(corio_fn fn, void *arg, void **result, const corio_loop_config *cfg);

/* The stack mode tu_run uses when given no config (CORIO_STACK_DEFAULT
 * unless tu_run_both_modes switched it). */
extern int tu_stack_mode;

/* Runs the test table twice: with the default stack mode, then in
 * CORIO_STACK_COMPACT (skipped with a message where the build cannot do
 * compact mode, e.g. under ASan). Data shared between tasks must therefore
 * never live on a task's stack: use statics or the heap. Returns the number
 * of failed tests. */
#define tu_run_both_modes(tests) \
    tu_run_both_modes_(tests, sizeof(tests) / sizeof((tests)[0]))
int tu_run_both_modes_(const struct CMUnitTest *tests, size_t n);
/* 1 if this build can create a CORIO_STACK_COMPACT loop. */
int tu_compact_supported(void);

/* Runs fn(arg) like tu_run but returns what the loop reported at close (a
 * malloc'ed string, "" if nothing) instead of failing on it. *status (if
 * non-NULL) gets corio_run_ex's return value. */
char *tu_run_report(corio_fn fn, void *arg, const corio_loop_config *cfg);
char *tu_run_report_status(corio_fn fn, void *arg, const corio_loop_config *cfg,
                           int *status);

/* Non-zero when built with AddressSanitizer / ThreadSanitizer, or when
 * running under Valgrind (slow): heavy tests scale themselves down. */
int tu_under_asan(void);
int tu_under_tsan(void);
int tu_under_valgrind(void);
/* Under qemu-user (the aarch64 CI run sets CORIO_UNDER_QEMU=1): threads
 * started from a task and some forked children hang there, and
 * /proc/self/maps is emulated. Those few cases skip under qemu; every mode
 * that runs natively still runs them. */
int tu_under_qemu(void);
int tu_slow(void); /* any of the above */

/* How late (seconds) a timer may reasonably fire on this shared machine:
 * generous (0.5 s; 1 s under sanitizers or qemu, 2 s under Valgrind), since
 * the tests check "not early" and "not unbounded", not latency: latency is
 * measured in bench/. */
double tu_slack(void);
/* Multiplier for the durations that order events in a test (1 normally, 10
 * under Valgrind or qemu, which run 10-50x slower): a test whose outcome
 * depends on "A's 5 ms timer fires before B's 10 ms one" scales both. */
double tu_timescale(void);

/* Runs fn(arg) in a fork()ed child with its stderr captured. Returns the
 * child's wait status; *err (if non-NULL) gets its stderr as a malloc'ed
 * string. */
int tu_fork_run(void (*fn)(void *arg), void *arg, char **err);

/* A field of /proc/self/status in KiB ("VmHWM", "VmRSS"), or -1. */
long tu_proc_kib(const char *field);
/* Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs).
 * Returns 0, or -1 if the kernel refused. */
int tu_reset_hwm(void);

/* Asserts |a - b| <= tol. */
#define tu_assert_near(a, b, tol) \
    assert_true(((a) - (b)) <= (tol) && ((b) - (a)) <= (tol))

/* Defines a cmocka test `name` whose body runs as the main task of a fresh
 * loop (via tu_run, so the loop must also close clean) and must return
 * NULL-or-anything with status 0:
 *     TU_TASK_TEST(sleeps) { assert_int_equal(corio_sleep(0.01), 0); return NULL; }
 */
#define TU_TASK_TEST(name)                                       \
    static void *name##_main(void *arg);                         \
    static void name(void **state)                               \
    {                                                            \
        (void)state;                                             \
        assert_int_equal(tu_run(name##_main, NULL, NULL), 0);    \
    }                                                            \
    static void *name##_main(void *arg)

/* A task whose timer fires every `period` seconds while other work runs,
 * recording how late it fired at worst: the proof that the loop was never
 * blocked meanwhile. Heap-allocated (other tasks' stacks may be copied
 * away in compact mode); tu_ticker_stop() ends the task, frees the ticker
 * and returns the worst lateness in seconds. From a task. */
typedef struct tu_ticker tu_ticker;
tu_ticker *tu_ticker_start(double period);
double tu_ticker_stop(tu_ticker *t);

/* A small ordered event log for ordering assertions. */
typedef struct tu_log {
    int n;
    int v[4096];
} tu_log;
void tu_log_reset(tu_log *l);
void tu_log_add(tu_log *l, int v);
/* Asserts the log holds exactly the n values of want, in order. */
void tu_log_expect(const tu_log *l, const int *want, int n);

/* 127.0.0.1:40000 as a struct sockaddr_in (static storage), *len its size:
 * the peer of a hand-built HTTP request that comes "from this machine"
 * (corio-jobs lets such a request cancel and retry without a token). */
const struct sockaddr *tu_loopback_peer(size_t *len);

#endif
