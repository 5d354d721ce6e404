/* See fd.h. */
#include "io/fd.h"

#include <errno.h>

/* A task parked on an fd's readiness. */
static void describe_fd(const corio_task *t, const void *obj, char *buf,
                        size_t len, corio_task **owner)
{
    const corio__fd *f = obj;
    const char *dir = f->reader == t ? (f->writer == t ? "reading and writing"
                                                       : "reading")
                                     : f->writer == t ? "writing" : "readiness";
    (void)owner;
    snprintf(buf, len, "fd %d, for %s", f->io.fd, dir);
}

static const corio__waitable wait_fd = {"fd", CORIO_WAIT_IO, describe_fd};

static void fd_event(corio__io *io, unsigned events)
{
    corio__fd *f = io->data;
    if (f->hook)
        f->hook(f, events);
    if ((events & CORIO__IO_IN) && f->reader)
        corio__wake(f->reader, 0);
    if ((events & CORIO__IO_OUT) && f->writer)
        corio__wake(f->writer, 0);
}

int corio__fd_open(corio_loop *loop, corio__fd *f, int fd)
{
    int rc;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    f->loop = loop;
    f->reader = f->writer = NULL;
    f->hook = NULL;
    f->keep = 0;
    f->io.fd = fd;
    f->io.want = 0;
    f->io.ready = 0;
    f->io.cb = fd_event;
    f->io.data = f;
    f->io.slot = -1;
    f->io.gen = 0;
    rc = loop->pops->add(loop->poller, &f->io);
    f->registered = rc == 0;
    return rc;
}

void corio__fd_close(corio__fd *f)
{
    if (!f->registered)
        return;
    f->registered = 0;
    f->loop->pops->del(f->loop->poller, &f->io);
    if (f->reader)
        corio__wake(f->reader, -EBADF);
    if (f->writer)
        corio__wake(f->writer, -EBADF);
}

int corio__fd_wait(corio__fd *f, unsigned events)
{
    corio_task *t = corio_current();
    corio_loop *loop = f->loop;
    unsigned want;
    int rc;

    if (!t)
        return -EPERM;
    if (!f->registered)
        return -EBADF;
    events &= (CORIO__IO_IN | CORIO__IO_OUT);
    if (((events & CORIO__IO_IN) && f->reader) ||
        ((events & CORIO__IO_OUT) && f->writer))
        return -EBUSY;
    f->io.ready &= ~events; /* the caller just saw EAGAIN: that edge is used */
    want = events | (f->reader ? CORIO__IO_IN : 0) |
           (f->writer ? CORIO__IO_OUT : 0) | f->keep;
    loop->pops->want(loop->poller, &f->io, want);
    if (events & CORIO__IO_IN)
        f->reader = t;
    if (events & CORIO__IO_OUT)
        f->writer = t;
    loop->io_waiters++;
    rc = corio__park(t, &wait_fd, f);
    loop->io_waiters--;
    /* Either direction's event wakes the task (a second wake is a no-op). */
    if (f->reader == t)
        f->reader = NULL;
    if (f->writer == t)
        f->writer = NULL;
    if (rc == 0 && !f->registered)
        rc = -EBADF;
    return rc;
}
