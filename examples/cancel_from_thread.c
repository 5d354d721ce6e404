/*
 * Cancelling a task from another thread (corio_cancel_threadsafe): a
 * watchdog thread, which knows nothing of the loop, gives a slow task half
 * a second and then cancels it. corio_cancel itself is not thread-safe: from
 * the watchdog it would be refused with -EPERM and a "corio: misuse:" line.
 *
 * The handle's lifetime is the one thing to get right: the watchdog may
 * call corio_cancel_threadsafe only while the handle is valid, i.e. before
 * the owner's corio_await frees the task. So the owner first waits for the
 * task's future (which frees nothing), then stops and joins the watchdog,
 * and only then awaits the handle.
 */
#include <corio.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct watchdog {
    corio_task *victim;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
} watchdog;

static void *slow_job(void *arg)
{
    int rc = corio_sleep(10.0); /* "work" that takes too long */
    printf("slow job: sleep returned %d (%s)\n", rc, rc ? strerror(-rc) : "done");
    return rc ? corio_fail(rc) : arg;
}

static void *watchdog_main(void *arg)
{
    watchdog *w = arg;
    struct timespec until;
    int timed_out = 0;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 500000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->stop && !timed_out)
        timed_out = pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT;
    /* Still under the lock: the owner cannot have awaited the handle yet. */
    if (!w->stop) {
        printf("watchdog: too slow, cancelling\n");
        corio_cancel_threadsafe(w->victim);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void *main_task(void *arg)
{
    static watchdog w;
    pthread_t th;
    int rc;
    (void)arg;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    w.victim = corio_spawn(slow_job, NULL);
    pthread_create(&th, NULL, watchdog_main, &w);
    /* Wait for the task's end without consuming the handle. */
    corio_future_await(corio_task_future(w.victim), NULL);
    pthread_mutex_lock(&w.mu);
    w.stop = 1;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(th, NULL); /* a blocking join, but the watchdog is done or about to be */
    rc = corio_await(w.victim, NULL);
    printf("main: the job ended with %d (%s)\n", rc, strerror(-rc));
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
