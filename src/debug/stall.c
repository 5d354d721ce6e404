/*
 * The stall detector, after Seastar's reactor-stall reports: a watchdog
 * thread samples the loop's progress counter; when it has not moved for the
 * threshold while the loop is running (not waiting in the poller), one task
 * or callback is hogging the thread. The watchdog then sends SIGURG to the
 * loop thread; the handler, on that thread, walks the frame pointers of
 * whatever is running from the signal's ucontext into a buffer (only loads
 * and stores: async-signal-safe) and posts a semaphore. The watchdog, a
 * normal thread, symbolizes the frames and prints the report while the
 * stall is still going on. Reports repeat at 2x, 4x... the threshold.
 *
 * SIGURG because its default action is to ignore it: a stray one after we
 * uninstalled nothing cannot kill the process. The handler passes signals
 * it did not ask for to the handler installed before it.
 */
#include "debug/debug.h"
#include "core/remote.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define STALL_SIGNAL SIGURG

struct corio__stall {
    corio_loop *loop;
    pthread_t thread;          /* the watchdog */
    pthread_mutex_t mu;        /* guards the fields below up to `frames` */
    pthread_cond_t cv;
    int stop;
    int64_t threshold_ns;
    int have_loop_thread;
    pthread_t loop_thread;
    /* Filled by the signal handler on the loop thread, read by the
     * watchdog after sem_wait(&done). */
    atomic_int want;           /* 1: a capture was requested */
    sem_t done;
    int nframes;
    void *frames[CORIO__MAX_FRAMES];
    uint64_t task_id;          /* 0: a callback or the loop itself */
    char task_name[64];
    /* A leaf function compiled without a frame (GCC omits leaf frame
     * pointers) hides its caller from the frame walk; its return address
     * is then in the link register (aarch64) or at [sp] (x86-64). The
     * handler saves that candidate; the watchdog checks it (see
     * leaf_caller) before using it. */
    uintptr_t leaf_ret;
};

static _Atomic(struct corio__stall *) target; /* the capture in progress */
static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static struct sigaction old_action;

/* It reads the interrupted stack, redzones included: no ASan checks. */
#if defined(__SANITIZE_ADDRESS__) || defined(CORIO__ASAN)
__attribute__((no_sanitize_address))
#endif
static void stall_handler(int sig, siginfo_t *si, void *ucv)
{
    struct corio__stall *st = atomic_load(&target);
    ucontext_t *uc = ucv;
    corio_loop *loop = corio__tls_loop;
    corio_task *t;
    uintptr_t pc = 0, fp = 0, lo, hi;
    int saved = errno, i;

    if (!st || !atomic_load(&st->want) || loop != st->loop) {
        /* Not ours: hand it on. */
        if ((old_action.sa_flags & SA_SIGINFO) && old_action.sa_sigaction)
            old_action.sa_sigaction(sig, si, ucv);
        else if (!(old_action.sa_flags & SA_SIGINFO) &&
                 old_action.sa_handler != SIG_DFL && old_action.sa_handler != SIG_IGN)
            old_action.sa_handler(sig);
        errno = saved;
        return;
    }
    atomic_store(&st->want, 0);
    t = loop->current;
    if (t && corio__task_body_of(t)) {
        lo = (uintptr_t)t->b->stack->lo;
        hi = lo + corio__stack_size(t->b->stack);
    } else {
        lo = loop->dbg->tstack_lo;
        hi = loop->dbg->tstack_hi;
    }
    st->leaf_ret = 0;
#if defined(__x86_64__)
    pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    {
        uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
        if (sp >= lo && sp + sizeof(uintptr_t) <= hi && !(sp & 7))
            st->leaf_ret = *(const uintptr_t *)sp;
    }
#elif defined(__aarch64__)
    pc = (uintptr_t)uc->uc_mcontext.pc;
    fp = (uintptr_t)uc->uc_mcontext.regs[29];
    st->leaf_ret = (uintptr_t)uc->uc_mcontext.regs[30];
#else
    (void)uc;
#endif
    st->nframes = corio__bt_walk(pc, fp, lo, hi, NULL, st->frames, CORIO__MAX_FRAMES);
    st->task_id = t ? t->id : 0;
    st->task_name[0] = 0;
    if (t && corio__task_name_or_null(t)) {
        const char *name = corio__task_name_or_null(t);
        for (i = 0; i < (int)sizeof st->task_name - 1 && name[i]; i++)
            st->task_name[i] = name[i];
        st->task_name[i] = 0;
    }
    sem_post(&st->done);
    errno = saved;
}

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = stall_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(STALL_SIGNAL, &sa, &old_action);
}

static int64_t mono_ns(void) { return corio__clock_ns(); }

