/*
 * Internals shared by the socket, stream, server and watch code.
 *
 * A corio_socket is an fd registered with the loop (a corio__fd) plus a
 * small "in use" count: a socket closed while other tasks are suspended in
 * calls on it is freed by the last of them to leave, so a woken task never
 * touches freed memory. Streams sit on a socket (every fd a stream wraps is
 * held in a corio_socket, pipes included) and reach their bytes through a
 * transport (corio__transport): the plain fd today, TLS later.
 */
#ifndef CORIO_IO_NET_H
#define CORIO_IO_NET_H

#include "io/fd.h"

#include <sys/socket.h>

/* Allocated by corio_socket_open/_wrap/accept and the shortcuts; freed by
 * corio_socket_close/_detach, or by the last task still inside a call on
 * it when it was closed (users > 0 then). */
struct corio_socket {
    corio__fd f;     /* the registration; f.io.fd is the fd */
    int fd;          /* -1 once closed */
    int is_socket;   /* 0: some other fd (pipe, tty) held for a stream */
    int type;        /* SOCK_STREAM, SOCK_DGRAM, ... (0 for non-sockets) */
    int short_drains; /* a short read/write means empty/full (stream
                         sockets, pipes): the next call would say EAGAIN */
    int users;       /* tasks inside a suspending call on this socket */
    int closed;      /* closed: free when users drops to 0 */
    corio_stream *stream; /* the stream built on it, or NULL */
    /* In a simulation: the simulated network's side of it (src/sim/net.c,
     * freed with the simulation); NULL for every real socket. */
    struct corio__simsock *sim;
};

/* Opens the socket wrapper around fd (already non-blocking) and registers
 * it. The wrapper's readiness starts optimistic (IN|OUT), so the first
 * syscall is tried before any wait. On failure fd is left open. */
int corio__socket_new(corio_socket **sp, int fd, int is_socket, int type);
/* Entry/exit bookkeeping of a suspending call (see users above). */
static inline void corio__socket_enter(corio_socket *s) { s->users++; }
void corio__socket_leave(corio_socket *s);
/* The checks every suspending call makes first (in a task: -EPERM; s
 * open: -EBADF; not interrupted: -ECANCELED/-ETIMEDOUT), then enters s.
 * 0 or -errno (not entered then). */
int corio__socket_begin(corio_socket *s);

/* The simulated network (src/sim/net.c, net_io.c, host.c): socket.c
 * calls these instead of the system calls when s->sim is set (open: when
 * the loop is simulated), already inside its entry checks for the
 * suspending ones. */
int corio__simnet_open(corio_socket **sp, int domain, int type, int protocol);
int corio__simnet_bind(corio_socket *s, const corio_addr *a);
int corio__simnet_listen(corio_socket *s, int backlog);
int corio__simnet_connect(corio_socket *s, const corio_addr *a);
int corio__simnet_accept(corio_socket *s, corio_socket **connp, corio_addr *peer);
ssize_t corio__simnet_sendto(corio_socket *s, const void *buf, size_t len, int flags,
                             const corio_addr *to);
ssize_t corio__simnet_recvfrom(corio_socket *s, void *buf, size_t len, int flags,
                               corio_addr *from);
int corio__simnet_addr(corio_socket *s, corio_addr *a, int peer);
int corio__simnet_setopt(corio_socket *s, int level, int name, const void *val,
                         socklen_t len);
void corio__simnet_closed(corio_socket *s);
/* At end of stream on a simulated socket: -ECONNRESET once if the
 * connection was reset, else 0. */
ssize_t corio__simnet_eof(corio_socket *s);
int corio__simnet_resolve(const char *name, int port, int family, corio_addr *addrs,
                          size_t max);

/* socket_ring.c: accept and connect in the loop's io_uring ring, where
 * the _ok functions say it can (the backend, the kernel's opcodes; TCP
 * only for connect). accept returns the new fd (non-blocking,
 * close-on-exec) or -errno; connect returns 0 or -errno. See
 * socket_ring.c for cancellation. */
int corio__socket_ring_accept_ok(corio_socket *s);
int corio__socket_ring_connect_ok(corio_socket *s, const corio_addr *a);
int corio__socket_ring_accept(corio_socket *s, struct sockaddr_storage *ss,
                              socklen_t *len);
