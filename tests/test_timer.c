/*
 * Time: sleep accuracy, sleep(0) as yield, sleep_until; timers (FIFO for
 * equal deadlines, deadline order within a tick and across cascades, stop,
 * re-arm, callbacks stopping and re-arming timers, far deadlines);
 * call_soon / call_later / call_at ordering; the clock; a busy task cannot
 * starve a timer.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static tu_log lg;

static void log_cb(void *arg) { tu_log_add(&lg, (int)(intptr_t)arg); }

/* ---- the clock ----------------------------------------------------------------*/

static void now_is_monotonic_and_consistent(void **state)
{
    double prev = corio_now(), d;
    int64_t prev_ns = corio_now_ns();
    int i;
    (void)state;
    for (i = 0; i < 100000; i++) {
        double n = corio_now();
        int64_t ns = corio_now_ns();
        assert_true(n >= prev);
        assert_true(ns >= prev_ns);
        prev = n;
        prev_ns = ns;
    }
    d = corio_now() - (double)corio_now_ns() / 1e9;
    assert_true(fabs(d) < 0.01);
    assert_true(corio_now() > 0);
}

/* ---- sleep ------------------------------------------------------------------------*/

static const double sleep_durations[] = {0.001, 0.0015, 0.005, 0.02, 0.05};

TU_TASK_TEST(sleep_is_never_early_and_lateness_is_bounded)
{
    size_t i;
    int rep;
    for (i = 0; i < sizeof sleep_durations / sizeof sleep_durations[0]; i++) {
        for (rep = 0; rep < 3; rep++) {
            double s = sleep_durations[i];
            int64_t t0 = corio_now_ns();
            double took;
            assert_int_equal(corio_sleep(s), 0);
            took = (double)(corio_now_ns() - t0) / 1e9;
            if (took < s)
                fail_msg("sleep(%g) took %g: early", s, took);
            if (took > s + tu_slack())
                fail_msg("sleep(%g) took %g: too late", s, took);
        }
    }
    return NULL;
}

TU_TASK_TEST(sleep_until_is_never_early)
{
    double when = corio_now() + 0.015;
    assert_int_equal(corio_sleep_until(when), 0);
    assert_true(corio_now() >= when);
    assert_true(corio_now() < when + tu_slack());
    return NULL;
}

static int other_ran;
static void *mark_other(void *arg)
{
    (void)arg;
    other_ran++;
    return NULL;
}

/* sleep(0), negative sleeps and past deadlines yield once: others run. */
static const double yield_sleeps[] = {0.0, -1.0, -INFINITY};

TU_TASK_TEST(non_positive_sleep_and_past_deadline_yield)
{
    size_t i;
    for (i = 0; i < 4; i++) {
        corio_task *t;
        double t0 = corio_now();
        other_ran = 0;
        t = corio_spawn(mark_other, NULL);
        if (i < 3)
            assert_int_equal(corio_sleep(yield_sleeps[i]), 0);
        else
            assert_int_equal(corio_sleep_until(corio_now() - 5), 0);
        assert_int_equal(other_ran, 1);
        assert_true(corio_now() - t0 < tu_slack());
        assert_int_equal(corio_await(t, NULL), 0);
    }
    return NULL;
}

/* Many sleepers with different durations wake in deadline order. Each
 * sleeps until sleep_base + ms: measured from its own start instead, the
 * 10 ms sleeper (started 7th) woke after the 25 ms one (started 2nd)
 * whenever five task starts took over 15 ms, as they do under TSan on a
 * loaded machine. */
static double sleep_base;
static void *ordered_sleeper(void *arg)
{
    int ms = (int)(intptr_t)arg;
    assert_int_equal(corio_sleep(sleep_base + ms / 1000.0 - corio_now()), 0);
    tu_log_add(&lg, ms);
    return NULL;
}

