/*
 * corio-jobs on every core (issue 14, item 8): the service on a
 * corio_run_multi runtime.
 *
 * Shared-nothing. The service (the store and its single writer, the group
 * committer; the table of active jobs; the run queues; the counters) lives
 * on one loop, its HOME, and is touched only there, without locks, as on
 * one loop. Two things cross loops, both as messages through the lock-free
 * inboxes of corio_spawn_on (one wake-up per destination loop and
 * iteration, none while it is awake):
 *
 *  - Requests. An HTTP server on every loop (SO_REUSEPORT) parses and
 *    validates a request on the loop that accepted it (the router runs
 *    there) and forwards each call of the jobs_api (submit, get, list,
 *    cancel, retry, health, metrics) to the home loop as one task there
 *    (jobs__proxy_api). A submission's insert then joins the home loop's
 *    group commit with everyone else's: one writer, one fsync per batch,
 *    and the 202 leaves only after the commit, as on one loop.
 *  - Job work. The home loop's job task records "running", then runs the
 *    attempt (the handler, with its timeout) on a loop chosen round robin
 *    (jobs__run_attempt), as a child of a task group: cancelling the job
 *    (DELETE, drain, a lost lease) cancels it there, and the home task
 *    waits for it to end before it records the outcome. The attempt works
 *    on a copy of the job (a shadow entry); its progress reaches the home
 *    loop's copy through a one-slot lock-free mailbox that GET reads.
 *
 * Nothing here takes a lock. Counters that all loops read (the HTTP
 * servers' stats, tasks alive) are read on their own loops and summed.
 */
#include "service_int.h"

#include "ext.h" /* jobs__pgx_progress_note */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocated by jobs__multi_open (with the service), freed by
 * jobs__multi_close. */
struct jobs_multi {
    corio_loop *home;
    int home_index;          /* its index in the runtime (0 outside one) */
    unsigned nloops;         /* loops jobs run on: 0..nloops-1 */
    unsigned nslots;         /* loops of the runtime (1 outside one) */
    unsigned next;           /* round robin (home loop only) */
    atomic_int inflight;     /* forwarded calls that have not ended */
    uint64_t *executed;      /* attempts started per loop (home loop) */
    uint64_t *requests;      /* HTTP requests per loop, as last read */
    corio_http_client **clients; /* [i]: fetch jobs on loop i (loop i) */
    _Atomic(corio_http_server *) *http; /* [i]: loop i's server (set there) */
    jobs_api proxy;          /* the API as other loops call it */
    /* Every loop its own service (PostgreSQL; lib.c): [i] loop i's, or
     * NULL. The caller's array; NULL when this service is the only one. */
    jobs_service *const *peers;
    uint64_t *seen;          /* peers: attempts per loop, as last read */
};

/* ---- the attempt on another loop ----------------------------------------- */

/* One attempt run on another loop. Allocated by jobs__run_attempt on the
 * home loop, freed there once the attempt's task has ended. The shadow is
 * the attempt's own entry (its job a copy) and belongs to the remote loop
 * while the task runs; msg/frac/has are the progress mailbox, written
 * there and read here. */
typedef struct jobs_xrun {
    entry shadow;            /* first: jobs__progress_post finds x from it */
    _Atomic(char *) msg;     /* newest message not yet taken, or NULL */
    _Atomic uint64_t frac;   /* the fraction's bits */
    atomic_int has;          /* progress was reported */
    int note;                /* shared store with the library's extras:
                                progress goes to the store (decided on the
                                home loop when the attempt starts) */
    int rc, timed_out;
    char *result, *error;
} jobs_xrun;

static char cleared; /* the mailbox's "the message is now none" */

/* A job's progress changed on another loop: the home loop takes it and
 * notes it for the store (a shared store's progress is every process's).
 * Counted in inflight: the service outlives it. */
typedef struct xnote {
    jobs_service *s;
    char id[JOBS_ID_LEN + 1];
} xnote;

