/*
 * Task groups (asyncio's TaskGroup, Trio's nursery, libdill's bundle):
 * structured concurrency for C.
 *
 * Rules, each one tested in tests/test_taskgroup.c:
 *  - corio_group_wait() cannot return before every child has finished, even
 *    when the waiting task is cancelled or times out: it then cancels the
 *    children and waits for them under a shield scope.
 *  - The first child failure (a status other than 0 and -ECANCELED)
 *    cancels the other children and is what the group reports.
 *  - corio_group_cancel() cancels the group as a whole.
 *  - A cancellation (or timeout) of the waiting task is never swallowed:
 *    wait returns it even if a child failed at the same moment (CPython had
 *    to fix exactly this, gh-86296 and gh-155433), and since corio's
 *    cancellation is level-triggered, the task's next suspending call
 *    returns -ECANCELED too. There is nothing like asyncio's uncancel()
 *    that could lose it.
 *  - Every child failure is recorded (its index, in completion order), not
 *    only the first: corio_group_failures() reads them (asyncio's
 *    ExceptionGroup). The record is one size_t per child, grown with the
 *    children array at spawn, so completion and wait never allocate.
 *  - corio_group_start() (Trio's nursery.start()) spawns a child and waits
 *    until it calls corio_group_started(). Until then the child is not a
 *    member for error purposes: its failure goes to the starter, not to the
 *    group; the pending start is a heap record (struct group_start) linked
 *    in g->starts, allocated and freed by corio_group_start() itself, since
 *    the child and the hub callback must reach it (a record on the
 *    starter's stack would not be at its address in COMPACT mode).
 * The group learns about finished children through a completion hub
 * (hub.h), so it needs no help from the core.
 */
#include "sync/hub.h"

#include <stdlib.h>

/* What a task waiting for a started child to be ready waits on. */
static const corio__waitable wait_group_start = {"task group start",
                                                 CORIO_WAIT_OTHER, NULL};

enum { START_PENDING, START_READY, START_ENDED, START_ABANDONED };

/* One corio_group_start() in progress: allocated by it, linked in
 * g->starts while it waits, unlinked and freed by it before it returns. */
typedef struct group_start {
    struct group_start *next;
    corio_task *waiter;  /* the task in corio_group_start() */
    size_t index;        /* the child's index in g->kids */
    void *value;         /* what the child passed to corio_group_started() */
    int state;           /* START_* */
    int status;          /* the child's status once seen finished */
    int seen;            /* on_child_done() has seen the child finish */
} group_start;

/* Allocated by corio_group_create(), freed by corio_group_destroy(), which
 * also frees (or hands to the loop) every child. */
struct corio_group {
    corio__hub *hub;     /* tells us when children finish */
    corio_task **kids;   /* every child spawned, in spawn order */
    size_t n, cap;
    size_t running;      /* children whose completion was not seen yet */
    int first_err;       /* first child failure, or 0 */
    size_t *failed;      /* indexes of failed children, completion order;
                          * same capacity as kids (grown at spawn) */
    size_t nfailed;
    group_start *starts; /* corio_group_start() calls waiting */
    int result;          /* what corio_group_wait() returned */
    unsigned cancelled:1; /* corio_group_cancel() was called */
    unsigned shutting:1;  /* a failure or a cancel: children cancelled */
    unsigned closed:1;    /* waited: no more spawns */
};

static void cancel_all(corio_group *g)
{
    size_t i;
    g->shutting = 1;
    for (i = 0; i < g->n; i++)
        if (g->kids[i]->state != CORIO_TASK_DONE)
            corio_cancel(g->kids[i]);
}

static group_start *find_start(const corio_group *g, size_t index)
{
    group_start *r;
    for (r = g->starts; r; r = r->next)
        if (r->index == index)
            return r;
    return NULL;
}

/* A child finished (run as a loop callback, via the hub). */
static void on_child_done(void *owner, size_t index)
{
    corio_group *g = owner;
    int st = corio__task_status(g->kids[index]);
    group_start *r = find_start(g, index);
    g->running--;
    if (r && r->state != START_READY) {
        /* Ended before it reported ready, or its starter gave up on it:
         * its outcome belongs to corio_group_start(), not to the group. */
        r->status = st;
        r->seen = 1;
        if (r->state == START_PENDING)
            r->state = START_ENDED;
        corio__wake(r->waiter, 0);
        return;
    }
    if (st != 0 && st != -ECANCELED) {
        g->failed[g->nfailed++] = index; /* room: one slot per child */
        if (!g->first_err) {
            g->first_err = st;
            cancel_all(g);
        }
    }
}

