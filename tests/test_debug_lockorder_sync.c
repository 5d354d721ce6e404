/*
 * Lock-order checking through real corio_lock objects: in debug mode, a
 * task taking L1 then L2 and later another taking L2 then L1 is reported as
 * a potential deadlock, even though this run never deadlocks.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static corio_lock *l1, *l2;

static void *take(void *arg)
{
    int order = (int)(intptr_t)arg;
    corio_lock *a = order ? l2 : l1, *b = order ? l1 : l2;
    assert_int_equal(corio_lock_acquire(a), 0);
    assert_int_equal(corio_lock_acquire(b), 0);
    assert_int_equal(corio_lock_release(b), 0);
    assert_int_equal(corio_lock_release(a), 0);
    return NULL;
}

static void *inverted_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_lock_create(&l1), 0);
    assert_int_equal(corio_lock_create(&l2), 0);
    assert_int_equal(corio_await(corio_spawn(take, (void *)0), NULL), 0);
    assert_int_equal(corio_await(corio_spawn(take, (void *)1), NULL), 0);
    corio_lock_destroy(l1);
    corio_lock_destroy(l2);
    return NULL;
}

static void inversion_is_reported_in_debug_mode(void **state)
{
    corio_loop_config cfg;
    char *report;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = CORIO_LOOP_DEBUG;
    report = tu_run_report(inverted_main, NULL, &cfg);
    assert_non_null(strstr(report, "lock-order cycle"));
    free(report);
}

static void *same_order_main(void *arg)
{
    (void)arg;
    assert_int_equal(corio_lock_create(&l1), 0);
    assert_int_equal(corio_lock_create(&l2), 0);
    assert_int_equal(corio_await(corio_spawn(take, (void *)0), NULL), 0);
    assert_int_equal(corio_await(corio_spawn(take, (void *)0), NULL), 0);
    corio_lock_destroy(l1);
    corio_lock_destroy(l2);
    return NULL;
}

static void same_order_twice_is_quiet(void **state)
{
    corio_loop_config cfg;
    char *report;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = CORIO_LOOP_DEBUG;
    report = tu_run_report(same_order_main, NULL, &cfg);
    assert_null(strstr(report, "lock-order cycle"));
    free(report);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inversion_is_reported_in_debug_mode),
        cmocka_unit_test(same_order_twice_is_quiet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
