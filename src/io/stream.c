/*
 * corio_stream, the read side: opening a stream over an fd or a socket,
 * the plain-fd transport, and the buffered reads (read, readexactly,
 * readuntil/readline, fill/peek/consume). The write side, close and the
 * background flush are in stream_write.c.
 *
 * Reads are served from the input buffer first. A read with an empty
 * buffer and a large destination goes straight from the transport into the
 * caller's memory (no copy: what an echo or proxy loop wants); small reads
 * fill the buffer and copy from it. A delimited read that overruns its limit
 * leaves every byte in the buffer, and an interrupted one consumes nothing,
 * so no byte is ever lost or duplicated by an error.
 */
#include "io/net.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STREAM_LIMIT_DEFAULT (64u * 1024u)
#define STREAM_HIGH_DEFAULT (64u * 1024u)
#define STREAM_IN_INITIAL (16u * 1024u)
/* A read at least this large with an empty buffer bypasses the buffer. */
#define STREAM_DIRECT_MIN 4096u

/* ---- the plain fd transport ----------------------------------------------*/

/* For stream sockets and pipes a short read means the kernel buffer is
 * empty now, and a short write that it is full: the next call would say
 * EAGAIN, so the readiness bit is cleared and the next call waits for the
 * poller's edge instead of making a system call to learn it. Other fds
 * (ttys return one line per read) do not promise that. Nor does a peer
 * that already hung up: the next read then returns end of stream (or an
 * error), and no new edge would come to say so. */
static const corio__transport fd_transport;
#define HANGUP (CORIO__IO_RDHUP | CORIO__IO_HUP | CORIO__IO_ERR)
static ssize_t fd_read(corio_stream *s, void *buf, size_t len, unsigned *want)
{
    corio_socket *k = s->sock;
    ssize_t n;
    *want = CORIO__IO_IN;
    if (!(k->f.io.ready & CORIO__IO_IN))
        return -EAGAIN;
    for (;;) {
        n = k->is_socket ? recv(k->fd, buf, len, 0) : read(k->fd, buf, len);
        if (n == 0 && CORIO__UNLIKELY(k->sim != NULL))
            return corio__simnet_eof(k); /* a reset reads as one */
        if (n >= 0) {
            if (n > 0 && (size_t)n < len && k->short_drains &&
                !(k->f.io.ready & HANGUP))
                k->f.io.ready &= ~CORIO__IO_IN;
            return n;
        }
        if (errno != EINTR)
            break;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        k->f.io.ready &= ~CORIO__IO_IN;
        return -EAGAIN;
    }
    return -errno;
}

static ssize_t fd_write(corio_stream *s, const void *buf, size_t len,
                        unsigned *want)
{
    corio_socket *k = s->sock;
    ssize_t n;
    *want = CORIO__IO_OUT;
    if (!(k->f.io.ready & CORIO__IO_OUT))
        return -EAGAIN;
    for (;;) {
        /* MSG_NOSIGNAL: a write to a reset connection returns EPIPE
         * instead of killing the process with SIGPIPE. */
        n = k->is_socket ? send(k->fd, buf, len, MSG_NOSIGNAL)
                         : write(k->fd, buf, len);
        if (n >= 0) {
            if ((size_t)n < len && k->short_drains &&
                !(k->f.io.ready & HANGUP))
                k->f.io.ready &= ~CORIO__IO_OUT;
            return n;
        }
        if (errno != EINTR)
            break;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        k->f.io.ready &= ~CORIO__IO_OUT;
        return -EAGAIN;
    }
    return -errno;
}

/* A read or write of a plain-fd stream as a completion in the loop's
 * ring (io_uring): recv/send for sockets, read/write for pipes and ttys.
 * Returns what corio__fd_op returns. */
ssize_t corio__stream_ring_io(corio_stream *s, unsigned dir, void *buf, size_t len)
{
    corio_socket *k = s->sock;
    corio__op op;
    memset(&op, 0, sizeof op);
    if (dir == CORIO__IO_IN)
        op.opcode = k->is_socket ? CORIO__OP_RECV : CORIO__OP_READ;
    else
        op.opcode = k->is_socket ? CORIO__OP_SEND : CORIO__OP_WRITE;
    op.buf = buf;
    op.len = len;
    op.off = -1;
    /* A write takes what the socket takes now and buffers the rest, as on
     * the other backends: it must not wait in the ring for a slow reader. */
    if (op.opcode == CORIO__OP_SEND)
        op.flags = MSG_DONTWAIT;
    return corio__fd_op(&k->f, &op, dir);
}

