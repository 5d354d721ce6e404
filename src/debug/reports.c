/*
 * The deadlock report (corio_run found every task blocked with nothing
 * left that could wake one) and the leak report at loop close.
 *
 * The deadlock report follows wait-for edges: a task parked on a lock
 * waits for the lock's holder, one awaiting a task waits for that task,
 * one on a task's future waits for the task. Following the edges from each
 * blocked task either reaches a task that waits on something no task owns
 * (a future nobody completes, a queue nobody feeds), which is the root
 * cause to read first, or comes back to itself: a cycle, the classic
 * deadlock. Both are printed before the per-task dump.
 */
#include "debug/debug.h"

#include <stdlib.h>
#include <string.h>

/* A blocked task and the task it waits for. */
typedef struct node {
    corio_task *t;
    corio_task *owner;
    int owner_ix;     /* index of owner in the array, or -1 */
    int color;        /* 0 unvisited, 1 on the current path, 2 done */
    int in_cycle;
    char desc[160];
} node;

/* Open addressing: task pointer -> index, for the owner lookups. */
static int find_ix(corio_task **keys, int *vals, size_t cap, corio_task *t)
{
    size_t h = ((uintptr_t)t >> 4) & (cap - 1);
    while (keys[h]) {
        if (keys[h] == t)
            return vals[h];
        h = (h + 1) & (cap - 1);
    }
    return -1;
}

static void put_ix(corio_task **keys, int *vals, size_t cap, corio_task *t, int ix)
{
    size_t h = ((uintptr_t)t >> 4) & (cap - 1);
    while (keys[h])
        h = (h + 1) & (cap - 1);
    keys[h] = t;
    vals[h] = ix;
}

static const char *label(const corio_task *t, char *buf, size_t len)
{
    char nb[32];
    snprintf(buf, len, "task #%llu '%s'", (unsigned long long)t->id,
             corio__task_label(t, nb, sizeof nb));
    return buf;
}

/* Prints the cycle through node i (which is on a cycle). */
static void print_cycle(FILE *f, node *v, int i)
{
    int j = i;
    char a[64];
    fprintf(f, "  cycle: ");
    do {
        v[j].in_cycle = 2;
        fprintf(f, "%s -> ", label(v[j].t, a, sizeof a));
        j = v[j].owner_ix;
    } while (j != i && j >= 0);
    fprintf(f, "%s\n", label(v[i].t, a, sizeof a));
    j = i;
    do {
        fprintf(f, "    %s waits on %s: %s\n", label(v[j].t, a, sizeof a),
                corio__wait_name(v[j].t), v[j].desc);
        j = v[j].owner_ix;
    } while (j != i && j >= 0);
}

