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

int corio__remote_spin(corio_loop *loop)
{
    corio__remote *r = loop->remote;
    unsigned ns = r->rt ? r->rt->spin_ns : 0;
    int64_t end;
    unsigned i;
    if (!ns)
        return 0;
    end = mono_ns() + ns;
    for (;;) {
        for (i = 0; i < 64; i++) {
            if (atomic_load_explicit(&r->inbox, memory_order_relaxed))
                return 1;
            cpu_relax();
        }
        if (mono_ns() >= end)
            return 0;
    }
}

int corio__remote_may_block(corio_loop *loop, int ms)
{
    corio__remote *r = loop->remote;
    if (atomic_load(&r->inbox) != NULL)
        return 0;
    /* Idle: nothing alive and nothing pending but the runtime's own
     * reference. Stuck: blocked for good (no timer, no fd) with nothing
     * pending but cross-loop waits. Only a message can change either
     * (multi.c). */
    if (loop->nlive == 0 && loop->keepalive == 1)
        atomic_store(&r->passive, CORIO__IDLE);
    else if (ms < 0 && loop->io_waiters == 0 && loop->keepalive == 1 + r->xwaits)
        atomic_store(&r->passive, CORIO__STUCK);
    return 1;
}

void corio__remote_woke(corio_loop *loop)
{
    corio__remote *r = loop->remote;
    if (atomic_load_explicit(&r->passive, memory_order_relaxed))
        atomic_store(&r->passive, 0);
}
