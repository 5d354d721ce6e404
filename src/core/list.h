/*
 * Intrusive circular doubly-linked lists (libuv's queue.h idea): a node is
 * embedded in the object it links, a list head is a node whose next/prev
 * point to itself when empty. Unlinking needs only the node, so a waiter can
 * remove itself from whatever list it is on without knowing which.
 */
#ifndef CORIO_LIST_H
#define CORIO_LIST_H

#include <stddef.h>

typedef struct corio__list {
    struct corio__list *next, *prev;
} corio__list;

#define corio__container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void corio__list_init(corio__list *h) { h->next = h->prev = h; }

/* A node that is on no list points to itself (after init/remove), so
 * "is it linked?" is a pointer compare. */
static inline int corio__list_empty(const corio__list *h) { return h->next == h; }
static inline int corio__list_linked(const corio__list *n) { return n->next != n; }

static inline void corio__list_push_back(corio__list *h, corio__list *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static inline void corio__list_push_front(corio__list *h, corio__list *n)
{
    n->next = h->next;
    n->prev = h;
    h->next->prev = n;
    h->next = n;
}

static inline void corio__list_remove(corio__list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

static inline corio__list *corio__list_pop_front(corio__list *h)
{
    corio__list *n = h->next;
    if (n == h)
        return NULL;
    corio__list_remove(n);
    return n;
}

#endif
