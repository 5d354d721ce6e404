/*
 * src/debug as the loop's observer (core/hooks.h): the table the core calls
 * through, and what happens at a switch, a callback, an iteration, a spawn,
 * a finish and a free while some debug feature is on. Also the per-loop
 * debug state and the switches that turn the features on and off, which
 * keep loop->obs_events (the hooks the core calls) in step with
 * loop->dbg_flags (the features on).
 *
 * Everything here runs on the loop's thread, except that the stall
 * watchdog (stall.c) reads `progress` and `phase`, which are atomics.
 */
#include "debug/debug.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SLOW_NS (100 * CORIO__NS_PER_MS)

corio__loop_dbg *corio__debug_state(corio_loop *loop)
{
    corio__loop_dbg *d = loop->dbg;
    if (d)
        return d;
    d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    atomic_init(&d->progress, 0);
    atomic_init(&d->phase, 0);
    d->slow_ns = DEFAULT_SLOW_NS;
    d->sig_slot = -1;
    loop->dbg = d;
    return d;
}

corio__task_dbg *corio__debug_task(corio_task *t)
{
    corio__task_ext *x = corio__task_ext_get(t);
    if (!x)
        return NULL;
    if (!x->dbg) {
        x->dbg = calloc(1, sizeof *x->dbg);
        /* Sticky, so that corio__task_free calls us to free it even after
         * every feature was turned off. */
        if (x->dbg)
            corio__debug_set_flag(corio__task_loop(t), CORIO__DBG_TASKDATA, 1);
    }
    return x->dbg;
}

/* Which hooks each feature needs: a hook site tests only its own event
 * bit, so e.g. dump-on-signal, which needs only the iteration hook, leaves
 * the switch path alone. */
static unsigned events_of(unsigned fl)
{
    unsigned ev = 0;
    if (fl & CORIO__DBG_M_SWITCH)
        ev |= CORIO__EV_SWITCH;
    if (fl & CORIO__DBG_M_CALLBACK)
        ev |= CORIO__EV_CALLBACK;
    if (fl & CORIO__DBG_M_POLL)
        ev |= CORIO__EV_POLL;
    /* Any feature, and TASKDATA too: with the poll hooks off, the
     * iteration hook keeps iter_start reset for when metrics come back. */
    if (fl & ~(unsigned)CORIO__DBG_RESOURCES)
        ev |= CORIO__EV_ITERATION;
    if (fl & CORIO__DBG_M_TASK)
        ev |= CORIO__EV_TASK;
    if (fl & CORIO__DBG_M_FREE)
        ev |= CORIO__EV_FREE;
    if (fl & CORIO__DBG_MODE)
        ev |= CORIO__EV_MISUSE | CORIO__EV_RESOURCE;
    if (fl & CORIO__DBG_RESOURCES)
        ev |= CORIO__EV_RESOURCE_CLOSE;
    return ev;
}

void corio__debug_set_flag(corio_loop *loop, unsigned flag, int on)
{
    if (on)
        loop->dbg_flags |= flag;
    else
        loop->dbg_flags &= ~flag;
    loop->obs_events = events_of(loop->dbg_flags);
}

static void bump(corio__loop_dbg *d)
{
    /* One writer (the loop thread): a relaxed load+store is enough. */
    atomic_store_explicit(&d->progress,
                          atomic_load_explicit(&d->progress, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* ---- loop lifetime ---------------------------------------------------------*/

/* "USR1", "SIGUSR1" or a number: the signal CORIO_DUMP_SIGNAL names. */
static int parse_signal(const char *s)
{
    static const struct { const char *name; int signo; } names[] = {
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"QUIT", SIGQUIT},
        {"HUP", SIGHUP}, {"INFO", SIGPWR}, {"PWR", SIGPWR}};
    size_t i;
    char *end;
    long v = strtol(s, &end, 10);
    if (end != s && !*end)
        return (int)v;
    if (!strncmp(s, "SIG", 3))
        s += 3;
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name))
            return names[i].signo;
    return -1;
}

