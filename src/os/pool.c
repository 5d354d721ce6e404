/*
 * The thread pool: blocking work on worker threads, results back through
 * the submitting loop.
 *
 * A round trip: the task queues a job under pool->lock and parks; an idle
 * worker (spinning, or woken through the condition variable) runs it and
 * posts the job's embedded done note to the loop (corio__post_threadsafe:
 * no allocation, an eventfd write only if the loop is asleep); on the loop
 * thread the note wakes the task. Each job keeps its loop alive
 * (loop->keepalive) from submission until its final note has run, so a
 * loop never exits, or reports a deadlock, with work in flight.
 *
 * Waking an idle thread costs far more than the work in a typical round
 * trip, so a worker that runs out of work polls the queue for spin_us
 * before it sleeps, calling sched_yield() between polls: on a shared core
 * that lets the loop thread run and submit the next job, which the worker
 * then picks up without any futex traffic.
 *
 * Lanes: SLOW jobs may occupy at most slow_max threads at once; workers
 * take fast jobs first. A slow job never waits behind more than slow_max
 * slow jobs' worth of threads, and fast work always has
 * max_threads - slow_max threads it can use.
 *
 * Threads: see corio.h ("Thread pool"). Everything on a corio_work except
 * the fields marked "pool lock" is touched by the loop thread only; a
 * worker writes result before posting the done note, and the post's mutex
 * orders that write before the loop's read.
 */
#include "os/pool.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* What a task parked here waits on, for dumps and reports. */
static const corio__waitable wait_pool_slot = {"thread pool queue", CORIO_WAIT_QUEUE,
                                               NULL};
static const corio__waitable wait_pool_job = {"thread pool job", CORIO_WAIT_OTHER,
                                              NULL};

#define DEFAULT_THREADS 4
#define DEFAULT_QUEUE_LIMIT 65536
#define DEFAULT_SPIN_US 50
#define MAX_THREADS 1024

/* ---- the default pool --------------------------------------------------*/

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static corio_pool *default_pool;
static corio_pool_config default_cfg;
static int default_cfg_set;

int corio_pool_default_config(const corio_pool_config *cfg)
{
    int rc = 0;
    pthread_mutex_lock(&default_lock);
    if (default_pool)
        rc = -EBUSY;
    else if (cfg) {
        default_cfg = *cfg;
        default_cfg_set = 1;
    } else {
        default_cfg_set = 0;
    }
    pthread_mutex_unlock(&default_lock);
    return rc;
}

corio_pool *corio_pool_default(void)
{
    corio_pool *p;
    pthread_mutex_lock(&default_lock);
    if (!default_pool)
        corio_pool_create(&default_pool, default_cfg_set ? &default_cfg : NULL);
    p = default_pool;
    pthread_mutex_unlock(&default_lock);
    return p;
}

static void pool_free(corio_pool *p);

/* At exit, let idle default-pool threads leave and free the pool, so leak
 * checkers see a clean process. A worker still inside a job cannot be
 * stopped; then the pool is left as it is (the process is ending). */
__attribute__((destructor)) static void default_pool_fini(void)
{
    corio_pool *p;
    unsigned i;
    pthread_mutex_lock(&default_lock);
    p = default_pool;
    pthread_mutex_unlock(&default_lock);
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->nbusy || p->nqueued || !corio__list_empty(&p->overflow)) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->shutdown = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < p->nstarted; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_lock(&default_lock);
    default_pool = NULL;
    pthread_mutex_unlock(&default_lock);
    pool_free(p);
}

/* A forked child has none of the parent's worker threads: forget the
 * default pool there (leaking it) so the child gets a fresh one. */
