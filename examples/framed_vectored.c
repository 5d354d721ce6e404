/*
 * Length-prefixed frames over TCP with vectored I/O: the header and the
 * payload go out in one corio_socket_writev (no copy into a staging
 * buffer), and come in with corio_socket_readv straight into a header
 * struct and a payload buffer.
 *
 *   framed_vectored
 *
 * Both calls may move fewer bytes than asked (a socket takes and gives
 * what it has room or data for), so each side loops, advancing its
 * iovecs past what moved. On io_uring each call is one operation in the
 * ring (CORIO_BACKEND=io_uring to see it); elsewhere recvmsg/sendmsg.
 */
#include <corio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Moves the iovec array past n bytes that moved. */
static void advance(struct iovec **iov, int *cnt, size_t n)
{
    while (*cnt > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        (*cnt)--;
    }
    if (*cnt > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
}

/* Sends one frame: a 4-byte big-endian length, then the payload. */
static int send_frame(corio_socket *s, const char *payload, uint32_t len)
{
    uint32_t hdr = htonl(len);
    struct iovec v[2] = {{&hdr, sizeof hdr}, {(void *)payload, len}}, *p = v;
    int cnt = 2;
    while (cnt > 0) {
        ssize_t n = corio_socket_writev(s, p, cnt);
        if (n < 0)
            return (int)n;
        advance(&p, &cnt, (size_t)n);
    }
    return 0;
}

/* Receives one frame into buf (at most cap bytes); returns its length,
 * 0 at a clean end of stream, or a negative errno. */
static ssize_t recv_frame(corio_socket *s, char *buf, uint32_t cap)
{
    uint32_t hdr, len;
    struct iovec v = {&hdr, sizeof hdr}, *p = &v;
    int cnt = 1;
    while (cnt > 0) { /* the header, then we know the payload's size */
        ssize_t n = corio_socket_readv(s, p, cnt);
        if (n <= 0)
            return n == 0 && p->iov_len == sizeof hdr ? 0 : (n ? n : -EPROTO);
        advance(&p, &cnt, (size_t)n);
    }
    len = ntohl(hdr);
    if (len > cap)
        return -EMSGSIZE;
    v.iov_base = buf;
    v.iov_len = len;
    p = &v;
    cnt = len > 0;
    while (cnt > 0) {
        ssize_t n = corio_socket_readv(s, p, cnt);
        if (n <= 0)
            return n ? n : -EPROTO;
        advance(&p, &cnt, (size_t)n);
    }
    return (ssize_t)len;
}

static void *server(void *arg)
{
    corio_socket *l = arg, *c;
    char buf[256];
    ssize_t n;
    if (corio_socket_accept(l, &c, NULL) != 0)
        return NULL;
    while ((n = recv_frame(c, buf, sizeof buf)) > 0) {
        printf("server got a %zd-byte frame: %.*s\n", n, (int)n, buf);
        send_frame(c, buf, (uint32_t)n); /* echo it back as a frame */
    }
    corio_socket_close(c);
    return NULL;
}

static void *main_task(void *arg)
{
    static const char *const msgs[] = {"hello", "vectored", "world"};
    corio_socket *l, *c;
    corio_addr a;
    corio_task *st;
    char buf[256];
    size_t i;
    (void)arg;
    if (corio_tcp_listen(&l, "127.0.0.1", 0, 16, 0) != 0)
        return corio_fail(-EIO);
    corio_socket_local_addr(l, &a);
    st = corio_spawn(server, l);
    if (corio_tcp_connect(&c, "127.0.0.1", corio_addr_port(&a)) != 0)
        return corio_fail(-EIO);
    printf("backend: %s\n", corio_loop_backend(NULL));
    for (i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        ssize_t n;
        send_frame(c, msgs[i], (uint32_t)strlen(msgs[i]));
        n = recv_frame(c, buf, sizeof buf);
        if (n < 0)
            return corio_fail((int)n);
        printf("client got back: %.*s\n", (int)n, buf);
    }
    corio_socket_close(c); /* the server sees the end of stream */
    corio_await(st, NULL);
    corio_socket_close(l);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