static const corio__observer debug_observer;

void corio__observer_attach(corio_loop *loop)
{
    const char *ms = getenv("CORIO_STALL_MS");
    const char *sig = getenv("CORIO_DUMP_SIGNAL");
    /* Always installed: the leak and deadlock reports are always on. The
     * hot hooks stay off (obs_events 0) until a feature is turned on. */
    loop->obs = &debug_observer;
    loop->obs_events = events_of(loop->dbg_flags);
    if (loop->debug)
        corio_debug_set_mode(loop, 1);
    if (sig && *sig) {
        int signo = parse_signal(sig);
        if (signo > 0)
            corio_debug_dump_on_signal(loop, signo);
    }
    if (ms && *ms) {
        char *end;
        double v = strtod(ms, &end);
        if (end != ms && v > 0)
            corio_debug_stall_detector(loop, v / 1000.0);
    }
}

static void report_high_water(corio_loop *loop, corio__loop_dbg *d)
{
    corio__sym *s = NULL;
    int i, any = 0;
    FILE *f = corio__report_file(loop);
    for (i = 0; i < CORIO__HW_SITES; i++) {
        char site[256];
        corio__hw_site *h = &d->hw[i];
        if (!h->site)
            continue;
        if (!any) {
            s = corio__sym_open();
            fprintf(f, "corio: stack high-water marks by spawn site (debug mode):\n");
            any = 1;
        }
        corio__sym_format(s, h->site, 1, site, sizeof site);
        fprintf(f, "  %-60s max %6.1f KiB of %zu KiB (%.0f%%), %llu task%s\n", site,
                (double)h->max / 1024.0, h->size / 1024, 100.0 * (double)h->max / (double)h->size,
                (unsigned long long)h->tasks, h->tasks == 1 ? "" : "s");
    }
    corio__sym_close(s);
}

static void debug_loop_close(corio_loop *loop)
{
    corio__loop_dbg *d = loop->dbg;
    unsigned i;
    corio__debug_report_leaks(loop);
    if (!d)
        return;
    corio__stall_stop(loop);
    corio__sigdump_unregister(loop);
    corio__debug_report_resources(loop);
    if (loop->dbg_flags & CORIO__DBG_MODE)
        report_high_water(loop, d);
    for (i = 0; i < CORIO__QUARANTINE; i++)
        corio__task_mem_free(loop, d->quarantine[i]);
    corio__lockgraph_free(loop);
    /* Tasks freed from here on only need their t->dbg freed. */
    loop->dbg = NULL;
    loop->dbg_flags &= CORIO__DBG_TASKDATA;
    loop->obs_events = events_of(loop->dbg_flags);
    free(d);
}

/* ---- iterations and polls ------------------------------------------------------*/

static void debug_iteration(corio_loop *loop)
{
    corio__loop_dbg *d = loop->dbg;
    int64_t now = loop->now_ns;
    if (loop->dbg_flags & CORIO__DBG_STALL) {
        bump(d);
        if (atomic_exchange_explicit(&d->phase, 1, memory_order_acq_rel) == 0)
            corio__stall_enter(loop); /* (re)entering corio_loop_run */
    }
    if (!(loop->dbg_flags & CORIO__DBG_M_POLL)) {
        /* Without the poll hooks, busy time cannot be told from polling. */
        d->iter_start = 0;
    } else if (d->iter_start) {
        int64_t busy = now - d->iter_start - d->iter_poll_ns;
        if (busy < 0)
            busy = 0;
        d->run_ns += busy;
        d->lag_ns = busy;
        if (busy > d->lag_max_ns)
            d->lag_max_ns = busy;
    }
    if (loop->dbg_flags & CORIO__DBG_M_POLL)
        d->iter_start = now;
    d->iter_poll_ns = 0;
    if (loop->dbg_flags & CORIO__DBG_SIGDUMP)
        corio__sigdump_poll(loop);
}