static void *xnote_main(void *arg)
{
    xnote *n = arg;
    jobs_service *s = n->s;
    entry *e = jobs__entry_find(s, n->id);
    if (e && e->xrun) {
        jobs__progress_pull(e);
        if (s->ext && s->shared)
            jobs__pgx_progress_note(s->ext, e);
    }
    free(n);
    atomic_fetch_sub(&s->multi->inflight, 1);
    return NULL;
}

void jobs__progress_post(entry *sh)
{
    if (!sh->home)
        return; /* the home loop's own attempt: e->job is the job */
    jobs_xrun *x = (jobs_xrun *)sh;
    jobs_job *j = sh->job;
    double f = j->progress;
    uint64_t bits;
    memcpy(&bits, &f, sizeof bits);
    atomic_store_explicit(&x->frac, bits, memory_order_relaxed);
    char *m = j->progress_msg ? strdup(j->progress_msg) : &cleared;
    if (!m)
        return; /* no memory: the home loop keeps the older message */
    atomic_store_explicit(&x->has, 1, memory_order_release);
    char *old = atomic_exchange_explicit(&x->msg, m, memory_order_acq_rel);
    if (old != &cleared)
        free(old); /* never taken: ours again */
    /* The mailbox was empty: tell the home loop (one message in flight per
     * job at most; later reports wait in the mailbox for it). */
    xnote *n = !old && x->note ? calloc(1, sizeof *n) : NULL;
    if (n) {
        jobs_multi *mu = sh->svc->multi;
        n->s = sh->svc;
        memcpy(n->id, j->id, sizeof n->id);
        atomic_fetch_add(&mu->inflight, 1);
        if (corio_spawn_on(NULL, mu->home, xnote_main, n) < 0) {
            atomic_fetch_sub(&mu->inflight, 1);
            free(n);
        }
    }
}

void jobs__progress_pull(entry *e)
{
    jobs_xrun *x = e->xrun;
    if (!x || !atomic_load_explicit(&x->has, memory_order_acquire))
        return;
    uint64_t bits = atomic_load_explicit(&x->frac, memory_order_relaxed);
    double f;
    memcpy(&f, &bits, sizeof f);
    e->job->has_progress = 1;
    e->job->progress = f;
    char *m = atomic_exchange_explicit(&x->msg, NULL, memory_order_acq_rel);
    if (!m)
        return; /* no new message */
    free(e->job->progress_msg);
    e->job->progress_msg = m == &cleared ? NULL : m;
}

atomic_int *jobs__stop_flag(entry *e)
{
    /* The home entry's: the canceller raises it there. */
    return e->home ? &e->home->stop : &e->stop;
}

corio_http_client *jobs__http_client(entry *e)
{
    jobs_service *s = e->svc;
    if (!e->home || !s->multi)
        return s->http_client;
    jobs_multi *m = s->multi;
    int i = corio_loop_index(NULL);
    if (i < 0 || (unsigned)i >= m->nslots)
        return NULL;
    if (!m->clients[i] && corio_http_client_create(&m->clients[i]) < 0)
        m->clients[i] = NULL;
    return m->clients[i];
}

/* The attempt: the job's work under its timeout. */
static int attempt(entry *e, char **result, char **error, int *timed_out)
{
    corio_scope sc;
    double t = e->job->timeout;
    e->deadline = t > 0 ? corio_now() + t : 0;
    corio_scope_enter(&sc, t > 0 ? t : -1, 0);
    int rc = jobs__execute(e, result, error);
    *timed_out = corio_scope_exit(&sc) == 1 && rc != 0;
    e->deadline = 0;
    return rc;
}

static void *xrun_main(void *arg)
{
    jobs_xrun *x = arg;
    x->rc = attempt(&x->shadow, &x->result, &x->error, &x->timed_out);
    return NULL;
}

