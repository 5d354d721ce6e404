/*
 * corio_chan_select with cross-loop channels among its cases.
 *
 * A local channel's waker decides on the select task's own loop
 * (corio__wake's first-wake-wins, sync.h). A corio_xchan peer runs on any
 * loop, so it must not decide: if it claimed a select's node while a local
 * case fired, two cases would complete. So cross-loop cases never hand a
 * value through the node. Instead (xchan.h) the select links a *poke*
 * node into each cross-loop channel, checking under the channel's lock
 * that the case cannot complete yet (nothing is lost between the check and
 * the link), and parks once. A peer that makes such a channel ready (a
 * value buffered, a slot freed, the channel closed) unlinks every poke
 * node waiting there and posts each its wake-up. A poke's wake-up, like a
 * local claim, is one more candidate for corio__wake's first wake: the
 * select then unlinks all its nodes and tries every case again, in order,
 * without waiting; if another task took what the poke announced, it
 * parks again. Exactly one case completes, decided on the select's loop.
 *
 * The poke nodes are in the same heap array as the local nodes; a poked
 * node's wake-up is a message pointing at it, so before the array is
 * freed or reused the select waits (uninterruptibly) for every poke in
 * flight, as a plain cross-loop waiter waits for a claim's (xchan.c).
 */
#include "sync/chan.h"
#include "sync/xchan.h"

#include <stdlib.h>

static const corio__waitable wait_xselect = {"channel select (cross-loop)",
                                             CORIO_WAIT_CHANNEL, NULL};

#define IS_X(cs) (((cs)->op & CORIO_CHAN_CROSS) != 0)
#define OP(cs) ((cs)->op & ~CORIO_CHAN_CROSS)

/* Tries case cs without waiting: 1 if it completed (result in *cs). */
static int try_case(corio_chan_case *cs)
{
    void *v = NULL;
    int rc;
    if (IS_X(cs)) {
        rc = OP(cs) == CORIO_CHAN_SEND ? corio_xchan_try_send(cs->xchan, cs->value)
                                       : corio_xchan_try_recv(cs->xchan, &v);
    } else {
        rc = OP(cs) == CORIO_CHAN_SEND ? corio__chan_try_send(cs->chan, cs->value)
                                       : corio__chan_try_recv(cs->chan, &v);
    }
    if (rc == -EAGAIN)
        return 0;
    if (OP(cs) == CORIO_CHAN_RECV)
        cs->value = v;
    cs->status = rc;
    return 1;
}

static int try_all(corio_chan_case *cases, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (cases[i].chan && try_case(&cases[i]))
            return (int)i;
    return -1;
}

/* Links x's poke node for op unless the case could complete now: 1 if it
 * could (nothing linked), 0 if linked. */
static int arm(corio_xchan *c, int op, corio__xwait *x)
{
    int ready;
    corio__xlock(c);
    if (op == CORIO_CHAN_SEND)
        ready = c->closed || c->len < c->cap;
    else
        ready = c->closed || c->len > 0;
    if (!ready) {
        x->poked = 0;
        x->delivered = 0;
        corio__list_push_back(op == CORIO_CHAN_SEND ? &c->sendq : &c->recvq, &x->node);
    }
    corio__xunlock(c);
    return ready;
}

/* Unlinks x if no peer poked it; returns 1 if a poke's wake-up is (or
 * was) on its way to x. */
static int disarm(corio_xchan *c, corio__xwait *x)
{
    int poked;
    corio__xlock(c);
    poked = x->poked;
    if (!poked)
        corio__list_remove(&x->node);
    corio__xunlock(c);
    return poked;
}

