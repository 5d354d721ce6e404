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
/* Runs one statement on a fresh connection; asserts it succeeded. From a
 * task. */
void jpg_sql(const char *q);
/* Drops corio-jobs' tables, so that a test starts from an empty queue. */
void jpg_fresh_table(void);

#endif
