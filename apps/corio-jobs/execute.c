/*
 * The work of each built-in job type (sleep, hash, fetch, command) and of
 * registered types: jobs__execute runs one attempt's work, on whichever
 * loop the runner placed it. Moved out of runner.c, which keeps the
 * dispatching, the job tasks and the scheduled list.
 */
#include "ext.h"
#include "service_int.h"

#include <corio_jobs.h> /* CORIO_JOB_NORETRY */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* ---- the work of each job type ----------------------------------------------- */

char *jobs__dupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static int do_sleep(const jobs_params *p, char **result, char **error)
{
    double t0 = corio_now();
    int rc = corio_sleep(p->seconds);
    if (rc < 0)
        return rc;
    *result = jobs__dupf("{\"slept\":%.3f}", corio_now() - t0);
    return 0;
}

/* Hashing on the pool. Heap-allocated: the worker thread uses it. */
typedef struct hash_call {
    uint64_t bytes;
    atomic_uint_least64_t done; /* bytes hashed so far: progress */
    atomic_int *stop;
    unsigned char digest[32];
} hash_call;

#define HASH_BLOCK (64 * 1024)

/* SHA-256 of `bytes` bytes of the pattern 0, 1, ..., 255, 0, 1, ... —
 * generated data that anyone can reproduce (head -c N of that pattern |
 * sha256sum). Polls the stop flag every 16 blocks (1 MiB). */
static unsigned char pattern[HASH_BLOCK];
static pthread_once_t pattern_once = PTHREAD_ONCE_INIT;

static void pattern_init(void)
{
    for (size_t i = 0; i < HASH_BLOCK; i++)
        pattern[i] = (unsigned char)i;
}

static int hash_work(void *arg)
{
    hash_call *h = arg;
    pthread_once(&pattern_once, pattern_init);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return -ENOMEM;
    }
    uint64_t left = h->bytes;
    int rc = 0;
    for (unsigned n = 0; left; n++) {
        if ((n & 15) == 0 && atomic_load(h->stop)) {
            rc = -ECANCELED;
            break;
        }
        size_t k = left < HASH_BLOCK ? (size_t)left : HASH_BLOCK;
        EVP_DigestUpdate(ctx, pattern, k);
        left -= k;
        atomic_fetch_add_explicit(&h->done, k, memory_order_relaxed);
    }
    unsigned len = 0;
    if (rc == 0)
        EVP_DigestFinal_ex(ctx, h->digest, &len);
    EVP_MD_CTX_free(ctx);
    /* Pool threads end without telling OpenSSL; drop its per-thread state
     * now rather than leak it. */
    OPENSSL_thread_stop();
    return rc;
}

/* While a hash runs on the pool: its progress on the job, every 100 ms. */
typedef struct hash_watch {
    entry *e;
    hash_call *h;
} hash_watch;

static void *hash_progress(void *arg)
{
    hash_watch *w = arg;
    while (corio_sleep(0.1) == 0) {
        if (w->e->deadline > 0 && corio_now() >= w->e->deadline)
            atomic_store(jobs__stop_flag(w->e), 1); /* the attempt's timeout */
        jobs_job *j = w->e->job;
        uint64_t d = atomic_load_explicit(&w->h->done, memory_order_relaxed);
        j->has_progress = 1;
        j->progress = w->h->bytes ? (double)d / (double)w->h->bytes : 1.0;
        if (!j->progress_msg)
            j->progress_msg = strdup("hashing");
        jobs__progress_post(w->e);
    }
    return NULL;
}

static int do_hash(entry *e, const jobs_params *p, char **result,
                   char **error)
{
    hash_call *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->bytes = p->bytes;
    h->stop = jobs__stop_flag(e);
    double t0 = corio_now();
    hash_watch w = {e, h};
    corio_task *watch = NULL;
    corio_spawn_opts wo = {.name = "hash-progress"};
    if (corio_spawn_ex(&watch, hash_progress, &w, &wo) < 0)
        watch = NULL; /* no progress reports; the hash runs all the same */
    int rc = jobs_offload_slow(hash_work, h);
    if (watch) {
        /* Shielded: the watcher reads w and h, which end with this call. */
        corio_scope sc;
        corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
        corio_cancel(watch);
        corio_await(watch, NULL);
        corio_scope_exit(&sc);
    }
    if (rc == 0 && corio_cancelled())
        rc = -ECANCELED;
    if (rc == 0) {
        char hex[65];
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", h->digest[i]);
        *result = jobs__dupf("{\"sha256\":\"%s\",\"bytes\":%llu,\"seconds\":%.3f}",
                       hex, (unsigned long long)p->bytes, corio_now() - t0);
    } else if (rc != -ECANCELED) {
        *error = jobs__dupf("hashing failed: %s", corio_strerror(rc));
    }
    free(h);
    return rc;
}

/* ---- fetch: every URL at once, on the loop (libcurl multi-socket) ---------- */

