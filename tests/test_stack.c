/*
 * Task stacks: per-task and per-loop sizes, overflow reported by task name
 * (in a fork()ed child), and compact mode (copied stacks): locals survive
 * suspension whatever the depth, many tasks interleaving.
 */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define KiB 1024u

/* Uses `bytes` of stack in one frame and returns a checksum of it, so the
 * compiler cannot drop the array. */
static __attribute__((noinline)) unsigned use_stack(size_t bytes, unsigned seed)
{
    volatile unsigned char *buf = __builtin_alloca(bytes);
    unsigned sum = 0;
    size_t i;
    for (i = 0; i < bytes; i += 64)
        buf[i] = (unsigned char)(seed + i);
    for (i = 0; i < bytes; i += 64)
        sum += buf[i];
    return sum;
}

static unsigned expected_sum(size_t bytes, unsigned seed)
{
    unsigned sum = 0;
    size_t i;
    for (i = 0; i < bytes; i += 64)
        sum += (unsigned char)(seed + i);
    return sum;
}

struct stack_use {
    size_t bytes;
    unsigned sum;
};

static void *stack_user(void *arg)
{
    struct stack_use *u = arg;
    assert_int_equal(corio_yield(), 0); /* runs after a switch, too */
    u->sum = use_stack(u->bytes, 7);
    assert_int_equal(corio_sleep(0.001), 0);
    return NULL;
}

/* ---- sizes ------------------------------------------------------------------------*/

TU_TASK_TEST(per_task_stack_size_is_honoured)
{
    static struct stack_use big = {200 * KiB, 0}, small = {4 * KiB, 0};
    corio_spawn_opts o = {0};
    corio_task *t[2];
    o.stack_size = 512 * KiB;
    o.name = "big-stack";
    assert_int_equal(corio_spawn_ex(&t[0], stack_user, &big, &o), 0);
    o.stack_size = 16 * KiB; /* the minimum: tasks of both sizes coexist */
    o.name = "small-stack";
    assert_int_equal(corio_spawn_ex(&t[1], stack_user, &small, &o), 0);
    assert_int_equal(corio_await(t[0], NULL), 0);
    assert_int_equal(corio_await(t[1], NULL), 0);
    assert_int_equal(big.sum, expected_sum(200 * KiB, 7));
    assert_int_equal(small.sum, expected_sum(4 * KiB, 7));
    return NULL;
}

static void *loop_default_user(void *arg)
{
    static struct stack_use u = {600 * KiB, 0};
    corio_task *t = corio_spawn(stack_user, &u);
    (void)arg;
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(u.sum, expected_sum(600 * KiB, 7));
    return NULL;
}

static void loop_stack_size_is_the_default_for_its_tasks(void **state)
{
    corio_loop_config c = {0};
    (void)state;
    c.stack_size = 1024 * KiB;
    assert_int_equal(tu_run_cfg(loop_default_user, NULL, NULL, &c), 0);
}

/* Stacks are reused: many short tasks in sequence do not grow memory. */
TU_TASK_TEST(finished_tasks_give_their_stacks_back)
{
    static struct stack_use u = {32 * KiB, 0};
    long before, after;
    int i;
    for (i = 0; i < 200; i++)
        assert_int_equal(corio_await(corio_spawn(stack_user, &u), NULL), 0);
    before = tu_proc_kib("VmRSS");
    for (i = 0; i < 2000; i++)
        assert_int_equal(corio_await(corio_spawn(stack_user, &u), NULL), 0);
    after = tu_proc_kib("VmRSS");
    /* 2000 fresh stacks with 32 KiB touched would be ~64 MB. */
    if (before > 0 && after - before > 16 * 1024)
        fail_msg("RSS grew by %ld KiB over 2000 sequential tasks", after - before);
    return NULL;
}

/* ---- overflow ----------------------------------------------------------------------*/

/* Unbounded recursion with frames the compiler cannot drop (the flag is
 * never set; it only lets the compiler see that the recursion may end). */
static volatile int recurse_stop;
static __attribute__((noinline)) unsigned recurse_forever(unsigned depth)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    frame[511] = (char)depth;
    if (recurse_stop)
        return 0;
    return recurse_forever(depth + 1) + (unsigned)frame[0] + (unsigned)frame[511];
}

