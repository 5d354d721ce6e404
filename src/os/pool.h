/*
 * Private structures of the thread pool (pool.c), shared with the other
 * src/os files that run work on it (file.c).
 */
#ifndef CORIO_OS_POOL_H
#define CORIO_OS_POOL_H

#include "core/internal.h"

enum { CORIO__LANE_FAST = 0, CORIO__LANE_SLOW = 1, CORIO__LANES = 2 };

/* Where a job is, from the pool's point of view. Guarded by pool->lock. */
enum {
    CORIO__JOB_OVERFLOW = 1, /* on pool->overflow: the queue was full */
    CORIO__JOB_QUEUED,       /* on a lane queue, waiting for a worker */
    CORIO__JOB_RUNNING,      /* a worker is running fn */
    CORIO__JOB_FINISHED,     /* fn returned (or the job was failed by
                                shutdown); the done note is posted */
    CORIO__JOB_REMOVED       /* taken off a queue by its loop: never ran */
};

/* One submission. Allocated by corio_work_submit() on the submitting loop's
 * thread; freed on that thread once (a) the handle was consumed by
 * corio_work_await() or abandoned, (b) the job can no longer run, and (c)
 * no note about it is still on its way to the loop. A worker touches it
 * only between taking it off a queue and posting its done note. */
struct corio_work {
    corio__list node;          /* lane queue / overflow link (pool lock) */
    corio__callback note_admit; /* posted when moved overflow -> queue */
    corio__callback note_done;  /* posted when fn returned */
    corio_pool *pool;
    corio_loop *loop;          /* the submitting loop; notes go there */
    corio_task *waiter;        /* task parked on it (loop thread), or NULL */
    corio_fn fn;
    void *arg;
    void *result;              /* fn's return value (worker, before note) */
    void (*discard)(void *result, void *arg);
    void *discard_arg;
    int status;                /* 0 ran; -ECANCELED / CORIO_ESHUTDOWN never ran */
    int phase;                 /* CORIO__JOB_* (pool lock) */
    int notes;                 /* notes posted, not yet run (pool lock) */
    int spinwait;              /* the awaiter polls `fin` on the loop thread:
                                  finish without posting a note (pool lock) */
    atomic_int fin;            /* set (release) once result is written */
    uint8_t lane;
    /* Loop-thread only. */
    uint8_t over;              /* final: result known, keepalive released */
    uint8_t released;          /* handle consumed or abandoned */
    uint8_t in_submit;         /* waiter is parked in submit (overflow) */
    uint8_t delivered;         /* an awaiter received the outcome */
};

/* The pool. Allocated by corio_pool_create() (or lazily, the default
 * pool); freed by corio_pool_destroy(). */
struct corio_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* idle workers sleep on it */
    pthread_cond_t exit_cond;   /* destroy waits for workers to leave */
    corio__list lane[CORIO__LANES]; /* queued jobs, FIFO per lane */
    corio__list overflow;       /* jobs waiting for queue space */
    size_t nqueued;             /* jobs on the lane queues */
    size_t limit;               /* queue_limit */
    unsigned max_threads, slow_max;
    unsigned nthreads;          /* started and not exited */
    unsigned nidle;             /* sleeping on cond */
    unsigned nspinning;         /* idle but spinning before sleeping */
    unsigned nbusy;             /* running a job */
    unsigned nslow;             /* running a SLOW job */
    atomic_uint hint;           /* bumped on every enqueue: spinners watch it */
    int64_t spin_ns;
    int shutdown;
    pthread_t *threads;         /* max_threads slots, nthreads_started used */
    unsigned nstarted;
    uint64_t completed;         /* jobs run to the end (stats, pool lock) */
};

#endif
