/*
 * corio_socket: non-blocking sockets whose calls suspend the task.
 *
 * Every call follows the one I/O pattern: try the system call; on EAGAIN
 * park on the fd's readiness (corio__fd_wait) and retry; EINTR retries at
 * once. The readiness bits the poller leaves in f.io.ready let a call skip
 * a system call it knows would say EAGAIN (after a short read, say).
 */
#include "io/net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int corio__fd_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    /* Close-on-exec is the owner's choice for an fd it hands us (a
     * wrapped stdin must still reach children); sockets corio creates
     * itself get SOCK_CLOEXEC. */
    return 0;
}

int corio__socket_new(corio_socket **sp, int fd, int is_socket, int type)
{
    corio_socket *s = calloc(1, sizeof *s);
    int rc;
    if (!s)
        return -ENOMEM;
    rc = corio__fd_open(NULL, &s->f, fd);
    if (rc < 0) {
        free(s);
        return rc;
    }
    /* Optimistic: try the first syscall before waiting for any event. */
    s->f.io.ready = CORIO__IO_IN | CORIO__IO_OUT;
    s->fd = fd;
    s->is_socket = is_socket;
    s->type = type;
    s->short_drains = is_socket && type == SOCK_STREAM;
    /* Debug mode reports it at loop close if nobody closes it. */
    corio__obs_resource_open(s->f.loop, s, "socket", fd);
    *sp = s;
    return 0;
}

void corio__socket_leave(corio_socket *s)
{
    if (--s->users == 0 && s->closed)
        free(s);
}

/* Checks common to every suspending call; enters s. */
static int enter(corio_socket *s)
{
    corio_task *t = corio_current();
    int rc;
    if (!t)
        return -EPERM;
    if (!s || s->closed)
        return -EBADF;
    rc = corio__interrupted(t);
    if (rc)
        return rc;
    corio__socket_enter(s);
    return 0;
}

int corio__socket_begin(corio_socket *s)
{
    return enter(s);
}

int corio_socket_open(corio_socket **sp, int domain, int type, int protocol)
{
    int fd, rc;
    corio_loop *loop = corio_loop_current();
    if (!loop)
        return -EPERM;
    if (CORIO__UNLIKELY(loop->sim != NULL))
        return corio__simnet_open(sp, domain, type, protocol);
    fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return -errno;
    rc = corio__socket_new(sp, fd, 1, type);
    if (rc < 0)
        close(fd);
    return rc;
}

int corio_socket_wrap(corio_socket **sp, int fd)
{
    int type = 0, rc;
    socklen_t len = sizeof type;
    if (!corio_loop_current())
        return -EPERM;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return errno == ENOTSOCK ? -ENOTSOCK : -errno;
    rc = corio__fd_nonblock(fd);
    if (rc < 0)
        return rc;
    return corio__socket_new(sp, fd, 1, type);
}

/* Deregisters and closes the fd (unless keep_fd), waking parked tasks with
 * -EBADF. Does not free s. */
