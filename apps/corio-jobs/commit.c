/*
 * The group committer (service.h).
 *
 * Data. Writes are queued as ops in batches; c->batches is a FIFO of
 * batches whose last element is the open one (it takes new ops until it
 * holds max_batch). A batch has one future, created when the first writer
 * decides to wait on it, and a reference count: one for the committer
 * until it has run the batch, one per waiting writer until its wait
 * returns. The last reference frees the batch and its future, so a waiter
 * woken by the completion can still read the future's status, and a
 * waiter that gives up (cancelled) leaves without disturbing anyone.
 *
 * Durability is not negotiable once queued: a writer that is cancelled
 * while waiting only stops waiting; its write is still committed, and the
 * hook still sees it. The committer runs each transaction inside a shield
 * scope, so even its own cancellation (say, the loop shutting down) waits
 * for the transaction in flight; it then flushes whatever is still queued
 * and exits.
 *
 * Everything a pool thread reads (the write array, the store) is on the
 * heap: a suspended task's stack may be copied away (compact stacks).
 */
#include "service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Committer tasks. Two, so that a transaction is always ready to start
 * the moment the previous one has synced: the second waits on the store's
 * writer lock in its pool thread instead of behind a round trip through the
 * loop. Their batches of writes may commit in either order, which is safe
 * because no write the service makes depends on a write still in flight: a
 * job's next state change is only made after its previous one has
 * committed. Claims do depend on writes in flight (a worker slot is handed
 * back before its job's outcome commits): a batch with claims starts only
 * when no other batch is in flight (committer_main). */
#define JOBS_COMMITTERS 2

typedef struct op {
    struct op *next;
    int kind;       /* JOBS_W_* */
    jobs_job *job;  /* the committer's private copy */
} op;

/* A claim riding on a batch (jobs_committer_claim). Allocated by the
 * claiming task, which frees it once its wait is over; linked into the
 * batch until the batch starts or the claimer leaves before it does. */
typedef struct claim {
    struct claim *next;
    jobs_claim_req req;
    unsigned *begun;       /* bumped when the batch starts (may be NULL) */
    int urgent;            /* run the batch now, writes or not */
    unsigned cover;        /* c->inserted that the claim has seen */
} claim;

typedef struct batch {
    struct batch *next;    /* c->batches FIFO */
    op *head, **tail;
    size_t n;
    claim *claims;         /* to run after the writes, in the same
                              transaction (store->ops->write_claim) */
    size_t nclaims, nurgent;
    int started;           /* a committer has taken it */
    corio_future *done;    /* NULL until someone waits */
    int refs;              /* committer (until run) + waiters */
    /* The transaction's arguments, read by the pool thread. */
    jobs_store *store;
    jobs_write *w;
} batch;

struct jobs_committer {
    jobs_store *store;
    jobs_committer_opts opts;
    batch *first, *last;   /* queued batches; last is the open one */
    corio_chan *bell;      /* capacity 1: "there is work" */
    corio_task *task[JOBS_COMMITTERS]; /* the committer tasks */
    int closing;           /* no more submissions */
    int last_error;        /* status of the last failed batch */
    int inflight;          /* batches a committer is running */
    unsigned inserted;     /* batches committed that inserted created jobs */
    jobs_commit_stats stats;
};

static void batch_unref(batch *b)
{
    if (--b->refs > 0)
        return;
    while (b->head) {
        op *o = b->head;
        b->head = o->next;
        jobs_job_free(o->job);
        free(o);
    }
    if (b->done)
        corio_future_destroy(b->done);
    free(b->w);
    free(b);
}

static int apply(void *arg)
{
    batch *b = arg;
    if (!b->nclaims)
        return jobs_store_write(b->store, b->w, b->n);
    /* Copies of the claims' requests, on the heap like everything the
     * store reads, written back once the transaction has run. */
    jobs_claim_req *r = calloc(b->nclaims, sizeof *r);
    if (!r)
        return -ENOMEM;
    size_t i = 0;
    for (claim *cl = b->claims; cl; cl = cl->next)
        r[i++] = cl->req;
    int rc = b->store->ops->write_claim(b->store, b->w, b->n, r, b->nclaims);
    i = 0;
    for (claim *cl = b->claims; cl; cl = cl->next)
        cl->req = r[i++];
    free(r);
    return rc;
}

static void run_batch(jobs_committer *c, batch *b)
{
    int rc = 0;
    b->store = c->store;
    b->w = b->n ? malloc(b->n * sizeof *b->w) : NULL;
    unsigned seen = c->inserted;
    int inserts = 0;
    for (op *o = b->head; o; o = o->next)
        inserts |= o->kind == JOBS_W_INSERT && o->job->status == JOBS_CREATED;
    for (claim *cl = b->claims; cl; cl = cl->next) {
        cl->cover = seen;
        if (cl->begun)
            (*cl->begun)++;
    }
    if (b->n == 0 && !b->nclaims) {
        rc = 0; /* every submission into it failed */
    } else if (!b->w && b->n) {
        rc = -ENOMEM;
    } else {
        size_t i = 0;
        for (op *o = b->head; o; o = o->next, i++) {
            b->w[i].kind = o->kind;
            b->w[i].job = o->job;
        }
        /* Shielded: whatever happens to this task, it waits for the
         * transaction, whose outcome the writers are owed. */
        corio_scope sc;
        corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
        rc = jobs_store_call(b->store, apply, b);
        corio_scope_exit(&sc);
    }
    c->stats.transactions++;
    if (rc == 0) {
        c->stats.writes += b->n;
        if (b->n > c->stats.max_batch)
            c->stats.max_batch = b->n;
    } else {
        c->stats.failed++;
        c->last_error = rc;
    }
    if (rc == 0 && inserts) {
        /* Created jobs that no claim may have seen yet: this batch's own
         * claims did (they ran after its inserts), unless another batch
         * inserted meanwhile; every other claim must look again, now
         * rather than at the next write or poll. */
        int alone = c->inserted == seen;
        c->inserted++;
        for (claim *cl = b->claims; alone && cl; cl = cl->next)
            cl->cover = c->inserted;
        batch *o = c->last;
        for (claim *cl = o && !o->started ? o->claims : NULL; cl;
             cl = cl->next) {
            if (!cl->urgent) {
                cl->urgent = 1;
                o->nurgent++;
                corio_chan_try_send(c->bell, NULL);
            }
        }
    }
    if (b->done) {
        if (rc == 0)
            corio_future_set_result(b->done, NULL);
        else
            corio_future_set_error(b->done, rc);
    }
    if (c->opts.hook)
        for (op *o = b->head; o; o = o->next)
            c->opts.hook(c->opts.hook_arg, rc, o->kind, o->job);
    batch_unref(b);
}

static void *committer_main(void *arg)
{
    jobs_committer *c = arg;
    for (;;) {
        batch *b = c->first;
        /* A batch holding only idle claims waits for a write (or for a
         * claim to become urgent): run alone, such claims would poll the
         * store in a loop. Only the last batch can be in that state. */
        /* A batch with claims waits until no batch is in flight, so that
         * it commits after every write queued before it: the outcome of a
         * job whose worker slot was handed back early (runner.c) commits
         * no later than the claim that takes the slot. Else the two
         * committers could commit the claim first, and the store would
         * show more jobs running in a queue than its limit (seen on
         * PostgreSQL: 4 running in a queue limited to 3). The sibling
         * that runs the batch in flight takes this one next. */
        int blocked = b && b->nclaims && c->inflight;
        if (b && !blocked && (b->n || b->nurgent || c->closing)) {
            c->first = b->next;
            if (!c->first)
                c->last = NULL;
            b->started = 1;
            c->inflight++;
            run_batch(c, b);
            c->inflight--;
            continue;
        }
        if (c->closing)
            break;
        int rc = corio_chan_recv(c->bell, NULL);
        if (rc < 0 && rc != CORIO_ECLOSED)
            c->closing = 1; /* cancelled: flush what is queued, then stop */
        else if (rc == 0 && c->first && c->first->next && !c->inflight)
            corio_chan_try_send(c->bell, NULL); /* more: wake a sibling
                                                   (not one that is busy:
                                                   a blocked batch would
                                                   spin on the bell) */
    }
    return NULL;
}

int jobs_committer_create(jobs_committer **cp, jobs_store *store,
                          const jobs_committer_opts *opts)
{
    *cp = NULL;
    jobs_committer *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->store = store;
    if (opts)
        c->opts = *opts;
    int rc = corio_chan_create(&c->bell, 1);
    if (rc < 0) {
        free(c);
        return rc;
    }
    corio_spawn_opts so = {.name = "jobs-committer"};
    for (int i = 0; i < JOBS_COMMITTERS; i++) {
        rc = corio_spawn_ex(&c->task[i], committer_main, c, &so);
        if (rc < 0) {
            c->closing = 1;
            corio_chan_close(c->bell);
            for (int k = 0; k < i; k++) /* they exit at once: no work */
                corio_await(c->task[k], NULL);
            corio_chan_destroy(c->bell);
            free(c);
            return rc;
        }
    }
    *cp = c;
    return 0;
}

/* The batch that takes new writes (with_write) or claims: the last one,
 * unless it is full; a new one otherwise. NULL: out of memory. */
static batch *open_batch(jobs_committer *c, int with_write)
{
    batch *b = c->last;
    if (b && !(with_write && c->opts.max_batch &&
               b->n >= c->opts.max_batch))
        return b;
    b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->tail = &b->head;
    b->refs = 1;
    if (c->last)
        c->last->next = b;
    else
        c->first = b;
    c->last = b;
    return b;
}

int jobs_committer_submit(jobs_committer *c, int kind, const jobs_job *job,
                          int wait)
{
    if (c->closing)
        return CORIO_ESHUTDOWN;
    if (wait && !corio_current())
        return -EPERM;
    op *o = malloc(sizeof *o);
    jobs_job *copy = o ? jobs_job_clone(job) : NULL;
    if (!copy) {
        free(o);
        return -ENOMEM;
    }
    o->next = NULL;
    o->kind = kind;
    o->job = copy;
    batch *b = open_batch(c, 1);
    if (!b) {
        jobs_job_free(copy);
        free(o);
        return -ENOMEM;
    }
    int rc = 0;
    if (wait && !b->done)
        rc = corio_future_create(NULL, &b->done);
    if (rc < 0) {
        /* Not queued: the batch may be empty now, which run_batch handles
         * (an empty transaction). */
        jobs_job_free(copy);
        free(o);
        return rc;
    }
    *b->tail = o;
    b->tail = &o->next;
    b->n++;
    /* Ring the bell; if it is already ringing the committer will see this
     * op with the others. */
    corio_chan_try_send(c->bell, NULL);
    if (!wait)
        return 0;
    b->refs++;
    rc = corio_future_await(b->done, NULL);
    batch_unref(b);
    return rc;
}

int jobs_committer_claim(jobs_committer *c, const jobs_claim_filter *f,
                         size_t max, double idle, unsigned *begun,
                         unsigned *seen, int *started, jobs_job ***out,
                         size_t *n)
{
    *out = NULL;
    *n = 0;
    *started = 0;
    if (!c->store->ops->write_claim)
        return -ENOTSUP;
    if (c->closing)
        return CORIO_ESHUTDOWN;
    if (!corio_current())
        return -EPERM;
    claim *cl = calloc(1, sizeof *cl);
    if (!cl)
        return -ENOMEM;
    cl->req.filter = f;
    cl->req.max = max;
    cl->begun = begun;
    batch *b = open_batch(c, 0);
    int rc = b ? 0 : -ENOMEM;
    if (rc == 0 && !b->done)
        rc = corio_future_create(NULL, &b->done);
    if (rc < 0) {
        free(cl);
        return rc;
    }
    cl->next = b->claims;
    b->claims = cl;
    b->nclaims++;
    b->refs++;
    if (seen && *seen != c->inserted)
        idle = 0; /* jobs were inserted since this caller's last claim */
    if (idle <= 0) {
        cl->urgent = 1;
        b->nurgent++;
        corio_chan_try_send(c->bell, NULL);
    }
    /* Idle: the claim rides on the next batch of writes (a submission:
     * its job can be claimed in the commit that records it), or after
     * idle seconds runs alone, for the jobs of other processes. */
    corio_scope sc;
    corio_scope_enter(&sc, idle > 0 ? idle : -1, 0);
    rc = corio_future_await(b->done, NULL);
    corio_scope_exit(&sc);
    if (rc < 0 && !b->started && !corio_cancelled()) {
        if (!cl->urgent) { /* idle is over: run it */
            cl->urgent = 1;
            b->nurgent++;
        }
        corio_chan_try_send(c->bell, NULL);
        rc = corio_future_await(b->done, NULL);
    }
    if (rc < 0 && !b->started) {
        /* Cancelled before its batch started: it leaves the batch. */
        for (claim **pp = &b->claims; *pp; pp = &(*pp)->next) {
            if (*pp == cl) {
                *pp = cl->next;
                b->nclaims--;
                b->nurgent -= cl->urgent ? 1 : 0;
                break;
            }
        }
        batch_unref(b);
        free(cl);
        return rc;
    }
    if (rc < 0) {
        /* The claim is under way: its jobs are this process's to start,
         * whatever happens to the caller (shielded, like any store call). */
        corio_scope sh;
        corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
        rc = corio_future_await(b->done, NULL);
        corio_scope_exit(&sh);
    }
    if (seen)
        *seen = cl->cover;
    batch_unref(b);
    *started = 1;
    if (rc == 0)
        rc = cl->req.rc;
    if (rc == 0) {
        *out = cl->req.v;
        *n = cl->req.n;
    } else {
        jobs_job_free_array(cl->req.v, cl->req.n);
    }
    free(cl);
    return rc;
}

void jobs_committer_stats(const jobs_committer *c, jobs_commit_stats *out)
{
    *out = c->stats;
}

int jobs_committer_close(jobs_committer *c)
{
    if (!c)
        return 0;
    c->closing = 1;
    corio_chan_close(c->bell);
    /* Shielded: close must not return (and free c) while the committer
     * still runs, even if the caller is being cancelled. */
    corio_scope sc;
    int rc = corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    if (rc < 0)
        return rc; /* not in a task: c is left alone */
    for (int i = 0; i < JOBS_COMMITTERS; i++)
        corio_await(c->task[i], NULL);
    corio_scope_exit(&sc);
    rc = c->last_error;
    corio_chan_destroy(c->bell);
    free(c);
    return rc;
}
