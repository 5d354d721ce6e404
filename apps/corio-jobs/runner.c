/*
 * The runner: a dispatcher task takes jobs off the run queue while a
 * worker slot is free (a semaphore of --workers units) and starts one task
 * per job; the task records "running", does the job's work, records how it
 * ended and gives the slot back.
 *
 * Cancellation. DELETE cancels the job's task (corio_cancel): a sleep ends
 * at once; hashing runs on the thread pool and cannot be interrupted by
 * cancelling a task, so the canceller also raises the entry's stop flag,
 * which the hash loop polls every MiB. Drain does the same after its grace
 * period, marking the job interrupted rather than cancelled.
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

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dupf(const char *fmt, ...)
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
    *result = dupf("{\"slept\":%.3f}", corio_now() - t0);
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
        *result = dupf("{\"sha256\":\"%s\",\"bytes\":%llu,\"seconds\":%.3f}",
                       hex, (unsigned long long)p->bytes, corio_now() - t0);
    } else if (rc != -ECANCELED) {
        *error = dupf("hashing failed: %s", corio_strerror(rc));
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
            *error = dupf("%d of %zu URLs failed", failures, n);
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
        *error = dupf("the program '%s' is not allowed by --allow-command",
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
        *error = dupf("could not start '%s': %s", p->strv[0],
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
        *error = dupf("running '%s' failed: %s", p->strv[0], corio_strerror(rc));
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
                         ? dupf("'%s' was killed by signal %d", p->strv[0],
                                -status)
                         : dupf("'%s' exited with status %d", p->strv[0],
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
        *error = dupf("no handler is registered for the type '%s' in this "
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
        *error = dupf("%s", corio_strerror(rc));
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
        *error = dupf("the stored parameters are invalid: %s",
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

/* ---- job tasks ------------------------------------------------------------------ */

/* A failed attempt with attempts left, on a store this process owns: its
 * scheduled state committed (shielded, like jobs__finish), the entry
 * waits on the scheduled list. A DELETE that came meanwhile (it waits on
 * e->done) cancels it. Returns 1 if e is to go on the scheduled list. */
static int reschedule(entry *e, const char *result, const char *error)
{
    jobs_service *s = e->svc;
    jobs_job *j = e->job;
    e->state = E_FINISHING;
    j->prev_status = j->status;
    j->status = JOBS_SCHEDULED;
    jobs_job_set_result(j, result);
    jobs_job_set_error(j, error);
    j->has_progress = 0;
    free(j->progress_msg);
    j->progress_msg = NULL;
    corio_scope sc;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    int rc = jobs_committer_submit(s->commit, JOBS_W_UPDATE, j, 1);
    corio_scope_exit(&sc);
    if (rc < 0) {
        /* Not recorded: the store still says running, which a restart
         * turns into interrupted (or requeued). Give up here alike. */
        jobs__finish(e, JOBS_FAILED, result, error);
    } else if (e->done || e->cancel) {
        e->cancel = 1;
        jobs__finish(e, JOBS_CANCELLED, NULL,
                     "cancelled by DELETE while waiting to be retried");
    } else {
        return 1; /* the caller puts it on the scheduled list, once it is
                     off the running list (the same links) */
    }
    return 0;
}

