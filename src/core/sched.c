/*
 * The scheduler: how the running task gives up the CPU and who runs next.
 *
 * Tasks switch directly to each other when they can: a task that parks pops
 * the next ready task itself and switches to it, without a detour through
 * the loop's own stack (one switch instead of two; this is what makes a
 * channel round trip cheap). The detour happens when the loop's budget for
 * this iteration is spent (so I/O and timers are polled at least every
 * CORIO__BUDGET ready entries), when the next ready entry is a callback
 * (callbacks run on the loop's stack), when the next task has never run
 * (the loop allocates its stack), when a task ends (its stack cannot be
 * released while it runs on it), and always in COMPACT stack mode (stacks
 * are copied by the loop, off the shared stack).
 *
 * Every switch is annotated for AddressSanitizer and ThreadSanitizer (fiber
 * APIs) so they keep working on task stacks; stack.c registers the stacks
 * with Valgrind.
 */
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef CORIO__ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef CORIO__TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)(p), (void)(n))
#endif

#define CORIO__BUDGET 64

__thread corio_loop *corio__tls_loop __attribute__((tls_model("initial-exec")));

/* ---- sanitizer annotations ----------------------------------------------*/

/* always_inline: __tsan_switch_to_fiber must come right before the switch.
 * Were these helpers real calls (Debug builds), their instrumented return
 * would pop the *new* fiber's shadow stack below its start, and the
 * fiber's first function entry would fault. */
static inline __attribute__((always_inline)) void
san_to_task(void **fake_save, corio_task *to)
{
#ifdef CORIO__ASAN
    __sanitizer_start_switch_fiber(fake_save, to->b->stack->lo,
                                   corio__stack_size(to->b->stack));
#else
    (void)fake_save;
#endif
#ifdef CORIO__TSAN
    if (!to->b->tsan_fiber)
        to->b->tsan_fiber = __tsan_create_fiber(0);
    __tsan_switch_to_fiber(to->b->tsan_fiber, 0);
#else
    (void)to;
#endif
}

static inline __attribute__((always_inline)) void
san_to_loop(void **fake_save, corio_loop *loop)
{
#ifdef CORIO__ASAN
    __sanitizer_start_switch_fiber(fake_save, loop->asan_stack_lo,
                                   loop->asan_stack_size);
#else
    (void)fake_save;
#endif
#ifdef CORIO__TSAN
    __tsan_switch_to_fiber(loop->tsan_fiber, 0);
#else
    (void)loop;
#endif
}

static inline void san_arrived(void *fake)
{
#ifdef CORIO__ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
    (void)fake;
#endif
}

/* ---- compact mode: one shared stack, frames copied in and out ----------*/

/* Saves the frames of the task resident on the shared stack into its own
 * buffer, so another task may use the stack. */
static int compact_save(corio_loop *loop, corio_task *t)
{
    corio__task_body *b = t->b;
    char *top = loop->shared_lo + loop->shared_size;
    size_t len = (size_t)(top - (char *)b->ctx.sp);
    if (len > b->saved_cap) {
        size_t cap = (len + 63) & ~(size_t)63;
        void *p = realloc(b->saved, cap);
        if (!p)
            return -ENOMEM;
        b->saved = p;
        b->saved_cap = cap;
    }
    memcpy(b->saved, b->ctx.sp, len);
    b->saved_len = len;
    return 0;
}

static void compact_load(corio_loop *loop, corio_task *t)
{
    char *top = loop->shared_lo + loop->shared_size;
    CORIO__ASSERT(loop->compact);
    if (loop->resident == t)
        return;
    if (loop->resident && loop->resident->state != CORIO_TASK_DONE) {
        if (compact_save(loop, loop->resident) < 0) {
            /* Out of memory with two tasks wanting one stack: nothing sane
             * is left to do, and silently corrupting a task is worse. */
            corio__report(loop, "corio: out of memory saving a compact stack\n");
            abort();
        }
    }
    if (t->flags & CORIO__TF_STARTED) {
        /* Memcheck marks the shared stack below the last resident task's
         * stack pointer inaccessible; copying frames back there is
         * legitimate, so say so before writing. */
        VALGRIND_MAKE_MEM_UNDEFINED(top - t->b->saved_len, t->b->saved_len);
        memcpy(top - t->b->saved_len, t->b->saved, t->b->saved_len);
    }
    loop->resident = t;
}

