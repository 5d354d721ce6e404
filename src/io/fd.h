/*
 * corio__fd: an fd registered with the loop's poller, with at most one task
 * parked for reading and one for writing. Every socket, stream, pipe and
 * foreign-fd wait is built on it; this is the one place where "try the
 * syscall, on EAGAIN park until the poller says ready, retry" meets the
 * scheduler.
 *
 * Owned by whatever owns the fd (embedded in it). corio__fd_open registers
 * it, corio__fd_close deregisters it (waking any parked task with -EBADF);
 * close the fd itself only after that.
 */
#ifndef CORIO_IO_FD_H
#define CORIO_IO_FD_H

#include "core/internal.h"

typedef struct corio__fd {
    corio__io io;            /* poller registration; io.data = this */
    corio_loop *loop;
    corio_task *reader;      /* parked waiting for IN, or NULL */
    corio_task *writer;      /* parked waiting for OUT, or NULL */
    int registered;
    /* Optional, NULL by default: called on the loop's stack with every
     * event batch, before parked tasks are woken. A stream flushes its
     * output buffer here, with no task involved. */
    void (*hook)(struct corio__fd *f, unsigned events);
    unsigned keep;           /* events polled for even with no task parked
                                (the hook's interest; poll backend) */
    /* Completion operations in flight (io_uring), one per direction; the
     * task waiting for each is op->data. Read by dumps. */
    corio__op *rop, *wop;
} corio__fd;

/* Registers fd (which must be non-blocking) on loop (NULL: current).
 * Returns 0, -EPERM (no loop), or the poller's error (-EBADF, -ENOMEM...). */
int corio__fd_open(corio_loop *loop, corio__fd *f, int fd);

/* Deregisters. Parked tasks wake with -EBADF. Does not close the fd. */
void corio__fd_close(corio__fd *f);

/* Parks the calling task until the fd is ready for `events` (CORIO__IO_IN,
 * CORIO__IO_OUT, or both: then either wakes it), then returns 0; or
 * -ECANCELED, -ETIMEDOUT (scopes), -EBADF (closed meanwhile), -EBUSY
 * (another task is already parked for that direction), -EPERM (not in a
 * task). Call it only after the syscall said EAGAIN: it waits for the NEXT
 * readiness edge. */
int corio__fd_wait(corio__fd *f, unsigned events);

/* Whether the loop's backend runs operations itself (io_uring). */
static inline int corio__fd_ring(const corio__fd *f)
{
    /* Not in COMPACT mode: there the kernel would write into the shared
     * stack (op, buffers) while another task's frames are on it. */
    return f->loop->pops->submit != NULL && !f->loop->compact;
}

/* Runs one completion operation on f's fd (f->loop's backend must have
 * submit, see corio__fd_ring) and parks the calling task until it ends.
 * dir is CORIO__IO_IN (recv, read) or CORIO__IO_OUT (send, write): one
 * operation per direction at a time (-EBUSY). Returns the operation's
 * result (bytes, 0, or -errno), or -ECANCELED / -ETIMEDOUT / -EBADF
 * (closed meanwhile) only when the operation did NOT happen: an
 * interrupted operation is cancelled in the ring and its completion
 * awaited (the buffer stays the kernel's until then); if it completed
 * anyway, its result is returned and the interruption, which is
 * level-triggered, is seen by the next suspending call. */
ssize_t corio__fd_op(corio__fd *f, corio__op *op, unsigned dir);

/* Whether loop (NULL: current) can run operations on its ring: its
 * backend has one, and it is not in COMPACT mode (see corio__fd_ring). */
static inline int corio__ring_ok(corio_loop *loop)
{
    loop = corio__loop_or_current(loop);
    return loop && loop->pops->submit != NULL && !loop->compact;
}

/* Whether loop (NULL: current) can run this opcode (CORIO__OP_*) on its
 * ring: corio__ring_ok, and the kernel has the opcode (probed once, see
 * poller.h has_op). Where it cannot, the caller uses the readiness path
 * or the thread pool: the per-operation fallback. */
static inline int corio__ring_has(corio_loop *loop, int opcode)
{
    loop = corio__loop_or_current(loop);
    return loop && (loop->ring_ops >> opcode & 1u);
}

/* The same for f's loop (one load and a test: it is on every message's
 * path). */
static inline int corio__fd_ring_has(const corio__fd *f, int opcode)
{
    return f->loop->ring_ops >> opcode & 1u;
}

/* Runs op on the loop's ring without an fd registration (files). Same
 * rules as corio__fd_op. -ENOTSUP if the backend has no ring. */
ssize_t corio__ring_op(corio_loop *loop, corio__op *op);

#endif
