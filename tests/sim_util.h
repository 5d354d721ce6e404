/*
 * Helpers shared by the simulated-network and host-crash tests
 * (test_sim_net.c, test_sim_net_faults.c, test_sim_host.c,
 * test_sim_host_fence.c): the hosts "srv", "cli" (and "db"), an echo
 * server and an exact read. Everything is static inline, so that a suite
 * that uses only part of it compiles without unused-function warnings.
 */
#ifndef SIM_UTIL_H
#define SIM_UTIL_H

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define PORT 7000
#define CPORT 8000

static int h_srv, h_cli, h_db;

/* Adds "srv" (10.0.0.2) and "cli" (10.0.0.3), and with n == 3 "db"
 * (10.0.0.4), with a fixed one-way latency (min == max) or a seeded one
 * (min < max). 0 or -1. */
static inline int sim_hosts(double lat_min, double lat_max, int n)
{
    corio_sim_net_config nc;
    memset(&nc, 0, sizeof nc);
    nc.latency_min = lat_min;
    nc.latency_max = lat_max;
    if (corio_sim_net_configure(&nc) < 0)
        return -1;
    h_srv = corio_sim_host_add("srv", "10.0.0.2");
    h_cli = corio_sim_host_add("cli", "10.0.0.3");
    if (h_srv <= 0 || h_cli <= 0)
        return -1;
    if (n < 3)
        return 0;
    h_db = corio_sim_host_add("db", "10.0.0.4");
    return h_db > 0 ? 0 : -1;
}

/* Reads exactly len bytes: 0, -EPIPE at end of stream, or the error. */
static inline int read_exact(corio_socket *s, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = corio_socket_recv(s, (char *)buf + got, len - got, 0);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EPIPE;
        got += (size_t)n;
    }
    return 0;
}

/* An echo server on its host: accepts `conns` connections, echoes each
 * until end of stream. */
static inline void *echo_conn(void *arg)
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

static inline void *echo_server(void *arg)
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

#endif
