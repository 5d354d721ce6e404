/*
 * corio_stream, the write side: write with backpressure, drain, shutdown,
 * close and abort, and the background flush.
 *
 * A write first goes straight to the transport (no copy) while nothing is
 * buffered; what the transport does not take is copied into the output
 * buffer and the write returns. The loop then flushes the buffer in the
 * background: the socket's fd hook (corio__stream_hook) runs on every
 * readiness event, before tasks are woken, and pushes buffered bytes out.
 * While anything is buffered the stream counts as an I/O waiter, so the
 * loop keeps polling even when no task waits on an fd. A write that finds
 * the buffer at its high-water mark suspends until the flush makes room:
 * the memory a fast writer can pin is bounded by the mark.
 */
#include "io/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Output still to go: the stream's buffer plus what the transport holds
 * (TLS records not yet in the kernel). */
static size_t backlog(const corio_stream *s)
{
    return s->out_len + (s->tr->pending ? s->tr->pending((corio_stream *)s) : 0);
}

/* Keeps the loop's accounting in step with the backlog: while output is
 * waiting the loop must poll, and (poll backend) ask for OUT. */
static void flush_account(corio_stream *s)
{
    corio__fd *f = &s->sock->f;
    size_t b = s->closed ? 0 : backlog(s);
    if (b && !s->flushing) {
        s->flushing = 1;
        f->loop->io_waiters++;
        f->keep |= CORIO__IO_OUT;
    } else if (!b && s->flushing) {
        s->flushing = 0;
        f->loop->io_waiters--;
        f->keep &= ~CORIO__IO_OUT;
    }
    if (s->flushing && f->registered && !(f->io.want & CORIO__IO_OUT))
        f->loop->pops->want(f->loop->poller, &f->io, f->io.want | CORIO__IO_OUT);
}

/* Pushes buffered bytes to the transport until it would block. Never
 * suspends; runs in tasks and on the loop's stack alike. */
static void flush_some(corio_stream *s)
{
    unsigned want;
    while (!s->werr) {
        if (s->tr->flush) {
            int rc = s->tr->flush(s, &want);
            if (rc == -EAGAIN)
                break;
            if (rc < 0) {
                s->werr = rc;
                s->out_len = 0;
                break;
            }
        }
        if (!s->out_len)
            break;
        {
            ssize_t n = s->tr->write(s, s->out + s->out_off, s->out_len, &want);
            if (n > 0) {
                s->out_off += (size_t)n;
                s->out_len -= (size_t)n;
            } else if (n == -EAGAIN) {
                break;
            } else {
                /* The peer is gone: nothing buffered can be delivered. */
                s->werr = n ? (int)n : -EPIPE;
                s->out_len = 0;
            }
        }
    }
    if (!s->out_len)
        s->out_off = 0;
    flush_account(s);
}

void corio__stream_flush(corio_stream *s)
{
    flush_some(s);
}

void corio__stream_hook(corio__fd *f, unsigned events)
{
    corio_socket *k = corio__container_of(f, corio_socket, f);
    corio_stream *s = k->stream;
    (void)events;
    if (s && !s->closed && s->flushing)
        flush_some(s);
}

static int out_append(corio_stream *s, const char *p, size_t n)
{
    if (s->out_off + s->out_len + n > s->out_cap) {
        if (s->out_off) {
            memmove(s->out, s->out + s->out_off, s->out_len);
            s->out_off = 0;
        }
        if (s->out_len + n > s->out_cap) {
            size_t cap = s->out_cap ? s->out_cap : 4096;
            char *q;
            while (cap < s->out_len + n)
                cap *= 2;
            q = realloc(s->out, cap);
            if (!q)
                return -ENOMEM;
            s->out = q;
            s->out_cap = cap;
        }
    }
    memcpy(s->out + s->out_off + s->out_len, p, n);
    s->out_len += n;
    return 0;
}

/* ---- entering and leaving a write call ------------------------------------*/

void corio__stream_free(corio_stream *s)
{
    free(s->in);
    free(s->out);
    free(s->sock);
    free(s);
}

static int wr_begin(corio_stream *s)
{
    return s ? corio__stream_enter(s, &s->writer) : (corio_current() ? -EBADF : -EPERM);
}

static void wr_end(corio_stream *s) { corio__stream_leave(s, &s->writer); }

/* Waits until the transport may take more: the hook flushes on the event
 * before this task runs again. */
static int wait_room(corio_stream *s, unsigned want)
{
    int rc = corio__fd_wait(&s->sock->f, want);
    if (rc == 0 && s->closed)
        rc = -EBADF;
    return rc;
}