void corio__debug_report_deadlock(corio_loop *loop)
{
    FILE *f = corio__report_file(loop);
    corio__task_iter it;
    corio_task *t;
    size_t n = 0, cap = 16, i;
    node *v;
    corio_task **keys;
    int *vals, cycles = 0;
    corio__sym *sym;
    char a[64], b[64];

    fprintf(f, "corio: deadlock: every task waits and nothing (timer, fd, other "
               "thread) can wake one:\n");
    for (t = corio__task_iter_first(loop, &it); t; t = corio__task_iter_next(&it))
        if (t->state != CORIO_TASK_DONE)
            n++;
    while (cap < 2 * n + 2)
        cap <<= 1;
    v = calloc(n ? n : 1, sizeof *v);
    keys = calloc(cap, sizeof *keys);
    vals = calloc(cap, sizeof *vals);
    if (!v || !keys || !vals || (loop->ntasks && !it.v)) {
        free(v), free(keys), free(vals);
        corio__task_iter_end(&it);
        fprintf(f, "  (out of memory for the details)\n");
        return;
    }
    i = 0;
    for (it.i = 0; (t = corio__task_iter_next(&it)) != NULL;) {
        if (t->state == CORIO_TASK_DONE)
            continue;
        v[i].t = t;
        corio__debug_describe_wait(t, v[i].desc, sizeof v[i].desc, &v[i].owner);
        put_ix(keys, vals, cap, t, (int)i);
        i++;
    }
    corio__task_iter_end(&it);
    for (i = 0; i < n; i++)
        v[i].owner_ix = v[i].owner ? find_ix(keys, vals, cap, v[i].owner) : -1;

    /* Cycles: walk owner edges; meeting a node on the current path closes
     * one. Each node has at most one out-edge, so this is linear. */
    for (i = 0; i < n; i++) {
        int j = (int)i;
        while (j >= 0 && v[j].color == 0) {
            v[j].color = 1;
            j = v[j].owner_ix;
        }
        if (j >= 0 && v[j].color == 1 && v[j].in_cycle == 0) {
            print_cycle(f, v, j);
            cycles++;
        }
        for (j = (int)i; j >= 0 && v[j].color == 1; j = v[j].owner_ix)
            v[j].color = 2;
    }
    /* Every other blocked task: its wait, and where its chain leads. */
    for (i = 0; i < n; i++) {
        int j, hops = 0;
        if (v[i].in_cycle)
            continue;
        fprintf(f, "  %s waits on %s: %s", label(v[i].t, a, sizeof a),
                corio__wait_name(v[i].t),
                v[i].desc[0] ? v[i].desc : corio__task_state_name(v[i].t));
        for (j = v[i].owner_ix; j >= 0 && hops < (int)n; j = v[j].owner_ix, hops++) {
            if (v[j].in_cycle) {
                fprintf(f, " -> %s (in the cycle above)", label(v[j].t, b, sizeof b));
                break;
            }
            if (v[j].owner_ix < 0) {
                fprintf(f, " -> %s, which waits on %s: %s", label(v[j].t, b, sizeof b),
                        corio__wait_name(v[j].t), v[j].desc);
                break;
            }
        }
        fputc('\n', f);
    }
    if (!cycles)
        fprintf(f, "  (no wait-for cycle: look for the waits no task can end, "
                   "e.g. a future nobody completes)\n");
    fprintf(f, "  the blocked tasks:\n");
    sym = corio__sym_open();
    for (i = 0; i < n && i < 64; i++)
        corio__dump_task(sym, f, loop, v[i].t);
    if (n > 64)
        fprintf(f, "  ... and %zu more\n", n - 64);
    corio__sym_close(sym);
    fflush(f);
    free(v);
    free(keys);
    free(vals);
}

/* ---- leaks at close --------------------------------------------------------------*/

/* Called by the observer's close hook before the loop frees its tasks. */
void corio__debug_report_leaks(corio_loop *loop)
{
    corio__task_iter it;
    corio_task *t;
    corio__sym *sym = NULL;
    for (t = corio__task_iter_first(loop, &it); t; t = corio__task_iter_next(&it)) {
        char nb[32], origin[300], desc[160];
        corio_task *owner;
        if (!corio__task_leaked(t)) /* the core's rule */
            continue;
        if (!sym)
            sym = corio__sym_open();
        if (t->state != CORIO_TASK_DONE) {
            corio__report(loop, "corio: loop closed with task #%llu '%s' still %s%s%s\n",
                          (unsigned long long)t->id, corio__task_label(t, nb, sizeof nb),
                          corio__task_state_name(t),
                          t->state == CORIO_TASK_SUSPENDED ? " in " : "",
                          t->state == CORIO_TASK_SUSPENDED
                              ? corio__wait_name(t) : "");
            corio__debug_describe_wait(t, desc, sizeof desc, &owner);
            if (desc[0]) {
                const corio_future *fu = t->b->wait_obj;
                int never = t->b->wait_type == &corio__wait_future && !fu->embedded &&
                            fu->state != CORIO__FUT_DONE;
                corio__report(loop, "    waits on: %s%s\n", desc,
                              never ? ": a future never completed" : "");
            }
        } else {
            corio__report(loop, "corio: task #%llu '%s' finished but was never "
                                "awaited or detached\n",
                          (unsigned long long)t->id, corio__task_label(t, nb, sizeof nb));
        }
        corio__debug_origin(sym, t, origin, sizeof origin);
        corio__report(loop, "    %s\n", origin);
    }
    corio__task_iter_end(&it);
    corio__sym_close(sym);
}
