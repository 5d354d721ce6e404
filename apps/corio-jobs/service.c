/*
 * The service: corio-jobs' jobs_api over the store, the group committer
 * and the runner.
 *
 * The order of events for a job, and why:
 *   1. POST: the job enters the table as E_PENDING (invisible) and its
 *      insert goes to the committer; the request waits for the commit.
 *   2. The committer's hook sees the commit: the job becomes E_QUEUED and
 *      joins the run queue. The hook, not the request, does this, so a job
 *      whose request was cancelled after the commit still runs; a job whose
 *      commit failed leaves the table and nobody ever hears of it but the
 *      client, who got a 500.
 *   3. The 202 goes out.
 *   4. The dispatcher (runner.c) starts a task for it when a worker slot is
 *      free; the task records "running" (durably) before doing anything.
 *      (A job submitted to an idle queue takes its slot at once and its
 *      insert records "running": the hook starts its task; runner.c,
 *      jobs__prestart.)
 *   5. The task records the final state, then the job leaves the table;
 *      from then on GET reads it from the store.
 * GET of an active job reads the table (no store round trip); anything
 * else goes to the store on the thread pool.
 */
#include "ext.h"
#include "service_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table of active jobs ------------------------------------------- */

static size_t hash_id(const char *id)
{
    size_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    return h;
}

entry *jobs__entry_find(jobs_service *s, const char *id)
{
    for (entry *e = s->buckets[hash_id(id) & (s->nbuckets - 1)]; e;
         e = e->hnext)
        if (strcmp(e->job->id, id) == 0)
            return e;
    return NULL;
}

int jobs__table_add(jobs_service *s, entry *e)
{
    if (s->nentries >= s->nbuckets) { /* keep chains short: double */
        size_t n = s->nbuckets * 2;
        entry **b = calloc(n, sizeof *b);
        if (!b)
            return -ENOMEM;
        for (size_t i = 0; i < s->nbuckets; i++) {
            entry *x = s->buckets[i];
            while (x) {
                entry *nx = x->hnext;
                size_t k = hash_id(x->job->id) & (n - 1);
                x->hnext = b[k];
                b[k] = x;
                x = nx;
            }
        }
        free(s->buckets);
        s->buckets = b;
        s->nbuckets = n;
    }
    size_t k = hash_id(e->job->id) & (s->nbuckets - 1);
    e->hnext = s->buckets[k];
    s->buckets[k] = e;
    s->nentries++;
    e->refs++;
    return 0;
}

void jobs__table_remove(jobs_service *s, entry *e)
{
    entry **pp = &s->buckets[hash_id(e->job->id) & (s->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == e) {
            *pp = e->hnext;
            s->nentries--;
            jobs__entry_unref(e);
            return;
        }
    }
}

void jobs__list_push(entry *head, entry *e)
{
    e->prev = head->prev;
    e->next = head;
    head->prev->next = e;
    head->prev = e;
}

void jobs__list_remove(entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->next = e->prev = NULL;
}

entry *jobs__entry_new(jobs_service *s, jobs_job *j)
{
    entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->job = j;
    e->svc = s;
    atomic_init(&e->stop, 0);
    return e;
}

void jobs__entry_unref(entry *e)
{
    if (--e->refs > 0)
        return;
    if (e->done)
        corio_future_destroy(e->done);
    jobs_job_free(e->job);
    free(e);
}

/* ---- committing ------------------------------------------------------------ */

/* Called by the committer on the loop after every transaction, for each
 * write in it. */
static void on_commit(void *arg, int status, int kind, const jobs_job *j)
{
    jobs_service *s = arg;
    if (status == 0) {
        if (j->prev_status >= 0 && j->prev_status < JOBS_NSTATUS &&
            s->by_status[j->prev_status])
            s->by_status[j->prev_status]--;
        s->by_status[j->status]++;
    }
    if (kind != JOBS_W_INSERT)
        return;
    entry *e = jobs__entry_find(s, j->id);
    if (!e || e->state != E_PENDING)
        return;
    if (e->prestart) {
        if (status == 0)
            s->submitted++;
        jobs__prestart_commit(s, e, status);
        if (status != 0)
            jobs__table_remove(s, e);
    } else if (status == 0 && s->shared) {
        /* Shared: the job is in the store's queue, which any process may
         * claim from; this one is told to look at once. */
        s->submitted++;
        jobs__table_remove(s, e);
        jobs__runner_kick(s);
    } else if (status == 0 && j->status == JOBS_SCHEDULED) {
        s->submitted++; /* a delay or run_at: queued when due */
        jobs__sched_add(s, e);
    } else if (status == 0) {
        s->submitted++;
        jobs__enqueue(s, e);
    } else {
        jobs__table_remove(s, e);
    }
}