/* One URL's transfer. Heap: its task writes here while the job task waits. */
typedef struct fetch_one {
    corio_http_client *client;
    const char *url;
    int rc;
    long status;
    uint64_t bytes;
    double seconds;
    char error[256];
} fetch_one;

#define FETCH_MAX_BODY (64u << 20)

static void *fetch_task(void *arg)
{
    fetch_one *f = arg;
    corio_http_fetch_opts o = {.flags = CORIO_HTTP_FETCH_DISCARD_BODY,
                               .max_body = FETCH_MAX_BODY};
    corio_http_result r;
    f->rc = corio_http_fetch(f->client, f->url, &o, &r);
    f->status = r.status;
    f->bytes = r.body_bytes;
    f->seconds = r.seconds;
    snprintf(f->error, sizeof f->error, "%s", r.error);
    corio_http_result_free(&r);
    return NULL;
}

/* The seeds' "start all the API calls, then await all": one task per URL,
 * all started before any is awaited. Each URL's HTTP status and size is
 * recorded; the job succeeds when every URL got an HTTP response (of any
 * status) and fails, with the same per-URL result, when any did not. */
static int do_fetch(corio_http_client *client, const jobs_params *p,
                    char **result, char **error)
{
    size_t n = p->nstr;
    fetch_one *f = calloc(n, sizeof *f);
    corio_task **t = calloc(n, sizeof *t);
    if (!f || !t || !client) {
        free(f);
        free(t);
        return -ENOMEM;
    }
    int rc = 0;
    size_t started = 0;
    for (; started < n; started++) {
        f[started].client = client;
        f[started].url = p->strv[started];
        corio_spawn_opts so = {.name = "fetch"};
        rc = corio_spawn_ex(&t[started], fetch_task, &f[started], &so);
        if (rc < 0)
            break;
    }
    /* Await all, even after an interruption: each await of an interrupted
     * caller cancels that transfer, and nothing is left behind. */
    int interrupted = 0;
    for (size_t i = 0; i < started; i++) {
        int r = corio_await(t[i], NULL);
        if (r == -ECANCELED || r == -ETIMEDOUT)
            interrupted = r;
    }
    if (rc == 0 && (interrupted || corio_cancelled()))
        rc = interrupted ? interrupted : -ECANCELED;
    if (rc == 0) {
        json_t *arr = json_array();
        int failures = 0;
        for (size_t i = 0; arr && i < n; i++) {
            json_t *o;
            if (f[i].rc == 0) {
                o = json_pack("{s:s, s:i, s:I, s:f}", "url", f[i].url,
                              "status", (int)f[i].status, "bytes",
                              (json_int_t)f[i].bytes, "seconds",
                              f[i].seconds);
            } else {
                failures++;
                o = json_pack("{s:s, s:s}", "url", f[i].url, "error",
                              f[i].error[0] ? f[i].error
                                            : corio_strerror(f[i].rc));
            }
            json_array_append_new(arr, o);
        }
        json_t *res = arr ? json_pack("{s:o, s:i}", "results", arr, "failed",
                                      failures)
                          : NULL;
        *result = res ? json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(6))
                      : NULL;
        json_decref(res);
        if (!*result)
            rc = -ENOMEM;
        else if (failures) {
            *error = jobs__dupf("%d of %zu URLs failed", failures, n);
            rc = -EIO;
        }
    }
    free(f);
    free(t);
    return rc;
}

/* ---- command: an allowed program, killed if the job is cancelled -------------- */

#define COMMAND_OUTPUT_LIMIT (1u << 20)
#define COMMAND_OUTPUT_KEEP (64u << 10)

/* Copies at most max bytes of s as valid UTF-8 (jansson's strings must be):
 * invalid bytes become '?'. */
static char *utf8_clean(const char *s, size_t len, size_t max)
{
    if (len > max)
        len = max;
    char *o = malloc(len + 1);
    if (!o)
        return NULL;
    size_t i = 0, k = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (i < len) {
        size_t n = u[i] < 0x80 ? 1 : (u[i] >> 5) == 6 ? 2 : (u[i] >> 4) == 14
                                                                   ? 3
                                 : (u[i] >> 3) == 30 ? 4 : 0;
        int ok = n && i + n <= len && u[i] != 0;
        for (size_t j = 1; ok && j < n; j++)
            ok = (u[i + j] & 0xc0) == 0x80;
        if (ok) {
            memcpy(o + k, s + i, n);
            k += n;
            i += n;
        } else {
            o[k++] = '?';
            i++;
        }
    }
    o[k] = '\0';
    return o;
}

