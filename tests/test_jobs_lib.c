/*
 * The public job queue library (include/corio_jobs.h) on SQLite: a type the
 * program registers runs its handler in a task, which reports progress,
 * sets a result, fails with a message, sees its attempt number; enqueue
 * from C validates like a POST; the HTTP API mounts under a prefix (and
 * only there); a DELETE cancels a handler through corio cancellation; jobs
 * queued when the service stopped run after it opens again; a stored job
 * of a type this program does not register reads fine and fails "no
 * handler" instead of marking the store damaged.
 */
#include "testutil.h"

#include <corio_jobs.h>

#include "jobs.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/corio-jobs-lib-XXXXXX");
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

/* ---- the handlers ---------------------------------------------------------- */

/* Test-wide state the handlers share with the test task (one loop). */
static struct {
    corio_event *release; /* "gate" jobs wait for it */
    int started;          /* gate handlers entered */
    int saw_cancel;       /* a gate handler's wait returned -ECANCELED */
    int last_attempt;
    char last_type[32];
} H;

/* {"n": k}: reports progress, waits for the gate (if any), sets a result. */
static int h_gate(corio_job *job, const char *spec, void *arg)
{
    assert_ptr_equal(arg, &H);
    H.started++;
    H.last_attempt = corio_job_attempt(job);
    snprintf(H.last_type, sizeof H.last_type, "%s", corio_job_type(job));
    assert_int_equal(strlen(corio_job_id(job)), 26);
    assert_int_equal(corio_job_progress(job, 0.25, "a quarter"), 0);
    if (H.release) {
        int rc = corio_event_wait(H.release);
        if (rc == -ECANCELED)
            H.saw_cancel++;
        if (rc < 0)
            return rc;
    }
    char res[256];
    snprintf(res, sizeof res, "{\"spec\": %s}", spec);
    assert_int_equal(corio_job_set_result(job, "not json"), -EINVAL);
    return corio_job_set_result(job, res);
}

static int h_fail(corio_job *job, const char *spec, void *arg)
{
    (void)arg;
    if (strstr(spec, "errno"))
        return -ENOENT; /* no message: the errno's text */
    corio_job_set_result(job, "{\"partial\": true}");
    return corio_job_fail(job, "the image is broken", CORIO_JOB_NORETRY);
}

static void register_types(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    assert_int_equal(corio_jobs_register("t_gate", h_gate, &H), 0);
    assert_int_equal(corio_jobs_register("t_fail", h_fail, NULL), 0);
    assert_int_equal(corio_jobs_register("t_gate", h_gate, NULL), -EEXIST);
    assert_int_equal(corio_jobs_register("sleep", h_gate, NULL), -EEXIST);
    assert_int_equal(corio_jobs_register("Bad Name", h_gate, NULL), -EINVAL);
    assert_int_equal(corio_jobs_register("t_null", NULL, NULL), -EINVAL);
}

/* ---- helpers ---------------------------------------------------------------- */

