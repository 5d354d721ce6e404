/*
 * Tasks: spawn, await, cancel, detach, names, enumeration.
 *
 * Lifetime: corio_spawn() allocates a task (from the loop's slabs of task
 * structs, task_slab.c). It gets a stack only when it first runs, and gives
 * it back the moment it ends, so spawning is cheap and a million
 * finished-but-not-yet-awaited tasks hold no stacks. The struct itself lives until its owner
 * awaits it (corio_await frees it) or, for a detached task, until it ends.
 */
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t next_task_id = 1;

const char *corio__task_state_name(const corio_task *t)
{
    static const char *const names[] = {"created", "ready", "running",
                                        "suspended", "done"};
    int s = corio_task_state(t);
    return s >= 0 && s <= 4 ? names[s] : "?";
}

/* corio_await on a task: that task must end. */
static void describe_task(const corio_task *waiter, const void *obj,
                          char *buf, size_t len, corio_task **owner)
{
    corio_task *w = (corio_task *)obj;
    char nb[32];
    (void)waiter;
    *owner = w;
    snprintf(buf, len, "task #%llu '%s' (%s)", (unsigned long long)w->id,
             corio__task_label(w, nb, sizeof nb), corio__task_state_name(w));
}

const corio__waitable corio__wait_task = {"task", CORIO_WAIT_TASK,
                                          describe_task};


int corio__task_alloc(corio_loop *loop, corio_task **tp)
{
    corio_task *t = corio__task_mem_alloc(loop);
    if (!t)
        return -ENOMEM;
    memset(t, 0, offsetof(corio_task, fut));
    t->run.kind = CORIO__RUN_TASK;
    t->loop = loop;
    corio__list_init(&t->wait);
    t->timer.corio__slot = CORIO__TIMER_IDLE;
    t->sleep_deadline = CORIO__NEVER;
    corio__future_init(&t->fut, loop, 1);
    t->saved = NULL;
    t->saved_len = t->saved_cap = 0;
#ifdef CORIO__ASAN
    t->asan_fake = NULL;
#endif
#ifdef CORIO__TSAN
    t->tsan_fiber = NULL;
#endif
    /* Ids come in blocks per loop, so the loops of a multi-loop runtime do
     * not all increment one shared counter on every spawn. */
    if (CORIO__UNLIKELY(loop->id_next == loop->id_end)) {
        loop->id_next = atomic_fetch_add_explicit(&next_task_id, CORIO__ID_BLOCK,
                                                  memory_order_relaxed);
        loop->id_end = loop->id_next + CORIO__ID_BLOCK;
    }
    t->id = loop->id_next++;
    *tp = t;
    return 0;
}

void corio__task_free(corio_loop *loop, corio_task *t)
{
    /* Finished, or never started (spawn failed half-way), or discarded by
     * a closing loop. */
    CORIO__ASSERT(t->state == CORIO_TASK_DONE || t->state == CORIO_TASK_CREATED ||
                  loop->closing);
    CORIO__ASSERT(t->loop == loop && loop->ntasks > 0);
    /* The slot stays readable (task_slab.c): a stale handle is seen. */
    t->state = CORIO__TASK_FREED;
    corio__list_remove(&t->all);
    loop->ntasks--;
    if (t->flags & CORIO__TF_NAME_HEAP)
        free(t->name);
    free(t->saved);
    corio__future_drop_callbacks(&t->fut);
    if (CORIO__OBS_ON(loop, CORIO__EV_FREE) && loop->obs->task_free(loop, t))
        return; /* debug mode keeps it poisoned, to catch a second await */
    corio__task_mem_free(loop, t);
}

/* Records the outcome and wakes whoever awaits the task. Runs on the
 * task's own stack when it returns, or on anyone's when a task ends
 * without running (cancelled before it started, or no stack for it). */
