/*
 * Combinators over futures and tasks: gather, wait, as_completed.
 *
 * All three wait on "any of N" through a completion hub (hub.h). gather
 * exists in two forms: corio_gather() takes task handles and consumes them
 * (every handle is awaited, freed or handed to the loop, whatever it
 * returns, once it got past argument checks), and corio_gather_futures()
 * takes futures and consumes nothing. wait and as_completed take futures
 * (a task's is corio_task_future(t)) and never consume or cancel anything,
 * like asyncio's.
 */
#include "sync/hub.h"

#include <stdlib.h>

/* Cancels whatever completes f: the task owning it, or f itself. */
static void cancel_future(corio_future *f)
{
    if (f->embedded)
        corio_cancel(corio__future_task(f));
    else
        corio_future_cancel(f);
}

/* The engine of both gathers. Waits until every future is done or, in
 * fail-fast mode, until the first failure (then, with CANCEL_REST, cancels
 * the rest and waits for them too). On an interruption of the caller,
 * cancel_on_interrupt says whether the pending ones are cancelled. Fills
 * nothing; returns the first failure (fail-fast), the failure count
 * (ALL_ERRORS), or the interruption. */
static int gather_wait(corio_future *const *fs, size_t n, unsigned flags,
                       int cancel_on_interrupt)
{
    corio_task *self = corio__sync_self();
    corio__hub *h;
    size_t i, seen = 0;
    int rc = 0, first_err = 0, nfail = 0, cancelling = 0;

    h = corio__hub_new(n, NULL, NULL);
    if (!h)
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        rc = corio__hub_watch(h, fs[i], i);
        if (rc < 0) {
            corio__hub_close(h);
            return rc;
        }
    }
    for (;;) {
        for (; seen < h->nfired; seen++) {
            int st = fs[h->order[seen]]->status;
            if (st != 0) {
                nfail++;
                if (!first_err)
                    first_err = st;
            }
        }
        if (seen == n)
            break;
        if (first_err && !(flags & CORIO_GATHER_ALL_ERRORS)) {
            if (!(flags & CORIO_GATHER_CANCEL_REST))
                break; /* fail fast, leave the rest running */
            if (!cancelling) {
                cancelling = 1;
                for (i = 0; i < n; i++)
                    if (!corio_future_done(fs[i]))
                        cancel_future(fs[i]);
            }
        }
        rc = corio__hub_park(h, self);
        if (rc)
            break; /* the caller was cancelled or timed out */
    }
    corio__hub_close(h);
    if (!rc) {
        /* An interruption that arrived while the last futures completed
         * (gh-86296's race) is reported, not swallowed. */
        rc = corio__interrupted(self);
    }
    if (rc) {
        if (cancel_on_interrupt)
            for (i = 0; i < n; i++)
                if (!corio_future_done(fs[i]))
                    cancel_future(fs[i]);
        return rc;
    }
    if (flags & CORIO_GATHER_ALL_ERRORS)
        return nfail;
    return first_err;
}

/* An array of n non-NULL pointers? 0 or -EINVAL. */
static int check_entries(const void *const *v, size_t n)
{
    size_t i;
    if (n && !v)
        return -EINVAL;
    for (i = 0; i < n; i++)
        if (!v[i])
            return -EINVAL;
    return 0;
}

/* Argument checks of the suspending combinators: 0, -EPERM, -EINVAL. */
static int gather_check(const void *const *v, size_t n)
{
    if (!corio__sync_self())
        return -EPERM;
    return check_entries(v, n);
}

int corio_gather_futures(corio_future *const *fs, size_t n, void **results,
                         int *statuses, unsigned flags)
{
    size_t i;
    int rc = gather_check((const void *const *)fs, n);
    if (rc)
        return rc;
    rc = gather_wait(fs, n, flags, 0);
    if (rc == -ENOMEM)
        return rc;
    for (i = 0; i < n; i++) {
        void *v = NULL;
        int st = corio_future_result(fs[i], &v);
        if (results)
            results[i] = st == 0 ? v : NULL;
        if (statuses)
            statuses[i] = st == -EAGAIN ? -EINPROGRESS : st;
    }
    return rc;
}

int corio_gather(corio_task *const *tasks, size_t n, void **results,
                 int *statuses, unsigned flags)
{
    corio_task *self = corio__sync_self();
    corio_future **fs = NULL;
    size_t i;
    int rc = gather_check((const void *const *)tasks, n);
    if (rc)
        return rc;
    for (i = 0; i < n; i++)
        if (tasks[i] == self)
            return -EDEADLK;
    fs = calloc(n ? n : 1, sizeof *fs);
    if (!fs)
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        fs[i] = corio_task_future(tasks[i]);
        if (!fs[i]) {
            free(fs);
            return -ENOMEM; /* nothing consumed */
        }
    }
    rc = gather_wait(fs, n, flags, 1);
    if (rc == -ENOMEM) {
        free(fs);
        return rc; /* nothing consumed */
    }
    /* Consume every handle: finished ones are freed, the others (left
     * running in fail-fast mode, or cancelled because the caller was
     * interrupted) are handed to the loop. */
    for (i = 0; i < n; i++) {
        corio_task *t = tasks[i];
        if (t->state == CORIO_TASK_DONE) {
            if (results)
                results[i] = corio__task_status(t) == 0 ? t->value : NULL;
            if (statuses)
                statuses[i] = corio__task_status(t);
        } else {
            if (results)
                results[i] = NULL;
            if (statuses)
                statuses[i] = -EINPROGRESS;
        }
        corio_detach(t); /* frees it now if it is done */
    }
    free(fs);
    return rc;
}

