/*
 * corio-jobs on every core (issue 14, item 8): the real binary with
 * --threads 2, driven over HTTP. Submissions from many connections (which
 * SO_REUSEPORT spreads over both loops) all get 202 and all run exactly
 * once, on both loops; kill -9 during a submission storm loses no
 * acknowledged job, with one thread and with two; an idempotency key
 * submitted at once on many connections (so on both loops) makes one job;
 * a job running on the second loop reports progress, is cancelled by
 * DELETE at once, and is interrupted by a drain.
 *
 * The binary is $CORIO_JOBS_BIN (ctest sets it). Skipped (77) if missing.
 */
#include "testutil.h"
#include "jobs_proc.h"

#include <corio_http.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

static char bin[PATH_MAX];
static char dir[64];

static void start_server(jp_server *s, const char *threads,
                         const char *const *extra)
{
    char db[128];
    snprintf(db, sizeof db, "%s/jobs.db", dir);
    const char *args[32] = {"--db", db, "--threads", threads};
    int n = 4;
    for (; extra && *extra && n < 31; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    jp_start(s, bin, args);
}

static json_t *get_job(int port, const char *id)
{
    return jp_get_job(port, id);
}

static int wait_status(int port, const char *id, const char *want,
                       double timeout)
{
    double end = corio_now() + timeout;
    while (corio_now() < end) {
        json_t *j = get_job(port, id);
        int ok = j && strcmp(jp_str(j, "status"), want) == 0;
        json_decref(j);
        if (ok)
            return 0;
        corio_sleep(0.02);
    }
    fprintf(stderr, "job %s: not %s in time\n", id, want);
    return -1;
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/corio-jobs-multi-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- many connections ------------------------------------------------------------ */

/* Every submission on its own connection: all 202, every job succeeds
 * with one attempt, both loops served requests and ran jobs, and the
 * attempts add up to the jobs. */
static void *spread_main(void *arg)
{
    jp_server s;
    start_server(&s, "2", (const char *[]){"--workers", "64", NULL});
    int n = tu_slow() ? 300 : 1000;
    jp_burst b = {.port = s.port, .body = "{\"type\":\"sleep\",\"seconds\":0.01}"};
    double t0 = corio_now();
    jp_run_burst(&b, n);
    fprintf(stderr, "# %d submissions on 2 threads acknowledged in %.0f ms\n",
            b.n202, (corio_now() - t0) * 1e3);
    assert_int_equal(b.n202, n);
    double end = corio_now() + 60;
    long long done = 0;
    while (corio_now() < end &&
           (done = jp_metric(s.port, "corio_jobs_jobs{status=\"succeeded\"}")) < n)
        corio_sleep(0.05);
    assert_int_equal(done, n);
    jp_reply r;
    assert_int_equal(jp_request(s.port, "GET", "/jobs?limit=1000", NULL, &r), 0);
    json_t *jobs = json_object_get(r.json, "jobs");
    assert_int_equal(json_array_size(jobs), (size_t)n);
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        json_t *j = json_array_get(jobs, i);
        assert_string_equal(jp_str(j, "status"), "succeeded");
        assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    }
    jp_reply_free(&r);
    long long a0 = jp_metric(s.port, "corio_jobs_loop_attempts_total{loop=\"0\"}");
    long long a1 = jp_metric(s.port, "corio_jobs_loop_attempts_total{loop=\"1\"}");
    long long r0 = jp_metric(s.port,
                          "corio_jobs_loop_http_requests_total{loop=\"0\"}");
    long long r1 = jp_metric(s.port,
                          "corio_jobs_loop_http_requests_total{loop=\"1\"}");
    fprintf(stderr, "# attempts per loop %lld %lld; requests %lld %lld\n", a0,
            a1, r0, r1);
    assert_int_equal(a0 + a1, n);
    assert_true(a0 > 0 && a1 > 0);
    assert_true(r0 > 0 && r1 > 0); /* the kernel spread the connections */
    assert_int_equal(jp_metric(s.port, "corio_jobs_loops"), 2);
    /* The dashboard's reads, on fresh connections (so on both loops). */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(jp_request(s.port, "GET", "/counts", NULL, &r), 0);
        assert_int_equal(r.status, 200);
        json_t *bs = json_object_get(r.json, "by_status");
        assert_int_equal(json_integer_value(json_object_get(bs, "succeeded")),
                         n);
        jp_reply_free(&r);
        assert_int_equal(jp_request(s.port, "GET", "/jobs?order=desc&limit=2",
                                    NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 2);
        jp_reply_free(&r);
    }
    free(b.ids);
    kill(s.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&s, 10), 0);
    return NULL;
}

