/*
 * The router: one parsed HTTP request in, one response out, calling the
 * jobs_api for anything stateful. It holds no state and does no I/O, so
 * every route and every error can be tested (and fuzzed) without a socket.
 *
 * Every failure gets a JSON body {"error": "..."} that says what to fix,
 * and the status the issue asks for: malformed JSON 400, unknown type or
 * bad field 422, unknown id 404, wrong method 405 (with Allow), a program
 * not allowed by --allow-command 403, draining 503.
 */
#include "service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void jobs_error_response(corio_http_response *resp, int status,
                         const char *msg)
{
    corio_http_response_clear(resp);
    resp->status = status;
    corio_http_response_header(resp, "Content-Type", "application/json");
    json_t *o = json_pack("{s:s}", "error", msg ? msg : corio_http_reason(status));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text) {
        corio_http_buf_puts(&resp->body, text);
        corio_http_buf_puts(&resp->body, "\n");
    } else { /* out of memory: a fixed body still says something */
        corio_http_buf_puts(&resp->body, "{\"error\":\"out of memory\"}\n");
    }
    free(text);
    json_decref(o);
}

/* Sets a 2xx/4xx JSON response from o (stolen). */
int jobs_json_response(corio_http_response *resp, int status, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(o);
    if (!text) {
        jobs_error_response(resp, 500, "out of memory");
        return 500;
    }
    corio_http_response_clear(resp);
    resp->status = status;
    corio_http_response_header(resp, "Content-Type", "application/json");
    corio_http_buf_puts(&resp->body, text);
    corio_http_buf_puts(&resp->body, "\n");
    free(text);
    return status;
}

static int error(corio_http_response *resp, int status, const char *msg)
{
    jobs_error_response(resp, status, msg);
    return status;
}

static int not_allowed(corio_http_response *resp, const char *allow)
{
    jobs_error_response(resp, 405, "method not allowed");
    corio_http_response_header(resp, "Allow", allow);
    return 405;
}

/* Maps an api error to a response. */
static int api_error(corio_http_response *resp, int rc, const char *what)
{
    char msg[160];
    if (rc == CORIO_ESHUTDOWN) {
        jobs_error_response(resp, 503, "the server is shutting down");
        corio_http_response_header(resp, "Retry-After", "5");
        return 503;
    }
    if (rc == JOBS_ECORRUPT) { /* 503: the server is unable, not buggy */
        snprintf(msg, sizeof msg, "%s failed: the job store is damaged (see "
                 "the server's log for how to recover it)", what);
        return error(resp, 503, msg);
    }
    snprintf(msg, sizeof msg, "%s failed: %s", what, corio_strerror(rc));
    return error(resp, 500, msg);
}

/* ---- request targets ------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0, n) into out (cap bytes, NUL-terminated); '+' is a
 * space in query strings. Returns 0, or -1 if malformed or too long. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
            if (c == '\0')
                return -1;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Splits the target into path and query. Origin-form ("/jobs?x") is the
 * norm; absolute-form ("http://host/jobs") must be accepted too (RFC 9112
 * 3.2.2). Returns 0 or -1 (not a usable target). */
static int split_target(const char *t, size_t len, const char **path,
                        size_t *plen, const char **query, size_t *qlen)
{
    const char *end = t + len;
    size_t skip = 0;
    if (len >= 7 && strncasecmp(t, "http://", 7) == 0)
        skip = 7;
    else if (len >= 8 && strncasecmp(t, "https://", 8) == 0)
        skip = 8;
    if (skip) {
        const char *p = memchr(t + skip, '/', len - skip);
        if (!p)
            p = end; /* "http://host": the path is "/" */
        t = p;
    }
    if (t == end) {
        *path = "/";
        *plen = 1;
        *query = NULL;
        *qlen = 0;
        return 0;
    }
    if (*t != '/')
        return -1;
    const char *q = memchr(t, '?', (size_t)(end - t));
    const char *frag = memchr(t, '#', (size_t)(end - t));
    if (frag && (!q || frag < q))
        q = NULL;
    const char *pend = q ? q : (frag ? frag : end);
    *path = t;
    *plen = (size_t)(pend - t);
    if (q) {
        const char *qend = frag && frag > q ? frag : end;
        *query = q + 1;
        *qlen = (size_t)(qend - q - 1);
    } else {
        *query = NULL;
        *qlen = 0;
    }
    return 0;
}

