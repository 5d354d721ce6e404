/*
 * CapacityLimiter (Trio's): a semaphore whose tokens are borrowed by
 * someone — a task by default, or any pointer the caller names
 * (acquire_on_behalf_of) — so that a borrower cannot take two tokens and
 * only a borrower can give one back; the total is adjustable at run time.
 *
 * Tokens are handed off like a semaphore unit (sem.c): a release gives its
 * token straight to the first waiter that can still be woken, so waiters are
 * served FIFO, a newcomer never takes a token a waiter was promised, and a
 * waiter interrupted before the hand-off never holds one. Raising the total
 * hands the new tokens to waiters at once; lowering it takes nothing back:
 * acquirers wait until the borrowed count falls below the new total.
 *
 * Memory: the borrowers are an unordered array (membership is a linear
 * scan: O(borrowed) per acquire and release, fine for the tens to
 * thousands of tokens limiters hold). It has room for every borrower plus
 * every parked acquirer: an acquirer grows it before parking, so a hand-off
 * (in release, or in set_total_tokens) never allocates and never fails.
 */
#include "sync/sync.h"

#include <stdlib.h>

/* Allocated by corio_limiter_create(), freed by corio_limiter_destroy(). */
struct corio_limiter {
    size_t total;             /* total tokens (>= 1) */
    const void **borrowers;   /* holders, unordered: nb of them */
    size_t nb, cap;
    corio__list waiters;      /* parked acquirers: corio__waiter, value =
                               * the borrower, FIFO */
    size_t nparked;           /* acquirers inside park (live or claimed) */
};

/* A limiter has several holders: its state is what there is to say. */
static void describe_limiter(const corio_task *t, const void *obj, char *buf,
                             size_t len, corio_task **owner)
{
    const corio_limiter *l = obj;
    (void)t;
    (void)owner;
    snprintf(buf, len, "capacity limiter %p (%zu of %zu tokens borrowed, %zu waiting)",
             obj, l->nb, l->total, l->nparked);
}

static const corio__waitable wait_limiter = {"capacity limiter", CORIO_WAIT_LOCK,
                                             describe_limiter};

int corio_limiter_create(corio_limiter **lp, size_t total_tokens)
{
    corio_limiter *l;
    if (!lp)
        return -EINVAL;
    *lp = NULL;
    if (total_tokens == 0)
        return -EINVAL;
    l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->total = total_tokens;
    corio__list_init(&l->waiters);
    *lp = l;
    return 0;
}

void corio_limiter_destroy(corio_limiter *l)
{
    if (!l)
        return;
    /* Waiters on a destroyed limiter (a caller bug) fail rather than hang. */
    while (corio__waiter_claim(&l->waiters, -EIDRM))
        ;
    free(l->borrowers);
    free(l);
}

static size_t find(const corio_limiter *l, const void *b)
{
    size_t i;
    for (i = 0; i < l->nb; i++)
        if (l->borrowers[i] == b)
            return i;
    return (size_t)-1;
}

/* b holds a token or waits for one. */
static int busy(const corio_limiter *l, const void *b)
{
    const corio__list *n;
    if (find(l, b) != (size_t)-1)
        return 1;
    for (n = l->waiters.next; n != &l->waiters; n = n->next) {
        const corio__waiter *w = corio__container_of(n, corio__waiter, node);
        if (w->value == b && w->task->state == CORIO_TASK_SUSPENDED &&
            w->task->b->wake == CORIO__WAKE_NONE)
            return 1;
    }
    return 0;
}

/* Room for every borrower, every parked acquirer and one more. */
static int reserve(corio_limiter *l)
{
    size_t need = l->nb + l->nparked + 1;
    const void **a;
    size_t ncap;
    if (need <= l->cap)
        return 0;
    ncap = l->cap ? l->cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    a = realloc(l->borrowers, ncap * sizeof *a);
    if (!a)
        return -ENOMEM;
    l->borrowers = a;
    l->cap = ncap;
    return 0;
}

