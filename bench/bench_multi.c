/*
 * The multi-core benchmarks of SPEC.md: fanout-mc (CPU-bound tasks spread
 * over T loops) and pingpong-xcore (a token between two loops on two
 * threads over capacity-1 cross-loop channels).
 */
#include "bench.h"

#include <corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(const char *bench, const char *what, int rc)
{
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", bench, what, corio_strerror(rc));
        exit(BENCH_EXIT_FAIL);
    }
}

/* ---- fanout-mc ------------------------------------------------------------*/

typedef struct fanout_state {
    long n, iters;
    double elapsed;
    uint64_t checksum;
} fanout_state;

static long fanout_iters; /* read by every loop, written before they start */

/* SPEC.md's fanout_work: xorshift32, unsigned 32-bit wrapping arithmetic. */
static uint32_t fanout_work(uint32_t i, long iters)
{
    uint32_t x = (i + 1u) * 0x9E3779B1u;
    long k;
    for (k = 0; k < iters; k++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
    }
    return x;
}

static void *fanout_task(void *arg)
{
    return (void *)(uintptr_t)fanout_work((uint32_t)(uintptr_t)arg, fanout_iters);
}

/* The main task, on loop 0: spawns the N tasks round-robin over the loops
 * (the placement a corio user gets from corio_loop_pick), then awaits them
 * in order. */
static void *fanout_main(void *arg)
{
    fanout_state *s = arg;
    corio_xtask **h = malloc((size_t)s->n * sizeof *h);
    uint64_t sum = 0;
    double t0;
    long i;
    if (!h)
        check("fanout-mc", "malloc", -ENOMEM);
    t0 = bench_now();
    for (i = 0; i < s->n; i++)
        check("fanout-mc", "spawn_on",
              corio_spawn_on(&h[i], corio_loop_pick(CORIO_PICK_ROUND_ROBIN),
                             fanout_task, (void *)(uintptr_t)i));
    for (i = 0; i < s->n; i++) {
        void *v;
        check("fanout-mc", "await", corio_xtask_await(h[i], &v, 0));
        sum += (uint32_t)(uintptr_t)v;
    }
    s->elapsed = bench_now() - t0;
    s->checksum = sum;
    free(h);
    return NULL;
}

int bench_fanout_mc(const bench_opts *o)
{
    fanout_state s;
    corio_multi_config c;
    long work_us = o->work_us_given ? o->work_us : 20;
    memset(&s, 0, sizeof s);
    memset(&c, 0, sizeof c);
    s.n = o->n ? o->n : 100000;
    s.iters = work_us * 600;
    fanout_iters = s.iters;
    c.threads = (unsigned)o->threads; /* 0: the CPUs we may use */
    c.spin_us = (int)o->spin_us; /* 0: the runtime's default */
    check("fanout-mc", "run_multi", corio_run_multi(fanout_main, &s, NULL, &c));
    if (!c.threads) {
        /* Report the count the runtime used (SPEC.md: the runner checks it). */
        c.threads = (unsigned)bench_cpus();
    }
    bench_result("fanout-mc",
                 "n=%ld work_us=%ld iters=%ld threads=%u elapsed_s=%.6f "
                 "tasks_per_s=%.1f checksum=%llu",
                 s.n, work_us, s.iters, c.threads, s.elapsed,
                 (double)s.n / s.elapsed, (unsigned long long)s.checksum);
    return BENCH_EXIT_OK;
}

/* ---- pingpong-xcore ---------------------------------------------------------*/

typedef struct xcore_state {
    long m;
    unsigned spin_ns;
    corio_xchan *ping, *pong;
    double elapsed;
    long token;
} xcore_state;

static void *xcore_ponger(void *arg)
{
    xcore_state *s = arg;
    long i;
    /* "Started": SPEC.md times the round trips after B runs. */
    check("pingpong-xcore", "send ready", corio_xchan_send(s->pong, NULL));
    for (i = 0; i < s->m; i++) {
        void *v;
        check("pingpong-xcore", "recv ping", corio_xchan_recv(s->ping, &v));
        check("pingpong-xcore", "send pong",
              corio_xchan_send(s->pong, (void *)((intptr_t)v + 1)));
    }
    return NULL;
}

static void *xcore_main(void *arg)
{
    xcore_state *s = arg;
    corio_xtask *b;
    intptr_t v = 0;
    double t0;
    long i;
    void *r;
    check("pingpong-xcore", "xchan_create", corio_xchan_create(&s->ping, 1, s->spin_ns));
    check("pingpong-xcore", "xchan_create", corio_xchan_create(&s->pong, 1, s->spin_ns));
    check("pingpong-xcore", "spawn_on",
          corio_spawn_on(&b, corio_loop_get(1), xcore_ponger, s));
    check("pingpong-xcore", "recv ready", corio_xchan_recv(s->pong, &r));
    t0 = bench_now();
    for (i = 0; i < s->m; i++) {
        check("pingpong-xcore", "send ping", corio_xchan_send(s->ping, (void *)v));
        check("pingpong-xcore", "recv pong", corio_xchan_recv(s->pong, &r));
        v = (intptr_t)r;
    }
    s->elapsed = bench_now() - t0;
    check("pingpong-xcore", "await", corio_xtask_await(b, NULL, 0));
    s->token = (long)v;
    corio_xchan_destroy(s->ping);
    corio_xchan_destroy(s->pong);
    return NULL;
}

int bench_pingpong_xcore(const bench_opts *o)
{
    xcore_state s;
    corio_multi_config c;
    memset(&s, 0, sizeof s);
    memset(&c, 0, sizeof c);
    s.m = o->m ? o->m : 100000;
    c.threads = 2;
    c.spin_us = (int)o->spin_us; /* 0: the runtime's default, -1: none */
    s.spin_ns = o->spin_us > 0 ? (unsigned)o->spin_us * 1000u : 0;
    check("pingpong-xcore", "run_multi", corio_run_multi(xcore_main, &s, NULL, &c));
    if (s.token != s.m) {
        fprintf(stderr, "pingpong-xcore: token is %ld, expected %ld\n", s.token, s.m);
        return BENCH_EXIT_FAIL;
    }
    bench_result("pingpong-xcore", "m=%ld elapsed_s=%.6f ns_per_roundtrip=%.1f spin_us=%ld",
                 s.m, s.elapsed, s.elapsed * 1e9 / (double)s.m, o->spin_us);
    return BENCH_EXIT_OK;
}
