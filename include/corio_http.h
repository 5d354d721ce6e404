/*
 * corio_http.h — HTTP/1.1 for corio: an incremental request parser (llhttp
 * inside), a response writer, and (with corio streams) a server.
 *
 * An optional component: built as the library corio_http when CMake's
 * CORIO_BUILD_HTTP is on (the default). Link corio_http and corio.
 *
 * Read it top to bottom: byte buffers → the request parser → responses →
 * the server. The parser and the response writer do no I/O at all: they turn
 * bytes into requests and responses into bytes, so they can be tested, fuzzed
 * and reused on any transport.
 *
 * The conventions of corio.h hold here: 0 (or a count) on success, a
 * NEGATIVE errno on failure, errno never set, nothing thread-safe.
 *
 * Copyright the corio authors. MIT licence.
 */
#ifndef CORIO_HTTP_H
#define CORIO_HTTP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* As in corio.h: what the shared library libcorio_http.so exports. */
#ifndef CORIO_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define CORIO_API __attribute__((visibility("default")))
#else
#define CORIO_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct sockaddr; /* <sys/socket.h> */

/* ======================================================================
 * Byte buffers
 *
 * A growable byte string. The caller owns the struct (zero-initialise it or
 * use CORIO_HTTP_BUF_INIT); the bytes are malloc'ed by the buffer functions
 * and freed by corio_http_buf_free(). data is always NUL-terminated once
 * anything was appended (the NUL is not counted in len).
 * ====================================================================== */

typedef struct corio_http_buf {
    char *data;  /* the bytes, or NULL before the first append */
    size_t len;  /* bytes in use */
    size_t cap;  /* bytes allocated (room for len + 1) */
} corio_http_buf;

#define CORIO_HTTP_BUF_INIT {NULL, 0, 0}

