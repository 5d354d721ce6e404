/*
 * The loop: explicit create/run/stop/close, run modes, run_until, the close
 * report (pending and never-awaited tasks), -EBUSY/-EPERM/-EINVAL, deadlock
 * detection, corio_run's contract, and two loops on two threads.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tu_log lg;

static void *return_arg(void *arg) { return arg; }

static void *sleep_ms(void *arg)
{
    int rc = corio_sleep((double)(intptr_t)arg / 1000.0);
    tu_log_add(&lg, (int)(intptr_t)arg);
    return rc ? corio_fail(rc) : arg;
}

/* Yields until interrupted: always ready, never done. */
static void *yield_forever(void *arg)
{
    while (corio_yield() == 0)
        ;
    return arg;
}

static FILE *report_file(corio_loop_config *c)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    memset(c, 0, sizeof *c);
    c->report_file = f;
    return f;
}

static char *read_report(FILE *f)
{
    long n;
    char *s;
    fflush(f);
    n = ftell(f);
    s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    rewind(f);
    if (n > 0)
        assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("report lacks \"%s\":\n%s", needle, hay);
}

/* ---- explicit lifecycle ---------------------------------------------------------*/

static void create_run_close_explicitly(void **state)
{
    corio_loop *l;
    corio_task *t;
    corio_spawn_opts o = {0};
    void *r;
    (void)state;
    tu_log_reset(&lg);
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    assert_ptr_equal(corio_loop_current(), l);
    o.loop = l;
    o.flags = CORIO_SPAWN_DETACHED;
    assert_int_equal(corio_spawn_ex(NULL, sleep_ms, (void *)300, &o), 0);
    o.flags = CORIO_SPAWN_EAGER; /* the loop is not running: just queued */
    assert_int_equal(corio_spawn_ex(&t, sleep_ms, (void *)5, &o), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_CREATED);
    assert_int_equal(corio_task_count(l), 2);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_DEFAULT), 0);
    {
        static const int want[] = {5, 300};
        tu_log_expect(&lg, want, 2);
    }
    /* Outside any task: collect the result through the task's future. */
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    assert_int_equal(corio_future_result(corio_task_future(t), &r), 0);
    assert_ptr_equal(r, (void *)5);
    corio_detach(t);
    assert_int_equal(corio_task_count(l), 0);
    /* Nothing to do: returns at once. */
    assert_int_equal(corio_loop_run(l, CORIO_RUN_DEFAULT), 0);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_NOWAIT), 0);
    assert_int_equal(corio_loop_close(l), 0);
    assert_null(corio_loop_current());
}

static void null_and_bad_arguments(void **state)
{
    corio_loop *l = (corio_loop *)&l;
    corio_loop_config c = {0};
    (void)state;
    assert_int_equal(corio_loop_run(NULL, CORIO_RUN_DEFAULT), -EINVAL);
    assert_int_equal(corio_loop_close(NULL), -EINVAL);
    assert_int_equal(corio_loop_run_until(NULL, NULL), -EINVAL);
    corio_loop_stop(NULL);
    assert_int_equal(corio_call_soon_threadsafe(NULL, free, NULL), -EINVAL);
    c.stack_mode = 7;
    assert_int_equal(corio_loop_create(&l, &c), -EINVAL);
    assert_null(l);
    assert_null(corio_loop_current());
    c.stack_mode = CORIO_STACK_COMPACT;
    if (tu_under_asan()) {
        assert_int_equal(corio_loop_create(&l, &c), -ENOTSUP);
        assert_null(l);
    } else {
        assert_int_equal(corio_loop_create(&l, &c), 0);
        assert_int_equal(corio_loop_close(l), 0);
    }
}

/* ---- run modes --------------------------------------------------------------------*/

