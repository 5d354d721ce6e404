/*
 * corio-jobs' router (apps/corio-jobs/router.c) against a fake API: every route,
 * method, query and error status, from raw HTTP bytes through the real
 * parser to a response. No sockets, no loop.
 */
#include "testutil.h"

#include "jobs.h"
#include "service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/un.h>
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
                       f_health, f_metrics, NULL, NULL, NULL, NULL, NULL};

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

/* Routes one raw request; returns the status, body in *body (static).
 * The request comes from loopback, as a corio_http_server would say,
 * unless no_peer is set. */
static corio_http_response R;
static int no_peer;

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
    corio_http_request req = *corio_http_parser_request(p);
    if (!no_peer)
        req.peer = tu_loopback_peer(&req.peer_len);
    int st = jobs_route(&api, &req, &R);
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
    snprintf(raw, sizeof raw, "DELETE /jobs/%s HTTP/1.1\r\nHost: localhost"
             "\r\n\r\n", json_string_value(json_object_get(o, "id")));
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
                           "\r\nHost: localhost\r\n\r\n", &o), 404);
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

/* ---- the dashboard's routes and the authorization ---------------------------- */

static int f_list_desc(void *ctx, int status, const char *before, size_t limit,
                       jobs_job ***out, size_t *n)
{
    fake *f = ctx;
    f->last_status = status;
    f->last_limit = limit;
    f->last_after = before;
    *out = calloc(f->n + 1, sizeof **out);
    *n = 0;
    for (size_t i = f->n; i-- > 0 && *n < limit;)
        if ((status < 0 || f->jobs[i]->status == status) &&
            (!before || strcmp(f->jobs[i]->id, before) < 0))
            (*out)[(*n)++] = jobs_job_clone(f->jobs[i]);
    return 0;
}

static int f_counts(void *ctx, uint64_t by_status[JOBS_NSTATUS],
                    jobs_queue_count **q, size_t *nq)
{
    for (int i = 0; i < JOBS_NSTATUS; i++)
        by_status[i] = (uint64_t)i * 10;
    *q = calloc(2, sizeof **q);
    strcpy((*q)[0].queue, "default");
    (*q)[0].created = 3;
    (*q)[0].running = 2;
    strcpy((*q)[1].queue, "mail");
    (*q)[1].scheduled = 7;
    *nq = 2;
    return 0;
}

static const struct sockaddr *in4(const char *ip, size_t *len)
{
    static struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    *len = sizeof a;
    return (const struct sockaddr *)&a;
}

static const struct sockaddr *in6(const char *ip, size_t *len)
{
    static struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    *len = sizeof a;
    return (const struct sockaddr *)&a;
}

