/*
 * The loop's observer seam: how the core reports what it decided to
 * whoever watches it (src/debug: metrics, tracer hooks, the stall detector,
 * debug mode's checks and reports). Included at the end of core/internal.h.
 *
 * The core owns this interface and src/debug implements it, never the
 * other way round: no src/core file pulls in a header of src/debug, and
 * the one function the core calls by name, corio__observer_attach, is
 * declared here, by the core. The core makes every decision
 * itself (which task runs next, whether a task leaked) and only tells the
 * observer about it; an observer never changes what the core does next.
 *
 * loop->obs points at a const table of functions, installed at loop
 * creation by corio__observer_attach (see below), or NULL. loop->obs_events
 * says which of the table's hot entries the observer wants now: each hook
 * site tests its own CORIO__EV_* bit, one predicted-not-taken branch on a
 * word the loop already has in cache, and calls out of line only when the
 * bit is set. With no debug feature on, obs_events is 0.
 *
 * Building with -DCORIO__NO_DEBUG_HOOKS compiles the hot hooks out (the
 * baseline for overhead measurements; see docs/debugging.md "Overhead").
 */
#ifndef CORIO_CORE_HOOKS_H
#define CORIO_CORE_HOOKS_H

/* Bits of loop->obs_events: which hot entries of loop->obs to call. */
enum {
    CORIO__EV_SWITCH = 0x01,    /* on_switch */
    CORIO__EV_CALLBACK = 0x02,  /* callback (it runs the callback) */
    CORIO__EV_POLL = 0x04,      /* poll */
    CORIO__EV_ITERATION = 0x08, /* iteration, run_exit */
    CORIO__EV_TASK = 0x10,      /* spawn, finish, task_end */
    CORIO__EV_FREE = 0x20,      /* task_free */
    CORIO__EV_MISUSE = 0x40,    /* await_check on a suspicious await */
    CORIO__EV_RESOURCE = 0x80,  /* resource_open */
    /* resource_close: set while the observer tracks some open resource
     * (it may outlive the feature that opened it). */
    CORIO__EV_RESOURCE_CLOSE = 0x100
};

/* What the observer is told. Every entry is called on the loop's thread;
 * none may be NULL in an installed table. */
typedef struct corio__observer {
    /* Cold: called whenever loop->obs is set. */
    /* The loop is closing, its tasks not yet freed: final reports. The
     * observer uninstalls itself here (loop->obs_events = 0). */
    void (*close)(corio_loop *loop);
    /* corio_run found every task blocked with nothing left to wake one. */
    void (*deadlock)(corio_loop *loop);
    /* A task handle that is no task (state beyond DONE: freed and
     * quarantined by the observer), or a suspicious await under
     * CORIO__EV_MISUSE. Returns what corio_await returns (0: go on). */
    int (*await_check)(corio_loop *loop, corio_task *t);
    /* Hot: called only while their CORIO__EV_* bit is set. */
    void (*iteration)(corio_loop *loop);               /* ITERATION */
    void (*run_exit)(corio_loop *loop);                /* ITERATION */
    void (*poll)(corio_loop *loop, int after);         /* POLL */
    /* The scheduler switches from `from` to `to` (NULL: the loop's own
     * stack; from == to: the task was next in the ready queue itself). */
    void (*on_switch)(corio_loop *loop, corio_task *from, corio_task *to);
    void (*callback)(corio_loop *loop, corio_cb cb, void *arg); /* CALLBACK */
    void (*spawn)(corio_loop *loop, corio_task *t);    /* TASK */
    void (*finish)(corio_loop *loop, corio_task *t);   /* TASK */
    /* A finished task is about to give back its stack. */
    void (*task_end)(corio_loop *loop, corio_task *t); /* TASK */
    /* Returns 1 if it kept t's memory (quarantine), 0 to let the core
     * free it. */
    int (*task_free)(corio_loop *loop, corio_task *t); /* FREE */
    void (*resource_open)(corio_loop *loop, const void *obj, const char *kind,
                          int fd);                      /* RESOURCE */
    void (*resource_close)(corio_loop *loop, const void *obj); /* RESOURCE_CLOSE */
} corio__observer;

/* Called once by corio_loop_create, after the loop is set up: the
 * library's observer (src/debug/core_hooks.c) installs its table in
 * loop->obs and sets loop->obs_events from the features the loop's config
 * and environment turn on (CORIO_DEBUG, CORIO_STALL_MS, CORIO_DUMP_SIGNAL).
 * This declaration is the core's: it names what the core needs, and the
 * observer supplies it. */
void corio__observer_attach(corio_loop *loop);

#ifdef CORIO__NO_DEBUG_HOOKS
#define CORIO__OBS_ON(loop, ev) 0
#else
#define CORIO__OBS_ON(loop, ev) CORIO__UNLIKELY(((loop)->obs_events & (ev)) != 0)
#endif

/* A context switch: from/to NULL mean the loop's own stack. */
static inline void corio__obs_switch(corio_loop *loop, corio_task *from,
                                     corio_task *to)
{
    if (CORIO__OBS_ON(loop, CORIO__EV_SWITCH))
        loop->obs->on_switch(loop, from, to);
}

/* Resources (sockets, streams, servers, files, processes) opened and
 * closed, for the "never closed" report at loop close in debug mode. For
 * the modules that own them: call at creation and at destruction. kind is
 * a static string ("socket", "stream"...); fd may be -1. The opener's call
 * site is recorded by the observer. */
static inline void corio__obs_resource_open(corio_loop *loop, const void *obj,
                                            const char *kind, int fd)
{
    if (CORIO__OBS_ON(loop, CORIO__EV_RESOURCE))
        loop->obs->resource_open(loop, obj, kind, fd);
}

static inline void corio__obs_resource_close(corio_loop *loop, const void *obj)
{
    if (CORIO__OBS_ON(loop, CORIO__EV_RESOURCE_CLOSE))
        loop->obs->resource_close(loop, obj);
}

/* The unconditional bookkeeping that makes dumps possible at any time:
 * plain stores, no clock read. */
static inline void corio__obs_parked(corio_loop *loop, corio_task *t)
{
#ifndef CORIO__NO_DEBUG_HOOKS
    t->b->park_ns = loop->now_ns;
#else
    (void)loop;
    (void)t;
#endif
}

static inline void corio__obs_spawned(corio_loop *loop, corio_task *t,
                                      void *site)
{
#ifndef CORIO__NO_DEBUG_HOOKS
    t->spawn_site = site;
    t->parent_delta = loop->current && t->id - loop->current->id <= UINT32_MAX
                          ? (uint32_t)(t->id - loop->current->id)
                          : 0;
    loop->n_spawned++;
    if (CORIO__OBS_ON(loop, CORIO__EV_TASK))
        loop->obs->spawn(loop, t);
#else
    (void)loop;
    (void)t;
    (void)site;
#endif
}

#endif
