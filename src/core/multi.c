/*
 * corio_run_multi: N loops on N threads, one per core, shared-nothing.
 *
 * Every loop runs on a thread of its own (loop 0 too; the calling thread
 * only coordinates start and shutdown). Each holds one keep-alive reference
 * for the runtime, so a loop with nothing to do sleeps instead of finishing:
 * another loop may still send it work.
 *
 * Shutdown. When the main task ends, every loop is told (a message) to
 * cancel its tasks, as corio_run does on one loop; tasks spawned on a loop
 * after that are cancelled before they run. The runtime is finished when
 * every loop is passive (no live task, nothing pending but the runtime's
 * reference, blocked in its poller) and no message is in flight. Each loop
 * counts the messages it posted (`sent`) and handled (`recvd`), written by
 * that loop only. The coordinator reads every loop's (recvd, passive, sent)
 * twice; if every loop was passive both times, no counter moved in between
 * and the sums of sent and recvd are equal, then at an instant between the
 * two waves every loop was passive with no message in flight, and only a
 * message can make a passive loop active again: nothing can happen any
 * more (Mattern's four-counter method). Only then are the loops stopped,
 * joined and closed, so no loop is freed while a message to it exists.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/remote.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned cpus_allowed(cpu_set_t *set)
{
    CPU_ZERO(set);
    if (sched_getaffinity(0, sizeof *set, set) != 0)
        return 1;
    return (unsigned)CPU_COUNT(set);
}

static void pin_to(unsigned index)
{
    cpu_set_t set, one;
    unsigned n = cpus_allowed(&set), i, seen = 0, want;
    if (!n)
        return;
    want = index % n;
    for (i = 0; i < CPU_SETSIZE; i++) {
        if (!CPU_ISSET(i, &set))
            continue;
        if (seen++ == want) {
            CPU_ZERO(&one);
            CPU_SET(i, &one);
            pthread_setaffinity_np(pthread_self(), sizeof one, &one);
            return;
        }
    }
}

static int cancel_one(corio_task *t, void *arg)
{
    (void)arg;
    corio_cancel(t);
    return 0;
}

/* On each loop, once: main has ended; cancel what is left (asyncio.run). */
static void shutdown_handler(corio_loop *loop, corio__rmsg *m)
{
    (void)m;
    corio_task_foreach(loop, cancel_one, NULL);
}

/* On each loop, once, when nothing can happen any more. */
static void stop_handler(corio_loop *loop, corio__rmsg *m)
{
    (void)m;
    corio_loop_unref(loop);
    corio_loop_stop(loop);
}

/* Done-callback of the main task (loop 0): records its outcome, frees it
 * and starts the shutdown. A callback rather than a wrapper around main so
 * that a main task that never ran (no stack for it) ends the runtime too. */
