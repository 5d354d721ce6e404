/*
 * The dashboard: GET / from a browser is one self-contained HTML page
 * (dashboard.html, compiled in by embed.cmake: no file to install, no CDN,
 * nothing fetched but the JSON API). The page polls GET /counts and
 * GET /jobs?order=desc, shows one job by GET /jobs/<id>, and cancels and
 * retries with DELETE and POST /jobs/<id>/retry, which auth.c guards like
 * any other client's. Its URLs are relative to where it is served, so a
 * program that mounts the API under a prefix (corio_jobs_http_handle)
 * gets the dashboard there too.
 *
 * Also here: the two read endpoints the page needs beyond the API, newest
 * first listing and the counts, on the service.
 */
#include "service_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const unsigned char jobs_dashboard_html[];
extern const size_t jobs_dashboard_html_len;

int jobs_wants_html(const corio_http_request *req)
{
    const char *a = corio_http_request_header(req, "Accept");
    if (!a)
        return 0;
    /* "text/html", "text/html;q=0.9", in a list: enough for browsers,
     * which all send it first; curl's "*" "/" "*" keeps the JSON 404. */
    for (const char *p = a; (p = strcasestr(p, "text/html")) != NULL; p += 9) {
        const char *e = p + 9;
        if ((p == a || p[-1] == ',' || p[-1] == ' ') &&
            (!*e || *e == ',' || *e == ';' || *e == ' '))
            return 1;
    }
    return 0;
}

int jobs_route_dashboard(corio_http_response *resp)
{
    corio_http_response_clear(resp);
    resp->status = 200;
    corio_http_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    corio_http_response_header(resp, "Cache-Control", "no-store");
    /* The page's own inline script and style, requests to this origin
     * only, and never inside another site's frame (its buttons cancel
     * jobs: no clickjacking). */
    corio_http_response_header(resp, "Content-Security-Policy",
                               "default-src 'none'; script-src 'unsafe-inline'; "
                               "style-src 'unsafe-inline'; connect-src 'self'; "
                               "img-src data:; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'");
    corio_http_response_header(resp, "X-Content-Type-Options", "nosniff");
    corio_http_response_header(resp, "X-Frame-Options", "DENY");
    corio_http_response_header(resp, "Referrer-Policy", "no-referrer");
    if (corio_http_buf_append(&resp->body, jobs_dashboard_html,
                              jobs_dashboard_html_len) < 0) {
        jobs_error_response(resp, 500, "out of memory");
        return 500;
    }
    return 200;
}

int jobs_route_counts(const jobs_api *api, corio_http_response *resp)
{
    uint64_t by[JOBS_NSTATUS];
    jobs_queue_count *q = NULL;
    size_t nq = 0;
    int rc = api->counts(api->ctx, by, &q, &nq);
    if (rc < 0) {
        jobs_error_response(resp, rc == JOBS_ECORRUPT ? 503 : 500,
                            rc == JOBS_ECORRUPT
                                ? "counting jobs failed: the job store is "
                                  "damaged"
                                : "counting jobs failed");
        return resp->status;
    }
    json_t *st = json_object(), *qs = json_array();
    for (int i = 0; st && i < JOBS_NSTATUS; i++)
        json_object_set_new(st, jobs_status_name(i), json_integer((json_int_t)by[i]));
    for (size_t i = 0; qs && i < nq; i++)
        json_array_append_new(qs, json_pack("{s:s, s:I, s:I, s:I}", "queue",
                                            q[i].queue, "created",
                                            (json_int_t)q[i].created,
                                            "scheduled",
                                            (json_int_t)q[i].scheduled,
                                            "running",
                                            (json_int_t)q[i].running));
    free(q);
    json_t *o = st && qs ? json_pack("{s:o, s:o}", "by_status", st, "queues", qs)
                         : NULL;
    if (!o) {
        json_decref(st);
        json_decref(qs);
    }
    return jobs_json_response(resp, 200, o);
}