static void *job_main(void *arg)
{
    entry *e = arg;
    jobs_service *s = e->svc;
    jobs_job *j = e->job;

    int rc = 0;
    if (!s->shared) {
        j->prev_status = j->status;
        j->status = JOBS_RUNNING;
        j->started_ms = jobs_now_ms();
        j->attempts++;
        /* Durably "running" before any effect, so that after a crash the
         * job is known to have (maybe) started. A shared store's claim has
         * already recorded all of this. */
        rc = jobs_committer_submit(s->commit, JOBS_W_UPDATE, j, 1);
    }
    char *result = NULL, *error = NULL;
    int timed_out = 0;
    if (rc == 0) {
        /* The attempt's timeout is a scope around the work: its suspending
         * calls fail with -ETIMEDOUT when it passes (corio's own
         * cancellation); pool work (hashing) sees the stop flag, which the
         * hash watcher raises at the deadline. The attempt may run on
         * another loop (multi.c); this task waits for it either way. */
        rc = jobs__run_attempt(e, &result, &error, &timed_out);
        if (timed_out && !e->cancel && !e->interrupt && !e->lost) {
            free(error);
            error = dupf("timed out after %g s", j->timeout);
            rc = -ETIMEDOUT;
            atomic_store(&e->stop, 0);
        }
    } else if (rc != -ECANCELED)
        error = dupf("could not record the start: %s", jobs_strerror(rc));

    int status;
    const char *why = error;
    if (e->lost) {
        status = JOBS_INTERRUPTED; /* not recorded: the fence drops it */
        why = "this process lost the job's lease to another";
    } else if (e->interrupt && s->shared) {
        /* Shared queue: a process that shuts down (a rolling restart)
         * hands its unfinished jobs back, to run again elsewhere. */
        status = JOBS_CREATED;
        why = NULL;
        free(result);
        result = NULL;
    } else if (e->interrupt) {
        status = JOBS_INTERRUPTED;
        why = "the server shut down before the job finished";
    } else if (e->cancel || rc == -ECANCELED) {
        status = JOBS_CANCELLED;
        why = "cancelled by DELETE /jobs/<id>";
    } else if (rc == 0) {
        status = JOBS_SUCCEEDED;
    } else {
        status = JOBS_FAILED;
        if (!why)
            why = corio_strerror(rc);
        /* Every failed attempt is in the history; one with attempts left
         * waits its backoff, durably, as scheduled. */
        int64_t now = jobs_now_ms();
        jobs_job_add_error(j, why, now);
        if (!e->noretry && j->attempts < j->max_attempts) {
            status = JOBS_SCHEDULED;
            j->run_at_ms = now + jobs_backoff_ms(j->retry_backoff,
                                                 j->attempts);
        }
    }
    /* The work is over: its worker slot goes to the next job now, not
     * after the outcome's commit, so that the next job's first write (its
     * "running", or on a shared store its claim) shares a commit with
     * this outcome instead of waiting a commit behind it. Each job then
     * keeps its slot through one commit, not two: with sleep-0 jobs that
     * doubles what a fixed number of workers can finish per commit
     * latency. A crash before the outcome commits leaves the job
     * "running" in the store, the same as a crash during its work.
     * Outcomes waiting for their commit are bounded (rq->finishing, as
     * many as the queue has workers): past that the job keeps its slot
     * until its commit, as before, so a slow store slows the claims
     * instead of growing its batches without limit (a batch of
     * thousands of outcomes outlasted the store's operation timeout). */
    int early = corio_sem_try_acquire(e->rq->finishing) == 0;
    if (early)
        corio_sem_release(e->rq->slots);
    /* A failed fetch or command keeps its result too (per-URL outcomes,
     * output): it says what went wrong. */
    int sched = 0;
    if (status == JOBS_SCHEDULED && !s->shared)
        sched = reschedule(e, result, why);
    else /* a shared store's claims take the scheduled job when due */
        jobs__finish(e, status, result, why);
    free(result);
    free(error);

    jobs__list_remove(e);
    if (sched)
        jobs__sched_add(s, e);
    if (--s->nrunning == 0)
        corio_event_set(s->idle);
    corio_sem_release(early ? e->rq->finishing : e->rq->slots);
    jobs__entry_unref(e);
    return NULL;
}

/* ---- the dispatcher -------------------------------------------------------------- */

