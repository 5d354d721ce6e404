/*
 * The seeds' first example, done right: three tasks each print "start",
 * sleep one second and print "end". They sleep at the same time, so the
 * whole program takes about one second, not three.
 *
 * (The seeds call asyncio.run() once per coroutine in a loop, which runs them
 * one after another: three seconds. Spawning them all first is the point.)
 */
#include <corio.h>

#include <stdint.h>
#include <stdio.h>

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    printf("start %d\n", i);
    corio_sleep(1.0); /* suspends this task only */
    printf("end %d\n", i);
    return arg;
}

static void *main_task(void *arg)
{
    corio_task *t[3];
    double t0 = corio_now();
    int i;
    (void)arg;
    for (i = 0; i < 3; i++)
        t[i] = corio_spawn(worker, (void *)(intptr_t)i);
    for (i = 0; i < 3; i++)
        corio_await(t[i], NULL);
    printf("three 1-second sleeps took %.2f s\n", corio_now() - t0);
    return NULL;
}

int main(void)
{
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0)
        fprintf(stderr, "corio_run: %s\n", corio_strerror(rc));
    return rc < 0;
}
