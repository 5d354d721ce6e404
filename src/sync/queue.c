/*
 * Queues of void * items: FIFO, LIFO and priority (asyncio's Queue,
 * LifoQueue, PriorityQueue), bounded or not, with join/task_done and
 * asyncio 3.13's shutdown.
 *
 * Items move by hand-off, never by "wake up and look again": a put that
 * finds a parked getter gives the item straight to it (the queue is then
 * empty, so order is unaffected), and a get that frees a slot of a full
 * queue moves the first parked putter's item into the queue at once. So a
 * waiter woken with status 0 always completed its operation, a cancelled one
 * never did, and a new arrival can never overtake a parked one (FIFO
 * fairness for free).
 *
 * Storage is one array of entries for every kind: a ring for FIFO, a stack
 * for LIFO, a binary min-heap for PRIORITY, where a sequence number makes
 * equal priorities come out in insertion order. It grows by doubling (up to
 * maxsize when bounded) and never shrinks until destroy.
 */
#include "sync/sync.h"

#include <stdlib.h>

/* What a task parked here waits on, for dumps and reports. */
static const corio__waitable wait_queue = {"queue", CORIO_WAIT_QUEUE, NULL};

typedef struct qent {
    void *item;
    int64_t prio;
    uint64_t seq; /* insertion order, breaks priority ties (FIFO) */
} qent;

/* Allocated by corio_queue_create(), freed by corio_queue_destroy(). */
struct corio_queue {
    int kind;             /* enum corio_queue_kind */
    int shutdown;         /* corio_queue_shutdown() was called */
    size_t maxsize;       /* 0: unbounded */
    qent *ent;            /* cap entries */
    size_t cap;
    size_t head;          /* FIFO: index of the oldest entry */
    size_t len;           /* items in the queue */
    uint64_t seq;         /* next insertion sequence number */
    size_t unfinished;    /* puts not yet matched by task_done() */
    corio__list getters;  /* parked get(): corio__waiter, FIFO */
    corio__list putters;  /* parked put(): item in value, priority in aux */
    corio__list joiners;  /* parked join() */
};

int corio_queue_create(corio_queue **qp, int kind, size_t maxsize)
{
    corio_queue *q;
    if (!qp)
        return -EINVAL;
    *qp = NULL;
    if (kind != CORIO_QUEUE_FIFO && kind != CORIO_QUEUE_LIFO &&
        kind != CORIO_QUEUE_PRIORITY)
        return -EINVAL;
    q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->kind = kind;
    q->maxsize = maxsize;
    corio__list_init(&q->getters);
    corio__list_init(&q->putters);
    corio__list_init(&q->joiners);
    *qp = q;
    return 0;
}

static void wake_all(corio__list *l, int status)
{
    while (corio__waiter_claim(l, status))
        ;
}

void corio_queue_destroy(corio_queue *q)
{
    if (!q)
        return;
    /* Tasks still waiting (a caller bug) are woken rather than left
     * pointing at freed memory. */
    wake_all(&q->getters, CORIO_ESHUTDOWN);
    wake_all(&q->putters, CORIO_ESHUTDOWN);
    wake_all(&q->joiners, CORIO_ESHUTDOWN);
    free(q->ent);
    free(q);
}

/* ---- storage -----------------------------------------------------------*/

