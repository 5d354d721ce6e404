/*
 * corio-jobs' router (apps/corio-jobs/router.c) against a fake API: every route,
 * method, query and error status, from raw HTTP bytes through the real
 * parser to a response. No sockets, no loop.
 */
#include "testutil.h"

#include "jobs.h"
#include "service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a fake API: jobs in an array ----------------------------------------- */
typedef struct fake {
    jobs_job *jobs[64];
    size_t n;
    int submit_rc;    /* forced result of submit (0: store it) */
    int draining;
    const char *allow; /* the one allowed program, or NULL */
    const char *last_after;
    int last_status;
    size_t last_limit;
} fake;

static int f_submit(void *ctx, jobs_job *j, char existing[JOBS_ID_LEN + 1])
{
    fake *f = ctx;
    for (size_t i = 0; j->unique_key && i < f->n; i++) {
        if (f->jobs[i]->unique_key &&
            strcmp(f->jobs[i]->unique_key, j->unique_key) == 0) {
            memcpy(existing, f->jobs[i]->id, JOBS_ID_LEN + 1);
            jobs_job_free(j);
            return 1;
        }
    }
    if (f->submit_rc) {
        jobs_job_free(j);
        return f->submit_rc;
    }
    f->jobs[f->n++] = j;
    return 0;
}

static jobs_job *find(fake *f, const char *id)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->jobs[i]->id, id) == 0)
            return f->jobs[i];
    return NULL;
}

static int f_get(void *ctx, const char *id, jobs_job **out)
{
    jobs_job *j = find(ctx, id);
    *out = j ? jobs_job_clone(j) : NULL;
    return j ? 0 : -ENOENT;
}

static int f_list(void *ctx, int status, const char *after, size_t limit,
                  jobs_job ***out, size_t *n)
{
    fake *f = ctx;
    f->last_status = status;
    f->last_limit = limit;
    f->last_after = after;
    *out = calloc(f->n + 1, sizeof **out);
    *n = 0;
    for (size_t i = 0; i < f->n && *n < limit; i++)
        if ((status < 0 || f->jobs[i]->status == status) &&
            (!after || strcmp(f->jobs[i]->id, after) > 0))
            (*out)[(*n)++] = jobs_job_clone(f->jobs[i]);
    return 0;
}

static int f_cancel(void *ctx, const char *id, jobs_job **out)
{
    jobs_job *j = find(ctx, id);
    *out = NULL;
    if (!j)
        return -ENOENT;
    int was_terminal = jobs_status_terminal(j->status);
    if (!was_terminal)
        j->status = JOBS_CANCELLED;
    *out = jobs_job_clone(j);
    return was_terminal ? -EALREADY : 0;
}

static int f_allowed(void *ctx, const char *prog)
{
    fake *f = ctx;
    return f->allow && strcmp(prog, f->allow) == 0;
}

static int f_health(void *ctx)
{
    fake *f = ctx;
    return f->draining == 2 ? JOBS_ECORRUPT : f->draining ? CORIO_ESHUTDOWN
                                                          : 0;
}

static int f_metrics(void *ctx, corio_http_buf *out)
{
    return corio_http_buf_puts(out, "corio_jobs_total 3\n");
}

static fake F;
static jobs_api api = {&F, f_submit, f_get, f_list, f_cancel, f_allowed,
                       f_health, f_metrics, NULL, NULL, NULL};

static int setup(void **state)
{
    memset(&F, 0, sizeof F);
    return 0;
}

static int teardown(void **state)
{
    for (size_t i = 0; i < F.n; i++)
        jobs_job_free(F.jobs[i]);
    return 0;
}

/* Routes one raw request; returns the status, body in *body (static). */
static corio_http_response R;

