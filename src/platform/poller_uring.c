/*
 * io_uring backend (liburing): readiness and completions in one ring.
 *
 * Readiness: an fd is armed lazily, at the first want() with events, with
 * one multishot POLL_ADD for IN|OUT|RDHUP (or the events asked for at
 * add()). Multishot polls are edge-triggered, like the epoll backend: one
 * completion per wake-up of the fd, and want() costs nothing afterwards.
 * A socket that is only read and written through completions is never
 * armed, so it costs no poll at all. When the kernel ends a multishot poll
 * (it does on CQ overflow), it is re-armed at once; on an error the error
 * is reported and the fd is re-armed at the next want().
 *
 * Completions (submit/cancel, see poller.h): recv, send, read, write,
 * readv, writev, fsync, accept, connect, openat, statx, close, recvmsg,
 * sendmsg; has_op() says which of them this kernel takes (probed once at
 * create). Both kinds go in the same submission queue; wait()
 * makes at most one io_uring_enter, which submits everything queued and
 * waits (with IORING_ENTER_EXT_ARG's timeout, no timeout SQE). A wait of 0
 * with nothing queued makes no system call: it only reads the CQ ring.
 * The one exception is del(): the POLL_REMOVE is submitted at once, so the
 * ring drops its reference to the file before the owner closes the fd (a
 * closed listening socket must stop accepting now, not at the next loop
 * iteration).
 *
 * user_data carries a tagged pointer: a registration (ureg, tag 1) or an
 * operation (corio__op, tag 2); 0 marks completions nobody waits for (the
 * CQEs of POLL_REMOVE and ASYNC_CANCEL). A ureg outlives its corio__io:
 * del() detaches it, and it is freed when its poll's last completion has
 * been seen, so a completion still in the CQ never reaches a freed io.
 *
 * Setup flags used: CQSIZE (a CQ 16 times the SQ: thousands of armed fds
 * may all report in one round), SUBMIT_ALL, and COOP_TASKRUN with
 * TASKRUN_FLAG (see setup_flags). Features tried and left out, with the
 * measurements: docs/benchmarks.md, "io_uring".
 *
 * Test knobs (environment, read at create; for tests only):
 * CORIO__TEST_URING_FAIL=<errno number> makes create fail as io_uring_setup
 * would (the fallback path); CORIO__TEST_URING_ENTRIES=<n> sets the SQ size
 * (small rings: full-SQ and CQ-overflow tests);
 * CORIO__TEST_URING_NO_OPS=<names,...|all> makes the probe say those
 * opcodes are missing (the per-operation fallback).
 */
#include "platform/poller.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef CORIO_HAVE_URING

#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#define MAKE_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#define ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define MAKE_DEFINED(p, n) ((void)0)
#define ON_VALGRIND() 0
#endif

/* Valgrind runs one thread at a time and does not let go of its lock
 * while a thread is in io_uring_enter: a loop waiting there would starve
 * the thread pool's workers, whose completion is what it waits for. Under
 * Valgrind, each wait yields first and lasts at most this many ms. */
#define VALGRIND_WAIT_SLICE_MS 10

#define SQ_ENTRIES 256u
#define TAG_POLL 1u
#define TAG_OP 2u
#define TAG_MASK 3u

/* One registered fd. Allocated by add(), detached by del(), freed when no
 * poll of it is in flight any more (del, or its last CQE after del). */
typedef struct ureg {
    corio__io *io;          /* NULL once deleted */
    unsigned mask;          /* poll events it is armed for */
    int armed;              /* a multishot poll is in flight */
    struct ureg *next;      /* free list */
    struct ureg *all_prev, *all_next; /* every live ureg (destroy frees) */
} ureg;

struct corio__poller {
    struct io_uring ring;
    unsigned cq_entries;
    unsigned ops;           /* bit n: submit() takes CORIO__OP n (probe) */
    int valgrind;           /* under Valgrind: sliced waits (see above) */
    int defer;              /* SINGLE_ISSUER + DEFER_TASKRUN, set up disabled */
    int regfd;              /* register the ring fd on the owner thread */
    int owned;              /* owner is set: a thread entered the ring */
    pthread_t owner;        /* the thread that enters the ring (own()) */
    ureg *free;
    ureg all;               /* list head */
};

static int env_int(const char *name, int dflt)
{
    const char *e = getenv(name);
    return e && *e ? atoi(e) : dflt;
}

