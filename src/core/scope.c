/*
 * Cancellation scopes: deadlines and shields, nested on the task's stack.
 *
 * A scope is only ever linked into its own task's scope chain, and only the
 * task itself walks that chain, so a scope may live on the task's stack even
 * in COMPACT mode (the frames are copied back to the same addresses before
 * the task runs). The deadline timer is the task's single embedded timer,
 * armed by corio__park() for the nearest visible deadline.
 */
#include "core/internal.h"

#include <errno.h>
#include <math.h>

/* Recomputes CORIO__TF_SHIELDED after t's scope chain changed. Only the
 * owner runs this, while its frames (and so its scopes) are in place. */
static void update_shielded(corio_task *t)
{
    const corio_scope *s;
    t->flags &= (uint8_t)~CORIO__TF_SHIELDED;
    for (s = t->b->scopes; s; s = s->corio__outer) {
        /* Scopes nest: every scope of the chain is this task's. */
        CORIO__ASSERT(s->corio__task == t);
        if (s->corio__flags & CORIO_SCOPE_SHIELD) {
            t->flags |= CORIO__TF_SHIELDED;
            break;
        }
    }
}

int corio_scope_enter_at(corio_scope *s, double deadline, unsigned flags)
{
    corio_task *t = corio_current();
    if (!t)
        return -EPERM;
    s->corio__task = t;
    s->corio__flags = flags & CORIO__SCOPE_PUBLIC;
    s->corio__deadline = corio__seconds_to_ns(deadline);
    s->corio__expired = s->corio__deadline <= corio__clock_ns();
    s->corio__outer = t->b->scopes;
    t->b->scopes = s;
    update_shielded(t);
    return 0;
}

int corio_scope_enter(corio_scope *s, double timeout, unsigned flags)
{
    corio_task *t = corio_current();
    int64_t now;
    if (!t)
        return -EPERM;
    now = corio__clock_ns();
    s->corio__task = t;
    s->corio__flags = flags & CORIO__SCOPE_PUBLIC;
    if (timeout < 0 || timeout != timeout || timeout >= 9.2e9)
        s->corio__deadline = CORIO__NEVER;
    else
        s->corio__deadline = now + corio__seconds_to_ns(timeout);
    s->corio__expired = s->corio__deadline <= now;
    s->corio__outer = t->b->scopes;
    t->b->scopes = s;
    update_shielded(t);
    return 0;
}

void corio_scope_set_deadline(corio_scope *s, double deadline)
{
    s->corio__deadline = corio__seconds_to_ns(deadline);
    /* Sticky: a timeout that happened is not undone by a later deadline. */
    if (!s->corio__expired)
        s->corio__expired = s->corio__deadline <= corio__clock_ns();
    /* Moved by someone other than its task, which may be parked with a
     * timer for the old deadline: re-arm it now (asyncio's
     * Timeout.reschedule), instead of letting the task sleep on. */
    if (s->corio__task && s->corio__task != corio_current())
        corio__task_deadline_moved(s->corio__task);
}

int corio_scope_exit(corio_scope *s)
{
    corio_task *t = s->corio__task;
    if (!t || !corio__task_body_of(t) || t->b->scopes != s)
        return -EINVAL;
    t->b->scopes = s->corio__outer;
    s->corio__task = NULL;
    update_shielded(t);
    return s->corio__expired || s->corio__deadline <= corio__clock_ns();
}

int corio_scope_expired(const corio_scope *s)
{
    return s->corio__expired || s->corio__deadline <= corio__clock_ns();
}

/* ---- cancel by hand, deadlines, what was caught ------------------------------*/

int corio_scope_cancel(corio_scope *s)
{
    corio_task *t;
    int rc;
    if (!s)
        return -EINVAL;
    if (s->corio__flags & CORIO__SCOPE_CANCELLED)
        return 0;
    s->corio__flags |= CORIO__SCOPE_CANCELLED;
    t = s->corio__task;
    /* Called by another task or a callback while the owner waits inside
     * the scope: wake it now (unless a shield inside s hides the cancel,
     * then corio__interrupted() says 0). Its wait is undone exactly as for
     * a deadline (corio__wake calls wait_cancel). */
    if (t && t != corio_current() && t->state == CORIO_TASK_SUSPENDED &&
        t->b->wake == CORIO__WAKE_NONE && (rc = corio__interrupted(t)) != 0)
        corio__wake(t, rc);
    return 1;
}

int corio_scope_cancel_called(const corio_scope *s)
{
    return s && (s->corio__flags & CORIO__SCOPE_CANCELLED) ? 1 : 0;
}

int corio_scope_cancelled_caught(const corio_scope *s)
{
    return s && (s->corio__flags & CORIO__SCOPE_CAUGHT) ? 1 : 0;
}

double corio_scope_deadline(const corio_scope *s)
{
    if (!s || s->corio__deadline == CORIO__NEVER)
        return INFINITY;
    return (double)s->corio__deadline / 1e9;
}

double corio_current_effective_deadline(void)
{
    corio_task *t = corio_current();
    const corio_scope *s;
    int64_t dl = CORIO__NEVER;
    if (!t)
        return INFINITY;
    /* The running task's frames are in place: its scopes are at their
     * addresses even in COMPACT mode. */
    for (s = t->b->scopes; s; s = s->corio__outer) {
        if (s->corio__flags & CORIO__SCOPE_CANCELLED)
            return -INFINITY;
        if (s->corio__deadline < dl)
            dl = s->corio__deadline;
        if (s->corio__flags & CORIO_SCOPE_SHIELD)
            goto shielded;
    }
    if (t->flags & CORIO__TF_CANCEL)
        return -INFINITY;
shielded:
    return dl == CORIO__NEVER ? INFINITY : (double)dl / 1e9;
}