static void run_nowait_never_blocks(void **state)
{
    corio_loop *l;
    corio_task *t;
    double t0;
    int rc, iterations = 0;
    (void)state;
    tu_log_reset(&lg);
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    t = corio_spawn(sleep_ms, (void *)300);
    t0 = corio_now();
    assert_int_equal(corio_loop_run(l, CORIO_RUN_NOWAIT), 1);
    /* A NOWAIT that blocked for the timer would take the whole 0.3 s. */
    assert_true(corio_now() - t0 < 0.2);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    while ((rc = corio_loop_run(l, CORIO_RUN_NOWAIT)) == 1 && corio_now() - t0 < 5)
        iterations++;
    assert_int_equal(rc, 0);
    assert_true(corio_now() - t0 >= 0.3);
    assert_true(iterations > 1); /* it spun: nothing blocked */
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    corio_detach(t);
    assert_int_equal(corio_loop_close(l), 0);
}

static void run_once_blocks_for_the_next_event(void **state)
{
    corio_loop *l;
    corio_task *t;
    double t0;
    int rc, iterations = 0;
    (void)state;
    tu_log_reset(&lg);
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    t = corio_spawn(sleep_ms, (void *)20);
    t0 = corio_now();
    /* First iteration: the task starts and parks; work remains. */
    assert_int_equal(corio_loop_run(l, CORIO_RUN_ONCE), 1);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    /* Then ONCE blocks until the timer and runs the task to its end. */
    while ((rc = corio_loop_run(l, CORIO_RUN_ONCE)) == 1 && corio_now() - t0 < 5)
        iterations++;
    assert_int_equal(rc, 0);
    assert_true(corio_now() - t0 >= 0.02);
    assert_true(iterations <= 3); /* it slept instead of spinning */
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    corio_detach(t);
    assert_int_equal(corio_loop_close(l), 0);
}

static void stop_cb(void *arg) { corio_loop_stop(arg); }

static void stop_makes_run_return_one(void **state)
{
    corio_loop *l;
    corio_task *t;
    (void)state;
    tu_log_reset(&lg);
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    t = corio_spawn(sleep_ms, (void *)300);
    /* Queued behind the task: it stops the loop after the task parked. */
    assert_int_equal(corio_call_soon(l, stop_cb, l), 0);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_DEFAULT), 1);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    /* A stop from a timer, while the loop sleeps in poll. */
    assert_int_equal(corio_call_later(l, 0.01, stop_cb, l), 0);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_DEFAULT), 1);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    /* Stopped, not finished: run again to finish. */
    assert_int_equal(corio_loop_run(l, CORIO_RUN_DEFAULT), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_DONE);
    corio_detach(t);
    assert_int_equal(corio_loop_close(l), 0);
}

/* ---- run_until -------------------------------------------------------------------*/

static void complete_cb(void *arg) { corio_future_set_result(arg, (void *)44); }
static void fail_cb(void *arg) { corio_future_set_error(arg, -EPROTO); }

static void run_until_returns_the_future_status(void **state)
{
    corio_loop *l;
    corio_future *f;
    corio_task *bg;
    void *v;
    (void)state;
    tu_log_reset(&lg);
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    /* Other work still pending when f completes: run_until stops anyway. */
    bg = corio_spawn(sleep_ms, (void *)200);
    assert_int_equal(corio_future_create(l, &f), 0);
    assert_int_equal(corio_call_later(l, 0.01, complete_cb, f), 0);
    assert_int_equal(corio_loop_run_until(l, f), 0);
    assert_int_equal(corio_future_result(f, &v), 0);
    assert_ptr_equal(v, (void *)44);
    assert_int_equal(corio_task_state(bg), CORIO_TASK_SUSPENDED);
    /* Already done: returns its status at once. */
    assert_int_equal(corio_loop_run_until(l, f), 0);
    corio_future_destroy(f);
    /* An error status. */
    assert_int_equal(corio_future_create(l, &f), 0);
    assert_int_equal(corio_call_soon(l, fail_cb, f), 0);
    assert_int_equal(corio_loop_run_until(l, f), -EPROTO);
    corio_future_destroy(f);
    /* A task's future. */
    assert_int_equal(corio_loop_run_until(l, corio_task_future(bg)), 0);
    assert_int_equal(corio_future_result(corio_task_future(bg), &v), 0);
    assert_ptr_equal(v, (void *)200);
    corio_detach(bg);
    /* Nothing can complete it: -EDEADLK. */
    assert_int_equal(corio_future_create(l, &f), 0);
    assert_int_equal(corio_loop_run_until(l, f), -EDEADLK);
    /* Stopped first: -EINTR. */
    assert_int_equal(corio_call_later(l, 0.002, stop_cb, l), 0);
    bg = corio_spawn(sleep_ms, (void *)20);
    assert_int_equal(corio_loop_run_until(l, f), -EINTR);
    corio_future_destroy(f);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_DEFAULT), 0);
    corio_detach(bg);
    assert_int_equal(corio_loop_close(l), 0);
}