int jobs__finish(entry *e, int status, const char *result, const char *error)
{
    jobs_service *s = e->svc;
    jobs_job *j = e->job;
    e->state = E_FINISHING;
    j->prev_status = j->status;
    j->status = status;
    /* Only a shared store's shutdown hands a job back (created): it has
     * not finished. */
    j->finished_ms = jobs_status_terminal(status) ? jobs_now_ms() : 0;
    jobs_job_set_result(j, result);
    jobs_job_set_error(j, error);
    /* Progress is not stored: an ended job shows none, from memory as
     * from the store. */
    j->has_progress = 0;
    free(j->progress_msg);
    j->progress_msg = NULL;
    corio_scope sc;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    int rc = jobs_committer_submit(s->commit, JOBS_W_UPDATE, j, 1);
    /* A shared store that could not take the outcome (PostgreSQL down or
     * restarting) would keep the job 'running' under this process, whose
     * renewals keep its lease alive: stuck until the process exits, then
     * run again. So try again while the claim may still be this one's: up
     * to a lease after the first failure (the last renewal was earlier).
     * A retry of a write that did commit, or one that is too late, is
     * stopped by the fence and changes nothing. */
    double until = corio_now() + s->opts.lease;
    while (rc < 0 && s->shared && rc != CORIO_ESHUTDOWN &&
           corio_now() < until) {
        corio_sleep(0.2); /* shielded: it sleeps even when cancelled */
        rc = jobs_committer_submit(s->commit, JOBS_W_UPDATE, j, 1);
    }
    corio_scope_exit(&sc);
    if (rc < 0)
        fprintf(stderr, "corio-jobs: could not record job %s as %s: %s\n",
                j->id, jobs_status_name(status), jobs_strerror(rc));
    e->state = E_DONE;
    e->finish_rc = rc;
    if (e->done)
        corio_future_set_result(e->done, NULL);
    jobs__table_remove(s, e);
    return rc;
}

/* ---- the API ------------------------------------------------------------------ */

int jobs_mutant; /* jobs.h */


static int api_submit(void *ctx, jobs_job *j, char existing[JOBS_ID_LEN + 1])
{
    jobs_service *s = ctx;
    if (j->unique_key && !s->draining && !s->store->damaged)
        return jobs__submit_keyed(s, j, existing);
    return jobs__submit_plain(s, j);
}

int jobs__submit_plain(jobs_service *s, jobs_job *j)
{
    if (s->draining) {
        jobs_job_free(j);
        return CORIO_ESHUTDOWN;
    }
    if (s->store->damaged) { /* it would be acknowledged into damage */
        jobs_job_free(j);
        return JOBS_ECORRUPT;
    }
    entry *e = jobs__entry_new(s, j);
    if (!e) {
        jobs_job_free(j);
        return -ENOMEM;
    }
    e->refs = 1; /* ours, until the commit returns */
    int rc = jobs__table_add(s, e);
    if (rc == 0)
        jobs__prestart(s, e); /* an idle queue: it starts at the commit */
    if (rc == 0)
        rc = jobs_committer_submit(s->commit, JOBS_W_INSERT, j,
                                   !(jobs_mutant & JOBS_MUTANT_EARLY_ACK));
    /* Refused before it was queued (shutting down, no memory): no hook
     * will see it. A wait cut short (-ECANCELED, -ETIMEDOUT) leaves it
     * queued, and a failed commit has been through the hook. */
    if (rc < 0 && e->prestart && rc != -ECANCELED && rc != -ETIMEDOUT)
        jobs__prestart_commit(s, e, rc);
    jobs__entry_unref(e);
    return rc;
}

