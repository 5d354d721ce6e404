/*
 * Task cancellation in every state a task can be in, level-triggered
 * cancellation (every later suspending call fails too), cancellation
 * racing a wake-up, propagation down an await chain, and shield scopes.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *return_arg(void *arg) { return arg; }

/* ---- cancellation in every state --------------------------------------------
 * One victim task, parked in a different way per case; the main task cancels
 * it and checks what the interrupted call returned, and that every later
 * suspending call of the victim also returns -ECANCELED (level-triggered). */

enum victim_wait {
    V_NEVER_RAN, V_SLEEP, V_SLEEP_UNTIL, V_FUTURE, V_AWAIT, V_YIELD, V_SELF,
    V_DONE
};

struct victim {
    enum victim_wait kind;
    int started;
    int rc;                 /* what the interrupted call returned */
    int later[8];           /* later suspending calls */
    int cancelled;          /* corio_cancelled() at the end */
    int self_cancel[2];     /* V_SELF: the two corio_cancel(self) results */
    int state_after_self;   /* V_SELF: its state right after */
    double waited;          /* how long the interrupted call took */
    corio_future *f;        /* V_FUTURE */
    corio_task *child;      /* V_AWAIT */
    int child_rc;           /* V_AWAIT: what the awaited child's sleep saw */
    int child_done;
    int sleeper_rc;         /* what the pending task's sleep saw */
};

static void *victim_child(void *arg)
{
    struct victim *v = arg;
    v->child_rc = corio_sleep(10);
    v->child_done = 1;
    return NULL;
}

static void *long_sleeper(void *arg)
{
    int *rc = arg;
    *rc = corio_sleep(10);
    return NULL;
}

static void *victim_fn(void *arg)
{
    struct victim *v = arg;
    corio_future *done_f, *pending_f;
    corio_task *done_t, *pending_t;
    double t0 = corio_now();

    v->started = 1;
    /* Made before the wait so the checks below cannot fail for lack of a
     * loop; done_t finishes while we wait. */
    assert_int_equal(corio_future_create(NULL, &done_f), 0);
    assert_int_equal(corio_future_create(NULL, &pending_f), 0);
    assert_int_equal(corio_future_set_result(done_f, (void *)1), 0);
    done_t = corio_spawn(return_arg, NULL);
    v->sleeper_rc = 1;
    pending_t = corio_spawn(long_sleeper, &v->sleeper_rc);
    assert_int_equal(corio_yield(), 0); /* done_t ends, pending_t sleeps */
    switch (v->kind) {
    case V_SLEEP:
        v->rc = corio_sleep(10);
        break;
    case V_SLEEP_UNTIL:
        v->rc = corio_sleep_until(corio_now() + 10);
        break;
    case V_FUTURE:
        v->rc = corio_future_await(v->f, NULL);
        break;
    case V_AWAIT:
        v->child = corio_spawn(victim_child, v);
        v->rc = corio_await(v->child, NULL);
        break;
    case V_YIELD:
        while ((v->rc = corio_yield()) == 0 && corio_now() - t0 < 10)
            ;
        break;
    case V_SELF:
        v->self_cancel[0] = corio_cancel(corio_current());
        v->self_cancel[1] = corio_cancel(corio_current());
        v->state_after_self = corio_task_state(corio_current());
        v->rc = corio_sleep(10);
        break;
    default:
        fail_msg("bad case");
    }
    v->waited = corio_now() - t0;
    assert_int_equal(corio_task_state(done_t), CORIO_TASK_DONE);
    v->later[0] = corio_sleep(0.001);
    v->later[1] = corio_sleep(0);
    v->later[2] = corio_yield();
    v->later[3] = corio_future_await(done_f, NULL);
    v->later[4] = corio_future_await(pending_f, NULL);
    v->later[5] = corio_await(done_t, NULL);    /* consumes done_t */
    v->later[6] = corio_await(pending_t, NULL); /* cancels + detaches it */
    v->later[7] = corio_sleep_until(corio_now() + 1);
    v->cancelled = corio_cancelled();
    corio_future_destroy(done_f);
    corio_future_destroy(pending_f);
    /* pending_t was cancelled by our interrupted await: let it finish. */
    {
        corio_scope sh;
        corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
        while (v->sleeper_rc == 1 && corio_now() - t0 < 5)
            assert_int_equal(corio_yield(), 0);
        corio_scope_exit(&sh);
    }
    assert_int_equal(v->sleeper_rc, -ECANCELED);
    return (void *)99;
}

