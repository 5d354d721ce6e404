/*
 * Private interface of src/debug: the per-loop and per-task debug state,
 * the frame-pointer walker, the symbolizer, the wait describer and the
 * lock hooks other modules call.
 *
 * Ownership: corio__debug_state() allocates a loop's corio__loop_dbg the
 * first time a debug feature is turned on; corio_loop_close frees it
 * (the observer's close hook, core_hooks.c). A task's corio__task_dbg is allocated by the
 * switch hook the first time the task runs with metrics or debug mode on,
 * and freed with the task (the task_free hook).
 */
#ifndef CORIO_DEBUG_H
#define CORIO_DEBUG_H

#include "core/internal.h"

#include <stdio.h>

#define CORIO__MAX_FRAMES 32

/* Bits of loop->dbg_flags: which debug features are on. Every change goes
 * through corio__debug_set_flag, which derives loop->obs_events (the core's
 * hooks this observer needs) from them. */
enum {
    CORIO__DBG_MODE = 0x01,    /* debug mode: misuse checks, quarantine... */
    CORIO__DBG_METRICS = 0x02, /* per-task CPU / wait time (clock per switch) */
    CORIO__DBG_HOOKS = 0x04,   /* user tracer hooks installed */
    CORIO__DBG_STALL = 0x08,   /* stall detector watching this loop */
    CORIO__DBG_SIGDUMP = 0x10, /* dump on signal requested */
    CORIO__DBG_TASKDATA = 0x20, /* some task has t->dbg (sticky: freed with it) */
    CORIO__DBG_RESOURCES = 0x40 /* some resource is tracked (sticky to close) */
};

/* Which features each hook serves. */
#define CORIO__DBG_M_SWITCH                                                   \
    (CORIO__DBG_STALL | CORIO__DBG_METRICS | CORIO__DBG_MODE | CORIO__DBG_HOOKS)
#define CORIO__DBG_M_CALLBACK                                                 \
    (CORIO__DBG_STALL | CORIO__DBG_METRICS | CORIO__DBG_MODE)
#define CORIO__DBG_M_POLL (CORIO__DBG_STALL | CORIO__DBG_METRICS)
#define CORIO__DBG_M_TASK (CORIO__DBG_MODE | CORIO__DBG_HOOKS)
#define CORIO__DBG_M_FREE (CORIO__DBG_MODE | CORIO__DBG_TASKDATA)

/* For the modules that call src/debug directly (src/sync's lock order):
 * one test of the loop's feature bits. */
#define CORIO__DBG_ON(loop, mask) CORIO__UNLIKELY(((loop)->dbg_flags & (mask)) != 0)

/* ---- per-task data ------------------------------------------------------*/
typedef struct corio__task_dbg {
    int64_t run_start;     /* clock when it last started running; 0: not */
    int64_t wait_start;    /* clock when it last stopped running */
    int wait_kind;         /* why it stopped (CORIO_WAIT_*), for wait_ns */
    uint64_t scheduled;    /* times it was switched to */
    int64_t cpu_ns;        /* time spent running */
    int64_t wait_ns[CORIO_WAIT_KINDS]; /* time spent parked, by reason */
    int nheld;             /* locks it holds (debug mode, lock-order graph) */
    const void *held[8];
} corio__task_dbg;

/* ---- per-loop data --------------------------------------------------------*/
struct corio__stall; /* stall.c */
struct corio__lockgraph; /* lockorder.c */

#define CORIO__QUARANTINE 256
#define CORIO__HW_SITES 64

typedef struct corio__hw_site {
    void *site;            /* spawn site; NULL: free slot */
    size_t max;            /* highest stack use seen, bytes */
    size_t size;           /* stack size those tasks had */
    uint64_t tasks;        /* tasks measured */
} corio__hw_site;

typedef struct corio__loop_dbg {
    /* Progress counter for the stall watchdog: bumped (relaxed) at every
     * switch, callback and iteration while the detector is on. The loop
     * thread is the only writer. */
    atomic_uint_fast64_t progress;
    atomic_int phase;      /* 0 not running, 1 running, 2 waiting in poll */
    atomic_uint_fast64_t running_id; /* id of the running task; 0: none */
    /* Metrics. */
    uint64_t switches, callbacks;
    int64_t poll_ns, run_ns, lag_ns, lag_max_ns;
    int64_t iter_start;    /* clock at the start of this iteration; 0: none */
    int64_t poll_start;    /* clock when the poll began */
    int64_t iter_poll_ns;  /* time polled within this iteration */
    corio_debug_hooks hooks;
    /* Debug mode. */
    int64_t slow_ns;       /* slow task step / callback threshold */
    corio_task *quarantine[CORIO__QUARANTINE]; /* freed tasks, poisoned */
    unsigned qnext;
    corio__hw_site hw[CORIO__HW_SITES];
    /* Dump on signal: the generation of signals this loop has answered. */
    unsigned sig_seen;
    int sig_slot;          /* slot in the signal registry, or -1 */
    struct corio__stall *stall;
    struct corio__lockgraph *locks;
    uintptr_t tstack_lo, tstack_hi; /* the loop thread's stack */
    void *resources;       /* resources.c: open fds/streams (debug mode) */
} corio__loop_dbg;

/* The loop's debug state, allocated on first use; NULL if out of memory. */
corio__loop_dbg *corio__debug_state(corio_loop *loop);
/* The task's debug data, allocated on first use; NULL if out of memory. */
corio__task_dbg *corio__debug_task(corio_task *t);
/* Turns feature bit flag on or off, and the core's hooks with it. */
void corio__debug_set_flag(corio_loop *loop, unsigned flag, int on);
/* The observer's halves of the core's leak and deadlock reports
 * (reports.c), and of the resource register (resources.c). */
