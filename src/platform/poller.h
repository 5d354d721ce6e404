/*
 * The poller contract: what an I/O backend must provide to the loop.
 *
 * Two kinds of backend fit it:
 *  - readiness backends (epoll, poll) report "fd may be readable/writable";
 *    the I/O layer then retries the non-blocking syscall until EAGAIN, and
 *    parks the task again on EAGAIN (the one I/O await pattern, io.c);
 *  - completion backends (io_uring, later) may also implement the optional
 *    read/write operations: the I/O layer submits the operation with its
 *    buffer and the backend reports the result. Where those are NULL, the
 *    I/O layer uses readiness.
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
};

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
    int (*read)(corio__poller *p, corio__io *io, void *buf, size_t len);
    int (*write)(corio__poller *p, corio__io *io, const void *buf, size_t len);
} corio__poller_ops;

extern const corio__poller_ops corio__poller_epoll;
extern const corio__poller_ops corio__poller_poll;

/* Chooses a backend: enum corio_backend value, or AUTO (then the
 * CORIO_BACKEND environment variable "epoll"/"poll", then epoll). */
const corio__poller_ops *corio__poller_select(int backend);

#endif
