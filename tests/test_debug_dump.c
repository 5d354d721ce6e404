/*
 * Task dumps: the structured iterator and the human dump, for tasks in
 * every state and every kind of wait, with backtraces taken from the saved
 * contexts (in both stack modes) and dumps on a signal.
 *
 * The functions whose names the tests look for in backtraces are noinline
 * and the file is compiled with frame pointers (the whole build is).
 */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* noclone: GCC would otherwise call a "sleep_deep.constprop.0" copy. */
#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

/* Reads a whole tmpfile back as a string (malloc'ed). */
static char *slurp(FILE *f)
{
    long n;
    char *s;
    fflush(f);
    n = ftell(f);
    s = calloc(1, (size_t)n + 1);
    rewind(f);
    if (n > 0)
        assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static void assert_has(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

/* ---- fixtures: tasks parked in known functions ---------------------------*/

NOINLINE static int sleep_deep(double s)
{
    int rc = corio_sleep(s);
    __asm__ volatile("" ::: "memory"); /* keep the call a real call */
    return rc;
}

static void *sleeper(void *arg)
{
    (void)arg;
    return corio_fail(sleep_deep(30));
}

NOINLINE static int wait_future_deep(corio_future *f)
{
    int rc = corio_future_await(f, NULL);
    __asm__ volatile("" ::: "memory");
    return rc;
}

static void *future_waiter(void *arg)
{
    return corio_fail(wait_future_deep(arg));
}

NOINLINE static int await_deep(corio_task *t)
{
    int rc = corio_await(t, NULL);
    __asm__ volatile("" ::: "memory");
    return rc;
}

static void *awaiter(void *arg)
{
    return corio_fail(await_deep(arg));
}

typedef struct seen {
    uint64_t main_id, sleeper_id, fwaiter_id, awaiter_id, fresh_id;
    int n, sleeper_ok, fwaiter_ok, awaiter_ok, fresh_ok, main_ok;
} seen;

static int has_frame(const corio_task_info *in, const char *fn)
{
    int i;
    for (i = 0; i < in->nframes; i++) {
        char buf[256];
        if (corio_debug_symbolize(in->frames[i], buf, sizeof buf) > 0 &&
            strncmp(buf, fn, strlen(fn)) == 0 && buf[strlen(fn)] == '+')
            return 1;
    }
    return 0;
}

static int check_info(const corio_task_info *in, void *arg)
{
    seen *s = arg;
    s->n++;
    if (in->id == s->sleeper_id) {
        assert_int_equal(in->state, CORIO_TASK_SUSPENDED);
        assert_int_equal(in->wait_kind, CORIO_WAIT_SLEEP);
        assert_string_equal(in->name, "sleeper");
        assert_int_equal(in->parent_id, s->main_id);
        assert_true(in->suspended_for >= 0.0 && in->suspended_for < 10.0);
        assert_true(has_frame(in, "sleep_deep"));
        assert_true(has_frame(in, "sleeper"));
        assert_non_null(strstr(in->wait_desc, "wakes in"));
        s->sleeper_ok = 1;
    } else if (in->id == s->fwaiter_id) {
        assert_int_equal(in->wait_kind, CORIO_WAIT_FUTURE);
        assert_true(has_frame(in, "wait_future_deep"));
        assert_non_null(strstr(in->wait_desc, "pending"));
        assert_int_equal(in->blocked_on_id, 0);
        s->fwaiter_ok = 1;
    } else if (in->id == s->awaiter_id) {
        assert_int_equal(in->wait_kind, CORIO_WAIT_TASK);
        assert_int_equal(in->blocked_on_id, s->sleeper_id);
        assert_true(has_frame(in, "await_deep"));
        assert_non_null(strstr(in->wait_desc, "'sleeper'"));
        s->awaiter_ok = 1;
    } else if (in->id == s->fresh_id) {
        assert_int_equal(in->state, CORIO_TASK_CREATED);
        assert_int_equal(in->nframes, 0);
        assert_non_null(in->spawn_site);
        s->fresh_ok = 1;
    } else if (in->id == s->main_id) {
        /* The caller itself: its live stack, starting in this file. */
        assert_int_equal(in->state, CORIO_TASK_RUNNING);
        assert_true(has_frame(in, "dump_main"));
        s->main_ok = 1;
    }
    return 0;
}

NOINLINE static corio_task *spawn_named(corio_fn fn, void *arg, const char *name)
{
    corio_spawn_opts o;
    corio_task *t = NULL;
    memset(&o, 0, sizeof o);
    o.name = name;
    assert_int_equal(corio_spawn_ex(&t, fn, arg, &o), 0);
    return t;
}

static void *nothing(void *arg)
{
    (void)arg;
    return NULL;
}

NOINLINE static void *dump_main(void *arg)
{
    seen s;
    corio_future *f;
    corio_task *sl, *fw, *aw, *fresh;
    FILE *out = tmpfile();
    char *text;
    (void)arg;
    memset(&s, 0, sizeof s);
    s.main_id = corio_task_id(corio_current());
    assert_int_equal(corio_future_create(NULL, &f), 0);
    sl = spawn_named(sleeper, NULL, "sleeper");
    fw = spawn_named(future_waiter, f, "fwaiter");
    aw = spawn_named(awaiter, sl, "awaiter");
    assert_int_equal(corio_sleep(0.01), 0);
    fresh = spawn_named(nothing, NULL, "fresh");
    s.sleeper_id = corio_task_id(sl);
    s.fwaiter_id = corio_task_id(fw);
    s.awaiter_id = corio_task_id(aw);
    s.fresh_id = corio_task_id(fresh);

    assert_int_equal(corio_debug_tasks(NULL, check_info, &s), 0);
    assert_int_equal(s.n, 5);
    assert_true(s.sleeper_ok && s.fwaiter_ok && s.awaiter_ok && s.fresh_ok && s.main_ok);

    /* The human dump says the same in words. */
    assert_int_equal(corio_dump(out), 5);
    text = slurp(out);
    assert_has(text, "'sleeper' suspended for");
    assert_has(text, "waits on: sleep: sleep, wakes in");
    assert_has(text, "waits on: task: task #");
    assert_has(text, "waits on: future: future 0x");
    assert_has(text, "sleep_deep+0x");
    assert_has(text, "test_debug_dump.c:"); /* file:line via libdw */
    assert_has(text, "spawned at spawn_named+0x");
    assert_has(text, "(not started yet)");
    assert_has(text, "'main' running");
    free(text);
    fclose(out);

    /* Clean up: the awaiter ends when the sleeper is cancelled. */
    corio_cancel(sl);
    corio_future_set_result(f, NULL);
    assert_int_equal(corio_await(aw, NULL), -ECANCELED);
    assert_int_equal(corio_await(fw, NULL), 0);
    assert_int_equal(corio_await(fresh, NULL), 0);
    corio_future_destroy(f);
    return NULL;
}

static void test_dump_default_stacks(void **state)
{
    (void)state;
    assert_int_equal(tu_run(dump_main, NULL, NULL), 0);
}

static void test_dump_compact_stacks(void **state)
{
    corio_loop_config c;
    (void)state;
    if (tu_under_asan())
        skip(); /* compact mode is not available under ASan */
    memset(&c, 0, sizeof c);
    c.stack_mode = CORIO_STACK_COMPACT;
    assert_int_equal(tu_run_cfg(dump_main, NULL, NULL, &c), 0);
}

/* ---- dump on a signal -------------------------------------------------------*/

static void *signal_main(void *arg)
{
    corio_task *sl = spawn_named(sleeper, NULL, "sleeper");
    (void)arg;
    assert_int_equal(corio_debug_dump_on_signal(NULL, SIGUSR1), 0);
    assert_int_equal(corio_sleep(0.005), 0);
    raise(SIGUSR1);
    /* The dump happens at the loop's next iteration, not in the handler. */
    assert_int_equal(corio_sleep(0.005), 0);
    assert_int_equal(corio_debug_dump_on_signal(NULL, 0), 0);
    corio_cancel(sl);
    assert_int_equal(corio_await(sl, NULL), -ECANCELED);
    return NULL;
}

static void test_dump_on_signal(void **state)
{
    char *r;
    (void)state;
    r = tu_run_report(signal_main, NULL, NULL);
    assert_has(r, "corio: dump requested by signal");
    assert_has(r, "'sleeper' suspended for");
    assert_has(r, "sleep_deep+0x");
    free(r);
}

static void test_bad_signal(void **state)
{
    corio_loop *loop;
    (void)state;
    assert_int_equal(corio_loop_create(&loop, NULL), 0);
    assert_int_equal(corio_debug_dump_on_signal(loop, SIGKILL), -EINVAL);
    assert_int_equal(corio_debug_dump_on_signal(loop, -1), -EINVAL);
    assert_int_equal(corio_loop_close(loop), 0);
    assert_int_equal(corio_dump(stderr), -EPERM); /* no loop */
}

static void test_symbolize(void **state)
{
    char buf[256];
    (void)state;
    assert_true(corio_debug_symbolize((const void *)(uintptr_t)dump_main, buf,
                                      sizeof buf) > 0);
    assert_has(buf, "dump_main+0x0");
    assert_int_equal(corio_debug_symbolize(NULL, buf, 0), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_default_stacks),
        cmocka_unit_test(test_dump_compact_stacks),
        cmocka_unit_test(test_dump_on_signal),
        cmocka_unit_test(test_bad_signal),
        cmocka_unit_test(test_symbolize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
