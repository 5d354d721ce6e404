/*
 * Barrier (asyncio.Barrier): parties tasks wait until all have arrived,
 * then all pass together; abort() breaks it, reset() breaks the current
 * cycle and starts a fresh one.
 *
 * asyncio needs "draining" and "resetting" states because its woken tasks
 * must still run before the barrier can be reused. Here the last arrival
 * completes the cycle synchronously: it hands every waiter its index and
 * wakes it with 0 (the claim, see sync.h), and the barrier is at once empty
 * and ready for the next cycle, so those states vanish. A waiter that is
 * cancelled or times out withdraws: it no longer counts towards the
 * parties. Its node may still be linked until it runs again, so before the
 * barrier trips it purges such stale nodes and re-counts (lazy
 * withdrawal); whoever unlinks a node (the purge or the task) does the
 * decrement, never both.
 */
#include "sync/sync.h"

#include <stdlib.h>

/* What a task parked here waits on, for dumps and reports. */
static const corio__waitable wait_barrier = {"barrier", CORIO_WAIT_OTHER, NULL};

/* Allocated by corio_barrier_create(), freed by corio_barrier_destroy(). */
struct corio_barrier {
    size_t parties;       /* tasks needed to trip it, >= 1 */
    size_t count;         /* linked waiter nodes (live or stale) */
    int broken;           /* abort() was called and no reset() since */
    corio__list waiters;  /* arrived tasks of this cycle, in arrival order */
};

int corio_barrier_create(corio_barrier **bp, size_t parties)
{
    corio_barrier *b;
    if (!bp)
        return -EINVAL;
    *bp = NULL;
    if (parties < 1)
        return -EINVAL;
    b = malloc(sizeof *b);
    if (!b)
        return -ENOMEM;
    b->parties = parties;
    b->count = 0;
    b->broken = 0;
    corio__list_init(&b->waiters);
    *bp = b;
    return 0;
}

/* Wakes every waiter of the cycle with status (CORIO_EBROKEN, -EIDRM). */
static void fail_all(corio_barrier *b, int status)
{
    while (corio__waiter_claim(&b->waiters, status))
        ;
    b->count = 0;
}

void corio_barrier_destroy(corio_barrier *b)
{
    if (!b)
        return;
    fail_all(b, -EIDRM);
    free(b);
}

/* Drops the nodes of waiters that withdrew but have not run yet. */
static void purge(corio_barrier *b)
{
    corio__list *n, *next;
    for (n = b->waiters.next; n != &b->waiters; n = next) {
        corio__waiter *w = corio__container_of(n, corio__waiter, node);
        next = n->next;
        if (w->task->state != CORIO_TASK_SUSPENDED ||
            w->task->b->wake != CORIO__WAKE_NONE) {
            corio__list_remove(n);
            b->count--;
        }
    }
}

int corio_barrier_wait(corio_barrier *b)
{
    corio_task *self;
    corio__waiter *w;
    int rc = corio__sync_enter(&self);
    if (rc)
        return rc;
    if (!b)
        return -EINVAL;
    if (b->broken)
        return CORIO_EBROKEN;
    if (b->count + 1 >= b->parties)
        purge(b);
    if (b->count + 1 == b->parties) {
        /* The last party: release the cycle, in arrival order. */
        int64_t index = 0;
        while ((w = corio__waiter_claim(&b->waiters, 0)) != NULL)
            w->aux = index++;
        b->count = 0;
        return (int)(b->parties - 1 > INT32_MAX ? INT32_MAX : b->parties - 1);
    }
    b->count++;
    w = &self->b->sync_wait;
    w->task = self;
    w->value = NULL;
    w->aux = 0;
    w->status = 0;
    w->fired = 0;
    corio__list_push_back(&b->waiters, &w->node);
    do {
        rc = corio__park(self, &wait_barrier, b);
    } while (rc == 0 && !w->fired); /* only a trip/abort/reset claims us */
    if (rc) {
        /* Withdrawn. If our node is still linked the count is ours to fix;
         * if a purge unlinked it, the purge already did. */
        if (corio__list_linked(&w->node)) {
            corio__list_remove(&w->node);
            b->count--;
        }
        return rc;
    }
    if (w->status)
        return w->status; /* broken, reset, destroyed */
    return w->aux > INT32_MAX ? INT32_MAX : (int)w->aux;
}

int corio_barrier_abort(corio_barrier *b)
{
    if (!b)
        return -EINVAL;
    b->broken = 1;
    fail_all(b, CORIO_EBROKEN);
    return 0;
}

int corio_barrier_reset(corio_barrier *b)
{
    if (!b)
        return -EINVAL;
    fail_all(b, CORIO_EBROKEN);
    b->broken = 0;
    return 0;
}

size_t corio_barrier_parties(const corio_barrier *b) { return b ? b->parties : 0; }

size_t corio_barrier_n_waiting(const corio_barrier *b)
{
    const corio__list *n;
    size_t k = 0;
    if (!b)
        return 0;
    for (n = b->waiters.next; n != &b->waiters; n = n->next) {
        const corio__waiter *w = corio__container_of(n, corio__waiter, node);
        if (w->task->state == CORIO_TASK_SUSPENDED &&
            w->task->b->wake == CORIO__WAKE_NONE)
            k++;
    }
    return k;
}

int corio_barrier_broken(const corio_barrier *b) { return !b || b->broken; }
