/*
 * Futures: a one-shot result slot with waiters and done-callbacks.
 *
 * Waiting tasks link their own embedded wait node into f->waiters (no
 * allocation per wait). Done-callbacks are kept in registration order and
 * scheduled with call_soon when the future completes, as asyncio does, so a
 * callback never runs inside set_result().
 */
#include "core/internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

void corio__future_init(corio_future *f, corio_loop *loop, int embedded)
{
    f->loop = loop;
    corio__list_init(&f->waiters);
    f->callbacks = NULL;
    f->value = NULL;
    f->status = 0;
    f->state = CORIO__FUT_PENDING;
    f->embedded = (uint8_t)embedded;
    atomic_init(&f->ts_claimed, 0);
}

int corio_future_create(corio_loop *loop, corio_future **fp)
{
    corio_future *f;
    loop = corio__loop_or_current(loop);
    *fp = NULL;
    if (!loop)
        return -EPERM;
    f = malloc(sizeof *f);
    if (!f)
        return -ENOMEM;
    corio__future_init(f, loop, 0);
    *fp = f;
    return 0;
}

static void run_fcb(void *arg)
{
    corio__fcb *c = arg;
    c->cb(c->fut, c->arg);
    free(c);
}

void corio__future_drop_callbacks(corio_future *f)
{
    corio__fcb *c = f->callbacks, *next;
    for (; c; c = next) {
        next = c->next;
        free(c);
    }
    f->callbacks = NULL;
}

void corio_future_destroy(corio_future *f)
{
    corio__list *n;
    if (!f || f->embedded)
        return;
    /* Destroying a future that tasks still wait on is a bug in the caller;
     * wake them as if it had been cancelled rather than leave them hanging
     * on freed memory. */
    while ((n = corio__list_pop_front(&f->waiters)))
        corio__wake(corio__container_of(n, corio__task_body, wait)->task, -ECANCELED);
    corio__future_drop_callbacks(f);
    free(f);
}

int corio__future_complete(corio_future *f, int status, void *value)
{
    corio__list *n;
    corio__fcb *c, *next;
    if (f->state == CORIO__FUT_DONE)
        return -EALREADY;
    f->state = CORIO__FUT_DONE;
    f->status = status;
    f->value = value;
    while ((n = corio__list_pop_front(&f->waiters)))
        corio__wake(corio__container_of(n, corio__task_body, wait)->task, CORIO__WAKE_OK);
    c = f->callbacks;
    f->callbacks = NULL;
    for (; c; c = next) {
        next = c->next;
        if (corio__callback_queue(f->loop, run_fcb, c, 0) < 0)
            free(c); /* out of memory: the callback is lost, not leaked */
    }
    return 0;
}

/* Debug builds: the public completions are for the loop's thread (the
 * _threadsafe variants are for others). Not in corio__future_complete:
 * every task's end goes through that. */
#define FUT_THREAD_CHECK(f, fn) CORIO__CHECK_LOOP_THREAD((f)->loop)

int corio_future_set_result(corio_future *f, void *value)
{
    FUT_THREAD_CHECK(f, "corio_future_set_result");
    return corio__future_complete(f, 0, value);
}

int corio_future_set_error(corio_future *f, int err)
{
    if (err >= 0)
        return -EINVAL;
    FUT_THREAD_CHECK(f, "corio_future_set_error");
    return corio__future_complete(f, err, NULL);
}

int corio_future_cancel(corio_future *f)
{
    FUT_THREAD_CHECK(f, "corio_future_cancel");
    return corio__future_complete(f, -ECANCELED, NULL) == 0;
}

int corio_future_done(const corio_future *f)
{
    return f->state == CORIO__FUT_DONE;
}

int corio_future_result(const corio_future *f, void **value)
{
    if (f->state != CORIO__FUT_DONE) {
        if (value)
            *value = NULL;
        return -EAGAIN;
    }
    if (value)
        *value = f->value;
    return f->status;
}

/* A future's state; a task's own future names the task, which must end
 * for the wait to end. */
