/*
 * The job queue's extras on PostgreSQL, with several services on one
 * database as several processes would be: a periodic job runs exactly
 * once per tick whichever service enqueues it; progress reported by a
 * handler in one service shows in a GET from another; a queue's rate
 * limit holds on the claim path; and three real corio-jobs processes with
 * the same --schedule enqueue one job per tick. Skips when PostgreSQL is
 * absent.
 */
#include "testutil.h"
#include "db_server.h"
#include "jobs_pg_db.h"
#include "jobs_proc.h"

#include <corio_jobs.h>
#include <corio_pg.h>

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    int calls;
    double started[64];
    corio_event *release;
    int entered;
} P;

static int h_count(corio_job *job, const char *spec, void *arg)
{
    (void)job, (void)spec, (void)arg;
    if (P.calls < 64)
        P.started[P.calls] = corio_now();
    P.calls++;
    return 0;
}

/* Reports half, then waits for the test. */
static int h_progress(corio_job *job, const char *spec, void *arg)
{
    (void)spec, (void)arg;
    assert_int_equal(corio_job_progress(job, 0.25, "quarter"), 0);
    assert_int_equal(corio_job_progress(job, 0.5, "half"), 0);
    P.entered = 1;
    int rc = corio_event_wait(P.release);
    return rc < 0 ? rc : 0;
}

/* 200 reports, 5 ms apart: far more than the store is meant to get. */
static struct {
    double t0, t1;
} M;

static int h_many(corio_job *job, const char *spec, void *arg)
{
    (void)spec, (void)arg;
    M.t0 = corio_now();
    for (int i = 0; i < 200; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "step %d", i);
        assert_int_equal(corio_job_progress(job, i / 200.0, msg), 0);
        if (corio_sleep(0.005) < 0)
            return -ECANCELED;
    }
    M.t1 = corio_now();
    return 0;
}

static void reg(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    assert_int_equal(corio_jobs_register("pgc_tick", h_count, NULL), 0);
    assert_int_equal(corio_jobs_register("pgc_rate", h_count, NULL), 0);
    assert_int_equal(corio_jobs_register("pgc_prog", h_progress, NULL), 0);
    assert_int_equal(corio_jobs_register("pgc_many", h_many, NULL), 0);
}

static corio_jobs *open_with(corio_jobs_opts o)
{
    corio_jobs *j = NULL;
    char err[256] = "";
    o.lease = 5;
    int rc = corio_jobs_open(&j, jpg_url, &o, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    return j;
}

static json_t *get(corio_jobs *j, const char *id)
{
    char target[64];
    snprintf(target, sizeof target, "/jobs/%s", id);
    corio_http_request req;
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.target = target;
    req.target_len = strlen(target);
    req.version_major = req.version_minor = 1;
    req.body = "";
    corio_http_response resp;
    corio_http_response_init(&resp);
    assert_int_equal(corio_jobs_http_handle(j, "", &req, &resp), 1);
    assert_int_equal(resp.status, 200);
    json_t *o = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    corio_http_response_free(&resp);
    assert_non_null(o);
    return o;
}

static int is(json_t *o, const char *status)
{
    return strcmp(json_string_value(json_object_get(o, "status")), status) ==
           0;
}

static void wait_status(corio_jobs *j, const char *id, const char *status)
{
    double until = corio_now() + 15 * tu_slack();
    for (;;) {
        json_t *o = get(j, id);
        int ok = is(o, status);
        json_decref(o);
        if (ok)
            return;
        assert_true(corio_now() < until);
        corio_sleep(0.02);
    }
}

static void *fresh(void *arg)
{
    (void)arg;
    jpg_fresh_table();
    return NULL;
}

/* ---- periodic jobs ------------------------------------------------------------ */

static void *three(void *arg)
{
    (void)arg;
    reg();
    memset(&P, 0, sizeof P);
    corio_jobs *js[3];
    char err[256];
    for (int i = 0; i < 3; i++) {
        js[i] = open_with((corio_jobs_opts){.workers = 2});
        assert_int_equal(corio_jobs_schedule(js[i], "pgc_tick", "every 1s",
                                             "{\"priority\": 5}", err,
                                             sizeof err),
                         0);
    }
    corio_sleep(3.6);
    /* Let the last tick's job run, wherever it was claimed. */
    corio_sleep(0.3);
    for (int i = 0; i < 3; i++)
        corio_jobs_close(js[i]);
    long long n = jpg_sql_ll("SELECT count(*) FROM corio_jobs WHERE "
                          "type = 'pgc_tick'");
    long long keys = jpg_sql_ll("SELECT count(DISTINCT unique_key) FROM "
                             "corio_jobs WHERE type = 'pgc_tick'");
    long long done = jpg_sql_ll("SELECT count(*) FROM corio_jobs WHERE type = "
                             "'pgc_tick' AND status = 'succeeded'");
    long long last = jpg_sql_ll("SELECT last_tick FROM corio_jobs_cron WHERE "
                             "name = 'pgc_tick'");
    long long maxkey = jpg_sql_ll("SELECT max(substr(unique_key, 15)::bigint) "
                               "FROM corio_jobs WHERE type = 'pgc_tick'");
    long long span = jpg_sql_ll("SELECT (max(substr(unique_key, 15)::bigint) - "
                             "min(substr(unique_key, 15)::bigint)) / 1000 "
                             "FROM corio_jobs WHERE type = 'pgc_tick'");
    long long prio = jpg_sql_ll("SELECT min(priority) FROM corio_jobs WHERE "
                             "type = 'pgc_tick'");
    fprintf(stderr, "3 services, every 1s over ~3.9 s: %lld jobs\n", n);
    assert_true(n >= 2);
    assert_int_equal(keys, n);      /* no tick twice */
    assert_int_equal(span + 1, n);  /* nor one missed */
    assert_int_equal(last, maxkey);
    assert_int_equal(prio, 5);      /* the spec's fields apply */
    assert_true(done >= n - 1);
    assert_int_equal(P.calls, done);
    return NULL;
}

static void test_cron_three_services(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(three, NULL, NULL), 0);
}