int corio__stream_ring(const corio_stream *s)
{
    return s->tr == &fd_transport &&
           corio__fd_ring_has(&s->sock->f, s->sock->is_socket ? CORIO__OP_RECV
                                                               : CORIO__OP_READ);
}

/* Writes go in the ring for sockets only (MSG_DONTWAIT keeps them from
 * waiting there); a pipe's write keeps the direct system call. */
int corio__stream_ring_write(const corio_stream *s)
{
    return s->tr == &fd_transport && s->sock->is_socket &&
           corio__fd_ring_has(&s->sock->f, CORIO__OP_SEND);
}

static const corio__transport fd_transport = {
    "fd", fd_read, fd_write, NULL, NULL, NULL, NULL
};

/* ---- opening ---------------------------------------------------------------*/

int corio__stream_new(corio_stream **sp, corio_socket *sock,
                      const corio__transport *tr, unsigned flags)
{
    corio_stream *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->tr = tr;
    s->sock = sock;
    s->flags = flags;
    s->read_limit = STREAM_LIMIT_DEFAULT;
    s->write_high = STREAM_HIGH_DEFAULT;
    sock->stream = s;
    sock->f.hook = corio__stream_hook;
    /* The stream owns the socket now: a leak is the stream's. */
    corio__obs_resource_close(sock->f.loop, sock);
    corio__obs_resource_open(sock->f.loop, s, "stream", sock->fd);
    *sp = s;
    return 0;
}

/* write(2) on a pipe whose reader is gone raises SIGPIPE, and pipes have
 * no MSG_NOSIGNAL; so, like Go's runtime, ignore SIGPIPE process-wide
 * (only if nobody installed a handler) the first time a non-socket fd
 * becomes a stream. Writes then fail with EPIPE. Children inherit the
 * ignored disposition across exec: whoever spawns them resets it. */
static void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
        !(sa.sa_flags & SA_SIGINFO)) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

static void ignore_sigpipe_once(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ignore_sigpipe);
}

int corio_stream_open_fd(corio_stream **sp, int fd, unsigned flags)
{
    struct stat st;
    corio_socket *k;
    int is_sock, type = 0, rc;
    if (!corio_loop_current())
        return -EPERM;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return -EPERM; /* epoll cannot watch them; a file never says EAGAIN */
    is_sock = S_ISSOCK(st.st_mode);
    if (is_sock) {
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
            return -errno;
    } else {
        ignore_sigpipe_once();
    }
    rc = corio__fd_nonblock(fd);
    if (rc)
        return rc;
    rc = corio__socket_new(&k, fd, is_sock, type);
    if (rc)
        return rc;
    k->short_drains = is_sock ? type == SOCK_STREAM : S_ISFIFO(st.st_mode);
    rc = corio__stream_new(sp, k, &fd_transport, flags);
    if (rc) {
        corio__fd_close(&k->f);
        free(k);
    }
    return rc;
}

int corio_stream_open_socket(corio_stream **sp, corio_socket *sock)
{
    if (!sock || sock->closed || sock->stream)
        return -EBADF;
    if (sock->users)
        return -EBUSY;
    return corio__stream_new(sp, sock, &fd_transport, 0);
}

int corio_stream_connect_tcp(corio_stream **sp, const char *host, int port)
{
    corio_socket *k;
    int rc = corio_tcp_connect(&k, host, port);
    if (rc)
        return rc;
    rc = corio_stream_open_socket(sp, k);
    if (rc)
        corio_socket_close(k);
    return rc;
}

int corio_stream_connect_unix(corio_stream **sp, const char *path)
{
    corio_socket *k;
    int rc = corio_unix_connect(&k, path);
    if (rc)
        return rc;
    rc = corio_stream_open_socket(sp, k);
    if (rc)
        corio_socket_close(k);
    return rc;
}

/* ---- entering and leaving a read or write call ----------------------------*/

/* The entry guard of every suspending stream call. side is &s->reader or
 * &s->writer: one task at a time per direction (two readers' or two
 * writers' bytes would interleave), and the stream stays allocated while
 * any task is inside a call on it. */
