/*
 * An HTTP server on every core: corio_run_multi starts one loop per CPU and
 * corio_http_server_start_all serves on all of them in one call. Each loop
 * has its own SO_REUSEPORT listener (the kernel spreads connections), or,
 * with --one-acceptor, loop 0 accepts everything and hands connections out
 * round-robin (--least-busy: to the loop with the fewest live tasks). On
 * exit it prints how many connections and requests each loop served.
 *
 *   http_multi [--one-acceptor [--least-busy]] [--threads N] [--seconds S] [PORT]
 *   wrk -t2 -c64 -d5s http://127.0.0.1:8082/     (then Ctrl-C the server)
 *   http_multi --self-test      a free port, a few requests from every loop
 *
 * Ctrl-C (SIGINT), SIGTERM or --seconds closes the server gracefully on
 * every loop: requests in progress finish, idle connections close.
 */
#include <corio.h>
#include <corio_http.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs on whichever loop serves the connection, several at once: it
 * touches nothing shared. */
static int handler(const corio_http_request *req, corio_http_response *resp,
                   void *arg)
{
    (void)arg;
    if (strcmp(req->target, "/") == 0) /* what benchmarks ask for */
        return corio_http_response_set(resp, 200, "text/plain",
                                       "Hello, World!", 13);
    if (strcmp(req->target, "/loop") == 0) {
        corio_http_response_set(resp, 200, "text/plain", NULL, 0);
        corio_http_buf_printf(&resp->body, "served by loop %d\n",
                              corio_loop_index(NULL));
        return 0;
    }
    return corio_http_response_set(resp, 404, "text/plain", "not found\n",
                                   (size_t)-1);
}

typedef struct args {
    int port;
    unsigned flags;
    unsigned threads;
    double seconds;
    int self_test;
    int status;
} args;

/* --self-test: a client on each loop asks /loop a few times. */
static void *ask(void *arg)
{
    int port = (int)(intptr_t)arg, ok = 0;
    corio_http_client *c;
    char url[64];
    if (corio_http_client_create(&c) < 0)
        return corio_fail(-EIO);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/loop", port);
    for (int i = 0; i < 4; i++) {
        corio_http_result r;
        if (corio_http_fetch(c, url, NULL, &r) == 0 && r.status == 200)
            ok++;
        corio_http_result_free(&r);
    }
    corio_http_client_destroy(c);
    return ok == 4 ? NULL : corio_fail(-EIO);
}

static int self_test(int port)
{
    unsigned n = corio_loop_count();
    corio_xtask *t[64];
    int failed = 0;
    for (unsigned i = 0; i < n && i < 64; i++)
        if (corio_spawn_on(&t[i], corio_loop_get(i), ask, (void *)(intptr_t)port) < 0)
            return 1;
    for (unsigned i = 0; i < n && i < 64; i++)
        failed |= corio_xtask_await(t[i], NULL, 0) != 0;
    printf("self-test: %s\n", failed ? "FAILED" : "ok");
    return failed;
}

static void *main_task(void *arg)
{
    args *a = arg;
    corio_signal *sig;
    corio_http_mserver *h;
    corio_http_server_opts o;
    memset(&o, 0, sizeof o);
    o.flags = a->flags;
    corio_signal_open(&sig, (int[]){SIGINT, SIGTERM}, 2);
    int rc = corio_http_server_start_all(&h, "127.0.0.1", a->self_test ? 0 : a->port,
                                         handler, NULL, &o);
    if (rc < 0) {
        fprintf(stderr, "http_multi: %s\n", corio_strerror(rc));
        corio_signal_close(sig);
        a->status = 1;
        return NULL;
    }
    int port = corio_http_mserver_port(h);
    printf("serving on http://127.0.0.1:%d with %u loops, %s (Ctrl-C to stop)\n", port,
           corio_loop_count(),
           !(a->flags & CORIO_HTTP_SERVER_ONE_ACCEPTOR) ? "a SO_REUSEPORT listener each"
           : (a->flags & CORIO_HTTP_SERVER_LEAST_BUSY) ? "one acceptor, least busy"
                                                       : "one acceptor, round-robin");
    fflush(stdout);
    if (a->self_test) {
        a->status = self_test(port);
    } else {
        corio_scope sc;
        corio_scope_enter(&sc, a->seconds > 0 ? a->seconds : -1, 0);
        corio_signal_wait(sig);
        corio_scope_exit(&sc);
    }
    /* Per-loop counters, then the total. */
    corio_http_server_stats st;
    for (unsigned i = 0; i < corio_loop_count(); i++)
        if (corio_http_mserver_stats(h, (int)i, &st) == 0)
            printf("loop %u: %llu connections, %llu requests\n", i,
                   (unsigned long long)st.connections,
                   (unsigned long long)st.requests);
    if (corio_http_mserver_stats(h, -1, &st) == 0)
        printf("total: %llu connections, %llu requests\n",
               (unsigned long long)st.connections, (unsigned long long)st.requests);
    corio_http_mserver_close(h, 5);
    corio_signal_close(sig);
    return NULL;
}

int main(int argc, char **argv)
{
    args a = {.port = 8082};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--self-test") == 0)
            a.self_test = 1;
        else if (strcmp(argv[i], "--one-acceptor") == 0)
            a.flags |= CORIO_HTTP_SERVER_ONE_ACCEPTOR;
        else if (strcmp(argv[i], "--least-busy") == 0)
            a.flags |= CORIO_HTTP_SERVER_LEAST_BUSY;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            a.threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            a.seconds = atof(argv[++i]);
        else
            a.port = atoi(argv[i]);
    }
    corio_multi_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.threads = a.threads; /* 0: one loop per CPU */
    int rc = corio_run_multi(main_task, &a, NULL, &cfg);
    if (rc < 0) {
        fprintf(stderr, "http_multi: %s\n", corio_strerror(rc));
        return 1;
    }
    return a.status;
}