static int path_is(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

/* ---- the routes ------------------------------------------------------------- */

static int post_job(const jobs_api *api, const corio_http_request *req,
                    corio_http_response *resp)
{
    /* The Content-Type is not checked: the body is JSON or it is refused
     * as such, and `curl -d '{...}'` (which says form-urlencoded) just
     * works. */
    jobs_submission sub;
    char err[256];
    int rc = jobs_parse_submission(req->body, req->body_len, &sub, err,
                                   sizeof err);
    if (rc == -EBADMSG)
        return error(resp, 400, err);
    if (rc == -EINVAL)
        return error(resp, 422, err);
    if (rc < 0)
        return error(resp, 500, "out of memory");
    if (sub.type == JOBS_COMMAND && !api->allowed(api->ctx, sub.prog)) {
        snprintf(err, sizeof err, "the program '%.100s' is not allowed (the "
                 "server runs only programs named by --allow-command)",
                 sub.prog);
        jobs_submission_free(&sub);
        return error(resp, 403, err);
    }
    /* The Idempotency-Key header, or the body's unique_key: the same key
     * twice is one job. */
    const char *hk = corio_http_request_header(req, "Idempotency-Key");
    if (hk && !jobs_key_valid(hk)) {
        jobs_submission_free(&sub);
        return error(resp, 400, "the Idempotency-Key header must be 1 to 255 "
                     "printable ASCII characters, without spaces");
    }
    if (hk && sub.unique_key && strcmp(hk, sub.unique_key) != 0) {
        jobs_submission_free(&sub);
        return error(resp, 422, "the Idempotency-Key header and the "
                     "'unique_key' field differ");
    }
    if (hk && !sub.unique_key && !(sub.unique_key = strdup(hk))) {
        jobs_submission_free(&sub);
        return error(resp, 500, "out of memory");
    }
    jobs_job *j = jobs_job_new(sub.type, sub.spec);
    if (j)
        jobs_job_apply_submission(j, &sub);
    int nomem = j && sub.unique_key && !j->unique_key;
    jobs_submission_free(&sub);
    if (!j || nomem) {
        jobs_job_free(j);
        return error(resp, 500, "out of memory");
    }
    char id[JOBS_ID_LEN + 1];
    memcpy(id, j->id, sizeof id);
    int status = j->status; /* created, or scheduled (a delay) */
    char existing[JOBS_ID_LEN + 1] = "";
    rc = api->submit(api->ctx, j, existing); /* takes j */
    if (rc < 0)
        return api_error(resp, rc, "recording the job");
    if (rc == 1) {
        /* A repeat: the first job, as it is now. */
        jobs_job *e = NULL;
        json_t *o = json_pack("{s:s}", "id", existing);
        if (o && api->get(api->ctx, existing, &e) == 0)
            json_object_set_new(o, "status",
                                json_string(jobs_status_name(e->status)));
        jobs_job_free(e);
        char loc[300 + JOBS_ID_LEN];
        snprintf(loc, sizeof loc, "%.256s/jobs/%s",
                 api->prefix ? api->prefix : "", existing);
        jobs_json_response(resp, 200, o);
        corio_http_response_header(resp, "Location", loc);
        return 200;
    }
    char loc[300 + JOBS_ID_LEN];
    snprintf(loc, sizeof loc, "%.256s/jobs/%s", api->prefix ? api->prefix : "",
             id);
    jobs_json_response(resp, 202, json_pack("{s:s, s:s}", "id", id, "status",
                                       jobs_status_name(status)));
    corio_http_response_header(resp, "Location", loc);
    return 202;
}

static int list_jobs(const jobs_api *api, const char *q, size_t qlen,
                     corio_http_response *resp)
{
    int status = -1, desc = 0;
    size_t limit = JOBS_LIST_DEFAULT;
    char after[JOBS_ID_LEN + 1] = "";
    const char *end = q ? q + qlen : NULL;
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        char key[32], val[64];
        char msg[160];
        if (pe == q) { /* empty pair ("a=1&&b=2") */
            q = pe + 1;
            continue;
        }
        if (pct_decode(q, (size_t)((eq ? eq : pe) - q), key, sizeof key) < 0 ||
            pct_decode(eq ? eq + 1 : pe, eq ? (size_t)(pe - eq - 1) : 0, val,
                       sizeof val) < 0)
            return error(resp, 400, "malformed query string");
        if (strcmp(key, "status") == 0) {
            status = jobs_status_parse(val);
            if (status < 0) {
                snprintf(msg, sizeof msg, "unknown status '%.32s' (one of "
                         "created, running, succeeded, failed, cancelled, "
                         "interrupted)", val);
                return error(resp, 400, msg);
            }
        } else if (strcmp(key, "limit") == 0) {
            char *e;
            unsigned long v = strtoul(val, &e, 10);
            if (!*val || *e || val[0] == '-' || v < 1 || v > JOBS_LIST_MAX) {
                snprintf(msg, sizeof msg, "limit must be an integer from 1 "
                         "to %d", JOBS_LIST_MAX);
                return error(resp, 400, msg);
            }
            limit = v;
        } else if (strcmp(key, "order") == 0 &&
                   (strcmp(val, "asc") == 0 ||
                    (strcmp(val, "desc") == 0 && api->list_desc))) {
            desc = val[0] == 'd';
        } else if (strcmp(key, "order") == 0) {
            return error(resp, 400, "order must be asc (oldest first) or "
                         "desc (newest first)");
        } else if (strcmp(key, "after") == 0) {
            if (!jobs_id_valid(val))
                return error(resp, 400, "after must be a job id");
            memcpy(after, val, sizeof after);
        } else {
            snprintf(msg, sizeof msg, "unknown query parameter '%.32s' (use "
                     "status, limit, after, order)", key);
            return error(resp, 400, msg);
        }
        q = amp ? amp + 1 : end;
    }
    jobs_job **v;
    size_t n;
    int rc = desc ? api->list_desc(api->ctx, status, after[0] ? after : NULL,
                                   limit, &v, &n)
                  : api->list(api->ctx, status, after[0] ? after : NULL,
                              limit, &v, &n);
    if (rc < 0)
        return api_error(resp, rc, "listing jobs");
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, jobs_job_json(v[i])) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    /* A full page may have a next one: give the cursor. */
    json_t *o = arr ? json_pack("{s:o, s:s?}", "jobs", arr, "next",
                                n == limit && n ? v[n - 1]->id : NULL)
                    : NULL;
    jobs_job_free_array(v, n);
    return jobs_json_response(resp, 200, o);
}

