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

/* Recomputes CORIO__TF_SHIELDED after t's scope chain changed. Only the
 * owner runs this, while its frames (and so its scopes) are in place. */
static void update_shielded(corio_task *t)
{
    const corio_scope *s;
    t->flags &= (uint8_t)~CORIO__TF_SHIELDED;
    for (s = t->scopes; s; s = s->corio__outer)
        if (s->corio__flags & CORIO_SCOPE_SHIELD) {
            t->flags |= CORIO__TF_SHIELDED;
            break;
        }
}

int corio_scope_enter_at(corio_scope *s, double deadline, unsigned flags)
{
    corio_task *t = corio_current();
    if (!t)
        return -EPERM;
    s->corio__task = t;
    s->corio__flags = flags;
    s->corio__deadline = corio__seconds_to_ns(deadline);
    s->corio__expired = s->corio__deadline <= corio__clock_ns();
    s->corio__outer = t->scopes;
    t->scopes = s;
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
    s->corio__flags = flags;
    if (timeout < 0 || timeout != timeout || timeout >= 9.2e9)
        s->corio__deadline = CORIO__NEVER;
    else
        s->corio__deadline = now + corio__seconds_to_ns(timeout);
    s->corio__expired = s->corio__deadline <= now;
    s->corio__outer = t->scopes;
    t->scopes = s;
    update_shielded(t);
    return 0;
}

void corio_scope_set_deadline(corio_scope *s, double deadline)
{
    s->corio__deadline = corio__seconds_to_ns(deadline);
    /* Sticky: a timeout that happened is not undone by a later deadline. */
    if (!s->corio__expired)
        s->corio__expired = s->corio__deadline <= corio__clock_ns();
}

int corio_scope_exit(corio_scope *s)
{
    corio_task *t = s->corio__task;
    if (!t || t->scopes != s)
        return -EINVAL;
    t->scopes = s->corio__outer;
    s->corio__task = NULL;
    update_shielded(t);
    return s->corio__expired || s->corio__deadline <= corio__clock_ns();
}

int corio_scope_expired(const corio_scope *s)
{
    return s->corio__expired || s->corio__deadline <= corio__clock_ns();
}
