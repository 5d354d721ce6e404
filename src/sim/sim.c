/*
 * Deterministic simulation (include/corio_sim.h): a loop whose clock is
 * virtual, whose unordered choices come from a seed, and whose iterations
 * are hashed into a trace.
 *
 * The core knows a simulation by corio__tls_sim_clock (corio__clock_ns in
 * timer.c returns *it: the virtual clock) and by loop->sim != NULL:
 * corio_loop_run (loop.c) calls corio__sim_iteration at the start of an
 * iteration, corio__sim_idle (in wait_for_work) instead of blocking in the
 * poller, corio__sim_poll instead of the non-blocking poll, and
 * corio__sim_dispatch before dispatching; corio_work_submit (os/pool.c)
 * runs jobs as ready-queue callbacks instead of on worker threads.
 *
 * Seeded order. The ready queue before a dispatch is made of segments, each
 * in an order corio promises: [what was ready at the start of the
 * iteration: tasks woken by tasks, call_soon callbacks, FIFO] [what real
 * fds made ready] [what timers and cross-thread posts made ready, timers in
 * deadline order]. corio promises no order *between* segments, so the seed
 * riffles them: a uniformly random interleaving that keeps each segment's
 * own order. Inside the fd segment nothing is promised either (readiness
 * events of one poll come in the kernel's order), so the seed permutes it.
 * The ready queue is otherwise FIFO by promise (spawn, call_soon, wakes), so
 * a program that only sleeps gives the seed little to choose: the choices
 * come from I/O (and, with the simulated network, from delivery).
 *
 * Allocation: corio_sim_run allocates the corio__sim and frees it after the
 * loop is closed.
 */
#include <corio_sim.h>

#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIM_EPOCH_NS (1000LL * 1000000000LL) /* virtual time starts at 1000 s */
#define SIM_DAY_NS (86400LL * 1000000000LL)

struct corio__sim {
    int64_t now;            /* virtual ns (corio__tls_sim_clock points here) */
    int64_t limit;          /* virtual ns after which the run fails */
    uint64_t seed;
    uint64_t rng_sched;     /* the scheduler's stream */
    uint64_t rng_user;      /* corio_sim_random's stream */
    uint64_t hash;
    size_t mark_old;        /* ready entries at the start of the iteration */
    size_t io_lo, io_hi;    /* what the fd poll made ready: [io_lo, io_hi) */
    int io_marked;
    /* Task ids are process-wide (other threads' loops take ids too), so
     * the trace numbers tasks itself, in the order it first sees them. */
    uint64_t *id_keys;
    uint32_t *id_vals;
    size_t id_cap, id_n;
    int timed_out;
    int crashed;            /* corio_sim_crash: stop stepping, close */
    int64_t start;          /* virtual ns the run started at */
    unsigned flags;
    corio__list **buf;      /* scratch for reordering */
    size_t buf_cap;
    FILE *trace;            /* CORIO_SIM_TRACE=1: one line per iteration */
    corio_sim_stats st;
};

/* splitmix64: small, fast, and every seed (0 too) gives a good stream. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* In [0, n) (n > 0); the modulo bias is negligible for the small n here. */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

static void mix(struct corio__sim *s, uint64_t v)
{
    uint64_t h = s->hash ^ v;
    h *= 0x9E3779B97F4A7C15ULL;
    s->hash = h ^ (h >> 29);
}

/* The simulation's own number for task id `id` (1, 2, ... in the order of
 * first sight, which is deterministic); 0 if out of memory. */
static uint64_t task_number(struct corio__sim *s, uint64_t id)
{
    size_t i;
    if (2 * (s->id_n + 1) > s->id_cap) {
        size_t cap = s->id_cap ? 2 * s->id_cap : 256, j;
        uint64_t *k = calloc(cap, sizeof *k);
        uint32_t *v = calloc(cap, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return 0;
        }
        for (j = 0; j < s->id_cap; j++) {
            if (!s->id_keys[j])
                continue;
            for (i = (size_t)((s->id_keys[j] * 0x9E3779B97F4A7C15ULL) & (cap - 1)); k[i];
                 i = (i + 1) & (cap - 1))
                ;
            k[i] = s->id_keys[j];
            v[i] = s->id_vals[j];
        }
        free(s->id_keys);
        free(s->id_vals);
        s->id_keys = k;
        s->id_vals = v;
        s->id_cap = cap;
    }
    for (i = (size_t)((id * 0x9E3779B97F4A7C15ULL) & (s->id_cap - 1)); s->id_keys[i];
         i = (i + 1) & (s->id_cap - 1))
        if (s->id_keys[i] == id)
            return s->id_vals[i];
    s->id_keys[i] = id;
    s->id_vals[i] = (uint32_t)++s->id_n;
    return s->id_n;
}