int jobs__run_attempt(entry *e, char **result, char **error, int *timed_out)
{
    jobs_service *s = e->svc;
    jobs_multi *m = s->multi;
    *result = *error = NULL;
    *timed_out = 0;
    corio_loop *loop = NULL;
    unsigned i = 0;
    if (m && m->nloops > 1) {
        i = m->next++ % m->nloops;
        loop = (int)i == m->home_index ? NULL : corio_loop_get(i);
    }
    jobs_xrun *x = loop ? calloc(1, sizeof *x) : NULL;
    if (x && !(x->shadow.job = jobs_job_clone(e->job))) {
        free(x);
        x = NULL;
    }
    corio_group *g = NULL;
    if (x && corio_group_create(&g) < 0)
        g = NULL;
    if (x && g) {
        x->shadow.svc = s;
        x->shadow.home = e;
        x->shadow.state = E_RUNNING;
        atomic_init(&x->shadow.stop, 0);
        atomic_init(&x->msg, NULL);
        atomic_init(&x->frac, 0);
        atomic_init(&x->has, 0);
        x->rc = -ECANCELED; /* if it is cancelled before it starts */
        x->note = s->shared && s->ext;
        if (corio_group_spawn_on(g, loop, xrun_main, x) == 0) {
            m->executed[i]++;
            e->xrun = x;
            /* The group waits for the attempt to end even when this task
             * is interrupted (DELETE, drain): then it cancels it first. */
            corio_group_wait(g);
            corio_group_destroy(g);
            jobs__progress_pull(e);
            e->xrun = NULL;
            char *left = atomic_exchange(&x->msg, NULL);
            if (left != &cleared)
                free(left);
            e->noretry = x->shadow.noretry;
            *result = x->result;
            *error = x->error;
            *timed_out = x->timed_out;
            int rc = x->rc;
            jobs_job_free(x->shadow.job);
            free(x);
            return rc;
        }
    }
    /* On this loop: one loop, the home loop's turn, or no memory. */
    if (g)
        corio_group_destroy(g);
    if (x) {
        jobs_job_free(x->shadow.job);
        free(x);
    }
    if (m)
        m->executed[m->home_index]++;
    return attempt(e, result, error, timed_out);
}

/* ---- calls forwarded to the home loop -------------------------------------- */

enum { X_SUBMIT, X_GET, X_LIST, X_LIST_DESC, X_CANCEL, X_RETRY, X_HEALTH,
       X_METRICS, X_COUNTS };

/* One forwarded call. Allocated by the calling loop, run by a task on the
 * home loop; two references (the caller's, the home task's): the last to
 * let go frees it with any output the caller did not take (a caller
 * interrupted by its server's close leaves before the home task ends). */
typedef struct xcall {
    atomic_int refs;
    int op;
    jobs_service *s;
    jobs_job *j;                        /* submit: taken by the home task */
    char id[JOBS_ID_LEN + 1];           /* get/cancel/retry; submit: existing */
    char after[JOBS_ID_LEN + 1];
    int status;
    size_t limit;
    jobs_job *one;
    jobs_job **many;
    size_t n;
    corio_http_buf buf;
    uint64_t by_status[JOBS_NSTATUS];   /* counts */
    jobs_queue_count *q;
    size_t nq;
    int rc;
} xcall;

static void xc_put(xcall *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    jobs_job_free(c->j);
    jobs_job_free(c->one);
    jobs_job_free_array(c->many, c->n);
    corio_http_buf_free(&c->buf);
    free(c->q);
    free(c);
}

static void *xcall_main(void *arg)
{
    xcall *c = arg;
    jobs_service *s = c->s;
    const jobs_api *a = &s->api;
    switch (c->op) {
    case X_SUBMIT: {
        jobs_job *j = c->j;
        c->j = NULL;
        c->id[0] = '\0';
        c->rc = a->submit(a->ctx, j, c->id);
        break;
    }
    case X_GET: c->rc = a->get(a->ctx, c->id, &c->one); break;
    case X_LIST:
        c->rc = a->list(a->ctx, c->status, c->after[0] ? c->after : NULL,
                        c->limit, &c->many, &c->n);
        break;
    case X_LIST_DESC:
        c->rc = a->list_desc(a->ctx, c->status, c->after[0] ? c->after : NULL,
                             c->limit, &c->many, &c->n);
        break;
    case X_COUNTS: c->rc = a->counts(a->ctx, c->by_status, &c->q, &c->nq); break;
    case X_CANCEL: c->rc = a->cancel(a->ctx, c->id, &c->one); break;
    case X_RETRY: c->rc = a->retry(a->ctx, c->id, &c->one); break;
    case X_HEALTH: c->rc = a->health(a->ctx); break;
    default: c->rc = a->metrics(a->ctx, &c->buf); break;
    }
    jobs_multi *m = s->multi;
    xc_put(c);
    atomic_fetch_sub(&m->inflight, 1); /* after its last touch of s */
    return NULL;
}

