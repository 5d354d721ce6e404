/*
 * Regression tests for core bugs found after the suites were written. Each
 * case names the bug it pins down.
 */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* Bug: a scope deadline moved later while its task waited on a future made
 * the deadline timer wake the task, unlink it from the future's waiters, and
 * re-park it unlinked: the future's completion then never woke it. */
typedef struct {
    corio_future *f;
    corio_scope *scope; /* the waiter's scope, published for the mover */
    int rc;
    void *value;
} moved_ctx;

static void *moved_waiter(void *arg)
{
    moved_ctx *c = arg;
    corio_scope s;
    assert_int_equal(corio_scope_enter(&s, 0.05, 0), 0);
    c->scope = &s;
    c->rc = corio_future_await(c->f, &c->value);
    c->scope = NULL;
    assert_int_equal(corio_scope_exit(&s), 0);
    return NULL;
}

static void *moved_main(void *arg)
{
    moved_ctx c = {0};
    corio_task *w;
    (void)arg;
    assert_int_equal(corio_future_create(NULL, &c.f), 0);
    w = corio_spawn(moved_waiter, &c);
    assert_int_equal(corio_sleep(0.02), 0);
    assert_non_null(c.scope);
    corio_scope_set_deadline(c.scope, corio_now() + 5.0); /* later */
    assert_int_equal(corio_sleep(0.08), 0); /* past the old deadline */
    assert_int_equal(corio_future_set_result(c.f, (void *)(intptr_t)42), 0);
    assert_int_equal(corio_await(w, NULL), 0);
    assert_int_equal(c.rc, 0);
    assert_ptr_equal(c.value, (void *)(intptr_t)42);
    corio_future_destroy(c.f);
    return NULL;
}

static void scope_deadline_moved_later_keeps_the_wait(void **state)
{
    (void)state;
    assert_int_equal(tu_run(moved_main, NULL, NULL), 0);
}

/* The same with the deadline moved later and then reached: the waiter must
 * time out at the NEW deadline, not the old one, and not hang. */
static void *moved_waiter_expecting_timeout(void *arg);

static void *moved_then_expired_main(void *arg)
{
    moved_ctx c = {0};
    corio_task *w;
    double t0 = corio_now();
    (void)arg;
    assert_int_equal(corio_future_create(NULL, &c.f), 0);
    w = corio_spawn(moved_waiter_expecting_timeout, &c);
    assert_int_equal(corio_sleep(0.02), 0);
    corio_scope_set_deadline(c.scope, corio_now() + 0.1);
    assert_int_equal(corio_await(w, NULL), 0);
    assert_int_equal(c.rc, -ETIMEDOUT);
    assert_true(corio_now() - t0 >= 0.115);
    corio_future_destroy(c.f);
    return NULL;
}

static void *moved_waiter_expecting_timeout(void *arg)
{
    moved_ctx *c = arg;
    corio_scope s;
    assert_int_equal(corio_scope_enter(&s, 0.05, 0), 0);
    c->scope = &s;
    c->rc = corio_future_await(c->f, &c->value);
    c->scope = NULL;
    assert_int_equal(corio_scope_exit(&s), 1);
    return NULL;
}

static void scope_deadline_moved_later_then_reached(void **state)
{
    (void)state;
    assert_int_equal(tu_run(moved_then_expired_main, NULL, NULL), 0);
}

/* Decision: a scope's timeout is sticky (as in Trio). Moving the deadline
 * of an expired scope later does not un-expire it. */
static void *sticky_main(void *arg)
{
    corio_scope s;
    (void)arg;
    assert_int_equal(corio_scope_enter(&s, 0, 0), 0); /* expired at once */
    corio_scope_set_deadline(&s, corio_now() + 10);
    assert_int_equal(corio_scope_expired(&s), 1);
    assert_int_equal(corio_yield(), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&s), 1);
    return NULL;
}

static void expired_scope_stays_expired(void **state)
{
    (void)state;
    assert_int_equal(tu_run(sticky_main, NULL, NULL), 0);
}

/* Bug: corio_loop_create inside a running task made the new loop current,
 * stranding the task (corio_current() NULL, suspending calls -EPERM). */
static void *nested_create_main(void *arg)
{
    corio_loop *other;
    corio_task *self = corio_current();
    (void)arg;
    assert_int_equal(corio_loop_create(&other, NULL), 0);
    assert_ptr_equal(corio_current(), self);
    assert_int_equal(corio_sleep(0.001), 0);
    assert_int_equal(corio_loop_close(other), 0);
    assert_ptr_equal(corio_current(), self);
    return NULL;
}

static void loop_create_in_a_task_keeps_the_running_loop(void **state)
{
    (void)state;
    assert_int_equal(tu_run(nested_create_main, NULL, NULL), 0);
}

/* corio_timer_init makes an idle timer that stop() and active() accept. */
static int fired;
static void count_cb(void *arg)
{
    (void)arg;
    fired++;
}

static void *timer_init_main(void *arg)
{
    corio_timer t;
    (void)arg;
    memset(&t, 0xA5, sizeof t); /* garbage, as uninitialised storage is */
    corio_timer_init(&t);
    assert_int_equal(corio_timer_active(&t), 0);
    assert_int_equal(corio_timer_stop(&t), 0);
    assert_int_equal(corio_timer_start(NULL, &t, 0.001, count_cb, NULL), 0);
    assert_int_equal(corio_timer_active(&t), 1);
    assert_int_equal(corio_sleep(0.01), 0);
    assert_int_equal(fired, 1);
    assert_int_equal(corio_timer_active(&t), 0);
    return NULL;
}

static void timer_init_gives_an_idle_timer(void **state)
{
    (void)state;
    assert_int_equal(tu_run(timer_init_main, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scope_deadline_moved_later_keeps_the_wait),
        cmocka_unit_test(scope_deadline_moved_later_then_reached),
        cmocka_unit_test(expired_scope_stays_expired),
        cmocka_unit_test(loop_create_in_a_task_keeps_the_running_loop),
        cmocka_unit_test(timer_init_gives_an_idle_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
