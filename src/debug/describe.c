/*
 * What a parked task waits on, in words, and who must act to end the wait.
 *
 * corio__park() records (wait_kind, wait_obj) for every suspension. The
 * core's own kinds (sleep, future, task, fd) are described here; modules
 * that own other wait objects (locks, queues, channels: src/sync; jobs:
 * src/os) register a describer for their kind, which also names the owner
 * task when there is one (a lock's holder), so deadlock reports can follow
 * the wait-for chain from task to task.
 */
#include "debug/debug.h"
#include "io/fd.h"

#include <string.h>

/* Several describers may share a kind (a semaphore and a lock both park
 * as CORIO__WAIT_LOCK): each is asked in turn until one recognises obj.
 * Registration happens from constructors, before any thread exists. */
#define PER_KIND 4
static corio__wait_describer describers[CORIO__NWAIT][PER_KIND];

void corio__debug_register_wait(int kind, corio__wait_describer fn)
{
    int i;
    if (kind < 0 || kind >= CORIO__NWAIT || !fn)
        return;
    for (i = 0; i < PER_KIND; i++) {
        if (describers[kind][i] == fn)
            return;
        if (!describers[kind][i]) {
            describers[kind][i] = fn;
            return;
        }
    }
}

/* The built-in fallback for CORIO__WAIT_LOCK, so deadlock reports can name
 * a lock's holder and follow the wait-for chain through it. It uses only
 * the public corio_lock_owner(). Locks and semaphores both park as
 * CORIO__WAIT_LOCK and a describer only gets the object's address, so the
 * candidate holder is believed only if it is one of the loop's live tasks:
 * read on a semaphore, the same bytes are its count (its first field),
 * which no task's address equals. Registered describers are asked first. */
static int is_live_task(corio_loop *loop, const corio_task *c)
{
    const corio__list *p;
    if (!c)
        return 0;
    for (p = loop->tasks.next; p != &loop->tasks; p = p->next)
        if (corio__container_of(p, corio_task, all) == c)
            return 1;
    return 0;
}

static int describe_lock(const corio_task *t, const void *obj, char *buf,
                         size_t len, corio_task **owner)
{
    corio_task *o = corio_lock_owner((const corio_lock *)obj);
    char nb[32];
    if (!is_live_task(t->loop, o) || o == t)
        return 0;
    *owner = o;
    snprintf(buf, len, "lock %p held by task #%llu '%s'", obj,
             (unsigned long long)o->id, corio__task_label(o, nb, sizeof nb));
    return 1;
}

static int run_describers(corio_task *t, char *buf, size_t len, corio_task **owner)
{
    int i;
    if (t->wait_kind < 0 || t->wait_kind >= CORIO__NWAIT)
        return 0;
    for (i = 0; i < PER_KIND && describers[t->wait_kind][i]; i++)
        if (describers[t->wait_kind][i](t, t->wait_obj, buf, len, owner))
            return 1;
    if (t->wait_kind == CORIO__WAIT_LOCK)
        return describe_lock(t, t->wait_obj, buf, len, owner);
    return 0;
}

const char *corio__wait_kind_name(int kind)
{
    static const char *const names[CORIO__NWAIT] = {
        "nothing", "sleep", "yield", "future", "task", "fd",
        "lock", "queue", "channel", "event", "other"};
    return kind >= 0 && kind < CORIO__NWAIT ? names[kind] : "?";
}

const char *corio__state_name(const corio_task *t)
{
    static const char *const names[] = {"created", "ready", "running",
                                        "suspended", "done"};
    int s = corio_task_state(t);
    return s >= 0 && s <= 4 ? names[s] : "?";
}

/* The task whose embedded future f is, or NULL for a free-standing one. */
static corio_task *future_task(const corio_future *f)
{
    if (!f->embedded)
        return NULL;
    return (corio_task *)((char *)f - offsetof(corio_task, fut));
}