static int route(const char *raw, json_t **json)
{
    corio_http_parser *p;
    assert_int_equal(corio_http_parser_create(&p, NULL), 0);
    size_t used;
    int ev = corio_http_parser_feed(p, raw, strlen(raw), &used);
    if (ev != CORIO_HTTP_REQUEST)
        fprintf(stderr, "not a request: %s\n", raw);
    assert_int_equal(ev, CORIO_HTTP_REQUEST);
    corio_http_response_free(&R);
    corio_http_response_init(&R);
    corio_http_buf_puts(&R.body, "stale");   /* the router clears it */
    corio_http_response_header(&R, "X-Stale", "1");
    int st = jobs_route(&api, corio_http_parser_request(p), &R);
    corio_http_parser_destroy(p);
    assert_int_equal(st, R.status);
    assert_null(strstr(R.headers.data ? R.headers.data : "", "X-Stale"));
    if (json) {
        *json = NULL;
        if (strstr(R.headers.data, "application/json")) {
            json_error_t e;
            *json = json_loadb(R.body.data, R.body.len, 0, &e);
            assert_non_null(*json);
        }
    }
    return st;
}

static const char *err_of(json_t *o)
{
    return json_string_value(json_object_get(o, "error"));
}

#define POST(body)                                                           \
    "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"  \
    "Content-Length: %zu\r\n\r\n%s"

static int post(const char *body, json_t **json)
{
    char raw[4096];
    snprintf(raw, sizeof raw, POST(body), strlen(body), body);
    return route(raw, json);
}

