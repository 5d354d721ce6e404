/*
 * Cross-thread hand-off: call_soon_threadsafe from many threads delivers
 * every post exactly once, in order per producer, while the loop sleeps;
 * a loop blocked in poll wakes promptly; racing _threadsafe completions of
 * one future have exactly one winner.
 *
 * cmocka is not thread-safe: producer threads only record; the loop thread
 * asserts.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void nap_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ---- many producers ----------------------------------------------------------*/

#define PRODUCERS 4

struct flood {
    corio_loop *loop;
    corio_future *all_in;  /* completed on the loop when every post arrived */
    int per_thread;
    int total;
    int received;
    int dup_or_order_errors;
    int last_seq[PRODUCERS];
    unsigned char *seen;   /* [PRODUCERS * per_thread] */
    atomic_int post_errors;
    int pause_every;       /* producers nap every N posts (0: never) */
};

static struct flood fl;

static void flood_cb(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int th = (int)(v >> 24), seq = (int)(v & 0xffffff);
    /* On the loop thread: plain variables are safe. */
    if (th >= PRODUCERS || seq >= fl.per_thread || fl.seen[th * fl.per_thread + seq] ||
        seq != fl.last_seq[th] + 1)
        fl.dup_or_order_errors++;
    else
        fl.seen[th * fl.per_thread + seq] = 1;
    fl.last_seq[th] = seq;
    if (++fl.received == fl.total)
        corio_future_set_result(fl.all_in, NULL);
}

static void *producer(void *arg)
{
    int th = (int)(intptr_t)arg, i;
    for (i = 0; i < fl.per_thread; i++) {
        uintptr_t v = ((uintptr_t)th << 24) | (uintptr_t)i;
        if (corio_call_soon_threadsafe(fl.loop, flood_cb, (void *)v) != 0)
            atomic_fetch_add(&fl.post_errors, 1);
        if (fl.pause_every && i % fl.pause_every == 0)
            nap_us(50);
    }
    return NULL;
}

static void *flood_main(void *arg)
{
    pthread_t th[PRODUCERS];
    double t0 = corio_now();
    int i, rc;
    (void)arg;
    fl.loop = corio_loop_current();
    assert_int_equal(corio_future_create(NULL, &fl.all_in), 0);
    for (i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, producer, (void *)(intptr_t)i), 0);
    /* The loop has nothing else to do: it sleeps in poll with a 60 s timer
     * and must be woken by the posts themselves. A lost wake-up shows as a
     * stall until that timer. */
    rc = corio_future_wait_for(fl.all_in, 60, NULL);
    for (i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(atomic_load(&fl.post_errors), 0);
    assert_int_equal(fl.received, fl.total);
    assert_int_equal(fl.dup_or_order_errors, 0);
    for (i = 0; i < fl.total; i++)
        assert_int_equal(fl.seen[i], 1);
    /* Nothing more arrives later. */
    assert_int_equal(corio_sleep(0.01), 0);
    assert_int_equal(fl.received, fl.total);
    assert_true(corio_now() - t0 < 30);
    corio_future_destroy(fl.all_in);
    return NULL;
}

static void run_flood(int per_thread, int pause_every)
{
    int i;
    memset(&fl, 0, sizeof fl);
    fl.per_thread = per_thread;
    fl.total = PRODUCERS * per_thread;
    fl.pause_every = pause_every;
    for (i = 0; i < PRODUCERS; i++)
        fl.last_seq[i] = -1;
    fl.seen = calloc((size_t)fl.total, 1);
    assert_non_null(fl.seen);
    assert_int_equal(tu_run(flood_main, NULL, NULL), 0);
    free(fl.seen);
}

static void four_threads_post_10k_each_delivered_once_in_order(void **state)
{
    (void)state;
    run_flood(tu_under_valgrind() ? 2000 : 10000, 0);
}

/* Producers that pause now and then make the loop go to sleep and be woken
 * over and over: the sleeping/ts_pending handshake is exercised. */
static void posts_with_pauses_never_lose_a_wakeup(void **state)
{
    (void)state;
    run_flood(tu_under_valgrind() ? 500 : 3000, 7);
}

/* ---- prompt wake-up ---------------------------------------------------------------*/

struct waker {
    corio_loop *loop;
    corio_future *f;
    int64_t posted_ns;
    int64_t delay_us;
    int rc;
};

static int64_t ran_ns;
static void wake_cb(void *arg)
{
    struct waker *w = arg;
    ran_ns = corio_now_ns();
    corio_future_set_result(w->f, NULL);
}

static void *waker_thread(void *arg)
{
    struct waker *w = arg;
    nap_us(w->delay_us);
    w->posted_ns = corio_now_ns();
    w->rc = corio_call_soon_threadsafe(w->loop, wake_cb, w);
    return NULL;
}