static corio_jobs *open_jobs(int workers)
{
    corio_jobs *j = NULL;
    char err[256] = "";
    corio_jobs_opts o = {.workers = workers, .check_timeout = -1};
    int rc = corio_jobs_open(&j, path, &o, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    return j;
}

/* One request through corio_jobs_http_handle; returns 1 if handled, with
 * *status and *body (parsed JSON, or NULL). */
static int request(corio_jobs *j, const char *prefix, const char *method,
                   const char *target, const char *body, int *status,
                   json_t **json, char *location, size_t loclen)
{
    corio_http_request req;
    memset(&req, 0, sizeof req);
    req.method = method;
    req.target = target;
    req.target_len = strlen(target);
    req.version_major = 1;
    req.version_minor = 1;
    req.body = body ? body : "";
    req.body_len = strlen(req.body);
    req.peer = tu_loopback_peer(&req.peer_len); /* a local client */
    corio_http_response resp;
    corio_http_response_init(&resp);
    int rc = corio_jobs_http_handle(j, prefix, &req, &resp);
    if (rc == 1) {
        *status = resp.status;
        if (json)
            *json = resp.body.data
                        ? json_loadb(resp.body.data, resp.body.len, 0, NULL)
                        : NULL;
        if (location) {
            location[0] = '\0';
            const char *h = resp.headers.data
                                ? strstr(resp.headers.data, "Location: ")
                                : NULL;
            if (h)
                snprintf(location, loclen, "%.*s",
                         (int)strcspn(h + 10, "\r\n"), h + 10);
        }
    } else {
        assert_int_equal(resp.status, 200); /* untouched */
        assert_int_equal(resp.body.len, 0);
    }
    corio_http_response_free(&resp);
    return rc;
}

static json_t *get_job(corio_jobs *j, const char *id)
{
    char target[64];
    snprintf(target, sizeof target, "/jobs/%s", id);
    int st = 0;
    json_t *o = NULL;
    assert_int_equal(request(j, "", "GET", target, NULL, &st, &o, NULL, 0),
                     1);
    assert_int_equal(st, 200);
    assert_non_null(o);
    return o;
}

static const char *status_of(json_t *o)
{
    return json_string_value(json_object_get(o, "status"));
}

/* Waits (bounded) until job id has status want; returns the job. */
static json_t *wait_status(corio_jobs *j, const char *id, const char *want)
{
    double until = corio_now() + 10 * tu_slack();
    for (;;) {
        json_t *o = get_job(j, id);
        if (strcmp(status_of(o), want) == 0)
            return o;
        if (corio_now() > until) {
            fprintf(stderr, "job %s is %s, not %s\n", id, status_of(o), want);
            fail();
        }
        json_decref(o);
        corio_sleep(0.005);
    }
}

/* ---- tests ------------------------------------------------------------------ */

static void *t_runs_main(void *arg)
{
    (void)arg;
    register_types();
    memset(&H, 0, sizeof H);
    assert_int_equal(corio_event_create(&H.release), 0);
    corio_jobs *j = open_jobs(2);
    char id[27];
    char err[128];
    assert_int_equal(corio_jobs_enqueue(j, "t_gate", "{\"n\": 1}", id, err,
                                        sizeof err),
                     0);
    /* Running: the progress the handler reported is in GET. */
    double until = corio_now() + 10 * tu_slack();
    while (H.started == 0 && corio_now() < until)
        corio_sleep(0.005);
    assert_int_equal(H.started, 1);
    json_t *o = get_job(j, id);
    assert_string_equal(status_of(o), "running");
    json_t *p = json_object_get(o, "progress");
    assert_true(json_is_object(p));
    tu_assert_near(json_number_value(json_object_get(p, "fraction")), 0.25,
                   1e-9);
    assert_string_equal(json_string_value(json_object_get(p, "message")),
                        "a quarter");
    json_decref(o);
    corio_event_set(H.release);
    o = wait_status(j, id, "succeeded");
    assert_string_equal(json_string_value(json_object_get(o, "type")),
                        "t_gate");
    json_t *r = json_object_get(json_object_get(o, "result"), "spec");
    assert_int_equal(json_integer_value(json_object_get(r, "n")), 1);
    assert_true(json_is_null(json_object_get(o, "error")));
    json_decref(o);
    assert_int_equal(H.last_attempt, 1);
    assert_string_equal(H.last_type, "t_gate");

    /* A failure keeps its message and its partial result. */
    assert_int_equal(corio_jobs_enqueue(j, "t_fail", NULL, id, NULL, 0), 0);
    o = wait_status(j, id, "failed");
    assert_string_equal(json_string_value(json_object_get(o, "error")),
                        "the image is broken");
    assert_true(json_is_true(
        json_object_get(json_object_get(o, "result"), "partial")));
    json_decref(o);
    assert_int_equal(
        corio_jobs_enqueue(j, "t_fail", "{\"errno\": 1}", id, NULL, 0), 0);
    o = wait_status(j, id, "failed");
    assert_string_equal(json_string_value(json_object_get(o, "error")),
                        corio_strerror(-ENOENT));
    json_decref(o);

    corio_jobs_close(j);
    corio_event_destroy(H.release);
    return NULL;
}

static void test_registered_type_runs(void **state)
{
    (void)state;
    assert_int_equal(tu_run(t_runs_main, NULL, NULL), 0);
}

static void *t_enqueue_main(void *arg)
{
    (void)arg;
    register_types();
    memset(&H, 0, sizeof H);
    corio_jobs *j = open_jobs(1);
    char id[27] = "";
    char err[256];
    assert_int_equal(corio_jobs_enqueue(j, "nope", "{}", id, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "unknown job type 'nope'"));
    assert_int_equal(corio_jobs_enqueue(j, "t_gate", "[1]", id, err,
                                        sizeof err),
                     -EINVAL);
    assert_int_equal(corio_jobs_enqueue(j, "t_gate", "{\"type\": \"x\"}", id,
                                        err, sizeof err),
                     -EINVAL);
    assert_int_equal(corio_jobs_enqueue(j, "sleep", "{\"seconds\": -1}", id,
                                        err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "'seconds'"));
    /* command needs allow_command, like a POST. */
    assert_int_equal(corio_jobs_enqueue(j, "command", "{\"argv\": [\"true\"]}",
                                        id, err, sizeof err),
                     -EPERM);
    assert_string_equal(id, "");
    /* A built-in type from C. */
    assert_int_equal(corio_jobs_enqueue(j, "sleep", "{\"seconds\": 0}", id,
                                        err, sizeof err),
                     0);
    json_decref(wait_status(j, id, "succeeded"));
    /* Draining: refused. */
    assert_int_equal(corio_jobs_drain(j, 1), 0);
    assert_int_equal(corio_jobs_enqueue(j, "t_gate", "{}", id, err,
                                        sizeof err),
                     CORIO_ESHUTDOWN);
    corio_jobs_close(j);
    return NULL;
}

static void test_enqueue_validates(void **state)
{
    (void)state;
    assert_int_equal(tu_run(t_enqueue_main, NULL, NULL), 0);
}

static void *t_prefix_main(void *arg)
{
    (void)arg;
    register_types();
    memset(&H, 0, sizeof H);
    corio_jobs *j = open_jobs(1);
    int st = 0;
    json_t *o = NULL;
    char loc[128];
    assert_int_equal(request(j, "/api", "POST", "/api/jobs",
                             "{\"type\": \"t_gate\", \"n\": 7}", &st, &o, loc,
                             sizeof loc),
                     1);
    assert_int_equal(st, 202);
    const char *id = json_string_value(json_object_get(o, "id"));
    char want[128];
    snprintf(want, sizeof want, "/api/jobs/%s", id);
    assert_string_equal(loc, want);
    json_t *done = wait_status(j, id, "succeeded");
    json_decref(o);
    /* GET through the prefix, with a query (the list reads the store,
     * which the final state reaches a commit after GET shows it). */
    double until = corio_now() + 10 * tu_slack();
    size_t n = 0;
    do {
        assert_int_equal(request(j, "/api", "GET",
                                 "/api/jobs?status=succeeded", NULL, &st, &o,
                                 NULL, 0),
                         1);
        assert_int_equal(st, 200);
        n = json_array_size(json_object_get(o, "jobs"));
        json_decref(o);
    } while (n == 0 && corio_now() < until && corio_sleep(0.005) == 0);
    assert_int_equal(n, 1);
    assert_int_equal(
        request(j, "/api", "GET", "/api/healthz", NULL, &st, NULL, NULL, 0),
        1);
    assert_int_equal(st, 200);
    /* The prefix itself is the API's root (nothing there: 404). */
    assert_int_equal(request(j, "/api", "GET", "/api", NULL, &st, NULL, NULL,
                             0),
                     1);
    assert_int_equal(st, 404);
    /* ... but a browser gets the dashboard there, at "/api" and "/api/"
     * (the page makes its URLs relative to its own path), and the read
     * endpoints it polls answer under the prefix. */
    const char *pages[] = {"/api", "/api/", "/api/?x=1"};
    for (size_t i = 0; i < 3; i++) {
        corio_http_header acc = {"Accept", 6, "text/html", 9};
        corio_http_request req;
        memset(&req, 0, sizeof req);
        req.method = "GET";
        req.target = pages[i];
        req.target_len = strlen(pages[i]);
        req.version_major = req.version_minor = 1;
        req.headers = &acc;
        req.nheaders = 1;
        req.body = "";
        corio_http_response resp;
        corio_http_response_init(&resp);
        assert_int_equal(corio_jobs_http_handle(j, "/api", &req, &resp), 1);
        assert_int_equal(resp.status, 200);
        assert_non_null(strstr(resp.body.data, "<title>corio-jobs</title>"));
        corio_http_response_free(&resp);
    }
    /* The counts move in the committer's hook, on the loop, after the
     * commit's pool thread returns; the list above may have read the
     * commit before that (a preempted pool thread): wait for the count. */
    until = corio_now() + 10 * tu_slack();
    for (;;) {
        assert_int_equal(request(j, "/api", "GET", "/api/counts", NULL, &st,
                                 &o, NULL, 0),
                         1);
        assert_int_equal(st, 200);
        if (json_integer_value(json_object_get(
                json_object_get(o, "by_status"), "succeeded")) == 1 ||
            corio_now() > until)
            break;
        json_decref(o);
        corio_sleep(0.005);
    }
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(o, "by_status"), "succeeded")), 1);
    assert_int_equal(json_array_size(json_object_get(o, "queues")), 0);
    json_decref(o);
    assert_int_equal(request(j, "/api", "GET", "/api/jobs?order=desc", NULL,
                             &st, &o, NULL, 0),
                     1);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "jobs"), 0), "id")),
                        json_string_value(json_object_get(done, "id")));
    json_decref(o);
    /* Outside the prefix: not handled, resp untouched. */
    assert_int_equal(request(j, "/api", "GET", "/jobs", NULL, &st, NULL, NULL,
                             0),
                     0);
    assert_int_equal(request(j, "/api", "GET", "/apix/jobs", NULL, &st, NULL,
                             NULL, 0),
                     0);
    assert_int_equal(request(j, "/api", "GET", "/ap", NULL, &st, NULL, NULL,
                             0),
                     0);
    json_decref(done);
    corio_jobs_close(j);
    return NULL;
}

