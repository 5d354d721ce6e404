/*
 * Addresses (corio_addr) and the listen/bind shortcuts for TCP, UDP and
 * Unix sockets.
 */
#include "io/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int corio_addr_ip(corio_addr *a, const char *host, int port)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
    memset(a, 0, sizeof *a);
    if (port < 0 || port > 65535)
        return -EINVAL;
    if (!host || !*host) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        a->len = sizeof *in4;
        return 0;
    }
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        a->len = sizeof *in4;
        return 0;
    }
    {
        /* "[::1]" as well as "::1"; a "%scope" suffix is not supported. */
        char buf[INET6_ADDRSTRLEN + 2];
        size_t n = strlen(host);
        const char *h = host;
        if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
            memcpy(buf, host + 1, n - 2);
            buf[n - 2] = '\0';
            h = buf;
        }
        if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons((uint16_t)port);
            a->len = sizeof *in6;
            return 0;
        }
    }
    memset(a, 0, sizeof *a);
    return -EINVAL;
}

int corio_addr_unix(corio_addr *a, const char *path)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
    size_t n = path ? strlen(path) : 0;
    memset(a, 0, sizeof *a);
    if (n == 0)
        return -EINVAL;
    if (n >= sizeof un->sun_path)
        return -ENAMETOOLONG;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n);
    if (path[0] == '@') {
        /* Linux abstract namespace: a leading NUL, no terminator. */
        un->sun_path[0] = '\0';
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int corio_addr_format(const corio_addr *a, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
    if (!a->len)
        return snprintf(buf, size, "(none)");
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in4 = (const void *)sa;
        inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof ip);
        return snprintf(buf, size, "%s:%u", ip, ntohs(in4->sin_port));
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        return snprintf(buf, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const void *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (a->len <= off)
            return snprintf(buf, size, "unix:(unnamed)");
        if (un->sun_path[0] == '\0')
            return snprintf(buf, size, "@%.*s", (int)(a->len - off - 1),
                            un->sun_path + 1);
        return snprintf(buf, size, "%s", un->sun_path);
    }
    default:
        return snprintf(buf, size, "(family %d)", sa->sa_family);
    }
}

int corio_addr_port(const corio_addr *a)
{
    const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
    if (!a->len)
        return -1;
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return -1;
}

/* ---- shortcuts -----------------------------------------------------------*/

int corio_tcp_listen(corio_socket **sp, const char *host, int port,
                     int backlog, unsigned flags)
{
    corio_addr a;
    corio_socket *s;
    int rc = corio_addr_ip(&a, host, port);
    if (rc)
        return rc;
    rc = corio_socket_open(&s, a.ss.ss_family, SOCK_STREAM, 0);
    if (rc)
        return rc;
    rc = corio_socket_setopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
    if (!rc && (flags & CORIO_LISTEN_REUSEPORT))
        rc = corio_socket_setopt_int(s, SOL_SOCKET, SO_REUSEPORT, 1);
    if (!rc && a.ss.ss_family == AF_INET6)
        rc = corio_socket_setopt_int(s, IPPROTO_IPV6, IPV6_V6ONLY,
                                     (flags & CORIO_LISTEN_V6ONLY) ? 1 : 0);
    if (!rc)
        rc = corio_socket_bind(s, &a);
    if (!rc)
        rc = corio_socket_listen(s, backlog);
    if (rc) {
        corio_socket_close(s);
        return rc;
    }
    *sp = s;
    return 0;
}

int corio_udp_bind(corio_socket **sp, const char *host, int port)
{
    corio_addr a;
    corio_socket *s;
    int rc = corio_addr_ip(&a, host, port);
    if (rc)
        return rc;
    rc = corio_socket_open(&s, a.ss.ss_family, SOCK_DGRAM, 0);
    if (rc)
        return rc;
    rc = corio_socket_bind(s, &a);
    if (rc) {
        corio_socket_close(s);
        return rc;
    }
    *sp = s;
    return 0;
}

/* Removes a stale socket file (never anything else) left by an earlier
 * run, as servers conventionally do before bind. */
static void unlink_stale(const char *path)
{
    struct stat st;
    if (path[0] != '@' && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
}

static int unix_bound(corio_socket **sp, const char *path, int type)
{
    corio_addr a;
    corio_socket *s;
    int rc = corio_addr_unix(&a, path);
    if (rc)
        return rc;
    rc = corio_socket_open(&s, AF_UNIX, type, 0);
    if (rc)
        return rc;
    unlink_stale(path);
    rc = corio_socket_bind(s, &a);
    if (rc) {
        corio_socket_close(s);
        return rc;
    }
    *sp = s;
    return 0;
}

int corio_unix_listen(corio_socket **sp, const char *path, int backlog)
{
    int rc = unix_bound(sp, path, SOCK_STREAM);
    if (rc)
        return rc;
    rc = corio_socket_listen(*sp, backlog);
    if (rc) {
        corio_socket_close(*sp);
        *sp = NULL;
    }
    return rc;
}

int corio_unix_bind_dgram(corio_socket **sp, const char *path)
{
    return unix_bound(sp, path, SOCK_DGRAM);
}

int corio_unix_connect(corio_socket **sp, const char *path)
{
    corio_addr a;
    corio_socket *s;
    int rc;
    if (!corio_current())
        return -EPERM;
    rc = corio_addr_unix(&a, path);
    if (rc)
        return rc;
    rc = corio_socket_open(&s, AF_UNIX, SOCK_STREAM, 0);
    if (rc)
        return rc;
    rc = corio_socket_connect(s, &a);
    if (rc) {
        corio_socket_close(s);
        return rc;
    }
    *sp = s;
    return 0;
}
