/*
 * Deterministic simulation: crashing and restarting ONE simulated host
 * while the others go on (corio_sim_host_crash, corio_sim_host_restart;
 * include/corio_sim.h). test_sim_host_fence.c has the disk and the fence.
 *
 * Each test fails if the feature is broken: a client that would not see
 * the reset or the silence, a restarted server that would not answer in
 * its new incarnation, a crashed host still reachable, a run that would
 * not replay (the determinism check over seeds with a crash at a seeded
 * moment), or a call that would not check its arguments.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "sim_util.h"
#include "testutil.h"

/* ---- a server that answers "?" with its incarnation -------------------------------*/

static void *inc_conn(void *arg)
{
    corio_socket *c = arg;
    char b;
    int32_t inc = corio_sim_host_incarnation(corio_sim_host_current());
    while (corio_socket_recv(c, &b, 1, 0) == 1)
        if (corio_socket_sendall(c, &inc, sizeof inc) < 0)
            break;
    corio_socket_close(c);
    return NULL;
}

static void *inc_server(void *arg)
{
    corio_socket *l, *c;
    int rc;
    (void)arg;
    rc = corio_tcp_listen(&l, "0.0.0.0", PORT, 0, 0);
    if (rc)
        return corio_fail(rc);
    while ((rc = corio_socket_accept(l, &c, NULL)) == 0)
        corio_detach(corio_spawn(inc_conn, c));
    corio_socket_close(l);
    return corio_fail(rc);
}

/* ---- a client on another host: keeps asking, reconnects on errors ----------------*/

typedef struct client_log {
    int replies[4];        /* per incarnation */
    int first_err;         /* the first error its established connection saw */
    double first_err_at;
    int down_errs[8];      /* errors while reconnecting, in order */
    int ndown;
    int status;            /* the client task's end: 0 */
    double stop_at;        /* stops then */
} client_log;

static void *client(void *arg)
{
    client_log *lg = arg;
    corio_socket *s = NULL;
    corio_scope sc;
    int rc;
    while (corio_now() < lg->stop_at) {
        int32_t inc = 0;
        ssize_t n;
        if (!s) {
            corio_scope_enter(&sc, 5.0, 0);
            rc = corio_tcp_connect(&s, "srv", PORT);
            corio_scope_exit(&sc);
            if (rc) {
                s = NULL;
                if (lg->ndown < 8)
                    lg->down_errs[lg->ndown++] = rc;
                if ((rc = corio_sleep(0.5)) != 0)
                    return corio_fail(rc);
                continue;
            }
        }
        corio_scope_enter(&sc, 2.0, 0);
        n = corio_socket_sendall(s, "?", 1);
        if (n >= 0)
            n = read_exact(s, &inc, sizeof inc);
        corio_scope_exit(&sc);
        if (n < 0) {
            if (!lg->first_err) {
                lg->first_err = (int)n;
                lg->first_err_at = corio_now();
            }
            corio_socket_close(s);
            s = NULL;
            continue;
        }
        if (inc >= 1 && inc < 4)
            lg->replies[inc]++;
        if ((rc = corio_sleep(0.25)) != 0)
            return corio_fail(rc);
    }
    if (s)
        corio_socket_close(s);
    return NULL;
}

/* ---- the client sees a reset (or silence) and reconnects to the restart -----------*/

typedef struct scen {
    unsigned flags;
    int seeded;            /* crash time and kind from the seed */
    client_log cl;
    double crash_at, restart_at, old_done_at, hold_at;
    int crash_count, spawn_down, restart_inc, old_status, hold_rc, inc_down;
} scen;

/* On the client host: a connection that stays open across the crash and
 * asks once, a second after it, with no deadline. */
static void *holder(void *arg)
{
    scen *sc = arg;
    corio_socket *s;
    int32_t inc;
    int rc = corio_tcp_connect(&s, "srv", PORT);
    if (rc) {
        sc->hold_rc = 1;
        return NULL;
    }
    corio_sleep_until(sc->crash_at + 1.0);
    rc = corio_socket_sendall(s, "?", 1) < 0 ? -EPIPE : 0;
    if (rc == 0)
        rc = read_exact(s, &inc, sizeof inc);
    sc->hold_rc = rc;
    sc->hold_at = corio_now();
    corio_socket_close(s);
    return NULL;
}

