/*
 * The loop: creation, one iteration, run modes, close with a leak report,
 * and corio_run().
 *
 * One iteration (docs/design.md walks it in detail):
 *   1. read the clock once, fire due timers (waking sleepers / timeouts);
 *   2. move callbacks posted by other threads onto the ready queue;
 *   3. poll for I/O: block until the next timer if nothing is ready, or
 *      just peek (timeout 0) when something is, and skip the system call
 *      entirely when no fd besides the wake-up eventfd is registered;
 *   4. dispatch up to CORIO__BUDGET ready entries (tasks switch directly
 *      to each other inside this step).
 */
#include "core/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#ifdef CORIO__ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef CORIO__TSAN
void __tsan_destroy_fiber(void *fiber);
#endif




#define DEFAULT_STACK (256u * 1024u)
#define DEFAULT_SHARED_STACK (1024u * 1024u)

void corio__report(corio_loop *loop, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(loop && loop->report ? loop->report : stderr, fmt, ap);
    va_end(ap);
}

void corio__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "corio: internal invariant violated: %s (%s:%d)\n", expr,
            file, line);
    fflush(stderr);
    abort();
}

corio_loop *corio_loop_current(void) { return corio__tls_loop; }

/* ---- callbacks ---------------------------------------------------------------*/

int corio__callback_queue(corio_loop *loop, corio_cb cb, void *arg, int front)
{
    corio__callback *c;
    CORIO__ASSERT_LOOP_THREAD(loop);
    c = loop->free_cbs;
    if (c)
        loop->free_cbs = c->next_free;
    else if (!(c = malloc(sizeof *c)))
        return -ENOMEM;
    c->run.kind = CORIO__RUN_CALLBACK;
    c->cb = cb;
    c->arg = arg;
    if (front)
        corio__list_push_front(&loop->ready, &c->run.node);
    else
        corio__list_push_back(&loop->ready, &c->run.node);
    return 0;
}

int corio_call_soon(corio_loop *loop, corio_cb cb, void *arg)
{
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (!cb)
        return -EINVAL;
    CORIO__CHECK_LOOP_THREAD(loop); /* names corio_call_soon in the report */
    return corio__callback_queue(loop, cb, arg, 0);
}

/* Cross-thread hand-off. The poster sets ts_pending and then reads
 * `sleeping`; the loop sets `sleeping` and then re-reads ts_pending before
 * it blocks. Both are sequentially consistent, so at least one of them sees
 * the other: either the loop does not block, or the poster writes the
 * eventfd. The eventfd write is skipped while the loop is busy. */
/* Queues c for the loop and wakes it if it sleeps. The wake-up is decided
 * and written while the lock is held: once the lock is released the loop
 * may drain c, run it, finish and free itself, so the poster must not touch
 * the loop after that (a pool worker posting a job's completion did, and
 * read a freed loop under load). */
static void post_locked(corio_loop *loop, corio__callback *c)
{
    pthread_mutex_lock(&loop->ts_lock);
    corio__list_push_back(&loop->ts_queue, &c->run.node);
    atomic_store(&loop->ts_pending, 1);
    if (atomic_load(&loop->sleeping))
        corio__loop_wakeup(loop);
    pthread_mutex_unlock(&loop->ts_lock);
}

int corio_call_soon_threadsafe(corio_loop *loop, corio_cb cb, void *arg)
{
    corio__callback *c;
    if (!loop || !cb)
        return -EINVAL;
    c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->run.kind = CORIO__RUN_THREADSAFE; /* heap: free() after it runs */
    c->cb = cb;
    c->arg = arg;
    post_locked(loop, c);
    return 0;
}

int corio__post_heap_arg(corio_loop *loop, corio_cb cb, void *arg)
{
    corio__callback *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->run.kind = CORIO__RUN_HEAP_ARG; /* freed after it runs, arg by cb */
    c->cb = cb;
    c->arg = arg;
    post_locked(loop, c);
    return 0;
}

void corio__post_threadsafe(corio_loop *loop, corio__callback *c)
{
    CORIO__ASSERT(c->cb != NULL);
    c->run.kind = CORIO__RUN_EMBEDDED;
    post_locked(loop, c);
}

