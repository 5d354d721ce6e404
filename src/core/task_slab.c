/*
 * Slabs: the memory of task handles, and of task bodies in COMPACT mode.
 *
 * malloc/free of a task struct was over a third of the instructions of a
 * spawn (glibc splits and consolidates the small chunks). Every handle is
 * the same size and belongs to one loop, so each loop carves them from
 * 64 KiB blocks of its own (and likewise the bodies of COMPACT mode, whose
 * default-mode counterparts live at the top of their stacks instead):
 *
 *  - A block is mmap'ed, aligned to its size, so the block of a slot is
 *    found by masking the slot's address. Its header starts with the slab's
 *    owner, the loop (so a handle needs no loop pointer: corio__task_loop),
 *    and counts the slots in use and those handed out at least once
 *    ("carved").
 *  - A freed slot goes onto its slab's free list, linked through its first
 *    16 bytes.
 *  - A new slot comes from the free list, else from the never-used tail of
 *    the newest block (a bump pointer), else from a new block.
 *  - A block whose last slot is freed goes onto the slab's list of empty
 *    blocks. When the loop is about to wait for I/O or timers (idle, like
 *    the trimming of free stacks), corio__task_slabs_trim releases empty
 *    blocks, at most TRIM_BATCH per call, while more than FREE_SLOTS_KEEP
 *    slots are free (a block's carved slots are unlinked from the free
 *    list first). Releasing is not done at free time: freeing the pages
 *    of a block costs more than everything else a task costs, and done
 *    there it took ~25% off spawn's rate.
 *  - So memory is bounded by the peak of live tasks while the loop is
 *    busy, and shrinks back to about FREE_SLOTS_KEEP slots once it idles.
 *  - Handle memory is type-stable for the loop's lifetime, so that a stale
 *    handle (a task awaited twice, cancelled after it was freed) is
 *    recognised instead of read as garbage (docs/design.md, "Stale task
 *    handles"): corio__task_free marks a freed slot CORIO__TASK_FREED; the
 *    handle slab's free list is FIFO and a slot is reused only while more
 *    than CORIO__TASK_COOL slots are free (sl->cool), so a freed slot is
 *    handed out again only after at least CORIO__TASK_COOL later spawns;
 *    and a released block is not unmapped but emptied with
 *    madvise(MADV_DONTNEED) (its pages read back as zeros, state 0, which
 *    is no live state either) and kept on sl->released, from which a new
 *    block is taken before mapping one. The body slab (cool 0) reuses the
 *    most recently freed slot first, the hottest.
 *  - The live handles of a loop are the carved slots of its handle slab's
 *    blocks whose state is at most DONE: corio__slab_walk visits them all
 *    (task.c's enumeration); released blocks are off the block list.
 *  - corio_loop_close() unmaps every block (corio__task_slabs_free), after
 *    it has freed every task.
 *
 * Under AddressSanitizer slots are plain malloc/free, never recycled, so
 * that a use of a freed task is still reported; a freed handle is kept
 * (poisoned but for its state, loop and id) on the free list until
 * CORIO__TASK_COOL_ASAN later frees, so the stale-handle checks see it too.
 *
 * Who allocates and frees: corio__task_alloc (task.c) allocates every task
 * handle here and corio__task_free (task.c) and src/debug's quarantine give
 * them back; task_prepare and corio__task_release (sched.c) do the same for
 * COMPACT bodies. The blocks belong to the loop.
 */
#include "core/internal.h"

#include <stdint.h>
#include <stdlib.h>

#ifndef CORIO__ASAN
#include <sys/mman.h>

#define SLAB_SIZE CORIO__SLAB_SIZE
#define SLAB_HDR ((size_t)64) /* the header, rounded to a cache line */
#define SLAB_SLOTS(sl) ((SLAB_SIZE - SLAB_HDR) / (sl)->slot)
#define FREE_SLOTS_KEEP 4096
#define TRIM_BATCH 64 /* blocks released per idle step (~1 ms at most) */

/* The header at the start of each block. Owned by the loop. */
typedef struct corio__slab_block {
    void *owner; /* the slab's owner (the loop): first, see corio__task_loop */
    struct corio__slab_block *next, *prev; /* sl->blocks, NULL-terminated */
    /* sl->empty, NULL-terminated: on it exactly when used == 0. */
    struct corio__slab_block *enext, *eprev;
    unsigned used;   /* slots handed out and not freed */
    unsigned carved; /* slots handed out at least once (from the bump) */
} corio__slab_block;

_Static_assert(sizeof(corio__slab_block) <= SLAB_HDR, "slab header too big");

static inline corio__slab_block *block_of(const void *p)
{
    return (corio__slab_block *)((uintptr_t)p & ~(uintptr_t)(SLAB_SIZE - 1));
}

static inline corio__list *slot(const corio__slab *sl, corio__slab_block *b,
                                size_t i)
{
    return (corio__list *)((char *)b + SLAB_HDR + i * sl->slot);
}

