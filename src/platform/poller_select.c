/*
 * Choosing a backend (corio__poller_open): the loop config, then the
 * CORIO_BACKEND environment variable, then the default; and the fallback
 * from io_uring to epoll where io_uring cannot be set up.
 */
#include "platform/poller.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* enum corio_backend (include/corio.h), repeated here so that the
 * platform layer does not depend on the public header. */
enum { B_AUTO = 0, B_EPOLL = 1, B_POLL = 2, B_URING = 3 };

/* The default when neither the config nor the environment chooses. */
#define B_DEFAULT B_EPOLL

static int from_env(void)
{
    const char *e = getenv("CORIO_BACKEND");
    if (!e || !*e)
        return B_AUTO;
    if (strcmp(e, "poll") == 0)
        return B_POLL;
    if (strcmp(e, "epoll") == 0)
        return B_EPOLL;
    if (strcmp(e, "io_uring") == 0 || strcmp(e, "uring") == 0)
        return B_URING;
    return B_AUTO;
}

static atomic_int default_fallback_said;
static atomic_int default_missing_said;

int corio__poller_open(int backend, const corio__poller_ops **opsp,
                       corio__poller **pp, void *report)
{
    const corio__poller_ops *ops;
    int explicit = 1, rc;
    if (backend == B_AUTO)
        backend = from_env();
    if (backend == B_AUTO) {
        backend = B_DEFAULT;
        explicit = 0;
    }
    switch (backend) {
    case B_EPOLL: ops = &corio__poller_epoll; break;
    case B_POLL: ops = &corio__poller_poll; break;
    case B_URING: ops = &corio__poller_uring; break;
    default: return -EINVAL;
    }
    rc = ops->create(pp);
    if (rc < 0 && ops == &corio__poller_uring && rc != -ENOMEM && rc != -EMFILE &&
        rc != -ENFILE) {
        /* ENOSYS (old kernel, seccomp), EPERM (kernel.io_uring_disabled,
         * containers), EINVAL (a setup flag this kernel lacks). */
        if (explicit || atomic_exchange(&default_fallback_said, 1) == 0)
            fprintf(report ? (FILE *)report : stderr,
                    "corio: io_uring unavailable (io_uring_setup: %s); using epoll\n",
                    strerror(-rc));
        ops = &corio__poller_epoll;
        rc = ops->create(pp);
    }
    if (rc < 0)
        return rc;
    if (ops->missing_ops) {
        /* Opcodes this kernel lacks (or a test forbade) run without the
         * ring; say which, once. */
        char miss[128];
        ops->missing_ops(*pp, miss, sizeof miss);
        if (miss[0] && (explicit || atomic_exchange(&default_missing_said, 1) == 0))
            fprintf(report ? (FILE *)report : stderr,
                    "corio: io_uring lacks %s here; those use the readiness "
                    "path or the thread pool\n", miss);
    }
    *opsp = ops;
    return 0;
}

const char *corio__op_name(int opcode)
{
    static const char *const names[CORIO__NOPS] = {
        "?", "recv", "send", "read", "write", "readv", "writev", "fsync", "nop",
        "accept", "connect", "openat", "statx", "close", "recvmsg", "sendmsg"};
    return opcode > 0 && opcode < CORIO__NOPS ? names[opcode] : "?";
}

unsigned corio__poller_ring_ops(const corio__poller_ops *ops, corio__poller *p,
                                int compact)
{
    unsigned m = 0;
    int i;
    if (!ops->submit || compact)
        return 0;
    for (i = 1; i < CORIO__NOPS; i++)
        if (!ops->has_op || ops->has_op(p, i))
            m |= 1u << i;
    return m;
}
