/*
 * Deterministic simulation, the network (include/corio_sim.h, "the
 * simulated network"): hosts with names and addresses, TCP and Unix
 * sockets between them through the unchanged socket API, latency and
 * bandwidth in virtual time, connects refused and unreachable, fds given
 * back, and a trace hash that replays per seed (test_sim_net_faults.c has
 * partitions, resets, half-open connections and UDP).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>
#include <corio_sim.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_util.h"
#include "testutil.h"

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
    if (sim_hosts(0.010, 0.010, 2) < 0 || corio_sim_host_current() != 0)
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
    if (sim_hosts(0.010, 0.010, 2) < 0)
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

/* ---- failures to connect ------------------------------------------------------------*/

static int connect_rc[4];

static void *unix_listener(void *arg)
{
    corio_socket *l, *c;
    int rc;
    (void)arg;
    rc = corio_unix_listen(&l, "/sim/app.sock", 0);
    if (rc)
        return corio_fail(rc);
    rc = corio_socket_accept(l, &c, NULL);
    if (rc == 0) {
        corio_socket_sendall(c, "hi", 2);
        corio_socket_close(c);
    }
    corio_socket_close(l);
    return rc ? corio_fail(rc) : NULL;
}

static void *refused_client(void *arg)
{
    corio_socket *s;
    (void)arg;
    /* srv exists but nothing listens on the port. */
    connect_rc[0] = corio_tcp_connect(&s, "10.0.0.2", 9);
    /* No host has this address. */
    connect_rc[1] = corio_tcp_connect(&s, "10.9.9.9", PORT);
    /* Unix paths belong to a host: srv's socket is not on cli. */
    connect_rc[2] = corio_unix_connect(&s, "/sim/app.sock");
    return NULL;
}

static void *unix_same_host(void *arg)
{
    corio_socket *s;
    char b[8];
    ssize_t n;
    (void)arg;
    connect_rc[3] = corio_unix_connect(&s, "/sim/app.sock");
    if (connect_rc[3])
        return NULL;
    n = corio_socket_recv(s, b, sizeof b, 0);
    corio_socket_close(s);
    return n == 2 && memcmp(b, "hi", 2) == 0 ? NULL : corio_fail(-EPROTO);
}

static void *refused_main(void *arg)
{
    corio_task *l, *c, *u;
    (void)arg;
    if (sim_hosts(0.005, 0.005, 2) < 0)
        return corio_fail(-EIO);
    corio_sim_spawn_on(h_srv, &l, unix_listener, NULL);
    corio_sleep(0.001);
    corio_sim_spawn_on(h_cli, &c, refused_client, NULL);
    corio_sim_spawn_on(h_srv, &u, unix_same_host, NULL);
    if (corio_await(c, NULL) || corio_await(u, NULL) || corio_await(l, NULL))
        return corio_fail(-EIO);
    return NULL;
}

static void refused_unreachable_and_unix_paths(void **state)
{
    (void)state;
    assert_int_equal(corio_sim_run(3, refused_main, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(connect_rc[0], -ECONNREFUSED);
    assert_int_equal(connect_rc[1], -EHOSTUNREACH);
    assert_int_equal(connect_rc[2], -ENOENT);
    assert_int_equal(connect_rc[3], 0);
}

/* Finished connections give their fds back during the run, not only at
 * its end: a long simulation does not run out of them. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int fds_after[2];

static void *many_conns_client(void *arg)
{
    int i;
    (void)arg;
    for (i = 0; i < 300; i++) {
        corio_socket *s;
        char b[4];
        if (corio_tcp_connect(&s, "srv", PORT))
            return corio_fail(-EIO);
        corio_socket_sendall(s, "ping", 4);
        if (corio_socket_recv(s, b, sizeof b, 0) != 4)
            return corio_fail(-EIO);
        corio_socket_close(s);
        corio_sleep(0.1); /* the FINs travel */
        if (i == 9)
            fds_after[0] = open_fds();
    }
    fds_after[1] = open_fds();
    return NULL;
}