/* A store read on the pool. Heap-allocated: the worker reads it. */
typedef struct rd {
    jobs_store *store;
    char id[JOBS_ID_LEN + 1];
    int status;
    char after[JOBS_ID_LEN + 1];
    size_t limit;
    jobs_job *one;
    jobs_job **many;
    size_t n;
} rd;

static int rd_get(void *arg)
{
    rd *r = arg;
    return r->store->ops->get(r->store, r->id, &r->one);
}

static int rd_list(void *arg)
{
    rd *r = arg;
    return r->store->ops->list(r->store, r->status,
                               r->after[0] ? r->after : NULL, r->limit,
                               &r->many, &r->n);
}

int jobs__store_get(jobs_service *s, const char *id, jobs_job **out)
{
    *out = NULL;
    rd *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->store = s->store;
    snprintf(r->id, sizeof r->id, "%s", id);
    int rc = jobs_store_call(s->store, rd_get, r);
    *out = r->one;
    free(r);
    return rc;
}

static int api_get(void *ctx, const char *id, jobs_job **out)
{
    jobs_service *s = ctx;
    entry *e = jobs__entry_find(s, id);
    if (e && e->state != E_PENDING) {
        jobs__progress_pull(e); /* an attempt on another loop */
        *out = jobs_job_clone(e->job);
        return *out ? 0 : -ENOMEM;
    }
    int rc = jobs__store_get(s, id, out);
    if (rc == 0 && s->shared) /* running elsewhere: its stored progress */
        jobs__pgx_progress_fill(s, *out);
    return rc;
}

static int api_list(void *ctx, int status, const char *after, size_t limit,
                    jobs_job ***out, size_t *n)
{
    jobs_service *s = ctx;
    *out = NULL;
    *n = 0;
    rd *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->store = s->store;
    r->status = status;
    if (after)
        snprintf(r->after, sizeof r->after, "%s", after);
    r->limit = limit;
    int rc = jobs_store_call(s->store, rd_list, r);
    *out = r->many;
    *n = r->n;
    free(r);
    return rc;
}

static int api_cancel(void *ctx, const char *id, jobs_job **out)
{
    jobs_service *s = ctx;
    *out = NULL;
    entry *e = jobs__entry_find(s, id);
    if (s->shared && (!e || e->state == E_PENDING))
        return jobs__shared_cancel(s, id, out); /* held elsewhere, or none */
    if (!e && s->ext) /* inserted by another connection, not queued yet */
        e = jobs__sqx_adopt(s, id);
    if (!e || e->state == E_PENDING) {
        /* Not active here: finished already (or unknown). */
        int rc = jobs__store_get(s, id, out);
        if (rc < 0)
            return rc;
        return -EALREADY;
    }
    e->refs++;
    int rc = 0;
    if (e->state == E_QUEUED || e->state == E_SCHEDULED) {
        if (e->state == E_QUEUED) {
            jobs__dequeue(s, e);
        } else {
            jobs__list_remove(e);
            s->nsched--;
        }
        e->cancel = 1;
        rc = jobs__finish(e, JOBS_CANCELLED, NULL,
                          e->job->attempts ? "cancelled by DELETE while "
                                             "waiting to be retried"
                                           : "cancelled by DELETE before it "
                                             "started");
    } else {
        if (e->state == E_RUNNING && !e->cancel) {
            e->cancel = 1;
            atomic_store(&e->stop, 1); /* pool work polls this */
            corio_cancel(e->task);
        }
        if (e->state != E_DONE && !e->done)
            rc = corio_future_create(NULL, &e->done);
        if (rc == 0 && e->state != E_DONE)
            rc = corio_future_await(e->done, NULL);
        /* "Cancelled" is an answer only once it is recorded: a commit
         * that failed (the store's error) leaves the job as the store
         * last had it. */
        if (rc == 0 && e->state == E_DONE && e->finish_rc < 0)
            rc = e->finish_rc;
    }
    if (rc == 0 && s->shared && e->job->status == JOBS_SCHEDULED) {
        /* It ended its attempt as this DELETE came, failed with attempts
         * left: now it waits in the store, where DELETE cancels it. */
        jobs__entry_unref(e);
        return jobs__shared_cancel(s, id, out);
    }
    if (rc == 0) {
        *out = jobs_job_clone(e->job);
        rc = !*out ? -ENOMEM
                   : e->job->status == JOBS_CANCELLED ? 0 : -EALREADY;
    }
    jobs__entry_unref(e);
    return rc;
}