static void atfork_child(void)
{
    pthread_mutex_init(&default_lock, NULL);
    default_pool = NULL;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void atfork_install(void) { pthread_atfork(NULL, NULL, atfork_child); }

/* ---- create / destroy ----------------------------------------------------*/

int corio_pool_create(corio_pool **pp, const corio_pool_config *cfg)
{
    corio_pool_config c;
    corio_pool *p;
    int i;

    *pp = NULL;
    pthread_once(&atfork_once, atfork_install);
    if (cfg)
        c = *cfg;
    else
        memset(&c, 0, sizeof c);
    if (!c.threads) {
        const char *e = getenv("CORIO_POOL_THREADS");
        long v = e ? strtol(e, NULL, 10) : 0;
        c.threads = v > 0 && v <= MAX_THREADS ? (unsigned)v : DEFAULT_THREADS;
    }
    if (!c.spin_us) {
        const char *e = getenv("CORIO_POOL_SPIN_US");
        if (e && *e)
            c.spin_us = (int)strtol(e, NULL, 10);
    }
    if (c.threads > MAX_THREADS || c.slow_threads > c.threads || c.spin_us < -1)
        return -EINVAL;
    if (!c.slow_threads)
        c.slow_threads = c.threads / 2 ? c.threads / 2 : 1;
    if (!c.queue_limit)
        c.queue_limit = DEFAULT_QUEUE_LIMIT;
    p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->threads = calloc(c.threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return -ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    pthread_cond_init(&p->exit_cond, NULL);
    for (i = 0; i < CORIO__LANES; i++)
        corio__list_init(&p->lane[i]);
    corio__list_init(&p->overflow);
    p->limit = c.queue_limit;
    p->max_threads = c.threads;
    p->slow_max = c.slow_threads;
    p->spin_ns = c.spin_us < 0 ? 0 : (int64_t)(c.spin_us ? c.spin_us : DEFAULT_SPIN_US) * 1000;
    atomic_init(&p->hint, 0);
    *pp = p;
    return 0;
}

static void pool_free(corio_pool *p)
{
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    pthread_cond_destroy(&p->exit_cond);
    free(p->threads);
    free(p);
}

/* Fails every job still waiting (queue and overflow) with CORIO_ESHUTDOWN.
 * Pool lock held. Posts their done notes. */
static void fail_waiting(corio_pool *p)
{
    corio__list *lists[CORIO__LANES + 1];
    int i;
    lists[0] = &p->lane[0];
    lists[1] = &p->lane[1];
    lists[2] = &p->overflow;
    for (i = 0; i < CORIO__LANES + 1; i++) {
        corio__list *n;
        while ((n = corio__list_pop_front(lists[i]))) {
            corio_work *w = corio__container_of(n, corio_work, node);
            if (w->phase == CORIO__JOB_QUEUED)
                p->nqueued--;
            w->phase = CORIO__JOB_FINISHED;
            w->status = CORIO_ESHUTDOWN;
            w->notes++;
            corio__post_threadsafe(w->loop, &w->note_done);
        }
    }
}

void corio_pool_shutdown(corio_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    if (!p->shutdown) {
        p->shutdown = 1;
        fail_waiting(p);
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
}

int corio_pool_destroy(corio_pool *p)
{
    unsigned i;
    if (!p)
        return 0;
    pthread_mutex_lock(&default_lock);
    i = p == default_pool;
    pthread_mutex_unlock(&default_lock);
    if (i)
        return -EINVAL;
    corio_pool_shutdown(p);
    for (i = 0; i < p->nstarted; i++)
        pthread_join(p->threads[i], NULL);
    pool_free(p);
    return 0;
}

void corio_pool_stats_get(corio_pool *p, corio_pool_stats *st)
{
    p = p ? p : corio_pool_default();
    memset(st, 0, sizeof *st);
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    st->threads = p->nthreads;
    st->busy = p->nbusy;
    st->busy_slow = p->nslow;
    st->queued = p->nqueued;
    st->completed = p->completed;
    pthread_mutex_unlock(&p->lock);
}

/* ---- workers ------------------------------------------------------------------*/

/* The next job a worker may take, or NULL. Pool lock held. */
static corio_work *pick(corio_pool *p)
{
    corio__list *n = NULL;
    if (!corio__list_empty(&p->lane[CORIO__LANE_FAST]))
        n = p->lane[CORIO__LANE_FAST].next;
    else if (p->nslow < p->slow_max && !corio__list_empty(&p->lane[CORIO__LANE_SLOW]))
        n = p->lane[CORIO__LANE_SLOW].next;
    return n ? corio__container_of(n, corio_work, node) : NULL;
}

/* A queue slot was freed: admit the oldest overflowed job into its lane
 * and tell its submitter (who is parked in corio_work_submit). */
static void admit(corio_pool *p)
{
    corio__list *n;
    corio_work *w;
    if (p->nqueued >= p->limit || !(n = corio__list_pop_front(&p->overflow)))
        return;
    w = corio__container_of(n, corio_work, node);
    w->phase = CORIO__JOB_QUEUED;
    corio__list_push_back(&p->lane[w->lane], &w->node);
    p->nqueued++;
    w->notes++;
    atomic_fetch_add_explicit(&p->hint, 1, memory_order_release);
    corio__post_threadsafe(w->loop, &w->note_admit);
}

/* Polls for work for up to spin_ns without the lock; returns with the lock
 * held either way. */
static void spin(corio_pool *p)
{
    unsigned seen = atomic_load_explicit(&p->hint, memory_order_acquire);
    int64_t until;
    p->nspinning++;
    pthread_mutex_unlock(&p->lock);
    until = corio__clock_ns() + p->spin_ns;
    do {
        sched_yield();
        if (atomic_load_explicit(&p->hint, memory_order_acquire) != seen)
            break;
    } while (corio__clock_ns() < until);
    pthread_mutex_lock(&p->lock);
    p->nspinning--;
}

static void *worker_main(void *arg)
{
    corio_pool *p = arg;
    corio_work *w;
    int spun = 0;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        if ((w = pick(p))) {
            corio__list_remove(&w->node);
            p->nqueued--;
            w->phase = CORIO__JOB_RUNNING;
            p->nbusy++;
            if (w->lane == CORIO__LANE_SLOW)
                p->nslow++;
            if (!corio__list_empty(&p->overflow))
                admit(p);
            pthread_mutex_unlock(&p->lock);
            w->result = w->fn(w->arg);
            pthread_mutex_lock(&p->lock);
            w->phase = CORIO__JOB_FINISHED;
            p->nbusy--;
            if (w->lane == CORIO__LANE_SLOW)
                p->nslow--;
            p->completed++;
            if (w->spinwait) {
                /* The awaiter is polling for us on the loop thread: no
                 * note, no eventfd write, no loop wake-up. */
                atomic_store_explicit(&w->fin, 1, memory_order_release);
            } else {
                /* Posting under the pool lock keeps the job alive until
                 * the post is done: the loop frees it only after seeing
                 * notes == 0 under this lock. */
                w->notes++;
                atomic_store_explicit(&w->fin, 1, memory_order_release);
                corio__post_threadsafe(w->loop, &w->note_done);
            }
            spun = 0;
            continue;
        }
        if (p->shutdown)
            break;
        if (!spun && p->spin_ns > 0) {
            spin(p);
            spun = 1;
            continue;
        }
        p->nidle++;
        pthread_cond_wait(&p->cond, &p->lock);
        p->nidle--;
        spun = 0;
    }
    p->nthreads--;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts one more worker if the queued jobs outnumber the threads that
 * could take them. Pool lock held. Returns 0 or -EAGAIN (only when no
 * thread at all could be started). */
static int grow(corio_pool *p)
{
    pthread_attr_t attr;
    sigset_t all, old;
    int rc;
    if (p->nstarted >= p->max_threads || p->nqueued <= p->nidle + p->nspinning)
        return 0;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    /* Workers block every signal: a process-directed signal must reach a
     * thread that wants it (the loop's signal watchers), never a worker. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&p->threads[p->nstarted], &attr, worker_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return p->nthreads ? 0 : -EAGAIN;
    p->nstarted++;
    p->nthreads++;
    return 0;
}

/* Wakes a sleeping worker unless spinning ones will find the new job.
 * Pool lock held. */
static void poke(corio_pool *p)
{
    if (p->nidle && p->nqueued > p->nspinning)
        pthread_cond_signal(&p->cond);
}

/* ---- the loop side --------------------------------------------------------*/

static void job_free(corio_work *w)
{
    free(w);
}

/* Called on the loop thread after anything happened to w: makes it final
 * once it can no longer run and no note is on its way, wakes its awaiter,
 * and frees it once released too. */
static void settle(corio_work *w)
{
    int final;
    if (!w->over) {
        pthread_mutex_lock(&w->pool->lock);
        final = w->notes == 0 &&
                (w->phase == CORIO__JOB_FINISHED || w->phase == CORIO__JOB_REMOVED);
        pthread_mutex_unlock(&w->pool->lock);
        if (!final)
            return;
        w->over = 1;
        w->loop->keepalive--;
        /* A submitter still parked in overflow is woken too: its job was
         * failed by shutdown, and await will report that. */
        if (w->waiter)
            corio__wake(w->waiter, 0);
    }
    if (w->released) {
        /* Accepted, but nobody received the outcome: the discard callback
         * gets the result (NULL if fn never ran) and whatever arg owns. */
        if (!w->delivered && w->discard)
            w->discard(w->phase == CORIO__JOB_FINISHED && w->status == 0 ? w->result : NULL,
                       w->discard_arg);
        job_free(w);
    }
}

static void note_cb(corio_work *w)
{
    pthread_mutex_lock(&w->pool->lock);
    w->notes--;
    pthread_mutex_unlock(&w->pool->lock);
}

static void on_admit(void *arg)
{
    corio_work *w = arg;
    note_cb(w);
    if (w->waiter && w->in_submit)
        corio__wake(w->waiter, 0);
    settle(w);
}

static void on_done(void *arg)
{
    corio_work *w = arg;
    note_cb(w);
    settle(w);
}

/* Takes w off its queue if it has not started. Loop thread. Returns 1 if
 * it did. */
static int unqueue(corio_work *w, int status)
{
    corio_pool *p = w->pool;
    int removed = 0;
    pthread_mutex_lock(&p->lock);
    if (w->phase == CORIO__JOB_QUEUED || w->phase == CORIO__JOB_OVERFLOW) {
        corio__list_remove(&w->node);
        if (w->phase == CORIO__JOB_QUEUED) {
            p->nqueued--;
            if (!corio__list_empty(&p->overflow))
                admit(p);
        }
        w->phase = CORIO__JOB_REMOVED;
        w->status = status;
        removed = 1;
    }
    pthread_mutex_unlock(&p->lock);
    return removed;
}

/* Simulation (src/sim): there are no worker threads. The job runs on the
 * loop's own stack as a ready-queue callback, so it runs in the order the
 * scheduler gives it, takes no virtual time, and the run stays replayable.
 * It goes through the same phases and notes as a threaded job. */
static void sim_run_job(void *arg)
{
    corio_work *w = arg;
    w->result = w->fn(w->arg);
    pthread_mutex_lock(&w->pool->lock);
    w->phase = CORIO__JOB_FINISHED;
    w->pool->completed++;
    pthread_mutex_unlock(&w->pool->lock);
    atomic_store_explicit(&w->fin, 1, memory_order_release);
    on_done(w);
}

int corio_work_submit(corio_pool *p, corio_fn fn, void *arg,
                      const corio_work_opts *opts, corio_work **wp)
{
    corio_loop *loop = corio__tls_loop;
    corio_task *t = loop ? loop->current : NULL;
    corio_work *w;
    int rc;

    if (wp)
        *wp = NULL;
    if (!t)
        return -EPERM;
    if (!fn || !wp)
        return -EINVAL;
    if ((rc = corio__interrupted(t)))
        return rc;
    if (!p && !(p = corio_pool_default()))
        return -ENOMEM;
    w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    corio__list_init(&w->node);
    atomic_init(&w->fin, 0);
    w->note_admit.cb = on_admit;
    w->note_admit.arg = w;
    w->note_done.cb = on_done;
    w->note_done.arg = w;
    w->pool = p;
    w->loop = loop;
    w->fn = fn;
    w->arg = arg;
    if (opts) {
        w->lane = (opts->flags & CORIO_WORK_SLOW) ? CORIO__LANE_SLOW : CORIO__LANE_FAST;
        w->discard = opts->discard;
        w->discard_arg = opts->discard_arg;
    }

    pthread_mutex_lock(&p->lock);
    if (p->shutdown) {
        pthread_mutex_unlock(&p->lock);
        free(w);
        return CORIO_ESHUTDOWN;
    }
    if (CORIO__UNLIKELY(loop->sim != NULL)) {
        w->phase = CORIO__JOB_RUNNING; /* never on a queue: cannot be unqueued */
        w->notes = 1;
        pthread_mutex_unlock(&p->lock);
        rc = corio__callback_queue(loop, sim_run_job, w, 0);
        if (rc < 0) {
            free(w);
            return rc;
        }
        loop->keepalive++;
        *wp = w;
        return 0;
    }
    if (p->nqueued < p->limit && corio__list_empty(&p->overflow)) {
        w->phase = CORIO__JOB_QUEUED;
        corio__list_push_back(&p->lane[w->lane], &w->node);
        p->nqueued++;
        atomic_fetch_add_explicit(&p->hint, 1, memory_order_release);
        rc = grow(p);
        if (rc < 0) {
            corio__list_remove(&w->node);
            p->nqueued--;
            pthread_mutex_unlock(&p->lock);
            free(w);
            return rc;
        }
        poke(p);
        pthread_mutex_unlock(&p->lock);
        loop->keepalive++;
        *wp = w;
        return 0;
    }
    /* Full: wait in the overflow list until a worker admits us. */
    w->phase = CORIO__JOB_OVERFLOW;
    corio__list_push_back(&p->overflow, &w->node);
    pthread_mutex_unlock(&p->lock);
    loop->keepalive++;
    w->waiter = t;
    w->in_submit = 1;
    rc = corio__park(t, &wait_pool_slot, w);
    w->waiter = NULL;
    w->in_submit = 0;
    if (rc == 0) {
        *wp = w;
        return 0;
    }
    /* Interrupted: we must not own a job. If it was admitted meanwhile,
     * take it back off the queue, or (already running) abandon it. */
    unqueue(w, rc);
    w->released = 1;
    settle(w);
    return rc;
}

/* The loop side of spinning: when the loop has nothing else to do (no
 * ready entry, no fd waiter, nothing posted from other threads), the
 * awaiter polls for its job's end for up to spin_ns instead of parking,
 * and the worker then skips the note and the eventfd write. On one shared
 * core, sched_yield() hands the CPU straight to the worker; on several,
 * the result is seen within a microsecond. Polling stops as soon as
 * anything else arrives for the loop. Returns 1 if w finished. */
static int spin_await(corio_work *w)
{
    corio_loop *loop = w->loop;
    corio_pool *p = w->pool;
    int64_t until;
    int fin;
    if (p->spin_ns <= 0 || loop->sim || !corio__list_empty(&loop->ready) || loop->io_waiters ||
        atomic_load_explicit(&loop->ts_pending, memory_order_relaxed))
        return 0;
    pthread_mutex_lock(&p->lock);
    if (w->phase != CORIO__JOB_QUEUED && w->phase != CORIO__JOB_RUNNING) {
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    w->spinwait = 1;
    pthread_mutex_unlock(&p->lock);
    until = corio__clock_ns() + p->spin_ns;
    do {
        sched_yield();
        if (atomic_load_explicit(&w->fin, memory_order_acquire) ||
            atomic_load_explicit(&loop->ts_pending, memory_order_relaxed))
            break;
    } while (corio__clock_ns() < until);
    pthread_mutex_lock(&p->lock);
    w->spinwait = 0;
    fin = w->phase == CORIO__JOB_FINISHED;
    pthread_mutex_unlock(&p->lock);
    return fin;
}

int corio_work_await(corio_work *w, void **result)
{
    corio_loop *loop = corio__tls_loop;
    corio_task *t = loop ? loop->current : NULL;
    int rc;

    if (result)
        *result = NULL;
    if (!t)
        return -EPERM;
    if (!w)
        return -EINVAL;
    if (!w->over && !corio__interrupted(t) && spin_await(w))
        settle(w);
    if (!w->over) {
        w->waiter = t;
        rc = corio__park(t, &wait_pool_job, w);
        w->waiter = NULL;
        if (rc < 0 && !w->over) {
            unqueue(w, rc);
            w->released = 1;
            settle(w);
            return rc;
        }
    } else if ((rc = corio__interrupted(t))) {
        w->released = 1;
        settle(w);
        return rc;
    }
    rc = w->status;
    w->delivered = 1;
    if (rc == 0 && result)
        *result = w->result;
    w->released = 1;
    settle(w);
    return rc;
}

int corio_work_cancel(corio_work *w)
{
    if (!w || w->over)
        return 0;
    if (!unqueue(w, -ECANCELED))
        return 0;
    settle(w);
    return 1;
}

/* The old name (deprecated in 0.2, CHANGELOG.md): the same function, kept
 * exported for one release. */
int corio_pool_submit(corio_pool *p, corio_fn fn, void *arg,
                      const corio_work_opts *opts, corio_work **wp)
{
    return corio_work_submit(p, fn, arg, opts, wp);
}

int corio_run_in_executor(corio_pool *p, corio_fn fn, void *arg, void **result,
                          const corio_work_opts *opts)
{
    corio_work *w;
    int rc;
    if (result)
        *result = NULL;
    rc = corio_work_submit(p, fn, arg, opts, &w);
    if (rc < 0)
        return rc;
    return corio_work_await(w, result);
}

int corio_to_thread(corio_fn fn, void *arg, void **result)
{
    return corio_run_in_executor(NULL, fn, arg, result, NULL);
}
