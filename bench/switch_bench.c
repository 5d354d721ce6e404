/*
 * switch-bench: what one context switch costs, corio against Boost.Context
 * and swapcontext(3), side by side in one run.
 *
 *   switch-bench [--iters N] [--reps R]     (default N = 10000000, R = 5)
 *
 * Rows:
 *  - corio__ctx_switch: corio's raw switch (src/arch), no scheduler, in two
 *    shapes. "same site": two contexts run the same loop and switch to each
 *    other from the same call instruction, which is what the scheduler does
 *    (every task suspends through corio__park/suspend). "main <-> coroutine":
 *    the caller and a coroutine switch from two different call sites.
 *  - Boost.Context jump_fcontext (switch_boost.cpp), when the build found it,
 *    in the same two shapes. It saves the same registers as corio's switch.
 *    The shapes matter because corio's switch ends in `ret` and Boost's in
 *    an indirect `jmp`: `ret` is predicted by the CPU's return-stack buffer,
 *    which is right when both sides suspended at the same call site and
 *    wrong otherwise; `jmp` never touches the return-stack buffer, but
 *    leaves it unbalanced (one call without its ret per switch), so the
 *    returns that follow in a real task mispredict. Hence `ret` (see
 *    docs/benchmarks.md for the measurement).
 *  - corio tasks, corio_yield: two tasks yielding to each other through the
 *    scheduler (ready queue, budget, state, and a trip through the loop every
 *    64 switches). The difference from the raw row is scheduler overhead.
 *  - swapcontext: glibc's ucontext, which also saves and restores the signal
 *    mask with a system call each switch.
 * Each row runs R times (interleaved with the other rows); the best (lowest)
 * time is reported, since noise on a shared machine only ever adds time. A RESULT line per row follows the
 * table for scripts.
 */
#include <corio.h>

#include "arch/ctx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#ifdef CORIO_BENCH_HAVE_BOOST
/* switch_boost.cpp: ns per jump_fcontext in one run of iters round trips;
 * same_site selects the shape (see above). */
double switch_boost_fcontext_ns(long iters, int same_site);
#endif

#define STACK_BYTES (64 * 1024)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- corio__ctx_switch alone: main <-> coroutine ------------------------ */

static corio__ctx raw_main, raw_co;

static void raw_entry(void *arg)
{
    (void)arg;
    for (;;)
        corio__ctx_switch(&raw_co, &raw_main);
}

/* Each iteration is two switches: in and back out. */
static double raw_ns(long iters)
{
    void *stack = malloc(STACK_BYTES);
    double t0, dt;
    long i;
    if (!stack)
        abort();
    corio__ctx_init(&raw_co, stack, STACK_BYTES, raw_entry, NULL);
    corio__ctx_switch(&raw_main, &raw_co); /* first entry, not timed */
    t0 = now_s();
    for (i = 0; i < iters; i++)
        corio__ctx_switch(&raw_main, &raw_co);
    dt = now_s() - t0;
    free(stack); /* the coroutine is parked on it forever: just drop it */
    return dt * 1e9 / (2.0 * (double)iters);
}

/* ---- corio__ctx_switch alone: two contexts, same call site --------------- */

static struct {
    corio__ctx main, a, b;
    long iters;
} sym;

/* Both contexts run this; a starts first, so it also finishes first (b has
 * one switch left) and goes back to main; b stays parked and is dropped. */
static void sym_entry(void *arg)
{
    corio__ctx *self = arg, *other = self == &sym.a ? &sym.b : &sym.a;
    long i;
    for (i = 0; i < sym.iters; i++)
        corio__ctx_switch(self, other);
    corio__ctx_switch(self, &sym.main);
    abort();
}

static double raw_same_site_ns(long iters)
{
    char *stacks = malloc(2 * STACK_BYTES);
    double t0, dt;
    if (!stacks)
        abort();
    sym.iters = iters;
    corio__ctx_init(&sym.a, stacks, STACK_BYTES, sym_entry, &sym.a);
    corio__ctx_init(&sym.b, stacks + STACK_BYTES, STACK_BYTES, sym_entry, &sym.b);
    t0 = now_s();
    corio__ctx_switch(&sym.main, &sym.a);
    dt = now_s() - t0;
    free(stacks);
    return dt * 1e9 / (2.0 * (double)iters);
}

/* ---- two corio tasks yielding to each other ----------------------------- */

typedef struct yield_state {
    long iters;
    double elapsed;
} yield_state;

static void *yielder(void *arg)
{
    const yield_state *s = arg;
    long i;
    for (i = 0; i < s->iters; i++)
        corio_yield();
    return NULL;
}

