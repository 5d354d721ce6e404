/*
 * The job queue library on every core (corio_jobs_opts.loops, issue 14):
 * a service opened on loop 0 of a two-loop runtime runs its handlers on
 * both loops; corio_jobs_http_handle called on loop 1 forwards to the
 * service (POST, GET with the progress of a job running on loop 1,
 * DELETE of it, /metrics); a job's timeout ends its attempt where it runs.
 */
#include "testutil.h"

#include <corio_jobs.h>

#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];
static char path[128];
static atomic_int ran[2];        /* attempts started, by loop */
static atomic_int saw_cancel[2]; /* handlers whose sleep was cancelled */

/* {"block": 1}: reports progress, then sleeps until cancelled. */
static int h_where(corio_job *job, const char *spec, void *arg)
{
    (void)arg;
    int i = corio_loop_index(NULL);
    if (i < 0 || i > 1)
        return corio_job_fail(job, "not on a loop of the runtime", 0);
    atomic_fetch_add(&ran[i], 1);
    if (corio_job_progress(job, 0.5, "half") < 0)
        return -ENOMEM;
    if (strstr(spec, "block")) {
        int rc = corio_sleep(30);
        if (rc < 0) {
            atomic_fetch_add(&saw_cancel[i], 1);
            return rc;
        }
    }
    char res[64];
    snprintf(res, sizeof res, "{\"loop\": %d}", i);
    return corio_job_set_result(job, res);
}

/* ---- a request served on loop 1 ------------------------------------------------- */

typedef struct req {
    corio_jobs *j;
    const char *method, *target, *body;
    int handled, status;
    json_t *json;
} req;

static void *req_main(void *arg)
{
    req *r = arg;
    corio_http_request hr;
    memset(&hr, 0, sizeof hr);
    hr.method = r->method;
    hr.target = r->target;
    hr.target_len = strlen(r->target);
    hr.version_major = 1;
    hr.version_minor = 1;
    hr.body = r->body ? r->body : "";
    hr.body_len = strlen(hr.body);
    hr.peer = tu_loopback_peer(&hr.peer_len); /* a local client */
    corio_http_response resp;
    corio_http_response_init(&resp);
    r->handled = corio_jobs_http_handle(r->j, "/api", &hr, &resp);
    r->status = resp.status;
    r->json = resp.body.data && strcmp(r->target, "/api/metrics") != 0
                  ? json_loadb(resp.body.data, resp.body.len, 0, NULL)
                  : resp.body.data ? json_stringn(resp.body.data, resp.body.len)
                                   : NULL;
    corio_http_response_free(&resp);
    return NULL;
}

/* One request through corio_jobs_http_handle in a task on `loop`; its
 * status, and its JSON body (or /metrics' text as a JSON string). */
