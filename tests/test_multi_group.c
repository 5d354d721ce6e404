/*
 * Task groups spanning loops (corio_group_spawn_on): the group's wait waits
 * for children on every loop; a child failing on one loop cancels its
 * siblings on the others; corio_group_cancel and an interrupted waiter
 * reach remote children, and the wait still outlives them all.
 *
 * Tasks record failures with CHECK (cmocka is not thread-safe).
 */
#include "testutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static atomic_int failures, started, ended, saw_cancel;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            atomic_fetch_add(&failures, 1);                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

static int run(corio_fn fn, unsigned threads)
{
    corio_multi_config c;
    memset(&c, 0, sizeof c);
    c.threads = threads;
    atomic_store(&failures, 0);
    atomic_store(&started, 0);
    atomic_store(&ended, 0);
    atomic_store(&saw_cancel, 0);
    return corio_run_multi(fn, NULL, NULL, &c);
}

/* Sleeps "forever"; counts how it ended. Cleanup takes a while (a shielded
 * sleep) so that a wait returning early would be seen. */
static void *long_child(void *arg)
{
    corio_scope sh;
    (void)arg;
    atomic_fetch_add(&started, 1);
    if (corio_sleep(3600) == -ECANCELED)
        atomic_fetch_add(&saw_cancel, 1);
    corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
    corio_sleep(0.01);
    corio_scope_exit(&sh);
    atomic_fetch_add(&ended, 1);
    return NULL;
}

static void *quick_child(void *arg)
{
    atomic_fetch_add(&started, 1);
    corio_yield();
    atomic_fetch_add(&ended, 1);
    return arg;
}

static void *failing_child(void *arg)
{
    (void)arg;
    /* Fail only once every sibling has started (structure, not timing). */
    while (atomic_load(&started) < 6)
        corio_sleep(0.001);
    atomic_fetch_add(&ended, 1);
    return corio_fail(-EPROTO);
}

static void *all_ok_main(void *arg)
{
    corio_group *g;
    unsigned i;
    (void)arg;
    CHECK(corio_group_create(&g) == 0);
    for (i = 0; i < 9; i++)
        CHECK(corio_group_spawn_on(g, corio_loop_get(i % 3), quick_child, NULL) == 0);
    CHECK(corio_group_size(g) == 9);
    CHECK(corio_group_wait(g) == 0);
    CHECK(atomic_load(&ended) == 9);
    CHECK(corio_group_spawn_on(g, corio_loop_get(1), quick_child, NULL) == CORIO_ESHUTDOWN);
    corio_group_destroy(g);
    return NULL;
}

static void test_all_ok(void **state)
{
    (void)state;
    assert_int_equal(run(all_ok_main, 3), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

static void *fail_main(void *arg)
{
    corio_group *g;
    unsigned i;
    (void)arg;
    CHECK(corio_group_create(&g) == 0);
    for (i = 0; i < 6; i++) /* siblings on loops 0, 1, 2 */
        CHECK(corio_group_spawn_on(g, corio_loop_get(i % 3), long_child, NULL) == 0);
    CHECK(corio_group_spawn_on(g, corio_loop_get(3), failing_child, NULL) == 0);
    CHECK(corio_group_wait(g) == -EPROTO);
    /* Every sibling was cancelled and had finished before wait returned. */
    CHECK(atomic_load(&saw_cancel) == 6);
    CHECK(atomic_load(&ended) == 7);
    CHECK(corio_group_error(g) == -EPROTO);
    corio_group_destroy(g);
    return NULL;
}

static void test_failure_cancels_siblings(void **state)
{
    (void)state;
    assert_int_equal(run(fail_main, 4), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

static void *cancel_main(void *arg)
{
    corio_group *g;
    corio_scope s;
    unsigned i;
    (void)arg;
    /* corio_group_cancel from the owner. */
    CHECK(corio_group_create(&g) == 0);
    for (i = 0; i < 4; i++)
        CHECK(corio_group_spawn_on(g, corio_loop_get(i % 2), long_child, NULL) == 0);
    while (atomic_load(&started) < 4)
        corio_sleep(0.001);
    CHECK(corio_group_cancel(g) == 0);
    CHECK(corio_group_wait(g) == -ECANCELED);
    CHECK(atomic_load(&ended) == 4 && atomic_load(&saw_cancel) == 4);
    corio_group_destroy(g);

    /* The waiter times out: the remote children go, and are waited for. */
    atomic_store(&started, 0);
    atomic_store(&ended, 0);
    atomic_store(&saw_cancel, 0);
    CHECK(corio_group_create(&g) == 0);
    for (i = 0; i < 4; i++)
        CHECK(corio_group_spawn_on(g, corio_loop_get(1), long_child, NULL) == 0);
    CHECK(corio_scope_enter(&s, 0.02, 0) == 0);
    CHECK(corio_group_wait(g) == -ETIMEDOUT);
    corio_scope_exit(&s);
    CHECK(atomic_load(&ended) == atomic_load(&started));
    CHECK(atomic_load(&saw_cancel) == atomic_load(&started));
    corio_group_destroy(g);
    return NULL;
}

static void test_cancel_and_timeout(void **state)
{
    (void)state;
    assert_int_equal(run(cancel_main, 2), 0);
    assert_int_equal(atomic_load(&failures), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_ok),
        cmocka_unit_test(test_failure_cancels_siblings),
        cmocka_unit_test(test_cancel_and_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