static void *overflowing_task(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)recurse_forever(0);
}

struct overflow_case {
    const char *name;
    size_t stack_size;
    int in_main;  /* overflow in corio_run's main task itself */
};

static void *spawn_overflower(void *arg)
{
    const struct overflow_case *c = arg;
    corio_spawn_opts o = {0};
    corio_task *t;
    if (c->in_main)
        return overflowing_task(NULL);
    o.name = c->name;
    o.stack_size = c->stack_size;
    if (corio_spawn_ex(&t, overflowing_task, NULL, &o) < 0)
        return NULL;
    corio_await(t, NULL);
    return NULL;
}

static void overflow_child(void *arg)
{
    corio_run(spawn_overflower, arg, NULL);
    fprintf(stderr, "child survived the overflow\n");
}

static void run_overflow_case(const struct overflow_case *c)
{
    char *err = NULL;
    int status;
    if (tu_under_valgrind()) {
        /* Valgrind catches the overflow first, with its own report. */
        skip();
    }
    status = tu_fork_run(overflow_child, (void *)c, &err);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("child status 0x%x, want death by SIGABRT; stderr:\n%s", status, err);
    if (!strstr(err, "stack overflow in task"))
        fail_msg("no overflow report; stderr:\n%s", err);
    if (!strstr(err, c->in_main ? "'main'" : c->name))
        fail_msg("the report does not name the task; stderr:\n%s", err);
    if (!strstr(err, "guard page"))
        fail_msg("not caught at the guard page; stderr:\n%s", err);
    free(err);
}

static void overflow_in_a_named_task_is_reported(void **state)
{
    static const struct overflow_case c = {"deep-recursion", 64 * KiB, 0};
    (void)state;
    run_overflow_case(&c);
}

static void overflow_of_a_default_stack_is_reported(void **state)
{
    static const struct overflow_case c = {"default-sized", 0, 0};
    (void)state;
    run_overflow_case(&c);
}

static void overflow_in_the_main_task_is_reported(void **state)
{
    static const struct overflow_case c = {"main", 0, 1};
    (void)state;
    run_overflow_case(&c);
}

/* ---- a stack that cannot be mapped ------------------------------------------------
 * In a child with an address-space limit, a task asking for a 4 GiB stack
 * cannot get one: scheduled, it ends with -ENOMEM without running; eager,
 * corio_spawn_ex itself fails with -ENOMEM. Either way the loop is left
 * consistent (it ends with 0, not a phantom live task's -EDEADLK). */
static int huge_ran;
static void *huge_fn(void *arg)
{
    (void)arg;
    huge_ran = 1;
    return NULL;
}

static void huge_stack_child(void *arg)
{
    corio_loop *l;
    corio_task *t = NULL;
    corio_spawn_opts o = {0};
    struct rlimit rl;
    long vm = tu_proc_kib("VmSize");
    int rc, fails = 0;
    (void)arg;
    rl.rlim_cur = rl.rlim_max = (rlim_t)(vm + 512 * 1024) * 1024;
    if (vm < 0 || setrlimit(RLIMIT_AS, &rl) != 0)
        _exit(77);
    if (corio_loop_create(&l, NULL) != 0)
        _exit(2);
    o.stack_size = (size_t)4 << 30;
    /* Scheduled: the task ends with -ENOMEM without running. */
    if (corio_spawn_ex(&t, huge_fn, NULL, &o) != 0)
        _exit(3);
    if (corio_loop_run_until(l, corio_task_future(t)) != -ENOMEM)
        fails |= 1;
    corio_detach(t);
    if (huge_ran)
        fails |= 2;
    /* Eager, from a task: spawn_ex fails and nothing is left behind. */
    rc = corio_loop_run(l, CORIO_RUN_DEFAULT);
    if (rc != 0)
        fails |= 4;
    if (fails) {
        fprintf(stderr, "fails 0x%x, run rc %d\n", fails, rc);
        _exit(1);
    }
    corio_loop_close(l);
}