/* Runs c on the home loop and waits for it. Returns 0 when it has run
 * (c->rc is the call's outcome; the caller takes the outputs, then
 * xc_put), or an error (c is let go). */
static int forward(jobs_service *s, xcall *c)
{
    jobs_multi *m = s->multi;
    atomic_init(&c->refs, 2);
    c->s = s;
    atomic_fetch_add(&m->inflight, 1);
    corio_xtask *h;
    int rc = corio_spawn_on(&h, m->home, xcall_main, c);
    if (rc < 0) {
        atomic_fetch_sub(&m->inflight, 1);
        atomic_store(&c->refs, 1);
        xc_put(c);
        return rc;
    }
    /* Shielded: the home task always runs to its end (a submission is
     * recorded or not as its commit goes, as on one loop). */
    rc = corio_xtask_await(h, NULL, CORIO_AWAIT_SHIELD);
    if (rc < 0)
        xc_put(c);
    return rc;
}

static xcall *xc_new(int op)
{
    xcall *c = calloc(1, sizeof *c);
    if (c)
        c->op = op;
    return c;
}

static int px_submit(void *ctx, jobs_job *j, char existing[JOBS_ID_LEN + 1])
{
    xcall *c = xc_new(X_SUBMIT);
    if (!c) {
        jobs_job_free(j);
        return -ENOMEM;
    }
    c->j = j;
    int rc = forward(ctx, c);
    if (rc < 0)
        return rc;
    rc = c->rc;
    memcpy(existing, c->id, JOBS_ID_LEN + 1);
    xc_put(c);
    return rc;
}

/* get, cancel, retry: one id in, one job out. */
static int px_one(void *ctx, int op, const char *id, jobs_job **out)
{
    *out = NULL;
    xcall *c = xc_new(op);
    if (!c)
        return -ENOMEM;
    snprintf(c->id, sizeof c->id, "%s", id);
    int rc = forward(ctx, c);
    if (rc < 0)
        return rc;
    rc = c->rc;
    *out = c->one;
    c->one = NULL;
    xc_put(c);
    return rc;
}

static int px_get(void *ctx, const char *id, jobs_job **out)
{
    return px_one(ctx, X_GET, id, out);
}

static int px_cancel(void *ctx, const char *id, jobs_job **out)
{
    return px_one(ctx, X_CANCEL, id, out);
}

static int px_retry(void *ctx, const char *id, jobs_job **out)
{
    return px_one(ctx, X_RETRY, id, out);
}

static int px_list_op(void *ctx, int op, int status, const char *after,
                      size_t limit, jobs_job ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    xcall *c = xc_new(op);
    if (!c)
        return -ENOMEM;
    c->status = status;
    c->limit = limit;
    if (after)
        snprintf(c->after, sizeof c->after, "%s", after);
    int rc = forward(ctx, c);
    if (rc < 0)
        return rc;
    rc = c->rc;
    *out = c->many;
    *n = c->n;
    c->many = NULL;
    c->n = 0;
    xc_put(c);
    return rc;
}

static int px_list(void *ctx, int status, const char *after, size_t limit,
                   jobs_job ***out, size_t *n)
{
    return px_list_op(ctx, X_LIST, status, after, limit, out, n);
}

static int px_list_desc(void *ctx, int status, const char *before,
                        size_t limit, jobs_job ***out, size_t *n)
{
    return px_list_op(ctx, X_LIST_DESC, status, before, limit, out, n);
}