void corio__task_finish(corio_task *t, void *value)
{
    int status;
    if (t->flags & CORIO__TF_FAILED)
        status = t->fut.status;
    else if (t->flags & CORIO__TF_CANCEL)
        status = -ECANCELED;
    else
        status = 0;
    CORIO__ASSERT(t->state != CORIO_TASK_DONE); /* a task finishes once */
    CORIO__ASSERT(t->loop->nlive > 0);
    t->fut.status = 0; /* let complete() accept it */
    t->state = CORIO_TASK_DONE;
    t->loop->nlive--;
    corio__future_complete(&t->fut, status, value);
}

/* ---- spawn ---------------------------------------------------------------*/

/* site: the return address in the user's call to corio_spawn*, recorded so
 * dumps and leak reports can say where the task was created. */
static inline __attribute__((always_inline)) int
spawn_at(corio_task **taskp, corio_fn fn, void *arg,
         const corio_spawn_opts *opts, void *site)
{
    corio_loop *loop = corio__loop_or_current(opts ? opts->loop : NULL);
    corio_task *t;
    unsigned flags = opts ? opts->flags : 0;
    int rc;

    if (taskp)
        *taskp = NULL;
    if (!loop)
        return -EPERM;
    if (!fn || (!taskp && !(flags & CORIO_SPAWN_DETACHED)))
        return -EINVAL;
    /* opts->loop run by another thread: refused, in every build. */
    if (corio__foreign_thread(loop))
        return corio__misuse_foreign(loop, "corio_spawn");
    if (loop->closing)
        return -EPERM;
    rc = corio__task_alloc(loop, &t);
    if (rc < 0)
        return rc;
    t->fn = fn;
    t->arg = arg;
    if (opts && opts->stack_size)
        t->stack_shift = (uint8_t)__builtin_ctzll(
            corio__stack_roundup(opts->stack_size)); /* a power of two */
    if (opts && opts->name) {
        t->name = strdup(opts->name);
        if (!t->name) {
            /* Not linked or counted yet: give task_free what it undoes. */
            corio__list_init(&t->all);
            loop->ntasks++;
            corio__task_free(loop, t);
            return -ENOMEM;
        }
        t->flags |= CORIO__TF_NAME_HEAP;
    }
    if (flags & CORIO_SPAWN_DETACHED)
        t->flags |= CORIO__TF_DETACHED;
    corio__list_push_back(&loop->tasks, &t->all);
    loop->ntasks++;
    loop->nlive++;
    corio__obs_spawned(loop, t, site);
    if (taskp && !(flags & CORIO_SPAWN_DETACHED))
        *taskp = t;

    if ((flags & CORIO_SPAWN_EAGER) && loop->running &&
        corio__tls_loop == loop) {
        if (loop->current) {
            rc = corio__run_eager(loop, loop->current, t);
            if (rc < 0) {
                if (taskp)
                    *taskp = NULL;
                loop->nlive--; /* it never ran: not a live task either */
                corio__task_free(loop, t);
                return rc;
            }
            return 0;
        }
        corio__run_task(loop, t); /* from a callback, on the loop stack */
        return 0;
    }
    t->state = CORIO_TASK_READY;
    corio__list_push_back(&loop->ready, &t->run.node);
    return 0;
}

int corio_spawn_ex(corio_task **taskp, corio_fn fn, void *arg,
                   const corio_spawn_opts *opts)
{
    return spawn_at(taskp, fn, arg, opts, __builtin_return_address(0));
}

int corio__spawn_at(corio_task **taskp, corio_fn fn, void *arg,
                    const corio_spawn_opts *opts, void *site)
{
    return spawn_at(taskp, fn, arg, opts, site);
}

corio_task *corio_spawn(corio_fn fn, void *arg)
{
    corio_task *t;
    return spawn_at(&t, fn, arg, NULL, __builtin_return_address(0)) < 0 ? NULL : t;
}

/* ---- await, cancel, detach -------------------------------------------------*/

/* corio_await on a freed handle (awaited twice, or detached and finished)
 * or on a task of another loop (or thread). -EINVAL, reported; debug mode
 * adds where the task was spawned and a backtrace of the await. */