/* ---- task start and end ------------------------------------------------------*/

static void task_entry(void *arg)
{
    corio_task *t = arg;
    void *v;
    san_arrived(NULL);
    v = t->fn(t->b->arg);
    corio__task_finish(t, v);
    /* Ended: hand the stack back through the loop, which releases it. */
    {
        corio_loop *loop = corio__task_loop(t);
        corio__obs_switch(loop, t, NULL);
        loop->dead = t;
        loop->current = NULL;
        san_to_loop(NULL, loop); /* NULL: ASan may drop this fake stack */
        corio__ctx_switch(&t->b->ctx, &loop->ctx);
    }
    abort(); /* a finished task is never resumed */
}

/* A fresh body for t at b. */
static void body_init(corio__task_body *b, corio_task *t, corio__stack *s)
{
    /* Field by field, not a memset: what is not set here (ctx, the rest of
     * sync_wait and timer) is written before it is read. */
    b->task = t;
    b->arg = t->arg; /* the handle's word becomes t->b */
    b->status = 0;
    b->stack = s;
    b->wake = CORIO__WAKE_NONE;
    b->wait_type = NULL;
    corio__list_init(&b->wait);
    corio__list_init(&b->sync_wait.node);
    b->wait_cancel = NULL;
    b->wait_obj = NULL;
    b->timer.corio__slot = CORIO__TIMER_IDLE;
    b->sleep_deadline = CORIO__NEVER;
    b->scopes = NULL;
    b->park_ns = 0;
    b->saved = NULL;
    b->saved_len = b->saved_cap = 0;
#ifdef CORIO__ASAN
    b->asan_fake = NULL;
#endif
#ifdef CORIO__TSAN
    b->tsan_fiber = NULL;
#endif
}

/* Room for a body at the top of a stack: a multiple of 64 bytes, so the
 * task's first frame stays aligned. */
#define BODY_ROOM ((sizeof(corio__task_body) + 63) & ~(size_t)63)

/* Gives t a body, a stack and a first frame. 0 or -ENOMEM. In the default
 * mode the body takes the top BODY_ROOM bytes of the stack, so a task that
 * starts touches one page (the stack's top) for both. */
static int task_prepare(corio_loop *loop, corio_task *t)
{
    corio__task_body *b;
    corio__stack *s;
    int rc;
    if (loop->compact) {
        b = corio__slab_alloc(&loop->body_slab);
        if (!b)
            return -ENOMEM;
        body_init(b, t, loop->shared_stack);
        t->b = b;
        t->flags |= CORIO__TF_BODY;
        compact_load(loop, t);
        corio__ctx_init(&b->ctx, loop->shared_lo, loop->shared_size,
                        task_entry, t);
        return 0;
    }
    rc = corio__stack_get(loop, t->stack_shift ? (size_t)1 << t->stack_shift
                                               : loop->stack_size,
                          &s);
    if (rc < 0)
        return rc;
    b = (corio__task_body *)(s->lo + corio__stack_size(s) - BODY_ROOM);
    body_init(b, t, s);
    t->b = b;
    t->flags |= CORIO__TF_BODY;
    corio__ctx_init(&b->ctx, s->lo, corio__stack_size(s) - BODY_ROOM, task_entry, t);
    return 0;
}