int corio_group_create(corio_group **gp)
{
    corio_group *g;
    if (!gp)
        return -EINVAL;
    *gp = NULL;
    g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->hub = corio__hub_new(0, on_child_done, g);
    if (!g->hub) {
        free(g);
        return -ENOMEM;
    }
    *gp = g;
    return 0;
}

/* site: the user's call site, so dumps and leak reports name the code that
 * asked for the child rather than this file. */
static int group_spawn(corio_group *g, corio_task **tp, corio_fn fn, void *arg,
                       const corio_spawn_opts *opts, void *site)
{
    corio_task *t;
    int rc;
    if (tp)
        *tp = NULL;
    if (!g || !fn || (opts && (opts->flags & CORIO_SPAWN_DETACHED)))
        return -EINVAL;
    if (g->closed || g->shutting)
        return CORIO_ESHUTDOWN;
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 8;
        corio_task **k = realloc(g->kids, ncap * sizeof *k);
        size_t *f;
        if (!k)
            return -ENOMEM;
        g->kids = k;
        f = realloc(g->failed, ncap * sizeof *f);
        if (!f)
            return -ENOMEM; /* kids merely has spare room */
        g->failed = f;
        g->cap = ncap;
    }
    rc = corio__spawn_at(&t, fn, arg, opts, site);
    if (rc < 0)
        return rc;
    g->kids[g->n] = t;
    g->running++;
    {
        corio_future *f = corio_task_future(t);
        rc = f ? corio__hub_watch(g->hub, f, g->n) : -ENOMEM;
    }
    if (rc < 0) {
        g->running--;
        corio_cancel(t);
        corio_detach(t);
        return rc;
    }
    g->n++;
    if (tp)
        *tp = t;
    return 0;
}

int corio_group_spawn_ex(corio_group *g, corio_task **tp, corio_fn fn,
                         void *arg, const corio_spawn_opts *opts)
{
    return group_spawn(g, tp, fn, arg, opts, __builtin_return_address(0));
}

int corio_group_spawn(corio_group *g, corio_fn fn, void *arg)
{
    return group_spawn(g, NULL, fn, arg, NULL, __builtin_return_address(0));
}

int corio_group_wait(corio_group *g)
{
    corio_task *self = corio__sync_self();
    size_t i;
    int intr;
    if (!self)
        return -EPERM;
    if (!g)
        return -EINVAL;
    for (i = 0; i < g->n; i++)
        if (g->kids[i] == self)
            return -EDEADLK; /* a child waiting for its own group */
    if (g->closed)
        return g->result;
    intr = corio__interrupted(self);
    while (!intr && g->running)
        intr = corio__hub_park(g->hub, self);
    if (intr) {
        /* The waiter is cancelled or timed out: the children go too, and
         * the group still outlives them. The shield hides the waiter's
         * cancellation and deadlines from this wait only. */
        cancel_all(g);
        if (g->running) {
            corio_scope shield;
            corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
            while (g->running)
                (void)corio__hub_park(g->hub, self);
            corio_scope_exit(&shield);
        }
    }
    /* Cancelled (or timed out) while the children were finishing, e.g. in
     * the same loop iteration as the last one (gh-86296's race): report it
     * rather than the children's outcome. */
    if (!intr)
        intr = corio__interrupted(self);
    g->closed = 1;
    if (intr)
        g->result = intr; /* never swallowed by a child's error */
    else if (g->first_err)
        g->result = g->first_err;
    else if (g->cancelled)
        g->result = -ECANCELED;
    else
        g->result = 0;
    return g->result;
}

int corio_group_cancel(corio_group *g)
{
    if (!g)
        return -EINVAL;
    if (!g->closed) {
        g->cancelled = 1;
        cancel_all(g);
    }
    return 0;
}

