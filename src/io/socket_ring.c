/*
 * corio_socket's accept and connect as completions in the loop's io_uring
 * ring (socket.c calls these where corio__socket_ring_accept_ok /
 * corio__socket_ring_connect_ok say so, and uses readiness otherwise).
 *
 * Cancellation (corio__fd_op): an interrupted accept is cancelled in the
 * ring and its completion awaited. If the kernel had accepted a
 * connection meanwhile, the accept returns it (the caller owns a new
 * socket, and the interruption is seen at its next suspending call): an
 * accepted connection is never lost, nor its fd leaked. A connect is
 * different: the handshake, once started, goes on in the kernel whatever
 * the ring does. An interrupted connect returns 0 if it had completed;
 * otherwise -ECANCELED/-ETIMEDOUT, and the socket is left half-way, as
 * on the readiness path: close it.
 */
#include "io/net.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

int corio__socket_ring_accept_ok(corio_socket *s)
{
    return corio__fd_ring_has(&s->f, CORIO__OP_ACCEPT);
}

/* Connects through the ring on TCP only: a Unix socket whose listener's
 * backlog is full says EAGAIN and never becomes ready (socket.c retries it
 * on a timer), which the ring's internal poll would not handle. */
int corio__socket_ring_connect_ok(corio_socket *s, const corio_addr *a)
{
    return (a->ss.ss_family == AF_INET || a->ss.ss_family == AF_INET6) &&
           corio__fd_ring_has(&s->f, CORIO__OP_CONNECT);
}

int corio__socket_ring_accept(corio_socket *s, struct sockaddr_storage *ss,
                              socklen_t *len)
{
    for (;;) {
        corio__op op;
        ssize_t r;
        memset(&op, 0, sizeof op);
        op.opcode = CORIO__OP_ACCEPT;
        op.buf = ss;
        op.aux = len;
        op.flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
        *len = sizeof *ss;
        r = corio__fd_op(&s->f, &op, CORIO__IO_IN);
        /* A connection reset before it was accepted: take the next. */
        if (r == -ECONNABORTED || r == -EINTR)
            continue;
        return (int)r;
    }
}

int corio__socket_ring_connect(corio_socket *s, const corio_addr *a)
{
    corio__op op;
    memset(&op, 0, sizeof op);
    op.opcode = CORIO__OP_CONNECT;
    op.buf = (void *)&a->ss;
    op.len = a->len;
    return (int)corio__fd_op(&s->f, &op, CORIO__IO_OUT);
}