void corio__task_release(corio_loop *loop, corio_task *t)
{
    corio__task_body *b = corio__task_body_of(t);
    CORIO__ASSERT(t->state == CORIO_TASK_DONE);
    CORIO__ASSERT(loop->current != t); /* not while it runs on its stack */
    if (CORIO__OBS_ON(loop, CORIO__EV_TASK))
        loop->obs->task_end(loop, t); /* before its stack goes */
    if (b) {
        int status = b->status;
#ifdef CORIO__TSAN
        if (b->tsan_fiber)
            __tsan_destroy_fiber(b->tsan_fiber);
#endif
        free(b->saved);
        t->b = NULL;
        t->flags &= (uint8_t)~CORIO__TF_BODY;
        t->status = status; /* the word is the outcome's from now on */
        if (!loop->compact) {
            corio__stack_check_canary(t, b->stack);
            corio__stack_put(loop, b->stack); /* and the body at its top */
        } else {
            corio__slab_free(&loop->body_slab, b);
        }
    }
    if (loop->resident == t)
        loop->resident = NULL;
    if (t->flags & CORIO__TF_DETACHED)
        corio__task_free(loop, t);
}

/* ---- switching -----------------------------------------------------------*/

void corio__run_task(corio_loop *loop, corio_task *t)
{
    /* From the loop's own stack, a task that is queued (READY, just popped)
     * or new (eager spawn from a callback). */
    CORIO__ASSERT(loop->current == NULL);
    CORIO__ASSERT(t->state == CORIO_TASK_READY || t->state == CORIO_TASK_CREATED);
    if (!(t->flags & CORIO__TF_BODY) || loop->compact) {
        if (!(t->flags & CORIO__TF_BODY)) {
            int rc = task_prepare(loop, t);
            if (rc < 0) {
                /* No stack for it: it ends with the error, never running. */
                t->status = rc;
                t->flags |= CORIO__TF_FAILED;
                corio__task_finish(t, NULL);
                corio__task_release(loop, t);
                return;
            }
        } else {
            compact_load(loop, t);
        }
    }
    t->state = CORIO_TASK_RUNNING;
    t->flags |= CORIO__TF_STARTED;
    loop->current = t;
    corio__obs_switch(loop, NULL, t);
#ifdef CORIO__ASAN
    san_to_task(&loop->asan_fake, t);
    corio__ctx_switch(&loop->ctx, &t->b->ctx);
    san_arrived(loop->asan_fake);
#else
    san_to_task(NULL, t);
    corio__ctx_switch(&loop->ctx, &t->b->ctx);
#endif
    loop->current = NULL;
    if (loop->dead) {
        corio_task *d = loop->dead;
        loop->dead = NULL;
        corio__task_release(loop, d);
    }
}

/* The scheduler's one rule for who runs after the running task self
 * parks or yields: the next ready entry, taken off the queue, if self can
 * switch to it directly (a task with a stack, outside compact mode, while
 * the budget lasts); self itself if it is next; otherwise NULL, the loop,
 * which runs callbacks, starts new tasks and polls. */
static inline corio_task *pick_next(corio_loop *loop, corio_task *self)
{
    if (loop->in_dispatch && loop->budget > 0) {
        corio__list *n = loop->ready.next;
        if (n != &loop->ready &&
            ((corio__runnable *)n)->kind == CORIO__RUN_TASK) {
            corio_task *next = (corio_task *)n;
            if (next == self || ((next->flags & CORIO__TF_BODY) && !loop->compact)) {
                CORIO__ASSERT(next->state == CORIO_TASK_READY);
                corio__list_remove(n);
                loop->budget--;
                return next;
            }
        }
    }
    return NULL;
}

/* Switches from self to what pick_next chose; returns when self is
 * resumed. */
static inline __attribute__((always_inline)) void
switch_from(corio_loop *loop, corio_task *self, corio_task *next)
{
    if (next == self) {
        self->state = CORIO_TASK_RUNNING;
        return;
    }
    if (next) {
        next->state = CORIO_TASK_RUNNING;
        loop->current = next;
#ifdef CORIO__ASAN
        san_to_task(&self->b->asan_fake, next);
        corio__ctx_switch(&self->b->ctx, &next->b->ctx);
        san_arrived(self->b->asan_fake);
#else
        san_to_task(NULL, next);
        corio__ctx_switch(&self->b->ctx, &next->b->ctx);
#endif
        return;
    }
    loop->current = NULL;
#ifdef CORIO__ASAN
    san_to_loop(&self->b->asan_fake, loop);
    corio__ctx_switch(&self->b->ctx, &loop->ctx);
    san_arrived(self->b->asan_fake);
#else
    san_to_loop(NULL, loop);
    corio__ctx_switch(&self->b->ctx, &loop->ctx);
#endif
}