static void main_done(corio_future *f, void *arg)
{
    corio__multi *rt = arg;
    corio_loop *self = corio__tls_loop;
    corio_task *t = corio__container_of(f, corio_task, fut);
    unsigned k;
    rt->status = f->status;
    rt->result = f->value;
    corio__task_free(t->loop, t);
    atomic_store(&rt->shutting_down, 1);
    for (k = 0; k < rt->n; k++) {
        rt->rem[k].shutdown_msg.fn = shutdown_handler;
        corio__remote_post(rt->rem[k].loop, &rt->rem[k].shutdown_msg, self);
    }
    pthread_mutex_lock(&rt->mu);
    rt->main_done = 1;
    pthread_cond_signal(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}

static void main_failed(corio__multi *rt, int rc)
{
    unsigned k;
    rt->status = rc;
    atomic_store(&rt->shutting_down, 1);
    for (k = 0; k < rt->n; k++) {
        rt->rem[k].shutdown_msg.fn = shutdown_handler;
        corio__remote_post(rt->rem[k].loop, &rt->rem[k].shutdown_msg,
                           rt->rem[0].loop);
    }
    pthread_mutex_lock(&rt->mu);
    rt->main_done = 1;
    pthread_cond_signal(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}

static void *loop_thread(void *arg)
{
    corio__remote *r = arg;
    corio__multi *rt = r->rt;
    corio_loop *loop = NULL;
    unsigned k;
    int ok = 1;

    if (rt->pin)
        pin_to(r->index);
    r->create_rc = corio_loop_create(&loop, rt->loop_cfg);
    if (r->create_rc == 0) {
        r->loop = loop;
        loop->remote = r;
        corio_loop_ref(loop); /* the runtime's reference */
    }
    pthread_barrier_wait(&rt->created);
    for (k = 0; k < rt->n; k++)
        if (rt->rem[k].create_rc < 0)
            ok = 0;
    if (!ok) {
        if (loop) {
            loop->remote = NULL;
            corio_loop_unref(loop);
            corio_loop_close(loop);
        }
        return NULL;
    }
    if (r->index == 0) {
        corio_task *main_task;
        corio_spawn_opts o;
        int rc;
        memset(&o, 0, sizeof o);
        o.name = "main";
        o.loop = loop;
        rc = corio_spawn_ex(&main_task, rt->main_fn, rt->main_arg, &o);
        if (rc == 0)
            rc = corio_future_add_done_callback(&main_task->fut, main_done, rt);
        if (rc < 0) {
            if (main_task) {
                corio_cancel(main_task);
                corio_detach(main_task);
            }
            main_failed(rt, rc);
        }
    }
    corio_loop_run(loop, CORIO_RUN_DEFAULT);
    /* Nobody posts to any loop any more (the coordinator saw them all
     * passive with nothing in flight), but wait until every loop has left
     * its run before any is freed: a stop message is still being handled. */
    pthread_barrier_wait(&rt->stopped);
    r->leaks = corio_loop_close(loop);
    return NULL;
}

/* One wave of the termination check: 0 unless every loop is passive. */
static int wave(corio__multi *rt, uint64_t *s, uint64_t *rv)
{
    unsigned k;
    for (k = 0; k < rt->n; k++) {
        corio__remote *r = &rt->rem[k];
        rv[k] = atomic_load(&r->recvd);
        if (!atomic_load(&r->passive))
            return 0;
        s[k] = atomic_load(&r->sent);
    }
    return 1;
}

static int terminated(corio__multi *rt, uint64_t *buf)
{
    uint64_t *s1 = buf, *r1 = buf + rt->n, *s2 = buf + 2 * rt->n,
             *r2 = buf + 3 * rt->n, ss = 0, sr = 0;
    unsigned k;
    if (!wave(rt, s1, r1) || !wave(rt, s2, r2))
        return 0;
    for (k = 0; k < rt->n; k++) {
        if (s1[k] != s2[k] || r1[k] != r2[k])
            return 0;
        ss += s1[k];
        sr += r1[k];
    }
    return ss == sr;
}

int corio_run_multi(corio_fn main_fn, void *arg, void **result,
                    const corio_multi_config *cfg)
{
    corio__multi *rt;
    corio_multi_config c;
    cpu_set_t set;
    uint64_t *buf;
    unsigned k, started = 0;
    int rc = 0, status;

    if (result)
        *result = NULL;
    if (!main_fn)
        return -EINVAL;
    if (corio_current())
        return -EPERM; /* it blocks its thread: not from inside a task */
    if (cfg)
        c = *cfg;
    else
        memset(&c, 0, sizeof c);
    if (c.loop && c.loop->stack_mode == CORIO_STACK_COMPACT)
        return -ENOTSUP; /* cross-loop waits keep nodes on task stacks */
    if (!c.threads)
        c.threads = cpus_allowed(&set);
    if (!c.threads)
        c.threads = 1;
    if (c.threads > 4096)
        return -EINVAL;
    rt = calloc(1, sizeof *rt);
    if (!rt)
        return -ENOMEM;
    rt->rem = aligned_alloc(CORIO__CACHELINE,
                            ((c.threads * sizeof *rt->rem + CORIO__CACHELINE - 1) /
                             CORIO__CACHELINE) * CORIO__CACHELINE);
    buf = malloc(4 * c.threads * sizeof *buf);
    if (!rt->rem || !buf) {
        free(rt->rem);
        free(buf);
        free(rt);
        return -ENOMEM;
    }
    memset(rt->rem, 0, c.threads * sizeof *rt->rem);
    rt->n = c.threads;
    rt->spin_ns = c.spin_us > 4000000u ? 4000000000u : c.spin_us * 1000u;
    rt->pin = c.pin;
    rt->loop_cfg = c.loop;
    rt->main_fn = main_fn;
    rt->main_arg = arg;
    atomic_init(&rt->shutting_down, 0);
    pthread_mutex_init(&rt->mu, NULL);
    pthread_cond_init(&rt->cv, NULL);
    pthread_barrier_init(&rt->created, NULL, rt->n + 1);
    pthread_barrier_init(&rt->stopped, NULL, rt->n);
    for (k = 0; k < rt->n; k++) {
        corio__remote *r = &rt->rem[k];
        atomic_init(&r->inbox, NULL);
        atomic_init(&r->sent, 0);
        atomic_init(&r->recvd, 0);
        atomic_init(&r->passive, 0);
        atomic_init(&r->load, 0);
        r->rt = rt;
        r->index = k;
    }
    for (k = 0; k < rt->n; k++) {
        rc = -pthread_create(&rt->rem[k].thread, NULL, loop_thread, &rt->rem[k]);
        if (rc < 0)
            break;
        started++;
    }
    if (started < rt->n) {
        /* The barrier would never fill: there is no portable way to free
         * the threads already waiting on it. Rare enough (thread limits) to
         * treat as fatal for the process rather than hang. */
        corio__report(NULL, "corio: corio_run_multi could not start thread %u (%d)\n",
                      started, rc);
        abort();
    }
    /* The coordinator passes the barrier too: after it, every create_rc is
     * written. If a loop could not be made, every thread ends on its own. */
    pthread_barrier_wait(&rt->created);
    rc = 0;
    for (k = 0; k < rt->n; k++)
        if (rt->rem[k].create_rc < 0)
            rc = rt->rem[k].create_rc;
    if (rc == 0) {
        pthread_mutex_lock(&rt->mu);
        while (!rt->main_done)
            pthread_cond_wait(&rt->cv, &rt->mu);
        pthread_mutex_unlock(&rt->mu);
    }
    if (rc == 0) {
        /* Shutdown: wait until nothing can happen, then stop every loop. */
        struct timespec nap = {0, 200000};
        while (!terminated(rt, buf))
            nanosleep(&nap, NULL);
        for (k = 0; k < rt->n; k++) {
            rt->rem[k].stop_msg.fn = stop_handler;
            corio__remote_post(rt->rem[k].loop, &rt->rem[k].stop_msg, NULL);
        }
    }
    for (k = 0; k < rt->n; k++)
        pthread_join(rt->rem[k].thread, NULL);
    status = rc < 0 ? rc : rt->status;
    if (rc == 0 && result)
        *result = rt->result;
    pthread_barrier_destroy(&rt->created);
    pthread_barrier_destroy(&rt->stopped);
    pthread_mutex_destroy(&rt->mu);
    pthread_cond_destroy(&rt->cv);
    free(buf);
    free(rt->rem);
    free(rt);
    return status;
}

/* ---- which loop ------------------------------------------------------------*/

int corio_loop_index(corio_loop *loop)
{
    loop = corio__loop_or_current(loop);
    if (!loop || !loop->remote)
        return -EINVAL;
    return (int)loop->remote->index;
}

unsigned corio_loop_count(void)
{
    corio_loop *l = corio__remote_self();
    return l ? l->remote->rt->n : 0;
}

corio_loop *corio_loop_get(unsigned index)
{
    corio_loop *l = corio__remote_self();
    if (!l || index >= l->remote->rt->n)
        return NULL;
    return l->remote->rt->rem[index].loop;
}

corio_loop *corio_loop_pick(int how)
{
    corio_loop *l = corio__remote_self();
    corio__multi *rt;
    unsigned k, best;
    size_t best_load;
    if (!l)
        return NULL;
    rt = l->remote->rt;
    if (how == CORIO_PICK_LEAST_BUSY) {
        /* Each loop publishes its live task count once per iteration: a
         * read of n cache lines, none of them written by us. Ties go to the
         * round-robin cursor's side, so idle loops share the work. */
        unsigned start = l->remote->rr++ % rt->n;
        best = start;
        best_load = (size_t)-1;
        for (k = 0; k < rt->n; k++) {
            unsigned i = (start + k) % rt->n;
            size_t ld = atomic_load_explicit(&rt->rem[i].load, memory_order_relaxed);
            if (ld < best_load) {
                best_load = ld;
                best = i;
            }
        }
        return rt->rem[best].loop;
    }
    /* Round-robin, with a cursor per calling loop: no shared counter. Each
     * loop starts at its own index so that several spawners spread too. */
    k = (l->remote->index + l->remote->rr++) % rt->n;
    return rt->rem[k].loop;
}
