/*
 * corio_file_* calls on the loop's io_uring ring (file_ring.c): opening,
 * stat and close as completions, with no thread hop. Each returns what the
 * system call would (an fd, 0, or -errno), or -ECANCELED / -ETIMEDOUT only
 * when the operation did not happen (corio__ring_op): an open that
 * completed although its task was interrupted returns its fd, so the
 * caller owns it and nothing leaks.
 *
 * Call each only where corio__ring_has(NULL, <its opcode>) holds; file.c
 * uses the thread pool otherwise.
 */
#ifndef CORIO_OS_FILE_RING_H
#define CORIO_OS_FILE_RING_H

#include <sys/stat.h>

/* openat(AT_FDCWD, path, flags | O_CLOEXEC, mode). CORIO__OP_OPENAT. */
int corio__file_ring_open(const char *path, int flags, int mode);

/* fstat(fd) (path NULL) or stat(path), by statx. CORIO__OP_STATX. */
int corio__file_ring_stat(int fd, const char *path, struct stat *st);

/* close(fd). CORIO__OP_CLOSE. The fd is closed whatever happens: when the
 * close did not happen in the ring (interrupted first), it is closed
 * directly. */
int corio__file_ring_close(int fd);

#endif
