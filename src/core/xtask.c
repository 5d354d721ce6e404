/*
 * Tasks on other loops: corio_spawn_on and the corio_xtask handle.
 *
 * The handle is a small shared block, the only thing two loops both touch:
 *   - the home loop (where the task runs) owns `task` and writes the outcome
 *     (status, value) before it sets XT_DONE (release);
 *   - the awaiter's loop owns `waiter`/`wloop`, written before it sets
 *     XT_AWAIT (release);
 *   - whoever sets the second of XT_DONE / XT_AWAIT with a read-modify-write
 *     learns whether the other was there first (acq_rel), so exactly one
 *     side acts: if the awaiter came first, the home loop posts the `msg`
 *     node back to the awaiter's loop, whose handler wakes it; if the result
 *     came first, the awaiter takes it without waiting.
 * An interrupted awaiter withdraws XT_AWAIT with a compare-and-swap; if
 * XT_DONE won the race, the message is already on its way and it is its
 * handler that balances the loop's keep-alive count.
 *
 * Memory: refs counts the handle (until consumed), the home loop (until it
 * has delivered the outcome) and each cancel message in flight; the last
 * one to let go frees the block. Two message nodes are embedded: `msg`
 * carries the spawn to the home loop and later the outcome back (never
 * both at once), `cmsg` carries the one cancel request.
 */
#include "core/remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { XT_DONE = 1u, XT_AWAIT = 2u, XT_CANCEL = 4u };

struct corio_xtask {
    corio__rmsg msg;        /* spawn (to home), then done (to the awaiter) */
    corio__rmsg cmsg;       /* cancel (to home) */
    corio_loop *home;
    corio_fn fn;
    void *arg;
    void *site;             /* where corio_spawn_on was called (dumps) */
    corio_task *task;       /* home only: the task until it ended */
    corio_task *waiter;     /* awaiter's loop only: the parked awaiter */
    corio_loop *wloop;      /* the awaiter's loop (written before XT_AWAIT) */
    void *value;            /* outcome (written before XT_DONE) */
    int status;
    atomic_uint state;      /* XT_* */
    atomic_uint refs;
};

/* A task awaiting a task of another loop: "task on loop 2". The other
 * loop's task cannot be read from here (another thread), so no owner. */
static void describe_xtask(const corio_task *t, const void *obj, char *buf,
                           size_t len, corio_task **owner)
{
    const corio_xtask *x = obj;
    (void)t;
    (void)owner;
    snprintf(buf, len, "task on loop %u (corio_xtask %p)", x->home->remote->index,
             obj);
}

static const corio__waitable xtask_waitable = {"task on another loop",
                                               CORIO_WAIT_TASK, describe_xtask};

static void xt_put(corio_xtask *x)
{
    if (atomic_fetch_sub_explicit(&x->refs, 1, memory_order_acq_rel) == 1)
        free(x);
}

/* Awaiter's loop: the outcome arrived. */
static void done_handler(corio_loop *loop, corio__rmsg *m)
{
    corio_xtask *x = corio__container_of(m, corio_xtask, msg);
    corio__xwait_end(loop);
    if (x->waiter)
        corio__wake(x->waiter, 0); /* 0 if already woken (interrupted) */
    xt_put(x);                     /* the home loop's reference */
}

/* Home loop: the task ended (or never could start). */
static void xt_complete(corio_xtask *x, int status, void *value)
{
    unsigned old;
    x->task = NULL;
    x->status = status;
    x->value = value;
    old = atomic_fetch_or_explicit(&x->state, XT_DONE, memory_order_acq_rel);
    if (old & XT_AWAIT) {
        x->msg.fn = done_handler;
        corio__remote_post(x->wloop, &x->msg, x->home);
    } else {
        xt_put(x);
    }
}

static void *xt_body(void *arg)
{
    corio_xtask *x = arg;
    corio_task *self = x->task;
    void *v = x->fn(x->arg);
    int status = 0;
    if (self->flags & CORIO__TF_FAILED)
        status = self->b->status; /* set by corio_fail; it runs, so has its body */
    else if (self->flags & CORIO__TF_CANCEL)
        status = -ECANCELED;
    xt_complete(x, status, v);
    return v;
}