TU_TASK_TEST(loop_blocked_in_poll_wakes_promptly_on_a_post)
{
    static struct waker w;
    int round;
    for (round = 0; round < 5; round++) {
        pthread_t th;
        double t0 = corio_now();
        memset(&w, 0, sizeof w);
        w.loop = corio_loop_current();
        w.delay_us = 20000 + round * 3000;
        assert_int_equal(corio_future_create(NULL, &w.f), 0);
        assert_int_equal(pthread_create(&th, NULL, waker_thread, &w), 0);
        assert_int_equal(corio_future_wait_for(w.f, 10, NULL), 0);
        pthread_join(th, NULL);
        assert_int_equal(w.rc, 0);
        assert_true(ran_ns >= w.posted_ns);
        if ((double)(ran_ns - w.posted_ns) / 1e9 > tu_slack())
            fail_msg("the post waited %g s for the loop", (double)(ran_ns - w.posted_ns) / 1e9);
        assert_true(corio_now() - t0 < 1);
        corio_future_destroy(w.f);
    }
    return NULL;
}

/* Posted while the loop is busy (tasks yielding, no poll): still run soon. */
static int busy_stop;
static void *busy_yielder(void *arg)
{
    (void)arg;
    while (!busy_stop)
        if (corio_yield() != 0)
            break;
    return NULL;
}

TU_TASK_TEST(post_to_a_busy_loop_runs_soon)
{
    static struct waker w;
    corio_task *t;
    pthread_t th;
    busy_stop = 0;
    memset(&w, 0, sizeof w);
    w.loop = corio_loop_current();
    w.delay_us = 5000;
    t = corio_spawn(busy_yielder, NULL);
    assert_int_equal(corio_future_create(NULL, &w.f), 0);
    assert_int_equal(pthread_create(&th, NULL, waker_thread, &w), 0);
    assert_int_equal(corio_future_wait_for(w.f, 10, NULL), 0);
    busy_stop = 1;
    pthread_join(th, NULL);
    assert_true((double)(ran_ns - w.posted_ns) / 1e9 < tu_slack());
    assert_int_equal(corio_await(t, NULL), 0);
    corio_future_destroy(w.f);
    return NULL;
}

/* The loop's own thread may use the threadsafe entry too. */
static int same_thread_ran;
static void same_thread_cb(void *arg) { same_thread_ran = (int)(intptr_t)arg; }

TU_TASK_TEST(threadsafe_post_from_the_loop_thread)
{
    same_thread_ran = 0;
    assert_int_equal(corio_call_soon_threadsafe(corio_loop_current(), same_thread_cb, (void *)3), 0);
    assert_int_equal(corio_sleep(0.002), 0);
    assert_int_equal(same_thread_ran, 3);
    return NULL;
}

/* ---- racing completions --------------------------------------------------------------*/

struct racer {
    corio_future *f;
    atomic_int *go;
    int id;
    int rc;
};

static void *racer_thread(void *arg)
{
    struct racer *r = arg;
    while (!atomic_load(r->go))
        ;
    r->rc = corio_future_set_result_threadsafe(r->f, (void *)(intptr_t)(r->id + 1));
    return NULL;
}

TU_TASK_TEST(racing_threadsafe_completions_have_one_winner)
{
    static struct racer r[PRODUCERS];
    static atomic_int go;
    int round;
    for (round = 0; round < 20; round++) {
        pthread_t th[PRODUCERS];
        corio_future *f;
        void *v;
        int i, winners = 0, winner = -1;
        atomic_store(&go, 0);
        assert_int_equal(corio_future_create(NULL, &f), 0);
        for (i = 0; i < PRODUCERS; i++) {
            r[i].f = f;
            r[i].go = &go;
            r[i].id = i;
            assert_int_equal(pthread_create(&th[i], NULL, racer_thread, &r[i]), 0);
        }
        atomic_store(&go, 1);
        assert_int_equal(corio_future_wait_for(f, 10, &v), 0);
        for (i = 0; i < PRODUCERS; i++) {
            pthread_join(th[i], NULL);
            if (r[i].rc == 0) {
                winners++;
                winner = i;
            } else {
                assert_int_equal(r[i].rc, -EALREADY);
            }
        }
        assert_int_equal(winners, 1);
        assert_ptr_equal(v, (void *)(intptr_t)(winner + 1));
        assert_int_equal(corio_sleep(0.001), 0);
        assert_int_equal(corio_future_result(f, &v), 0);
        assert_ptr_equal(v, (void *)(intptr_t)(winner + 1));
        corio_future_destroy(f);
    }
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(four_threads_post_10k_each_delivered_once_in_order),
        cmocka_unit_test(posts_with_pauses_never_lose_a_wakeup),
        cmocka_unit_test(loop_blocked_in_poll_wakes_promptly_on_a_post),
        cmocka_unit_test(post_to_a_busy_loop_runs_soon),
        cmocka_unit_test(threadsafe_post_from_the_loop_thread),
        cmocka_unit_test(racing_threadsafe_completions_have_one_winner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
