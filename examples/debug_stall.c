/*
 * debug_stall: a task that hogs the loop is caught in the act. One task
 * checks primes in a tight loop without ever suspending; a heartbeat task
 * that should tick every 10 ms cannot run meanwhile. The stall detector
 * (threshold 50 ms) names the hog and shows where it is, while it runs.
 *
 *   ./debug_stall                       enabled by the call below
 *   CORIO_STALL_MS=20 ./your_program    the same for any program
 */
#include <corio.h>

#include <stdio.h>

#define NOINLINE __attribute__((noinline))

NOINLINE static int is_prime(unsigned long n)
{
    unsigned long d;
    for (d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return n > 1;
}

NOINLINE static unsigned long count_primes(unsigned long below)
{
    unsigned long n, c = 0;
    for (n = 2; n < below; n++)
        c += (unsigned long)is_prime(n);
    return c;
}

static void *crunch(void *arg)
{
    unsigned long c = count_primes(3000000); /* ~0.3-1 s of CPU */
    (void)arg;
    printf("%lu primes\n", c);
    return NULL;
}

static void *heartbeat(void *arg)
{
    int i;
    (void)arg;
    for (i = 0; i < 5; i++) {
        double t0 = corio_now();
        if (corio_sleep(0.01) < 0)
            break;
        printf("heartbeat %d: %.0f ms late\n", i, (corio_now() - t0 - 0.01) * 1e3);
    }
    return NULL;
}

static void *main_task(void *arg)
{
    corio_spawn_opts o = {0};
    corio_task *hb, *cr;
    (void)arg;
    corio_debug_stall_detector(NULL, 0.05);
    hb = corio_spawn(heartbeat, NULL);
    o.name = "prime-cruncher";
    corio_spawn_ex(&cr, crunch, NULL, &o);
    corio_await(cr, NULL);
    corio_await(hb, NULL);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return corio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
