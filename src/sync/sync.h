/*
 * Private helpers shared by the src/sync primitives: the one way a primitive
 * parks a task on a waiter list and the one way it hands something to a
 * parked task.
 *
 * The protocol (see corio__waiter in core/internal.h): a waiting task links a
 * corio__waiter into the primitive's list and parks. A waker pops the first
 * node and calls corio__wake(task, 0). corio__wake's first-wake-wins rule
 * makes that call the claim: if it returns 1, the waker owns the hand-off and
 * writes the value/status into the node before anything else runs (one
 * thread); if it returns 0, the task was already woken by cancellation, a
 * timeout, or another select clause, and the node is stale: the waker drops
 * it and tries the next one. So a task woken with 0 always got the thing, a
 * task woken otherwise never did, and no wake-up is lost.
 *
 * Stale nodes stay linked until their task runs again and unlinks them
 * (instead of being unlinked by a wait_cancel hook at wake time) because
 * corio__park() may re-park after a timer wake when a scope deadline moved
 * later, and the node must then still be in the list.
 */
#ifndef CORIO_SYNC_H
#define CORIO_SYNC_H

#include "core/internal.h"

#include <errno.h>

/* The running task, or NULL outside a task. */
static inline corio_task *corio__sync_self(void)
{
    corio_loop *loop = corio__tls_loop;
    return loop ? loop->current : NULL;
}

/* Pops the first waiter of q that can still be woken, wakes it (status 0,
 * the claim), records status in it and returns it; NULL if q holds no live
 * waiter. The caller then completes the hand-off through the node. */
static inline corio__waiter *corio__waiter_claim(corio__list *q, int status)
{
    corio__list *n;
    while ((n = corio__list_pop_front(q)) != NULL) {
        corio__waiter *w = corio__container_of(n, corio__waiter, node);
        CORIO__ASSERT(w->task != NULL && !w->fired); /* claimed once */
        if (corio__wake_ok(w->task)) {
            w->status = status;
            w->fired = 1;
            return w;
        }
    }
    return NULL;
}

/* Is there a live (wakeable) waiter in q? Drops stale nodes at the front. */
static inline int corio__waiter_any(corio__list *q)
{
    while (!corio__list_empty(q)) {
        corio__waiter *w = corio__container_of(q->next, corio__waiter, node);
        if (w->task->state == CORIO_TASK_SUSPENDED &&
            w->task->b->wake == CORIO__WAKE_NONE)
            return 1;
        corio__list_remove(&w->node);
    }
    return 0;
}

/* Links the calling task's own node into q (FIFO) with value, parks, and
 * unlinks the node if the wait was interrupted. Returns 0 when a waker
 * claimed the node (its status/value are in *wp's fields), or the
 * interruption (-ECANCELED, -ETIMEDOUT). */
static inline int corio__waiter_park(corio_task *self, corio__list *q,
                                     void *value, int64_t aux,
                                     const corio__waitable *type, void *obj,
                                     corio__waiter **wp)
{
    corio__waiter *w = &self->b->sync_wait;
    int rc;
    /* The running task, whose own node is on no list: one single-object
     * wait at a time. */
    CORIO__ASSERT(self == corio__task_loop(self)->current);
    CORIO__ASSERT(!corio__list_linked(&w->node) || w->task == NULL);
    w->task = self;
    w->value = value;
    w->aux = aux;
    w->status = 0;
    w->fired = 0;
    corio__list_push_back(q, &w->node);
    *wp = w;
    rc = corio__park(self, type, obj);
    /* Only a claim wakes us with 0; should anything else ever do so, the
     * node is still linked and we simply wait on. (The task still records
     * what it waits on: reading it back keeps type and obj out of the
     * registers that must survive the first park.) */
    while (CORIO__UNLIKELY(rc == 0 && !w->fired))
        rc = corio__park(self, self->b->wait_type, self->b->wait_obj);
    /* A claimed node is off the list (the claimer popped it). */
    CORIO__ASSERT(!w->fired || !corio__list_linked(&w->node));
    if (rc != 0 && corio__list_linked(&w->node))
        corio__list_remove(&w->node);
    return rc;
}

/* Entry check of every suspending sync call: -EPERM outside a task, the
 * pending interruption, or 0 with *selfp set. */
static inline int corio__sync_enter(corio_task **selfp)
{
    corio_task *self = corio__sync_self();
    *selfp = self;
    if (CORIO__UNLIKELY(!self))
        return -EPERM;
    /* corio__interrupted()'s common case, inlined: no scopes. */
    if (CORIO__LIKELY(!self->b->scopes))
        return CORIO__UNLIKELY(self->flags & CORIO__TF_CANCEL) ? -ECANCELED : 0;
    return corio__interrupted(self);
}

#endif