static int on_loop(unsigned loop, corio_jobs *j, const char *method,
                   const char *target, const char *body, json_t **json)
{
    req r = {.j = j, .method = method, .target = target, .body = body};
    corio_xtask *h;
    assert_int_equal(corio_spawn_on(&h, corio_loop_get(loop), req_main, &r), 0);
    assert_int_equal(corio_xtask_await(h, NULL, 0), 0);
    assert_int_equal(r.handled, 1);
    if (json)
        *json = r.json;
    else
        json_decref(r.json);
    return r.status;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Polls GET (served on loop 1) until job id has status want. */
static json_t *wait_status(corio_jobs *j, const char *id, const char *want)
{
    char target[64];
    snprintf(target, sizeof target, "/api/jobs/%s", id);
    double until = corio_now() + 10 * tu_slack();
    for (;;) {
        json_t *o = NULL;
        assert_int_equal(on_loop(1, j, "GET", target, NULL, &o), 200);
        if (strcmp(str(o, "status"), want) == 0)
            return o;
        if (corio_now() > until) {
            fprintf(stderr, "job %s is %s, not %s\n", id, str(o, "status"),
                    want);
            fail();
        }
        json_decref(o);
        corio_sleep(0.01);
    }
}

/* ---- the test ---------------------------------------------------------------------- */

static void *main_task(void *arg)
{
    (void)arg;
    corio_jobs *j = NULL;
    char err[256] = "";
    corio_jobs_opts o = {.workers = 8, .check_timeout = -1, .loops = 2};
    int rc = corio_jobs_open(&j, path, &o, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);

    /* Jobs from C (loop 0) and over HTTP on loop 1: all run, on both. */
    enum { N = 8 };
    char ids[2 * N][27];
    for (int i = 0; i < N; i++)
        assert_int_equal(corio_jobs_enqueue(j, "t_where", "{}", ids[i], err,
                                            sizeof err), 0);
    for (int i = N; i < 2 * N; i++) {
        json_t *r = NULL;
        assert_int_equal(on_loop(1, j, "POST", "/api/jobs",
                                 "{\"type\": \"t_where\"}", &r), 202);
        snprintf(ids[i], sizeof ids[i], "%s", str(r, "id"));
        json_decref(r);
    }
    for (int i = 0; i < 2 * N; i++)
        json_decref(wait_status(j, ids[i], "succeeded"));
    assert_int_equal(atomic_load(&ran[0]) + atomic_load(&ran[1]), 2 * N);
    assert_true(atomic_load(&ran[0]) > 0 && atomic_load(&ran[1]) > 0);

    /* Two blocking jobs: one per loop (round robin). Their progress shows
     * through GET on loop 1; DELETE on loop 1 cancels each at once. */
    char blk[2][27];
    for (int i = 0; i < 2; i++)
        assert_int_equal(corio_jobs_enqueue(j, "t_where", "{\"block\": 1}",
                                            blk[i], err, sizeof err), 0);
    for (int i = 0; i < 2; i++) {
        double until = corio_now() + 10 * tu_slack();
        for (;;) {
            json_t *r = wait_status(j, blk[i], "running");
            json_t *p = json_object_get(r, "progress");
            int ok = p && strcmp(str(p, "message"), "half") == 0 &&
                     json_real_value(json_object_get(p, "fraction")) == 0.5;
            json_decref(r);
            if (ok)
                break;
            assert_true(corio_now() < until);
            corio_sleep(0.01);
        }
    }
    for (int i = 0; i < 2; i++) {
        char target[64];
        snprintf(target, sizeof target, "/api/jobs/%s", blk[i]);
        json_t *r = NULL;
        double t0 = corio_now();
        assert_int_equal(on_loop(1, j, "DELETE", target, NULL, &r), 200);
        assert_string_equal(str(r, "status"), "cancelled");
        json_decref(r);
        assert_true(corio_now() - t0 < 10); /* not the handler's 30 s */
    }
    assert_int_equal(atomic_load(&saw_cancel[0]), 1);
    assert_int_equal(atomic_load(&saw_cancel[1]), 1);

    /* A timeout ends the attempt on whichever loop runs it. */
    for (int i = 0; i < 2; i++)
        assert_int_equal(corio_jobs_enqueue(j, "t_where",
                                            "{\"block\": 1, \"timeout\": 0.2,"
                                            " \"max_attempts\": 1}",
                                            blk[i], err, sizeof err), 0);
    for (int i = 0; i < 2; i++) {
        json_t *r = wait_status(j, blk[i], "failed");
        assert_non_null(strstr(str(r, "error"), "timed out"));
        json_decref(r);
    }

    /* /metrics, asked on loop 1, counts both loops. */
    json_t *m = NULL;
    assert_int_equal(on_loop(1, j, "GET", "/api/metrics", NULL, &m), 200);
    assert_non_null(strstr(json_string_value(m), "corio_jobs_loops 2\n"));
    assert_non_null(strstr(json_string_value(m),
                           "corio_jobs_loop_attempts_total{loop=\"1\"} "));
    json_decref(m);

    assert_int_equal(corio_jobs_drain(j, 1), 0);
    corio_jobs_close(j);
    return NULL;
}

static void test_every_loop(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/corio-jobs-libmulti-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/jobs.db", dir);
    assert_int_equal(corio_jobs_register("t_where", h_where, NULL), 0);
    corio_multi_config mc = {.threads = 2};
    assert_int_equal(corio_run_multi(main_task, NULL, NULL, &mc), 0);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