static void debug_run_exit(corio_loop *loop)
{
    corio__loop_dbg *d = loop->dbg;
    if (loop->dbg_flags & CORIO__DBG_STALL) {
        bump(d);
        atomic_store_explicit(&d->phase, 0, memory_order_release);
    }
    if (d->iter_start) {
        int64_t busy = corio__clock_ns() - d->iter_start - d->iter_poll_ns;
        if (busy > 0)
            d->run_ns += busy;
    }
    d->iter_start = 0;
    d->iter_poll_ns = 0;
}

static void debug_poll(corio_loop *loop, int after)
{
    corio__loop_dbg *d = loop->dbg;
    int64_t now = corio__clock_ns();
    if (!after) {
        d->poll_start = now;
        if (loop->dbg_flags & CORIO__DBG_STALL) {
            bump(d);
            atomic_store_explicit(&d->phase, 2, memory_order_release);
        }
        return;
    }
    d->poll_ns += now - d->poll_start;
    d->iter_poll_ns += now - d->poll_start;
    if (loop->dbg_flags & CORIO__DBG_STALL) {
        bump(d);
        atomic_store_explicit(&d->phase, 1, memory_order_release);
    }
}

/* ---- switches and callbacks ----------------------------------------------------*/

typedef struct slow_report {
    corio_loop *loop;
    corio_task *t;
    int64_t ns;
} slow_report;

static void print_slow_step(void *arg)
{
    slow_report *r = arg;
    corio__sym *s = corio__sym_open();
    char origin[300], nb[32];
    corio__debug_origin(s, r->t, origin, sizeof origin);
    corio__report(r->loop, "corio: slow: task #%llu '%s' ran %.3fs without suspending "
                           "(threshold %.3fs); %s\n",
                  (unsigned long long)r->t->id, corio__task_label(r->t, nb, sizeof nb),
                  (double)r->ns / 1e9, (double)r->loop->dbg->slow_ns / 1e9, origin);
    corio__sym_close(s);
}

static void report_slow_step(corio_loop *loop, corio_task *t, int64_t ns)
{
    slow_report r;
    r.loop = loop;
    r.t = t;
    r.ns = ns;
    corio__debug_offstack(print_slow_step, &r);
}

static CORIO__NOINLINE void switch_slow(corio_loop *loop, corio_task *from,
                                        corio_task *to);

static void debug_switch(corio_loop *loop, corio_task *from, corio_task *to)
{
#ifndef CORIO__TSAN /* there the watchdog names the task from running_id */
    if (loop->dbg_flags == CORIO__DBG_STALL) {
        /* The stall detector alone, the one feature meant to stay on in
         * production: just the progress bump. */
        bump(loop->dbg);
        return;
    }
#endif
    switch_slow(loop, from, to);
}

static void switch_slow(corio_loop *loop, corio_task *from, corio_task *to)
{
    corio__loop_dbg *d = loop->dbg;
    unsigned fl = loop->dbg_flags;
    if (fl & CORIO__DBG_STALL) {
        bump(d);
        atomic_store_explicit(&d->running_id, to ? to->id : 0, memory_order_relaxed);
    }
    d->switches++;
    if (fl & (CORIO__DBG_METRICS | CORIO__DBG_MODE)) {
        int64_t now = corio__clock_ns();
        corio__task_dbg *td;
        if (from && (td = corio__debug_task(from))) {
            if (td->run_start) {
                int64_t ran = now - td->run_start;
                td->cpu_ns += ran;
                if ((fl & CORIO__DBG_MODE) && ran > d->slow_ns)
                    report_slow_step(loop, from, ran);
            }
            td->run_start = 0;
            td->wait_start = now;
            td->wait_kind = from->state == CORIO_TASK_SUSPENDED && from->b->wait_type
                                ? from->b->wait_type->kind
                                : CORIO_WAIT_YIELD;
        }
        if (to && (td = corio__debug_task(to))) {
            td->scheduled++;
            if (td->wait_start && td->wait_kind >= 0 && td->wait_kind < CORIO_WAIT_KINDS)
                td->wait_ns[td->wait_kind] += now - td->wait_start;
            td->wait_start = 0;
            td->run_start = now;
        }
    }
    if (fl & CORIO__DBG_HOOKS) {
        if (from && d->hooks.suspend)
            d->hooks.suspend(from, d->hooks.arg);
        if (to && d->hooks.run)
            d->hooks.run(to, d->hooks.arg);
    }
}