static void *crash_scenario(void *arg)
{
    scen *sc = arg;
    corio_task *srv, *cli, *hold, *srv2 = NULL;
    if (sim_hosts(0.001, 0.004, 3))
        return corio_fail(-EINVAL);
    memset(&sc->cl, 0, sizeof sc->cl); /* corio_sim_check runs it twice */
    sc->crash_at = corio_now() + 5.0;
    sc->restart_at = sc->crash_at + 4.0;
    if (sc->seeded) {
        sc->crash_at = corio_now() + 1.0 + (double)(corio_sim_random() % 8000) / 1000.0;
        sc->restart_at = sc->crash_at + 1.0 + (double)(corio_sim_random() % 4000) / 1000.0;
        sc->flags = corio_sim_random() & 1 ? CORIO_SIM_CRASH_RESET : 0;
    }
    sc->cl.stop_at = sc->restart_at + 6.0;
    if (corio_sim_spawn_on(h_srv, &srv, inc_server, NULL) ||
        corio_sim_spawn_on(h_cli, &cli, client, &sc->cl) ||
        corio_sim_spawn_on(h_cli, &hold, holder, sc))
        return corio_fail(-ENOMEM);
    corio_sleep_until(sc->crash_at);
    sc->crash_count = corio_sim_host_crash(h_srv, sc->flags);
    sc->inc_down = corio_sim_host_incarnation(h_srv);
    sc->spawn_down = corio_sim_spawn_on(h_srv, &srv2, inc_server, NULL);
    sc->old_status = corio_await(srv, NULL);
    sc->old_done_at = corio_now();
    corio_sleep_until(sc->restart_at);
    sc->restart_inc = corio_sim_host_restart(h_srv);
    if (corio_sim_spawn_on(h_srv, &srv2, inc_server, NULL))
        return corio_fail(-ENOMEM);
    sc->cl.status = corio_await(cli, NULL);
    corio_await(hold, NULL);
    corio_cancel(srv2);
    corio_await(srv2, NULL);
    return NULL;
}

static void run_crash_scenario(scen *sc, unsigned flags, uint64_t seed)
{
    memset(sc, 0, sizeof *sc);
    sc->flags = flags;
    assert_int_equal(corio_sim_check(seed, crash_scenario, sc, NULL, NULL), 0);
    /* The server host's tasks: the server and its two connections. */
    assert_int_equal(sc->crash_count, 3);
    assert_int_equal(sc->inc_down, 2);
    assert_int_equal(sc->spawn_down, -EHOSTDOWN);
    /* Unwound at the crash instant (no virtual time passed), cancelled. */
    assert_int_equal(sc->old_status, -ECANCELED);
    assert_true(sc->old_done_at == sc->crash_at);
    assert_int_equal(sc->restart_inc, 2);
    /* The client host went on: answers from both incarnations, and its
     * task ended by itself. */
    assert_int_equal(sc->cl.status, 0);
    assert_true(sc->cl.replies[1] > 0);
    assert_true(sc->cl.replies[2] > 0);
    assert_int_equal(sc->cl.replies[3], 0);
}

static void client_sees_reset_then_reconnects_to_restarted_server(void **state)
{
    scen sc;
    int i, refused = 0;
    (void)state;
    run_crash_scenario(&sc, CORIO_SIM_CRASH_RESET, 3);
    /* A reset, within a sleep and a latency of the crash... */
    assert_true(sc.cl.first_err == -ECONNRESET || sc.cl.first_err == -EPIPE);
    assert_true(sc.cl.first_err_at >= sc.crash_at && sc.cl.first_err_at < sc.crash_at + 0.3);
    /* ...then refusals while it is down (its kernel answers)... */
    for (i = 0; i < sc.cl.ndown; i++)
        refused += sc.cl.down_errs[i] == -ECONNREFUSED;
    assert_true(refused > 0);
    /* ...and the idle connection was reset before the restart. */
    assert_true(sc.hold_rc == -ECONNRESET || sc.hold_rc == -EPIPE);
    assert_true(sc.hold_at < sc.restart_at);
}

