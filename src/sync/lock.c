/*
 * Lock and Condition (asyncio.Lock, asyncio.Condition), for tasks of one
 * loop; no OS locks.
 *
 * The lock is handed off, not released and re-contended: release() gives it
 * straight to the first waiter that can still be woken (corio__wake with 0
 * is the claim, see sync.h), so waiters acquire in FIFO order, a newcomer can
 * never barge past them, and a waiter that was cancelled or timed out while
 * waiting is skipped without ever owning the lock. A waiter that was handed
 * the lock owns it even if it is cancelled before it runs again: its acquire
 * returns 0 (first wake wins) and the cancellation shows at its next
 * suspending call, so ownership is never lost in between.
 */
#include "sync/sync.h"

#include <stdlib.h>
#include "debug/debug.h"

/* Allocated by corio_lock_create(), freed by corio_lock_destroy(). */
struct corio_lock {
    corio_task *owner;    /* holder, or NULL when unlocked */
    corio__list waiters;  /* parked acquirers: corio__waiter, FIFO */
};

/* Allocated by corio_cond_create(), freed by corio_cond_destroy(). */
struct corio_cond {
    corio_lock *lock;     /* the lock it is used with */
    int own_lock;         /* 1: created with it, destroyed with it */
    corio__list waiters;  /* tasks in corio_cond_wait(), FIFO */
};

/* What a task parked on a lock waits for: its holder. */
static void describe_lock(const corio_task *t, const void *obj, char *buf,
                          size_t len, corio_task **owner)
{
    const corio_lock *l = obj;
    char nb[32];
    if (!l->owner || l->owner == t) {
        snprintf(buf, len, "lock %p (being handed over)", obj);
        return;
    }
    *owner = l->owner;
    snprintf(buf, len, "lock %p held by task #%llu '%s'", obj,
             (unsigned long long)l->owner->id,
             corio__task_label(l->owner, nb, sizeof nb));
}

/* A condition: whoever notifies it, unknown in advance. */
static void describe_cond(const corio_task *t, const void *obj, char *buf,
                          size_t len, corio_task **owner)
{
    (void)t;
    (void)owner;
    snprintf(buf, len, "condition %p (of lock %p)", obj,
             (const void *)((const corio_cond *)obj)->lock);
}

static const corio__waitable wait_lock = {"lock", CORIO_WAIT_LOCK, describe_lock};
static const corio__waitable wait_cond = {"condition", CORIO_WAIT_EVENT,
                                          describe_cond};

/* Lock-order tracking for debug reports (src/debug/lockorder.c): one test
 * of the loop's debug flags when debug mode is off. */
static inline void dbg_acquired(corio_task *t, const corio_lock *l)
{
    if (CORIO__DBG_ON(corio__task_loop(t), CORIO__DBG_MODE))
        corio__debug_lock_acquired(t, l, "lock");
}

static inline void dbg_released(corio_task *t, const corio_lock *l)
{
    if (CORIO__DBG_ON(corio__task_loop(t), CORIO__DBG_MODE))
        corio__debug_lock_released(t, l);
}

/* ---- Lock -----------------------------------------------------------------*/

int corio_lock_create(corio_lock **lp)
{
    corio_lock *l;
    if (!lp)
        return -EINVAL;
    *lp = l = malloc(sizeof *l);
    if (!l)
        return -ENOMEM;
    l->owner = NULL;
    corio__list_init(&l->waiters);
    return 0;
}

void corio_lock_destroy(corio_lock *l)
{
    if (!l)
        return;
    /* Waiters on a destroyed lock (a caller bug) fail rather than hang. */
    while (corio__waiter_claim(&l->waiters, -EIDRM))
        ;
    {
        corio_loop *loop = corio_loop_current();
        if (loop && loop->dbg)
            corio__debug_lock_destroyed(loop, l);
    }
    free(l);
}

int corio_lock_acquire(corio_lock *l)
{
    corio_task *self;
    corio__waiter *w;
    int rc = corio__sync_enter(&self);
    if (rc)
        return rc;
    if (!l)
        return -EINVAL;
    if (l->owner == self)
        return -EDEADLK; /* not recursive: this wait could never end */
    if (!l->owner) {
        /* Unlocked means nobody waits: release() hands it to a waiter. */
        l->owner = self;
        dbg_acquired(self, l);
        return 0;
    }
    rc = corio__waiter_park(self, &l->waiters, NULL, 0, &wait_lock, l,
                            &w);
    /* 0: release() made us the owner before waking us. */
    if (!rc)
        rc = w->status;
    if (!rc)
        dbg_acquired(self, l);
    return rc;
}