static size_t ready_len(const corio_loop *loop)
{
    size_t n = 0;
    const corio__list *p;
    for (p = loop->ready.next; p != &loop->ready; p = p->next)
        n++;
    return n;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* not corio__clock_ns: real time */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- hooks called by the loop ---------------------------------------------*/

void corio__sim_iteration(corio_loop *loop)
{
    struct corio__sim *s = loop->sim;
    s->mark_old = ready_len(loop);
    s->io_marked = 0;
}

int corio__sim_idle(corio_loop *loop, int64_t next_ns)
{
    struct corio__sim *s = loop->sim;
    int rc;
    /* Real fds first, without blocking: what they made ready is a segment
     * of its own. */
    s->io_lo = ready_len(loop);
    rc = loop->pops->wait(loop->poller, 0);
    s->io_hi = ready_len(loop);
    s->io_marked = 1;
    if (rc != 0 || !corio__list_empty(&loop->ready) || atomic_load(&loop->ts_pending))
        return rc;
    if (next_ns >= 0) {
        if (next_ns > s->limit - s->now) {
            /* The next event lies past the bound: the run hangs (in virtual
             * time). Stop it; corio_sim_run fails it with -ETIMEDOUT. */
            s->timed_out = 1;
            s->now = s->limit;
            corio_loop_stop(loop);
            return 0;
        }
        s->now += next_ns;
        s->st.time_jumps += next_ns > 0;
        return 0;
    }
    /* No timer: only a real fd or another thread can wake anything. That
     * is outside the simulation's control (and its determinism); block on
     * it as a normal loop would. */
    s->st.real_waits++;
    atomic_store(&loop->sleeping, 1);
    rc = atomic_load(&loop->ts_pending) ? 0 : loop->pops->wait(loop->poller, -1);
    atomic_store(&loop->sleeping, 0);
    return rc;
}

void corio__sim_poll(corio_loop *loop)
{
    struct corio__sim *s = loop->sim;
    s->io_lo = ready_len(loop);
    loop->pops->wait(loop->poller, 0);
    s->io_hi = ready_len(loop);
    s->io_marked = 1;
}

static int grow_buf(struct corio__sim *s, size_t n)
{
    corio__list **b;
    size_t cap;
    if (n <= s->buf_cap)
        return 0;
    cap = s->buf_cap ? s->buf_cap : 64;
    while (cap < n)
        cap *= 2;
    b = realloc(s->buf, cap * sizeof *b);
    if (!b)
        return -ENOMEM;
    s->buf = b;
    s->buf_cap = cap;
    return 0;
}

/* Riffles three segments of the ready queue (n entries): what was ready
 * at the start of the iteration [0, old), what the fd poll made ready
 * [lo, hi) (permuted first), and the rest (timers, cross-thread posts). */
static void reorder(corio_loop *loop, struct corio__sim *s, size_t n, size_t old,
                    size_t lo, size_t hi)
{
    corio__list **in, **out, *p;
    size_t at[3], left[3], i, k, m = 0;
    int changed = 0;
    if (grow_buf(s, 2 * n) < 0)
        return; /* out of memory: FIFO this time (still deterministic) */
    in = s->buf;
    out = s->buf + n;
    /* Gather: leftover, then fd, then the rest, each in queue order. */
    for (i = 0, p = loop->ready.next; i < n; i++, p = p->next)
        out[i] = p;
    for (i = 0; i < old; i++)
        in[m++] = out[i];
    for (i = lo; i < hi; i++)
        in[m++] = out[i];
    for (i = old; i < n; i++)
        if (i < lo || i >= hi)
            in[m++] = out[i];
    at[0] = 0, left[0] = old;
    at[1] = old, left[1] = hi - lo;
    at[2] = old + (hi - lo), left[2] = n - old - (hi - lo);
    /* Readiness events of one poll round come in no promised order: the
     * seed permutes what they made ready (Fisher-Yates). */
    for (i = left[1]; i > 1; i--) {
        size_t j = (size_t)rng_below(&s->rng_sched, i);
        corio__list *x = in[at[1] + i - 1];
        in[at[1] + i - 1] = in[at[1] + j];
        in[at[1] + j] = x;
    }
    for (i = 0; i < n; i++) {
        /* Each step takes the next entry of a segment chosen with
         * probability proportional to what it has left: every interleaving
         * is equally likely. */
        uint64_t r = rng_below(&s->rng_sched, n - i);
        k = r < left[0] ? 0 : r < left[0] + left[1] ? 1 : 2;
        p = in[at[k]++];
        left[k]--;
        if (p != out[i])
            changed = 1;
        out[i] = p;
    }
    if (!changed)
        return;
    s->st.reorders++;
    corio__list_init(&loop->ready);
    for (i = 0; i < n; i++)
        corio__list_push_back(&loop->ready, out[i]);
}

void corio__sim_dispatch(corio_loop *loop)
{
    struct corio__sim *s = loop->sim;
    size_t n = ready_len(loop), old, lo, hi;
    corio__list *p;

    old = s->mark_old < n ? s->mark_old : n;
    lo = hi = old;
    if (s->io_marked) {
        hi = s->io_hi < n ? s->io_hi : n;
        lo = s->io_lo < old ? old : s->io_lo > hi ? hi : s->io_lo;
    }
    if (!(s->flags & CORIO_SIM_FIFO) && n > 1 &&
        (hi - lo > 1 || (old > 0) + (hi > lo) + (n - old > hi - lo) > 1))
        reorder(loop, s, n, old, lo, hi);
    /* The trace: when, how much is alive, and who runs in which order.
     * Callbacks are hashed by kind only (their addresses vary by run). */
    mix(s, (uint64_t)s->now);
    mix(s, loop->n_spawned);
    mix(s, loop->nlive);
    for (p = loop->ready.next; p != &loop->ready; p = p->next) {
        corio__runnable *r = (corio__runnable *)p;
        if (r->kind == CORIO__RUN_TASK)
            mix(s, task_number(s, ((corio_task *)r)->id));
        else
            mix(s, 0xCA11BAC000000000ULL | r->kind);
    }
    if (s->trace)
        fprintf(s->trace, "sim %llu: iter %llu t=%.9f ready=%zu hash=%016llx\n",
                (unsigned long long)s->seed, (unsigned long long)loop->n_iterations,
                (double)(s->now - s->start) / 1e9, n, (unsigned long long)s->hash);
}

/* ---- running --------------------------------------------------------------*/

static int cancel_one(corio_task *t, void *arg)
{
    (void)arg;
    corio_cancel(t);
    return 0;
}

static int env_flag(const char *name)
{
    const char *e = getenv(name);
    return e && *e && *e != '0';
}

int corio_sim_run(uint64_t seed, corio_fn main_fn, void *arg, void **result,
                  const corio_sim_config *cfg, corio_sim_stats *stats)
{
    corio_loop *loop, *prev;
    corio_task *main_task;
    corio_spawn_opts o;
    struct corio__sim *s;
    corio_sim_config c;
    corio_loop_config lc;
    double t0 = wall_seconds();
    int64_t extra;
    int rc, status, deadlocked, hung;

    if (result)
        *result = NULL;
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!main_fn)
        return -EINVAL;
    if (corio__tls_loop && corio__tls_loop->running)
        return -EBUSY;
    if (cfg)
        c = *cfg;
    else
        memset(&c, 0, sizeof c);
    s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->seed = seed;
    s->rng_sched = seed ^ 0x5CEDu;
    s->rng_user = seed ^ 0x05E7u;
    s->hash = 0xcbf29ce484222325ULL ^ seed;
    s->flags = c.flags;
    s->now = c.start_time > 0 ? corio__seconds_to_ns(c.start_time) : SIM_EPOCH_NS;
    s->start = s->now;
    extra = c.time_limit > 0 ? corio__seconds_to_ns(c.time_limit) : SIM_DAY_NS;
    s->limit = extra > CORIO__NEVER - s->now ? CORIO__NEVER : s->now + extra;
    s->trace = env_flag("CORIO_SIM_TRACE") ? stderr : NULL;
    s->st.seed = seed;

    /* A readiness backend: io_uring completes socket and file operations on
     * the kernel's time, which the virtual clock would overtake (a file
     * read would lose a race against a timeout that is virtual). epoll
     * unless poll is asked for by name; $CORIO_BACKEND is not consulted. */
    if (c.loop)
        lc = *c.loop;
    else
        memset(&lc, 0, sizeof lc);
    if (lc.backend != CORIO_BACKEND_POLL)
        lc.backend = CORIO_BACKEND_EPOLL;
    prev = corio__tls_loop; /* current again when the simulation is over */
    rc = corio_loop_create(&loop, &lc);
    if (rc < 0) {
        free(s);
        return rc;
    }
    /* The loop was made on the real clock; nothing is armed yet, so its
     * wheel restarts at the virtual epoch. */
    loop->sim = s;
    corio__tls_sim_clock = &s->now;
    loop->now_ns = s->now;
    corio__wheel_init(&loop->wheel, s->now);

    memset(&o, 0, sizeof o);
    o.name = "main";
    o.loop = loop;
    rc = corio_spawn_ex(&main_task, main_fn, arg, &o);
    if (rc < 0) {
        corio_loop_close(loop);
        corio__tls_sim_clock = NULL;
        corio__tls_loop = prev;
        free(s);
        return rc;
    }
    main_task->flags |= CORIO__TF_ROOT;
    /* As corio_run_ex. */
    {
        corio_future *f = corio_task_future(main_task);
        status = f ? corio_loop_run_until(loop, f) : -ENOMEM;
    }
    if (s->crashed)
        goto crashed;
    hung = s->timed_out;
    deadlocked = status == -EDEADLK && main_task->state != CORIO_TASK_DONE;
    if (deadlocked)
        corio__report_deadlock(loop);
    if (main_task->state != CORIO_TASK_DONE)
        corio_cancel(main_task);
    corio_task_foreach(loop, cancel_one, NULL);
    /* The cancelled tasks may take virtual time to finish (a shielded
     * cleanup sleeping): they get as long again as the run had, then are
     * left (and reported as leaks by the loop's close). */
    s->timed_out = 0;
    extra = s->limit - s->start;
    s->limit = extra > CORIO__NEVER - s->limit ? CORIO__NEVER : s->limit + extra;
    while ((loop->nlive > 0 || loop->keepalive > 0) && !s->timed_out && !s->crashed &&
           corio_loop_run(loop, CORIO_RUN_ONCE) >= 0)
        ;
    if (s->crashed) {
        /* A crash: no task runs again, nothing is cancelled or unwound;
         * closing the loop frees the tasks and their stacks as they are. */
        static __thread FILE *quiet; /* kept open for the thread's life */
    crashed:
        s->st.iterations = loop->n_iterations;
        status = CORIO_SIM_CRASHED;
        /* Every live task is "leaked" by a crash, on purpose: no report. */
        if (!quiet)
            quiet = fopen("/dev/null", "w");
        if (quiet)
            loop->report = quiet;
        goto closed;
    }
    if (main_task->state == CORIO_TASK_DONE) {
        if (!hung)
            status = corio__task_status(main_task);
        if (result)
            *result = main_task->value;
        corio__task_free(loop, main_task);
    } else if (status >= 0) {
        status = -EDEADLK;
    }
    if (deadlocked)
        status = -EDEADLK;
    if (hung)
        status = -ETIMEDOUT; /* whatever main returned once cancelled */
    s->st.iterations = loop->n_iterations;
closed:
    corio__simnet_end(); /* its wires are registered with the loop */
    corio_loop_close(loop);
    corio__tls_sim_clock = NULL;
    corio__tls_loop = prev;

    mix(s, (uint64_t)(int64_t)status);
    mix(s, (uint64_t)s->now);
    s->st.trace_hash = s->hash;
    s->st.virtual_seconds = (double)(s->now - s->start) / 1e9;
    s->st.end_time = (double)s->now / 1e9;
    s->st.real_seconds = wall_seconds() - t0;
    if (stats)
        *stats = s->st;
    free(s->buf);
    free(s->id_keys);
    free(s->id_vals);
    free(s);
    return status;
}