/* jobs_auth_decide(): who may cancel and retry. */
static void test_auth_decide(void **state)
{
    size_t n;
    const struct sockaddr *a;
    const char *T = "s3cret-token";
    /* A token configured: the token decides, wherever the client is. */
    a = in4("192.0.2.7", &n);
    assert_int_equal(jobs_auth_decide(T, NULL, a, n, "h", NULL), JOBS_AUTH_TOKEN);
    assert_int_equal(jobs_auth_decide(T, "Bearer s3cret-tokeX", a, n, "h", NULL),
                     JOBS_AUTH_TOKEN);
    assert_int_equal(jobs_auth_decide(T, "Bearer s3cret-token2", a, n, "h", NULL),
                     JOBS_AUTH_TOKEN);
    assert_int_equal(jobs_auth_decide(T, "Bearer s3cret", a, n, "h", NULL),
                     JOBS_AUTH_TOKEN);
    assert_int_equal(jobs_auth_decide(T, "Basic s3cret-token", a, n, "h", NULL),
                     JOBS_AUTH_TOKEN);
    assert_int_equal(jobs_auth_decide(T, "Bearer s3cret-token", a, n,
                                      "evil.example", "http://evil.example"),
                     JOBS_AUTH_OK);
    a = in4("127.0.0.1", &n); /* loopback does not replace the token */
    assert_int_equal(jobs_auth_decide(T, NULL, a, n, "localhost", NULL),
                     JOBS_AUTH_TOKEN);

    /* No token: this machine only. */
    assert_int_equal(jobs_auth_decide(NULL, NULL, NULL, 0, NULL, NULL),
                     JOBS_AUTH_LOCAL); /* no known peer */
    assert_int_equal(jobs_auth_decide("", NULL, NULL, 0, NULL, NULL),
                     JOBS_AUTH_LOCAL);
    const char *local[] = {"127.0.0.1", "127.1.2.3"};
    for (size_t i = 0; i < 2; i++) {
        a = in4(local[i], &n);
        assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, NULL, NULL),
                         JOBS_AUTH_OK);
        assert_int_equal(jobs_auth_decide(NULL, NULL, a, n - 1, NULL, NULL),
                         JOBS_AUTH_LOCAL); /* truncated: not trusted */
    }
    const char *remote4[] = {"10.0.0.1", "192.0.2.7", "128.0.0.1", "0.0.0.0"};
    for (size_t i = 0; i < 4; i++) {
        a = in4(remote4[i], &n);
        assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, "localhost", NULL),
                         JOBS_AUTH_LOCAL);
    }
    a = in6("::1", &n);
    assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, "[::1]:8080", NULL),
                     JOBS_AUTH_OK);
    a = in6("::ffff:127.0.0.1", &n);
    assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, NULL, NULL), JOBS_AUTH_OK);
    const char *remote6[] = {"::ffff:10.0.0.1", "2001:db8::1", "::", "fe80::1"};
    for (size_t i = 0; i < 4; i++) {
        a = in6(remote6[i], &n);
        assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, NULL, NULL),
                         JOBS_AUTH_LOCAL);
    }
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_int_equal(jobs_auth_decide(NULL, NULL, (struct sockaddr *)&un,
                                      sizeof un, NULL, NULL),
                     JOBS_AUTH_OK);

    /* From loopback, but the Host or the Origin is another site's (DNS
     * rebinding; a page of another site posting to localhost). */
    a = in4("127.0.0.1", &n);
    const char *hosts_ok[] = {"localhost", "localhost:8080", "LOCALHOST:1",
                              "127.0.0.1:8080", "127.9.9.9", "[::1]", "[::1]:80"};
    for (size_t i = 0; i < sizeof hosts_ok / sizeof *hosts_ok; i++)
        assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, hosts_ok[i], NULL),
                         JOBS_AUTH_OK);
    const char *hosts_bad[] = {"evil.example", "evil.example:8080",
                               "localhost.evil.example", "127.0.0.1.evil.example",
                               "10.0.0.1:8080", "[2001:db8::1]:80", "[::1]x",
                               "127.0.0.1:", ""};
    for (size_t i = 0; i < sizeof hosts_bad / sizeof *hosts_bad; i++)
        assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, hosts_bad[i], NULL),
                         JOBS_AUTH_LOCAL);
    assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, "127.0.0.1:8080",
                                      "http://127.0.0.1:8080"),
                     JOBS_AUTH_OK);
    assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, "localhost:8080",
                                      "http://evil.example"),
                     JOBS_AUTH_LOCAL);
    assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, "localhost:8080",
                                      "http://localhost:8081"),
                     JOBS_AUTH_LOCAL);
    assert_int_equal(jobs_auth_decide(NULL, NULL, a, n, "localhost:8080", "null"),
                     JOBS_AUTH_LOCAL);
}

/* DELETE and retry through the router: 403 from elsewhere without a
 * token, 401 without the token once one is configured. */
static void test_delete_needs_local_or_token(void **state)
{
    json_t *o;
    assert_int_equal(post("{\"type\":\"sleep\",\"seconds\":100}", &o), 202);
    char del[160], retry[160];
    const char *id = json_string_value(json_object_get(o, "id"));
    snprintf(del, sizeof del, "DELETE /jobs/%s HTTP/1.1\r\nHost: h\r\n\r\n", id);
    snprintf(retry, sizeof retry, "POST /jobs/%s/retry HTTP/1.1\r\nHost: "
             "h\r\n\r\n", id);
    json_decref(o);
    no_peer = 1;
    api.retry = f_cancel; /* any: the request must not get that far */
    assert_int_equal(route(del, &o), 403);
    assert_non_null(strstr(err_of(o), "--admin-token"));
    json_decref(o);
    assert_int_equal(route(retry, &o), 403);
    json_decref(o);
    api.admin_token = "s3cret-token";
    assert_int_equal(route(del, &o), 401);
    assert_non_null(strstr(R.headers.data, "WWW-Authenticate: Bearer\r\n"));
    json_decref(o);
    char del_tok[200];
    snprintf(del_tok, sizeof del_tok, "DELETE /jobs/%s HTTP/1.1\r\nHost: h\r\n"
             "Authorization: Bearer s3cret-token\r\n\r\n", F.jobs[0]->id);
    assert_int_equal(route(del_tok, &o), 200);
    json_decref(o);
    api.admin_token = NULL;
    api.retry = NULL;
    no_peer = 0;
    /* From loopback: the Host must be a loopback name ("h" is not). */
    assert_int_equal(route(del, &o), 403);
    json_decref(o);
    del[strlen(del) - 5] = '\0'; /* cut "h\r\n\r\n" back to "Host: " */
    strcat(del, "localhost:8080\r\n\r\n");
    assert_int_equal(route(del, &o), 409); /* allowed: already cancelled */
    json_decref(o);
}

