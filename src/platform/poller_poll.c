/*
 * poll(2) backend: portable, level-triggered, O(n) per wait. It polls only
 * for the events some waiter wants (want()), so a level-triggered fd that
 * nobody waits on does not spin the loop. Exists so the contract is proven
 * by two implementations; CI runs the whole suite on it (CORIO_BACKEND=poll).
 */
#include "platform/poller.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

struct corio__poller {
    struct pollfd *fds;   /* fds[i] belongs to ios[i] */
    corio__io **ios;
    size_t n, cap;
};

static int pl_create(corio__poller **pp)
{
    corio__poller *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    *pp = p;
    return 0;
}

static void pl_destroy(corio__poller *p)
{
    free(p->fds);
    free(p->ios);
    free(p);
}

static int pl_add(corio__poller *p, corio__io *io)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct pollfd *f = realloc(p->fds, cap * sizeof *f);
        corio__io **i;
        if (!f)
            return -ENOMEM;
        p->fds = f;
        i = realloc(p->ios, cap * sizeof *i);
        if (!i)
            return -ENOMEM;
        p->ios = i;
        p->cap = cap;
    }
    io->slot = (int)p->n;
    p->fds[p->n].fd = io->fd;
    p->fds[p->n].events = 0;
    p->fds[p->n].revents = 0;
    p->ios[p->n] = io;
    p->n++;
    if (io->want)
        p->fds[io->slot].events = (short)((io->want & CORIO__IO_IN ? POLLIN : 0) |
                                          (io->want & CORIO__IO_OUT ? POLLOUT : 0));
    return 0;
}

static int pl_del(corio__poller *p, corio__io *io)
{
    size_t i = (size_t)io->slot, last;
    if (io->slot < 0 || i >= p->n || p->ios[i] != io)
        return -ENOENT;
    last = p->n - 1;
    /* Move the last entry into the hole. A round in progress walks the
     * array backwards, so the moved entry has been visited already. */
    p->fds[i] = p->fds[last];
    p->ios[i] = p->ios[last];
    p->ios[i]->slot = (int)i;
    p->n--;
    io->slot = -1;
    return 0;
}

static int pl_want(corio__poller *p, corio__io *io, unsigned events)
{
    io->want = events;
    if (io->slot >= 0 && (size_t)io->slot < p->n)
        p->fds[io->slot].events = (short)((events & CORIO__IO_IN ? POLLIN : 0) |
                                          (events & CORIO__IO_OUT ? POLLOUT : 0));
    return 0;
}

static int pl_wait(corio__poller *p, int timeout_ms)
{
    int n = poll(p->fds, (nfds_t)p->n, timeout_ms), done = 0;
    size_t i;
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    /* Backwards, so that del() of the current or an earlier-visited entry
     * by a callback never skips an unvisited one. */
    for (i = p->n; i-- > 0 && n > 0;) {
        short re;
        unsigned ev = 0;
        corio__io *io;
        if (i >= p->n)
            continue;
        re = p->fds[i].revents;
        if (!re)
            continue;
        p->fds[i].revents = 0;
        n--;
        io = p->ios[i];
        if (re & POLLIN)
            ev |= CORIO__IO_IN;
        if (re & POLLOUT)
            ev |= CORIO__IO_OUT;
        if (re & (POLLERR | POLLNVAL))
            ev |= CORIO__IO_ERR | CORIO__IO_IN | CORIO__IO_OUT;
        if (re & POLLHUP)
            ev |= CORIO__IO_HUP | CORIO__IO_IN | CORIO__IO_OUT;
        /* Level-triggered: stop asking until a waiter wants it again. */
        p->fds[i].events &= (short)~((ev & CORIO__IO_IN ? POLLIN : 0) |
                                     (ev & CORIO__IO_OUT ? POLLOUT : 0));
        io->want &= ~ev;
        io->ready |= ev;
        io->cb(io, ev);
        done++;
    }
    return done;
}

const corio__poller_ops corio__poller_poll = {
    "poll", pl_create, pl_destroy, pl_add, pl_del, pl_want, pl_wait, NULL, NULL, NULL, NULL
};