static void debug_callback(corio_loop *loop, corio_cb cb, void *arg)
{
    corio__loop_dbg *d = loop->dbg;
    unsigned fl = loop->dbg_flags;
    int64_t t0 = 0;
    if (fl & CORIO__DBG_STALL)
        bump(d);
    d->callbacks++;
    if (fl & CORIO__DBG_MODE)
        t0 = corio__clock_ns();
    cb(arg);
    if (t0) {
        int64_t ns = corio__clock_ns() - t0;
        if (ns > d->slow_ns) {
            corio__sym *s = corio__sym_open();
            char fn[300];
            corio__sym_format(s, (const void *)(uintptr_t)cb, 0, fn, sizeof fn);
            corio__report(loop, "corio: slow: callback %s took %.3fs (threshold %.3fs)\n",
                          fn, (double)ns / 1e9, (double)d->slow_ns / 1e9);
            corio__sym_close(s);
        }
    }
}

/* ---- task lifetime --------------------------------------------------------------*/

static void debug_spawn(corio_loop *loop, corio_task *t)
{
    corio__loop_dbg *d = loop->dbg;
    if ((loop->dbg_flags & CORIO__DBG_MODE) && loop->running &&
        corio__tls_loop != loop) {
        char nb[32];
        corio__report(loop, "corio: misuse: task #%llu '%s' spawned on loop %p from "
                            "another thread (loops are single-threaded; use "
                            "corio_call_soon_threadsafe)\n",
                      (unsigned long long)t->id, corio__task_label(t, nb, sizeof nb),
                      (void *)loop);
    }
    if ((loop->dbg_flags & CORIO__DBG_HOOKS) && d->hooks.spawn)
        d->hooks.spawn(t, d->hooks.arg);
}

static void debug_finish(corio_loop *loop, corio_task *t)
{
    corio__loop_dbg *d = loop->dbg;
    if (d && (loop->dbg_flags & CORIO__DBG_HOOKS) && d->hooks.finish)
        d->hooks.finish(t, d->hooks.arg);
}

static void debug_task_end(corio_loop *loop, corio_task *t)
{
    debug_finish(loop, t);
    if (corio__task_body_of(t) && !loop->compact)
        corio__debug_stack_done(loop, t);
}

#define POISON_STATE 0xDD
#define POISON_FLAGS 0xFF

static int debug_task_free(corio_loop *loop, corio_task *t)
{
    corio__loop_dbg *d = loop->dbg;
    uint64_t id;
    void *site;
    corio_task *old;
    if (corio__task_x(t)) {
        free(t->x->dbg);
        t->x->dbg = NULL;
    }
    if (!d || !(loop->dbg_flags & CORIO__DBG_MODE) || loop->closing)
        return 0;
    /* Quarantine: keep the struct, poisoned, so a second await of this
     * handle is recognised (debug_await_check) instead of reading
     * a recycled task. Its id and spawn site stay for the report. */
    id = t->id;
    site = t->spawn_site;
    memset(t, POISON_STATE, sizeof *t);
#ifdef CORIO__ASAN
    t->corio__loop = loop; /* corio_cancel_threadsafe reads it (then the state) */
#endif
    t->id = id;
    t->spawn_site = site;
    t->x = NULL; /* corio__task_free frees it */
    t->b = NULL;
    t->state = POISON_STATE;
    t->flags = POISON_FLAGS; /* corio_cancel() sees "already cancelled" */
    old = d->quarantine[d->qnext];
    d->quarantine[d->qnext] = t;
    d->qnext = (d->qnext + 1) % CORIO__QUARANTINE;
    corio__task_mem_free(loop, old);
    return 1;
}