/* ---- the stores' side ---------------------------------------------------------- */

int jobs_queue_counts_add(jobs_queue_count **v, size_t *n, const char *queue,
                          int status, uint64_t count)
{
    if (!queue || strlen(queue) > JOBS_TYPE_NAME_MAX ||
        (status != JOBS_CREATED && status != JOBS_SCHEDULED &&
         status != JOBS_RUNNING))
        return JOBS_ECORRUPT; /* corio-jobs writes no such row */
    if (!*n || strcmp((*v)[*n - 1].queue, queue) != 0) {
        jobs_queue_count *nv = realloc(*v, (*n + 1) * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        *v = nv;
        memset(&nv[*n], 0, sizeof nv[*n]);
        strcpy(nv[(*n)++].queue, queue);
    }
    jobs_queue_count *e = &(*v)[*n - 1];
    if (status == JOBS_CREATED)
        e->created = count;
    else if (status == JOBS_SCHEDULED)
        e->scheduled = count;
    else
        e->running = count;
    return 0;
}

/* ---- the service's side ------------------------------------------------------ */

/* A store read on the pool. Heap-allocated: the worker reads it. */
typedef struct dash_rd {
    jobs_store *store;
    int status;
    char before[JOBS_ID_LEN + 1];
    size_t limit;
    jobs_job **many;
    size_t n;
    jobs_queue_count *q;
} dash_rd;

static int rd_list_desc(void *arg)
{
    dash_rd *r = arg;
    return r->store->ops->list_desc(r->store, r->status,
                                    r->before[0] ? r->before : NULL, r->limit,
                                    &r->many, &r->n);
}

static int rd_queue_counts(void *arg)
{
    dash_rd *r = arg;
    return r->store->ops->queue_counts(r->store, &r->q, &r->n);
}

static int api_list_desc(void *ctx, int status, const char *before,
                         size_t limit, jobs_job ***out, size_t *n)
{
    jobs_service *s = ctx;
    *out = NULL;
    *n = 0;
    dash_rd *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->store = s->store;
    r->status = status;
    if (before)
        snprintf(r->before, sizeof r->before, "%s", before);
    r->limit = limit;
    int rc = jobs_store_call(s->store, rd_list_desc, r);
    *out = r->many;
    *n = r->n;
    free(r);
    /* Progress is not stored: the jobs running here have it in memory. */
    for (size_t i = 0; rc == 0 && i < *n; i++) {
        jobs_job *j = (*out)[i];
        entry *e = j->status == JOBS_RUNNING ? jobs__entry_find(s, j->id)
                                             : NULL;
        if (!e || !e->job->has_progress || j->has_progress)
            continue;
        char *m = e->job->progress_msg ? strdup(e->job->progress_msg) : NULL;
        if (e->job->progress_msg && !m)
            continue; /* out of memory: shown without its progress */
        j->has_progress = 1;
        j->progress = e->job->progress;
        j->progress_msg = m;
    }
    return rc;
}

static int api_counts(void *ctx, uint64_t by_status[JOBS_NSTATUS],
                      jobs_queue_count **q, size_t *nq)
{
    jobs_service *s = ctx;
    *q = NULL;
    *nq = 0;
    dash_rd *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->store = s->store;
    int rc = jobs_store_call(s->store, rd_queue_counts, r);
    if (rc == 0) {
        *q = r->q;
        *nq = r->n;
        /* Kept up to date by every commit (and, on a shared store,
         * recounted every 15 s): no table scan per poll. */
        memcpy(by_status, s->by_status, sizeof s->by_status);
    } else {
        free(r->q);
    }
    free(r);
    return rc;
}

void jobs__dashboard_api(jobs_service *s, jobs_api *api)
{
    (void)s;
    if (s->store->ops->list_desc)
        api->list_desc = api_list_desc;
    if (s->store->ops->queue_counts)
        api->counts = api_counts;
}
