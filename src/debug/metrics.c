/*
 * Metrics: the loop's and the tasks' numbers as C structs and in the
 * Prometheus text exposition format (version 0.0.4), ready to serve from
 * a /metrics endpoint.
 *
 * The counters (iterations, spawns, live tasks, ready-queue depth) are
 * always there; times need corio_metrics_enable(), since per-task CPU and
 * wait times cost clock reads at every switch (core_hooks.c keeps them).
 */
#include "debug/debug.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static double sec(int64_t ns) { return (double)ns / 1e9; }

int corio_loop_metrics_get(corio_loop *loop, corio_loop_metrics *m)
{
    const corio__list *p;
    corio__loop_dbg *d;
    uint64_t depth = 0;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (!m)
        return -EINVAL;
    memset(m, 0, sizeof *m);
    for (p = loop->ready.next; p != &loop->ready; p = p->next)
        depth++;
    m->iterations = loop->n_iterations;
    m->tasks_spawned = loop->n_spawned;
    m->tasks_alive = loop->ntasks;
    m->tasks_pending = loop->nlive;
    m->ready_depth = depth;
    d = loop->dbg;
    if (d) {
        m->switches = d->switches;
        m->callbacks = d->callbacks;
        m->poll_seconds = sec(d->poll_ns);
        m->run_seconds = sec(d->run_ns);
        m->lag_seconds = sec(d->lag_ns);
        m->lag_max_seconds = sec(d->lag_max_ns);
        if (d->iter_start) { /* called mid-iteration: count it so far */
            int64_t busy = corio__clock_ns() - d->iter_start - d->iter_poll_ns;
            if (busy > 0) {
                m->run_seconds += sec(busy);
                if (busy > d->lag_max_ns)
                    m->lag_max_seconds = sec(busy);
            }
        }
    }
    return 0;
}

int corio_task_metrics_get(const corio_task *t, corio_task_metrics *m)
{
    const corio__task_dbg *td;
    int i;
    if (!t || !m)
        return -EINVAL;
    memset(m, 0, sizeof *m);
    td = corio__task_x(t) ? t->x->dbg : NULL;
    if (!td)
        return 0;
    m->scheduled = td->scheduled;
    m->cpu_seconds = sec(td->cpu_ns);
    if (td->run_start) /* running now: count the current stretch too */
        m->cpu_seconds += sec(corio__clock_ns() - td->run_start);
    for (i = 0; i < CORIO_WAIT_KINDS; i++)
        m->wait_seconds[i] = sec(td->wait_ns[i]);
    return 0;
}

/* ---- Prometheus text format ------------------------------------------------*/

