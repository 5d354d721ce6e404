/*
 * The job queue's extras on SQLite (apps/corio-jobs/ext.h): schedules
 * (parsing, ticks), periodic jobs that run once per tick across a restart
 * and once for the latest missed tick after a downtime, enqueue inside the
 * caller's own SQLite transaction (rolled back: no job; committed: it
 * runs), and a queue's rate limit.
 */
#include "testutil.h"

#include <corio_jobs.h>

#include "ext.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/corio-jobs-cron-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/jobs.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- schedules ------------------------------------------------------------- */

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

static void test_parse(void **state)
{
    (void)state;
    jobs_sched_spec sp;
    char err[256];
    assert_int_equal(jobs__sched_parse("every 30s", &sp, err, sizeof err), 0);
    assert_int_equal(sp.every_ms, 30000);
    assert_int_equal(jobs__sched_parse("every 5 m", &sp, err, sizeof err), 0);
    assert_int_equal(sp.every_ms, 300000);
    assert_int_equal(jobs__sched_parse("every 2h", &sp, err, sizeof err), 0);
    assert_int_equal(sp.every_ms, 7200000);
    static const char *bad[] = {
        "", "every", "every 0s", "every 5", "every 5x", "every 5 sec",
        "every 400d", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *",
        "* * 0 * *", "* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *",
        "a * * * *", "1,,2 * * * *", "@never", "MON * * * *",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        if (jobs__sched_parse(bad[i], &sp, err, sizeof err) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(jobs__sched_parse("*/15 9-17 * * 1-5", &sp, NULL, 0), 0);
    assert_int_equal(jobs__sched_parse("0,30 * 1 1,7 7", &sp, NULL, 0), 0);
    assert_int_equal(sp.dow, 1); /* 7 is Sunday, 0 */
    assert_int_equal(jobs__sched_parse("@daily", &sp, NULL, 0), 0);
}

static void test_ticks(void **state)
{
    (void)state;
    jobs_sched_spec sp;
    /* every: multiples of N since the epoch, whoever computes them. */
    assert_int_equal(jobs__sched_parse("every 10s", &sp, NULL, 0), 0);
    assert_int_equal(jobs__sched_prev(&sp, 1234567), 1230000);
    assert_int_equal(jobs__sched_prev(&sp, 1230000), 1230000);
    assert_int_equal(jobs__sched_next(&sp, 1230000), 1240000);
    /* Weekdays 9:00-17:45 every quarter: 2026-12-04 is a Friday. */
    assert_int_equal(jobs__sched_parse("*/15 9-17 * * 1-5", &sp, NULL, 0), 0);
    int64_t fri = utc(2026, 12, 4, 17, 50);
    assert_int_equal(jobs__sched_prev(&sp, fri), utc(2026, 12, 4, 17, 45));
    assert_int_equal(jobs__sched_next(&sp, fri), utc(2026, 12, 7, 9, 0));
    assert_int_equal(jobs__sched_next(&sp, utc(2026, 12, 7, 9, 0)),
                     utc(2026, 12, 7, 9, 15));
    assert_int_equal(jobs__sched_prev(&sp, utc(2026, 12, 7, 8, 59)),
                     utc(2026, 12, 4, 17, 45));
    /* Both day fields restricted: either matches (Vixie cron). The 13th,
     * or any Friday, at midnight. */
    assert_int_equal(jobs__sched_parse("0 0 13 * 5", &sp, NULL, 0), 0);
    assert_int_equal(jobs__sched_next(&sp, utc(2026, 12, 4, 0, 0)),
                     utc(2026, 12, 11, 0, 0));
    assert_int_equal(jobs__sched_next(&sp, utc(2026, 12, 11, 0, 0)),
                     utc(2026, 12, 13, 0, 0));
    /* Only the day of the month: Feb 29 is years apart. */
    assert_int_equal(jobs__sched_parse("30 6 29 2 *", &sp, NULL, 0), 0);
    assert_int_equal(jobs__sched_next(&sp, utc(2026, 3, 1, 0, 0)),
                     utc(2028, 2, 29, 6, 30));
    assert_int_equal(jobs__sched_prev(&sp, utc(2026, 3, 1, 0, 0)),
                     utc(2024, 2, 29, 6, 30));
    assert_int_equal(jobs__sched_parse("@yearly", &sp, NULL, 0), 0);
    assert_int_equal(jobs__sched_next(&sp, utc(2026, 12, 31, 23, 59)),
                     utc(2027, 1, 1, 0, 0));
}

/* ---- handlers ------------------------------------------------------------------ */

static struct {
    int calls;
    double started[64]; /* corio_now() */
} T;

static int h_count(corio_job *job, const char *spec, void *arg)
{
    (void)job, (void)spec, (void)arg;
    if (T.calls < 64)
        T.started[T.calls] = corio_now();
    T.calls++;
    return 0;
}

static void reg(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    assert_int_equal(corio_jobs_register("cron_tick", h_count, NULL), 0);
    assert_int_equal(corio_jobs_register("cron_year", h_count, NULL), 0);
    assert_int_equal(corio_jobs_register("tx_job", h_count, NULL), 0);
    assert_int_equal(corio_jobs_register("rl_job", h_count, NULL), 0);
}

static corio_jobs *open_with(corio_jobs_opts o)
{
    corio_jobs *j = NULL;
    char err[256] = "";
    int rc = corio_jobs_open(&j, path, &o, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    return j;
}

static int http_status(corio_jobs *j, const char *id)
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
    int st = resp.status;
    if (st == 200 && strstr(resp.body.data, "\"succeeded\"") == NULL)
        st = 202; /* there, not finished */
    corio_http_response_free(&resp);
    return st;
}

static int http_delete(corio_jobs *j, const char *id)
{
    char target[64];
    snprintf(target, sizeof target, "/jobs/%s", id);
    corio_http_request req;
    memset(&req, 0, sizeof req);
    req.method = "DELETE";
    req.target = target;
    req.target_len = strlen(target);
    req.version_major = req.version_minor = 1;
    req.body = "";
    req.peer = tu_loopback_peer(&req.peer_len); /* a local client */
    corio_http_response resp;
    corio_http_response_init(&resp);
    assert_int_equal(corio_jobs_http_handle(j, "", &req, &resp), 1);
    int st = resp.status;
    corio_http_response_free(&resp);
    return st;
}

/* Waits (bounded) until job id has succeeded. */
static void wait_done(corio_jobs *j, const char *id)
{
    double until = corio_now() + 15 * tu_slack();
    while (http_status(j, id) != 200) {
        assert_true(corio_now() < until);
        corio_sleep(0.02);
    }
}

/* SELECT of one integer on our own connection to the store's file. */
static long long sql_int(const char *q)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *q)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", q, msg);
    sqlite3_close(db);
}