/* The default is COOP_TASKRUN + TASKRUN_FLAG: completions are finished
 * when the loop next enters the kernel, instead of interrupting it with an
 * IPI each (measured: docs/benchmarks.md, "io_uring"). Other setups, for
 * measuring only: the environment variable CORIO__URING_SETUP = plain (no
 * flag), coop (the default), defer (SINGLE_ISSUER + DEFER_TASKRUN +
 * TASKRUN_FLAG, the ring created disabled and enabled by the first thread
 * that enters it, see own()), and ",regfd" for a registered ring fd
 * (registered by that thread). */
typedef struct setup {
    unsigned flags;
    int regfd;
} setup;

static setup setup_flags(void)
{
    const char *e = getenv("CORIO__URING_SETUP");
    setup st = {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0};
    if (!e)
        return st;
    st.flags = 0;
    if (strstr(e, "coop"))
        st.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    if (strstr(e, "defer"))
        st.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                    IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED;
    st.regfd = strstr(e, "regfd") != NULL;
    return st;
}

/* The kernel opcode behind each CORIO__OP_* (0: none). */
static const int kernel_op[CORIO__NOPS] = {
    [CORIO__OP_RECV] = IORING_OP_RECV,       [CORIO__OP_SEND] = IORING_OP_SEND,
    [CORIO__OP_READ] = IORING_OP_READ,       [CORIO__OP_WRITE] = IORING_OP_WRITE,
    [CORIO__OP_READV] = IORING_OP_READV,     [CORIO__OP_WRITEV] = IORING_OP_WRITEV,
    [CORIO__OP_FSYNC] = IORING_OP_FSYNC,     [CORIO__OP_NOP] = IORING_OP_NOP,
    [CORIO__OP_ACCEPT] = IORING_OP_ACCEPT,   [CORIO__OP_CONNECT] = IORING_OP_CONNECT,
    [CORIO__OP_OPENAT] = IORING_OP_OPENAT,   [CORIO__OP_STATX] = IORING_OP_STATX,
    [CORIO__OP_CLOSE] = IORING_OP_CLOSE,     [CORIO__OP_RECVMSG] = IORING_OP_RECVMSG,
    [CORIO__OP_SENDMSG] = IORING_OP_SENDMSG,
};

/* Which opcodes this kernel takes: io_uring_get_probe_ring, once. A
 * kernel without the probe (before 5.6) has the 5.1 set only. The test
 * knob CORIO__TEST_URING_NO_OPS="accept,openat" (or "all") makes those
 * look missing, as on an older kernel. */
static unsigned probe_ops(struct io_uring *ring)
{
    struct io_uring_probe *pr = io_uring_get_probe_ring(ring);
    const char *no = getenv("CORIO__TEST_URING_NO_OPS");
    unsigned ops = 0;
    int i;
    for (i = 1; i < CORIO__NOPS; i++) {
        int ok = pr ? io_uring_opcode_supported(pr, kernel_op[i])
                    : kernel_op[i] <= IORING_OP_FSYNC;
        if (ok && no && *no) {
            const char *name = corio__op_name(i), *hit = no;
            size_t k = strlen(name);
            if (strcmp(no, "all") == 0)
                ok = 0;
            /* a whole item of the list: "send" is not "sendmsg" */
            while (ok && (hit = strstr(hit, name)) != NULL) {
                if ((hit == no || hit[-1] == ',') && (hit[k] == 0 || hit[k] == ','))
                    ok = 0;
                hit += k;
            }
        }
        if (ok)
            ops |= 1u << i;
    }
    if (pr)
        io_uring_free_probe(pr);
    return ops;
}

static int ur_has_op(corio__poller *p, int opcode)
{
    return opcode > 0 && opcode < CORIO__NOPS && (p->ops >> opcode & 1u);
}

static void ur_missing_ops(corio__poller *p, char *buf, size_t len)
{
    size_t n = 0;
    int i;
    buf[0] = 0;
    for (i = 1; i < CORIO__NOPS; i++)
        if (i != CORIO__OP_NOP && !(p->ops >> i & 1u) && n < len) {
            int k = snprintf(buf + n, len - n, "%s%s", n ? ", " : "", corio__op_name(i));
            if (k > 0)
                n += (size_t)k;
        }
}