void corio__loop_wakeup(corio_loop *loop)
{
    uint64_t one = 1;
    ssize_t r = write(loop->wake_wfd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is already non-zero, which is enough */
}

static void drain_threadsafe(corio_loop *loop)
{
    corio__list *n;
    if (!atomic_load_explicit(&loop->ts_pending, memory_order_acquire))
        return;
    pthread_mutex_lock(&loop->ts_lock);
    atomic_store(&loop->ts_pending, 0);
    while ((n = corio__list_pop_front(&loop->ts_queue)))
        corio__list_push_back(&loop->ready, n);
    pthread_mutex_unlock(&loop->ts_lock);
}

static void wake_cb(corio__io *io, unsigned events)
{
    corio_loop *loop = io->data;
    uint64_t v;
    ssize_t r = read(io->fd, &v, sizeof v);
    (void)r;
    (void)events;
    loop->n_wakeups++; /* not an I/O event: poll_io leaves it out */
    loop->pops->want(loop->poller, io, CORIO__IO_IN);
}

/* ---- misuse from another thread ----------------------------------------------*/

/* The caller is not the thread running loop, and loop is running: a call
 * that is not thread-safe would race with that thread. Only `running` and
 * `thread` are read, atomically: they are written (atomically) at the
 * start and end of corio_loop_run. A loop that is not running may be used
 * from any thread (the caller then serialises). */
int corio__loop_foreign(corio_loop *loop)
{
    pthread_t owner;
    if (!__atomic_load_n(&loop->running, __ATOMIC_ACQUIRE))
        return 0;
    __atomic_load(&loop->thread, &owner, __ATOMIC_RELAXED);
    return !pthread_equal(owner, pthread_self());
}

int corio__misuse_foreign(corio_loop *loop, const char *fn)
{
    corio__report(loop, "corio: misuse: %s on loop %p from a thread that is not running "
                        "it (loops are single-threaded; from other threads use "
                        "corio_cancel_threadsafe or corio_call_soon_threadsafe): "
                        "refused (-EPERM)\n", fn, (void *)loop);
    return -EPERM;
}

/* Debug mode: a call that is not thread-safe, made from a thread that is
 * not running its loop, would corrupt the loop's lists. Say which call and
 * what to use instead, then abort: there is no error to return from most of
 * these (corio_call_soon, corio_future_set_result, timers...), and going on
 * would be the corruption the check exists to prevent. */
void corio__debug_thread_check(corio_loop *loop, const char *fn)
{
    if (loop == corio__tls_loop || !corio__loop_foreign(loop))
        return;
    fprintf(loop->report,
            "corio: misuse (debug mode): %s() called on loop %p from a thread that is "
            "not running it; only functions named *_threadsafe may be called from "
            "other threads (corio_call_soon_threadsafe, corio_cancel_threadsafe, "
            "corio_future_set_result_threadsafe...): aborting\n",
            fn, (void *)loop);
    fflush(loop->report);
    abort();
}

int corio__misuse_stale(const corio_task *t, const char *fn)
{
    corio_loop *loop = corio__tls_loop; /* t->loop may be gone with t */
    corio__report(loop, "corio: misuse: %s on task handle %p, which was already awaited "
                        "(or detached and finished): the task is freed and the handle "
                        "invalid: refused (-EINVAL)\n", fn, (const void *)t);
    return -EINVAL;
}

/* ---- create / close -----------------------------------------------------------*/

int corio_loop_create(corio_loop **loopp, const corio_loop_config *cfg)
{
    corio_loop *loop;
    corio_loop_config c;
    int rc;
    const char *dbg;

    *loopp = NULL;
    if (cfg)
        c = *cfg;
    else
        memset(&c, 0, sizeof c);
    if (c.stack_mode != CORIO_STACK_DEFAULT && c.stack_mode != CORIO_STACK_COMPACT)
        return -EINVAL;
#ifdef CORIO__ASAN
    /* ASan tracks stack memory it cannot see us copy: compact mode would
     * need per-copy poisoning it offers no API for. */
    if (c.stack_mode == CORIO_STACK_COMPACT)
        return -ENOTSUP;
#endif
    loop = calloc(1, sizeof *loop);
    if (!loop)
        return -ENOMEM;
    corio__list_init(&loop->ready);
    corio__list_init(&loop->tasks);
    corio__list_init(&loop->ts_queue);
    corio__slab_init(&loop->task_slab, sizeof(corio_task), CORIO__TASK_COOL, loop);
    corio__slab_init(&loop->body_slab, sizeof(corio__task_body), 0, loop);
    pthread_mutex_init(&loop->ts_lock, NULL);
    atomic_init(&loop->ts_pending, 0);
    atomic_init(&loop->sleeping, 0);
    loop->cfg = c;
    loop->report = c.report_file ? (FILE *)c.report_file : stderr;
    loop->stack_size = corio__stack_roundup(c.stack_size ? c.stack_size : DEFAULT_STACK);
    dbg = getenv("CORIO_DEBUG");
    loop->debug = (c.flags & CORIO_LOOP_DEBUG) || (dbg && *dbg && *dbg != '0');
    loop->now_ns = corio__clock_ns();
    corio__wheel_init(&loop->wheel, loop->now_ns);
    loop->wake_fd = loop->wake_wfd = -1;

    if (c.stack_mode == CORIO_STACK_COMPACT) {
        loop->compact = 1;
        loop->shared_size = corio__stack_roundup(c.shared_stack_size ? c.shared_stack_size
                                                                     : DEFAULT_SHARED_STACK);
        rc = corio__stack_get(loop, loop->shared_size, &loop->shared_stack);
        if (rc < 0)
            goto fail;
        loop->shared_lo = loop->shared_stack->lo;
    }

    rc = corio__poller_open(c.backend, &loop->pops, &loop->poller, loop->report);
    if (rc < 0) {
        loop->poller = NULL;
        goto fail;
    }
    loop->ring_ops = corio__poller_ring_ops(loop->pops, loop->poller, loop->compact);
    loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wake_fd < 0) {
        rc = -errno;
        goto fail;
    }
    loop->wake_wfd = loop->wake_fd;
    loop->wake_io.fd = loop->wake_fd;
    loop->wake_io.cb = wake_cb;
    loop->wake_io.data = loop;
    loop->wake_io.slot = -1;
    loop->wake_io.want = CORIO__IO_IN;
    rc = loop->pops->add(loop->poller, &loop->wake_io);
    if (rc < 0)
        goto fail;
    loop->pops->want(loop->poller, &loop->wake_io, CORIO__IO_IN);
    rc = corio__overflow_handler_install(loop);
    if (rc < 0)
        goto fail;
    corio__observer_attach(loop);
    /* A loop running on this thread stays current: making the new one
     * current would strand the running task (corio_current() NULL, every
     * suspending call -EPERM). */
    if (!corio__tls_loop || !corio__tls_loop->running)
        corio__tls_loop = loop;
    *loopp = loop;
    return 0;
fail:
    if (loop->wake_fd >= 0)
        close(loop->wake_fd);
    if (loop->poller)
        loop->pops->destroy(loop->poller);
    corio__stacks_free(loop);
    pthread_mutex_destroy(&loop->ts_lock);
    free(loop);
    return rc;
}

