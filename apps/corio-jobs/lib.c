/*
 * The public library, include/corio_jobs.h: a thin layer over the store
 * (jobs.h) and the service (service.h). The service does the work; this
 * file owns the store it opens, turns C calls into the submissions the
 * router makes, mounts the router under a path prefix, and gives handlers
 * their view of a running job (struct corio_job, service_int.h).
 */
#include <corio_jobs.h>

#include "ext.h"
#include "service_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int say(char *err, size_t errlen, int rc, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return rc;
}

int corio_jobs_register_ex(const char *name, corio_jobs_handler handler,
                           void *arg, const corio_jobs_type_opts *opts)
{
    if (opts && (opts->max_attempts < 0 || opts->max_attempts > 1000 ||
                 !(opts->retry_backoff >= 0 && opts->retry_backoff <= 86400)))
        return -EINVAL;
    int t = jobs_type_register(name, (jobs_handler_fn)handler,
                               arg);
    if (t < 0)
        return t;
    if (opts)
        jobs_type_set_defaults(t, opts->max_attempts, opts->retry_backoff);
    return 0;
}

int corio_jobs_register(const char *name, corio_jobs_handler handler,
                        void *arg)
{
    return corio_jobs_register_ex(name, handler, arg, NULL);
}

static void free_allow(char **a)
{
    if (a)
        for (char **p = a; *p; p++)
            free(*p);
    free(a);
}

