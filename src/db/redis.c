/*
 * corio_redis: hiredis's async context on the corio loop (see
 * include/corio_redis.h).
 *
 * The adapter. hiredis drives I/O through five hooks (addRead, delRead,
 * addWrite, delWrite, cleanup) and expects the event loop to call
 * redisAsyncHandleRead/Write when the socket is ready. Here two small
 * helper tasks per connection do that over one corio_watch (the socket is
 * registered once, no epoll_ctl per wait):
 *  - the reader waits for readable and calls redisAsyncHandleRead (which
 *    parses replies and runs their callbacks, waking the waiting tasks);
 *  - the writer sleeps on an event until hiredis asks to write (addWrite),
 *    then waits for writable and calls redisAsyncHandleWrite.
 * The reader always waits, whatever addRead/delRead said: reading when
 * hiredis did not ask is harmless (it sees an unexpected EOF sooner).
 *
 * Lifetime. hiredis frees its context itself when the connection fails or
 * the server closes it, calling cleanup from inside HandleRead/Write; so
 * the corio_redis outlives its context and is reference-counted: one
 * reference for the user (dropped by corio_redis_close) and one per helper
 * task (dropped when it exits). The helpers are detached tasks.
 *
 * Replies. hiredis 0.14 frees a reply as soon as its callback returns, so
 * the callback hands the waiting task a deep copy (allocated like
 * hiredis's own, so freeReplyObject frees it).
 */
#include <corio_redis.h>


#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Allocated by connect; freed by the last of: corio_redis_close, the
 * reader's exit, the writer's exit. */
struct corio_redis {
    redisAsyncContext *ac; /* NULL once hiredis freed it */
    corio_watch *w;        /* NULL once closed */
    corio_event *wake;     /* wakes the writer: write wanted, or closing */
    corio_future *connected; /* connect's outcome; freed by connect */
    char *err;             /* why connect failed (hiredis frees its own
                              context, and its errstr, right after) */
    int writing;           /* hiredis wants to write */
    int closing;
    int refs;
};

/* One command in flight. Allocated by the command call, freed by the
 * caller when it got the outcome, or by the reply callback when the
 * caller had already given up (abandoned). */
typedef struct redis_req {
    corio_future *f;
    int abandoned;
} redis_req;

static void redis_unref(corio_redis *r)
{
    if (--r->refs == 0) {
        free(r->err);
        corio_event_destroy(r->wake);
        free(r);
    }
}

/* ---- the hooks ---------------------------------------------------------- */

static void hook_add_read(void *p) { (void)p; }
static void hook_del_read(void *p) { (void)p; }

static void hook_add_write(void *p)
{
    corio_redis *r = p;
    r->writing = 1;
    corio_event_set(r->wake);
}

static void hook_del_write(void *p)
{
    corio_redis *r = p;
    r->writing = 0;
}

/* hiredis is freeing the context (closed by us or by the peer, or a
 * failed connect): forget it, stop watching the fd it is about to close,
 * and let both helpers run to their exit. */
static void hook_cleanup(void *p)
{
    corio_redis *r = p;
    r->ac = NULL;
    r->writing = 0;
    corio_watch_close(r->w);
    r->w = NULL;
    corio_event_set(r->wake);
}

/* ---- the helper tasks ---------------------------------------------------- */

static void *redis_reader(void *arg)
{
    corio_redis *r = arg;
    while (r->ac && r->w && !r->closing) {
        if (corio_watch_wait(r->w, CORIO_READABLE) < 0)
            break;
        if (r->ac)
            redisAsyncHandleRead(r->ac);
    }
    redis_unref(r);
    return NULL;
}

static void *redis_writer(void *arg)
{
    corio_redis *r = arg;
    while (r->ac && !r->closing) {
        if (!r->writing) {
            corio_event_clear(r->wake);
            if (corio_event_wait(r->wake) != 0)
                break;
            continue;
        }
        if (!r->w || corio_watch_wait(r->w, CORIO_WRITABLE) < 0)
            break;
        if (r->ac)
            redisAsyncHandleWrite(r->ac);
    }
    redis_unref(r);
    return NULL;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    corio_redis *r = ac->ev.data;
    if (status != REDIS_OK && !r->err)
        r->err = strdup(ac->errstr ? ac->errstr : "connect failed");
    if (r->connected)
        corio_future_set_result(r->connected, (void *)(intptr_t)status);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)ac;
    (void)status;
}

