/*
 * libFuzzer harness over corio-jobs' request path: bytes -> the HTTP
 * parser (llhttp) -> the router -> JSON validation -> a response.
 *
 * Besides "no crash, no leak, no sanitizer report", it checks one property
 * the parser must have: feeding the input whole or in pieces (split where
 * the input's first bytes say) yields exactly the same requests, events
 * and error. The router runs against an in-memory fake API, and every
 * response it produces must serialise. Every request the parser hands out
 * keeps its framing rules: at most one Host, exactly one in HTTP/1.1, and
 * no transfer coding but chunked.
 *
 * Build: cmake -DCORIO_BUILD_FUZZ=ON with clang (target fuzz_http), then
 *   ./fuzz_http -max_total_time=60 fuzz/corpus/http
 */
#include <corio_http.h>

#include "jobs.h"
#include "service.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- a fake API ---------------------------------------------------------------- */

static int f_submit(void *ctx, jobs_job *j)
{
    (void)ctx;
    /* now and then a store error, or a damaged store */
    char last = j->id[JOBS_ID_LEN - 1];
    jobs_job_free(j);
    return last == '0' ? -EIO : last == '1' ? JOBS_ECORRUPT : 0;
}

static int f_get(void *ctx, const char *id, jobs_job **out)
{
    (void)ctx;
    *out = NULL;
    if (id[0] != '0')
        return -ENOENT;
    *out = jobs_job_new(JOBS_SLEEP, "{\"seconds\":1.0}");
    if (!*out)
        return -ENOMEM;
    jobs_job_set_result(*out, "{\"slept\":1.0}");
    return 0;
}

static int f_list(void *ctx, int status, const char *after, size_t limit,
                  jobs_job ***out, size_t *n)
{
    (void)ctx;
    (void)status;
    (void)after;
    *n = limit < 2 ? limit : 2;
    *out = calloc(*n + 1, sizeof **out);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = jobs_job_new(JOBS_HASH, "{\"bytes\":1}");
    return 0;
}

static int f_cancel(void *ctx, const char *id, jobs_job **out)
{
    int rc = f_get(ctx, id, out);
    return rc == 0 && id[1] == '1' ? -EALREADY : rc;
}

static int f_allowed(void *ctx, const char *prog)
{
    (void)ctx;
    return strcmp(prog, "echo") == 0;
}

static int f_health(void *ctx)
{
    (void)ctx;
    return 0;
}

static int f_metrics(void *ctx, corio_http_buf *out)
{
    (void)ctx;
    return corio_http_buf_puts(out, "corio_jobs_total 0\n");
}

static const jobs_api api = {NULL,      f_submit,  f_get,    f_list,
                             f_cancel,  f_allowed, f_health, f_metrics};

/* ---- parsing ------------------------------------------------------------------------ */

/* The framing rules of parser.c's check_framing(), checked independently
 * on what it let through. */
static void check_framing(const corio_http_request *r)
{
    size_t hosts = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const corio_http_header *h = &r->headers[i];
        if (strcasecmp(h->name, "host") == 0)
            hosts++;
        if (strcasecmp(h->name, "transfer-encoding") != 0)
            continue;
        char v[256];
        snprintf(v, sizeof v, "%s", h->value);
        for (char *save = NULL, *t = strtok_r(v, ", \t", &save); t;
             t = strtok_r(NULL, ", \t", &save))
            if (strcasecmp(t, "chunked") != 0)
                abort();
    }
    if (hosts > 1 || (hosts == 0 && r->version_minor >= 1))
        abort();
}

/* Parses data, delivered in pieces ending at the given cut points, the way
 * a connection would (unconsumed bytes are fed again). Every request is
 * routed and its response written; a line per event goes to log. */