/* ---- check mode and many seeds --------------------------------------------*/

static FILE *report_of(const corio_sim_config *cfg)
{
    return cfg && cfg->report_file ? (FILE *)cfg->report_file : stderr;
}

/* Prints "CORIO_SIM_SEED=<seed> <argv...>", shell-quoted, from
 * /proc/self/cmdline (the program name alone where that is unreadable). */
static void print_replay(FILE *f, uint64_t seed)
{
    char buf[4096];
    size_t n = 0, i;
    FILE *c = fopen("/proc/self/cmdline", "rb");
    if (c) {
        n = fread(buf, 1, sizeof buf - 1, c);
        fclose(c);
    }
    fprintf(f, "  replay: CORIO_SIM_SEED=%llu", (unsigned long long)seed);
    for (i = 0; i < n;) {
        const char *a = buf + i;
        size_t len = strnlen(a, n - i), k;
        fputs(" '", f);
        for (k = 0; k < len; k++) {
            if (a[k] == '\'')
                fputs("'\\''", f);
            else
                fputc(a[k], f);
        }
        fputc('\'', f);
        i += len + 1;
    }
    fputc('\n', f);
    fflush(f);
}

int corio_sim_check(uint64_t seed, corio_fn main_fn, void *arg,
                    const corio_sim_config *cfg, corio_sim_stats *stats)
{
    corio_sim_stats a, b;
    int ra, rb;
    ra = corio_sim_run(seed, main_fn, arg, NULL, cfg, &a);
    rb = corio_sim_run(seed, main_fn, arg, NULL, cfg, &b);
    if (stats) {
        *stats = a;
        stats->real_seconds += b.real_seconds;
    }
    if (ra == -EBUSY || ra == -EINVAL)
        return ra;
    if (ra != rb || a.trace_hash != b.trace_hash) {
        FILE *f = report_of(cfg);
        fprintf(f, "corio_sim: seed %llu is not deterministic: status %d then %d, "
                   "trace %016llx then %016llx (iterations %llu, %llu)\n",
                (unsigned long long)seed, ra, rb, (unsigned long long)a.trace_hash,
                (unsigned long long)b.trace_hash, (unsigned long long)a.iterations,
                (unsigned long long)b.iterations);
        fprintf(f, "  (CORIO_SIM_TRACE=1 prints each iteration's hash: diff two runs)\n");
        print_replay(f, seed);
        return CORIO_ENONDET;
    }
    return ra;
}