static void test_post_and_get(void **state)
{
    json_t *o;
    assert_int_equal(post("{\"type\":\"sleep\",\"seconds\":2.5}", &o), 202);
    const char *id = json_string_value(json_object_get(o, "id"));
    assert_string_equal(json_string_value(json_object_get(o, "status")),
                        "created");
    assert_true(jobs_id_valid(id));
    char loc[64];
    snprintf(loc, sizeof loc, "Location: /jobs/%s\r\n", id);
    assert_non_null(strstr(R.headers.data, loc));
    assert_int_equal(F.n, 1);
    assert_string_equal(F.jobs[0]->id, id);
    assert_string_equal(F.jobs[0]->spec, "{\"seconds\":2.5}");
    char raw[128];
    snprintf(raw, sizeof raw, "GET /jobs/%s HTTP/1.1\r\nHost: h\r\n\r\n", id);
    json_decref(o);
    assert_int_equal(route(raw, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "sleep");
    assert_string_equal(json_string_value(json_object_get(o, "id")),
                        F.jobs[0]->id);
    json_decref(o);
    /* HEAD: same status and headers (the writer drops the body). */
    snprintf(raw, sizeof raw, "HEAD /jobs/%s HTTP/1.1\r\nHost: h\r\n\r\n", F.jobs[0]->id);
    assert_int_equal(route(raw, NULL), 200);
    /* absolute-form target */
    snprintf(raw, sizeof raw, "GET http://example.com/jobs/%s HTTP/1.1\r\nHost: h\r\n\r\n",
             F.jobs[0]->id);
    assert_int_equal(route(raw, NULL), 200);
}

static void test_post_errors(void **state)
{
    json_t *o;
    assert_int_equal(post("{\"type\":", &o), 400);
    assert_non_null(strstr(err_of(o), "malformed JSON"));
    json_decref(o);
    assert_int_equal(post("", &o), 400);
    json_decref(o);
    assert_int_equal(post("{\"type\":\"teleport\"}", &o), 422);
    assert_non_null(strstr(err_of(o), "unknown job type"));
    json_decref(o);
    assert_int_equal(post("{\"type\":\"sleep\",\"seconds\":\"x\"}", &o), 422);
    json_decref(o);
    /* command: refused unless allowed */
    assert_int_equal(post("{\"type\":\"command\",\"argv\":[\"rm\",\"-rf\"]}", &o),
                     403);
    assert_non_null(strstr(err_of(o), "--allow-command"));
    json_decref(o);
    F.allow = "echo";
    assert_int_equal(post("{\"type\":\"command\",\"argv\":[\"echo\",\"x\"]}", &o),
                     202);
    json_decref(o);
    assert_int_equal(post("{\"type\":\"command\",\"argv\":[\"/bin/echo\"]}", &o),
                     403);
    json_decref(o);
    /* store failure, draining */
    F.submit_rc = -EIO;
    assert_int_equal(post("{\"type\":\"hash\",\"bytes\":1}", &o), 500);
    json_decref(o);
    F.submit_rc = CORIO_ESHUTDOWN;
    assert_int_equal(post("{\"type\":\"hash\",\"bytes\":1}", &o), 503);
    assert_non_null(strstr(R.headers.data, "Retry-After"));
    json_decref(o);
    /* a damaged store: 503 that says so (before: 500 "Input/output
     * error") */
    F.submit_rc = JOBS_ECORRUPT;
    assert_int_equal(post("{\"type\":\"hash\",\"bytes\":1}", &o), 503);
    assert_non_null(strstr(err_of(o), "damaged"));
    json_decref(o);
    /* Content-Type is not checked (curl -d says form-urlencoded) */
    F.submit_rc = 0;
    assert_int_equal(route("POST /jobs HTTP/1.1\r\nHost: h\r\nContent-Type: application/"
                           "x-www-form-urlencoded\r\nContent-Length: 25\r\n"
                           "\r\n{\"type\":\"hash\",\"bytes\":1}", &o), 202);
    json_decref(o);
    assert_int_equal(route("POST /jobs HTTP/1.1\r\nHost: h\r\nContent-Type: application/json"
                           "; charset=utf-8\r\nContent-Length: 30\r\n\r\n"
                           "{\"type\":\"sleep\",\"seconds\":0.5}", &o), 202);
    json_decref(o);
    /* chunked body */
    assert_int_equal(route("POST /jobs HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                           "\r\n10\r\n{\"type\":\"hash\",\"\r\n9\r\nbytes\":7}\r\n"
                           "0\r\n\r\n", &o), 202);
    json_decref(o);
}

static void test_list(void **state)
{
    json_t *o;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(post("{\"type\":\"hash\",\"bytes\":1}", &o), 202);
        json_decref(o);
    }
    F.jobs[1]->status = JOBS_RUNNING;
    F.jobs[3]->status = JOBS_RUNNING;
    assert_int_equal(route("GET /jobs HTTP/1.1\r\nHost: h\r\n\r\n", &o), 200);
    assert_int_equal(json_array_size(json_object_get(o, "jobs")), 5);
    assert_true(json_is_null(json_object_get(o, "next")));
    assert_int_equal(F.last_status, -1);
    assert_int_equal(F.last_limit, JOBS_LIST_DEFAULT);
    json_decref(o);
    assert_int_equal(route("GET /jobs?status=running&limit=1 HTTP/1.1\r\nHost: h\r\n\r\n",
                           &o), 200);
    assert_int_equal(F.last_status, JOBS_RUNNING);
    json_t *arr = json_object_get(o, "jobs");
    assert_int_equal(json_array_size(arr), 1);
    /* a full page gives the cursor for the next */
    const char *next = json_string_value(json_object_get(o, "next"));
    assert_string_equal(next, F.jobs[1]->id);
    char raw[160];
    snprintf(raw, sizeof raw, "GET /jobs?status=running&after=%s&limit=5 "
             "HTTP/1.1\r\nHost: h\r\n\r\n", next);
    json_decref(o);
    assert_int_equal(route(raw, &o), 200);
    arr = json_object_get(o, "jobs");
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(arr, 0), "id")), F.jobs[3]->id);
    json_decref(o);
    /* percent-encoding and empty pairs */
    assert_int_equal(route("GET /jobs?&status=%63reated&& HTTP/1.1\r\nHost: h\r\n\r\n", &o),
                     200);
    assert_int_equal(F.last_status, JOBS_CREATED);
    json_decref(o);
    static const char *bad[] = {
        "GET /jobs?status=done HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /jobs?limit=0 HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /jobs?limit=1001 HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /jobs?limit=-1 HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /jobs?limit=abc HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /jobs?limit= HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /jobs?after=xyz HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /jobs?sort=asc HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /jobs?status=%zz HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /jobs?status=%00 HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /jobs?status=% HTTP/1.1\r\nHost: h\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (route(bad[i], &o) != 400) {
            fprintf(stderr, "accepted: %s", bad[i]);
            fail();
        }
        assert_non_null(err_of(o));
        json_decref(o);
    }
}