static int api_allowed(void *ctx, const char *prog)
{
    jobs_service *s = ctx;
    for (size_t i = 0; i < s->opts.nallow; i++)
        if (strcmp(s->allow[i], prog) == 0)
            return 1;
    return 0;
}

static int api_health(void *ctx)
{
    jobs_service *s = ctx;
    if (s->store->damaged)
        return JOBS_ECORRUPT;
    return s->draining ? CORIO_ESHUTDOWN : 0;
}

void jobs__metrics_snap(jobs_service *s, jobs_msnap *m)
{
    jobs_commit_stats cs;
    jobs_committer_stats(s->commit, &cs);
    memset(m, 0, sizeof *m);
    m->submitted = s->submitted;
    m->running = s->nrunning;
    m->workers = (uint64_t)s->opts.workers;
    m->lag = s->lag;
    m->lag_max = s->lag_max;
    m->transactions = cs.transactions;
    m->writes = cs.writes;
    m->failed = cs.failed;
    m->pruned = s->pruned;
}

/* Adds b's figures to a's (lag: the worst). */
void jobs__metrics_add(jobs_msnap *a, const jobs_msnap *b)
{
    a->submitted += b->submitted;
    a->running += b->running;
    a->workers += b->workers;
    a->lag = b->lag > a->lag ? b->lag : a->lag;
    a->lag_max = b->lag_max > a->lag_max ? b->lag_max : a->lag_max;
    a->transactions += b->transactions;
    a->writes += b->writes;
    a->failed += b->failed;
    a->pruned += b->pruned;
}

