/*
 * Helpers shared by the host-crash tests (test_sim_host.c,
 * test_sim_host_fence.c): three hosts and an exact read.
 */
#ifndef SIMHOST_UTIL_H
#define SIMHOST_UTIL_H

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <string.h>

#define PORT 7000
#define CPORT 8000

static int h_srv, h_cli, h_db;

static int hosts(double lat_min, double lat_max)
{
    corio_sim_net_config nc;
    memset(&nc, 0, sizeof nc);
    nc.latency_min = lat_min;
    nc.latency_max = lat_max;
    if (corio_sim_net_configure(&nc) < 0)
        return -1;
    h_srv = corio_sim_host_add("srv", "10.0.0.2");
    h_cli = corio_sim_host_add("cli", "10.0.0.3");
    h_db = corio_sim_host_add("db", "10.0.0.4");
    return h_srv > 0 && h_cli > 0 && h_db > 0 ? 0 : -1;
}

/* Reads exactly len bytes: 0, -EPIPE at end of stream, or the error. */
static int read_exact(corio_socket *s, void *buf, size_t len)
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

#endif