/* Three corio-jobs processes, each with --schedule for the built-in sleep
 * type, on one database. */
static void *three_procs(void *arg)
{
    (void)arg;
    char bin[512];
    if (jp_find_bin(bin, sizeof bin) < 0) {
        fprintf(stderr, "no corio-jobs binary: skipped\n");
        return NULL;
    }
    jpg_fresh_table();
    jp_server s[3];
    for (int i = 0; i < 3; i++)
        jp_start(&s[i], bin,
                 (const char *[]){"--db", jpg_url, "--grace", "2",
                                  "--schedule",
                                  "sleep=every 1s={\"seconds\": 0}", NULL});
    corio_sleep(3.6);
    for (int i = 0; i < 3; i++)
        kill(s[i].pid, SIGTERM);
    for (int i = 0; i < 3; i++)
        assert_int_equal(jp_wait_exit(&s[i], 15 * tu_slack()), 0);
    long long n = jpg_sql_ll("SELECT count(*) FROM corio_jobs WHERE "
                          "type = 'sleep'");
    long long keys = jpg_sql_ll("SELECT count(DISTINCT unique_key) FROM "
                             "corio_jobs WHERE type = 'sleep'");
    long long span = jpg_sql_ll("SELECT (max(substr(unique_key, 12)::bigint) - "
                             "min(substr(unique_key, 12)::bigint)) / 1000 "
                             "FROM corio_jobs WHERE type = 'sleep'");
    long long bad = jpg_sql_ll("SELECT count(*) FROM corio_jobs WHERE type = "
                            "'sleep' AND status NOT IN ('succeeded', "
                            "'created')");
    fprintf(stderr, "3 processes, every 1s over ~3.6 s: %lld jobs\n", n);
    assert_true(n >= 2);
    assert_int_equal(keys, n);
    assert_int_equal(span + 1, n);
    assert_int_equal(bad, 0);
    return NULL;
}

static void test_cron_three_processes(void **state)
{
    (void)state;
    assert_int_equal(tu_run(three_procs, NULL, NULL), 0);
}

/* ---- progress ------------------------------------------------------------------- */

