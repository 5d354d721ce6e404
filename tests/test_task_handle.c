/*
 * A task is a small handle plus a body taken when it first runs (see
 * src/core/internal.h): what the split must not change. Enumeration keeps
 * spawn order although handles carry no list link (the loop walks its slab,
 * where a new task may take an older task's slot); a never-started task is
 * still seen, with its spawn site; the phases that share a handle's words
 * (argument/body, awaiter/ext, function/result) hand over correctly; and an
 * interrupted await leaves nothing behind that could wake the caller later.
 */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static void *return_arg(void *arg) { return arg; }

static void *sleep_ms(void *arg)
{
    corio_sleep((double)(intptr_t)arg / 1000.0);
    return arg;
}

typedef struct ids {
    uint64_t v[16];
    int n;
} ids;

static int collect(corio_task *t, void *arg)
{
    ids *s = arg;
    if (s->n < 16)
        s->v[s->n++] = corio_task_id(t);
    return 0;
}

/* Freed slots are reused oldest first once more than 32 (CORIO__TASK_COOL)
 * are free: after the 40 early tasks are awaited, D takes the slot of the
 * first of them, which lies before L's. A walk of the slab in slot order
 * would list D before L. */
TU_TASK_TEST(foreach_keeps_spawn_order_when_slots_are_reused)
{
    static corio_task *early[40];
    corio_task *l, *d;
    ids s = {{0}, 0};
    int i;
    (void)arg;
    for (i = 0; i < 40; i++)
        early[i] = corio_spawn(return_arg, NULL);
    l = corio_spawn(return_arg, NULL);
    assert_non_null(l);
    for (i = 0; i < 40; i++)
        assert_int_equal(corio_await(early[i], NULL), 0);
    d = corio_spawn(return_arg, NULL);
    assert_non_null(d);
    assert_int_equal(corio_task_foreach(NULL, collect, &s), 0);
    assert_int_equal(s.n, 3); /* this task, l, d */
    for (i = 1; i < s.n; i++)
        assert_true(s.v[i - 1] < s.v[i]);
    assert_int_equal(s.v[1], corio_task_id(l));
    assert_int_equal(s.v[2], corio_task_id(d));
    assert_int_equal(corio_task_count(NULL), 3);
    assert_int_equal(corio_await(l, NULL), 0);
    assert_int_equal(corio_await(d, NULL), 0);
    return NULL;
}

typedef struct seen {
    uint64_t id;
    int found, state;
    const void *site;
} seen;

static int find_task(const corio_task_info *in, void *arg)
{
    seen *s = arg;
    if (in->id == s->id) {
        s->found = 1;
        s->state = in->state;
        s->site = in->spawn_site;
    }
    return 0;
}

/* A task that never ran has no body: dumps still list it, with where it
 * was spawned. */
TU_TASK_TEST(a_never_started_task_is_listed_with_its_spawn_site)
{
    corio_task *t = corio_spawn(return_arg, NULL);
    seen s = {0, 0, -1, NULL};
    (void)arg;
    assert_non_null(t);
    s.id = corio_task_id(t);
    assert_int_equal(corio_debug_tasks(NULL, find_task, &s), 0);
    assert_int_equal(s.found, 1);
    assert_int_equal(s.state, CORIO_TASK_CREATED);
    assert_non_null(s.site);
    assert_int_equal(corio_cancel(t), 1);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    return NULL;
}

static int ran;
static void *mark_ran(void *arg)
{
    ran = 1;
    return arg;
}

/* Cancelled before its first run: it never gets a body, never runs, and
 * its argument word (shared with the body pointer) is not taken for one. */
TU_TASK_TEST(cancel_before_the_first_run_never_runs_it)
{
    corio_task *t = corio_spawn(mark_ran, (void *)(intptr_t)0x1234);
    (void)arg;
    ran = 0;
    assert_int_equal(corio_task_state(t), CORIO_TASK_CREATED);
    assert_int_equal(corio_cancel(t), 1);
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(ran, 0);
    corio_detach(t); /* done and bodiless: freed now */
    return NULL;
}

/* The future of a task made after it finished starts out done, with its
 * result; the argument reached fn through the body. */
TU_TASK_TEST(a_future_made_after_the_end_holds_the_result)
{
    corio_task *t = corio_spawn(return_arg, (void *)(intptr_t)42);
    corio_future *f;
    void *v = NULL;
    (void)arg;
    while (corio_task_state(t) != CORIO_TASK_DONE)
        assert_int_equal(corio_yield(), 0);
    f = corio_task_future(t);
    assert_non_null(f);
    assert_true(corio_future_done(f));
    assert_int_equal(corio_future_await(f, &v), 0);
    assert_int_equal((intptr_t)v, 42);
    assert_ptr_equal(corio_task_future(t), f);
    v = NULL;
    assert_int_equal(corio_await(t, &v), 0);
    assert_int_equal((intptr_t)v, 42);
    return NULL;
}