static int api_metrics(void *ctx, corio_http_buf *b)
{
    jobs_service *s = ctx;
    /* This loop's figures, plus, when every loop has a service of its own
     * (PostgreSQL, lib.c), the others' read on their loops. */
    jobs_msnap m;
    corio_http_server_stats hs;
    int have_http = 0;
    if (jobs__multi_peers_sum(s, &m, &hs, &have_http) == 0) {
        jobs__metrics_snap(s, &m);
        have_http = jobs__multi_http_stats(s, &hs); /* every loop's server */
    }
    corio_http_buf_puts(b, "# HELP corio_jobs_jobs Jobs in the store, by "
                           "status.\n# TYPE corio_jobs_jobs gauge\n");
    for (int st = 0; st < JOBS_NSTATUS; st++)
        corio_http_buf_printf(b, "corio_jobs_jobs{status=\"%s\"} %llu\n",
                              jobs_status_name(st),
                              (unsigned long long)s->by_status[st]);
    corio_http_buf_printf(
        b,
        "# HELP corio_jobs_submitted_total Jobs accepted (durably) since "
        "start.\n# TYPE corio_jobs_submitted_total counter\n"
        "corio_jobs_submitted_total %llu\n"
        "# HELP corio_jobs_queued Jobs waiting for a worker.\n"
        "# TYPE corio_jobs_queued gauge\ncorio_jobs_queued %zu\n"
        "# HELP corio_jobs_running Jobs running now.\n"
        "# TYPE corio_jobs_running gauge\ncorio_jobs_running %zu\n"
        "# HELP corio_jobs_workers Most jobs that may run at once.\n"
        "# TYPE corio_jobs_workers gauge\ncorio_jobs_workers %llu\n"
        "# HELP corio_tasks_alive Tasks alive on the loop.\n"
        "# TYPE corio_tasks_alive gauge\ncorio_tasks_alive %zu\n"
        "# HELP corio_loop_lag_seconds How late a 100 ms timer fired, last "
        "probe.\n# TYPE corio_loop_lag_seconds gauge\n"
        "corio_loop_lag_seconds %.6f\n"
        "# HELP corio_loop_lag_max_seconds Worst loop lag since start.\n"
        "# TYPE corio_loop_lag_max_seconds gauge\n"
        "corio_loop_lag_max_seconds %.6f\n"
        "# HELP corio_jobs_commits_total Store transactions (group "
        "commits).\n# TYPE corio_jobs_commits_total counter\n"
        "corio_jobs_commits_total %llu\n"
        "# HELP corio_jobs_commit_writes_total Writes committed.\n"
        "# TYPE corio_jobs_commit_writes_total counter\n"
        "corio_jobs_commit_writes_total %llu\n"
        "# HELP corio_jobs_commit_failures_total Failed transactions.\n"
        "# TYPE corio_jobs_commit_failures_total counter\n"
        "corio_jobs_commit_failures_total %llu\n"
        "# HELP corio_jobs_pruned_total Ended jobs deleted by retention.\n"
        "# TYPE corio_jobs_pruned_total counter\n"
        "corio_jobs_pruned_total %llu\n",
        (unsigned long long)m.submitted,
        /* Shared: the queue is the store's, every process's (recounted
         * every 15 s, this process's own changes added in between). */
        s->shared ? (size_t)s->by_status[JOBS_CREATED] : s->nqueued,
        m.running, (unsigned long long)m.workers,
        jobs__multi_tasks_alive(s), m.lag, m.lag_max,
        (unsigned long long)m.transactions, (unsigned long long)m.writes,
        (unsigned long long)m.failed, (unsigned long long)m.pruned);
    jobs__multi_metrics(s, b);
    if (have_http) {
        corio_http_buf_puts(b, "# HELP corio_http_requests_total HTTP "
                               "requests handled.\n# TYPE "
                               "corio_http_requests_total counter\n");
        corio_http_buf_printf(b, "corio_http_requests_total %llu\n",
                              (unsigned long long)hs.requests);
        corio_http_buf_puts(b, "# HELP corio_http_responses_total HTTP "
                               "responses by status class.\n# TYPE "
                               "corio_http_responses_total counter\n");
        for (int c = 1; c <= 5; c++)
            corio_http_buf_printf(b, "corio_http_responses_total{code=\"%dxx\"}"
                                  " %llu\n", c,
                                  (unsigned long long)hs.responses[c]);
        corio_http_buf_printf(
            b,
            "# HELP corio_http_connections_open Open HTTP connections.\n"
            "# TYPE corio_http_connections_open gauge\n"
            "corio_http_connections_open %zu\n"
            "# HELP corio_http_rejected_total Requests refused by the "
            "parser (400, 413, 431, ...).\n"
            "# TYPE corio_http_rejected_total counter\n"
            "corio_http_rejected_total %llu\n"
            "# HELP corio_http_timeouts_total Connections ended by a "
            "timeout.\n# TYPE corio_http_timeouts_total counter\n"
            "corio_http_timeouts_total %llu\n",
            hs.open, (unsigned long long)hs.rejected,
            (unsigned long long)hs.timeouts);
    }
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------ */

/* Measures loop lag: how late a periodic timer fires. */
static void *lag_main(void *arg)
{
    jobs_service *s = arg;
    double iv = s->opts.lag_interval;
    for (;;) {
        double t0 = corio_now();
        if (corio_sleep(iv) < 0)
            break;
        double lag = corio_now() - t0 - iv;
        s->lag = lag > 0 ? lag : 0;
        if (s->lag > s->lag_max)
            s->lag_max = s->lag;
    }
    return NULL;
}

typedef struct startup {
    jobs_store *store;
    int policy;
    size_t recovered;
    uint64_t counts[JOBS_NSTATUS];
} startup;

static int st_recover(void *arg)
{
    startup *u = arg;
    int rc = u->store->ops->recover(u->store, u->policy, jobs_now_ms(),
                                    &u->recovered);
    if (rc == 0)
        rc = u->store->ops->counts(u->store, u->counts);
    return rc;
}

/* Queues every job of `status` (created: on the run queue, in id
 * (creation) order; scheduled: on the scheduled list), a page at a time. */
static int load_queue(jobs_service *s, int status)
{
    char after[JOBS_ID_LEN + 1] = "";
    for (;;) {
        jobs_job **v;
        size_t n;
        int rc = api_list(s, status, after[0] ? after : NULL, 1000, &v, &n);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            entry *e = jobs__entry_new(s, v[i]);
            if (!e || jobs__table_add(s, e) < 0) {
                free(e);
                jobs_job_free_array(v + i, n - i);
                return -ENOMEM;
            }
            v[i] = NULL;
            memcpy(after, e->job->id, sizeof after);
            if (status == JOBS_SCHEDULED) {
                jobs__sched_add(s, e);
                continue;
            }
            jobs__enqueue(s, e);
        }
        free(v);
        if (n < 1000)
            return 0;
    }
}

