/*
 * Task stacks: mmap'ed in chunks, pooled per size, guard-paged while the
 * process can afford the mappings, and a SIGSEGV handler that names the task
 * whose stack overflowed.
 *
 * Why chunks: the kernel caps a process at vm.max_map_count mappings (65530
 * by default). One mmap per stack with a guard page costs two mappings and
 * would cap us near 32k tasks. A chunk holds many stacks in one mapping.
 *
 * Guards: on Linux 6.13 and later, madvise(MADV_GUARD_INSTALL) marks a page
 * as a guard in the page tables without splitting the mapping, so every
 * stack gets one, however many tasks there are. Older kernels only have
 * mprotect(PROT_NONE), whose guard page splits the mapping and costs two
 * entries: there we guard the first stacks (up to a quarter of the map
 * budget: ~8k stacks by default) and allocate the rest unguarded: those get
 * a canary word at the stack's low end, checked when the task
 * ends, so an overflow is still reported (late, as corruption) instead of
 * silently tolerated. The canary costs a second page per stack (the low
 * end's, besides the top's), so a sleeping task on an unguarded stack costs
 * 8 KiB instead of 4. docs/design.md "Stacks" discusses the trade-off.
 *
 * Memory: stacks are MAP_NORESERVE and only touched pages cost RAM, so a
 * sleeping task that used 3 KiB of stack costs one page. That page also
 * holds the task's body (context, wait node, timer: sched.c puts it in the
 * top bytes of the stack), so a started task costs its stack's pages and a
 * small handle, nothing else. A freed stack goes
 * to its pool's LIFO free list (hot in cache); idle trimming (loop.c) gives
 * the pages of cold free stacks back with madvise.
 */
#include "core/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; older headers lack it */
#endif

/* corio__stack.guarded: what lies just below a stack's lo. */
enum { GUARD_NONE = 0, GUARD_MPROTECT = 1, GUARD_MADVISE = 2 };

#define MIN_STACK (16u * 1024u)
#define MIN_STACK_SHIFT 14 /* log2(MIN_STACK) */
_Static_assert(MIN_STACK == 1u << MIN_STACK_SHIFT, "MIN_STACK_SHIFT");
_Static_assert(sizeof(corio__stack) <= 24, "a stack descriptor is part of every sleeping task");
#define CHUNK_GUARDED 64u
#define CHUNK_UNGUARDED 256u
#define CHUNK_BYTES_MAX (64u * 1024u * 1024u)

static size_t page_size;
static atomic_long guard_budget = -1; /* stacks we may still guard */
static atomic_int light_guards = -1;  /* MADV_GUARD_INSTALL works: 1/0; -1 unknown */

static size_t pagesz(void)
{
    if (!page_size)
        page_size = (size_t)sysconf(_SC_PAGESIZE);
    return page_size;
}

size_t corio__stack_roundup(size_t size)
{
    size_t s = MIN_STACK;
    while (s < size && s < ((size_t)1 << 33))
        s <<= 1;
    return s;
}

/* The smallest i with MIN_STACK << i >= size (a count of leading zeros,
 * not a loop: it runs at every task start), or -1 beyond the last pool. */
static int pool_index(size_t size)
{
    int i;
    if (size <= MIN_STACK)
        return 0;
    i = 64 - __builtin_clzll((unsigned long long)(size - 1)) - MIN_STACK_SHIFT;
    return i < CORIO__STACK_POOLS ? i : -1;
}

/* Reserves guards for n stacks; 1 if granted, 0 if over budget. */
static int take_guards(long n)
{
    long b = atomic_load(&guard_budget);
    if (b < 0) {
        long maxmap = 65530;
        FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
        if (f) {
            if (fscanf(f, "%ld", &maxmap) != 1)
                maxmap = 65530;
            fclose(f);
        }
        /* Each guard costs two mappings; leave three quarters of the map
         * budget to everything else the process does. */
        long want = maxmap / 8;
        long expect = -1;
        atomic_compare_exchange_strong(&guard_budget, &expect, want);
        b = atomic_load(&guard_budget);
    }
    while (b >= n) {
        if (atomic_compare_exchange_weak(&guard_budget, &b, b - n))
            return 1;
    }
    return 0;
}

/* Does MADV_GUARD_INSTALL work here? The kernel must accept the advice,
 * and the page must then really be inaccessible: an emulator may accept
 * advice it does not know and ignore it (qemu-user does). write(2) from a
 * guard page fails with EFAULT, which tells us without taking a signal. */