void corio_group_destroy(corio_group *g)
{
    size_t i;
    if (!g)
        return;
    /* Never waited (or the waiter could not): children still running are
     * cancelled and handed to the loop rather than freed under them. The
     * hub is closed first, while every child's future is still alive. */
    for (i = 0; i < g->n; i++)
        if (g->kids[i]->state != CORIO_TASK_DONE)
            corio_cancel(g->kids[i]);
    corio__hub_close(g->hub);
    for (i = 0; i < g->n; i++)
        corio_detach(g->kids[i]);
    free(g->kids);
    free(g->failed);
    free(g);
}

size_t corio_group_size(const corio_group *g) { return g ? g->n : 0; }
size_t corio_group_running(const corio_group *g) { return g ? g->running : 0; }
int corio_group_error(const corio_group *g) { return g ? g->first_err : 0; }

/* ---- every failure ----------------------------------------------------------*/

size_t corio_group_failures(const corio_group *g, corio_group_failure *out,
                            size_t max)
{
    size_t i;
    if (!g)
        return 0;
    for (i = 0; out && i < max && i < g->nfailed; i++) {
        corio_task *t = g->kids[g->failed[i]];
        out[i].task = t;
        out[i].task_id = t->id;
        out[i].index = g->failed[i];
        out[i].status = corio__task_status(t);
        out[i].result = t->value;
    }
    return g->nfailed;
}

/* ---- start, then wait until ready (Trio's nursery.start) ---------------------*/

static void unlink_start(corio_group *g, group_start *r)
{
    group_start **pp;
    for (pp = &g->starts; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            return;
        }
}

static int start_child(corio_group *g, corio_task **tp, corio_fn fn, void *arg,
                       const corio_spawn_opts *opts, void **value, void *site)
{
    corio_task *self = corio__sync_self();
    corio_spawn_opts o = {0};
    group_start *r;
    corio_task *t;
    int rc;

    if (tp)
        *tp = NULL;
    if (value)
        *value = NULL;
    if (!self)
        return -EPERM;
    if (!g || !fn)
        return -EINVAL;
    if ((rc = corio__interrupted(self)) != 0)
        return rc;
    r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    if (opts)
        o = *opts;
    o.flags &= ~CORIO_SPAWN_EAGER; /* it must not report before we wait */
    r->waiter = self;
    r->index = g->n;
    r->state = START_PENDING;
    r->next = g->starts;
    g->starts = r;
    rc = group_spawn(g, &t, fn, arg, &o, site);
    if (rc < 0) {
        unlink_start(g, r);
        free(r);
        return rc;
    }
    if (tp)
        *tp = t;
    rc = 0;
    while (r->state == START_PENDING && rc == 0)
        rc = corio__park(self, &wait_group_start, g);
    if (rc < 0 && !r->seen) {
        /* The starter was interrupted first (first wake wins: even if the
         * child reported ready since). The child is ours to end: cancel it
         * and wait, shielded, until the group has seen it finish, so its
         * outcome is never mistaken for a group member's. */
        corio_scope shield;
        r->state = START_ABANDONED;
        corio_cancel(t);
        corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
        while (!r->seen)
            (void)corio__park(self, &wait_group_start, g);
        corio_scope_exit(&shield);
    } else if (rc == 0 && r->state == START_READY) {
        if (value)
            *value = r->value;
    } else if (rc == 0) {
        /* Ended before reporting ready: its failure, its cancellation, or
         * -EPROTO if it returned without calling corio_group_started(). */
        rc = r->status ? r->status : -EPROTO;
    }
    unlink_start(g, r);
    free(r);
    return rc;
}

int corio_group_start(corio_group *g, corio_task **tp, corio_fn fn, void *arg,
                      const corio_spawn_opts *opts, void **value)
{
    return start_child(g, tp, fn, arg, opts, value,
                       __builtin_return_address(0));
}

int corio_group_started(corio_group *g, void *value)
{
    corio_task *self = corio__sync_self();
    group_start *r;
    if (!self)
        return -EPERM;
    if (!g)
        return -EINVAL;
    for (r = g->starts; r; r = r->next) {
        if (r->index >= g->n || g->kids[r->index] != self)
            continue;
        if (r->state == START_ABANDONED)
            return -ECANCELED;
        if (r->state != START_PENDING)
            break;
        if (!corio__wake(r->waiter, 0)) {
            /* The starter was already woken by its own interruption (first
             * wake wins): it will give up on us. */
            r->state = START_ABANDONED;
            return -ECANCELED;
        }
        r->value = value;
        r->state = START_READY;
        return 0;
    }
    return -EINVAL;
}