int jobs_service_open(jobs_service **sp, jobs_store *store,
                      const jobs_service_opts *opts, char *err,
                      size_t errlen)
{
    *sp = NULL;
    jobs_service *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->store = store;
    if (opts)
        s->opts = *opts;
    if (s->opts.workers == 0)
        s->opts.workers = 4;
    else if (s->opts.workers < 0)
        s->opts.workers = 0; /* a loop with no share of them (lib.c) */
    if (s->opts.lag_interval <= 0)
        s->opts.lag_interval = 0.1;
    if (s->opts.lease <= 0)
        s->opts.lease = 30;
    if (s->opts.poll <= 0)
        s->opts.poll = 0.25;
    if (s->opts.counts_every <= 0)
        s->opts.counts_every = COUNTS_EVERY;
    s->shared = jobs_store_shared(store);
    s->running.next = s->running.prev = &s->running;
    s->sched.next = s->sched.prev = &s->sched;
    s->nbuckets = 1024;
    s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
    /* Run queues: the default, then one per queue with its own limit. */
    s->nrqs = 1 + s->opts.nqueues;
    s->rqs = calloc(s->nrqs, sizeof *s->rqs);
    for (size_t i = 0; s->rqs && i < s->nrqs; i++) {
        jobs_runq *q = &s->rqs[i];
        q->svc = s;
        q->limit = i ? s->opts.queue_limits[i - 1] : s->opts.workers;
        if (i)
            snprintf(q->name, sizeof q->name, "%s",
                     s->opts.queue_names[i - 1]);
        q->head = calloc(1, sizeof *q->head);
        if (!q->head) {
            free(s->rqs); /* the heads so far leak only on ENOMEM */
            s->rqs = NULL;
            break;
        }
        q->head->next = q->head->prev = q->head;
        if (i && s->opts.queue_rates &&
            jobs__rate_init(q, s->opts.queue_rates[i - 1],
                            s->opts.queue_periods[i - 1]) < 0) {
            free(s->rqs);
            s->rqs = NULL;
            break;
        }
    }
    s->opts.queue_names = NULL;
    s->opts.queue_limits = NULL;
    s->opts.queue_rates = NULL;
    s->opts.queue_periods = NULL;
    s->allow = calloc(s->opts.nallow + 1, sizeof *s->allow);
    int rc = s->buckets && s->allow && s->rqs ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < s->opts.nallow; i++)
        if (!(s->allow[i] = strdup(s->opts.allow[i])))
            rc = -ENOMEM;
    s->opts.allow = NULL;
    s->api = (jobs_api){s, api_submit, api_get, api_list, api_cancel,
                        api_allowed, api_health, api_metrics, NULL,
                        jobs__api_retry, s->opts.admin_token, NULL, NULL};
    jobs__dashboard_api(s, &s->api);
    if (rc == 0)
        rc = jobs__multi_open(s, s->opts.loops);

    startup *u = rc == 0 ? calloc(1, sizeof *u) : NULL;
    if (rc == 0 && !u)
        rc = -ENOMEM;
    if (rc == 0) {
        u->store = store;
        u->policy = s->opts.recover;
        rc = jobs_store_call(store, st_recover, u);
        if (rc < 0)
            snprintf(err, errlen, "recovering the store %s: %s",
                     store->name ? store->name : "", jobs_strerror(rc));
        else
            memcpy(s->by_status, u->counts, sizeof s->by_status);
        if (rc == 0 && u->recovered)
            fprintf(stderr, "corio-jobs: %zu job(s) were running when the "
                    "server stopped: %s\n", u->recovered,
                    s->opts.recover == JOBS_RECOVER_REQUEUE
                        ? "queued again"
                        : "marked interrupted");
        free(u);
    }
    if (rc == 0 && !s->shared &&
        ((rc = load_queue(s, JOBS_CREATED)) < 0 ||
         (rc = load_queue(s, JOBS_SCHEDULED)) < 0))
        snprintf(err, errlen, "loading queued jobs from %s: %s",
                 store->name ? store->name : "the store", jobs_strerror(rc));
    jobs_committer_opts co = {.max_batch = s->opts.max_batch,
                              .hook = on_commit, .hook_arg = s};
    if (rc == 0)
        rc = jobs_committer_create(&s->commit, store, &co);
    if (rc == 0)
        rc = corio_http_client_create(&s->http_client);
    if (rc == 0)
        rc = jobs__runner_start(s);
    if (rc == 0) {
        corio_spawn_opts lo = {.name = "jobs-lag-probe", .stack_size = 64 << 10};
        rc = corio_spawn_ex(&s->lag_task, lag_main, s, &lo);
    }
    if (rc == 0 && s->opts.retention > 0) {
        corio_spawn_opts po = {.name = "jobs-retention"};
        rc = corio_spawn_ex(&s->prune_task, jobs__prune_main, s, &po);
    }
    if (rc < 0) {
        if (!err[0])
            snprintf(err, errlen, "starting the service: %s",
                     corio_strerror(rc));
        s->draining = 1;
        jobs__runner_stop(s, 0);
        jobs_service_close(s);
        return rc;
    }
    *sp = s;
    return 0;
}

