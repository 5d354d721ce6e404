/*
 * The service over a store that several processes share (PostgreSQL).
 *
 * What changes from the one-process store:
 *   - There is no in-memory run queue. The dispatcher claims jobs from the
 *     store when workers are free: at once when this process has just
 *     queued one (the committer's hook rings the bell), else every
 *     opts.poll seconds, for the jobs other processes queued or left
 *     behind when they died.
 *   - A claim records "running" (and the attempt) itself, so a job task
 *     starts its work at once.
 *   - The lease task renews the leases of the jobs this process holds. The
 *     renewal's answer also carries what other processes asked of them:
 *     a DELETE (cancel the job's task) or a takeover (the lease expired,
 *     say after a long pause of this process: stop the job; its outcome
 *     will not be recorded by this process, the fence sees to that).
 *   - DELETE of a job this process does not hold goes to the store, and
 *     waits until the job has ended wherever it runs.
 * Allocations: each store call's arguments are on the heap (a pool thread
 * may read them while the task's stack is copied away); entries are the
 * service's (service_int.h).
 */
#include "ext.h"
#include "service_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM_MAX 64     /* jobs one claim may take */

/* ---- the store calls ------------------------------------------------------ */

typedef struct call {
    jobs_store *store;
    size_t max;
    const char *id;
    const jobs_claim_filter *filter; /* claim */
    jobs_job **v;                  /* claim */
    jobs_job *one;                 /* cancel, get */
    jobs_held *held;               /* renew */
    size_t n;
    uint64_t counts[JOBS_NSTATUS];
} call;

static int do_claim(void *arg)
{
    call *c = arg;
    return c->store->ops->claim(c->store, c->filter, c->max, &c->v, &c->n);
}

static int do_renew(void *arg)
{
    call *c = arg;
    return c->store->ops->renew(c->store, &c->held, &c->n);
}

static int do_counts(void *arg)
{
    call *c = arg;
    return c->store->ops->counts(c->store, c->counts);
}

static int do_cancel(void *arg)
{
    call *c = arg;
    return c->store->ops->cancel(c->store, c->id, &c->one);
}

static int do_get(void *arg)
{
    call *c = arg;
    return c->store->ops->get(c->store, c->id, &c->one);
}

/* ---- the dispatcher ----------------------------------------------------------- */

static void stop_entry(entry *e)
{
    atomic_store(&e->stop, 1); /* pool work polls this */
    corio_cancel(e->task);
}

/* Claims up to k jobs and starts them; returns how many it started, or a
 * store error. The claim rides in the committer's next transaction, after
 * the outcomes of the jobs that freed these workers (one round trip, one
 * commit for both); idle > 0: it waits for the next batch of writes (a
 * submission here, which it may claim in the same commit) or idle
 * seconds. A store without write_claim is asked directly. */
static int claim_and_start(jobs_service *s, jobs_runq *q,
                           const jobs_claim_filter *f, size_t k, double idle)
{
    jobs_job **v = NULL;
    size_t nv = 0;
    int started = 0;
    int rc = jobs_committer_claim(s->commit, f, k, idle, &s->claims_begun,
                                  &q->claims_seen, &started, &v, &nv);
    if (rc == -ENOTSUP) {
        call *c = calloc(1, sizeof *c);
        if (!c)
            return -ENOMEM;
        c->store = s->store;
        c->max = k;
        c->filter = f;
        s->claims_begun++; /* see hand_back_orphans */
        started = 1;
        rc = jobs_store_call(s->store, do_claim, c);
        v = c->v;
        nv = c->n;
        free(c);
    }
    if (!started)
        return rc; /* cancelled before it began, or refused */
    /* After the claim has committed: a renewal that began before this
     * point may not see these jobs, and must not take them for lost. */
    unsigned gen = s->renew_gen;
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < nv; i++) {
        entry *e = jobs__entry_new(s, v[i]);
        if (!e || jobs__table_add(s, e) < 0) {
            /* Out of memory: the claimed jobs left are not started; their
             * leases expire and a process with memory takes them. */
            free(e);
            for (size_t r = i; r < nv; r++)
                jobs_job_free(v[r]); /* v itself is freed below */
            break;
        }
        v[i] = NULL;
        e->claim_gen = gen;
        /* This process ran the job under an older claim that it lost (it
         * was paused past the lease) and has claimed it again before its
         * renewal noticed: stop the old run. Its outcome is fenced off. */
        for (entry *o = s->running.next; o != &s->running; o = o->next) {
            if (o->state == E_RUNNING && !o->lost &&
                strcmp(o->job->id, e->job->id) == 0) {
                o->lost = 1;
                stop_entry(o);
            }
        }
        e->rq = q;
        jobs__runner_launch(s, e); /* on failure it gives the slot back */
        n++;
    }
    s->claims_ended++;
    free(v);
    return rc < 0 ? rc : (int)n;
}