/* ---- busy / permission errors -----------------------------------------------------*/

static corio_loop *other_loop;
static int cb_run_rc, cb_close_rc;
static void run_from_callback(void *arg)
{
    cb_run_rc = corio_loop_run(arg, CORIO_RUN_DEFAULT);
    cb_close_rc = corio_loop_close(arg);
}

static void *busy_main(void *arg)
{
    corio_loop *self = corio_loop_current();
    int rc;
    (void)arg;
    assert_non_null(self);
    assert_int_equal(corio_loop_close(self), -EBUSY);
    rc = corio_loop_run(self, CORIO_RUN_DEFAULT);
    assert_true(rc == -EBUSY || rc == -EPERM);
    /* Running another loop from inside a task would nest loops. */
    assert_int_equal(corio_loop_run(other_loop, CORIO_RUN_DEFAULT), -EPERM);
    assert_int_equal(corio_loop_run(other_loop, CORIO_RUN_NOWAIT), -EPERM);
    assert_int_equal(corio_loop_run_until(other_loop, corio_task_future(corio_current())),
                     -EPERM);
    /* From a callback of the running loop: busy. */
    cb_run_rc = cb_close_rc = 0;
    assert_int_equal(corio_call_soon(NULL, run_from_callback, self), 0);
    assert_int_equal(corio_yield(), 0);
    assert_int_equal(cb_run_rc, -EBUSY);
    assert_int_equal(cb_close_rc, -EBUSY);
    assert_ptr_equal(corio_loop_current(), self);
    return NULL;
}

static void busy_and_nested_runs_are_refused(void **state)
{
    (void)state;
    assert_int_equal(corio_loop_create(&other_loop, NULL), 0);
    assert_int_equal(tu_run(busy_main, NULL, NULL), 0);
    assert_int_equal(corio_loop_close(other_loop), 0);
}

/* ---- close reports ------------------------------------------------------------------*/

