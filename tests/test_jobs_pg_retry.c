/*
 * Retries on PostgreSQL, through the public library (the cases are
 * tests/jobs_retry.inc, shared with SQLite's test_jobs_lib): the history,
 * the backoff, not-retryable failures, a job's own max_attempts, the
 * scheduled status, DELETE of a scheduled job, a restart mid-backoff. And
 * a table created before retries existed gains their columns in place.
 */
#include "testutil.h"
#include "db_server.h"
#include "jobs_pg_db.h"

#include <corio_jobs.h>
#include <corio_pg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static corio_jobs *rt_open_with(corio_jobs_opts o)
{
    corio_jobs *j = NULL;
    char err[256] = "";
    o.lease = 5;
    int rc = corio_jobs_open(&j, jpg_url, &o, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(corio_jobs_shared(j), 1);
    return j;
}

#include "jobs_retry.inc"

static void *fresh(void *arg)
{
    (void)arg;
    jpg_fresh_table();
    return NULL;
}

static void test_retries(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rt_case_retries, NULL, NULL), 0);
}

static void test_retry_scheduled_restart(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rt_case_scheduled, NULL, NULL), 0);
}

static void test_priority_order(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rt_case_priority, NULL, NULL), 0);
}

static void test_queue_limits(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rt_case_queues, NULL, NULL), 0);
}

static void test_timeout(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rt_case_timeout, NULL, NULL), 0);
}

static void test_idempotency(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rt_case_idempotency, NULL, NULL), 0);
}

static void *rt_case_idempotency_3(void *arg)
{
    (void)arg;
    return rt_case_idempotency_n(3);
}

/* Three services on one PostgreSQL queue, as three processes would be. */
static void test_idempotency_services(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rt_case_idempotency_3, NULL, NULL), 0);
}

static void test_retention(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rt_case_retention, NULL, NULL), 0);
}

static void test_retry_endpoint(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rt_case_retry_endpoint, NULL, NULL), 0);
}

static void test_delay_and_run_at(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rt_case_delay, NULL, NULL), 0);
}

/* Enqueue inside the caller's own transaction: rolled back, the job never
 * was; committed, it runs; a unique_key already held gives that job. */
static void *in_txn(void *arg)
{
    (void)arg;
    rt_register();
    memset(&RT, 0, sizeof RT);
    corio_jobs *j = rt_open();
    corio_pg *c = NULL;
    char *why = NULL;
    assert_int_equal(corio_pg_connect(&c, jpg_conninfo, &why), 0);
    PGresult *r = NULL;
    char gone[27], kept[27], again[27];
    assert_int_equal(corio_pg_query(c, &r, "BEGIN", 0, NULL), 0);
    PQclear(r);
    assert_int_equal(corio_jobs_enqueue_pg(c, "rt_flaky", "{}", gone, NULL,
                                           0),
                     0);
    assert_int_equal(corio_jobs_enqueue_pg(c, "nope", "{}", gone, NULL, 0),
                     -EINVAL);
    assert_int_equal(corio_pg_query(c, &r, "ROLLBACK", 0, NULL), 0);
    PQclear(r);
    assert_int_equal(corio_pg_query(c, &r, "BEGIN", 0, NULL), 0);
    PQclear(r);
    assert_int_equal(corio_jobs_enqueue_pg(c, "rt_flaky",
                                           "{\"unique_key\": \"txn-1\"}",
                                           kept, NULL, 0),
                     0);
    /* Not visible before the commit. */
    assert_int_equal(rp_http_status(j, kept), 404);
    assert_int_equal(corio_pg_query(c, &r, "COMMIT", 0, NULL), 0);
    PQclear(r);
    corio_jobs_kick(j);
    json_decref(rt_wait(j, kept, "succeeded"));
    assert_int_equal(rp_http_status(j, gone), 404);
    assert_int_equal(RT.calls, 1);
    assert_int_equal(corio_jobs_enqueue_pg(c, "rt_flaky",
                                           "{\"unique_key\": \"txn-1\"}",
                                           again, NULL, 0),
                     1);
    assert_string_equal(again, kept);
    corio_pg_close(c);
    corio_jobs_close(j);
    return NULL;
}

static void test_enqueue_in_transaction(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(in_txn, NULL, NULL), 0);
}

/* A job whose work is over gives its worker to the next job at once, and
 * the next job's claim rides in the transaction that records the outcome
 * (jobs_store_ops.write_claim): one round trip and one commit for both, so
 * a burn-down of no-op jobs pays one commit per batch of workers, not two.
 * A's outcome and B's claim must carry the same xmin (before the change
 * they were two transactions: the xmins differed). And a job enqueued
 * while a worker is idle is claimed in the commit that inserts it: when
 * the enqueue returns, the store already says running (before, a claim
 * went out only after that commit: the row said created). Staged with one
 * worker; job k runs until its gate opens. */
static struct {
    int started[3];
    corio_event *gate[3];
} SF;

static int sf_job(corio_job *job, const char *spec, void *arg)
{
    (void)arg;
    const char *c = strchr(spec, ':'); /* {"k": N} */
    assert_non_null(c);
    int k = atoi(c + 1);
    assert_true(k >= 0 && k < 3);
    SF.started[k] = 1;
    corio_event_wait(SF.gate[k]);
    return corio_job_set_result(job, "{}");
}