void *jobs__shared_dispatcher(void *arg)
{
    jobs_runq *q = arg;
    jobs_service *s = q->svc;
    /* A queue with its own limit claims its own jobs; the default one
     * every other queue's. */
    const char **names = calloc(s->nrqs, sizeof *names);
    if (!names)
        return NULL;
    jobs_claim_filter f = {.queue = q->name[0] ? q->name : NULL,
                           .exclude = names};
    for (size_t i = 1; !q->name[0] && i < s->nrqs; i++)
        names[f.nexclude++] = s->rqs[i].name;
    int failing = 0;
    double idle = 0; /* the last claim took fewer than it asked */
    for (;;) {
        if (corio_sem_acquire(q->slots) < 0)
            break; /* cancelled: drain */
        size_t k = 1;
        while (k < CLAIM_MAX && corio_sem_try_acquire(q->slots) == 0)
            k++;
        if (q->rate) { /* ratelimit.c: claim no more than it allows */
            int a = jobs__rate_take(q, k);
            for (size_t i = a > 0 ? (size_t)a : 0; i < k; i++)
                corio_sem_release(q->slots);
            if (a < 0)
                break;
            k = (size_t)a;
        }
        int n = claim_and_start(s, q, &f, k, idle);
        jobs__rate_note(q, n > 0 ? (size_t)n : 0);
        for (size_t i = n > 0 ? (size_t)n : 0; i < k; i++)
            corio_sem_release(q->slots);
        if (n < 0 && (corio_cancelled() || n == CORIO_ESHUTDOWN))
            break; /* drain (an idle claim leaves its batch) */
        idle = 0;
        if (n < 0) {
            if (!failing)
                fprintf(stderr, "corio-jobs: claiming jobs failed: %s (will "
                        "retry)\n", jobs_strerror(n));
            failing = 1;
        } else {
            if (failing)
                fprintf(stderr, "corio-jobs: claiming jobs works again\n");
            failing = 0;
            if ((size_t)n == k)
                continue; /* there may be more */
            if (s->store->ops->write_claim) {
                idle = s->opts.poll; /* the next claim waits for work */
                continue;
            }
        }
        /* Nothing (more) to claim: wait for a job queued here, or poll. */
        corio_scope sc;
        corio_scope_enter(&sc, s->opts.poll, 0);
        corio_chan_recv(q->bell, NULL);
        corio_scope_exit(&sc);
        if (corio_cancelled())
            break;
    }
    free(names);
    return NULL;
}

/* ---- leases ---------------------------------------------------------------------- */

static const jobs_held *find_held(const jobs_held *h, size_t n,
                                  const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].id, id) == 0)
            return &h[i];
    return NULL;
}

/* A job the renewal says this process holds but that no entry here runs:
 * a claim that committed but whose answer never arrived (the connection
 * broke: PostgreSQL restarting), or claimed jobs left unstarted for want
 * of memory. This process's renewals would keep it running forever, so
 * it is handed back to the queue, fenced by the claim like any outcome.
 * Only when no claim ran during the renewal: a claim's jobs are on the
 * running list only once the claim has returned. */
static void hand_back_orphans(jobs_service *s, const jobs_held *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int mine = 0;
        for (entry *e = s->running.next; e != &s->running && !mine;
             e = e->next)
            mine = strcmp(e->job->id, h[i].id) == 0 &&
                   e->job->attempts == h[i].attempts;
        if (mine)
            continue;
        jobs_job *j = calloc(1, sizeof *j);
        if (!j)
            return;
        snprintf(j->id, sizeof j->id, "%s", h[i].id);
        j->prev_status = JOBS_RUNNING;
        j->status = JOBS_CREATED;
        j->attempts = h[i].attempts;
        fprintf(stderr, "corio-jobs: job %s: held here but not running "
                "(its claim's answer was lost): back to the queue\n", j->id);
        jobs_committer_submit(s->commit, JOBS_W_UPDATE, j, 0);
        jobs_job_free(j);
    }
}

