/*
 * Who may change jobs (DELETE /jobs/<id>, POST /jobs/<id>/retry, and the
 * dashboard's cancel and retry buttons, which send those requests).
 *
 * With --admin-token: whoever sends "Authorization: Bearer <token>",
 * from anywhere. Without one: only a client on this machine, which means
 * three things at once:
 *   - its address is loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) or
 *     a Unix-domain socket;
 *   - the Host it asked for is a loopback name (localhost, 127.x.y.z,
 *     [::1]): a page from another site whose name the attacker re-pointed
 *     at 127.0.0.1 (DNS rebinding) sends its own name;
 *   - an Origin header, if any, names this very host: a page from another
 *     site open in a local browser may POST to localhost (a "simple"
 *     cross-origin request needs no CORS preflight), and the browser then
 *     says where the page came from.
 * A request with no known peer (built by hand rather than received by a
 * corio_http_server) is not from loopback.
 *
 * jobs_auth_decide() is pure so that the tests can give it any peer; the
 * router calls jobs_authorize().
 */
#include "service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static int peer_local(const struct sockaddr *a, size_t len)
{
    if (!a || len < sizeof(sa_family_t))
        return 0;
    if (a->sa_family == AF_UNIX)
        return 1;
    if (a->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)a;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(x))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(x) && x->s6_addr[12] == 127;
    }
    return 0;
}

/* 1 if host (a Host header's value: "name", "name:port", "[v6]:port")
 * names this machine's loopback. */
static int host_local(const char *host)
{
    char name[64];
    size_t n;
    if (host[0] == '[') {
        const char *e = strchr(host, ']');
        if (!e || (e[1] && e[1] != ':'))
            return 0;
        n = (size_t)(e - host - 1);
        if (n >= sizeof name)
            return 0;
        memcpy(name, host + 1, n);
        name[n] = '\0';
        struct in6_addr x;
        return inet_pton(AF_INET6, name, &x) == 1 &&
               (IN6_IS_ADDR_LOOPBACK(&x) ||
                (IN6_IS_ADDR_V4MAPPED(&x) && x.s6_addr[12] == 127));
    }
    n = strcspn(host, ":");
    if (n >= sizeof name || (host[n] && !host[n + 1]))
        return 0;
    memcpy(name, host, n);
    name[n] = '\0';
    if (strcasecmp(name, "localhost") == 0)
        return 1;
    struct in_addr v4;
    return inet_pton(AF_INET, name, &v4) == 1 &&
           (ntohl(v4.s_addr) >> 24) == 127;
}

/* 1 if origin ("scheme://host[:port]") is host itself. */
static int same_origin(const char *origin, const char *host)
{
    const char *p = strstr(origin, "://");
    return p && host && strcasecmp(p + 3, host) == 0;
}

/* 1 if the Authorization value is "Bearer <token>" (compared in constant
 * time). */
static int bearer_ok(const char *token, const char *authz)
{
    if (!authz || strncmp(authz, "Bearer ", 7) != 0)
        return 0;
    const char *t = authz + 7;
    size_t n = strlen(t), m = strlen(token);
    unsigned char diff = n != m;
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned char)(token[i] ^ (i < n ? t[i] : 0));
    return diff == 0;
}

int jobs_auth_decide(const char *token, const char *authz,
                     const struct sockaddr *peer, size_t peer_len,
                     const char *host, const char *origin)
{
    if (token && *token)
        return bearer_ok(token, authz) ? JOBS_AUTH_OK : JOBS_AUTH_TOKEN;
    if (!peer_local(peer, peer_len))
        return JOBS_AUTH_LOCAL;
    if (host && !host_local(host))
        return JOBS_AUTH_LOCAL;
    if (origin && !same_origin(origin, host))
        return JOBS_AUTH_LOCAL;
    return JOBS_AUTH_OK;
}

int jobs_authorize(const jobs_api *api, const corio_http_request *req,
                   corio_http_response *resp)
{
    size_t plen;
    const struct sockaddr *peer = corio_http_request_peer(req, &plen);
    int d = jobs_auth_decide(api->admin_token,
                             corio_http_request_header(req, "Authorization"),
                             peer, plen, corio_http_request_header(req, "Host"),
                             corio_http_request_header(req, "Origin"));
    if (d == JOBS_AUTH_TOKEN) {
        jobs_error_response(resp, 401, "this needs the admin token: send "
                            "\"Authorization: Bearer <token>\" (the server's "
                            "--admin-token)");
        corio_http_response_header(resp, "WWW-Authenticate", "Bearer");
        return 401;
    }
    if (d == JOBS_AUTH_LOCAL) {
        jobs_error_response(resp, 403, "without --admin-token, jobs can be "
                            "cancelled or retried only from this machine "
                            "(a loopback address and Host, and no other "
                            "site's Origin)");
        return 403;
    }
    return 0;
}
