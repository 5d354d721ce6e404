/*
 * The HTTP client: libcurl's multi-socket interface driven by the corio
 * loop.
 *
 * curl owns its sockets and says, through the socket callback, which of
 * them it wants to read or write; through the timer callback, when it next
 * needs a call for its timeouts. The client answers with one small watcher
 * task per socket (waiting with corio_watch for exactly what curl wants)
 * and one corio_timer. When either fires it calls
 * curl_multi_socket_action(), then collects finished transfers and
 * completes each one's future, which wakes the task that asked for it.
 *
 * A change of interest (connecting: writable; then readable) cancels the
 * socket's watcher and starts a new one: a waiting corio_watch_wait cannot
 * be retargeted, and tasks are cheap. When curl drops a socket the watch
 * is closed at once (before curl closes the fd, so a new socket reusing the
 * number can be registered); a watcher still parked on it wakes with
 * -EBADF and leaves.
 *
 * Everything curl writes into (body, headers, error text) belongs to the
 * transfer, on the heap: curl's callbacks run while the requesting task is
 * suspended, when its stack may have been copied away (compact stacks).
 */
#include <corio.h>
#include <corio_http.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define DEF_MAX_BODY (64u << 20)
#define DEF_MAX_REDIRECTS 10
#define DEF_CONNECT_TIMEOUT 30.0

/* One socket curl asked us to watch. Allocated by the socket callback;
 * reference counted: the client holds one until curl removes the socket,
 * each watcher task one until it ends. */
typedef struct sock {
    struct corio_http_client *c;
    curl_socket_t fd;
    corio_watch *w;         /* NULL once curl removed the socket */
    int what;               /* CURL_POLL_IN / _OUT / _INOUT */
    corio_task *task;       /* the current watcher (detached), or NULL */
    int refs;
    struct sock *next, *prev;
} sock;

/* One request in flight. Allocated by corio_http_fetch, freed by it. */
typedef struct xfer {
    CURL *easy;
    corio_future *done;     /* completed when curl reports it done */
    int finished;
    CURLcode code;
    corio_http_buf body, headers;
    uint64_t bytes;
    size_t max_body;
    int discard, too_long;
    struct curl_slist *hdrs;
    char errbuf[CURL_ERROR_SIZE];
} xfer;

/* Allocated by corio_http_client_create, freed by _destroy. */
struct corio_http_client {
    CURLM *multi;
    corio_loop *loop;
    corio_timer timer;      /* curl's next timeout */
    sock socks;             /* live sockets (sentinel) */
    size_t watchers;        /* watcher tasks not yet ended */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- driving curl ---------------------------------------------------------- */

/* Wakes the tasks whose transfers curl has finished. */
static void check_done(corio_http_client *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURL *easy = m->easy_handle;
        CURLcode code = m->data.result;
        curl_multi_remove_handle(c->multi, easy); /* m is invalid now */
        if (x) {
            x->finished = 1;
            x->code = code;
            corio_future_set_result(x->done, NULL);
        }
    }
}

static void action(corio_http_client *c, curl_socket_t fd, int flags)
{
    int running;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    check_done(c);
}

static void timer_fired(void *arg)
{
    action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    corio_http_client *c = userp;
    if (timeout_ms < 0)
        corio_timer_stop(&c->timer);
    else /* 0 too goes through the loop: curl must not be re-entered */
        corio_timer_start(c->loop, &c->timer, (double)timeout_ms / 1000.0,
                          timer_fired, c);
    return 0;
}

static void sock_unref(sock *k)
{
    if (--k->refs == 0)
        free(k);
}

static void *watcher_main(void *arg)
{
    sock *k = arg;
    corio_http_client *c = k->c;
    corio_task *me = corio_current();
    while (k->w && k->task == me) {
        unsigned ev = ((k->what & CURL_POLL_IN) ? CORIO_READABLE : 0) |
                      ((k->what & CURL_POLL_OUT) ? CORIO_WRITABLE : 0);
        int r = corio_watch_wait(k->w, ev);
        if (r < 0 || k->task != me)
            break;
        action(c, k->fd,
               ((r & CORIO_READABLE) ? CURL_CSELECT_IN : 0) |
                   ((r & CORIO_WRITABLE) ? CURL_CSELECT_OUT : 0));
    }
    if (k->task == me)
        k->task = NULL;
    c->watchers--;
    sock_unref(k);
    return NULL;
}

static void sock_remove(corio_http_client *c, sock *k)
{
    if (k->task) {
        corio_cancel(k->task);
        k->task = NULL;
    }
    if (k->w) {
        corio_watch_close(k->w); /* a parked watcher wakes with -EBADF */
        k->w = NULL;
    }
    k->prev->next = k->next;
    k->next->prev = k->prev;
    sock_unref(k);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    (void)easy;
    corio_http_client *c = userp;
    sock *k = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (k) {
            curl_multi_assign(c->multi, fd, NULL);
            sock_remove(c, k);
        }
        return 0;
    }
    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k)
            return -1;
        k->c = c;
        k->fd = fd;
        k->refs = 1;
        if (corio_watch_open(&k->w, fd) < 0) {
            free(k);
            return -1;
        }
        k->next = c->socks.next;
        k->prev = &c->socks;
        c->socks.next->prev = k;
        c->socks.next = k;
        curl_multi_assign(c->multi, fd, k);
    }
    if (k->what == what && k->task)
        return 0;
    k->what = what;
    if (k->task)
        corio_cancel(k->task); /* it leaves at its next wait */
    corio_spawn_opts so = {.name = "curl-socket", .stack_size = 64 << 10};
    k->task = NULL;
    if (corio_spawn_ex(&k->task, watcher_main, k, &so) < 0)
        return -1;
    corio_detach(k->task);
    k->refs++;
    c->watchers++;
    return 0;
}

