/*
 * The leak and orphan report at loop close: tasks never awaited or
 * detached, tasks still waiting (on a future nobody completed), each with
 * the file:line of its spawn and the task that spawned it.
 */
#include "testutil.h"

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

static void *quick(void *arg)
{
    (void)arg;
    return NULL;
}

static corio_future *never;

static void *waits_forever(void *arg)
{
    (void)arg;
    return corio_fail(corio_future_await(never, NULL));
}

/* Spawns without keeping the handles: the classic fire-and-forget leak. */
NOINLINE static void forget_tasks(void)
{
    corio_spawn_opts o;
    corio_task *t;
    memset(&o, 0, sizeof o);
    o.name = "forgotten";
    assert_int_equal(corio_spawn_ex(&t, quick, NULL, &o), 0);
    o.name = "orphan";
    assert_int_equal(corio_spawn_ex(&t, waits_forever, NULL, &o), 0);
}

static void *leak_main(void *arg)
{
    corio_loop *loop = corio_loop_current();
    (void)arg;
    assert_int_equal(corio_future_create(NULL, &never), 0);
    forget_tasks();
    assert_int_equal(corio_sleep(0.001), 0);
    /* Stop the loop with the orphan still parked, so it is reported as
     * pending rather than cancelled by corio_run's cleanup. */
    corio_loop_stop(loop);
    return NULL;
}

static void test_leaks_name_their_spawn_site(void **state)
{
    corio_loop *loop;
    corio_loop_config c;
    FILE *f = tmpfile();
    corio_task *m;
    long n;
    char *r;
    (void)state;
    memset(&c, 0, sizeof c);
    c.report_file = f;
    assert_int_equal(corio_loop_create(&loop, &c), 0);
    m = corio_spawn(leak_main, NULL);
    assert_non_null(m);
    assert_int_equal(corio_loop_run(loop, CORIO_RUN_DEFAULT), 1);
    assert_int_equal(corio_await(m, NULL), -EPERM); /* not in a task */
    assert_int_equal(corio_loop_close(loop), 3); /* main, forgotten, orphan */
    fflush(f);
    n = ftell(f);
    r = calloc(1, (size_t)n + 1);
    rewind(f);
    assert_int_equal(fread(r, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    assert_has(r, "'forgotten' finished but was never awaited or detached");
    assert_has(r, "spawned at forget_tasks+0x");
    assert_has(r, "test_debug_leak.c:");
    assert_has(r, "'orphan' still suspended in future");
    assert_has(r, "waits on: future 0x");
    assert_has(r, "a future never completed");
    assert_has(r, "by task #"); /* the parent */
    assert_has(r, "spawned at test_leaks_name_their_spawn_site+0x"); /* main */
    free(r);
    corio_future_destroy(never); /* nobody waits on it any more */
}

/* A clean run reports nothing at all. */
static void *clean_main(void *arg)
{
    corio_task *t = corio_spawn(quick, NULL);
    (void)arg;
    assert_int_equal(corio_await(t, NULL), 0);
    corio_detach(corio_spawn(quick, NULL));
    return NULL;
}

static void test_clean_close_is_silent(void **state)
{
    (void)state;
    assert_int_equal(tu_run(clean_main, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaks_name_their_spawn_site),
        cmocka_unit_test(test_clean_close_is_silent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
