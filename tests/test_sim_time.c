/*
 * Deterministic simulation, part 1: virtual time and the thread pool in the
 * loop (include/corio_sim.h). Sleeps, timers, scopes and wait_for follow a
 * virtual clock that jumps to the next timer when no task can run, so every
 * "hour" here takes milliseconds; without virtual time this suite would
 * need hours and fail on its timeout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ---- an hour of sleeps ------------------------------------------------------*/

#define SLEEPERS 200
static double woke_at[SLEEPERS];

static void *hour_sleeper(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    double t0 = corio_now();
    int k;
    /* 60 naps of up to a minute each: up to an hour per task. */
    for (k = 0; k < 60; k++)
        if (corio_sleep((double)((i * 7 + (size_t)k * 13) % 60 + 1)) < 0)
            return corio_fail(-EIO);
    woke_at[i] = corio_now() - t0;
    return NULL;
}

static void *hour_main(void *arg)
{
    corio_task *t[SLEEPERS];
    size_t i;
    double t0 = corio_now();
    (void)arg;
    for (i = 0; i < SLEEPERS; i++)
        t[i] = corio_spawn(hour_sleeper, (void *)(uintptr_t)i);
    for (i = 0; i < SLEEPERS; i++)
        if (corio_await(t[i], NULL) < 0)
            return corio_fail(-EIO);
    return (void *)(uintptr_t)(corio_now() - t0 >= 1800);
}

static void an_hour_of_sleeps_takes_milliseconds(void **state)
{
    corio_sim_stats st;
    void *res = NULL;
    size_t i;
    (void)state;
    assert_int_equal(corio_sim_run(1, hour_main, NULL, &res, NULL, &st), 0);
    assert_int_equal((int)(uintptr_t)res, 1);
    /* Each task slept exactly the sum of its naps: virtual time is exact. */
    for (i = 0; i < SLEEPERS; i++) {
        int k;
        double want = 0;
        for (k = 0; k < 60; k++)
            want += (double)((i * 7 + (size_t)k * 13) % 60 + 1);
        assert_true(fabs(woke_at[i] - want) < 1e-6);
    }
    assert_true(st.virtual_seconds >= 1800);
    assert_true(st.time_jumps > 0);
    /* Structure, not latency: far more virtual than real time. */
    assert_true(st.virtual_seconds > 100 * st.real_seconds);
    print_message("sim: %.0f virtual s in %.3f real s (%.0fx), %llu iterations\n",
                  st.virtual_seconds, st.real_seconds,
                  st.virtual_seconds / st.real_seconds, (unsigned long long)st.iterations);
}

/* ---- corio_now, scopes, wait_for ---------------------------------------------*/

static void *long_sleep(void *arg)
{
    (void)arg;
    corio_sleep(3600);
    return NULL;
}

static void *now_main(void *arg)
{
    double t0 = corio_now(), t1;
    corio_scope sc;
    corio_task *t;
    int rc;
    corio_timer tm;
    (void)arg;
    /* corio_now follows sleeps exactly. */
    if (corio_sleep(1.5) < 0 || fabs(corio_now() - t0 - 1.5) > 1e-9)
        return corio_fail(-EPROTO);
    /* A scope's deadline in virtual time. */
    t1 = corio_now();
    corio_scope_enter(&sc, 30.0, 0);
    rc = corio_sleep(86400);
    if (corio_scope_exit(&sc) != 1 || rc != -ETIMEDOUT || fabs(corio_now() - t1 - 30.0) > 1e-9)
        return corio_fail(-ERANGE);
    /* wait_for: times out at exactly its timeout. */
    t1 = corio_now();
    t = corio_spawn(long_sleep, NULL);
    rc = corio_wait_for(t, 120.0, NULL);
    if (rc != -ETIMEDOUT || fabs(corio_now() - t1 - 120.0) > 1e-9)
        return corio_fail(-EDOM);
    /* A user timer an hour ahead. */
    corio_timer_init(&tm);
    t1 = corio_now();
    return (void *)(uintptr_t)(corio_sleep_until(t1 + 3600) == 0 &&
                               fabs(corio_now() - t1 - 3600) < 1e-9);
}

static void now_scopes_and_wait_for_follow_virtual_time(void **state)
{
    void *res = NULL;
    (void)state;
    assert_int_equal(corio_sim_run(7, now_main, NULL, &res, NULL, NULL), 0);
    assert_int_equal((int)(uintptr_t)res, 1);
}

/* ---- the thread pool runs on the loop ------------------------------------------*/

static pthread_t loop_thread, job_thread;
static double job_now;