/* The report (wait-for chains, backtraces) is the observer's. */
void corio__report_deadlock(corio_loop *loop)
{
    if (loop->obs)
        loop->obs->deadlock(loop);
}

/* corio_loop_close, for each task left: count it as leaked or not,
 * discard its frames (not unwound), free it. */
static int close_task(corio_task *t, void *arg)
{
    corio_loop *loop = corio__task_loop(t);
    int *leaks = arg;
    /* Still pending, or finished but never awaited/detached: reported
     * with where it was spawned and what it waits on. */
    *leaks += corio__task_leaked(t);
    if (corio__task_body_of(t)) {
        corio__task_body *b = t->b;
        if (b->timer.corio__slot != CORIO__TIMER_IDLE)
            corio__timer_disarm(&b->timer);
        if (corio__list_linked(&b->wait))
            corio__list_remove(&b->wait);
#ifdef CORIO__TSAN
        if (b->tsan_fiber) /* as corio__task_release does */
            __tsan_destroy_fiber(b->tsan_fiber);
#endif
        free(b->saved);
        t->b = NULL;
        t->flags &= (uint8_t)~CORIO__TF_BODY;
#ifdef CORIO__ASAN
        /* A task freed mid-run (a simulated crash) left its frames'
         * scope poisoning on the stack: the next task to get this stack
         * (or this mapping) must start from clean shadow memory. */
        if (!loop->compact && t->state != CORIO_TASK_DONE)
            ASAN_UNPOISON_MEMORY_REGION(b->stack->lo, corio__stack_size(b->stack));
#endif
        if (!loop->compact)
            corio__stack_put(loop, b->stack); /* and the body on it */
        else
            corio__slab_free(&loop->body_slab, b);
    }
    corio__task_free(loop, t);
    return 0;
}