int corio__stream_enter(corio_stream *s, corio_task **side)
{
    corio_task *t = corio_current();
    int rc;
    if (!t)
        return -EPERM;
    if (!s || s->closed)
        return -EBADF;
    if (*side)
        return -EBUSY;
    rc = corio__interrupted(t);
    if (rc)
        return rc;
    *side = t;
    s->users++;
    return 0;
}

void corio__stream_leave(corio_stream *s, corio_task **side)
{
    *side = NULL;
    if (--s->users == 0 && s->closed)
        corio__stream_free(s);
}

static int rd_begin(corio_stream *s)
{
    return s ? corio__stream_enter(s, &s->reader) : (corio_current() ? -EBADF : -EPERM);
}

static void rd_end(corio_stream *s) { corio__stream_leave(s, &s->reader); }

/* One transport read into buf, suspending until it yields bytes, end of
 * stream or an error. Errors of the transport stick (s->rerr); those of the
 * wait (cancellation, a scope's deadline, close) do not. */
static ssize_t xread(corio_stream *s, void *buf, size_t len)
{
    unsigned want;
    ssize_t n;
    int rc;
    if (s->rerr)
        return s->rerr;
    if (s->eof)
        return 0;
    if (corio__stream_ring(s)) {
        n = corio__stream_ring_io(s, CORIO__IO_IN, buf, len);
        if (n == 0)
            s->eof = 1;
        else if (n < 0 && n != -ECANCELED && n != -ETIMEDOUT && n != -EBADF)
            s->rerr = (int)n; /* the transport's error, not the wait's */
        return s->closed && n < 0 ? -EBADF : n;
    }
    for (;;) {
        n = s->tr->read(s, buf, len, &want);
        if (n > 0)
            return n;
        if (n == 0) {
            s->eof = 1;
            return 0;
        }
        if (n != -EAGAIN) {
            s->rerr = (int)n;
            return n;
        }
        rc = corio__fd_wait(&s->sock->f, want);
        if (rc)
            return rc;
        if (s->closed)
            return -EBADF;
    }
}

/* Makes in[in_off .. in_off + need) fit in the input buffer (need >
 * in_len): compacts first, then grows. 0 or -ENOMEM. */
static int in_room(corio_stream *s, size_t need)
{
    size_t cap;
    char *p;
    if (s->in_off + need <= s->in_cap)
        return 0;
    if (s->in_off) {
        memmove(s->in, s->in + s->in_off, s->in_len);
        s->in_off = 0;
        if (need <= s->in_cap)
            return 0;
    }
    cap = s->in_cap ? s->in_cap : STREAM_IN_INITIAL;
    while (cap < need)
        cap *= 2;
    if (cap > s->read_limit)
        cap = s->read_limit > need ? s->read_limit : need;
    p = realloc(s->in, cap);
    if (!p)
        return -ENOMEM;
    s->in = p;
    s->in_cap = cap;
    return 0;
}

/* Reads once from the transport into the input buffer. Returns bytes
 * added, 0 at end of stream, -ENOBUFS if the buffer is at its limit. */
static ssize_t fill_once(corio_stream *s)
{
    size_t need;
    ssize_t n;
    if (s->rerr)
        return s->rerr;
    if (s->eof)
        return 0;
    if (s->in_len >= s->read_limit)
        return -ENOBUFS;
    /* Room for a worthwhile read, within the limit. */
    need = s->in_len + STREAM_DIRECT_MIN;
    if (need < STREAM_IN_INITIAL)
        need = STREAM_IN_INITIAL;
    if (need > s->read_limit)
        need = s->read_limit;
    if (in_room(s, need) < 0)
        return -ENOMEM;
    n = xread(s, s->in + s->in_off + s->in_len,
              s->in_cap - s->in_off - s->in_len);
    if (n > 0)
        s->in_len += (size_t)n;
    return n;
}

static size_t take(corio_stream *s, void *buf, size_t len)
{
    size_t n = s->in_len < len ? s->in_len : len;
    if (n == 0)
        return 0;
    memcpy(buf, s->in + s->in_off, n);
    corio_stream_consume(s, n);
    return n;
}

/* ---- public reads ----------------------------------------------------------*/

ssize_t corio_stream_read(corio_stream *s, void *buf, size_t len)
{
    ssize_t n;
    int rc = rd_begin(s);
    if (rc)
        return rc;
    if (len == 0)
        n = 0;
    else if (s->in_len)
        n = (ssize_t)take(s, buf, len);
    else if (len >= STREAM_DIRECT_MIN)
        n = xread(s, buf, len);
    else if ((n = fill_once(s)) > 0)
        n = (ssize_t)take(s, buf, len);
    rd_end(s);
    return n;
}

