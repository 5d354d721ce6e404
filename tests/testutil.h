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

/* Runs fn(arg) like tu_run but returns what the loop reported at close (a
 * malloc'ed string, "" if nothing) instead of failing on it. */
char *tu_run_report(corio_fn fn, void *arg, const corio_loop_config *cfg);

/* Non-zero when built with AddressSanitizer / ThreadSanitizer, or when
 * running under Valgrind (slow): heavy tests scale themselves down. */
int tu_under_asan(void);
int tu_under_tsan(void);
int tu_under_valgrind(void);
int tu_slow(void); /* any of the above */

/* Asserts |a - b| <= tol. */
#define tu_assert_near(a, b, tol) \
    assert_true(((a) - (b)) <= (tol) && ((b) - (a)) <= (tol))

#endif
