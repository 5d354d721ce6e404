/*
 * Files on the loop's io_uring ring when the backend is io_uring (and the
 * loop is not in COMPACT mode): read, write and fsync go into the ring
 * straight from and into the caller's buffer, with no thread hop and no
 * copy, and a call interrupted while its operation is in the ring cancels
 * it and reports -ECANCELED/-ETIMEDOUT only if it did not happen
 * (corio__ring_op). Open, stat (fd and path) and close go there too
 * (file_ring.c). An opcode the kernel lacks runs on the pool (the
 * per-operation fallback, corio__ring_has). The rest (rename, unlink,
 * whole-file reads and writes), and every call on other backends, runs on
 * the thread pool:
 *
 * Files on the thread pool: each call packs its arguments into a heap
 * operation (struct fop), runs its system call on the default pool and
 * parks the task until it is done.
 *
 * Ownership: the operation owns copies of everything the worker touches
 * (paths, data, the read buffer), never the caller's memory. If the task
 * is interrupted while the worker runs, the pool's discard callback frees
 * the operation once the worker is done; otherwise the caller frees it
 * after copying the result out. That is what makes cancelling a file call
 * safe in any state, and also what keeps CORIO_STACK_COMPACT tasks (whose
 * stacks move while they are suspended) correct.
 *
 * Large transfers are split into CHUNK-sized operations, so a staged copy
 * never doubles a big buffer, and a cancelled write stops between chunks.
 */
#include "os/pool.h"
#include "os/file_ring.h"
#include "io/fd.h"
#include "sim/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define READ_FILE_LIMIT ((size_t)1 << 30)

enum {
    OP_OPEN, OP_CLOSE, OP_PREAD, OP_PWRITE, OP_WRITE_APPEND, OP_FSYNC, OP_FSTAT,
    OP_STAT, OP_RENAME, OP_UNLINK, OP_READ_FILE, OP_WRITE_FILE
};

/* One operation. Allocated by the calling task, freed by it after the
 * result came back, or by fop_discard if it was interrupted. */
typedef struct fop {
    int kind;
    int fd;
    int flags;
    int mode;
    char *path, *path2;
    char *buf;           /* staged data (owned) */
    /* A simulation's disk (sim/disk.h), chosen by the calling task, and
     * the task's fence: the operation fails if its host crashed since. */
    corio_sim_disk *sd;
    uint64_t fence;
    size_t len;
    size_t limit;        /* OP_READ_FILE */
    int64_t off;
    unsigned wflags;     /* OP_WRITE_FILE */
    struct stat st;
    ssize_t res;         /* count, fd, 0, or -errno */
} fop;

/* A file handle. Allocated by corio_file_open, freed by corio_file_close;
 * used by one loop's tasks. */
struct corio_file {
    int fd;
    int append;
    int64_t pos;
    corio_loop *loop;   /* the loop it was opened on (leak report) */
};

static void fop_free(fop *o)
{
    free(o->path);
    free(o->path2);
    free(o->buf);
    free(o);
}

static void fop_discard(void *result, void *arg)
{
    fop *o = arg;
    (void)result;
    /* An abandoned open still produced a descriptor nobody will see. */
    if (o->kind == OP_OPEN && o->res >= 0) {
        if (o->sd)
            corio_sim_disk_close(o->sd, (int)o->res);
        else
            close((int)o->res);
    }
    fop_free(o);
}

static ssize_t full_write(int fd, const char *p, size_t len, int64_t off, int append)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = append ? write(fd, p + done, len - done)
                           : pwrite(fd, p + done, len - done, (off_t)(off + (int64_t)done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static ssize_t do_read_file(fop *o)
{
    struct stat st;
    size_t cap, len = 0;
    int fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    /* Size from fstat, but read to EOF: /proc files report 0, and files
     * can grow while we read. */
    cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    if (cap > o->limit + 1)
        cap = o->limit + 1;
    o->buf = malloc(cap + 1);
    if (!o->buf) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *nb;
            if (cap > o->limit) {
                close(fd);
                return -EFBIG;
            }
            cap = cap * 2 > o->limit + 1 ? o->limit + 1 : cap * 2;
            nb = realloc(o->buf, cap + 1);
            if (!nb) {
                close(fd);
                return -ENOMEM;
            }
            o->buf = nb;
        }
        n = read(fd, o->buf + len, cap - len);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > o->limit) {
            close(fd);
            return -EFBIG;
        }
    }
    close(fd);
    o->buf[len] = '\0';
    o->len = len;
    return 0;
}

