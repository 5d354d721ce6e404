/*
 * Internal structures of the core runtime, shared by src/core, src/io and
 * the other modules. Nothing here is public API; names are corio__*.
 * docs/design.md explains how these pieces fit together.
 */
#ifndef CORIO_INTERNAL_H
#define CORIO_INTERNAL_H

#include <corio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/ctx.h"
#include "core/list.h"
#include "platform/poller.h"

#if defined(__GNUC__)
#define CORIO__LIKELY(x) __builtin_expect(!!(x), 1)
#define CORIO__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CORIO__NOINLINE __attribute__((noinline))
#else
#define CORIO__LIKELY(x) (x)
#define CORIO__UNLIKELY(x) (x)
#define CORIO__NOINLINE
#endif

/* Which sanitizer the build uses: the context switch annotates for it. */
#if defined(__SANITIZE_ADDRESS__)
#define CORIO__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define CORIO__TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(CORIO__ASAN)
#define CORIO__ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(CORIO__TSAN)
#define CORIO__TSAN 1
#endif
#endif

/* CORIO__ASSERT(x): an invariant of the runtime (a "must" of these
 * headers), stated where it holds. Checked in debug builds (no NDEBUG) and
 * in every sanitizer build; compiled out of release builds, where x is not
 * evaluated (so x must have no side effect). A failure is a bug in corio
 * (or memory corruption), never a user error: users get error codes. */