static void *many_conns_main(void *arg)
{
    corio_task *srv, *cli;
    (void)arg;
    if (sim_hosts(0.005, 0.010, 2) < 0)
        return corio_fail(-EIO);
    corio_sim_spawn_on(h_srv, &srv, echo_server, (void *)(intptr_t)300);
    corio_sleep(0.001);
    corio_sim_spawn_on(h_cli, &cli, many_conns_client, NULL);
    if (corio_await(cli, NULL) || corio_await(srv, NULL))
        return corio_fail(-EIO);
    return NULL;
}

static void finished_connections_release_their_fds(void **state)
{
    (void)state;
    assert_int_equal(corio_sim_run(8, many_conns_main, NULL, NULL, NULL, NULL), 0);
    print_message("simnet: %d fds open after 10 connections, %d after 300\n", fds_after[0],
                  fds_after[1]);
    assert_true(fds_after[1] - fds_after[0] < 20);
}

/* Bandwidth: 100 KB at 100 KB/s take about a second (plus one latency). */
static double bw_took, bw_start;
static size_t bw_got;

static void *bw_sink(void *arg)
{
    corio_socket *l, *c;
    char buf[8192];
    ssize_t n;
    (void)arg;
    if (corio_tcp_listen(&l, "0.0.0.0", PORT, 0, 0) || corio_socket_accept(l, &c, NULL))
        return corio_fail(-EIO);
    corio_socket_close(l);
    bw_got = 0;
    while ((n = corio_socket_recv(c, buf, sizeof buf, 0)) > 0)
        bw_got += (size_t)n;
    bw_took = corio_now() - bw_start;
    corio_socket_close(c);
    return NULL;
}

static void *bw_source(void *arg)
{
    corio_socket *s;
    static char data[100 * 1000];
    (void)arg;
    if (corio_tcp_connect(&s, "srv", PORT))
        return corio_fail(-EIO);
    bw_start = corio_now();
    if (corio_socket_sendall(s, data, sizeof data) < 0)
        return corio_fail(-EIO);
    corio_socket_close(s);
    return NULL;
}

static void *bw_main(void *arg)
{
    corio_task *srv, *cli;
    corio_sim_net_config nc;
    (void)arg;
    if (sim_hosts(0.010, 0.010, 2) < 0)
        return corio_fail(-EIO);
    memset(&nc, 0, sizeof nc);
    nc.latency_min = nc.latency_max = 0.010;
    nc.bandwidth = 100e3;
    corio_sim_net_configure(&nc);
    corio_sim_spawn_on(h_srv, &srv, bw_sink, NULL);
    corio_sleep(0.001);
    corio_sim_spawn_on(h_cli, &cli, bw_source, NULL);
    if (corio_await(cli, NULL) || corio_await(srv, NULL))
        return corio_fail(-EIO);
    return NULL;
}

