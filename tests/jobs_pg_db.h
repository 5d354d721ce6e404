/* A private PostgreSQL for the corio-jobs-on-PostgreSQL suites
 * (test_jobs_pg_store, test_jobs_pg): started through db_server.c, with
 * its address as a libpq conninfo string and as the URL corio-jobs takes. */
#ifndef CORIO_TESTS_JOBS_PG_DB_H
#define CORIO_TESTS_JOBS_PG_DB_H

extern char jpg_conninfo[512]; /* "host=DIR port=5432 user=... dbname=..." */
extern char jpg_url[600];      /* "postgresql:///postgres?host=DIR&..." */

/* Starts the server (stopped at exit) and fills both. 0, 77 (no server
 * binaries: skip, reason printed) or 1. */
int jpg_start(void);
#include <stddef.h>

struct CMUnitTest;

/* Runs one statement on a fresh connection; asserts it succeeded. From a
 * task. */
void jpg_sql(const char *q);
/* Runs a query that returns one row on a fresh connection: its first
 * column as a number. Asserts it succeeded. From a task. */
long long jpg_sql_ll(const char *q);
/* Drops corio-jobs' tables, so that a test starts from an empty queue. */
void jpg_fresh_table(void);

/* A suite's main: starts the server (jpg_start), applies
 * $CORIO_TEST_FILTER (e.g. "postgresql_restarts*") if set, runs the n
 * tests, stops the server. What main returns: cmocka's result, or
 * jpg_start's 77 or 1. JPG_RUN_TESTS(array) counts the array. */
int jpg_run_tests(const struct CMUnitTest *tests, size_t n);
#define JPG_RUN_TESTS(tests) \
    jpg_run_tests((tests), sizeof(tests) / sizeof((tests)[0]))

#endif