/* Label values escape backslash, double quote and newline. */
static void put_label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f), fputc(*s, f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_metrics(corio_loop *loop, FILE *f, unsigned flags)
{
    corio_loop_metrics m;
    corio__task_iter it;
    corio_task *t;
    size_t j;
    int k;
    corio_loop_metrics_get(loop, &m);
    family(f, "corio_loop_iterations_total", "counter", "Loop iterations run.");
    fprintf(f, "corio_loop_iterations_total %llu\n", (unsigned long long)m.iterations);
    family(f, "corio_tasks_spawned_total", "counter", "Tasks spawned.");
    fprintf(f, "corio_tasks_spawned_total %llu\n", (unsigned long long)m.tasks_spawned);
    family(f, "corio_tasks_alive", "gauge", "Tasks not yet freed.");
    fprintf(f, "corio_tasks_alive %llu\n", (unsigned long long)m.tasks_alive);
    family(f, "corio_tasks_pending", "gauge", "Tasks not yet finished.");
    fprintf(f, "corio_tasks_pending %llu\n", (unsigned long long)m.tasks_pending);
    family(f, "corio_ready_queue_depth", "gauge", "Ready-queue entries (tasks and callbacks).");
    fprintf(f, "corio_ready_queue_depth %llu\n", (unsigned long long)m.ready_depth);
    family(f, "corio_task_switches_total", "counter", "Task switches (while metrics are on).");
    fprintf(f, "corio_task_switches_total %llu\n", (unsigned long long)m.switches);
    family(f, "corio_callbacks_total", "counter", "Callbacks run (while metrics are on).");
    fprintf(f, "corio_callbacks_total %llu\n", (unsigned long long)m.callbacks);
    family(f, "corio_loop_poll_seconds_total", "counter",
           "Time spent waiting for I/O and timers.");
    fprintf(f, "corio_loop_poll_seconds_total %.9f\n", m.poll_seconds);
    family(f, "corio_loop_run_seconds_total", "counter",
           "Time spent running tasks, callbacks and timers.");
    fprintf(f, "corio_loop_run_seconds_total %.9f\n", m.run_seconds);
    family(f, "corio_loop_lag_seconds", "gauge",
           "Busy time of the last iteration: how long an event could wait.");
    fprintf(f, "corio_loop_lag_seconds %.9f\n", m.lag_seconds);
    family(f, "corio_loop_lag_max_seconds", "gauge", "The largest loop lag seen.");
    fprintf(f, "corio_loop_lag_max_seconds %.9f\n", m.lag_max_seconds);
    if (!(flags & CORIO_METRICS_PER_TASK))
        return;
    corio__task_iter_first(loop, &it); /* one snapshot, for the three */
    family(f, "corio_task_cpu_seconds_total", "counter", "Time each task ran.");
    for (j = 0; j < it.n && (t = it.v[j]); j++) {
        corio_task_metrics tm;
        char nb[32];
        corio_task_metrics_get(t, &tm);
        fprintf(f, "corio_task_cpu_seconds_total{id=\"%llu\",task=\"",
                (unsigned long long)t->id);
        put_label(f, corio__task_label(t, nb, sizeof nb));
        fprintf(f, "\"} %.9f\n", tm.cpu_seconds);
    }
    family(f, "corio_task_scheduled_total", "counter", "Times each task was switched to.");
    for (j = 0; j < it.n && (t = it.v[j]); j++) {
        corio_task_metrics tm;
        char nb[32];
        corio_task_metrics_get(t, &tm);
        fprintf(f, "corio_task_scheduled_total{id=\"%llu\",task=\"",
                (unsigned long long)t->id);
        put_label(f, corio__task_label(t, nb, sizeof nb));
        fprintf(f, "\"} %llu\n", (unsigned long long)tm.scheduled);
    }
    family(f, "corio_task_wait_seconds_total", "counter",
           "Time each task spent parked, by what it waited on.");
    for (j = 0; j < it.n && (t = it.v[j]); j++) {
        corio_task_metrics tm;
        char nb[32];
        corio_task_metrics_get(t, &tm);
        for (k = 1; k < CORIO_WAIT_KINDS; k++) {
            if (tm.wait_seconds[k] == 0)
                continue;
            fprintf(f, "corio_task_wait_seconds_total{id=\"%llu\",task=\"",
                    (unsigned long long)t->id);
            put_label(f, corio__task_label(t, nb, sizeof nb));
            fprintf(f, "\",reason=\"%s\"} %.9f\n", corio__wait_kind_name(k),
                    tm.wait_seconds[k]);
        }
    }
    corio__task_iter_end(&it);
}

/* Renders into a malloc'ed string: the exact size is then known, and f gets
 * the text in one write. */
static long render(corio_loop *loop, unsigned flags, char **text)
{
    size_t n = 0;
    FILE *f = open_memstream(text, &n);
    if (!f)
        return -ENOMEM;
    write_metrics(loop, f, flags);
    if (fclose(f) != 0) {
        free(*text);
        *text = NULL;
        return -ENOMEM;
    }
    return (long)n;
}

int corio_metrics_prometheus(corio_loop *loop, FILE *f, unsigned flags)
{
    char *text = NULL;
    long n;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (!f)
        return -EINVAL;
    n = render(loop, flags, &text);
    if (n < 0)
        return (int)n;
    if (fwrite(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        return -EIO;
    }
    free(text);
    return (int)n;
}

long corio_metrics_prometheus_buf(corio_loop *loop, char *buf, size_t len,
                                  unsigned flags)
{
    char *text = NULL;
    long n;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    n = render(loop, flags, &text);
    if (n < 0)
        return n;
    if (buf && len) {
        size_t k = (size_t)n < len - 1 ? (size_t)n : len - 1;
        memcpy(buf, text, k);
        buf[k] = 0;
    }
    free(text);
    return n;
}