TU_TASK_TEST(sleepers_wake_in_deadline_order)
{
    /* Arming order is not deadline order: waking in arming (or start)
     * order would log 150 first. */
    static const int ms[] = {150, 25, 100, 5, 50, 350, 10, 650};
    static const int want[] = {5, 10, 25, 50, 100, 150, 350, 650};
    corio_task *t[8];
    int i;
    tu_log_reset(&lg);
    /* 0.1 s: every sleeper has started and armed its timer well before the
     * first deadline, even when starting eight stacks is slow. */
    sleep_base = corio_now() + 0.1;
    for (i = 0; i < 8; i++)
        t[i] = corio_spawn(ordered_sleeper, (void *)(intptr_t)ms[i]);
    for (i = 0; i < 8; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    tu_log_expect(&lg, want, 8);
    return NULL;
}

/* ---- timers: ordering ----------------------------------------------------------*/

static int64_t fired_at[64];
static void stamp_cb(void *arg)
{
    int i = (int)(intptr_t)arg;
    fired_at[i] = corio_now_ns();
    tu_log_add(&lg, i);
}

/* Equal deadlines fire in arming order, at several distances (level 0, and
 * distances that are filed on higher wheel levels and cascade down). */
static const double fifo_delays[] = {0.003, 0.07, 0.3};

TU_TASK_TEST(equal_deadlines_fire_fifo)
{
    static corio_timer tm[32];
    static int want[32];
    size_t d;
    int i;
    for (d = 0; d < sizeof fifo_delays / sizeof fifo_delays[0]; d++) {
        double when = corio_now() + fifo_delays[d];
        tu_log_reset(&lg);
        for (i = 0; i < 32; i++) {
            want[i] = i;
            assert_int_equal(corio_timer_start_at(NULL, &tm[i], when, stamp_cb,
                                                  (void *)(intptr_t)i), 0);
        }
        assert_int_equal(corio_sleep_until(when + 0.005), 0);
        tu_log_expect(&lg, want, 32);
        for (i = 0; i < 32; i++) {
            assert_true((double)fired_at[i] / 1e9 >= when);
            assert_int_equal(corio_timer_active(&tm[i]), 0);
        }
    }
    return NULL;
}

/* Deadlines 0.1 ms apart, all in one 1 ms tick, armed in scrambled order. */
TU_TASK_TEST(different_deadlines_within_one_tick_fire_in_order)
{
    static corio_timer tm[8];
    static const int order[8] = {5, 2, 7, 0, 3, 6, 1, 4};
    static const int want[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t base;
    int rep, i;
    for (rep = 0; rep < 3; rep++) {
        double delay = rep == 0 ? 0.01 : rep == 1 ? 0.1 : 0.5; /* + cascades */
        /* Start the group right at the beginning of a millisecond. */
        base = (corio_now_ns() / 1000000 + 1) * 1000000 + (int64_t)(delay * 1e9);
        tu_log_reset(&lg);
        for (i = 0; i < 8; i++) {
            int k = order[i];
            double when = (double)(base + 100000LL * k + 50000) / 1e9;
            assert_int_equal(corio_timer_start_at(NULL, &tm[k], when, stamp_cb,
                                                  (void *)(intptr_t)k), 0);
        }
        assert_int_equal(corio_sleep_until((double)base / 1e9 + 0.003), 0);
        tu_log_expect(&lg, want, 8);
        for (i = 0; i < 8; i++)
            assert_true(fired_at[i] >= base + 100000LL * i + 50000);
    }
    return NULL;
}

TU_TASK_TEST(timers_armed_in_reverse_fire_in_deadline_order)
{
    static corio_timer tm[20];
    static int want[20];
    double now = corio_now();
    int i;
    tu_log_reset(&lg);
    for (i = 19; i >= 0; i--) {
        want[i] = i;
        /* 0..95 ms: crosses level-0 blocks */
        assert_int_equal(corio_timer_start_at(NULL, &tm[i], now + 0.001 + i * 0.005,
                                              stamp_cb, (void *)(intptr_t)i), 0);
    }
    assert_int_equal(corio_sleep(0.12), 0);
    tu_log_expect(&lg, want, 20);
    return NULL;
}

TU_TASK_TEST(call_later_and_call_at_fire_in_deadline_order)
{
    static const int want[] = {1, 2, 3, 4, 5};
    double now = corio_now(), k = tu_timescale();
    tu_log_reset(&lg);
    /* call_later counts from the clock at the call: 1's 5 ms and 2's 50 ms
     * are far enough apart that the OS holding the loop between the calls
     * cannot reorder them (4 corrects for the drift on purpose). */
    assert_int_equal(corio_call_later(NULL, 0.15 * k, log_cb, (void *)5), 0);
    assert_int_equal(corio_call_at(NULL, now + 0.05 * k, log_cb, (void *)2), 0);
    assert_int_equal(corio_call_later(NULL, 0.005 * k, log_cb, (void *)1), 0);
    assert_int_equal(corio_call_at(NULL, now + 0.1 * k, log_cb, (void *)3), 0);
    assert_int_equal(corio_call_later(NULL, 0.1 * k + (now - corio_now()) + 0.0005, log_cb,
                                      (void *)4), 0);
    assert_int_equal(corio_sleep(0.2 * k), 0);
    tu_log_expect(&lg, want, 5);
    return NULL;
}

/* A non-positive delay means "now"; a past absolute deadline is earlier
 * still, so it fires first: deadline order holds in the past too. */
TU_TASK_TEST(call_later_with_non_positive_delay_fires_soon)
{
    static const int want[] = {3, 1, 2};
    tu_log_reset(&lg);
    assert_int_equal(corio_call_later(NULL, 0, log_cb, (void *)1), 0);
    assert_int_equal(corio_call_later(NULL, -3, log_cb, (void *)2), 0);
    assert_int_equal(corio_call_at(NULL, corio_now() - 10, log_cb, (void *)3), 0);
    assert_int_equal(corio_sleep(0.005), 0);
    tu_log_expect(&lg, want, 3);
    return NULL;
}

TU_TASK_TEST(call_soon_is_fifo_and_nested_posts_go_last)
{
    static int want[1001];
    int i;
    tu_log_reset(&lg);
    for (i = 0; i < 1000; i++) {
        want[i] = i;
        assert_int_equal(corio_call_soon(NULL, log_cb, (void *)(intptr_t)i), 0);
    }
    want[1000] = 5000;
    assert_int_equal(corio_yield(), 0);
    /* A yield lets everything queued before it run, and nothing else. */
    assert_int_equal(lg.n, 1000);
    assert_int_equal(corio_call_soon(NULL, log_cb, (void *)5000), 0);
    assert_int_equal(corio_yield(), 0);
    tu_log_expect(&lg, want, 1001);
    return NULL;
}

static void repost_cb(void *arg)
{
    int n = (int)(intptr_t)arg;
    tu_log_add(&lg, n);
    if (n < 3)
        corio_call_soon(NULL, repost_cb, (void *)(intptr_t)(n + 10));
}

TU_TASK_TEST(call_soon_from_a_callback_runs_after_queued_work)
{
    static const int want[] = {1, 2, 11, 12};
    tu_log_reset(&lg);
    corio_call_soon(NULL, repost_cb, (void *)1);
    corio_call_soon(NULL, repost_cb, (void *)2);
    assert_int_equal(corio_sleep(0.002), 0);
    tu_log_expect(&lg, want, 4);
    return NULL;
}

static void bad_callback_arguments(void **state)
{
    corio_timer tm;
    (void)state;
    memset(&tm, 0, sizeof tm);
    assert_null(corio_loop_current());
    assert_int_equal(corio_call_soon(NULL, log_cb, NULL), -EPERM);
    assert_int_equal(corio_call_later(NULL, 1, log_cb, NULL), -EPERM);
    assert_int_equal(corio_call_at(NULL, 1, log_cb, NULL), -EPERM);
    assert_int_equal(corio_timer_start(NULL, &tm, 1, log_cb, NULL), -EPERM);
    assert_int_equal(corio_timer_stop(&tm), 0); /* zeroed: not armed */
    assert_int_equal(corio_timer_active(&tm), 0);
}

TU_TASK_TEST(null_callbacks_are_rejected)
{
    corio_timer tm;
    assert_int_equal(corio_call_soon(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(corio_call_later(NULL, 1, NULL, NULL), -EINVAL);
    assert_int_equal(corio_call_at(NULL, 1, NULL, NULL), -EINVAL);
    assert_int_equal(corio_timer_start(NULL, &tm, 1, NULL, NULL), -EINVAL);
    return NULL;
}

/* ---- timers: stop, re-arm, callbacks that stop or re-arm ---------------------*/

TU_TASK_TEST(timer_stop_returns_whether_it_was_armed)
{
    corio_timer tm; /* uninitialised on purpose: start needs no init */
    memset(&tm, 0xA5, sizeof tm);
    tu_log_reset(&lg);
    assert_int_equal(corio_timer_start(NULL, &tm, 0.005, log_cb, (void *)1), 0);
    assert_int_equal(corio_timer_active(&tm), 1);
    assert_int_equal(corio_timer_stop(&tm), 1);
    assert_int_equal(corio_timer_active(&tm), 0);
    assert_int_equal(corio_timer_stop(&tm), 0);
    assert_int_equal(corio_sleep(0.01), 0);
    assert_int_equal(lg.n, 0);
    /* After it fired, stop is a no-op. */
    assert_int_equal(corio_timer_start(NULL, &tm, 0.001, log_cb, (void *)2), 0);
    assert_int_equal(corio_sleep(0.005), 0);
    assert_int_equal(lg.n, 1);
    assert_int_equal(corio_timer_active(&tm), 0);
    assert_int_equal(corio_timer_stop(&tm), 0);
    return NULL;
}

TU_TASK_TEST(timer_restart_moves_an_armed_timer)
{
    static corio_timer tm;
    double t0 = corio_now();
    tu_log_reset(&lg);
    assert_int_equal(corio_timer_start(NULL, &tm, 0.005, stamp_cb, (void *)1), 0);
    assert_int_equal(corio_timer_start(NULL, &tm, 0.3, stamp_cb, (void *)2), 0);
    assert_int_equal(corio_sleep(0.015), 0);
    assert_int_equal(lg.n, 0); /* the first arming is gone */
    assert_int_equal(corio_timer_start(NULL, &tm, 0.001, stamp_cb, (void *)3), 0);
    assert_int_equal(corio_sleep(0.01), 0);
    {
        static const int want[] = {3};
        tu_log_expect(&lg, want, 1);
    }
    assert_true((double)fired_at[3] / 1e9 - t0 >= 0.016);
    return NULL;
}

static corio_timer stop_pair[2];
static void stop_other_cb(void *arg)
{
    tu_log_add(&lg, (int)(intptr_t)arg);
    assert_int_equal(corio_timer_stop(&stop_pair[1]), 1);
}

TU_TASK_TEST(callback_stops_another_timer_due_in_the_same_tick)
{
    double when = corio_now() + 0.005;
    tu_log_reset(&lg);
    assert_int_equal(corio_timer_start_at(NULL, &stop_pair[0], when, stop_other_cb, (void *)1), 0);
    assert_int_equal(corio_timer_start_at(NULL, &stop_pair[1], when, log_cb, (void *)2), 0);
    assert_int_equal(corio_sleep(0.02), 0);
    {
        static const int want[] = {1};
        tu_log_expect(&lg, want, 1);
    }
    assert_int_equal(corio_timer_active(&stop_pair[1]), 0);
    return NULL;
}

static corio_timer rearm_tm;
static int rearm_count;
static void rearm_cb(void *arg)
{
    (void)arg;
    assert_int_equal(corio_timer_active(&rearm_tm), 0); /* disarmed before the call */
    if (++rearm_count < 5)
        assert_int_equal(corio_timer_start(NULL, &rearm_tm, 0.002, rearm_cb, NULL), 0);
}

TU_TASK_TEST(callback_rearms_its_own_timer)
{
    double t0 = corio_now();
    rearm_count = 0;
    assert_int_equal(corio_timer_start(NULL, &rearm_tm, 0.002, rearm_cb, NULL), 0);
    while (rearm_count < 5 && corio_now() - t0 < 2)
        assert_int_equal(corio_sleep(0.005), 0);
    assert_int_equal(rearm_count, 5);
    assert_true(corio_now() - t0 >= 0.01);
    assert_int_equal(corio_sleep(0.01), 0);
    assert_int_equal(rearm_count, 5);
    assert_int_equal(corio_timer_active(&rearm_tm), 0);
    return NULL;
}

static void free_self_cb(void *arg)
{
    free(arg); /* the timer frees its own storage from its callback */
    tu_log_add(&lg, 1);
}

TU_TASK_TEST(callback_may_free_its_timer)
{
    /* Zeroed: corio_timer_start reads the timer's fields to tell whether it
     * is armed, so truly uninitialised storage is a Valgrind error (see the
     * report: corio.h says it "need not initialise it"). */
    corio_timer *tm = calloc(1, sizeof *tm);
    tu_log_reset(&lg);
    assert_int_equal(corio_timer_start(NULL, tm, 0.001, free_self_cb, tm), 0);
    assert_int_equal(corio_sleep(0.005), 0);
    assert_int_equal(lg.n, 1);
    return NULL;
}

/* Hours and years ahead (years: beyond the wheel's ~795 days): armed, not
 * fired, and stoppable; they must not disturb nearer timers either. */
static const double far_delays[] = {3600.0, 86400.0 * 30, 86400.0 * 365 * 3, 1e12, INFINITY};

TU_TASK_TEST(far_deadlines_do_not_fire_and_stop)
{
    static corio_timer far[5], near;
    size_t i, n = sizeof far_delays / sizeof far_delays[0];
    tu_log_reset(&lg);
    for (i = 0; i < n; i++) {
        assert_int_equal(corio_timer_start(NULL, &far[i], far_delays[i], log_cb,
                                           (void *)(intptr_t)(100 + i)), 0);
        assert_int_equal(corio_timer_active(&far[i]), 1);
    }
    assert_int_equal(corio_timer_start(NULL, &near, 0.002, log_cb, (void *)1), 0);
    assert_int_equal(corio_sleep(0.03), 0);
    {
        static const int want[] = {1};
        tu_log_expect(&lg, want, 1);
    }
    for (i = 0; i < n; i++) {
        assert_int_equal(corio_timer_active(&far[i]), 1);
        assert_int_equal(corio_timer_stop(&far[i]), 1);
        assert_int_equal(corio_timer_stop(&far[i]), 0);
    }
    /* A far sleep is cancellable like any other. */
    return NULL;
}

static void *far_sleeper(void *arg)
{
    *(int *)arg = corio_sleep(86400.0 * 365 * 5);
    return NULL;
}

TU_TASK_TEST(far_sleep_is_cancellable)
{
    static int rc = 1;
    corio_task *t = corio_spawn(far_sleeper, &rc);
    assert_int_equal(corio_sleep(0.002), 0);
    assert_int_equal(corio_task_state(t), CORIO_TASK_SUSPENDED);
    corio_cancel(t);
    assert_int_equal(corio_await(t, NULL), -ECANCELED);
    assert_int_equal(rc, -ECANCELED);
    return NULL;
}

/* Many timers, most stopped before they fire (the common case for
 * timeouts): exactly the survivors fire, in deadline order. */
TU_TASK_TEST(many_timers_mostly_stopped)
{
    enum { N = 3000 };
    corio_timer *tm = calloc(N, sizeof *tm);
    static int want[N];
    double now = corio_now();
    int i, n = 0;
    assert_non_null(tm);
    tu_log_reset(&lg);
    for (i = 0; i < N; i++)
        assert_int_equal(corio_timer_start_at(NULL, &tm[i], now + 0.002 + (i % 97) * 0.0007,
                                              stamp_cb, (void *)(intptr_t)(i % 64)), 0);
    for (i = 0; i < N; i++)
        if (i % 97 != 5)
            assert_int_equal(corio_timer_stop(&tm[i]), 1);
        else
            want[n++] = i % 64;
    assert_int_equal(corio_sleep(0.1), 0);
    tu_log_expect(&lg, want, n);
    free(tm);
    return NULL;
}

/* Property check against a reference: random deadlines up to 300 ms (every
 * wheel level below 4 and many cascades), random stops and re-arms. Every
 * timer left armed fires exactly once, never early, and the firing order is
 * the reference order: by deadline, ties by arming order. */
enum { PROP_N = 1500 };
struct prop_timer {
    corio_timer tm;
    int64_t deadline;
    long seq;     /* arming order of its last start */
    int armed;
    int fired;
    int64_t at;
};
static struct prop_timer *prop;
static int prop_order[PROP_N], prop_nfired;

static void prop_cb(void *arg)
{
    struct prop_timer *p = arg;
    p->fired++;
    p->at = corio_now_ns();
    prop_order[prop_nfired++ % PROP_N] = (int)(p - prop);
}

static int prop_cmp(const void *a, const void *b)
{
    const struct prop_timer *x = &prop[*(const int *)a], *y = &prop[*(const int *)b];
    if (x->deadline != y->deadline)
        return x->deadline < y->deadline ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

TU_TASK_TEST(random_timers_match_a_reference_order)
{
    static int want[PROP_N];
    int64_t now = corio_now_ns();
    long seq = 0;
    int i, n = 0;
    unsigned seed = 12345;

    prop = calloc(PROP_N, sizeof *prop);
    assert_non_null(prop);
    prop_nfired = 0;
    for (i = 0; i < PROP_N; i++) {
        struct prop_timer *p = &prop[i];
        /* Coarse steps so that equal deadlines happen often. */
        p->deadline = now + 1000000 + (int64_t)(rand_r(&seed) % 1200) * 250000;
        p->seq = seq++;
        p->armed = 1;
        assert_int_equal(corio_timer_start_at(NULL, &p->tm, (double)p->deadline / 1e9,
                                              prop_cb, p), 0);
    }
    for (i = 0; i < PROP_N; i++) {
        struct prop_timer *p = &prop[rand_r(&seed) % PROP_N];
        switch (rand_r(&seed) % 3) {
        case 0:
            assert_int_equal(corio_timer_stop(&p->tm), p->armed);
            p->armed = 0;
            break;
        case 1:
            p->deadline = now + 1000000 + (int64_t)(rand_r(&seed) % 1200) * 250000;
            p->seq = seq++;
            p->armed = 1;
            assert_int_equal(corio_timer_start_at(NULL, &p->tm, (double)p->deadline / 1e9,
                                                  prop_cb, p), 0);
            break;
        default:
            break;
        }
    }
    for (i = 0; i < PROP_N; i++)
        if (prop[i].armed)
            want[n++] = i;
    qsort(want, (size_t)n, sizeof want[0], prop_cmp);
    assert_int_equal(corio_sleep_until((double)(now + 310000000) / 1e9), 0);
    assert_int_equal(prop_nfired, n);
    for (i = 0; i < PROP_N; i++) {
        struct prop_timer *p = &prop[i];
        assert_int_equal(p->fired, p->armed);
        if (p->fired && p->at < p->deadline)
            fail_msg("timer %d fired %lld ns early", i, (long long)(p->deadline - p->at));
    }
    for (i = 0; i < n; i++)
        if (prop_order[i] != want[i])
            fail_msg("firing %d: timer %d (deadline +%lld us), want %d (+%lld us)", i,
                     prop_order[i], (long long)(prop[prop_order[i]].deadline - now) / 1000,
                     want[i], (long long)(prop[want[i]].deadline - now) / 1000);
    free(prop);
    return NULL;
}

/* ---- starvation -------------------------------------------------------------------*/

static double timer_fired_at;
static void note_time(void *arg)
{
    (void)arg;
    timer_fired_at = corio_now();
}

TU_TASK_TEST(tight_yield_loop_cannot_starve_a_timer)
{
    double armed = corio_now(), deadline = armed + 0.01;
    long spins = 0;
    timer_fired_at = 0;
    assert_int_equal(corio_call_at(NULL, deadline, note_time, NULL), 0);
    while (timer_fired_at == 0 && corio_now() - armed < 2) {
        assert_int_equal(corio_yield(), 0);
        spins++;
    }
    assert_true(timer_fired_at >= deadline);
    if (timer_fired_at - deadline > tu_slack())
        fail_msg("timer fired %g s late behind a yield loop", timer_fired_at - deadline);
    assert_true(spins > 0);
    return NULL;
}

static int spin_stop;
static void *spinner(void *arg)
{
    (void)arg;
    while (!spin_stop)
        assert_int_equal(corio_yield(), 0);
    return NULL;
}

TU_TASK_TEST(sleeping_task_wakes_on_time_beside_busy_tasks)
{
    corio_task *t[3];
    double t0;
    int i;
    spin_stop = 0;
    for (i = 0; i < 3; i++)
        t[i] = corio_spawn(spinner, NULL);
    t0 = corio_now();
    assert_int_equal(corio_sleep(0.01), 0);
    spin_stop = 1;
    assert_true(corio_now() - t0 >= 0.01);
    assert_true(corio_now() - t0 < 0.01 + tu_slack());
    for (i = 0; i < 3; i++)
        assert_int_equal(corio_await(t[i], NULL), 0);
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(now_is_monotonic_and_consistent),
        cmocka_unit_test(sleep_is_never_early_and_lateness_is_bounded),
        cmocka_unit_test(sleep_until_is_never_early),
        cmocka_unit_test(non_positive_sleep_and_past_deadline_yield),
        cmocka_unit_test(sleepers_wake_in_deadline_order),
        cmocka_unit_test(equal_deadlines_fire_fifo),
        cmocka_unit_test(different_deadlines_within_one_tick_fire_in_order),
        cmocka_unit_test(timers_armed_in_reverse_fire_in_deadline_order),
        cmocka_unit_test(call_later_and_call_at_fire_in_deadline_order),
        cmocka_unit_test(call_later_with_non_positive_delay_fires_soon),
        cmocka_unit_test(call_soon_is_fifo_and_nested_posts_go_last),
        cmocka_unit_test(call_soon_from_a_callback_runs_after_queued_work),
        cmocka_unit_test(bad_callback_arguments),
        cmocka_unit_test(null_callbacks_are_rejected),
        cmocka_unit_test(timer_stop_returns_whether_it_was_armed),
        cmocka_unit_test(timer_restart_moves_an_armed_timer),
        cmocka_unit_test(callback_stops_another_timer_due_in_the_same_tick),
        cmocka_unit_test(callback_rearms_its_own_timer),
        cmocka_unit_test(callback_may_free_its_timer),
        cmocka_unit_test(far_deadlines_do_not_fire_and_stop),
        cmocka_unit_test(far_sleep_is_cancellable),
        cmocka_unit_test(many_timers_mostly_stopped),
        cmocka_unit_test(random_timers_match_a_reference_order),
        cmocka_unit_test(tight_yield_loop_cannot_starve_a_timer),
        cmocka_unit_test(sleeping_task_wakes_on_time_beside_busy_tasks),
    };
    return tu_run_both_modes(tests);
}
