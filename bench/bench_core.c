/*
 * The core-runtime benchmarks of SPEC.md: spawn, pingpong, sleepers, timers.
 *
 * Each one is written the way a corio user would write it: corio_run() runs
 * a main task, which spawns, awaits, sleeps, and arms timers through the
 * public API only. What is timed, and what is reported, follows SPEC.md
 * section 2 and the peers' own code (Tokio's main.rs is the closest model:
 * a spawned main task, handles kept in an array, awaited in order).
 *
 * Memory: every benchmark's state lives in a struct on main()'s stack or on
 * the heap, never on a task's stack, so the same code also runs in
 * CORIO_STACK_COMPACT mode (--compact), where task stacks are copied away
 * while a task sleeps.
 */
#include "bench.h"

#include <corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --compact, or CORIO_BENCH_STACK=compact in the environment: the runner
 * appends the benchmark name to an impl's command, so an impl that always
 * runs compact is given as `env CORIO_BENCH_STACK=compact corio-bench`. */
static int want_compact(const bench_opts *o)
{
    const char *e = getenv("CORIO_BENCH_STACK");
    return o->compact || (e && strcmp(e, "compact") == 0);
}

static const char *mode_name(const bench_opts *o)
{
    return want_compact(o) ? "compact" : "default";
}

/* Runs body(state) as corio's main task in the mode the flags ask for.
 * Returns corio_run_ex()'s status (0 on success). */
static int run_main(const bench_opts *o, corio_fn body, void *state)
{
    corio_loop_config cfg;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    if (want_compact(o))
        cfg.stack_mode = CORIO_STACK_COMPACT;
    rc = corio_run_ex(body, state, NULL, &cfg);
    if (rc != 0)
        fprintf(stderr, "corio-bench %s: corio_run: %s\n", o->name, corio_strerror(rc));
    return rc;
}

/* ---- spawn: create N tasks, task i returns i, await them all ----------- */

typedef struct spawn_state {
    long n;
    double elapsed;
    uint64_t checksum;
    int err;
} spawn_state;

static void *return_index(void *arg) { return arg; }

static void *spawn_main(void *arg)
{
    spawn_state *s = arg;
    corio_task **h;
    double t0;
    long i;

    t0 = bench_now();
    /* Like Tokio's Vec of JoinHandles, the handle array is part of the
     * timed work: a user needs it to await the tasks. */
    h = malloc((size_t)s->n * sizeof *h);
    if (!h) {
        s->err = 1;
        return NULL;
    }
    for (i = 0; i < s->n; i++) {
        h[i] = corio_spawn(return_index, (void *)(intptr_t)i);
        if (!h[i]) {
            fprintf(stderr, "spawn: corio_spawn failed at task %ld\n", i);
            exit(BENCH_EXIT_FAIL);
        }
    }
    for (i = 0; i < s->n; i++) {
        void *r;
        int rc = corio_await(h[i], &r);
        if (rc != 0) {
            fprintf(stderr, "spawn: task %ld: %s\n", i, corio_strerror(rc));
            exit(BENCH_EXIT_FAIL);
        }
        s->checksum += (uint64_t)(intptr_t)r;
    }
    s->elapsed = bench_now() - t0;
    free(h);
    return NULL;
}

int bench_spawn(const bench_opts *o)
{
    spawn_state s;
    memset(&s, 0, sizeof s);
    s.n = o->n ? o->n : 1000000;
    if (run_main(o, spawn_main, &s) != 0 || s.err)
        return BENCH_EXIT_FAIL;
    bench_result("spawn", "n=%ld elapsed_s=%.6f tasks_per_s=%.1f checksum=%llu "
                 "stack_mode=%s",
                 s.n, s.elapsed, (double)s.n / s.elapsed,
                 (unsigned long long)s.checksum, mode_name(o));
    return BENCH_EXIT_OK;
}

