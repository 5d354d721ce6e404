/*
 * Deterministic simulation, part 2: seeded scheduling, the trace hash, the
 * check mode and replay (include/corio_sim.h).
 *  - The same seed gives the same run (order of events and hash).
 *  - Different seeds give different orders where corio promises none.
 *  - What corio promises FIFO stays FIFO under every seed: call_soon,
 *    timers with equal deadlines, lock hand-off.
 *  - The check mode catches a program that is not deterministic, and a
 *    failing seed is reported with the command that replays it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define SEEDS 40

/* ---- an order-sensitive program -----------------------------------------------
 * Tasks made ready by different events in one iteration: sleepers whose
 * timers fire in the same tick (different deadlines inside one ms), and
 * tasks woken by an event set in the same iteration. Each appends its
 * number to `order` when it runs. */

#define RACERS 8
static int order[4 * RACERS];
static int norder;
static corio_event *go;

static void note(int who)
{
    order[norder++] = who;
    corio_sim_trace(&who, sizeof who);
}

static void *racer_timer(void *arg)
{
    int i = (int)(intptr_t)arg;
    corio_sleep(0.0100 + 0.0000001 * i); /* all in the same 1 ms tick */
    note(i);
    return NULL;
}

static void *racer_event(void *arg)
{
    int i = (int)(intptr_t)arg;
    corio_event_wait(go);
    note(100 + i);
    return NULL;
}

static void *setter(void *arg)
{
    (void)arg;
    corio_sleep(0.0095); /* in the tick before: wakes with the timers */
    corio_sleep(0.0005);
    corio_event_set(go);
    note(-1);
    return NULL;
}

static void *race_main(void *arg)
{
    corio_task *t[2 * RACERS + 1];
    int i, n = 0;
    (void)arg;
    norder = 0;
    corio_event_create(&go);
    for (i = 0; i < RACERS; i++) {
        t[n++] = corio_spawn(racer_timer, (void *)(intptr_t)i);
        t[n++] = corio_spawn(racer_event, (void *)(intptr_t)i);
    }
    t[n++] = corio_spawn(setter, NULL);
    for (i = 0; i < n; i++)
        corio_await(t[i], NULL);
    corio_event_destroy(go);
    return NULL;
}

/* Readiness events of one poll round: readers on 8 pipes, all written in
 * one go; the seed chooses the order they run in. */
static int pipes[RACERS][2];

static void *pipe_reader(void *arg)
{
    int i = (int)(intptr_t)arg;
    char c;
    if (corio_wait_fd(pipes[i][0], CORIO_READABLE) < 0 || read(pipes[i][0], &c, 1) != 1)
        return corio_fail(-EIO);
    note(i);
    return NULL;
}

static void *pipe_writer(void *arg)
{
    int i;
    (void)arg;
    corio_sleep(0.001); /* every reader is parked by now */
    for (i = 0; i < RACERS; i++)
        if (write(pipes[i][1], "x", 1) != 1)
            return corio_fail(-EIO);
    note(-1);
    return NULL;
}

static void *pipe_main(void *arg)
{
    corio_task *t[RACERS + 1];
    int i, rc = 0;
    (void)arg;
    norder = 0;
    for (i = 0; i < RACERS; i++)
        if (pipe(pipes[i]) < 0)
            return corio_fail(-EMFILE);
    for (i = 0; i < RACERS; i++)
        t[i] = corio_spawn(pipe_reader, (void *)(intptr_t)i);
    t[RACERS] = corio_spawn(pipe_writer, NULL);
    for (i = 0; i <= RACERS; i++)
        if (corio_await(t[i], NULL) < 0)
            rc = -EIO;
    for (i = 0; i < RACERS; i++) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    return rc < 0 ? corio_fail(rc) : NULL;
}

static uint64_t hash_order(void)
{
    uint64_t h = 1469598103934665603ULL;
    int i;
    for (i = 0; i < norder; i++)
        h = (h ^ (uint64_t)(order[i] + 1000)) * 1099511628211ULL;
    return h;
}

