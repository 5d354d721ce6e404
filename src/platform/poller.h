/*
 * The poller contract: what an I/O backend must provide to the loop.
 *
 * Two kinds of backend fit it:
 *  - readiness backends (epoll, poll) report "fd may be readable/writable";
 *    the I/O layer then retries the non-blocking syscall until EAGAIN, and
 *    parks the task again on EAGAIN (the one I/O await pattern, io.c);
 *  - completion backends (io_uring) also implement the optional submit()
 *    and cancel(): the I/O layer submits an operation (corio__op) with its
 *    buffer and the backend reports the result. Where those are NULL, the
 *    I/O layer uses readiness. A completion backend implements readiness
 *    too (io_uring: multishot POLL_ADD), so foreign fds (libpq, hiredis)
 *    and every readiness consumer work on it unchanged.
 *
 * Semantics every backend guarantees:
 *  - add() arms the fd for IN and OUT, or, if io->want is non-zero when
 *    add() is called, for those events only (for fds that are always
 *    writable, such as an eventfd, where OUT edges would be noise).
 *  - One corio__io per fd, registered once with add() and removed with del()
 *    before the fd is closed. The corio__io is owned by whoever owns the fd
 *    (a socket, a stream, a wait on a foreign fd) and must stay alive until
 *    del() returns.
 *  - want(io, events) says which events a task is about to wait for. It is
 *    cheap: epoll (edge-triggered, armed for IN|OUT at add) does nothing;
 *    poll updates its interest array. No system call per wait when the fd
 *    is already armed.
 *  - wait(timeout_ms) blocks at most timeout_ms (-1: forever, 0: not at all)
 *    and calls io->cb(io, events) for each fd with events. A callback may
 *    add/del/want on any io, including its own, or on one not yet reported
 *    in this round: the backend must not call a callback for an io deleted
 *    during the round.
 *  - Events are reported edge-style: after a report the consumer must
 *    retry its syscall until EAGAIN before waiting again. Level-triggered
 *    backends may report more often; that is harmless.
 *  - Errors and hang-ups are reported as CORIO__IO_ERR / CORIO__IO_HUP
 *    together with IN and OUT, so that a task waiting for either wakes up
 *    and sees the error from its syscall.
 *  - A backend may arm an fd lazily, at the first want() with events (the
 *    io_uring backend does, so a socket used only through completions
 *    costs no poll at all). Arming reports the fd's current state, so
 *    nothing is lost: a consumer calls want() before waiting anyway.
 *
 * Completion operations (submit/cancel; only where non-NULL):
 *  - submit(op) queues op; it is sent to the kernel at the latest in the
 *    next wait() (one system call per loop iteration submits and waits).
 *    It returns 0 or -errno (nothing queued then). When the operation
 *    ends, the backend sets op->res and op->done and calls op->cb on the
 *    loop stack, from wait(). op and everything it points to (buffer,
 *    iovec, sockaddr) belong to the submitter and must stay valid until
 *    then: the kernel may write into them until the completion arrives.
 *  - cancel(op) asks the kernel to cancel op. The completion still
 *    arrives, exactly once: with -ECANCELED (or -EINTR) when the operation
 *    did not happen, or with its real result when it happened anyway. So
 *    a submitter that was interrupted cancels, then waits for op->done,
 *    and only then releases the buffer (src/io/fd.c, corio__fd_op).
 */
#ifndef CORIO_POLLER_H
#define CORIO_POLLER_H

#include <stddef.h>
#include <stdint.h>

#define CORIO__IO_IN 0x1u
#define CORIO__IO_OUT 0x2u
#define CORIO__IO_ERR 0x4u
#define CORIO__IO_HUP 0x8u
/* The peer shut down its write side (reported with IN): reading will see
 * end of stream, however much is read first. Backends that cannot tell
 * (level-triggered ones need not) may leave it out. */
#define CORIO__IO_RDHUP 0x10u

typedef struct corio__poller corio__poller;
typedef struct corio__io corio__io;

struct corio__io {
    int fd;
    unsigned want;        /* events a waiter currently wants */
    unsigned ready;       /* events seen since the consumer last cleared them */
    void (*cb)(corio__io *io, unsigned events); /* on the loop stack */
    void *data;           /* the owner's */
    int slot;             /* backend bookkeeping (poll: index; -1 if none) */
    uint32_t gen;         /* backend bookkeeping */
    void *priv;           /* backend bookkeeping (io_uring: registration) */
};

