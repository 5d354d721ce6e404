/*
 * Deadlock and wait-for reports: when corio_run finds every task blocked,
 * the report names the cycle (or the wait nobody can end), each task's wait
 * and its backtrace; lock-order inversions are reported the first time the
 * inverted order is used, even in a run that did not deadlock.
 */
#include "testutil.h"

#include "debug/debug.h" /* the lock-order hooks src/sync calls */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

static void assert_has(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static corio_task *spawn_named(corio_fn fn, void *arg, const char *name)
{
    corio_spawn_opts o;
    corio_task *t = NULL;
    memset(&o, 0, sizeof o);
    o.name = name;
    assert_int_equal(corio_spawn_ex(&t, fn, arg, &o), 0);
    return t;
}

/* ---- two tasks awaiting each other: a wait-for cycle ----------------------*/

typedef struct pair {
    corio_task *a, *b;
} pair;

NOINLINE static int await_partner(corio_task *t)
{
    int rc = corio_await(t, NULL);
    __asm__ volatile("" ::: "memory");
    return rc;
}

static void *task_a(void *arg)
{
    pair *p = arg;
    corio_sleep(0.001); /* let b exist */
    return corio_fail(await_partner(p->b));
}

static void *task_b(void *arg)
{
    pair *p = arg;
    corio_sleep(0.001);
    return corio_fail(await_partner(p->a));
}

static void *cycle_main(void *arg)
{
    pair *p = arg;
    p->a = spawn_named(task_a, p, "alpha");
    p->b = spawn_named(task_b, p, "beta");
    /* main waits on alpha's future (alpha's handle belongs to beta): a
     * chain leading into the cycle. */
    return corio_fail(corio_future_await(corio_task_future(p->a), NULL));
}

static char *run_deadlocked(corio_fn fn, void *arg)
{
    corio_loop_config c;
    FILE *f = tmpfile();
    long n;
    char *s;
    memset(&c, 0, sizeof c);
    c.report_file = f;
    assert_int_equal(corio_run_ex(fn, arg, NULL, &c), -EDEADLK);
    fflush(f);
    n = ftell(f);
    s = calloc(1, (size_t)n + 1);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

static void test_await_cycle(void **state)
{
    pair p;
    char *r;
    (void)state;
    r = run_deadlocked(cycle_main, &p);
    assert_has(r, "corio: deadlock: every task waits");
    /* The cycle, in either rotation. */
    if (!strstr(r, "cycle: task #2 'alpha' -> task #3 'beta' -> task #2 'alpha'") &&
        !strstr(r, "'alpha' -> task") )
        fail_msg("no cycle in:\n%s", r);
    assert_has(r, "'beta' waits on task: task #");
    assert_has(r, "'main' waits on future: future of task #");
    assert_has(r, "(in the cycle above)");
    assert_has(r, "await_partner+0x"); /* backtraces of the blocked tasks */
    assert_has(r, "task_a+0x");
    assert_has(r, "task_b+0x");
    free(r);
}

/* ---- a wait nobody can end: the root cause, not a cycle -----------------*/

static corio_future *orphan;

NOINLINE static int wait_forever(void)
{
    int rc = corio_future_await(orphan, NULL);
    __asm__ volatile("" ::: "memory");
    return rc;
}

static void *stuck(void *arg)
{
    (void)arg;
    return corio_fail(wait_forever());
}

static void *orphan_main(void *arg)
{
    corio_task *t = spawn_named(stuck, NULL, "stuck");
    (void)arg;
    return corio_fail(await_partner(t));
}

/* The future belongs to the run's loop, so the task creates it. */
static void *orphan_main2(void *arg)
{
    (void)arg;
    assert_int_equal(corio_future_create(NULL, &orphan), 0);
    return orphan_main(NULL);
}

static void test_root_cause_chain(void **state)
{
    char *r;
    (void)state;
    r = run_deadlocked(orphan_main2, NULL);
    assert_has(r, "'main' waits on task: task #");
    assert_has(r, "'stuck' (suspended) -> task #");
    assert_has(r, "which waits on future: future 0x");
    assert_has(r, "(pending, 1 waiter)");
    assert_has(r, "no wait-for cycle");
    assert_has(r, "wait_forever+0x");
    free(r);
    corio_future_destroy(orphan);
}

/* ---- two locks taken in opposite orders -------------------------------------*/

typedef struct locks {
    corio_lock *l1, *l2;
} locks;

NOINLINE static int take(corio_lock *l)
{
    int rc = corio_lock_acquire(l);
    __asm__ volatile("" ::: "memory");
    return rc;
}

static void *lock_ab(void *arg)
{
    locks *k = arg;
    assert_int_equal(take(k->l1), 0);
    corio_sleep(0.01); /* let the other task take l2 */
    return corio_fail(take(k->l2));
}

static void *lock_ba(void *arg)
{
    locks *k = arg;
    assert_int_equal(take(k->l2), 0);
    corio_sleep(0.01);
    return corio_fail(take(k->l1));
}

static void *two_locks_main(void *arg)
{
    locks *k = arg;
    corio_task *a, *b;
    assert_int_equal(corio_lock_create(&k->l1), 0);
    assert_int_equal(corio_lock_create(&k->l2), 0);
    a = spawn_named(lock_ab, k, "ab");
    b = spawn_named(lock_ba, k, "ba");
    await_partner(a);
    await_partner(b);
    return NULL;
}

static void test_two_lock_deadlock(void **state)
{
    locks k;
    char *r;
    (void)state;
    r = run_deadlocked(two_locks_main, &k);
    assert_has(r, "corio: deadlock");
    assert_has(r, "'ab' waits on lock");
    assert_has(r, "'ba' waits on lock");
    assert_has(r, "take+0x");
    assert_has(r, "lock_ab+0x");
    assert_has(r, "lock_ba+0x");
    /* The holders close a cycle: ab -> ba -> ab (in either rotation). */
    assert_has(r, "held by task #");
    assert_has(r, "cycle: task #");
    if (!strstr(r, "'ab' -> task") || !strstr(r, "'ba' -> task"))
        fail_msg("no ab/ba cycle in:\n%s", r);
    free(r);
    corio_lock_destroy(k.l1);
    corio_lock_destroy(k.l2);
}

/* ---- lock order, through the hooks src/sync calls -------------------------*/

static int lock_x, lock_y, lock_z; /* stand-ins: only their addresses count */

NOINLINE static void acquire_in_order(const void *first, const void *second)
{
    corio_task *self = corio_current();
    corio__debug_lock_acquired(self, first, "lock");
    corio__debug_lock_acquired(self, second, "lock");
    corio__debug_lock_released(self, second);
    corio__debug_lock_released(self, first);
}

static void *order_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_debug_set_mode(NULL, 1), 0);
    acquire_in_order(&lock_x, &lock_y); /* x -> y */
    acquire_in_order(&lock_y, &lock_z); /* y -> z */
    acquire_in_order(&lock_x, &lock_z); /* consistent: no report */
    acquire_in_order(&lock_z, &lock_x); /* z -> x closes x -> y -> z -> x */
    acquire_in_order(&lock_z, &lock_x); /* reported once only */
    corio__debug_lock_destroyed(corio_loop_current(), &lock_x);
    acquire_in_order(&lock_z, &lock_x); /* graph forgot x: no report */
    return NULL;
}

static void test_lock_order_cycle(void **state)
{
    char *r, *p;
    int n = 0;
    (void)state;
    r = tu_run_report(order_main, NULL, NULL);
    assert_has(r, "corio: lock-order cycle (a potential deadlock)");
    assert_has(r, "acquire_in_order+0x");
    assert_has(r, "order_main+0x");
    for (p = r; (p = strstr(p, "lock-order cycle")) != NULL; p++)
        n++;
    assert_int_equal(n, 1);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_await_cycle),
        cmocka_unit_test(test_root_cause_chain),
        cmocka_unit_test(test_two_lock_deadlock),
        cmocka_unit_test(test_lock_order_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
