/*
 * The service's features beside running jobs (service.c): idempotency keys
 * (one job per key, also between processes on PostgreSQL), POST
 * /jobs/<id>/retry, and retention (pruning ended jobs in small batches).
 */
#include "service_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- idempotency keys ------------------------------------------------------------
 * One job per key: the store's unique index is the rule (across processes
 * on PostgreSQL), and within this process a key being recorded makes the
 * next submissions with it wait for the outcome instead of racing it. */

typedef struct keycall {
    jobs_store *store;
    const char *key;
    const jobs_job *job;
    jobs_job *found;
} keycall;

static int kc_find(void *arg)
{
    keycall *k = arg;
    return k->store->ops->find_key(k->store, k->key, &k->found);
}

static int kc_insert(void *arg)
{
    keycall *k = arg;
    return k->store->ops->insert_unique(k->store, k->job, &k->found);
}

static void keywait_unref(keywait *w)
{
    if (--w->refs > 0)
        return;
    corio_event_destroy(w->ev);
    free(w->key);
    free(w);
}

int jobs__submit_keyed(jobs_service *s, jobs_job *j, char *existing)
{
    for (keywait *w = s->keys; w; w = w->next) {
        if (strcmp(w->key, j->unique_key) != 0)
            continue;
        jobs_job_free(j); /* a repeat: never a second job */
        w->refs++;
        int rc = w->done ? 0 : corio_event_wait(w->ev);
        if (rc == 0)
            rc = w->rc;
        if (rc == 0 || rc == 1) {
            memcpy(existing, w->id, JOBS_ID_LEN + 1);
            rc = 1;
        }
        keywait_unref(w);
        return rc;
    }
    keywait *w = calloc(1, sizeof *w);
    keycall *k = calloc(1, sizeof *k);
    if (!w || !k || !(w->key = strdup(j->unique_key)) ||
        corio_event_create(&w->ev) < 0) {
        if (w)
            free(w->key);
        free(w);
        free(k);
        jobs_job_free(j);
        return -ENOMEM;
    }
    w->refs = 1;
    w->next = s->keys;
    s->keys = w;
    k->store = s->store;
    k->key = w->key;
    /* Shielded: the waiters depend on this outcome. */
    corio_scope sc;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    int rc = jobs_store_call(s->store, kc_find, k);
    if (rc == 0) {
        memcpy(w->id, k->found->id, sizeof w->id);
        jobs_job_free(j);
        rc = 1;
    } else if (rc == -ENOENT && s->store->ops->insert_unique) {
        /* Shared: another process may insert the key at the same moment;
         * the unique index picks one, atomically. */
        memcpy(w->id, j->id, sizeof w->id);
        k->job = j;
        rc = jobs_store_call(s->store, kc_insert, k);
        if (rc == -EEXIST && k->found) {
            memcpy(w->id, k->found->id, sizeof w->id);
            rc = 1;
        } else if (rc == 0) {
            s->submitted++;
            s->by_status[j->status]++;
            jobs__runner_kick(s);
        }
        jobs_job_free(j);
    } else if (rc == -ENOENT) {
        memcpy(w->id, j->id, sizeof w->id);
        rc = jobs__submit_plain(s, j); /* takes j */
    } else {
        jobs_job_free(j);
    }
    corio_scope_exit(&sc);
    jobs_job_free(k->found);
    free(k);
    w->rc = rc;
    w->done = 1;
    corio_event_set(w->ev);
    for (keywait **p = &s->keys; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    if (rc == 1)
        memcpy(existing, w->id, JOBS_ID_LEN + 1);
    keywait_unref(w);
    return rc;
}

/* ---- POST /jobs/<id>/retry ---------------------------------------------------- */


typedef struct retry_call {
    jobs_store *store;
    char id[JOBS_ID_LEN + 1];
    int64_t now;
    jobs_job *out;
} retry_call;

static int do_retry(void *arg)
{
    retry_call *r = arg;
    return r->store->ops->retry(r->store, r->id, r->now, &r->out);
}

int jobs__api_retry(void *ctx, const char *id, jobs_job **out)
{
    jobs_service *s = ctx;
    *out = NULL;
    if (s->draining)
        return CORIO_ESHUTDOWN;
    /* A job whose end is being recorded shows it already (GET reads the
     * entry): let the record land first. */
    entry *e = jobs__entry_find(s, id);
    for (int i = 0; i < 5000 && e && e->state == E_FINISHING; i++) {
        corio_sleep(0.001);
        e = jobs__entry_find(s, id);
    }
    if (e && e->state != E_PENDING) { /* active here: not ended */
        *out = jobs_job_clone(e->job);
        return *out ? -EBUSY : -ENOMEM;
    }
    jobs_job *before = NULL; /* for the per-status counts */
    jobs__store_get(s, id, &before);
    int prev = before ? before->status : -1;
    jobs_job_free(before);
    retry_call *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->store = s->store;
    snprintf(r->id, sizeof r->id, "%s", id);
    r->now = jobs_now_ms();
    int rc = jobs_store_call(s->store, do_retry, r);
    jobs_job *j = r->out;
    free(r);
    if (rc < 0) {
        *out = j;
        return rc;
    }
    *out = jobs_job_clone(j);
    if (!*out) {
        jobs_job_free(j);
        return -ENOMEM; /* recorded: it runs at the next start */
    }
    if (prev >= 0 && s->by_status[prev])
        s->by_status[prev]--;
    if (s->shared) {
        s->by_status[JOBS_CREATED]++;
        jobs__runner_kick(s);
        jobs_job_free(j);
        return 0;
    }
    /* The entry of its last run may still be leaving the table (its end
     * was committed, the retry's update came right after). */
    for (int i = 0; i < 1000 && jobs__entry_find(s, id); i++)
        corio_sleep(0.001);
    e = jobs__entry_new(s, j);
    if (!e || jobs__table_add(s, e) < 0) {
        free(e);
        jobs_job_free(j);
        return 0; /* recorded: it runs at the next start */
    }
    s->by_status[JOBS_CREATED]++;
    jobs__enqueue(s, e);
    return 0;
}

/* ---- retention ------------------------------------------------------------------ */

#define PRUNE_BATCH 500 /* rows per transaction: a short one, so that
                           submissions' commits never wait long for it */

typedef struct prune_call {
    jobs_store *store;
    int64_t before;
    uint64_t removed[JOBS_NSTATUS];
} prune_call;

static int do_prune(void *arg)
{
    prune_call *p = arg;
    return p->store->ops->prune(p->store, p->before, PRUNE_BATCH, p->removed);
}

/* Deletes ended jobs older than the retention, a batch at a time, letting
 * the loop (and the committer) run between batches; then sleeps a tenth
 * of the retention (at most a minute). */
void *jobs__prune_main(void *arg)
{
    jobs_service *s = arg;
    double iv = s->opts.retention / 10;
    if (iv > 60)
        iv = 60;
    if (iv < 0.05)
        iv = 0.05;
    prune_call *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->store = s->store;
    for (;;) {
        p->before = jobs_now_ms() - (int64_t)(s->opts.retention * 1000);
        int rc = jobs_store_call(s->store, do_prune, p);
        uint64_t n = 0;
        for (int k = 0; rc == 0 && k < JOBS_NSTATUS; k++) {
            n += p->removed[k];
            s->by_status[k] -= p->removed[k] < s->by_status[k]
                                   ? p->removed[k]
                                   : s->by_status[k];
        }
        s->pruned += n;
        if (rc < 0)
            fprintf(stderr, "corio-jobs: pruning old jobs failed: %s\n",
                    jobs_strerror(rc));
        /* A full batch: there may be more; a short pause, then go on. */
        if (corio_sleep(rc == 0 && n == PRUNE_BATCH ? 0.01 : iv) < 0)
            break;
    }
    free(p);
    return NULL;
}

