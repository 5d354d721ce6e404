/*
 * "Start all the API calls, then await all", over real HTTP(S): one task
 * per URL, each a plain corio_http_fetch() (libcurl underneath, driven by
 * the corio loop: one thread, every transfer at once). A scope gives the
 * whole batch a deadline; whatever is not done by then is cancelled and
 * its transfer removed.
 *
 *   http_fetch URL...            e.g. http_fetch https://example.com/ \
 *                                        https://www.debian.org/
 *   http_fetch                   with no URL: starts a local server whose
 *                                answers take 200 ms and fetches it 20
 *                                times, in about 0.2 s
 */
#include <corio.h>
#include <corio_http.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    corio_http_client *client;
    const char *url;
    int rc;
    long status;
    uint64_t bytes;
    double seconds;
    char error[256];
} job;

static void *fetch_one(void *arg)
{
    job *j = arg;
    corio_http_result r;
    corio_http_fetch_opts o = {.flags = CORIO_HTTP_FETCH_DISCARD_BODY};
    j->rc = corio_http_fetch(j->client, j->url, &o, &r);
    j->status = r.status;
    j->bytes = r.body_bytes;
    j->seconds = r.seconds;
    snprintf(j->error, sizeof j->error, "%s", r.error);
    corio_http_result_free(&r);
    return NULL;
}

/* The local "slow API" used when no URL is given. */
static int slow(const corio_http_request *req, corio_http_response *resp,
                void *arg)
{
    (void)arg;
    corio_sleep(0.2);
    corio_http_response_set(resp, 200, "text/plain", NULL, 0);
    corio_http_buf_printf(&resp->body, "you asked for %s\n", req->target);
    return 0;
}

typedef struct args {
    int n;
    char **urls;
} args;

static void *main_task(void *arg)
{
    args *a = arg;
    corio_http_server *srv = NULL;
    char **urls = a->urls;
    int n = a->n;
    char local[20][64];
    char *lp[20];
    if (n == 0) {
        corio_http_server_start(&srv, "127.0.0.1", 0, slow, NULL, NULL);
        n = 20;
        for (int i = 0; i < n; i++) {
            snprintf(local[i], sizeof local[i], "http://127.0.0.1:%d/item/%d",
                     corio_http_server_port(srv), i);
            lp[i] = local[i];
        }
        urls = lp;
    }
    corio_http_client *client;
    corio_http_client_create(&client);
    job *jobs = calloc((size_t)n, sizeof *jobs);
    corio_task **tasks = calloc((size_t)n, sizeof *tasks);
    double t0 = corio_now();
    corio_scope deadline;
    corio_scope_enter(&deadline, 10, 0);
    for (int i = 0; i < n; i++) { /* start them all... */
        jobs[i] = (job){.client = client, .url = urls[i]};
        tasks[i] = corio_spawn(fetch_one, &jobs[i]);
    }
    for (int i = 0; i < n; i++) /* ...then await them all */
        corio_await(tasks[i], NULL);
    corio_scope_exit(&deadline);
    for (int i = 0; i < n; i++) {
        if (jobs[i].rc == 0)
            printf("%3ld %8llu bytes %6.3f s  %s\n", jobs[i].status,
                   (unsigned long long)jobs[i].bytes, jobs[i].seconds,
                   jobs[i].url);
        else
            printf("ERR %s: %s  %s\n", corio_strerror(jobs[i].rc),
                   jobs[i].error, jobs[i].url);
    }
    printf("%d requests in %.3f s on one thread\n", n, corio_now() - t0);
    free(jobs);
    free(tasks);
    corio_http_client_destroy(client);
    if (srv)
        corio_http_server_close(srv, 1);
    return NULL;
}

int main(int argc, char **argv)
{
    args a = {argc - 1, argv + 1};
    return corio_run(main_task, &a, NULL) < 0 ? 1 : 0;
}