/* Appends n bytes. Returns 0 or -ENOMEM (b unchanged). */
CORIO_API int corio_http_buf_append(corio_http_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
CORIO_API int corio_http_buf_puts(corio_http_buf *b, const char *s);
/* Appends printf-formatted text. Returns 0, -ENOMEM or -EINVAL (bad format). */
CORIO_API int corio_http_buf_printf(corio_http_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
CORIO_API int corio_http_buf_vprintf(corio_http_buf *b, const char *fmt, va_list ap);
/* Makes room for n more bytes without changing len. 0 or -ENOMEM. */
CORIO_API int corio_http_buf_reserve(corio_http_buf *b, size_t n);
/* Drops the first n bytes (all of them if n >= len), keeping the memory. */
CORIO_API void corio_http_buf_consume(corio_http_buf *b, size_t n);
/* Empties b, keeping its memory for reuse. */
CORIO_API void corio_http_buf_clear(corio_http_buf *b);
/* Frees the bytes and zeroes b. */
CORIO_API void corio_http_buf_free(corio_http_buf *b);

/* ======================================================================
 * The request parser
 *
 * Feed it bytes as they arrive, in pieces of any size; it reports each
 * complete request (method, target, headers, the body with any chunked
 * encoding removed, keep-alive) one at a time, so pipelined requests come out
 * in order. It enforces limits: a request head (request line + headers)
 * longer than max_head bytes or with more than max_headers fields is refused
 * (431), and a body longer than max_body (413) — as soon as Content-Length
 * announces it, before the body is read. It is strict: requests llhttp's
 * strict mode rejects (bare LF, both Content-Length and Transfer-Encoding,
 * invalid tokens, ...) are errors, which closes the door to request
 * smuggling.
 *
 * corio_http_parser_create() allocates a parser; corio_http_parser_destroy()
 * frees it and everything it reported.
 * ====================================================================== */

typedef struct corio_http_parser corio_http_parser;

/* Limits. Zero-initialise, set what you need; 0 means the default. */
typedef struct corio_http_limits {
    size_t max_head;    /* request line + header bytes; default 8 KiB */
    size_t max_headers; /* header fields; default 100 */
    size_t max_body;    /* body bytes after de-chunking; default 1 MiB */
} corio_http_limits;

typedef struct corio_http_header {
    const char *name;  /* as sent (case preserved), NUL-terminated */
    size_t name_len;
    const char *value; /* surrounding whitespace removed, NUL-terminated */
    size_t value_len;
} corio_http_header;

/* A parsed request. Owned by the parser: every pointer stays valid until the
 * next corio_http_parser_feed(), _reset() or _destroy() on it. */
typedef struct corio_http_request {
    const char *method;  /* "GET", "POST", ... (static string) */
    const char *target;  /* request-target as sent: "/jobs?limit=5" */
    size_t target_len;
    int version_major;   /* 1 */
    int version_minor;   /* 0 or 1 */
    const corio_http_header *headers; /* in the order received */
    size_t nheaders;
    const char *body;    /* decoded body ("" if none), NUL-terminated */
    size_t body_len;
    int keep_alive;      /* 1: the connection may carry another request */
    int expect_continue; /* 1: the client sent "Expect: 100-continue" */
    int chunked;         /* 1: the body came chunked */
    /* The client's address, as the kernel gave it (a struct sockaddr_in,
     * sockaddr_in6 or sockaddr_un): set by corio_http_server for the
     * handler, valid as long as the request; NULL when unknown (a request
     * parsed by hand). Read it with corio_http_request_peer(). */
    const struct sockaddr *peer;
    size_t peer_len;     /* bytes of *peer */
} corio_http_request;

/* What corio_http_parser_feed() found. */
enum corio_http_event {
    CORIO_HTTP_NEED_MORE = 0, /* every byte was used; no request yet */
    CORIO_HTTP_REQUEST = 1,   /* a complete request is ready */
    CORIO_HTTP_CONTINUE = 2   /* the head of an "Expect: 100-continue"
                                 request with a body is ready, its body
                                 is not: answer "100 Continue" (or a final
                                 status) and keep feeding */
};

/* lim may be NULL (defaults). Returns 0, -ENOMEM or -EINVAL (a limit so
 * large it cannot be honoured). */
CORIO_API int corio_http_parser_create(corio_http_parser **pp,
                                       const corio_http_limits *lim);
CORIO_API void corio_http_parser_destroy(corio_http_parser *p); /* NULL: no-op */

/* Parses up to len bytes of data, stopping after the first complete request
 * (or 100-continue head). *used gets how many bytes were consumed; the caller
 * feeds the rest again (pipelining) after handling the request.
 * Returns an enum corio_http_event, or a negative error after which the
 * parser is dead (every later call returns the same error; answer with
 * corio_http_parser_status() and close the connection):
 *   -EBADMSG  malformed request (400)
 *   -EMSGSIZE request head over max_head or max_headers (431)
 *   -EFBIG    body over max_body (413)
 *   -ENOSYS   unknown method (501)
 *   -EPROTONOSUPPORT an HTTP version other than 1.x (505)
 *   -ENOMEM   out of memory (500) */
CORIO_API int corio_http_parser_feed(corio_http_parser *p, const char *data, size_t len,
                                     size_t *used);

/* The request of the last CORIO_HTTP_REQUEST / CORIO_HTTP_CONTINUE event
 * (with CONTINUE, body is still ""). NULL if there is none. */
CORIO_API const corio_http_request *corio_http_parser_request(const corio_http_parser *p);

/* Tells the parser the peer closed its side. Returns 0 if that was a clean
 * end (between requests), -EBADMSG if a request was cut short. */
CORIO_API int corio_http_parser_finish(corio_http_parser *p);

/* After an error: the HTTP status to answer with (400, 413, 431, 500, 501,
 * 505) and, in *reason (may be NULL), a static English explanation. 0 if
 * the parser has not failed. */
CORIO_API int corio_http_parser_status(const corio_http_parser *p, const char **reason);

/* Forgets any partial request and the last one reported; limits stay. */
CORIO_API void corio_http_parser_reset(corio_http_parser *p);

/* Where the parser is: 0 between requests (nothing of the next one seen),
 * CORIO_HTTP_IN_HEAD while a request head is arriving, CORIO_HTTP_IN_BODY
 * once the head is complete and the body is arriving. A server uses it to
 * choose between its idle, header and body timeouts. */
#define CORIO_HTTP_IN_HEAD 1
#define CORIO_HTTP_IN_BODY 2
CORIO_API int corio_http_parser_busy(const corio_http_parser *p);

/* The value of the first header called name (case-insensitive), or NULL. */
CORIO_API const char *corio_http_request_header(const corio_http_request *r,
                                                const char *name);

/* The address of the client that sent r (a struct sockaddr_in, _in6 or
 * _un; *len, which may be NULL, gets its size), or NULL if unknown: the
 * requests a corio_http_server hands to its handler carry it, a request
 * from corio_http_parser_request() does not. Valid as long as r. For
 * access decisions such as "loopback only". */
CORIO_API const struct sockaddr *corio_http_request_peer(const corio_http_request *r,
                                                         size_t *len);

/* The HTTP status for one of the parser's errors (-EBADMSG → 400, ...);
 * 500 for anything else. */
CORIO_API int corio_http_error_status(int err);

/* ======================================================================
 * Responses
 *
 * A response under construction: a status, header lines and a body. The
 * caller owns the struct: corio_http_response_init() before use, _free()
 * after; _clear() empties it for reuse without freeing its memory.
 * corio_http_response_write() turns it into bytes; it adds Content-Length
 * (unless the status forbids a body) and "Connection: close" when close is
 * set.
 * ====================================================================== */

typedef struct corio_http_response {
    int status;             /* 100..599; default 200 */
    int close;              /* 1: "Connection: close", then close */
    corio_http_buf headers; /* "Name: value\r\n" lines, see _header() */
    corio_http_buf body;    /* append to it directly */
} corio_http_response;

CORIO_API void corio_http_response_init(corio_http_response *r);
CORIO_API void corio_http_response_clear(corio_http_response *r);
CORIO_API void corio_http_response_free(corio_http_response *r);

/* Adds a header line. Returns 0, -ENOMEM, or -EINVAL if name is not an
 * HTTP token, if value holds a control character other than HTAB (CR and
 * LF would inject header lines), or if name is Content-Length or
 * Transfer-Encoding (the writer owns framing). */
CORIO_API int corio_http_response_header(corio_http_response *r, const char *name,
                                         const char *value);

/* Sets status, Content-Type and body in one call (body copied; len may be
 * (size_t)-1 for a NUL-terminated body). Returns 0, -ENOMEM or -EINVAL. */
CORIO_API int corio_http_response_set(corio_http_response *r, int status,
                                      const char *content_type, const char *body,
                                      size_t len);

#define CORIO_HTTP_WRITE_HEAD 0x1u /* answer to HEAD: no body bytes */

/* Appends the response's bytes to out: status line, headers,
 * Content-Length, optional "Connection: close", blank line, body. Statuses
 * 1xx, 204 and 304 get neither Content-Length nor body. Returns 0, -ENOMEM,
 * -EINVAL (status outside 100..599). */
CORIO_API int corio_http_response_write(const corio_http_response *r, unsigned flags,
                                        corio_http_buf *out);

/* The standard reason phrase of status ("Not Found"), or "Unknown". */
CORIO_API const char *corio_http_reason(int status);

/* Formats t (seconds since the Epoch) as an HTTP date (IMF-fixdate,
 * "Sun, 06 Nov 1994 08:49:37 GMT") into out, which has room for 30 bytes.
 * Returns out. */
CORIO_API char *corio_http_date(char out[30], int64_t t);

/* ======================================================================
 * The server
 *
 * An HTTP/1.1 server on corio streams: one task per connection (from
 * corio_server), requests parsed by the parser above, one handler call per
 * request, responses written in order. Keep-alive and pipelining (answers
 * to pipelined requests leave in one write), "100 Continue" sent when a
 * client waits for it, the parser's limits (431, 413), and timeouts against
 * slow clients (slowloris): a request head must arrive within
 * header_timeout of its first byte, its body within body_timeout of the
 * head, an idle keep-alive connection is closed after idle_timeout, and a
 * response that cannot be written within write_timeout drops the
 * connection. A timed-out request gets 408; a malformed or oversized one
 * gets its status from the parser; either way the connection then closes,
 * lingering: its write side is shut and what the client still sends is
 * discarded (up to linger_timeout, 1 s of silence or 64 MiB), so that a
 * client still sending its body reads the answer instead of a reset.
 *
 * corio_http_server_start() allocates the server and starts accepting in a
 * task of its own; corio_http_server_close() stops it and frees it.
 * ====================================================================== */

typedef struct corio_http_server corio_http_server;

/* Called in the connection's task for each request. Fill resp (initialised,
 * status 200); the server adds Date, Content-Length and Connection. It may
 * suspend (it runs in a task). Return 0, or a negative value to close the
 * connection after resp is sent. req is valid during the call only. */
typedef int (*corio_http_handler)(const corio_http_request *req,
                                  corio_http_response *resp, void *arg);

/* Fills resp for an error the server answers by itself (400, 408, 413,
 * 431, 501, 505, 503). reason is a static English sentence. */
typedef void (*corio_http_error_fn)(corio_http_response *resp, int status,
                                    const char *reason, void *arg);

/* Options. Zero-initialise, set what you need; 0 means the default. */
typedef struct corio_http_server_opts {
    corio_http_limits limits;  /* request limits (see above) */
    size_t max_connections;    /* open connections; default 10000; beyond
                                  it, accepting pauses (for a server on
                                  every loop: the total of all loops) */
    double header_timeout;     /* seconds; default 10 */
    double body_timeout;       /* seconds; default 30 */
    double idle_timeout;       /* seconds between requests; default 60 */
    double write_timeout;      /* seconds to hand a response to the kernel;
                                  default 30 */
    double linger_timeout;     /* seconds, at most, of reading and
                                  discarding what a client still sends
                                  after an error answer (lingering close);
                                  default 5; < 0: close at once */
    corio_http_error_fn error_response; /* NULL: a text/plain body */
    size_t stack_size;         /* connection task stacks; 0: loop default */
    int backlog;               /* listen backlog; 0: SOMAXCONN */
    unsigned flags;            /* CORIO_HTTP_SERVER_* */
    struct corio_tls_ctx *tls; /* a CORIO_TLS_SERVER context: HTTPS (the
                                  handshake runs in the connection's task
                                  first, bounded by 10 s); NULL: plain.
                                  Keep it alive while the server runs. */
} corio_http_server_opts;

#define CORIO_HTTP_SERVER_REUSEPORT 0x1u /* SO_REUSEPORT on the listener */
/* corio_http_server_start_all only (-EINVAL elsewhere): one listener on
 * the calling loop, handing each connection to a loop round-robin ... */
#define CORIO_HTTP_SERVER_ONE_ACCEPTOR 0x2u
/* ... or, with this too, to the loop with the fewest open connections of
 * this server (ties round-robin). */
#define CORIO_HTTP_SERVER_LEAST_BUSY 0x4u

/* Counters, for metrics. */
typedef struct corio_http_server_stats {
    uint64_t connections;  /* accepted since start */
    size_t open;           /* open now */
    uint64_t requests;     /* requests handed to the handler */
    uint64_t responses[6]; /* responses sent by class: [2] = 2xx, ... */
    uint64_t rejected;     /* requests refused by the parser (4xx/5xx) */
    uint64_t timeouts;     /* connections closed by a timeout */
} corio_http_server_stats;

/* Listens on host:port (numeric; NULL: 0.0.0.0; port 0: any free port)
 * and serves with handler(arg). opts may be NULL. Must be called from a
 * loop's thread. Returns 0, -EINVAL (also for the flags ONE_ACCEPTOR and
 * LEAST_BUSY), -ENOMEM, -EADDRINUSE, ... */
CORIO_API int corio_http_server_start(corio_http_server **sp, const char *host,
                                      int port, corio_http_handler handler, void *arg,
                                      const corio_http_server_opts *opts);
/* The bound port (useful after port 0). */
CORIO_API int corio_http_server_port(const corio_http_server *s);
CORIO_API void corio_http_server_stats_get(const corio_http_server *s,
                                           corio_http_server_stats *out);

/* Graceful close: stops accepting, closes idle keep-alive connections at
 * once, lets requests in progress finish (their responses carry
 * "Connection: close") for up to grace seconds (< 0: no limit), then
 * cancels what remains and waits for it. Frees s. Suspending (call from a
 * task). Returns the number of connections that had to be cancelled, or
 * -EPERM (not in a task: s is left alone). */
CORIO_API int corio_http_server_close(corio_http_server *s, double grace);

/* An HTTP server on every loop of a corio_run_multi runtime, in one call
 * (corio.h, "Every core"; built on corio_server_start_all). By default each
 * loop has its own SO_REUSEPORT listener (the kernel spreads connections by
 * a hash of their addresses) and serves what it accepts: a connection never
 * crosses loops. With CORIO_HTTP_SERVER_ONE_ACCEPTOR one listener on the
 * calling loop accepts everything and hands each connection to a loop
 * round-robin (with CORIO_HTTP_SERVER_LEAST_BUSY too: the loop with the
 * fewest open connections of this server); LEAST_BUSY alone is -EINVAL. handler runs on the loop
 * serving the connection, possibly on several loops at once: whatever it
 * shares across loops needs its own synchronisation. opts as for
 * corio_http_server_start (REUSEPORT implied); max_connections is the
 * total of all loops (REUSEPORT: each loop gets an equal share;
 * ONE_ACCEPTOR: the acceptor counts every loop's connections); one tls
 * context serves every loop. Port 0 picks one port for all.
 *
 * Allocated by corio_http_server_start_all (from a task on a loop of a
 * runtime), freed by corio_http_mserver_close. Start returns 0, -EPERM (not
 * in a runtime's task), -EINVAL, -ENOMEM, or the first loop's failure
 * (-EADDRINUSE, ...; then nothing is left running). */
typedef struct corio_http_mserver corio_http_mserver;
CORIO_API int corio_http_server_start_all(corio_http_mserver **hp, const char *host,
                                          int port, corio_http_handler handler,
                                          void *arg, const corio_http_server_opts *opts);
/* The bound port, or -EINVAL (h NULL). */
CORIO_API int corio_http_mserver_port(const corio_http_mserver *h);
/* Loop index's counters (index -1: the sum over the loops), read on that
 * loop (a task spawned there, awaited: suspending). Not while
 * corio_http_mserver_close runs. Returns 0, -EINVAL (bad index, NULL),
 * -ECANCELED, -EPERM, -ENOMEM. */
CORIO_API int corio_http_mserver_stats(corio_http_mserver *h, int index,
                                       corio_http_server_stats *out);
/* Graceful close of every loop's server, as corio_http_server_close does
 * for one (stop accepting, end idle keep-alive connections at once, let
 * requests in progress finish for up to grace seconds, then cancel what
 * remains), finished even if the caller is cancelled meanwhile. Waits for
 * every loop, frees h, and returns the number of connections that had to
 * be cancelled, or -EPERM (not in a task: h is left alone), -EINVAL. */
CORIO_API int corio_http_mserver_close(corio_http_mserver *h, double grace);

/* ======================================================================
 * The client
 *
 * HTTP(S) requests with libcurl, driven by the corio loop: curl's
 * multi-socket interface tells the client which sockets and timeouts it
 * needs, the client waits on them with corio_watch and timers, and each
 * calling task suspends until its own transfer is done. Many transfers run
 * concurrently on the loop's thread, with curl's TLS, redirects, HTTP/2,
 * proxies (the usual environment variables) and compression.
 *
 * corio_http_client_create() allocates a client for the current loop (one
 * curl multi handle, reusing connections between requests);
 * corio_http_client_destroy() frees it once no request is in flight.
 * ====================================================================== */

typedef struct corio_http_client corio_http_client;

/* Returns 0, -ENOMEM, -EPERM (no loop), -EIO (curl failed to start). */
CORIO_API int corio_http_client_create(corio_http_client **cp);
/* Frees c. Suspending (it waits for its socket watchers to leave); every
 * corio_http_fetch() on c must have returned. NULL is a no-op. */
CORIO_API void corio_http_client_destroy(corio_http_client *c);

#define CORIO_HTTP_FETCH_NO_REDIRECTS 0x1u /* do not follow 3xx Location */
#define CORIO_HTTP_FETCH_DISCARD_BODY 0x2u /* count the body, keep nothing */

/* Request options. Zero-initialise; 0 / NULL means the default. */
typedef struct corio_http_fetch_opts {
    const char *method;          /* NULL: GET (POST if body is set) */
    const char *const *headers;  /* "Name: value", NULL-terminated */
    const void *body;            /* request body, body_len bytes */
    size_t body_len;
    size_t max_body;             /* response body limit; default 64 MiB */
    int max_redirects;           /* default 10 */
    double connect_timeout;      /* seconds; default 30 (also see scopes) */
    unsigned flags;              /* CORIO_HTTP_FETCH_* */
} corio_http_fetch_opts;

/* A response. The caller owns the struct; corio_http_fetch() fills it and
 * corio_http_result_free() frees what it holds. */
typedef struct corio_http_result {
    long status;            /* HTTP status of the final response */
    corio_http_buf body;    /* the body (empty with DISCARD_BODY) */
    uint64_t body_bytes;    /* body size, also with DISCARD_BODY */
    corio_http_buf headers; /* raw header lines of the final response */
    double seconds;         /* total time */
    char error[256];        /* after a failure: curl's explanation */
} corio_http_result;

CORIO_API void corio_http_result_free(corio_http_result *r);

/* Performs one request for url (http:// or https:// only). Suspending:
 * bound it with a scope for a timeout; cancelling the task (or the scope
 * expiring) removes the transfer from curl. Returns 0 whatever the HTTP
 * status (see r->status), or -ECANCELED, -ETIMEDOUT, CORIO_ETOOLONG (body
 * over max_body), -EINVAL (bad URL or protocol), -EHOSTUNREACH (name or
 * host not found), -ECONNREFUSED, -EPROTO (TLS or protocol failure), -EIO
 * (other transfer errors), -ENOMEM, -EPERM. r->error says more. */
CORIO_API int corio_http_fetch(corio_http_client *c, const char *url,
                               const corio_http_fetch_opts *opts, corio_http_result *r);

#ifdef __cplusplus
}
#endif

#endif /* CORIO_HTTP_H */
