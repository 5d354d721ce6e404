/*
 * Every core: one loop per CPU (corio_run_multi). The main task spreads
 * CPU-bound jobs over the loops with corio_spawn_on, and a cross-loop
 * channel carries each result back as it is ready; a task group on loop 0
 * would do the same with corio_group_spawn_on. Each job reports which loop
 * ran it. Run it on a machine with several CPUs and watch top: all busy.
 */
#include <corio.h>

#include <stdint.h>
#include <stdio.h>

#define JOBS 16

static corio_xchan *results;

/* Some CPU work: xorshift32, 20 million steps (tens of milliseconds). */
static void *job(void *arg)
{
    uint32_t x = (uint32_t)(uintptr_t)arg * 0x9E3779B1u + 1;
    long k;
    for (k = 0; k < 20000000; k++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
    }
    /* Hand the result to whoever listens, on whatever loop. */
    corio_xchan_send(results, (void *)(uintptr_t)((uint64_t)corio_loop_index(NULL) << 32 | x));
    return NULL;
}

static void *main_task(void *arg)
{
    int i, per_loop[64] = {0};
    double t0 = corio_now();
    (void)arg;
    corio_xchan_create(&results, JOBS, 0);
    for (i = 0; i < JOBS; i++) /* detached: results come by channel */
        corio_spawn_on(NULL, corio_loop_pick(CORIO_PICK_ROUND_ROBIN), job,
                       (void *)(uintptr_t)i);
    for (i = 0; i < JOBS; i++) {
        void *v;
        if (corio_xchan_recv(results, &v) == 0)
            per_loop[((uint64_t)(uintptr_t)v >> 32) & 63]++;
    }
    printf("%d jobs on %u loops in %.2f s:", JOBS, corio_loop_count(), corio_now() - t0);
    for (i = 0; i < (int)corio_loop_count() && i < 64; i++)
        printf(" loop %d ran %d", i, per_loop[i]);
    printf("\n");
    corio_xchan_destroy(results);
    return NULL;
}

int main(void)
{
    /* NULL: one loop per CPU this process may use. */
    int rc = corio_run_multi(main_task, NULL, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "corio_run_multi: %s\n", corio_strerror(rc));
        return 1;
    }
    return 0;
}