static int probe_light_guards(void)
{
    size_t pg = pagesz();
    int ok = 0, fds[2];
    char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    if (madvise(p, pg, MADV_GUARD_INSTALL) == 0 && pipe(fds) == 0) {
        ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
        close(fds[0]);
        close(fds[1]);
    }
    munmap(p, pg);
    return ok;
}

static int have_light_guards(void)
{
    int v = atomic_load(&light_guards);
    if (v < 0) {
        v = probe_light_guards();
        atomic_store(&light_guards, v);
    }
    return v;
}

static int add_chunk(corio_loop *loop, corio__stack_pool *pool)
{
    size_t pg = pagesz(), slot, len;
    unsigned n, i;
    int guarded, light = have_light_guards();
    char *base;
    corio__stack_chunk *c;

    n = light ? CHUNK_UNGUARDED : CHUNK_GUARDED;
    while (n > 1 && (size_t)n * (pool->size + pg) > CHUNK_BYTES_MAX)
        n >>= 1;
    if (light)
        guarded = GUARD_MADVISE;
    else
        guarded = take_guards((long)n) ? GUARD_MPROTECT : GUARD_NONE;
    if (!guarded) {
        n = CHUNK_UNGUARDED;
        while (n > 1 && (size_t)n * pool->size > CHUNK_BYTES_MAX)
            n >>= 1;
    }
    slot = pool->size + (guarded ? pg : 0);
    len = slot * n;
    c = malloc(sizeof *c + n * sizeof(corio__stack));
    if (!c)
        return -ENOMEM;
    base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) {
        free(c);
        if (guarded == GUARD_MPROTECT)
            atomic_fetch_add(&guard_budget, (long)n);
        return -ENOMEM;
    }
    c->base = base;
    c->len = len;
    c->n = n;
    for (i = 0; i < n; i++) {
        corio__stack *s = &c->stacks[i];
        char *lo = base + (size_t)i * slot;
        if (guarded) {
            int rc = guarded == GUARD_MADVISE ? madvise(lo, pg, MADV_GUARD_INSTALL)
                                              : mprotect(lo, pg, PROT_NONE);
            if (rc < 0) {
                /* Out of map entries (or page-table memory) after all: go
                 * on unguarded, with canaries. */
                guarded = GUARD_NONE;
            } else {
                lo += pg;
            }
        }
        s->lo = lo;
        s->shift = (uint8_t)__builtin_ctzll((unsigned long long)pool->size);
        s->guarded = (uint8_t)guarded;
        s->dirty = 0;
        s->vg_id = VALGRIND_STACK_REGISTER(lo, lo + pool->size);
        s->next_free = pool->free;
        pool->free = s;
        pool->nfree++;
    }
    c->next = pool->chunks;
    pool->chunks = c;
    (void)loop;
    return 0;
}

int corio__stack_get(corio_loop *loop, size_t size, corio__stack **sp)
{
    int idx = pool_index(size);
    corio__stack_pool *pool;
    corio__stack *s;
    if (idx < 0)
        return -EINVAL;
    pool = &loop->pools[idx];
    if (!pool->free) {
        int rc;
        pool->size = (size_t)MIN_STACK << idx; /* size_t: pools reach 8 GiB */
        rc = add_chunk(loop, pool);
        if (rc < 0)
            return rc;
    }
    s = pool->free;
    pool->free = s->next_free;
    pool->nfree--;
    s->dirty = 1;
    if (!s->guarded) {
        uint64_t canary = CORIO__STACK_CANARY;
        memcpy(s->lo, &canary, sizeof canary);
    }
    *sp = s;
    return 0;
}

void corio__stack_put(corio_loop *loop, corio__stack *s)
{
    corio__stack_pool *pool = &loop->pools[s->shift - MIN_STACK_SHIFT];
    s->next_free = pool->free;
    pool->free = s;
    pool->nfree++;
}

/* Gives the pages of free stacks beyond the hottest few back to the OS.
 * Called when the loop is about to sleep; bounded work per call. */
void corio__stacks_trim(corio_loop *loop)
{
    int i;
    size_t budget = 4096;
    for (i = 0; i < CORIO__STACK_POOLS; i++) {
        corio__stack_pool *pool = &loop->pools[i];
        corio__stack *s = pool->free;
        size_t k = 0;
        for (; s && budget; s = s->next_free, k++) {
            if (k < 16 || !s->dirty)
                continue;
            madvise(s->lo, corio__stack_size(s), MADV_DONTNEED);
            s->dirty = 0;
            budget--;
        }
    }
}