static uint64_t env_u64(const char *name, int *set)
{
    const char *e = getenv(name);
    char *end;
    unsigned long long v;
    *set = 0;
    if (!e || !*e)
        return 0;
    v = strtoull(e, &end, 0);
    if (*end)
        return 0;
    *set = 1;
    return v;
}

int corio_sim_run_seeds(uint64_t first, uint64_t count, corio_fn main_fn, void *arg,
                        const corio_sim_config *cfg, corio_sim_stats *stats)
{
    corio_sim_stats st, sum;
    int check = (cfg && (cfg->flags & CORIO_SIM_CHECK)) || env_flag("CORIO_SIM_CHECK");
    int set;
    uint64_t v, i;
    int rc = 0;

    memset(&sum, 0, sizeof sum);
    v = env_u64("CORIO_SIM_SEED", &set);
    if (set) {
        first = v;
        count = 1;
    } else {
        v = env_u64("CORIO_SIM_SEEDS", &set);
        if (set)
            count = v;
    }
    for (i = 0; i < count; i++) {
        uint64_t seed = first + i;
        rc = check ? corio_sim_check(seed, main_fn, arg, cfg, &st)
                   : corio_sim_run(seed, main_fn, arg, NULL, cfg, &st);
        sum.virtual_seconds += st.virtual_seconds;
        sum.real_seconds += st.real_seconds;
        if (rc < 0) {
            if (rc != CORIO_ENONDET && rc != -EBUSY && rc != -EINVAL) {
                FILE *f = report_of(cfg);
                fprintf(f, "corio_sim: seed %llu failed: %s (%d) at virtual %.3f s\n",
                        (unsigned long long)seed, corio_strerror(rc), rc, st.virtual_seconds);
                print_replay(f, seed);
            }
            break;
        }
        sum.seeds_run++;
    }
    if (stats) {
        *stats = st;
        stats->seeds_run = sum.seeds_run;
        stats->virtual_seconds = sum.virtual_seconds;
        stats->real_seconds = sum.real_seconds;
    }
    return rc < 0 ? rc : 0;
}