static void test_dashboard_routes(void **state)
{
    json_t *o;
    /* GET / from a browser: the page, with its headers. */
    const char *browser = "GET / HTTP/1.1\r\nHost: h\r\nAccept: text/html,"
                          "application/xhtml+xml;q=0.9,*/*;q=0.8\r\n\r\n";
    assert_int_equal(route(browser, NULL), 200);
    assert_non_null(strstr(R.headers.data, "Content-Type: text/html; charset=utf-8\r\n"));
    assert_non_null(strstr(R.headers.data, "frame-ancestors 'none'"));
    assert_non_null(strstr(R.body.data, "<title>corio-jobs</title>"));
    assert_null(strstr(R.body.data, "http://")); /* nothing external */
    assert_null(strstr(R.body.data, "https://"));
    assert_null(strstr(R.body.data, "src=\""));
    assert_int_equal(route("HEAD / HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n",
                           NULL), 200);
    /* Not a browser: the JSON 404, which names the routes. */
    assert_int_equal(route("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &o), 404);
    assert_non_null(strstr(err_of(o), "GET /counts"));
    json_decref(o);
    assert_int_equal(route("GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n", &o),
                     404);
    json_decref(o);
    assert_int_equal(route("GET / HTTP/1.1\r\nHost: h\r\nAccept: text/htmlx\r\n\r\n",
                           &o), 404);
    json_decref(o);

    /* GET /counts. */
    assert_int_equal(route("GET /counts HTTP/1.1\r\nHost: h\r\n\r\n", &o), 404);
    json_decref(o); /* not offered by this api */
    api.counts = f_counts;
    assert_int_equal(route("GET /counts HTTP/1.1\r\nHost: h\r\n\r\n", &o), 200);
    json_t *bs = json_object_get(o, "by_status");
    assert_int_equal(json_object_size(bs), JOBS_NSTATUS);
    assert_int_equal(json_integer_value(json_object_get(bs, "running")), 10);
    assert_int_equal(json_integer_value(json_object_get(bs, "scheduled")), 60);
    json_t *qs = json_object_get(o, "queues");
    assert_int_equal(json_array_size(qs), 2);
    json_t *q1 = json_array_get(qs, 1);
    assert_string_equal(json_string_value(json_object_get(q1, "queue")), "mail");
    assert_int_equal(json_integer_value(json_object_get(q1, "scheduled")), 7);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(qs, 0),
                                                        "created")), 3);
    json_decref(o);
    assert_int_equal(route("POST /counts HTTP/1.1\r\nHost: h\r\n\r\n", &o), 405);
    json_decref(o);
    api.counts = NULL;

    /* GET /jobs?order=desc: newest first, "after" continues in that order. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(post("{\"type\":\"sleep\",\"seconds\":1}", &o), 202);
        json_decref(o);
    }
    assert_int_equal(route("GET /jobs?order=desc HTTP/1.1\r\nHost: h\r\n\r\n", &o),
                     400); /* not offered by this api */
    json_decref(o);
    api.list_desc = f_list_desc;
    assert_int_equal(route("GET /jobs?order=desc&limit=2 HTTP/1.1\r\nHost: h\r\n\r\n",
                           &o), 200);
    json_t *jobs = json_object_get(o, "jobs");
    assert_int_equal(json_array_size(jobs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(jobs, 0),
                                                          "id")), F.jobs[2]->id);
    assert_string_equal(json_string_value(json_object_get(o, "next")),
                        F.jobs[1]->id);
    json_decref(o);
    char raw[160];
    snprintf(raw, sizeof raw, "GET /jobs?after=%s&order=desc HTTP/1.1\r\nHost: "
             "h\r\n\r\n", F.jobs[1]->id);
    assert_int_equal(route(raw, &o), 200);
    jobs = json_object_get(o, "jobs");
    assert_int_equal(json_array_size(jobs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(jobs, 0),
                                                          "id")), F.jobs[0]->id);
    json_decref(o);
    assert_int_equal(route("GET /jobs?order=asc&limit=1 HTTP/1.1\r\nHost: h\r\n\r\n",
                           &o), 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "jobs"), 0), "id")),
                        F.jobs[0]->id);
    json_decref(o);
    assert_int_equal(route("GET /jobs?order=up HTTP/1.1\r\nHost: h\r\n\r\n", &o), 400);
    json_decref(o);
    api.list_desc = NULL;
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
        cmocka_unit_test(test_auth_decide),
        cmocka_unit_test_setup_teardown(test_delete_needs_local_or_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_routes, setup, teardown),
        cmocka_unit_test(test_error_response),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    corio_http_response_free(&R);
    return rc;
}