int corio_loop_close(corio_loop *loop)
{
    corio__list *n;
    int leaks = 0;
    int l, s;

    if (!loop)
        return -EINVAL;
    if (loop->running)
        return -EBUSY;
    loop->closing = true;
    if (loop->obs)
        loop->obs->close(loop); /* leak reports; stops the watchdog */
    /* Ready entries first: callbacks that never ran are freed, tasks only
     * unlinked (they are freed below; freeing them first would leave the
     * queue pointing into freed memory). */
    while ((n = corio__list_pop_front(&loop->ready))) {
        corio__runnable *r = (corio__runnable *)n;
        if (r->kind == CORIO__RUN_HEAP_ARG)
            free(((corio__callback *)r)->arg);
        if (r->kind == CORIO__RUN_CALLBACK)
            free(r);
        else if (r->kind != CORIO__RUN_TASK && r->kind != CORIO__RUN_EMBEDDED)
            free(r);
    }
    if (loop->ntasks) /* the walk visits every slot ever used */
        corio__task_walk(loop, close_task, &leaks);
    while ((n = corio__list_pop_front(&loop->ts_queue))) {
        corio__runnable *r = (corio__runnable *)n;
        if (r->kind == CORIO__RUN_HEAP_ARG)
            free(((corio__callback *)r)->arg); /* never ran: nobody else will */
        if (r->kind != CORIO__RUN_EMBEDDED)
            free(n);
    }
    /* One-shot timers are ours to free; user timers are the user's. */
    for (l = 0; l < CORIO__WHEEL_LEVELS; l++)
        for (s = 0; s < CORIO__WHEEL_SLOTS; s++) {
            corio_timer *t = loop->wheel.head[l][s], *next;
            for (; t; t = next) {
                next = t->corio__next;
                t->corio__slot = CORIO__TIMER_IDLE;
                if (t->corio__kind == CORIO__TIMER_ONESHOT)
                    free(t);
            }
        }
    while (loop->free_cbs) {
        corio__callback *c = loop->free_cbs;
        loop->free_cbs = c->next_free;
        free(c);
    }
    corio__task_slabs_free(loop); /* every task is freed by now */
    loop->pops->del(loop->poller, &loop->wake_io);
    loop->pops->destroy(loop->poller);
    close(loop->wake_fd);
    if (loop->wake_wfd != loop->wake_fd)
        close(loop->wake_wfd);
    corio__stacks_free(loop);
    corio__overflow_handler_remove(loop);
    pthread_mutex_destroy(&loop->ts_lock);
    if (leaks && loop->report)
        fflush(loop->report);
    if (corio__tls_loop == loop)
        corio__tls_loop = NULL;
    free(loop);
    return leaks;
}

/* ---- running ------------------------------------------------------------------------*/

/* "Is there still work?", decided here only: something is ready (or
 * posted by another thread), a timer is armed (a user timer, or the deadline
 * of a parked task), a task is parked on an fd, or an external completion
 * (thread-pool job, loop ref) is on its way. When none holds, nothing can
 * ever make anything ready again: the loop is done, or, if tasks are still
 * alive (loop->nlive), deadlocked (out_of_work). */
static bool loop_alive(corio_loop *loop)
{
    return !corio__list_empty(&loop->ready) || loop->wheel.count ||
           loop->io_waiters || loop->keepalive ||
           atomic_load_explicit(&loop->ts_pending, memory_order_relaxed);
}

/* What corio_loop_run returns once !loop_alive(). */
static int out_of_work(const corio_loop *loop)
{
    return loop->nlive ? -EDEADLK : 0;
}

/* Polls for I/O, blocking at most timeout_ns (-1: forever). Returns how many
 * I/O callbacks it made besides the wake-up eventfd's. */