static void test_delete(void **state)
{
    json_t *o;
    assert_int_equal(post("{\"type\":\"sleep\",\"seconds\":100}", &o), 202);
    char raw[128];
    snprintf(raw, sizeof raw, "DELETE /jobs/%s HTTP/1.1\r\nHost: h\r\n\r\n",
             json_string_value(json_object_get(o, "id")));
    json_decref(o);
    assert_int_equal(route(raw, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "status")),
                        "cancelled");
    json_decref(o);
    /* again: already finished */
    assert_int_equal(route(raw, &o), 409);
    assert_non_null(strstr(err_of(o), "cancelled"));
    assert_non_null(json_object_get(o, "job"));
    json_decref(o);
    assert_int_equal(route("DELETE /jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV HTTP/1.1"
                           "\r\nHost: h\r\n\r\n", &o), 404);
    json_decref(o);
}

static void test_not_found_and_methods(void **state)
{
    json_t *o;
    static const struct {
        const char *raw;
        int status;
        const char *allow;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 404, NULL},
        {"GET /job HTTP/1.1\r\nHost: h\r\n\r\n", 404, NULL},
        {"GET /jobs/ HTTP/1.1\r\nHost: h\r\n\r\n", 404, NULL},
        {"GET /jobs/nope HTTP/1.1\r\nHost: h\r\n\r\n", 404, NULL},
        {"GET /jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV HTTP/1.1\r\nHost: h\r\n\r\n", 404, NULL},
        {"GET /jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/x HTTP/1.1\r\nHost: h\r\n\r\n", 404, NULL},
        {"GET /jobs/../../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", 404, NULL},
        {"GET /healthzz HTTP/1.1\r\nHost: h\r\n\r\n", 404, NULL},
        {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, NULL},
        {"PUT /jobs HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 405,
         "Allow: GET, HEAD, POST\r\n"},
        {"DELETE /jobs HTTP/1.1\r\nHost: h\r\n\r\n", 405, "Allow: GET, HEAD, POST\r\n"},
        {"POST /jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV HTTP/1.1\r\nHost: h\r\nContent-Length: 0"
         "\r\n\r\n", 405, "Allow: GET, HEAD, DELETE\r\n"},
        {"PATCH /jobs/x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 405,
         "Allow: GET, HEAD, DELETE\r\n"},
        {"POST /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 405,
         "Allow: GET, HEAD\r\n"},
        {"DELETE /metrics HTTP/1.1\r\nHost: h\r\n\r\n", 405, "Allow: GET, HEAD\r\n"},
        {"OPTIONS /jobs HTTP/1.1\r\nHost: h\r\n\r\n", 405, NULL},
        {"GET /jobs?status=x#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = route(cases[i].raw, &o);
        if (st != cases[i].status) {
            fprintf(stderr, "%s -> %d\n", cases[i].raw, st);
            fail();
        }
        assert_non_null(err_of(o));
        if (cases[i].allow)
            assert_non_null(strstr(R.headers.data, cases[i].allow));
        json_decref(o);
    }
}

static void test_health_and_metrics(void **state)
{
    json_t *o;
    assert_int_equal(route("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
    json_decref(o);
    F.draining = 1;
    assert_int_equal(route("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", &o), 503);
    json_decref(o);
    F.draining = 2; /* the store reported damage */
    assert_int_equal(route("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", &o), 503);
    assert_string_equal(json_string_value(json_object_get(o, "status")),
                        "store damaged");
    json_decref(o);
    assert_int_equal(route("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 200);
    assert_string_equal(R.body.data, "corio_jobs_total 3\n");
    assert_non_null(strstr(R.headers.data, "text/plain; version=0.0.4"));
    corio_http_response_free(&R);
}

static void test_error_response(void **state)
{
    corio_http_response r;
    corio_http_response_init(&r);
    jobs_error_response(&r, 418, "a \"quoted\"\nmessage");
    json_t *o = json_loadb(r.body.data, r.body.len, 0, NULL);
    assert_string_equal(err_of(o), "a \"quoted\"\nmessage");
    json_decref(o);
    jobs_error_response(&r, 404, NULL);
    assert_string_equal(r.body.data, "{\"error\":\"Not Found\"}\n");
    corio_http_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_post_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_methods, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_and_metrics, setup,
                                        teardown),
        cmocka_unit_test(test_error_response),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    corio_http_response_free(&R);
    return rc;
}