static ssize_t do_write_file(fop *o)
{
    const char *target = o->path;
    char *tmp = NULL;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC, fd;
    ssize_t rc;
    if (o->wflags & CORIO_WRITE_ATOMIC) {
        size_t n = strlen(o->path) + 32;
        tmp = malloc(n);
        if (!tmp)
            return -ENOMEM;
        snprintf(tmp, n, "%s.tmp.%ld", o->path, (long)getpid());
        target = tmp;
        flags |= O_TRUNC | O_EXCL;
    } else {
        flags |= (o->wflags & CORIO_WRITE_APPEND) ? O_APPEND : O_TRUNC;
    }
    fd = open(target, flags, 0666);
    if (fd < 0 && tmp && errno == EEXIST) {
        unlink(tmp); /* a leftover from a crashed writer with our pid */
        fd = open(target, flags, 0666);
    }
    if (fd < 0) {
        rc = -errno;
        free(tmp);
        return rc;
    }
    rc = full_write(fd, o->buf, o->len, 0, 1);
    if (rc >= 0 && tmp && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc >= 0)
        rc = -errno;
    if (tmp) {
        if (rc >= 0 && rename(tmp, o->path) < 0)
            rc = -errno;
        if (rc < 0)
            unlink(tmp);
        free(tmp);
    }
    return rc < 0 ? rc : 0;
}

/* The same operations on a simulated disk (src/sim/disk.c). Runs on the
 * loop thread: a simulated loop runs pool jobs in the loop. */
static ssize_t fop_sim(corio_sim_disk *d, fop *o)
{
    int64_t size;
    ssize_t r;
    int h;
    switch (o->kind) {
    case OP_OPEN:
        return corio_sim_disk_open(d, o->path, o->flags, o->mode);
    case OP_CLOSE:
        return corio_sim_disk_close(d, o->fd);
    case OP_PREAD:
        return corio_sim_disk_pread(d, o->fd, o->buf, o->len, o->off);
    case OP_PWRITE:
    case OP_WRITE_APPEND:
        return corio_sim_disk_pwrite(d, o->fd, o->buf, o->len,
                                     o->kind == OP_WRITE_APPEND ? -1 : o->off);
    case OP_FSYNC:
        return corio_sim_disk_fsync(d, o->fd);
    case OP_FSTAT:
    case OP_STAT:
        r = o->kind == OP_FSTAT ? (ssize_t)(size = corio_sim_disk_size(d, o->fd))
                                : corio_sim_disk_stat(d, o->path, &size);
        if (r < 0)
            return r;
        memset(&o->st, 0, sizeof o->st);
        o->st.st_mode = S_IFREG | 0644;
        o->st.st_nlink = 1;
        o->st.st_size = (off_t)size;
        return 0;
    case OP_RENAME:
        return corio_sim_disk_rename(d, o->path, o->path2);
    case OP_UNLINK:
        return corio_sim_disk_unlink(d, o->path);
    case OP_READ_FILE:
        if ((h = corio_sim_disk_open(d, o->path, O_RDONLY, 0)) < 0)
            return h;
        size = corio_sim_disk_size(d, h);
        r = size > (int64_t)o->limit ? -EFBIG : (o->buf = malloc((size_t)size + 1)) ? 0 : -ENOMEM;
        if (r == 0 && (r = corio_sim_disk_pread(d, h, o->buf, (size_t)size, 0)) >= 0) {
            o->buf[r] = '\0';
            o->len = (size_t)r;
            r = 0;
        }
        corio_sim_disk_close(d, h);
        return r;
    case OP_WRITE_FILE: {
        /* As do_write_file: atomic = a temporary file, fsync, rename. */
        char tmp[4096];
        int atomic = (o->wflags & CORIO_WRITE_ATOMIC) != 0;
        if (atomic && snprintf(tmp, sizeof tmp, "%s.tmp", o->path) >= (int)sizeof tmp)
            return -ENAMETOOLONG;
        h = corio_sim_disk_open(d, atomic ? tmp : o->path,
                                O_WRONLY | O_CREAT |
                                    (!atomic && (o->wflags & CORIO_WRITE_APPEND) ? O_APPEND : O_TRUNC),
                                0666);
        if (h < 0)
            return h;
        r = o->len ? corio_sim_disk_pwrite(d, h, o->buf, o->len, -1) : 0;
        if (r >= 0 && atomic)
            r = corio_sim_disk_fsync(d, h);
        corio_sim_disk_close(d, h);
        if (atomic && r >= 0)
            r = corio_sim_disk_rename(d, tmp, o->path);
        if (atomic && r < 0)
            corio_sim_disk_unlink(d, tmp);
        return r < 0 ? r : 0;
    }
    default:
        return -EINVAL;
    }
}