/* Home loop: cancel the task as corio_cancel does; one that never started
 * ends without running, so its body will not report: report for it. */
static void xt_cancel_local(corio_xtask *x)
{
    corio_task *t = x->task;
    int started;
    if (!t)
        return;
    started = (t->flags & CORIO__TF_STARTED) != 0;
    corio_cancel(t); /* frees it if it never started (detached) */
    if (!started)
        xt_complete(x, -ECANCELED, NULL);
}

static void spawn_handler(corio_loop *loop, corio__rmsg *m)
{
    corio_xtask *x = corio__container_of(m, corio_xtask, msg);
    corio_spawn_opts o;
    corio_task *t;
    int rc;
    memset(&o, 0, sizeof o);
    o.loop = loop;
    rc = corio__spawn_at(&t, xt_body, x, &o, x->site);
    if (rc < 0) {
        xt_complete(x, rc, NULL);
        return;
    }
    x->task = t;
    corio_detach(t); /* the loop owns the task; the handle owns the result */
    if (atomic_load_explicit(&loop->remote->rt->shutting_down, memory_order_relaxed))
        xt_cancel_local(x); /* the runtime is ending: never runs */
}

static void cancel_handler(corio_loop *loop, corio__rmsg *m)
{
    corio_xtask *x = corio__container_of(m, corio_xtask, cmsg);
    (void)loop;
    xt_cancel_local(x);
    xt_put(x); /* the message's reference */
}

static int spawn_on(corio_xtask **hp, corio_loop *loop, corio_fn fn, void *arg,
                    void *site)
{
    corio_loop *self = corio__remote_self();
    corio_xtask *x;
    if (hp)
        *hp = NULL;
    if (!self)
        return -EPERM;
    if (!loop || !fn || !loop->remote || loop->remote->rt != self->remote->rt)
        return -EINVAL;
    x = malloc(sizeof *x);
    if (!x)
        return -ENOMEM;
    x->home = loop;
    x->fn = fn;
    x->arg = arg;
    x->site = site;
    x->task = NULL;
    x->waiter = NULL;
    x->wloop = NULL;
    x->value = NULL;
    x->status = 0;
    atomic_init(&x->state, 0);
    atomic_init(&x->refs, hp ? 2 : 1);
    x->msg.fn = spawn_handler;
    if (hp)
        *hp = x;
    corio__remote_post(loop, &x->msg, self);
    return 0;
}

int corio_spawn_on(corio_xtask **hp, corio_loop *loop, corio_fn fn, void *arg)
{
    return spawn_on(hp, loop, fn, arg, __builtin_return_address(0));
}

int corio_xtask_cancel(corio_xtask *x)
{
    corio_loop *self = corio__remote_self();
    unsigned old;
    if (!x || !self)
        return 0;
    old = atomic_fetch_or_explicit(&x->state, XT_CANCEL, memory_order_acq_rel);
    if (old & (XT_CANCEL | XT_DONE))
        return 0;
    atomic_fetch_add_explicit(&x->refs, 1, memory_order_relaxed);
    x->cmsg.fn = cancel_handler;
    corio__remote_post(x->home, &x->cmsg, self);
    return 1;
}

void corio_xtask_detach(corio_xtask *x)
{
    if (x)
        xt_put(x);
}

int corio_xtask_done(const corio_xtask *x)
{
    return x && (atomic_load_explicit(&((corio_xtask *)x)->state,
                                      memory_order_acquire) & XT_DONE) != 0;
}

/* Waits until x has ended, without consuming it: 0 once XT_DONE is seen
 * (its outcome readable), or the caller's interruption, with XT_AWAIT
 * withdrawn (no message will come). */