static void test_http_prefix(void **state)
{
    (void)state;
    assert_int_equal(tu_run(t_prefix_main, NULL, NULL), 0);
}

static void *t_cancel_main(void *arg)
{
    (void)arg;
    register_types();
    memset(&H, 0, sizeof H);
    assert_int_equal(corio_event_create(&H.release), 0);
    corio_jobs *j = open_jobs(1);
    char a[27], b[27];
    assert_int_equal(corio_jobs_enqueue(j, "t_gate", "{}", a, NULL, 0), 0);
    assert_int_equal(corio_jobs_enqueue(j, "t_gate", "{}", b, NULL, 0), 0);
    double until = corio_now() + 10 * tu_slack();
    while (H.started == 0 && corio_now() < until)
        corio_sleep(0.005);
    assert_int_equal(H.started, 1); /* one worker: b waits */
    char target[64];
    snprintf(target, sizeof target, "/jobs/%s", a);
    int st = 0;
    json_t *o = NULL;
    assert_int_equal(request(j, "", "DELETE", target, NULL, &st, &o, NULL, 0),
                     1);
    assert_int_equal(st, 200);
    assert_string_equal(status_of(o), "cancelled");
    json_decref(o);
    assert_int_equal(H.saw_cancel, 1); /* through corio cancellation */
    /* b starts, and stays blocked: the service stops with b running and
     * nothing else queued. */
    until = corio_now() + 10 * tu_slack();
    while (H.started < 2 && corio_now() < until)
        corio_sleep(0.005);
    assert_int_equal(H.started, 2);
    assert_int_equal(corio_jobs_drain(j, 0), 1);
    corio_jobs_close(j);
    corio_event_destroy(H.release);
    return NULL;
}