static void *cancel_case_main(void *arg)
{
    struct victim *v = arg;
    corio_task *t;
    corio_future *f = NULL;
    double t0;
    int i;

    if (v->kind == V_FUTURE) {
        assert_int_equal(corio_future_create(NULL, &f), 0);
        v->f = f;
    }
    t = corio_spawn(victim_fn, v);
    assert_non_null(t);
    switch (v->kind) {
    case V_NEVER_RAN:
        assert_int_equal(corio_task_state(t), CORIO_TASK_CREATED);
        assert_int_equal(corio_cancel(t), 1);
        /* It is finished at once, without ever running. */
        assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
        assert_int_equal(corio_cancel(t), 0);
        assert_int_equal(corio_yield(), 0);
        assert_int_equal(v->started, 0);
        assert_int_equal(corio_await(t, NULL), -ECANCELED);
        return NULL;
    case V_DONE:
        corio_cancel(t); /* the victim itself is not needed here */
        assert_int_equal(corio_await(t, NULL), -ECANCELED);
        {
            void *r = NULL;
            corio_task *d = corio_spawn(return_arg, (void *)5);
            assert_int_equal(corio_yield(), 0);
            assert_int_equal(corio_task_state(d), CORIO_TASK_DONE);
            assert_int_equal(corio_cancel(d), 0); /* a no-op ... */
            assert_int_equal(corio_cancel(d), 0);
            assert_int_equal(corio_await(d, &r), 0); /* ... status kept */
            assert_ptr_equal(r, (void *)5);
        }
        return NULL;
    case V_SELF:
        break;
    default:
        /* Let it start and park. */
        assert_int_equal(corio_sleep(0.002), 0);
        assert_int_equal(v->started, 1);
        if (v->kind == V_YIELD)
            assert_int_equal(corio_task_state(t), CORIO_TASK_READY);
        else
            assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
        t0 = corio_now();
        assert_int_equal(corio_cancel(t), 1);
        assert_int_equal(corio_cancel(t), 0); /* already requested */
        break;
    }
    t0 = corio_now();
    {
        void *r = NULL;
        assert_int_equal(corio_await(t, &r), -ECANCELED);
    }
    /* The interrupted call returned promptly, not after its 10 s (5 s of
     * room: qemu-user beside another suite on a loaded machine can stall
     * for a second; an uncancelled sleep takes 10). */
    assert_true(corio_now() - t0 < 5.0);
    assert_true(v->waited < 5.0);
    assert_int_equal(v->rc, -ECANCELED);
    for (i = 0; i < 8; i++) {
        if (v->later[i] != -ECANCELED)
            fail_msg("later call %d returned %d, want -ECANCELED", i, v->later[i]);
    }
    assert_int_equal(v->cancelled, -ECANCELED);
    if (v->kind == V_SELF) {
        assert_int_equal(v->self_cancel[0], 1);
        assert_int_equal(v->self_cancel[1], 0);
        assert_int_equal(v->state_after_self, CORIO_TASK_RUNNING);
    }
    if (v->kind == V_AWAIT) {
        /* Awaiting consumed the child: interrupted, it was cancelled and
         * handed to the loop, which freed it when it ended. */
        assert_int_equal(corio_sleep(0.002), 0);
        assert_int_equal(v->child_done, 1);
        assert_int_equal(v->child_rc, -ECANCELED);
    }
    if (f) {
        /* Cancelling the waiter does not cancel the future. */
        assert_int_equal(corio_future_done(f), 0);
        corio_future_destroy(f);
    }
    assert_int_equal(corio_task_count(NULL), 1);
    return NULL;
}

#define CANCEL_CASE(name, which)                                         \
    static void name(void **state)                                       \
    {                                                                    \
        struct victim v;                                                 \
        (void)state;                                                     \
        memset(&v, 0, sizeof v);                                         \
        v.kind = which;                                                  \
        assert_int_equal(tu_run(cancel_case_main, &v, NULL), 0);         \
    }

CANCEL_CASE(cancel_never_ran_finishes_without_running, V_NEVER_RAN)
CANCEL_CASE(cancel_in_sleep, V_SLEEP)
CANCEL_CASE(cancel_in_sleep_until, V_SLEEP_UNTIL)
CANCEL_CASE(cancel_in_future_await, V_FUTURE)
CANCEL_CASE(cancel_in_await_cancels_the_awaited_task, V_AWAIT)
CANCEL_CASE(cancel_ready_task_in_yield, V_YIELD)
CANCEL_CASE(cancel_self_seen_at_next_suspension, V_SELF)
CANCEL_CASE(cancel_done_task_is_a_noop, V_DONE)

/* A task woken with success and cancelled before it ran again keeps its
 * wake-up (it owns what it was given); the cancellation shows at its next
 * suspension. */
struct woken {
    corio_future *f;
    int rc1, rc2;
    void *v;
};

static void *woken_fn(void *arg)
{
    struct woken *w = arg;
    w->rc1 = corio_future_await(w->f, &w->v);
    w->rc2 = corio_yield();
    return NULL;
}