static int poll_io(corio_loop *loop, int64_t timeout_ns)
{
    int ms, rc, spun = 0;
    uint64_t wakeups;
    if (timeout_ns < 0)
        ms = -1;
    else
        ms = (int)((timeout_ns + CORIO__NS_PER_MS - 1) / CORIO__NS_PER_MS);
    if (ms != 0 && loop->remote && (spun = corio__remote_spin(loop, timeout_ns)) != 0)
        ms = 0; /* a message, or I/O it already dispatched */
    wakeups = loop->n_wakeups; /* after the spin: it counts its own */
    if (ms != 0) {
        atomic_store(&loop->sleeping, 1);
        if (atomic_load(&loop->ts_pending) ||
            (loop->remote && !corio__remote_may_block(loop, ms)))
            ms = 0;
        else {
            if (ms > 50 || ms < 0)
                corio__stacks_trim(loop); /* idle: return cold stack pages */
            if (CORIO__UNLIKELY(corio__task_slabs_trimmable(loop)))
                corio__task_slabs_trim(loop); /* and empty task blocks */
        }
    }
    if (CORIO__OBS_ON(loop, CORIO__EV_POLL))
        loop->obs->poll(loop, 0);
    rc = loop->pops->wait(loop->poller, ms);
    if (CORIO__OBS_ON(loop, CORIO__EV_POLL))
        loop->obs->poll(loop, 1);
    atomic_store(&loop->sleeping, 0);
    if (loop->remote && ms != 0)
        corio__remote_woke(loop);
    if (rc < 0)
        return rc;
    return rc - (int)(loop->n_wakeups - wakeups) + (spun > 0 ? spun : 0);
}

static inline bool run_should_return(const corio_loop *loop)
{
    return loop->stopping || (loop->until && loop->until->state == CORIO__FUT_DONE);
}

/* Nothing is ready and no timer callback ran this iteration: block until
 * I/O or a timer (NOWAIT: only peek). ONCE blocks until something actually
 * happened (a timer fired, an I/O callback ran, something became ready):
 * a wake-up at an internal tick of the timer wheel (a cascade) or a bare
 * wake-up of the eventfd is not an iteration's worth of work.
 * Returns 1 to go on with the iteration, or out_of_work(). */
static int wait_for_work(corio_loop *loop, int mode)
{
    for (;;) {
        int64_t next;
        int io;
        size_t fired = 0;
        if (!loop_alive(loop))
            return out_of_work(loop);
        next = mode == CORIO_RUN_NOWAIT ? 0 : corio__wheel_next_ns(&loop->wheel, loop->now_ns);
        if (CORIO__UNLIKELY(loop->sim != NULL))
            io = corio__sim_idle(loop, next); /* virtual time jumps */
        else
            io = poll_io(loop, next);
        loop->now_ns = corio__clock_ns();
        if (loop->wheel.count)
            fired = corio__wheel_run(loop, loop->now_ns);
        drain_threadsafe(loop);
        if (loop->remote)
            corio__remote_drain(loop);
        if (mode != CORIO_RUN_ONCE || fired || io != 0 ||
            !corio__list_empty(&loop->ready) || run_should_return(loop))
            return 1;
    }
}

int corio_loop_run(corio_loop *loop, int mode)
{
    int rc = 0;
    corio_loop *prev_tls = corio__tls_loop;
    if (!loop)
        return -EINVAL;
    if (loop->running)
        return -EBUSY;
    if (prev_tls && prev_tls->current)
        return -EPERM;
    {
        pthread_t self = pthread_self();
        __atomic_store(&loop->thread, &self, __ATOMIC_RELAXED);
    }
    /* Both read by corio__loop_foreign from other threads. */
    __atomic_store_n(&loop->running, true, __ATOMIC_RELEASE);
    loop->stopping = false;
    corio__tls_loop = loop;
    corio__sched_thread_init(loop);
    for (;;) {
        size_t fired = 0;
        loop->now_ns = corio__clock_ns();
        loop->n_iterations++;
        if (CORIO__UNLIKELY(loop->sim != NULL))
            corio__sim_iteration(loop);
        if (CORIO__OBS_ON(loop, CORIO__EV_ITERATION))
            loop->obs->iteration(loop);
        if (loop->wheel.count)
            fired = corio__wheel_run(loop, loop->now_ns);
        drain_threadsafe(loop);
        if (loop->remote)
            corio__remote_drain(loop);
        /* A timer callback may have stopped the loop or completed the
         * run_until future: return now, not after blocking for more. */
        if (run_should_return(loop)) {
            rc = 1;
            break;
        }
        /* "Blocking ... if nothing is ready": a timer callback that ran is
         * this iteration's work, so ONCE does not block after it either. */
        if (corio__list_empty(&loop->ready) && !(fired && mode == CORIO_RUN_ONCE)) {
            rc = wait_for_work(loop, mode);
            if (rc <= 0)
                break;
        } else if (loop->io_waiters) {
            if (CORIO__UNLIKELY(loop->sim != NULL))
                corio__sim_poll(loop);
            else
                poll_io(loop, 0);
        }
        if (CORIO__UNLIKELY(loop->sim != NULL))
            corio__sim_dispatch(loop);
        corio__dispatch(loop);
        if (run_should_return(loop)) {
            rc = 1;
            break;
        }
        if (mode != CORIO_RUN_DEFAULT) {
            rc = loop_alive(loop) ? 1 : out_of_work(loop);
            break;
        }
    }
    __atomic_store_n(&loop->running, false, __ATOMIC_RELEASE);
    loop->stopping = false;
    if (CORIO__OBS_ON(loop, CORIO__EV_ITERATION))
        loop->obs->run_exit(loop);
    if (prev_tls && prev_tls != loop)
        corio__tls_loop = prev_tls;
    return rc;
}

