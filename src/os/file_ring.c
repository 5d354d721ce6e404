/* See file_ring.h. */
#include "os/file_ring.h"
#include "io/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int corio__file_ring_open(const char *path, int flags, int mode)
{
    corio__op op;
    memset(&op, 0, sizeof op);
    op.opcode = CORIO__OP_OPENAT;
    op.fd = AT_FDCWD;
    op.buf = (void *)path;
    op.flags = flags | O_CLOEXEC;
    op.len = (size_t)mode;
    return (int)corio__ring_op(NULL, &op);
}

static void stat_of(struct stat *st, const struct statx *x)
{
    memset(st, 0, sizeof *st);
    st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
    st->st_ino = x->stx_ino;
    st->st_mode = x->stx_mode;
    st->st_nlink = x->stx_nlink;
    st->st_uid = x->stx_uid;
    st->st_gid = x->stx_gid;
    st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
    st->st_size = (off_t)x->stx_size;
    st->st_blksize = (blksize_t)x->stx_blksize;
    st->st_blocks = (blkcnt_t)x->stx_blocks;
    st->st_atim.tv_sec = x->stx_atime.tv_sec;
    st->st_atim.tv_nsec = x->stx_atime.tv_nsec;
    st->st_mtim.tv_sec = x->stx_mtime.tv_sec;
    st->st_mtim.tv_nsec = x->stx_mtime.tv_nsec;
    st->st_ctim.tv_sec = x->stx_ctime.tv_sec;
    st->st_ctim.tv_nsec = x->stx_ctime.tv_nsec;
}

int corio__file_ring_stat(int fd, const char *path, struct stat *st)
{
    struct statx x;
    corio__op op;
    int rc;
    memset(&op, 0, sizeof op);
    op.opcode = CORIO__OP_STATX;
    op.fd = path ? AT_FDCWD : fd;
    op.buf = (void *)(path ? path : "");
    op.flags = path ? 0 : AT_EMPTY_PATH;
    op.len = STATX_BASIC_STATS;
    op.aux = &x;
    rc = (int)corio__ring_op(NULL, &op);
    if (rc == 0)
        stat_of(st, &x);
    return rc;
}

int corio__file_ring_close(int fd)
{
    corio__op op;
    int rc;
    memset(&op, 0, sizeof op);
    op.opcode = CORIO__OP_CLOSE;
    op.fd = fd;
    rc = (int)corio__ring_op(NULL, &op);
    if (rc == -ECANCELED || rc == -ETIMEDOUT || rc == -EPERM || rc == -ENOTSUP ||
        rc == -EOPNOTSUPP || rc == -EBUSY) {
        /* It did not happen in the ring: close it here, and report the
         * interruption (the handle is gone either way). */
        close(fd);
    }
    return rc == -EINTR ? 0 : rc;
}