/* An ext made while a task is awaited takes the awaiter over: the task's
 * end still wakes it. */
static corio_task *named_later;
static void *name_then_end(void *arg)
{
    corio_sleep(0.005);
    assert_int_equal(corio_task_set_name(named_later, "renamed"), 0);
    return arg;
}

TU_TASK_TEST(an_ext_made_while_awaited_takes_the_awaiter_over)
{
    void *v = NULL;
    (void)arg;
    named_later = corio_spawn(name_then_end, (void *)(intptr_t)7);
    assert_non_null(named_later);
    /* Parks in the handle's awaiter word; the task then makes its ext. A
     * lost awaiter would leave this await parked forever: corio_run would
     * report a deadlock instead of returning 0. */
    assert_int_equal(corio_await(named_later, &v), 0);
    assert_int_equal((intptr_t)v, 7);
    return NULL;
}

TU_TASK_TEST(names_outlive_the_body)
{
    corio_spawn_opts o;
    corio_task *named, *plain;
    char want[32];
    (void)arg;
    memset(&o, 0, sizeof o);
    o.name = "first";
    assert_int_equal(corio_spawn_ex(&named, return_arg, NULL, &o), 0);
    plain = corio_spawn(return_arg, NULL);
    while (corio_task_state(named) != CORIO_TASK_DONE ||
           corio_task_state(plain) != CORIO_TASK_DONE)
        assert_int_equal(corio_yield(), 0);
    assert_string_equal(corio_task_name(named), "first");
    snprintf(want, sizeof want, "task-%llu",
             (unsigned long long)corio_task_id(plain));
    assert_string_equal(corio_task_name(plain), want);
    assert_int_equal(corio_task_set_name(plain, "later"), 0);
    assert_string_equal(corio_task_name(plain), "later");
    assert_int_equal(corio_await(named, NULL), 0);
    assert_int_equal(corio_await(plain, NULL), 0);
    return NULL;
}

/* A shielded await interrupted by a timeout leaves the task running,
 * detached. When it ends later it must not wake its former awaiter, which
 * is by then parked on something else (here a sleep, which would return
 * early). */
TU_TASK_TEST(an_interrupted_await_is_not_woken_by_the_task_end)
{
    corio_task *t = corio_spawn(sleep_ms, (void *)(intptr_t)30);
    corio_scope sc;
    double t0;
    (void)arg;
    assert_int_equal(corio_scope_enter(&sc, 0.005, 0), 0);
    assert_int_equal(corio_await_ex(t, NULL, CORIO_AWAIT_SHIELD), -ETIMEDOUT);
    corio_scope_exit(&sc);
    t0 = corio_now();
    assert_int_equal(corio_sleep(0.1), 0);
    assert_true(corio_now() - t0 >= 0.099);
    return NULL;
}

/* Only one task awaits a task at a time (the handle has one awaiter
 * word); a second concurrent await is refused rather than left to read a
 * handle the first one frees. */
static corio_task *awaited;
static void *await_it(void *arg)
{
    return (void *)(intptr_t)corio_await(awaited, NULL);
}

TU_TASK_TEST(a_second_concurrent_await_is_refused)
{
    corio_task *w;
    void *r = NULL;
    (void)arg;
    awaited = corio_spawn(sleep_ms, (void *)(intptr_t)20);
    w = corio_spawn(await_it, NULL);
    while (corio_task_state(w) != CORIO_TASK_SUSPENDED)
        assert_int_equal(corio_yield(), 0);
    assert_int_equal(corio_await(awaited, NULL), -EBUSY);
    assert_int_equal(corio_await(w, &r), 0);
    assert_int_equal((intptr_t)r, 0);
    return NULL;
}

/* Many tasks started, parked and ended together: in the default mode
 * their bodies are at the top of their stacks, in compact mode (the second
 * run of the table) from the loop's body slab. */
TU_TASK_TEST(spawn_then_gather)
{
    static corio_task *t[64];
    int i;
    (void)arg;
    for (i = 0; i < 64; i++)
        t[i] = corio_spawn(sleep_ms, (void *)(intptr_t)(i % 3));
    for (i = 0; i < 64; i++) {
        void *v = NULL;
        assert_int_equal(corio_await(t[i], &v), 0);
        assert_int_equal((intptr_t)v, i % 3);
    }
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(foreach_keeps_spawn_order_when_slots_are_reused),
        cmocka_unit_test(a_never_started_task_is_listed_with_its_spawn_site),
        cmocka_unit_test(cancel_before_the_first_run_never_runs_it),
        cmocka_unit_test(a_future_made_after_the_end_holds_the_result),
        cmocka_unit_test(an_ext_made_while_awaited_takes_the_awaiter_over),
        cmocka_unit_test(names_outlive_the_body),
        cmocka_unit_test(an_interrupted_await_is_not_woken_by_the_task_end),
        cmocka_unit_test(a_second_concurrent_await_is_refused),
        cmocka_unit_test(spawn_then_gather),
    };
    return tu_run_both_modes(tests);
}
