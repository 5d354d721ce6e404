/*
 * The channel structure, shared by chan.c (send/recv/close) and select.c.
 */
#ifndef CORIO_SYNC_CHAN_H
#define CORIO_SYNC_CHAN_H

#include "sync/sync.h"

/* Allocated by corio_chan_create(), freed by corio_chan_destroy(). The ring
 * buffer is allocated with it (none for capacity 0).
 *
 * Invariants (ignoring stale nodes, see sync.h): receivers wait only while
 * the buffer is empty; senders wait only while it is full (always, for
 * capacity 0); after close nobody waits. */
struct corio_chan {
    void **buf;         /* ring of cap slots; NULL when cap == 0 */
    size_t cap;         /* capacity; 0 = unbuffered (rendezvous) */
    size_t head;        /* index of the oldest buffered value */
    size_t len;         /* buffered values */
    corio__list recvq;  /* parked receivers: corio__waiter.node, FIFO */
    corio__list sendq;  /* parked senders, value in corio__waiter.value */
    int closed;         /* corio_chan_close() was called */
};

/* Non-blocking halves used by send/recv and by select: 0 done, -EAGAIN
 * would block, CORIO_ECLOSED. */
int corio__chan_try_send(corio_chan *c, void *value);
int corio__chan_try_recv(corio_chan *c, void **value);

#endif