static void test_spread(void **state)
{
    assert_int_equal(tu_run(spread_main, NULL, NULL), 0);
}

/* One idempotency key, submitted at once on many connections: one 202,
 * the others 200 with the same id; one job in the store; it runs once. */
static void *idempotent_main(void *arg)
{
    jp_server s;
    start_server(&s, "2", NULL);
    int n = 64;
    jp_burst b = {.port = s.port,
               .body = "{\"type\":\"sleep\",\"seconds\":0.01,"
                       "\"unique_key\":\"once\"}"};
    jp_run_burst(&b, n);
    assert_int_equal(b.other, 0);
    assert_int_equal(b.n202, 1);
    assert_int_equal(b.n200, n - 1);
    for (int i = 1; i < b.nids; i++)
        assert_string_equal(b.ids[i], b.ids[0]);
    assert_int_equal(wait_status(s.port, b.ids[0], "succeeded", 10), 0);
    jp_reply r;
    assert_int_equal(jp_request(s.port, "GET", "/jobs", NULL, &r), 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 1);
    jp_reply_free(&r);
    free(b.ids);
    kill(s.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&s, 10), 0);
    return NULL;
}

static void test_idempotent(void **state)
{
    assert_int_equal(tu_run(idempotent_main, NULL, NULL), 0);
}

/* ---- kill -9 in a storm ------------------------------------------------------------ */

/* The kill -9 test of test_jobs_e2e with `threads` loops: one long job
 * holds the only worker, 16 connections submit until the kill; after a
 * restart (on as many loops) every acknowledged job is there, runs once
 * and succeeds, and the long one is interrupted. */
static void *kill9_main(void *arg)
{
    const char *threads = arg;
    jp_server s;
    start_server(&s, threads, (const char *[]){"--workers", "1", NULL});
    char longid[64];
    assert_int_equal(jp_submit(s.port, "{\"type\":\"sleep\",\"seconds\":60}",
                               longid), 202);
    assert_int_equal(wait_status(s.port, longid, "running", 5), 0);
    enum { W = 16, MAX = 5000 };
    jp_stream a[W];
    corio_task *t[W];
    jp_storm_start(a, t, W, s.port, MAX);
    /* Mid-storm: after 0.3 s and once some submissions were acknowledged
     * (under TSan at load 23, none had been in 0.3 s: structure, not
     * timing; 60 s means the server does not answer). */
    double t0 = corio_now();
    for (;;) {
        int n = 0;
        for (int i = 0; i < W; i++)
            n += a[i].n;
        if ((n >= W && corio_now() - t0 >= 0.3) || corio_now() - t0 > 60)
            break;
        corio_sleep(0.01);
    }
    jp_kill9(&s);
    int acked = jp_storm_end(a, t, W);
    fprintf(stderr, "# %s thread(s): %d jobs acknowledged before kill -9\n",
            threads, acked);
    assert_true(acked > 0);

    start_server(&s, threads, (const char *[]){"--workers", "64", NULL});
    json_t *j = get_job(s.port, longid);
    assert_non_null(j);
    assert_string_equal(jp_str(j, "status"), "interrupted");
    json_decref(j);
    for (int i = 0; i < W; i++) {
        for (int k = 0; k < a[i].n; k++) {
            assert_int_equal(
                wait_status(s.port, a[i].ids[k], "succeeded", 30), 0);
            j = get_job(s.port, a[i].ids[k]);
            assert_int_equal(json_integer_value(json_object_get(j, "attempts")),
                             1);
            json_decref(j);
        }
        free(a[i].ids);
    }
    /* Each id once (attempts 1 above); the store may hold more: jobs
     * committed whose 202 the kill cut off. */
    /* The gauge counts a job at its outcome's commit, which GET (from
     * memory) may show a moment before: wait for the last ones. */
    long long total = jp_metric(s.port, "corio_jobs_jobs{status=\"succeeded\"}");
    for (int i = 0; i < 500 && total < acked; i++) {
        corio_sleep(0.01);
        total = jp_metric(s.port, "corio_jobs_jobs{status=\"succeeded\"}");
    }
    assert_true(total >= acked);
    kill(s.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&s, 10), 0);
    return NULL;
}

