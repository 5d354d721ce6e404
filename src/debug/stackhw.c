/*
 * Debug mode's stack high-water marks and poisoned freed stacks.
 *
 * Filling every new stack with a pattern would make all of its pages
 * resident (256 KiB per task) and cost a hook on the spawn path. Instead,
 * stacks come from mmap zero-filled, and when a task ends its stack's used
 * part is overwritten with 0xDD (so a pointer into a finished task's stack
 * reads obvious garbage instead of plausible stale data). The next task's
 * high-water mark is then the lowest byte that is neither 0 nor 0xDD,
 * found by asking mincore() for the lowest resident page and scanning up
 * from there: byte precision, give or take a deepest frame whose lowest
 * bytes happen to be 0 or 0xDD. Marks are kept per spawn site and printed
 * when the loop closes. A stack used before debug mode was switched on may
 * hold older data, so its first mark can be too high.
 */
#include "debug/debug.h"

#include <sys/mman.h>
#include <unistd.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif


/* The scan and the poisoning touch dead frames, whose ASan redzones may
 * still be marked: they are done without instrumentation. */
#if defined(__SANITIZE_ADDRESS__) || defined(CORIO__ASAN)
#define NO_ASAN __attribute__((no_sanitize_address))
#else
#define NO_ASAN
#endif

static size_t page(void)
{
    static size_t pg;
    if (!pg)
        pg = (size_t)sysconf(_SC_PAGESIZE);
    return pg;
}

/* The lowest touched address of the stack below hi, or hi if none. */
static NO_ASAN uintptr_t lowest_used(const corio__stack *s, uintptr_t hi)
{
    uintptr_t lo = (uintptr_t)s->lo, p;
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
    while (p < hi && (*(const volatile unsigned char *)p == 0 ||
                      *(const volatile unsigned char *)p == 0xDD))
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
    corio__stack *s = corio__task_stack(t);
    uintptr_t low, hi;
    if (!(loop->dbg_flags & CORIO__DBG_MODE) || !s || !loop->dbg)
        return;
    /* The frames end where the task's body begins (the stack's top
     * bytes: sched.c), and the body is still in use: neither is measured
     * nor poisoned. */
    hi = (uintptr_t)t->b;
    /* Memcheck sees a dead stack as unaddressable; it is ours to read. */
    VALGRIND_MAKE_MEM_DEFINED(s->lo, hi - (uintptr_t)s->lo);
    low = lowest_used(s, hi);
    record(loop->dbg, t->spawn_site, hi - low, corio__stack_size(s));
    if (low < hi)
        poison(low, hi);
}
