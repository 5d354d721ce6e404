/*
 * Semaphore, BoundedSemaphore and Event (asyncio's), for tasks of one loop.
 *
 * A semaphore unit is handed off like a lock: release() gives it straight
 * to the first waiter that can still be woken, so waiters are served FIFO,
 * a newcomer cannot take a unit a waiter was promised, and a cancelled
 * waiter never consumes one (asyncio needed several fixes to get there:
 * bpo-45997, gh-90155). A waiter handed a unit keeps it even if cancelled
 * before it runs: its acquire returns 0.
 */
#include "sync/sync.h"

#include <stdlib.h>

/* Allocated by corio_sem_create*(), freed by corio_sem_destroy(). */
struct corio_sem {
    size_t value;         /* free units; 0 while anyone waits */
    size_t bound;         /* bounded: value may not exceed it; else 0 */
    int bounded;
    corio__list waiters;  /* parked acquirers, FIFO */
};

/* Allocated by corio_event_create(), freed by corio_event_destroy(). */
struct corio_event {
    int set;
    corio__list waiters;  /* parked in corio_event_wait() */
};

/* A semaphore has no single holder: its state is what there is to say. */
static void describe_sem(const corio_task *t, const void *obj, char *buf,
                         size_t len, corio_task **owner)
{
    const corio_sem *s = obj;
    size_t nw = 0;
    const corio__list *p;
    (void)t;
    (void)owner;
    for (p = s->waiters.next; p != &s->waiters; p = p->next)
        nw++;
    snprintf(buf, len, "semaphore %p (value %zu, %zu waiting)", obj, s->value, nw);
}

static const corio__waitable wait_sem = {"semaphore", CORIO_WAIT_LOCK, describe_sem};
static const corio__waitable wait_event = {"event", CORIO_WAIT_EVENT, NULL};

/* ---- Semaphore -------------------------------------------------------------*/

static int sem_create(corio_sem **sp, size_t value, int bounded)
{
    corio_sem *s;
    if (!sp)
        return -EINVAL;
    *sp = s = malloc(sizeof *s);
    if (!s)
        return -ENOMEM;
    s->value = value;
    s->bound = bounded ? value : 0;
    s->bounded = bounded;
    corio__list_init(&s->waiters);
    return 0;
}

int corio_sem_create(corio_sem **sp, size_t value)
{
    return sem_create(sp, value, 0);
}

int corio_sem_create_bounded(corio_sem **sp, size_t value)
{
    return sem_create(sp, value, 1);
}

void corio_sem_destroy(corio_sem *s)
{
    if (!s)
        return;
    while (corio__waiter_claim(&s->waiters, -EIDRM))
        ;
    free(s);
}

int corio_sem_acquire(corio_sem *s)
{
    corio_task *self;
    corio__waiter *w;
    int rc = corio__sync_enter(&self);
    if (rc)
        return rc;
    if (!s)
        return -EINVAL;
    if (s->value > 0) {
        /* value > 0 means nobody waits (release hands units to waiters). */
        s->value--;
        return 0;
    }
    rc = corio__waiter_park(self, &s->waiters, NULL, 0, &wait_sem, s,
                            &w);
    return rc ? rc : w->status; /* 0: release() gave us its unit */
}

int corio_sem_try_acquire(corio_sem *s)
{
    if (!s)
        return -EINVAL;
    if (s->value == 0)
        return -EAGAIN;
    s->value--;
    return 0;
}

int corio_sem_release(corio_sem *s)
{
    if (!s)
        return -EINVAL;
    if (s->bounded && s->value >= s->bound)
        return -EOVERFLOW; /* asyncio: "released too many times" */
    if (corio__waiter_claim(&s->waiters, 0))
        return 0; /* the unit went to that waiter */
    if (s->value == (size_t)-1)
        return -EOVERFLOW;
    s->value++;
    return 0;
}

size_t corio_sem_value(const corio_sem *s) { return s ? s->value : 0; }

int corio_sem_locked(const corio_sem *s)
{
    /* asyncio: True if acquire() would wait. */
    return !s || s->value == 0;
}

/* ---- Event -----------------------------------------------------------------*/

int corio_event_create(corio_event **ep)
{
    corio_event *e;
    if (!ep)
        return -EINVAL;
    *ep = e = malloc(sizeof *e);
    if (!e)
        return -ENOMEM;
    e->set = 0;
    corio__list_init(&e->waiters);
    return 0;
}

void corio_event_destroy(corio_event *e)
{
    if (!e)
        return;
    while (corio__waiter_claim(&e->waiters, -EIDRM))
        ;
    free(e);
}

int corio_event_set(corio_event *e)
{
    if (!e)
        return -EINVAL;
    if (!e->set) {
        e->set = 1;
        /* Every waiter is woken with 0 now, so a clear() before they run
         * does not take the wake-up back (asyncio behaves the same). */
        while (corio__waiter_claim(&e->waiters, 0))
            ;
    }
    return 0;
}

int corio_event_clear(corio_event *e)
{
    if (!e)
        return -EINVAL;
    e->set = 0;
    return 0;
}

int corio_event_is_set(const corio_event *e) { return e && e->set; }

int corio_event_wait(corio_event *e)
{
    corio_task *self;
    corio__waiter *w;
    int rc = corio__sync_enter(&self);
    if (rc)
        return rc;
    if (!e)
        return -EINVAL;
    if (e->set)
        return 0;
    rc = corio__waiter_park(self, &e->waiters, NULL, 0, &wait_event, e,
                            &w);
    return rc ? rc : w->status;
}