static void socket_shut(corio_socket *s, int keep_fd)
{
    if (s->closed)
        return;
    if (CORIO__UNLIKELY(s->sim != NULL))
        corio__simnet_closed(s);
    corio__obs_resource_close(s->f.loop, s);
    s->closed = 1;
    corio__fd_close(&s->f);
    if (!keep_fd && s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

int corio_socket_close(corio_socket *s)
{
    if (!s)
        return -EBADF;
    socket_shut(s, 0);
    if (s->users == 0)
        free(s);
    return 0;
}

int corio_socket_detach(corio_socket *s)
{
    int fd;
    if (!s || s->closed)
        return -EBADF;
    fd = s->fd;
    socket_shut(s, 1);
    if (s->users == 0)
        free(s);
    return fd;
}

int corio_socket_fd(const corio_socket *s) { return s && !s->closed ? s->fd : -1; }

int corio_socket_bind(corio_socket *s, const corio_addr *a)
{
    if (!s || s->closed)
        return -EBADF;
    if (!a || !a->len)
        return -EINVAL;
    if (CORIO__UNLIKELY(s->sim != NULL))
        return corio__simnet_bind(s, a);
    return bind(s->fd, (const struct sockaddr *)&a->ss, a->len) < 0 ? -errno : 0;
}

int corio_socket_listen(corio_socket *s, int backlog)
{
    if (!s || s->closed)
        return -EBADF;
    if (backlog <= 0)
        backlog = SOMAXCONN;
    if (CORIO__UNLIKELY(s->sim != NULL))
        return corio__simnet_listen(s, backlog);
    return listen(s->fd, backlog) < 0 ? -errno : 0;
}

int corio_socket_connect(corio_socket *s, const corio_addr *a)
{
    int rc, err = 0;
    socklen_t len = sizeof err;
    if (!a || !a->len)
        return -EINVAL;
    rc = enter(s);
    if (rc)
        return rc;
    if (CORIO__UNLIKELY(s->sim != NULL)) {
        rc = corio__simnet_connect(s, a);
        goto out;
    }
    if (corio__socket_ring_connect_ok(s, a)) {
        rc = corio__socket_ring_connect(s, a);
        goto out;
    }
    rc = connect(s->fd, (const struct sockaddr *)&a->ss, a->len);
    if (rc == 0)
        goto out;
    rc = -errno;
    /* A Unix socket whose listener's backlog is full says EAGAIN and does
     * not connect in the background; no readiness edge announces a free
     * backlog slot either, so retry gently. */
    while (rc == -EAGAIN) {
        rc = corio_sleep(0.001);
        if (rc)
            goto out;
        rc = connect(s->fd, (const struct sockaddr *)&a->ss, a->len) == 0 ? 0 : -errno;
    }
    /* EINTR: the connect goes on in the background, like EINPROGRESS. */
    if (rc != -EINPROGRESS && rc != -EINTR)
        goto out;
    s->f.io.ready &= ~CORIO__IO_OUT;
    for (;;) {
        rc = corio__fd_wait(&s->f, CORIO__IO_OUT);
        if (rc)
            goto out;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            rc = -errno;
            goto out;
        }
        if (err) {
            rc = -err;
            goto out;
        }
        /* Writable without error: connected, unless the wake was spurious
         * (poll backends may report early); a peer name proves it. */
        {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            if (getpeername(s->fd, (struct sockaddr *)&ss, &sl) == 0) {
                rc = 0;
                goto out;
            }
            if (errno != ENOTCONN) {
                rc = -errno;
                goto out;
            }
        }
    }
out:
    corio__socket_leave(s);
    return rc;
}

int corio_socket_accept(corio_socket *s, corio_socket **connp, corio_addr *peer)
{
    int rc, fd;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    rc = enter(s);
    if (rc)
        return rc;
    if (CORIO__UNLIKELY(s->sim != NULL)) {
        rc = corio__simnet_accept(s, connp, peer);
        goto out;
    }
    if (corio__socket_ring_accept_ok(s)) {
        fd = corio__socket_ring_accept(s, &ss, &len);
        if (fd < 0) {
            rc = fd;
            goto out;
        }
        goto accepted;
    }
    for (;;) {
        len = sizeof ss;
        if (s->f.io.ready & CORIO__IO_IN) {
            fd = accept4(s->fd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0)
                break;
            rc = -errno;
            if (rc == -EINTR || rc == -ECONNABORTED)
                continue;
            if (rc != -EAGAIN)
                goto out; /* EMFILE etc.: the caller decides how to back off */
        }
        rc = corio__fd_wait(&s->f, CORIO__IO_IN);
        if (rc)
            goto out;
    }
accepted:
    rc = corio__socket_new(connp, fd, 1, s->type);
    if (rc < 0) {
        close(fd);
        goto out;
    }
    if (peer) {
        memcpy(&peer->ss, &ss, len);
        peer->len = len;
    }
out:
    corio__socket_leave(s);
    return rc;
}

/* One recv or send as a completion in the loop's ring (io_uring), where
 * it saves the system call: the ring submits a whole iteration's
 * operations in one io_uring_enter. MSG_DONTWAIT callers want an answer
 * now, so they keep the direct system call. */
static int use_ring(corio_socket *s, int opcode, int flags)
{
    return corio__fd_ring_has(&s->f, opcode) && !(flags & MSG_DONTWAIT);
}

static ssize_t ring_op(corio_socket *s, int opcode, void *buf, size_t len, int flags)
{
    corio__op op;
    memset(&op, 0, sizeof op);
    op.opcode = opcode;
    op.buf = buf;
    op.len = len;
    /* The readiness path sends MSG_DONTWAIT with every call, which
     * overrides MSG_WAITALL: a recv returns what has arrived. The ring
     * would honour MSG_WAITALL; keep the one behaviour. */
    op.flags = flags & ~MSG_WAITALL;
    return corio__fd_op(&s->f, &op, opcode == CORIO__OP_RECV ? CORIO__IO_IN : CORIO__IO_OUT);
}

ssize_t corio_socket_recv(corio_socket *s, void *buf, size_t len, int flags)
{
    ssize_t n;
    int rc = enter(s);
    if (rc)
        return rc;
    if (CORIO__UNLIKELY(s->sim != NULL) && s->type == SOCK_DGRAM) {
        n = corio__simnet_recvfrom(s, buf, len, flags, NULL);
        corio__socket_leave(s);
        return n;
    }
    if (use_ring(s, CORIO__OP_RECV, flags)) {
        n = ring_op(s, CORIO__OP_RECV, buf, len, flags);
        corio__socket_leave(s);
        return n;
    }
    for (;;) {
        if (s->f.io.ready & CORIO__IO_IN) {
            n = recv(s->fd, buf, len, flags | MSG_DONTWAIT);
            if (n >= 0) {
                /* A short read drained the socket: the next one would
                 * say EAGAIN, so skip it and wait for the next edge. */
                if (s->short_drains && (size_t)n < len && n > 0 &&
                    !(s->f.io.ready & (CORIO__IO_RDHUP | CORIO__IO_HUP | CORIO__IO_ERR)))
                    s->f.io.ready &= ~CORIO__IO_IN;
                if (n == 0 && CORIO__UNLIKELY(s->sim != NULL))
                    n = corio__simnet_eof(s);
                break;
            }
            n = -errno;
            if (n == -EINTR)
                continue;
            if (n != -EAGAIN)
                break;
        }
        n = corio__fd_wait(&s->f, CORIO__IO_IN);
        if (n)
            break;
    }
    corio__socket_leave(s);
    return n;
}

ssize_t corio_socket_send(corio_socket *s, const void *buf, size_t len, int flags)
{
    ssize_t n;
    int rc = enter(s);
    if (rc)
        return rc;
    if (CORIO__UNLIKELY(s->sim != NULL) && s->type == SOCK_DGRAM) {
        n = corio__simnet_sendto(s, buf, len, flags, NULL);
        corio__socket_leave(s);
        return n;
    }
    if (use_ring(s, CORIO__OP_SEND, flags)) {
        n = ring_op(s, CORIO__OP_SEND, (void *)buf, len, flags);
        corio__socket_leave(s);
        return n;
    }
    for (;;) {
        if (s->f.io.ready & CORIO__IO_OUT) {
            n = send(s->fd, buf, len, flags | MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n >= 0) {
                if (s->short_drains && (size_t)n < len &&
                    !(s->f.io.ready & (CORIO__IO_RDHUP | CORIO__IO_HUP | CORIO__IO_ERR)))
                    s->f.io.ready &= ~CORIO__IO_OUT;
                break;
            }
            n = -errno;
            if (n == -EINTR)
                continue;
            if (n != -EAGAIN && n != -ENOBUFS)
                break;
        }
        n = corio__fd_wait(&s->f, CORIO__IO_OUT);
        if (n)
            break;
    }
    corio__socket_leave(s);
    return n;
}

ssize_t corio_socket_sendall(corio_socket *s, const void *buf, size_t len)
{
    const char *p = buf;
    size_t left = len;
    if (len == 0) {
        int rc = enter(s);
        if (rc)
            return rc;
        corio__socket_leave(s);
        return 0;
    }
    while (left) {
        ssize_t n = corio_socket_send(s, p, left, 0);
        if (n < 0)
            return n;
        p += n;
        left -= (size_t)n;
    }
    return (ssize_t)len;
}

ssize_t corio_socket_recvfrom(corio_socket *s, void *buf, size_t len, int flags,
                              corio_addr *from)
{
    ssize_t n;
    struct sockaddr_storage ss;
    socklen_t sl;
    int rc = enter(s);
    if (rc)
        return rc;
    if (CORIO__UNLIKELY(s->sim != NULL) && s->type == SOCK_DGRAM) {
        n = corio__simnet_recvfrom(s, buf, len, flags, from);
        corio__socket_leave(s);
        return n;
    }
    for (;;) {
        sl = sizeof ss;
        n = recvfrom(s->fd, buf, len, flags | MSG_DONTWAIT,
                     (struct sockaddr *)&ss, &sl);
        if (n >= 0) {
            if (from) {
                memcpy(&from->ss, &ss, sl < sizeof ss ? sl : sizeof ss);
                from->len = sl;
            }
            break;
        }
        n = -errno;
        if (n == -EINTR)
            continue;
        if (n != -EAGAIN)
            break;
        n = corio__fd_wait(&s->f, CORIO__IO_IN);
        if (n)
            break;
    }
    corio__socket_leave(s);
    return n;
}

ssize_t corio_socket_sendto(corio_socket *s, const void *buf, size_t len,
                            int flags, const corio_addr *to)
{
    ssize_t n;
    int rc = enter(s);
    if (rc)
        return rc;
    if (CORIO__UNLIKELY(s->sim != NULL) && s->type == SOCK_DGRAM) {
        n = corio__simnet_sendto(s, buf, len, flags, to);
        corio__socket_leave(s);
        return n;
    }
    for (;;) {
        n = sendto(s->fd, buf, len, flags | MSG_NOSIGNAL | MSG_DONTWAIT,
                   to ? (const struct sockaddr *)&to->ss : NULL,
                   to ? to->len : 0);
        if (n >= 0)
            break;
        n = -errno;
        if (n == -EINTR)
            continue;
        if (n != -EAGAIN && n != -ENOBUFS)
            break;
        n = corio__fd_wait(&s->f, CORIO__IO_OUT);
        if (n)
            break;
    }
    corio__socket_leave(s);
    return n;
}

int corio_socket_shutdown(corio_socket *s, int how)
{
    if (!s || s->closed)
        return -EBADF;
    return shutdown(s->fd, how) < 0 ? -errno : 0;
}

int corio_socket_setopt(corio_socket *s, int level, int name, const void *val,
                        socklen_t len)
{
    if (!s || s->closed)
        return -EBADF;
    if (CORIO__UNLIKELY(s->sim != NULL))
        return corio__simnet_setopt(s, level, name, val, len);
    return setsockopt(s->fd, level, name, val, len) < 0 ? -errno : 0;
}

int corio_socket_getopt(corio_socket *s, int level, int name, void *val,
                        socklen_t *len)
{
    if (!s || s->closed)
        return -EBADF;
    return getsockopt(s->fd, level, name, val, len) < 0 ? -errno : 0;
}

int corio_socket_setopt_int(corio_socket *s, int level, int name, int value)
{
    return corio_socket_setopt(s, level, name, &value, sizeof value);
}

int corio_socket_getopt_int(corio_socket *s, int level, int name, int *value)
{
    socklen_t len = sizeof *value;
    return corio_socket_getopt(s, level, name, value, &len);
}

int corio_socket_local_addr(corio_socket *s, corio_addr *a)
{
    socklen_t len = sizeof a->ss;
    if (!s || s->closed)
        return -EBADF;
    if (CORIO__UNLIKELY(s->sim != NULL))
        return corio__simnet_addr(s, a, 0);
    if (getsockname(s->fd, (struct sockaddr *)&a->ss, &len) < 0)
        return -errno;
    a->len = len;
    return 0;
}

int corio_socket_peer_addr(corio_socket *s, corio_addr *a)
{
    socklen_t len = sizeof a->ss;
    if (!s || s->closed)
        return -EBADF;
    if (CORIO__UNLIKELY(s->sim != NULL))
        return corio__simnet_addr(s, a, 1);
    if (getpeername(s->fd, (struct sockaddr *)&a->ss, &len) < 0)
        return -errno;
    a->len = len;
    return 0;
}