typedef struct misuse_report {
    corio_loop *loop;
    const corio_task *t;
    const char *what;
    int n;
    void *frames[CORIO__MAX_FRAMES];
} misuse_report;

static void print_misuse(void *arg)
{
    misuse_report *r = arg;
    corio__sym *s = corio__sym_open();
    char site[256];
    if (r->t->spawn_site)
        corio__sym_format(s, r->t->spawn_site, 1, site, sizeof site);
    else
        snprintf(site, sizeof site, "?");
    corio__report(r->loop, "corio: misuse: corio_await on task #%llu (spawned at %s), "
                           "which %s; awaited from:\n",
                  (unsigned long long)r->t->id, site, r->what);
    corio__sym_print_frames(s, corio__report_file(r->loop), r->frames, r->n, "      ");
    corio__sym_close(s);
}

static int debug_await_check(corio_loop *loop, corio_task *t)
{
    misuse_report *r;
    const char *what = NULL;
    if (t->state == POISON_STATE && t->flags == POISON_FLAGS)
        what = "was already awaited (or detached and finished): the handle is freed";
    else if (!(loop->dbg_flags & CORIO__DBG_MODE))
        return t->state > CORIO_TASK_DONE ? -EINVAL : 0;
    else if (corio__task_loop(t) != loop)
        what = "belongs to another loop";
    else if (!loop->current)
        what = "is awaited outside a task (corio_await returns -EPERM)";
    if (!what)
        return 0;
    r = malloc(sizeof *r); /* off the (possibly small) task stack */
    if (r) {
        r->loop = loop;
        r->t = t;
        r->what = what;
        r->n = corio__bt_here(loop, 0, r->frames, CORIO__MAX_FRAMES);
        corio__debug_offstack(print_misuse, r);
        free(r);
    }
    if (t->state == POISON_STATE && t->flags == POISON_FLAGS)
        return -EINVAL;
    return corio__task_loop(t) != loop ? -EINVAL : 0;
}

static const corio__observer debug_observer = {
    .close = debug_loop_close,
    .deadlock = corio__debug_report_deadlock,
    .await_check = debug_await_check,
    .iteration = debug_iteration,
    .run_exit = debug_run_exit,
    .poll = debug_poll,
    .on_switch = debug_switch,
    .callback = debug_callback,
    .spawn = debug_spawn,
    .finish = debug_finish,
    .task_end = debug_task_end,
    .task_free = debug_task_free,
    .resource_open = corio__debug_resource_open,
    .resource_close = corio__debug_resource_close,
};

/* ---- public switches --------------------------------------------------------------*/

int corio_debug_set_mode(corio_loop *loop, int on)
{
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (on && !corio__debug_state(loop))
        return -ENOMEM;
    if (!loop->dbg)
        return 0;
    loop->debug = on != 0;
    corio__debug_set_flag(loop, CORIO__DBG_MODE, on);
    return 0;
}

int corio_debug_set_slow_threshold(corio_loop *loop, double seconds)
{
    corio__loop_dbg *d;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (!(seconds > 0))
        return -EINVAL;
    d = corio__debug_state(loop);
    if (!d)
        return -ENOMEM;
    d->slow_ns = corio__seconds_to_ns(seconds);
    return 0;
}

int corio_debug_set_hooks(corio_loop *loop, const corio_debug_hooks *h)
{
    corio__loop_dbg *d;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (!h && !loop->dbg)
        return 0;
    d = corio__debug_state(loop);
    if (!d)
        return -ENOMEM;
    if (h)
        d->hooks = *h;
    else
        memset(&d->hooks, 0, sizeof d->hooks);
    corio__debug_set_flag(loop, CORIO__DBG_HOOKS, h != NULL);
    return 0;
}

int corio_metrics_enable(corio_loop *loop, int on)
{
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (on && !corio__debug_state(loop))
        return -ENOMEM;
    if (loop->dbg)
        corio__debug_set_flag(loop, CORIO__DBG_METRICS, on);
    return 0;
}
