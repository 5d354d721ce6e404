/*
 * The HTTP client (src/http/client.c): libcurl's multi-socket interface on
 * the corio loop. The server is corio_http's own, in the same loop: many
 * concurrent transfers on one thread, cancellation and timeouts remove the
 * transfer, body limits, redirects, errors.
 */
#include "testutil.h"

#include <corio_http.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* /sleep?S waits S seconds; /big?N answers N bytes; /redirect -> /hello;
 * /loop redirects to itself; /echo returns the body and method. */
static int handler(const corio_http_request *req, corio_http_response *resp,
                   void *arg)
{
    int *active = arg;
    const char *t = req->target;
    if (strncmp(t, "/sleep?", 7) == 0) {
        (*active)++;
        int rc = corio_sleep(atof(t + 7));
        (*active)--;
        if (rc < 0)
            return rc;
        return corio_http_response_set(resp, 200, "text/plain", "slept",
                                       (size_t)-1);
    }
    if (strncmp(t, "/big?", 5) == 0) {
        size_t n = strtoul(t + 5, NULL, 10);
        resp->status = 200;
        for (size_t i = 0; i < n; i++)
            corio_http_buf_append(&resp->body, "x", 1);
        return 0;
    }
    if (strcmp(t, "/redirect") == 0) {
        resp->status = 302;
        return corio_http_response_header(resp, "Location", "/hello");
    }
    if (strcmp(t, "/loop") == 0) {
        resp->status = 302;
        return corio_http_response_header(resp, "Location", "/loop");
    }
    if (strcmp(t, "/echo") == 0) {
        corio_http_response_set(resp, 201, "text/plain", NULL, 0);
        corio_http_response_header(resp, "X-Method", req->method);
        return corio_http_buf_append(&resp->body, req->body, req->body_len);
    }
    corio_http_response_set(resp, 200, "text/plain", "hello", (size_t)-1);
    return 0;
}

typedef struct fix {
    corio_http_server *srv;
    corio_http_client *cl;
    int port;
    int active; /* server handlers inside /sleep */
    char base[64];
} fix;

static void up(fix *f)
{
    assert_int_equal(corio_http_server_start(&f->srv, "127.0.0.1", 0, handler,
                                             &f->active, NULL), 0);
    f->port = corio_http_server_port(f->srv);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->port);
    assert_int_equal(corio_http_client_create(&f->cl), 0);
}

static void down(fix *f)
{
    corio_http_client_destroy(f->cl);
    assert_true(corio_http_server_close(f->srv, 1) >= 0);
}

static int get(fix *f, const char *path, const corio_http_fetch_opts *o,
               corio_http_result *r)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    return corio_http_fetch(f->cl, url, o, r);
}

