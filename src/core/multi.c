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
 * every loop is passive (no live task, no timer, nothing pending but the
 * runtime's reference, blocked in its poller) and no message is in
 * flight. (A pending timer callback may post to another loop when it
 * fires: a loop with one is not passive.) Each loop
 * counts the messages it posted (`sent`) and handled (`recvd`), written by
 * that loop only. The coordinator reads every loop's (recvd, passive, sent)
 * twice; if every loop was passive both times, no counter moved in between
 * and the sums of sent and recvd are equal, then at an instant between the
 * two waves every loop was passive with no message in flight, and only a
 * message can make a passive loop active again: nothing can happen any
 * more (Mattern's four-counter method). Only then are the loops stopped,
 * joined and closed, so no loop is freed while a message to it exists.
 *
 * Deadlock. A blocked loop publishes STUCK instead of IDLE when it has live
 * tasks but nothing that could wake any of them except a message from
 * another loop (no timer, no fd, no pending external work besides its
 * cross-loop waits). While main runs, the coordinator runs the same two
 * waves every 50 ms; if they succeed with some loop STUCK, no loop can ever
 * send the message it waits for: each loop reports its tasks (as
 * corio_run does), everything is cancelled and corio_run_multi returns
 * -EDEADLK. Messages the coordinator posts are counted too (coord_sent).
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

/* Posts the shutdown message to every loop, once (whoever starts the
 * shutdown first: the main task's end, or the coordinator on a deadlock).
 * from: the posting loop, or NULL from the coordinator. */
static void start_shutdown(corio__multi *rt, corio_loop *from)
{
    unsigned k;
    if (atomic_exchange(&rt->shutting_down, 1))
        return;
    for (k = 0; k < rt->n; k++) {
        rt->rem[k].shutdown_msg.fn = shutdown_handler;
        corio__remote_post(rt->rem[k].loop, &rt->rem[k].shutdown_msg, from);
    }
}

static void signal_main_done(corio__multi *rt)
{
    pthread_mutex_lock(&rt->mu);
    rt->main_done = 1;
    pthread_cond_signal(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}

/* Done-callback of the main task (loop 0): records its outcome, frees it
 * and starts the shutdown. A callback rather than a wrapper around main so
 * that a main task that never ran (no stack for it) ends the runtime too. */
static void main_done(corio_future *f, void *arg)
{
    corio__multi *rt = arg;
    corio_task *t = corio__future_task(f);
    rt->status = f->status;
    rt->result = f->value;
    corio__task_free(corio__task_loop(t), t);
    start_shutdown(rt, corio__tls_loop);
    signal_main_done(rt);
}

static void main_failed(corio__multi *rt, int rc)
{
    rt->status = rc;
    start_shutdown(rt, rt->rem[0].loop);
    signal_main_done(rt);
}

/* Runtime deadlock: each loop reports its own tasks, on its own thread. */
static void report_handler(corio_loop *loop, corio__rmsg *m)
{
    (void)m;
    if (loop->nlive)
        corio__report_deadlock(loop);
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
        if (rc == 0) {
            corio_future *mf = corio_task_future(main_task); /* NULL: no memory */
            rc = mf ? corio_future_add_done_callback(mf, main_done, rt) : -ENOMEM;
        }
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

/* One wave: every loop's (recvd, passive, sent); 0 as soon as one loop is
 * not blocked. */
static int wave(corio__multi *rt, uint64_t *s, uint64_t *rv, uint64_t *p,
                uint64_t *coord)
{
    unsigned k;
    *coord = atomic_load(&rt->coord_sent);
    for (k = 0; k < rt->n; k++) {
        corio__remote *r = &rt->rem[k];
        rv[k] = atomic_load(&r->recvd);
        p[k] = (uint64_t)atomic_load(&r->passive);
        if (!p[k])
            return 0;
        s[k] = atomic_load(&r->sent);
    }
    return 1;
}

/* Two waves (module comment): 1 if, at an instant between them, every
 * loop was blocked in the state it published and no message was in
 * flight. *stuck gets whether some loop was STUCK (rather than IDLE). */
static int quiescent(corio__multi *rt, uint64_t *buf, int *stuck)
{
    uint64_t *s1 = buf, *r1 = buf + rt->n, *p1 = buf + 2 * rt->n,
             *s2 = buf + 3 * rt->n, *r2 = buf + 4 * rt->n, *p2 = buf + 5 * rt->n,
             c1, c2, ss, sr = 0;
    unsigned k;
    *stuck = 0;
    if (!wave(rt, s1, r1, p1, &c1) || !wave(rt, s2, r2, p2, &c2) || c1 != c2)
        return 0;
    ss = c1;
    for (k = 0; k < rt->n; k++) {
        if (s1[k] != s2[k] || r1[k] != r2[k] || p1[k] != p2[k])
            return 0;
        if (p1[k] == CORIO__STUCK)
            *stuck = 1;
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
    if (c.threads > 4096 || c.spin_us < -1 || c.spin_us > 1000000)
        return -EINVAL;
    rt = calloc(1, sizeof *rt);
    if (!rt)
        return -ENOMEM;
    rt->rem = aligned_alloc(CORIO__CACHELINE,
                            ((c.threads * sizeof *rt->rem + CORIO__CACHELINE - 1) /
                             CORIO__CACHELINE) * CORIO__CACHELINE);
    buf = malloc(6 * c.threads * sizeof *buf);
    if (!rt->rem || !buf) {
        free(rt->rem);
        free(buf);
        free(rt);
        return -ENOMEM;
    }
    memset(rt->rem, 0, c.threads * sizeof *rt->rem);
    rt->n = c.threads;
    rt->spin_ns = c.spin_us < 0 ? 0
                  : (int64_t)(c.spin_us ? c.spin_us : CORIO_MULTI_SPIN_US_DEFAULT) * 1000;
    rt->pin = c.pin;
    rt->loop_cfg = c.loop;
    rt->main_fn = main_fn;
    rt->main_arg = arg;
    atomic_init(&rt->shutting_down, 0);
    atomic_init(&rt->coord_sent, 0);
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
        /* While main runs, look for a runtime-wide deadlock every 50 ms:
         * every loop blocked for good, at least one with tasks that only
         * another loop could wake, and no message in flight. */
        int stuck;
        pthread_mutex_lock(&rt->mu);
        while (!rt->main_done) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&rt->cv, &rt->mu, &ts);
            if (rt->main_done || rt->deadlocked)
                continue;
            pthread_mutex_unlock(&rt->mu);
            if (quiescent(rt, buf, &stuck) && stuck) {
                /* As corio_run: report what waits on what, then cancel
                 * everything (main included) and return -EDEADLK. */
                rt->deadlocked = 1;
                for (k = 0; k < rt->n; k++) {
                    rt->rem[k].report_msg.fn = report_handler;
                    corio__remote_post(rt->rem[k].loop, &rt->rem[k].report_msg, NULL);
                }
                start_shutdown(rt, NULL);
            }
            pthread_mutex_lock(&rt->mu);
        }
        pthread_mutex_unlock(&rt->mu);
    }
    if (rc == 0) {
        /* Shutdown: wait until nothing can happen, then stop every loop. */
        /* (A loop still stuck now has tasks that ignored the cancellation
         * and wait for what no loop will send: as corio_run does, give up
         * on them; their loop's close reports them.) */
        struct timespec nap = {0, 200000};
        int stuck;
        while (!quiescent(rt, buf, &stuck))
            nanosleep(&nap, NULL);
        for (k = 0; k < rt->n; k++) {
            rt->rem[k].stop_msg.fn = stop_handler;
            corio__remote_post(rt->rem[k].loop, &rt->rem[k].stop_msg, NULL);
        }
    }
    for (k = 0; k < rt->n; k++)
        pthread_join(rt->rem[k].thread, NULL);
    status = rc < 0 ? rc : rt->deadlocked ? -EDEADLK : rt->status;
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
