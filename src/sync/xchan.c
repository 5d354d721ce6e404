/*
 * corio_xchan: a bounded MPMC channel between the loops of a
 * corio_run_multi runtime.
 *
 * State (ring buffer, waiter lists, closed) is guarded by a spinlock of the
 * channel's own, held for a few instructions and never across a switch or a
 * system call; only the channel's users contend for it. A task that must
 * wait links a node from its own stack into the channel's list and parks on
 * its own loop. A peer that unblocks it (on any loop) claims the node under
 * the lock (claimed = 1, value and status written), and then wakes it: with
 * corio__wake directly if they share a loop, otherwise by posting the node's
 * embedded message to the waiter's inbox, whose handler sets `delivered` and
 * wakes it there. So every wake-up is batched by the inbox: at most one
 * eventfd write per destination loop per iteration, none while it is awake.
 *
 * First-wake-wins across loops: a waiter interrupted on its own loop
 * (cancel, timeout) takes the lock; if its node is unclaimed it unlinks it
 * and reports the interruption (nothing was handed over); if a peer claimed
 * it, the hand-off happened: the waiter waits, uninterruptibly, for the
 * message already on its way (its node lives on its stack until then) and
 * reports success. Its cancellation is then seen at its next suspending
 * call, as for local channels.
 *
 * While parked a task holds a keep-alive reference on its loop: another
 * loop may wake it, so its loop must neither finish nor call it a deadlock.
 * Nodes on task stacks are why corio_run_multi refuses COMPACT stacks.
 */
#include "sync/xchan.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>


/* What a task parked on a corio_xchan waits on, for dumps and reports. */
static const corio__waitable xchan_waitable = {"cross-loop channel",
                                               CORIO_WAIT_CHANNEL, NULL};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int corio_xchan_create(corio_xchan **cp, size_t capacity, unsigned spin_ns)
{
    corio_xchan *c;
    if (!cp)
        return -EINVAL;
    *cp = NULL;
    if (!capacity || capacity > ((size_t)-1 / 2) / sizeof(void *))
        return -EINVAL;
    c = aligned_alloc(CORIO__CACHELINE,
                      (sizeof *c + CORIO__CACHELINE - 1) & ~(size_t)(CORIO__CACHELINE - 1));
    if (!c)
        return -ENOMEM;
    c->buf = malloc(capacity * sizeof(void *));
    if (!c->buf) {
        free(c);
        return -ENOMEM;
    }
    atomic_init(&c->lock, 0);
    atomic_init(&c->alen, 0);
    atomic_init(&c->aclosed, 0);
    c->cap = capacity;
    c->head = c->len = 0;
    corio__list_init(&c->recvq);
    corio__list_init(&c->sendq);
    c->closed = 0;
    c->spin_ns = spin_ns;
    *cp = c;
    return 0;
}

void corio_xchan_destroy(corio_xchan *c)
{
    if (!c)
        return;
    free(c->buf);
    free(c);
}

static void deliver_handler(corio_loop *loop, corio__rmsg *m)
{
    corio__xwait *w = corio__container_of(m, corio__xwait, msg);
    (void)loop;
    w->delivered = 1;
    corio__wake(w->task, 0); /* 0 if it was interrupted meanwhile */
}

/* Test seam (tests/test_multi_chan.c): called between a claim and its
 * wake-up, to hold that window open. NULL outside those tests. */
void (*corio__xchan_after_claim)(void);

/* After the lock is released: wakes the claimed or poked waiter w. */
void corio__xchan_notify(corio_loop *self, corio__xwait *w)
{
    if (CORIO__UNLIKELY(corio__xchan_after_claim != NULL))
        corio__xchan_after_claim();
    if (w->loop == self) {
        w->delivered = 1;
        corio__wake(w->task, 0);
        return;
    }
    w->msg.fn = deliver_handler;
    corio__remote_post(w->loop, &w->msg, self);
}
#define notify corio__xchan_notify

/* The first plain wait of q (selects' waits are skipped: they are poked,
 * never claimed), unlinked and claimed with status; NULL if none. */
static corio__xwait *claim_first(corio__list *q, int status)
{
    corio__list *n;
    corio__xwait *w;
    for (n = q->next; n != q; n = n->next) {
        w = corio__container_of(n, corio__xwait, node);
        if (CORIO__UNLIKELY(w->poke))
            continue;
        corio__list_remove(n);
        w->claimed = 1;
        w->status = status;
        return w;
    }
    return NULL;
}

/* The channel became ready in q's direction for whoever comes: every
 * select waiting there is unlinked onto out, to be notified after the
 * lock is released; each retries its cases on its own loop. */