/* ---- pingpong: a token bounced through two capacity-1 channels ---------- */

typedef struct pingpong_state {
    long m;
    corio_chan *ping, *pong;
    double elapsed;
    long token; /* the last token A received; must end as m */
} pingpong_state;

static void pingpong_check(const char *what, int rc)
{
    if (rc != 0) {
        fprintf(stderr, "pingpong: %s: %s\n", what, corio_strerror(rc));
        exit(BENCH_EXIT_FAIL);
    }
}

/* Task B: receives on ping, sends token + 1 back on pong, m times. */
static void *ponger(void *arg)
{
    pingpong_state *s = arg;
    long i;
    for (i = 0; i < s->m; i++) {
        void *v;
        pingpong_check("recv ping", corio_chan_recv(s->ping, &v));
        pingpong_check("send pong", corio_chan_send(s->pong, (void *)((intptr_t)v + 1)));
    }
    return NULL;
}

/* Task A (the main task): sends the token on ping, waits for it on pong. */
static void *pingpong_main(void *arg)
{
    pingpong_state *s = arg;
    corio_task *b;
    intptr_t v = 0;
    double t0;
    long i;

    pingpong_check("chan_create", corio_chan_create(&s->ping, 1));
    pingpong_check("chan_create", corio_chan_create(&s->pong, 1));
    b = corio_spawn(ponger, s);
    if (!b)
        pingpong_check("spawn", -ENOMEM);
    corio_yield(); /* SPEC.md: time the round trips after B has started */
    t0 = bench_now();
    for (i = 0; i < s->m; i++) {
        void *r;
        pingpong_check("send ping", corio_chan_send(s->ping, (void *)v));
        pingpong_check("recv pong", corio_chan_recv(s->pong, &r));
        v = (intptr_t)r;
    }
    s->elapsed = bench_now() - t0;
    pingpong_check("await ponger", corio_await(b, NULL));
    s->token = (long)v;
    corio_chan_destroy(s->ping);
    corio_chan_destroy(s->pong);
    return NULL;
}

int bench_pingpong(const bench_opts *o)
{
    pingpong_state s;
    memset(&s, 0, sizeof s);
    s.m = o->m ? o->m : 1000000;
    if (run_main(o, pingpong_main, &s) != 0)
        return BENCH_EXIT_FAIL;
    if (s.token != s.m) {
        fprintf(stderr, "pingpong: token is %ld, expected %ld\n", s.token, s.m);
        return BENCH_EXIT_FAIL;
    }
    bench_result("pingpong", "m=%ld elapsed_s=%.6f ns_per_roundtrip=%.1f",
                 s.m, s.elapsed, s.elapsed * 1e9 / (double)s.m);
    return BENCH_EXIT_OK;
}

/* ---- sleepers: N tasks sleeping at once; time and memory --------------- */

typedef struct sleepers_state {
    long n, sleep_ms;
    double wall;
    long hwm_base, hwm_end;
} sleepers_state;

static void *sleeper(void *arg)
{
    const sleepers_state *s = arg;
    int rc = corio_sleep((double)s->sleep_ms / 1000.0);
    return rc ? corio_fail(rc) : NULL;
}

static void *sleepers_main(void *arg)
{
    sleepers_state *s = arg;
    corio_task **h;
    double t0;
    long i;

    s->hwm_base = bench_vm_hwm_kb();
    t0 = bench_now();
    h = malloc((size_t)s->n * sizeof *h);
    if (!h) {
        fprintf(stderr, "sleepers: out of memory\n");
        exit(BENCH_EXIT_FAIL);
    }
    /* The main task does not suspend while spawning, so every sleeper is
     * pending at once, as SPEC.md requires. */
    for (i = 0; i < s->n; i++) {
        h[i] = corio_spawn(sleeper, s);
        if (!h[i]) {
            fprintf(stderr, "sleepers: corio_spawn failed at task %ld\n", i);
            exit(BENCH_EXIT_FAIL);
        }
    }
    for (i = 0; i < s->n; i++) {
        int rc = corio_await(h[i], NULL);
        if (rc != 0) {
            fprintf(stderr, "sleepers: task %ld: %s\n", i, corio_strerror(rc));
            exit(BENCH_EXIT_FAIL);
        }
    }
    s->wall = bench_now() - t0;
    s->hwm_end = bench_vm_hwm_kb();
    free(h);
    return NULL;
}