/* suspend() with the observer told first: the same decision (pick_next),
 * reported, then carried out. Out of line, so that the hot path below
 * needs no stack frame to survive a call (it ends in a tail call, or in
 * the switch itself). */
static CORIO__NOINLINE void suspend_observed(corio_loop *loop, corio_task *self)
{
    corio_task *next = pick_next(loop, self);
    loop->obs->on_switch(loop, self, next);
    switch_from(loop, self, next);
}

/* The running task self gives up the CPU (it parked, or yielded and is
 * queued); returns when it is resumed. Inlined into its callers (park's
 * fast path above all). */
static inline __attribute__((always_inline)) void
suspend(corio_loop *loop, corio_task *self)
{
    CORIO__ASSERT(self == loop->current);
    /* Parked, or yielded (and so queued): never still RUNNING. */
    CORIO__ASSERT(self->state == CORIO_TASK_SUSPENDED || self->state == CORIO_TASK_READY);
    if (CORIO__OBS_ON(loop, CORIO__EV_SWITCH)) {
        suspend_observed(loop, self);
        return;
    }
    switch_from(loop, self, pick_next(loop, self));
}

/* Eager spawn from a task: run the new task now; self resumes first after
 * it suspends (self goes to the front of the ready queue). */
int corio__run_eager(corio_loop *loop, corio_task *self, corio_task *t)
{
    int rc;
    CORIO__ASSERT(self == loop->current && self->state == CORIO_TASK_RUNNING);
    CORIO__ASSERT(t->state == CORIO_TASK_CREATED);
    if (loop->compact) {
        /* The shared stack holds self's live frames: t's first frame must
         * not be written there now (task_prepare would put it on top of
         * them, and save self with a stale stack pointer). Go through the
         * loop, which starts t off the shared stack once self is saved. */
        self->state = CORIO_TASK_READY;
        corio__list_push_front(&loop->ready, &self->run.node);
        corio__list_push_front(&loop->ready, &t->run.node);
        t->state = CORIO_TASK_READY;
        loop->budget += 2;
        suspend(loop, self);
        return 0;
    }
    rc = task_prepare(loop, t);
    if (rc < 0)
        return rc;
    self->state = CORIO_TASK_READY;
    corio__list_push_front(&loop->ready, &self->run.node);
    loop->budget++;
    t->state = CORIO_TASK_RUNNING;
    t->flags |= CORIO__TF_STARTED;
    loop->current = t;
    corio__obs_switch(loop, self, t);
#ifdef CORIO__ASAN
    san_to_task(&self->b->asan_fake, t);
    corio__ctx_switch(&self->b->ctx, &t->b->ctx);
    san_arrived(self->b->asan_fake);
#else
    san_to_task(NULL, t);
    corio__ctx_switch(&self->b->ctx, &t->b->ctx);
#endif
    return 0;
}

/* ---- the ready queue ---------------------------------------------------*/

void corio__ready(corio_loop *loop, corio_task *t)
{
    /* Parked (woken), new, or running (yielding); never queued twice. */
    CORIO__ASSERT(corio__task_loop(t) == loop);
    CORIO__ASSERT(t->state == CORIO_TASK_SUSPENDED || t->state == CORIO_TASK_CREATED ||
                  t->state == CORIO_TASK_RUNNING);
    CORIO__ASSERT_LOOP_THREAD(loop);
    t->state = CORIO_TASK_READY;
    corio__list_push_back(&loop->ready, &t->run.node);
}