/* ---- periodic jobs ---------------------------------------------------------------- */

/* "every 1s" over a few ticks, with a restart in the middle: each tick
 * one job, none twice. */
static void *every_second(void *arg)
{
    (void)arg;
    reg();
    memset(&T, 0, sizeof T);
    corio_jobs *j = open_with((corio_jobs_opts){.workers = 2});
    char err[256];
    assert_int_equal(corio_jobs_schedule(j, "cron_tick", "every 1s", NULL,
                                         err, sizeof err),
                     0);
    assert_int_equal(corio_jobs_schedule(j, "cron_tick", "every 2s", NULL,
                                         err, sizeof err),
                     -EEXIST);
    assert_int_equal(corio_jobs_schedule(j, "nope", "every 2s", NULL, err,
                                         sizeof err),
                     -EINVAL);
    assert_int_equal(corio_jobs_schedule(j, "cron_year", "every 2", NULL,
                                         err, sizeof err),
                     -EINVAL);
    corio_sleep(2.3);
    corio_jobs_close(j);
    j = open_with((corio_jobs_opts){.workers = 2});
    assert_int_equal(corio_jobs_schedule(j, "cron_tick", "every 1s", NULL,
                                         err, sizeof err),
                     0);
    corio_sleep(1.5);
    corio_jobs_close(j);
    long long n = sql_int("SELECT count(*) FROM jobs WHERE type='cron_tick'");
    long long keys = sql_int("SELECT count(DISTINCT unique_key) FROM jobs "
                             "WHERE type='cron_tick'");
    long long done = sql_int("SELECT count(*) FROM jobs WHERE "
                             "type='cron_tick' AND status='succeeded'");
    long long last = sql_int("SELECT last_tick FROM jobs_cron WHERE "
                             "name='cron_tick'");
    long long maxkey = sql_int("SELECT max(CAST(substr(unique_key, 16) AS "
                               "INTEGER)) FROM jobs WHERE type='cron_tick'");
    fprintf(stderr, "every 1s over ~3.8 s: %lld jobs\n", n);
    assert_true(n >= 2);
    assert_int_equal(keys, n); /* no tick twice */
    assert_int_equal(last, maxkey);
    /* Each job ran (the last may have been queued when the service
     * closed: it stays created for the next start). */
    assert_true(done >= n - 1);
    assert_true(T.calls == done);
    return NULL;
}