static void abs_time(struct timespec *ts, int64_t ns_from_now)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ns_from_now / 1000000000LL);
    ts->tv_nsec += (long)(ns_from_now % 1000000000LL);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Is r the return address of a call to the function containing pc, i.e.
 * the caller a frameless leaf hides? r must be in a known function (so its
 * page is mapped code) and the instruction before it must be a direct call
 * whose target starts at most 64 KiB below pc. Indirect calls are not
 * recognised: the frame is then just missing, as before. */
static int leaf_caller(corio__sym *s, uintptr_t r, uintptr_t pc, uintptr_t next)
{
    char fn[128], leaf[128], callee_fn[128];
    uintptr_t callee;
    if (!r || r == next || !*corio__sym_func(s, (const void *)r, 1, fn, sizeof fn))
        return 0;
    corio__sym_func(s, (const void *)pc, 0, leaf, sizeof leaf);
    if (!leaf[0] || !strcmp(fn, leaf))
        return 0; /* a stale address inside the interrupted function */
#if defined(__x86_64__)
    {
        int32_t rel;
        if (*(const unsigned char *)(r - 5) != 0xE8)
            return 0;
        memcpy(&rel, (const void *)(r - 4), sizeof rel);
        callee = r + (uintptr_t)(intptr_t)rel;
    }
#elif defined(__aarch64__)
    {
        uint32_t insn;
        memcpy(&insn, (const void *)(r - 4), sizeof insn);
        if ((insn & 0xFC000000u) != 0x94000000u) /* BL imm26 */
            return 0;
        callee = (r - 4) + (uintptr_t)((intptr_t)((int32_t)(insn << 6) >> 6) * 4);
    }
#else
    return 0;
#endif
    if (callee > pc || pc - callee >= 65536)
        return 0;
    /* The call must go to the very function that was interrupted. */
    corio__sym_func(s, (const void *)callee, 0, callee_fn, sizeof callee_fn);
    return !strcmp(callee_fn, leaf);
}

/* Captures and prints one report. Called by the watchdog with nothing held. */
static void capture(struct corio__stall *st, int64_t stalled_ns, int64_t threshold,
                    uint_fast64_t progress_seen)
{
    corio__loop_dbg *d = st->loop->dbg;
    struct timespec ts;
    pthread_t lt;
    int ok, have;
    FILE *f = corio__report_file(st->loop);

    pthread_mutex_lock(&st->mu);
    have = st->have_loop_thread;
    lt = st->loop_thread;
    pthread_mutex_unlock(&st->mu);
    if (!have)
        return;
    pthread_mutex_lock(&capture_lock);
    atomic_store(&st->want, 1);
    atomic_store(&target, st);
#ifdef CORIO__TSAN
    /* ThreadSanitizer defers asynchronous signals to its own safe points,
     * where the ucontext no longer describes the interrupted code: report
     * the stall without a backtrace. */
    ok = 0;
    (void)lt;
    st->task_id = atomic_load_explicit(&d->running_id, memory_order_relaxed);
    st->task_name[0] = 0;
#else
    ok = pthread_kill(lt, STALL_SIGNAL) == 0;
#endif
    if (ok) {
        abs_time(&ts, 500 * CORIO__NS_PER_MS);
        while ((ok = sem_clockwait(&st->done, CLOCK_MONOTONIC, &ts) == 0) == 0 &&
               errno == EINTR)
            ;
    }
    atomic_store(&st->want, 0);
    atomic_store(&target, NULL);
    pthread_mutex_unlock(&capture_lock);
    /* The stall ended while we were capturing: the frames show something
     * else, so say nothing. */
    if (atomic_load_explicit(&d->progress, memory_order_acquire) != progress_seen)
        return;
    if (st->loop->remote) /* a loop of a corio_run_multi runtime: which */
        fprintf(f, "corio: stall on loop %u: ", st->loop->remote->index);
    else
        fprintf(f, "corio: stall: ");
    if (st->task_id) {
        char name[80];
        if (st->task_name[0])
            snprintf(name, sizeof name, "%s", st->task_name);
        else
            snprintf(name, sizeof name, "task-%llu", (unsigned long long)st->task_id);
        fprintf(f, "task #%llu '%s' has run for %.3fs without "
                   "suspending (threshold %.3fs)",
                (unsigned long long)st->task_id, name, (double)stalled_ns / 1e9,
                (double)threshold / 1e9);
    } else {
        fprintf(f, "the loop has been busy outside any task (a "
                   "callback?) for %.3fs (threshold %.3fs)",
                (double)stalled_ns / 1e9, (double)threshold / 1e9);
    }
    if (ok && st->nframes) {
        corio__sym *s = corio__sym_open();
        fprintf(f, "; it is running:\n");
        /* The word at [sp] may be padding nobody wrote: it is only a
         * candidate, checked below. */
        VALGRIND_MAKE_MEM_DEFINED(&st->leaf_ret, sizeof st->leaf_ret);
        if (st->nframes < CORIO__MAX_FRAMES &&
            leaf_caller(s, st->leaf_ret, (uintptr_t)st->frames[0],
                        st->nframes > 1 ? (uintptr_t)st->frames[1] : 0)) {
            memmove(&st->frames[2], &st->frames[1],
                    (size_t)(st->nframes - 1) * sizeof st->frames[0]);
            st->frames[1] = (void *)st->leaf_ret;
            st->nframes++;
        }
        /* frames[0] is the interrupted pc, not a return address, but
         * looking up pc - 1 lands in the same function all the same. */
        corio__sym_print_frames(s, f, st->frames, st->nframes, "      ");
        corio__sym_close(s);
    } else {
#ifdef CORIO__TSAN
        fprintf(f, " (no backtrace under ThreadSanitizer)\n");
#else
        fprintf(f, " (no backtrace: the loop thread did not answer the signal)\n");
#endif
    }
    fflush(f);
}

