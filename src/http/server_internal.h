/*
 * The HTTP server's state, shared by server.c (one loop's server and the
 * connection cycle) and server_multi.c (a server on every loop of a
 * runtime, which keeps one such state per loop).
 */
#ifndef CORIO_HTTP_SERVER_INTERNAL_H
#define CORIO_HTTP_SERVER_INTERNAL_H

#include <corio.h>
#include <corio_http.h>

#define CORIO__HTTP_DEF_MAX_CONNS 10000

/* One connection's record, on the server's list so close can find the idle
 * ones. Heap-allocated by its connection task (never on a task stack: the
 * closing task reads it) and freed by that task when it ends. */
typedef struct hconn {
    struct hconn *next, *prev;
    corio_task *task;  /* the connection task (owned by corio_server) */
    int idle;          /* waiting for the first byte of a next request */
} hconn;

/* One loop's HTTP server. Allocated by corio_http_server_start, freed by
 * corio_http_server_close; or one per loop inside a corio_http_mserver
 * (srv NULL there), touched only on its loop. */
struct corio_http_server {
    corio_server *srv;
    corio_http_handler handler;
    void *arg;
    corio_http_server_opts opts;  /* defaults filled in */
    hconn conns;                  /* list head (sentinel) */
    int closing;
    corio_http_server_stats stats;
    int64_t date_sec;             /* second cached in date[] */
    char date[30];
};

/* Fills s (zeroed by the caller) from opts with the defaults, and checks
 * the limits. 0 or -EINVAL. */
int corio__http_server_init(corio_http_server *s, corio_http_handler handler,
                            void *arg, const corio_http_server_opts *opts);
/* The corio_server options for s->opts (defaults filled in). */
void corio__http_server_opts_to(const corio_http_server_opts *o,
                                corio_server_opts *so);
/* The corio_server handler: one connection's request/response cycle;
 * arg is the corio_http_server of the connection's loop. */
void corio__http_conn_main(corio_stream *st, void *arg);
/* The first step of a graceful close, on s's loop: marks s closing and
 * cancels its idle keep-alive connections. */
void corio__http_server_begin_close(corio_http_server *s);

#endif