static void *eager_huge_main(void *arg)
{
    corio_spawn_opts o = {0};
    corio_task *t = (corio_task *)&t;
    (void)arg;
    o.stack_size = (size_t)4 << 30;
    o.flags = CORIO_SPAWN_EAGER;
    if (corio_spawn_ex(&t, huge_fn, NULL, &o) != -ENOMEM || t != NULL)
        return corio_fail(-EPROTO);
    if (corio_task_count(NULL) != 1)
        return corio_fail(-EBADE);
    return NULL;
}

static void eager_huge_child(void *arg)
{
    corio_loop *l;
    corio_task *t;
    struct rlimit rl;
    long vm = tu_proc_kib("VmSize");
    int rc;
    (void)arg;
    rl.rlim_cur = rl.rlim_max = (rlim_t)(vm + 512 * 1024) * 1024;
    if (vm < 0 || setrlimit(RLIMIT_AS, &rl) != 0)
        _exit(77);
    if (corio_loop_create(&l, NULL) != 0)
        _exit(2);
    t = corio_spawn(eager_huge_main, NULL);
    rc = corio_loop_run(l, CORIO_RUN_DEFAULT);
    if (rc != 0 || corio_future_result(corio_task_future(t), NULL) != 0) {
        fprintf(stderr, "run rc %d (-EDEADLK: a phantom live task), main status %d\n", rc,
                corio_future_result(corio_task_future(t), NULL));
        _exit(1);
    }
    corio_detach(t);
    if (corio_loop_close(l) != 0)
        _exit(5);
}

static void check_child(void (*fn)(void *))
{
    char *err = NULL;
    int status;
    /* Sanitizers and Valgrind need far more address space than the limit. */
    if (tu_slow())
        skip();
    status = tu_fork_run(fn, NULL, &err);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        skip();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child status 0x%x; stderr:\n%s", status, err);
    free(err);
}

static void unmappable_stack_fails_the_task_with_enomem(void **state)
{
    (void)state;
    check_child(huge_stack_child);
}

static void unmappable_stack_fails_an_eager_spawn_cleanly(void **state)
{
    (void)state;
    check_child(eager_huge_child);
}

/* ---- compact mode -----------------------------------------------------------------------
 * Every task's frames are copied off the shared stack when it suspends and
 * back when it resumes; these tests fill frames with patterns, suspend in
 * between (yield, sleep, await), and check every byte came back. */

static int compact_cfg(corio_loop_config *c, size_t shared)
{
    memset(c, 0, sizeof *c);
    c->stack_mode = CORIO_STACK_COMPACT;
    c->shared_stack_size = shared;
    if (!tu_compact_supported()) {
        printf("[  SKIPPED ] compact mode is not supported in this build "
               "(corio_loop_create returns -ENOTSUP, e.g. under ASan)\n");
        return 0;
    }
    return 1;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 31 + i * 7);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31 + i * 7))
            return 0;
    return 1;
}

static int compact_errors;

/* Recurses `depth` levels, each with a patterned frame, suspends at the
 * bottom in one of three ways, and checks every level on the way back. */
static __attribute__((noinline)) void deep(int id, int depth, int how)
{
    unsigned char frame[700];
    fill(frame, sizeof frame, (unsigned)(id * 100 + depth));
    if (depth > 0) {
        deep(id, depth - 1, how);
    } else {
        int rc = how == 0 ? corio_yield() : how == 1 ? corio_sleep(0.001 * (id % 3)) : corio_yield();
        if (rc != 0)
            compact_errors++;
        if (how == 2 && corio_yield() != 0)
            compact_errors++;
    }
    if (!check(frame, sizeof frame, (unsigned)(id * 100 + depth)))
        compact_errors++;
}

static void *compact_worker(void *arg)
{
    int id = (int)(intptr_t)arg, round;
    unsigned char local[256];
    fill(local, sizeof local, (unsigned)id);
    for (round = 0; round < 5; round++) {
        deep(id, (id * 7 + round) % 12, (id + round) % 3);
        if (!check(local, sizeof local, (unsigned)id))
            compact_errors++;
    }
    return (void *)(intptr_t)id;
}