static void *yield_main(void *arg)
{
    yield_state *s = arg;
    corio_task *a = corio_spawn(yielder, s);
    corio_task *b = corio_spawn(yielder, s);
    double t0 = now_s();
    /* Both tasks get their stacks when they first run, then every yield of
     * one resumes the other. */
    corio_await(a, NULL);
    corio_await(b, NULL);
    s->elapsed = now_s() - t0;
    return NULL;
}

static double yield_ns(long iters)
{
    yield_state s = {iters, 0};
    if (corio_run(yield_main, &s, NULL) != 0)
        abort();
    return s.elapsed * 1e9 / (2.0 * (double)iters);
}

/* ---- swapcontext --------------------------------------------------------- */

static ucontext_t uc_main, uc_co;

static void uc_entry(void)
{
    for (;;)
        swapcontext(&uc_co, &uc_main);
}

static double ucontext_ns(long iters)
{
    void *stack = malloc(STACK_BYTES);
    double t0, dt;
    long i;
    if (!stack)
        abort();
    getcontext(&uc_co);
    uc_co.uc_stack.ss_sp = stack;
    uc_co.uc_stack.ss_size = STACK_BYTES;
    uc_co.uc_link = NULL;
    makecontext(&uc_co, uc_entry, 0);
    swapcontext(&uc_main, &uc_co);
    t0 = now_s();
    for (i = 0; i < iters; i++)
        swapcontext(&uc_main, &uc_co);
    dt = now_s() - t0;
    free(stack);
    return dt * 1e9 / (2.0 * (double)iters);
}

/* ---- driver ---------------------------------------------------------------- */

#ifdef CORIO_BENCH_HAVE_BOOST
static double boost_same_site_ns(long iters) { return switch_boost_fcontext_ns(iters, 1); }
static double boost_main_co_ns(long iters) { return switch_boost_fcontext_ns(iters, 0); }
#endif

typedef struct row {
    const char *label;   /* for people */
    const char *key;     /* for the RESULT line */
    double (*fn)(long);  /* one run: ns per switch */
    const char *vs;      /* key of the Boost row of the same shape */
    double ns;           /* best run so far */
} row;

static row rows[] = {
    {"corio__ctx_switch, same site", "corio_raw_same_site", raw_same_site_ns,
     "boost_same_site", 0},
#ifdef CORIO_BENCH_HAVE_BOOST
    {"Boost jump_fcontext, same site", "boost_same_site", boost_same_site_ns,
     "boost_same_site", 0},
#endif
    {"corio__ctx_switch, main <-> coroutine", "corio_raw_main_co", raw_ns,
     "boost_main_co", 0},
#ifdef CORIO_BENCH_HAVE_BOOST
    {"Boost jump_fcontext, main <-> coroutine", "boost_main_co", boost_main_co_ns,
     "boost_main_co", 0},
#endif
    /* Tasks suspend from one call site, like the same-site shape. */
    {"corio tasks, corio_yield", "corio_yield", yield_ns, "boost_same_site", 0},
    {"swapcontext (glibc)", "swapcontext", ucontext_ns, "boost_main_co", 0},
};
#define NROWS (sizeof rows / sizeof rows[0])

static const row *find_row(const char *key)
{
    size_t i;
    for (i = 0; i < NROWS; i++)
        if (strcmp(rows[i].key, key) == 0)
            return &rows[i];
    return NULL;
}

int main(int argc, char **argv)
{
    long iters = 10000000;
    int reps = 5, i, r;
    size_t j;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
            iters = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: switch-bench [--iters N] [--reps R]\n");
            return 64;
        }
    }
    if (iters <= 0 || reps <= 0) {
        fprintf(stderr, "switch-bench: --iters and --reps must be positive\n");
        return 64;
    }

    /* Rounds outside, rows inside: a burst of load from another process
     * then hits one run of every row rather than every run of one row. */
    for (r = 0; r < reps; r++)
        for (j = 0; j < NROWS; j++) {
            double ns = rows[j].fn(iters);
            if (r == 0 || ns < rows[j].ns)
                rows[j].ns = ns;
        }

    printf("| switch | ns/switch | vs Boost, same shape |\n|---|---:|---:|\n");
    for (j = 0; j < NROWS; j++) {
        const row *b = find_row(rows[j].vs);
        if (b)
            printf("| %s | %.2f | %.2fx |\n", rows[j].label, rows[j].ns, rows[j].ns / b->ns);
        else
            printf("| %s | %.2f | n/a |\n", rows[j].label, rows[j].ns);
    }
    printf("(best of %d rounds of %ld round trips each; one switch = half a round trip)\n",
           reps, iters);
    for (j = 0; j < NROWS; j++)
        printf("RESULT name=switch impl=%s iters=%ld ns_per_switch=%.2f\n", rows[j].key,
               iters, rows[j].ns);
    fflush(stdout);
    return 0;
}