int jobs__runner_launch(jobs_service *s, entry *e)
{
    corio_spawn_opts so = {.name = "job"};
    e->state = E_RUNNING;
    e->refs++; /* the task's */
    /* The handle is kept for corio_cancel; detached, the loop frees the
     * task when it ends, and it ends only after leaving the running list,
     * so a handle reached through the list is always valid. */
    int rc = corio_spawn_ex(&e->task, job_main, e, &so);
    if (rc < 0) {
        e->refs--;
        corio_sem_release(e->rq->slots);
        jobs__finish(e, JOBS_FAILED, NULL, "could not start a task");
        return rc;
    }
    corio_detach(e->task);
    jobs__list_push(&s->running, e);
    s->nrunning++;
    corio_event_clear(s->idle);
    return 0;
}

static void *dispatcher_main(void *arg)
{
    jobs_runq *q = arg;
    jobs_service *s = q->svc;
    for (;;) {
        if (q->head->next == q->head) {
            if (corio_chan_recv(q->bell, NULL) < 0)
                break; /* cancelled: drain */
            continue;
        }
        if (q->rate && jobs__rate_take(q, 1) < 0)
            break; /* ratelimit.c */
        if (corio_sem_acquire(q->slots) < 0)
            break;
        if (q->head->next == q->head) { /* cancelled while we waited */
            corio_sem_release(q->slots);
            continue;
        }
        entry *e = q->head->next;
        jobs__dequeue(s, e);
        jobs__rate_note(q, 1);
        jobs__runner_launch(s, e);
    }
    return NULL;
}

jobs_runq *jobs__runq_of(jobs_service *s, const char *queue)
{
    for (size_t i = 1; queue && i < s->nrqs; i++)
        if (strcmp(s->rqs[i].name, queue) == 0)
            return &s->rqs[i];
    return &s->rqs[0];
}

/* a runs before b: higher priority, then older (smaller id). */
static int before(const jobs_job *a, const jobs_job *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return strcmp(a->id, b->id) < 0;
}

void jobs__enqueue(jobs_service *s, entry *e)
{
    jobs_runq *q = jobs__runq_of(s, e->job->queue);
    e->rq = q;
    e->state = E_QUEUED;
    /* From the tail: a new job of the usual priority goes last at once. */
    entry *p = q->head->prev;
    while (p != q->head && before(e->job, p->job))
        p = p->prev;
    e->prev = p;
    e->next = p->next;
    p->next->prev = e;
    p->next = e;
    q->n++;
    s->nqueued++;
    if (q->bell)
        corio_chan_try_send(q->bell, NULL);
}

void jobs__dequeue(jobs_service *s, entry *e)
{
    jobs__list_remove(e);
    e->rq->n--;
    s->nqueued--;
}

/* ---- the scheduler (a store this process owns) ---------------------------------- */

void jobs__sched_add(jobs_service *s, entry *e)
{
    e->state = E_SCHEDULED;
    jobs__list_push(&s->sched, e);
    s->nsched++;
    if (s->sched_bell)
        corio_event_set(s->sched_bell);
}

/* Sleeps until the earliest run_at (or a change of the list), then moves
 * every due job to the run queue. A linear scan per wake: the list holds
 * the jobs waiting for a retry, few next to the queue. */
static void *sched_main(void *arg)
{
    jobs_service *s = arg;
    for (;;) {
        corio_event_clear(s->sched_bell);
        int64_t now = jobs_now_ms(), next = INT64_MAX;
        for (entry *e = s->sched.next, *nx; e != &s->sched; e = nx) {
            nx = e->next;
            if (e->job->run_at_ms <= now) {
                jobs__list_remove(e);
                s->nsched--;
                jobs__enqueue(s, e);
            } else if (e->job->run_at_ms < next) {
                next = e->job->run_at_ms;
            }
        }
        corio_scope sc;
        corio_scope_enter(&sc, next == INT64_MAX ? -1
                                                 : (double)(next - now) / 1e3,
                          0);
        int rc = corio_event_wait(s->sched_bell);
        corio_scope_exit(&sc);
        if (rc == -ECANCELED && corio_cancelled())
            break; /* drain */
    }
    return NULL;
}

