/*
 * A small JSON API on corio_http: every request is a plain function call in
 * its connection's task, and a slow handler (here /slow, which sleeps) only
 * suspends its own task while the server keeps answering everyone else.
 *
 *   http_server [PORT]          (default 8081; 0 picks a free port)
 *   curl -i localhost:8081/hello?name=corio
 *   curl -i localhost:8081/slow & curl -i localhost:8081/hello
 *   http_server --self-test     starts on a free port, asks itself, exits
 *
 * Ctrl-C (SIGINT) or SIGTERM closes the server gracefully: requests in
 * progress finish, idle connections close, then the program exits 0.
 */
#include <corio.h>
#include <corio_http.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int handler(const corio_http_request *req, corio_http_response *resp,
                   void *arg)
{
    (void)arg;
    if (strcmp(req->target, "/") == 0) /* what benchmarks ask for */
        return corio_http_response_set(resp, 200, "text/plain",
                                       "Hello, World!", 13);
    if (strncmp(req->target, "/hello", 6) == 0) {
        const char *name = strstr(req->target, "name=");
        corio_http_response_set(resp, 200, "application/json", NULL, 0);
        /* (A real server would JSON-escape the name; jansson does that.) */
        corio_http_buf_printf(&resp->body, "{\"hello\":\"%.32s\"}\n",
                              name ? name + 5 : "world");
        return 0;
    }
    if (strcmp(req->target, "/slow") == 0) {
        if (corio_sleep(2) < 0) /* cancelled: the server is closing */
            return -1;
        return corio_http_response_set(resp, 200, "text/plain",
                                       "that took 2 s\n", (size_t)-1);
    }
    return corio_http_response_set(resp, 404, "text/plain", "not found\n",
                                   (size_t)-1);
}

/* --self-test: one request through corio's own HTTP client. */
static int self_test(int port)
{
    corio_http_client *c;
    corio_http_result r;
    char url[64];
    if (corio_http_client_create(&c) < 0)
        return 1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello?name=test", port);
    int rc = corio_http_fetch(c, url, NULL, &r);
    printf("GET %s -> %d %ld %s", url, rc, r.status, r.body.data ? r.body.data : "\n");
    int ok = rc == 0 && r.status == 200 && strstr(r.body.data, "test");
    corio_http_result_free(&r);
    corio_http_client_destroy(c);
    return ok ? 0 : 1;
}

typedef struct args {
    int port;
    int self_test;
    int status;
} args;

static void *main_task(void *arg)
{
    args *a = arg;
    corio_signal *sig;
    corio_http_server *srv;
    corio_signal_open(&sig, (int[]){SIGINT, SIGTERM}, 2);
    int rc = corio_http_server_start(&srv, "127.0.0.1", a->self_test ? 0 : a->port,
                                     handler, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "http_server: %s\n", corio_strerror(rc));
        corio_signal_close(sig);
        a->status = 1;
        return NULL;
    }
    int port = corio_http_server_port(srv);
    printf("serving on http://127.0.0.1:%d (Ctrl-C to stop)\n", port);
    fflush(stdout);
    if (a->self_test)
        a->status = self_test(port);
    else
        corio_signal_wait(sig);
    corio_http_server_close(srv, 5);
    corio_signal_close(sig);
    return NULL;
}

int main(int argc, char **argv)
{
    args a = {.port = 8081};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--self-test") == 0)
            a.self_test = 1;
        else
            a.port = atoi(argv[i]);
    }
    int rc = corio_run(main_task, &a, NULL);
    return rc < 0 ? 1 : a.status;
}