static void describe_future(corio_loop *loop, const corio_future *f, char *buf,
                            size_t len, corio_task **owner)
{
    corio_task *t = future_task(f);
    size_t nw = 0;
    const corio__list *p;
    (void)loop;
    for (p = f->waiters.next; p != &f->waiters; p = p->next)
        nw++;
    if (t) {
        char nb[32];
        *owner = t;
        snprintf(buf, len, "future of task #%llu '%s' (%s)",
                 (unsigned long long)t->id, corio__task_label(t, nb, sizeof nb),
                 corio__state_name(t));
        return;
    }
    snprintf(buf, len, "future %p (%s, %zu waiter%s%s)", (const void *)f,
             f->state == CORIO__FUT_DONE ? "done" : "pending", nw,
             nw == 1 ? "" : "s",
             atomic_load_explicit(&((corio_future *)f)->ts_claimed,
                                  memory_order_relaxed)
                 ? ", completion from another thread on its way"
                 : "");
}

static double secs(int64_t ns) { return (double)ns / 1e9; }

void corio__debug_describe_wait(corio_task *t, char *buf, size_t len,
                                corio_task **owner)
{
    corio_loop *loop = t->loop;
    int64_t now = corio__clock_ns();
    size_t n;
    *owner = NULL;
    buf[0] = 0;
    if (t->state == CORIO_TASK_READY && (t->flags & CORIO__TF_STARTED)) {
        snprintf(buf, len, "ready to run (woken)");
        return;
    }
    if (t->state != CORIO_TASK_SUSPENDED)
        return;
    switch (t->wait_kind) {
    case CORIO__WAIT_SLEEP:
        if (t->sleep_deadline != CORIO__NEVER)
            snprintf(buf, len, "sleep, wakes in %.3fs",
                     secs(t->sleep_deadline - now));
        else
            snprintf(buf, len, "sleep");
        break;
    case CORIO__WAIT_YIELD:
        snprintf(buf, len, "yield");
        break;
    case CORIO__WAIT_FUTURE:
        describe_future(loop, t->wait_obj, buf, len, owner);
        break;
    case CORIO__WAIT_TASK: {
        corio_task *w = t->wait_obj;
        char nb[32];
        *owner = w;
        snprintf(buf, len, "task #%llu '%s' (%s)", (unsigned long long)w->id,
                 corio__task_label(w, nb, sizeof nb), corio__state_name(w));
        break;
    }
    case CORIO__WAIT_IO: {
        const corio__fd *f = t->wait_obj;
        const corio__op *op = f->rop && f->rop->data == t   ? f->rop
                              : f->wop && f->wop->data == t ? f->wop
                                                            : NULL;
        if (op) { /* an operation in the io_uring ring */
            snprintf(buf, len, "fd %d, io_uring %s of %zu, in the ring for %.3fs",
                     op->fd, corio__op_name(op->opcode), op->len,
                     secs(now - op->since_ns));
            break;
        }
        const char *dir = f->reader == t ? (f->writer == t ? "reading and writing"
                                                           : "reading")
                                         : f->writer == t ? "writing" : "readiness";
        snprintf(buf, len, "fd %d, for %s", f->io.fd, dir);
        break;
    }
    default:
        if (!run_describers(t, buf, len, owner))
            snprintf(buf, len, "%s %p", corio__wait_kind_name(t->wait_kind),
                     t->wait_obj);
        break;
    }
    /* A scope deadline (or a timed wait) bounds the wait: say when. */
    n = strlen(buf);
    if (t->timer.corio__slot != CORIO__TIMER_IDLE &&
        t->wait_kind != CORIO__WAIT_SLEEP && n + 1 < len)
        snprintf(buf + n, len - n, ", times out in %.3fs",
                 secs(t->timer.corio__deadline - now));
}

void corio__debug_origin(corio__sym *s, const corio_task *t, char *buf,
                         size_t len)
{
    char site[256];
    size_t n;
    if (t->spawn_site)
        corio__sym_format(s, t->spawn_site, 1, site, sizeof site);
    else
        snprintf(site, sizeof site, "?");
    snprintf(buf, len, "spawned at %s", site);
    n = strlen(buf);
    if (t->parent_id && n + 1 < len)
        snprintf(buf + n, len - n, " by task #%llu",
                 (unsigned long long)t->parent_id);
}