static void test_cancel_through_corio(void **state)
{
    (void)state;
    assert_int_equal(tu_run(t_cancel_main, NULL, NULL), 0);
}

/* Jobs queued when the service stopped run when it opens again; the
 * running one is recorded interrupted. */
static void *t_restart_main(void *arg)
{
    (void)arg;
    register_types();
    memset(&H, 0, sizeof H);
    assert_int_equal(corio_event_create(&H.release), 0);
    corio_jobs *j = open_jobs(1);
    char a[27], b[27];
    assert_int_equal(corio_jobs_enqueue(j, "t_gate", "{\"n\": 1}", a, NULL, 0),
                     0);
    assert_int_equal(corio_jobs_enqueue(j, "t_gate", "{\"n\": 2}", b, NULL, 0),
                     0);
    double until = corio_now() + 10 * tu_slack();
    while (H.started == 0 && corio_now() < until)
        corio_sleep(0.005);
    assert_int_equal(corio_jobs_drain(j, 0), 1);
    corio_jobs_close(j);

    corio_event_set(H.release);
    j = open_jobs(1);
    json_t *o = wait_status(j, b, "succeeded");
    json_decref(o);
    o = get_job(j, a);
    assert_string_equal(status_of(o), "interrupted");
    json_decref(o);
    corio_jobs_close(j);
    corio_event_destroy(H.release);
    return NULL;
}

