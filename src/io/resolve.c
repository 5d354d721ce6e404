/*
 * Host name to addresses for corio_tcp_connect. Numeric hosts need no
 * resolver; "localhost" is answered locally (RFC 6761: it is always the
 * loopback); other names go to the DNS resolver (dns.c).
 */
#include "io/net.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

int corio__resolve_tcp(const char *host, int port, corio_addr *addrs,
                       size_t max)
{
    if (max == 0)
        return -EINVAL;
    if (!host || !*host)
        return -EINVAL;
    if (corio_addr_ip(&addrs[0], host, port) == 0)
        return 1;
    if (port < 0 || port > 65535)
        return -EINVAL;
    if (strcasecmp(host, "localhost") == 0 ||
        strcasecmp(host, "localhost.") == 0) {
        int n = 0;
        corio_addr_ip(&addrs[n++], "::1", port);
        if (max > 1)
            corio_addr_ip(&addrs[n++], "127.0.0.1", port);
        return n;
    }
    /* Names go to the resolver (c-ares; -ENOTSUP without it). */
    return corio_resolve(host, port, AF_UNSPEC, addrs, max);
}
