/*
 * Deterministic simulation, the network (include/corio_sim.h, "the
 * simulated network"): hosts with names and addresses, TCP, UDP and Unix
 * sockets between them through the unchanged socket API, latency in
 * virtual time, partitions and healing, resets, half-open connections,
 * UDP loss and reordering, and a trace hash that replays per seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define PORT 7000

static int h_srv, h_cli;

/* Adds "srv" (10.0.0.2) and "cli" (10.0.0.3) with a fixed one-way
 * latency (min == max), or a seeded one (min < max). */
static int two_hosts(double lat_min, double lat_max)
{
    corio_sim_net_config nc;
    memset(&nc, 0, sizeof nc);
    nc.latency_min = lat_min;
    nc.latency_max = lat_max;
    if (corio_sim_net_configure(&nc) < 0)
        return -1;
    h_srv = corio_sim_host_add("srv", "10.0.0.2");
    h_cli = corio_sim_host_add("cli", "10.0.0.3");
    return h_srv > 0 && h_cli > 0 ? 0 : -1;
}

/* An echo server on its host: accepts `conns` connections, echoes each
 * until end of stream. */
static void *echo_conn(void *arg)
{
    corio_socket *c = arg;
    char buf[4096];
    ssize_t n;
    while ((n = corio_socket_recv(c, buf, sizeof buf, 0)) > 0)
        if (corio_socket_sendall(c, buf, (size_t)n) < 0)
            break;
    corio_socket_close(c);
    return NULL;
}

static corio_addr last_peer;

static void *echo_server(void *arg)
{
    corio_socket *l, *c;
    int conns = (int)(intptr_t)arg, i, rc;
    rc = corio_tcp_listen(&l, "0.0.0.0", PORT, 0, 0);
    if (rc)
        return corio_fail(rc);
    for (i = 0; i < conns; i++) {
        rc = corio_socket_accept(l, &c, &last_peer);
        if (rc)
            break;
        corio_detach(corio_spawn(echo_conn, c));
    }
    corio_socket_close(l);
    return rc ? corio_fail(rc) : NULL;
}

/* ---- latency -----------------------------------------------------------------------*/

#define ROUNDS 20
static double connect_took, rounds_took;

/* The main task lives on host 0 ("localhost"), which has only loopback
 * addresses: it cannot reach srv. */
static void *no_route_main(void *arg)
{
    corio_task *srv;
    corio_socket *s;
    int rc;
    (void)arg;
    if (two_hosts(0.010, 0.010) < 0 || corio_sim_host_current() != 0)
        return corio_fail(-EIO);
    if (corio_sim_spawn_on(h_srv, &srv, echo_server, (void *)(intptr_t)1) < 0)
        return corio_fail(-EIO);
    corio_sleep(0.001); /* the server listens */
    rc = corio_tcp_connect(&s, "srv", PORT);
    corio_cancel(srv);
    corio_await(srv, NULL);
    return rc == -ENETUNREACH ? NULL : corio_fail(rc ? rc : -EPROTO);
}

static void *rtt_client(void *arg)
{
    corio_socket *s;
    char buf[100], back[100];
    double t0 = corio_now();
    int i, rc;
    (void)arg;
    if (corio_sim_host_current() != h_cli)
        return corio_fail(-EPROTO);
    rc = corio_tcp_connect(&s, "srv", PORT);
    if (rc)
        return corio_fail(rc);
    connect_took = corio_now() - t0;
    memset(buf, 'x', sizeof buf);
    t0 = corio_now();
    for (i = 0; i < ROUNDS; i++) {
        if (corio_socket_sendall(s, buf, sizeof buf) < 0)
            return corio_fail(-EIO);
        size_t got = 0;
        while (got < sizeof back) {
            ssize_t n = corio_socket_recv(s, back + got, sizeof back - got, 0);
            if (n <= 0)
                return corio_fail(n < 0 ? (int)n : -EPIPE);
            got += (size_t)n;
        }
    }
    rounds_took = corio_now() - t0;
    corio_socket_close(s);
    return NULL;
}

static void *rtt_main2(void *arg)
{
    corio_task *srv, *cli;
    void *r;
    int rc;
    (void)arg;
    if (two_hosts(0.010, 0.010) < 0)
        return corio_fail(-EIO);
    if (corio_sim_spawn_on(h_srv, &srv, echo_server, (void *)(intptr_t)1) < 0 ||
        corio_sim_spawn_on(h_cli, &cli, rtt_client, NULL) < 0)
        return corio_fail(-EIO);
    rc = corio_await(cli, &r);
    if (rc)
        return corio_fail(rc);
    return corio_await(srv, &r) ? corio_fail(-EIO) : NULL;
}

static void round_trips_take_twice_the_latency_each(void **state)
{
    corio_sim_stats st;
    char ip[64];
    (void)state;
    assert_int_equal(corio_sim_run(1, no_route_main, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(corio_sim_run(1, rtt_main2, NULL, NULL, NULL, &st), 0);
    /* A connect is one round trip; N echoes of L one way take 2 N L. */
    tu_assert_near(connect_took, 0.020, 0.002);
    tu_assert_near(rounds_took, 2 * ROUNDS * 0.010, 0.01);
    /* The server saw the client's address. */
    assert_true(corio_addr_format(&last_peer, ip, sizeof ip) >= 0);
    assert_non_null(strstr(ip, "10.0.0.3"));
    print_message("simnet: connect %.4f s, %d round trips %.4f s virtual, %.4f s real\n",
                  connect_took, ROUNDS, rounds_took, st.real_seconds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips_take_twice_the_latency_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
