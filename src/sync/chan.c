/*
 * Go-style channels of void * values, buffered or unbuffered.
 *
 * The hot path never allocates: waiting tasks park on their embedded
 * corio__waiter, and a send to a parked receiver hands the value straight
 * into the receiver's node (skipping the buffer) and wakes it with
 * corio__wake(), which queues it so the scheduler can switch to it directly
 * when the sender next parks. A receive from a full buffer refills the slot
 * it freed from the first parked sender, so FIFO order holds across the
 * buffer and the senders waiting to enter it.
 */
#include "sync/chan.h"

#include <stdlib.h>

/* What a task parked here waits on, for dumps and reports. */
static const corio__waitable wait_channel = {"channel", CORIO_WAIT_CHANNEL, NULL};

int corio_chan_create(corio_chan **cp, size_t capacity)
{
    corio_chan *c;
    if (!cp)
        return -EINVAL;
    *cp = NULL;
    if (capacity > ((size_t)-1 / 2) / sizeof(void *))
        return -EINVAL;
    c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->buf = NULL;
    if (capacity) {
        c->buf = malloc(capacity * sizeof(void *));
        if (!c->buf) {
            free(c);
            return -ENOMEM;
        }
    }
    c->cap = capacity;
    c->head = c->len = 0;
    corio__list_init(&c->recvq);
    corio__list_init(&c->sendq);
    c->closed = 0;
    *cp = c;
    return 0;
}

/* Wakes every waiter of q with CORIO_ECLOSED (the claim unlinks each node,
 * so no task is left pointing into the channel). */
static void wake_all(corio__list *q)
{
    while (corio__waiter_claim(q, CORIO_ECLOSED))
        ;
}

void corio_chan_destroy(corio_chan *c)
{
    if (!c)
        return;
    /* Destroying a channel tasks still wait on is the caller's bug; waking
     * them as if it were closed beats leaving them on freed memory. */
    wake_all(&c->recvq);
    wake_all(&c->sendq);
    free(c->buf);
    free(c);
}

int corio_chan_close(corio_chan *c)
{
    if (!c)
        return -EINVAL;
    if (c->closed)
        return -EALREADY;
    c->closed = 1;
    wake_all(&c->recvq);
    wake_all(&c->sendq);
    return 0;
}

/* The non-blocking halves, inlined into send/recv (their hot paths) and
 * exported below for select.c. */
static inline __attribute__((always_inline)) int
try_send(corio_chan *c, void *value)
{
    corio__waiter *w;
    if (c->closed)
        return CORIO_ECLOSED;
    w = corio__waiter_claim(&c->recvq, 0);
    if (w) {
        w->value = value;
        return 0;
    }
    if (c->len < c->cap) {
        size_t i = c->head + c->len;
        if (i >= c->cap)
            i -= c->cap;
        c->buf[i] = value;
        c->len++;
        return 0;
    }
    return -EAGAIN;
}

static inline __attribute__((always_inline)) int
try_recv(corio_chan *c, void **value)
{
    corio__waiter *w;
    if (c->len) {
        *value = c->buf[c->head];
        /* The freed slot goes to the first parked sender, so its value
         * queues behind the buffered ones. */
        w = corio__waiter_claim(&c->sendq, 0);
        if (w) {
            size_t i = c->head + c->len; /* == head when full, as it is */
            if (i >= c->cap)
                i -= c->cap;
            c->buf[i] = w->value;
            if (++c->head == c->cap)
                c->head = 0;
        } else {
            if (++c->head == c->cap)
                c->head = 0;
            c->len--;
        }
        return 0;
    }
    w = corio__waiter_claim(&c->sendq, 0); /* unbuffered: rendezvous */
    if (w) {
        *value = w->value;
        return 0;
    }
    return c->closed ? CORIO_ECLOSED : -EAGAIN;
}

int corio__chan_try_send(corio_chan *c, void *value)
{
    return try_send(c, value);
}

int corio__chan_try_recv(corio_chan *c, void **value)
{
    return try_recv(c, value);
}

int corio_chan_send(corio_chan *c, void *value)
{
    corio_task *self;
    corio__waiter *w;
    int rc = corio__sync_enter(&self);
    if (CORIO__UNLIKELY(rc))
        return rc;
    if (CORIO__UNLIKELY(!c))
        return -EINVAL;
    rc = try_send(c, value);
    if (rc != -EAGAIN)
        return rc;
    rc = corio__waiter_park(self, &c->sendq, value, 0, &wait_channel, c,
                            &w);
    return rc ? rc : w->status; /* 0: a receiver took it; or closed */
}

int corio_chan_recv(corio_chan *c, void **value)
{
    corio_task *self;
    corio__waiter *w;
    void *v = NULL;
    int rc = corio__sync_enter(&self);
    if (CORIO__UNLIKELY(rc || !c)) {
        if (value)
            *value = NULL;
        return rc ? rc : -EINVAL;
    }
    rc = try_recv(c, &v);
    if (rc == -EAGAIN) {
        rc = corio__waiter_park(self, &c->recvq, NULL, 0, &wait_channel,
                                c, &w);
        if (rc == 0) {
            rc = w->status;
            v = rc == 0 ? w->value : NULL;
        }
    }
    if (value)
        *value = v;
    return rc;
}

int corio_chan_try_send(corio_chan *c, void *value)
{
    if (!c)
        return -EINVAL;
    return corio__chan_try_send(c, value);
}

int corio_chan_try_recv(corio_chan *c, void **value)
{
    void *v = NULL;
    int rc;
    if (!c)
        rc = -EINVAL;
    else
        rc = corio__chan_try_recv(c, &v);
    if (value)
        *value = v;
    return rc;
}

size_t corio_chan_len(const corio_chan *c) { return c ? c->len : 0; }
size_t corio_chan_cap(const corio_chan *c) { return c ? c->cap : 0; }
int corio_chan_closed(const corio_chan *c) { return c ? c->closed : 1; }