void corio__dispatch(corio_loop *loop)
{
    CORIO__ASSERT(loop->current == NULL && !loop->in_dispatch);
    CORIO__ASSERT_LOOP_THREAD(loop);
    loop->budget = CORIO__BUDGET;
    loop->in_dispatch = true;
    while (loop->budget > 0) {
        corio__list *n = corio__list_pop_front(&loop->ready);
        corio__runnable *r;
        if (!n)
            break;
        loop->budget--;
        r = (corio__runnable *)n;
        CORIO__ASSERT(r->kind == CORIO__RUN_TASK || r->kind == CORIO__RUN_CALLBACK ||
                      r->kind == CORIO__RUN_THREADSAFE || r->kind == CORIO__RUN_EMBEDDED ||
                      r->kind == CORIO__RUN_HEAP_ARG);
        if (r->kind == CORIO__RUN_TASK) {
            corio__run_task(loop, (corio_task *)r);
        } else {
            corio__callback *c = (corio__callback *)r;
            corio_cb cb = c->cb;
            void *arg = c->arg;
            if (r->kind == CORIO__RUN_CALLBACK) {
                c->next_free = loop->free_cbs;
                loop->free_cbs = c;
            } else if (r->kind != CORIO__RUN_EMBEDDED) {
                free(c); /* came from another thread */
            }
            loop->in_dispatch = false;
            if (CORIO__OBS_ON(loop, CORIO__EV_CALLBACK))
                loop->obs->callback(loop, cb, arg);
            else
                cb(arg);
            loop->in_dispatch = true;
        }
    }
    loop->in_dispatch = false;
}

/* ---- parking and waking ------------------------------------------------------*/

/* Where scope s of task t is now. Scopes usually live on their task's
 * stack; in COMPACT mode a task that is not resident has its frames in
 * t->b->saved, so a scope pointer into the shared stack must be read there
 * (task_timer_cb walks a parked task's scopes from the loop; reading them
 * at their addresses read, and wrote, another task's frames). */
static corio_scope *scope_at(const corio_task *t, corio_scope *s)
{
    const corio_loop *loop = corio__task_loop(t);
    char *top, *lo;
    if (!s || !loop->compact || loop->resident == t)
        return s;
    top = loop->shared_lo + loop->shared_size;
    lo = top - t->b->saved_len;
    if ((char *)s < lo || (char *)s >= top)
        return s; /* a scope on the heap or in static storage */
    return (corio_scope *)((char *)t->b->saved + ((char *)s - lo));
}

/* The interruption of t's current wait. The task's own cancellation wins
 * (unless a shield hides it); otherwise the outermost visible scope that
 * expired or was cancelled by hand (corio_scope_cancel) is the one that
 * interrupts, as in Trio, and is marked as having caught it
 * (corio_scope_cancelled_caught): -ECANCELED for a hand-cancelled scope,
 * -ETIMEDOUT for a deadline. */
int corio__interrupted(corio_task *t)
{
    corio_scope *s, *hit = NULL;
    if (CORIO__LIKELY(!t->b->scopes))
        return (t->flags & CORIO__TF_CANCEL) ? -ECANCELED : 0;
    for (s = scope_at(t, t->b->scopes); s; s = scope_at(t, s->corio__outer)) {
        if (!s->corio__expired && s->corio__deadline <= corio__task_loop(t)->now_ns)
            s->corio__expired = 1;
        if (s->corio__expired || (s->corio__flags & CORIO__SCOPE_CANCELLED))
            hit = s;
        if (s->corio__flags & CORIO_SCOPE_SHIELD)
            goto scopes_only;
    }
    if (t->flags & CORIO__TF_CANCEL)
        return -ECANCELED;
scopes_only:
    if (!hit)
        return 0;
    hit->corio__flags |= CORIO__SCOPE_CAUGHT;
    return (hit->corio__flags & CORIO__SCOPE_CANCELLED) ? -ECANCELED
                                                       : -ETIMEDOUT;
}