static int do_command(jobs_service *s, const jobs_params *p, char **result,
                      char **error)
{
    /* Re-checked at run time: the job may have been queued under another
     * --allow-command list before a restart. */
    int allowed = 0;
    for (size_t i = 0; i < s->opts.nallow; i++)
        if (strcmp(s->allow[i], p->strv[0]) == 0)
            allowed = 1;
    if (!allowed) {
        *error = jobs__dupf("the program '%s' is not allowed by --allow-command",
                      p->strv[0]);
        return -EPERM;
    }
    corio_process_opts o = {.stdin_mode = CORIO_STDIO_NULL,
                            .stdout_mode = CORIO_STDIO_PIPE,
                            .stderr_mode = CORIO_STDIO_PIPE,
                            .flags = CORIO_PROCESS_NEW_GROUP};
    corio_process *proc;
    int rc = corio_process_spawn(&proc, (const char *const *)p->strv, &o);
    if (rc < 0) {
        *error = jobs__dupf("could not start '%s': %s", p->strv[0],
                      corio_strerror(rc));
        return rc;
    }
    char *out = NULL, *err = NULL;
    size_t outlen = 0, errlen = 0;
    rc = corio_process_communicate(proc, NULL, 0, &out, &outlen, &err, &errlen,
                                   COMMAND_OUTPUT_LIMIT);
    if (rc == -ECANCELED || rc == -ETIMEDOUT) {
        /* Cancelled: kill it (its whole process group) and reap it before
         * the job is recorded as ended. */
        int pid = corio_process_pid(proc);
        kill(-pid, SIGKILL);
        corio_process_kill(proc, SIGKILL);
        corio_scope sc;
        corio_scope_enter(&sc, 5, CORIO_SCOPE_SHIELD);
        int st;
        corio_process_wait(proc, &st);
        corio_scope_exit(&sc);
        corio_process_close(proc);
        free(out);
        free(err);
        return rc;
    }
    int status = 0;
    if (rc == 0 || rc == CORIO_ETOOLONG)
        rc = corio_process_wait(proc, &status) < 0 ? -EIO : rc;
    corio_process_close(proc);
    char *o1 = utf8_clean(out ? out : "", outlen, COMMAND_OUTPUT_KEEP);
    char *o2 = utf8_clean(err ? err : "", errlen, COMMAND_OUTPUT_KEEP);
    free(out);
    free(err);
    if (rc < 0 && rc != CORIO_ETOOLONG) {
        *error = jobs__dupf("running '%s' failed: %s", p->strv[0], corio_strerror(rc));
    } else {
        json_t *res = o1 && o2
                          ? json_pack("{s:i, s:s, s:s, s:b}", "exit_code",
                                      status, "stdout", o1, "stderr", o2,
                                      "truncated",
                                      rc == CORIO_ETOOLONG ||
                                          outlen > COMMAND_OUTPUT_KEEP ||
                                          errlen > COMMAND_OUTPUT_KEEP)
                          : NULL;
        *result = res ? json_dumps(res, JSON_COMPACT) : NULL;
        json_decref(res);
        rc = *result ? 0 : -ENOMEM;
        if (rc == 0 && status != 0) {
            *error = status < 0
                         ? jobs__dupf("'%s' was killed by signal %d", p->strv[0],
                                -status)
                         : jobs__dupf("'%s' exited with status %d", p->strv[0],
                                status);
            rc = -EIO;
        }
    }
    free(o1);
    free(o2);
    return rc;
}

/* A registered type: its handler, in this task. */
static int do_registered(entry *e, char **result, char **error)
{
    jobs_handler_fn fn;
    void *arg;
    if (jobs_type_handler(e->job->type, &fn, &arg) < 0) {
        *error = jobs__dupf("no handler is registered for the type '%s' in this "
                      "program", jobs_type_name(e->job->type));
        return -ENOSYS;
    }
    struct corio_job cj = {.e = e, .result = result, .error = error};
    int rc = ((corio_jobs_handler)fn)(&cj, e->job->spec, arg);
    e->noretry = rc < 0 && (cj.flags & CORIO_JOB_NORETRY);
    if (rc > 0)
        rc = 0;
    if (rc == 0 && !*result)
        *result = strdup("null");
    if (rc < 0 && rc != -ECANCELED && !*error)
        *error = jobs__dupf("%s", corio_strerror(rc));
    return rc;
}

int jobs__execute(entry *e, char **result, char **error)
{
    jobs_params p;
    *result = *error = NULL;
    if (e->job->type > JOBS_BUILTIN_MAX) {
        int rc = do_registered(e, result, error);
        if (rc == 0 && !*result)
            rc = -ENOMEM;
        return rc;
    }
    int rc = jobs_params_parse(e->job->type, e->job->spec, &p);
    if (rc < 0) {
        *error = jobs__dupf("the stored parameters are invalid: %s",
                      corio_strerror(rc));
        return rc;
    }
    switch (e->job->type) {
    case JOBS_SLEEP: rc = do_sleep(&p, result, error); break;
    case JOBS_HASH: rc = do_hash(e, &p, result, error); break;
    case JOBS_FETCH:
        rc = do_fetch(jobs__http_client(e), &p, result, error);
        break;
    default: rc = do_command(e->svc, &p, result, error); break;
    }
    jobs_params_free(&p);
    if (rc == 0 && !*result)
        rc = -ENOMEM;
    return rc;
}

