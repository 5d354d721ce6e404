/* See fd.h. */
#include "io/fd.h"

#include <errno.h>
#include <string.h>

/* A task parked on an fd's readiness. */
static void describe_fd(const corio_task *t, const void *obj, char *buf,
                        size_t len, corio_task **owner)
{
    const corio__fd *f = obj;
    const corio__op *op = f->rop && f->rop->data == t   ? f->rop
                          : f->wop && f->wop->data == t ? f->wop
                                                        : NULL;
    (void)owner;
    if (op) { /* an operation in the io_uring ring */
        double secs = (double)(corio__task_loop(t)->now_ns - op->since_ns) / 1e9;
        if (op->opcode <= CORIO__OP_WRITEV || op->opcode == CORIO__OP_RECVMSG ||
            op->opcode == CORIO__OP_SENDMSG) /* a transfer: say how much */
            snprintf(buf, len, "fd %d, io_uring %s of %zu, in the ring for %.3fs",
                     op->fd, corio__op_name(op->opcode), op->len, secs);
        else if (op->opcode == CORIO__OP_OPENAT ||
                 (op->opcode == CORIO__OP_STATX && op->fd < 0))
            snprintf(buf, len, "io_uring %s of \"%s\", in the ring for %.3fs",
                     corio__op_name(op->opcode), (const char *)op->buf, secs);
        else
            snprintf(buf, len, "fd %d, io_uring %s, in the ring for %.3fs",
                     op->fd, corio__op_name(op->opcode), secs);
        return;
    }
    const char *dir = f->reader == t ? (f->writer == t ? "reading and writing"
                                                       : "reading")
                                     : f->writer == t ? "writing" : "readiness";
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
    f->rop = f->wop = NULL;
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
    /* Their operations are cancelled by their tasks (corio__fd_op). */
    if (f->rop)
        corio__wake(f->rop->data, -EBADF);
    if (f->wop)
        corio__wake(f->wop->data, -EBADF);
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
    if (((events & CORIO__IO_IN) && (f->reader || f->rop)) ||
        ((events & CORIO__IO_OUT) && (f->writer || f->wop)))
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

/* ---- completion operations (io_uring) ------------------------------------*/

static void op_wake(corio__op *op)
{
    corio__wake(op->data, 0);
}

/* Submits op, parks until its completion; see fd.h. f is what dumps show
 * (it need not be registered); *slot (f->rop or f->wop) holds op meanwhile. */
static ssize_t op_run(corio__fd *f, corio__op *op, corio__op **slot)
{
    corio_loop *loop = f->loop;
    corio_task *t = corio_current();
    corio_scope shield;
    int rc;
    if (!t)
        return -EPERM;
    rc = corio__interrupted(t);
    if (rc)
        return rc;
    op->cb = op_wake;
    op->data = t;
    op->since_ns = loop->now_ns;
    rc = loop->pops->submit(loop->poller, op);
    if (rc)
        return rc;
    *slot = op;
    loop->io_waiters++;
    rc = corio__park(t, &wait_fd, f);
    if (!op->done) {
        /* Interrupted (cancelled, timed out) or the fd was closed. The
         * kernel may still be writing into the buffer: cancel, and wait
         * for the completion without being interruptible, whatever it says. */
        loop->pops->cancel(loop->poller, op);
        corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
        while (!op->done)
            corio__park(t, &wait_fd, f);
        corio_scope_exit(&shield);
    }
    loop->io_waiters--;
    if (*slot == op)
        *slot = NULL;
    /* It did not happen: report why it was stopped. Otherwise it did, and
     * its result is the caller's; the interruption stays pending. */
    if (rc && (op->res == -ECANCELED || op->res == -EINTR))
        return rc;
    return op->res;
}

ssize_t corio__fd_op(corio__fd *f, corio__op *op, unsigned dir)
{
    corio__op **slot = dir & CORIO__IO_IN ? &f->rop : &f->wop;
    corio_task *busy = dir & CORIO__IO_IN ? f->reader : f->writer;
    if (!corio_current())
        return -EPERM;
    if (!f->registered)
        return -EBADF;
    if (*slot || busy)
        return -EBUSY;
    op->fd = f->io.fd;
    return op_run(f, op, slot);
}

ssize_t corio__ring_op(corio_loop *loop, corio__op *op)
{
    corio__fd tmp;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (!loop->pops->submit || loop->compact)
        return -ENOTSUP;
    memset(&tmp, 0, sizeof tmp);
    tmp.loop = loop;
    tmp.io.fd = op->fd;
    tmp.io.slot = -1;
    return op_run(&tmp, op, &tmp.rop);
}

const char *corio_loop_backend(const corio_loop *loop)
{
    loop = corio__loop_or_current((corio_loop *)loop);
    return loop ? loop->pops->name : "";
}
