/*
 * A line echo server: one task per connection, plain sequential code.
 *
 *   echo_server [PORT [SECONDS]]     (default port 7777, serve until killed)
 *
 * Try it with `nc 127.0.0.1 7777` or examples/echo_client. Each handler reads
 * a line and writes it back; lines longer than 1 KiB are refused politely
 * (CORIO_ETOOLONG leaves them in the buffer, so the handler can skip them).
 * After SECONDS the server closes gracefully: it stops accepting, gives the
 * handlers a second to finish, then cancels the rest.
 */
#include <corio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void handle(corio_stream *s, void *arg)
{
    char line[1024];
    size_t len;
    int rc;
    (void)arg;
    corio_stream_write(s, "hello, send lines\n", 18);
    for (;;) {
        rc = corio_stream_readline(s, line, sizeof line, &len);
        if (rc == CORIO_ETOOLONG) {
            /* Skip the overlong line: drop what is buffered, go on. */
            size_t n;
            corio_stream_peek(s, &n);
            corio_stream_consume(s, n);
            if (corio_stream_write(s, "line too long\n", 14))
                break;
            continue;
        }
        if (rc) /* CORIO_EEOF (client left), -ECONNRESET, -ECANCELED, ... */
            break;
        if (corio_stream_write(s, line, len))
            break;
    }
}

typedef struct opts {
    int port;
    double seconds;
} opts;

static void *main_task(void *arg)
{
    opts *o = arg;
    corio_server *srv;
    corio_server_opts so;
    int rc;
    memset(&so, 0, sizeof so);
    so.max_connections = 1000;
    rc = corio_server_start(&srv, "127.0.0.1", o->port, handle, NULL, &so);
    if (rc) {
        fprintf(stderr, "echo_server: %s\n", corio_strerror(rc));
        return corio_fail(rc);
    }
    printf("echo server on 127.0.0.1:%d\n", corio_server_port(srv));
    fflush(stdout);
    corio_sleep(o->seconds);
    rc = corio_server_close(srv, 1.0);
    printf("closed (%d handler(s) cancelled)\n", rc);
    return NULL;
}

int main(int argc, char **argv)
{
    opts o;
    o.port = argc > 1 ? atoi(argv[1]) : 7777;
    o.seconds = argc > 2 ? atof(argv[2]) : 1e9;
    return corio_run(main_task, &o, NULL) == 0 ? 0 : 1;
}