int corio_stream_readexactly(corio_stream *s, void *buf, size_t len,
                             size_t *gotp)
{
    char *p = buf;
    size_t got = 0;
    ssize_t n;
    int rc = rd_begin(s);
    if (gotp)
        *gotp = 0;
    if (rc)
        return rc;
    got = take(s, p, len);
    while (got < len) {
        if (len - got >= STREAM_DIRECT_MIN) {
            n = xread(s, p + got, len - got);
            if (n > 0)
                got += (size_t)n;
        } else if ((n = fill_once(s)) > 0) {
            got += take(s, p + got, len - got);
        }
        if (n == 0) {
            rc = CORIO_EEOF;
            break;
        }
        if (n < 0) {
            rc = (int)n;
            break;
        }
    }
    if (gotp)
        *gotp = got;
    rd_end(s);
    return rc;
}

static const char *find(const char *hay, size_t n, const void *sep,
                        size_t seplen)
{
    if (seplen == 1)
        return memchr(hay, *(const unsigned char *)sep, n);
    return memmem(hay, n, sep, seplen);
}

int corio_stream_readuntil(corio_stream *s, void *buf, size_t cap,
                           const void *sep, size_t seplen, size_t *lenp)
{
    size_t scanned = 0, limit;
    ssize_t n;
    int rc;
    if (lenp)
        *lenp = 0;
    if (!buf || cap == 0 || !sep || seplen == 0)
        return -EINVAL;
    rc = rd_begin(s);
    if (rc)
        return rc;
    limit = cap < s->read_limit ? cap : s->read_limit;
    for (;;) {
        size_t window = s->in_len < cap ? s->in_len : cap;
        size_t from = scanned >= seplen ? scanned - (seplen - 1) : 0;
        const char *hit = NULL;
        if (window >= seplen && window > from)
            hit = find(s->in + s->in_off + from, window - from, sep, seplen);
        if (hit) {
            size_t len = (size_t)(hit - (s->in + s->in_off)) + seplen;
            take(s, buf, len);
            if (len < cap)
                ((char *)buf)[len] = '\0';
            if (lenp)
                *lenp = len;
            rc = 0;
            break;
        }
        scanned = window;
        if (s->in_len >= limit) {
            rc = CORIO_ETOOLONG; /* every byte stays buffered */
            break;
        }
        if (s->eof) {
            size_t len = take(s, buf, cap);
            if (len < cap)
                ((char *)buf)[len] = '\0';
            if (lenp)
                *lenp = len;
            rc = CORIO_EEOF;
            break;
        }
        n = fill_once(s);
        if (n < 0) {
            rc = (int)n; /* nothing consumed */
            break;
        }
    }
    rd_end(s);
    return rc;
}

int corio_stream_readline(corio_stream *s, char *buf, size_t cap, size_t *len)
{
    return corio_stream_readuntil(s, buf, cap, "\n", 1, len);
}

ssize_t corio_stream_fill(corio_stream *s)
{
    ssize_t n;
    int rc = rd_begin(s);
    if (rc)
        return rc;
    n = fill_once(s);
    rd_end(s);
    return n;
}

const void *corio_stream_peek(corio_stream *s, size_t *len)
{
    if (!s || s->closed) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = s->in_len;
    return s->in ? s->in + s->in_off : NULL;
}

void corio_stream_consume(corio_stream *s, size_t n)
{
    if (!s)
        return;
    if (n > s->in_len)
        n = s->in_len;
    s->in_off += n;
    s->in_len -= n;
    if (s->in_len == 0)
        s->in_off = 0;
}

int corio_stream_set_limits(corio_stream *s, size_t read_limit,
                            size_t write_high)
{
    if (!s || s->closed)
        return -EBADF;
    if (read_limit != SIZE_MAX) {
        if (read_limit == 0 || read_limit < s->in_len)
            return -EINVAL;
        s->read_limit = read_limit;
    }
    if (write_high != SIZE_MAX)
        s->write_high = write_high;
    return 0;
}

int corio_stream_fd(const corio_stream *s)
{
    return s && !s->closed ? s->sock->fd : -1;
}

corio_socket *corio_stream_socket(corio_stream *s)
{
    return s && !s->closed && s->sock->is_socket ? s->sock : NULL;
}
