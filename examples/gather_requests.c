/*
 * The seeds' "start all requests, then await all responses".
 *
 * The seeds show two ways to call aaa() and bbb() and get both wrong: creating
 * two coroutines and awaiting them one by one runs them one after another,
 * and so does `x1 = await aaa(); x2 = await bbb()`. What they mean is: start
 * both, so that both wait on the network at the same time, then collect both
 * answers. Here each "request" is a task that sleeps as long as a slow API
 * would take to answer.
 */
#include <corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

static void *request(void *arg)
{
    double latency = (double)(intptr_t)arg / 1000.0;
    if (corio_sleep(latency) < 0) /* the "network" */
        return corio_fail(-ECANCELED);
    return arg; /* the "response" */
}

static void *main_task(void *arg)
{
    void *r1, *r2;
    double t0;
    corio_task *a, *b;
    (void)arg;

    /* One after the other: the second request starts only when the first
     * has answered (what the seeds' code does). */
    t0 = corio_now();
    corio_await(corio_spawn(request, (void *)(intptr_t)600), &r1);
    corio_await(corio_spawn(request, (void *)(intptr_t)400), &r2);
    printf("sequential: responses %ld and %ld after %.2f s\n", (long)(intptr_t)r1,
           (long)(intptr_t)r2, corio_now() - t0);

    /* Start both, then await both: the waits overlap. */
    t0 = corio_now();
    a = corio_spawn(request, (void *)(intptr_t)600);
    b = corio_spawn(request, (void *)(intptr_t)400);
    corio_await(a, &r1);
    corio_await(b, &r2);
    printf("concurrent: responses %ld and %ld after %.2f s\n", (long)(intptr_t)r1,
           (long)(intptr_t)r2, corio_now() - t0);

    /* With a deadline: a request slower than 0.5 s is cancelled. */
    t0 = corio_now();
    {
        int rc = corio_wait_for(corio_spawn(request, (void *)(intptr_t)900), 0.5, &r1);
        printf("with a 0.5 s timeout: %s after %.2f s\n",
               rc == 0 ? "answered" : corio_strerror(rc), corio_now() - t0);
    }
    return NULL;
}

int main(void)
{
    int rc = corio_run(main_task, NULL, NULL);
    if (rc < 0)
        fprintf(stderr, "corio_run: %s\n", corio_strerror(rc));
    return rc < 0;
}