static void *progress(void *arg)
{
    (void)arg;
    reg();
    memset(&P, 0, sizeof P);
    assert_int_equal(corio_event_create(&P.release), 0);
    corio_jobs *a = open_with((corio_jobs_opts){.workers = 1});
    char id[27], err[256];
    assert_int_equal(corio_jobs_enqueue(a, "pgc_prog", NULL, id, err,
                                        sizeof err),
                     0);
    double until = corio_now() + 15 * tu_slack();
    while (!P.entered) {
        assert_true(corio_now() < until);
        corio_sleep(0.01);
    }
    /* B opens once A holds the job: it cannot claim it. */
    corio_jobs *b = open_with((corio_jobs_opts){.workers = 1});
    json_t *o = NULL;
    for (;;) {
        o = get(b, id);
        assert_true(is(o, "running"));
        json_t *p = json_object_get(o, "progress");
        if (json_is_object(p) &&
            strcmp(json_string_value(json_object_get(p, "message")),
                   "half") == 0)
            break;
        json_decref(o);
        assert_true(corio_now() < until);
        corio_sleep(0.02);
    }
    json_t *p = json_object_get(o, "progress");
    assert_true(json_real_value(json_object_get(p, "fraction")) == 0.5);
    json_decref(o);
    corio_event_set(P.release);
    wait_status(b, id, "succeeded");
    o = get(b, id);
    assert_true(json_is_null(json_object_get(o, "progress")));
    json_decref(o);
    corio_jobs_close(b);
    corio_jobs_close(a);
    corio_event_destroy(P.release);
    return NULL;
}

static void test_progress_across_services(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(progress, NULL, NULL), 0);
}

/* The store gets at most one progress write per job per 0.25 s, however
 * often the handler reports: a trigger counts the writes that change it. */
static void *throttle(void *arg)
{
    (void)arg;
    reg();
    corio_jobs *j = open_with((corio_jobs_opts){.workers = 1});
    jpg_sql("DROP TABLE IF EXISTS progress_writes");
    jpg_sql("CREATE TABLE progress_writes (n int)");
    jpg_sql("CREATE OR REPLACE FUNCTION count_progress() RETURNS trigger "
            "AS $$ BEGIN IF NEW.progress_msg IS DISTINCT FROM "
            "OLD.progress_msg THEN INSERT INTO progress_writes VALUES (1); "
            "END IF; RETURN NEW; END $$ LANGUAGE plpgsql");
    jpg_sql("CREATE TRIGGER count_progress BEFORE UPDATE ON corio_jobs FOR "
            "EACH ROW EXECUTE FUNCTION count_progress()");
    memset(&M, 0, sizeof M);
    char id[27], err[256];
    assert_int_equal(corio_jobs_enqueue(j, "pgc_many", NULL, id, err,
                                        sizeof err),
                     0);
    wait_status(j, id, "succeeded");
    corio_jobs_close(j);
    long long writes = jpg_sql_ll("SELECT count(*) FROM progress_writes");
    double took = M.t1 - M.t0;
    fprintf(stderr, "200 progress reports in %.2f s: %lld writes\n", took,
            writes);
    assert_true(writes >= 1);
    assert_true(writes <= (long long)(took / 0.25) + 2);
    jpg_sql("DROP TABLE progress_writes");
    return NULL;
}

static void test_progress_throttled(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(throttle, NULL, NULL), 0);
}

/* ---- rate limits ------------------------------------------------------------------ */

static void *rate(void *arg)
{
    (void)arg;
    reg();
    memset(&P, 0, sizeof P);
    corio_jobs_queue q[1] = {{.name = "slow", .concurrency = 10,
                              .rate_limit = 2, .rate_period = 0.5}};
    corio_jobs *j = open_with((corio_jobs_opts){.workers = 4, .queues = q,
                                                .nqueues = 1});
    char id[6][27], err[256];
    for (int i = 0; i < 6; i++)
        assert_int_equal(corio_jobs_enqueue(j, "pgc_rate",
                                            "{\"queue\": \"slow\"}", id[i],
                                            err, sizeof err),
                         0);
    for (int i = 0; i < 6; i++)
        wait_status(j, id[i], "succeeded");
    assert_int_equal(P.calls, 6);
    for (int i = 2; i < 6; i++)
        if (P.started[i] - P.started[i - 2] < 0.3)
            fail_msg("starts %d and %d only %.3f s apart", i - 2, i,
                     P.started[i] - P.started[i - 2]);
    corio_jobs_close(j);
    return NULL;
}

static void test_rate_limit(void **state)
{
    (void)state;
    assert_int_equal(tu_run(fresh, NULL, NULL), 0);
    assert_int_equal(tu_run(rate, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_three_services),
        cmocka_unit_test(test_cron_three_processes),
        cmocka_unit_test(test_progress_across_services),
        cmocka_unit_test(test_progress_throttled),
        cmocka_unit_test(test_rate_limit),
    };
    return JPG_RUN_TESTS(tests);
}