static int grow(corio_queue *q)
{
    size_t ncap = q->cap ? q->cap * 2 : 16, i;
    qent *n;
    if (q->maxsize && ncap > q->maxsize)
        ncap = q->maxsize;
    if (ncap <= q->cap || ncap > ((size_t)-1 / 2) / sizeof *n)
        return -ENOMEM;
    n = malloc(ncap * sizeof *n);
    if (!n)
        return -ENOMEM;
    /* Unroll the FIFO ring to start at 0; the other kinds start at 0. */
    for (i = 0; i < q->len; i++) {
        size_t j = q->head + i;
        if (j >= q->cap)
            j -= q->cap;
        n[i] = q->ent[j];
    }
    free(q->ent);
    q->ent = n;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

static int ent_less(const qent *a, const qent *b)
{
    return a->prio < b->prio || (a->prio == b->prio && a->seq < b->seq);
}

/* Inserts; the caller checked the bound. 0 or -ENOMEM. */
static int store(corio_queue *q, void *item, int64_t prio)
{
    qent e;
    size_t i;
    if (q->len == q->cap) {
        int rc = grow(q);
        if (rc < 0)
            return rc;
    }
    e.item = item;
    e.prio = prio;
    e.seq = q->seq++;
    switch (q->kind) {
    case CORIO_QUEUE_FIFO:
        i = q->head + q->len;
        if (i >= q->cap)
            i -= q->cap;
        q->ent[i] = e;
        break;
    case CORIO_QUEUE_LIFO:
        q->ent[q->len] = e;
        break;
    default: /* heap: sift up */
        i = q->len;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!ent_less(&e, &q->ent[p]))
                break;
            q->ent[i] = q->ent[p];
            i = p;
        }
        q->ent[i] = e;
        break;
    }
    q->len++;
    return 0;
}

/* Removes the next item (len > 0). */
static qent take(corio_queue *q)
{
    qent e, last;
    size_t i, n;
    switch (q->kind) {
    case CORIO_QUEUE_FIFO:
        e = q->ent[q->head];
        if (++q->head == q->cap)
            q->head = 0;
        q->len--;
        return e;
    case CORIO_QUEUE_LIFO:
        return q->ent[--q->len];
    default: /* heap: sift the last entry down from the root */
        e = q->ent[0];
        n = --q->len;
        if (n == 0)
            return e;
        last = q->ent[n];
        i = 0;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= n)
                break;
            if (c + 1 < n && ent_less(&q->ent[c + 1], &q->ent[c]))
                c++;
            if (!ent_less(&q->ent[c], &last))
                break;
            q->ent[i] = q->ent[c];
            i = c;
        }
        q->ent[i] = last;
        return e;
    }
}

static int full(const corio_queue *q)
{
    return q->maxsize && q->len >= q->maxsize;
}

/* ---- put -----------------------------------------------------------------*/

/* Non-blocking put: 0, -EAGAIN (full), -ENOMEM, CORIO_ESHUTDOWN. */
static int try_put(corio_queue *q, void *item, int64_t prio)
{
    corio__waiter *w;
    int rc;
    if (q->shutdown)
        return CORIO_ESHUTDOWN;
    /* A parked getter means the queue is empty: hand the item over. */
    w = corio__waiter_claim(&q->getters, 0);
    if (w) {
        w->value = item;
        w->aux = prio;
        q->unfinished++;
        return 0;
    }
    if (full(q))
        return -EAGAIN;
    rc = store(q, item, prio);
    if (rc == 0)
        q->unfinished++;
    return rc;
}

int corio_queue_put_prio(corio_queue *q, void *item, int64_t priority)
{
    corio_task *self;
    corio__waiter *w;
    int rc = corio__sync_enter(&self);
    if (rc)
        return rc;
    if (!q)
        return -EINVAL;
    rc = try_put(q, item, priority);
    if (rc != -EAGAIN)
        return rc;
    rc = corio__waiter_park(self, &q->putters, item, priority,
                            &wait_queue, q, &w);
    return rc ? rc : w->status; /* 0: a get moved it in; or shut down */
}

int corio_queue_put(corio_queue *q, void *item)
{
    return corio_queue_put_prio(q, item, 0);
}

int corio_queue_try_put_prio(corio_queue *q, void *item, int64_t priority)
{
    return q ? try_put(q, item, priority) : -EINVAL;
}

int corio_queue_try_put(corio_queue *q, void *item)
{
    return corio_queue_try_put_prio(q, item, 0);
}

/* ---- get -----------------------------------------------------------------*/

/* Non-blocking get: 0, -EAGAIN (empty), CORIO_ESHUTDOWN (empty and shut
 * down). */