static void poke_all(corio__list *q, corio__list *out)
{
    corio__list *n = q->next, *next;
    for (; n != q; n = next) {
        corio__xwait *w = corio__container_of(n, corio__xwait, node);
        next = n->next;
        if (!w->poke)
            continue;
        corio__list_remove(n);
        w->poked = 1;
        corio__list_push_back(out, n);
    }
}

/* After the lock is released: notifies what poke_all collected. */
static void notify_pokes(corio_loop *self, corio__list *pokes)
{
    corio__list *n;
    while ((n = corio__list_pop_front(pokes)))
        notify(self, corio__container_of(n, corio__xwait, node));
}

/* Entry check: the caller must be a task on a loop of a runtime. */
static int enter(corio_loop **loopp, corio_task **selfp)
{
    corio_loop *loop = corio__remote_self();
    corio_task *self = loop ? loop->current : NULL;
    *loopp = loop;
    *selfp = self;
    if (!self)
        return -EPERM;
    return corio__interrupted(self);
}

/* Called with the lock held and w linked: unlocks, parks until claimed or
 * interrupted. Returns 0 (claimed: w->status holds the outcome) or the
 * interruption (w unlinked, nothing handed over). */
static int park(corio_xchan *c, corio_loop *loop, corio_task *self, corio__xwait *w)
{
    int rc;
    corio__xunlock(c);
    corio__xwait_begin(loop);
    for (;;) {
        rc = corio__park(self, &xchan_waitable, c);
        if (w->delivered)
            break;
        if (rc == 0)
            continue; /* not ours (nothing does that): keep waiting */
        corio__xlock(c);
        if (!w->claimed) {
            corio__list_remove(&w->node);
            corio__xunlock(c);
            corio__xwait_end(loop);
            return rc;
        }
        corio__xunlock(c);
        /* Claimed on another loop: the wake-up is on its way and points at
         * w, which lives on this stack. Wait for it, whatever else comes:
         * a shield hides our cancellation and deadlines from this wait
         * (and corio_cancel does not wake a shielded task). */
        {
            corio_scope sh;
            corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
            while (!w->delivered)
                (void)corio__park(self, &xchan_waitable, c);
            corio_scope_exit(&sh);
        }
        break;
    }
    corio__xwait_end(loop);
    return 0;
}

/* Spin-then-park: watch (without the lock) until cond may hold. */
static void spin_until(corio_xchan *c, int sending)
{
    int64_t end = mono_ns() + c->spin_ns;
    unsigned i;
    for (;;) {
        for (i = 0; i < 64; i++) {
            size_t len = atomic_load_explicit(&c->alen, memory_order_relaxed);
            if (atomic_load_explicit(&c->aclosed, memory_order_relaxed) ||
                (sending ? len < c->cap : len > 0))
                return;
            corio__cpu_relax();
        }
        if (mono_ns() >= end)
            return;
    }
}

/* Lock held. 0 done (*wp: a receiver to notify, or NULL; pokes: selects
 * to notify), -EAGAIN, closed. */
static int send_locked(corio_xchan *c, void *value, corio__xwait **wp, corio__list *pokes)
{
    corio__xwait *w;
    *wp = NULL;
    if (c->closed)
        return CORIO_ECLOSED;
    w = claim_first(&c->recvq, 0);
    if (w) {
        w->value = value;
        *wp = w;
        return 0;
    }
    if (c->len < c->cap) {
        size_t i = c->head + c->len;
        if (i >= c->cap)
            i -= c->cap;
        c->buf[i] = value;
        c->len++;
        atomic_store_explicit(&c->alen, c->len, memory_order_relaxed);
        if (CORIO__UNLIKELY(!corio__list_empty(&c->recvq)))
            poke_all(&c->recvq, pokes); /* only selects wait there now */
        return 0;
    }
    return -EAGAIN;
}

/* Lock held. 0 done (*wp: a sender to notify, or NULL; pokes: selects to
 * notify), -EAGAIN, closed. */
static int recv_locked(corio_xchan *c, void **value, corio__xwait **wp, corio__list *pokes)
{
    corio__xwait *w;
    *wp = NULL;
    if (c->len) {
        *value = c->buf[c->head];
        /* The freed slot goes to the first parked sender (FIFO). */
        w = claim_first(&c->sendq, 0);
        if (w) {
            c->buf[c->head] = w->value; /* head + len == head: full */
            *wp = w;
        } else {
            c->len--;
            atomic_store_explicit(&c->alen, c->len, memory_order_relaxed);
            if (CORIO__UNLIKELY(!corio__list_empty(&c->sendq)))
                poke_all(&c->sendq, pokes); /* room, and only selects wait */
        }
        if (++c->head == c->cap)
            c->head = 0;
        return 0;
    }
    return c->closed ? CORIO_ECLOSED : -EAGAIN;
}