static void *job(void *arg)
{
    job_thread = pthread_self();
    job_now = corio_now();
    return (void *)((uintptr_t)arg * 2);
}

static void *pool_main(void *arg)
{
    void *r = NULL;
    double t0;
    (void)arg;
    loop_thread = pthread_self();
    if (corio_sleep(10) < 0)
        return corio_fail(-EIO);
    t0 = corio_now();
    if (corio_to_thread(job, (void *)21, &r) < 0)
        return corio_fail(-EIO);
    /* Ran on this thread, at this virtual time, taking none. */
    return (void *)(uintptr_t)((uintptr_t)r == 42 && job_now == t0 && corio_now() == t0);
}

static void pool_jobs_run_in_the_loop(void **state)
{
    void *res = NULL;
    (void)state;
    job_thread = (pthread_t)0;
    assert_int_equal(corio_sim_run(3, pool_main, NULL, &res, NULL, NULL), 0);
    assert_int_equal((int)(uintptr_t)res, 1);
    assert_true(pthread_equal(job_thread, loop_thread));
}

/* A task cancelled while its job is queued: the job still runs (it was
 * accepted), its result goes to the discard callback, nothing leaks. */
static int discarded;
static int ran;
static void *job_value(void *arg)
{
    ran++;
    return arg;
}
static void on_discard(void *result, void *arg)
{
    (void)arg;
    discarded = (int)(uintptr_t)result;
}

static void *submit_and_wait(void *arg)
{
    corio_work_opts o;
    void *r = NULL;
    (void)arg;
    memset(&o, 0, sizeof o);
    o.discard = on_discard;
    return (void *)(intptr_t)corio_run_in_executor(NULL, job_value, (void *)7, &r, &o);
}

static void *cancel_main(void *arg)
{
    corio_task *t;
    void *r = NULL;
    char path[64], *data = NULL;
    size_t len = 0;
    int rc;
    (void)arg;
    discarded = ran = 0;
    t = corio_spawn(submit_and_wait, NULL);
    corio_yield();       /* t has submitted and waits */
    corio_cancel(t);
    rc = corio_await(t, &r);
    corio_sleep(0.001); /* the job's callback has run by now */
    /* t was cancelled; the accepted job still ran, once, on this thread;
     * its result was delivered (it was there before t resumed) or went to
     * the discard callback. */
    if (rc != -ECANCELED || ran != 1 || (discarded != 0 && discarded != 7))
        return corio_fail(-EPROTO);
    /* corio_file_* go through the pool too: they work, in the loop. */
    snprintf(path, sizeof path, "/tmp/corio_sim_%d", (int)getpid());
    rc = corio_write_file(path, "virtual", 7, 0);
    if (rc == 0)
        rc = corio_read_file(path, &data, &len, 100);
    unlink(path);
    if (rc < 0 || len != 7 || memcmp(data, "virtual", 7) != 0)
        rc = -EIO;
    free(data);
    return rc < 0 ? corio_fail(rc) : NULL;
}

static void cancelled_pool_wait_and_files(void **state)
{
    int seed;
    (void)state;
    for (seed = 0; seed < 20; seed++)
        assert_int_equal(corio_sim_check((uint64_t)seed, cancel_main, NULL, NULL, NULL), 0);
}

/* io_uring would complete file operations on the kernel's time: a
 * simulation uses epoll (or poll, asked for by name) whatever is asked. */
static const char *sim_backend;
static void *backend_main(void *arg)
{
    (void)arg;
    sim_backend = corio_loop_backend(corio_loop_current());
    return cancel_main(NULL);
}

static void simulations_use_a_readiness_backend(void **state)
{
    corio_loop_config lc;
    corio_sim_config cfg;
    (void)state;
    memset(&lc, 0, sizeof lc);
    memset(&cfg, 0, sizeof cfg);
    cfg.loop = &lc;
    lc.backend = CORIO_BACKEND_IO_URING;
    assert_int_equal(corio_sim_check(4, backend_main, NULL, &cfg, NULL), 0);
    assert_string_equal(sim_backend, "epoll");
    lc.backend = CORIO_BACKEND_POLL;
    assert_int_equal(corio_sim_check(4, backend_main, NULL, &cfg, NULL), 0);
    assert_string_equal(sim_backend, "poll");
    setenv("CORIO_BACKEND", "io_uring", 1);
    assert_int_equal(corio_sim_check(4, backend_main, NULL, NULL, NULL), 0);
    unsetenv("CORIO_BACKEND");
    assert_string_equal(sim_backend, "epoll");
}

