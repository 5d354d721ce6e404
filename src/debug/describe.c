/*
 * What a parked task waits on, in words, and who must act to end the wait.
 *
 * corio__park() records (wait_type, wait_obj) for every suspension: the
 * object and the const descriptor of its type (corio__waitable), which the
 * module owning the type provides along with a function that describes
 * one object and names the task that must act (a lock's holder, an
 * awaited task), so deadlock reports can follow the wait-for chain from
 * task to task.
 */
#include "debug/debug.h"

#include <string.h>

/* The public wait kinds, as metrics label them. */
const char *corio__wait_kind_name(int kind)
{
    static const char *const names[CORIO_WAIT_KINDS] = {
        "nothing", "sleep", "yield", "future", "task", "fd",
        "lock", "queue", "channel", "event", "other"};
    return kind >= 0 && kind < CORIO_WAIT_KINDS ? names[kind] : "?";
}

const char *corio__wait_name(const corio_task *t)
{
    return t->state == CORIO_TASK_SUSPENDED && t->b->wait_type ? t->b->wait_type->name
                                                            : "nothing";
}

static double secs(int64_t ns) { return (double)ns / 1e9; }

void corio__debug_describe_wait(corio_task *t, char *buf, size_t len,
                                corio_task **owner)
{
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
    if (t->b->wait_type && t->b->wait_type->describe)
        t->b->wait_type->describe(t, t->b->wait_obj, buf, len, owner);
    else if (t->b->wait_type)
        snprintf(buf, len, "%s %p", t->b->wait_type->name, t->b->wait_obj);
    /* A scope deadline (or a timed wait) bounds the wait: say when. */
    n = strlen(buf);
    if (t->b->timer.corio__slot != CORIO__TIMER_IDLE &&
        t->b->wait_type != &corio__wait_sleep && n + 1 < len)
        snprintf(buf + n, len - n, ", times out in %.3fs",
                 secs(t->b->timer.corio__deadline - now));
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
    if (corio__task_parent_id(t) && n + 1 < len)
        snprintf(buf + n, len - n, " by task #%llu",
                 (unsigned long long)corio__task_parent_id(t));
}