void corio__debug_report_deadlock(corio_loop *loop);
void corio__debug_resource_open(corio_loop *loop, const void *obj,
                                const char *kind, int fd);
void corio__debug_resource_close(corio_loop *loop, const void *obj);

/* ---- backtraces (backtrace.c) ----------------------------------------------*/
/* Walks the frame-pointer chain from (pc, fp) within the stack [lo, hi):
 * frames[0] = pc, then one return address per frame. A copy, if non-NULL,
 * holds the bytes of [lo, hi) (compact mode: the saved stack), and is read
 * instead of the real addresses. Async-signal-safe. Returns the count. */
int corio__bt_walk(uintptr_t pc, uintptr_t fp, uintptr_t lo, uintptr_t hi,
                   const char *copy, void **frames, int max);
/* The backtrace of task t, which must not be running on another thread:
 * from its saved context if suspended; if t is the caller, from frame
 * self_fp (the public entry point's frame, so the trace starts in the
 * user's code; 0: from corio__bt_here's caller). */
int corio__bt_task(corio_loop *loop, corio_task *t, uintptr_t self_fp,
                   void **frames, int max);
/* The calling context's own backtrace from frame fp (0: the caller's). */
int corio__bt_here(corio_loop *loop, uintptr_t fp, void **frames, int max);

/* ---- symbols (symbolize.c) ---------------------------------------------------*/
/* A symbolizer session: opened once per report (reads the process's maps
 * and debug info), closed after. NULL from open means "dladdr only". */
typedef struct corio__sym corio__sym;
corio__sym *corio__sym_open(void);
void corio__sym_close(corio__sym *s);
/* Formats "function+0x1c (file.c:42)" (or "module+0x1234" when nothing
 * better is known) into buf. ret: addr is a return address (look up the
 * call instruction before it). Returns 1 if a function name was found. */
int corio__sym_format(corio__sym *s, const void *addr, int ret, char *buf,
                      size_t len);
/* The function name only (into buf), or "" if unknown. */
const char *corio__sym_func(corio__sym *s, const void *addr, int ret,
                            char *buf, size_t len);
/* Writes frames as "    #i func+off (file:line)" lines, skipping the
 * runtime's own frames at the top (the park/switch machinery) and the
 * task-entry frames at the bottom. */
void corio__sym_print_frames(corio__sym *s, FILE *f, void *const *frames,
                             int n, const char *indent);

/* Runs fn(arg) off the task stacks: symbolizing (libdw reading DWARF) can
 * take 150 KiB of stack, more than a task may have. Called from a task, it
 * runs fn on a short-lived helper thread and waits for it (the loop thread
 * is blocked meanwhile, so fn may read the loop); elsewhere it just calls
 * fn. Walk the caller's own stack before, not inside fn. */
void corio__debug_offstack(void (*fn)(void *), void *arg);

/* ---- what a task waits on (describe.c) -----------------------------------------*/
/* The wait of parked task t, described by its waitable's descriptor
 * (corio__waitable in core/internal.h); *owner is the task that must act
 * for the wait to end, or NULL. */
void corio__debug_describe_wait(corio_task *t, char *buf, size_t len,
                                corio_task **owner);
/* The name of the public wait kind (enum corio_wait_kind), as metrics
 * label it; and the name of what parked task t waits on ("semaphore"). */
const char *corio__wait_kind_name(int kind);
const char *corio__wait_name(const corio_task *t);
/* "t:  spawned at file.c:12 by task #1" style suffix: where t came from. */
void corio__debug_origin(corio__sym *s, const corio_task *t, char *buf,
                         size_t len);

/* ---- locks (lockorder.c): called by src/sync in debug mode ----------------*/
/* t acquired / released lock (any primitive with an owner). In debug mode
 * the acquisitions build a lock-order graph; the first acquisition that
 * closes a cycle is reported (a potential deadlock, even if this run was
 * lucky). destroyed drops a lock from the graph before its memory is
 * reused. Cheap no-ops unless the loop is in debug mode. */
void corio__debug_lock_acquired(corio_task *t, const void *lock,
                                const char *what);
void corio__debug_lock_released(corio_task *t, const void *lock);
void corio__debug_lock_destroyed(corio_loop *loop, const void *lock);
void corio__lockgraph_free(corio_loop *loop);

/* ---- stack high-water marks (stackhw.c) ---------------------------------*/
void corio__debug_stack_done(corio_loop *loop, corio_task *t);

/* ---- stall detector (stall.c) ---------------------------------------------------*/
void corio__stall_stop(corio_loop *loop);
/* The loop thread (re)enters corio_loop_run with the detector on. */
void corio__stall_enter(corio_loop *loop);

/* ---- signal dump (dump.c) -------------------------------------------------------*/
void corio__sigdump_poll(corio_loop *loop);
void corio__sigdump_unregister(corio_loop *loop);

/* ---- reports ------------------------------------------------------------------*/
FILE *corio__report_file(corio_loop *loop);
/* Reports (and forgets) the resources still open (resources.c). */
void corio__debug_report_resources(corio_loop *loop);
/* Prints the leak report of a closing loop (reports.c). */
void corio__debug_report_leaks(corio_loop *loop);
/* Prints one task's block: header line, wait, origin, backtrace. */
void corio__dump_task(corio__sym *s, FILE *f, corio_loop *loop, corio_task *t);

#endif
