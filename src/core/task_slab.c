/*
 * The memory of task structs: per-loop slabs.
 *
 * malloc/free of a task struct was over a third of the instructions of a
 * spawn (glibc splits and consolidates the ~400-byte chunks). Every struct
 * is the same size and belongs to one loop, so each loop carves them from
 * 64 KiB blocks of its own:
 *
 *  - A block is mmap'ed, aligned to its size, so the block of a slot is
 *    found by masking the slot's address. Its header counts the slots in
 *    use, and the slots handed out at least once ("carved").
 *  - A freed slot goes onto the loop's free list (LIFO, so the hottest slot
 *    is reused first), linked through its run.node.
 *  - A new slot comes from the free list, else from the never-used tail of
 *    the newest block (a bump pointer), else from a new block.
 *  - A block whose last slot is freed goes onto the loop's list of empty
 *    blocks. When the loop is about to wait for I/O or timers (idle, like
 *    the trimming of free stacks), corio__task_slabs_trim unmaps empty
 *    blocks, at most TRIM_BATCH per call, while more than FREE_SLOTS_KEEP
 *    slots are free (a block's carved slots are unlinked from the free
 *    list first). Unmapping is not done at free time: freeing the pages
 *    of a block costs more than everything else a task costs, and done
 *    there it took ~25% off spawn's rate.
 *  - So memory is bounded by the peak of live tasks while the loop is
 *    busy, and shrinks back to about FREE_SLOTS_KEEP slots once it idles.
 *  - Task memory is type-stable for the loop's lifetime, so that a stale
 *    handle (a task awaited twice, cancelled after it was freed) is
 *    recognised instead of read as garbage (docs/design.md, "Stale task
 *    handles"): corio__task_free marks a freed slot CORIO__TASK_FREED; a
 *    freed slot goes to the BACK of the free list and a slot is reused only
 *    while more than CORIO__TASK_COOL slots are free, so a freed slot is
 *    handed out again only after at least CORIO__TASK_COOL later spawns;
 *    and an empty block is not unmapped but emptied with
 *    madvise(MADV_DONTNEED) (its pages read back as zeros, state 0, which
 *    is no live state either) and kept on loop->slabs_released, from which
 *    a new block is taken before mapping one.
 *  - corio_loop_close() unmaps every block (corio__task_slabs_free), after
 *    it has freed every task.
 *
 * Under AddressSanitizer task structs are plain malloc/free, never
 * recycled, so that a use of a freed task is still reported; a freed one
 * is kept (poisoned but for its state, loop and id) on the free list until
 * CORIO__TASK_COOL_ASAN later frees, so the stale-handle checks see it
 * too.
 *
 * Who allocates and frees: corio__task_alloc (task.c) allocates every task
 * struct here; corio__task_free (task.c) and src/debug's quarantine give
 * them back. The blocks belong to the loop.
 */
#include "core/internal.h"

#include <stdint.h>
#include <stdlib.h>

#ifndef CORIO__ASAN
#include <sys/mman.h>

#define SLAB_SIZE ((size_t)64 * 1024)
#define SLAB_HDR ((size_t)64) /* the header, rounded to a cache line */
#define SLAB_SLOTS ((SLAB_SIZE - SLAB_HDR) / sizeof(corio_task))
#define FREE_SLOTS_KEEP 4096
#define TRIM_BATCH 64 /* blocks unmapped per idle step (~1 ms at most) */

/* The header at the start of each block. Owned by the loop. */
typedef struct corio__task_slab {
    struct corio__task_slab *next, *prev; /* loop->slabs, NULL-terminated */
    /* loop->slabs_empty, NULL-terminated: on it exactly when used == 0. */
    struct corio__task_slab *enext, *eprev;
    unsigned used;   /* slots handed out and not freed */
    unsigned carved; /* slots handed out at least once (from the bump) */
} corio__task_slab;

_Static_assert(sizeof(corio__task_slab) <= SLAB_HDR, "slab header too big");

static inline corio__task_slab *slab_of(const corio_task *t)
{
    return (corio__task_slab *)((uintptr_t)t & ~(uintptr_t)(SLAB_SIZE - 1));
}

