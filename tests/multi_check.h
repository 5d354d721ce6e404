/*
 * CHECK for tests whose tasks run on several threads: cmocka's asserts are
 * not thread-safe, so a task records a failure in `failures` and prints
 * where; the test's thread asserts the count is 0 afterwards.
 * Include once per test file (the counter is the file's own).
 */
#ifndef CORIO_TESTS_MULTI_CHECK_H
#define CORIO_TESTS_MULTI_CHECK_H

#include <stdatomic.h>
#include <stdio.h>

static atomic_int failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            atomic_fetch_add(&failures, 1);                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

#endif