TU_TASK_TEST(cancel_after_wakeup_keeps_the_wakeup)
{
    static struct woken w;
    corio_task *t;
    memset(&w, 0, sizeof w);
    assert_int_equal(corio_future_create(NULL, &w.f), 0);
    t = corio_spawn(woken_fn, &w);
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    assert_int_equal(corio_future_set_result(w.f, (void *)8), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_READY);
    assert_int_equal(corio_cancel(t), 1);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(w.rc1, 0);
    assert_ptr_equal(w.v, (void *)8);
    assert_int_equal(w.rc2, -ECANCELED);
    corio_future_destroy(w.f);
    return NULL;
}

/* Cancellation travels down a chain of awaits: A awaits B awaits C. */
static int chain_rc[3];
static void *chain_fn(void *arg)
{
    int depth = (int)(intptr_t)arg;
    if (depth == 2)
        chain_rc[2] = corio_sleep(10);
    else
        chain_rc[depth] = corio_await(corio_spawn(chain_fn, (void *)(intptr_t)(depth + 1)),
                                      NULL);
    return NULL;
}

TU_TASK_TEST(cancel_propagates_down_an_await_chain)
{
    corio_task *a = corio_spawn(chain_fn, (void *)0);
    double t0 = corio_now();
    memset(chain_rc, 0, sizeof chain_rc);
    assert_int_equal(corio_sleep(0.005), 0);
    assert_int_equal(corio_task_count(NULL), 4);
    corio_cancel(a);
    assert_int_equal(corio_await(a, NULL), -ECANCELED);
    /* B and C were detached when their awaiters were interrupted; they end
     * within a few loop iterations. */
    while (corio_task_count(NULL) > 1 && corio_now() - t0 < 5)
        assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_task_count(NULL), 1);
    assert_int_equal(chain_rc[0], -ECANCELED);
    assert_int_equal(chain_rc[1], -ECANCELED);
    assert_int_equal(chain_rc[2], -ECANCELED);
    assert_true(corio_now() - t0 < 5.0); /* uncancelled: C sleeps 10 s */
    return NULL;
}

/* ---- shields ------------------------------------------------------------------*/

struct shielded {
    int in_shield[4];
    int after;
    int cancelled_inside;
    double slept;
};

static void *shielded_fn(void *arg)
{
    struct shielded *s = arg;
    corio_scope sc;
    double t0;
    assert_int_equal(corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD), 0);
    t0 = corio_now();
    /* Cancelled while suspended here: not woken, sleeps its full time. */
    s->in_shield[0] = corio_sleep(0.03);
    s->slept = corio_now() - t0;
    s->in_shield[1] = corio_yield();
    s->in_shield[2] = corio_sleep(0);
    s->cancelled_inside = corio_cancelled(); /* ignores shields */
    {
        /* A nested non-shield scope inside the shield does not undo it. */
        corio_scope inner;
        corio_scope_enter(&inner, 5, 0);
        s->in_shield[3] = corio_sleep(0.001);
        assert_int_equal(corio_scope_exit(&inner), 0);
    }
    assert_int_equal(corio_scope_exit(&sc), 0);
    s->after = corio_sleep(0.001);
    return NULL;
}

TU_TASK_TEST(shield_scope_hides_cancellation_until_it_exits)
{
    static struct shielded s;
    corio_task *t;
    memset(&s, 0xff, sizeof s);
    t = corio_spawn(shielded_fn, &s);
    /* Yield, not sleep: on a loaded machine a 5 ms sleep can wake after
     * the child's 30 ms sleep has expired too, leaving the child READY.
     * One yield runs the child into its shielded sleep. */
    for (int i = 0; i < 10 && corio_task_state(t) != CORIO_TASK_SUSPENDED; i++)
        assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    assert_int_equal(corio_cancel(t), 1);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(s.in_shield[0], 0);
    assert_true(s.slept >= 0.03);
    assert_int_equal(s.in_shield[1], 0);
    assert_int_equal(s.in_shield[2], 0);
    assert_int_equal(s.in_shield[3], 0);
    assert_int_equal(s.cancelled_inside, -ECANCELED);
    assert_int_equal(s.after, -ECANCELED);
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cancel_never_ran_finishes_without_running),
        cmocka_unit_test(cancel_in_sleep),
        cmocka_unit_test(cancel_in_sleep_until),
        cmocka_unit_test(cancel_in_future_await),
        cmocka_unit_test(cancel_in_await_cancels_the_awaited_task),
        cmocka_unit_test(cancel_ready_task_in_yield),
        cmocka_unit_test(cancel_self_seen_at_next_suspension),
        cmocka_unit_test(cancel_done_task_is_a_noop),
        cmocka_unit_test(cancel_after_wakeup_keeps_the_wakeup),
        cmocka_unit_test(cancel_propagates_down_an_await_chain),
        cmocka_unit_test(shield_scope_hides_cancellation_until_it_exits),
    };
    return tu_run_both_modes(tests);
}
