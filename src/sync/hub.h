/*
 * A completion hub: lets one task wait for "any of these futures" without
 * touching the core. Each watched future gets a done-callback (a small heap
 * record); when it fires, the hub records the future's index (in completion
 * order), calls the owner's hook, and wakes the task parked on the hub.
 *
 * Lifetime: corio__hub_new() allocates it; corio__hub_close() gives up the
 * owner's reference. Done-callbacks that are already queued on the loop when
 * the hub closes cannot be withdrawn (the core has no API for it), so each
 * holds a reference and the hub is freed by whichever of them runs last.
 * Such a late callback only touches the hub and its own record, never the
 * future (which may be gone by then).
 *
 * Used by gather, wait, as_completed (combinators.c) and task groups
 * (group.c).
 */
#ifndef CORIO_SYNC_HUB_H
#define CORIO_SYNC_HUB_H

#include "sync/sync.h"

typedef struct corio__hub {
    size_t refs;          /* the owner's (until closed) + queued/registered watches */
    int closed;           /* owner gone: callbacks only drop references */
    corio_task *waiter;   /* the task parked in corio__hub_park(), or NULL */
    size_t *order;        /* indexes in completion order; NULL: not kept */
    size_t cap;           /* capacity of order */
    size_t nfired;        /* completions recorded */
    corio__list watches;  /* registered watches whose callback has not run */
    void (*on_fire)(void *owner, size_t index); /* optional hook */
    void *owner;
} corio__hub;

/* cap: how many completions to record in order (0: none kept). NULL if out
 * of memory. */
corio__hub *corio__hub_new(size_t cap, void (*on_fire)(void *, size_t),
                           void *owner);
/* Watches f under index: records it at once if f is already done (before
 * returning), else when it completes. 0 or -ENOMEM. */
int corio__hub_watch(corio__hub *h, corio_future *f, size_t index);
/* Parks the calling task until a completion (or an interruption); returns
 * corio__park()'s status. */
int corio__hub_park(corio__hub *h, corio_task *self);
/* Withdraws the remaining watches (their futures must still be alive) and
 * drops the owner's reference. */
void corio__hub_close(corio__hub *h);

#endif