/* Gives free tokens to waiters, first come first served. */
static void hand_off(corio_limiter *l)
{
    corio__waiter *w;
    while (l->nb < l->total && l->nb < l->cap &&
           (w = corio__waiter_claim(&l->waiters, 0)) != NULL)
        l->borrowers[l->nb++] = w->value;
}

static int try_take(corio_limiter *l, const void *b)
{
    int rc;
    if (!l || !b)
        return -EINVAL;
    if (busy(l, b))
        return -EDEADLK; /* one token per borrower (Trio's RuntimeError) */
    if ((rc = reserve(l)) < 0)
        return rc;
    /* A free token with a live waiter cannot happen (hand-off), but a
     * newcomer must never overtake one. */
    if (l->nb >= l->total || corio__waiter_any(&l->waiters))
        return -EAGAIN;
    l->borrowers[l->nb++] = b;
    return 0;
}

int corio_limiter_acquire_on_behalf_of(corio_limiter *l, const void *borrower)
{
    corio_task *self;
    corio__waiter *w;
    int rc = corio__sync_enter(&self);
    if (rc)
        return rc;
    rc = try_take(l, borrower);
    if (rc != -EAGAIN)
        return rc;
    l->nparked++;
    rc = corio__waiter_park(self, &l->waiters, (void *)borrower, 0,
                            &wait_limiter, l, &w);
    if (rc == 0 && w->status == -EIDRM)
        return -EIDRM; /* l is gone: do not touch it */
    l->nparked--;
    return rc ? rc : w->status; /* 0: a release handed us its token */
}

int corio_limiter_acquire(corio_limiter *l)
{
    return corio_limiter_acquire_on_behalf_of(l, corio__sync_self());
}

int corio_limiter_try_acquire_on_behalf_of(corio_limiter *l,
                                           const void *borrower)
{
    return try_take(l, borrower);
}

int corio_limiter_try_acquire(corio_limiter *l)
{
    corio_task *self = corio__sync_self();
    if (!self)
        return -EPERM;
    return try_take(l, self);
}

int corio_limiter_release_on_behalf_of(corio_limiter *l, const void *borrower)
{
    size_t i;
    if (!l || !borrower)
        return -EINVAL;
    i = find(l, borrower);
    if (i == (size_t)-1)
        return -EPERM; /* it holds no token */
    l->borrowers[i] = l->borrowers[--l->nb];
    hand_off(l);
    return 0;
}

int corio_limiter_release(corio_limiter *l)
{
    corio_task *self = corio__sync_self();
    if (!self)
        return -EPERM;
    return corio_limiter_release_on_behalf_of(l, self);
}

int corio_limiter_set_total_tokens(corio_limiter *l, size_t total_tokens)
{
    if (!l || total_tokens == 0)
        return -EINVAL;
    l->total = total_tokens;
    hand_off(l);
    return 0;
}

size_t corio_limiter_total_tokens(const corio_limiter *l)
{
    return l ? l->total : 0;
}

size_t corio_limiter_borrowed_tokens(const corio_limiter *l)
{
    return l ? l->nb : 0;
}

size_t corio_limiter_available_tokens(const corio_limiter *l)
{
    return l && l->total > l->nb ? l->total - l->nb : 0;
}

size_t corio_limiter_borrowers(const corio_limiter *l, const void **out,
                               size_t max)
{
    size_t i;
    if (!l)
        return 0;
    for (i = 0; out && i < max && i < l->nb; i++)
        out[i] = l->borrowers[i];
    return l->nb;
}

int corio_limiter_statistics(const corio_limiter *l, corio_limiter_stats *st)
{
    const corio__list *n;
    if (!l || !st)
        return -EINVAL;
    st->borrowed_tokens = l->nb;
    st->total_tokens = l->total;
    st->tasks_waiting = 0;
    for (n = l->waiters.next; n != &l->waiters; n = n->next) {
        const corio__waiter *w = corio__container_of(n, corio__waiter, node);
        if (w->task->state == CORIO_TASK_SUSPENDED &&
            w->task->b->wake == CORIO__WAKE_NONE)
            st->tasks_waiting++;
    }
    return 0;
}
