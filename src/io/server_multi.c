/*
 * Servers on every loop of a corio_run_multi runtime: one SO_REUSEPORT
 * listener per loop, each with its own corio_server (accept loop and
 * handler tasks) on that loop, so a connection is accepted and served on
 * one loop and never crosses. The kernel spreads new connections over the
 * listeners by a hash of the 4-tuple.
 *
 * Each loop's server lives in a task spawned there (corio_spawn_on) that
 * starts it, reports the port (or the error) on a cross-loop channel,
 * sleeps until cancelled, and then closes it with the caller's grace
 * period. The first listener is bound first, so port 0 picks one port that
 * every other loop then binds too.
 */
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Allocated by corio_server_start_all, freed by corio_mserver_close. */
struct corio_mserver {
    unsigned n;            /* listeners started */
    corio_xtask **tasks;   /* one per loop */
    corio_xchan *ready;    /* each task's start result: port or error */
    char *host;            /* NULL: all addresses */
    int port;
    corio_server_handler handler;
    void *arg;
    corio_server_opts opts;
    double grace;          /* written before the cancels that read it */
};

static void *serve_here(void *arg)
{
    corio_mserver *ms = arg;
    corio_server *srv;
    corio_scope sh;
    int rc = corio_server_start(&srv, ms->host, ms->port, ms->handler, ms->arg,
                                &ms->opts);
    if (rc < 0) {
        corio_xchan_send(ms->ready, (void *)(intptr_t)rc);
        return corio_fail(rc);
    }
    rc = corio_xchan_send(ms->ready, (void *)(intptr_t)corio_server_port(srv));
    if (rc == 0)
        while (corio_sleep(3600) == 0) /* until corio_mserver_close cancels */
            ;
    /* Close with the caller's grace, not at once as a cancelled caller
     * would: the shield hides our cancellation from the close. */
    corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
    rc = corio_server_close(srv, ms->grace);
    corio_scope_exit(&sh);
    return (void *)(intptr_t)(rc > 0 ? rc : 0);
}

/* Starts the listener of loop i and waits for its result. */
static int start_one(corio_mserver *ms, unsigned i)
{
    void *v = NULL;
    int rc = corio_spawn_on(&ms->tasks[i], corio_loop_get(i), serve_here, ms);
    if (rc < 0)
        return rc;
    ms->n++;
    rc = corio_xchan_recv(ms->ready, &v);
    if (rc < 0)
        return rc;
    return (int)(intptr_t)v;
}

int corio_server_start_all(corio_mserver **msp, const char *host, int port,
                           corio_server_handler handler, void *arg,
                           const corio_server_opts *opts)
{
    corio_mserver *ms;
    unsigned i, n = corio_loop_count();
    int rc;
    if (!msp)
        return -EINVAL;
    *msp = NULL;
    if (!n || !corio_current())
        return -EPERM;
    if (!handler || port < 0 || port > 65535)
        return -EINVAL;
    ms = calloc(1, sizeof *ms);
    if (!ms)
        return -ENOMEM;
    ms->tasks = calloc(n, sizeof *ms->tasks);
    if (!ms->tasks || (host && !(ms->host = strdup(host))) ||
        corio_xchan_create(&ms->ready, 1, 0) < 0) {
        free(ms->tasks);
        free(ms->host);
        free(ms);
        return -ENOMEM;
    }
    if (opts)
        ms->opts = *opts;
    ms->opts.flags |= CORIO_SERVER_REUSEPORT;
    ms->port = port;
    ms->handler = handler;
    ms->arg = arg;
    for (i = 0; i < n; i++) {
        rc = start_one(ms, i);
        if (rc < 0) {
            corio_mserver_close(ms, 0);
            return rc;
        }
        ms->port = rc; /* port 0: the first listener's choice, for all */
    }
    *msp = ms;
    return 0;
}

int corio_mserver_port(const corio_mserver *ms)
{
    return ms ? ms->port : -EINVAL;
}

int corio_mserver_close(corio_mserver *ms, double grace)
{
    unsigned i;
    int total = 0;
    if (!ms)
        return -EINVAL;
    if (!corio_current())
        return -EPERM;
    ms->grace = grace;
    for (i = 0; i < ms->n; i++)
        corio_xtask_cancel(ms->tasks[i]);
    for (i = 0; i < ms->n; i++) {
        void *v = NULL;
        /* Shielded: the servers are closed even if we are cancelled. */
        corio_scope sh;
        corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
        if (corio_xtask_await(ms->tasks[i], &v, 0) == -ECANCELED && v)
            total += (int)(intptr_t)v;
        corio_scope_exit(&sh);
    }
    corio_xchan_destroy(ms->ready);
    free(ms->tasks);
    free(ms->host);
    free(ms);
    return total;
}
