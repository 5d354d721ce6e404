/*
 * Guard pages for every stack where the kernel has MADV_GUARD_INSTALL
 * (Linux 6.13+): a guard made that way does not split the mapping, so it
 * costs no vm.max_map_count entry and stack.c gives one to every stack, not
 * only to the first ~8k (which mprotect guards, budgeted against the map
 * count). Checked here: a task spawned after 10000 others still has its
 * overflow caught at the guard page and reported by name; and 10000 live
 * stacks cost a handful of mappings, not two each. On older kernels (or
 * under qemu-user, which ignores the advice) the tests are skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define MANY 10000 /* more stacks than the mprotect guard budget (~8k) */

/* The same probe as stack.c: does a guard page really fault? */
static int light_guards(void)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    int ok = 0, fds[2];
    char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    if (madvise(p, pg, MADV_GUARD_INSTALL) == 0 && pipe(fds) == 0) {
        ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
        close(fds[0]);
        close(fds[1]);
    }
    munmap(p, pg);
    return ok;
}

static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    return n;
}

static corio_task *sleepers[MANY];

static void *sleeper(void *arg)
{
    (void)arg;
    corio_sleep(3600);
    return NULL;
}

static void spawn_many(void)
{
    int i;
    for (i = 0; i < MANY; i++)
        assert_non_null(sleepers[i] = corio_spawn(sleeper, NULL));
    assert_int_equal(corio_yield(), 0); /* each gets its stack */
}

static void cancel_many(void)
{
    int i;
    for (i = 0; i < MANY; i++) {
        corio_cancel(sleepers[i]);
        assert_int_equal(corio_await(sleepers[i], NULL), -ECANCELED);
    }
}

static void *many_stacks_body(void *arg)
{
    int before;
    (void)arg;
    before = count_maps();
    spawn_many();
    /* Chunks of up to 256 stacks per mapping: ~40 mappings, not 20000. */
    assert_true(count_maps() - before < 200);
    cancel_many();
    return NULL;
}

static void many_stacks_cost_few_mappings(void **state)
{
    (void)state;
    /* Decided here, not inside the task: cmocka's skip() longjmps, which
     * must not cross from a task's stack to the test's.
     * Under ThreadSanitizer every task's fiber maps memory of its own;
     * qemu-user shows the guest an emulated /proc/self/maps. */
    if (!light_guards() || tu_under_tsan() || tu_under_qemu())
        skip();
    assert_int_equal(tu_run(many_stacks_body, NULL, NULL), 0);
}

/* Unbounded recursion with a frame the compiler cannot drop (the flag is
 * never set; it only tells the compiler the recursion may end). */
static volatile int deep_stop;

static int deep(int n)
{
    volatile char frame[512];
    frame[0] = (char)n;
    if (deep_stop)
        return 0;
    return deep(n + 1) + frame[0];
}

static void *overflow(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)deep(0);
}

static void *overflow_main(void *arg)
{
    corio_spawn_opts o;
    corio_task *t;
    (void)arg;
    spawn_many();
    memset(&o, 0, sizeof o);
    o.name = "deep";
    assert_int_equal(corio_spawn_ex(&t, overflow, NULL, &o), 0);
    corio_await(t, NULL); /* never returns: the overflow aborts */
    return NULL;
}

static void run_overflow(void *arg)
{
    (void)arg;
    corio_run(overflow_main, NULL, NULL);
}

static void overflow_after_many_tasks_hits_a_guard(void **state)
{
    char *err = NULL;
    int status;
    (void)state;
    /* Valgrind runs signal handlers its own way; the default-mode test of
     * the overflow report belongs to the core suite. */
    if (!light_guards() || tu_under_valgrind())
        skip();
    status = tu_fork_run(run_overflow, NULL, &err);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(err, "stack overflow in task"));
    assert_non_null(strstr(err, "'deep'"));
    assert_non_null(strstr(err, "hit the guard page"));
    free(err);
}

int main(void)
{
    /* The overflow test runs first: corio installs its SIGSEGV handler once
     * per process, when the first loop is created, and cmocka installs its
     * own around each test; a loop created in this process by an earlier
     * test would leave cmocka's handler, not corio's, in the forked child. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(overflow_after_many_tasks_hits_a_guard),
        cmocka_unit_test(many_stacks_cost_few_mappings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
