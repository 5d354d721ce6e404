/*
 * corio-bench's OS benchmarks: offload (SPEC.md "offload"), a round trip
 * through the thread pool for blocking work, and process (not in SPEC.md;
 * compared with asyncio and Go by bench/run_process_bench.sh).
 *
 *   corio-bench offload [--k K] [--concurrency C]   (default K = 100000, C = 1)
 *   corio-bench process [--n N] [--concurrency C]   (default N = 2000, C = 100)
 *
 * C tasks each await K/C round trips of corio_to_thread(noop) one after
 * another, so C round trips are in flight. 1,000 untimed round trips at the
 * same concurrency first start the pool's threads.
 */
#include "bench.h"

#include <corio.h>

#include <stdio.h>
#include <stdlib.h>

#define OFFLOAD_WARMUP 1000

typedef struct offload_ctx {
    long k;            /* round trips in this phase */
    long c;            /* concurrency */
    long done;         /* completed round trips */
    int failed;
} offload_ctx;

static void *noop(void *arg)
{
    return arg;
}

static void *offload_one(void *arg)
{
    offload_ctx *x = arg;
    long i, n = x->k / x->c;
    for (i = 0; i < n; i++) {
        if (corio_to_thread(noop, NULL, NULL) < 0) {
            x->failed = 1;
            return NULL;
        }
        x->done++;
    }
    return NULL;
}

static double offload_phase(offload_ctx *x)
{
    corio_task **ts = calloc((size_t)x->c, sizeof *ts);
    double t0;
    long i;
    if (!ts) {
        x->failed = 1;
        return 0;
    }
    x->done = 0;
    t0 = bench_now();
    for (i = 0; i < x->c; i++)
        ts[i] = corio_spawn(offload_one, x);
    for (i = 0; i < x->c; i++)
        if (!ts[i] || corio_await(ts[i], NULL) < 0)
            x->failed = 1;
    t0 = bench_now() - t0;
    free(ts);
    return t0;
}

static void *offload_main(void *arg)
{
    offload_ctx *x = arg;
    long k = x->k;
    double elapsed;
    x->k = k < OFFLOAD_WARMUP ? k : OFFLOAD_WARMUP;
    offload_phase(x);
    x->k = k;
    elapsed = offload_phase(x);
    if (x->failed || x->done != k) {
        fprintf(stderr, "offload: %ld of %ld round trips completed\n", x->done, k);
        x->failed = 1;
        return NULL;
    }
    bench_result("offload", "k=%ld concurrency=%ld elapsed_s=%.6f ns_per_roundtrip=%.1f "
                 "ops_per_s=%.0f", k, x->c, elapsed, elapsed * 1e9 / (double)k,
                 (double)k / elapsed);
    return NULL;
}

int bench_offload(const bench_opts *o)
{
    offload_ctx x = {0};
    int rc;
    x.k = o->k > 0 ? o->k : 100000;
    x.c = o->concurrency > 0 ? o->concurrency : 1;
    if (x.k % x.c) {
        fprintf(stderr, "offload: k (%ld) must be a multiple of concurrency (%ld)\n",
                x.k, x.c);
        return BENCH_EXIT_USAGE;
    }
    rc = corio_run(offload_main, &x, NULL);
    if (rc < 0) {
        fprintf(stderr, "offload: %s\n", corio_strerror(rc));
        return BENCH_EXIT_FAIL;
    }
    return x.failed ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}

/* ---- process: spawn + wait of `true` ------------------------------------*/

typedef struct proc_ctx {
    long n, c, done;
    int failed;
} proc_ctx;

static void *proc_one(void *arg)
{
    proc_ctx *x = arg;
    const char *argv[] = {"true", NULL};
    long i, n = x->n / x->c;
    for (i = 0; i < n; i++) {
        corio_process *p;
        int st = -1;
        if (corio_process_spawn(&p, argv, NULL) < 0) {
            x->failed = 1;
            return NULL;
        }
        if (corio_process_wait(p, &st) < 0 || st != 0)
            x->failed = 1;
        corio_process_close(p);
        x->done++;
    }
    return NULL;
}

static void *proc_main(void *arg)
{
    proc_ctx *x = arg;
    corio_task **ts = calloc((size_t)x->c, sizeof *ts);
    double t0;
    long i;
    if (!ts) {
        x->failed = 1;
        return NULL;
    }
    t0 = bench_now();
    for (i = 0; i < x->c; i++)
        ts[i] = corio_spawn(proc_one, x);
    for (i = 0; i < x->c; i++)
        if (!ts[i] || corio_await(ts[i], NULL) < 0)
            x->failed = 1;
    t0 = bench_now() - t0;
    free(ts);
    if (!x->failed)
        bench_result("process", "n=%ld concurrency=%ld elapsed_s=%.6f spawns_per_s=%.0f "
                     "hwm_kb=%ld", x->n, x->c, t0, (double)x->n / t0, bench_vm_hwm_kb());
    return NULL;
}

int bench_process(const bench_opts *o)
{
    proc_ctx x = {0};
    x.n = o->n > 0 ? o->n : 2000;
    x.c = o->concurrency > 0 ? o->concurrency : 100;
    if (x.c > x.n)
        x.c = x.n;
    if (x.n % x.c) {
        fprintf(stderr, "process: n must be a multiple of concurrency\n");
        return BENCH_EXIT_USAGE;
    }
    if (corio_run(proc_main, &x, NULL) < 0 || x.failed) {
        fprintf(stderr, "process: %ld of %ld children ran\n", x.done, x.n);
        return BENCH_EXIT_FAIL;
    }
    return BENCH_EXIT_OK;
}