static int ur_create(corio__poller **pp)
{
    struct io_uring_params prm = {0};
    corio__poller *p;
    unsigned entries;
    setup st;
    int rc;
    rc = env_int("CORIO__TEST_URING_FAIL", 0);
    if (rc > 0)
        return -rc;
    entries = (unsigned)env_int("CORIO__TEST_URING_ENTRIES", (int)SQ_ENTRIES);
    if (entries < 2)
        entries = 2;
    p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->all.all_next = p->all.all_prev = &p->all;
    st = setup_flags();
    prm.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | st.flags;
    prm.cq_entries = entries * 16;
    rc = io_uring_queue_init_params(entries, &p->ring, &prm);
    if (rc == -EINVAL) { /* a kernel without SUBMIT_ALL or COOP_TASKRUN (5.19) */
        memset(&prm, 0, sizeof prm);
        prm.flags = IORING_SETUP_CQSIZE;
        prm.cq_entries = entries * 16;
        rc = io_uring_queue_init_params(entries, &p->ring, &prm);
    }
    p->defer = rc == 0 && (prm.flags & IORING_SETUP_R_DISABLED) != 0;
    p->regfd = st.regfd;
    if (rc < 0) {
        free(p);
        return rc;
    }
    /* Timed waits need IORING_ENTER_EXT_ARG (5.11): without it liburing
     * would queue a timeout SQE per wait. Treat such kernels as lacking
     * io_uring. */
    if (!(p->ring.features & IORING_FEAT_EXT_ARG) ||
        !(p->ring.features & IORING_FEAT_NODROP)) {
        io_uring_queue_exit(&p->ring);
        free(p);
        return -ENOSYS;
    }
    p->cq_entries = prm.cq_entries;
    p->ops = probe_ops(&p->ring);
    p->valgrind = ON_VALGRIND();
    *pp = p;
    return 0;
}

static void ur_destroy(corio__poller *p)
{
    ureg *r, *next;
    io_uring_queue_exit(&p->ring);
    for (r = p->all.all_next; r != &p->all; r = next) {
        next = r->all_next;
        free(r);
    }
    while (p->free) {
        r = p->free;
        p->free = r->next;
        free(r);
    }
    free(p);
}

/* Called before every io_uring_enter: the first thread to enter the ring
 * owns it (the thread running the loop, which need not be the one that
 * created it). A DEFER_TASKRUN ring is enabled then, which makes that
 * thread its single issuer; a registered ring fd is registered then, in
 * that thread's io_uring context. A loop run later by another thread
 * stops using the registered fd (it is that first thread's); a
 * DEFER_TASKRUN ring cannot change issuer: -EEXIST. */
static int own(corio__poller *p)
{
    pthread_t self = pthread_self();
    if (p->owned && pthread_equal(p->owner, self))
        return 0;
    if (!p->owned) {
        p->owned = 1;
        p->owner = self;
        if (p->defer) {
            /* liburing 2.3 declares io_uring_enable_rings but lacks it */
            if (syscall(__NR_io_uring_register, p->ring.ring_fd,
                        IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
                return -errno;
        }
        if (p->regfd)
            io_uring_register_ring_fd(&p->ring); /* a plain fd otherwise */
        return 0;
    }
    if (p->defer)
        return -EEXIST;
    if (p->ring.enter_ring_fd != p->ring.ring_fd) {
        /* liburing's INT_FLAG_REG_RING (1): enter by the plain fd again */
        p->ring.enter_ring_fd = p->ring.ring_fd;
        p->ring.int_flags &= (__u8)~1u;
    }
    p->owner = self;
    return 0;
}

static int submit_now(corio__poller *p)
{
    int rc = own(p);
    return rc ? rc : io_uring_submit(&p->ring);
}

/* An SQE, flushing the queue to the kernel first if it is full (more
 * operations queued in one iteration than the SQ has entries). */
static struct io_uring_sqe *sqe_get(corio__poller *p)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
    if (!sqe) {
        submit_now(p);
        sqe = io_uring_get_sqe(&p->ring);
    }
    return sqe;
}

static void reg_free(corio__poller *p, ureg *r)
{
    r->all_prev->all_next = r->all_next;
    r->all_next->all_prev = r->all_prev;
    r->next = p->free;
    p->free = r;
}

static unsigned poll_mask(unsigned want)
{
    if (!want)
        return POLLIN | POLLOUT | POLLRDHUP;
    return (want & CORIO__IO_IN ? POLLIN | POLLRDHUP : 0) |
           (want & CORIO__IO_OUT ? POLLOUT : 0);
}

static int ur_add(corio__poller *p, corio__io *io)
{
    ureg *r = p->free;
    if (io->fd < 0)
        return -EBADF;
    if (r)
        p->free = r->next;
    else if (!(r = malloc(sizeof *r)))
        return -ENOMEM;
    r->io = io;
    r->armed = 0;
    r->mask = poll_mask(io->want);
    r->all_next = p->all.all_next;
    r->all_prev = &p->all;
    p->all.all_next->all_prev = r;
    p->all.all_next = r;
    io->priv = r;
    io->slot = 0;
    return 0;
}

static int arm(corio__poller *p, ureg *r)
{
    struct io_uring_sqe *sqe = sqe_get(p);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_poll_multishot(sqe, r->io->fd, r->mask);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)r | TAG_POLL);
    r->armed = 1;
    return 0;
}