int corio_jobs_open(corio_jobs **out, const char *url,
                    const corio_jobs_opts *opts, char *err, size_t errlen)
{
    corio_jobs_opts o = {0};
    if (opts)
        o = *opts;
    *out = NULL;
    if (!url || !*url || o.workers < 0 || o.lease < 0 || o.max_attempts < 0 ||
        o.loops < 0 ||
        !(o.retention >= 0) ||
        (o.nallow_command && !o.allow_command))
        return say(err, errlen, -EINVAL, "invalid arguments");
    corio_jobs *j = calloc(1, sizeof *j);
    if (!j || !(j->allow = calloc(o.nallow_command + 1, sizeof *j->allow))) {
        free(j);
        return say(err, errlen, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < o.nallow_command; i++)
        if (!(j->allow[i] = strdup(o.allow_command[i]))) {
            free_allow(j->allow);
            free(j);
            return say(err, errlen, -ENOMEM, "out of memory");
        }
    if (o.admin_token && *o.admin_token &&
        !(j->admin_token = strdup(o.admin_token))) {
        free_allow(j->allow);
        free(j->admin_token);
        free(j);
        return say(err, errlen, -ENOMEM, "out of memory");
    }
    int *limits = calloc(o.nqueues + 1, sizeof *limits);
    int *rates = calloc(o.nqueues + 1, sizeof *rates);
    double *periods = calloc(o.nqueues + 1, sizeof *periods);
    const char **names = calloc(o.nqueues + 1, sizeof *names);
    if (!limits || !names || !rates || !periods) {
        free(rates);
        free(periods);
        free(limits);
        free(names);
        free_allow(j->allow);
        free(j->admin_token);
        free(j);
        return say(err, errlen, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < o.nqueues; i++) {
        const corio_jobs_queue *q = &o.queues[i];
        int dup = 0;
        for (size_t k = 0; k < i; k++)
            dup |= q->name && strcmp(q->name, names[k]) == 0;
        if (!q->name || !jobs_type_name_valid(q->name) || dup ||
            q->concurrency < 1 || q->concurrency > 100000 ||
            q->rate_limit < 0 || q->rate_limit > 1000000 ||
            (q->rate_limit > 0 &&
             !(q->rate_period > 0 && q->rate_period <= 86400))) {
            free(rates);
            free(periods);
            free(limits);
            free(names);
            free_allow(j->allow);
            free(j);
            return say(err, errlen, -EINVAL, "a queue needs a name (1 to 64 "
                       "of a-z, 0-9, '_', '.', '-', starting with a letter; "
                       "each once), a concurrency from 1 to 100000, and a "
                       "rate limit from 0 (none) to 1000000 per period of "
                       "up to a day");
        }
        names[i] = q->name;
        limits[i] = q->concurrency;
        rates[i] = q->rate_limit;
        periods[i] = q->rate_period;
    }
    jobs_store_opts sto = {.lease = o.lease,
                           .max_attempts = o.max_attempts,
                           .check_timeout = o.check_timeout,
                           .vfs = o.sqlite_vfs};
    /* PostgreSQL on several loops: a service per loop (loops.c). */
    unsigned nl = jobs__loops_count(url, o.loops);
    int rc = nl ? 0 : jobs_store_open_ex(url, &sto, &j->store, err, errlen);
    if (rc < 0)
        goto fail;
    jobs_service_opts so = {
        .workers = o.workers,
        .allow = (const char *const *)j->allow,
        .nallow = o.nallow_command,
        .recover = o.requeue_interrupted ? JOBS_RECOVER_REQUEUE
                                         : JOBS_RECOVER_INTERRUPT,
        .max_batch = o.no_group_commit ? 1 : 0,
        .lease = o.lease,
        .retention = o.retention,
        .admin_token = j->admin_token,
        .queue_names = names,
        .queue_limits = limits,
        .queue_rates = rates,
        .queue_periods = periods,
        .nqueues = o.nqueues,
        .loops = o.loops,
    };
    if (nl)
        rc = jobs__loops_open(j, url, &sto, &so, nl, err, errlen);
    else
        rc = jobs_service_open(&j->svc, j->store, &so, err, errlen);
    if (rc < 0)
        goto fail;
    if (!nl && (rc = jobs__ext_open(&j->ext, j->svc, j->store, err,
                                    errlen)) < 0) {
        jobs_service_drain(j->svc, 0);
        jobs_service_close(j->svc);
        goto fail;
    }
    free(rates);
    free(periods);
    free(limits);
    free(names);
    *out = j;
    return 0;
fail:
    free(rates);
    free(periods);
    free(limits);
    free(names);
    jobs_store_close(j->store);
    free_allow(j->allow);
    free(j->admin_token);
    free(j);
    return rc;
}

int corio_jobs_shared(const corio_jobs *jobs)
{
    return jobs_store_shared(jobs->store);
}

/* A new job of type with spec, validated exactly as a POST. *prog gets a
 * command's argv[0] (malloc'ed) or NULL. 0, -EINVAL (err says why),
 * -ENOMEM. */
int jobs__build_job(const char *type, const char *spec, jobs_job **out,
                    char **prog, char *err, size_t errlen)
{
    *out = NULL;
    *prog = NULL;
    if (!type)
        return say(err, errlen, -EINVAL, "no type");
    /* The same validation as a POST: the spec with its "type" added. */
    json_error_t je;
    json_t *o = json_loads(spec ? spec : "{}", JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return say(err, errlen, -EINVAL, "the spec must be a JSON object");
    }
    int rc = json_object_get(o, "type")
                 ? -EINVAL
                 : json_object_set_new(o, "type", json_string(type));
    char *body = rc == 0 ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (rc < 0)
        return say(err, errlen, -EINVAL, "the spec must not hold 'type'");
    if (!body)
        return say(err, errlen, -ENOMEM, "out of memory");
    jobs_submission sub;
    char msg[256];
    rc = jobs_parse_submission(body, strlen(body), &sub, msg, sizeof msg);
    free(body);
    if (rc < 0)
        return say(err, errlen, rc == -ENOMEM ? rc : -EINVAL, msg);
    jobs_job *j = jobs_job_new(sub.type, sub.spec);
    if (j)
        jobs_job_apply_submission(j, &sub);
    int nomem = !j || (sub.unique_key && !j->unique_key);
    *prog = sub.prog;
    sub.prog = NULL;
    jobs_submission_free(&sub);
    if (nomem) {
        jobs_job_free(j);
        free(*prog);
        *prog = NULL;
        return say(err, errlen, -ENOMEM, "out of memory");
    }
    *out = j;
    return 0;
}

int corio_jobs_enqueue(corio_jobs *jobs, const char *type, const char *spec,
                       char id[27], char *err, size_t errlen)
{
    jobs_job *j;
    char *prog;
    int rc = jobs__build_job(type, spec, &j, &prog, err, errlen);
    if (rc < 0)
        return rc;
    /* This loop's service (PostgreSQL over loops), or a forwarder to the
     * home loop's. */
    const jobs_api *api = jobs__api_here(jobs__svc_here(jobs));
    if (j->type == JOBS_COMMAND && !api->allowed(api->ctx, prog)) {
        free(prog);
        jobs_job_free(j);
        return say(err, errlen, -EPERM, "the program is not allowed");
    }
    free(prog);
    char jid[JOBS_ID_LEN + 1], existing[JOBS_ID_LEN + 1] = "";
    memcpy(jid, j->id, sizeof jid);
    rc = api->submit(api->ctx, j, existing); /* takes j */
    if (rc < 0)
        return say(err, errlen, rc, jobs_strerror(rc));
    if (id)
        memcpy(id, rc == 1 ? existing : jid, sizeof jid);
    return rc;
}

int corio_jobs_enqueue_pg(struct corio_pg *conn, const char *type,
                          const char *spec, char id[27], char *err,
                          size_t errlen)
{
    jobs_job *j;
    char *prog;
    int rc = jobs__build_job(type, spec, &j, &prog, err, errlen);
    if (rc < 0)
        return rc;
    free(prog); /* a command is checked when it runs (--allow-command) */
    jobs_job *existing = NULL;
    rc = jobs_pg_insert_on(conn, j, &existing);
    if (rc == 0 && id)
        memcpy(id, j->id, JOBS_ID_LEN + 1);
    if (rc == -EEXIST && existing) {
        if (id)
            memcpy(id, existing->id, JOBS_ID_LEN + 1);
        rc = 1;
    }
    jobs_job_free(existing);
    jobs_job_free(j);
    if (rc < 0)
        say(err, errlen, rc, rc == -EPROTONOSUPPORT
                                 ? "built without PostgreSQL"
                                 : corio_strerror(rc));
    return rc;
}

void corio_jobs_kick(corio_jobs *jobs)
{
    jobs__runner_kick(jobs__svc_here(jobs)); /* this loop's claims */
    jobs__ext_kick(jobs__ext_here(jobs)); /* a SQLite store's inbox */
}

int corio_jobs_schedule(corio_jobs *jobs, const char *type,
                        const char *schedule, const char *spec, char *err,
                        size_t errlen)
{
    if (jobs->drained)
        return say(err, errlen, CORIO_ESHUTDOWN, "draining");
    return jobs__cron_add(jobs->ext, type, schedule, spec, err, errlen);
}

int corio_jobs_http_handle(corio_jobs *jobs, const char *prefix,
                           const corio_http_request *req,
                           corio_http_response *resp)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    const char *t = req->target;
    size_t tlen = req->target_len;
    if (plen) {
        /* Origin form only: "/prefix", "/prefix/...", "/prefix?...". */
        if (tlen < plen || memcmp(t, prefix, plen) != 0 ||
            (tlen > plen && t[plen] != '/' && t[plen] != '?'))
            return 0;
    }
    /* On another loop of the runtime: that loop's own service
     * (PostgreSQL), or calls forwarded to the home loop. */
    jobs_api api = *jobs__api_here(jobs__svc_here(jobs));
    api.prefix = prefix;
    if (!plen) {
        jobs_route(&api, req, resp);
        return 1;
    }
    /* The rest of the target, always starting with '/'. */
    size_t rest = tlen - plen;
    char *nt = malloc(rest + 2);
    if (!nt) {
        jobs_error_response(resp, 500, "out of memory");
        return 1;
    }
    size_t k = 0;
    if (rest == 0 || t[plen] != '/')
        nt[k++] = '/';
    memcpy(nt + k, t + plen, rest);
    nt[k + rest] = '\0';
    corio_http_request r = *req;
    r.target = nt;
    r.target_len = k + rest;
    jobs_route(&api, &r, resp);
    free(nt);
    return 1;
}

void corio_jobs_error_response(corio_http_response *resp, int status,
                               const char *message)
{
    jobs_error_response(resp, status, message);
}

void corio_jobs_set_http_server(corio_jobs *jobs, corio_http_server *srv)
{
    jobs_service_set_http(jobs__svc_here(jobs), srv);
}

int corio_jobs_drain(corio_jobs *jobs, double grace)
{
    jobs->drained = 1;
    if (jobs->units) /* every loop's, at once */
        return jobs__loops_drain(jobs, grace > 0 ? grace : 0);
    jobs__ext_stop(jobs->ext); /* no tick, no adoption from now on */
    return jobs_service_drain(jobs->svc, grace > 0 ? grace : 0);
}

void corio_jobs_close(corio_jobs *jobs)
{
    if (!jobs)
        return;
    if (!jobs->drained)
        corio_jobs_drain(jobs, 0);
    if (jobs->units)
        jobs__loops_close(jobs); /* each loop's, on its loop */
    jobs__ext_close(jobs->ext);
    jobs_service_close(jobs->svc);
    jobs_store_close(jobs->store);
    free_allow(jobs->allow);
    free(jobs->admin_token);
    free(jobs);
}

/* ---- inside a handler ------------------------------------------------------ */

const char *corio_job_id(const corio_job *job)
{
    return job->e->job->id;
}

const char *corio_job_type(const corio_job *job)
{
    return jobs_type_name(job->e->job->type);
}

int corio_job_attempt(const corio_job *job)
{
    return job->e->job->attempts;
}

int corio_job_set_result(corio_job *job, const char *json)
{
    json_t *v = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
    if (!v)
        return -EINVAL;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!text)
        return -ENOMEM;
    free(*job->result);
    *job->result = text;
    return 0;
}

int corio_job_fail(corio_job *job, const char *message, int flags)
{
    char *m = strdup(message ? message : "failed");
    if (m) {
        free(*job->error);
        *job->error = m;
    }
    job->flags = flags;
    return -EIO;
}

int corio_job_progress(corio_job *job, double fraction, const char *message)
{
    if (isnan(fraction))
        return -EINVAL;
    char *m = NULL;
    if (message && !(m = strdup(message)))
        return -ENOMEM;
    jobs_job *j = job->e->job;
    free(j->progress_msg);
    j->progress_msg = m;
    j->progress = fraction < 0 ? 0 : fraction > 1 ? 1 : fraction;
    j->has_progress = 1;
    if (job->e->home)
        jobs__progress_post(job->e); /* a job running on another loop */
    else if (job->e->svc->ext && job->e->svc->shared)
        jobs__pgx_progress_note(job->e->svc->ext, job->e);
    return 0;
}