static int px_counts(void *ctx, uint64_t by_status[JOBS_NSTATUS],
                     jobs_queue_count **q, size_t *nq)
{
    *q = NULL;
    *nq = 0;
    xcall *c = xc_new(X_COUNTS);
    if (!c)
        return -ENOMEM;
    int rc = forward(ctx, c);
    if (rc < 0)
        return rc;
    rc = c->rc;
    memcpy(by_status, c->by_status, sizeof c->by_status);
    *q = c->q;
    *nq = c->nq;
    c->q = NULL;
    xc_put(c);
    return rc;
}

static int px_health(void *ctx)
{
    xcall *c = xc_new(X_HEALTH);
    if (!c)
        return -ENOMEM;
    int rc = forward(ctx, c);
    if (rc < 0)
        return rc;
    rc = c->rc;
    xc_put(c);
    return rc;
}

static int px_metrics(void *ctx, corio_http_buf *out)
{
    xcall *c = xc_new(X_METRICS);
    if (!c)
        return -ENOMEM;
    int rc = forward(ctx, c);
    if (rc < 0)
        return rc;
    rc = c->rc;
    if (c->buf.len && corio_http_buf_append(out, c->buf.data, c->buf.len) < 0)
        rc = -ENOMEM;
    xc_put(c);
    return rc;
}

static int px_allowed(void *ctx, const char *prog)
{
    /* The allow list does not change after open: read it here. */
    jobs_service *s = ctx;
    return s->api.allowed(s, prog);
}

const jobs_api *jobs__api_here(jobs_service *s)
{
    jobs_multi *m = s->multi;
    if (!m || corio_loop_current() == m->home)
        return &s->api;
    return &m->proxy; /* read-only after open */
}

/* ---- HTTP servers and metrics over loops ------------------------------------ */

void jobs__multi_set_http(jobs_service *s, corio_http_server *srv)
{
    jobs_multi *m = s->multi;
    int i = corio_loop_index(NULL);
    if (!m || i < 0 || (unsigned)i >= m->nslots || i == m->home_index) {
        s->http = srv; /* the home loop's (or the only) server */
        return;
    }
    atomic_store(&m->http[i], srv);
}

/* A loop's HTTP counters, read on that loop. */
typedef struct stats_read {
    jobs_multi *m;
    unsigned i;
    int have;
    corio_http_server_stats hs;
} stats_read;

static void *stats_main(void *arg)
{
    stats_read *r = arg;
    /* Set and cleared on this loop, before its server closes: a server
     * seen here is open. */
    corio_http_server *srv = atomic_load(&r->m->http[r->i]);
    if (srv) {
        corio_http_server_stats_get(srv, &r->hs);
        r->have = 1;
    }
    return NULL;
}

int jobs__multi_http_stats(jobs_service *s, corio_http_server_stats *sum)
{
    memset(sum, 0, sizeof *sum);
    jobs_multi *m = s->multi;
    int have = 0;
    if (m)
        memset(m->requests, 0, m->nslots * sizeof *m->requests);
    if (s->http) {
        corio_http_server_stats_get(s->http, sum);
        if (m)
            m->requests[m->home_index] = sum->requests;
        have = 1;
    }
    if (!m || m->nslots < 2)
        return have;
    stats_read *r = calloc(m->nslots, sizeof *r);
    corio_group *g = NULL;
    if (!r || corio_group_create(&g) < 0) {
        free(r);
        return have;
    }
    for (unsigned i = 0; i < m->nslots; i++) {
        r[i] = (stats_read){.m = m, .i = i};
        if ((int)i != m->home_index)
            corio_group_spawn_on(g, corio_loop_get(i), stats_main, &r[i]);
    }
    corio_group_wait(g);
    corio_group_destroy(g);
    for (unsigned i = 0; i < m->nslots; i++) {
        if (!r[i].have)
            continue;
        have = 1;
        corio_http_server_stats *h = &r[i].hs;
        sum->connections += h->connections;
        sum->open += h->open;
        sum->requests += h->requests;
        for (int c = 0; c < 6; c++)
            sum->responses[c] += h->responses[c];
        sum->rejected += h->rejected;
        sum->timeouts += h->timeouts;
        m->requests[i] = h->requests;
    }
    free(r);
    return have;
}