int corio__socket_ring_connect(corio_socket *s, const corio_addr *a);

/* Makes fd non-blocking. 0 or -errno. */
int corio__fd_nonblock(int fd);

/* A transport moves bytes for a stream. Every operation is non-suspending:
 * it returns bytes moved (> 0), 0 at end of stream (read), -EAGAIN when
 * the stream must wait for the fd readiness given in *want (CORIO__IO_IN
 * or CORIO__IO_OUT), or another negative error. write may also be called
 * on the loop's stack (background flush). */
typedef struct corio__transport {
    const char *name;
    ssize_t (*read)(corio_stream *s, void *buf, size_t len, unsigned *want);
    ssize_t (*write)(corio_stream *s, const void *buf, size_t len,
                     unsigned *want);
    /* Optional: bytes the transport holds for the peer beyond the stream's
     * output buffer (TLS records the kernel has not taken yet), and a
     * non-suspending push of them: 0 once empty, -EAGAIN (*want set), or
     * an error. The stream counts them as buffered output. */
    size_t (*pending)(corio_stream *s);
    int (*flush)(corio_stream *s, unsigned *want);
    /* Optional: queues this layer's end of the write side (TLS
     * close_notify); the stream then drains and shuts the socket down. */
    int (*shutdown_write)(corio_stream *s);
    /* Optional: releases the transport's own state (not the socket). */
    void (*close)(corio_stream *s);
} corio__transport;

/* Allocated by corio_stream_open_*; freed by corio_stream_close/_abort, or
 * (closed while another task was suspended in a call on it) by the last
 * such task to leave. The input buffer holds bytes read but not yet
 * consumed (in[in_off .. in_off+in_len)); the output buffer holds bytes the
 * transport has not accepted yet (out[out_off .. out_off+out_len)), which
 * the loop flushes in the background from the socket's fd hook. */
struct corio_stream {
    const corio__transport *tr;
    void *tctx;              /* the transport's state (TLS), or NULL */
    corio_socket *sock;      /* the registered fd */
    unsigned flags;          /* CORIO_STREAM_* */
    /* input */
    char *in;
    size_t in_off, in_len, in_cap;
    size_t read_limit;       /* most bytes the input buffer may hold */
    int eof;                 /* the transport said end of stream */
    int rerr;                /* sticky read error, or 0 */
    corio_task *reader;      /* task inside a read call, or NULL */
    /* output */
    char *out;
    size_t out_off, out_len, out_cap;
    size_t write_high;       /* high-water mark */
    int werr;                /* sticky write error, or 0 */
    int flushing;            /* out_len > 0 counted in loop->io_waiters */
    int wshut;               /* write side shut down */
    corio_task *writer;      /* task inside a write call, or NULL */
    int users;               /* tasks inside calls on it */
    int closed;
};

/* Wraps a registered socket in a stream with the given transport.
 * On failure sock is left to the caller. */
int corio__stream_new(corio_stream **sp, corio_socket *sock,
                      const corio__transport *tr, unsigned flags);

/* Name resolution for connect: numeric hosts directly, names through the
 * resolver. Fills up to max addresses; returns the count (> 0) or an
 * error. */
int corio__resolve_tcp(const char *host, int port, corio_addr *addrs,
                       size_t max);

/* stream_write.c: the output side's bookkeeping, shared with TLS. */
int corio__stream_drain(corio_stream *s);  /* caller holds the writer role */
void corio__stream_flush(corio_stream *s); /* non-suspending push */
void corio__stream_free(corio_stream *s);
/* Entry guard of the suspending stream calls (stream.c): side is
 * &s->reader or &s->writer. enter returns 0, -EPERM, -EBADF, -EBUSY or a
 * pending interruption; leave must follow every successful enter. */
int corio__stream_enter(corio_stream *s, corio_task **side);
void corio__stream_leave(corio_stream *s, corio_task **side);
void corio__stream_hook(corio__fd *f, unsigned events);
/* io_uring: whether s's reads and writes go through the loop's ring, and
 * one such read (dir CORIO__IO_IN) or write (CORIO__IO_OUT); see
 * corio__fd_op for the results. */
int corio__stream_ring(const corio_stream *s);
int corio__stream_ring_write(const corio_stream *s);
ssize_t corio__stream_ring_io(corio_stream *s, unsigned dir, void *buf, size_t len);

#endif