int corio_xchan_send(corio_xchan *c, void *value)
{
    corio_loop *loop;
    corio_task *self;
    corio__xwait w, *peer;
    corio__list pokes;
    int rc = enter(&loop, &self);
    if (rc)
        return rc;
    if (!c)
        return -EINVAL;
    if (c->spin_ns && atomic_load_explicit(&c->alen, memory_order_relaxed) >= c->cap)
        spin_until(c, 1);
    corio__xlock(c);
    corio__list_init(&pokes);
    rc = send_locked(c, value, &peer, &pokes);
    if (rc != -EAGAIN) {
        corio__xunlock(c);
        if (peer)
            notify(loop, peer);
        notify_pokes(loop, &pokes);
        return rc;
    }
    w.task = self;
    w.loop = loop;
    w.value = value;
    w.status = 0;
    w.claimed = 0;
    w.delivered = 0;
    w.poke = 0;
    w.poked = 0;
    corio__list_push_back(&c->sendq, &w.node);
    rc = park(c, loop, self, &w);
    return rc ? rc : w.status;
}

int corio_xchan_recv(corio_xchan *c, void **value)
{
    corio_loop *loop;
    corio_task *self;
    corio__xwait w, *peer;
    corio__list pokes;
    void *v = NULL;
    int rc = enter(&loop, &self);
    if (value)
        *value = NULL;
    if (rc)
        return rc;
    if (!c)
        return -EINVAL;
    if (c->spin_ns && atomic_load_explicit(&c->alen, memory_order_relaxed) == 0)
        spin_until(c, 0);
    corio__xlock(c);
    corio__list_init(&pokes);
    rc = recv_locked(c, &v, &peer, &pokes);
    if (rc != -EAGAIN) {
        corio__xunlock(c);
        if (peer)
            notify(loop, peer);
        notify_pokes(loop, &pokes);
        if (value)
            *value = v;
        return rc;
    }
    w.task = self;
    w.loop = loop;
    w.value = NULL;
    w.status = 0;
    w.claimed = 0;
    w.delivered = 0;
    w.poke = 0;
    w.poked = 0;
    corio__list_push_back(&c->recvq, &w.node);
    rc = park(c, loop, self, &w);
    if (rc)
        return rc;
    if (w.status == 0 && value)
        *value = w.value;
    return w.status;
}

int corio_xchan_try_send(corio_xchan *c, void *value)
{
    corio_loop *loop = corio__remote_self();
    corio__xwait *peer;
    corio__list pokes;
    int rc;
    if (!c)
        return -EINVAL;
    if (!loop)
        return -EPERM;
    corio__list_init(&pokes);
    corio__xlock(c);
    rc = send_locked(c, value, &peer, &pokes);
    corio__xunlock(c);
    if (peer)
        notify(loop, peer);
    notify_pokes(loop, &pokes);
    return rc;
}

int corio_xchan_try_recv(corio_xchan *c, void **value)
{
    corio_loop *loop = corio__remote_self();
    corio__xwait *peer;
    corio__list pokes;
    void *v = NULL;
    int rc;
    if (value)
        *value = NULL;
    if (!c)
        return -EINVAL;
    if (!loop)
        return -EPERM;
    corio__list_init(&pokes);
    corio__xlock(c);
    rc = recv_locked(c, &v, &peer, &pokes);
    corio__xunlock(c);
    if (peer)
        notify(loop, peer);
    notify_pokes(loop, &pokes);
    if (rc == 0 && value)
        *value = v;
    return rc;
}

int corio_xchan_close(corio_xchan *c)
{
    corio_loop *loop = corio__remote_self();
    corio__list woken;
    corio__list *n;
    corio__xwait *w;
    if (!c)
        return -EINVAL;
    if (!loop)
        return -EPERM;
    corio__list_init(&woken);
    corio__xlock(c);
    if (c->closed) {
        corio__xunlock(c);
        return -EALREADY;
    }
    c->closed = 1;
    atomic_store_explicit(&c->aclosed, 1, memory_order_relaxed);
    while ((w = claim_first(&c->recvq, CORIO_ECLOSED)))
        corio__list_push_back(&woken, &w->node);
    while ((w = claim_first(&c->sendq, CORIO_ECLOSED)))
        corio__list_push_back(&woken, &w->node);
    poke_all(&c->recvq, &woken); /* selects: a closed channel is ready */
    poke_all(&c->sendq, &woken);
    corio__xunlock(c);
    /* The nodes are ours now (claimed): a private list, then notified. */
    while ((n = corio__list_pop_front(&woken)))
        notify(loop, corio__container_of(n, corio__xwait, node));
    return 0;
}