static void sf_until(int k)
{
    double until = corio_now() + 10 * tu_slack();
    while (!SF.started[k] && corio_now() < until)
        corio_sleep(0.01);
}

/* The row's xmin (the transaction that wrote it) and status. */
static void sf_row(corio_pg *x, const char *id, char xmin[32], char st[16])
{
    PGresult *r = NULL;
    const char *p[1] = {id};
    assert_int_equal(corio_pg_query(x, &r, "SELECT xmin::text, status FROM "
                                    "corio_jobs WHERE id=$1", 1, p), 0);
    assert_int_equal(PQntuples(r), 1);
    snprintf(xmin, 32, "%s", PQgetvalue(r, 0, 0));
    snprintf(st, 16, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
}

static void *shared_commit(void *arg)
{
    (void)arg;
    static int registered;
    if (!registered) {
        registered = 1;
        assert_int_equal(corio_jobs_register("sf_job", sf_job, NULL), 0);
    }
    memset(&SF, 0, sizeof SF);
    for (int k = 0; k < 3; k++)
        assert_int_equal(corio_event_create(&SF.gate[k]), 0);
    corio_jobs *j = rt_open_with((corio_jobs_opts){.workers = 1});
    char id[3][27];
    corio_pg *x = NULL;
    char *why = NULL;
    assert_int_equal(corio_pg_connect(&x, jpg_conninfo, &why), 0);
    assert_int_equal(corio_jobs_enqueue(j, "sf_job", "{\"k\": 0}", id[0],
                                        NULL, 0), 0);
    sf_until(0);
    assert_true(SF.started[0]);
    assert_int_equal(corio_jobs_enqueue(j, "sf_job", "{\"k\": 1}", id[1],
                                        NULL, 0), 0);
    corio_sleep(0.1);
    assert_false(SF.started[1]); /* A holds the only worker */
    corio_event_set(SF.gate[0]); /* A ends: its outcome, then B's claim */
    sf_until(1);
    assert_true(SF.started[1]);
    char xa[32], xb[32], sa[16], sb[16];
    sf_row(x, id[0], xa, sa);
    sf_row(x, id[1], xb, sb);
    assert_string_equal(sa, "succeeded");
    assert_string_equal(sb, "running");
    assert_string_equal(xa, xb); /* one transaction */
    corio_event_set(SF.gate[1]);
    json_decref(rt_wait(j, id[1], "succeeded"));
    corio_sleep(0.3); /* the worker is idle, its claim waiting for work */
    assert_int_equal(corio_jobs_enqueue(j, "sf_job", "{\"k\": 2}", id[2],
                                        NULL, 0), 0);
    char xc[32], sc[16];
    sf_row(x, id[2], xc, sc);
    assert_string_equal(sc, "running");
    corio_event_set(SF.gate[2]);
    json_decref(rt_wait(j, id[2], "succeeded"));
    corio_pg_close(x);
    corio_jobs_close(j);
    for (int k = 0; k < 3; k++)
        corio_event_destroy(SF.gate[k]);
    return NULL;
}

static void test_claim_shares_commit(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(shared_commit, NULL, NULL), 0);
}

/* The table as the first PostgreSQL store created it, with a job in it. */
static void *old_table(void *arg)
{
    (void)arg;
    jpg_fresh_table();
    jpg_sql("CREATE TABLE corio_jobs (id text PRIMARY KEY, type text NOT "
            "NULL, status text NOT NULL, spec text NOT NULL, result text, "
            "error text, attempts integer NOT NULL DEFAULT 0, created_at "
            "bigint NOT NULL, started_at bigint, finished_at bigint, "
            "updated_at bigint NOT NULL, owner text, lease_until timestamptz, "
            "cancel_requested boolean NOT NULL DEFAULT false)");
    jpg_sql("INSERT INTO corio_jobs(id, type, status, spec, attempts, "
            "created_at, updated_at) VALUES ('01J9Z3W7K6T8Y2V4B5N6M7P8Q9', "
            "'sleep', 'created', '{\"seconds\":0.0}', 0, 1, 1)");
    corio_jobs *j = rt_open();
    json_t *o = rt_wait(j, "01J9Z3W7K6T8Y2V4B5N6M7P8Q9", "succeeded");
    assert_int_equal(json_integer_value(json_object_get(o, "max_attempts")),
                     1);
    assert_int_equal(json_array_size(json_object_get(o, "errors")), 0);
    json_decref(o);
    corio_jobs_close(j);
    return NULL;
}

static void test_old_table_migrates(void **state)
{
    (void)state;
    assert_int_equal(tu_run(old_table, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_retry_scheduled_restart),
        cmocka_unit_test(test_delay_and_run_at),
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_queue_limits),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_idempotency_services),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_retry_endpoint),
        cmocka_unit_test(test_enqueue_in_transaction),
        cmocka_unit_test(test_old_table_migrates),
        cmocka_unit_test(test_claim_shares_commit),
    };
    return JPG_RUN_TESTS(tests);
}