static void *fop_run(void *arg)
{
    fop *o = arg;
    ssize_t r;
    if (o->sd) {
        /* Started by a task of a simulated host that crashed before it
         * ran: it must not reach the disk (a close may: nobody sees it). */
        o->res = o->kind != OP_CLOSE && corio__sim_disk_fenced(o->fence) ? -EIO
                                                                         : fop_sim(o->sd, o);
        return NULL;
    }
    switch (o->kind) {
    case OP_OPEN:
        r = open(o->path, o->flags | O_CLOEXEC, o->mode);
        break;
    case OP_CLOSE:
        r = close(o->fd);
        if (r < 0 && errno == EINTR)
            r = 0; /* Linux: the descriptor is gone anyway */
        break;
    case OP_PREAD:
        do
            r = pread(o->fd, o->buf, o->len, (off_t)o->off);
        while (r < 0 && errno == EINTR);
        break;
    case OP_PWRITE:
    case OP_WRITE_APPEND:
        o->res = full_write(o->fd, o->buf, o->len, o->off, o->kind == OP_WRITE_APPEND);
        return NULL;
    case OP_FSYNC:
        r = fsync(o->fd);
        break;
    case OP_FSTAT:
        r = fstat(o->fd, &o->st);
        break;
    case OP_STAT:
        r = stat(o->path, &o->st);
        break;
    case OP_RENAME:
        r = rename(o->path, o->path2);
        break;
    case OP_UNLINK:
        r = unlink(o->path);
        break;
    case OP_READ_FILE:
        o->res = do_read_file(o);
        return NULL;
    case OP_WRITE_FILE:
        o->res = do_write_file(o);
        return NULL;
    default:
        r = -1;
        errno = EINVAL;
    }
    o->res = r < 0 ? -errno : r;
    return NULL;
}

/* Runs o on the default pool. On success (0) the caller owns o again and
 * reads o->res; on an interruption, o belongs to the discard callback and
 * must not be touched; any other error: nothing ran, the caller frees o. */
static int fop_exec(fop *o)
{
    corio_work_opts opts = {0};
    corio_work *w;
    corio_task *t = corio_current();
    int rc;
    /* Interrupted already: corio_work_submit would queue nothing, and the
     * discard callback that frees o would never run. */
    if (t && (rc = corio__interrupted(t)) != 0) {
        fop_free(o);
        return rc;
    }
    o->sd = corio__sim_disk_for_files(&o->fence);
    opts.discard = fop_discard;
    opts.discard_arg = o;
    rc = corio_work_submit(NULL, fop_run, o, &opts, &w);
    if (rc == -ECANCELED || rc == -ETIMEDOUT)
        return rc; /* accepted and abandoned: discard frees o */
    if (rc < 0) {
        fop_free(o);
        return rc;
    }
    rc = corio_work_await(w, NULL);
    if (rc == -ECANCELED || rc == -ETIMEDOUT)
        return rc;
    if (rc < 0) {
        fop_free(o);
        return rc;
    }
    return 0;
}

static fop *fop_new(int kind)
{
    fop *o = calloc(1, sizeof *o);
    if (o)
        o->kind = kind;
    return o;
}

/* Runs a result-only operation and frees it. */
static ssize_t fop_simple(fop *o)
{
    ssize_t r;
    int rc = fop_exec(o);
    if (rc < 0)
        return rc;
    r = o->res;
    fop_free(o);
    return r;
}

/* A staging buffer for the pool: page-aligned, so that a file opened
 * with O_DIRECT (which wants aligned memory) works on the pool as on the
 * ring. Freed with free(). */
static char *staging(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 4096, n ? n : 1) == 0 ? p : NULL;
}

static int need_task(void)
{
    return corio_current() ? 0 : -EPERM;
}

/* One operation on the loop's ring (io_uring); call only if
 * corio__ring_has(NULL, opcode). */
static ssize_t ring_file_op(int opcode, int fd, void *buf, size_t len, int64_t off)
{
    corio__op op;
    memset(&op, 0, sizeof op);
    op.opcode = opcode;
    op.fd = fd;
    op.buf = buf;
    op.len = len;
    op.off = off;
    return corio__ring_op(NULL, &op);
}

/* ---- handles -----------------------------------------------------------------*/