static CORIO__NOINLINE int await_misuse(corio_loop *loop, corio_task *t)
{
    if (CORIO__OBS_ON(loop, CORIO__EV_MISUSE) && loop->obs->await_check(loop, t) < 0)
        return -EINVAL; /* reported */
    if (corio__task_stale(t))
        return corio__misuse_stale(t, "corio_await");
    corio__report(loop, "corio: misuse: corio_await on task #%llu, which belongs to "
                        "loop %p, from a task of loop %p (a task is awaited on its own "
                        "loop): refused (-EINVAL)\n",
                  (unsigned long long)t->id, (void *)t->loop, (void *)loop);
    return -EINVAL;
}

int corio_await_ex(corio_task *t, void **result, unsigned flags)
{
    corio_loop *loop = corio__tls_loop;
    corio_task *self = loop ? loop->current : NULL;
    int rc;

    if (result)
        *result = NULL;
    if (!t)
        return -EINVAL;
    if (!self) {
        if (loop && CORIO__OBS_ON(loop, CORIO__EV_MISUSE))
            loop->obs->await_check(loop, t); /* says where */
        else if (!corio__task_stale(t) && corio__loop_foreign(t->loop))
            return corio__misuse_foreign(t->loop, "corio_await");
        return -EPERM;
    }
    if (t == self)
        return -EDEADLK;
    /* One test on the way (t of another loop, or freed: the slot of a freed
     * task reads CORIO__TASK_FREED or 0, and its loop may read NULL). */
    if (CORIO__UNLIKELY(t->loop != loop))
        return await_misuse(loop, t);
    if (t->state != CORIO_TASK_DONE) {
        if (CORIO__UNLIKELY(corio__task_stale(t)))
            return await_misuse(loop, t); /* already awaited: freed */
        corio__list_push_back(&t->fut.waiters, &self->wait);
        rc = corio__park(self, &corio__wait_task, t);
        if (rc < 0 && t->state != CORIO_TASK_DONE) {
            /* We were interrupted: t is cancelled (unless shielded) and
             * the loop takes it over, so the handle is gone either way
             * (unless the caller keeps it: CORIO_AWAIT_KEEP). */
            if (!(flags & CORIO_AWAIT_SHIELD))
                corio_cancel(t);
            if (!(flags & CORIO_AWAIT_KEEP))
                corio_detach(t);
            return rc;
        }
    } else if ((rc = corio__interrupted(self)) != 0) {
        /* Already done, but still a suspension point: a cancelled or
         * timed-out caller gets its interruption, as from every suspending
         * call (level-triggered). The handle is consumed all the same. */
        if (!(flags & CORIO_AWAIT_KEEP))
            corio_detach(t);
        return rc;
    }
    rc = t->fut.status;
    if (result)
        *result = t->fut.value;
    if (!(flags & CORIO_AWAIT_KEEP))
        corio__task_free(t->loop, t);
    return rc;
}

int corio_await(corio_task *t, void **result)
{
    return corio_await_ex(t, result, 0);
}

int corio_wait_for(corio_task *t, double timeout, void **result)
{
    corio_scope s;
    int rc;
    /* Finished already: its result, whatever the timeout (asyncio). */
    if (t && t->state == CORIO_TASK_DONE)
        return corio_await(t, result);
    rc = corio_scope_enter(&s, timeout, 0);
    if (rc < 0)
        return rc;
    rc = corio_await(t, result);
    corio_scope_exit(&s);
    return rc;
}

/* asyncio 3.12's wait_for: an interrupted wait cancels t and then waits,
 * shielded, for t to finish its cleanup before returning, so nothing t
 * does outlives the call. */