void jobs__multi_metrics(jobs_service *s, corio_http_buf *b)
{
    jobs_multi *m = s->multi;
    if (!m)
        return;
    unsigned loops = m->nloops;
    if (m->peers) /* every loop with a service of its own runs jobs */
        for (unsigned i = loops = 0; i < m->nslots; i++)
            loops += m->peers[i] != NULL;
    corio_http_buf_printf(b, "# HELP corio_jobs_loops Loops (threads) the "
                             "service runs jobs on.\n# TYPE corio_jobs_loops "
                             "gauge\ncorio_jobs_loops %u\n", loops);
    corio_http_buf_puts(b, "# HELP corio_jobs_loop_attempts_total Job "
                           "attempts run, by loop.\n# TYPE "
                           "corio_jobs_loop_attempts_total counter\n");
    for (unsigned i = 0; i < m->nslots; i++)
        corio_http_buf_printf(b, "corio_jobs_loop_attempts_total{loop=\"%u\"}"
                              " %llu\n", i,
                              (unsigned long long)(m->peers ? m->seen[i]
                                                            : m->executed[i]));
    if (m->nslots < 2)
        return;
    corio_http_buf_puts(b, "# HELP corio_jobs_loop_http_requests_total HTTP "
                           "requests served, by loop.\n# TYPE "
                           "corio_jobs_loop_http_requests_total counter\n");
    for (unsigned i = 0; i < m->nslots; i++)
        corio_http_buf_printf(b, "corio_jobs_loop_http_requests_total{loop="
                              "\"%u\"} %llu\n", i,
                              (unsigned long long)m->requests[i]);
}

size_t jobs__multi_tasks_alive(jobs_service *s)
{
    jobs_multi *m = s->multi;
    corio_loop_metrics sum;
    if (m && m->nslots > 1 && corio_loop_metrics_all(NULL, 0, &sum) > 0)
        return (size_t)sum.tasks_alive;
    return corio_task_count(NULL);
}

unsigned jobs__multi_slots(const jobs_service *s)
{
    return s->multi ? s->multi->nslots : 1;
}

/* ---- every loop its own service (PostgreSQL) ---------------------------------- */

void jobs__multi_set_peers(jobs_service *s, jobs_service *const *peers)
{
    if (s->multi)
        s->multi->peers = peers;
}

/* One loop's figures, read on that loop. */
typedef struct peer_read {
    jobs_service *peer;
    unsigned i;
    int have;
    jobs_msnap snap;
    uint64_t attempts;
    corio_http_server_stats hs;
} peer_read;

static void peer_snap(peer_read *r)
{
    jobs_service *p = r->peer;
    jobs__metrics_snap(p, &r->snap);
    r->attempts = p->multi ? p->multi->executed[r->i] : 0;
    /* Set and cleared on this loop, before its server closes. */
    if (p->http) {
        corio_http_server_stats_get(p->http, &r->hs);
        r->have = 1;
    }
}

static void *peer_main(void *arg)
{
    peer_snap(arg);
    return NULL;
}