static void describe_future(const corio_task *waiter, const void *obj,
                            char *buf, size_t len, corio_task **owner)
{
    const corio_future *f = obj;
    size_t nw = 0;
    const corio__list *p;
    (void)waiter;
    if (f->embedded) {
        corio_task *t = corio__future_task(f);
        char nb[32];
        *owner = t;
        snprintf(buf, len, "future of task #%llu '%s' (%s)",
                 (unsigned long long)t->id, corio__task_label(t, nb, sizeof nb),
                 corio__task_state_name(t));
        return;
    }
    for (p = f->waiters.next; p != &f->waiters; p = p->next)
        nw++;
    snprintf(buf, len, "future %p (%s, %zu waiter%s%s)", obj,
             f->state == CORIO__FUT_DONE ? "done" : "pending", nw,
             nw == 1 ? "" : "s",
             atomic_load_explicit(&((corio_future *)f)->ts_claimed,
                                  memory_order_relaxed)
                 ? ", completion from another thread on its way"
                 : "");
}

const corio__waitable corio__wait_future = {"future", CORIO_WAIT_FUTURE,
                                            describe_future};

int corio_future_await(corio_future *f, void **value)
{
    corio_loop *loop = corio__tls_loop;
    corio_task *self = loop ? loop->current : NULL;
    int rc;
    if (value)
        *value = NULL;
    if (!self)
        return -EPERM;
    if (f->state != CORIO__FUT_DONE) {
        corio__list_push_back(&f->waiters, &self->b->wait);
        rc = corio__park(self, &corio__wait_future, f);
        /* Interrupted: report it without touching f, which may be gone
         * (corio_future_destroy wakes its waiters with -ECANCELED before
         * freeing it). If f completed after we were interrupted, its
         * result stays in f: nothing is lost. */
        if (rc < 0)
            return rc;
    } else {
        /* Already done: still a suspension point for cancellation. */
        rc = corio__interrupted(self);
        if (rc)
            return rc;
    }
    return corio_future_result(f, value);
}

int corio_future_wait_for(corio_future *f, double timeout, void **value)
{
    corio_scope s;
    int rc, expired;
    /* Done already: the result, whatever the timeout (asyncio's wait_for
     * returns a done future's result even with timeout 0). Still a
     * suspension point: a cancelled caller gets -ECANCELED. */
    if (f->state == CORIO__FUT_DONE)
        return corio_future_await(f, value);
    rc = corio_scope_enter(&s, timeout, 0);
    if (rc < 0)
        return rc;
    rc = corio_future_await(f, value);
    expired = corio_scope_exit(&s);
    if (rc == -ETIMEDOUT && expired == 1 && f->state != CORIO__FUT_DONE)
        corio_future_cancel(f);
    return rc;
}

int corio_future_add_done_callback(corio_future *f, corio_future_cb cb,
                                   void *arg)
{
    corio__fcb *c = malloc(sizeof *c), **pp;
    if (!c)
        return -ENOMEM;
    c->cb = cb;
    c->arg = arg;
    c->fut = f;
    c->next = NULL;
    if (f->state == CORIO__FUT_DONE) {
        if (corio__callback_queue(f->loop, run_fcb, c, 0) < 0) {
            free(c);
            return -ENOMEM;
        }
        return 0;
    }
    for (pp = &f->callbacks; *pp; pp = &(*pp)->next)
        ;
    *pp = c;
    return 0;
}

int corio_future_remove_done_callback(corio_future *f, corio_future_cb cb,
                                      void *arg)
{
    corio__fcb **pp = &f->callbacks;
    int n = 0;
    while (*pp) {
        corio__fcb *c = *pp;
        if (c->cb == cb && c->arg == arg) {
            *pp = c->next;
            free(c);
            n++;
        } else {
            pp = &c->next;
        }
    }
    return n;
}

/* ---- completion from other threads -----------------------------------------*/

typedef struct ts_msg {
    corio_future *f;
    int status;
    void *value;
} ts_msg;

static void ts_complete(void *arg)
{
    ts_msg *m = arg;
    corio__future_complete(m->f, m->status, m->value);
    free(m);
}

static int set_threadsafe(corio_future *f, int status, void *value)
{
    ts_msg *m;
    int rc;
    if (atomic_exchange(&f->ts_claimed, 1))
        return -EALREADY;
    m = malloc(sizeof *m);
    if (!m) {
        atomic_store(&f->ts_claimed, 0);
        return -ENOMEM;
    }
    m->f = f;
    m->status = status;
    m->value = value;
    rc = corio_call_soon_threadsafe(f->loop, ts_complete, m);
    if (rc < 0) {
        free(m);
        atomic_store(&f->ts_claimed, 0);
    }
    return rc;
}

int corio_future_set_result_threadsafe(corio_future *f, void *value)
{
    return set_threadsafe(f, 0, value);
}

int corio_future_set_error_threadsafe(corio_future *f, int err)
{
    if (err >= 0)
        return -EINVAL;
    return set_threadsafe(f, err, NULL);
}