int corio_lock_try_acquire(corio_lock *l)
{
    corio_task *self = corio__sync_self();
    if (!self)
        return -EPERM;
    if (!l)
        return -EINVAL;
    if (l->owner == self)
        return -EDEADLK;
    if (l->owner)
        return -EBUSY;
    l->owner = self;
    dbg_acquired(self, l);
    return 0;
}

int corio_lock_release(corio_lock *l)
{
    corio__waiter *w;
    if (!l)
        return -EINVAL;
    if (!l->owner || l->owner != corio__sync_self())
        return -EPERM;
    dbg_released(l->owner, l);
    w = corio__waiter_claim(&l->waiters, 0);
    l->owner = w ? w->task : NULL;
    return 0;
}

int corio_lock_locked(const corio_lock *l) { return l && l->owner != NULL; }
corio_task *corio_lock_owner(const corio_lock *l) { return l ? l->owner : NULL; }

/* ---- Condition -------------------------------------------------------------*/

int corio_cond_create(corio_cond **cp, corio_lock *lock)
{
    corio_cond *c;
    if (!cp)
        return -EINVAL;
    *cp = NULL;
    c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->own_lock = 0;
    if (!lock) {
        int rc = corio_lock_create(&lock);
        if (rc < 0) {
            free(c);
            return rc;
        }
        c->own_lock = 1;
    }
    c->lock = lock;
    corio__list_init(&c->waiters);
    *cp = c;
    return 0;
}

void corio_cond_destroy(corio_cond *c)
{
    if (!c)
        return;
    while (corio__waiter_claim(&c->waiters, -EIDRM))
        ;
    if (c->own_lock)
        corio_lock_destroy(c->lock);
    free(c);
}

corio_lock *corio_cond_lock(corio_cond *c) { return c ? c->lock : NULL; }

int corio_cond_acquire(corio_cond *c)
{
    return c ? corio_lock_acquire(c->lock) : -EINVAL;
}

int corio_cond_release(corio_cond *c)
{
    return c ? corio_lock_release(c->lock) : -EINVAL;
}

/* Takes the lock back without being interruptible: the caller of
 * corio_cond_wait() must hold the lock when it returns, whatever it
 * returns. A shield scope hides cancellation and outer deadlines from the
 * acquire (a shield scope may live on the task's stack: only its own task
 * reads it). */
static void reacquire(corio_lock *l)
{
    corio_scope shield;
    corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
    /* It cannot fail while l lives: nothing interrupts it and we do not
     * hold l. */
    (void)corio_lock_acquire(l);
    corio_scope_exit(&shield);
}

int corio_cond_wait(corio_cond *c)
{
    corio_task *self;
    corio__waiter *w;
    int rc = corio__sync_enter(&self);
    if (rc == -EPERM)
        return rc;
    if (!c)
        return -EINVAL;
    if (c->lock->owner != self)
        return -EPERM;
    if (rc)
        return rc; /* interrupted already: keep the lock, do not wait */
    corio_lock_release(c->lock);
    rc = corio__waiter_park(self, &c->waiters, NULL, 0, &wait_cond, c,
                            &w);
    if (rc == 0)
        rc = w->status;
    /* Notified (0) or not, we own the lock again before returning. If the
     * task is cancelled after being notified, it still returns 0: the
     * notification was consumed, and the cancellation shows at the next
     * suspending call. */
    if (rc != -EIDRM)
        reacquire(c->lock);
    return rc;
}

int corio_cond_wait_for(corio_cond *c, int (*pred)(void *arg), void *arg)
{
    int rc;
    if (!pred)
        return -EINVAL;
    while (!pred(arg)) {
        rc = corio_cond_wait(c);
        if (rc)
            return rc;
    }
    return 0;
}

int corio_cond_wait_value(corio_cond *c, int (*pred)(void *arg), void *arg)
{
    int v, rc;
    if (!c || !pred)
        return -EINVAL;
    if (c->lock->owner == NULL || c->lock->owner != corio__sync_self())
        return -EPERM; /* pred must run under the lock */
    while ((v = pred(arg)) == 0) {
        rc = corio_cond_wait(c);
        if (rc)
            return rc;
    }
    return v; /* asyncio: wait_for returns the predicate's value */
}

int corio_cond_notify(corio_cond *c, size_t n)
{
    size_t woken = 0;
    if (!c)
        return -EINVAL;
    if (c->lock->owner == NULL || c->lock->owner != corio__sync_self())
        return -EPERM;
    while (woken < n && corio__waiter_claim(&c->waiters, 0))
        woken++;
    return woken > (size_t)INT32_MAX ? INT32_MAX : (int)woken;
}

int corio_cond_notify_all(corio_cond *c)
{
    return corio_cond_notify(c, (size_t)-1);
}
