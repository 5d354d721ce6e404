/* The completion hub of hub.h: "wake me when any of these futures is
 * done", built on public done-callbacks so the core stays untouched. */
#include "sync/hub.h"

#include <stdlib.h>

/* What a task parked here waits on, for dumps and reports. */
static const corio__waitable wait_hub = {"hub", CORIO_WAIT_OTHER, NULL};

/* One registered done-callback. Allocated by corio__hub_watch(); freed by
 * its callback when it runs, or by corio__hub_close() if withdrawn first. */
typedef struct hub_watch {
    corio__list node;   /* in hub->watches until the callback runs */
    corio__hub *hub;
    corio_future *f;    /* valid while the node is linked */
    size_t index;
} hub_watch;

corio__hub *corio__hub_new(size_t cap, void (*on_fire)(void *, size_t),
                           void *owner)
{
    corio__hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    if (cap) {
        h->order = malloc(cap * sizeof *h->order);
        if (!h->order) {
            free(h);
            return NULL;
        }
    }
    h->cap = cap;
    h->refs = 1;
    h->on_fire = on_fire;
    h->owner = owner;
    corio__list_init(&h->watches);
    return h;
}

static void unref(corio__hub *h)
{
    if (--h->refs == 0) {
        free(h->order);
        free(h);
    }
}

static void fire(corio__hub *h, size_t index)
{
    if (h->closed)
        return;
    if (h->order && h->nfired < h->cap)
        h->order[h->nfired] = index;
    h->nfired++;
    if (h->on_fire)
        h->on_fire(h->owner, index);
    if (h->waiter)
        corio__wake(h->waiter, 0);
}

static void watch_cb(corio_future *f, void *arg)
{
    hub_watch *w = arg;
    corio__hub *h = w->hub;
    (void)f; /* may already be freed if the hub closed: never touched */
    corio__list_remove(&w->node);
    fire(h, w->index);
    free(w);
    unref(h);
}

int corio__hub_watch(corio__hub *h, corio_future *f, size_t index)
{
    hub_watch *w;
    if (corio_future_done(f)) {
        fire(h, index);
        return 0;
    }
    w = malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    w->hub = h;
    w->f = f;
    w->index = index;
    if (corio_future_add_done_callback(f, watch_cb, w) < 0) {
        free(w);
        return -ENOMEM;
    }
    corio__list_push_back(&h->watches, &w->node);
    h->refs++;
    return 0;
}

int corio__hub_park(corio__hub *h, corio_task *self)
{
    int rc;
    h->waiter = self;
    /* WAIT_OTHER, not WAIT_TASK: debug dumps read a WAIT_TASK object as a
     * corio_task, and h is not one. */
    rc = corio__park(self, &wait_hub, h);
    h->waiter = NULL;
    return rc;
}

void corio__hub_close(corio__hub *h)
{
    corio__list *n, *next;
    h->closed = 1;
    h->waiter = NULL;
    for (n = h->watches.next; n != &h->watches; n = next) {
        hub_watch *w = corio__container_of(n, hub_watch, node);
        next = n->next;
        /* 1: still registered, withdrawn now. 0: already queued to run; it
         * will free itself and drop its reference. */
        if (corio_future_remove_done_callback(w->f, watch_cb, w) == 1) {
            corio__list_remove(&w->node);
            free(w);
            h->refs--;
        }
    }
    unref(h);
}