/* The nearest deadline the running wait must honour: its own sleep deadline
 * and the deadlines of the scopes visible from it (up to a shield). */
static int64_t wait_deadline(const corio_task *t)
{
    int64_t dl = t->b->sleep_deadline;
    const corio_scope *s;
    for (s = scope_at(t, t->b->scopes); s; s = scope_at(t, s->corio__outer)) {
        if (s->corio__deadline < dl)
            dl = s->corio__deadline;
        if (s->corio__flags & CORIO_SCOPE_SHIELD)
            break;
    }
    return dl;
}

/* A parked task's deadline timer fired. What it means is decided here, at
 * fire time, not when the task runs: a timeout must unregister the task
 * from what it waits on (corio__wake does, and calls wait_cancel) before
 * anyone can hand it something it would then never see. If no deadline is
 * due after all (the task's scope deadline was moved later), the timer is
 * re-armed and the task keeps waiting, still linked where it waits. */
static void task_timer_cb(void *arg)
{
    corio_task *t = arg;
    corio_loop *loop = corio__task_loop(t);
    int rc;
    int64_t dl;
    if (t->state != CORIO_TASK_SUSPENDED || t->b->wake != CORIO__WAKE_NONE)
        return;
    CORIO__ASSERT(t != loop->current);
    rc = corio__interrupted(t);
    if (rc) {
        corio__wake(t, rc);
        return;
    }
    if (t->b->sleep_deadline <= loop->now_ns) {
        corio__wake(t, CORIO__WAKE_OK);
        return;
    }
    dl = t->b->scopes ? wait_deadline(t) : t->b->sleep_deadline;
    if (dl != CORIO__NEVER)
        corio__timer_arm(loop, &t->b->timer, dl, CORIO__TIMER_TASK, task_timer_cb, t);
}

/* A deadline of parked task t's scopes was moved by someone else (another
 * task or a callback: corio_scope_set_deadline). Re-arms t's timer for the
 * new nearest deadline, so an earlier one takes effect at once, as
 * asyncio's Timeout.reschedule() does; one already passed wakes t now. A
 * task that is not parked needs nothing: its next park computes the
 * deadline afresh. */
void corio__task_deadline_moved(corio_task *t)
{
    int64_t dl;
    if (t->state != CORIO_TASK_SUSPENDED || t->b->wake != CORIO__WAKE_NONE)
        return;
    dl = wait_deadline(t);
    if (dl == CORIO__NEVER) {
        if (t->b->timer.corio__slot != CORIO__TIMER_IDLE)
            corio__timer_disarm(&t->b->timer);
        return;
    }
    if (dl <= corio__clock_ns()) {
        task_timer_cb(t); /* decides as if its timer fired now */
        return;
    }
    corio__timer_arm(corio__task_loop(t), &t->b->timer, dl, CORIO__TIMER_TASK,
                     task_timer_cb, t);
}

/* The general park: scopes, a deadline, a pending interruption, a sleep. */
static CORIO__NOINLINE int park_slow(corio_task *t, const corio__waitable *w,
                                     void *obj)
{
    corio_loop *loop = corio__task_loop(t);
    int rc;
    int64_t dl;

    rc = corio__interrupted(t);
    if (CORIO__UNLIKELY(rc)) {
        if (corio__list_linked(&t->b->wait))
            corio__list_remove(&t->b->wait);
        t->b->wait_cancel = NULL;
        return rc;
    }
    corio__obs_parked(loop, t);
    dl = t->b->scopes ? wait_deadline(t) : t->b->sleep_deadline;
    if (dl != CORIO__NEVER)
        corio__timer_arm(loop, &t->b->timer, dl, CORIO__TIMER_TASK, task_timer_cb, t);
    t->b->wake = CORIO__WAKE_NONE;
    t->state = CORIO_TASK_SUSPENDED;
    t->b->wait_type = w;
    t->b->wait_obj = obj;
    suspend(loop, t);
    if (t->b->timer.corio__slot != CORIO__TIMER_IDLE)
        corio__timer_disarm(&t->b->timer);
    rc = t->b->wake;
    /* A sleep hands nothing over, so a cancellation (or deadline) that
     * arrived between its wake-up and now may still win, as in asyncio,
     * where a cancel requested before a task resumes is raised at the await
     * it resumes from. Waits that transfer something (a lock, an item) keep
     * their status: the waiter owns what it was handed. */
    if (rc == 0 && w == &corio__wait_sleep)
        rc = corio__interrupted(t);
    if (corio__list_linked(&t->b->wait))
        corio__list_remove(&t->b->wait);
    t->b->wait_cancel = NULL;
    return rc;
}

