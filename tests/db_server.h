/* Private PostgreSQL and Redis servers for the test suites (test_pg*,
 * test_redis*): started in a temp dir / on a free loopback port, stopped
 * at exit (atexit, and on SIGINT/SIGTERM/SIGABRT), even when a test fails. */
#ifndef CORIO_TESTS_DB_SERVER_H
#define CORIO_TESTS_DB_SERVER_H

#include <stddef.h>

/* Starts PostgreSQL 15 (initdb into a mktemp dir owned by the `postgres`
 * user when running as root, pg_ctl start on a Unix socket in that dir).
 * Fills conninfo. Returns 0, or 77 after printing a loud reason when the
 * server binaries are missing, or -1 on another failure. */
int dbs_pg_start(char *conninfo, size_t size);

/* Stops the PostgreSQL that dbs_pg_start started (pg_ctl stop -m fast:
 * sessions are ended, committed data is kept) and starts it again with the
 * same directory, socket and options. Blocking (pg_ctl -w). 0 or -1. */
int dbs_pg_stop(void);
int dbs_pg_start_again(void);

/* Starts redis-server on a free 127.0.0.1 port (no persistence). Returns
 * 0 with *port set, 77 (binaries missing, reason printed) or -1. */
int dbs_redis_start(int *port);

/* Stops whatever was started (also runs at exit). */
void dbs_stop_all(void);

#endif