int jobs__multi_peers_sum(jobs_service *s, jobs_msnap *sum,
                          corio_http_server_stats *hs, int *have_http)
{
    jobs_multi *m = s->multi;
    if (!m || !m->peers)
        return 0;
    memset(sum, 0, sizeof *sum);
    memset(hs, 0, sizeof *hs);
    *have_http = 0;
    peer_read *r = calloc(m->nslots, sizeof *r);
    corio_group *g = NULL;
    if (!r || corio_group_create(&g) < 0) {
        free(r);
        return 0; /* no memory: this loop's figures only */
    }
    int here = corio_loop_index(NULL);
    for (unsigned i = 0; i < m->nslots; i++) {
        r[i] = (peer_read){.peer = m->peers[i], .i = i};
        if (!r[i].peer)
            continue;
        if ((int)i == here)
            peer_snap(&r[i]);
        else if (corio_group_spawn_on(g, corio_loop_get(i), peer_main,
                                      &r[i]) < 0)
            r[i].peer = NULL; /* no memory: left out */
    }
    /* Shielded: the readers use r, which must outlive them. */
    corio_scope sc;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    corio_group_wait(g);
    corio_scope_exit(&sc);
    corio_group_destroy(g);
    for (unsigned i = 0; i < m->nslots; i++) {
        m->seen[i] = r[i].peer ? r[i].attempts : 0;
        m->requests[i] = r[i].have ? r[i].hs.requests : 0;
        if (!r[i].peer)
            continue;
        jobs__metrics_add(sum, &r[i].snap);
        if (!r[i].have)
            continue;
        *have_http = 1;
        const corio_http_server_stats *h = &r[i].hs;
        hs->connections += h->connections;
        hs->open += h->open;
        hs->requests += h->requests;
        for (int c = 0; c < 6; c++)
            hs->responses[c] += h->responses[c];
        hs->rejected += h->rejected;
        hs->timeouts += h->timeouts;
    }
    free(r);
    return 1;
}

/* ---- lifecycle ----------------------------------------------------------------- */

int jobs__multi_open(jobs_service *s, unsigned loops)
{
    jobs_multi *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->home = corio_loop_current();
    int idx = corio_loop_index(NULL);
    unsigned count = corio_loop_count();
    m->home_index = idx < 0 ? 0 : idx;
    m->nslots = idx < 0 || count == 0 ? 1 : count;
    m->nloops = loops == 0 ? 1 : loops > m->nslots ? m->nslots : loops;
    atomic_init(&m->inflight, 0);
    m->executed = calloc(m->nslots, sizeof *m->executed);
    m->requests = calloc(m->nslots, sizeof *m->requests);
    m->clients = calloc(m->nslots, sizeof *m->clients);
    m->http = calloc(m->nslots, sizeof *m->http);
    m->seen = calloc(m->nslots, sizeof *m->seen);
    if (!m->executed || !m->requests || !m->clients || !m->http ||
        !m->seen) {
        free(m->seen);
        free(m->executed);
        free(m->requests);
        free(m->clients);
        free(m->http);
        free(m);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < m->nslots; i++)
        atomic_init(&m->http[i], NULL);
    /* After s->api: the same prefix and admin token, forwarded calls. */
    m->proxy = s->api;
    m->proxy.submit = px_submit;
    m->proxy.get = px_get;
    m->proxy.list = px_list;
    m->proxy.cancel = px_cancel;
    m->proxy.allowed = px_allowed;
    m->proxy.health = px_health;
    m->proxy.metrics = px_metrics;
    m->proxy.retry = s->api.retry ? px_retry : NULL;
    m->proxy.list_desc = s->api.list_desc ? px_list_desc : NULL;
    m->proxy.counts = s->api.counts ? px_counts : NULL;
    s->multi = m;
    return 0;
}

static void *client_close_main(void *arg)
{
    corio_http_client_destroy(arg);
    return NULL;
}

void jobs__multi_close(jobs_service *s)
{
    jobs_multi *m = s->multi;
    if (!m)
        return;
    corio_scope sc;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    /* Calls forwarded by other loops end first: they use s. */
    while (atomic_load(&m->inflight) > 0)
        corio_sleep(0.005);
    /* Each loop's fetch client ends on its loop (no job runs now). */
    for (unsigned i = 0; i < m->nslots; i++) {
        if (!m->clients[i])
            continue;
        corio_xtask *h;
        if (corio_spawn_on(&h, corio_loop_get(i), client_close_main,
                           m->clients[i]) == 0)
            corio_xtask_await(h, NULL, 0);
    }
    corio_scope_exit(&sc);
    free(m->seen);
    free(m->executed);
    free(m->requests);
    free(m->clients);
    free(m->http);
    free(m);
    s->multi = NULL;
}