static void close_reports_pending_and_unawaited_tasks(void **state)
{
    corio_loop_config c;
    FILE *f = report_file(&c);
    corio_loop *l;
    corio_task *never_ran, *sleeping, *finished, *ready, *awaited;
    corio_spawn_opts o = {0};
    corio_timer user_timer;
    uint64_t id_sleeping, id_finished, id_ready, id_never;
    char *rep, want[128];
    (void)state;
    tu_log_reset(&lg);
    assert_int_equal(corio_loop_create(&l, &c), 0);
    o.name = "sleepy";
    assert_int_equal(corio_spawn_ex(&sleeping, sleep_ms, (void *)10000, &o), 0);
    finished = corio_spawn(return_arg, NULL);
    o.name = "ready-one";
    assert_int_equal(corio_spawn_ex(&ready, yield_forever, NULL, &o), 0);
    awaited = corio_spawn(return_arg, NULL);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_NOWAIT), 1);
    /* Spawned after the iteration: never ran. */
    o.name = "never-ran";
    assert_int_equal(corio_spawn_ex(&never_ran, return_arg, NULL, &o), 0);
    assert_int_equal(corio_task_state(sleeping), CORIO_TASK_SUSPENDED);
    assert_int_equal(corio_task_state(finished), CORIO_TASK_DONE);
    assert_int_equal(corio_task_state(ready), CORIO_TASK_READY);
    assert_int_equal(corio_task_state(never_ran), CORIO_TASK_CREATED);
    corio_detach(awaited); /* the one clean task */
    id_sleeping = corio_task_id(sleeping);
    id_finished = corio_task_id(finished);
    id_ready = corio_task_id(ready);
    id_never = corio_task_id(never_ran);
    /* Work that never gets to run is freed, not leaked (LSan checks). */
    assert_int_equal(corio_call_soon(l, stop_cb, l), 0);
    assert_int_equal(corio_call_later(l, 100, stop_cb, l), 0);
    memset(&user_timer, 0, sizeof user_timer);
    assert_int_equal(corio_timer_start(l, &user_timer, 100, stop_cb, l), 0);
    assert_int_equal(corio_loop_close(l), 4);
    assert_int_equal(corio_timer_active(&user_timer), 0);
    rep = read_report(f);
    snprintf(want, sizeof want, "loop closed with task #%llu 'sleepy' still suspended in sleep",
             (unsigned long long)id_sleeping);
    assert_contains(rep, want);
    snprintf(want, sizeof want, "loop closed with task #%llu 'ready-one' still ready",
             (unsigned long long)id_ready);
    assert_contains(rep, want);
    snprintf(want, sizeof want, "loop closed with task #%llu 'never-ran' still created",
             (unsigned long long)id_never);
    assert_contains(rep, want);
    snprintf(want, sizeof want, "task #%llu 'task-%llu' finished but was never awaited or detached",
             (unsigned long long)id_finished, (unsigned long long)id_finished);
    assert_contains(rep, want);
    free(rep);
}

static void close_report_names_ids(void **state)
{
    corio_loop_config c;
    FILE *f = report_file(&c);
    corio_loop *l;
    corio_task *t;
    char *rep, want[96];
    (void)state;
    assert_int_equal(corio_loop_create(&l, &c), 0);
    t = corio_spawn(return_arg, NULL);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_DEFAULT), 0);
    snprintf(want, sizeof want, "task #%llu 'task-%llu' finished but was never awaited",
             (unsigned long long)corio_task_id(t), (unsigned long long)corio_task_id(t));
    assert_int_equal(corio_loop_close(l), 1);
    rep = read_report(f);
    assert_contains(rep, want);
    free(rep);
}

/* corio_run's report, through tu_run_report. */
static uint64_t leaked_id;
static void *leaks_an_unawaited_child(void *arg)
{
    corio_spawn_opts o = {0};
    corio_task *t;
    (void)arg;
    o.name = "orphan";
    assert_int_equal(corio_spawn_ex(&t, return_arg, NULL, &o), 0);
    leaked_id = corio_task_id(t);
    assert_int_equal(corio_yield(), 0);
    return NULL;
}

static void run_reports_a_task_never_awaited(void **state)
{
    char *rep, want[64];
    (void)state;
    rep = tu_run_report(leaks_an_unawaited_child, NULL, NULL);
    snprintf(want, sizeof want, "#%llu 'orphan'", (unsigned long long)leaked_id);
    assert_contains(rep, want);
    assert_contains(rep, "never awaited");
    free(rep);
}

static corio_future *stuck_f;
static void *stuck_in_shield(void *arg)
{
    corio_scope sh;
    (void)arg;
    corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
    corio_future_await(stuck_f, NULL); /* nothing completes it */
    corio_scope_exit(&sh);
    return NULL;
}

