/*
 * The cross-loop channel's structure and waiter nodes, shared by xchan.c
 * (send, receive, close) and xselect.c (corio_chan_select with cross-loop
 * cases).
 */
#ifndef CORIO_SYNC_XCHAN_H
#define CORIO_SYNC_XCHAN_H

#include "core/remote.h"

#if defined(__x86_64__) || defined(__i386__)
#define corio__cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define corio__cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define corio__cpu_relax() ((void)0)
/* corio_chan_select with cross-loop cases (xselect.c). */
int corio__chan_select_x(corio_chan_case *cases, size_t n, double timeout);

#endif

/* A parked sender or receiver; on its task's stack (or, for a select, in
 * the select's heap array). Two kinds share the lists:
 *  - a plain wait (poke = 0) is *claimed* by a peer under the lock: the
 *    value moves through the node and the wait is over;
 *  - a select's wait (poke = 1) is never claimed across loops (the select
 *    decides on its own loop which one case completes): a peer that makes
 *    the channel ready for it *pokes* it instead, unlinking it under the
 *    lock (poked = 1) and posting its message; the select then retries
 *    its cases. A channel pokes every select waiting in that direction. */
typedef struct corio__xwait {
    corio__list node;   /* in recvq/sendq, under the lock */
    corio__rmsg msg;    /* the wake-up, to the waiter's loop */
    corio_task *task;
    corio_loop *loop;
    void *value;        /* to send, or received */
    int status;         /* 0 or CORIO_ECLOSED, set by the claimer */
    int claimed;        /* under the lock: a peer took this wait */
    int delivered;      /* waiter's thread only: the wake-up arrived */
    int poke;           /* a select's wait: poke, never claim */
    int poked;          /* under the lock: a peer poked it */
} corio__xwait;

/* Allocated by corio_xchan_create, freed by corio_xchan_destroy. */
struct corio_xchan {
    _Alignas(CORIO__CACHELINE) atomic_int lock;
    atomic_size_t alen;     /* len, for spinners to watch without the lock */
    atomic_int aclosed;
    void **buf;             /* cap slots */
    size_t cap, head, len;
    corio__list recvq, sendq;
    int closed;
    unsigned spin_ns;
};

static inline void corio__xlock(corio_xchan *c)
{
    while (atomic_exchange_explicit(&c->lock, 1, memory_order_acquire))
        while (atomic_load_explicit(&c->lock, memory_order_relaxed))
            corio__cpu_relax();
}

static inline void corio__xunlock(corio_xchan *c)
{
    atomic_store_explicit(&c->lock, 0, memory_order_release);
}

/* After the lock is released: wakes the waiter w (claimed or poked), on
 * its loop. self: the calling loop. */
void corio__xchan_notify(corio_loop *self, corio__xwait *w);

/* corio_chan_select with cross-loop cases (xselect.c). */
int corio__chan_select_x(corio_chan_case *cases, size_t n, double timeout);

#endif