static void same_seed_same_run(void **state)
{
    corio_sim_stats a, b;
    uint64_t oa, ob;
    int seed;
    (void)state;
    for (seed = 0; seed < SEEDS; seed++) {
        assert_int_equal(corio_sim_run((uint64_t)seed, race_main, NULL, NULL, NULL, &a), 0);
        oa = hash_order();
        assert_int_equal(norder, 2 * RACERS + 1);
        assert_int_equal(corio_sim_run((uint64_t)seed, race_main, NULL, NULL, NULL, &b), 0);
        ob = hash_order();
        assert_true(oa == ob);
        assert_true(a.trace_hash == b.trace_hash);
        assert_true(a.iterations == b.iterations);
        assert_int_equal(corio_sim_check((uint64_t)seed, race_main, NULL, NULL, NULL), 0);

        assert_int_equal(corio_sim_run((uint64_t)seed, pipe_main, NULL, NULL, NULL, &a), 0);
        oa = hash_order();
        assert_int_equal(norder, RACERS + 1);
        assert_int_equal(corio_sim_run((uint64_t)seed, pipe_main, NULL, NULL, NULL, &b), 0);
        assert_true(oa == hash_order());
        assert_true(a.trace_hash == b.trace_hash);
    }
}

/* Without the seeded order every seed would run the same way: this fails
 * if the seed stops choosing. With CORIO_SIM_FIFO, one order for all. */
static void seeds_choose_the_unordered_interleavings(void **state)
{
    uint64_t seen[SEEDS], fifo0 = 0;
    corio_sim_config cfg;
    corio_sim_stats st;
    int seed, distinct = 0, j, reordered = 0;
    (void)state;
    for (seed = 0; seed < SEEDS; seed++) {
        uint64_t h;
        assert_int_equal(corio_sim_run((uint64_t)seed, pipe_main, NULL, NULL, NULL, &st), 0);
        reordered += st.reorders > 0;
        h = hash_order();
        for (j = 0; j < distinct; j++)
            if (seen[j] == h)
                break;
        if (j == distinct)
            seen[distinct++] = h;
    }
    print_message("sim: %d distinct orders in %d seeds\n", distinct, SEEDS);
    assert_true(distinct >= 5);
    assert_true(reordered > SEEDS / 2);

    memset(&cfg, 0, sizeof cfg);
    cfg.flags = CORIO_SIM_FIFO;
    for (seed = 0; seed < SEEDS; seed++) {
        assert_int_equal(corio_sim_run((uint64_t)seed, pipe_main, NULL, NULL, &cfg, &st), 0);
        assert_int_equal((int)st.reorders, 0);
        if (seed == 0)
            fifo0 = hash_order();
        assert_true(hash_order() == fifo0);
    }
}

/* ---- promises kept under every seed ------------------------------------------------*/

static int cb_order[64], ncb;

static void soon_cb(void *arg)
{
    cb_order[ncb++] = (int)(intptr_t)arg;
}

static void *noise(void *arg)
{
    int i = (int)(intptr_t)arg, k;
    for (k = 0; k < 5; k++)
        corio_sleep(0.001 * (double)((i + k) % 3 + 1));
    return NULL;
}

static void spawn_noise(corio_task **t, int n)
{
    int i;
    for (i = 0; i < n; i++)
        t[i] = corio_spawn(noise, (void *)(intptr_t)i);
}

static void await_all(corio_task **t, int n)
{
    int i;
    for (i = 0; i < n; i++)
        corio_await(t[i], NULL);
}

static void *soon_main(void *arg)
{
    corio_task *t[6];
    int i;
    (void)arg;
    ncb = 0;
    spawn_noise(t, 6);
    corio_sleep(0.001);
    for (i = 0; i < 16; i++)
        corio_call_soon(NULL, soon_cb, (void *)(intptr_t)i);
    corio_sleep(0);
    for (; i < 32; i++)
        corio_call_soon(NULL, soon_cb, (void *)(intptr_t)i);
    await_all(t, 6);
    return NULL;
}

static int armed[16], narmed, woke[16], nwoke;
static double common_deadline;

