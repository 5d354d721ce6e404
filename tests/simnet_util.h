/*
 * Helpers shared by the simulated-network tests (test_sim_net.c,
 * test_sim_net_faults.c): two hosts and an echo server.
 */
#ifndef SIMNET_UTIL_H
#define SIMNET_UTIL_H

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

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


#endif