void *jobs__lease_main(void *arg)
{
    jobs_service *s = arg;
    /* A third of the lease leaves two renewals' slack; at most a second,
     * so that a DELETE from another process acts quickly. */
    double iv = s->opts.lease / 3 < 1.0 ? s->opts.lease / 3 : 1.0;
    int failing = 0;
    double counted = corio_now();
    for (;;) {
        if (corio_sleep(iv) < 0)
            break;
        call *c = calloc(1, sizeof *c);
        if (!c)
            continue;
        c->store = s->store;
        unsigned gen = ++s->renew_gen;
        unsigned begun = s->claims_begun, ended = s->claims_ended;
        int rc = jobs_store_call(s->store, do_renew, c);
        if (rc == 0 && begun == s->claims_begun && ended == s->claims_ended &&
            begun == ended)
            hand_back_orphans(s, c->held, c->n);
        if (rc < 0) {
            /* The jobs go on; if the store stays away past the lease,
             * others take them over and the fence drops these outcomes. */
            if (!failing)
                fprintf(stderr, "corio-jobs: renewing leases failed: %s\n",
                        jobs_strerror(rc));
            failing = 1;
        } else {
            failing = 0;
            /* The gauges of /metrics count every process's jobs. Counting
             * reads the whole table: every opts.counts_every seconds, and
             * this process's own changes are added in between (on_commit).
             * The recount suspends: what on_commit adds meanwhile is
             * applied on top of it, not overwritten by it (a change whose
             * commit the count already saw may be counted twice until
             * the next recount, where the overwrite lost every one). */
            uint64_t before[JOBS_NSTATUS];
            memcpy(before, s->by_status, sizeof before);
            if (corio_now() - counted >= s->opts.counts_every &&
                jobs_store_call(s->store, do_counts, c) == 0) {
                for (int k = 0; k < JOBS_NSTATUS; k++) {
                    int64_t d = (int64_t)(s->by_status[k] - before[k]);
                    s->by_status[k] = d < 0 && (uint64_t)-d > c->counts[k]
                                          ? 0
                                          : c->counts[k] + (uint64_t)d;
                }
                counted = corio_now();
            }
            for (entry *e = s->running.next; e != &s->running; e = e->next) {
                if (e->state != E_RUNNING || e->lost)
                    continue;
                const jobs_held *h = find_held(c->held, c->n, e->job->id);
                if (h && h->attempts != e->job->attempts)
                    h = NULL; /* held again, under a newer claim */
                if (h && h->cancel && !e->cancel) {
                    e->cancel = 1; /* DELETE elsewhere */
                    stop_entry(e);
                } else if (!h && e->claim_gen < gen) {
                    fprintf(stderr, "corio-jobs: job %s: lease lost to "
                            "another process; stopping it here\n",
                            e->job->id);
                    e->lost = 1;
                    stop_entry(e);
                }
            }
        }
        free(c->held);
        free(c);
    }
    return NULL;
}

/* ---- DELETE of a job held elsewhere ------------------------------------------------ */

int jobs__shared_cancel(jobs_service *s, const char *id, jobs_job **out)
{
    *out = NULL;
    call *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->store = s->store;
    c->id = id;
    int rc = jobs_store_call(s->store, do_cancel, c);
    /* Running in another process: it cancels the job at its next renewal
     * (within a second), or, if it died, the first renewal anywhere after
     * its lease expired records the job as cancelled. Wait for either. */
    double deadline = corio_now() + 2 * s->opts.lease + 5;
    while (rc == -EINPROGRESS) {
        int r = corio_sleep(0.1);
        if (r < 0) {
            rc = r;
            break;
        }
        jobs_job_free(c->one);
        c->one = NULL;
        r = jobs_store_call(s->store, do_get, c);
        if (r < 0)
            rc = r;
        else if (jobs_status_terminal(c->one->status))
            rc = c->one->status == JOBS_CANCELLED ? 0 : -EALREADY;
        else if (corio_now() > deadline)
            rc = -ETIMEDOUT;
    }
    if (rc < 0 && rc != -EALREADY) {
        jobs_job_free(c->one); /* the router reads *out only with these */
        c->one = NULL;
    }
    *out = c->one;
    free(c);
    return rc;
}