static int one_job(const jobs_api *api, const corio_http_request *req,
                   const char *id, int is_get, corio_http_response *resp)
{
    char msg[96];
    snprintf(msg, sizeof msg, "no job with id '%.40s'", id);
    if (!jobs_id_valid(id))
        return error(resp, 404, msg);
    jobs_job *j = NULL;
    int rc = is_get ? api->get(api->ctx, id, &j)
                    : api->cancel(api->ctx, id, &j);
    if (rc == -ENOENT)
        return error(resp, 404, msg);
    if (rc == -EALREADY) {
        char m[96];
        snprintf(m, sizeof m, "the job has already %s",
                 j ? jobs_status_name(j->status) : "finished");
        json_t *o = json_pack("{s:s, s:o*}", "error", m, "job",
                              j ? jobs_job_json(j) : NULL);
        jobs_job_free(j);
        return jobs_json_response(resp, 409, o);
    }
    if (rc < 0)
        return api_error(resp, rc, is_get ? "reading the job"
                                          : "cancelling the job");
    json_t *o = jobs_job_json(j);
    jobs_job_free(j);
    return jobs_json_response(resp, 200, o);
}

/* POST /jobs/<id>/retry */
static int retry_job(const jobs_api *api, const char *id,
                     corio_http_response *resp)
{
    char msg[96];
    snprintf(msg, sizeof msg, "no job with id '%.40s'", id);
    if (!jobs_id_valid(id))
        return error(resp, 404, msg);
    jobs_job *j = NULL;
    int rc = api->retry(api->ctx, id, &j);
    if (rc == -ENOENT)
        return error(resp, 404, msg);
    if (rc == -EBUSY) {
        char m[128];
        snprintf(m, sizeof m, "only a failed, cancelled or interrupted job "
                 "can be retried; this one is %s",
                 j ? jobs_status_name(j->status) : "active");
        json_t *o = json_pack("{s:s, s:o*}", "error", m, "job",
                              j ? jobs_job_json(j) : NULL);
        jobs_job_free(j);
        return jobs_json_response(resp, 409, o);
    }
    if (rc < 0)
        return api_error(resp, rc, "retrying the job");
    json_t *o = jobs_job_json(j);
    jobs_job_free(j);
    return jobs_json_response(resp, 200, o);
}