static void test_every_second_restart(void **state)
{
    (void)state;
    assert_int_equal(tu_run(every_second, NULL, NULL), 0);
}

/* A new schedule waits for its next tick; a downtime that missed ticks
 * runs one job, for the latest; a restart does not run it again. */
static void *missed(void *arg)
{
    (void)arg;
    reg();
    memset(&T, 0, sizeof T);
    corio_jobs *j = open_with((corio_jobs_opts){0});
    char err[256];
    assert_int_equal(corio_jobs_schedule(j, "cron_year", "@yearly", "{}", err,
                                         sizeof err),
                     0);
    corio_sleep(0.3);
    corio_jobs_close(j);
    assert_int_equal(T.calls, 0);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs"), 0);
    jobs_sched_spec sp;
    assert_int_equal(jobs__sched_parse("@yearly", &sp, NULL, 0), 0);
    int64_t latest = jobs__sched_prev(&sp, jobs_now_ms());
    assert_int_equal(sql_int("SELECT last_tick FROM jobs_cron"), latest);
    /* Three years down: the row is three ticks behind. */
    char q[128];
    snprintf(q, sizeof q, "UPDATE jobs_cron SET last_tick = %lld",
             (long long)(latest - 3LL * 366 * 86400000));
    sql_exec(q);
    for (int round = 0; round < 2; round++) {
        j = open_with((corio_jobs_opts){0});
        assert_int_equal(corio_jobs_schedule(j, "cron_year", "@yearly", "{}",
                                             err, sizeof err),
                         0);
        double until = corio_now() + 10 * tu_slack();
        while (T.calls < 1 && corio_now() < until)
            corio_sleep(0.02);
        corio_sleep(0.3);
        corio_jobs_close(j);
        assert_int_equal(T.calls, 1);
    }
    assert_int_equal(sql_int("SELECT count(*) FROM jobs"), 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM jobs WHERE unique_key = "
             "'cron:cron_year:%lld'", (long long)latest);
    assert_int_equal(sql_int(q), 1);
    return NULL;
}

static void test_missed_ticks(void **state)
{
    (void)state;
    assert_int_equal(tu_run(missed, NULL, NULL), 0);
}

/* ---- the caller's transaction ------------------------------------------------------- */

static void exec_ok(sqlite3 *db, const char *q)
{
    char *msg = NULL;
    if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", q, msg);
}

