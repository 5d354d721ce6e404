/*
 * corio.h — asyncio's model in C: one thread, many stackful tasks.
 *
 * Read this header top to bottom: it is ordered the way a newcomer learns the
 * library (errors → loop → tasks → futures → time → cancellation and
 * timeouts → sync → sockets/streams → processes → thread pool → debug).
 * Sections for later capabilities live in their own headers and are
 * included at the end.
 *
 * Conventions, true of every function below unless its entry says otherwise:
 *  - Functions return 0 (or a count, or a non-negative value) on success and a
 *    NEGATIVE errno value on failure (-ECANCELED, -ETIMEDOUT, -ENOMEM, ...).
 *    errno is never read for results and never set.
 *  - A "suspending" function may only be called from inside a task. Called
 *    from anywhere else it returns -EPERM without blocking.
 *  - Every suspending function returns -ECANCELED once the calling task has
 *    been cancelled, and keeps returning it on every later call (cancellation
 *    is level-triggered and cannot be swallowed by accident), unless the call
 *    is inside a shield scope. Inside a timeout scope whose deadline has
 *    passed, suspending functions return -ETIMEDOUT.
 *  - Functions without a loop argument act on the calling thread's current
 *    loop (the one created or run last on this thread).
 *  - Threads. A loop, and everything made on it (tasks, futures, scopes,
 *    sockets, ...), belongs to the loop's thread; the functions on them are
 *    called there only. Callable from ANY thread are exactly: the functions
 *    whose name ends in _threadsafe; those of the two cross-thread types,
 *    corio_tfuture_* (a foreign thread's handle on a task) and corio_pool_*
 *    (a thread pool is process-wide; not the deprecated corio_pool_submit,
 *    now corio_work_submit); and those that touch no loop
 *    (corio_strerror, corio_addr_*). "Other threads" below has the details.
 *
 * Copyright the corio authors. MIT licence.
 */
#ifndef CORIO_H
#define CORIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>  /* ssize_t */
#include <sys/socket.h> /* struct sockaddr_storage, socklen_t */
#include <sys/uio.h>    /* struct iovec */

