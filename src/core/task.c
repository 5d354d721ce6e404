/*
 * Tasks: spawn, await, cancel, detach, names, enumeration.
 *
 * Lifetime: corio_spawn() allocates a task handle (from the loop's slabs,
 * task_slab.c): the small part of a task (internal.h explains the split).
 * Its body (context, wait node, timer, scopes), and its stack, it gets only
 * when it first runs (task_prepare, sched.c), and gives back the moment it
 * ends, so spawning is cheap and a million spawned-but-unstarted or
 * finished-but-not-yet-awaited tasks hold a million handles and nothing
 * else. The handle lives until its owner awaits it (corio_await frees it)
 * or, for a detached task, until it ends. Its ext (future, heap name, debug
 * data) is allocated the first time one of those is needed and freed with
 * the handle.
 */
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t next_task_id = 1;

#ifndef CORIO__ASAN
/* Every byte of a handle is fresh memory for spawn-then-gather: keep it to
 * a cache line (docs/benchmarks.md, "A small task handle"). */
_Static_assert(sizeof(struct corio_task) == 64, "a task handle is 64 bytes");
#endif

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
    t->run.kind = CORIO__RUN_TASK;
    t->state = CORIO_TASK_CREATED; /* READY once queued */
    t->flags = 0;
    t->stack_shift = 0;
#ifdef CORIO__ASAN
    t->corio__loop = loop;
#endif
    t->awaiter = NULL;
    t->spawn_site = NULL;
    t->parent_delta = 0;
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

corio__task_ext *corio__task_ext_get(corio_task *t)
{
    corio__task_ext *x = corio__task_x(t);
    if (x)
        return x;
    x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->task = t;
    x->awaiter = t->awaiter; /* the word becomes t->x */
    t->x = x; /* x->fut.loop stays NULL until corio_task_future makes it */
    t->flags |= CORIO__TF_EXT;
    return x;
}

void corio__task_free(corio_loop *loop, corio_task *t)
{
    corio__task_ext *x = corio__task_x(t);
    /* Finished, or never started (spawn failed half-way), or discarded by
     * a closing loop. */
    CORIO__ASSERT(t->state == CORIO_TASK_DONE || t->state == CORIO_TASK_CREATED ||
                  loop->closing);
    CORIO__ASSERT(corio__task_loop(t) == loop && loop->ntasks > 0);
    /* The slot stays readable (task_slab.c): a stale handle is seen. */
    t->state = CORIO__TASK_FREED;
#ifdef CORIO__ASAN
    corio__list_remove(&t->all);
#endif
    loop->ntasks--;
    if (x) {
        free(x->name);
        x->name = NULL;
        if (x->fut.loop)
            corio__future_drop_callbacks(&x->fut);
    }
    if (CORIO__OBS_ON(loop, CORIO__EV_FREE) && loop->obs->task_free(loop, t)) {
        free(x); /* src/debug freed x->dbg */
        return; /* debug mode keeps it poisoned, to catch a second await */
    }
    free(x);
    corio__task_mem_free(loop, t);
}

/* Records the outcome and wakes whoever awaits the task. Runs on the
 * task's own stack when it returns, or on anyone's when a task ends
 * without running (cancelled before it started, or no stack for it). */
void corio__task_finish(corio_task *t, void *value)
{
    int status;
    corio_task *w = corio__task_awaiter(t);
    corio__task_ext *x = corio__task_x(t);
    corio__task_body *b = corio__task_body_of(t);
    if (t->flags & CORIO__TF_FAILED)
        status = b ? b->status : t->status;
    else if (t->flags & CORIO__TF_CANCEL)
        status = -ECANCELED;
    else
        status = 0;
    CORIO__ASSERT(t->state != CORIO_TASK_DONE); /* a task finishes once */
    CORIO__ASSERT(corio__task_loop(t)->nlive > 0);
    /* The handle's word is still the body's until corio__task_release. */
    if (b)
        b->status = status;
    else
        t->status = status;
    t->value = value; /* fn is not needed any more */
    t->state = CORIO_TASK_DONE;
    corio__task_loop(t)->nlive--;
    if (w) {
        corio__task_set_awaiter(t, NULL);
        corio__wake(w, CORIO__WAKE_OK);
    }
    if (CORIO__UNLIKELY(x != NULL) && x->fut.loop)
        corio__future_complete(&x->fut, status, value);
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
        corio__task_ext *x = corio__task_ext_get(t);
        if (!x || !(x->name = strdup(opts->name))) {
            /* Not linked or counted yet: give task_free what it undoes. */
#ifdef CORIO__ASAN
            corio__list_init(&t->all);
#endif
            loop->ntasks++;
            corio__task_free(loop, t);
            return -ENOMEM;
        }
    }
    if (flags & CORIO_SPAWN_DETACHED)
        t->flags |= CORIO__TF_DETACHED;