static void *in_txn(void *arg)
{
    (void)arg;
    reg();
    memset(&T, 0, sizeof T);
    corio_jobs *j = open_with((corio_jobs_opts){0});
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    exec_ok(db, "CREATE TABLE orders(id INTEGER PRIMARY KEY, what TEXT)");
    char gone[27], kept[27], again[27], plain[27], err[256];
    /* Rolled back: neither the order nor the job. */
    exec_ok(db, "BEGIN");
    exec_ok(db, "INSERT INTO orders(what) VALUES('lost')");
    assert_int_equal(corio_jobs_enqueue_sqlite(db, "tx_job", "{}", gone, err,
                                               sizeof err),
                     0);
    assert_int_equal(corio_jobs_enqueue_sqlite(db, "nope", "{}", again, err,
                                               sizeof err),
                     -EINVAL);
    exec_ok(db, "ROLLBACK");
    /* Committed: both, and the job runs. */
    exec_ok(db, "BEGIN");
    exec_ok(db, "INSERT INTO orders(what) VALUES('kept')");
    assert_int_equal(corio_jobs_enqueue_sqlite(db, "tx_job",
                                               "{\"unique_key\": \"order-1\"}",
                                               kept, err, sizeof err),
                     0);
    assert_int_equal(http_status(j, kept), 404); /* not before the commit */
    exec_ok(db, "COMMIT");
    corio_jobs_kick(j);
    wait_done(j, kept);
    assert_int_equal(http_status(j, gone), 404);
    assert_int_equal(T.calls, 1);
    /* The key is held: that job, nothing new. */
    assert_int_equal(corio_jobs_enqueue_sqlite(db, "tx_job",
                                               "{\"unique_key\": \"order-1\"}",
                                               again, err, sizeof err),
                     1);
    assert_string_equal(again, kept);
    /* Outside a transaction, and no kick: the next poll finds it. */
    assert_int_equal(corio_jobs_enqueue_sqlite(db, "tx_job", NULL, plain, err,
                                               sizeof err),
                     0);
    wait_done(j, plain);
    assert_int_equal(T.calls, 2);
    /* DELETE before the poll has queued it: cancelled, never run. */
    char doomed[27];
    assert_int_equal(corio_jobs_enqueue_sqlite(db, "tx_job", NULL, doomed,
                                               err, sizeof err),
                     0);
    assert_int_equal(http_delete(j, doomed), 200);
    corio_sleep(0.4); /* past a poll */
    assert_int_equal(T.calls, 2);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs_inbox"), 0);
    sqlite3_close(db);
    corio_jobs_close(j);
    assert_int_equal(sql_int("SELECT count(*) FROM orders"), 1);
    /* A restart runs none of them again. */
    j = open_with((corio_jobs_opts){0});
    corio_sleep(0.5);
    corio_jobs_close(j);
    assert_int_equal(T.calls, 2);
    return NULL;
}

static void test_enqueue_in_transaction(void **state)
{
    (void)state;
    assert_int_equal(tu_run(in_txn, NULL, NULL), 0);
}

/* ---- rate limits ----------------------------------------------------------------------- */

/* 2 starts per 0.5 s in queue "slow" (concurrency 10): of 6 jobs, no three
 * consecutive handler starts fall within 0.3 s (0.5 s less the time a
 * loaded machine may take between a start and its handler's first line;
 * unlimited, they are milliseconds apart). */
static void *rate(void *arg)
{
    (void)arg;
    reg();
    memset(&T, 0, sizeof T);
    corio_jobs_queue q[1] = {{.name = "slow", .concurrency = 10,
                              .rate_limit = 2, .rate_period = 0.5}};
    corio_jobs_opts o = {.workers = 4, .queues = q, .nqueues = 1};
    corio_jobs_queue bad[1] = {{.name = "x", .concurrency = 1,
                                .rate_limit = 2}};
    corio_jobs_opts ob = {.queues = bad, .nqueues = 1};
    corio_jobs *j = NULL;
    assert_int_equal(corio_jobs_open(&j, path, &ob, NULL, 0), -EINVAL);
    j = open_with(o);
    char id[6][27], err[256];
    double t0 = corio_now();
    for (int i = 0; i < 6; i++)
        assert_int_equal(corio_jobs_enqueue(j, "rl_job",
                                            "{\"queue\": \"slow\"}", id[i],
                                            err, sizeof err),
                         0);
    for (int i = 0; i < 6; i++)
        wait_done(j, id[i]);
    double took = corio_now() - t0;
    assert_int_equal(T.calls, 6);
    for (int i = 2; i < 6; i++)
        if (T.started[i] - T.started[i - 2] < 0.3)
            fail_msg("starts %d and %d only %.3f s apart", i - 2, i,
                     T.started[i] - T.started[i - 2]);
    assert_true(took >= 1.0 - 0.01); /* 6 jobs: 3 windows, 2 waits */
    corio_jobs_close(j);
    return NULL;
}

static void test_rate_limit(void **state)
{
    (void)state;
    assert_int_equal(tu_run(rate, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_ticks),
        cmocka_unit_test_setup_teardown(test_every_second_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missed_ticks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_in_transaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
