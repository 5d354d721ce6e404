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
 * The group learns about finished children through a completion hub
 * (hub.h), so it needs no help from the core.
 */
#include "sync/hub.h"

#include <stdlib.h>

/* Allocated by corio_group_create(), freed by corio_group_destroy(), which
 * also frees (or hands to the loop) every child. */
struct corio_group {
    corio__hub *hub;     /* tells us when children finish */
    corio_task **kids;   /* every child spawned, in spawn order */
    size_t n, cap;
    size_t running;      /* children whose completion was not seen yet */
    int first_err;       /* first child failure, or 0 */
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

/* A child finished (run as a loop callback, via the hub). */
static void on_child_done(void *owner, size_t index)
{
    corio_group *g = owner;
    int st = g->kids[index]->fut.status;
    g->running--;
    if (st != 0 && st != -ECANCELED && !g->first_err) {
        g->first_err = st;
        cancel_all(g);
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
        if (!k)
            return -ENOMEM;
        g->kids = k;
        g->cap = ncap;
    }
    rc = corio__spawn_at(&t, fn, arg, opts, site);
    if (rc < 0)
        return rc;
    g->kids[g->n] = t;
    g->running++;
    rc = corio__hub_watch(g->hub, &t->fut, g->n);
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
    free(g);
}

size_t corio_group_size(const corio_group *g) { return g ? g->n : 0; }
size_t corio_group_running(const corio_group *g) { return g ? g->running : 0; }
int corio_group_error(const corio_group *g) { return g ? g->first_err : 0; }