static int ur_del(corio__poller *p, corio__io *io)
{
    ureg *r = io->priv;
    io->priv = NULL;
    io->slot = -1;
    if (!r)
        return -ENOENT;
    r->io = NULL;
    if (r->armed) {
        struct io_uring_sqe *sqe = sqe_get(p);
        if (sqe) {
            io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)r | TAG_POLL);
            io_uring_sqe_set_data64(sqe, 0);
        }
        submit_now(p);
        /* freed when the poll's last CQE arrives */
    } else {
        reg_free(p, r);
    }
    return 0;
}

static int ur_want(corio__poller *p, corio__io *io, unsigned events)
{
    ureg *r = io->priv;
    io->want = events;
    if (r && !r->armed && events)
        return arm(p, r);
    return 0;
}

static int ur_submit(corio__poller *p, corio__op *op)
{
    struct io_uring_sqe *sqe;
    if (!ur_has_op(p, op->opcode))
        return -EOPNOTSUPP;
    sqe = sqe_get(p);
    if (!sqe)
        return -EBUSY;
    switch (op->opcode) {
    case CORIO__OP_RECV:
        io_uring_prep_recv(sqe, op->fd, op->buf, op->len, op->flags);
        break;
    case CORIO__OP_SEND:
        io_uring_prep_send(sqe, op->fd, op->buf, op->len, op->flags | MSG_NOSIGNAL);
        break;
    case CORIO__OP_READ:
        io_uring_prep_read(sqe, op->fd, op->buf, (unsigned)op->len, (uint64_t)op->off);
        break;
    case CORIO__OP_WRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, (unsigned)op->len, (uint64_t)op->off);
        break;
    case CORIO__OP_READV:
        io_uring_prep_readv(sqe, op->fd, op->buf, (unsigned)op->len, (uint64_t)op->off);
        break;
    case CORIO__OP_WRITEV:
        io_uring_prep_writev(sqe, op->fd, op->buf, (unsigned)op->len, (uint64_t)op->off);
        break;
    case CORIO__OP_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, (unsigned)op->flags);
        break;
    case CORIO__OP_NOP:
        io_uring_prep_nop(sqe);
        break;
    case CORIO__OP_ACCEPT:
        io_uring_prep_accept(sqe, op->fd, op->buf, op->aux, op->flags);
        break;
    case CORIO__OP_CONNECT:
        io_uring_prep_connect(sqe, op->fd, op->buf, (socklen_t)op->len);
        break;
    case CORIO__OP_OPENAT:
        io_uring_prep_openat(sqe, op->fd, op->buf, op->flags, (mode_t)op->len);
        break;
    case CORIO__OP_STATX:
        io_uring_prep_statx(sqe, op->fd, op->buf, op->flags, (unsigned)op->len, op->aux);
        break;
    case CORIO__OP_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    case CORIO__OP_RECVMSG:
        io_uring_prep_recvmsg(sqe, op->fd, op->buf, (unsigned)op->flags);
        break;
    case CORIO__OP_SENDMSG:
        io_uring_prep_sendmsg(sqe, op->fd, op->buf, (unsigned)op->flags | MSG_NOSIGNAL);
        break;
    default:
        /* give the SQE back as a NOP nobody waits for */
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, 0);
        return -EINVAL;
    }
    op->done = 0;
    op->res = 0;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | TAG_OP);
    return 0;
}

static int ur_cancel(corio__poller *p, corio__op *op)
{
    struct io_uring_sqe *sqe;
    if (op->done)
        return 0;
    sqe = sqe_get(p);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op | TAG_OP, 0);
    io_uring_sqe_set_data64(sqe, 0);
    return 0;
}

/* The kernel wrote into the buffer; tell memcheck. */
static void op_defined(corio__op *op, int res)
{
#ifdef CORIO_HAVE_VALGRIND
    if (res < 0 || (res == 0 && op->opcode != CORIO__OP_STATX))
        return;
    if (op->opcode == CORIO__OP_RECV || op->opcode == CORIO__OP_READ) {
        MAKE_DEFINED(op->buf, (size_t)res);
    } else if (op->opcode == CORIO__OP_ACCEPT) {
        if (op->aux) {
            MAKE_DEFINED(op->aux, sizeof(socklen_t));
            MAKE_DEFINED(op->buf, *(socklen_t *)op->aux);
        }
    } else if (op->opcode == CORIO__OP_STATX) {
        MAKE_DEFINED(op->aux, sizeof(struct statx));
    } else if (op->opcode == CORIO__OP_READV || op->opcode == CORIO__OP_RECVMSG) {
        struct iovec *iov = op->buf;
        size_t i, n_iov = op->len, left = (size_t)res;
        if (op->opcode == CORIO__OP_RECVMSG) {
            struct msghdr *m = op->buf;
            iov = m->msg_iov;
            n_iov = (size_t)m->msg_iovlen;
        }
        for (i = 0; i < n_iov && left; i++) {
            size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
            MAKE_DEFINED(iov[i].iov_base, n);
            left -= n;
        }
    }
#else
    (void)op;
    (void)res;
#endif
}

