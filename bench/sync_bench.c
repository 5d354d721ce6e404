/*
 * sync-bench: micro-benchmarks of the concurrency toolkit (issue 3), with
 * asyncio and Go equivalents in bench/peers_sync/ (same workloads, same
 * RESULT line) and bench/run_sync_bench.sh to run them side by side.
 *
 *   sync-bench lock    [--n TASKS] [--m ROUNDS]   lock hand-off
 *   sync-bench fanin   [--n TASKS] [--m ITEMS]    N producers -> 1 queue
 *   sync-bench pingpong [--m ROUNDS]              two capacity-1 channels
 *   sync-bench ... [--compact]                    CORIO_STACK_COMPACT
 *
 * lock: N tasks (default 10) each do M (default 100000 / N) rounds of
 * acquire, yield inside the critical section, release, so every release
 * hands the lock to a waiter: ns_per_op is per hand-off.
 * fanin: N producer tasks (default 10000) each put M items (default 10)
 * into one bounded queue (maxsize 1000) that one consumer drains: ns_per_op
 * is per item, spawning included.
 * Prints one line: RESULT name=... impl=corio ... ns_per_op=...
 */
#include <corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long opt_n = -1, opt_m = -1;
static const char *impl = "corio"; /* "corio-compact" with --compact */

/* ---- lock hand-off --------------------------------------------------------*/
static corio_lock *lock;
static long lock_rounds;
static long lock_counter;

static void *lock_worker(void *arg)
{
    long i;
    (void)arg;
    for (i = 0; i < lock_rounds; i++) {
        if (corio_lock_acquire(lock))
            return corio_fail(-EIO);
        lock_counter++;
        corio_yield(); /* the others queue up behind us */
        corio_lock_release(lock);
    }
    return NULL;
}

static void *lock_main(void *arg)
{
    long n = opt_n > 0 ? opt_n : 10, i;
    long total = opt_m > 0 ? opt_m * n : 100000;
    corio_task **t = calloc((size_t)n, sizeof *t);
    int64_t t0;
    (void)arg;
    lock_rounds = total / n;
    corio_lock_create(&lock);
    t0 = corio_now_ns();
    for (i = 0; i < n; i++)
        t[i] = corio_spawn(lock_worker, NULL);
    for (i = 0; i < n; i++)
        if (corio_await(t[i], NULL) != 0)
            exit(1);
    {
        double dt = (double)(corio_now_ns() - t0);
        if (lock_counter != lock_rounds * n)
            exit(1);
        printf("RESULT name=lock impl=%s n=%ld m=%ld elapsed_s=%.6f "
               "ns_per_op=%.1f\n",
               impl, n, lock_rounds, dt / 1e9, dt / (double)lock_counter);
    }
    corio_lock_destroy(lock);
    free(t);
    return NULL;
}

/* ---- fan-in through one queue -----------------------------------------------*/
static corio_queue *queue;
static long fan_items;

static void *producer(void *arg)
{
    long i;
    (void)arg;
    for (i = 0; i < fan_items; i++)
        if (corio_queue_put(queue, (void *)(intptr_t)1))
            return corio_fail(-EIO);
    return NULL;
}

static void *fanin_main(void *arg)
{
    long n = opt_n > 0 ? opt_n : 10000, i, got = 0;
    corio_spawn_opts o;
    int64_t t0;
    void *v;
    (void)arg;
    fan_items = opt_m > 0 ? opt_m : 10;
    corio_queue_create(&queue, CORIO_QUEUE_FIFO, 1000);
    memset(&o, 0, sizeof o);
    o.flags = CORIO_SPAWN_DETACHED;
    o.stack_size = 16384; /* producers are shallow */
    t0 = corio_now_ns();
    for (i = 0; i < n; i++)
        if (corio_spawn_ex(NULL, producer, NULL, &o) < 0)
            exit(1);
    while (got < n * fan_items) {
        if (corio_queue_get(queue, &v))
            exit(1);
        got += (intptr_t)v;
    }
    {
        double dt = (double)(corio_now_ns() - t0);
        printf("RESULT name=fanin impl=%s n=%ld m=%ld elapsed_s=%.6f "
               "ns_per_op=%.1f\n",
               impl, n, fan_items, dt / 1e9, dt / (double)got);
    }
    corio_queue_destroy(queue);
    return NULL;
}

/* ---- pingpong -------------------------------------------------------------------*/
static corio_chan *ping, *pong;
static long pp_rounds;

static void *ponger(void *arg)
{
    void *v;
    long i;
    (void)arg;
    for (i = 0; i < pp_rounds; i++)
        if (corio_chan_recv(ping, &v) || corio_chan_send(pong, v))
            return corio_fail(-EIO);
    return NULL;
}

static void *pingpong_main(void *arg)
{
    corio_task *t;
    void *v = NULL;
    long i;
    int64_t t0;
    (void)arg;
    pp_rounds = opt_m > 0 ? opt_m : 1000000;
    corio_chan_create(&ping, 1);
    corio_chan_create(&pong, 1);
    t = corio_spawn(ponger, NULL);
    t0 = corio_now_ns();
    for (i = 0; i < pp_rounds; i++)
        if (corio_chan_send(ping, (char *)v + 1) || corio_chan_recv(pong, &v))
            exit(1);
    {
        double dt = (double)(corio_now_ns() - t0);
        printf("RESULT name=pingpong impl=%s m=%ld elapsed_s=%.6f "
               "ns_per_op=%.1f\n", impl, pp_rounds, dt / 1e9, dt / (double)pp_rounds);
    }
    corio_await(t, NULL);
    corio_chan_destroy(ping);
    corio_chan_destroy(pong);
    return NULL;
}

int main(int argc, char **argv)
{
    corio_loop_config cfg;
    corio_fn fn;
    int i;
    memset(&cfg, 0, sizeof cfg);
    if (argc < 2) {
        fprintf(stderr, "usage: sync-bench lock|fanin|pingpong [--n N] "
                        "[--m M] [--compact]\n");
        return 64;
    }
    if (!strcmp(argv[1], "lock"))
        fn = lock_main;
    else if (!strcmp(argv[1], "fanin"))
        fn = fanin_main;
    else if (!strcmp(argv[1], "pingpong"))
        fn = pingpong_main;
    else {
        fprintf(stderr, "sync-bench: unknown benchmark %s\n", argv[1]);
        return 64;
    }
    for (i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--compact")) {
            cfg.stack_mode = CORIO_STACK_COMPACT;
            impl = "corio-compact";
        }
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            opt_n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--m") && i + 1 < argc)
            opt_m = atol(argv[++i]);
        else {
            fprintf(stderr, "sync-bench: bad argument %s\n", argv[i]);
            return 64;
        }
    }
    return corio_run_ex(fn, NULL, NULL, &cfg) == 0 ? 0 : 1;
}