static void *compact_main(void *arg)
{
    int n = (int)(intptr_t)arg, i;
    corio_task **t = calloc((size_t)n, sizeof *t);
    unsigned char mine[1000];
    assert_non_null(t);
    fill(mine, sizeof mine, 999);
    for (i = 0; i < n; i++)
        t[i] = corio_spawn(compact_worker, (void *)(intptr_t)i);
    for (i = 0; i < n; i++) {
        void *r;
        assert_int_equal(corio_await(t[i], &r), 0);
        assert_ptr_equal(r, (void *)(intptr_t)i);
        assert_true(check(mine, sizeof mine, 999));
    }
    free(t);
    return NULL;
}

static void compact_locals_survive_suspension_at_any_depth(void **state)
{
    corio_loop_config c;
    (void)state;
    if (!compact_cfg(&c, 0))
        skip();
    compact_errors = 0;
    assert_int_equal(tu_run_cfg(compact_main, (void *)(intptr_t)300, NULL, &c), 0);
    assert_int_equal(compact_errors, 0);
}

/* A task using most of a small shared stack. */
static void *compact_big_frame(void *arg)
{
    static struct stack_use u = {150 * KiB, 0};
    corio_task *t[3];
    int i;
    (void)arg;
    for (i = 0; i < 3; i++)
        t[i] = corio_spawn(stack_user, &u);
    for (i = 0; i < 3; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    assert_int_equal(u.sum, expected_sum(150 * KiB, 7));
    return NULL;
}

static void compact_shared_stack_size_is_honoured(void **state)
{
    corio_loop_config c;
    (void)state;
    if (!compact_cfg(&c, 256 * KiB))
        skip();
    assert_int_equal(tu_run_cfg(compact_big_frame, NULL, NULL, &c), 0);
}

/* Many tasks suspended at once, each holding a different amount of stack:
 * the saved copies are independent. */
static void *compact_holder(void *arg)
{
    int id = (int)(intptr_t)arg;
    size_t n = 64 + (size_t)(id % 50) * 97;
    unsigned char *buf = __builtin_alloca(n);
    fill(buf, n, (unsigned)id);
    if (corio_sleep(0.02) != 0 || !check(buf, n, (unsigned)id))
        compact_errors++;
    fill(buf, n, (unsigned)id + 1);
    if (corio_yield() != 0 || !check(buf, n, (unsigned)id + 1))
        compact_errors++;
    return NULL;
}

static void *compact_many(void *arg)
{
    int n = (int)(intptr_t)arg, i;
    corio_task **t = calloc((size_t)n, sizeof *t);
    assert_non_null(t);
    for (i = 0; i < n; i++)
        t[i] = corio_spawn(compact_holder, (void *)(intptr_t)i);
    assert_int_equal(corio_sleep(0.01), 0);
    assert_int_equal(corio_task_count(NULL), (size_t)n + 1); /* all asleep at once */
    for (i = 0; i < n; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    free(t);
    return NULL;
}

static void compact_many_tasks_hold_different_depths(void **state)
{
    corio_loop_config c;
    (void)state;
    if (!compact_cfg(&c, 0))
        skip();
    compact_errors = 0;
    assert_int_equal(tu_run_cfg(compact_many, (void *)(intptr_t)(tu_slow() ? 500 : 5000), NULL,
                                &c), 0);
    assert_int_equal(compact_errors, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_task_stack_size_is_honoured),
        cmocka_unit_test(loop_stack_size_is_the_default_for_its_tasks),
        cmocka_unit_test(finished_tasks_give_their_stacks_back),
        cmocka_unit_test(overflow_in_a_named_task_is_reported),
        cmocka_unit_test(overflow_of_a_default_stack_is_reported),
        cmocka_unit_test(overflow_in_the_main_task_is_reported),
        cmocka_unit_test(unmappable_stack_fails_the_task_with_enomem),
        cmocka_unit_test(unmappable_stack_fails_an_eager_spawn_cleanly),
        cmocka_unit_test(compact_locals_survive_suspension_at_any_depth),
        cmocka_unit_test(compact_shared_stack_size_is_honoured),
        cmocka_unit_test(compact_many_tasks_hold_different_depths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
