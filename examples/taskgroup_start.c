/*
 * Trio's nursery.start() and asyncio's ExceptionGroup, in C:
 *  - corio_group_start() waits until a server task reports the port it
 *    bound (corio_group_started) before the parent goes on;
 *  - corio_group_failures() lists every child that failed, not only the
 *    first.
 */
#include <corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static corio_group *g;

static void *server(void *arg)
{
    (void)arg;
    corio_sleep(0.01); /* pretend to bind: the port is known only now */
    corio_group_started(g, (void *)(intptr_t)8080);
    while (corio_sleep(1) == 0) /* serve until the group is cancelled */
        ;
    return NULL;
}

/* Fails after arg ms; cancelled earlier, fails in its cleanup anyway. */
static void *worker(void *arg)
{
    intptr_t ms = (intptr_t)arg;
    if (corio_sleep(ms / 1000.0) < 0)
        return ms == 300 ? corio_fail(-EPIPE) : NULL;
    return corio_fail(ms == 10 ? -EIO : -ENOENT);
}

static void *main_task(void *arg)
{
    void *port;
    size_t n, i;
    corio_group_failure *f;
    (void)arg;

    corio_group_create(&g);
    int rc = corio_group_start(g, NULL, server, NULL, NULL, &port);
    printf("start: %s, server listening on port %ld\n", corio_strerror(rc),
           (long)(intptr_t)port);

    corio_group_spawn(g, worker, (void *)10);  /* fails first: -EIO */
    corio_group_spawn(g, worker, (void *)300); /* fails while cancelled */
    printf("group_wait: %s\n", corio_strerror(corio_group_wait(g)));

    n = corio_group_failures(g, NULL, 0);
    f = calloc(n ? n : 1, sizeof *f); /* ours to free */
    corio_group_failures(g, f, n);
    for (i = 0; i < n; i++)
        printf("  failed: child #%zu (%s): %s\n", f[i].index,
               corio_task_name(f[i].task), corio_strerror(f[i].status));
    free(f);
    corio_group_destroy(g);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) < 0;
}