/* ---- the client ---------------------------------------------------------------- */

int corio_http_client_create(corio_http_client **cp)
{
    *cp = NULL;
    corio_loop *loop = corio_loop_current();
    if (!loop)
        return -EPERM;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return -EIO;
    corio_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->loop = loop;
    c->socks.next = c->socks.prev = &c->socks;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return -ENOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    *cp = c;
    return 0;
}

void corio_http_client_destroy(corio_http_client *c)
{
    if (!c)
        return;
    corio_timer_stop(&c->timer);
    /* curl must not call back into a client being torn down: its sockets
     * are dropped here instead. */
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, NULL);
    curl_multi_cleanup(c->multi);
    while (c->socks.next != &c->socks)
        sock_remove(c, c->socks.next);
    /* Watchers hold c: let each run to its end. */
    corio_scope sc;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    while (c->watchers && corio_yield() == 0)
        ;
    corio_scope_exit(&sc);
    free(c);
}

void corio_http_result_free(corio_http_result *r)
{
    corio_http_buf_free(&r->body);
    corio_http_buf_free(&r->headers);
}

/* ---- one request ------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    xfer *x = arg;
    size_t len = size * n;
    x->bytes += len;
    if (x->bytes > x->max_body) {
        x->too_long = 1;
        return 0; /* aborts the transfer */
    }
    if (!x->discard && corio_http_buf_append(&x->body, p, len) < 0)
        return 0;
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    xfer *x = arg;
    size_t len = size * n;
    /* A new status line (after a redirect or a 100 Continue): keep only
     * the final response's headers. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        corio_http_buf_clear(&x->headers);
        x->bytes = 0;
        corio_http_buf_clear(&x->body);
    }
    if (x->headers.len + len > 256 * 1024)
        return 0;
    return corio_http_buf_append(&x->headers, p, len) < 0 ? 0 : len;
}

static int map_code(const xfer *x)
{
    switch (x->code) {
    case CURLE_OK: return 0;
    case CURLE_WRITE_ERROR:
        return x->too_long ? CORIO_ETOOLONG : -ENOMEM;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return -EINVAL;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    case CURLE_TOO_MANY_REDIRECTS: return -ELOOP;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return -EPROTO;
    default: return -EIO;
    }
}

static void xfer_free(xfer *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    if (x->done)
        corio_future_destroy(x->done);
    corio_http_buf_free(&x->body);
    corio_http_buf_free(&x->headers);
    free(x);
}

int corio_http_fetch(corio_http_client *c, const char *url,
                     const corio_http_fetch_opts *opts, corio_http_result *r)
{
    memset(r, 0, sizeof *r);
    if (!corio_current())
        return -EPERM;
    if (!c || !url)
        return -EINVAL;
    corio_http_fetch_opts o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    x->max_body = o.max_body ? o.max_body : DEF_MAX_BODY;
    x->discard = (o.flags & CORIO_HTTP_FETCH_DISCARD_BODY) != 0;
    x->easy = curl_easy_init();
    int rc = x->easy ? corio_future_create(NULL, &x->done) : -ENOMEM;
    if (rc < 0) {
        xfer_free(x);
        return rc;
    }
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    /* Only the web: no file://, gopher://, ... not even through a
     * redirect. */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION,
                     (o.flags & CORIO_HTTP_FETCH_NO_REDIRECTS) ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS,
                     (long)(o.max_redirects ? o.max_redirects
                                            : DEF_MAX_REDIRECTS));
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)((o.connect_timeout > 0 ? o.connect_timeout
                                                   : DEF_CONNECT_TIMEOUT) *
                            1000));
    curl_easy_setopt(e, CURLOPT_USERAGENT, "corio-http/" "0.1");
    for (const char *const *h = o.headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(x->hdrs, *h);
        if (!n) {
            xfer_free(x);
            return -ENOMEM;
        }
        x->hdrs = n;
    }
    if (x->hdrs)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    if (o.body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)o.body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o.body);
    }
    if (o.method)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o.method);
    if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK) {
        snprintf(r->error, sizeof r->error, "bad URL");
        xfer_free(x);
        return -EINVAL;
    }
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        xfer_free(x);
        return -ENOMEM;
    }
    rc = corio_future_await(x->done, NULL);
    if (!x->finished) {
        /* Interrupted: take the transfer out of curl (closing its
         * connection) before the handle goes. */
        curl_multi_remove_handle(c->multi, e);
        xfer_free(x);
        return rc < 0 ? rc : -ECANCELED;
    }
    rc = map_code(x);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &r->seconds);
    r->body = x->body;
    r->headers = x->headers;
    r->body_bytes = x->bytes;
    memset(&x->body, 0, sizeof x->body);
    memset(&x->headers, 0, sizeof x->headers);
    if (rc < 0)
        snprintf(r->error, sizeof r->error, "%s",
                 x->errbuf[0] ? x->errbuf
                              : x->too_long ? "response body too large"
                                            : curl_easy_strerror(x->code));
    xfer_free(x);
    return rc;
}