static void *basic_main(void *arg)
{
    fix f = {0};
    up(&f);
    corio_http_result r;
    assert_int_equal(get(&f, "/hello", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "hello");
    assert_int_equal(r.body_bytes, 5);
    assert_non_null(strstr(r.headers.data, "Content-Type: text/plain"));
    corio_http_result_free(&r);
    /* POST with headers */
    corio_http_fetch_opts o = {.body = "payload", .body_len = 7,
                               .headers = (const char *[]){"X-A: 1", NULL}};
    assert_int_equal(get(&f, "/echo", &o, &r), 0);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body.data, "payload");
    assert_non_null(strstr(r.headers.data, "X-Method: POST"));
    corio_http_result_free(&r);
    o.method = "PUT";
    assert_int_equal(get(&f, "/echo", &o, &r), 0);
    assert_non_null(strstr(r.headers.data, "X-Method: PUT"));
    corio_http_result_free(&r);
    /* redirects: followed, or not */
    assert_int_equal(get(&f, "/redirect", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "hello");
    assert_null(strstr(r.headers.data, "302")); /* final response only */
    corio_http_result_free(&r);
    corio_http_fetch_opts nr = {.flags = CORIO_HTTP_FETCH_NO_REDIRECTS};
    assert_int_equal(get(&f, "/redirect", &nr, &r), 0);
    assert_int_equal(r.status, 302);
    corio_http_result_free(&r);
    corio_http_fetch_opts few = {.max_redirects = 3};
    assert_int_equal(get(&f, "/loop", &few, &r), -ELOOP);
    assert_true(strlen(r.error) > 0);
    corio_http_result_free(&r);
    /* 404 is a response, not an error */
    assert_int_equal(get(&f, "/nothing-here", NULL, &r), 0);
    corio_http_result_free(&r);
    down(&f);
    return NULL;
}

static void test_basic(void **state)
{
    assert_int_equal(tu_run(basic_main, NULL, NULL), 0);
}

/* 50 transfers of 0.2 s at once on one thread: about 0.2 s, not 10 s. */
typedef struct conc {
    fix *f;
    int ok;
} conc;

static void *one(void *arg)
{
    conc *c = arg;
    corio_http_result r;
    if (get(c->f, "/sleep?0.2", NULL, &r) == 0 && r.status == 200)
        c->ok++;
    corio_http_result_free(&r);
    return NULL;
}

static void *concurrent_main(void *arg)
{
    fix f = {0};
    up(&f);
    conc c = {.f = &f};
    enum { N = 50 };
    corio_task *t[N];
    double t0 = corio_now();
    for (int i = 0; i < N; i++)
        t[i] = corio_spawn(one, &c);
    for (int i = 0; i < N; i++)
        corio_await(t[i], NULL);
    double dt = corio_now() - t0;
    fprintf(stderr, "# %d concurrent 0.2 s requests in %.0f ms\n", N, dt * 1e3);
    assert_int_equal(c.ok, N);
    /* Serial requests would take 50 x 0.2 = 10 s; the time is printed. */
    assert_true(dt < 5.0);
    down(&f);
    return NULL;
}

static void test_concurrent(void **state)
{
    assert_int_equal(tu_run(concurrent_main, NULL, NULL), 0);
}

/* A scope timeout or a cancel removes the transfer: the server sees its
 * client go (its handler is cancelled at close, nothing waits 5 s). */
static void *cancel_main(void *arg)
{
    fix f = {0};
    up(&f);
    corio_http_result r;
    corio_scope sc;
    double t0 = corio_now();
    corio_scope_enter(&sc, 0.1, 0);
    assert_int_equal(get(&f, "/sleep?5", NULL, &r), -ETIMEDOUT);
    corio_scope_exit(&sc);
    /* A fetch that ignored the scope would wait out the server's 5 s. */
    assert_true(corio_now() - t0 < 2.5);
    corio_http_result_free(&r);

    conc c = {.f = &f};
    corio_task *t = corio_spawn(one, &c);
    corio_sleep(0.05);
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(c.ok, 0);
    /* The client still works after that. */
    assert_int_equal(get(&f, "/hello", NULL, &r), 0);
    corio_http_result_free(&r);
    down(&f);
    return NULL;
}

static void test_cancel_and_timeout(void **state)
{
    assert_int_equal(tu_run(cancel_main, NULL, NULL), 0);
}

static void *limits_main(void *arg)
{
    fix f = {0};
    up(&f);
    corio_http_result r;
    corio_http_fetch_opts o = {.max_body = 1000};
    assert_int_equal(get(&f, "/big?1000", &o, &r), 0);
    assert_int_equal(r.body.len, 1000);
    corio_http_result_free(&r);
    assert_int_equal(get(&f, "/big?1001", &o, &r), CORIO_ETOOLONG);
    corio_http_result_free(&r);
    corio_http_fetch_opts d = {.flags = CORIO_HTTP_FETCH_DISCARD_BODY};
    assert_int_equal(get(&f, "/big?50000", &d, &r), 0);
    assert_int_equal(r.body_bytes, 50000);
    assert_int_equal(r.body.len, 0);
    corio_http_result_free(&r);
    down(&f);
    return NULL;
}

static void test_limits(void **state)
{
    assert_int_equal(tu_run(limits_main, NULL, NULL), 0);
}

static void *errors_main(void *arg)
{
    corio_http_client *cl;
    assert_int_equal(corio_http_client_create(&cl), 0);
    corio_http_result r;
    assert_int_equal(corio_http_fetch(cl, "file:///etc/passwd", NULL, &r),
                     -EINVAL);
    corio_http_result_free(&r);
    assert_int_equal(corio_http_fetch(cl, "gopher://x/", NULL, &r), -EINVAL);
    corio_http_result_free(&r);
    /* A port nothing listens on (bind one, then close it). */
    corio_socket *s;
    assert_int_equal(corio_tcp_listen(&s, "127.0.0.1", 0, 1, 0), 0);
    corio_addr a;
    corio_socket_local_addr(s, &a);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", corio_addr_port(&a));
    corio_socket_close(s);
    assert_int_equal(corio_http_fetch(cl, url, NULL, &r), -ECONNREFUSED);
    assert_true(strlen(r.error) > 0);
    corio_http_result_free(&r);
    assert_int_equal(corio_http_fetch(cl, "http://nonexistent.invalid/", NULL,
                                      &r),
                     -EHOSTUNREACH);
    corio_http_result_free(&r);
    assert_int_equal(corio_http_fetch(NULL, url, NULL, &r), -EINVAL);
    corio_http_client_destroy(cl);
    return NULL;
}

static void test_errors(void **state)
{
    assert_int_equal(tu_run(errors_main, NULL, NULL), 0);
}

static void test_outside_task(void **state)
{
    corio_http_result r;
    assert_int_equal(corio_http_fetch(NULL, "http://x/", NULL, &r), -EPERM);
    corio_http_client *c;
    assert_int_equal(corio_http_client_create(&c), -EPERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_cancel_and_timeout),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_outside_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
