/*
 * The inbox of a loop in a corio_run_multi runtime: a lock-free
 * multi-producer, single-consumer queue of cross-loop messages.
 *
 * Posting is a compare-and-swap on the inbox head (a Treiber stack; there is
 * no ABA problem because the consumer never pops one node, it takes the whole
 * stack with one exchange). The loop drains it once per iteration, reverses
 * it into posting order and runs each message's handler on its own thread.
 *
 * Wake-ups use the loop's existing sleeping/eventfd handshake (loop.c):
 *   loop:   sleeping = 1 (seq_cst);  if inbox != NULL: do not block
 *   poster: CAS inbox (seq_cst);     if it was empty and sleeping: eventfd
 * With sequentially consistent operations on both sides at least one of
 * them sees the other, so a message is never left in the inbox of a
 * sleeping loop. Only the post that made the inbox non-empty checks; later
 * posts are covered by it (the loop drains all or that poster writes the
 * eventfd), so a loop is woken at most once per drain however many loops
 * post to it, and never while it is awake.
 */
#include "core/remote.h"

#include <errno.h>
#include <sched.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

/* Owner-only counter: a plain load and store, no read-modify-write. */
static inline void bump(atomic_uint_fast64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

void corio__remote_post(corio_loop *dst, corio__rmsg *m, corio_loop *from)
{
    corio__remote *r = dst->remote;
    corio__rmsg *head;
    if (from && from->remote)
        bump(&from->remote->sent); /* before the push: see multi.c */
    else
        atomic_fetch_add(&r->rt->coord_sent, 1); /* the coordinator: rare */
    head = atomic_load_explicit(&r->inbox, memory_order_relaxed);
    do {
        m->next = head;
    } while (!atomic_compare_exchange_weak_explicit(
        &r->inbox, &head, m, memory_order_seq_cst, memory_order_relaxed));
    if (head == NULL && atomic_load(&dst->sleeping))
        corio__loop_wakeup(dst);
}

void corio__remote_drain(corio_loop *loop)
{
    corio__remote *r = loop->remote;
    corio__rmsg *m, *rev = NULL, *next;
    atomic_store_explicit(&r->load, loop->nlive, memory_order_relaxed);
    if (atomic_load_explicit(&r->inbox, memory_order_relaxed) == NULL)
        return;
    m = atomic_exchange_explicit(&r->inbox, NULL, memory_order_acquire);
    for (; m; m = next) { /* reverse: posting order */
        next = m->next;
        m->next = rev;
        rev = m;
    }
    for (m = rev; m; m = next) {
        next = m->next; /* the handler may free or re-post m */
        bump(&r->recvd);
        m->fn(loop, m);
    }
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spin-then-park. An idle loop of a runtime polls before it sleeps: its
 * inbox and its cross-thread queue, and, if tasks wait on fds, the poller
 * with a zero timeout. `sleeping` stays 0 meanwhile, so a poster only CASes
 * the inbox: a cross-core hand-off costs a cache-line transfer, not an
 * eventfd write, a futex wake and a scheduler round (some 30 µs on the
 * reference VM). The first SPIN_PAUSE_NS poll with the CPU's pause
 * instruction only; after that each round yields the CPU (sched_yield), so
 * a loop that shares its CPU with the thread it waits for hands it over.
 *
 * What it may burn is bounded: at most spin_ns per time the loop runs out
 * of work (less if a timer is due sooner), and after SPIN_MISS_LIMIT spins
 * in a row that found no message (nothing, a timer or only I/O) the loop
 * stops spinning ("cold") until a
 * message arrives within spin_ns of its going to sleep, i.e. until a spin
 * would have caught one. A loop that is idle for long costs nothing.
 *
 * Spinning pays only while both ends have a CPU. When the CPUs are
 * oversubscribed, a spinning thread burns the time slice its peer needs,
 * and a thread that sleeps gets the scheduler's wake-up preference back:
 * measured here under load, spinning made a cross-loop round trip 2-10x
 * slower. A spin that finds a gap of SPIN_PREEMPT_NS between two of its
 * clock reads (normally a few µs apart; a VM's own hiccups reach some
 * 80 µs, a time slice lost to another thread is milliseconds) was
 * preempted: the loop stops spinning for SPIN_BACKOFF_NS. */
#define SPIN_PAUSE_NS 2000
#define SPIN_MISS_LIMIT 8
#define SPIN_PREEMPT_NS 200000
#define SPIN_BACKOFF_NS 1000000

/* Test seam (tests/test_multi_spin.c): 0 turns the preemption back-off
 * off, so that a test on a loaded machine sees whole spins. */
int corio__spin_preempt_check = 1;

int corio__remote_spin(corio_loop *loop, int64_t timeout_ns)
{
    corio__remote *r = loop->remote;
    int64_t budget = r->rt ? r->rt->spin_ns : 0, start, end, now, prev;
    int timer_due = 0;
    unsigned i;
    if (budget <= 0 || r->spin_misses >= SPIN_MISS_LIMIT)
        return 0;
    start = mono_ns();
    if (CORIO__UNLIKELY(r->spin_off_until != 0)) {
        if (start < r->spin_off_until)
            return 0;
        r->spin_off_until = 0;
    }
    if (timeout_ns >= 0 && timeout_ns <= budget) {
        budget = timeout_ns; /* a timer is due first: spin until then */
        timer_due = 1;
    }
    end = start + budget;
    prev = start;
    for (;;) {
        for (i = 0; i < 64; i++) {
            if (atomic_load_explicit(&r->inbox, memory_order_relaxed) ||
                atomic_load_explicit(&loop->ts_pending, memory_order_relaxed)) {
                r->spin_misses = 0;
                return -1;
            }
            cpu_relax();
        }
        if (loop->io_waiters) {
            /* I/O must not wait for the spin to end: look without
             * blocking. The callbacks it makes are the caller's events. */
            uint64_t wk = loop->n_wakeups;
            int rc = loop->pops->wait(loop->poller, 0);
            if (rc < 0)
                break; /* let the blocking wait report it */
            rc -= (int)(loop->n_wakeups - wk);
            if (rc > 0) {
                /* For the spin a miss: it is for messages, and a loop
                 * busy with I/O alone must go cold, not poll forever. */
                r->spin_misses++;
                return rc;
            }
        }
        now = mono_ns();
        if (CORIO__UNLIKELY(now - prev > SPIN_PREEMPT_NS) && corio__spin_preempt_check) {
            r->spin_off_until = now + SPIN_BACKOFF_NS; /* oversubscribed */
            break;
        }
        prev = now;
        if (now >= end) {
            r->spin_misses++; /* no message came (a timer is no reason) */
            return timer_due ? -1 : 0; /* due: no need to block */
        }
        if (now - start >= SPIN_PAUSE_NS)
            sched_yield();
    }
    r->spin_misses++;
    return 0;
}

int corio__remote_may_block(corio_loop *loop, int ms)
{
    corio__remote *r = loop->remote;
    if (atomic_load(&r->inbox) != NULL)
        return 0;
    /* Idle: nothing alive and nothing pending but the runtime's own
     * reference: no task, no timer (a callback armed with corio_call_later
     * may post cross-loop work when it fires, even during the shutdown),
     * no fd waiter. Stuck: blocked for good (no timer, no fd) with nothing
     * pending but cross-loop waits. Only a message can change either
     * (multi.c). */
    if (loop->nlive == 0 && loop->keepalive == 1 && loop->wheel.count == 0 &&
        loop->io_waiters == 0)
        atomic_store(&r->passive, CORIO__IDLE);
    else if (ms < 0 && loop->io_waiters == 0 && loop->keepalive == 1 + r->xwaits)
        atomic_store(&r->passive, CORIO__STUCK);
    if (r->spin_misses >= SPIN_MISS_LIMIT && r->rt && r->rt->spin_ns > 0)
        r->sleep_ns = mono_ns(); /* cold: see whether a spin would have paid */
    return 1;
}

void corio__remote_woke(corio_loop *loop)
{
    corio__remote *r = loop->remote;
    if (atomic_load_explicit(&r->passive, memory_order_relaxed))
        atomic_store(&r->passive, 0);
    /* Cold, and a message came within the spin time of going to sleep: a
     * spin would have caught it, so spin again next time. */
    if (r->spin_misses >= SPIN_MISS_LIMIT && r->rt && r->rt->spin_ns > 0 &&
        atomic_load_explicit(&r->inbox, memory_order_relaxed) &&
        mono_ns() - r->sleep_ns < r->rt->spin_ns)
        r->spin_misses = 0;
}