/* wait_type and wait_obj are read only while the task is SUSPENDED (dumps,
 * src/debug), so they are set here and never cleared. */
int corio__park(corio_task *t, const corio__waitable *w, void *obj)
{
    corio_loop *loop = corio__task_loop(t);
    corio__task_body *b = t->b; /* a body stays put while its task lives */
    /* Only the running task parks itself, on something of a known type. */
    CORIO__ASSERT(t == loop->current && t->state == CORIO_TASK_RUNNING);
    CORIO__ASSERT(w != NULL);
    /* The common wait: no scope, no deadline, not cancelled, not a sleep
     * (which re-checks for interruption when it resumes). It arms no timer,
     * so there is none to disarm; corio__wake, the only way back, has
     * already unlinked b->wait. */
    if (CORIO__UNLIKELY(b->scopes || (t->flags & CORIO__TF_CANCEL) ||
                        b->sleep_deadline != CORIO__NEVER ||
                        w == &corio__wait_sleep))
        return park_slow(t, w, obj);
    corio__obs_parked(loop, t);
    b->wake = CORIO__WAKE_NONE;
    t->state = CORIO_TASK_SUSPENDED;
    b->wait_type = w;
    b->wait_obj = obj;
    suspend(loop, t);
    b->wait_cancel = NULL;
    return b->wake;
}

int corio__wake(corio_task *t, int status)
{
    corio__task_body *b;
    CORIO__ASSERT(status <= 0); /* 0 or a negative error, never WAKE_NONE */
    CORIO__ASSERT_LOOP_THREAD(corio__task_loop(t));
    if (t->state != CORIO_TASK_SUSPENDED)
        return 0;
    b = t->b; /* a suspended task has its body */
    if (b->wake != CORIO__WAKE_NONE)
        return 0;
    b->wake = status;
    if (corio__list_linked(&b->wait))
        corio__list_remove(&b->wait);
    if (status != CORIO__WAKE_OK && b->wait_cancel) {
        void (*fn)(corio_task *) = b->wait_cancel;
        b->wait_cancel = NULL;
        fn(t);
    }
    corio__ready(corio__task_loop(t), t);
    return 1;
}

/* ---- public: yield, current ----------------------------------------------*/

int corio_yield(void)
{
    corio_loop *loop = corio__tls_loop;
    corio_task *t = loop ? loop->current : NULL;
    int rc;
    if (!t)
        return -EPERM;
    rc = corio__interrupted(t);
    if (rc)
        return rc;
    corio__ready(loop, t);
    suspend(loop, t);
    return corio__interrupted(t);
}

corio_task *corio_current(void)
{
    corio_loop *loop = corio__tls_loop;
    return loop ? loop->current : NULL;
}

void corio__sched_thread_init(corio_loop *loop)
{
#ifdef CORIO__TSAN
    loop->tsan_fiber = __tsan_get_current_fiber();
#endif
#ifdef CORIO__ASAN
    {
        pthread_attr_t a;
        void *lo;
        size_t sz;
        if (pthread_getattr_np(pthread_self(), &a) == 0) {
            pthread_attr_getstack(&a, &lo, &sz);
            loop->asan_stack_lo = lo;
            loop->asan_stack_size = sz;
            pthread_attr_destroy(&a);
        }
    }
#endif
    (void)loop;
}
