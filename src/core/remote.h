/*
 * Cross-loop messages: the per-loop inbox of a corio_run_multi runtime, and
 * the runtime itself. Shared by remote.c (the inbox), multi.c (the runtime),
 * xtask.c (tasks on other loops) and src/sync/xchan.c (channels between
 * loops). docs/design.md, "Every core", explains the protocol.
 */
#ifndef CORIO_CORE_REMOTE_H
#define CORIO_CORE_REMOTE_H

#include "core/internal.h"

#define CORIO__CACHELINE 64

/* A message to another loop. Always embedded in the object it concerns (a
 * cross-loop task handle, a channel wait node, the runtime's per-loop
 * slots), so posting one never allocates. The object's owner guarantees it
 * stays alive until fn has run on the destination loop, and that it is in
 * at most one inbox at a time. */
typedef struct corio__rmsg corio__rmsg;
typedef void (*corio__rmsg_fn)(corio_loop *loop, corio__rmsg *m);
struct corio__rmsg {
    corio__rmsg *next;  /* inbox link: written by the poster before the CAS */
    corio__rmsg_fn fn;  /* runs on the destination loop's thread, loop stack */
};

struct corio__multi;

/* A loop's part of the runtime. Allocated (cache-line aligned) in one array
 * by corio_run_multi, freed by it after every loop has closed. */
typedef struct corio__remote {
    /* Written by every poster: a LIFO of messages (Treiber stack). The loop
     * takes all of it with one exchange and reverses it, so each drain
     * handles messages in the order they were posted. Alone on its line. */
    _Alignas(CORIO__CACHELINE) _Atomic(corio__rmsg *) inbox;
    /* Written by the owner loop only, read by anyone (placement, shutdown
     * detection). On their own line so posters do not bounce it. */
    _Alignas(CORIO__CACHELINE) atomic_uint_fast64_t sent; /* messages posted */
    atomic_uint_fast64_t recvd;  /* messages handled */
    atomic_int passive;          /* CORIO__IDLE / CORIO__STUCK while blocked, else 0 */
    size_t xwaits;               /* owner: tasks parked on a cross-loop wait */
    atomic_size_t load;          /* live tasks, published each iteration */
    /* Owner-only. */
    corio_loop *loop;
    struct corio__multi *rt;
    unsigned index;
    unsigned rr;                 /* round-robin placement cursor */
    unsigned spin_misses;        /* spins in a row that found nothing */
    int64_t sleep_ns;            /* when the loop last went to sleep */
    int64_t spin_off_until;      /* preempted while spinning: not before */
    corio__rmsg shutdown_msg;    /* posted once by the main task's end */
    corio__rmsg stop_msg;        /* posted once by the coordinator */
    corio__rmsg report_msg;      /* runtime deadlock: report this loop's part */
    pthread_t thread;
    int create_rc;               /* corio_loop_create's result */
    int leaks;                   /* corio_loop_close's result */
} corio__remote;

/* The runtime: created and freed by corio_run_multi, on the caller's stack
 * and heap. Its loops array is written before any loop runs and is then
 * read-only. */
typedef struct corio__multi {
    unsigned n;
    corio__remote *rem;          /* n slots */
    int64_t spin_ns;             /* an idle loop polls this long before it
                                    sleeps (0: never) */
    int pin;
    const corio_loop_config *loop_cfg;
    corio_fn main_fn;
    void *main_arg;
    atomic_int shutting_down;    /* main has ended: new remote tasks cancel */
    atomic_uint_fast64_t coord_sent; /* messages the coordinator posted */
    int deadlocked;              /* coordinator: a runtime-wide deadlock */
    pthread_barrier_t created;   /* every loop exists */
    pthread_barrier_t stopped;   /* every loop stopped running */
    pthread_mutex_t mu;          /* guards main_done (with cv) */
    pthread_cond_t cv;
    int main_done;
    int status;                  /* main task's outcome */
    void *result;
} corio__multi;

/* Posts m to dst's inbox; m->fn must be set. from: the posting loop (it
 * counts the message for shutdown detection), or NULL from a thread that
 * is no loop of the runtime (only after every loop is passive). Writes the
 * destination's eventfd only if this post made its inbox non-empty and the
 * loop sleeps: one wake-up per destination per drain, none while it runs. */
void corio__remote_post(corio_loop *dst, corio__rmsg *m, corio_loop *from);

/* What a blocked loop publishes (remote->passive). */
enum { CORIO__IDLE = 1,  /* no live task, nothing pending: only a message wakes it */
       CORIO__STUCK = 2  /* live tasks, but the only thing that can wake any of
                            them is a message from another loop (no timer, no
                            fd, no pending external work) */ };

/* A task of loop starts / stops waiting for something only another loop
 * can deliver: counted as external work (never a local deadlock), and
 * separately so the runtime can tell a cross-loop deadlock. */
static inline void corio__xwait_begin(corio_loop *loop)
{
    loop->keepalive++;
    loop->remote->xwaits++;
}
static inline void corio__xwait_end(corio_loop *loop)
{
    loop->keepalive--;
    loop->remote->xwaits--;
}

/* The calling thread's loop if it belongs to a runtime, else NULL. */
static inline corio_loop *corio__remote_self(void)
{
    corio_loop *l = corio__tls_loop;
    return l && l->remote ? l : NULL;
}


#endif