static void *watchdog(void *arg)
{
    struct corio__stall *st = arg;
    corio__loop_dbg *d = st->loop->dbg;
    uint_fast64_t last = 0;
    int64_t since = mono_ns(), next_report = -1;
    sigset_t all;

    /* Process-directed signals go to other threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&st->mu);
    while (!st->stop) {
        struct timespec ts;
        int64_t thr = st->threshold_ns, period = thr / 4, now;
        uint_fast64_t p;
        int phase;
        if (period < CORIO__NS_PER_MS)
            period = CORIO__NS_PER_MS;
        if (next_report < 0)
            next_report = thr;
        abs_time(&ts, period);
        pthread_cond_timedwait(&st->cv, &st->mu, &ts);
        if (st->stop)
            break;
        pthread_mutex_unlock(&st->mu);
        now = mono_ns();
        phase = atomic_load_explicit(&d->phase, memory_order_acquire);
        p = atomic_load_explicit(&d->progress, memory_order_acquire);
        if (phase != 1 || p != last) {
            last = p;
            since = now;
            next_report = thr;
        } else if (now - since >= next_report) {
            capture(st, now - since, thr, p);
            next_report *= 2;
        }
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* The loop thread starts (or resumes) running: tell the watchdog which
 * thread to signal, and learn that thread's stack for callbacks' traces. */
void corio__stall_enter(corio_loop *loop)
{
    struct corio__stall *st = loop->dbg->stall;
    if (!st)
        return;
    if (!loop->dbg->tstack_hi) {
        pthread_attr_t a;
        void *base;
        size_t sz;
        if (pthread_getattr_np(pthread_self(), &a) == 0) {
            pthread_attr_getstack(&a, &base, &sz);
            pthread_attr_destroy(&a);
            loop->dbg->tstack_lo = (uintptr_t)base;
            loop->dbg->tstack_hi = (uintptr_t)base + sz;
        }
    }
    pthread_mutex_lock(&st->mu);
    st->loop_thread = pthread_self();
    st->have_loop_thread = 1;
    pthread_mutex_unlock(&st->mu);
}

void corio__stall_stop(corio_loop *loop)
{
    struct corio__stall *st = loop->dbg ? loop->dbg->stall : NULL;
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    st->stop = 1;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    sem_destroy(&st->done);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
    loop->dbg->stall = NULL;
    corio__debug_set_flag(loop, CORIO__DBG_STALL, 0);
    atomic_store(&loop->dbg->phase, 0);
}

int corio_debug_stall_detector(corio_loop *loop, double threshold)
{
    corio__loop_dbg *d;
    struct corio__stall *st;
    pthread_condattr_t ca;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (threshold != threshold || threshold < 0)
        return -EINVAL;
    if (threshold == 0) {
        corio__stall_stop(loop);
        return 0;
    }
    d = corio__debug_state(loop);
    if (!d)
        return -ENOMEM;
    if (d->stall) {
        pthread_mutex_lock(&d->stall->mu);
        d->stall->threshold_ns = corio__seconds_to_ns(threshold);
        pthread_mutex_unlock(&d->stall->mu);
        return 0;
    }
    pthread_once(&handler_once, install_handler);
    st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->loop = loop;
    st->threshold_ns = corio__seconds_to_ns(threshold);
    if (st->threshold_ns < CORIO__NS_PER_MS)
        st->threshold_ns = CORIO__NS_PER_MS;
    atomic_init(&st->want, 0);
    pthread_mutex_init(&st->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    sem_init(&st->done, 0, 0);
    d->stall = st;
    corio__debug_set_flag(loop, CORIO__DBG_STALL, 1);
    if (loop->running && corio__tls_loop == loop) {
        /* Enabled from inside the loop: watch from now on. */
        corio__stall_enter(loop);
        atomic_store(&d->phase, 1);
    }
    if (pthread_create(&st->thread, NULL, watchdog, st) != 0) {
        d->stall = NULL;
        corio__debug_set_flag(loop, CORIO__DBG_STALL, 0);
        sem_destroy(&st->done);
        pthread_cond_destroy(&st->cv);
        pthread_mutex_destroy(&st->mu);
        free(st);
        return -EAGAIN;
    }
    return 0;
}