static void *same_deadline(void *arg)
{
    int i = (int)(intptr_t)arg;
    /* Arm in an order the seed chooses. */
    corio_sleep(0.001 * (double)(corio_sim_random() % 4));
    armed[narmed++] = i;
    corio_sleep_until(common_deadline);
    woke[nwoke++] = i;
    return NULL;
}

static void *deadline_main(void *arg)
{
    corio_task *t[16], *nz[6];
    int i;
    (void)arg;
    narmed = nwoke = 0;
    common_deadline = corio_now() + 0.5;
    spawn_noise(nz, 6);
    for (i = 0; i < 16; i++)
        t[i] = corio_spawn(same_deadline, (void *)(intptr_t)i);
    await_all(t, 16);
    await_all(nz, 6);
    return NULL;
}

static corio_lock *lk;
static int asked[16], nasked, got[16], ngot;

static void *locker(void *arg)
{
    int i = (int)(intptr_t)arg;
    corio_sleep(0.001 * (double)(corio_sim_random() % 5));
    asked[nasked++] = i;
    if (corio_lock_acquire(lk) < 0)
        return NULL;
    got[ngot++] = i;
    corio_sleep(0.002);
    corio_lock_release(lk);
    return NULL;
}

static void *lock_main(void *arg)
{
    corio_task *t[16], *nz[6];
    int i;
    (void)arg;
    nasked = ngot = 0;
    corio_lock_create(&lk);
    corio_lock_acquire(lk);
    spawn_noise(nz, 6);
    for (i = 0; i < 16; i++)
        t[i] = corio_spawn(locker, (void *)(intptr_t)i);
    corio_sleep(0.01); /* every locker has asked (and waits) by now */
    corio_lock_release(lk);
    await_all(t, 16);
    await_all(nz, 6);
    corio_lock_destroy(lk);
    return NULL;
}

static void fifo_promises_hold_under_every_seed(void **state)
{
    int seed, i, armed_orders = 0;
    int first_armed[16];
    (void)state;
    for (seed = 0; seed < SEEDS; seed++) {
        assert_int_equal(corio_sim_run((uint64_t)seed, soon_main, NULL, NULL, NULL, NULL), 0);
        assert_int_equal(ncb, 32);
        for (i = 0; i < 32; i++)
            assert_int_equal(cb_order[i], i);

        assert_int_equal(corio_sim_run((uint64_t)seed, deadline_main, NULL, NULL, NULL, NULL), 0);
        assert_int_equal(nwoke, 16);
        for (i = 0; i < 16; i++)
            assert_int_equal(woke[i], armed[i]);
        if (seed == 0)
            memcpy(first_armed, armed, sizeof armed);
        else if (memcmp(first_armed, armed, sizeof armed) != 0)
            armed_orders++;

        assert_int_equal(corio_sim_run((uint64_t)seed, lock_main, NULL, NULL, NULL, NULL), 0);
        assert_int_equal(ngot, 16);
        for (i = 0; i < 16; i++)
            assert_int_equal(got[i], asked[i]);
    }
    /* The arming order itself did vary: the FIFO above was not trivial. */
    assert_true(armed_orders > 0);
}

/* ---- check mode and replay ------------------------------------------------------*/

static int runs;

/* Not deterministic: sleeps longer on every run (state kept across runs,
 * as a wall-clock read or an unseeded random number would be). */
static void *nondet_main(void *arg)
{
    (void)arg;
    runs++;
    corio_sleep(0.001 * runs);
    return NULL;
}