static void run(const uint8_t *data, size_t len, const size_t *cuts,
                size_t ncuts, corio_http_buf *log, int route)
{
    corio_http_limits lim = {.max_head = 2048, .max_headers = 32,
                             .max_body = 4096};
    corio_http_parser *p;
    if (corio_http_parser_create(&p, &lim) < 0)
        abort();
    corio_http_response resp;
    corio_http_response_init(&resp);
    corio_http_buf out = CORIO_HTTP_BUF_INIT;
    size_t avail = 0, off = 0, c = 0;
    while (off < len) {
        if (off == avail) {
            avail = c < ncuts && cuts[c] > avail && cuts[c] < len ? cuts[c]
                                                                  : len;
            c++;
            continue;
        }
        size_t used = (size_t)-1;
        int ev = corio_http_parser_feed(p, (const char *)data + off,
                                        avail - off, &used);
        if (ev < 0) {
            const char *why;
            int st = corio_http_parser_status(p, &why);
            corio_http_buf_printf(log, "error %d %d %s\n", ev, st, why);
            if (st < 400 || st > 599 || corio_http_error_status(ev) != st)
                abort();
            break;
        }
        if (used > avail - off)
            abort();
        off += used;
        if (ev == CORIO_HTTP_NEED_MORE) {
            if (off != avail)
                abort();
            continue;
        }
        const corio_http_request *r = corio_http_parser_request(p);
        if (!r)
            abort();
        corio_http_buf_printf(log, "%d %s %s %d.%d ka=%d ec=%d ch=%d h=%zu b=",
                              ev, r->method, r->target, r->version_major,
                              r->version_minor, r->keep_alive,
                              r->expect_continue, r->chunked, r->nheaders);
        for (size_t i = 0; i < r->nheaders; i++) {
            if (strlen(r->headers[i].name) != r->headers[i].name_len ||
                strlen(r->headers[i].value) != r->headers[i].value_len ||
                strpbrk(r->headers[i].value, "\r\n"))
                abort();
            corio_http_buf_printf(log, "[%s:%s]", r->headers[i].name,
                                  r->headers[i].value);
        }
        corio_http_buf_append(log, r->body, r->body_len);
        corio_http_buf_puts(log, "\n");
        if (r->body[r->body_len] != '\0')
            abort();
        check_framing(r);
        if (ev == CORIO_HTTP_REQUEST && route) {
            int st = jobs_route(&api, r, &resp);
            if (st < 200 || st > 599 || st != resp.status)
                abort();
            if (corio_http_response_write(&resp, 0, &out) < 0)
                abort();
            corio_http_buf_clear(&out);
        }
    }
    corio_http_buf_printf(log, "finish %d\n", corio_http_parser_finish(p));
    corio_http_response_free(&resp);
    corio_http_buf_free(&out);
    corio_http_parser_destroy(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    /* Two leading bytes choose two cut points; the rest is the stream. */
    size_t cuts[2] = {data[0], (size_t)data[0] + data[1] * 4u};
    data += 2;
    size -= 2;
    corio_http_buf whole = CORIO_HTTP_BUF_INIT, split = CORIO_HTTP_BUF_INIT,
                   bytes = CORIO_HTTP_BUF_INIT;
    run(data, size, NULL, 0, &whole, 1);
    run(data, size, cuts, 2, &split, 0);
    size_t ones[64];
    for (size_t i = 0; i < 64; i++)
        ones[i] = i + 1; /* the first 64 bytes one at a time */
    run(data, size, ones, 64, &bytes, 0);
    if (whole.len != split.len || memcmp(whole.data, split.data, whole.len) ||
        whole.len != bytes.len || memcmp(whole.data, bytes.data, whole.len)) {
        fprintf(stderr, "whole:\n%s\nsplit:\n%s\nbytes:\n%s\n", whole.data,
                split.data, bytes.data);
        abort();
    }
    corio_http_buf_free(&whole);
    corio_http_buf_free(&split);
    corio_http_buf_free(&bytes);

    /* The body alone through JSON validation. */
    jobs_submission sub;
    char err[256];
    if (jobs_parse_submission((const char *)data, size, &sub, err,
                              sizeof err) == 0) {
        jobs_params pr;
        /* What validation accepts, the runner must be able to read. */
        if (jobs_params_parse(sub.type, sub.spec, &pr) != 0)
            abort();
        jobs_params_free(&pr);
        jobs_submission_free(&sub);
    }
    return 0;
}
