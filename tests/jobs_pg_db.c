/* A private PostgreSQL for the corio-jobs-on-PostgreSQL suites
 * (jobs_pg_db.h). */
#include "testutil.h"
#include "db_server.h"
#include "jobs_pg_db.h"

#include <corio_pg.h>

#include <stdio.h>
#include <stdlib.h>

char jpg_conninfo[512], jpg_url[600];

int jpg_start(void)
{
    int rc = dbs_pg_start(jpg_conninfo, sizeof jpg_conninfo);
    if (rc == 77)
        return 77;
    if (rc) {
        fprintf(stderr, "could not start PostgreSQL\n");
        return 1;
    }
    /* "host=DIR port=5432 user=postgres dbname=postgres" as a URL. */
    char host[256];
    if (sscanf(jpg_conninfo, "host=%255s", host) != 1)
        return 1;
    snprintf(jpg_url, sizeof jpg_url,
             "postgresql:///postgres?host=%s&port=5432&user=postgres", host);
    return 0;
}

/* A fresh connection (the caller closes it); asserts it was made. */
static corio_pg *jpg_connect(void)
{
    corio_pg *c;
    char *err = NULL;
    int rc = corio_pg_connect(&c, jpg_conninfo, &err);
    if (rc < 0)
        fprintf(stderr, "connect: %s\n", err ? err : "?");
    assert_int_equal(rc, 0);
    return c;
}

void jpg_sql(const char *q)
{
    corio_pg *c = jpg_connect();
    PGresult *r = NULL;
    assert_int_equal(corio_pg_query(c, &r, "SET client_min_messages = warning",
                                    0, NULL), 0);
    PQclear(r);
    assert_int_equal(corio_pg_query(c, &r, q, 0, NULL), 0);
    PQclear(r);
    corio_pg_close(c);
}

void jpg_fresh_table(void)
{
    jpg_sql("DROP TABLE IF EXISTS corio_jobs, corio_jobs_cron");
}

long long jpg_sql_ll(const char *q)
{
    corio_pg *c = jpg_connect();
    PGresult *r = NULL;
    assert_int_equal(corio_pg_query(c, &r, q, 0, NULL), 0);
    assert_int_equal(PQntuples(r), 1);
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    corio_pg_close(c);
    return v;
}

int jpg_run_tests(const struct CMUnitTest *tests, size_t n)
{
    int rc = jpg_start();
    if (rc)
        return rc;
    if (getenv("CORIO_TEST_FILTER"))
        cmocka_set_test_filter(getenv("CORIO_TEST_FILTER"));
    rc = _cmocka_run_group_tests("tests", tests, n, NULL, NULL);
    dbs_stop_all();
    return rc;
}