/* ---- wait -------------------------------------------------------------------*/

static int wait_satisfied(corio_future *const *fs, const corio__hub *h,
                          size_t n, int when)
{
    size_t i;
    if (h->nfired == n)
        return 1;
    if (when == CORIO_WAIT_FIRST_COMPLETED)
        return h->nfired > 0;
    if (when == CORIO_WAIT_FIRST_EXCEPTION) {
        for (i = 0; i < h->nfired; i++)
            if (fs[h->order[i]]->status != 0)
                return 1;
    }
    return 0;
}

int corio_wait(corio_future *const *fs, size_t n, int return_when,
               double timeout, size_t *done_idx)
{
    corio_task *self = corio__sync_self();
    corio__hub *h;
    corio_scope sc;
    size_t i;
    int rc = gather_check((const void *const *)fs, n), scoped = 0;
    if (rc)
        return rc;
    if (n == 0 || (return_when != CORIO_WAIT_ALL_COMPLETED &&
                   return_when != CORIO_WAIT_FIRST_COMPLETED &&
                   return_when != CORIO_WAIT_FIRST_EXCEPTION))
        return -EINVAL;
    rc = corio__interrupted(self);
    if (rc)
        return rc;
    h = corio__hub_new(n, NULL, NULL);
    if (!h)
        return -ENOMEM;
    for (i = 0; i < n && rc == 0; i++)
        rc = corio__hub_watch(h, fs[i], i);
    if (rc == 0 && timeout >= 0) {
        corio_scope_enter(&sc, timeout, 0);
        scoped = 1;
    }
    while (rc == 0 && !wait_satisfied(fs, h, n, return_when))
        rc = corio__hub_park(h, self);
    if (scoped && corio_scope_exit(&sc) == 1 && rc == -ETIMEDOUT)
        rc = 0; /* our own timeout: return what is done, as asyncio does */
    if (rc == 0)
        rc = corio__interrupted(self); /* never swallow a cancellation */
    if (rc == 0) {
        rc = (int)(h->nfired > INT32_MAX ? INT32_MAX : h->nfired);
        if (done_idx)
            for (i = 0; i < h->nfired; i++)
                done_idx[i] = h->order[i];
    }
    corio__hub_close(h);
    return rc;
}

/* ---- as_completed -------------------------------------------------------------*/

/* Allocated by corio_as_completed_create(), freed by _destroy(). */
struct corio_as_completed {
    corio__hub *hub;
    size_t n;         /* futures watched */
    size_t next;      /* completions handed out so far */
    double deadline;  /* corio_now() scale; INFINITY-like when none */
    int has_deadline;
};

int corio_as_completed_create(corio_as_completed **itp,
                              corio_future *const *fs, size_t n,
                              double timeout)
{
    corio_as_completed *it;
    size_t i;
    int rc;
    if (!itp)
        return -EINVAL;
    *itp = NULL;
    rc = check_entries((const void *const *)fs, n); /* any context */
    if (rc)
        return rc;
    it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->hub = corio__hub_new(n ? n : 1, NULL, NULL);
    if (!it->hub) {
        free(it);
        return -ENOMEM;
    }
    for (i = 0; i < n; i++) {
        rc = corio__hub_watch(it->hub, fs[i], i);
        if (rc < 0) {
            corio__hub_close(it->hub);
            free(it);
            return rc;
        }
    }
    it->n = n;
    it->has_deadline = timeout >= 0;
    it->deadline = it->has_deadline ? corio_now() + timeout : 0;
    *itp = it;
    return 0;
}

int corio_as_completed_next(corio_as_completed *it)
{
    corio_task *self;
    corio_scope sc;
    int rc = corio__sync_enter(&self), expired = 0;
    if (rc)
        return rc;
    if (!it)
        return -EINVAL;
    if (it->next == it->n)
        return -ENOENT;
    if (it->hub->nfired > it->next)
        return (int)it->hub->order[it->next++];
    if (it->has_deadline)
        corio_scope_enter_at(&sc, it->deadline, 0);
    while (rc == 0 && it->hub->nfired == it->next)
        rc = corio__hub_park(it->hub, self);
    if (it->has_deadline)
        expired = corio_scope_exit(&sc) == 1;
    if (rc)
        return rc == -ETIMEDOUT && expired ? -ETIMEDOUT : rc;
    return (int)it->hub->order[it->next++];
}

void corio_as_completed_destroy(corio_as_completed *it)
{
    if (!it)
        return;
    corio__hub_close(it->hub);
    free(it);
}