/* Every program above replays: same seed, same trace. */
static void every_program_here_is_deterministic(void **state)
{
    (void)state;
    assert_int_equal(corio_sim_check(1, hour_main, NULL, NULL, NULL), 0);
    assert_int_equal(corio_sim_check(7, now_main, NULL, NULL, NULL), 0);
    assert_int_equal(corio_sim_check(3, pool_main, NULL, NULL, NULL), 0);
}

/* ---- bounds: hangs and deadlocks ---------------------------------------------*/

static void *forever(void *arg)
{
    (void)arg;
    for (;;)
        if (corio_sleep(1) < 0)
            return NULL;
}

static void a_hang_fails_at_the_time_limit(void **state)
{
    corio_sim_config cfg;
    corio_sim_stats st;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.time_limit = 600;
    assert_int_equal(corio_sim_run(5, forever, NULL, NULL, &cfg, &st), -ETIMEDOUT);
    assert_true(st.virtual_seconds >= 599 && st.virtual_seconds <= 1201);
}

static void *stuck(void *arg)
{
    corio_event *e;
    int rc;
    (void)arg;
    corio_event_create(&e);
    rc = corio_event_wait(e); /* nobody sets it, no timer: a deadlock */
    corio_event_destroy(e);
    return rc < 0 ? corio_fail(rc) : NULL;
}

static void a_deadlock_is_reported_not_waited_out(void **state)
{
    corio_loop_config lc;
    corio_sim_config cfg;
    FILE *f = tmpfile();
    (void)state;
    memset(&lc, 0, sizeof lc);
    lc.report_file = f;
    memset(&cfg, 0, sizeof cfg);
    cfg.loop = &lc;
    assert_int_equal(corio_sim_run(5, stuck, NULL, NULL, &cfg, NULL), -EDEADLK);
    fclose(f);
}

static void *nested_main(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)corio_sim_run(1, forever, NULL, NULL, NULL, NULL);
}

/* Compact stacks (where the build has them) under simulation: the same
 * run, the same trace as with default stacks. */
static void compact_stacks_replay_the_same(void **state)
{
    corio_loop_config lc;
    corio_sim_config cfg;
    corio_sim_stats a, b;
    (void)state;
    if (!tu_compact_supported()) {
        print_message("compact stacks unsupported in this build: skipped\n");
        return;
    }
    memset(&lc, 0, sizeof lc);
    lc.stack_mode = CORIO_STACK_COMPACT;
    memset(&cfg, 0, sizeof cfg);
    cfg.loop = &lc;
    assert_int_equal(corio_sim_run(7, now_main, NULL, NULL, &cfg, &a), 0);
    assert_int_equal(corio_sim_run(7, now_main, NULL, NULL, NULL, &b), 0);
    assert_true(a.trace_hash == b.trace_hash);
}

static void *quick(void *arg)
{
    (void)arg;
    return corio_sleep(1e6) == 0 ? NULL : corio_fail(-EIO);
}

static void not_inside_a_running_loop(void **state)
{
    void *res = NULL;
    corio_loop *l;
    corio_sim_config cfg;
    (void)state;
    /* An infinite time limit saturates (no overflow), and a loop that was
     * current before the simulation is current after it. */
    memset(&cfg, 0, sizeof cfg);
    cfg.time_limit = INFINITY;
    assert_int_equal(corio_loop_create(&l, NULL), 0);
    assert_int_equal(corio_sim_run(2, quick, NULL, NULL, &cfg, NULL), 0);
    assert_ptr_equal(corio_loop_current(), l);
    assert_int_equal(corio_loop_close(l), 0);
    assert_int_equal(tu_run(nested_main, NULL, &res), 0);
    assert_int_equal((int)(intptr_t)res, -EBUSY);
    assert_int_equal(corio_sim_active(), 0);
    assert_int_equal(corio_sim_seed(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_hour_of_sleeps_takes_milliseconds),
        cmocka_unit_test(now_scopes_and_wait_for_follow_virtual_time),
        cmocka_unit_test(pool_jobs_run_in_the_loop),
        cmocka_unit_test(cancelled_pool_wait_and_files),
        cmocka_unit_test(simulations_use_a_readiness_backend),
        cmocka_unit_test(every_program_here_is_deterministic),
        cmocka_unit_test(a_hang_fails_at_the_time_limit),
        cmocka_unit_test(a_deadlock_is_reported_not_waited_out),
        cmocka_unit_test(compact_stacks_replay_the_same),
        cmocka_unit_test(not_inside_a_running_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
