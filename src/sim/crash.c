/*
 * Crashing one simulated host (include/corio_sim.h, "Crashing one
 * simulated host"; docs/simulation.md).
 *
 * A crash bumps the host's incarnation. Every task carries the
 * incarnation it was spawned in (host.c's task table), so "a task of a
 * crashed host" is a lookup: its incarnation is older than its host's.
 * Such a task is doomed:
 *  - the crash cancels it (corio_cancel). corio's cancellation is sticky
 *    and level-triggered (nothing clears it), so every suspending call it
 *    makes outside a shield scope fails with -ECANCELED and it unwinds:
 *    its cleanup runs and frees what it holds.
 *  - the network (net.c, net_io.c), the disk (disk.c, os/file.c) and
 *    corio_sim_spawn_on refuse it, and what it spawns is born cancelled
 *    (host.c), so nothing it does after the crash point reaches another
 *    host or a disk.
 *
 * Shields are kept. corio's own code waits inside shield scopes where
 * memory safety depends on the wait finishing: corio_server_close for its
 * handlers, task groups for their children, fd.c for an operation the
 * kernel still holds, corio-jobs' committer. A doom that broke through
 * shields made corio_server_close free the server under its running
 * handlers (found by examples/sim_host_crash.c under ASan). So a doomed
 * task in a shield finishes that shielded stretch: fenced, it can do no
 * harm; its shielded waits on sockets end at once (they are dead), on the
 * disk with -EIO, on other doomed tasks when those end; a shielded sleep
 * runs out its time.
 *
 * Why unwind rather than vanish. A whole-run crash (corio_sim_crash)
 * frees the stacks unrun because nothing of the run survives. Here the
 * other hosts go on, and a parked task's frames are linked into objects
 * that outlive it: wait nodes on its stack sit in lock, channel and timer
 * lists; a task that awaits it, a group it belongs to, the loop's task
 * table all point at it. Freeing its stack without running it would leave
 * those dangling, and leak whatever its frames own. The fenced unwind is
 * the nearest thing that is safe: the code runs, but none of it is seen.
 *
 * The socket side is net_io.c's corio__sn_crash_socks; a silent crash
 * makes host.c's corio__sn_cut treat the host as cut from everyone.
 */
#include "sim/simnet.h"
#include "sim/disk.h"

#include <errno.h>
#include <stdlib.h>

/* ---- the tasks of a host --------------------------------------------------------*/

typedef struct doomed_set {
    sn_net *n;
    int host;
    corio_task **v;  /* room for every task of the loop */
    size_t len, cap;
} doomed_set;

static int collect(corio_task *t, void *arg)
{
    doomed_set *d = arg;
    if (t->state == CORIO_TASK_DONE || d->len == d->cap ||
        corio__sn_task_host(d->n, t) != d->host || !corio__sn_task_doomed(d->n, t))
        return 0;
    d->v[d->len++] = t;
    return 0;
}

/* Cancels every doomed task of host in d (room allocated by the caller),
 * in spawn order (the trace's): the number cancelled. */
static int cancel_host_tasks(doomed_set *d)
{
    size_t i;
    int count = 0;
    /* Collected first: cancelling frees a detached task that never ran,
     * and corio_task_foreach's fn must not free tasks. */
    corio_task_foreach(d->n->loop, collect, d);
    for (i = 0; i < d->len; i++)
        count += corio_cancel(d->v[i]) == 1;
    return count;
}

/* ---- the public calls ------------------------------------------------------------*/

static sn_net *need(int *rc, int host)
{
    sn_net *n = corio__sn_get();
    if (!n) {
        *rc = corio__tls_loop && corio__tls_loop->sim ? -ENOMEM : -EPERM;
        return NULL;
    }
    if (host < 0 || host >= n->nhosts) {
        *rc = -EINVAL;
        return NULL;
    }
    *rc = 0;
    return n;
}

int corio_sim_host_crash(int host, unsigned flags)
{
    int rc, count;
    sn_net *n = need(&rc, host);
    sn_host *h;
    doomed_set d = {0};
    if (!n)
        return rc;
    if (host == 0 || (flags & ~(unsigned)(CORIO_SIM_CRASH_RESET | CORIO_SIM_CRASH_KEEP_DISK)))
        return -EINVAL;
    h = &n->hosts[host];
    if (h->down)
        return 0; /* also a disk's on_crash hook called by this crash */
    d.n = n;
    d.host = host;
    d.cap = n->loop->ntasks ? n->loop->ntasks : 1;
    if (!(d.v = malloc(d.cap * sizeof *d.v)))
        return -ENOMEM; /* nothing happened */
    h->down = 1;
    h->inc++;
    corio__sn_event(n, "host-crash", (uint64_t)host, h->inc, flags);
    /* The network first: nothing the tasks do while unwinding goes out. */
    count = corio__sn_crash_socks(n, host, (flags & CORIO_SIM_CRASH_RESET) != 0);
    corio__sn_event(n, "host-crash-socks", (uint64_t)host, (uint64_t)count, 0);
    if (!(flags & CORIO_SIM_CRASH_RESET))
        h->silent = 1;
    /* (From the disk's own on_crash hook, the disk has just crashed.) */
    if (h->disk && !(flags & CORIO_SIM_CRASH_KEEP_DISK) && !corio__sim_disk_crashing(h->disk))
        corio_sim_disk_crash(h->disk);
    count = cancel_host_tasks(&d);
    free(d.v);
    corio__sn_event(n, "host-crash-tasks", (uint64_t)host, (uint64_t)count, 0);
    return count;
}

int corio_sim_host_restart(int host)
{
    int rc;
    sn_net *n = need(&rc, host);
    sn_host *h;
    if (!n)
        return rc;
    if (corio__sn_task_doomed(n, corio_current()))
        return -ECANCELED;
    h = &n->hosts[host];
    if (!h->down)
        return host == 0 ? -EINVAL : -EBUSY;
    h->down = 0;
    h->silent = 0;
    corio__sn_event(n, "host-restart", (uint64_t)host, h->inc, 0);
    /* What peers sent while it was silent goes now, and finds no socket. */
    corio__sn_heal_all(n);
    return (int)h->inc;
}

int corio_sim_host_incarnation(int host)
{
    int rc;
    sn_net *n = need(&rc, host);
    return n ? (int)n->hosts[host].inc : rc;
}

int corio_sim_host_set_disk(int host, corio_sim_disk *d)
{
    int rc;
    sn_net *n = need(&rc, host);
    if (!n)
        return rc;
    n->hosts[host].disk = d;
    return 0;
}

/* ---- the disk's fence (sim/disk.h) ----------------------------------------------*/

corio_sim_disk *corio__simnet_task_disk(const corio_task *t, uint64_t *fence)
{
    sn_net *n = corio__sn_peek();
    sn_where w;
    *fence = 0;
    if (!n)
        return NULL;
    w = corio__sn_where(n, t);
    /* The incarnation the task belongs to: an operation it starts is
     * fenced if the host crashes before the operation runs. */
    if (w.host > 0)
        *fence = ((uint64_t)(unsigned)w.host << 32) | w.inc;
    return n->hosts[w.host].disk;
}

int corio__sim_disk_fenced(uint64_t fence)
{
    sn_net *n = corio__sn_peek();
    int h = (int)(fence >> 32);
    if (!fence || !n || h <= 0 || h >= n->nhosts)
        return 0;
    return n->hosts[h].inc != (uint32_t)fence;
}

int corio__simnet_doomed_current(void)
{
    sn_net *n = corio__sn_peek();
    return n && corio__sn_task_doomed(n, corio_current());
}