int corio_stream_write(corio_stream *s, const void *buf, size_t len)
{
    const char *p = buf;
    unsigned want = CORIO__IO_OUT;
    int rc = wr_begin(s);
    if (rc)
        return rc;
    if (s->werr)
        rc = s->werr;
    else if (s->wshut)
        rc = -EPIPE;
    while (!rc && len) {
        size_t room;
        if (s->werr) {
            rc = s->werr;
            break;
        }
        if (s->out_len == 0 && corio__stream_ring_write(s)) {
            /* io_uring: the send goes in the ring with this iteration's
             * other operations; what it does not take is buffered below. */
            ssize_t n = corio__stream_ring_io(s, CORIO__IO_OUT, (void *)p, len);
            if (n > 0) {
                p += n;
                len -= (size_t)n;
                continue;
            }
            if (n == -ECANCELED || n == -ETIMEDOUT || n == -EBADF) {
                rc = s->closed ? -EBADF : (int)n;
                break;
            }
            if (n != -EAGAIN) {
                rc = s->werr = n ? (int)n : -EPIPE;
                break;
            }
        } else if (s->out_len == 0) {
            ssize_t n = s->tr->write(s, p, len, &want);
            if (n > 0) {
                p += n;
                len -= (size_t)n;
                if (s->tr->pending)
                    flush_account(s); /* TLS may hold records back */
                continue;
            }
            if (n != -EAGAIN) {
                rc = s->werr = n ? (int)n : -EPIPE;
                break;
            }
        }
        room = s->write_high > s->out_len ? s->write_high - s->out_len : 0;
        if (room) {
            size_t k = room < len ? room : len;
            rc = out_append(s, p, k);
            if (rc)
                break;
            p += k;
            len -= k;
            flush_account(s);
            continue;
        }
        /* At the high-water mark: flush what the transport takes now, and
         * if that made no room, wait for it to take more. */
        if (backlog(s)) {
            size_t before = backlog(s);
            flush_some(s);
            if (backlog(s) < before)
                continue;
        }
        rc = wait_room(s, want);
    }
    wr_end(s);
    return rc;
}

/* Flushes the whole backlog, suspending; the caller holds the writer
 * role. */
int corio__stream_drain(corio_stream *s)
{
    int rc = 0;
    while (backlog(s) && !s->werr) {
        size_t before = backlog(s);
        flush_some(s);
        if (!backlog(s) || s->werr)
            break;
        if (backlog(s) < before)
            continue;
        rc = wait_room(s, CORIO__IO_OUT);
        if (rc)
            return rc;
    }
    return s->werr;
}

int corio_stream_drain(corio_stream *s)
{
    int rc = wr_begin(s);
    if (rc)
        return rc;
    rc = corio__stream_drain(s);
    wr_end(s);
    return rc;
}

/* Drains, lets the transport end its write side (TLS close_notify),
 * drains that too, then shuts the socket's write direction. */
static int shutdown_locked(corio_stream *s)
{
    int rc;
    if (s->wshut)
        return 0;
    if (!s->sock->is_socket)
        return -ENOTSOCK;
    rc = corio__stream_drain(s);
    if (!rc && s->tr->shutdown_write) {
        rc = s->tr->shutdown_write(s);
        flush_some(s);
        if (!rc)
            rc = corio__stream_drain(s);
    }
    if (!rc && shutdown(s->sock->fd, SHUT_WR) < 0)
        rc = -errno;
    if (!rc)
        s->wshut = 1;
    return rc;
}

int corio_stream_shutdown_write(corio_stream *s)
{
    int rc = wr_begin(s);
    if (rc)
        return rc;
    rc = shutdown_locked(s);
    wr_end(s);
    return rc;
}

size_t corio_stream_write_buffered(const corio_stream *s)
{
    return s && !s->closed ? backlog(s) : 0;
}

/* ---- close and abort ----------------------------------------------------------*/

/* Releases everything but the memory: the loop's accounting, the
 * transport, the registration (waking tasks parked on the fd with -EBADF)
 * and the fd. */
static void teardown(corio_stream *s)
{
    corio_socket *k = s->sock;
    corio__obs_resource_close(k->f.loop, s);
    s->closed = 1;
    s->out_len = 0;
    flush_account(s);
    if (s->tr->close)
        s->tr->close(s);
    k->closed = 1;
    corio__fd_close(&k->f);
    if (!(s->flags & CORIO_STREAM_KEEP_FD) && k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}

void corio_stream_abort(corio_stream *s)
{
    if (!s || s->closed)
        return;
    teardown(s);
    if (s->users == 0)
        corio__stream_free(s);
}

int corio_stream_close(corio_stream *s)
{
    corio_task *t = corio_current();
    int rc = 0;
    if (!s || s->closed)
        return -EBADF;
    if ((backlog(s) && !s->werr) || (s->tr->shutdown_write && !s->wshut)) {
        if (!t)
            rc = backlog(s) ? -EPERM : 0; /* cannot wait here: dropped */
        else if (s->writer)
            rc = -EBUSY; /* another task is writing: it gets -EBADF */
        else {
            s->writer = t;
            s->users++;
            rc = corio__stream_drain(s);
            /* A transport with its own ending (TLS close_notify) says
             * goodbye, as far as the kernel takes it without waiting. */
            if (!rc && s->tr->shutdown_write && !s->wshut && !s->werr) {
                s->tr->shutdown_write(s);
                flush_some(s);
            }
            s->writer = NULL;
            s->users--;
        }
    }
    if (!s->closed)
        teardown(s);
    if (s->users == 0)
        corio__stream_free(s);
    return rc;
}
