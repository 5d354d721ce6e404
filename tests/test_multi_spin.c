/*
 * Spin-then-park of the loops of a corio_run_multi runtime
 * (corio_multi_config.spin_us): a spinning loop still serves its fds and
 * its timers, stops spinning when spins find nothing, and a cross-loop
 * wake-up racing a cancellation is settled the same whether the woken loop
 * spins or sleeps. Bounds are structural (a broken spin costs whole seconds
 * per wait), never tight latencies.
 *
 * Tasks record failures with CHECK (cmocka is not thread-safe).
 */
#include "testutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "multi_check.h"

/* remote.c's seam: 0 keeps a preempted spin spinning, so that the bounds
 * below hold whole one-second spins to account even on a loaded machine. */
extern int corio__spin_preempt_check;

static int run(corio_fn fn, void *arg, unsigned threads, int spin_us)
{
    corio_multi_config c;
    memset(&c, 0, sizeof c);
    c.threads = threads;
    c.spin_us = spin_us;
    atomic_store(&failures, 0);
    return corio_run_multi(fn, arg, NULL, &c);
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *nop(void *arg)
{
    return arg;
}

static void test_config(void **state)
{
    corio_multi_config c;
    (void)state;
    memset(&c, 0, sizeof c);
    c.threads = 1;
    c.spin_us = -2;
    assert_int_equal(corio_run_multi(nop, NULL, NULL, &c), -EINVAL);
    c.spin_us = 1000001;
    assert_int_equal(corio_run_multi(nop, NULL, NULL, &c), -EINVAL);
    c.spin_us = -1;
    assert_int_equal(corio_run_multi(nop, NULL, NULL, &c), 0);
    c.spin_us = 1000000;
    assert_int_equal(corio_run_multi(nop, NULL, NULL, &c), 0);
}

/* ---- fds are served while a loop spins -----------------------------------------
 * Loops spin for a whole second. Loop 1 echoes bytes between two pipes and
 * loop 0 sends them: every wait is for an fd, with no message to end the
 * spin. A spin that did not look at the poller would add up to a second
 * per wait (8 per loop before it goes cold). */

#define PIPE_ROUNDS 40
static int p01[2], p10[2];

static void *echoer(void *arg)
{
    int i;
    char b;
    (void)arg;
    for (i = 0; i < PIPE_ROUNDS; i++) {
        CHECK(corio_wait_fd(p01[0], CORIO_READABLE) > 0);
        CHECK(read(p01[0], &b, 1) == 1);
        CHECK(write(p10[1], &b, 1) == 1);
    }
    return NULL;
}

static void *pipes_main(void *arg)
{
    corio_xtask *h;
    int i;
    char b = 'x';
    (void)arg;
    CHECK(corio_spawn_on(&h, corio_loop_get(1), echoer, NULL) == 0);
    for (i = 0; i < PIPE_ROUNDS; i++) {
        CHECK(write(p01[1], &b, 1) == 1);
        CHECK(corio_wait_fd(p10[0], CORIO_READABLE) > 0);
        CHECK(read(p10[0], &b, 1) == 1);
    }
    CHECK(corio_xtask_await(h, NULL, 0) == 0);
    return NULL;
}

static void test_fds_while_spinning(void **state)
{
    double t0;
    (void)state;
    assert_int_equal(pipe(p01), 0);
    assert_int_equal(pipe(p10), 0);
    t0 = wall();
    corio__spin_preempt_check = 0;
    assert_int_equal(run(pipes_main, NULL, 2, 1000000), 0);
    corio__spin_preempt_check = 1;
    assert_int_equal(atomic_load(&failures), 0);
    assert_true(wall() - t0 < 3.0 + 4 * tu_slack());
    close(p01[0]);
    close(p01[1]);
    close(p10[0]);
    close(p10[1]);
}

/* ---- timers fire while a loop spins, and a fruitless spin goes cold -------------
 * With a one-second spin, 2 ms sleeps must still take about 2 ms each, and
 * the loop must stop spinning after a few of them: its thread's CPU time
 * stays well under the wall time. */

#define SLEEPS 100

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sleeper(void *arg)
{
    double *cpu = arg, c0 = thread_cpu();
    int i;
    for (i = 0; i < SLEEPS; i++)
        CHECK(corio_sleep(0.002) == 0);
    *cpu = thread_cpu() - c0;
    return NULL;
}

static void *timers_main(void *arg)
{
    corio_xtask *h;
    double *cpu = arg;
    CHECK(corio_spawn_on(&h, corio_loop_get(1), sleeper, cpu) == 0);
    CHECK(corio_xtask_await(h, NULL, 0) == 0);
    return NULL;
}

static void test_timers_while_spinning(void **state)
{
    double t0, el, cpu = 0;
    (void)state;
    t0 = wall();
    corio__spin_preempt_check = 0;
    assert_int_equal(run(timers_main, &cpu, 2, 1000000), 0);
    corio__spin_preempt_check = 1;
    el = wall() - t0;
    assert_int_equal(atomic_load(&failures), 0);
    /* 100 x 2 ms: not 100 x 1 s of spinning past the timers. */
    assert_true(el < 2.0 + 4 * tu_slack());
    /* Spinning until each timer is due would burn about el. */
    if (!tu_slow())
        assert_true(cpu < 0.5 * el + 0.05);
}

/* ---- a cross-loop wake-up racing cancellation, spinning and not -----------------
 * A task on loop 1 awaits a task on loop 0 that finishes at about the
 * moment a third party cancels the awaiter. Either the outcome arrived
 * (0 and the value) or the wait was cancelled (-ECANCELED, and the awaited
 * task was cancelled with it). Every round ends, none leaks. */

#define WAKE_ROUNDS 300

static void *short_job(void *arg)
{
    corio_yield();
    return arg;
}

static void *awaiter(void *arg)
{
    corio_xtask *h;
    void *v = NULL;
    int rc;
    (void)arg;
    CHECK(corio_spawn_on(&h, corio_loop_get(0), short_job, (void *)(intptr_t)7) == 0);
    rc = corio_xtask_await(h, &v, 0);
    CHECK((rc == 0 && (intptr_t)v == 7) || rc == -ECANCELED);
    return NULL;
}

static void *wake_race_main(void *arg)
{
    int i, rc;
    (void)arg;
    for (i = 0; i < WAKE_ROUNDS; i++) {
        corio_xtask *h;
        CHECK(corio_spawn_on(&h, corio_loop_get(1), awaiter, NULL) == 0);
        if (i % 3)
            corio_yield();
        if (i % 5 == 0)
            corio_sleep(0.00001);
        corio_xtask_cancel(h);
        rc = corio_xtask_await(h, NULL, 0);
        CHECK(rc == 0 || rc == -ECANCELED);
    }
    return NULL;
}

static void test_wake_races_cancel(void **state)
{
    (void)state;
    assert_int_equal(run(wake_race_main, NULL, 2, -1), 0);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(run(wake_race_main, NULL, 2, 0), 0);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(run(wake_race_main, NULL, 2, 200), 0);
    assert_int_equal(atomic_load(&failures), 0);
}


/* ---- a timer callback posts cross-loop work during the shutdown -----------------
 * main ends at once; a callback armed on loop 1 fires afterwards, while
 * the runtime shuts down, and spawns a task on loop 0 and cancels another
 * one there. The runtime must not call the loops finished while the timer
 * is pending (then loop 0 could be closed under the message), and the
 * late tasks are cancelled or run, never leaked. */

static atomic_int late_ran, late_fired;

static void *late_task(void *arg)
{
    (void)arg;
    atomic_fetch_add(&late_ran, 1);
    corio_sleep(10); /* cancelled by the shutdown */
    return NULL;
}

static void late_cb(void *arg)
{
    corio_xtask *h = NULL;
    (void)arg;
    atomic_fetch_add(&late_fired, 1);
    CHECK(corio_spawn_on(NULL, corio_loop_get(0), late_task, NULL) == 0);
    CHECK(corio_spawn_on(&h, corio_loop_get(0), late_task, NULL) == 0);
    if (h) {
        corio_xtask_cancel(h);
        corio_xtask_detach(h);
    }
}

static void *arm_timer(void *arg)
{
    CHECK(corio_call_later(NULL, *(double *)arg, late_cb, NULL) == 0);
    return NULL;
}

static void *late_main(void *arg)
{
    corio_xtask *h;
    CHECK(corio_spawn_on(&h, corio_loop_get(1), arm_timer, arg) == 0);
    CHECK(corio_xtask_await(h, NULL, 0) == 0);
    return NULL; /* the timer is still pending on loop 1 */
}

static void test_timer_posts_during_shutdown(void **state)
{
    static const double delays[] = {0.0, 0.0005, 0.002, 0.02};
    int spin, i, r;
    (void)state;
    for (spin = -1; spin <= 0; spin++)
        for (r = 0; r < 10; r++)
            for (i = 0; i < 4; i++) {
                double d = delays[i];
                atomic_store(&late_fired, 0);
                assert_int_equal(run(late_main, &d, 2, spin), 0);
                assert_int_equal(atomic_load(&failures), 0);
                /* The pending timer kept the runtime up until it fired. */
                assert_int_equal(atomic_load(&late_fired), 1);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_fds_while_spinning),
        cmocka_unit_test(test_timers_while_spinning),
        cmocka_unit_test(test_wake_races_cancel),
        cmocka_unit_test(test_timer_posts_during_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