void corio__stacks_free(corio_loop *loop)
{
    int i;
    for (i = 0; i < CORIO__STACK_POOLS; i++) {
        corio__stack_pool *pool = &loop->pools[i];
        corio__stack_chunk *c = pool->chunks, *next;
        for (; c; c = next) {
            unsigned k;
            next = c->next;
            for (k = 0; k < c->n; k++)
                VALGRIND_STACK_DEREGISTER(c->stacks[k].vg_id);
            if (c->n && c->stacks[0].guarded == GUARD_MPROTECT)
                atomic_fetch_add(&guard_budget, (long)c->n);
            munmap(c->base, c->len);
            free(c);
        }
        pool->chunks = NULL;
        pool->free = NULL;
        pool->nfree = 0;
    }
}

/* ---- overflow reporting -------------------------------------------------------*/

static void write_str(const char *s)
{
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

static void write_u64(unsigned long long v)
{
    char b[24];
    int i = 23;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    write_str(b + i);
}

static void overflow_report(const corio_task *t, const corio__stack *s,
                            const char *how)
{
    const char *name = corio__task_name_or_null(t);
    write_str("corio: stack overflow in task #");
    write_u64(t->id);
    if (name) {
        write_str(" '");
        write_str(name);
        write_str("'");
    }
    write_str(" (stack ");
    write_u64(s ? corio__stack_size(s) : 0);
    write_str(" bytes; ");
    write_str(how);
    write_str("); raise the task's stack_size or the loop's\n");
}

void corio__stack_check_canary(corio_task *t, corio__stack *s)
{
    uint64_t c;
    if (!s || s->guarded)
        return;
    memcpy(&c, s->lo, sizeof c);
    if (c != CORIO__STACK_CANARY) {
        overflow_report(t, s, "canary overwritten, found late: no guard page");
        abort();
    }
}

static struct sigaction old_segv, old_bus;
static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
    corio_loop *loop = corio__tls_loop;
    corio_task *t = loop ? loop->current : NULL;
    corio__stack *s = t ? corio__task_stack(t) : NULL;
    struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;

    if (s && s->guarded && si) {
        char *a = si->si_addr;
        /* The guard page, or just below it (a large frame can skip it). */
        if (a < s->lo && a >= s->lo - 16 * pagesz()) {
            overflow_report(t, s, "hit the guard page");
            signal(SIGABRT, SIG_DFL);
            abort();
        }
    }
    /* Not ours: hand it to whoever had the signal before us. */
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) {
            old->sa_sigaction(sig, si, uc);
            return;
        }
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL); /* re-raised on return from the faulting insn */
}

/* Installs segv_handler for sig unless it is the current handler already.
 * Checked at every loop creation, not once per process: the program may
 * have installed a handler of its own since, which then becomes the one we
 * chain to (never ourselves: that would recurse). */
static void install_handler(int sig, struct sigaction *old)
{
    struct sigaction sa, cur;
    if (sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == segv_handler)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, old);
}

int corio__overflow_handler_install(corio_loop *loop)
{
    stack_t ss;
    pthread_mutex_lock(&handler_lock);
    install_handler(SIGSEGV, &old_segv);
    install_handler(SIGBUS, &old_bus);
    pthread_mutex_unlock(&handler_lock);
    /* The handler needs a stack of its own: the task's is exhausted. */
    if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_DISABLE)) {
        size_t sz = 64 * 1024;
        void *mem = malloc(sz);
        if (!mem)
            return -ENOMEM;
        ss.ss_sp = mem;
        ss.ss_size = sz;
        ss.ss_flags = 0;
        if (sigaltstack(&ss, NULL) == 0) {
            loop->sigalt_mem = mem;
            loop->sigalt_installed = 1;
        } else {
            free(mem);
        }
    }
    return 0;
}

void corio__overflow_handler_remove(corio_loop *loop)
{
    stack_t ss, cur;
    if (!loop->sigalt_installed)
        return;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == loop->sigalt_mem) {
        memset(&ss, 0, sizeof ss);
        ss.ss_flags = SS_DISABLE;
        sigaltstack(&ss, NULL);
        free(loop->sigalt_mem);
    }
    /* else another loop on this thread replaced it: leave both alone (the
     * memory stays reachable from the thread's alt stack). */
    loop->sigalt_mem = NULL;
    loop->sigalt_installed = 0;
}
