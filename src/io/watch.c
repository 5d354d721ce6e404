/*
 * corio_watch: waiting on an fd that somebody else reads and writes (a
 * database or HTTP client library that owns its socket).
 *
 * The fd is registered with the poller once, at corio_watch_open, so a
 * wait costs no epoll_ctl. Such libraries expect level-triggered waits
 * ("wait until readable" returns at once if data is already there, even if
 * they did not read until EAGAIN), while the poller reports edges. So a
 * wait first looks at the readiness the poller recorded since the last
 * wait, then asks the kernel with a zero-timeout poll(2), and only then
 * parks for the next edge.
 */
#include "io/net.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

/* Allocated by corio_watch_open, freed by corio_watch_close (or, if a task
 * was still parked on it then, by that task when it leaves). */
struct corio_watch {
    corio__fd f;
    int users;   /* tasks inside corio_watch_wait */
    int closed;
};

int corio_watch_open(corio_watch **wp, int fd)
{
    corio_watch *w;
    int rc;
    if (!corio_loop_current())
        return -EPERM;
    if (fd < 0)
        return -EBADF;
    w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    rc = corio__fd_open(NULL, &w->f, fd);
    if (rc) {
        free(w);
        return rc;
    }
    *wp = w;
    return 0;
}

static unsigned to_public(unsigned ev, unsigned asked)
{
    unsigned r = 0;
    if (ev & (CORIO__IO_ERR | CORIO__IO_HUP))
        return asked; /* the library's own call will see the error */
    if (ev & CORIO__IO_IN)
        r |= CORIO_READABLE;
    if (ev & CORIO__IO_OUT)
        r |= CORIO_WRITABLE;
    return r & asked;
}

static unsigned probe(int fd, unsigned asked)
{
    struct pollfd p;
    unsigned ev = 0;
    p.fd = fd;
    p.events = (short)((asked & CORIO_READABLE ? POLLIN : 0) |
                       (asked & CORIO_WRITABLE ? POLLOUT : 0));
    p.revents = 0;
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & POLLIN)
        ev |= CORIO__IO_IN;
    if (p.revents & POLLOUT)
        ev |= CORIO__IO_OUT;
    if (p.revents & (POLLERR | POLLNVAL))
        ev |= CORIO__IO_ERR;
    if (p.revents & POLLHUP)
        ev |= CORIO__IO_HUP;
    return to_public(ev, asked);
}

int corio_watch_wait(corio_watch *w, unsigned events)
{
    corio_task *t = corio_current();
    unsigned dir = 0, r;
    int rc;
    if (!t)
        return -EPERM;
    if (!w || w->closed)
        return -EBADF;
    events &= CORIO_READABLE | CORIO_WRITABLE;
    if (!events)
        return -EINVAL;
    rc = corio__interrupted(t);
    if (rc)
        return rc;
    if (events & CORIO_READABLE)
        dir |= CORIO__IO_IN;
    if (events & CORIO_WRITABLE)
        dir |= CORIO__IO_OUT;
    /* An edge recorded since the last wait: report it and use it up. */
    r = to_public(w->f.io.ready, events);
    if (r) {
        w->f.io.ready &= ~(dir | CORIO__IO_ERR | CORIO__IO_HUP);
        return (int)r;
    }
    r = probe(w->f.io.fd, events);
    if (r)
        return (int)r;
    w->users++;
    for (;;) {
        rc = corio__fd_wait(&w->f, dir);
        if (rc)
            break;
        if (w->closed) {
            rc = -EBADF;
            break;
        }
        r = to_public(w->f.io.ready, events);
        w->f.io.ready &= ~(dir | CORIO__IO_ERR | CORIO__IO_HUP);
        if (r) {
            rc = (int)r;
            break;
        }
    }
    if (--w->users == 0 && w->closed)
        free(w);
    return rc;
}

void corio_watch_close(corio_watch *w)
{
    if (!w || w->closed)
        return;
    w->closed = 1;
    corio__fd_close(&w->f);
    if (w->users == 0)
        free(w);
}

int corio_wait_fd(int fd, unsigned events)
{
    corio_watch *w;
    int rc;
    if (!corio_current())
        return -EPERM;
    rc = corio_watch_open(&w, fd);
    if (rc)
        return rc;
    rc = corio_watch_wait(w, events);
    corio_watch_close(w);
    return rc;
}