static void *leaves_a_stuck_task(void *arg)
{
    corio_spawn_opts o = {0};
    (void)arg;
    assert_int_equal(corio_future_create(NULL, &stuck_f), 0);
    o.name = "stuck";
    o.flags = CORIO_SPAWN_DETACHED;
    assert_int_equal(corio_spawn_ex(NULL, stuck_in_shield, NULL, &o), 0);
    assert_int_equal(corio_yield(), 0);
    return NULL;
}

static void run_reports_a_task_still_pending(void **state)
{
    char *rep;
    int status = 1;
    (void)state;
    /* corio_run cancels it, but the shield keeps it waiting: it is still
     * suspended when the loop closes. */
    rep = tu_run_report_status(leaves_a_stuck_task, NULL, NULL, &status);
    assert_int_equal(status, 0); /* main itself ended fine */
    assert_contains(rep, "'stuck' still suspended in future");
    free(rep);
    corio_future_destroy(stuck_f); /* its waiter was discarded with the loop */
}

/* ---- deadlock ---------------------------------------------------------------------------*/

static int deadlock_await_rc;
static uint64_t main_id;
static void *main_awaits_forever(void *arg)
{
    corio_future *f;
    (void)arg;
    main_id = corio_task_id(corio_current());
    assert_int_equal(corio_future_create(NULL, &f), 0);
    deadlock_await_rc = corio_future_await(f, NULL);
    corio_future_destroy(f);
    return NULL;
}

static void deadlock_is_detected_and_reported(void **state)
{
    int status = 0;
    char *rep;
    double t0 = corio_now();
    (void)state;
    deadlock_await_rc = 1;
    rep = tu_run_report_status(main_awaits_forever, NULL, NULL, &status);
    assert_int_equal(status, -EDEADLK);
    assert_true(corio_now() - t0 < 1); /* detected, not timed out */
    assert_contains(rep, "deadlock");
    {
        char want[64];
        snprintf(want, sizeof want, "#%llu 'main'", (unsigned long long)main_id);
        assert_contains(rep, want);
    }
    assert_contains(rep, "future");
    /* main was then cancelled so that it could clean up. */
    assert_int_equal(deadlock_await_rc, -ECANCELED);
    free(rep);
}

static corio_future *dl_f;
static void *child_awaits_forever(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)corio_future_await(dl_f, NULL);
}

static void *main_awaits_a_stuck_child(void *arg)
{
    corio_spawn_opts o = {0};
    corio_task *t;
    (void)arg;
    main_id = corio_task_id(corio_current());
    assert_int_equal(corio_future_create(NULL, &dl_f), 0);
    o.name = "waiter";
    assert_int_equal(corio_spawn_ex(&t, child_awaits_forever, NULL, &o), 0);
    corio_await(t, NULL);
    corio_future_destroy(dl_f);
    return NULL;
}

static void deadlock_report_lists_every_waiting_task(void **state)
{
    int status = 0;
    char *rep;
    (void)state;
    rep = tu_run_report_status(main_awaits_a_stuck_child, NULL, NULL, &status);
    assert_int_equal(status, -EDEADLK);
    assert_contains(rep, "deadlock");
    {
        char want[64];
        snprintf(want, sizeof want, "#%llu 'main'", (unsigned long long)main_id);
        assert_contains(rep, want);
        snprintf(want, sizeof want, "#%llu 'waiter'", (unsigned long long)main_id + 1);
        assert_contains(rep, want);
    }
    assert_contains(rep, "future");
    free(rep);
}

static void explicit_loop_run_reports_edeadlk(void **state)
{
    corio_loop *l;
    corio_task *t;
    (void)state;
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    assert_int_equal(corio_future_create(l, &dl_f), 0);
    t = corio_spawn(child_awaits_forever, NULL);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_DEFAULT), -EDEADLK);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    /* Unblock it and finish cleanly. */
    corio_future_set_result(dl_f, NULL);
    assert_int_equal(corio_loop_run(l, CORIO_RUN_DEFAULT), 0);
    corio_detach(t);
    corio_future_destroy(dl_f);
    assert_int_equal(corio_loop_close(l), 0);
}

