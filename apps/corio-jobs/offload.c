/*
 * The blocking seam (service.h): where corio-jobs hands blocking work —
 * SQLite transactions and reads, hashing — to corio's thread pool.
 *
 * The wait is shielded: once fn is handed over, the caller waits for it to
 * return whatever happens to the caller, so fn's arguments (owned by the
 * caller) are never freed under a running worker, and a committed
 * transaction is never reported as failed. Work that must stop early when
 * its task is cancelled (hashing) polls a stop flag that the canceller sets
 * (see the runner); the store's calls are short.
 */
#include "service.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Heap-allocated for each call: the worker thread reads it while the task
 * is suspended, when a compact stack may have been copied away. */
typedef struct call {
    int (*fn)(void *arg);
    void *arg;
} call;

static void *trampoline(void *arg)
{
    call *c = arg;
    return (void *)(intptr_t)c->fn(c->arg);
}

static int offload(int (*fn)(void *arg), void *arg, unsigned flags)
{
    if (!corio_current())
        return -EPERM;
    call *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->fn = fn;
    c->arg = arg;
    corio_scope sc;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    corio_work_opts opts = {.flags = flags};
    void *res = NULL;
    int rc = corio_run_in_executor(NULL, trampoline, c, &res, &opts);
    corio_scope_exit(&sc);
    free(c);
    return rc < 0 ? rc : (int)(intptr_t)res;
}

int jobs_offload(int (*fn)(void *arg), void *arg)
{
    return offload(fn, arg, 0);
}

int jobs_offload_slow(int (*fn)(void *arg), void *arg)
{
    return offload(fn, arg, CORIO_WORK_SLOW);
}

int jobs_offload_inline(void)
{
    return 0;
}
