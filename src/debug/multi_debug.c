/*
 * Debugging across the loops of a corio_run_multi runtime: corio_dump_all
 * (every task of every loop) and corio_loop_metrics_all (each loop's
 * metrics and their sum). A loop's state may be read only on its own
 * thread, so each loop's part runs there, as a task spawned on it, one loop
 * after the other (awaited in turn), so dump sections do not interleave.
 */
#include "core/internal.h"

#include <errno.h>
#include <string.h>

typedef struct dump_req {
    FILE *f;
} dump_req;

static void *dump_here(void *arg)
{
    dump_req *r = arg;
    corio_loop *loop = corio_loop_current();
    FILE *f = r->f ? r->f : loop->report;
    fprintf(f, "==== loop %d of %u ====\n", corio_loop_index(NULL), corio_loop_count());
    return (void *)(intptr_t)corio_dump(r->f);
}

int corio_dump_all(FILE *f)
{
    dump_req r;
    unsigned i, n = corio_loop_count();
    int total = 0;
    if (!n || !corio_current())
        return -EPERM;
    r.f = f;
    for (i = 0; i < n; i++) {
        corio_xtask *h;
        void *v = NULL;
        int rc = corio_spawn_on(&h, corio_loop_get(i), dump_here, &r);
        if (rc < 0)
            return rc;
        rc = corio_xtask_await(h, &v, 0);
        if (rc < 0)
            return rc;
        if ((intptr_t)v > 0)
            total += (int)(intptr_t)v;
    }
    return total;
}

static void *metrics_here(void *arg)
{
    return (void *)(intptr_t)corio_loop_metrics_get(NULL, arg);
}

int corio_loop_metrics_all(corio_loop_metrics *per_loop, size_t n,
                           corio_loop_metrics *sum)
{
    unsigned i, count = corio_loop_count();
    if (!count || !corio_current())
        return -EPERM;
    if (sum)
        memset(sum, 0, sizeof *sum);
    for (i = 0; i < count; i++) {
        corio_loop_metrics m;
        corio_xtask *h;
        void *v = NULL;
        int rc = corio_spawn_on(&h, corio_loop_get(i), metrics_here, &m);
        if (rc < 0)
            return rc;
        rc = corio_xtask_await(h, &v, 0);
        if (rc < 0)
            return rc;
        if ((intptr_t)v < 0)
            return (int)(intptr_t)v;
        if (per_loop && i < n)
            per_loop[i] = m;
        if (sum) {
            sum->iterations += m.iterations;
            sum->tasks_spawned += m.tasks_spawned;
            sum->tasks_alive += m.tasks_alive;
            sum->tasks_pending += m.tasks_pending;
            sum->ready_depth += m.ready_depth;
            sum->switches += m.switches;
            sum->callbacks += m.callbacks;
            sum->poll_seconds += m.poll_seconds;
            sum->run_seconds += m.run_seconds;
            if (m.lag_seconds > sum->lag_seconds)
                sum->lag_seconds = m.lag_seconds;
            if (m.lag_max_seconds > sum->lag_max_seconds)
                sum->lag_max_seconds = m.lag_max_seconds;
        }
    }
    return (int)count;
}
