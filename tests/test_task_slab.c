/*
 * The memory of task structs (src/core/task_slab.c): slots recycled within
 * a loop, blocks given back when many slots are free, every block released
 * at loop close. (Under AddressSanitizer task structs are plain
 * malloc/free; these tests then check the same behaviour through it.)
 */
#include "testutil.h"

#include <stdint.h>
#include <stdlib.h>

static void *return_arg(void *arg) { return arg; }

/* More tasks than the slots a loop keeps free (4096), so blocks empty and
 * are unmapped while their neighbours' slots are still in use. */
static long n_tasks(void) { return tu_slow() ? 12000 : 40000; }

static corio_task **handles;

static void spawn_all(long n)
{
    long i;
    for (i = 0; i < n; i++) {
        handles[i] = corio_spawn(return_arg, (void *)(intptr_t)i);
        assert_non_null(handles[i]);
    }
}

static void await_one(long i)
{
    void *r = NULL;
    assert_int_equal(corio_await(handles[i], &r), 0);
    assert_int_equal((intptr_t)r, i);
    handles[i] = NULL;
}

/* Awaits odd handles first, then even ones backwards: slots come back in
 * an order unlike the one they were handed out in, and blocks empty at
 * different times. Several rounds reuse what the previous ones freed. */
TU_TASK_TEST(tasks_freed_out_of_order_are_recycled_correctly)
{
    long n = n_tasks(), i;
    int round;
    handles = calloc((size_t)n, sizeof *handles);
    assert_non_null(handles);
    for (round = 0; round < 4; round++) {
        spawn_all(n);
        assert_int_equal(corio_task_count(NULL), (size_t)n + 1);
        for (i = 1; i < n; i += 2)
            await_one(i);
        for (i = (n - 1) & ~1L; i >= 0; i -= 2)
            await_one(i);
        assert_int_equal(corio_task_count(NULL), 1);
    }
    free(handles);
    handles = NULL;
    return NULL;
}

/* A sliding window of live tasks: each new task gets a recycled slot while
 * older ones are still alive. */
TU_TASK_TEST(a_window_of_live_tasks_reuses_slots)
{
    enum { WINDOW = 300 };
    long n = n_tasks(), i;
    handles = calloc((size_t)n, sizeof *handles);
    assert_non_null(handles);
    for (i = 0; i < n; i++) {
        handles[i] = corio_spawn(return_arg, (void *)(intptr_t)i);
        assert_non_null(handles[i]);
        if (i >= WINDOW)
            await_one(i - WINDOW);
    }
    for (i = n - WINDOW; i < n; i++)
        await_one(i);
    free(handles);
    handles = NULL;
    return NULL;
}

/* Memory is bounded: after many short tasks have come and gone and the
 * loop has idled a little (empty blocks are unmapped when it is about to
 * wait, a batch at a time), it holds little more than it did before. A
 * slab that only grew would keep all of them. RSS is only meaningful
 * natively (not under Valgrind or a sanitizer). */
TU_TASK_TEST(freed_task_structs_go_back_to_the_os)
{
    long n = 100000, i, before, after;
    int k;
    if (tu_slow())
        return NULL;
    handles = calloc((size_t)n, sizeof *handles);
    assert_non_null(handles);
    /* Touch the handle array now so it is part of "before". */
    for (i = 0; i < n; i++)
        handles[i] = NULL;
    before = tu_proc_kib("VmRSS");
    assert_true(before > 0);
    spawn_all(n);
    for (i = 0; i < n; i++)
        await_one(i);
    for (k = 0; k < 40; k++)
        assert_int_equal(corio_sleep(0.001), 0); /* idle steps */
    after = tu_proc_kib("VmRSS");
    /* 100k task structs are ~37 MiB; the loop may keep 4096 free slots
     * (~1.5 MiB) and a few blocks. */
    assert_true(after - before < 8 * 1024);
    free(handles);
    handles = NULL;
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tasks_freed_out_of_order_are_recycled_correctly),
        cmocka_unit_test(a_window_of_live_tasks_reuses_slots),
        cmocka_unit_test(freed_task_structs_go_back_to_the_os),
    };
    return tu_run_both_modes(tests);
}
