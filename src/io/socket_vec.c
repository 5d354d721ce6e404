/*
 * corio_socket_readv / corio_socket_writev: vectored I/O on a socket.
 *
 * On io_uring they are one RECVMSG / SENDMSG operation in the loop's ring
 * (the iovec array and the msghdr live on the calling task's stack until
 * the completion, see corio__fd_op); elsewhere, and where the kernel lacks
 * those opcodes, recvmsg(2) / sendmsg(2) with the readiness pattern of
 * socket.c. sendmsg rather than writev(2): MSG_NOSIGNAL, so a reset peer
 * is -EPIPE and never SIGPIPE. Cancellation is corio__fd_op's: an
 * interrupted operation that happened anyway returns its bytes.
 */
#include "io/net.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/uio.h>

/* Checks the vector; *total gets the bytes it holds. 0 or -EINVAL. */
static int vec_check(const struct iovec *iov, int iovcnt, size_t *total)
{
    size_t sum = 0;
    int i;
    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt > 0 && !iov))
        return -EINVAL;
    for (i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - sum)
            return -EINVAL;
        sum += iov[i].iov_len;
    }
    *total = sum;
    return 0;
}

static ssize_t vec_io(corio_socket *s, const struct iovec *iov, int iovcnt, unsigned dir)
{
    struct msghdr msg;
    size_t total;
    ssize_t n;
    int rc = vec_check(iov, iovcnt, &total);
    int in = dir == CORIO__IO_IN;
    int opcode = in ? CORIO__OP_RECVMSG : CORIO__OP_SENDMSG;
    if (rc)
        return rc;
    rc = corio__socket_begin(s);
    if (rc)
        return rc;
    if (CORIO__UNLIKELY(s->sim != NULL) && s->type == SOCK_DGRAM) {
        corio__socket_leave(s); /* the simulated datagram path is linear */
        return -EOPNOTSUPP;
    }
    if (total == 0) {
        corio__socket_leave(s);
        return 0;
    }
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = (size_t)iovcnt;
    if (corio__fd_ring_has(&s->f, opcode)) {
        corio__op op;
        memset(&op, 0, sizeof op);
        op.opcode = opcode;
        op.buf = &msg;
        op.len = total;
        n = corio__fd_op(&s->f, &op, dir);
        if (in && n == 0 && CORIO__UNLIKELY(s->sim != NULL))
            n = corio__simnet_eof(s);
        corio__socket_leave(s);
        return n;
    }
    for (;;) {
        if (s->f.io.ready & dir) {
            n = in ? recvmsg(s->fd, &msg, MSG_DONTWAIT)
                   : sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n >= 0) {
                /* A short transfer emptied (filled) the socket, as in
                 * corio_socket_recv/send: skip the call that would say
                 * EAGAIN and wait for the next edge. */
                if (s->short_drains && (size_t)n < total && (n > 0 || !in) &&
                    !(s->f.io.ready & (CORIO__IO_RDHUP | CORIO__IO_HUP | CORIO__IO_ERR)))
                    s->f.io.ready &= ~dir;
                if (in && n == 0 && CORIO__UNLIKELY(s->sim != NULL))
                    n = corio__simnet_eof(s);
                break;
            }
            n = -errno;
            if (n == -EINTR)
                continue;
            if (n != -EAGAIN && (in || n != -ENOBUFS))
                break;
        }
        n = corio__fd_wait(&s->f, dir);
        if (n)
            break;
    }
    corio__socket_leave(s);
    return n;
}

ssize_t corio_socket_readv(corio_socket *s, const struct iovec *iov, int iovcnt)
{
    return vec_io(s, iov, iovcnt, CORIO__IO_IN);
}

ssize_t corio_socket_writev(corio_socket *s, const struct iovec *iov, int iovcnt)
{
    return vec_io(s, iov, iovcnt, CORIO__IO_OUT);
}