int corio_wait_for_cleanup(corio_task *t, double timeout, void **result)
{
    corio_loop *loop = corio__tls_loop;
    corio_task *self = loop ? loop->current : NULL;
    corio_scope s;
    int rc, st;

    if (result)
        *result = NULL;
    if (!t)
        return -EINVAL;
    if (!self)
        return -EPERM;
    if (t == self)
        return -EDEADLK;
    if (CORIO__UNLIKELY(corio__task_stale(t)))
        return corio_await(t, result); /* freed: refused and reported there */
    rc = corio_scope_enter(&s, timeout, 0);
    if (rc < 0)
        return rc;
    rc = corio_await_ex(t, NULL, CORIO_AWAIT_SHIELD | CORIO_AWAIT_KEEP);
    corio_scope_exit(&s);
    if (rc == -EINVAL || rc == -EPERM)
        return rc; /* a freed handle or another loop's task: refused */
    if (t->state != CORIO_TASK_DONE) {
        /* Interrupted (this call's timeout, an outer scope, or the caller's
         * cancellation) while t runs: cancel it and wait for its end under
         * a shield, which hides everything but t's completion. */
        corio_scope shield;
        corio_cancel(t);
        corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
        while (t->state != CORIO_TASK_DONE)
            (void)corio_future_await(&t->fut, NULL);
        corio_scope_exit(&shield);
        st = t->fut.status;
        /* asyncio 3.12: an error t raised during its cleanup is what the
         * caller sees; its cancellation is not (the interruption is). */
        if (st != 0 && st != -ECANCELED)
            rc = st;
    } else {
        /* t is done: its outcome wins over this call's own timeout (asyncio
         * returns a ready result), but not over the caller's cancellation
         * or an outer scope's deadline (level-triggered). */
        rc = corio__interrupted(self);
        if (!rc)
            rc = t->fut.status;
    }
    if (result)
        *result = t->fut.value;
    corio_detach(t); /* frees it, or lets the loop free it once released */
    return rc;
}

int corio_cancel(corio_task *t)
{
    corio_loop *loop;
    if (!t)
        return 0;
    /* Misuse, refused in every build: a loop that another thread is
     * running (use corio_cancel_threadsafe), or a freed handle. The thread
     * first: it reads only t->loop, which a live task never changes (a
     * freed slot may read NULL there). */
    loop = t->loop;
    if (CORIO__UNLIKELY(loop != corio__tls_loop) && loop && corio__loop_foreign(loop))
        return corio__misuse_foreign(loop, "corio_cancel");
    if (CORIO__UNLIKELY(corio__task_stale(t)))
        return corio__misuse_stale(t, "corio_cancel");
    if (t->state == CORIO_TASK_DONE || (t->flags & CORIO__TF_CANCEL))
        return 0;
    t->flags |= CORIO__TF_CANCEL;
    if (!(t->flags & CORIO__TF_STARTED) && t->state == CORIO_TASK_READY) {
        /* Never ran: it finishes cancelled, without running. */
        corio__list_remove(&t->run.node);
        corio__task_finish(t, NULL);
        if (CORIO__OBS_ON(loop, CORIO__EV_TASK))
            loop->obs->finish(loop, t); /* the others' is at their release */
        if (t->flags & CORIO__TF_DETACHED)
            corio__task_free(loop, t);
        return 1;
    }
    /* A shield hides it from the current wait. The flag, not the scope
     * chain: t's scopes may be in its copied-out compact stack. */
    if (t->state == CORIO_TASK_SUSPENDED && !(t->flags & CORIO__TF_SHIELDED))
        corio__wake(t, -ECANCELED);
    return 1;
}

/* A cancel posted by corio_cancel_threadsafe: the task and its id at the
 * time of the call. Allocated there, freed by cancel_posted (or by
 * corio_loop_close if it never ran). */
typedef struct cancel_post {
    corio_task *t;
    uint64_t id;
} cancel_post;

/* On the loop's thread. The task may have finished, been awaited and freed,
 * and its slot reused, since the post: task memory is type-stable
 * (task_slab.c), so the slot can be read, and it is the same task only if
 * it is live with the same id. */
