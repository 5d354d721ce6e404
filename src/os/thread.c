/*
 * Other threads: keeping a loop alive for them (ref/unref) and running a
 * task on a loop from a foreign thread (corio_run_threadsafe, asyncio's
 * run_coroutine_threadsafe).
 *
 * A corio_tfuture is the meeting point of two threads: the foreign thread
 * that waits on it and the loop thread that completes it. It carries a
 * reference for each side that still needs it (the submitter until
 * corio_tfuture_destroy, the loop until it completed it, and one per
 * in-flight cancel request); the last one to let go frees it. Its mutex
 * guards refs, done, status and result; `task` is the loop thread's alone.
 */
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

struct corio_tfuture {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* signalled when done */
    corio_loop *loop;
    corio_fn fn;
    void *arg;
    corio_task *task;       /* loop thread: the task, until it finished */
    void *result;           /* mu */
    int status;             /* mu */
    int done;               /* mu */
    int refs;               /* mu */
};

/* ---- keeping a loop alive ------------------------------------------------*/

int corio_loop_ref(corio_loop *loop)
{
    if (!loop)
        return -EINVAL;
    loop->keepalive++;
    return 0;
}

int corio_loop_unref(corio_loop *loop)
{
    if (!loop || loop->keepalive == 0)
        return -EINVAL;
    loop->keepalive--;
    return 0;
}

static void unref_cb(void *arg)
{
    corio_loop_unref(arg);
}

int corio_loop_unref_threadsafe(corio_loop *loop)
{
    if (!loop)
        return -EINVAL;
    return corio_call_soon_threadsafe(loop, unref_cb, loop);
}

/* ---- corio_run_threadsafe ---------------------------------------------------*/

static void tf_put(corio_tfuture *tf)
{
    int last;
    pthread_mutex_lock(&tf->mu);
    last = --tf->refs == 0;
    pthread_mutex_unlock(&tf->mu);
    if (last) {
        pthread_mutex_destroy(&tf->mu);
        pthread_cond_destroy(&tf->cv);
        free(tf);
    }
}

/* Loop thread: records the outcome, wakes the waiters, drops the loop's
 * reference. */
static void tf_complete(corio_tfuture *tf, int status, void *result)
{
    pthread_mutex_lock(&tf->mu);
    tf->status = status;
    tf->result = result;
    tf->done = 1;
    pthread_cond_broadcast(&tf->cv);
    pthread_mutex_unlock(&tf->mu);
    tf_put(tf);
}

static void tf_task_done(corio_future *f, void *arg)
{
    corio_tfuture *tf = arg;
    corio_task *t = tf->task;
    void *v;
    int st = corio_future_result(f, &v);
    tf->task = NULL;
    /* The task's future lives in the task: read it before letting go. */
    corio_detach(t);
    tf_complete(tf, st, v);
}

static void tf_start(void *arg)
{
    corio_tfuture *tf = arg;
    corio_spawn_opts o = {0};
    int rc;
    o.loop = tf->loop;
    rc = corio_spawn_ex(&tf->task, tf->fn, tf->arg, &o);
    if (rc == 0)
        rc = corio_future_add_done_callback(corio_task_future(tf->task),
                                            tf_task_done, tf);
    if (rc < 0) {
        if (tf->task) {
            corio_cancel(tf->task);
            corio_detach(tf->task);
            tf->task = NULL;
        }
        tf_complete(tf, rc, NULL);
    }
}

int corio_run_threadsafe(corio_loop *loop, corio_fn fn, void *arg,
                         corio_tfuture **tfp)
{
    corio_tfuture *tf;
    pthread_condattr_t ca;
    int rc;
    if (tfp)
        *tfp = NULL;
    if (!loop || !fn || !tfp)
        return -EINVAL;
    tf = calloc(1, sizeof *tf);
    if (!tf)
        return -ENOMEM;
    pthread_mutex_init(&tf->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&tf->cv, &ca);
    pthread_condattr_destroy(&ca);
    tf->loop = loop;
    tf->fn = fn;
    tf->arg = arg;
    tf->refs = 2; /* the submitter's and the loop's */
    rc = corio_call_soon_threadsafe(loop, tf_start, tf);
    if (rc < 0) {
        pthread_mutex_destroy(&tf->mu);
        pthread_cond_destroy(&tf->cv);
        free(tf);
        return rc;
    }
    *tfp = tf;
    return 0;
}

int corio_tfuture_wait(corio_tfuture *tf, double timeout, void **result)
{
    struct timespec ts;
    int rc = 0;
    if (result)
        *result = NULL;
    if (!tf)
        return -EINVAL;
    if (corio__tls_loop == tf->loop && tf->loop->running)
        return -EDEADLK;
    if (timeout >= 0 && isfinite(timeout)) {
        int64_t ns;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ns = (int64_t)ts.tv_nsec + corio__seconds_to_ns(timeout);
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
    }
    pthread_mutex_lock(&tf->mu);
    while (!tf->done && rc == 0) {
        if (timeout >= 0 && isfinite(timeout))
            rc = pthread_cond_timedwait(&tf->cv, &tf->mu, &ts);
        else
            pthread_cond_wait(&tf->cv, &tf->mu);
    }
    if (tf->done) {
        rc = tf->status;
        if (rc == 0 && result)
            *result = tf->result;
    } else {
        rc = -ETIMEDOUT;
    }
    pthread_mutex_unlock(&tf->mu);
    return rc;
}

int corio_tfuture_done(corio_tfuture *tf)
{
    int d;
    pthread_mutex_lock(&tf->mu);
    d = tf->done;
    pthread_mutex_unlock(&tf->mu);
    return d;
}

static void tf_cancel_cb(void *arg)
{
    corio_tfuture *tf = arg;
    if (tf->task)
        corio_cancel(tf->task);
    tf_put(tf);
}

int corio_tfuture_cancel(corio_tfuture *tf)
{
    int rc;
    if (!tf)
        return -EINVAL;
    pthread_mutex_lock(&tf->mu);
    if (tf->done) {
        pthread_mutex_unlock(&tf->mu);
        return 0;
    }
    tf->refs++;
    pthread_mutex_unlock(&tf->mu);
    rc = corio_call_soon_threadsafe(tf->loop, tf_cancel_cb, tf);
    if (rc < 0)
        tf_put(tf);
    return rc;
}

void corio_tfuture_destroy(corio_tfuture *tf)
{
    if (tf)
        tf_put(tf);
}