static void test_kill9_one_thread(void **state)
{
    assert_int_equal(tu_run(kill9_main, "1", NULL), 0);
}

static void test_kill9_two_threads(void **state)
{
    assert_int_equal(tu_run(kill9_main, "2", NULL), 0);
}

/* ---- a job on the other loop ------------------------------------------------------- */

/* Two hash jobs (on loops 0 and 1, round robin) report progress through
 * GET and are cancelled by DELETE at once; then a sleep on each loop is
 * interrupted by SIGTERM past its grace, and the process exits 0. */
static void *remote_main(void *arg)
{
    jp_server s;
    start_server(&s, "2", (const char *[]){"--grace", "0.5", NULL});
    char id[2][64];
    for (int i = 0; i < 2; i++)
        assert_int_equal(jp_submit(s.port, "{\"type\":\"hash\","
                                   "\"bytes\":16000000000}", id[i]), 202);
    for (int i = 0; i < 2; i++) {
        double end = corio_now() + 10;
        int seen = 0;
        while (!seen && corio_now() < end) {
            json_t *j = get_job(s.port, id[i]);
            json_t *p = json_object_get(j, "progress");
            seen = p && json_real_value(json_object_get(p, "fraction")) > 0 &&
                   json_string_value(json_object_get(p, "message"));
            json_decref(j);
            if (!seen)
                corio_sleep(0.05);
        }
        assert_true(seen);
    }
    assert_int_equal(jp_metric(s.port, "corio_jobs_loop_attempts_total{loop=\"1\"}"),
                     1);
    for (int i = 0; i < 2; i++) {
        char target[160]; /* "/jobs/" + an id of up to 127 bytes */
        snprintf(target, sizeof target, "/jobs/%s", id[i]);
        jp_reply r;
        double t0 = corio_now();
        assert_int_equal(jp_request(s.port, "DELETE", target, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(jp_str(r.json, "status"), "cancelled");
        assert_true(corio_now() - t0 < 5); /* the hash stopped */
        jp_reply_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(jp_submit(s.port, "{\"type\":\"sleep\","
                                   "\"seconds\":60}", id[i]), 202);
        assert_int_equal(wait_status(s.port, id[i], "running", 5), 0);
    }
    kill(s.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&s, 10), 0);
    start_server(&s, "2", NULL);
    for (int i = 0; i < 2; i++) {
        json_t *j = get_job(s.port, id[i]);
        assert_non_null(j);
        assert_string_equal(jp_str(j, "status"), "interrupted");
        json_decref(j);
    }
    kill(s.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&s, 10), 0);
    return NULL;
}

static void test_remote_job(void **state)
{
    assert_int_equal(tu_run(remote_main, NULL, NULL), 0);
}

int main(void)
{
    if (jp_find_bin(bin, sizeof bin) < 0) {
        fprintf(stderr, "skipped: %s not built\n", bin);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_one_thread, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kill9_two_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_remote_job, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