void corio__assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn, cold));
#if !defined(NDEBUG) || defined(CORIO__ASAN) || defined(CORIO__TSAN)
#define CORIO__ASSERTS 1
#define CORIO__ASSERT(x)                                                      \
    (CORIO__LIKELY(x) ? (void)0 : corio__assert_fail(#x, __FILE__, __LINE__))
#else
#define CORIO__ASSERT(x) ((void)0)
#endif

#define CORIO__NS_PER_MS 1000000LL
#define CORIO__NEVER INT64_MAX

/* ---- ready-queue entries ------------------------------------------------
 * The ready queue holds tasks to resume and callbacks to call. Both start
 * with a corio__runnable so the loop can tell them apart. */
enum { CORIO__RUN_TASK = 1, CORIO__RUN_CALLBACK = 2 };
/* kind 3: a heap callback from call_soon_threadsafe (freed after it ran);
 * kind 4: a callback node embedded in its owner's object (src/os: thread
 * pool completions), posted by corio__post_threadsafe and never freed by
 * the loop. */
#define CORIO__RUN_THREADSAFE 3
#define CORIO__RUN_EMBEDDED 4
/* kind 5: a heap callback (as kind 3) whose arg is malloc'ed too and freed
 * by cb, or by corio_loop_close if it never runs (corio__post_heap_arg). */
#define CORIO__RUN_HEAP_ARG 5

typedef struct corio__runnable {
    corio__list node; /* link in loop->ready */
    uint8_t kind;     /* CORIO__RUN_* */
} corio__runnable;

/* A queued plain callback (call_soon). Loop-owned, recycled via a free
 * list; freed after it ran. */
typedef struct corio__callback {
    corio__runnable run;
    corio_cb cb;
    void *arg;
    struct corio__callback *next_free;
} corio__callback;

/* ---- stacks ---------------------------------------------------------------*/
/* One per stack, 24 bytes (a sleeping task costs its stack page, its
 * handle and this): the size is a power of two, which also names the pool
 * (loop->pools[shift - 14]) it returns to. */
typedef struct corio__stack {
    char *lo;           /* lowest usable byte (just above the guard page) */
    struct corio__stack *next_free; /* pool free-list link */
    unsigned vg_id;     /* Valgrind stack id (0 when not under Valgrind) */
    uint8_t shift;      /* usable bytes: 1 << shift (corio__stack_size) */
    uint8_t guarded;    /* a guard page lies just below lo: 1 mprotect, 2 madvise (stack.c) */
    uint8_t dirty;      /* used since last madvise(DONTNEED) */
} corio__stack;

static inline size_t corio__stack_size(const corio__stack *s)
{
    return (size_t)1 << s->shift;
}

typedef struct corio__stack_chunk {
    struct corio__stack_chunk *next;
    char *base;   /* the mmap'ed region */
    size_t len;
    unsigned n;   /* stacks in it */
    corio__stack stacks[];
} corio__stack_chunk;

typedef struct corio__stack_pool {
    size_t size;               /* usable bytes of each stack */
    corio__stack *free;        /* LIFO: the hottest stack is reused first */
    size_t nfree;
    corio__stack_chunk *chunks;
} corio__stack_pool;

#define CORIO__STACK_POOLS 20  /* one per power-of-two size, 16 KiB .. 8 GiB */
#define CORIO__STACK_CANARY 0xC0210C0210C0210CULL

/* ---- timer wheel --------------------------------------------------------
 * Six levels of 64 one-millisecond-tick slots (about 795 days of range):
 * O(1) arm and cancel; see timer.c. */
#define CORIO__WHEEL_LEVELS 6
#define CORIO__WHEEL_SLOTS 64
#define CORIO__TIMER_IDLE UINT32_MAX

enum { CORIO__TIMER_USER = 0, CORIO__TIMER_ONESHOT = 1, CORIO__TIMER_TASK = 2 };

typedef struct corio__wheel {
    int64_t elapsed;  /* every tick <= elapsed has been processed */
    uint64_t occupied[CORIO__WHEEL_LEVELS];
    corio_timer *head[CORIO__WHEEL_LEVELS][CORIO__WHEEL_SLOTS];
    corio_timer *tail[CORIO__WHEEL_LEVELS][CORIO__WHEEL_SLOTS];
    size_t count;     /* armed timers */
    size_t count_user; /* of which keep the loop alive (not task timers) */
} corio__wheel;

/* ---- futures ------------------------------------------------------------*/
enum { CORIO__FUT_PENDING = 0, CORIO__FUT_DONE = 1 };

typedef struct corio__fcb {
    struct corio__fcb *next;
    corio_future_cb cb;
    void *arg;
    corio_future *fut;
} corio__fcb;

struct corio_future {
    corio_loop *loop;
    corio__list waiters;    /* tasks parked on it (task->wait links) */
    corio__fcb *callbacks;  /* done-callbacks in registration order */
    void *value;            /* result when done with status 0 */
    int status;             /* 0, a negative error, or -ECANCELED */
    uint8_t state;          /* CORIO__FUT_* */
    uint8_t embedded;       /* 1: part of a corio_task, never destroyed alone */
    atomic_int ts_claimed;  /* a _threadsafe completion is on its way */
};

/* ---- wait nodes for src/sync ----------------------------------------------
 * A channel/queue wait carries a value to or from the parked task, and a
 * select parks one task on several channels at once, so src/sync links these
 * nodes (not t->wait) into its waiter lists. Each task embeds one for
 * single-object waits; a select allocates one per clause. A waker pops a
 * node and calls corio__wake(task, 0): if that returns 0 the task was already
 * woken (cancelled, timed out, another clause won) and the node is skipped. */
typedef struct corio__waiter {
    corio__list node;   /* link in the primitive's waiter list */
    corio_task *task;   /* the parked task */
    void *value;        /* value in transit, either direction */
    int64_t aux;        /* primitive-specific: clause index, priority */
    int status;         /* set by the waker: 0 or a negative error */
    int fired;          /* set by the waker: this node was claimed */
} corio__waiter;

/* ---- tasks ----------------------------------------------------------------*/
enum {
    CORIO__TF_DETACHED = 0x01,   /* the loop owns it */
    CORIO__TF_CANCEL = 0x02,     /* cancellation requested (sticky) */
    CORIO__TF_STARTED = 0x04,    /* has run at least once */
    CORIO__TF_FAILED = 0x08,     /* corio_fail() was called */
    CORIO__TF_BODY = 0x10,       /* t->b is its body (else t->arg is live) */
    CORIO__TF_ROOT = 0x20,       /* corio_run's main task */
    /* Some scope of its chain is a shield. Kept by scope.c so corio_cancel
     * need not walk another task's scopes (in COMPACT mode they live in that
     * task's copied-out stack, not at their addresses). */
    CORIO__TF_SHIELDED = 0x40,
    CORIO__TF_EXT = 0x80         /* t->x is its ext (else t->awaiter is live) */
};

/* The state byte of a freed task slot (task_slab.c keeps freed slots
 * readable: type-stable memory). A slot whose pages were given back reads
 * state 0, which no live task has either. See docs/design.md, "Stale task
 * handles". */
#define CORIO__TASK_FREED 0xFE
/* A freed slot is handed out again only after this many later spawns
 * (task_slab.c: FIFO reuse while more slots than this are free). */
#define CORIO__TASK_COOL 32
/* Why a parked task was woken (body->wake). Negative values are errors
 * handed to the suspending call as they are. */
#define CORIO__WAKE_NONE 1     /* still parked */
#define CORIO__WAKE_OK 0

/* A task is two pieces (docs/design.md "Tasks: handle and body").
 *
 * The handle (struct corio_task) is what corio_spawn returns: small, and
 * all a task needs until it first runs and after it ends. It comes from the
 * loop's slabs (task_slab.c) at spawn and goes back when the task is
 * awaited, or when a detached task ends.
 *
 * The body holds what only a running or parked task needs: its saved
 * context, stack, wait node and deadline timer, scopes. It is taken when
 * the task first runs and given back when it ends, so a million
 * spawned-but-unstarted (or finished-but-unawaited) tasks cost a million
 * handles and no bodies. In the default stack mode the body lives at the
 * top of the task's own stack (task_prepare puts it there); in COMPACT
 * mode it comes from the loop's body slab. Who allocates: task_prepare
 * (sched.c); who frees: corio__task_release (sched.c), when the task ends.
 *
 * What a task rarely needs goes into its ext, allocated on demand and freed
 * with the handle (task.c): the future of corio_task_future, a heap name,
 * src/debug's per-task data. */
typedef struct corio__task_body {
    corio__ctx ctx;        /* saved context while not running */
    corio_task *task;      /* its handle */
    void *arg;             /* fn's argument (moved from the handle) */
    /* corio_fail's error while it runs; its outcome from its end to the
     * release of the body, when it moves to the handle (t->status). */
    int status;
    corio__stack *stack;   /* what it runs on (COMPACT: the shared stack) */
    int wake;              /* CORIO__WAKE_* or a negative error */
    corio__list wait;      /* link in the waiter list of what it waits on */
    void (*wait_cancel)(corio_task *t); /* optional: undo a complex wait */
    /* What it waits on (for dumps, reports, metrics): the object, and the
     * descriptor of its type. Set by corio__park; valid while SUSPENDED. */
    const struct corio__waitable *wait_type;
    void *wait_obj;
    corio__waiter sync_wait; /* src/sync: node of a single-object wait */
    corio_timer timer;     /* deadline of the current wait, if any */
    int64_t sleep_deadline; /* ns; CORIO__NEVER unless sleeping */
    corio_scope *scopes;   /* innermost cancellation scope, or NULL */
    int64_t park_ns;       /* loop->now_ns when it last suspended (dumps) */
    /* CORIO_STACK_COMPACT: the live part of the shared stack, saved. */
    void *saved;
    size_t saved_len, saved_cap;
#ifdef CORIO__ASAN
    void *asan_fake;       /* ASan fake-stack handle across a switch */
#endif
#ifdef CORIO__TSAN
    void *tsan_fiber;
#endif
} corio__task_body;

/* The rarely needed part of a task, allocated on demand (task.c). */
typedef struct corio__task_ext {
    corio_task *task;      /* its handle */
    corio_future fut;      /* corio_task_future(t); fut.loop NULL until made */
    char *name;            /* heap name, or NULL ("task-<id>") */
    struct corio__task_dbg *dbg; /* src/debug's per-task data, or NULL */
    corio_task *awaiter;   /* t->awaiter, once t has an ext */
} corio__task_ext;

struct corio_task {
    union {
        corio__runnable run; /* ready-queue link; must stay first */
        struct {
            corio__list corio__run_node;
            uint8_t corio__run_kind;
            uint8_t state;  /* enum corio_task_state */
            uint8_t flags;  /* CORIO__TF_* */
            /* log2 of the stack size asked for at spawn; 0: the loop's
             * default. */
            uint8_t stack_shift;
            /* id minus its parent's id (corio__task_parent_id); 0: spawned
             * from no task, or from one 2^32 spawns older (unknown). */
            uint32_t parent_delta;
        };
    };
#ifdef CORIO__ASAN
    corio_loop *corio__loop; /* elsewhere: its slab block's (corio__task_loop) */
#endif
    /* Three words serve the phases of a task: what is dead in one phase
     * holds what the next needs (flags say which). */
    union {
        corio_fn fn;       /* until it first runs */
        void *value;       /* once DONE: what fn returned */
    };
    union {
        void *arg;         /* until it first runs */
        corio__task_body *b; /* CORIO__TF_BODY: from its first run to its end */
        /* The outcome (0 or a negative error) once DONE without a body
         * (b->status meanwhile): corio__task_status. */
        int status;
    };
    union {
        /* The task parked in corio_await on it, or NULL; in x->awaiter
         * once it has an ext (corio__task_awaiter). */
        corio_task *awaiter;
        corio__task_ext *x; /* CORIO__TF_EXT: made when first needed */
    };
#ifdef CORIO__ASAN
    /* Link in loop->tasks. Elsewhere the loop finds its tasks by walking
     * its handle slab (corio__task_iter), which ASan builds do not use. */
    corio__list all;
#endif
    uint64_t id;
    /* For dumps and reports (src/debug); set at spawn. */
    void *spawn_site;      /* return address in corio_spawn*'s caller */
};

/* ---- wait objects ---------------------------------------------------------
 * Each type of object a task can park on (a lock, a semaphore, a future, an
 * fd...) has one const descriptor, in static storage in the module that
 * owns the type; corio__park records it beside the object. Dumps, the
 * deadlock report and metrics read a wait through it, never by guessing
 * the object's type from its address. */
typedef struct corio__waitable {
    const char *name;   /* what it is, in a report: "lock", "semaphore"... */
    int kind;           /* enum corio_wait_kind (public): task info, metrics */
    /* Optional (NULL: the report says "<name> <address>"). Describes obj,
     * which t is parked on, into buf (no newline; e.g. "lock 0x55.. held by
     * task #3 'db'"), and sets *owner to the task that must act for the
     * wait to end (a lock's holder, an awaited task), or leaves it NULL.
     * Runs on the loop's thread with every task stopped; must not
     * allocate, suspend or print. */
    void (*describe)(const corio_task *t, const void *obj, char *buf,
                     size_t len, corio_task **owner);
} corio__waitable;

/* The core's own waitables. (Hidden: park compares against the sleep
 * descriptor's address, which should not cost a GOT load.) */
#define CORIO__HIDDEN __attribute__((visibility("hidden")))
extern CORIO__HIDDEN const corio__waitable corio__wait_sleep;  /* timer.c; obj NULL */
extern CORIO__HIDDEN const corio__waitable corio__wait_future; /* future.c */
extern CORIO__HIDDEN const corio__waitable corio__wait_task;   /* task.c */

/* t is not a live task (freed: awaited, or detached and finished), so the
 * handle is stale. One compare: live states are 1..CORIO_TASK_DONE. */
static inline int corio__task_stale(const corio_task *t)
{
    return (uint8_t)(t->state - 1) >= CORIO_TASK_DONE;
}

/* Every live task of a loop, in spawn order, from a snapshot (task.c):
 *     corio__task_iter it;
 *     for (t = corio__task_iter_first(loop, &it); t; t = corio__task_iter_next(&it))
 *     corio__task_iter_end(&it);
 * The loop body may free the task it was given, not others. Out of memory,
 * the snapshot is empty. */
typedef struct corio__task_iter {
    corio_task **v;
    size_t n, i;
} corio__task_iter;
corio_task *corio__task_iter_first(corio_loop *loop, corio__task_iter *it);
corio_task *corio__task_iter_next(corio__task_iter *it);
void corio__task_iter_end(corio__task_iter *it);
/* Calls fn for every live task, in no order, without allocating; fn may
 * free the task it was given. Stops at fn's first non-zero return. */
int corio__task_walk(corio_loop *loop, int (*fn)(corio_task *t, void *arg),
                     void *arg);

/* The loop of t. A handle does not store it: every handle lies in a
 * 64 KiB block of its loop's slab, whose header starts with the loop
 * (task_slab.c). ASan builds malloc handles and store it. */
#define CORIO__SLAB_SIZE ((size_t)64 * 1024)
static inline corio_loop *corio__task_loop(const corio_task *t)
{
#ifdef CORIO__ASAN
    return t->corio__loop;
#else
    return *(corio_loop *const *)((uintptr_t)t & ~(uintptr_t)(CORIO__SLAB_SIZE - 1));
#endif
}

/* t's body, or NULL before its first run and after its end. */
static inline corio__task_body *corio__task_body_of(const corio_task *t)
{
    return (t->flags & CORIO__TF_BODY) ? t->b : NULL;
}

/* The outcome of a DONE task: 0 or a negative error. */
static inline int corio__task_status(const corio_task *t)
{
    return (t->flags & CORIO__TF_BODY) ? t->b->status : t->status;
}

/* The id of the task that spawned t; 0: none, or unknown. */
static inline uint64_t corio__task_parent_id(const corio_task *t)
{
    return t->parent_delta ? t->id - t->parent_delta : 0;
}

/* t's ext, or NULL if it has none yet. */
static inline corio__task_ext *corio__task_x(const corio_task *t)
{
    return (t->flags & CORIO__TF_EXT) ? t->x : NULL;
}

static inline corio_task *corio__task_awaiter(const corio_task *t)
{
    return (t->flags & CORIO__TF_EXT) ? t->x->awaiter : t->awaiter;
}

static inline void corio__task_set_awaiter(corio_task *t, corio_task *w)
{
    if (t->flags & CORIO__TF_EXT)
        t->x->awaiter = w;
    else
        t->awaiter = w;
}

/* The heap name of t, or NULL. */
static inline const char *corio__task_name_or_null(const corio_task *t)
{
    const corio__task_ext *x = corio__task_x(t);
    return x ? x->name : NULL;
}

/* The task whose future f is (f->embedded), from corio_task_future. */
static inline corio_task *corio__future_task(const corio_future *f)
{
    return ((const corio__task_ext *)((const char *)f -
                                      offsetof(corio__task_ext, fut)))->task;
}

/* t's ext, made if need be; NULL if out of memory (task.c). */
corio__task_ext *corio__task_ext_get(corio_task *t);

/* The stack of t, or NULL when it has none (not started, or ended). */
static inline corio__stack *corio__task_stack(const corio_task *t)
{
    const corio__task_body *b = corio__task_body_of(t);
    return b ? b->stack : NULL;
}



/* ---- slabs (task_slab.c) ------------------------------------------------
 * Fixed-size slots carved from 64 KiB blocks owned by one loop: task
 * handles, and task bodies in COMPACT mode. A free slot is linked through
 * its first 16 bytes. */
typedef struct corio__slab {
    void *owner;               /* first word of each block's header */
    corio__list free;          /* free slots (FIFO with cooling, or LIFO) */
    size_t nfree;
    size_t slot;               /* bytes per slot */
    /* A freed slot is reused only while more than `cool` slots are free,
     * oldest first (handles: CORIO__TASK_COOL, for stale-handle checks);
     * with cool 0, the most recently freed first (bodies: hot memory). */
    size_t cool;
    char *bump, *end;          /* never-used slots of the newest block */
    struct corio__slab_block *blocks; /* every block, newest first */
    struct corio__slab_block *empty;  /* blocks with no slot in use */
    void **released;           /* emptied blocks kept mapped (MADV_DONTNEED) */
    size_t nreleased, released_cap;
} corio__slab;

/* ---- the loop -------------------------------------------------------------*/
struct corio_loop {
    corio__list ready;         /* runnable tasks and callbacks, FIFO */
    corio_task *current;       /* running task, NULL on the loop stack */
    int budget;                /* ready entries left in this iteration */
    bool in_dispatch;          /* tasks may switch directly to each other */
    bool running, stopping, closing;
    int64_t now_ns;            /* cached at the start of each iteration */
    corio__ctx ctx;            /* the loop's own context (thread stack) */
    corio_task *dead;          /* finished task whose stack awaits release */
    corio__wheel wheel;
    const corio__poller_ops *pops;
    corio__poller *poller;
    /* Bit n set: CORIO__OP n runs in the backend's ring (io_uring, not in
     * COMPACT mode, and the kernel has it); set once at create, read by
     * corio__ring_has (io/fd.h). 0 on readiness backends. */
    unsigned ring_ops;
    size_t io_waiters;         /* tasks parked on fds */
    size_t keepalive;          /* pending external completions */
    /* Cross-thread hand-off (call_soon_threadsafe). */
    pthread_mutex_t ts_lock;
    corio__list ts_queue;      /* corio__callback, guarded by ts_lock */
    atomic_int ts_pending;     /* ts_queue non-empty (hint, no lock) */
    atomic_int sleeping;       /* loop is (about to be) in poller wait */
    int wake_fd;               /* eventfd (or pipe read end) */
    int wake_wfd;              /* write end (same as wake_fd for eventfd) */
    corio__io wake_io;
    uint64_t n_wakeups;        /* reads of wake_fd (loop.c, poll_io) */
    pthread_t thread;          /* thread running it (valid while running) */
    /* Tasks. */
    corio__list tasks;         /* every live task, spawn order */
    size_t ntasks;             /* tasks not yet freed */
    size_t nlive;              /* tasks not yet finished */
    corio_future *until;       /* run_until: stop when this is done */
    corio__callback *free_cbs;
    /* Task handles, and COMPACT-mode task bodies (task_slab.c). */
    corio__slab task_slab;
    corio__slab body_slab;
    /* Stacks. */
    corio__stack_pool pools[CORIO__STACK_POOLS];
    size_t stack_size;
    int compact;
    char *shared_lo;           /* COMPACT: the shared stack */
    size_t shared_size;
    corio__stack *shared_stack;
    corio_task *resident;      /* COMPACT: whose frames are on it now */
    corio_loop_config cfg;
    FILE *report;
    int debug;                 /* debug mode asked for (config or CORIO_DEBUG) */
    /* The observer (core/hooks.h): its table, which hot hooks it wants,
     * and its own state, which the core never reads. */
    const struct corio__observer *obs; /* NULL: none installed */
    unsigned obs_events;       /* CORIO__EV_*: 0 while no debug feature is on */
    unsigned dbg_flags;        /* src/debug's feature bits (CORIO__DBG_*) */
    struct corio__loop_dbg *dbg; /* src/debug's state, or NULL */
    uint64_t n_iterations;     /* iterations run (metrics; always counted) */
    uint64_t n_spawned;        /* tasks spawned (metrics; always counted) */
    uint64_t id_next, id_end;  /* this loop's block of task ids (task.c) */
    /* Set while the loop is one of a corio_run_multi runtime: its inbox of
     * cross-loop messages and its place among the loops (core/remote.h).
     * NULL for a standalone loop, which then pays one test per iteration. */
    struct corio__remote *remote;
    /* Simulation (src/sim): virtual clock, seeded order, trace hash. NULL
     * unless the loop runs under corio_sim_run(); loop.c and pool.c test
     * it where a simulated loop behaves differently (one predictable
     * branch each on a normal loop). */
    struct corio__sim *sim;
#ifdef CORIO__ASAN
    const void *asan_stack_lo; /* the thread stack, as ASan saw it */
    size_t asan_stack_size;
    void *asan_fake;
#endif
#ifdef CORIO__TSAN
    void *tsan_fiber;          /* the thread's own fiber */
#endif
    size_t sigalt_installed;   /* we installed the thread's sigaltstack */
    void *sigalt_mem;
};

/* The calling thread's current loop (set by create/run). */
extern __thread corio_loop *corio__tls_loop
    __attribute__((tls_model("initial-exec")));

/* The ready queue's entries start with their corio__runnable, which is how
 * the loop tells a task from a callback. */
_Static_assert(offsetof(corio_task, run) == 0, "corio_task: run must be first");
_Static_assert(offsetof(corio__callback, run) == 0,
               "corio__callback: run must be first");

/* A loop's tasks, queues and timers are touched only by the thread running
 * it (or by anyone while it is not running).
 *
 * CORIO__ASSERT_LOOP_THREAD states it on internal paths (wake, ready,
 * dispatch, timers): debug and sanitizer builds only, so the hot path of a
 * release build pays nothing.
 *
 * CORIO__CHECK_LOOP_THREAD guards the public entry points that are not
 * thread-safe (call_soon, future completions, timers, detach): it asserts
 * the same, and in debug mode (CORIO_DEBUG=1 or CORIO_LOOP_DEBUG, any
 * build) reports a call from another thread by the function's name and
 * aborts, as asyncio's debug mode raises. Outside debug mode it costs one
 * predictable branch on loop->debug. (spawn, cancel and await refuse such
 * calls in every build: corio__foreign_thread.) */
#define CORIO__ASSERT_LOOP_THREAD(loop)                                       \
    CORIO__ASSERT(!(loop)->running || pthread_equal((loop)->thread, pthread_self()))
#define CORIO__CHECK_LOOP_THREAD(loop)                                        \
    do {                                                                      \
        if (CORIO__UNLIKELY((loop)->debug))                                   \
            corio__debug_thread_check((loop), __func__);                      \
        CORIO__ASSERT_LOOP_THREAD(loop);                                      \
    } while (0)
void corio__debug_thread_check(corio_loop *loop, const char *fn);

static inline corio_loop *corio__loop_or_current(corio_loop *l)
{
    return l ? l : corio__tls_loop;
}

/* ---- scopes (scope.c) -------------------------------------------------------
 * Private bits of corio_scope.corio__flags, above the public CORIO_SCOPE_*
 * flags (enter masks them off what the caller passes). */
#define CORIO__SCOPE_PUBLIC 0xffu
#define CORIO__SCOPE_CANCELLED 0x100u /* corio_scope_cancel() was called */
#define CORIO__SCOPE_CAUGHT 0x200u    /* it interrupted a call inside it */

/* ---- scheduler (sched.c) -----------------------------------------------*/
/* Queues t to run (it must be parked or new). */
void corio__ready(corio_loop *loop, corio_task *t);
/* Parks the running task until corio__wake(); arms its deadline timer
 * first (the nearest of sleep_deadline and its scopes' deadlines). Returns
 * the wake reason: 0, or a negative error (-ECANCELED, -ETIMEDOUT, or what
 * the waker passed). Checks pending cancellation first. obj is what it
 * waits on, of type w (recorded for dumps only). */
int corio__park(corio_task *t, const corio__waitable *w, void *obj);
/* Wakes a parked task with status (0 or negative). Unlinks t->wait if it is
 * on a list and calls t->wait_cancel for error statuses. Returns 1 if it
 * woke t, 0 if t was not parked (already woken: the first wake wins). */
int corio__wake(corio_task *t, int status);
/* corio__wake(t, 0) inlined, for the hot hand-offs of src/sync (a status of
 * 0 never calls wait_cancel). Same result as corio__wake. */
static inline int corio__wake_ok(corio_task *t)
{
    corio__task_body *b;
    CORIO__ASSERT_LOOP_THREAD(corio__task_loop(t));
    if (t->state != CORIO_TASK_SUSPENDED)
        return 0;
    b = t->b; /* a suspended task has its body */
    if (b->wake != CORIO__WAKE_NONE)
        return 0;
    b->wake = CORIO__WAKE_OK;
    if (corio__list_linked(&b->wait))
        corio__list_remove(&b->wait);
    t->state = CORIO_TASK_READY;
    corio__list_push_back(&corio__task_loop(t)->ready, &t->run.node);
    return 1;
}
/* A scope deadline of t was moved by another task or a callback: re-arm
 * t's deadline timer if it is parked (sched.c). */
void corio__task_deadline_moved(corio_task *t);
/* Runs the dispatch loop: pops ready entries while the budget lasts. */
void corio__dispatch(corio_loop *loop);
/* Pending interruption of the running task (for entry checks). */
int corio__interrupted(corio_task *t);
/* Switches from the loop stack into task t until it parks or ends. */
void corio__run_task(corio_loop *loop, corio_task *t);
void corio__task_release(corio_loop *loop, corio_task *t);

/* ---- tasks (task.c) -------------------------------------------------------*/
#define CORIO__ID_BLOCK 1024 /* task ids a loop takes from the global counter at once */
void corio__task_free(corio_loop *loop, corio_task *t);
/* The memory of task handles and COMPACT bodies (task_slab.c): per-loop
 * slabs, or plain malloc/free under ASan so a use after free is caught. */
void corio__slab_init(corio__slab *s, size_t slot, size_t cool, void *owner);
void *corio__slab_alloc(corio__slab *s);
void corio__slab_free(corio__slab *s, void *p); /* p may be NULL */
/* Calls fn for every slot of s ever handed out, free or not, until fn
 * returns non-zero (not under ASan, where slots are malloc'ed). */
int corio__slab_walk(corio__slab *s, int (*fn)(void *slot, void *arg), void *arg);

static inline corio_task *corio__task_mem_alloc(corio_loop *loop)
{
    return (corio_task *)corio__slab_alloc(&loop->task_slab);
}
static inline void corio__task_mem_free(corio_loop *loop, corio_task *t)
{
    if (t)
        t->state = CORIO__TASK_FREED; /* for corio__task_walk */
    corio__slab_free(&loop->task_slab, t);
}
void corio__task_slabs_free(corio_loop *loop);
/* The loop is about to wait: unmap some empty blocks beyond what it keeps. */
void corio__task_slabs_trim(corio_loop *loop);
/* Some slab has an empty block to trim (a cheap test for the loop). */
static inline int corio__task_slabs_trimmable(const corio_loop *loop)
{
    return loop->task_slab.empty != NULL || loop->body_slab.empty != NULL;
}
void corio__task_finish(corio_task *t, void *value);
int corio__task_alloc(corio_loop *loop, corio_task **tp);
const char *corio__task_label(const corio_task *t, char *buf, size_t len);
/* "created", "ready", "running", "suspended", "done" (or "?"). */
const char *corio__task_state_name(const corio_task *t);
/* A task the loop still holds at close that nobody will ever collect:
 * unfinished, or finished but neither awaited nor detached. Counted by
 * corio_loop_close (its return value) and reported by the observer. */
static inline int corio__task_leaked(const corio_task *t)
{
    return t->state != CORIO_TASK_DONE || !(t->flags & CORIO__TF_DETACHED);
}
/* corio_spawn_ex for library code that spawns on a user's behalf (task
 * groups, gather...): site is the user's call site, normally the spawning
 * function's __builtin_return_address(0), so dumps and leak reports point
 * at the user's code rather than at the library's. */
int corio__spawn_at(corio_task **taskp, corio_fn fn, void *arg,
                    const corio_spawn_opts *opts, void *site);

/* ---- futures (future.c) ---------------------------------------------------*/
void corio__future_init(corio_future *f, corio_loop *loop, int embedded);
/* Completes f and wakes waiters / schedules callbacks. -EALREADY if done. */
int corio__future_complete(corio_future *f, int status, void *value);
void corio__future_drop_callbacks(corio_future *f);

/* ---- timers (timer.c) -----------------------------------------------------*/
void corio__wheel_init(corio__wheel *w, int64_t now_ns);
void corio__timer_arm(corio_loop *loop, corio_timer *t, int64_t deadline_ns,
                      uint32_t kind, corio_cb cb, void *arg);
int corio__timer_disarm(corio_timer *t);
/* Fires every timer due at now_ns. Returns how many fired. */
size_t corio__wheel_run(corio_loop *loop, int64_t now_ns);
/* ns until the next wheel event (expiry or cascade), or -1 if none. */
int64_t corio__wheel_next_ns(const corio__wheel *w, int64_t now_ns);

/* ---- stacks (stack.c) -----------------------------------------------------*/
int corio__stack_get(corio_loop *loop, size_t size, corio__stack **sp);
void corio__stack_put(corio_loop *loop, corio__stack *s);
void corio__stacks_free(corio_loop *loop);
size_t corio__stack_roundup(size_t size);
int corio__overflow_handler_install(corio_loop *loop);
void corio__overflow_handler_remove(corio_loop *loop);
void corio__stack_check_canary(corio_task *t, corio__stack *s);

/* ---- simulation hooks (src/sim/sim.c) -------------------------------------
 * Called only when loop->sim is set. */
/* The virtual clock (ns) of the simulation running on this thread, or
 * NULL: corio__clock_ns returns *it when set. Set by corio_sim_run for the
 * life of its loop (a simulated loop is the only loop running on its
 * thread). A thread-local pointer rather than tls_loop->sim: one load and
 * a branch on the clock read of every normal loop. */
extern __thread int64_t *corio__tls_sim_clock
    __attribute__((tls_model("initial-exec")));
/* Start of an iteration: marks what is already ready. */
void corio__sim_iteration(corio_loop *loop);
/* Nothing is ready: polls real fds without blocking, then moves the virtual
 * clock to the next timer (next_ns from now; -1: none). Returns what the
 * poll returned (callbacks made), as poll_io does. */
int corio__sim_idle(corio_loop *loop, int64_t next_ns);
/* Ready entries are queued: polls real fds without blocking (marks what
 * they made ready). */
void corio__sim_poll(corio_loop *loop);
/* Before dispatch: seeded order of what became ready, trace hash. */
void corio__sim_dispatch(corio_loop *loop);
/* The simulated network (src/sim/host.c): a task spawned in a simulation
 * lives on its parent's host; the network's state is freed before the
 * simulated loop closes. */
void corio__simnet_spawned(corio_task *parent, corio_task *child);
void corio__simnet_end(void);

/* ---- misc -------------------------------------------------------------------*/
/* The loop's clock: CLOCK_MONOTONIC, or the virtual clock of the
 * simulation running on this thread (corio__tls_sim_clock). */
int64_t corio__clock_ns(void);
int64_t corio__seconds_to_ns(double s); /* saturating; NaN/inf -> NEVER */
void corio__loop_wakeup(corio_loop *loop); /* from another thread */
/* call_soon_threadsafe without allocating: c is owned by the caller's object
 * and must stay alive until c->cb has run on the loop. Sets c->run.kind. */
void corio__post_threadsafe(corio_loop *loop, corio__callback *c);
int corio__callback_queue(corio_loop *loop, corio_cb cb, void *arg, int front);
/* call_soon_threadsafe(loop, cb, arg) where arg is malloc'ed and cb frees
 * it; corio_loop_close frees it if cb never ran. 0 or -ENOMEM. */
int corio__post_heap_arg(corio_loop *loop, corio_cb cb, void *arg);
/* Misuse checks (loop.c). foreign: loop is running on another thread than
 * the caller's (check `loop != corio__tls_loop` first: the cheap test).
 * The misuse_* functions report on the loop's report stream (debug mode:
 * with a backtrace) and return the error the caller must return. */
int corio__loop_foreign(corio_loop *loop);
int corio__misuse_foreign(corio_loop *loop, const char *fn); /* -EPERM */
int corio__misuse_stale(const corio_task *t, const char *fn); /* -EINVAL */
static inline int corio__foreign_thread(corio_loop *loop)
{
    return CORIO__UNLIKELY(loop != corio__tls_loop) && corio__loop_foreign(loop);
}
void corio__report_deadlock(corio_loop *loop);
int corio__run_eager(corio_loop *loop, corio_task *self, corio_task *t);
void corio__sched_thread_init(corio_loop *loop);
void corio__stacks_trim(corio_loop *loop);
void corio__report(corio_loop *loop, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- cross-loop messages (remote.c; core/remote.h has the rest) ---------
 * Hooks of the loop iteration, called only when loop->remote is set. */
void corio__remote_drain(corio_loop *loop);   /* once per iteration */
/* About to block for at most timeout_ns (-1: no limit): polls for a
 * message first (corio_multi_config.spin_us, remote.c). Returns -1 if
 * something arrived (then the loop does not block), else the number of I/O
 * callbacks its own zero-timeout polls made (the loop then blocks). */
int corio__remote_spin(corio_loop *loop, int64_t timeout_ns);
/* After setting loop->sleeping, about to block for ms (-1: no limit): 0
 * if a message is waiting (do not block). Publishes whether the loop is
 * idle or stuck (multi.c: shutdown and cross-loop deadlock detection). */
int corio__remote_may_block(corio_loop *loop, int ms);
void corio__remote_woke(corio_loop *loop);    /* back from a blocking wait */

#include "core/hooks.h"

#endif