/* A SLAB_SIZE-aligned mapping of SLAB_SIZE bytes, or NULL. Linux places
 * new mappings just below the previous ones, so after one aligned block
 * the next plain mmap is usually aligned too; only when it is not do we map
 * twice the size and trim it. */
static void *map_block(void)
{
    char *p = mmap(NULL, SLAB_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uintptr_t a;
    size_t head, tail;
    if (p == MAP_FAILED)
        return NULL;
    if (((uintptr_t)p & (SLAB_SIZE - 1)) == 0)
        return p;
    munmap(p, SLAB_SIZE);
    p = mmap(NULL, 2 * SLAB_SIZE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    a = ((uintptr_t)p + SLAB_SIZE - 1) & ~(uintptr_t)(SLAB_SIZE - 1);
    head = a - (uintptr_t)p;
    tail = SLAB_SIZE - head;
    if (head)
        munmap(p, head);
    if (tail)
        munmap((char *)a + SLAB_SIZE, tail);
    return (void *)a;
}

static void empty_push(corio__slab *sl, corio__slab_block *b)
{
    b->eprev = NULL;
    b->enext = sl->empty;
    if (b->enext)
        b->enext->eprev = b;
    sl->empty = b;
}

static void empty_unlink(corio__slab *sl, corio__slab_block *b)
{
    if (b->eprev)
        b->eprev->enext = b->enext;
    else
        sl->empty = b->enext;
    if (b->enext)
        b->enext->eprev = b->eprev;
}

static CORIO__NOINLINE void *slab_new(corio__slab *sl)
{
    corio__slab_block *b = sl->nreleased ? sl->released[--sl->nreleased]
                                         : map_block();
    if (!b)
        return NULL;
    b->owner = sl->owner;
    b->prev = NULL;
    b->next = sl->blocks;
    if (b->next)
        b->next->prev = b;
    sl->blocks = b;
    b->used = 1;
    b->carved = 1;
    sl->bump = (char *)slot(sl, b, 1);
    sl->end = (char *)slot(sl, b, SLAB_SLOTS(sl));
    return slot(sl, b, 0);
}

/* Gives an empty block's pages back but keeps its addresses (type-stable
 * memory, see the top): 1 if it was kept for reuse, 0 if it had to be
 * unmapped (no room to remember it). */
static int slab_keep_released(corio__slab *sl, corio__slab_block *b)
{
    if (sl->nreleased == sl->released_cap) {
        size_t cap = sl->released_cap ? 2 * sl->released_cap : 16;
        void **a = realloc(sl->released, cap * sizeof *a);
        if (!a)
            return 0;
        sl->released = a;
        sl->released_cap = cap;
    }
    if (madvise(b, SLAB_SIZE, MADV_DONTNEED) != 0)
        return 0;
    sl->released[sl->nreleased++] = b;
    return 1;
}

/* Releases an empty block that is not the bump block. */
static void slab_release(corio__slab *sl, corio__slab_block *b)
{
    unsigned i;
    for (i = 0; i < b->carved; i++)
        corio__list_remove(slot(sl, b, i));
    sl->nfree -= b->carved;
    empty_unlink(sl, b);
    if (b->prev)
        b->prev->next = b->next;
    else
        sl->blocks = b->next;
    if (b->next)
        b->next->prev = b->prev;
    if (!slab_keep_released(sl, b))
        munmap(b, SLAB_SIZE);
}

/* A slot of block b is handed out: b is no longer empty. */
static CORIO__NOINLINE void slab_unempty(corio__slab *sl, corio__slab_block *b)
{
    empty_unlink(sl, b);
}

void corio__slab_init(corio__slab *sl, size_t slot_size, size_t cool, void *owner)
{
    sl->owner = owner;
    corio__list_init(&sl->free);
    sl->nfree = 0;
    /* A sizeof is a multiple of its type's alignment, and slots start
     * 64-byte aligned: rounding only keeps the free-list link aligned. */
    sl->slot = (slot_size + 7) & ~(size_t)7;
    sl->cool = cool;
    sl->bump = sl->end = NULL;
    sl->blocks = sl->empty = NULL;
    sl->released = NULL;
    sl->nreleased = sl->released_cap = 0;
}

void *corio__slab_alloc(corio__slab *sl)
{
    corio__list *n = sl->free.next;
    corio__slab_block *b;
    /* Oldest free slot first (the list is FIFO when cool > 0), and only
     * while enough others are free: a freed handle cools for
     * CORIO__TASK_COOL spawns (stale handles). */
    if (sl->nfree > sl->cool) {
        corio__list_remove(n);
        sl->nfree--;
        b = block_of(n);
    } else if (sl->bump < sl->end) {
        n = (corio__list *)sl->bump;
        sl->bump += sl->slot;
        b = block_of(n);
        b->carved++;
    } else {
        return slab_new(sl);
    }
    if (CORIO__UNLIKELY(b->used++ == 0))
        slab_unempty(sl, b);
    return n;
}

void corio__slab_free(corio__slab *sl, void *p)
{
    corio__slab_block *b;
    if (!p)
        return;
    b = block_of(p);
    if (sl->cool)
        corio__list_push_back(&sl->free, (corio__list *)p);
    else
        corio__list_push_front(&sl->free, (corio__list *)p);
    sl->nfree++;
    if (CORIO__UNLIKELY(--b->used == 0))
        empty_push(sl, b);
}

int corio__slab_walk(corio__slab *sl, int (*fn)(void *slot, void *arg), void *arg)
{
    corio__slab_block *b, *next;
    for (b = sl->blocks; b; b = next) {
        unsigned i, n = b->carved;
        next = b->next;
        for (i = 0; i < n; i++) {
            int rc = fn(slot(sl, b, i), arg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static void slab_trim(corio__slab *sl)
{
    corio__slab_block *b = sl->empty, *next;
    int budget = TRIM_BATCH;
    for (; b && budget > 0 && sl->nfree > FREE_SLOTS_KEEP; b = next) {
        next = b->enext;
        if (b == sl->blocks)
            continue; /* the bump block: its uncarved tail is still ours */
        slab_release(sl, b);
        budget--;
    }
}

void corio__task_slabs_trim(corio_loop *loop)
{
    slab_trim(&loop->task_slab);
    slab_trim(&loop->body_slab);
}

static void slab_free_all(corio__slab *sl)
{
    corio__slab_block *b = sl->blocks, *next;
    for (; b; b = next) {
        next = b->next;
        munmap(b, SLAB_SIZE);
    }
    while (sl->nreleased)
        munmap(sl->released[--sl->nreleased], SLAB_SIZE);
    free(sl->released);
    corio__slab_init(sl, sl->slot, sl->cool, sl->owner);
}

void corio__task_slabs_free(corio_loop *loop)
{
    slab_free_all(&loop->task_slab);
    slab_free_all(&loop->body_slab);
}

#else /* CORIO__ASAN */

#include <sanitizer/asan_interface.h>

#define CORIO__TASK_COOL_ASAN 1024

void corio__slab_init(corio__slab *sl, size_t slot_size, size_t cool, void *owner)
{
    sl->owner = owner;
    corio__list_init(&sl->free);
    sl->nfree = 0;
    sl->slot = slot_size;
    sl->cool = cool;
    sl->blocks = sl->empty = NULL;
    sl->released = NULL;
    sl->nreleased = sl->released_cap = 0;
}

void *corio__slab_alloc(corio__slab *sl)
{
    return malloc(sl->slot);
}

/* Poisons a freed task handle but for what the stale-handle checks read:
 * the free-list link, the state byte, the loop and the id. */
static void poison_freed(corio_task *t)
{
    ASAN_POISON_MEMORY_REGION(t, sizeof *t);
    ASAN_UNPOISON_MEMORY_REGION(t, offsetof(corio_task, state) + 1);
    ASAN_UNPOISON_MEMORY_REGION(&t->corio__loop, sizeof t->corio__loop);
    ASAN_UNPOISON_MEMORY_REGION(&t->id, sizeof t->id);
}

/* Bodies (cool 0) are freed at once; handles (the slab with a cool) are
 * kept, poisoned, for CORIO__TASK_COOL_ASAN later frees. */
void corio__slab_free(corio__slab *sl, void *p)
{
    corio__list *n;
    corio_task *t;
    if (!p)
        return;
    if (!sl->cool) {
        free(p);
        return;
    }
    t = p;
    poison_freed(t);
    corio__list_push_back(&sl->free, &t->run.node);
    if (++sl->nfree <= CORIO__TASK_COOL_ASAN)
        return;
    n = corio__list_pop_front(&sl->free);
    sl->nfree--;
    t = corio__container_of(n, corio_task, run.node);
    ASAN_UNPOISON_MEMORY_REGION(t, sizeof *t);
    free(t);
}

static void slab_free_all(corio__slab *sl)
{
    corio__list *n;
    while ((n = corio__list_pop_front(&sl->free))) {
        corio_task *t = corio__container_of(n, corio_task, run.node);
        ASAN_UNPOISON_MEMORY_REGION(t, sizeof *t);
        free(t);
    }
    sl->nfree = 0;
}

void corio__task_slabs_free(corio_loop *loop)
{
    slab_free_all(&loop->task_slab);
    slab_free_all(&loop->body_slab);
}

int corio__slab_walk(corio__slab *sl, int (*fn)(void *slot, void *arg), void *arg)
{
    (void)sl, (void)fn, (void)arg;
    return 0;
}

void corio__task_slabs_trim(corio_loop *loop)
{
    (void)loop;
}

#endif