#ifdef CORIO__ASAN
    corio__list_push_back(&loop->tasks, &t->all);
#endif
    loop->ntasks++;
    loop->nlive++;
    corio__obs_spawned(loop, t, site);
    if (CORIO__UNLIKELY(loop->sim != NULL))
        corio__simnet_spawned(loop->current, t); /* same host as its parent */
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
                  (unsigned long long)t->id, (void *)corio__task_loop(t), (void *)loop);
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
        else if (!corio__task_stale(t) && corio__loop_foreign(corio__task_loop(t)))
            return corio__misuse_foreign(corio__task_loop(t), "corio_await");
        return -EPERM;
    }
    if (t == self)
        return -EDEADLK;
    /* One test on the way (t of another loop, or freed: the slot of a freed
     * task reads CORIO__TASK_FREED or 0, and its loop may read NULL). */
    if (CORIO__UNLIKELY(corio__task_loop(t) != loop))
        return await_misuse(loop, t);
    if (t->state != CORIO_TASK_DONE) {
        if (CORIO__UNLIKELY(corio__task_stale(t)))
            return await_misuse(loop, t); /* already awaited: freed */
        if (CORIO__UNLIKELY(corio__task_awaiter(t) != NULL))
            return -EBUSY; /* another task awaits it: a task has one awaiter */
        corio__task_set_awaiter(t, self);
        rc = corio__park(self, &corio__wait_task, t);
        if (corio__task_awaiter(t) == self)
            corio__task_set_awaiter(t, NULL); /* interrupted: not woken by t's end */
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
    rc = corio__task_status(t);
    if (result)
        *result = t->value;
    if (!(flags & CORIO_AWAIT_KEEP))
        corio__task_free(loop, t);
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
        while (t->state != CORIO_TASK_DONE) {
            corio_future *f = corio_task_future(t);
            if (f)
                (void)corio_future_await(f, NULL);
            else
                (void)corio_yield(); /* no memory for a future: poll */
        }
        corio_scope_exit(&shield);
        st = corio__task_status(t);
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
            rc = corio__task_status(t);
    }
    if (result)
        *result = t->value;
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
     * first: it reads only t's loop, which a live task never changes (a
     * freed slot may read NULL there: a released block's header is zero). */
    loop = corio__task_loop(t);
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
    /* Only t's loop (its slab block's header) and t->id are read here: a
     * live task never changes them, so this thread reads them without
     * racing with the loop's. */
    loop = corio__task_loop(t);
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
    CORIO__CHECK_LOOP_THREAD(corio__task_loop(t));
    if (t->state == CORIO_TASK_DONE && !corio__task_body_of(t)) {
        corio__task_free(corio__task_loop(t), t);
        return;
    }
    t->flags |= CORIO__TF_DETACHED;
}