#ifdef __cplusplus
extern "C" {
#endif

#define CORIO_VERSION_MAJOR 0
#define CORIO_VERSION_MINOR 2
#define CORIO_VERSION_PATCH 0

/* CORIO_API marks what the shared libraries export (libuv's UV_EXTERN): they
 * are built with -fvisibility=hidden and a symbol version map, so nothing
 * else leaves them. CORIO_DEPRECATED(msg) marks a name kept for one release
 * after a rename (CHANGELOG.md lists them). */
#ifndef CORIO_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define CORIO_API __attribute__((visibility("default")))
#else
#define CORIO_API
#endif
#endif
#ifndef CORIO_DEPRECATED
#if defined(__GNUC__)
#define CORIO_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define CORIO_DEPRECATED(msg)
#endif
#endif

/* ======================================================================
 * Errors
 * ====================================================================== */

/* corio's own error codes, all below -4096 (outside the errno range), as
 * one list (libuv's UV_ERRNO_MAP): X(NAME, value, "corio_strerror's words",
 * "when it is returned"). The constants CORIO_<NAME>, corio_strerror() and
 * the table in docs/reference/core.md are all made from it
 * (scripts/check-errors.sh, run by ctest, keeps the table true). A new code
 * is added here and nowhere else. */
#define CORIO_ERRNO_MAP(X)                                                  \
    X(EEOF, -4097, "End of stream",                                         \
      "end of stream before the requested data")                            \
    X(ETOOLONG, -4098, "Delimiter not found within the length limit",       \
      "a delimited read exceeded its limit")                                \
    X(ESHUTDOWN, -4099, "Shut down",                                        \
      "the queue, channel or pool was shut down")                           \
    X(ECLOSED, -4100, "Channel closed", "the channel was closed")           \
    X(EBROKEN, -4101, "Barrier broken (aborted or reset)",                  \
      "the barrier was aborted or reset")                                   \
    X(ENOTFOUND, -4102, "Host not found",                                   \
      "DNS: no such host, or no address for it")                            \
    X(ETLS, -4103, "TLS handshake or protocol error",                       \
      "TLS: the handshake or the protocol failed")                          \
    X(ECERT, -4104, "Certificate verification failed",                     \
      "TLS: the peer's certificate failed verification")                    \
    X(ENONDET, -4105,                                                       \
      "Simulation not deterministic (two runs of one seed differed)",      \
      "corio_sim_check: two runs of one seed differed (corio_sim.h)")

enum corio_errno {
#define CORIO__ERRNO_ENUM(name, value, text, when) CORIO_##name = (value),
    CORIO_ERRNO_MAP(CORIO__ERRNO_ENUM)
#undef CORIO__ERRNO_ENUM
};

/* A static English description of a negative error code (or of errno
 * values given as negative numbers). Never NULL; unknown codes give
 * "Unknown error". */
CORIO_API const char *corio_strerror(int err);

/* ======================================================================
 * The loop
 *
 * A corio_loop runs tasks and callbacks on the one thread that runs it.
 * Allocated by corio_loop_create(), freed by corio_loop_close(). Most
 * programs never see one: corio_run() creates, runs and closes it.
 * ====================================================================== */

typedef struct corio_loop corio_loop;
typedef struct corio_task corio_task;
typedef struct corio_future corio_future;

/* A plain callback, run on the loop's own stack (never inside a task).
 * It must not call suspending functions (they return -EPERM there). */
typedef void (*corio_cb)(void *arg);

/* A task body. Its return value becomes the task's result. */
typedef void *(*corio_fn)(void *arg);

enum corio_stack_mode {
    /* Every task has its own mmap'ed stack, guard-paged while the process
     * can afford the mappings (see docs/design.md "Stacks"). */
    CORIO_STACK_DEFAULT = 0,
    /* All tasks of the loop run on one shared stack; a task's live part of
     * it is copied out when it suspends and back in when it resumes. A
     * suspended task then costs its used stack bytes, not pages. Pointers
     * into one task's stack must never be handed to another task. */
    CORIO_STACK_COMPACT = 1
};

enum corio_backend {
    CORIO_BACKEND_AUTO = 0,  /* $CORIO_BACKEND (io_uring, epoll or poll) if
                                set, else the default: epoll */
    CORIO_BACKEND_EPOLL = 1,
    CORIO_BACKEND_POLL = 2,
    /* io_uring (Linux 5.19+, liburing): completions for socket and file
     * I/O, readiness for everything else. Where io_uring is unavailable
     * (seccomp, sysctl kernel.io_uring_disabled, old kernel, built
     * without liburing) the loop falls back to epoll and writes one line
     * saying so to its report file. */
    CORIO_BACKEND_IO_URING = 3
};

#define CORIO_LOOP_DEBUG 0x1u /* check API misuse; also CORIO_DEBUG=1 */

/* Loop options. Zero-initialise, then set what you need; every 0 field
 * means "the default". The loop copies it; the caller keeps ownership. */
typedef struct corio_loop_config {
    size_t stack_size;   /* per-task stack, bytes; default 256 KiB */
    int stack_mode;      /* enum corio_stack_mode */
    size_t shared_stack_size; /* COMPACT mode's shared stack; default 1 MiB */
    int backend;         /* enum corio_backend */
    unsigned flags;      /* CORIO_LOOP_* */
    void *report_file;   /* FILE* for reports (leaks at close); NULL: stderr */
} corio_loop_config;

/* Creates a loop and makes it the calling thread's current loop (unless a
 * loop is running on this thread: then the running one stays current, and
 * the new loop is used by passing it explicitly).
 * cfg may be NULL. Returns 0 or -ENOMEM, -EMFILE (no fd for the poller),
 * -EINVAL (bad config), -ENOTSUP (compact mode in a build that cannot
 * support it, e.g. under AddressSanitizer). */
CORIO_API int corio_loop_create(corio_loop **loopp, const corio_loop_config *cfg);

enum corio_run_mode {
    CORIO_RUN_DEFAULT = 0, /* until no work is left or corio_loop_stop() */
    CORIO_RUN_ONCE = 1,    /* one iteration; blocks only if nothing is ready */
    CORIO_RUN_NOWAIT = 2   /* one iteration, never blocking */
};

/* Runs the loop on the calling thread. Returns 0 when it ran out of work
 * (no live task, timer, or pending callback), 1 when stopped by
 * corio_loop_stop() or (ONCE/NOWAIT) when work remains, -EDEADLK when tasks
 * are alive but nothing (timer, fd, pool job, loop ref) can ever wake one,
 * -EBUSY if the loop is already running, -EPERM if called from inside a
 * task. */
CORIO_API int corio_loop_run(corio_loop *loop, int mode);

/* Runs the loop until future f is done (asyncio's run_until_complete).
 * Returns f's status (see corio_future_result), or -EDEADLK if the loop ran
 * out of work before f completed. */
CORIO_API int corio_loop_run_until(corio_loop *loop, corio_future *f);

/* Makes corio_loop_run() return after the current iteration. */
CORIO_API void corio_loop_stop(corio_loop *loop);

/* The backend the loop really uses: "io_uring", "epoll" or "poll" (after
 * any fallback). NULL: the current loop. A static string; "" if no loop. */
CORIO_API const char *corio_loop_backend(const corio_loop *loop);

/* Closes the loop and frees everything it owns: tasks still pending are
 * destroyed without running further (their stacks are freed; nothing on them
 * is unwound), finished tasks nobody awaited are freed. Each of those is
 * reported to the report file with its id, name and state. Returns the
 * number of reported objects (0 for a clean close), or -EBUSY (loop running,
 * nothing done). */
CORIO_API int corio_loop_close(corio_loop *loop);

/* The calling thread's current loop, or NULL. */
CORIO_API corio_loop *corio_loop_current(void);

/* asyncio.run(): creates a loop, runs main(arg) as a task until it finishes,
 * then cancels every task still alive and lets them finish, then closes
 * the loop (reporting leaks). *result (if non-NULL) gets main's return
 * value. Returns main's status (0, its corio_fail() code, -ECANCELED), or an
 * error creating the loop. cfg may be NULL. */
CORIO_API int corio_run(corio_fn main_fn, void *arg, void **result);
CORIO_API int corio_run_ex(corio_fn main_fn, void *arg, void **result,
                           const corio_loop_config *cfg);

/* Monotonic time: seconds (or nanoseconds) since an arbitrary origin. */
CORIO_API double corio_now(void);
CORIO_API int64_t corio_now_ns(void);

/* Schedules cb(arg) to run once on the loop's next iteration, after the
 * callbacks and tasks already queued (FIFO). loop NULL: the current loop.
 * Returns 0 or -ENOMEM, -EPERM (no loop). Not cancellable: use a
 * corio_timer for that. */
CORIO_API int corio_call_soon(corio_loop *loop, corio_cb cb, void *arg);

/* Same, from any thread; wakes the loop if it is waiting for I/O. */
CORIO_API int corio_call_soon_threadsafe(corio_loop *loop, corio_cb cb, void *arg);

/* Schedules cb(arg) after delay seconds / at time when (corio_now()'s
 * scale). Fire-and-forget (loop-owned); for a cancellable timer see
 * corio_timer below. Equal deadlines fire in the order they were armed. */
CORIO_API int corio_call_later(corio_loop *loop, double delay, corio_cb cb, void *arg);
CORIO_API int corio_call_at(corio_loop *loop, double when, corio_cb cb, void *arg);

/* ======================================================================
 * Tasks
 *
 * A task is a C function running on its own stack (or its slice of the
 * shared stack). corio_spawn() allocates it; it is freed when the handle's
 * owner awaits it (corio_await), or, if detached, by the loop when it
 * finishes. Exactly one of corio_await*() / corio_detach() must be called on
 * each handle; the loop reports the ones that never were.
 * ====================================================================== */

#define CORIO_SPAWN_EAGER    0x1u /* run now, until its first suspension */
#define CORIO_SPAWN_DETACHED 0x2u /* the loop owns it; no handle returned */

typedef struct corio_spawn_opts {
    const char *name;  /* copied; NULL: "task-<id>" */
    size_t stack_size; /* 0: the loop's default */
    unsigned flags;    /* CORIO_SPAWN_* */
    corio_loop *loop;  /* NULL: the current loop */
} corio_spawn_opts;

/* Spawns fn(arg) as a task, scheduled FIFO after the work already queued.
 * It does not start running until the caller suspends (or returns to the
 * loop). Returns the handle, or NULL on failure (out of memory, or no
 * current loop); corio_spawn_ex() says which. */
CORIO_API corio_task *corio_spawn(corio_fn fn, void *arg);

/* Spawns with options. *taskp gets the handle (NULL with DETACHED; taskp
 * may then be NULL). Returns 0, -ENOMEM, -EPERM (no loop; or opts->loop is
 * run by another thread: a misuse, reported), -EINVAL. */
CORIO_API int corio_spawn_ex(corio_task **taskp, corio_fn fn, void *arg,
                             const corio_spawn_opts *opts);

/* Waits for t to finish and releases it. Suspending. The handle is invalid
 * after the call returns, whatever it returns.
 * Returns t's status: 0 (*result gets t's return value), the code t gave to
 * corio_fail(), or -ECANCELED if t was cancelled. If the caller itself is
 * interrupted while waiting (-ECANCELED, -ETIMEDOUT), t is cancelled and
 * handed to the loop (detached) and that error is returned.
 * Returns -EDEADLK if a task awaits itself (the handle stays valid), and
 * -EINVAL (reported as a misuse) for a handle already awaited or a task of
 * another loop. */
CORIO_API int corio_await(corio_task *t, void **result);

#define CORIO_AWAIT_SHIELD 0x1u /* caller interrupted: t keeps running */
#define CORIO_AWAIT_KEEP   0x2u /* the handle stays the caller's */

/* corio_await() with flags. With CORIO_AWAIT_SHIELD, an interruption of the
 * caller leaves t running, detached (asyncio's shield()).
 * With CORIO_AWAIT_KEEP the call never consumes t: whatever it returns, t
 * is still the caller's handle afterwards, and the caller must end it with
 * a later corio_await*() or corio_detach() (which frees a finished task at
 * once). *result and the return value are as without the flag; to tell a
 * finished t from an interrupted wait, check corio_task_state(t) ==
 * CORIO_TASK_DONE, and read t's own outcome at any time with
 * corio_future_result(corio_task_future(t), &value).
 * CORIO_AWAIT_SHIELD | CORIO_AWAIT_KEEP is asyncio's `await shield(t)`
 * where the caller keeps t: if the caller is cancelled or times out, t runs
 * on, and its result can still be read later, e.g. by awaiting it again
 * inside a CORIO_SCOPE_SHIELD scope. KEEP without SHIELD cancels t on
 * interruption but keeps the handle (await it again to wait for its
 * cleanup). */
CORIO_API int corio_await_ex(corio_task *t, void **result, unsigned flags);

/* Requests cancellation of t. A task that has not started yet finishes
 * cancelled without running. A suspended task is woken: its suspending call
 * returns -ECANCELED, as does every later one (unless shielded). A running
 * task (the caller cancelling itself) sees it at its next suspension.
 * Returns 1 if this call requested it, 0 if t was already finished or
 * already cancelled (a no-op); -EPERM (reported on stderr) if called from
 * a thread other than the one running t's loop, -EINVAL (reported) if the
 * handle was already awaited. Not thread-safe: see corio_cancel_threadsafe. */
CORIO_API int corio_cancel(corio_task *t);

/* corio_cancel from any thread: the cancellation is posted to t's loop and
 * requested there (at once if called on the loop's own thread). The caller
 * must know that t's handle is still valid when it calls (not yet awaited,
 * nor detached) and that t's loop is not closed before the call returns;
 * t may finish, be awaited and freed at any time after: the posted cancel
 * then does nothing (it recognises the task by its id). Returns 0 (posted
 * or done), -ENOMEM, -EINVAL (NULL or a freed handle). */
CORIO_API int corio_cancel_threadsafe(corio_task *t);

/* Gives up the handle: the loop frees t when it finishes (at once, if it
 * already has). Fire-and-forget without asyncio's lost-task bug: the loop
 * holds it, so it cannot be garbage-collected mid-flight. */
CORIO_API void corio_detach(corio_task *t);

/* Lets every other ready task and callback run, then resumes. Suspending:
 * returns 0, -ECANCELED or -ETIMEDOUT. */
CORIO_API int corio_yield(void);

/* The task running now, or NULL on the loop's stack / outside any loop. */
CORIO_API corio_task *corio_current(void);

/* Marks the calling task as failed with err (a negative code) and returns
 * NULL, for `return corio_fail(-EIO);`. corio_await() returns err. */
CORIO_API void *corio_fail(int err);

/* 0 unless cancellation of the calling task has been requested, then
 * -ECANCELED. Non-suspending (for CPU loops); ignores shields. */
CORIO_API int corio_cancelled(void);

/* What the calling task's next suspending call would fail with, without
 * suspending: -ECANCELED if its cancellation is pending (not shielded),
 * -ETIMEDOUT if a scope around it (up to a shield) has expired, else 0; 0
 * outside a task. For code that must not start work it would abandon at
 * once (a client that would send a request, then cancel it). */
CORIO_API int corio_checkpoint(void);

enum corio_task_state {
    CORIO_TASK_CREATED = 0,   /* spawned, never ran */
    CORIO_TASK_READY = 1,     /* queued to run */
    CORIO_TASK_RUNNING = 2,   /* running now (it is corio_current()) */
    CORIO_TASK_SUSPENDED = 3, /* waiting in a suspending call */
    CORIO_TASK_DONE = 4       /* finished; result available */
};

CORIO_API int corio_task_state(const corio_task *t);
CORIO_API uint64_t corio_task_id(const corio_task *t); /* unique in the process, from 1 */
CORIO_API const char *corio_task_name(const corio_task *t); /* valid while t lives */
CORIO_API int corio_task_set_name(corio_task *t, const char *name); /* 0 or -ENOMEM */
/* The future that completes when t finishes; owned by t (never destroy it).
 * Valid while the caller owns the handle: until corio_await*() or
 * corio_detach() (a detached task is freed when it ends, future and all).
 * Waiting on it does not consume t. It is made on the first call (a plain
 * corio_await needs none), so this returns NULL if out of memory. */
CORIO_API corio_future *corio_task_future(corio_task *t);

/* Calls fn(t, arg) for every live task of loop (NULL: current), in spawn
 * order, until fn returns non-zero; returns that value or 0. fn must not
 * spawn or free tasks. */
CORIO_API int corio_task_foreach(corio_loop *loop, int (*fn)(corio_task *t, void *arg),
                                 void *arg);
/* Number of live (not yet freed) tasks. */
CORIO_API size_t corio_task_count(corio_loop *loop);

/* ======================================================================
 * Futures
 *
 * A future is a one-shot result slot: pending, then done with a value, an
 * error, or cancelled. corio_future_create() allocates one; the creator
 * frees it with corio_future_destroy() once no task waits on it and no
 * _threadsafe completion is in flight. Done-callbacks run as loop callbacks
 * (call_soon), in the order they were added, never synchronously.
 * ====================================================================== */

typedef void (*corio_future_cb)(corio_future *f, void *arg);

/* loop NULL: the current loop. Returns 0, -ENOMEM or -EPERM. */
CORIO_API int corio_future_create(corio_loop *loop, corio_future **fp);
CORIO_API void corio_future_destroy(corio_future *f);

/* Completes f. Returns 0, or -EALREADY if f is already done (it is left as
 * it was). set_error takes a negative code (-EINVAL otherwise). cancel
 * returns 1 if it cancelled f, 0 if f was already done. */
CORIO_API int corio_future_set_result(corio_future *f, void *value);
CORIO_API int corio_future_set_error(corio_future *f, int err);
CORIO_API int corio_future_cancel(corio_future *f);

/* From any thread: completion is carried to f's loop by
 * corio_call_soon_threadsafe. At most one per future: a second returns
 * -EALREADY. While a task waits for a completion that only another thread
 * will post, hold a corio_loop_ref() (or wait with a timeout): otherwise a
 * loop with nothing else to do sees a deadlock and returns -EDEADLK. */
CORIO_API int corio_future_set_result_threadsafe(corio_future *f, void *value);
CORIO_API int corio_future_set_error_threadsafe(corio_future *f, int err);

CORIO_API int corio_future_done(const corio_future *f);
/* f's status: 0 (*value set), its error, -ECANCELED; -EAGAIN if pending. */
CORIO_API int corio_future_result(const corio_future *f, void **value);

/* Waits until f is done and returns corio_future_result(). Suspending. An
 * interruption of the caller does not cancel f. */
CORIO_API int corio_future_await(corio_future *f, void **value);

/* Adds cb(f, arg) to run when f completes (soon, if it already has).
 * Returns 0 or -ENOMEM. remove drops every registration matching both cb
 * and arg that has not been scheduled yet, and returns how many. */
CORIO_API int corio_future_add_done_callback(corio_future *f, corio_future_cb cb,
                                             void *arg);
CORIO_API int corio_future_remove_done_callback(corio_future *f, corio_future_cb cb,
                                                void *arg);

/* ======================================================================
 * Time
 * ====================================================================== */

/* Suspends the calling task for `seconds` (or until corio_now() >= when).
 * Timers have millisecond resolution and never fire early. seconds <= 0
 * yields once. Returns 0, -ECANCELED or -ETIMEDOUT. */
CORIO_API int corio_sleep(double seconds);
CORIO_API int corio_sleep_until(double when);

/* A cancellable timer. The caller allocates it (any storage that outlives
 * it being armed) and initialises it once, with corio_timer_init() or by
 * zeroing it (`corio_timer t = {0};`); corio_timer_start() arms it.
 * It may be freed when not armed: after it fired (before its callback runs
 * it is already disarmed, so the callback may free or re-arm it), or after
 * corio_timer_stop(). Arm and stop are O(1). The fields are private. */
typedef struct corio_timer {
    struct corio_timer *corio__next, *corio__prev; /* wheel slot list */
    int64_t corio__deadline;  /* ns, corio_now_ns() scale */
    uint32_t corio__slot;     /* level*64 + slot, or UINT32_MAX if idle */
    uint32_t corio__kind;     /* internal: who the timer belongs to */
    corio_cb corio__cb;
    void *corio__arg;
    corio_loop *corio__loop;
} corio_timer;

/* Makes t an idle timer (the same as zeroing it). */
CORIO_API void corio_timer_init(corio_timer *t);

/* Arms t (re-arming it if armed) to call cb(arg) on loop (NULL: current)
 * after delay seconds / at time when. Returns 0 or -EPERM (no loop). */
CORIO_API int corio_timer_start(corio_loop *loop, corio_timer *t, double delay,
                                corio_cb cb, void *arg);
CORIO_API int corio_timer_start_at(corio_loop *loop, corio_timer *t, double when,
                                   corio_cb cb, void *arg);
/* Disarms t. Returns 1 if it was armed, 0 if not (stopping twice, or after
 * it fired, is a no-op). */
CORIO_API int corio_timer_stop(corio_timer *t);
CORIO_API int corio_timer_active(const corio_timer *t);

/* ======================================================================
 * Cancellation scopes and timeouts
 *
 * A scope is a struct on the task's own stack, entered and exited in
 * strict nesting. While the deadline of any enclosing scope has passed,
 * suspending calls return -ETIMEDOUT (level-triggered, like cancellation);
 * the nearest deadline wins. A SHIELD scope hides the task's cancellation
 * and the deadlines of the scopes outside it from the calls inside it (its
 * own deadline still applies) — for cleanup code that must finish.
 * ====================================================================== */

#define CORIO_SCOPE_SHIELD 0x1u

typedef struct corio_scope {
    struct corio_scope *corio__outer; /* enclosing scope, or NULL */
    corio_task *corio__task;          /* owner */
    int64_t corio__deadline;          /* ns; INT64_MAX = none */
    unsigned corio__flags;
    int corio__expired;               /* deadline passed */
} corio_scope;

/* Enters scope s with a deadline `timeout` seconds from now (a negative
 * value, or INFINITY, means none; 0 means already expired). Returns 0 or
 * -EPERM (not in a task). */
CORIO_API int corio_scope_enter(corio_scope *s, double timeout, unsigned flags);
/* Same with an absolute deadline on corio_now()'s scale. */
CORIO_API int corio_scope_enter_at(corio_scope *s, double deadline, unsigned flags);
/* Moves the deadline of an entered scope (Trio's mutable deadline). A
 * scope whose deadline has already passed stays expired (as in Trio):
 * moving its deadline later does not undo the timeout. Takes effect at
 * once, also from another task while the scope's task is parked (its
 * timer is re-armed, like asyncio's Timeout.reschedule). */
CORIO_API void corio_scope_set_deadline(corio_scope *s, double deadline);
/* Leaves s, which must be the innermost scope. Returns 1 if its own
 * deadline had passed (the timeout this scope was for happened), else 0;
 * -EINVAL if s is not the innermost scope (nothing is changed). */
CORIO_API int corio_scope_exit(corio_scope *s);
CORIO_API int corio_scope_expired(const corio_scope *s);

/* Trio's cancel_scope.cancel(): cancels the calls inside s, and only those.
 * While s is entered, every suspending call inside it returns -ECANCELED
 * (level-triggered), except inside a shield scope nested in s; code
 * outside s, and the task itself, are not cancelled (corio_cancelled()
 * stays 0). If the owner is waiting inside s (called from another task or
 * a callback), its wait ends at once with -ECANCELED. Permanent: the scope
 * stays cancelled until it is exited; the struct stays the caller's.
 * s must be entered (corio_scope_enter*() resets it, so a cancel before
 * entering is lost). From another task in CORIO_STACK_COMPACT mode, s must
 * not live on the owner's stack (put it on the heap). Non-suspending.
 * Returns 1 if this call cancelled s, 0 if it already was, -EINVAL if s is
 * NULL. */
CORIO_API int corio_scope_cancel(corio_scope *s);
/* 1 once corio_scope_cancel(s) was called (Trio's cancel_called). */
CORIO_API int corio_scope_cancel_called(const corio_scope *s);
/* Trio's cancelled_caught: 1 if s's own cancellation — corio_scope_cancel()
 * or its deadline — interrupted a suspending call inside it, i.e. s was the
 * outermost cancelled or expired scope visible from that call, and the
 * task's own cancellation did not take precedence. 0 if s was cancelled or
 * expired but nothing inside noticed (no suspending call ran). Readable
 * during the scope and after corio_scope_exit(). */
CORIO_API int corio_scope_cancelled_caught(const corio_scope *s);
/* asyncio's Timeout.when(): s's deadline on corio_now()'s scale, or
 * INFINITY (HUGE_VAL) if it has none. */
CORIO_API double corio_scope_deadline(const corio_scope *s);
/* Trio's current_effective_deadline(): the earliest deadline that applies
 * to a suspending call made now by the running task — the deadlines of its
 * scopes from the innermost out to the first shield scope (included).
 * -INFINITY if such a call would fail with -ECANCELED at once (a visible
 * scope was cancelled by hand, or the task is cancelled and not shielded);
 * INFINITY if no deadline applies, or outside a task. Non-suspending. */
CORIO_API double corio_current_effective_deadline(void);

/* asyncio.wait_for: awaits t for at most `timeout` seconds. On timeout t is
 * cancelled and detached and -ETIMEDOUT is returned. Consumes t like
 * corio_await(). A task already finished gives its result whatever the
 * timeout (0 included). */
CORIO_API int corio_wait_for(corio_task *t, double timeout, void **result);
/* The same for a future; on timeout f is cancelled. Does not consume f.
 * A done future gives its result whatever the timeout. */
CORIO_API int corio_future_wait_for(corio_future *f, double timeout, void **value);
/* asyncio 3.12's wait_for: like corio_wait_for(), but when the wait is
 * interrupted — by its own timeout, an enclosing scope, or the caller's
 * cancellation — t is cancelled and the call waits (shielded: nothing can
 * cut this short) until t has finished its cleanup; t has ended when it
 * returns. Suspending; always consumes t (it is freed, or freed by the loop
 * as soon as its stack is released), except on -EPERM, -EINVAL, -EDEADLK.
 * Returns t's status (0 with *result = its return value) if t finished
 * before the interruption was seen; an outcome that is ready wins over this
 * call's own timeout, even with timeout 0. Otherwise -ETIMEDOUT or
 * -ECANCELED (the interruption), or, as in asyncio, the error t failed with
 * during its cleanup (a status other than -ECANCELED); *result then gets
 * whatever t returned (usually NULL). The caller's cancellation or an outer
 * scope's deadline wins over a ready outcome (level-triggered). */
CORIO_API int corio_wait_for_cleanup(corio_task *t, double timeout, void **result);

/* ======================================================================
 * Synchronisation: locks, events, conditions, semaphores, barriers
 * ====================================================================== */

/* Common rules of the primitives below (asyncio's, for tasks of one loop;
 * no OS locks, not thread-safe):
 *  - Each is allocated by its _create() and freed by its _destroy(), by its
 *    creator, once no task uses it. Tasks still waiting on a destroyed
 *    primitive (a bug) are woken with -EIDRM rather than left hanging.
 *  - Waiters are served in FIFO order, by hand-off: a release/notify/set
 *    gives the lock, unit or wake-up straight to the first waiter that can
 *    still be woken, so a newcomer never overtakes it.
 *  - Every wait can be cancelled or timed out (use a corio_scope for
 *    timeouts) without corrupting the primitive: a waiter interrupted
 *    before it was handed anything never owns it, and the hand-off goes to
 *    the next waiter. A waiter handed the lock/unit/notification and then
 *    cancelled before it ran still gets it: its call returns 0 (first wake
 *    wins), and the cancellation shows at its next suspending call.
 *  - Waits are suspending: -EPERM outside a task, -ECANCELED, -ETIMEDOUT. */

/* A mutual-exclusion lock that records its owner task. Not recursive. */
typedef struct corio_lock corio_lock;
CORIO_API int corio_lock_create(corio_lock **lp); /* 0, -ENOMEM, -EINVAL */
CORIO_API void corio_lock_destroy(corio_lock *l); /* NULL: no-op */
/* Waits until the lock is free and takes it. Returns 0, -EDEADLK (the
 * caller already owns it), -ECANCELED, -ETIMEDOUT, -EPERM, -EIDRM. */
CORIO_API int corio_lock_acquire(corio_lock *l);
/* Takes it only if free: 0, -EBUSY, -EDEADLK, -EPERM (not in a task). */
CORIO_API int corio_lock_try_acquire(corio_lock *l);
/* Releases it, handing it to the first waiter. Only the owner may: returns
 * 0, or -EPERM if the caller is not the owner (or it is not locked). */
CORIO_API int corio_lock_release(corio_lock *l);
CORIO_API int corio_lock_locked(const corio_lock *l);
CORIO_API corio_task *corio_lock_owner(const corio_lock *l); /* NULL if unlocked */

/* An event flag: wait() returns once it is set. */
typedef struct corio_event corio_event;
CORIO_API int corio_event_create(corio_event **ep); /* starts clear */
CORIO_API void corio_event_destroy(corio_event *e);
/* Sets the flag and wakes every waiter (a clear() right after does not
 * take those wake-ups back). Non-suspending; 0 or -EINVAL. */
CORIO_API int corio_event_set(corio_event *e);
CORIO_API int corio_event_clear(corio_event *e);
CORIO_API int corio_event_is_set(const corio_event *e);
/* Waits until the flag is set (returns at once if it is). */
CORIO_API int corio_event_wait(corio_event *e);

/* A condition variable bound to a lock (its own if lock is NULL; that one
 * is freed with it; a given lock stays the caller's). */
typedef struct corio_cond corio_cond;
CORIO_API int corio_cond_create(corio_cond **cp, corio_lock *lock);
CORIO_API void corio_cond_destroy(corio_cond *c);
CORIO_API corio_lock *corio_cond_lock(corio_cond *c);
CORIO_API int corio_cond_acquire(corio_cond *c); /* corio_lock_acquire(its lock) */
CORIO_API int corio_cond_release(corio_cond *c);
/* The caller must own the lock (-EPERM otherwise). Releases it, waits for
 * a notify, and takes the lock back before returning, whatever it returns
 * (re-acquiring is not interruptible), except -EIDRM. Returns 0 when
 * notified, -ECANCELED, -ETIMEDOUT (a cancelled/timed-out waiter consumed
 * no notification). Called already cancelled, it returns at once, still
 * holding the lock. */
CORIO_API int corio_cond_wait(corio_cond *c);
/* Waits until pred(arg) is non-zero (checked with the lock held, before
 * each wait). 0 or corio_cond_wait()'s error. */
CORIO_API int corio_cond_wait_for(corio_cond *c, int (*pred)(void *arg), void *arg);
/* asyncio's Condition.wait_for(), which returns the predicate's value:
 * waits (as corio_cond_wait_for) until pred(arg) != 0 and returns that
 * value. pred returns 0 to keep waiting, > 0 to stop with that value, or a
 * negative error to stop with it. Returns pred's value, or
 * corio_cond_wait()'s error, -EPERM (the caller does not own the lock:
 * pred must run under it), -EINVAL. The lock is held on return, as for
 * corio_cond_wait(). */
CORIO_API int corio_cond_wait_value(corio_cond *c, int (*pred)(void *arg), void *arg);
/* Wakes up to n waiters (all) in FIFO order; the caller must own the lock.
 * Returns how many it woke, or -EPERM / -EINVAL. Non-suspending. */
CORIO_API int corio_cond_notify(corio_cond *c, size_t n);
CORIO_API int corio_cond_notify_all(corio_cond *c);

/* A counting semaphore. A bounded one (asyncio's BoundedSemaphore) refuses
 * a release that would raise its value above the initial value. */
typedef struct corio_sem corio_sem;
CORIO_API int corio_sem_create(corio_sem **sp, size_t value);
CORIO_API int corio_sem_create_bounded(corio_sem **sp, size_t value);
CORIO_API void corio_sem_destroy(corio_sem *s);
/* Waits until a unit is free and takes it. */
CORIO_API int corio_sem_acquire(corio_sem *s);
/* Takes a unit if one is free: 0 or -EAGAIN. Non-suspending (usable
 * outside a task). */
CORIO_API int corio_sem_try_acquire(corio_sem *s);
/* Returns a unit, handing it to the first waiter if any. Non-suspending;
 * any code may call it (no owner is recorded). Returns 0, or -EOVERFLOW
 * (bounded: released more than acquired; the value is unchanged). */
CORIO_API int corio_sem_release(corio_sem *s);
CORIO_API size_t corio_sem_value(const corio_sem *s);
CORIO_API int corio_sem_locked(const corio_sem *s); /* 1 if acquire() would wait */

/* A capacity limiter (Trio's CapacityLimiter): total_tokens tokens, each
 * lent to one borrower at a time. A borrower is any non-NULL pointer that
 * names who holds the token: the calling task for acquire()/release(),
 * anything the caller chooses for the _on_behalf_of forms (e.g. a job, or
 * a thread-pool request). A borrower holds at most one token; only it can
 * give it back. Tokens are handed off FIFO like semaphore units. Allocated
 * by corio_limiter_create(), freed by corio_limiter_destroy() (tokens still
 * borrowed are simply forgotten; waiters get -EIDRM). The limiter never
 * dereferences borrowers. A task that ends holding a token leaks it. */
typedef struct corio_limiter corio_limiter;
/* total_tokens >= 1. Returns 0, -EINVAL, -ENOMEM. */
CORIO_API int corio_limiter_create(corio_limiter **lp, size_t total_tokens);
CORIO_API void corio_limiter_destroy(corio_limiter *l); /* NULL: no-op */
/* Waits for a token and lends it to the calling task / to borrower.
 * Suspending. Returns 0, -EDEADLK (borrower already holds or awaits one),
 * -ENOMEM, -ECANCELED, -ETIMEDOUT, -EPERM, -EIDRM, -EINVAL. */
CORIO_API int corio_limiter_acquire(corio_limiter *l);
CORIO_API int corio_limiter_acquire_on_behalf_of(corio_limiter *l, const void *borrower);
/* Takes a token only if one is free and nobody waits: 0, -EAGAIN,
 * -EDEADLK, -ENOMEM, -EINVAL; try_acquire: -EPERM outside a task.
 * Non-suspending (the _on_behalf_of form works from callbacks too). */
CORIO_API int corio_limiter_try_acquire(corio_limiter *l);
CORIO_API int corio_limiter_try_acquire_on_behalf_of(corio_limiter *l,
                                                     const void *borrower);
/* Gives the calling task's / borrower's token back, handing it to the
 * first waiter. Non-suspending. 0, -EPERM (it holds none; or outside a
 * task for release()), -EINVAL. */
CORIO_API int corio_limiter_release(corio_limiter *l);
CORIO_API int corio_limiter_release_on_behalf_of(corio_limiter *l, const void *borrower);
/* Sets the total (>= 1, else -EINVAL). Raising it hands the new tokens to
 * waiters at once; lowering it revokes nothing: acquirers wait until fewer
 * than the new total are borrowed. Non-suspending. */
CORIO_API int corio_limiter_set_total_tokens(corio_limiter *l, size_t total_tokens);
CORIO_API size_t corio_limiter_total_tokens(const corio_limiter *l);
CORIO_API size_t corio_limiter_borrowed_tokens(const corio_limiter *l);
CORIO_API size_t corio_limiter_available_tokens(const corio_limiter *l); /* 0 if over */
/* Copies up to max borrowers (unordered) into out; returns how many hold a
 * token. out may be NULL when max is 0. */
CORIO_API size_t corio_limiter_borrowers(const corio_limiter *l, const void **out,
                                         size_t max);
typedef struct corio_limiter_stats {
    size_t borrowed_tokens;
    size_t total_tokens;
    size_t tasks_waiting;   /* acquirers parked and not yet interrupted */
} corio_limiter_stats;
/* Trio's statistics() (the borrowers: corio_limiter_borrowers()). 0 or
 * -EINVAL. */
CORIO_API int corio_limiter_statistics(const corio_limiter *l, corio_limiter_stats *st);

/* A barrier for `parties` tasks (asyncio.Barrier): each wait() suspends
 * until parties tasks wait, then all return, with distinct indexes 0 ..
 * parties-1 in arrival order (the last arrival gets parties-1), and the
 * barrier is ready for the next cycle at once. A waiter that is cancelled
 * or times out withdraws and no longer counts. */
typedef struct corio_barrier corio_barrier;
CORIO_API int corio_barrier_create(corio_barrier **bp, size_t parties); /* >= 1 */
CORIO_API void corio_barrier_destroy(corio_barrier *b);
/* Returns the index (>= 0), CORIO_EBROKEN (aborted, or reset while
 * waiting), -ECANCELED, -ETIMEDOUT, -EPERM, -EIDRM. */
CORIO_API int corio_barrier_wait(corio_barrier *b);
/* Breaks the barrier: waiters and later wait() calls get CORIO_EBROKEN
 * until reset(). Non-suspending. */
CORIO_API int corio_barrier_abort(corio_barrier *b);
/* Wakes the current waiters with CORIO_EBROKEN and makes the barrier
 * usable (not broken, empty) again. Non-suspending. */
CORIO_API int corio_barrier_reset(corio_barrier *b);
CORIO_API size_t corio_barrier_parties(const corio_barrier *b);
CORIO_API size_t corio_barrier_n_waiting(const corio_barrier *b);
CORIO_API int corio_barrier_broken(const corio_barrier *b);

/* ======================================================================
 * Queues and channels
 * ====================================================================== */

/* A Go-style channel of void * values. corio_chan_create() allocates it;
 * the creator frees it with corio_chan_destroy() once no task uses it.
 * Capacity N > 0 buffers up to N values; capacity 0 is unbuffered: a send
 * completes only when a receiver takes the value (rendezvous). FIFO: values
 * arrive in the order they were sent, and waiting senders and receivers are
 * served in the order they started waiting.
 * Ownership: the channel stores the pointer, never what it points to. A
 * successful send hands the pointee to the receiver, who then owns it; a
 * send that fails (closed, cancelled, timed out) leaves it with the sender.
 * A channel is not tied to a loop, but it must only be used by one thread. */
typedef struct corio_chan corio_chan;

/* Returns 0, -ENOMEM, -EINVAL (cp NULL or absurd capacity). */
CORIO_API int corio_chan_create(corio_chan **cp, size_t capacity);
/* Frees c and the values' slots (not the values: drain it first if they
 * own memory). Tasks still waiting on it (a bug) are woken with
 * CORIO_ECLOSED. NULL is a no-op. */
CORIO_API void corio_chan_destroy(corio_chan *c);

/* Sends value. Suspending: waits while the buffer is full (unbuffered:
 * until a receiver takes it). Returns 0, CORIO_ECLOSED (closed before or
 * while waiting; value not sent), -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL. */
CORIO_API int corio_chan_send(corio_chan *c, void *value);
/* Receives the oldest value into *value (value may be NULL). Suspending:
 * waits while nothing is buffered or offered. After close it still returns
 * the buffered values, then CORIO_ECLOSED (*value = NULL). */
CORIO_API int corio_chan_recv(corio_chan *c, void **value);
/* Non-suspending versions (also usable from callbacks): -EAGAIN instead of
 * waiting; never report cancellation. */
CORIO_API int corio_chan_try_send(corio_chan *c, void *value);
CORIO_API int corio_chan_try_recv(corio_chan *c, void **value);
/* Closes c: later sends fail with CORIO_ECLOSED, waiting senders wake with
 * it, receivers drain the buffer and then get CORIO_ECLOSED. Returns 0,
 * -EALREADY if already closed, -EINVAL. */
CORIO_API int corio_chan_close(corio_chan *c);
CORIO_API size_t corio_chan_len(const corio_chan *c); /* buffered values */
CORIO_API size_t corio_chan_cap(const corio_chan *c);
CORIO_API int corio_chan_closed(const corio_chan *c); /* 1 once closed */

/* One case of corio_chan_select(). */
enum corio_chan_op {
    CORIO_CHAN_SEND = 1,
    CORIO_CHAN_RECV = 2,
    CORIO_CHAN_CROSS = 0x10 /* or'ed into op: the case is on xchan, a
                             * channel between loops (corio_xchan) */
};
typedef struct corio_chan_case {
    union {
        corio_chan *chan;          /* NULL: the case is disabled (Go's nil
                                    * channel) */
        struct corio_xchan *xchan; /* with op | CORIO_CHAN_CROSS */
    };
    int op;           /* enum corio_chan_op */
    void *value;      /* SEND: what to send. RECV: set to what was received
                       * (NULL if the channel was closed) */
    int status;       /* set for the chosen case: 0, or CORIO_ECLOSED (a
                       * SEND's value then stays with the caller) */
} corio_chan_case;

/* Go's select / libdill's choose: waits until one of the n cases can
 * complete, completes exactly that one, and returns its index. Cases ready
 * at once are tried in array order (the first ready one wins; put the one
 * that must not starve first). A case on a closed channel is ready and
 * completes with status CORIO_ECLOSED. The cases array may live on the
 * task's stack. timeout: seconds; negative means none; 0 means poll: never
 * suspends (usable outside a task, ignores cancellation) and returns -EAGAIN
 * if no case is ready. Suspending otherwise. Returns the index, or
 * -ETIMEDOUT (timeout or an expired scope; no case completed), -ECANCELED,
 * -EAGAIN, -ENOMEM, -EPERM, -EINVAL (bad op, cases NULL with n > 0). With no
 * enabled case it waits for the timeout (or forever). Cases on cross-loop
 * channels (xchan, op | CORIO_CHAN_CROSS) may be mixed with local ones,
 * from a task on a loop of a corio_run_multi runtime (else -EPERM, even
 * when polling): still exactly one case completes. */
CORIO_API int corio_chan_select(corio_chan_case *cases, size_t n, double timeout);

/* A queue of void * items (asyncio's Queue, LifoQueue, PriorityQueue).
 * corio_queue_create() allocates it; the creator frees it with
 * corio_queue_destroy() once no task uses it. Ownership as for channels:
 * the queue stores the pointer; a successful put hands the pointee to the
 * getter; a failed put leaves it with the putter; destroy frees only the
 * queue (drain it, or shut it down with a drop callback, first).
 * Waiting putters and getters are served FIFO, and a waiter woken by a put
 * or get has completed its operation: a cancelled or timed-out waiter never
 * consumed or delivered an item. Single-thread, not tied to a loop. */
typedef struct corio_queue corio_queue;

enum corio_queue_kind {
    CORIO_QUEUE_FIFO = 0,    /* first in, first out */
    CORIO_QUEUE_LIFO = 1,    /* last in, first out */
    CORIO_QUEUE_PRIORITY = 2 /* lowest priority value first; equal ones
                              * in insertion order */
};

/* maxsize 0: unbounded. Returns 0, -ENOMEM, -EINVAL (bad kind, qp NULL). */
CORIO_API int corio_queue_create(corio_queue **qp, int kind, size_t maxsize);
/* Frees q (not the items). Tasks still waiting on it (a bug) are woken with
 * CORIO_ESHUTDOWN. NULL is a no-op. */
CORIO_API void corio_queue_destroy(corio_queue *q);

/* Adds item (with priority, for PRIORITY queues; the others ignore it).
 * Suspending: waits while the queue is full. Returns 0, CORIO_ESHUTDOWN
 * (shut down before or while waiting; item not queued), -ENOMEM,
 * -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL. put() is put_prio(..., 0). */
CORIO_API int corio_queue_put(corio_queue *q, void *item);
CORIO_API int corio_queue_put_prio(corio_queue *q, void *item, int64_t priority);
/* Removes the next item into *item (and its priority into *priority);
 * either pointer may be NULL. Suspending: waits while the queue is empty.
 * Returns 0, CORIO_ESHUTDOWN (shut down and empty), -ECANCELED,
 * -ETIMEDOUT, -EPERM, -EINVAL. */
CORIO_API int corio_queue_get(corio_queue *q, void **item);
CORIO_API int corio_queue_get_prio(corio_queue *q, void **item, int64_t *priority);
/* Non-suspending versions (also from callbacks): -EAGAIN instead of
 * waiting; they ignore cancellation. */
CORIO_API int corio_queue_try_put(corio_queue *q, void *item);
CORIO_API int corio_queue_try_put_prio(corio_queue *q, void *item, int64_t priority);
CORIO_API int corio_queue_try_get(corio_queue *q, void **item);
CORIO_API int corio_queue_try_get_prio(corio_queue *q, void **item, int64_t *priority);

/* Every successful put counts one unfinished item; task_done() marks one
 * finished (call it once per item got, when done with it). Returns 0, or
 * -EINVAL if called more times than items were put. */
CORIO_API int corio_queue_task_done(corio_queue *q);
/* Waits until every item put has been marked done (returns at once if
 * none is unfinished). Suspending: 0, -ECANCELED, -ETIMEDOUT, -EPERM. */
CORIO_API int corio_queue_join(corio_queue *q);

/* asyncio 3.13's Queue.shutdown: later puts fail with CORIO_ESHUTDOWN and
 * waiting putters wake with it (keeping their items); getters drain what is
 * queued, then get CORIO_ESHUTDOWN (waiting getters wake with it at once).
 * With immediate != 0 the queued items are removed now, each passed to
 * drop(item, arg) (if drop is not NULL) in get order and counted as done
 * for join(), so joiners wake once nothing is unfinished. drop must not use
 * q. Idempotent; a second call may be immediate. Returns the number of
 * items dropped, or -EINVAL. Non-suspending. */
CORIO_API int corio_queue_shutdown(corio_queue *q, int immediate,
                                   void (*drop)(void *item, void *arg), void *arg);

CORIO_API size_t corio_queue_len(const corio_queue *q);        /* items queued */
CORIO_API size_t corio_queue_maxsize(const corio_queue *q);    /* 0: unbounded */
CORIO_API size_t corio_queue_unfinished(const corio_queue *q); /* put - task_done */
CORIO_API int corio_queue_is_shutdown(const corio_queue *q);

/* ======================================================================
 * Combinators and task groups: gather, wait, as_completed, groups
 * ====================================================================== */

/* Who owns what: corio_gather() takes task handles and consumes every one of
 * them whatever it returns (finished tasks are freed, unfinished ones are
 * handed to the loop, as corio_detach() does), except when it fails its
 * argument checks (-EPERM, -EINVAL, -EDEADLK, -ENOMEM: nothing consumed).
 * The other combinators take futures (a task's is corio_task_future(t)) and
 * consume nothing: await or detach the tasks afterwards as usual. Futures
 * given to them must stay alive until the call returns (as_completed: until
 * the iterator is destroyed). Shield: corio_await_ex(t, r,
 * CORIO_AWAIT_SHIELD) awaits t without cancelling it when the awaiter is
 * interrupted (asyncio.shield). */

/* corio_gather() flags. Default: fail fast, leave the others running. */
#define CORIO_GATHER_ALL_ERRORS  0x1u /* wait for all; per-item statuses */
#define CORIO_GATHER_CANCEL_REST 0x2u /* fail fast: cancel the others and
                                       * wait until they have finished */

/* asyncio.gather: waits for n tasks; results[i] gets task i's return value
 * (NULL if it failed), statuses[i] its status (0, its error, -ECANCELED, or
 * -EINPROGRESS if it was still running when gather returned); either array
 * may be NULL. Suspending.
 * Default (fail fast): returns at the first task to fail (in completion
 * order) with its status; the others keep running, detached (asyncio's
 * behaviour), or, with CORIO_GATHER_CANCEL_REST, are cancelled and waited
 * for. Returns 0 if all succeeded. With CORIO_GATHER_ALL_ERRORS
 * (return_exceptions=True) it waits for all and returns how many failed.
 * If the caller is cancelled or times out (even in the iteration the last
 * task finishes: the interruption is never swallowed), every unfinished
 * task is cancelled (and handed to the loop) and that error is returned;
 * results/statuses are still filled for the tasks that finished. */
CORIO_API int corio_gather(corio_task *const *tasks, size_t n, void **results,
                           int *statuses, unsigned flags);
/* The same over futures; consumes nothing, and an interruption of the
 * caller cancels nothing (CANCEL_REST still cancels: a task's future by
 * cancelling its task). */
CORIO_API int corio_gather_futures(corio_future *const *fs, size_t n, void **results,
                                   int *statuses, unsigned flags);

enum corio_wait_when {
    CORIO_WAIT_ALL_COMPLETED = 0,
    CORIO_WAIT_FIRST_COMPLETED = 1,
    CORIO_WAIT_FIRST_EXCEPTION = 2 /* first with a non-zero status, or all */
};

/* asyncio.wait: waits until return_when is met or `timeout` seconds passed
 * (negative: no timeout). Returns how many of the n futures are done (the
 * "done" set; the others are "pending": check corio_future_done()), and if
 * done_idx is not NULL (room for n) fills it with their indexes: those
 * already done first, then in completion order. Its own timeout is not an
 * error. Cancels nothing. Errors: -EINVAL (n == 0, NULL entry, bad
 * return_when), -ECANCELED, -ETIMEDOUT (an enclosing scope), -EPERM,
 * -ENOMEM. */
CORIO_API int corio_wait(corio_future *const *fs, size_t n, int return_when,
                         double timeout, size_t *done_idx);

/* asyncio.as_completed: an iterator over n futures in completion order.
 * Allocated by _create (any context), freed by _destroy. timeout (seconds,
 * negative: none) bounds the whole iteration, as in asyncio. */
typedef struct corio_as_completed corio_as_completed;
CORIO_API int corio_as_completed_create(corio_as_completed **itp,
                                        corio_future *const *fs, size_t n,
                                        double timeout);
/* Waits for the next future to complete and returns its index (read its
 * result with corio_future_result). Suspending. Returns -ENOENT once all n
 * were returned, -ETIMEDOUT when the iteration's timeout passed,
 * -ECANCELED, -EPERM. */
CORIO_API int corio_as_completed_next(corio_as_completed *it);
CORIO_API void corio_as_completed_destroy(corio_as_completed *it);

/* A task group (asyncio.TaskGroup, Trio's nursery): structured
 * concurrency. Allocated by corio_group_create(); freed by
 * corio_group_destroy(), which frees the children too (children still
 * running then, e.g. if wait was never called, are cancelled and handed to
 * the loop). Children are owned by the group: never await or detach them.
 *  - corio_group_wait() returns only once every child has finished.
 *  - The first child to fail (status other than 0 and -ECANCELED) makes the
 *    group cancel the others; wait returns that child's status.
 *  - A cancellation or timeout of the waiting task is never swallowed: wait
 *    cancels the children, waits for them, and returns -ECANCELED /
 *    -ETIMEDOUT even if a child failed at the same time; the task's later
 *    suspending calls keep failing (cancellation is level-triggered).
 * The group does not interrupt its owner's own code when a child fails:
 * check corio_group_error() if the owner must stop early. */
typedef struct corio_group corio_group;
CORIO_API int corio_group_create(corio_group **gp); /* 0, -ENOMEM, -EINVAL */
/* Spawns fn(arg) into g (from the owner or from a child). *tp (if tp is
 * not NULL) gets a borrowed handle, valid until corio_group_destroy(), to
 * read the child's result with corio_task_future(). opts may be NULL;
 * CORIO_SPAWN_DETACHED is refused (-EINVAL). Returns 0, -ENOMEM, -EPERM,
 * CORIO_ESHUTDOWN (a child failed, the group was cancelled, or it was
 * already waited for). */
CORIO_API int corio_group_spawn(corio_group *g, corio_fn fn, void *arg);
CORIO_API int corio_group_spawn_ex(corio_group *g, corio_task **tp, corio_fn fn,
                                   void *arg, const corio_spawn_opts *opts);
/* Waits for every child. Suspending. Returns 0; the first child failure;
 * -ECANCELED if the group was cancelled with corio_group_cancel() (the
 * caller itself is not: corio_cancelled() tells the two apart);
 * -ECANCELED / -ETIMEDOUT if the caller was interrupted; -EDEADLK if a
 * child calls it; -EPERM. Later calls return the same value at once. */
CORIO_API int corio_group_wait(corio_group *g);
/* Cancels every child; wait then returns -ECANCELED (unless a child had
 * already failed). Non-suspending; 0 or -EINVAL. */
CORIO_API int corio_group_cancel(corio_group *g);
CORIO_API void corio_group_destroy(corio_group *g);
CORIO_API size_t corio_group_size(const corio_group *g);    /* children spawned */
CORIO_API size_t corio_group_running(const corio_group *g); /* not seen finished */
CORIO_API int corio_group_error(const corio_group *g);      /* first failure, or 0 */

/* Every failure of a group, not only the first (asyncio's ExceptionGroup):
 * one entry per child that finished with a status other than 0 and
 * -ECANCELED, in completion order, including failures during the
 * cancellation that the first one caused. The entries are filled from the
 * group's own records (one size_t per child, allocated as children are
 * spawned and freed by corio_group_destroy()): reading them allocates
 * nothing, and the caller owns only its out array. */
typedef struct corio_group_failure {
    corio_task *task;  /* borrowed: valid until corio_group_destroy(); for
                        * its name use corio_task_name(task) */
    uint64_t task_id;  /* corio_task_id(task) */
    size_t index;      /* spawn order in the group, from 0 */
    int status;        /* the child's error (its corio_fail() code) */
    void *result;      /* what it returned (usually NULL) */
} corio_group_failure;
/* Copies the first min(max, count) failures into out (out may be NULL when
 * max is 0) and returns count, the number of failures seen so far: all of
 * them once corio_group_wait() has returned. Non-suspending; 0 if g is
 * NULL. Typical use: n = corio_group_failures(g, NULL, 0), then an array
 * of n. */
CORIO_API size_t corio_group_failures(const corio_group *g, corio_group_failure *out,
                                      size_t max);

/* Trio's nursery.start(): spawns fn(arg) into g (as corio_group_spawn_ex;
 * CORIO_SPAWN_EAGER is ignored) and waits until the child calls
 * corio_group_started(g, value), for instance once a server task has bound
 * its port. Suspending. Returns 0 with *value (if not NULL) = the child's
 * value; the child then goes on running as an ordinary child of g. *tp (if
 * not NULL) gets a borrowed handle as with corio_group_spawn_ex (set even
 * when start fails after spawning). Until it reports ready, the child is
 * not a member for error purposes — its failure does not fail or cancel
 * the group and is not listed by corio_group_failures():
 *  - it fails before reporting ready: start returns its error;
 *  - it is cancelled first (e.g. corio_group_cancel(), or another child's
 *    failure cancelled the group): -ECANCELED;
 *  - it returns without reporting ready: -EPROTO;
 *  - the caller is cancelled or times out while waiting (first wake wins:
 *    even if the child reported ready in the same loop iteration): the
 *    child is cancelled, start waits (shielded) until it has finished, and
 *    returns -ECANCELED / -ETIMEDOUT.
 * Other errors: -ENOMEM, -EPERM, -EINVAL, CORIO_ESHUTDOWN (as spawn).
 * g must not be destroyed while a start is waiting. */
CORIO_API int corio_group_start(corio_group *g, corio_task **tp, corio_fn fn, void *arg,
                                const corio_spawn_opts *opts, void **value);
/* Called by a child started with corio_group_start(): reports it ready and
 * hands value to the starter, which returns 0. Non-suspending. Returns 0;
 * -EINVAL if the caller is not a child of g waiting to report (spawned
 * with plain spawn, or already reported); -ECANCELED if the starter gave
 * up (it was interrupted: the child is being cancelled); -EPERM outside a
 * task. */
CORIO_API int corio_group_started(corio_group *g, void *value);

/* ======================================================================
 * Sockets, streams and servers
 *
 * Three layers, each usable alone:
 *  - corio_socket: a non-blocking socket registered with the loop; its
 *    calls (connect, accept, send, recv, sendto, recvfrom) suspend the task
 *    instead of blocking the thread. Made by corio_socket_open/_wrap,
 *    corio_socket_accept, corio_tcp_connect, corio_tcp_listen, ...; freed by
 *    corio_socket_close (which closes the fd) or corio_socket_detach (which
 *    hands the fd back).
 *  - corio_stream: buffered byte stream over a transport (a socket, a pipe,
 *    any non-blocking fd; TLS below) with readline/readuntil/readexactly and
 *    writes that suspend once the output buffer is over its high-water mark.
 *    Made by corio_stream_open_fd/_socket, corio_stream_connect_tcp,
 *    corio_stream_connect_unix; freed by corio_stream_close or _abort.
 *  - corio_server: accepts connections and runs one handler task per
 *    connection. Made by corio_server_start*, freed by corio_server_close.
 * A socket or stream belongs to the loop that was current when it was made.
 * No call ever raises SIGPIPE: sockets send with MSG_NOSIGNAL, and streams
 * over pipes ignore SIGPIPE for the process (see corio_stream_open_fd).
 * ====================================================================== */

typedef struct corio_socket corio_socket;
typedef struct corio_stream corio_stream;
typedef struct corio_server corio_server;
typedef struct corio_watch corio_watch;

/* An address of any family (IPv4, IPv6, Unix), as the kernel takes it. */
typedef struct corio_addr {
    struct sockaddr_storage ss;
    socklen_t len;  /* bytes of ss in use; 0: no address */
} corio_addr;

/* Fills *a from a numeric host ("127.0.0.1", "::1", "" or NULL for the
 * IPv4 wildcard) and a port. Never resolves names (see corio_resolve).
 * Returns 0 or -EINVAL (not a numeric address, port out of 0..65535). */
CORIO_API int corio_addr_ip(corio_addr *a, const char *host, int port);
/* A Unix-domain address; a leading '@' makes a Linux abstract one.
 * Returns 0 or -ENAMETOOLONG. */
CORIO_API int corio_addr_unix(corio_addr *a, const char *path);
/* Writes "1.2.3.4:80", "[::1]:80" or the Unix path into buf (always
 * NUL-terminated if size > 0). Returns the length it needed (as snprintf). */
CORIO_API int corio_addr_format(const corio_addr *a, char *buf, size_t size);
/* The port of an IPv4/IPv6 address, -1 for other families. */
CORIO_API int corio_addr_port(const corio_addr *a);

/* ---- sockets ------------------------------------------------------------*/

/* Creates a socket (made non-blocking and close-on-exec) and registers it
 * with the current loop. Returns 0 or a negative errno from socket(2)/the
 * poller, -EPERM with no loop. */
CORIO_API int corio_socket_open(corio_socket **sp, int domain, int type, int protocol);
/* Adopts an existing socket fd (makes it non-blocking; it will be closed
 * by corio_socket_close). Returns 0, -EBADF, -ENOMEM, -EPERM. */
CORIO_API int corio_socket_wrap(corio_socket **sp, int fd);
/* Deregisters and closes. Tasks suspended on s (in other tasks) wake up
 * with -EBADF; s is freed when the last of them has left. Returns 0. */
CORIO_API int corio_socket_close(corio_socket *s);
/* Deregisters and frees s without closing the fd, which is returned (still
 * non-blocking). */
CORIO_API int corio_socket_detach(corio_socket *s);
CORIO_API int corio_socket_fd(const corio_socket *s);

CORIO_API int corio_socket_bind(corio_socket *s, const corio_addr *a);
CORIO_API int corio_socket_listen(corio_socket *s, int backlog); /* <= 0: SOMAXCONN */
/* Suspending: connects (finishing the non-blocking connect when the socket
 * becomes writable). Bound it with a scope for a timeout. Returns 0 or
 * -ECONNREFUSED, -ENETUNREACH, -ETIMEDOUT, -ECANCELED, ... On interruption
 * the socket is left unconnected in an unspecified state: close it. */
CORIO_API int corio_socket_connect(corio_socket *s, const corio_addr *a);
/* Suspending: accepts one connection as a new registered socket. peer may
 * be NULL. Returns 0, -EMFILE/-ENFILE (out of fds: back off, see
 * corio_server), -ECANCELED, -ETIMEDOUT, -EBADF (closed meanwhile), ... */
CORIO_API int corio_socket_accept(corio_socket *s, corio_socket **connp, corio_addr *peer);

/* Suspending I/O. recv returns bytes read (>= 1), 0 at end of stream, or a
 * negative errno (-ECONNRESET, ...). send returns bytes written (>= 1, may
 * be fewer than len). sendall writes all of buf or fails (-EPIPE,
 * -ECONNRESET, -ECANCELED, ...; how much went out is then unknown). flags
 * are MSG_* flags; MSG_NOSIGNAL is always added. A message socket (UDP,
 * SOCK_DGRAM Unix) sends and receives whole datagrams: recv truncates one
 * longer than len (MSG_TRUNC in flags to learn its real size). */
CORIO_API ssize_t corio_socket_recv(corio_socket *s, void *buf, size_t len, int flags);
CORIO_API ssize_t corio_socket_send(corio_socket *s, const void *buf, size_t len, int flags);
CORIO_API ssize_t corio_socket_sendall(corio_socket *s, const void *buf, size_t len);
/* Suspending vectored I/O, readv(2)/writev(2) on a socket: one call moves
 * bytes into or out of iovcnt buffers in order (the iovecs and the
 * buffers are the caller's and must stay valid during the call). readv
 * returns bytes read (>= 1, filling iov[0] first, may be fewer than the
 * buffers hold), 0 at end of stream (or when the buffers hold 0 bytes);
 * writev returns bytes written (>= 1, may be fewer than they hold: send
 * the rest). -EINVAL for iovcnt < 0 or > IOV_MAX; otherwise as
 * recv/send (MSG_NOSIGNAL included). On io_uring each is one operation in
 * the loop's ring; as everywhere, -ECANCELED/-ETIMEDOUT mean no byte
 * moved. */
CORIO_API ssize_t corio_socket_readv(corio_socket *s, const struct iovec *iov, int iovcnt);
CORIO_API ssize_t corio_socket_writev(corio_socket *s, const struct iovec *iov, int iovcnt);
/* Datagrams: from may be NULL. */
CORIO_API ssize_t corio_socket_recvfrom(corio_socket *s, void *buf, size_t len, int flags,
                                        corio_addr *from);
CORIO_API ssize_t corio_socket_sendto(corio_socket *s, const void *buf, size_t len,
                                      int flags, const corio_addr *to);

/* shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR. Returns 0 or -ENOTCONN. */
CORIO_API int corio_socket_shutdown(corio_socket *s, int how);
/* setsockopt/getsockopt; the int helpers are for the common int options
 * (SO_REUSEADDR, TCP_NODELAY, SO_KEEPALIVE, SO_RCVBUF, ...). */
CORIO_API int corio_socket_setopt(corio_socket *s, int level, int name, const void *val,
                                  socklen_t len);
CORIO_API int corio_socket_getopt(corio_socket *s, int level, int name, void *val,
                                  socklen_t *len);
CORIO_API int corio_socket_setopt_int(corio_socket *s, int level, int name, int value);
CORIO_API int corio_socket_getopt_int(corio_socket *s, int level, int name, int *value);
CORIO_API int corio_socket_local_addr(corio_socket *s, corio_addr *a);
CORIO_API int corio_socket_peer_addr(corio_socket *s, corio_addr *a);

/* ---- TCP, UDP and Unix shortcuts ----------------------------------------*/

#define CORIO_LISTEN_REUSEPORT 0x1u /* SO_REUSEPORT: several listeners */
#define CORIO_LISTEN_V6ONLY    0x2u /* an IPv6 listener only takes IPv6 */

/* Binds and listens on host:port (numeric host; NULL or "" = 0.0.0.0;
 * port 0 = any free port, see corio_socket_local_addr). SO_REUSEADDR is
 * always set. Returns 0 or a negative errno (-EADDRINUSE, -EINVAL, ...). */
CORIO_API int corio_tcp_listen(corio_socket **sp, const char *host, int port,
                               int backlog, unsigned flags);
/* Suspending: connects to host:port. host is a numeric address or a name
 * (resolved without blocking the loop, see corio_resolve). When it has
 * several addresses they are tried Happy-Eyeballs style (RFC 8305):
 * families interleaved, a new attempt started every 250 ms or as soon as
 * the previous one fails, the first to connect wins and the others are
 * cancelled. Bound it with a scope for a timeout. Returns 0 or the error of
 * the last failed attempt (-ECONNREFUSED, ...), -ETIMEDOUT, -ECANCELED. */
CORIO_API int corio_tcp_connect(corio_socket **sp, const char *host, int port);
/* The same over an explicit address list; delay <= 0 means 250 ms. */
CORIO_API int corio_tcp_connect_addrs(corio_socket **sp, const corio_addr *addrs,
                                      size_t n, double delay);
/* A UDP socket bound to host:port (port 0: any; host NULL: 0.0.0.0). */
CORIO_API int corio_udp_bind(corio_socket **sp, const char *host, int port);
/* Unix-domain sockets: type is SOCK_STREAM or SOCK_DGRAM. listen/bind
 * remove a stale socket file at path first (not an abstract name). */
CORIO_API int corio_unix_listen(corio_socket **sp, const char *path, int backlog);
CORIO_API int corio_unix_connect(corio_socket **sp, const char *path); /* suspending */
CORIO_API int corio_unix_bind_dgram(corio_socket **sp, const char *path);

/* ---- waiting on a foreign fd --------------------------------------------
 * For libraries that own their socket (libpq, hiredis, curl): register the
 * fd once with corio_watch_open, then corio_watch_wait as often as needed;
 * waits cost no epoll_ctl (the fd stays registered). The watch neither
 * closes the fd nor changes its flags: close the watch before the fd. */

#define CORIO_READABLE 0x1u
#define CORIO_WRITABLE 0x2u

/* Returns 0, -EPERM (no loop), -EBADF, -ENOMEM, or -EEXIST (the epoll
 * backend: fd already registered with this loop, e.g. by another watch or
 * a corio_socket; one fd should have one watcher in any case). */
CORIO_API int corio_watch_open(corio_watch **wp, int fd);
/* Suspending: waits until the fd is readable and/or writable (events is
 * CORIO_READABLE | CORIO_WRITABLE). Level-triggered: returns at once if
 * it already is. Returns the ready subset (> 0; an error or hang-up
 * condition counts as both), or -ECANCELED, -ETIMEDOUT, -EBUSY (another task
 * already waits on w in that direction), -EBADF (closed meanwhile). */
CORIO_API int corio_watch_wait(corio_watch *w, unsigned events);
/* Deregisters and frees w (waiters wake with -EBADF). Not the fd. */
CORIO_API void corio_watch_close(corio_watch *w);
/* One-off wait, registering and deregistering fd around it. */
CORIO_API int corio_wait_fd(int fd, unsigned events);

/* ---- streams -------------------------------------------------------------
 * One task may read while another writes; a second concurrent reader (or
 * writer) gets -EBUSY. Reads are served from the stream's input buffer;
 * writes go straight to the transport while its output buffer is empty and
 * are buffered otherwise (flushed by the loop in the background). */

#define CORIO_STREAM_KEEP_FD 0x1u /* close/abort leave the fd open */

/* Wraps any fd: socket, pipe, tty, eventfd... (made non-blocking; for a
 * pipe, SIGPIPE is set to ignored for the process the first time, since
 * write(2) on a pipe has no MSG_NOSIGNAL). The stream owns the fd unless
 * CORIO_STREAM_KEEP_FD. Returns 0, -EBADF, -ENOMEM, or -EPERM (no loop,
 * or an fd that cannot be polled, such as a regular file). On failure the
 * fd is left open, whatever the flags. */
CORIO_API int corio_stream_open_fd(corio_stream **sp, int fd, unsigned flags);
/* Wraps a connected socket; the stream takes it over (closing the stream
 * closes it). On failure the socket is left to the caller. */
CORIO_API int corio_stream_open_socket(corio_stream **sp, corio_socket *sock);
/* Suspending: corio_tcp_connect / corio_unix_connect, then a stream. */
CORIO_API int corio_stream_connect_tcp(corio_stream **sp, const char *host, int port);
CORIO_API int corio_stream_connect_unix(corio_stream **sp, const char *path);

/* Reads up to len bytes: what is buffered, else what one read of the
 * transport gives. Returns >= 1, 0 at end of stream, or a negative error. */
CORIO_API ssize_t corio_stream_read(corio_stream *s, void *buf, size_t len);
/* Reads exactly len bytes. Returns 0, or CORIO_EEOF if the stream ended
 * first (then the *got < len bytes that did arrive are in buf and consumed),
 * or another error (bytes read before it are then in buf, *got says how
 * many). got may be NULL. */
CORIO_API int corio_stream_readexactly(corio_stream *s, void *buf, size_t len,
                                       size_t *got);
/* Reads up to and including the separator sep (seplen >= 1 bytes) into
 * buf; *len gets the count. A NUL is stored after the data if it fits.
 * Returns 0; CORIO_ETOOLONG if cap bytes arrived without a separator (they
 * stay buffered, nothing is consumed: read them with corio_stream_read, or
 * give up); CORIO_EEOF if the stream ended without a separator (the
 * remaining bytes, up to cap, are then in buf and consumed, *len says how
 * many, 0 at a clean end); or an I/O error (nothing consumed). */
CORIO_API int corio_stream_readuntil(corio_stream *s, void *buf, size_t cap,
                                     const void *sep, size_t seplen, size_t *len);
/* readuntil with "\n". */
CORIO_API int corio_stream_readline(corio_stream *s, char *buf, size_t cap, size_t *len);

/* Zero-copy reading: fill reads once more from the transport into the
 * buffer (suspending; returns bytes added, 0 at end of stream, or an error;
 * -ENOBUFS if the buffer is at its limit, see corio_stream_set_limits);
 * peek returns the buffered bytes (valid until the next call on s) and
 * consume drops the first n of them. */
CORIO_API ssize_t corio_stream_fill(corio_stream *s);
CORIO_API const void *corio_stream_peek(corio_stream *s, size_t *len);
CORIO_API void corio_stream_consume(corio_stream *s, size_t n);

/* Writes all of buf. Returns 0 when every byte has been handed to the
 * transport or queued in the output buffer. Suspends while the buffer holds
 * high-water bytes or more (default 64 KiB): a fast writer and a slow
 * reader use bounded memory. On error (-EPIPE, -ECONNRESET, or an
 * interruption while suspended) some prefix of buf may have been queued;
 * an I/O error sticks: later writes return it too. */
CORIO_API int corio_stream_write(corio_stream *s, const void *buf, size_t len);
/* Suspending: waits until the output buffer is empty (all data handed to
 * the kernel). Returns 0 or the write error. */
CORIO_API int corio_stream_drain(corio_stream *s);
/* Flushes, then shuts down the write side (the peer reads end of stream);
 * reading goes on. */
CORIO_API int corio_stream_shutdown_write(corio_stream *s);
/* Flushes (suspending, within the caller's scopes), then closes and frees
 * s. If the flush fails or is interrupted, the rest is dropped as in
 * abort. Returns 0 or the flush's error; s is freed either way. Tasks
 * still suspended on s in other tasks wake up with -EBADF. */
CORIO_API int corio_stream_close(corio_stream *s);
/* Closes and frees s at once, dropping buffered output. Never suspends. */
CORIO_API void corio_stream_abort(corio_stream *s);

/* Input buffer limit (the longest line readuntil can find; default 64 KiB)
 * and output high-water mark (default 64 KiB; 0: write returns only once
 * everything is in the kernel). SIZE_MAX keeps a value. Returns 0,
 * -EINVAL (a read limit of 0 or below what is buffered), -EBADF. */
CORIO_API int corio_stream_set_limits(corio_stream *s, size_t read_limit,
                                      size_t write_high);
/* Bytes waiting in the output buffer. */
CORIO_API size_t corio_stream_write_buffered(const corio_stream *s);
/* The fd, or -1; the socket under a socket stream, else NULL. */
CORIO_API int corio_stream_fd(const corio_stream *s);
CORIO_API corio_socket *corio_stream_socket(corio_stream *s);

/* ---- servers -------------------------------------------------------------*/

/* Runs in its own task for each connection. s belongs to the server: it
 * closes it (flushing) when the handler returns; do not close it. */
typedef void (*corio_server_handler)(corio_stream *s, void *arg);

#define CORIO_SERVER_NODELAY   0x1u /* TCP_NODELAY on accepted sockets */
#define CORIO_SERVER_REUSEPORT 0x2u
/* corio_server_start_all only: one listener, on the calling loop, whose
 * accept task hands each connection to a loop round-robin ... */
#define CORIO_SERVER_ONE_ACCEPTOR 0x4u
/* ... or, with this too, to the loop with the fewest open connections of
 * this server (ties round-robin). */
#define CORIO_SERVER_LEAST_BUSY   0x8u

typedef struct corio_server_opts {
    int backlog;              /* listen backlog; 0: SOMAXCONN */
    size_t max_connections;   /* 0: no limit; at the limit, accepting pauses
                                 (corio_server_start_all: the total of all
                                 loops) */
    unsigned flags;           /* CORIO_SERVER_* */
    size_t stack_size;        /* handler task stacks; 0: the loop default */
    struct corio_tls_ctx *tls; /* a CORIO_TLS_SERVER context: the handshake
                                  runs in the handler's task first (a
                                  failed one closes the connection) */
} corio_server_opts;

/* Listens on host:port (numeric; NULL: 0.0.0.0) and starts accepting in a
 * task of its own. opts may be NULL. On EMFILE/ENFILE the server pauses
 * accepting until a connection of its own ends or 100 ms passed, so fd
 * exhaustion does not spin the loop. Returns 0 or a negative errno. */
CORIO_API int corio_server_start(corio_server **srvp, const char *host, int port,
                                 corio_server_handler handler, void *arg,
                                 const corio_server_opts *opts);
CORIO_API int corio_server_start_unix(corio_server **srvp, const char *path,
                                      corio_server_handler handler, void *arg,
                                      const corio_server_opts *opts);
/* Serves on a listening socket, which the server takes over. */
CORIO_API int corio_server_start_socket(corio_server **srvp, corio_socket *listener,
                                        corio_server_handler handler, void *arg,
                                        const corio_server_opts *opts);
/* The bound port (useful after port 0). */
CORIO_API int corio_server_port(const corio_server *srv);
CORIO_API size_t corio_server_connections(const corio_server *srv);
/* Graceful close: stops accepting (closes the listener), waits up to grace
 * seconds (< 0: forever) for handlers to return, then cancels the rest and
 * waits for them to finish; frees srv. Returns the number of handlers that
 * had to be cancelled, or -EPERM (not in a task). If the caller is itself
 * cancelled meanwhile, the handlers are cancelled at once and waited for
 * (shielded), then -ECANCELED is returned; srv is freed in every case. */
CORIO_API int corio_server_close(corio_server *srv, double grace);

/* Servers on every loop of a corio_run_multi runtime ("Every core"): one
 * SO_REUSEPORT listener per loop, each with its own accept loop and handler
 * tasks on its loop, so a connection is accepted and served on one loop
 * (the kernel spreads connections by a hash of their addresses). opts as
 * for corio_server_start (REUSEPORT is implied; handler runs on the loop
 * that accepted). Port 0 picks one port for all. From a task on a loop of a
 * runtime. Allocated by corio_server_start_all, freed by
 * corio_mserver_close, which closes every loop's server with grace seconds
 * for its handlers and returns how many had to be cancelled (-EPERM outside
 * a task). Start returns 0, -EPERM, -EINVAL, -ENOMEM or the first failure.
 * With CORIO_SERVER_ONE_ACCEPTOR in opts->flags: one listener instead, on
 * the calling loop, whose accept task hands each connection to a loop
 * round-robin (with CORIO_SERVER_LEAST_BUSY too: the loop with the fewest
 * open connections of this server); the handler runs on that loop.
 * LEAST_BUSY without ONE_ACCEPTOR is -EINVAL. max_connections is the total
 * of all loops: REUSEPORT gives each loop an equal share (with fewer than
 * one per loop, only that many loops listen); ONE_ACCEPTOR counts every
 * loop's connections and pauses accepting at the limit. docs/benchmarks.md
 * compares the spread. */
typedef struct corio_mserver corio_mserver;
CORIO_API int corio_server_start_all(corio_mserver **msp, const char *host, int port,
                           corio_server_handler handler, void *arg,
                           const corio_server_opts *opts);
CORIO_API int corio_mserver_port(const corio_mserver *ms);
CORIO_API int corio_mserver_close(corio_mserver *ms, double grace);
/* How many connections loop index has served so far (handlers started
 * there), or -EINVAL. Any loop of the runtime; a relaxed read. */
CORIO_API long corio_mserver_served(const corio_mserver *ms, unsigned index);

/* ======================================================================
 * DNS and TLS
 *
 * DNS runs on c-ares driven by the loop (no thread, no blocking); TLS is
 * OpenSSL 3 over memory BIOs, under the same corio_stream API. Both are
 * built in when libc-ares-dev / libssl-dev are present at build time; else
 * these functions return -ENOTSUP.
 * ====================================================================== */

/* Options for corio_resolve_ex; zero-initialise. */
typedef struct corio_resolve_opts {
    const char *servers;     /* "ip[:port],..." instead of resolv.conf's */
    double attempt_timeout;  /* seconds per try; 0: c-ares' default */
    int tries;               /* tries per server; 0: c-ares' default */
} corio_resolve_opts;

/* Suspending: resolves host (a name, or a numeric address) to at most max
 * addresses with the given port, for family AF_UNSPEC, AF_INET or
 * AF_INET6, using the hosts file and DNS as getaddrinfo would. Bound it
 * with a scope: on timeout or cancellation the query is abandoned at once.
 * Returns the number of addresses (> 0), CORIO_ENOTFOUND, -ETIMEDOUT (the
 * servers did not answer, or the scope), -ECANCELED, -EINVAL, -ENOTSUP. */
CORIO_API int corio_resolve(const char *host, int port, int family, corio_addr *addrs,
                            size_t max);
CORIO_API int corio_resolve_ex(const char *host, int port, int family, corio_addr *addrs,
                               size_t max, const corio_resolve_opts *opts);

/* A TLS configuration (OpenSSL's SSL_CTX), shared by many streams.
 * corio_tls_ctx_create allocates it, corio_tls_ctx_destroy drops the
 * caller's reference (streams using it keep theirs, so it may be destroyed
 * while they live). Certificate verification is ON for clients by default,
 * against the system's trust store. */
typedef struct corio_tls_ctx corio_tls_ctx;

#define CORIO_TLS_CLIENT 0
#define CORIO_TLS_SERVER 1

/* Returns 0, -ENOMEM, -EINVAL (bad mode), -ENOTSUP. */
CORIO_API int corio_tls_ctx_create(corio_tls_ctx **cp, int mode);
CORIO_API void corio_tls_ctx_destroy(corio_tls_ctx *c);
/* Certificate chain and private key (PEM), from files or from memory
 * (NUL-terminated strings). Servers need one; clients may (mutual TLS).
 * Returns 0 or CORIO_ETLS (unreadable, or key and certificate differ). */
CORIO_API int corio_tls_ctx_load_cert_file(corio_tls_ctx *c, const char *cert_file,
                                           const char *key_file);
CORIO_API int corio_tls_ctx_load_cert_mem(corio_tls_ctx *c, const char *cert_pem,
                                          const char *key_pem);
/* Trust these CA certificates (PEM) instead of the system's store. */
CORIO_API int corio_tls_ctx_load_ca_file(corio_tls_ctx *c, const char *ca_file);
CORIO_API int corio_tls_ctx_load_ca_mem(corio_tls_ctx *c, const char *ca_pem);
/* verify 0 turns certificate verification off (tests only: anyone can
 * then impersonate the server); a server with verify 1 requires client
 * certificates. Returns 0. */
CORIO_API int corio_tls_ctx_set_verify(corio_tls_ctx *c, int verify);

/* Suspending: upgrades an open stream to TLS (also STARTTLS-style, after a
 * plaintext exchange): flushes pending output, hands bytes already
 * buffered to TLS, and runs the handshake as client or server (per c's
 * mode). A client sends server_name as SNI (not for IP literals) and
 * verifies the certificate against it (names or IPs); NULL skips the name
 * check. Afterwards every stream call goes through TLS. Returns 0,
 * CORIO_ECERT, CORIO_ETLS, CORIO_EEOF (peer closed during the handshake),
 * -ECONNRESET, -ETIMEDOUT, -ECANCELED, -EBUSY (another task uses s),
 * -EALREADY (already TLS). On failure the stream is unusable: abort it. */
CORIO_API int corio_stream_starttls(corio_stream *s, corio_tls_ctx *c,
                                    const char *server_name);
/* Suspending: corio_stream_connect_tcp, then corio_stream_starttls with host
 * as the server name. */
CORIO_API int corio_tls_connect(corio_stream **sp, const char *host, int port,
                                corio_tls_ctx *c);
/* For a TLS stream: the negotiated version ("TLSv1.3"), the SNI name the
 * client sent (server side; NULL if none), and ALPN is not supported yet.
 * NULL for plain streams. */
CORIO_API const char *corio_stream_tls_version(corio_stream *s);
CORIO_API const char *corio_stream_tls_server_name(corio_stream *s);

/* ======================================================================
 * Processes and signals
 * ====================================================================== */

/* ---- Signals ----------------------------------------------------------------
 *
 * A corio_signal watches one or more signals for a task to await. While any
 * watcher for a signal is open, corio owns the signal's disposition: a small
 * async-signal-safe handler records it and wakes every loop with a watcher
 * for it (each open watcher sees each signal; deliveries of one signal that
 * arrive before the watcher consumes them count once, as POSIX signals do).
 * Closing the last watcher restores the disposition found at the first open.
 *
 * The signal must not be blocked in every thread. corio_signal_open()
 * unblocks it in the calling thread, and the thread pool's workers block
 * all signals, so the handler runs in a thread that is fine to interrupt.
 * Do not also consume the signal with sigwait()/signalfd() elsewhere.
 *
 * Graceful shutdown in three lines:
 *     corio_signal *sig;
 *     corio_signal_open(&sig, (int[]){SIGTERM, SIGINT}, 2);
 *     corio_signal_wait(sig);   ... then cancel the server task, close sig.
 * ---------------------------------------------------------------------- */

typedef struct corio_signal corio_signal;

/* Opens a watcher for n signals (1..64, not SIGKILL/SIGSTOP, nor the
 * SIGSEGV/SIGBUS corio uses for stack-overflow reports) on the current
 * loop. Allocated here; freed by corio_signal_close(), which must run
 * before the loop closes. Returns 0, -EINVAL, -ENOMEM, -EMFILE, -EBUSY (too
 * many watchers in the process: 256), -EPERM (no loop). */
CORIO_API int corio_signal_open(corio_signal **sp, const int *signos, size_t n);

/* Waits for one of s's signals and returns its number (> 0), lowest first
 * when several are pending. Suspending (returns -ECANCELED, -ETIMEDOUT;
 * -EBUSY if another task already waits on s). */
CORIO_API int corio_signal_wait(corio_signal *s);

/* Closes s, waking a task waiting on it with -EBADF. NULL is a no-op. */
CORIO_API void corio_signal_close(corio_signal *s);

/* A signal handler that runs as a task: spawns a watcher task that runs
 * fn(arg) as a new detached task for each delivery of signo. *watcher (if
 * non-NULL) gets the watcher's handle: corio_cancel() + corio_await() it to
 * unregister; else it is detached and lives until the loop cancels it.
 * Returns 0, or what corio_signal_open()/corio_spawn_ex() return. */
CORIO_API int corio_signal_handler(int signo, corio_fn fn, void *arg, corio_task **watcher);

/* ---- Subprocesses -----------------------------------------------------------
 *
 * A corio_process is a child started by corio_process_spawn() (posix_spawn,
 * no shell unless corio_process_spawn_shell() is used). Its exit is watched
 * through a pidfd registered with the loop, so no SIGCHLD handler is
 * installed and corio never reaps a child it did not start (kernels without
 * pidfd_open: corio polls waitpid(pid, WNOHANG) with a growing interval).
 * Each of stdin/stdout/stderr is inherited, /dev/null, an fd of yours, or a
 * pipe exposed as a corio_stream owned by the process handle. The child
 * gets an empty signal mask and default signal dispositions.
 * ---------------------------------------------------------------------- */

typedef struct corio_process corio_process;

enum corio_stdio {
    CORIO_STDIO_INHERIT = 0, /* the parent's */
    CORIO_STDIO_NULL = 1,    /* /dev/null */
    CORIO_STDIO_PIPE = 2,    /* a pipe: corio_process_stdin/stdout/stderr */
    CORIO_STDIO_FD = 3,      /* the *_fd field (dup'ed into the child) */
    CORIO_STDIO_STDOUT = 4   /* stderr only: wherever stdout goes */
};

#define CORIO_PROCESS_NEW_GROUP 0x1u /* child leads a new process group */

/* Zero-initialise; every 0 field is the default. */
typedef struct corio_process_opts {
    const char *const *env;  /* NULL-terminated "K=V" list; NULL: inherit */
    const char *cwd;         /* NULL: the parent's */
    int stdin_mode, stdout_mode, stderr_mode; /* enum corio_stdio */
    int stdin_fd, stdout_fd, stderr_fd;       /* for CORIO_STDIO_FD */
    unsigned flags;          /* CORIO_PROCESS_* */
} corio_process_opts;

/* Starts argv[0] with argv (NULL-terminated); argv[0] without a '/' is
 * looked up in PATH. Allocated here; freed by corio_process_close(). On the
 * loop thread (the handle belongs to the current loop). Returns 0,
 * -ENOENT/-EACCES/... (exec failed: nothing was started), -EINVAL, -EMFILE,
 * -ENOMEM, -EPERM (no loop). */
CORIO_API int corio_process_spawn(corio_process **pp, const char *const *argv,
                                  const corio_process_opts *opts);
/* Runs command through /bin/sh -c. Only for trusted command strings. */
CORIO_API int corio_process_spawn_shell(corio_process **pp, const char *command,
                                        const corio_process_opts *opts);

CORIO_API int corio_process_pid(const corio_process *p);

/* The pipe streams (owned by p; NULL unless CORIO_STDIO_PIPE). Read and
 * write them with corio_stream_*; never close them yourself (use
 * corio_process_close_stdin to send end of file). */
CORIO_API corio_stream *corio_process_stdin(corio_process *p);
CORIO_API corio_stream *corio_process_stdout(corio_process *p);
CORIO_API corio_stream *corio_process_stderr(corio_process *p);
/* Flushes and closes the stdin pipe (the child reads end of file).
 * Suspending (the flush). Returns 0 or the flush's error. */
CORIO_API int corio_process_close_stdin(corio_process *p);

/* Waits for the child to exit and reaps it. *status gets its exit code
 * (0..255), or -N if signal N killed it. Suspending; after the first
 * success it returns at once with the same status. Returns 0, -ECANCELED,
 * -ETIMEDOUT (the child runs on), -EBUSY (another task is waiting). */
CORIO_API int corio_process_wait(corio_process *p, int *status);

/* Sends sig (through the pidfd: never to a recycled pid). Returns 0, or
 * -ESRCH once the child has been reaped. terminate is SIGTERM. */
CORIO_API int corio_process_kill(corio_process *p, int sig);
CORIO_API int corio_process_terminate(corio_process *p);

/* Writes input (if any) to the stdin pipe and closes it, collects stdout
 * and stderr (those that are pipes) concurrently, so no pipe can fill up
 * and deadlock, then waits for the exit. *out / *err (may be NULL) get
 * malloc'ed NUL-terminated buffers the caller frees, *_len their lengths.
 * Output beyond limit bytes per stream (0: 64 MiB) is read and dropped,
 * and the call then returns CORIO_ETOOLONG (after the child exited).
 * Returns 0, CORIO_ETOOLONG, -EINVAL (input but stdin is not a pipe),
 * -ENOMEM, -ECANCELED, -ETIMEDOUT (then nothing is returned; the child
 * runs on). A broken stdin pipe (the child did not read everything) is not
 * an error. Suspending. */
CORIO_API int corio_process_communicate(corio_process *p, const void *input,
                                        size_t input_len, char **out, size_t *out_len,
                                        char **err, size_t *err_len, size_t limit);

/* Frees p and closes its pipes. A child still running is left running (it
 * is not killed); corio_process_close then reaps it in the background
 * through its loop, which stays alive until it exits (kill it first if
 * that is not what you want). Non-suspending. */
CORIO_API void corio_process_close(corio_process *p);

/* ======================================================================
 * Thread pool, files and other threads
 * ====================================================================== */

/* ---- Thread pool (asyncio's run_in_executor / to_thread) ----------------
 *
 * A pool of worker threads runs blocking functions (a SQLite query, zlib,
 * getaddrinfo) while the loop keeps running other tasks. A task hands work
 * over and suspends until its result comes back through the loop.
 *
 * Threads start lazily, up to `threads`. Two lanes keep slow work from
 * starving fast work (libuv#28): work submitted with CORIO_WORK_SLOW may
 * occupy at most `slow_threads` threads at once, so the rest stay free for
 * fast work. At most `queue_limit` jobs wait for a thread; a submission
 * beyond that suspends until one starts (backpressure).
 *
 * A pool may be shared by several loops on several threads. The default
 * pool (corio_pool_default()) is created at first use and lives until the
 * process exits. Worker threads block every signal.
 *
 * Memory the function reads or writes must outlive the job. In
 * CORIO_STACK_COMPACT mode, never hand a pointer into a task's stack to
 * pool work: the stack's contents move while the task is suspended.
 * ---------------------------------------------------------------------- */

typedef struct corio_pool corio_pool;
typedef struct corio_work corio_work;

/* Disposes of a job nobody will collect: called once, on the loop thread,
 * for every accepted job whose outcome no awaiter received (its awaiter or
 * submitter was interrupted), after fn returned (result) or once it is
 * certain fn will never run (result NULL). Free what arg owned here. */
typedef void (*corio_discard_fn)(void *result, void *arg);

/* Pool options: zero-initialise, set what you need (0 = the default). */
typedef struct corio_pool_config {
    unsigned threads;      /* most threads; default: $CORIO_POOL_THREADS or 4 */
    unsigned slow_threads; /* most running SLOW work; default threads/2, >= 1 */
    size_t queue_limit;    /* most jobs waiting for a thread; default 65536 */
    int spin_us;           /* an idle worker polls this long before it
                              sleeps; default 50, -1: never spin */
} corio_pool_config;

/* Creates a pool (no thread starts until work arrives). cfg may be NULL.
 * Returns 0, -ENOMEM, -EINVAL. Any thread. */
CORIO_API int corio_pool_create(corio_pool **pp, const corio_pool_config *cfg);

/* The process-wide default pool, created at first use (NULL only when out
 * of memory). corio_pool_default_config() sets its options; it must run
 * before the first use (else -EBUSY). Any thread. */
CORIO_API corio_pool *corio_pool_default(void);
CORIO_API int corio_pool_default_config(const corio_pool_config *cfg);

/* Stops accepting work (submissions fail with CORIO_ESHUTDOWN); queued work
 * is not run: its awaiters get CORIO_ESHUTDOWN. Running work finishes.
 * Non-blocking, idempotent, any thread. */
CORIO_API void corio_pool_shutdown(corio_pool *p);

/* Shuts p down, waits for running work to finish and its threads to exit,
 * and frees it. Blocking (call it outside tasks, or accept that the loop
 * stalls until running work ends). Every job's awaiter must have been
 * released before (awaited or cancelled). Returns 0, or -EINVAL for the
 * default pool. */
CORIO_API int corio_pool_destroy(corio_pool *p);

typedef struct corio_pool_stats {
    unsigned threads;   /* started and alive */
    unsigned busy;      /* running a job */
    unsigned busy_slow; /* of which SLOW */
    size_t queued;      /* waiting for a thread */
    uint64_t completed; /* jobs that ran to the end */
} corio_pool_stats;

/* A snapshot of p's counters. Any thread. */
CORIO_API void corio_pool_stats_get(corio_pool *p, corio_pool_stats *st);

#define CORIO_WORK_SLOW 0x1u /* the slow lane (DNS, network file systems) */

typedef struct corio_work_opts {
    unsigned flags;            /* CORIO_WORK_* */
    corio_discard_fn discard;  /* NULL: an abandoned result is dropped */
    void *discard_arg;
} corio_work_opts;

/* Queues fn(arg) to run on a worker thread of p (NULL: the default pool).
 * Suspending only while the queue is full. *wp gets a handle for
 * corio_work_await() or corio_work_cancel(); exactly one corio_work_await()
 * must consume it. While work is pending the loop does not exit.
 * Returns 0, CORIO_ESHUTDOWN, -ENOMEM, -EAGAIN (no thread could be
 * started), -ECANCELED, -ETIMEDOUT (then nothing was queued), -EPERM.
 * A task's call, like the other corio_work_* (corio_pool_* are any thread's). */
CORIO_API int corio_work_submit(corio_pool *p, corio_fn fn, void *arg,
                                const corio_work_opts *opts, corio_work **wp);
/* Deprecated (0.2): corio_work_submit's old name, removed in 0.3. */
CORIO_DEPRECATED("use corio_work_submit")
CORIO_API int corio_pool_submit(corio_pool *p, corio_fn fn, void *arg,
                                const corio_work_opts *opts, corio_work **wp);

/* Waits for w and releases it; *result (if non-NULL) gets fn's return
 * value. Suspending. Returns 0, -ECANCELED (w was cancelled), or
 * CORIO_ESHUTDOWN (the pool shut down before w ran). If the caller is
 * interrupted (-ECANCELED, -ETIMEDOUT): queued work is dropped unrun;
 * running work is left to finish; either way the discard callback gets
 * the job (see corio_discard_fn), the handle is released and the error
 * returned. */
CORIO_API int corio_work_await(corio_work *w, void **result);

/* Drops w if it has not started: returns 1 and its awaiter gets
 * -ECANCELED. Returns 0 if it is already running or done (it cannot be
 * stopped; its result is delivered). Loop thread, non-suspending. */
CORIO_API int corio_work_cancel(corio_work *w);

/* Submit and await in one call: runs fn(arg) on p (NULL: default) and
 * returns what corio_work_await() returns. opts may be NULL. */
CORIO_API int corio_run_in_executor(corio_pool *p, corio_fn fn, void *arg, void **result,
                                    const corio_work_opts *opts);

/* asyncio.to_thread: corio_run_in_executor on the default pool. */
CORIO_API int corio_to_thread(corio_fn fn, void *arg, void **result);

/* ======================================================================
 * Every core: one loop per core
 *
 * corio_run_multi() runs N loops on N threads. They share nothing: a task
 * stays on the loop it was spawned on for its whole life, so what it shares
 * with the tasks of its own loop needs no lock, as on one loop. Work moves
 * to another loop only where the program says so: corio_spawn_on() and
 * the cross-loop channel corio_xchan. Those hand-offs take no lock that all
 * loops share; they are messages to the destination loop's inbox, and a
 * loop is woken (an eventfd write) at most once per iteration, and not at
 * all while it is awake. docs/design.md ("Every core") explains how.
 *
 * Shared services, and which are shared:
 *  - Thread pool: shared. The default pool (corio_to_thread,
 *    corio_work_*) serves every loop; it is thread-safe, and each job's
 *    completion goes back to the loop that submitted it.
 *  - DNS: per loop. Each lookup (corio_resolve*) runs on, and belongs to,
 *    the loop of the task that made it (its own c-ares channel, or a pool
 *    job); nothing is cached across loops.
 *  - TLS contexts: shared read-only. One corio_tls_ctx may serve streams
 *    on every loop (its reference count is atomic), once it is configured:
 *    load certificates and set options before the first stream uses it.
 *  - Metrics: per loop. corio_loop_metrics_get reads one loop;
 *    corio_loop_metrics_all gives every loop's and their sum.
 *  - Debugging: per loop. The stall detector watches one loop each (a
 *    report names the loop: "corio: stall on loop 1: ..."; CORIO_STALL_MS
 *    arms one on every loop); corio_dump_all shows every loop's tasks.
 *  - Everything else (timers, sockets, streams, channels, locks, tasks)
 *    belongs to the loop that made it; corio_xchan and corio_xtask are the
 *    objects made to cross.
 * The calls below are for tasks (and callbacks) on a loop of the runtime
 * unless they say otherwise.
 * ====================================================================== */

#define CORIO_MULTI_SPIN_US_DEFAULT 50

typedef struct corio_multi_config {
    unsigned threads;  /* loops; 0: the CPUs in the process's affinity mask */
    int pin;           /* 1: pin loop i to the i-th CPU of the mask */
    /* Spin-then-park: a loop with nothing to do polls its inbox (and its
     * fds, without blocking) this long, in microseconds, before it sleeps,
     * so a message from another loop costs no system call. 0: the default,
     * CORIO_MULTI_SPIN_US_DEFAULT (50); -1: never spin; at most 1000000.
     * Bounded: at most this much per time the loop runs out of work, and a
     * loop whose last 8 spins found nothing stops spinning until a message
     * arrives within spin_us of its going to sleep. */
    int spin_us;
    const corio_loop_config *loop; /* every loop's config; NULL: defaults.
                                      CORIO_STACK_COMPACT is refused. */
} corio_multi_config;

/* Runs main_fn(arg) as the main task of loop 0 of a runtime of N loops, each
 * on a new thread (the calling thread waits), and returns when it has ended
 * and everything it left has finished: then, as corio_run does, the tasks
 * still alive on every loop are cancelled and awaited, and every loop is
 * stopped, joined and closed (each reports its leaks). Loops with nothing
 * to do sleep until another loop gives them work. Returns main's status
 * (*result gets its return value), or -ENOMEM, -EINVAL, -EPERM (called from
 * a task), -ENOTSUP (compact stacks), or -EDEADLK: every loop blocked for
 * good with tasks that only a message from another loop could wake, and no
 * loop left to send it (each loop reports its tasks, as corio_run does, and
 * everything is cancelled). Do not corio_loop_stop() a loop of a runtime.
 * cfg may be NULL. Any thread. */
CORIO_API int corio_run_multi(corio_fn main_fn, void *arg, void **result,
                    const corio_multi_config *cfg);

/* The index of loop (NULL: the current one) in its runtime, 0..count-1, or
 * -EINVAL if it is not a loop of a corio_run_multi runtime. */
CORIO_API int corio_loop_index(corio_loop *loop);
/* The number of loops of the current runtime (0 outside one). */
CORIO_API unsigned corio_loop_count(void);
/* Loop i of the current runtime, or NULL (out of range, no runtime). */
CORIO_API corio_loop *corio_loop_get(unsigned index);

enum corio_pick {
    CORIO_PICK_ROUND_ROBIN = 0, /* the next loop, per calling loop */
    CORIO_PICK_LEAST_BUSY = 1   /* fewest live tasks (as of its last iteration) */
};
/* A loop of the current runtime to place work on, or NULL outside one. */
CORIO_API corio_loop *corio_loop_pick(int how);

/* A task on another loop, seen from anywhere. Allocated by
 * corio_spawn_on(); freed when its handle is consumed (corio_xtask_await or
 * corio_xtask_detach: exactly one of them per handle) and the task has
 * ended, whichever comes last. */
typedef struct corio_xtask corio_xtask;

/* Spawns fn(arg) as a task on loop (any loop of the runtime, the caller's
 * own included). *hp gets the handle, or pass hp NULL for a detached task.
 * The task starts when that loop next drains its inbox. Returns 0, -ENOMEM,
 * -EPERM (the caller is not on a loop of a runtime), -EINVAL. */
CORIO_API int corio_spawn_on(corio_xtask **hp, corio_loop *loop, corio_fn fn, void *arg);

/* corio_await for a task on any loop: the same semantics. Suspending. The
 * handle is consumed whatever it returns. Returns the task's status (0 with
 * *result set, its corio_fail code, -ECANCELED), or, if the caller is
 * interrupted first, that error (-ECANCELED, -ETIMEDOUT) after cancelling
 * the task (not with CORIO_AWAIT_SHIELD). While it waits, the caller's loop
 * counts the wait as external work (it is not a deadlock). */
CORIO_API int corio_xtask_await(corio_xtask *h, void **result, unsigned flags);
/* Requests cancellation, level-triggered on the task's loop exactly as
 * corio_cancel (a task that has not started ends without running). Returns
 * 1 if this call requested it, 0 if already requested or ended. Not
 * suspending; from any loop of the runtime. */
CORIO_API int corio_xtask_cancel(corio_xtask *h);
/* Gives up the handle: the task runs on; its result is dropped. */
CORIO_API void corio_xtask_detach(corio_xtask *h);
/* 1 once the task has ended (its result is waiting), else 0. */
CORIO_API int corio_xtask_done(const corio_xtask *h);

/* corio_group_spawn for a child on another loop of the runtime: the group
 * treats it exactly as a local child (corio_group_cancel and a failed
 * sibling cancel it on its loop; corio_group_wait waits for it; its
 * failure cancels the siblings on every loop). A local stand-in task joins
 * it, so corio_group_size counts it. From a task. Returns 0,
 * CORIO_ESHUTDOWN (group waited on or shutting down), -EPERM, -EINVAL,
 * -ENOMEM. */
CORIO_API int corio_group_spawn_on(corio_group *g, corio_loop *loop, corio_fn fn, void *arg);

/* A channel between loops: MPMC, bounded (capacity >= 1), closable. Any
 * task on any loop of the runtime may send or receive; a task that must
 * wait parks on its own loop and is woken by a message from the loop that
 * unblocks it. Values are void *, in FIFO order. Allocated by
 * corio_xchan_create(), freed by corio_xchan_destroy() once no task uses
 * it. Each channel has a spinlock of its own held for a few instructions
 * per operation: it is contended only by its own users. */
typedef struct corio_xchan corio_xchan;

/* spin_ns: a sender or receiver that would wait first spins this long (its
 * loop does nothing else meanwhile) watching for room or a value: sub-
 * microsecond hand-offs between busy cores. 0: park at once. Returns 0,
 * -EINVAL (capacity 0), -ENOMEM. Any thread. */
CORIO_API int corio_xchan_create(corio_xchan **cp, size_t capacity, unsigned spin_ns);
/* Frees c. No task may be waiting on it or use it afterwards. */
CORIO_API void corio_xchan_destroy(corio_xchan *c);
/* Suspending. 0, CORIO_ECLOSED, -ECANCELED, -ETIMEDOUT, -EPERM (not on a
 * loop of a runtime). A value handed over is never lost: a call that
 * returns 0 delivered (or received) it, one that returns an error did not. */
CORIO_API int corio_xchan_send(corio_xchan *c, void *value);
CORIO_API int corio_xchan_recv(corio_xchan *c, void **value);
/* Not suspending: -EAGAIN if it would wait. Any thread. */
CORIO_API int corio_xchan_try_send(corio_xchan *c, void *value);
CORIO_API int corio_xchan_try_recv(corio_xchan *c, void **value);
/* Closes c: waiting senders and receivers get CORIO_ECLOSED; buffered
 * values can still be received. Returns 0 or -EALREADY. Any thread of the
 * runtime's loops. */
CORIO_API int corio_xchan_close(corio_xchan *c);

/* ---- Other threads --------------------------------------------------------
 *
 * Which thread may call what:
 *  - A loop belongs to the thread that created it until it runs, then to
 *    the thread running it. Everything in this header is for that thread
 *    only, except (the rule at the top of this header): the functions
 *    ending in _threadsafe (corio_call_soon_threadsafe,
 *    corio_future_set_result/error_threadsafe, corio_run_threadsafe,
 *    corio_loop_unref_threadsafe), every corio_tfuture_* and corio_pool_*
 *    function, and corio_strerror and corio_addr_*, which touch no loop.
 *    docs/reference/os.md has the full table.
 *  - Several loops, each on its own thread, are independent: nothing is
 *    shared but the default thread pool and the signal dispatcher, which
 *    are thread-safe. The loops of one corio_run_multi runtime talk
 *    through corio_spawn_on, corio_xtask_* and corio_xchan_* ("Every
 *    core", above).
 * ---------------------------------------------------------------------- */

/* Keeps loop running while no task or timer is left, e.g. while other
 * threads may still submit work (asyncio's loop.run_forever()). Each ref
 * needs one unref. corio_loop_ref/unref: the loop's own thread (or before
 * it runs); corio_loop_unref_threadsafe: any thread. Return 0, -EINVAL
 * (loop NULL; unref without a ref), -ENOMEM (threadsafe post). */
CORIO_API int corio_loop_ref(corio_loop *loop);
CORIO_API int corio_loop_unref(corio_loop *loop);
CORIO_API int corio_loop_unref_threadsafe(corio_loop *loop);

/* A result slot one foreign thread waits on (asyncio's
 * concurrent.futures.Future). Allocated by corio_run_threadsafe(); freed
 * by corio_tfuture_destroy(), which the submitter must call exactly once. */
typedef struct corio_tfuture corio_tfuture;

/* From any thread: runs fn(arg) as a new task on loop (which must be
 * running, or be kept alive with corio_loop_ref until the task started)
 * and returns at once; *tfp gets the slot its outcome goes to
 * (asyncio's run_coroutine_threadsafe). Returns 0, -ENOMEM, -EINVAL. */
CORIO_API int corio_run_threadsafe(corio_loop *loop, corio_fn fn, void *arg,
                                   corio_tfuture **tfp);

/* Blocks the calling (non-loop) thread until the task finished or timeout
 * seconds passed (negative: no limit). Returns the task's status (0 with
 * *result set, its corio_fail code, -ECANCELED), -ETIMEDOUT (the task goes
 * on; wait again or cancel), or -EDEADLK if called on the loop's own
 * thread. Any thread but the loop's. */
CORIO_API int corio_tfuture_wait(corio_tfuture *tf, double timeout, void **result);

/* 1 once the task finished. Any thread. */
CORIO_API int corio_tfuture_done(corio_tfuture *tf);

/* Asks the loop to cancel the task (asynchronously). Returns 0, -ENOMEM.
 * Any thread. */
CORIO_API int corio_tfuture_cancel(corio_tfuture *tf);

/* Releases tf. If the task has not finished it runs on (its result is
 * dropped). Any thread. */
CORIO_API void corio_tfuture_destroy(corio_tfuture *tf);

/* ---- Files ----------------------------------------------------------------
 *
 * Regular files cannot be polled, so every call below runs its system call
 * on the default thread pool and suspends the calling task until it is
 * done (what aiofiles does for asyncio). Data is staged through buffers
 * the operation owns: if the task is cancelled mid-call, the pool never
 * touches the caller's memory afterwards (the write may still happen; a
 * read's data is dropped). All are suspending and return -ECANCELED or
 * -ETIMEDOUT when interrupted, or CORIO_ESHUTDOWN.
 * ---------------------------------------------------------------------- */

struct stat;
typedef struct corio_file corio_file;

/* Opens path with open(2) flags (O_CLOEXEC is added) and mode. The handle
 * keeps a position that corio_file_read/write advance. Allocated here;
 * freed by corio_file_close(). Returns 0 or a negative errno. */
CORIO_API int corio_file_open(corio_file **fp, const char *path, int flags, int mode);

/* Reads up to len bytes at the position; returns the count (0 at end of
 * file) or a negative errno. */
CORIO_API ssize_t corio_file_read(corio_file *f, void *buf, size_t len);
/* Writes all len bytes at the position (at the end with O_APPEND);
 * returns len or a negative errno (some bytes may have been written). */
CORIO_API ssize_t corio_file_write(corio_file *f, const void *buf, size_t len);
/* At an explicit offset; the position is unchanged. */
CORIO_API ssize_t corio_file_pread(corio_file *f, void *buf, size_t len, int64_t off);
CORIO_API ssize_t corio_file_pwrite(corio_file *f, const void *buf, size_t len, int64_t off);
/* Moves the position (no system call); returns it. */
CORIO_API int64_t corio_file_seek(corio_file *f, int64_t pos);
CORIO_API int corio_file_fsync(corio_file *f);
CORIO_API int corio_file_stat(corio_file *f, struct stat *st);
/* The descriptor (owned by f). Non-suspending. */
CORIO_API int corio_file_fd(const corio_file *f);
/* Closes the descriptor (on the pool: close can block on network file
 * systems) and frees f, whatever it returns. */
CORIO_API int corio_file_close(corio_file *f);

CORIO_API int corio_stat(const char *path, struct stat *st);
CORIO_API int corio_rename(const char *from, const char *to);
CORIO_API int corio_unlink(const char *path);

/* Reads a whole file. *data gets a malloc'ed buffer (NUL-terminated, the
 * caller frees it), *len its length (excluding the NUL). Files over limit
 * bytes (0: 1 GiB) fail with -EFBIG. */
CORIO_API int corio_read_file(const char *path, char **data, size_t *len, size_t limit);

#define CORIO_WRITE_APPEND 0x1u /* append instead of truncating */
#define CORIO_WRITE_ATOMIC 0x2u /* write a temporary file, fsync, rename */

/* Writes len bytes to path (created with mode 0666 & ~umask). Returns 0 or
 * a negative errno. */
CORIO_API int corio_write_file(const char *path, const void *data, size_t len,
                               unsigned flags);

/* ======================================================================
 * Debugging: dumps, stalls, deadlocks, metrics
 *
 * docs/debugging.md shows every report below with real output. Reports go
 * to the loop's report file (corio_loop_config.report_file; stderr by
 * default). Nothing here costs anything until it is turned on, except that
 * every task records its parent and spawn site (two stores).
 * ====================================================================== */

/* What a parked task waits on (corio_task_info.wait_kind). */
enum corio_wait_kind {
    CORIO_WAIT_NONE = 0,  /* not waiting (running, ready, done) */
    CORIO_WAIT_SLEEP = 1, /* corio_sleep / a timer deadline */
    CORIO_WAIT_YIELD = 2, /* corio_yield: ready again at once */
    CORIO_WAIT_FUTURE = 3,
    CORIO_WAIT_TASK = 4,  /* corio_await on a task */
    CORIO_WAIT_IO = 5,    /* fd readiness */
    CORIO_WAIT_LOCK = 6,
    CORIO_WAIT_QUEUE = 7,
    CORIO_WAIT_CHANNEL = 8,
    CORIO_WAIT_EVENT = 9,
    CORIO_WAIT_OTHER = 10
};
#define CORIO_WAIT_KINDS 11

#define CORIO_DEBUG_MAX_FRAMES 32

/* One task, as corio_debug_tasks() sees it. Filled by the library; valid
 * only during the callback (copy what you keep). */
typedef struct corio_task_info {
    corio_task *task;
    uint64_t id;
    const char *name;
    uint64_t parent_id;     /* the task that spawned it; 0: none */
    uint64_t group_id;      /* its task group; 0: none (or no groups) */
    int state;              /* enum corio_task_state */
    int wait_kind;          /* enum corio_wait_kind */
    const void *wait_obj;   /* the lock, future, fd... it waits on */
    char wait_desc[160];    /* e.g. "task #3 'worker' (suspended)" */
    uint64_t blocked_on_id; /* the task that must act to end the wait (a
                               lock's holder, an awaited task); 0: none */
    double suspended_for;   /* seconds since it parked; 0 unless parked */
    const void *spawn_site; /* return address in the corio_spawn* caller */
    int nframes;            /* frames[] used; 0 if it never ran */
    const void *frames[CORIO_DEBUG_MAX_FRAMES]; /* innermost first */
} corio_task_info;

/* Calls fn(info, arg) for every live task of loop (NULL: current), in spawn
 * order, until fn returns non-zero; returns that value or 0. The backtrace
 * of a suspended task is taken from its saved context; the running task's
 * (when called from a task) is the caller's own. Call it on the loop's
 * thread (or while the loop is not running). fn must not spawn, free,
 * suspend or switch tasks. */
CORIO_API int corio_debug_tasks(corio_loop *loop,
                                int (*fn)(const corio_task_info *info, void *arg),
                                void *arg);

/* Formats a code address as "function+0x1c (file.c:42)" (file:line when
 * the build found libdw and the binary has debug info; else what dladdr
 * knows; else "module+0xoffset"). Returns the length written (truncated
 * to len - 1), or -ENOENT when nothing at all is known. */
CORIO_API int corio_debug_symbolize(const void *addr, char *buf, size_t len);

/* Writes a human-readable dump of every task of the current loop / of loop
 * to f (NULL: the loop's report file): id, name, parent, state, time
 * suspended, what it waits on and who holds that, where it was spawned, and
 * its symbolized C backtrace. Same thread rule as corio_debug_tasks().
 * Returns the number of tasks dumped, or -EPERM (no loop). */
CORIO_API int corio_dump(FILE *f);
CORIO_API int corio_dump_loop(corio_loop *loop, FILE *f);
/* corio_dump of every loop of the current corio_run_multi runtime, each
 * under a "==== loop i of n ====" header, each made on its own loop's
 * thread, one loop after the other (suspending: from a task). Returns the
 * number of tasks dumped, -EPERM (not a task of a runtime), or the error of
 * a cross-loop spawn. */
CORIO_API int corio_dump_all(FILE *f);

/* Dumps loop (NULL: current) to its report file whenever signal signo is
 * delivered to the process (e.g. SIGUSR1, SIGQUIT), at the loop's next
 * iteration: the handler only wakes the loop, since printing is not
 * async-signal-safe. A CPU-bound task delays the dump until it yields: the
 * stall detector is the tool for that. signo 0 turns it off for this loop.
 * Several loops may share a signal. Returns 0, -EINVAL (bad signal),
 * -ENOSPC (more than 16 loops), -EPERM (no loop). */
CORIO_API int corio_debug_dump_on_signal(corio_loop *loop, int signo);

/* Stall detector: a watchdog thread reports, while it is still running,
 * any task (or callback) that keeps the loop busy longer than threshold
 * seconds without suspending: its name and its C backtrace, taken by a
 * signal (SIGURG) sent to the loop thread. Reports repeat at twice, four
 * times... the threshold while the stall lasts. 0 turns it off. Also
 * enabled by the environment variable CORIO_STALL_MS=<milliseconds> at loop
 * creation. A blocking system call interrupted by the signal may fail with
 * EINTR (it is installed with SA_RESTART, which most calls honour).
 * Returns 0, -EINVAL, -EAGAIN (no thread), -EPERM (no loop). */
CORIO_API int corio_debug_stall_detector(corio_loop *loop, double threshold);

/* Debug mode (also CORIO_LOOP_DEBUG in the config or CORIO_DEBUG=1 in the
 * environment at loop creation): reports API misuse (awaiting a handle
 * that was already awaited, awaiting outside a task or a task of another
 * loop, spawning on a loop from another thread), task steps and callbacks
 * slower than the slow threshold (default 0.1 s), lock-order cycles, and at
 * close each spawn site's stack high-water mark; freed task structs are
 * kept poisoned for a while so a second await is caught, and freed stacks
 * are poisoned. Slows spawning and switching down: for development.
 * Returns 0 or -ENOMEM, -EPERM (no loop). */
CORIO_API int corio_debug_set_mode(corio_loop *loop, int on);
CORIO_API int corio_debug_set_slow_threshold(corio_loop *loop, double seconds);

/* Tracer hooks, called on the loop thread: spawn (after the task is set
 * up), run (just before a task runs), suspend (just after it stopped
 * running: parked, yielded or finished), finish (it has its result). Hooks
 * must not suspend, spawn or free tasks. NULL members are skipped; h NULL
 * removes them. Returns 0 or -ENOMEM, -EPERM. */
typedef struct corio_debug_hooks {
    void (*spawn)(corio_task *t, void *arg);
    void (*run)(corio_task *t, void *arg);
    void (*suspend)(corio_task *t, void *arg);
    void (*finish)(corio_task *t, void *arg);
    void *arg;
} corio_debug_hooks;
CORIO_API int corio_debug_set_hooks(corio_loop *loop, const corio_debug_hooks *h);

/* Loop metrics. The counters are always kept; the times (and per-task
 * metrics) only while corio_metrics_enable() is on, since they cost two
 * clock reads per switch. */
typedef struct corio_loop_metrics {
    uint64_t iterations;    /* loop iterations */
    uint64_t tasks_spawned; /* ever */
    uint64_t tasks_alive;   /* not yet freed */
    uint64_t tasks_pending; /* not yet finished */
    uint64_t ready_depth;   /* ready-queue entries now */
    uint64_t switches;      /* task switches (metrics on) */
    uint64_t callbacks;     /* callbacks run (metrics on) */
    double poll_seconds;    /* time blocked waiting for I/O and timers */
    double run_seconds;     /* time running tasks, callbacks and timers */
    double lag_seconds;     /* busy time of the last iteration: how long a
                               ready fd or due timer may have waited */
    double lag_max_seconds; /* the worst such lag */
} corio_loop_metrics;

typedef struct corio_task_metrics {
    uint64_t scheduled;     /* times it was switched to */
    double cpu_seconds;     /* time it ran (wall clock while running) */
    double wait_seconds[CORIO_WAIT_KINDS]; /* time parked, by wait kind */
} corio_task_metrics;

/* Turns the timing metrics on (1) or off (0). Returns 0, -ENOMEM, -EPERM. */
CORIO_API int corio_metrics_enable(corio_loop *loop, int on);
/* Fills *m. Returns 0 or -EPERM (no loop). */
CORIO_API int corio_loop_metrics_get(corio_loop *loop, corio_loop_metrics *m);
/* Every loop of the current corio_run_multi runtime: per_loop[i] (for
 * i < n; per_loop may be NULL) gets loop i's metrics, each read on its own
 * loop's thread, and *sum (may be NULL) their sum (counters and times
 * added; lag_seconds and lag_max_seconds: the worst loop's). Suspending:
 * from a task on a loop of a runtime. Returns the number of loops, -EPERM,
 * or the error of a cross-loop spawn. */
CORIO_API int corio_loop_metrics_all(corio_loop_metrics *per_loop, size_t n,
                                     corio_loop_metrics *sum);
/* Fills *m for t (zeros for the time it ran with metrics off). Returns 0. */
CORIO_API int corio_task_metrics_get(const corio_task *t, corio_task_metrics *m);

#define CORIO_METRICS_PER_TASK 0x1u /* also one series per live task */

/* Writes the metrics in Prometheus text exposition format (version 0.0.4)
 * to f / into buf. Returns the number of bytes written (for _buf: that the
 * full text needs, like snprintf; buf gets at most len - 1 of them and a
 * NUL), or -ENOMEM, -EIO, -EPERM. */
CORIO_API int corio_metrics_prometheus(corio_loop *loop, FILE *f, unsigned flags);
CORIO_API long corio_metrics_prometheus_buf(corio_loop *loop, char *buf, size_t len,
                                            unsigned flags);

#ifdef __cplusplus
}
#endif

#endif /* CORIO_H */
