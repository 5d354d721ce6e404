/*
 * corio-jobs on PostgreSQL with --threads 2 (issue 14, item 8): every loop
 * is a worker of its own on the shared queue, with its own pool (its own
 * owner name in the table), serving its HTTP requests and claiming and
 * running jobs itself.
 *
 *  - both loops hold jobs at once, under two owners of one process, and
 *    both run some (per-loop metrics);
 *  - a queue's concurrency limit (--queue slow:3) holds over the two
 *    loops together, and both loops run that queue;
 *  - one idempotency key on many connections over both loops: one job;
 *  - kill -9 during submissions: every acknowledged job is there and
 *    succeeds, none is stored twice.
 * PostgreSQL restarting under --threads 2: test_jobs_pg.c.
 */
#include "testutil.h"
#include "jobs_pg_db.h"
#include "db_server.h"
#include "jobs_proc.h"

#include <corio_pg.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char bin[PATH_MAX];

static void start(jp_server *s, const char *const *extra)
{
    const char *args[32] = {"--db", jpg_url, "--threads", "2"};
    int n = 4;
    for (; extra && *extra && n < 31; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    jp_start(s, bin, args);
}

static void stop(jp_server *s)
{
    kill(s->pid, SIGTERM);
    assert_int_equal(jp_wait_exit(s, 20), 0);
}

/* Waits until no job is created or running (every one ended). */
static void wait_all_ended(double timeout)
{
    double end = corio_now() + timeout;
    long long left;
    while ((left = jpg_sql_ll("SELECT count(*) FROM corio_jobs WHERE status IN "
                          "('created','running')")) > 0) {
        assert_true(corio_now() < end);
        corio_sleep(0.05);
    }
}

/* ---- both loops claim, each as its own owner ------------------------------------ */

static void *both_loops_main(void *arg)
{
    (void)arg;
    jpg_fresh_table();
    jp_server s;
    start(&s, (const char *[]){"--workers", "4", NULL});
    /* Four long jobs: each loop has two of the four workers, so both must
     * claim two (long enough that the first loop's cannot end before the
     * other loop's next poll, 0.25 s, even on a loaded machine). */
    for (int i = 0; i < 4; i++) {
        char id[64];
        assert_int_equal(
            jp_submit(s.port, "{\"type\":\"sleep\",\"seconds\":3}", id),
            202);
    }
    double t0 = corio_now();
    while (jpg_sql_ll("SELECT count(*) FROM corio_jobs WHERE status='running'") <
           4) {
        assert_true(corio_now() - t0 < 10);
        corio_sleep(0.02);
    }
    /* Two owners (two stores, two pools), of one process. */
    long long owners = jpg_sql_ll("SELECT count(DISTINCT owner) FROM corio_jobs "
                              "WHERE status='running'");
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM corio_jobs WHERE status='running' AND "
             "owner LIKE '%%:%ld:%%'", (long)s.pid);
    long long mine = jpg_sql_ll(q);
    fprintf(stderr, "# 4 jobs running under %lld owner(s)\n", owners);
    assert_int_equal(owners, 2);
    assert_int_equal(mine, 4);
    /* Many short ones: both loops run some. */
    enum { N = 60 };
    for (int i = 0; i < N; i++) {
        char id[64];
        assert_int_equal(
            jp_submit(s.port, "{\"type\":\"sleep\",\"seconds\":0.02}", id),
            202);
    }
    wait_all_ended(30);
    assert_int_equal(jpg_sql_ll("SELECT count(*) FROM corio_jobs WHERE "
                            "status='succeeded' AND attempts=1"), N + 4);
    long long a0 = jp_metric(s.port, "corio_jobs_loop_attempts_total{loop=\"0\"}");
    long long a1 = jp_metric(s.port, "corio_jobs_loop_attempts_total{loop=\"1\"}");
    fprintf(stderr, "# attempts per loop: %lld %lld\n", a0, a1);
    assert_true(a0 >= 2 && a1 >= 2);
    assert_int_equal(a0 + a1, N + 4);
    /* Summed over the loops. */
    assert_int_equal(jp_metric(s.port, "corio_jobs_loops"), 2);
    assert_int_equal(jp_metric(s.port, "corio_jobs_workers"), 4);
    assert_int_equal(jp_metric(s.port, "corio_jobs_submitted_total"), N + 4);
    stop(&s);
    return NULL;
}

static void both_loops_claim(void **state)
{
    assert_int_equal(tu_run(both_loops_main, NULL, NULL), 0);
}

/* ---- a queue's limit over both loops ----------------------------------------------- */