void *corio_fail(int err)
{
    corio_task *t = corio_current();
    if (t && err < 0) {
        t->flags |= CORIO__TF_FAILED;
        t->b->status = err; /* the running task has its body */
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
    const char *n = corio__task_name_or_null(t);
    if (n)
        return n;
    snprintf(buf, len, "task-%llu", (unsigned long long)t->id);
    return buf;
}

const char *corio_task_name(const corio_task *t)
{
    corio_task *m = (corio_task *)t;
    corio__task_ext *x;
    char buf[32];
    if (!corio__task_name_or_null(m)) {
        /* Made on demand, so unnamed tasks cost no allocation. */
        snprintf(buf, sizeof buf, "task-%llu", (unsigned long long)m->id);
        x = corio__task_ext_get(m);
        if (!x || !(x->name = strdup(buf)))
            return "task";
    }
    return corio__task_name_or_null(m);
}

int corio_task_set_name(corio_task *t, const char *name)
{
    corio__task_ext *x = corio__task_ext_get(t);
    char *n;
    if (!x)
        return -ENOMEM;
    n = strdup(name ? name : "");
    if (!n)
        return -ENOMEM;
    free(x->name);
    x->name = n;
    return 0;
}

/* The future is made on first use: most tasks are only awaited, through
 * t->awaiter, and never need one. NULL if out of memory. */
corio_future *corio_task_future(corio_task *t)
{
    corio__task_ext *x = corio__task_ext_get(t);
    if (!x)
        return NULL;
    if (!x->fut.loop) {
        corio__future_init(&x->fut, corio__task_loop(t), 1);
        if (t->state == CORIO_TASK_DONE) {
            x->fut.state = CORIO__FUT_DONE;
            x->fut.status = corio__task_status(t);
            x->fut.value = t->value;
        }
    }
    return &x->fut;
}

/* ---- enumeration ---------------------------------------------------------
 * Handles carry no list link (16 bytes of each spawn's fresh memory): the
 * loop's tasks are the live slots of its handle slab, in slot order; a
 * snapshot sorted by id gives spawn order. ASan builds, whose handles are
 * malloc'ed, keep them on loop->tasks instead. */

#ifdef CORIO__ASAN
int corio__task_walk(corio_loop *loop, int (*fn)(corio_task *t, void *arg),
                     void *arg)
{
    corio__list *n, *next;
    for (n = loop->tasks.next; n != &loop->tasks; n = next) {
        int rc;
        next = n->next;
        rc = fn(corio__container_of(n, corio_task, all), arg);
        if (rc)
            return rc;
    }
    return 0;
}
#else
typedef struct walk_ctx {
    int (*fn)(corio_task *t, void *arg);
    void *arg;
} walk_ctx;

static int walk_slot(void *slot, void *arg)
{
    walk_ctx *w = arg;
    corio_task *t = slot;
    if (t->state > CORIO_TASK_DONE)
        return 0; /* free, or in debug mode's quarantine */
    return w->fn(t, w->arg);
}

int corio__task_walk(corio_loop *loop, int (*fn)(corio_task *t, void *arg),
                     void *arg)
{
    walk_ctx w = {fn, arg};
    return corio__slab_walk(&loop->task_slab, walk_slot, &w);
}
#endif

static int snap_one(corio_task *t, void *arg)
{
    corio__task_iter *it = arg;
    if (it->n < it->i)
        it->v[it->n++] = t;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = (*(corio_task *const *)a)->id, y = (*(corio_task *const *)b)->id;
    return x < y ? -1 : x > y;
}

corio_task *corio__task_iter_first(corio_loop *loop, corio__task_iter *it)
{
    it->v = NULL;
    it->n = it->i = 0;
    if (!loop->ntasks)
        return NULL;
    it->v = malloc(loop->ntasks * sizeof *it->v);
    if (!it->v)
        return NULL;
    it->i = loop->ntasks; /* capacity, while filling */
    corio__task_walk(loop, snap_one, it);
    it->i = 0;
    qsort(it->v, it->n, sizeof *it->v, by_id);
    return corio__task_iter_next(it);
}

corio_task *corio__task_iter_next(corio__task_iter *it)
{
    return it->i < it->n ? it->v[it->i++] : NULL;
}

void corio__task_iter_end(corio__task_iter *it)
{
    free(it->v);
    it->v = NULL;
    it->n = it->i = 0;
}

int corio_task_foreach(corio_loop *loop, int (*fn)(corio_task *t, void *arg),
                       void *arg)
{
    corio__task_iter it;
    corio_task *t;
    int rc = 0;
    loop = corio__loop_or_current(loop);
    if (!loop || !loop->ntasks)
        return 0;
    t = corio__task_iter_first(loop, &it);
    if (!it.v) /* out of memory: every task all the same, in slot order */
        return corio__task_walk(loop, fn, arg);
    for (; t && !rc; t = corio__task_iter_next(&it))
        rc = fn(t, arg);
    corio__task_iter_end(&it);
    return rc;
}

size_t corio_task_count(corio_loop *loop)
{
    loop = corio__loop_or_current(loop);
    return loop ? loop->ntasks : 0;
}