static unsigned events_of(int res)
{
    unsigned e = (unsigned)res, ev = 0;
    if (res < 0)
        return CORIO__IO_ERR | CORIO__IO_IN | CORIO__IO_OUT;
    if (e & POLLIN)
        ev |= CORIO__IO_IN;
    if (e & POLLRDHUP)
        ev |= CORIO__IO_IN | CORIO__IO_RDHUP;
    if (e & POLLOUT)
        ev |= CORIO__IO_OUT;
    if (e & (POLLERR | POLLNVAL))
        ev |= CORIO__IO_ERR | CORIO__IO_IN | CORIO__IO_OUT;
    if (e & POLLHUP)
        ev |= CORIO__IO_HUP | CORIO__IO_IN | CORIO__IO_OUT;
    return ev;
}

static int dispatch(corio__poller *p, uint64_t ud, int res, unsigned flags)
{
    if ((ud & TAG_MASK) == TAG_POLL) {
        ureg *r = (ureg *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
        corio__io *io = r->io;
        unsigned ev;
        if (!(flags & IORING_CQE_F_MORE))
            r->armed = 0;
        if (!io) {
            if (!r->armed)
                reg_free(p, r);
            return 0;
        }
        /* Ended by the kernel (CQ overflow): arm again before the callback,
         * which may del() it. After an error, the next want() re-arms. */
        if (!r->armed && res >= 0)
            arm(p, r);
        ev = events_of(res);
        if (!ev)
            return 0;
        io->ready |= ev;
        io->cb(io, ev);
        return 1;
    }
    if ((ud & TAG_MASK) == TAG_OP) {
        corio__op *op = (corio__op *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
        op_defined(op, res);
        op->res = res;
        op->done = 1;
        if (op->cb)
            op->cb(op);
        return 1;
    }
    return 0;
}

static int ur_wait(corio__poller *p, int timeout_ms)
{
    struct io_uring_cqe *cqe;
    unsigned budget;
    int rc, n = 0;
    rc = own(p);
    if (rc)
        return rc;
    if (p->valgrind && timeout_ms != 0) {
        /* sched_yield is a point where Valgrind hands its lock over. */
        sched_yield();
        if (timeout_ms < 0 || timeout_ms > VALGRIND_WAIT_SLICE_MS)
            timeout_ms = VALGRIND_WAIT_SLICE_MS;
    }
    if (timeout_ms != 0) {
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout_ms > 0) {
            ts.tv_sec = timeout_ms / 1000;
            ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
            tsp = &ts;
        }
        rc = io_uring_submit_and_wait_timeout(&p->ring, &cqe, 1, tsp, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            return rc;
    } else if (io_uring_sq_ready(&p->ring)) {
        rc = io_uring_submit(&p->ring);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            return rc;
    } else if (IO_URING_READ_ONCE(*p->ring.sq.kflags) &
               (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) {
        /* completions waiting for task work (COOP/DEFER_TASKRUN) or in
         * the overflow list */
        io_uring_get_events(&p->ring);
    }
    /* Bounded: callbacks may queue new work that completes at once. */
    budget = p->cq_entries;
    while (budget-- && io_uring_peek_cqe(&p->ring, &cqe) == 0) {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        int res = cqe->res;
        unsigned fl = cqe->flags;
        io_uring_cqe_seen(&p->ring, cqe);
        n += dispatch(p, ud, res, fl);
    }
    return n;
}

const corio__poller_ops corio__poller_uring = {
    "io_uring", ur_create, ur_destroy, ur_add, ur_del, ur_want, ur_wait,
    ur_submit, ur_cancel, ur_has_op, ur_missing_ops
};

#else /* !CORIO_HAVE_URING: built without liburing; create says ENOSYS */

static int ur_create(corio__poller **pp)
{
    (void)pp;
    return -ENOSYS;
}

const corio__poller_ops corio__poller_uring = {
    "io_uring", ur_create, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};

#endif