int corio__chan_select_x(corio_chan_case *cases, size_t n, double timeout)
{
    corio_loop *loop = corio__remote_self();
    corio_task *self = NULL;
    corio__waiter *nodes = NULL, *w;
    corio__xwait *xn = NULL;
    corio_scope sc;
    size_t i, k, nl = 0, nx = 0, armedx;
    int rc, scoped = 0, chosen = -1, ready;

    for (i = 0; i < n; i++) {
        if (!cases[i].chan)
            continue;
        if (OP(&cases[i]) != CORIO_CHAN_SEND && OP(&cases[i]) != CORIO_CHAN_RECV)
            return -EINVAL;
        if (IS_X(&cases[i]))
            nx++;
        else
            nl++;
    }
    if (nx && !loop)
        return -EPERM; /* cross-loop channels: a loop of a runtime only */
    if (timeout != 0) {
        rc = corio__sync_enter(&self);
        if (rc)
            return rc;
    }
    rc = try_all(cases, n);
    if (rc >= 0 || timeout == 0)
        return rc >= 0 ? rc : -EAGAIN;

    if (nl)
        nodes = malloc(nl * sizeof *nodes);
    xn = malloc(nx * sizeof *xn);
    if ((nl && !nodes) || !xn) {
        free(nodes);
        free(xn);
        return -ENOMEM;
    }
    if (timeout > 0 && corio_scope_enter(&sc, timeout, 0) == 0)
        scoped = 1;
    for (;;) {
        /* Link: local nodes as select.c does, then the poke nodes. */
        for (i = 0, k = 0; i < n; i++) {
            corio_chan *c = cases[i].chan;
            if (!c || IS_X(&cases[i]))
                continue;
            w = &nodes[k++];
            w->task = self;
            w->value = cases[i].op == CORIO_CHAN_SEND ? cases[i].value : NULL;
            w->aux = (intptr_t)i;
            w->status = 0;
            w->fired = 0;
            corio__list_push_back(cases[i].op == CORIO_CHAN_SEND ? &c->sendq : &c->recvq,
                                  &w->node);
        }
        ready = 0;
        for (i = 0, armedx = 0; i < n && !ready; i++) {
            corio__xwait *x;
            if (!cases[i].chan || !IS_X(&cases[i]))
                continue;
            x = &xn[armedx];
            x->task = self;
            x->loop = loop;
            x->value = NULL;
            x->status = 0;
            x->claimed = 0;
            x->poke = 1;
            if (arm(cases[i].xchan, OP(&cases[i]), x))
                ready = 1;
            else
                armedx++;
        }
        rc = 0;
        if (!ready) {
            corio__xwait_begin(loop);
            for (;;) {
                rc = corio__park(self, &wait_xselect, (void *)cases[0].chan);
                if (rc != 0)
                    break;
                for (k = 0; k < nl && !nodes[k].fired; k++)
                    ;
                if (k < nl)
                    break; /* a local case was claimed */
                for (k = 0; k < armedx && !xn[k].delivered; k++)
                    ;
                if (k < armedx)
                    break; /* a poke */
            }
            corio__xwait_end(loop);
        }
        /* Unlink everything; wait for the pokes already on their way. */
        for (k = 0; k < nl; k++) {
            w = &nodes[k];
            if (w->fired)
                chosen = (int)w->aux;
            else if (corio__list_linked(&w->node))
                corio__list_remove(&w->node);
        }
        for (i = 0, k = 0; i < n && k < armedx; i++) {
            if (!cases[i].chan || !IS_X(&cases[i]))
                continue;
            if (disarm(cases[i].xchan, &xn[k]) && !xn[k].delivered) {
                corio_scope sh;
                corio__xwait_begin(loop);
                corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
                while (!xn[k].delivered)
                    (void)corio__park(self, &wait_xselect, cases[i].xchan);
                corio_scope_exit(&sh);
                corio__xwait_end(loop);
            }
            k++;
        }
        if (chosen >= 0) {
            /* As select.c: a claimed local case completed even if an
             * interruption raced it. */
            corio_chan_case *cs = &cases[chosen];
            for (k = 0; k < nl; k++)
                if (nodes[k].fired)
                    break;
            cs->status = nodes[k].status;
            if (OP(cs) == CORIO_CHAN_RECV)
                cs->value = cs->status == 0 ? nodes[k].value : NULL;
            rc = chosen;
            break;
        }
        if (rc != 0)
            break; /* interrupted; no case completed */
        /* Poked, or ready while linking: try again, then wait again. */
        rc = try_all(cases, n);
        if (rc >= 0)
            break;
    }
    if (scoped)
        corio_scope_exit(&sc);
    free(nodes);
    free(xn);
    return rc;
}
