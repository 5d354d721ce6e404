/*
 * epoll backend: edge-triggered, one registration per fd for IN|OUT|RDHUP,
 * made once at add(). want() is therefore free: no system call per wait.
 */
#include "platform/poller.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EV_BATCH 256

struct corio__poller {
    int epfd;
    int cur, n;   /* round in progress: evs[cur+1 .. n) not yet dispatched */
    struct epoll_event evs[EV_BATCH];
};

static int ep_create(corio__poller **pp)
{
    corio__poller *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->cur = p->n = 0;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int e = errno;
        free(p);
        return -e;
    }
    *pp = p;
    return 0;
}

static void ep_destroy(corio__poller *p)
{
    close(p->epfd);
    free(p);
}

static int ep_add(corio__poller *p, corio__io *io)
{
    struct epoll_event ev;
    /* Armed once for both directions, unless the owner asked for fewer at
     * add time (the loop's wake-up eventfd wants IN only: an eventfd is
     * always writable, and an OUT edge after each read would cost an extra
     * wake-up per cross-thread post). */
    if (io->want)
        ev.events = (io->want & CORIO__IO_IN ? EPOLLIN | EPOLLRDHUP : 0) |
                    (io->want & CORIO__IO_OUT ? EPOLLOUT : 0) | EPOLLET;
    else
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = io;
    io->slot = 0;
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
        return -errno;
    return 0;
}

static int ep_del(corio__poller *p, corio__io *io)
{
    struct epoll_event ev = {0};
    int i;
    io->slot = -1;
    /* An io deleted by a callback may still sit later in this round's
     * batch: forget it there, so its callback is not called. */
    for (i = p->cur + 1; i < p->n; i++)
        if (p->evs[i].data.ptr == io)
            p->evs[i].data.ptr = NULL;
    if (epoll_ctl(p->epfd, EPOLL_CTL_DEL, io->fd, &ev) < 0)
        return -errno;
    return 0;
}

static int ep_want(corio__poller *p, corio__io *io, unsigned events)
{
    (void)p;
    io->want = events;
    return 0;
}

static int ep_wait(corio__poller *p, int timeout_ms)
{
    int n, i;
    n = epoll_wait(p->epfd, p->evs, EV_BATCH, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    p->n = n;
    for (i = 0; i < n; i++) {
        corio__io *io = p->evs[i].data.ptr;
        uint32_t e = p->evs[i].events;
        unsigned ev = 0;
        if (!io)
            continue;
        p->cur = i;
        if (e & EPOLLIN)
            ev |= CORIO__IO_IN;
        if (e & EPOLLRDHUP)
            ev |= CORIO__IO_IN | CORIO__IO_RDHUP;
        if (e & EPOLLOUT)
            ev |= CORIO__IO_OUT;
        if (e & EPOLLERR)
            ev |= CORIO__IO_ERR | CORIO__IO_IN | CORIO__IO_OUT;
        if (e & EPOLLHUP)
            ev |= CORIO__IO_HUP | CORIO__IO_IN | CORIO__IO_OUT;
        io->ready |= ev;
        io->cb(io, ev);
    }
    p->cur = p->n = 0;
    return n;
}

const corio__poller_ops corio__poller_epoll = {
    "epoll", ep_create, ep_destroy, ep_add, ep_del, ep_want, ep_wait, NULL, NULL, NULL, NULL
};