static char *slurp(FILE *f)
{
    long n;
    char *s;
    fflush(f);
    n = ftell(f);
    rewind(f);
    s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static void check_mode_catches_nondeterminism(void **state)
{
    corio_sim_config cfg;
    FILE *f = tmpfile();
    char *out;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.report_file = f;
    runs = 0;
    assert_int_equal(corio_sim_check(9, nondet_main, NULL, &cfg, NULL), CORIO_ENONDET);
    out = slurp(f);
    assert_non_null(strstr(out, "seed 9 is not deterministic"));
    assert_non_null(strstr(out, "replay: CORIO_SIM_SEED=9 "));
    assert_non_null(strstr(out, "test_sim_sched"));
    free(out);
    fclose(f);
    assert_string_equal(corio_strerror(CORIO_ENONDET),
                        "Simulation not deterministic (two runs of one seed differed)");
    /* And in run_seeds' check mode. */
    runs = 0;
    cfg.flags = CORIO_SIM_CHECK;
    cfg.report_file = f = tmpfile();
    assert_int_equal(corio_sim_run_seeds(0, 5, nondet_main, NULL, &cfg, NULL), CORIO_ENONDET);
    fclose(f);
}

/* Fails on the seeds whose random stream starts a certain way. */
static void *flaky_main(void *arg)
{
    (void)arg;
    corio_sleep((double)(corio_sim_random() % 100) / 1000.0);
    if (corio_sim_random() % 7 == 3)
        return corio_fail(-EIO);
    return NULL;
}

static void a_failing_seed_prints_its_replay_command(void **state)
{
    corio_sim_config cfg;
    corio_sim_stats st;
    FILE *f = tmpfile();
    char *out, want[64];
    uint64_t bad;
    int rc;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.report_file = f;
    unsetenv("CORIO_SIM_SEED");
    unsetenv("CORIO_SIM_SEEDS");
    rc = corio_sim_run_seeds(100, 1000, flaky_main, NULL, &cfg, &st);
    assert_int_equal(rc, -EIO);
    bad = st.seed;
    assert_true(bad >= 100 && bad < 1100);
    assert_int_equal(st.seeds_run, bad - 100);
    out = slurp(f);
    snprintf(want, sizeof want, "replay: CORIO_SIM_SEED=%llu ", (unsigned long long)bad);
    assert_non_null(strstr(out, want));
    free(out);
    fclose(f);
    /* The replay: that seed alone, failing the same way, same trace. */
    {
        corio_sim_stats again;
        char num[32];
        snprintf(num, sizeof num, "%llu", (unsigned long long)bad);
        setenv("CORIO_SIM_SEED", num, 1);
        cfg.report_file = f = tmpfile();
        assert_int_equal(corio_sim_run_seeds(0, 1000000, flaky_main, NULL, &cfg, &again), -EIO);
        unsetenv("CORIO_SIM_SEED");
        fclose(f);
        assert_true(again.seed == bad);
        assert_true(again.trace_hash == st.trace_hash);
        assert_int_equal(again.seeds_run, 0);
    }
    /* The seed and the random stream are visible inside only. */
    assert_int_equal(corio_sim_active(), 0);
}

static uint64_t seen_seed, seen_rand[2];

static void *seed_main(void *arg)
{
    (void)arg;
    seen_seed = corio_sim_seed() + (uint64_t)corio_sim_active() * 1000000;
    seen_rand[0] = corio_sim_random();
    seen_rand[1] = corio_sim_random();
    return NULL;
}

static void random_stream_is_the_seeds(void **state)
{
    uint64_t r0, r1;
    (void)state;
    assert_int_equal(corio_sim_run(77, seed_main, NULL, NULL, NULL, NULL), 0);
    assert_true(seen_seed == 1000077);
    r0 = seen_rand[0];
    r1 = seen_rand[1];
    assert_true(r0 != r1);
    assert_int_equal(corio_sim_run(77, seed_main, NULL, NULL, NULL, NULL), 0);
    assert_true(seen_rand[0] == r0 && seen_rand[1] == r1);
    assert_int_equal(corio_sim_run(78, seed_main, NULL, NULL, NULL, NULL), 0);
    assert_true(seen_rand[0] != r0);
}

/* ---- loopback TCP inside a simulation ---------------------------------------------
 * 127.0.0.1 is the simulated network's loopback (the main task's host,
 * no latency): a client/server pair over it replays under every seed, and
 * a timeout racing a reply never fires early in virtual time. (Before the
 * simulated network this ran on the real loopback; test_sim_net.c covers
 * the network itself.) */
static int lb_port;
static corio_socket *lb_listener;

static void *lb_server(void *arg)
{
    corio_socket *c;
    char buf[64];
    ssize_t n;
    (void)arg;
    if (corio_socket_accept(lb_listener, &c, NULL) < 0)
        return corio_fail(-EIO);
    while ((n = corio_socket_recv(c, buf, sizeof buf, 0)) > 0) {
        corio_sleep(0.01 * (double)(corio_sim_random() % 5)); /* think */
        if (corio_socket_sendall(c, buf, (size_t)n) < 0)
            break;
    }
    corio_socket_close(c);
    return NULL;
}

static void *lb_client(void *arg)
{
    corio_socket *s;
    char buf[8];
    int i;
    (void)arg;
    if (corio_tcp_connect(&s, "127.0.0.1", lb_port) < 0)
        return corio_fail(-ECONNREFUSED);
    for (i = 0; i < 30; i++) {
        corio_scope sc;
        ssize_t n;
        corio_socket_sendall(s, "ping", 4);
        corio_scope_enter(&sc, 1.0, 0); /* the server answers within 0.04 s */
        n = corio_socket_recv(s, buf, 4, 0);
        corio_scope_exit(&sc);
        if (n != 4) {
            corio_socket_close(s);
            return corio_fail(n < 0 ? (int)n : -EIO);
        }
        corio_sim_trace(&i, sizeof i);
    }
    corio_socket_close(s);
    return NULL;
}

static void *loopback_main(void *arg)
{
    corio_addr a;
    corio_task *srv, *cli;
    int rs, rc;
    (void)arg;
    if (corio_tcp_listen(&lb_listener, "127.0.0.1", 0, 16, 0) < 0)
        return corio_fail(-EIO);
    corio_socket_local_addr(lb_listener, &a);
    lb_port = corio_addr_port(&a);
    srv = corio_spawn(lb_server, NULL);
    cli = corio_spawn(lb_client, NULL);
    rc = corio_await(cli, NULL);
    rs = corio_await(srv, NULL);
    corio_socket_close(lb_listener);
    return rc < 0 ? corio_fail(rc) : rs < 0 ? corio_fail(rs) : NULL;
}

static void loopback_tcp_replays(void **state)
{
    corio_sim_config cfg;
    corio_sim_stats st;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = CORIO_SIM_CHECK;
    assert_int_equal(corio_sim_run_seeds(0, tu_slow() ? 10 : 40, loopback_main, NULL, &cfg, &st),
                     0);
    assert_true(st.virtual_seconds > 0);
}

/* ---- simulations on several threads at once ------------------------------------
 * Each replays: the trace does not depend on what other threads spawn. The
 * program keeps no shared state (thread-locals only). */
static __thread int tl_done;

static void *tree(void *arg)
{
    int depth = (int)(intptr_t)arg, i;
    corio_task *t[3];
    corio_sleep((double)(corio_sim_random() % 50) / 1000.0);
    if (depth == 0) {
        tl_done++;
        return NULL;
    }
    for (i = 0; i < 3; i++)
        t[i] = corio_spawn(tree, (void *)(intptr_t)(depth - 1));
    for (i = 0; i < 3; i++)
        corio_await(t[i], NULL);
    return NULL;
}

static void *tree_main(void *arg)
{
    (void)arg;
    tl_done = 0;
    tree((void *)(intptr_t)4);
    return tl_done == 81 ? NULL : corio_fail(-EPROTO);
}

static void *sim_thread(void *arg)
{
    corio_sim_config cfg;
    (void)arg;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = CORIO_SIM_CHECK;
    return (void *)(intptr_t)corio_sim_run_seeds(0, tu_slow() ? 10 : 40, tree_main, NULL,
                                                 &cfg, NULL);
}

static void simulations_on_several_threads_each_replay(void **state)
{
    pthread_t th[3];
    void *rc;
    int i;
    (void)state;
    for (i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, sim_thread, NULL), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(th[i], &rc), 0);
        assert_int_equal((int)(intptr_t)rc, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_run),
        cmocka_unit_test(seeds_choose_the_unordered_interleavings),
        cmocka_unit_test(fifo_promises_hold_under_every_seed),
        cmocka_unit_test(check_mode_catches_nondeterminism),
        cmocka_unit_test(a_failing_seed_prints_its_replay_command),
        cmocka_unit_test(random_stream_is_the_seeds),
        cmocka_unit_test(loopback_tcp_replays),
        cmocka_unit_test(simulations_on_several_threads_each_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