static inline corio_task *slot(corio__task_slab *s, size_t i)
{
    return (corio_task *)((char *)s + SLAB_HDR + i * sizeof(corio_task));
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

static void empty_push(corio_loop *loop, corio__task_slab *s)
{
    s->eprev = NULL;
    s->enext = loop->slabs_empty;
    if (s->enext)
        s->enext->eprev = s;
    loop->slabs_empty = s;
}

static void empty_unlink(corio_loop *loop, corio__task_slab *s)
{
    if (s->eprev)
        s->eprev->enext = s->enext;
    else
        loop->slabs_empty = s->enext;
    if (s->enext)
        s->enext->eprev = s->eprev;
}

static CORIO__NOINLINE corio_task *slab_new(corio_loop *loop)
{
    corio__task_slab *s = loop->nslabs_released
                              ? loop->slabs_released[--loop->nslabs_released]
                              : map_block();
    if (!s)
        return NULL;
    s->prev = NULL;
    s->next = loop->slabs;
    if (s->next)
        s->next->prev = s;
    loop->slabs = s;
    s->used = 1;
    s->carved = 1;
    loop->slab_bump = (char *)slot(s, 1);
    loop->slab_end = (char *)slot(s, SLAB_SLOTS);
    return slot(s, 0);
}

/* Gives an empty block's pages back but keeps its addresses (type-stable
 * memory, see the top): 1 if it was kept for reuse, 0 if it had to be
 * unmapped (no room to remember it). */
static int slab_keep_released(corio_loop *loop, corio__task_slab *s)
{
    if (loop->nslabs_released == loop->slabs_released_cap) {
        size_t cap = loop->slabs_released_cap ? 2 * loop->slabs_released_cap : 16;
        void **a = realloc(loop->slabs_released, cap * sizeof *a);
        if (!a)
            return 0;
        loop->slabs_released = a;
        loop->slabs_released_cap = cap;
    }
    if (madvise(s, SLAB_SIZE, MADV_DONTNEED) != 0)
        return 0;
    loop->slabs_released[loop->nslabs_released++] = s;
    return 1;
}

/* Releases an empty block that is not the bump block. */
static void slab_release(corio_loop *loop, corio__task_slab *s)
{
    unsigned i;
    for (i = 0; i < s->carved; i++)
        corio__list_remove(&slot(s, i)->run.node);
    loop->nfree_tasks -= s->carved;
    empty_unlink(loop, s);
    if (s->prev)
        s->prev->next = s->next;
    else
        loop->slabs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (!slab_keep_released(loop, s))
        munmap(s, SLAB_SIZE);
}

/* A slot of block s is handed out: s is no longer empty. */
static CORIO__NOINLINE void slab_unempty(corio_loop *loop, corio__task_slab *s)
{
    empty_unlink(loop, s);
}

corio_task *corio__task_mem_alloc(corio_loop *loop)
{
    corio__list *n = loop->free_tasks.next;
    corio__task_slab *s;
    corio_task *t;
    /* Oldest free slot first, and only while enough others are free: a
     * freed slot cools for CORIO__TASK_COOL spawns (stale handles). */
    if (loop->nfree_tasks > CORIO__TASK_COOL) {
        corio__list_remove(n);
        loop->nfree_tasks--;
        t = corio__container_of(n, corio_task, run.node);
        s = slab_of(t);
    } else if (loop->slab_bump < loop->slab_end) {
        t = (corio_task *)loop->slab_bump;
        loop->slab_bump += sizeof(corio_task);
        s = slab_of(t);
        s->carved++;
    } else {
        return slab_new(loop);
    }
    if (CORIO__UNLIKELY(s->used++ == 0))
        slab_unempty(loop, s);
    return t;
}

void corio__task_mem_free(corio_loop *loop, corio_task *t)
{
    corio__task_slab *s;
    if (!t)
        return;
    s = slab_of(t);
    corio__list_push_back(&loop->free_tasks, &t->run.node);
    loop->nfree_tasks++;
    if (CORIO__UNLIKELY(--s->used == 0))
        empty_push(loop, s);
}

void corio__task_slabs_trim(corio_loop *loop)
{
    corio__task_slab *s = loop->slabs_empty, *next;
    int budget = TRIM_BATCH;
    for (; s && budget > 0 && loop->nfree_tasks > FREE_SLOTS_KEEP; s = next) {
        next = s->enext;
        if (s == loop->slabs)
            continue; /* the bump block: its uncarved tail is still ours */
        slab_release(loop, s);
        budget--;
    }
}

void corio__task_slabs_free(corio_loop *loop)
{
    corio__task_slab *s = loop->slabs, *next;
    for (; s; s = next) {
        next = s->next;
        munmap(s, SLAB_SIZE);
    }
    while (loop->nslabs_released)
        munmap(loop->slabs_released[--loop->nslabs_released], SLAB_SIZE);
    free(loop->slabs_released);
    loop->slabs_released = NULL;
    loop->slabs_released_cap = 0;
    loop->slabs = loop->slabs_empty = NULL;
    loop->slab_bump = loop->slab_end = NULL;
    corio__list_init(&loop->free_tasks);
    loop->nfree_tasks = 0;
}

#else /* CORIO__ASAN */

#include <sanitizer/asan_interface.h>

#define CORIO__TASK_COOL_ASAN 1024

corio_task *corio__task_mem_alloc(corio_loop *loop)
{
    (void)loop;
    return malloc(sizeof(corio_task));
}

/* Poisons a freed task but for what the stale-handle checks read: the
 * free-list link, the state byte, the loop and the id. */
static void poison_freed(corio_task *t)
{
    ASAN_POISON_MEMORY_REGION(t, sizeof *t);
    ASAN_UNPOISON_MEMORY_REGION(t, offsetof(corio_task, state) + 1);
    ASAN_UNPOISON_MEMORY_REGION(&t->loop, sizeof t->loop);
    ASAN_UNPOISON_MEMORY_REGION(&t->id, sizeof t->id);
}

void corio__task_mem_free(corio_loop *loop, corio_task *t)
{
    corio__list *n;
    if (!t)
        return;
    poison_freed(t);
    corio__list_push_back(&loop->free_tasks, &t->run.node);
    if (++loop->nfree_tasks <= CORIO__TASK_COOL_ASAN)
        return;
    n = corio__list_pop_front(&loop->free_tasks);
    loop->nfree_tasks--;
    t = corio__container_of(n, corio_task, run.node);
    ASAN_UNPOISON_MEMORY_REGION(t, sizeof *t);
    free(t);
}

void corio__task_slabs_free(corio_loop *loop)
{
    corio__list *n;
    while ((n = corio__list_pop_front(&loop->free_tasks))) {
        corio_task *t = corio__container_of(n, corio_task, run.node);
        ASAN_UNPOISON_MEMORY_REGION(t, sizeof *t);
        free(t);
    }
    corio__list_init(&loop->free_tasks);
    loop->nfree_tasks = 0;
}

void corio__task_slabs_trim(corio_loop *loop)
{
    (void)loop;
}

#endif