const jobs_api *jobs_service_api(jobs_service *s)
{
    return &s->api;
}

void jobs_service_set_http(jobs_service *s, corio_http_server *srv)
{
    jobs__multi_set_http(s, srv);
}

int jobs_service_drain(jobs_service *s, double grace)
{
    s->draining = 1;
    return jobs__runner_stop(s, grace);
}

void jobs_service_close(jobs_service *s)
{
    if (!s)
        return;
    jobs__multi_close(s); /* calls from other loops end first */
    if (s->prune_task) {
        corio_cancel(s->prune_task);
        corio_await(s->prune_task, NULL);
    }
    if (s->lag_task) {
        corio_cancel(s->lag_task);
        corio_await(s->lag_task, NULL);
    }
    corio_http_client_destroy(s->http_client); /* no fetch runs now */
    /* Flush the committer first: its hook may still queue jobs whose
     * inserts were in flight. */
    if (s->commit)
        jobs_committer_close(s->commit);
    /* Jobs still queued stay created in the store: the next start runs
     * them. Only the memory goes. */
    for (size_t i = 0; s->rqs && i < s->nrqs; i++) {
        entry *h = s->rqs[i].head;
        while (h->next != h) {
            entry *e = h->next;
            jobs__list_remove(e);
            jobs__table_remove(s, e);
        }
        free(h);
        jobs__rate_free(&s->rqs[i]);
    }
    free(s->rqs);
    while (s->sched.next != &s->sched) { /* they stay scheduled */
        entry *e = s->sched.next;
        jobs__list_remove(e);
        jobs__table_remove(s, e);
    }
    for (size_t i = 0; s->buckets && i < s->nbuckets; i++) {
        while (s->buckets[i]) { /* pending inserts whose writers left */
            entry *e = s->buckets[i];
            s->buckets[i] = e->hnext;
            jobs__entry_unref(e);
        }
    }
    free(s->buckets);
    for (size_t i = 0; s->allow && i < s->opts.nallow; i++)
        free(s->allow[i]);
    free(s->allow);
    free(s);
}

void jobs_service_stats_get(const jobs_service *s, jobs_service_stats *out)
{
    memcpy(out->by_status, s->by_status, sizeof out->by_status);
    out->submitted = s->submitted;
    out->queued = s->nqueued;
    out->running = s->nrunning;
    out->lag = s->lag;
    out->lag_max = s->lag_max;
}
