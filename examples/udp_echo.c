/*
 * UDP: an echo server task and a client that retries on timeout.
 *
 *   udp_echo
 *
 * Datagrams can be lost, so the client bounds each wait for the answer
 * with a scope and sends again when it expires. The server "loses" every
 * third datagram on purpose to show the retry.
 */
#include <corio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void *server(void *arg)
{
    corio_socket *s = arg;
    char buf[1500];
    corio_addr from;
    unsigned n = 0;
    for (;;) {
        ssize_t len = corio_socket_recvfrom(s, buf, sizeof buf, 0, &from);
        if (len < 0) /* -ECANCELED when main is done */
            break;
        if (++n % 3 == 0)
            continue; /* dropped */
        corio_socket_sendto(s, buf, (size_t)len, 0, &from);
    }
    return NULL;
}

static void *main_task(void *arg)
{
    corio_socket *srv, *cli;
    corio_addr to;
    corio_task *st;
    char buf[64], reply[64];
    int i, tries;
    (void)arg;
    if (corio_udp_bind(&srv, "127.0.0.1", 0) || corio_udp_bind(&cli, "127.0.0.1", 0))
        return corio_fail(-EIO);
    corio_socket_local_addr(srv, &to);
    st = corio_spawn(server, srv);
    for (i = 1; i <= 5; i++) {
        int n = snprintf(buf, sizeof buf, "ping %d", i);
        for (tries = 1; tries <= 5; tries++) {
            corio_scope sc;
            ssize_t len;
            corio_socket_sendto(cli, buf, (size_t)n, 0, &to);
            corio_scope_enter(&sc, 0.05, 0);
            len = corio_socket_recvfrom(cli, reply, sizeof reply - 1, 0, NULL);
            corio_scope_exit(&sc);
            if (len >= 0) {
                reply[len] = '\0';
                printf("%s -> %s (try %d)\n", buf, reply, tries);
                break;
            }
            printf("%s: %s, sending again\n", buf, corio_strerror((int)len));
        }
    }
    corio_cancel(st);
    corio_await(st, NULL);
    corio_socket_close(cli);
    corio_socket_close(srv);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