void jobs__runner_kick(jobs_service *s)
{
    for (size_t i = 0; s->rqs && i < s->nrqs; i++)
        if (s->rqs[i].bell)
            corio_chan_try_send(s->rqs[i].bell, NULL);
}

int jobs__runner_start(jobs_service *s)
{
    int rc = corio_event_create(&s->idle);
    if (rc == 0)
        corio_event_set(s->idle);
    for (size_t i = 0; rc == 0 && i < s->nrqs; i++) {
        jobs_runq *q = &s->rqs[i];
        rc = corio_sem_create(&q->slots, (size_t)q->limit);
        if (rc == 0)
            rc = corio_sem_create(&q->finishing, (size_t)q->limit);
        if (rc == 0)
            rc = corio_chan_create(&q->bell, 1);
        corio_spawn_opts so = {.name = "jobs-dispatcher"};
        if (rc == 0)
            rc = corio_spawn_ex(&q->dispatcher,
                                s->shared ? jobs__shared_dispatcher
                                          : dispatcher_main,
                                q, &so);
    }
    corio_spawn_opts lo = {.name = "jobs-leases"};
    if (rc == 0 && s->shared)
        rc = corio_spawn_ex(&s->lease_task, jobs__lease_main, s, &lo);
    if (rc == 0 && !s->shared)
        rc = corio_event_create(&s->sched_bell);
    corio_spawn_opts sco = {.name = "jobs-scheduler"};
    if (rc == 0 && !s->shared)
        rc = corio_spawn_ex(&s->sched_task, sched_main, s, &sco);
    if (rc == 0)
        jobs__runner_kick(s);
    return rc;
}

int jobs__runner_stop(jobs_service *s, double grace)
{
    corio_scope shield;
    corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
    for (size_t i = 0; s->rqs && i < s->nrqs; i++) {
        jobs_runq *q = &s->rqs[i];
        if (q->dispatcher) {
            corio_cancel(q->dispatcher);
            corio_await(q->dispatcher, NULL);
            q->dispatcher = NULL;
        }
    }
    if (s->sched_task) { /* scheduled jobs stay so, for the next start */
        corio_cancel(s->sched_task);
        corio_await(s->sched_task, NULL);
        s->sched_task = NULL;
    }
    int interrupted = 0;
    if (s->idle && s->nrunning) {
        corio_scope sc;
        corio_scope_enter(&sc, grace, 0);
        corio_event_wait(s->idle);
        corio_scope_exit(&sc);
        for (entry *e = s->running.next; e != &s->running; e = e->next) {
            if (e->state == E_RUNNING && !e->interrupt && !e->cancel) {
                e->interrupt = 1;
                atomic_store(&e->stop, 1);
                corio_cancel(e->task);
                interrupted++;
            }
        }
        while (s->nrunning)
            corio_event_wait(s->idle);
    }
    /* Leases are renewed until the last job has ended and recorded it. */
    if (s->lease_task) {
        corio_cancel(s->lease_task);
        corio_await(s->lease_task, NULL);
        s->lease_task = NULL;
    }
    corio_scope_exit(&shield);
    for (size_t i = 0; s->rqs && i < s->nrqs; i++) {
        jobs_runq *q = &s->rqs[i];
        if (q->bell) {
            corio_chan_destroy(q->bell);
            q->bell = NULL;
        }
        if (q->slots) {
            corio_sem_destroy(q->slots);
            q->slots = NULL;
        }
        if (q->finishing) {
            corio_sem_destroy(q->finishing);
            q->finishing = NULL;
        }
    }
    if (s->idle) {
        corio_event_destroy(s->idle);
        s->idle = NULL;
    }
    if (s->sched_bell) {
        corio_event_destroy(s->sched_bell);
        s->sched_bell = NULL;
    }
    return interrupted;
}