/* Completion operations (io_uring). */
enum {
    CORIO__OP_RECV = 1,   /* buf, len, flags (MSG_*) */
    CORIO__OP_SEND,       /* buf, len, flags (MSG_*) */
    CORIO__OP_READ,       /* buf, len, off (-1: the file position) */
    CORIO__OP_WRITE,      /* buf, len, off (-1: the file position) */
    CORIO__OP_READV,      /* buf = struct iovec *, len = count, off */
    CORIO__OP_WRITEV,     /* buf = struct iovec *, len = count, off */
    CORIO__OP_FSYNC,      /* flags: 0 or IORING_FSYNC_DATASYNC (1) */
    CORIO__OP_NOP,        /* tests: completes with 0 */
    CORIO__OP_ACCEPT,     /* buf = struct sockaddr *, aux = socklen_t *,
                             flags (SOCK_*); res: the new fd */
    CORIO__OP_CONNECT,    /* buf = const struct sockaddr *, len = its length */
    CORIO__OP_OPENAT,     /* fd = dir (AT_FDCWD), buf = path, flags, len =
                             mode; res: the new fd */
    CORIO__OP_STATX,      /* fd = dir or the file, buf = path ("" with
                             AT_EMPTY_PATH), flags (AT_*), len = mask,
                             aux = struct statx * */
    CORIO__OP_CLOSE,      /* fd */
    CORIO__OP_RECVMSG,    /* buf = struct msghdr *, flags (MSG_*); len: the
                             bytes its iovecs hold (dumps only) */
    CORIO__OP_SENDMSG,    /* the same; MSG_NOSIGNAL is added */
    CORIO__NOPS
};

/* One operation in flight. Allocated by the submitter (on its task's
 * stack, typically), which keeps it alive until op->done: see submit()
 * above. */
typedef struct corio__op {
    int opcode;           /* CORIO__OP_* */
    int fd;
    void *buf;
    size_t len;
    int64_t off;
    int flags;
    void *aux;            /* per opcode, above */
    int res;              /* the result (bytes, 0, or -errno), once done */
    int done;             /* the completion arrived */
    int64_t since_ns;     /* when it was submitted (dumps) */
    void (*cb)(struct corio__op *op); /* on the loop stack, once */
    void *data;           /* the submitter's */
} corio__op;

const char *corio__op_name(int opcode);

typedef struct corio__poller_ops {
    const char *name;
    int (*create)(corio__poller **pp);          /* 0 or -errno */
    void (*destroy)(corio__poller *p);
    int (*add)(corio__poller *p, corio__io *io); /* arm for IN|OUT */
    int (*del)(corio__poller *p, corio__io *io);
    int (*want)(corio__poller *p, corio__io *io, unsigned events);
    /* Returns the number of callbacks made, or -errno (not -EINTR: an
     * interrupted wait returns 0). */
    int (*wait)(corio__poller *p, int timeout_ms);
    /* Optional completion-based operations (NULL for readiness backends). */
    int (*submit)(corio__poller *p, corio__op *op);
    int (*cancel)(corio__poller *p, corio__op *op);
    /* Optional: whether submit() takes this opcode (io_uring: the
     * kernel's probe, made once at create). NULL: every opcode. An
     * opcode it lacks runs on the readiness path (sockets) or the thread
     * pool (files). */
    int (*has_op)(corio__poller *p, int opcode);
    /* Optional: writes the opcodes has_op() refuses, comma-separated, to
     * buf (empty: none). For the loop's report. */
    void (*missing_ops)(corio__poller *p, char *buf, size_t len);
} corio__poller_ops;

extern const corio__poller_ops corio__poller_epoll;
extern const corio__poller_ops corio__poller_poll;
extern const corio__poller_ops corio__poller_uring;

/* Chooses and creates a backend: enum corio_backend value, or AUTO (then
 * the CORIO_BACKEND environment variable "io_uring"/"epoll"/"poll", then
 * the default). When io_uring was chosen but cannot be set up (old kernel,
 * seccomp, sysctl kernel.io_uring_disabled), falls back to epoll and
 * writes one line saying why to `report` (a FILE *; NULL: stderr) when
 * io_uring was asked for explicitly, or once per process when it was the
 * default. Returns 0 or -errno (then *opsp and *pp are unset). */
int corio__poller_open(int backend, const corio__poller_ops **opsp,
                       corio__poller **pp, void *report);

/* The opcodes a loop runs in its ring, as a bit mask (bit n: CORIO__OP
 * n): none without submit() or in COMPACT mode (the kernel would write
 * into a shared stack), else those has_op() takes. */
unsigned corio__poller_ring_ops(const corio__poller_ops *ops,
                                corio__poller *p, int compact);

#endif
