/*
 * corio_chan_select: wait on several channel sends and receives at once and
 * complete exactly one (Go's select, libdill's choose).
 *
 * A first pass tries each case in order and completes the first one that can
 * go without waiting. Otherwise one wait node per enabled case is linked into
 * its channel's sender or receiver list and the task parks once. Whichever
 * waker's corio__wake() succeeds first claims its node; corio__wake's
 * first-wake-wins rule makes every other node stale at that instant, so
 * exactly one case completes even if several channels become ready before
 * the task runs again. The nodes live in one heap array, not on the task's
 * stack (in COMPACT mode the stack is copied away while the task waits, and
 * wakers write into the nodes), and the caller's cases array is only written
 * by the task itself after it resumes, so it may live on the stack.
 */
#include "sync/chan.h"
#include "sync/xchan.h"

#include <stdlib.h>

/* What a task parked here waits on, for dumps and reports. */
static const corio__waitable wait_select = {"channel select", CORIO_WAIT_CHANNEL, NULL};

/* Tries case i without waiting: 1 if it completed (result in *cs), 0 if it
 * would block. */
static int try_case(corio_chan_case *cs)
{
    int rc;
    if (cs->op == CORIO_CHAN_SEND) {
        rc = corio__chan_try_send(cs->chan, cs->value);
    } else {
        void *v = NULL;
        rc = corio__chan_try_recv(cs->chan, &v);
        if (rc != -EAGAIN)
            cs->value = v;
    }
    if (rc == -EAGAIN)
        return 0;
    cs->status = rc;
    return 1;
}

int corio_chan_select(corio_chan_case *cases, size_t n, double timeout)
{
    corio_task *self = NULL;
    corio__waiter *nodes, *w;
    corio_scope sc;
    size_t i, k, nenabled = 0;
    int rc, scoped = 0, chosen = -1;

    if (n && !cases)
        return -EINVAL;
    if (n > (size_t)INT32_MAX)
        return -EINVAL;
    for (i = 0; i < n; i++) {
        if (!cases[i].chan)
            continue;
        if (CORIO__UNLIKELY(cases[i].op & CORIO_CHAN_CROSS))
            return corio__chan_select_x(cases, n, timeout); /* xselect.c */
        if (cases[i].op != CORIO_CHAN_SEND && cases[i].op != CORIO_CHAN_RECV)
            return -EINVAL;
        nenabled++;
    }
    if (timeout != 0) {
        /* A polling select never suspends, so it is fine outside a task and
         * does not report cancellation (like corio_chan_try_*). */
        rc = corio__sync_enter(&self);
        if (rc)
            return rc;
    }
    for (i = 0; i < n; i++)
        if (cases[i].chan && try_case(&cases[i]))
            return (int)i;
    if (timeout == 0)
        return -EAGAIN;

    nodes = NULL;
    if (nenabled) {
        nodes = malloc(nenabled * sizeof *nodes);
        if (!nodes)
            return -ENOMEM;
    }
    for (i = 0, k = 0; i < n; i++) {
        corio_chan *c = cases[i].chan;
        if (!c)
            continue;
        w = &nodes[k++];
        w->task = self;
        w->value = cases[i].op == CORIO_CHAN_SEND ? cases[i].value : NULL;
        w->aux = (intptr_t)i;
        w->status = 0;
        w->fired = 0;
        corio__list_push_back(cases[i].op == CORIO_CHAN_SEND ? &c->sendq
                                                             : &c->recvq,
                              &w->node);
    }
    if (timeout > 0) {
        rc = corio_scope_enter(&sc, timeout, 0);
        if (rc == 0)
            scoped = 1;
    }
    for (;;) {
        rc = corio__park(self, &wait_select,
                         nenabled ? cases[0].chan : NULL);
        if (rc != 0)
            break;
        for (k = 0; k < nenabled && !nodes[k].fired; k++)
            ;
        if (k < nenabled)
            break;
        /* Woken with 0 but no case claimed (nothing in corio does that):
         * every node is still linked, so wait on. */
    }
    for (k = 0; k < nenabled; k++) {
        w = &nodes[k];
        if (w->fired) {
            chosen = (int)w->aux;
        } else if (corio__list_linked(&w->node)) {
            corio__list_remove(&w->node);
        }
    }
    if (scoped)
        corio_scope_exit(&sc);
    if (chosen >= 0) {
        /* A claimed case completed even if an interruption raced it: the
         * value moved, so the caller must learn which case it was. */
        corio_chan_case *cs = &cases[chosen];
        for (k = 0; k < nenabled; k++)
            if (nodes[k].fired)
                break;
        cs->status = nodes[k].status;
        if (cs->op == CORIO_CHAN_RECV)
            cs->value = cs->status == 0 ? nodes[k].value : NULL;
        rc = chosen;
    }
    free(nodes);
    return rc;
}
