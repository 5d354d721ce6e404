/*
 * corio_dump_all: a dump of every task of every loop of a corio_run_multi
 * runtime. A loop's tasks may be read only on its own thread, so the dump
 * of each loop runs there, as a task spawned on it, one loop after the
 * other (awaited in turn), so the sections do not interleave.
 */
#include "core/internal.h"

#include <errno.h>

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
