/* Driving real corio-jobs processes from a test (jobs_proc.h). */
#include "testutil.h"
#include "jobs_proc.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int jp_find_bin(char *bin, size_t size)
{
    const char *env = getenv("CORIO_JOBS_BIN");
    if (env) {
        snprintf(bin, size, "%s", env);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return -1;
        self[n] = '\0';
        *strrchr(self, '/') = '\0';
        snprintf(bin, size, "%.*s/../apps/corio-jobs/corio-jobs", (int)(size - 40), self);
    }
    return access(bin, X_OK) == 0 ? 0 : -1;
}

void jp_start(jp_server *s, const char *bin, const char *const *args)
{
    int out[2], err[2];
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    const char *argv[40] = {bin, "--listen", "127.0.0.1:0"};
    int n = 3;
    for (; args && *args && n < 39; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    s->pid = pid;
    s->err_fd = err[0];
    fcntl(s->err_fd, F_SETFL, O_NONBLOCK);
    char line[512];
    size_t len = 0;
    while (len < sizeof line - 1) {
        struct pollfd p = {out[0], POLLIN, 0};
        if (poll(&p, 1, tu_slow() ? 30000 : 10000) != 1)
            break;
        if (read(out[0], line + len, 1) <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    const char *p = strstr(line, "http://127.0.0.1:");
    if (!p) {
        char e[2048];
        ssize_t k = read(s->err_fd, e, sizeof e - 1);
        e[k > 0 ? k : 0] = '\0';
        fprintf(stderr, "corio-jobs did not start: '%s'\n%s\n", line, e);
    }
    assert_non_null(p);
    s->port = atoi(p + 17);
    assert_true(s->port > 0);
}

int jp_wait_exit(jp_server *s, double timeout)
{
    double end = corio_now() + timeout;
    for (;;) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            close(s->err_fd);
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        if (corio_now() > end)
            return -2;
        corio_sleep(0.01);
    }
}

void jp_kill9(jp_server *s)
{
    kill(s->pid, SIGKILL);
    assert_int_equal(jp_wait_exit(s, 10), -1);
}

void jp_reply_free(jp_reply *r)
{
    corio_http_buf_free(&r->body);
    json_decref(r->json);
    r->json = NULL;
}

int jp_request(int port, const char *method, const char *target,
               const char *body, jp_reply *r)
{
    memset(r, 0, sizeof *r);
    corio_stream *s;
    int rc = corio_stream_connect_tcp(&s, "127.0.0.1", port);
    if (rc < 0)
        return rc;
    corio_http_buf req = CORIO_HTTP_BUF_INIT;
    corio_http_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Connection: close\r\n", method, target);
    if (body)
        corio_http_buf_printf(&req, "Content-Length: %zu\r\n\r\n%s",
                              strlen(body), body);
    else
        corio_http_buf_puts(&req, "\r\n");
    rc = corio_stream_write(s, req.data, req.len);
    corio_http_buf_free(&req);
    size_t n = 0;
    if (rc == 0)
        rc = corio_stream_readuntil(s, r->head, sizeof r->head - 1,
                                    "\r\n\r\n", 4, &n);
    if (rc == 0) {
        r->head[n] = '\0';
        r->status = atoi(r->head + 9);
        const char *cl = strstr(r->head, "Content-Length: ");
        size_t len = cl ? strtoul(cl + 16, NULL, 10) : 0;
        corio_http_buf_reserve(&r->body, len);
        rc = corio_stream_readexactly(s, r->body.data, len, NULL);
        r->body.len = len;
        r->body.data[len] = '\0';
        if (strstr(r->head, "application/json"))
            r->json = json_loadb(r->body.data, len, 0, NULL);
    }
    corio_stream_abort(s);
    return rc;
}

const char *jp_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

int jp_submit(int port, const char *body, char id[64])
{
    jp_reply r;
    int rc = jp_request(port, "POST", "/jobs", body, &r);
    if (rc < 0)
        return rc;
    int st = r.status;
    if (st == 202)
        snprintf(id, 64, "%s", jp_str(r.json, "id"));
    jp_reply_free(&r);
    return st;
}

json_t *jp_get_job(int port, const char *id)
{
    char target[128];
    snprintf(target, sizeof target, "/jobs/%s", id);
    jp_reply r;
    if (jp_request(port, "GET", target, NULL, &r) < 0 || r.status != 200) {
        jp_reply_free(&r);
        return NULL;
    }
    json_t *o = json_incref(r.json);
    jp_reply_free(&r);
    return o;
}

long long jp_metric(int port, const char *name)
{
    jp_reply r;
    if (jp_request(port, "GET", "/metrics", NULL, &r) < 0 || r.status != 200) {
        jp_reply_free(&r);
        return -1;
    }
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *m = strstr(r.body.data, key);
    long long v = m ? atoll(m + strlen(key)) : -1;
    jp_reply_free(&r);
    return v;
}

void *jp_submitter(void *stream)
{
    jp_stream *a = stream;
    while (a->n < a->max) {
        char id[64];
        int st = jp_submit(a->port, "{\"type\":\"sleep\",\"seconds\":0.01}", id);
        if (st != 202)
            break; /* the server died: this one was never acknowledged */
        memcpy(a->ids[a->n++], id, 64);
    }
    return NULL;
}

void jp_storm_start(jp_stream *a, corio_task **t, int w, int port, int max)
{
    for (int i = 0; i < w; i++) {
        a[i] = (jp_stream){.port = port, .max = max};
        a[i].ids = calloc((size_t)max, 64);
        assert_non_null(a[i].ids);
        t[i] = corio_spawn(jp_submitter, &a[i]);
    }
}

int jp_storm_end(jp_stream *a, corio_task **t, int w)
{
    int acked = 0;
    for (int i = 0; i < w; i++) {
        corio_await(t[i], NULL);
        acked += a[i].n;
    }
    return acked;
}

static void *one_submit(void *arg)
{
    jp_burst *b = arg;
    char id[64] = "";
    jp_reply r;
    if (jp_request(b->port, "POST", "/jobs", b->body, &r) < 0) {
        b->other++;
        jp_reply_free(&r);
        return NULL;
    }
    if (r.status == 202 || r.status == 200) {
        snprintf(id, sizeof id, "%s", jp_str(r.json, "id"));
        memcpy(b->ids[b->nids++], id, 64);
    }
    if (r.status == 202)
        b->n202++;
    else if (r.status == 200)
        b->n200++;
    else
        b->other++;
    jp_reply_free(&r);
    return NULL;
}

void jp_run_burst(jp_burst *b, int n)
{
    corio_task **t = calloc((size_t)n, sizeof *t);
    b->ids = calloc((size_t)n, 64);
    for (int i = 0; i < n; i++)
        t[i] = corio_spawn(one_submit, b);
    for (int i = 0; i < n; i++)
        corio_await(t[i], NULL);
    free(t);
}
