/*
 * Signals as events: a process-wide handler fans each signal out to the
 * open watchers (corio_signal), each of which a task awaits through an
 * eventfd registered with its loop.
 *
 * Why a handler and not signalfd: signalfd only sees signals blocked in
 * every thread, so it breaks as soon as any thread (a library's, the
 * user's) leaves the signal unblocked, and blocking must happen before any
 * thread starts. A handler works whichever thread the kernel picks; the
 * thread pool's workers block everything, so it never lands there.
 *
 * The handler may only use async-signal-safe operations, so watchers live
 * in a fixed table of slots whose fields are lock-free atomics: `mask` (the
 * signals wanted), `pending` (signals seen, not yet consumed), `fd` (the
 * eventfd to write), and `busy` (handlers inside the slot right now).
 * Closing a watcher clears mask and fd, then waits for busy to drop to 0
 * before closing the eventfd, so a handler never writes to a recycled fd.
 * Installing and restoring dispositions is serialised by sig_lock (never
 * taken in the handler).
 */
#include "io/fd.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NSLOTS 256
#define MAXSIG 64

typedef struct sig_slot {
    atomic_int used;            /* 0 free, 1 taken (claimed by CAS) */
    atomic_ullong mask;         /* bit signo-1: wanted */
    atomic_ullong pending;      /* bit signo-1: arrived, not yet consumed */
    atomic_int fd;              /* eventfd to write, -1 while closing */
    atomic_int busy;            /* handlers currently using this slot */
} sig_slot;

static sig_slot slots[NSLOTS];
static atomic_int slots_hwm;    /* slots [0, hwm) may be in use */

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static int sig_refs[MAXSIG + 1];            /* open watchers per signal */
static struct sigaction sig_old[MAXSIG + 1]; /* disposition before us */

/* A watcher. Allocated by corio_signal_open() on its loop's thread, freed
 * by corio_signal_close() on the same thread. */
struct corio_signal {
    int slot;
    int efd;
    corio__fd f;
    uint64_t mask;
    int zombie;        /* closed while a task waited: the waiter frees it */
};

static void on_signal(int signo)
{
    int saved = errno, i, n = atomic_load(&slots_hwm);
    unsigned long long bit = 1ull << (signo - 1);
    for (i = 0; i < n; i++) {
        sig_slot *s = &slots[i];
        int fd;
        if (!(atomic_load(&s->mask) & bit))
            continue;
        atomic_fetch_add(&s->busy, 1);
        fd = atomic_load(&s->fd);
        if ((atomic_load(&s->mask) & bit) && fd >= 0) {
            uint64_t one = 1;
            ssize_t r;
            atomic_fetch_or(&s->pending, bit);
            r = write(fd, &one, sizeof one);
            (void)r;
        }
        atomic_fetch_sub(&s->busy, 1);
    }
    errno = saved;
}

static int valid_signo(int signo)
{
    return signo >= 1 && signo <= MAXSIG && signo != SIGKILL && signo != SIGSTOP &&
           signo != SIGSEGV && signo != SIGBUS;
}

/* Takes a reference on signo's disposition, installing the handler on the
 * first. sig_lock held. */
static int sig_ref(int signo)
{
    if (sig_refs[signo]++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigfillset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART | SA_ONSTACK;
        if (sigaction(signo, &sa, &sig_old[signo]) < 0) {
            int e = errno;
            sig_refs[signo]--;
            return -e;
        }
    }
    return 0;
}

static void sig_unref(int signo)
{
    if (--sig_refs[signo] == 0)
        sigaction(signo, &sig_old[signo], NULL);
}