int corio_file_open(corio_file **fp, const char *path, int flags, int mode)
{
    corio_file *f;
    fop *o;
    ssize_t r;
    int rc;
    if (fp)
        *fp = NULL;
    if (!fp || !path)
        return -EINVAL;
    if ((rc = need_task()))
        return rc;
    f = calloc(1, sizeof *f);
    o = fop_new(OP_OPEN);
    if (!f || !o || !(o->path = strdup(path))) {
        free(f);
        if (o)
            fop_free(o);
        return -ENOMEM;
    }
    o->flags = flags;
    o->mode = mode;
    if (corio__ring_has(NULL, CORIO__OP_OPENAT)) {
        fop_free(o);
        r = corio__file_ring_open(path, flags, mode);
    } else {
        r = fop_simple(o);
    }
    if (r < 0) {
        free(f);
        return (int)r;
    }
    f->fd = (int)r;
    f->append = (flags & O_APPEND) != 0;
    f->loop = corio__tls_loop;
    /* Debug mode reports it at loop close if nobody closes it. */
    corio__obs_resource_open(f->loop, f, "file", f->fd);
    *fp = f;
    return 0;
}

int corio_file_fd(const corio_file *f)
{
    return f ? f->fd : -EINVAL;
}

int64_t corio_file_seek(corio_file *f, int64_t pos)
{
    if (!f || pos < 0)
        return -EINVAL;
    f->pos = pos;
    return pos;
}

ssize_t corio_file_pread(corio_file *f, void *buf, size_t len, int64_t off)
{
    fop *o;
    ssize_t r;
    int rc;
    if (!f || (!buf && len) || off < 0)
        return -EINVAL;
    if ((rc = need_task()))
        return rc;
    if (len > CHUNK)
        len = CHUNK; /* a short read, as read(2) may give */
    if (corio__ring_has(NULL, CORIO__OP_READ))
        return ring_file_op(CORIO__OP_READ, f->fd, buf, len, off);
    o = fop_new(OP_PREAD);
    if (!o || !(o->buf = staging(len))) {
        free(o);
        return -ENOMEM;
    }
    o->fd = f->fd;
    o->len = len;
    o->off = off;
    rc = fop_exec(o);
    if (rc < 0)
        return rc;
    r = o->res;
    if (r > 0)
        memcpy(buf, o->buf, (size_t)r);
    fop_free(o);
    return r;
}

ssize_t corio_file_read(corio_file *f, void *buf, size_t len)
{
    ssize_t r;
    if (!f)
        return -EINVAL;
    r = corio_file_pread(f, buf, len, f->pos);
    if (r > 0)
        f->pos += r;
    return r;
}

static ssize_t write_at(corio_file *f, const void *buf, size_t len, int64_t off,
                        int append)
{
    size_t done = 0;
    int rc;
    if (!f || (!buf && len) || off < 0)
        return -EINVAL;
    if ((rc = need_task()))
        return rc;
    do {
        size_t n = len - done > CHUNK ? CHUNK : len - done;
        fop *o;
        ssize_t r;
        if (corio__ring_has(NULL, CORIO__OP_WRITE)) {
            /* -1: at the file position, which O_APPEND puts at the end */
            r = ring_file_op(CORIO__OP_WRITE, f->fd, (char *)buf + done, n,
                             append ? -1 : off + (int64_t)done);
            if (r < 0)
                return done ? (ssize_t)done : r;
            if (r == 0)
                return done ? (ssize_t)done : -EIO;
            done += (size_t)r;
            continue;
        }
        o = fop_new(append ? OP_WRITE_APPEND : OP_PWRITE);
        if (!o || !(o->buf = staging(n))) {
            free(o);
            return -ENOMEM;
        }
        memcpy(o->buf, (const char *)buf + done, n);
        o->fd = f->fd;
        o->len = n;
        o->off = off + (int64_t)done;
        r = fop_simple(o);
        if (r < 0)
            return r;
        done += (size_t)r;
    } while (done < len);
    return (ssize_t)done;
}

ssize_t corio_file_pwrite(corio_file *f, const void *buf, size_t len, int64_t off)
{
    return write_at(f, buf, len, off, 0);
}

ssize_t corio_file_write(corio_file *f, const void *buf, size_t len)
{
    ssize_t r;
    if (!f)
        return -EINVAL;
    r = write_at(f, buf, len, f->pos, f->append);
    if (r > 0)
        f->pos += r;
    return r;
}

static int fd_op(corio_file *f, int kind, struct stat *st)
{
    fop *o;
    int rc;
    if (!f)
        return -EINVAL;
    if ((rc = need_task()))
        return rc;
    if (!(o = fop_new(kind)))
        return -ENOMEM;
    o->fd = f->fd;
    rc = fop_exec(o);
    if (rc < 0)
        return rc;
    rc = (int)o->res;
    if (rc == 0 && st)
        *st = o->st;
    fop_free(o);
    return rc;
}