static int try_get(corio_queue *q, void **item, int64_t *prio)
{
    corio__waiter *w;
    if (q->len) {
        qent e = take(q);
        *item = e.item;
        *prio = e.prio;
        /* The freed slot goes to the first parked putter at once. store()
         * cannot fail here: the slot just freed is still allocated. */
        w = corio__waiter_claim(&q->putters, 0);
        if (w) {
            (void)store(q, w->value, w->aux);
            q->unfinished++; /* that put succeeded now */
        }
        return 0;
    }
    return q->shutdown ? CORIO_ESHUTDOWN : -EAGAIN;
}

int corio_queue_get_prio(corio_queue *q, void **item, int64_t *priority)
{
    corio_task *self;
    corio__waiter *w;
    void *v = NULL;
    int64_t p = 0;
    int rc = corio__sync_enter(&self);
    if (!rc && !q)
        rc = -EINVAL;
    if (!rc) {
        rc = try_get(q, &v, &p);
        if (rc == -EAGAIN) {
            rc = corio__waiter_park(self, &q->getters, NULL, 0,
                                    &wait_queue, q, &w);
            if (rc == 0) {
                rc = w->status;
                if (rc == 0) {
                    v = w->value;
                    p = w->aux;
                }
            }
        }
    }
    if (item)
        *item = v;
    if (priority)
        *priority = p;
    return rc;
}

int corio_queue_get(corio_queue *q, void **item)
{
    return corio_queue_get_prio(q, item, NULL);
}

int corio_queue_try_get_prio(corio_queue *q, void **item, int64_t *priority)
{
    void *v = NULL;
    int64_t p = 0;
    int rc = q ? try_get(q, &v, &p) : -EINVAL;
    if (item)
        *item = v;
    if (priority)
        *priority = p;
    return rc;
}

int corio_queue_try_get(corio_queue *q, void **item)
{
    return corio_queue_try_get_prio(q, item, NULL);
}

/* ---- join / task_done ------------------------------------------------------*/

int corio_queue_task_done(corio_queue *q)
{
    if (!q)
        return -EINVAL;
    if (q->unfinished == 0)
        return -EINVAL; /* more task_done() calls than items put */
    if (--q->unfinished == 0)
        wake_all(&q->joiners, 0);
    return 0;
}

int corio_queue_join(corio_queue *q)
{
    corio_task *self;
    corio__waiter *w;
    int rc = corio__sync_enter(&self);
    if (rc)
        return rc;
    if (!q)
        return -EINVAL;
    if (q->unfinished == 0)
        return 0;
    rc = corio__waiter_park(self, &q->joiners, NULL, 0, &wait_queue, q,
                            &w);
    return rc ? rc : w->status;
}

/* ---- shutdown ----------------------------------------------------------------*/

int corio_queue_shutdown(corio_queue *q, int immediate,
                         void (*drop)(void *item, void *arg), void *arg)
{
    int dropped = 0;
    if (!q)
        return -EINVAL;
    q->shutdown = 1;
    if (immediate) {
        while (q->len) {
            qent e = take(q);
            if (q->unfinished)
                q->unfinished--;
            if (drop)
                drop(e.item, arg);
            dropped++;
        }
        if (q->unfinished == 0)
            wake_all(&q->joiners, 0);
    }
    /* Getters only wait on an empty queue, so every one of them would find
     * nothing: they fail now. Putters fail and keep their items. */
    wake_all(&q->getters, CORIO_ESHUTDOWN);
    wake_all(&q->putters, CORIO_ESHUTDOWN);
    return dropped;
}

size_t corio_queue_len(const corio_queue *q) { return q ? q->len : 0; }
size_t corio_queue_maxsize(const corio_queue *q) { return q ? q->maxsize : 0; }
size_t corio_queue_unfinished(const corio_queue *q) { return q ? q->unfinished : 0; }
int corio_queue_is_shutdown(const corio_queue *q) { return q ? q->shutdown : 1; }