static int xt_wait(corio_xtask *x, corio_loop *loop, corio_task *self)
{
    unsigned st = atomic_load_explicit(&x->state, memory_order_acquire);
    int rc;
    if (st & XT_DONE)
        return 0;
    x->waiter = self;
    x->wloop = loop;
    corio__xwait_begin(loop); /* a wake-up another loop will send */
    st = atomic_fetch_or_explicit(&x->state, XT_AWAIT, memory_order_acq_rel);
    if (st & XT_DONE) {
        /* It ended meanwhile and saw no awaiter: no message comes. */
        corio__xwait_end(loop);
        x->waiter = NULL;
        return 0;
    }
    rc = corio__park(self, &xtask_waitable, x);
    x->waiter = NULL; /* the done handler runs on this thread too */
    if (rc == 0)
        return 0; /* the done handler woke us (and balanced keepalive) */
    st = atomic_load_explicit(&x->state, memory_order_acquire);
    while (!(st & XT_DONE) &&
           !atomic_compare_exchange_weak_explicit(&x->state, &st, st & ~XT_AWAIT,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire))
        ;
    if (st & XT_DONE) {
        /* It ended in the race: its outcome is ours (as when a local
         * awaited task is done by the time we look), and the message on its
         * way balances keepalive (it finds no waiter to wake). */
        return 0;
    }
    corio__xwait_end(loop); /* withdrawn: no message will come */
    return rc;
}

int corio_xtask_await(corio_xtask *x, void **result, unsigned flags)
{
    corio_loop *loop = corio__remote_self();
    corio_task *self = loop ? loop->current : NULL;
    int rc;

    if (result)
        *result = NULL;
    if (!x)
        return -EINVAL;
    if (!self)
        return -EPERM;
    if (atomic_load_explicit(&x->state, memory_order_acquire) & XT_DONE) {
        if ((rc = corio__interrupted(self)) != 0) {
            xt_put(x); /* a suspension point all the same; handle consumed */
            return rc;
        }
    } else if ((rc = xt_wait(x, loop, self)) != 0) {
        if (!(flags & CORIO_AWAIT_SHIELD))
            corio_xtask_cancel(x);
        xt_put(x);
        return rc;
    }
    rc = x->status;
    if (result)
        *result = x->value;
    xt_put(x);
    return rc;
}

/* ---- task groups across loops ------------------------------------------------*/

/* Awaits x to its end even if the caller is interrupted: then x is
 * cancelled and waited for under a shield (a group outlives its
 * children). Consumes x; returns its status. */
static int xt_join(corio_xtask *x, void **result)
{
    corio_loop *loop = corio__remote_self();
    corio_task *self = loop->current;
    int rc = xt_wait(x, loop, self);
    if (rc < 0) {
        corio_scope shield;
        corio_xtask_cancel(x);
        corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
        while (xt_wait(x, loop, self) < 0)
            ;
        corio_scope_exit(&shield);
    }
    rc = x->status;
    *result = x->value;
    xt_put(x);
    return rc;
}

/* The local child that stands for a remote one in a group: it owns the
 * handle from its first instruction (it is spawned eager), joins the remote
 * task and ends with its status, so the group sees a remote child exactly
 * as a local one: a failure cancels the siblings, a cancel of the group
 * reaches the remote task, and the group's wait waits for it. */
static void *xt_proxy(void *arg)
{
    corio_xtask **slot = arg, *x = *slot;
    void *v = NULL;
    int rc;
    *slot = NULL; /* ours now */
    rc = xt_join(x, &v);
    if (rc < 0)
        corio_fail(rc);
    return v;
}

int corio_group_spawn_on(corio_group *g, corio_loop *loop, corio_fn fn, void *arg)
{
    corio_xtask *x;
    corio_spawn_opts o;
    int rc;
    if (!corio__remote_self() || !corio__remote_self()->current)
        return -EPERM;
    if (!g)
        return -EINVAL;
    rc = spawn_on(&x, loop, fn, arg, __builtin_return_address(0));
    if (rc < 0)
        return rc;
    memset(&o, 0, sizeof o);
    o.flags = CORIO_SPAWN_EAGER; /* takes x before anything can cancel it */
    o.name = "group-remote";
    rc = corio_group_spawn_ex(g, NULL, xt_proxy, &x, &o);
    if (rc < 0 && x) { /* the proxy never ran: x is still ours */
        corio_xtask_cancel(x);
        corio_xtask_detach(x);
    }
    return rc;
}
