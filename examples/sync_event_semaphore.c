/*
 * Event and Semaphore: ten downloads wait for a "go" event, then at most
 * three run at once (a semaphore as a concurrency limit); a bounded
 * semaphore refuses a release that was never acquired.
 */
#include <corio.h>

#include <stdint.h>
#include <stdio.h>

static corio_event *go;
static corio_sem *slots;
static int running, peak;

static void *download(void *arg)
{
    corio_event_wait(go);
    if (corio_sem_acquire(slots) < 0)
        return NULL;
    if (++running > peak)
        peak = running;
    corio_sleep(0.01 * (1 + (intptr_t)arg % 3));
    running--;
    corio_sem_release(slots);
    return NULL;
}

static void *main_task(void *arg)
{
    corio_task *t[10];
    corio_sem *b;
    (void)arg;
    corio_event_create(&go);
    corio_sem_create(&slots, 3);
    for (intptr_t i = 0; i < 10; i++)
        t[i] = corio_spawn(download, (void *)i);
    corio_sleep(0.01);
    printf("before set: %d running\n", running);
    corio_event_set(go);
    for (int i = 0; i < 10; i++)
        corio_await(t[i], NULL);
    printf("after: at most %d ran at once (limit 3)\n", peak);

    corio_sem_create_bounded(&b, 1);
    printf("bounded release without acquire: %s\n",
           corio_strerror(corio_sem_release(b)));
    corio_sem_destroy(b);
    corio_sem_destroy(slots);
    corio_event_destroy(go);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) < 0;
}