int corio_signal_open(corio_signal **sp, const int *signos, size_t n)
{
    corio_loop *loop = corio__tls_loop;
    corio_signal *s;
    sigset_t set;
    uint64_t mask = 0;
    size_t i;
    int slot = -1, rc;

    if (sp)
        *sp = NULL;
    if (!sp || !signos || n == 0)
        return -EINVAL;
    if (!loop)
        return -EPERM;
    for (i = 0; i < n; i++) {
        if (!valid_signo(signos[i]))
            return -EINVAL;
        mask |= 1ull << (signos[i] - 1);
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->efd < 0) {
        rc = -errno;
        free(s);
        return rc;
    }
    for (i = 0; i < NSLOTS; i++) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&slots[i].used, &expect, 1)) {
            slot = (int)i;
            break;
        }
    }
    if (slot < 0) {
        close(s->efd);
        free(s);
        return -EBUSY;
    }
    rc = corio__fd_open(loop, &s->f, s->efd);
    if (rc < 0) {
        atomic_store(&slots[slot].used, 0);
        close(s->efd);
        free(s);
        return rc;
    }
    s->slot = slot;
    s->mask = mask;
    atomic_store(&slots[slot].pending, 0);
    atomic_store(&slots[slot].fd, s->efd);
    atomic_store(&slots[slot].mask, mask);
    /* Publish the slot to handlers before any handler is installed. */
    for (;;) {
        int hwm = atomic_load(&slots_hwm);
        if (hwm > slot || atomic_compare_exchange_weak(&slots_hwm, &hwm, slot + 1))
            break;
    }
    pthread_mutex_lock(&sig_lock);
    rc = 0;
    for (i = 0; i < n && rc == 0; i++)
        if ((mask >> (signos[i] - 1)) & 1) {
            rc = sig_ref(signos[i]);
            if (rc == 0)
                mask &= ~(1ull << (signos[i] - 1)); /* once per signal */
        }
    if (rc < 0) {
        /* Undo the references taken (the bits cleared from mask). */
        uint64_t taken = s->mask & ~mask;
        int sg;
        for (sg = 1; sg <= MAXSIG; sg++)
            if ((taken >> (sg - 1)) & 1)
                sig_unref(sg);
    }
    pthread_mutex_unlock(&sig_lock);
    if (rc < 0) {
        s->mask = 0;
        corio_signal_close(s);
        return rc;
    }
    sigemptyset(&set);
    for (i = 0; i < n; i++)
        sigaddset(&set, signos[i]);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    *sp = s;
    return 0;
}

int corio_signal_wait(corio_signal *s)
{
    sig_slot *sl;
    int rc;
    if (!corio_current())
        return -EPERM;
    if (!s)
        return -EINVAL;
    sl = &slots[s->slot];
    for (;;) {
        unsigned long long p;
        uint64_t v;
        ssize_t r;
        /* Drain the counter first, then look: a signal arriving after the
         * look writes the eventfd again and wakes the wait below. */
        r = read(s->efd, &v, sizeof v);
        (void)r;
        p = atomic_load(&sl->pending);
        if (p) {
            int signo = __builtin_ctzll(p) + 1;
            atomic_fetch_and(&sl->pending, ~(1ull << (signo - 1)));
            return signo;
        }
        rc = corio__fd_wait(&s->f, CORIO__IO_IN);
        if (s->zombie) {
            free(s);
            return -EBADF;
        }
        if (rc < 0)
            return rc;
    }
}

void corio_signal_close(corio_signal *s)
{
    sig_slot *sl;
    int sg, waited;
    if (!s)
        return;
    sl = &slots[s->slot];
    pthread_mutex_lock(&sig_lock);
    for (sg = 1; sg <= MAXSIG; sg++)
        if ((s->mask >> (sg - 1)) & 1)
            sig_unref(sg);
    pthread_mutex_unlock(&sig_lock);
    atomic_store(&sl->mask, 0);
    atomic_store(&sl->fd, -1);
    /* A handler that read the old fd finishes its write before we close
     * it (it runs for microseconds; on this thread it already returned). */
    while (atomic_load(&sl->busy))
        sched_yield();
    /* A task parked on it still touches s when it resumes: it frees s. */
    waited = s->f.reader != NULL;
    corio__fd_close(&s->f);
    close(s->efd);
    atomic_store(&sl->pending, 0);
    atomic_store(&sl->used, 0);
    if (waited)
        s->zombie = 1;
    else
        free(s);
}

/* ---- handlers as tasks ---------------------------------------------------*/

typedef struct handler_ctx {
    corio_signal *sig;
    corio_fn fn;
    void *arg;
} handler_ctx;

static void *handler_watch(void *p)
{
    handler_ctx *h = p;
    corio_spawn_opts o = {0};
    o.flags = CORIO_SPAWN_DETACHED;
    o.name = "signal-handler";
    while (corio_signal_wait(h->sig) > 0)
        corio_spawn_ex(NULL, h->fn, h->arg, &o);
    corio_signal_close(h->sig);
    free(h);
    return NULL;
}

int corio_signal_handler(int signo, corio_fn fn, void *arg, corio_task **watcher)
{
    handler_ctx *h;
    corio_spawn_opts o = {0};
    corio_task *t;
    int rc;
    if (watcher)
        *watcher = NULL;
    if (!fn)
        return -EINVAL;
    h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    rc = corio_signal_open(&h->sig, &signo, 1);
    if (rc < 0) {
        free(h);
        return rc;
    }
    h->fn = fn;
    h->arg = arg;
    o.name = "signal-watcher";
    /* Eager: it reaches its first wait before anyone could cancel it, so
     * its cleanup (closing the watcher) always runs. */
    o.flags = CORIO_SPAWN_EAGER;
    rc = corio_spawn_ex(&t, handler_watch, h, &o);
    if (rc < 0) {
        corio_signal_close(h->sig);
        free(h);
        return rc;
    }
    if (watcher)
        *watcher = t;
    else
        corio_detach(t);
    return 0;
}