int jobs_route(const jobs_api *api, const corio_http_request *req,
               corio_http_response *resp)
{
    const char *path, *query;
    size_t plen, qlen;
    corio_http_response_clear(resp);
    if (split_target(req->target, req->target_len, &path, &plen, &query,
                     &qlen) < 0)
        return error(resp, 400, "bad request target");
    const char *m = req->method;
    int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

    if (path_is(path, plen, "/jobs")) {
        if (strcmp(m, "POST") == 0)
            return post_job(api, req, resp);
        if (get)
            return list_jobs(api, query, qlen, resp);
        return not_allowed(resp, "GET, HEAD, POST");
    }
    if (plen > 6 && memcmp(path, "/jobs/", 6) == 0) {
        char id[64];
        size_t idlen = plen - 6;
        int retry = api->retry && idlen > 6 &&
                    memcmp(path + plen - 6, "/retry", 6) == 0;
        if (retry)
            idlen -= 6;
        if (idlen >= sizeof id || memchr(path + 6, '/', idlen))
            return error(resp, 404, "no such resource");
        memcpy(id, path + 6, idlen);
        id[idlen] = '\0';
        if (retry && strcmp(m, "POST") != 0)
            return not_allowed(resp, "POST");
        int rc;
        if ((retry || strcmp(m, "DELETE") == 0) &&
            (rc = jobs_authorize(api, req, resp)) != 0)
            return rc;
        if (retry)
            return retry_job(api, id, resp);
        if (get || strcmp(m, "DELETE") == 0)
            return one_job(api, req, id, get, resp);
        return not_allowed(resp, "GET, HEAD, DELETE");
    }
    if (path_is(path, plen, "/counts") && api->counts) {
        if (!get)
            return not_allowed(resp, "GET, HEAD");
        return jobs_route_counts(api, resp);
    }
    if (path_is(path, plen, "/") && get && jobs_wants_html(req))
        return jobs_route_dashboard(resp);
    if (path_is(path, plen, "/healthz")) {
        if (!get)
            return not_allowed(resp, "GET, HEAD");
        int h = api->health(api->ctx);
        return jobs_json_response(resp, h == 0 ? 200 : 503,
                             json_pack("{s:s}", "status",
                                       h == 0 ? "ok"
                                       : h == JOBS_ECORRUPT ? "store damaged"
                                                            : "draining"));
    }
    if (path_is(path, plen, "/metrics")) {
        if (!get)
            return not_allowed(resp, "GET, HEAD");
        corio_http_buf_clear(&resp->body);
        int rc = api->metrics(api->ctx, &resp->body);
        if (rc < 0)
            return api_error(resp, rc, "collecting metrics");
        resp->status = 200;
        corio_http_response_header(resp, "Content-Type",
                                   "text/plain; version=0.0.4; charset=utf-8");
        return 200;
    }
    return error(resp, 404, "no such resource (try POST /jobs, GET /jobs, "
                            "GET /jobs/<id>, DELETE /jobs/<id>, GET /counts, "
                            "GET /healthz, GET /metrics; the dashboard is "
                            "GET / from a browser)");
}