/* ---- corio_run ---------------------------------------------------------------------------*/

static void *main_fails(void *arg) { return corio_fail((int)(intptr_t)arg); }

static void *main_cancels_itself(void *arg)
{
    (void)arg;
    corio_cancel(corio_current());
    assert_int_equal(corio_sleep(0), -ECANCELED);
    return (void *)1;
}

static int bg_rc;
static double bg_t0;
static void *bg_sleeper(void *arg)
{
    (void)arg;
    bg_rc = corio_sleep(10);
    return NULL;
}

static void *main_leaves_background_work(void *arg)
{
    corio_spawn_opts o = {0};
    (void)arg;
    o.flags = CORIO_SPAWN_DETACHED;
    assert_int_equal(corio_spawn_ex(NULL, bg_sleeper, NULL, &o), 0);
    assert_int_equal(corio_spawn_ex(NULL, bg_sleeper, NULL, &o), 0);
    assert_int_equal(corio_yield(), 0);
    return (void *)7;
}

static void run_returns_main_status_and_result(void **state)
{
    void *r = NULL;
    (void)state;
    assert_int_equal(tu_run(return_arg, (void *)3, &r), 0);
    assert_ptr_equal(r, (void *)3);
    assert_int_equal(tu_run(main_fails, (void *)(intptr_t)-ENOENT, &r), -ENOENT);
    assert_null(r);
    assert_int_equal(tu_run(main_cancels_itself, NULL, NULL), -ECANCELED);
    assert_int_equal(corio_run(return_arg, (void *)4, &r), 0);
    assert_ptr_equal(r, (void *)4);
    assert_int_equal(corio_run(return_arg, NULL, NULL), 0);
    assert_null(corio_loop_current());
}

static void run_cancels_and_waits_for_detached_tasks(void **state)
{
    void *r = NULL;
    (void)state;
    bg_rc = 1;
    bg_t0 = corio_now();
    assert_int_equal(tu_run(main_leaves_background_work, NULL, &r), 0);
    assert_ptr_equal(r, (void *)7);
    assert_int_equal(bg_rc, -ECANCELED);
    assert_true(corio_now() - bg_t0 < 1);
}

/* corio_run waits for the tasks it cancelled, not for timers nobody waits
 * on (asyncio.run drops pending call_later handles too): a one-shot an hour
 * ahead and a timer that re-arms itself forever must not keep it running.
 * Run in a child with an alarm, so a regression fails instead of hanging. */
static corio_timer periodic;
static int periodic_fired;
static void periodic_cb(void *arg)
{
    periodic_fired++;
    corio_timer_start(NULL, &periodic, 0.001, periodic_cb, arg);
}

static void never_cb(void *arg) { (void)arg; abort(); }

static int leftover_rc;
static void *main_leaves_timers(void *arg)
{
    corio_spawn_opts o = {0};
    (void)arg;
    assert_int_equal(corio_call_later(NULL, 3600, never_cb, NULL), 0);
    assert_int_equal(corio_timer_start(NULL, &periodic, 0.001, periodic_cb, NULL), 0);
    o.flags = CORIO_SPAWN_DETACHED;
    assert_int_equal(corio_spawn_ex(NULL, bg_sleeper, NULL, &o), 0);
    assert_int_equal(corio_sleep(0.01), 0);
    return NULL;
}

static void run_with_leftover_timers(void *arg)
{
    char *rep;
    double t0 = corio_now();
    (void)arg;
    alarm(10);
    bg_rc = 1;
    rep = tu_run_report_status(main_leaves_timers, NULL, NULL, &leftover_rc);
    /* cmocka is not ours in the child: report through the exit code. */
    if (leftover_rc != 0 || rep[0] != 0 || bg_rc != -ECANCELED || periodic_fired == 0 ||
        corio_timer_active(&periodic) || corio_now() - t0 > 5) {
        fprintf(stderr, "rc %d, bg %d, fired %d, active %d, %.1f s, report:\n%s\n", leftover_rc,
                bg_rc, periodic_fired, corio_timer_active(&periodic), corio_now() - t0, rep);
        _exit(1);
    }
    free(rep);
}