static void bandwidth_spreads_a_transfer(void **state)
{
    (void)state;
    assert_int_equal(corio_sim_run(9, bw_main, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(bw_got, 100 * 1000);
    /* From the first write to the end of stream: a second, plus one
     * latency. */
    print_message("simnet: 100 KB at 100 KB/s: %.3f s\n", bw_took);
    tu_assert_near(bw_took, 1.010, 0.02);
}

/* ---- determinism, and many seeds -----------------------------------------------------*/

#define BULK (64 * 1024)

static void *bulk_client(void *arg)
{
    corio_socket *s;
    unsigned char *out = malloc(BULK), *in = malloc(BULK);
    size_t got = 0, i;
    int rc, ok = 0;
    corio_scope sc;
    (void)arg;
    if (!out || !in) {
        free(out);
        free(in);
        return corio_fail(-ENOMEM);
    }
    for (i = 0; i < BULK; i++)
        out[i] = (unsigned char)(i * 7 + i / 251);
    corio_scope_enter(&sc, 600.0, 0);
    rc = corio_tcp_connect(&s, "srv", PORT);
    if (rc == 0) {
        corio_stream *st;
        rc = corio_stream_open_socket(&st, s);
        if (rc == 0) {
            rc = corio_stream_write(st, out, BULK);
            if (rc == 0)
                rc = corio_stream_shutdown_write(st);
            while (rc == 0 && got < BULK) {
                ssize_t n = corio_stream_read(st, in + got, BULK - got);
                if (n <= 0)
                    rc = n < 0 ? (int)n : -EPIPE;
                else
                    got += (size_t)n;
            }
            ok = rc == 0 && memcmp(in, out, BULK) == 0;
            corio_stream_close(st);
        } else {
            corio_socket_close(s);
        }
    }
    corio_scope_exit(&sc);
    corio_sim_trace(&got, sizeof got);
    free(out);
    free(in);
    if (rc)
        return corio_fail(rc);
    return ok ? NULL : corio_fail(-EPROTO);
}

/* Cuts and heals the link at seeded times while the transfer runs. */
static void *chaos(void *arg)
{
    int i;
    (void)arg;
    for (i = 0; i < 4; i++) {
        if (corio_sleep(0.001 * (double)(corio_sim_random() % 50)) < 0)
            return NULL;
        corio_sim_partition(h_srv, h_cli);
        if (corio_sleep(0.001 * (double)(corio_sim_random() % 200)) < 0) {
            corio_sim_heal(h_srv, h_cli);
            return NULL;
        }
        corio_sim_heal(h_srv, h_cli);
    }
    return NULL;
}

static void *bulk_main(void *arg)
{
    corio_task *srv, *cli, *ch;
    corio_sim_net_config nc;
    int rc;
    (void)arg;
    if (sim_hosts(0.001, 0.030, 2) < 0)
        return corio_fail(-EIO);
    memset(&nc, 0, sizeof nc);
    nc.latency_min = 0.001;
    nc.latency_max = 0.030;
    nc.bandwidth = 1e6; /* 1 MB/s: the 64 KB take about 65 ms each way */
    corio_sim_net_configure(&nc);
    corio_sim_spawn_on(h_srv, &srv, echo_server, (void *)(intptr_t)1);
    corio_sleep(0.001);
    corio_sim_spawn_on(h_cli, &cli, bulk_client, NULL);
    ch = corio_spawn(chaos, NULL);
    rc = corio_await(cli, NULL);
    corio_cancel(ch);
    corio_await(ch, NULL);
    if (corio_await(srv, NULL) || rc)
        return corio_fail(rc ? rc : -EIO);
    return NULL;
}

static void same_seed_same_trace_other_seeds_differ(void **state)
{
    uint64_t hashes[10];
    corio_sim_stats st;
    int i, j, same = 0;
    (void)state;
    for (i = 0; i < 10; i++) {
        assert_int_equal(corio_sim_check((uint64_t)i + 100, bulk_main, NULL, NULL, &st), 0);
        hashes[i] = st.trace_hash;
    }
    for (i = 0; i < 10; i++)
        for (j = i + 1; j < 10; j++)
            same += hashes[i] == hashes[j];
    assert_int_equal(same, 0);
}

static void a_property_over_many_seeds(void **state)
{
    corio_sim_config cfg;
    corio_sim_stats st;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = CORIO_SIM_CHECK;
    cfg.time_limit = 3600;
    /* 64 KB through a link cut and healed at random, every seed run
     * twice: the bytes arrive intact and in order, and the run replays. */
    assert_int_equal(corio_sim_run_seeds(1, 100, bulk_main, NULL, &cfg, &st), 0);
    print_message("simnet: %llu seeds (checked) in %.2f s real, %.1f s virtual\n",
                  (unsigned long long)st.seeds_run, st.real_seconds, st.virtual_seconds);
    /* Everything waited on is simulated: the loop never blocked for real. */
    assert_int_equal(st.real_waits, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips_take_twice_the_latency_each),
        cmocka_unit_test(refused_unreachable_and_unix_paths),
        cmocka_unit_test(finished_connections_release_their_fds),
        cmocka_unit_test(bandwidth_spreads_a_transfer),
        cmocka_unit_test(same_seed_same_trace_other_seeds_differ),
        cmocka_unit_test(a_property_over_many_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