/* ---- inside a simulation ---------------------------------------------------*/

static struct corio__sim *current_sim(void)
{
    corio_loop *l = corio__tls_loop;
    return l ? l->sim : NULL;
}

int corio_sim_active(void) { return current_sim() != NULL; }

uint64_t corio_sim_seed(void)
{
    struct corio__sim *s = current_sim();
    return s ? s->seed : 0;
}

uint64_t corio_sim_random(void)
{
    static __thread uint64_t state;
    static __thread int seeded;
    struct corio__sim *s = current_sim();
    if (s)
        return rng_next(&s->rng_user);
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)&state;
        seeded = 1;
    }
    return rng_next(&state);
}

void corio_sim_trace(const void *data, size_t len)
{
    struct corio__sim *s = current_sim();
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;
    if (!s || (!data && len))
        return;
    for (i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    mix(s, h);
    mix(s, len);
}

int corio_sim_crash(void)
{
    corio_loop *l = corio__tls_loop;
    struct corio__sim *s = l ? l->sim : NULL;
    if (!s)
        return -EPERM;
    if (!s->crashed) {
        s->crashed = 1;
        mix(s, 0xC4A54ED000000000ULL);
        corio_loop_stop(l);
        /* Nothing else runs: the dispatch in progress ends after the
         * current entry (it stops at an empty budget). */
        l->budget = 0;
    }
    return 0;
}
