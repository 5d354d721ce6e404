/*
 * A line echo client with a timeout on every exchange.
 *
 *   echo_client [HOST PORT]
 *
 * With no arguments it starts its own echo server task on 127.0.0.1 (any
 * free port) so it runs standalone. It sends a few lines and prints what
 * comes back; a scope bounds each round trip to 2 seconds, so a silent
 * server cannot hang it.
 */
#include <corio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void echo(corio_stream *s, void *arg)
{
    char line[256];
    size_t len;
    (void)arg;
    while (corio_stream_readline(s, line, sizeof line, &len) == 0)
        if (corio_stream_write(s, line, len))
            break;
}

typedef struct target {
    const char *host;
    int port;
} target;

static void *main_task(void *arg)
{
    static const char *const lines[] = {"one\n", "two\n", "three\n"};
    target *t = arg;
    corio_server *srv = NULL;
    corio_stream *s;
    corio_scope sc;
    char buf[256];
    size_t len, i;
    int rc;

    if (!t->host) {
        rc = corio_server_start(&srv, "127.0.0.1", 0, echo, NULL, NULL);
        if (rc)
            return corio_fail(rc);
        t->host = "127.0.0.1";
        t->port = corio_server_port(srv);
    }
    rc = corio_stream_connect_tcp(&s, t->host, t->port);
    if (rc) {
        fprintf(stderr, "connect %s:%d: %s\n", t->host, t->port, corio_strerror(rc));
        goto out;
    }
    /* A server that greets first (examples/echo_server) sends a line we
     * did not ask for: read it if it comes within 100 ms. */
    corio_scope_enter(&sc, 0.1, 0);
    if (corio_stream_readline(s, buf, sizeof buf, &len) == 0)
        printf("greeting: %s", buf);
    corio_scope_exit(&sc);
    for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        corio_scope_enter(&sc, 2.0, 0);
        rc = corio_stream_write(s, lines[i], strlen(lines[i]));
        if (!rc)
            rc = corio_stream_readline(s, buf, sizeof buf, &len);
        corio_scope_exit(&sc);
        if (rc) {
            fprintf(stderr, "exchange: %s\n", corio_strerror(rc));
            break;
        }
        printf("sent %-6.*s got %s", (int)strlen(lines[i]) - 1, lines[i], buf);
    }
    corio_stream_close(s);
out:
    if (srv)
        corio_server_close(srv, 1.0);
    return rc ? corio_fail(rc) : NULL;
}

int main(int argc, char **argv)
{
    target t = {NULL, 0};
    if (argc == 3) {
        t.host = argv[1];
        t.port = atoi(argv[2]);
    }
    return corio_run(main_task, &t, NULL) == 0 ? 0 : 1;
}
