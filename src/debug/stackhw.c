/*
 * Debug mode's stack high-water marks and poisoned freed stacks.
 *
 * Instead of filling every new stack with a pattern (which would make all
 * of its pages resident: 256 KiB per task), a fresh stack's pages are
 * dropped with madvise(MADV_DONTNEED), so they read as zero and cost
 * nothing until touched. When the task ends, mincore() finds the lowest
 * page it touched and a scan of that page the lowest non-zero byte: the
 * high-water mark, at byte precision (a zero word at the very bottom of the
 * deepest frame is missed, a few bytes at most). Marks are kept per spawn
 * site and printed when the loop closes. The stack's used part is then
 * overwritten with 0xDD, so a pointer into a finished task's stack reads
 * obvious garbage instead of plausible stale data.
 */
#include "debug/debug.h"

#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(CORIO__ASAN)
#define NO_ASAN __attribute__((no_sanitize_address))
#define POISON_FREED 0 /* ASan keeps its own shadow of task stacks */
#else
#define NO_ASAN
#define POISON_FREED 1
#endif

static size_t page(void)
{
    static size_t pg;
    if (!pg)
        pg = (size_t)sysconf(_SC_PAGESIZE);
    return pg;
}

void corio__debug_stack_fresh(corio_loop *loop, corio_task *t)
{
    corio__stack *s = t->stack;
    corio__task_dbg *td;
    if (!(loop->dbg_flags & CORIO__DBG_MODE) || !s)
        return;
    td = corio__debug_task(t);
    if (!td)
        return;
    if (madvise(s->lo, s->size, MADV_DONTNEED) != 0)
        return;
    if (!s->guarded) {
        /* The canary (stack.c) was written before we dropped the page. */
        uint64_t c = CORIO__STACK_CANARY;
        __builtin_memcpy(s->lo, &c, sizeof c);
    }
    s->dirty = 1;
    td->stack_fresh = 1;
}

/* The lowest touched address of the stack, or hi if none. */
static NO_ASAN uintptr_t lowest_used(const corio__stack *s)
{
    uintptr_t lo = (uintptr_t)s->lo, hi = lo + s->size, p;
    size_t pg = page();
    unsigned char vec[64];
    uintptr_t first = hi;
    for (p = lo; p < hi && first == hi; p += 64 * pg) {
        size_t len = hi - p < 64 * pg ? hi - p : 64 * pg;
        size_t i, n = (len + pg - 1) / pg;
        if (mincore((void *)p, len, vec) != 0)
            return lo; /* unknown: say "all of it" rather than guess low */
        for (i = 0; i < n; i++)
            if (vec[i] & 1) {
                first = p + i * pg;
                break;
            }
    }
    if (first == hi)
        return hi;
    p = first;
    if (p == lo && !s->guarded)
        p += sizeof(uint64_t); /* the canary */
    while (p < hi && *(const volatile unsigned char *)p == 0)
        p++;
    return p;
}

static NO_ASAN void poison(uintptr_t from, uintptr_t to)
{
    volatile unsigned char *p = (volatile unsigned char *)from;
    while ((uintptr_t)p < to)
        *p++ = 0xDD;
}

static void record(corio__loop_dbg *d, void *site, size_t used, size_t size)
{
    unsigned i, h = (unsigned)(((uintptr_t)site >> 4) % CORIO__HW_SITES);
    for (i = 0; i < CORIO__HW_SITES; i++) {
        corio__hw_site *e = &d->hw[(h + i) % CORIO__HW_SITES];
        if (!e->site || e->site == site) {
            e->site = site;
            if (used > e->max)
                e->max = used;
            e->size = size;
            e->tasks++;
            return;
        }
    }
}

void corio__debug_stack_done(corio_loop *loop, corio_task *t)
{
    corio__stack *s = t->stack;
    uintptr_t low, hi;
    if (!(loop->dbg_flags & CORIO__DBG_MODE) || !s || !loop->dbg || !t->dbg ||
        !t->dbg->stack_fresh)
        return;
    hi = (uintptr_t)s->lo + s->size;
    low = lowest_used(s);
    record(loop->dbg, t->spawn_site, hi - low, s->size);
    if (POISON_FREED && low < hi)
        poison(low, hi);
}