int corio_file_fsync(corio_file *f)
{
    if (f && corio_current() && corio__ring_has(NULL, CORIO__OP_FSYNC))
        return (int)ring_file_op(CORIO__OP_FSYNC, f->fd, NULL, 0, 0);
    return fd_op(f, OP_FSYNC, NULL);
}

int corio_file_stat(corio_file *f, struct stat *st)
{
    if (!st)
        return -EINVAL;
    if (f && corio_current() && corio__ring_has(NULL, CORIO__OP_STATX))
        return corio__file_ring_stat(f->fd, NULL, st);
    return fd_op(f, OP_FSTAT, st);
}

int corio_file_close(corio_file *f)
{
    int rc;
    if (!f)
        return -EINVAL;
    corio__obs_resource_close(f->loop, f);
    if (!corio_current()) {
        rc = close(f->fd) < 0 ? -errno : 0;
    } else if ((rc = corio__interrupted(corio_current())) != 0) {
        /* Interrupted before it started: nothing would close the
         * descriptor, so close it here (it must not leak), and say so. */
        uint64_t fence;
        corio_sim_disk *sd = corio__sim_disk_for_files(&fence);
        if (sd)
            corio_sim_disk_close(sd, f->fd);
        else
            close(f->fd);
    } else if (corio__ring_has(NULL, CORIO__OP_CLOSE)) {
        rc = corio__file_ring_close(f->fd);
    } else {
        rc = fd_op(f, OP_CLOSE, NULL);
        /* When the job surely never ran, close here. (Interrupted, the
         * job may still be queued or running: it will close it.) */
        if (rc == CORIO_ESHUTDOWN || rc == -ENOMEM)
            close(f->fd);
    }
    free(f);
    return rc;
}

/* ---- paths ---------------------------------------------------------------------*/

static int path_op(int kind, const char *path, const char *path2, struct stat *st)
{
    fop *o;
    int rc;
    if (!path || (kind == OP_RENAME && !path2))
        return -EINVAL;
    if ((rc = need_task()))
        return rc;
    o = fop_new(kind);
    if (!o || !(o->path = strdup(path)) || (path2 && !(o->path2 = strdup(path2)))) {
        if (o)
            fop_free(o);
        return -ENOMEM;
    }
    rc = fop_exec(o);
    if (rc < 0)
        return rc;
    rc = (int)o->res;
    if (rc == 0 && st)
        *st = o->st;
    fop_free(o);
    return rc;
}

int corio_stat(const char *path, struct stat *st)
{
    if (!st)
        return -EINVAL;
    if (path && corio_current() && corio__ring_has(NULL, CORIO__OP_STATX))
        return corio__file_ring_stat(-1, path, st);
    return path_op(OP_STAT, path, NULL, st);
}

int corio_rename(const char *from, const char *to)
{
    return path_op(OP_RENAME, from, to, NULL);
}

int corio_unlink(const char *path)
{
    return path_op(OP_UNLINK, path, NULL, NULL);
}

int corio_read_file(const char *path, char **data, size_t *len, size_t limit)
{
    fop *o;
    int rc;
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!path || !data)
        return -EINVAL;
    if ((rc = need_task()))
        return rc;
    if (!(o = fop_new(OP_READ_FILE)) || !(o->path = strdup(path))) {
        free(o);
        return -ENOMEM;
    }
    o->limit = limit ? limit : READ_FILE_LIMIT;
    rc = fop_exec(o);
    if (rc < 0)
        return rc;
    rc = (int)o->res;
    if (rc == 0) {
        *data = o->buf;
        if (len)
            *len = o->len;
        o->buf = NULL;
    }
    fop_free(o);
    return rc;
}

int corio_write_file(const char *path, const void *data, size_t len, unsigned flags)
{
    fop *o;
    int rc;
    if (!path || (!data && len) || (flags & ~(CORIO_WRITE_APPEND | CORIO_WRITE_ATOMIC)) ||
        (flags == (CORIO_WRITE_APPEND | CORIO_WRITE_ATOMIC)))
        return -EINVAL;
    if ((rc = need_task()))
        return rc;
    o = fop_new(OP_WRITE_FILE);
    if (!o || !(o->path = strdup(path)) || !(o->buf = malloc(len ? len : 1))) {
        if (o)
            fop_free(o);
        return -ENOMEM;
    }
    memcpy(o->buf, data, len);
    o->len = len;
    o->wflags = flags;
    return (int)fop_simple(o);
}