static void *queue_limit_main(void *arg)
{
    (void)arg;
    jpg_fresh_table();
    jp_server s;
    start(&s, (const char *[]){"--workers", "2", "--queue", "slow:3", NULL});
    enum { N = 12, LIMIT = 3 };
    for (int i = 0; i < N; i++) {
        char id[64];
        assert_int_equal(jp_submit(s.port, "{\"type\":\"sleep\",\"seconds\":"
                                           "0.6,\"queue\":\"slow\"}", id),
                         202);
    }
    /* Sampled until all ended: never more than 3 at once; 3 at some
     * point, held by both loops. */
    long long most = 0, owners_at_most = 0;
    double t0 = corio_now();
    for (;;) {
        /* One snapshot: jobs * 100 + owners. */
        long long both = jpg_sql_ll("SELECT count(*) * 100 + count(DISTINCT "
                                "owner) FROM corio_jobs WHERE "
                                "status='running' AND queue='slow'");
        long long run = both / 100, ow = both % 100;
        assert_true(run <= LIMIT);
        if (run > most || (run == most && ow > owners_at_most)) {
            most = run;
            owners_at_most = ow;
        }
        if (jpg_sql_ll("SELECT count(*) FROM corio_jobs WHERE status IN "
                   "('created','running')") == 0)
            break;
        assert_true(corio_now() - t0 < 30);
        corio_sleep(0.01);
    }
    fprintf(stderr, "# queue slow:3 on 2 loops: at most %lld running, by %lld "
            "owner(s)\n", most, owners_at_most);
    assert_int_equal(most, LIMIT);
    assert_int_equal(owners_at_most, 2);
    assert_int_equal(jpg_sql_ll("SELECT count(*) FROM corio_jobs WHERE "
                            "status='succeeded'"), N);
    stop(&s);
    return NULL;
}

static void queue_limit_across_loops(void **state)
{
    assert_int_equal(tu_run(queue_limit_main, NULL, NULL), 0);
}

/* ---- one idempotency key, many connections, two loops ---------------------------------- */

static void *idempotent_main(void *arg)
{
    (void)arg;
    jpg_fresh_table();
    jp_server s;
    start(&s, NULL);
    enum { N = 64 };
    jp_burst b = {.port = s.port,
                  .body = "{\"type\":\"sleep\",\"seconds\":0.01,"
                          "\"unique_key\":\"once\"}"};
    jp_run_burst(&b, N);
    long long r0 = jp_metric(s.port,
                             "corio_jobs_loop_http_requests_total{loop=\"0\"}");
    long long r1 = jp_metric(s.port,
                             "corio_jobs_loop_http_requests_total{loop=\"1\"}");
    fprintf(stderr, "# one key, %d POSTs: %d 202, %d 200; requests per loop "
            "%lld %lld\n", N, b.n202, b.n200, r0, r1);
    assert_int_equal(b.other, 0);
    assert_int_equal(b.n202, 1);
    assert_int_equal(b.n200, N - 1);
    for (int i = 1; i < b.nids; i++)
        assert_string_equal(b.ids[i], b.ids[0]);
    assert_true(r0 > 0 && r1 > 0); /* the kernel spread the connections */
    assert_int_equal(jpg_sql_ll("SELECT count(*) FROM corio_jobs"), 1);
    wait_all_ended(10);
    free(b.ids);
    stop(&s);
    return NULL;
}

static void idempotency_across_loops(void **state)
{
    assert_int_equal(tu_run(idempotent_main, NULL, NULL), 0);
}

/* ---- kill -9 in a storm of submissions ---------------------------------------------- */

/* 16 connections submit to a two-loop process until it is killed; a new
 * one (two loops too) then runs every acknowledged job; the table holds
 * each at most once, and no more jobs than were acknowledged plus those
 * whose 202 the kill cut off (one per connection at most). */
static void *kill9_main(void *arg)
{
    (void)arg;
    jpg_fresh_table();
    jp_server s;
    const char *const args[] = {"--workers", "8", "--lease", "2", NULL};
    start(&s, args);
    enum { W = 16, MAX = 5000 };
    jp_stream a[W];
    corio_task *t[W];
    jp_storm_start(a, t, W, s.port, MAX);
    corio_sleep(0.5);
    jp_kill9(&s);
    int acked = jp_storm_end(a, t, W);
    long long stored = jpg_sql_ll("SELECT count(*) FROM corio_jobs");
    fprintf(stderr, "# 2 threads: %d jobs acknowledged before kill -9, %lld "
            "stored\n", acked, stored);
    assert_true(acked > 0);
    assert_true(stored >= acked && stored <= acked + W);
    start(&s, args);
    wait_all_ended(60);
    for (int i = 0; i < W; i++) {
        for (int k = 0; k < a[i].n; k++) {
            json_t *j = jp_get_job(s.port, a[i].ids[k]);
            assert_non_null(j);
            assert_string_equal(jp_str(j, "status"), "succeeded");
            json_decref(j);
        }
        free(a[i].ids);
    }
    assert_int_equal(jpg_sql_ll("SELECT count(*) FROM corio_jobs"), stored);
    assert_int_equal(jpg_sql_ll("SELECT count(*) FROM corio_jobs WHERE "
                            "status='succeeded'"), stored);
    stop(&s);
    return NULL;
}

static void kill9_during_submissions(void **state)
{
    assert_int_equal(tu_run(kill9_main, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_loops_claim),
        cmocka_unit_test(queue_limit_across_loops),
        cmocka_unit_test(idempotency_across_loops),
        cmocka_unit_test(kill9_during_submissions),
    };
    if (jp_find_bin(bin, sizeof bin) != 0) {
        fprintf(stderr, "skipped: %s not built\n", bin);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    return JPG_RUN_TESTS(tests);
}