static void client_sees_silence_then_reconnects_to_restarted_server(void **state)
{
    scen sc;
    int i;
    (void)state;
    run_crash_scenario(&sc, 0, 4);
    /* Silence: the client's own 2 s deadline fires, no reset. */
    assert_int_equal(sc.cl.first_err, -ETIMEDOUT);
    assert_true(sc.cl.first_err_at >= sc.crash_at + 1.75);
    for (i = 0; i < sc.cl.ndown; i++)
        assert_int_not_equal(sc.cl.down_errs[i], -ECONNREFUSED);
    /* What the idle connection sent waited for the restart, and was then
     * answered by a reset (its socket is gone). */
    assert_int_equal(sc.hold_rc, -ECONNRESET);
    assert_true(sc.hold_at >= sc.restart_at);
}

/* ---- determinism: a crash at a seeded moment replays exactly ------------------------*/

static void seeded_crashes_replay_exactly(void **state)
{
    scen sc;
    corio_sim_stats st;
    uint64_t seed, first = 0;
    int differ = 0;
    (void)state;
    for (seed = 0; seed < 12; seed++) {
        memset(&sc, 0, sizeof sc);
        sc.seeded = 1;
        /* Runs it twice and compares the trace hashes (CORIO_ENONDET). */
        assert_int_equal(corio_sim_check(seed, crash_scenario, &sc, NULL, &st), 0);
        assert_int_equal(sc.spawn_down, -EHOSTDOWN);
        assert_int_equal(sc.old_status, -ECANCELED);
        assert_int_equal(sc.restart_inc, 2);
        assert_true(sc.cl.replies[1] > 0 && sc.cl.replies[2] > 0);
        if (seed == 0)
            first = st.trace_hash;
        else
            differ += st.trace_hash != first;
    }
    assert_true(differ > 0);
}

/* ---- the calls' errors ---------------------------------------------------------------*/

static int api_errors[16];

static void *api_scenario(void *arg)
{
    int *e = api_errors, h;
    corio_task *t;
    (void)arg;
    h = corio_sim_host_add("solo", "10.0.0.9");
    e[0] = corio_sim_host_crash(0, 0);
    e[1] = corio_sim_host_crash(99, 0);
    e[2] = corio_sim_host_crash(h, 0x80);
    e[3] = corio_sim_host_restart(h);
    e[4] = corio_sim_host_incarnation(h);
    e[5] = corio_sim_host_crash(h, 0);        /* no task on it */
    e[6] = corio_sim_host_incarnation(h);
    e[7] = corio_sim_host_crash(h, 0);        /* already down: no-op */
    e[8] = corio_sim_host_incarnation(h);
    e[9] = corio_sim_spawn_on(h, &t, NULL, NULL);
    e[10] = corio_sim_host_restart(h);
    e[11] = corio_sim_host_restart(h);
    e[12] = corio_sim_host_set_disk(99, NULL);
    e[13] = corio_sim_host_incarnation(-1);
    return NULL;
}

static void host_calls_check_their_arguments(void **state)
{
    (void)state;
    assert_int_equal(corio_sim_host_crash(1, 0), -EPERM);
    assert_int_equal(corio_sim_host_restart(1), -EPERM);
    assert_int_equal(corio_sim_host_incarnation(1), -EPERM);
    assert_int_equal(corio_sim_host_set_disk(1, NULL), -EPERM);
    assert_int_equal(corio_sim_run(1, api_scenario, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(api_errors[0], -EINVAL);
    assert_int_equal(api_errors[1], -EINVAL);
    assert_int_equal(api_errors[2], -EINVAL);
    assert_int_equal(api_errors[3], -EBUSY);
    assert_int_equal(api_errors[4], 1);
    assert_int_equal(api_errors[5], 0);
    assert_int_equal(api_errors[6], 2);
    assert_int_equal(api_errors[7], 0);
    assert_int_equal(api_errors[8], 2);
    assert_int_equal(api_errors[9], -EHOSTDOWN);
    assert_int_equal(api_errors[10], 2);
    assert_int_equal(api_errors[11], -EBUSY);
    assert_int_equal(api_errors[12], -EINVAL);
    assert_int_equal(api_errors[13], -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(client_sees_reset_then_reconnects_to_restarted_server),
        cmocka_unit_test(client_sees_silence_then_reconnects_to_restarted_server),
        cmocka_unit_test(seeded_crashes_replay_exactly),
        cmocka_unit_test(host_calls_check_their_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
