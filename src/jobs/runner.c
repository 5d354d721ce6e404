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
#include "service_int.h"

#include <errno.h>
#include <pthread.h>
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

static int do_hash(entry *e, const jobs_params *p, char **result,
                   char **error)
{
    hash_call *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->bytes = p->bytes;
    h->stop = &e->stop;
    double t0 = corio_now();
    int rc = jobs_offload_slow(hash_work, h);
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

static int do_fetch(const jobs_params *p, char **result, char **error)
{
    (void)p;
    (void)result;
    *error = dupf("fetch jobs are not available in this build yet (the "
                  "libcurl client on the loop is not built in)");
    return -ENOSYS;
}

static int do_command(const jobs_params *p, char **result, char **error)
{
    (void)p;
    (void)result;
    *error = dupf("command jobs are not available in this build yet (corio "
                  "has no subprocess API yet)");
    return -ENOSYS;
}

int jobs__execute(entry *e, char **result, char **error)
{
    jobs_params p;
    *result = *error = NULL;
    int rc = jobs_params_parse(e->job->type, e->job->spec, &p);
    if (rc < 0) {
        *error = dupf("the stored parameters are invalid: %s",
                      corio_strerror(rc));
        return rc;
    }
    switch (e->job->type) {
    case JOBS_SLEEP: rc = do_sleep(&p, result, error); break;
    case JOBS_HASH: rc = do_hash(e, &p, result, error); break;
    case JOBS_FETCH: rc = do_fetch(&p, result, error); break;
    default: rc = do_command(&p, result, error); break;
    }
    jobs_params_free(&p);
    if (rc == 0 && !*result)
        rc = -ENOMEM;
    return rc;
}

/* ---- job tasks ------------------------------------------------------------------ */

static void *job_main(void *arg)
{
    entry *e = arg;
    jobs_service *s = e->svc;
    jobs_job *j = e->job;

    j->prev_status = j->status;
    j->status = JOBS_RUNNING;
    j->started_ms = jobs_now_ms();
    j->attempts++;
    /* Durably "running" before any effect, so that after a crash the job
     * is known to have (maybe) started. */
    int rc = jobs_committer_submit(s->commit, JOBS_W_UPDATE, j, 1);
    char *result = NULL, *error = NULL;
    if (rc == 0)
        rc = jobs__execute(e, &result, &error);
    else if (rc != -ECANCELED)
        error = dupf("could not record the start: %s", corio_strerror(rc));

    int status;
    const char *why = error;
    if (e->interrupt) {
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
    }
    jobs__finish(e, status, status == JOBS_SUCCEEDED ? result : NULL, why);
    free(result);
    free(error);

    jobs__list_remove(e);
    if (--s->nrunning == 0)
        corio_event_set(s->idle);
    corio_sem_release(s->slots);
    jobs__entry_unref(e);
    return NULL;
}

/* ---- the dispatcher -------------------------------------------------------------- */

static void *dispatcher_main(void *arg)
{
    jobs_service *s = arg;
    corio_spawn_opts so = {.name = "job"};
    for (;;) {
        if (s->queue.next == &s->queue) {
            if (corio_chan_recv(s->bell, NULL) < 0)
                break; /* cancelled: drain */
            continue;
        }
        if (corio_sem_acquire(s->slots) < 0)
            break;
        if (s->queue.next == &s->queue) { /* cancelled while we waited */
            corio_sem_release(s->slots);
            continue;
        }
        entry *e = s->queue.next;
        jobs__list_remove(e);
        s->nqueued--;
        e->state = E_RUNNING;
        e->refs++; /* the task's */
        /* The handle is kept for corio_cancel; detached, the loop frees the
         * task when it ends, and it ends only after leaving the running
         * list, so a handle reached through the list is always valid. */
        int rc = corio_spawn_ex(&e->task, job_main, e, &so);
        if (rc < 0) {
            e->refs--;
            corio_sem_release(s->slots);
            jobs__finish(e, JOBS_FAILED, NULL, "could not start a task");
            continue;
        }
        corio_detach(e->task);
        jobs__list_push(&s->running, e);
        s->nrunning++;
        corio_event_clear(s->idle);
    }
    return NULL;
}

void jobs__runner_kick(jobs_service *s)
{
    if (s->bell)
        corio_chan_try_send(s->bell, NULL);
}

int jobs__runner_start(jobs_service *s)
{
    int rc = corio_sem_create(&s->slots, (size_t)s->opts.workers);
    if (rc == 0)
        rc = corio_chan_create(&s->bell, 1);
    if (rc == 0)
        rc = corio_event_create(&s->idle);
    if (rc == 0)
        corio_event_set(s->idle);
    corio_spawn_opts so = {.name = "jobs-dispatcher"};
    if (rc == 0)
        rc = corio_spawn_ex(&s->dispatcher, dispatcher_main, s, &so);
    if (rc == 0 && s->queue.next != &s->queue)
        jobs__runner_kick(s);
    return rc;
}

int jobs__runner_stop(jobs_service *s, double grace)
{
    corio_scope shield;
    corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
    if (s->dispatcher) {
        corio_cancel(s->dispatcher);
        corio_await(s->dispatcher, NULL);
        s->dispatcher = NULL;
    }
    int interrupted = 0;
    if (s->idle && s->nrunning) {
        corio_scope sc;
        corio_scope_enter(&sc, grace, 0);
        corio_event_wait(s->idle);
        corio_scope_exit(&sc);
        for (entry *e = s->running.next; e != &s->running; e = e->next) {
            if (!e->interrupt && !e->cancel) {
                e->interrupt = 1;
                atomic_store(&e->stop, 1);
                corio_cancel(e->task);
                interrupted++;
            }
        }
        while (s->nrunning)
            corio_event_wait(s->idle);
    }
    corio_scope_exit(&shield);
    if (s->bell) {
        corio_chan_destroy(s->bell);
        s->bell = NULL;
    }
    if (s->slots) {
        corio_sem_destroy(s->slots);
        s->slots = NULL;
    }
    if (s->idle) {
        corio_event_destroy(s->idle);
        s->idle = NULL;
    }
    return interrupted;
}