void corio_loop_stop(corio_loop *loop)
{
    if (loop)
        loop->stopping = true;
}

int corio_loop_run_until(corio_loop *loop, corio_future *f)
{
    corio_future *prev;
    int rc;
    if (!loop || !f)
        return -EINVAL;
    prev = loop->until;
    loop->until = f;
    rc = f->state == CORIO__FUT_DONE ? 1 : corio_loop_run(loop, CORIO_RUN_DEFAULT);
    loop->until = prev;
    if (rc < 0)
        return rc;
    if (f->state != CORIO__FUT_DONE)
        return rc == 0 ? -EDEADLK : -EINTR;
    return f->status;
}

/* ---- corio_run ---------------------------------------------------------------------*/

static int cancel_one(corio_task *t, void *arg)
{
    (void)arg;
    corio_cancel(t);
    return 0;
}

int corio_run_ex(corio_fn main_fn, void *arg, void **result,
                 const corio_loop_config *cfg)
{
    corio_loop *loop;
    corio_task *main_task;
    corio_spawn_opts o;
    int rc, status, deadlocked;

    if (result)
        *result = NULL;
    rc = corio_loop_create(&loop, cfg);
    if (rc < 0)
        return rc;
    memset(&o, 0, sizeof o);
    o.name = "main";
    o.loop = loop;
    rc = corio_spawn_ex(&main_task, main_fn, arg, &o);
    if (rc < 0) {
        corio_loop_close(loop);
        return rc;
    }
    main_task->flags |= CORIO__TF_ROOT;
    {
        corio_future *f = corio_task_future(main_task);
        status = f ? corio_loop_run_until(loop, f) : -ENOMEM;
    }
    deadlocked = status == -EDEADLK && main_task->state != CORIO_TASK_DONE;
    if (deadlocked)
        corio__report_deadlock(loop);
    if (main_task->state != CORIO_TASK_DONE) {
        /* Deadlock or stop: the main task is cancelled with the rest. */
        corio_cancel(main_task);
    }
    /* asyncio.run: cancel what is left and let it finish. */
    corio_task_foreach(loop, cancel_one, NULL);
    /* Only while tasks are alive or external completions (thread-pool
     * jobs) are on their way back: timers and callbacks nobody waits on (a
     * call_later an hour ahead, a periodic timer) must not keep us. This is
     * deliberately narrower than loop_alive(), which ONCE consults to say
     * whether anything at all could still happen. */
    rc = 0;
    while ((loop->nlive > 0 || loop->keepalive > 0) &&
           (rc = corio_loop_run(loop, CORIO_RUN_ONCE)) >= 0)
        ;
    if (main_task->state == CORIO_TASK_DONE) {
        status = corio__task_status(main_task);
        if (result)
            *result = main_task->value;
        corio__task_free(loop, main_task);
    } else if (status >= 0) {
        status = -EDEADLK;
    }
    if (deadlocked)
        status = -EDEADLK;
    (void)rc;
    corio_loop_close(loop);
    return status;
}

int corio_run(corio_fn main_fn, void *arg, void **result)
{
    return corio_run_ex(main_fn, arg, result, NULL);
}