static void run_does_not_wait_for_leftover_timers(void **state)
{
    if (tu_under_qemu())
        skip(); /* its forked child with alarm() hangs under qemu-user */
    char *err = NULL;
    int status;
    (void)state;
    status = tu_fork_run(run_with_leftover_timers, NULL, &err);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child status 0x%x (SIGALRM = %d: corio_run waited for the timers); stderr:\n%s",
                 status, SIGALRM, err);
    free(err);
}

/* ---- two loops on two threads ------------------------------------------------------------*/

struct thread_run {
    int id;
    int rc;
    long sum;
    long tasks_seen;
};

static void *worker_task(void *arg)
{
    intptr_t i = (intptr_t)arg;
    int k;
    for (k = 0; k < 5; k++) {
        if (corio_sleep(0.001 * (double)(i % 3)) != 0)
            return corio_fail(-EIO);
        if (corio_yield() != 0)
            return corio_fail(-EIO);
    }
    return (void *)(i * 2);
}

static void *thread_main_task(void *arg)
{
    struct thread_run *tr = arg;
    corio_task *t[200];
    int i;
    for (i = 0; i < 200; i++)
        t[i] = corio_spawn(worker_task, (void *)(intptr_t)i);
    tr->tasks_seen = (long)corio_task_count(NULL);
    for (i = 0; i < 200; i++) {
        void *r;
        if (corio_await(t[i], &r) != 0)
            return corio_fail(-EIO);
        tr->sum += (long)(intptr_t)r;
    }
    return NULL;
}

static void *thread_fn(void *arg)
{
    struct thread_run *tr = arg;
    tr->rc = corio_run(thread_main_task, tr, NULL);
    if (corio_loop_current() != NULL)
        tr->rc = -100;
    return NULL;
}

static void two_loops_on_two_threads(void **state)
{
    if (tu_under_qemu())
        skip(); /* threads hang under qemu-user */
    struct thread_run tr[2];
    pthread_t th[2];
    int i;
    (void)state;
    memset(tr, 0, sizeof tr);
    for (i = 0; i < 2; i++) {
        tr[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, thread_fn, &tr[i]), 0);
    }
    for (i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(tr[i].rc, 0);
        assert_int_equal(tr[i].tasks_seen, 201); /* its own tasks only */
        assert_int_equal(tr[i].sum, 2L * (199 * 200 / 2));
    }
    assert_null(corio_loop_current()); /* this thread never had one */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_run_close_explicitly),
        cmocka_unit_test(null_and_bad_arguments),
        cmocka_unit_test(run_nowait_never_blocks),
        cmocka_unit_test(run_once_blocks_for_the_next_event),
        cmocka_unit_test(stop_makes_run_return_one),
        cmocka_unit_test(run_until_returns_the_future_status),
        cmocka_unit_test(busy_and_nested_runs_are_refused),
        cmocka_unit_test(close_reports_pending_and_unawaited_tasks),
        cmocka_unit_test(close_report_names_ids),
        cmocka_unit_test(run_reports_a_task_never_awaited),
        cmocka_unit_test(run_reports_a_task_still_pending),
        cmocka_unit_test(deadlock_is_detected_and_reported),
        cmocka_unit_test(deadlock_report_lists_every_waiting_task),
        cmocka_unit_test(explicit_loop_run_reports_edeadlk),
        cmocka_unit_test(run_returns_main_status_and_result),
        cmocka_unit_test(run_cancels_and_waits_for_detached_tasks),
        cmocka_unit_test(run_does_not_wait_for_leftover_timers),
        cmocka_unit_test(two_loops_on_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