int bench_sleepers(const bench_opts *o)
{
    sleepers_state s;
    memset(&s, 0, sizeof s);
    s.n = o->n ? o->n : 100000;
    s.sleep_ms = o->sleep_ms ? o->sleep_ms : 1000;
    if (run_main(o, sleepers_main, &s) != 0)
        return BENCH_EXIT_FAIL;
    bench_result("sleepers", "n=%ld sleep_ms=%ld wall_s=%.6f hwm_base_kb=%ld "
                 "hwm_end_kb=%ld bytes_per_task=%.1f stack_mode=%s",
                 s.n, s.sleep_ms, s.wall, s.hwm_base, s.hwm_end,
                 (double)(s.hwm_end - s.hwm_base) * 1024.0 / (double)s.n,
                 mode_name(o));
    return BENCH_EXIT_OK;
}

/* ---- timers: arm and cancel one timer among L live ones ----------------- */

#define LIVE_S 3600.0    /* the live timers: an hour ahead */
#define PROBE_S 60.0     /* the probe: before all of them */
#define YIELD_EVERY 1000 /* pairs between two trips through the loop */

typedef struct timers_state {
    long l, k;
    double elapsed;
    long fired;
    corio_timer probe; /* armed and stopped K times */
} timers_state;

static void timer_fired(void *arg)
{
    timers_state *s = arg;
    s->fired++;
}

static void *timers_main(void *arg)
{
    timers_state *s = arg;
    corio_timer *live;
    long i, done;
    double t0;

    /* Zeroed, though corio_timer_start() does not require it: it tells
     * an idle timer from an armed one by its fields, and garbage in them
     * is indistinguishable from an armed timer (Valgrind flags the read). */
    live = calloc((size_t)(s->l ? s->l : 1), sizeof *live);
    if (!live) {
        fprintf(stderr, "timers: out of memory\n");
        exit(BENCH_EXIT_FAIL);
    }
    for (i = 0; i < s->l; i++)
        corio_timer_start(NULL, &live[i], LIVE_S, timer_fired, s);
    t0 = bench_now();
    for (done = 0; done < s->k;) {
        long n = s->k - done < YIELD_EVERY ? s->k - done : YIELD_EVERY;
        for (i = 0; i < n; i++) {
            corio_timer_start(NULL, &s->probe, PROBE_S, timer_fired, s);
            corio_timer_stop(&s->probe);
        }
        done += n;
        corio_yield();
    }
    s->elapsed = bench_now() - t0;
    /* The live timers would keep the loop alive for an hour. */
    for (i = 0; i < s->l; i++)
        corio_timer_stop(&live[i]);
    free(live);
    return NULL;
}

int bench_timers(const bench_opts *o)
{
    timers_state s;
    memset(&s, 0, sizeof s);
    s.l = o->l_given ? o->l : 100000;
    s.k = o->k ? o->k : 1000000;
    if (run_main(o, timers_main, &s) != 0)
        return BENCH_EXIT_FAIL;
    if (s.fired != 0) {
        fprintf(stderr, "timers: %ld timers fired\n", s.fired);
        return BENCH_EXIT_FAIL;
    }
    bench_result("timers", "l=%ld k=%ld elapsed_s=%.6f ns_per_arm_cancel=%.1f",
                 s.l, s.k, s.elapsed, s.elapsed * 1e9 / (double)s.k);
    return BENCH_EXIT_OK;
}