static void test_queued_jobs_survive_restart(void **state)
{
    (void)state;
    assert_int_equal(tu_run(t_restart_main, NULL, NULL), 0);
}

/* A job whose type this program does not register (another program's, or
 * a type since removed). */
static void *t_ghost_main(void *arg)
{
    (void)arg;
    register_types();
    jobs_store *s;
    char err[256];
    assert_int_equal(jobs_store_open(path, &s, err, sizeof err), 0);
    int t = jobs_type_intern("t_ghost");
    assert_true(t > JOBS_BUILTIN_MAX);
    assert_int_equal(jobs_type_intern("Not A Name"), -EINVAL);
    jobs_job *g = jobs_job_new(t, "{}");
    jobs_write w = {JOBS_W_INSERT, g};
    assert_int_equal(jobs_store_write(s, &w, 1), 0);
    jobs_store_close(s);

    corio_jobs *j = open_jobs(1);
    json_t *o = wait_status(j, g->id, "failed");
    assert_non_null(strstr(json_string_value(json_object_get(o, "error")),
                           "no handler"));
    json_decref(o);
    /* And a client may not submit one. */
    int st;
    assert_int_equal(request(j, "", "POST", "/jobs", "{\"type\": \"t_ghost\"}",
                             &st, NULL, NULL, 0),
                     1);
    assert_int_equal(st, 422);
    /* The store is not "damaged". */
    assert_int_equal(request(j, "", "GET", "/healthz", NULL, &st, NULL, NULL,
                             0),
                     1);
    assert_int_equal(st, 200);
    jobs_job_free(g);
    corio_jobs_close(j);
    return NULL;
}

static void test_unregistered_type_in_store(void **state)
{
    (void)state;
    assert_int_equal(tu_run(t_ghost_main, NULL, NULL), 0);
}

/* ---- retries (the cases are shared with PostgreSQL) --------------------- */

static corio_jobs *rt_open_with(corio_jobs_opts o)
{
    corio_jobs *j = NULL;
    char err[256] = "";
    o.check_timeout = -1;
    int rc = corio_jobs_open(&j, path, &o, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    return j;
}

#include "jobs_retry.inc"

/* A case of tests/jobs_retry.inc, shared with test_jobs_pg_retry, as a
 * cmocka test on this file's SQLite store. */
#define RT_TEST(test, rt_case)                                                \
    static void test(void **state)                                            \
    {                                                                         \
        (void)state;                                                          \
        assert_int_equal(tu_run(rt_case, NULL, NULL), 0);                     \
    }

RT_TEST(test_retries, rt_case_retries)
RT_TEST(test_retry_scheduled_restart, rt_case_scheduled)
RT_TEST(test_priority_order, rt_case_priority)
RT_TEST(test_queue_limits, rt_case_queues)
RT_TEST(test_timeout, rt_case_timeout)
RT_TEST(test_idempotency, rt_case_idempotency)
RT_TEST(test_retention, rt_case_retention)
RT_TEST(test_retry_endpoint, rt_case_retry_endpoint)
RT_TEST(test_delay_and_run_at, rt_case_delay)

/* A command that exits non-zero has failed, and is retried. */
static void *t_command_retry_main(void *arg)
{
    (void)arg;
    corio_jobs *j = NULL;
    const char *allow[] = {"false"};
    corio_jobs_opts o = {.allow_command = allow, .nallow_command = 1,
                         .check_timeout = -1};
    char err[256];
    assert_int_equal(corio_jobs_open(&j, path, &o, err, sizeof err), 0);
    char id[27];
    assert_int_equal(corio_jobs_enqueue(j, "command",
                                        "{\"argv\": [\"false\"], "
                                        "\"max_attempts\": 2, "
                                        "\"retry_backoff\": 0}",
                                        id, err, sizeof err),
                     0);
    json_t *d = wait_status(j, id, "failed");
    assert_int_equal(json_integer_value(json_object_get(d, "attempts")), 2);
    json_t *errs = json_object_get(d, "errors");
    assert_int_equal(json_array_size(errs), 2);
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_array_get(errs, 0), "error")),
                           "exited with status 1"));
    json_decref(d);
    corio_jobs_close(j);
    return NULL;
}