static int redis_attach(corio_redis **rp, redisAsyncContext *ac, char **errmsg)
{
    corio_spawn_opts so;
    corio_redis *r;
    void *v;
    int rc;
    if (errmsg)
        *errmsg = NULL;
    if (!ac)
        return -ENOMEM;
    if (ac->err) {
        if (errmsg)
            *errmsg = strdup(ac->errstr);
        redisAsyncFree(ac);
        return -ECONNREFUSED;
    }
    r = calloc(1, sizeof *r);
    if (!r || corio_event_create(&r->wake) != 0) {
        free(r);
        redisAsyncFree(ac);
        return -ENOMEM;
    }
    r->ac = ac;
    rc = corio_watch_open(&r->w, ac->c.fd);
    if (rc == 0)
        rc = corio_future_create(NULL, &r->connected);
    if (rc) {
        corio_watch_close(r->w);
        corio_event_destroy(r->wake);
        free(r);
        redisAsyncFree(ac);
        return rc;
    }
    ac->ev.data = r;
    ac->ev.addRead = hook_add_read;
    ac->ev.delRead = hook_del_read;
    ac->ev.addWrite = hook_add_write;
    ac->ev.delWrite = hook_del_write;
    ac->ev.cleanup = hook_cleanup;
    r->refs = 3;
    memset(&so, 0, sizeof so);
    so.flags = CORIO_SPAWN_DETACHED;
    so.name = "redis-reader";
    if (corio_spawn_ex(NULL, redis_reader, r, &so) != 0)
        r->refs--;
    so.name = "redis-writer";
    if (corio_spawn_ex(NULL, redis_writer, r, &so) != 0)
        r->refs--;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* hiredis learns that a connect finished from the first writable
     * event: setting the callback asks for one (addWrite). */
    redisAsyncSetConnectCallback(ac, on_connect);
    if (r->refs != 3) {
        corio_future_destroy(r->connected);
        r->connected = NULL;
        corio_redis_close(r);
        return -ENOMEM;
    }
    rc = corio_future_await(r->connected, &v);
    if (rc == 0 && (intptr_t)v != REDIS_OK) {
        rc = -ECONNREFUSED;
        if (errmsg) {
            *errmsg = r->err;
            r->err = NULL;
        }
    }
    corio_future_destroy(r->connected);
    r->connected = NULL;
    if (rc) {
        corio_redis_close(r);
        return rc;
    }
    *rp = r;
    return 0;
}

int corio_redis_connect(corio_redis **rp, const char *host, int port,
                        char **errmsg)
{
    if (!rp || !host)
        return -EINVAL;
    *rp = NULL;
    if (!corio_current())
        return -EPERM;
    return redis_attach(rp, redisAsyncConnect(host, port), errmsg);
}

int corio_redis_connect_unix(corio_redis **rp, const char *path,
                             char **errmsg)
{
    if (!rp || !path)
        return -EINVAL;
    *rp = NULL;
    if (!corio_current())
        return -EPERM;
    return redis_attach(rp, redisAsyncConnectUnix(path), errmsg);
}

void corio_redis_close(corio_redis *r)
{
    if (!r)
        return;
    r->closing = 1;
    /* Runs every pending callback with a NULL reply (their tasks get
     * -ECONNRESET) and then hook_cleanup. */
    if (r->ac)
        redisAsyncFree(r->ac);
    corio_event_set(r->wake);
    corio_watch_close(r->w); /* if hiredis was already gone */
    r->w = NULL;
    redis_unref(r);
}

redisAsyncContext *corio_redis_context(corio_redis *r)
{
    return r ? r->ac : NULL;
}

/* ---- commands ------------------------------------------------------------ */

static redisReply *copy_reply(const redisReply *s)
{
    redisReply *d = calloc(1, sizeof *d);
    size_t i;
    if (!d)
        return NULL;
    d->type = s->type;
    d->integer = s->integer;
    d->len = s->len;
    if (s->str) {
        d->str = malloc(s->len + 1);
        if (!d->str)
            goto fail;
        memcpy(d->str, s->str, s->len);
        d->str[s->len] = 0;
    }
    if (s->element) {
        d->element = calloc(s->elements ? s->elements : 1, sizeof *d->element);
        if (!d->element)
            goto fail;
        d->elements = s->elements;
        for (i = 0; i < s->elements; i++) {
            if (s->element[i] && !(d->element[i] = copy_reply(s->element[i])))
                goto fail;
        }
    }
    return d;
fail:
    freeReplyObject(d);
    return NULL;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_req *q = priv;
    redisReply *copy;
    (void)ac;
    if (q->abandoned) {
        corio_future_destroy(q->f);
        free(q);
        return;
    }
    if (!reply) {
        corio_future_set_error(q->f, -ECONNRESET);
        return;
    }
    copy = copy_reply(reply);
    if (copy)
        corio_future_set_result(q->f, copy);
    else
        corio_future_set_error(q->f, -ENOMEM);
}

