/*
 * The core's hooks into src/debug. Included at the end of core/internal.h,
 * so every core file sees them and nothing else has to be included.
 *
 * Cost model: while no debug feature is on, loop->dbg_flags is 0 and each
 * hook is one predicted-not-taken test of that word; the functions behind it
 * are out of line, in src/debug. The only unconditional debug work in the
 * core is a few plain stores that make dumps possible at any time: the spawn
 * site and parent of each task (task.c) and the time a task parked
 * (sched.c, from the loop's cached clock, no clock read).
 *
 * Building with -DCORIO__NO_DEBUG_HOOKS compiles every hook out (the
 * baseline for overhead measurements; see docs/debugging.md "Overhead").
 */
#ifndef CORIO_DEBUG_HOOKS_H
#define CORIO_DEBUG_HOOKS_H

/* Bits of loop->dbg_flags: which debug features are on. */
enum {
    CORIO__DBG_MODE = 0x01,    /* debug mode: misuse checks, quarantine... */
    CORIO__DBG_METRICS = 0x02, /* per-task CPU / wait time (clock per switch) */
    CORIO__DBG_HOOKS = 0x04,   /* user tracer hooks installed */
    CORIO__DBG_STALL = 0x08,   /* stall detector watching this loop */
    CORIO__DBG_SIGDUMP = 0x10, /* dump on signal requested */
    CORIO__DBG_TASKDATA = 0x20 /* some task has t->dbg (sticky: freed with it) */
};

/* Out-of-line halves of the hooks (src/debug/core_hooks.c). */
void corio__debug_loop_create(corio_loop *loop);
void corio__debug_loop_close(corio_loop *loop);
void corio__debug_iteration(corio_loop *loop);
void corio__debug_run_exit(corio_loop *loop);
void corio__debug_poll(corio_loop *loop, int after);
void corio__debug_switch(corio_loop *loop, corio_task *from, corio_task *to);
/* The running task self parks or yields: bookkeeping, then
 * corio__suspend_switch (sched.c), which picks the next task and switches. */
void corio__debug_suspend(corio_loop *loop, corio_task *self);
void corio__suspend_switch(corio_loop *loop, corio_task *self);
void corio__debug_callback(corio_loop *loop, corio_cb cb, void *arg);
void corio__debug_spawn(corio_loop *loop, corio_task *t);
void corio__debug_finish(corio_task *t);
int corio__debug_task_free(corio_loop *loop, corio_task *t);
int corio__debug_await_check(corio_loop *loop, corio_task *t);
/* A finished task gives back its stack (or never had one): tracer's finish
 * hook, stack high-water mark. */
void corio__debug_task_end(corio_loop *loop, corio_task *t);
/* Reports (src/debug/reports.c): the deadlock report of corio_run. The
 * leak report at close is printed by corio__debug_loop_close; leaked(t)
 * says whether t is one of the tasks it reported (unfinished, or finished
 * but neither awaited nor detached). */
void corio__debug_report_deadlock(corio_loop *loop);
int corio__debug_leaked(const corio_task *t);

/* Which features each hook serves: a hook tests only its own bits (one
 * test of loop->dbg_flags against a constant), so e.g. dump-on-signal,
 * which needs only the iteration hook, leaves the switch path alone. */
#define CORIO__DBG_M_ANY 0xffu
#define CORIO__DBG_M_SWITCH                                                   \
    (CORIO__DBG_STALL | CORIO__DBG_METRICS | CORIO__DBG_MODE | CORIO__DBG_HOOKS)
#define CORIO__DBG_M_CALLBACK                                                 \
    (CORIO__DBG_STALL | CORIO__DBG_METRICS | CORIO__DBG_MODE)
#define CORIO__DBG_M_POLL (CORIO__DBG_STALL | CORIO__DBG_METRICS)
#define CORIO__DBG_M_TASK (CORIO__DBG_MODE | CORIO__DBG_HOOKS)
#define CORIO__DBG_M_FREE (CORIO__DBG_MODE | CORIO__DBG_TASKDATA)

#ifdef CORIO__NO_DEBUG_HOOKS
#define CORIO__DBG_ON(loop, mask) 0
#else
#define CORIO__DBG_ON(loop, mask) CORIO__UNLIKELY(((loop)->dbg_flags & (mask)) != 0)
#endif

/* A context switch: from/to NULL mean the loop's own stack. */
static inline void corio__dbg_switch(corio_loop *loop, corio_task *from,
                                     corio_task *to)
{
    if (CORIO__DBG_ON(loop, CORIO__DBG_M_SWITCH))
        corio__debug_switch(loop, from, to);
}

/* Resources (fds, sockets, streams) opened and closed, for the "never
 * closed" report at loop close in debug mode. For the modules that own
 * them: call at creation and at destruction. kind is a static string
 * ("socket", "stream"...); fd may be -1. */
void corio__debug_resource_open(corio_loop *loop, const void *obj,
                                const char *kind, int fd);
void corio__debug_resource_close(corio_loop *loop, const void *obj);

static inline void corio__dbg_resource_open(corio_loop *loop, const void *obj,
                                            const char *kind, int fd)
{
    if (CORIO__DBG_ON(loop, CORIO__DBG_MODE))
        corio__debug_resource_open(loop, obj, kind, fd);
}

static inline void corio__dbg_resource_close(corio_loop *loop, const void *obj)
{
    /* Not the mode bit: a resource opened in debug mode may be closed
     * after debug mode was turned off. */
    if (CORIO__UNLIKELY(loop->dbg != NULL))
        corio__debug_resource_close(loop, obj);
}

/* corio_spawn_ex for library code that spawns on a user's behalf (task
 * groups, gather...): site is the user's call site, normally the spawning
 * function's __builtin_return_address(0), so dumps and leak reports point
 * at the user's code rather than at the library's. (task.c) */
int corio__spawn_at(corio_task **taskp, corio_fn fn, void *arg,
                    const corio_spawn_opts *opts, void *site);

/* The unconditional bookkeeping: plain stores, no clock read. */
static inline void corio__dbg_parked(corio_loop *loop, corio_task *t)
{
#ifndef CORIO__NO_DEBUG_HOOKS
    t->park_ns = loop->now_ns;
#else
    (void)loop;
    (void)t;
#endif
}

static inline void corio__dbg_spawned(corio_loop *loop, corio_task *t,
                                      void *site)
{
#ifndef CORIO__NO_DEBUG_HOOKS
    t->spawn_site = site;
    t->parent_id = loop->current ? loop->current->id : 0;
    loop->n_spawned++;
    if (CORIO__DBG_ON(loop, CORIO__DBG_M_TASK))
        corio__debug_spawn(loop, t);
#else
    (void)loop;
    (void)t;
    (void)site;
#endif
}

#endif