static void cancel_posted(void *arg)
{
    cancel_post *p = arg;
    corio_task *t = p->t;
    if (!corio__task_stale(t) && t->id == p->id)
        corio_cancel(t);
    free(p);
}

int corio_cancel_threadsafe(corio_task *t)
{
    corio_loop *loop;
    cancel_post *p;
    int rc;
    if (!t)
        return -EINVAL;
    /* Only t->loop and t->id are read here: a live task never changes
     * them, so this thread reads them without racing with the loop's. */
    loop = t->loop;
    if (!loop)
        return corio__misuse_stale(t, "corio_cancel_threadsafe"); /* a freed slot */
    if (loop == corio__tls_loop && !corio__loop_foreign(loop)) {
        rc = corio_cancel(t); /* on the loop's own thread: now */
        return rc < 0 ? rc : 0;
    }
    p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->t = t;
    p->id = t->id;
    rc = corio__post_heap_arg(loop, cancel_posted, p);
    if (rc < 0)
        free(p);
    return rc;
}

void corio_detach(corio_task *t)
{
    if (!t)
        return;
    if (CORIO__UNLIKELY(corio__task_stale(t))) {
        corio__misuse_stale(t, "corio_detach");
        return;
    }
    CORIO__ASSERT_LOOP_THREAD(t->loop);
    if (t->state == CORIO_TASK_DONE && !t->stack) {
        corio__task_free(t->loop, t);
        return;
    }
    t->flags |= CORIO__TF_DETACHED;
}

void *corio_fail(int err)
{
    corio_task *t = corio_current();
    if (t && err < 0) {
        t->flags |= CORIO__TF_FAILED;
        t->fut.status = err;
    }
    return NULL;
}

int corio_cancelled(void)
{
    corio_task *t = corio_current();
    return (t && (t->flags & CORIO__TF_CANCEL)) ? -ECANCELED : 0;
}

int corio_checkpoint(void)
{
    corio_task *t = corio_current();
    return t ? corio__interrupted(t) : 0;
}

/* ---- introspection --------------------------------------------------------*/

int corio_task_state(const corio_task *t)
{
    if (t->state == CORIO_TASK_READY && !(t->flags & CORIO__TF_STARTED))
        return CORIO_TASK_CREATED;
    return t->state;
}

uint64_t corio_task_id(const corio_task *t) { return t->id; }

const char *corio__task_label(const corio_task *t, char *buf, size_t len)
{
    if (t->name)
        return t->name;
    snprintf(buf, len, "task-%llu", (unsigned long long)t->id);
    return buf;
}

const char *corio_task_name(const corio_task *t)
{
    corio_task *m = (corio_task *)t;
    char buf[32];
    if (!m->name) {
        /* Made on demand, so unnamed tasks cost no allocation. */
        snprintf(buf, sizeof buf, "task-%llu", (unsigned long long)m->id);
        m->name = strdup(buf);
        if (!m->name)
            return "task";
        m->flags |= CORIO__TF_NAME_HEAP;
    }
    return m->name;
}

int corio_task_set_name(corio_task *t, const char *name)
{
    char *n = strdup(name ? name : "");
    if (!n)
        return -ENOMEM;
    if (t->flags & CORIO__TF_NAME_HEAP)
        free(t->name);
    t->name = n;
    t->flags |= CORIO__TF_NAME_HEAP;
    return 0;
}

corio_future *corio_task_future(corio_task *t) { return &t->fut; }

int corio_task_foreach(corio_loop *loop, int (*fn)(corio_task *t, void *arg),
                       void *arg)
{
    corio__list *n, *next;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return 0;
    for (n = loop->tasks.next; n != &loop->tasks; n = next) {
        int rc;
        next = n->next;
        rc = fn(corio__container_of(n, corio_task, all), arg);
        if (rc)
            return rc;
    }
    return 0;
}

size_t corio_task_count(corio_loop *loop)
{
    loop = corio__loop_or_current(loop);
    return loop ? loop->ntasks : 0;
}
