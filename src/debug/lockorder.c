/*
 * Lock-order checking (debug mode), after the Linux kernel's lockdep and
 * TSan's deadlock detector: every time a task acquires lock B while holding
 * lock A, the edge A -> B joins a per-loop graph. An acquisition that adds
 * an edge closing a cycle (B was, at some point, taken while holding A's
 * predecessors...) means two tasks can deadlock given the wrong timing,
 * even if this run got lucky. It is reported once per edge, with the
 * backtraces of both acquisitions that make the cycle.
 *
 * Called by src/sync (locks and any primitive with an owner) through
 * corio__debug_lock_acquired/_released; a no-op unless the loop is in
 * debug mode. The graph is small in practice (locks x locks held at once),
 * so plain arrays and linear searches keep it simple.
 */
#include "debug/debug.h"

#include <stdlib.h>
#include <string.h>

#define EDGE_FRAMES 8

typedef struct edge {
    const void *from, *to;
    uint64_t task_id;      /* who made the edge */
    char task_name[32];
    const char *what;
    int nframes;
    void *frames[EDGE_FRAMES]; /* where it acquired `to` */
    int reported;
} edge;

struct corio__lockgraph {
    edge *e;
    size_t n, cap;
};

static edge *find_edge(struct corio__lockgraph *g, const void *a, const void *b)
{
    size_t i;
    for (i = 0; i < g->n; i++)
        if (g->e[i].from == a && g->e[i].to == b)
            return &g->e[i];
    return NULL;
}

/* Depth-first search for a path from a to b; fills path[] with edge
 * indexes (at most max) and returns its length, or 0 if none. */
static size_t find_path(struct corio__lockgraph *g, const void *a, const void *b,
                        size_t *path, size_t depth, size_t max, char *seen)
{
    size_t i;
    if (depth >= max)
        return 0;
    for (i = 0; i < g->n; i++) {
        size_t k;
        if (g->e[i].from != a || seen[i])
            continue;
        seen[i] = 1;
        path[depth] = i;
        if (g->e[i].to == b)
            return depth + 1;
        k = find_path(g, g->e[i].to, b, path, depth + 1, max, seen);
        if (k)
            return k;
    }
    return 0;
}

typedef struct cycle_report {
    corio_loop *loop;
    struct corio__lockgraph *g;
    size_t ne, np;
    size_t *path;
} cycle_report;

static void print_cycle(void *arg);

static void report_cycle(corio_loop *loop, struct corio__lockgraph *g, size_t ne,
                         size_t *path, size_t np)
{
    cycle_report r;
    r.loop = loop;
    r.g = g;
    r.ne = ne;
    r.np = np;
    r.path = path;
    corio__debug_offstack(print_cycle, &r);
}

static void print_cycle(void *arg)
{
    cycle_report *r = arg;
    corio_loop *loop = r->loop;
    struct corio__lockgraph *g = r->g;
    size_t ne = r->ne, np = r->np, *path = r->path;
    FILE *f = corio__report_file(loop);
    corio__sym *s = corio__sym_open();
    edge *e = &g->e[ne];
    size_t i;
    fprintf(f, "corio: lock-order cycle (a potential deadlock): task #%llu '%s' "
               "acquired %s %p while holding %p, but the opposite order was "
               "used before:\n",
            (unsigned long long)e->task_id, e->task_name, e->what, e->to, e->from);
    fprintf(f, "  %p -> %p by task #%llu '%s', acquired at:\n", e->from, e->to,
            (unsigned long long)e->task_id, e->task_name);
    corio__sym_print_frames(s, f, e->frames, e->nframes, "      ");
    for (i = 0; i < np; i++) {
        edge *p = &g->e[path[i]];
        fprintf(f, "  %p -> %p by task #%llu '%s', acquired at:\n", p->from, p->to,
                (unsigned long long)p->task_id, p->task_name);
        corio__sym_print_frames(s, f, p->frames, p->nframes, "      ");
    }
    fflush(f);
    corio__sym_close(s);
}

void corio__debug_lock_acquired(corio_task *t, const void *lock, const char *what)
{
    corio_loop *loop;
    corio__task_dbg *td;
    struct corio__lockgraph *g;
    int i;
    if (!t || !(corio__task_loop(t)->dbg_flags & CORIO__DBG_MODE))
        return;
    loop = corio__task_loop(t);
    td = corio__debug_task(t);
    if (!td)
        return;
    if (!loop->dbg->locks) {
        loop->dbg->locks = calloc(1, sizeof *loop->dbg->locks);
        if (!loop->dbg->locks)
            return;
    }
    g = loop->dbg->locks;
    for (i = 0; i < td->nheld; i++) {
        const void *h = td->held[i];
        edge *e;
        size_t path[16], np, ne;
        char *seen;
        if (h == lock || find_edge(g, h, lock))
            continue;
        if (g->n == g->cap) {
            size_t cap = g->cap ? 2 * g->cap : 64;
            edge *ne2 = realloc(g->e, cap * sizeof *ne2);
            if (!ne2)
                return;
            g->e = ne2;
            g->cap = cap;
        }
        ne = g->n++;
        e = &g->e[ne];
        memset(e, 0, sizeof *e);
        e->from = h;
        e->to = lock;
        e->what = what ? what : "lock";
        e->task_id = t->id;
        corio__task_label(t, e->task_name, sizeof e->task_name);
        if (corio__task_name_or_null(t))
            snprintf(e->task_name, sizeof e->task_name, "%s",
                     corio__task_name_or_null(t));
        e->nframes = corio__bt_here(loop, 0, e->frames, EDGE_FRAMES);
        /* Does lock already reach h? Then h -> lock closes a cycle. */
        seen = calloc(g->n, 1);
        if (!seen)
            continue;
        np = find_path(g, lock, h, path, 0, 16, seen);
        free(seen);
        if (np) {
            e->reported = 1;
            report_cycle(loop, g, ne, path, np);
        }
    }
    if (td->nheld < (int)(sizeof td->held / sizeof td->held[0]))
        td->held[td->nheld++] = lock;
}

void corio__debug_lock_released(corio_task *t, const void *lock)
{
    corio__task_dbg *td;
    int i;
    if (!t || !corio__task_x(t) || !(td = t->x->dbg))
        return;
    for (i = td->nheld - 1; i >= 0; i--)
        if (td->held[i] == lock) {
            memmove(&td->held[i], &td->held[i + 1],
                    (size_t)(td->nheld - i - 1) * sizeof td->held[0]);
            td->nheld--;
            return;
        }
}

void corio__debug_lock_destroyed(corio_loop *loop, const void *lock)
{
    struct corio__lockgraph *g = loop && loop->dbg ? loop->dbg->locks : NULL;
    size_t i, k = 0;
    if (!g)
        return;
    for (i = 0; i < g->n; i++)
        if (g->e[i].from != lock && g->e[i].to != lock)
            g->e[k++] = g->e[i];
    g->n = k;
}

void corio__lockgraph_free(corio_loop *loop)
{
    struct corio__lockgraph *g = loop->dbg ? loop->dbg->locks : NULL;
    if (!g)
        return;
    free(g->e);
    free(g);
    loop->dbg->locks = NULL;
}