/* Sends through send(ac, q) and waits for the reply. */
typedef int (*redis_send_fn)(redisAsyncContext *ac, redis_req *q, void *arg);

static int redis_call(corio_redis *r, redisReply **reply, redis_send_fn send,
                      void *arg)
{
    redis_req *q;
    void *v = NULL;
    int rc;
    if (!reply)
        return -EINVAL;
    *reply = NULL;
    if (!corio_current())
        return -EPERM;
    if (!r)
        return -EINVAL;
    if (!r->ac || r->closing)
        return -ECONNRESET;
    /* Level-triggered cancellation: send nothing once interrupted. */
    rc = corio_checkpoint();
    if (rc)
        return rc;
    q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    if (corio_future_create(NULL, &q->f) != 0) {
        free(q);
        return -ENOMEM;
    }
    if (send(r->ac, q, arg) != REDIS_OK) {
        /* hiredis refused it (disconnecting, bad format): no callback. */
        corio_future_destroy(q->f);
        free(q);
        return r->ac && !(r->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING))
                   ? -EINVAL : -ECONNRESET;
    }
    rc = corio_future_await(q->f, &v);
    if (!corio_future_done(q->f)) {
        /* Interrupted first: the callback frees q when the reply comes. */
        q->abandoned = 1;
        return rc;
    }
    /* The reply won the race (or came alone): deliver it. */
    rc = corio_future_result(q->f, &v);
    corio_future_destroy(q->f);
    free(q);
    if (rc)
        return rc;
    *reply = v;
    return (*reply)->type == REDIS_REPLY_ERROR ? -EIO : 0;
}

/* Commands whose callback hiredis keeps and calls again for every later
 * message (pub/sub, MONITOR) do not fit one-call-one-reply: the second
 * call would reach a request already freed. Refused with -ENOTSUP. */
static int multi_reply(const char *name, size_t len)
{
    static const char *const bad[] = {"subscribe", "psubscribe", "ssubscribe",
                                      "monitor"};
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (strlen(bad[i]) == len && strncasecmp(name, bad[i], len) == 0)
            return 1;
    }
    return 0;
}

/* A formatted command, RESP: "*N\r\n$L\r\nNAME\r\n...". */
typedef struct fcmd {
    char *cmd;
    int len;
} fcmd;

static int send_formatted(redisAsyncContext *ac, redis_req *q, void *arg)
{
    fcmd *f = arg;
    return redisAsyncFormattedCommand(ac, on_reply, q, f->cmd, (size_t)f->len);
}

/* Checks the command's name, sends it, frees cmd. */
static int call_formatted(corio_redis *r, redisReply **reply, char *cmd,
                          int len)
{
    fcmd f;
    char *p, *name, *end;
    long nlen;
    int rc;
    if (reply)
        *reply = NULL;
    if (len <= 0 || !cmd) {
        redisFreeCommand(cmd);
        return len == -2 ? -ENOMEM : -EINVAL;
    }
    /* Skip "*N\r\n", read "$L\r\n", then the name. */
    end = cmd + len;
    p = memchr(cmd, '\n', (size_t)len);
    if (p && p + 2 < end && p[1] == '$') {
        nlen = strtol(p + 2, &name, 10);
        name += 2; /* "\r\n" */
        if (nlen >= 0 && name + nlen <= end && multi_reply(name, (size_t)nlen)) {
            redisFreeCommand(cmd);
            return -ENOTSUP;
        }
    }
    f.cmd = cmd;
    f.len = len;
    rc = redis_call(r, reply, send_formatted, &f);
    redisFreeCommand(cmd);
    return rc;
}

int corio_redis_vcommand(corio_redis *r, redisReply **reply, const char *fmt,
                         va_list ap)
{
    char *cmd = NULL;
    va_list aq;
    int len;
    if (!fmt) {
        if (reply)
            *reply = NULL;
        return -EINVAL;
    }
    va_copy(aq, ap);
    len = redisvFormatCommand(&cmd, fmt, aq);
    va_end(aq);
    return call_formatted(r, reply, cmd, len);
}

int corio_redis_command(corio_redis *r, redisReply **reply, const char *fmt,
                        ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = corio_redis_vcommand(r, reply, fmt, ap);
    va_end(ap);
    return rc;
}

int corio_redis_command_argv(corio_redis *r, redisReply **reply, int argc,
                             const char **argv, const size_t *argvlen)
{
    char *cmd = NULL;
    int len;
    if (argc <= 0 || !argv) {
        if (reply)
            *reply = NULL;
        return -EINVAL;
    }
    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    return call_formatted(r, reply, cmd, len);
}