static void test_command_exit_retried(void **state)
{
    (void)state;
    assert_int_equal(tu_run(t_command_retry_main, NULL, NULL), 0);
}

/* An old (version 1) SQLite file opens: the migration adds the retry
 * columns, and its jobs read with the defaults. */
static void *t_migrate_main(void *arg)
{
    (void)arg;
    /* A file as the first corio-jobs wrote it (schema version 1). */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE jobs (id TEXT PRIMARY KEY, type TEXT NOT "
                     "NULL, status TEXT NOT NULL, spec TEXT NOT NULL, result "
                     "TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, "
                     "created_at INTEGER NOT NULL, started_at INTEGER, "
                     "finished_at INTEGER, updated_at INTEGER NOT NULL) "
                     "WITHOUT ROWID;"
                     "CREATE INDEX jobs_by_status ON jobs(status, id);"
                     "INSERT INTO jobs VALUES('01J9Z3W7K6T8Y2V4B5N6M7P8Q9', "
                     "'sleep', 'created', '{\"seconds\":0.0}', NULL, NULL, "
                     "0, 1, NULL, NULL, 1);"
                     "PRAGMA user_version=1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    corio_jobs *j = open_jobs(1);
    json_t *o = wait_status(j, "01J9Z3W7K6T8Y2V4B5N6M7P8Q9", "succeeded");
    assert_int_equal(json_integer_value(json_object_get(o, "max_attempts")),
                     1);
    assert_int_equal(json_array_size(json_object_get(o, "errors")), 0);
    json_decref(o);
    corio_jobs_close(j);
    return NULL;
}

static void test_sqlite_migration(void **state)
{
    (void)state;
    assert_int_equal(tu_run(t_migrate_main, NULL, NULL), 0);
}

/* The built-in hash type reports its progress while the pool hashes. */
static void *t_hash_progress_main(void *arg)
{
    (void)arg;
    corio_jobs *j = open_jobs(1);
    char id[27];
    assert_int_equal(corio_jobs_enqueue(j, "hash", "{\"bytes\": 17179869184}",
                                        id, NULL, 0),
                     0);
    double until = corio_now() + 20 * tu_slack();
    double f = 0;
    while (corio_now() < until) {
        json_t *o = get_job(j, id);
        json_t *p = json_object_get(o, "progress");
        if (json_is_object(p))
            f = json_number_value(json_object_get(p, "fraction"));
        json_decref(o);
        if (f > 0)
            break;
        corio_sleep(0.02);
    }
    assert_true(f > 0 && f < 1);
    char target[64];
    snprintf(target, sizeof target, "/jobs/%s", id);
    int st = 0;
    json_t *o = NULL;
    assert_int_equal(request(j, "", "DELETE", target, NULL, &st, &o, NULL, 0),
                     1);
    assert_int_equal(st, 200);
    assert_string_equal(status_of(o), "cancelled");
    assert_true(json_is_null(json_object_get(o, "progress")));
    json_decref(o);
    corio_jobs_close(j);
    return NULL;
}

static void test_hash_reports_progress(void **state)
{
    (void)state;
    assert_int_equal(tu_run(t_hash_progress_main, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registered_type_runs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_validates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_through_corio, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queued_jobs_survive_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unregistered_type_in_store, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hash_reports_progress, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_scheduled_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delay_and_run_at, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_priority_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_exit_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_migration, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
