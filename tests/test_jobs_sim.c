/*
 * corio-jobs under deterministic simulation (issue 17's evidence).
 *
 * Each seed runs the real service (store_sqlite.c in WAL mode with
 * synchronous=FULL, the group committer, the runner, the HTTP router on
 * corio's HTTP server) on a simulated disk through the SQLite VFS of
 * apps/corio-jobs/sim_vfs.c, and a simulated network:
 *  - clients on hosts of their own POST /jobs with an Idempotency-Key over
 *    TCP to the server's host, with seeded latency, partitions that heal
 *    and dropped connections; a client sends a key again (same key, same
 *    body) until a 202 or 200 acknowledges it; what they learnt outlives
 *    the server's crashes (docs/simulation.md);
 *  - a meddler DELETEs and retries acknowledged jobs at random moments;
 *    half the jobs have a timeout, some a second attempt; on half the
 *    seeds the store's commits take seeded time, so they reorder
 *    (jobs_sim_util.c);
 *  - the server crashes 0-3 times at seeded points: at a virtual time, or
 *    inside a disk call (mid-transaction); its tasks vanish where they are,
 *    unsynced bytes are lost, torn writes may leave prefixes; fsyncs fail
 *    with -EIO at a seeded rate;
 *  - after each crash it restarts on what the disk kept (WAL recovery, then
 *    the service's own recovery: running jobs are queued again), and a last
 *    run, without faults, lets every job finish.
 * Checked on every seed:
 *  - every acknowledged job exists after every recovery, and one key is one
 *    job;
 *  - every durable change of a job's status and attempt number (recorded
 *    by an audit trigger) is legal: no job succeeded twice, no outcome of
 *    an attempt that was not the current one, ...; a job DELETE said was
 *    cancelled is cancelled;
 *  - no job ran again once its success was durable;
 *  - a job found damaged (JOBS_ECORRUPT) is a failure: synced data must
 *    survive any crash;
 *  - the last run ends with every job in a final status within a virtual
 *    time bound (nothing hangs).
 * The seed chooses everything; a failing seed prints the command that
 * replays it. CORIO_SIM_SEEDS=<n> runs more seeds, CORIO_SIM_SEED=<n> one.
 *
 * Mutation proof: jobs_mutant (jobs.h) puts back one class of bug at a
 * time; the simulation must find each within MUTANT_SEEDS seeds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>
#include <corio_http.h>
#include <corio_jobs.h>
#include <corio_sim.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs_sim_util.h"
#include "service_int.h"
#include "sim_vfs.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAKS_IGNORED() __lsan_disable() /* a crash leaks by definition */
#define LEAKS_CHECKED() __lsan_enable()
#else
#define LEAKS_IGNORED() ((void)0)
#define LEAKS_CHECKED() ((void)0)
#endif

#define DB "/jobs.db"
#define MAXJ 512
#define CLIENTS 3
#define PER_CLIENT 4
#define MUTANT_SEEDS 200

typedef struct rec {
    char id[JOBS_ID_LEN + 1];
    int acked;     /* the submit returned 0 */
    int durable;   /* seen in the store after a recovery */
    int status;    /* as last seen there */
    int attempts;
    int runs;      /* handler successes */
    int present;
    int said_cancelled; /* a DELETE answered "cancelled" (no retry since) */
} rec;

/* An idempotency key a client submits, and what it learnt of it. */
typedef struct key {
    char key[48];
    int acked;                  /* a 202 or 200 came back */
    char id[JOBS_ID_LEN + 1];   /* the job it named */
} key;

/* One seed's world. Reset at the start of each seed. */
static struct {
    uint64_t rng;
    rec jobs[MAXJ];
    int n;
    char fail[300];
    int final;         /* this run is the last (no faults, no crash) */
    int disk_crashed;  /* the disk crashed itself (crash_at_op) */
    jobs_service *svc;
    int type;
    uint64_t hash;
    double slow;       /* the store's writes take up to this (virtual s) */
    int meddle;        /* DELETEs and retries: 0 none, 1 a few, 2 many */
    int64_t audit_seq; /* the last change of the audit already judged */
    int cancels, retries; /* answered 0 */
    key keys[CLIENTS * PER_CLIENT]; /* the clients' knowledge */
    double lat_max;    /* the network's one-way latency: up to this */
    int chaos;         /* partitions and dropped connections */
    int h_srv, h_cli[CLIENTS];
    corio_event *http_up, *http_stop;
    int posts, lost, repeats, partitions;
} W;

static uint64_t h_rng(void) /* the harness's own stream, from the seed */
{
    uint64_t z = (W.rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void violation(const char *fmt, ...)
{
    va_list ap;
    /* A process whose disk died sees errors, not states: nothing it reads
     * after that instant counts. */
    if (W.fail[0] || W.disk_crashed)
        return;
    va_start(ap, fmt);
    vsnprintf(W.fail, sizeof W.fail, fmt, ap);
    va_end(ap);
}

static rec *find(const char *id, int add)
{
    for (int i = 0; i < W.n; i++)
        if (strcmp(W.jobs[i].id, id) == 0)
            return &W.jobs[i];
    if (!add || W.n == MAXJ)
        return NULL;
    rec *r = &W.jobs[W.n++];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    return r;
}

static int final_status(int st)
{
    return st == JOBS_SUCCEEDED || st == JOBS_FAILED || st == JOBS_CANCELLED ||
           st == JOBS_INTERRUPTED;
}

/* ---- the job type ----------------------------------------------------------- */

static int sim_handler(corio_job *job, const char *spec, void *arg)
{
    rec *r = find(corio_job_id(job), 1);
    (void)spec;
    (void)arg;
    if (r && r->durable && r->status == JOBS_SUCCEEDED)
        violation("job %s ran again (attempt %d) after its success was durable", r->id,
                  corio_job_attempt(job));
    int rc = corio_sleep((double)(corio_sim_random() % 3000) / 1000.0);
    if (rc < 0)
        return rc;
    if (r)
        r->runs++;
    return 0;
}

/* ---- what the disk kept --------------------------------------------------------- */

typedef struct snap {
    int final;
    char err[300];
} snap;

/* Judges one durable change of a job (the audit trigger's record). */
static int judge(const sim_audit_row *a, void *arg)
{
    (void)arg;
    const char *why = sim_audit_illegal(a);
    if (why)
        violation("job %s went from %s (attempt %d) to %s (attempt %d): %s", a->id,
                  jobs_status_name(a->from), a->from_att, jobs_status_name(a->to),
                  a->to_att, why);
    W.audit_seq = a->seq;
    corio_sim_trace(&a->seq, sizeof a->seq);
    return W.fail[0] != 0;
}

/* Opens the store on its own (as an operator's tool would), checks what
 * it holds against what was acknowledged and seen before, closes it. On
 * the pool (in the loop, in a simulation): SQLite wants the loop's stack. */
static int snapshot(void *arg)
{
    snap *sp = arg;
    jobs_store *st;
    /* The integrity check (PRAGMA quick_check) once per seed, at the end:
     * before, reading every row is the check. */
    jobs_store_opts o = {.check_timeout = sp->final ? 0 : -1, .vfs = JOBS_SIM_VFS};
    int rc = jobs_store_open_ex(DB, &o, &st, sp->err, sizeof sp->err);
    if (rc == JOBS_ECORRUPT)
        violation("the store is damaged after a crash: %s", sp->err);
    if (rc < 0)
        return rc;
    for (int i = 0; i < W.n; i++)
        W.jobs[i].present = 0;
    char after[JOBS_ID_LEN + 1] = "";
    for (;;) {
        jobs_job **v;
        size_t n;
        rc = st->ops->list(st, -1, after[0] ? after : NULL, 100, &v, &n);
        if (rc < 0)
            break;
        for (size_t k = 0; k < n; k++) {
            jobs_job *j = v[k];
            rec *r = find(j->id, 1);
            if (!r)
                continue;
            /* (A failed, cancelled or interrupted job may be retried: the
             * audit judges each of its steps.) */
            if (r->durable && r->status == JOBS_SUCCEEDED && j->status != r->status)
                violation("job %s went from %s to %s", j->id, jobs_status_name(r->status),
                          jobs_status_name(j->status));
            if (r->durable && j->attempts < r->attempts)
                violation("job %s lost attempts: %d then %d", j->id, r->attempts, j->attempts);
            if (sp->final && !final_status(j->status))
                violation("job %s is still %s at the end", j->id, jobs_status_name(j->status));
            for (int k = 0; j->unique_key && k < CLIENTS * PER_CLIENT; k++)
                if (W.keys[k].acked && strcmp(W.keys[k].key, j->unique_key) == 0 &&
                    strcmp(W.keys[k].id, j->id) != 0)
                    violation("key %s was acknowledged as job %s, but job %s holds it",
                              j->unique_key, W.keys[k].id, j->id);
            if (r->said_cancelled && j->status != JOBS_CANCELLED)
                violation("DELETE answered that job %s was cancelled, but the store has "
                          "it %s", j->id, jobs_status_name(j->status));
            r->durable = 1;
            r->present = 1;
            r->status = j->status;
            r->attempts = j->attempts;
            corio_sim_trace(j->id, JOBS_ID_LEN);
            corio_sim_trace(&j->status, sizeof j->status);
        }
        if (n)
            memcpy(after, v[n - 1]->id, sizeof after);
        jobs_job_free_array(v, n);
        if (n < 100)
            break;
    }
    st->ops->close(st);
    if (rc < 0)
        return rc;
    /* Every change the disk kept since the last look, in order. */
    rc = sim_audit_read(DB, JOBS_SIM_VFS, W.audit_seq, judge, NULL);
    if (rc < 0)
        return rc;
    for (int i = 0; i < W.n; i++) {
        rec *r = &W.jobs[i];
        if (r->acked && !r->present)
            violation("job %s was acknowledged but is not in the store after recovery", r->id);
        else if (r->durable && !r->present)
            violation("job %s was durable but vanished", r->id);
    }
    return 0;
}

/* ---- one run of the server ---------------------------------------------------------- */

/* ---- clients over the simulated network ----------------------------------------------- */

#define PORT 8080

static int handle(const corio_http_request *req, corio_http_response *resp, void *arg)
{
    (void)arg;
    jobs_route(jobs_service_api(W.svc), req, resp);
    return 0;
}

/* corio's HTTP server with the corio-jobs router, on the server's host,
 * until W.http_stop is set. */
static void *http_main(void *arg)
{
    (void)arg;
    corio_http_server *srv;
    corio_http_server_opts o = {.limits = {.max_body = 1 << 16}};
    int rc = corio_http_server_start(&srv, "0.0.0.0", PORT, handle, NULL, &o);
    if (rc < 0)
        return corio_fail(rc);
    corio_event_set(W.http_up);
    corio_event_wait(W.http_stop);
    rc = corio_http_server_close(srv, 1.0);
    return rc < 0 ? corio_fail(rc) : NULL;
}

/* A client on a host of its own: it POSTs each of its keys until one
 * answer (202, or 200 for a key already held) acknowledges it, the same
 * key again after a timeout, a reset or a 5xx; then POSTs one acknowledged
 * key once more, which must name the same job (one key, one job). What it
 * learnt lives in W.keys, which outlives the server's crashes (clients on
 * hosts that survive). */
static void *client(void *arg)
{
    int c = (int)(intptr_t)arg, again = 1;
    for (;;) {
        int k = -1;
        for (int i = c * PER_CLIENT; i < (c + 1) * PER_CLIENT && k < 0; i++)
            if (!W.keys[i].acked)
                k = i;
        if (k < 0 && again) { /* all acknowledged: a repeat of one */
            again = 0;
            k = c * PER_CLIENT + (int)(corio_sim_random() % PER_CLIENT);
        } else if (k < 0) {
            return NULL;
        }
        if (corio_sleep((double)(corio_sim_random() % 2000) / 1000.0) < 0)
            return NULL;
        key *K = &W.keys[k];
        /* The body is the key's own: a retry sends the same request. Half
         * the jobs time out (the handler sleeps up to 3 s), some have a
         * second attempt. */
        char body[160], id[JOBS_ID_LEN + 1];
        snprintf(body, sizeof body,
                 "{\"type\":\"sim\",%s\"max_attempts\":%d,\"retry_backoff\":0.2}",
                 k % 2 ? "\"timeout\":1.5," : "", 1 + k / 2 % 2);
        int st = sim_post_job("jobs", PORT, K->key, body, 3.0, id);
        W.posts++;
        corio_sim_trace(&st, sizeof st);
        if (st < 0 || st >= 500) {
            W.lost++; /* no answer, or the server could not record it: again */
            continue;
        }
        if (st != 202 && st != 200) {
            violation("POST /jobs with key %s answered %d", K->key, st);
            return NULL;
        }
        if (st == 200)
            W.repeats++;
        if (!id[0]) {
            violation("POST /jobs answered %d without an id", st);
            return NULL;
        }
        if (K->acked && strcmp(K->id, id) != 0)
            violation("key %s: acknowledged as job %s, then as job %s", K->key, K->id, id);
        if (!K->acked) {
            K->acked = 1;
            memcpy(K->id, id, sizeof K->id);
            rec *r = find(id, 1);
            if (r)
                r->acked = 1;
            corio_sim_trace(id, JOBS_ID_LEN);
        }
    }
}

/* Partitions between the server and a client that heal, and clients
 * that lose their connections (a NAT forgetting them): until the crash. */
static void *chaos(void *arg)
{
    (void)arg;
    for (;;) {
        if (corio_sleep((double)(corio_sim_random() % 5000) / 1000.0) < 0)
            return NULL;
        int h = W.h_cli[corio_sim_random() % CLIENTS];
        if (corio_sim_random() % 4 == 0) {
            corio_sim_host_drop_connections(h);
            continue;
        }
        corio_sim_partition(W.h_srv, h);
        W.partitions++;
        if (corio_sleep((double)(corio_sim_random() % 4000) / 1000.0) < 0)
            return NULL;
        corio_sim_heal(W.h_srv, h);
    }
}

/* The network of one run: the server's host, the clients' hosts, a
 * latency of the seed's. */
static int network(void)
{
    corio_sim_net_config nc = {.latency_min = 0.0005, .latency_max = W.lat_max};
    int rc = corio_sim_net_configure(&nc);
    if (rc < 0)
        return rc;
    if ((W.h_srv = corio_sim_host_add("jobs", "10.0.0.1")) < 0)
        return W.h_srv;
    for (int i = 0; i < CLIENTS; i++) {
        char name[16], addr[16];
        snprintf(name, sizeof name, "client%d", i);
        snprintf(addr, sizeof addr, "10.0.1.%d", i + 1);
        if ((W.h_cli[i] = corio_sim_host_add(name, addr)) < 0)
            return W.h_cli[i];
    }
    return 0;
}

/* DELETE and POST /jobs/<id>/retry at random moments on acknowledged jobs,
 * racing their attempts: queued, starting (the start's commit in flight),
 * running, timing out, finishing. */
static void *meddler(void *arg)
{
    (void)arg;
    int n = W.meddle == 2 ? 40 : 10;
    unsigned pause = W.meddle == 2 ? 100 : 1000; /* ms */
    const jobs_api *api = jobs_service_api(W.svc);
    for (int k = 0; k < n; k++) {
        if (corio_sleep((double)(corio_sim_random() % pause) / 1000.0) < 0)
            return NULL;
        int cand[MAXJ], m = 0;
        for (int i = 0; i < W.n; i++)
            if (W.jobs[i].acked)
                cand[m++] = i;
        if (!m)
            continue;
        rec *r = &W.jobs[cand[corio_sim_random() % (uint64_t)m]];
        char id[JOBS_ID_LEN + 1];
        memcpy(id, r->id, sizeof id);
        jobs_job *out = NULL;
        int rc;
        if (corio_sim_random() % 2) {
            rc = api->cancel(api->ctx, id, &out);
            if (rc == 0) {
                r->said_cancelled = 1;
                W.cancels++;
            }
        } else {
            r->said_cancelled = 0; /* from the moment it is asked */
            rc = api->retry(api->ctx, id, &out);
            if (rc == 0)
                W.retries++;
        }
        corio_sim_trace(&rc, sizeof rc);
        jobs_job_free(out);
    }
    return NULL;
}

static void crash_now(void *arg)
{
    (void)arg;
    corio_sim_crash();
}

static void on_disk_crash(void *arg)
{
    (void)arg;
    W.disk_crashed = 1;
    corio_sim_crash(); /* -EPERM outside a run: the harness's own crash */
}

static void *server_run(void *arg)
{
    (void)arg;
    snap sp = {.final = 0};
    char err[300];
    int rc;
    if (!W.final) /* the power fails within 30 s, if no disk call failed first */
        corio_call_later(NULL, (double)(h_rng() % 30000) / 1000.0, crash_now, NULL);
    rc = jobs_offload(snapshot, &sp);
    if (W.fail[0])
        return corio_fail(-EPROTO);
    if (rc < 0)
        return W.final ? corio_fail(rc) : NULL; /* could not start: again */
    jobs_store *store;
    jobs_store_opts so = {.check_timeout = -1, .vfs = JOBS_SIM_VFS};
    jobs_service_opts vo = {.workers = 2, .recover = JOBS_RECOVER_REQUEUE, .lag_interval = 5};
    rc = jobs_store_open_ex(DB, &so, &store, err, sizeof err);
    if (rc == JOBS_ECORRUPT)
        violation("the store is damaged after a crash: %s", err);
    if (rc == 0 && W.slow > 0) {
        jobs_store *slow = sim_slow_store(store, W.slow);
        if (!slow)
            store->ops->close(store);
        store = slow;
        rc = slow ? 0 : -ENOMEM;
    }
    if (rc == 0 && (rc = jobs_service_open(&W.svc, store, &vo, err, sizeof err)) < 0)
        store->ops->close(store);
    if (W.fail[0])
        return corio_fail(-EPROTO);
    if (rc < 0)
        return W.final ? corio_fail(rc) : NULL;
    corio_task *c[CLIENTS] = {NULL}, *m = NULL, *http = NULL;
    if ((rc = network()) < 0 || (rc = corio_event_create(&W.http_up)) < 0 ||
        (rc = corio_event_create(&W.http_stop)) < 0 ||
        (rc = corio_sim_spawn_on(W.h_srv, &http, http_main, NULL)) < 0)
        return corio_fail(rc);
    corio_event_wait(W.http_up);
    for (int i = 0; i < CLIENTS; i++)
        corio_sim_spawn_on(W.h_cli[i], &c[i], client, (void *)(intptr_t)i);
    if (W.meddle && !W.final)
        m = corio_spawn(meddler, NULL);
    if (!W.final && W.chaos)
        corio_detach(corio_spawn(chaos, NULL));
    for (int i = 0; i < CLIENTS; i++)
        if (c[i])
            corio_await(c[i], NULL);
    if (m)
        corio_await(m, NULL);
    if (!W.final) {
        corio_sleep(3600); /* the crash comes first */
        return NULL;
    }
    /* The last run: every job finishes, within the run's time limit. */
    for (;;) {
        jobs_service_stats st;
        jobs_service_stats_get(W.svc, &st);
        if (!st.queued && !st.running && !st.by_status[JOBS_SCHEDULED])
            break;
        if (corio_sleep(1) < 0)
            break;
    }
    corio_event_set(W.http_stop);
    rc = corio_await(http, NULL);
    corio_event_destroy(W.http_up);
    corio_event_destroy(W.http_stop);
    if (rc < 0)
        return corio_fail(rc);
    jobs_service_drain(W.svc, 10);
    jobs_service_close(W.svc);
    store->ops->close(store);
    sp.final = 1;
    rc = jobs_offload(snapshot, &sp);
    if (W.fail[0])
        return corio_fail(-EPROTO);
    return rc < 0 ? corio_fail(rc) : NULL;
}

/* ---- one seed ------------------------------------------------------------------------ */

static int setup_store(void *arg)
{
    (void)arg;
    jobs_store *st;
    char err[300];
    jobs_store_opts o = {.check_timeout = -1, .vfs = JOBS_SIM_VFS};
    int rc = jobs_store_open_ex(DB, &o, &st, err, sizeof err);
    if (rc < 0)
        return rc;
    st->ops->close(st);
    return sim_audit_install(DB, JOBS_SIM_VFS);
}

static void *setup_main(void *arg)
{
    (void)arg;
    int rc = jobs_offload(setup_store, NULL);
    return rc < 0 ? corio_fail(rc) : NULL;
}

static void mixh(uint64_t v)
{
    W.hash = (W.hash ^ v) * 0x9E3779B97F4A7C15ULL;
    W.hash ^= W.hash >> 29;
}

typedef struct seed_stats {
    double virt, real;
    int crashes, runs, seeds;
    int cancels, retries;
    int posts, lost, repeats, partitions;
    uint64_t fsync_failures, torn_writes;
} seed_stats;

/* Runs one seed: 0, or the failing status (W.fail says why). */
static int run_seed(uint64_t seed, uint64_t *hash, seed_stats *ss)
{
    corio_sim_disk *d;
    corio_sim_config cfg = {0};
    corio_sim_stats st;
    int rc = 0, crashes;
    memset(&W, 0, sizeof W);
    W.rng = seed * 0x2545F4914F6CDD1DULL + 1;
    W.type = jobs_type_parse("sim");
    jobs_id_reset();
    jobs_sim_vfs_reset();
    if (corio_sim_disk_new(&d, seed) < 0)
        return -ENOMEM;
    corio_sim_disk_attach(d);
    cfg.time_limit = 3600;
    crashes = (int)(h_rng() % 4);
    W.slow = h_rng() % 2 ? 0.05 : 0;
    W.meddle = (int)(h_rng() % 3);
    W.lat_max = h_rng() % 2 ? 0.002 : 0.05;
    W.chaos = (int)(h_rng() % 2);
    for (int i = 0; i < CLIENTS * PER_CLIENT; i++)
        snprintf(W.keys[i].key, sizeof W.keys[i].key, "seed%llu-client%d-job%d",
                 (unsigned long long)seed, i / PER_CLIENT, i % PER_CLIENT);
    /* The store's file and its audit trigger, before any fault. */
    rc = corio_sim_run(seed * 16 + 15, setup_main, NULL, NULL, &cfg, &st);
    cfg.start_time = st.end_time;
    if (rc < 0) {
        corio_sim_disk_free(d);
        return rc;
    }
    for (int run = 0; run <= crashes + 4 && rc == 0; run++) {
        corio_sim_disk_faults f = {0};
        W.final = run >= crashes;
        W.disk_crashed = 0;
        if (!W.final) {
            static const double fs[] = {0, 0.01, 0.05}, tw[] = {0, 0.3, 1};
            f.fsync_fail = fs[h_rng() % 3];
            f.torn_write = tw[h_rng() % 3];
            f.crash_at_op = h_rng() % 2 ? 1 + h_rng() % 400 : 0;
            f.on_crash = on_disk_crash;
            LEAKS_IGNORED();
        }
        corio_sim_disk_set_faults(d, &f);
        rc = corio_sim_run(seed * 16 + (uint64_t)run, server_run, NULL, NULL, &cfg, &st);
        if (!W.final)
            LEAKS_CHECKED();
        mixh(st.trace_hash);
        mixh((uint64_t)rc);
        ss->virt += st.virtual_seconds;
        ss->real += st.real_seconds;
        ss->runs++;
        cfg.start_time = st.end_time;
        if (rc == CORIO_SIM_CRASHED) {
            if (!W.disk_crashed)
                corio_sim_disk_crash(d);
            jobs_sim_vfs_reset(); /* the process's shared memory is gone */
            ss->crashes++;
            rc = 0;
            if (W.final)
                violation("the last run crashed");
        } else if (rc == 0 && !W.final) {
            /* The process could not start (a disk fault): start it again. */
        } else if (rc == 0 && W.final) {
            break;
        }
        if (W.final && run == crashes + 4)
            violation("never reached a clean last run");
    }
    {
        corio_sim_disk_stats ds;
        corio_sim_disk_stats_get(d, &ds);
        ss->fsync_failures += ds.fsync_failures;
        ss->torn_writes += ds.torn_writes;
    }
    corio_sim_disk_free(d);
    ss->cancels += W.cancels;
    ss->retries += W.retries;
    ss->posts += W.posts;
    ss->lost += W.lost;
    ss->repeats += W.repeats;
    ss->partitions += W.partitions;
    if (W.fail[0] && rc == 0)
        rc = -EPROTO;
    *hash = W.hash;
    return rc;
}

/* Runs seeds first..first+count-1 (the environment may say otherwise);
 * every check_every-th seed twice, comparing the hashes. With a budget
 * (real seconds), stops once it is spent if at least min_seeds ran: a
 * loaded CI machine runs fewer seeds, never times out. Returns the first
 * failing seed + 1, or 0. */
static uint64_t run_seeds(uint64_t first, uint64_t count, unsigned check_every, int quiet,
                          seed_stats *sum, double budget, uint64_t min_seeds)
{
    int set;
    double t0 = sim_wall();
    uint64_t v = sim_env_u64("CORIO_SIM_SEED", &set);
    if (set) {
        first = v;
        count = 1;
        check_every = 1;
    } else if ((v = sim_env_u64("CORIO_SIM_SEEDS", &set)), set) {
        count = v;
        budget = 0; /* asked for: all of them */
    }
    for (uint64_t i = 0; i < count; i++) {
        if (budget > 0 && i >= min_seeds && sim_wall() - t0 > budget) {
            fprintf(stderr, "corio-jobs sim: the %.0f s budget ran out after %llu seeds\n",
                    budget, (unsigned long long)i);
            break;
        }
        sum->seeds++;
        uint64_t seed = first + i, h1, h2;
        /* The service's own messages (jobs requeued after a crash, commits
         * failed by an injected fault) would be thousands of lines: they
         * go to /dev/null unless one seed is replayed. */
        int saved = sim_quiet_stderr(!set || count > 1);
        int rc = run_seed(seed, &h1, sum);
        if (rc == 0 && check_every && i % check_every == 0) {
            seed_stats again = {0};
            int rc2 = run_seed(seed, &h2, &again);
            sim_restore_stderr(saved);
            saved = -1;
            if (rc2 != rc || h1 != h2) {
                fprintf(stderr, "corio-jobs sim: seed %llu is not deterministic (%d/%d, %016llx/%016llx)\n",
                        (unsigned long long)seed, rc, rc2, (unsigned long long)h1,
                        (unsigned long long)h2);
                sim_print_replay(seed);
                return seed + 1;
            }
        }
        sim_restore_stderr(saved);
        if (rc != 0) {
            if (!quiet) {
                fprintf(stderr, "corio-jobs sim: seed %llu failed: %s (%d)\n",
                        (unsigned long long)seed, W.fail[0] ? W.fail : corio_strerror(rc), rc);
                sim_print_replay(seed);
            }
            return seed + 1;
        }
    }
    return 0;
}

static void every_seed_keeps_every_acknowledged_job(void **state)
{
    seed_stats sum = {0};
    double t0 = sim_wall();
    (void)state;
    jobs_mutant = 0;
    /* 2000 seeds, every tenth checked for determinism; on a machine too
     * loaded for them in 150 s (CORIO_SIM_BUDGET seconds), at least 200. */
    int bset;
    uint64_t b = sim_env_u64("CORIO_SIM_BUDGET", &bset);
    uint64_t failed = run_seeds(0, 2000, 10, 0, &sum, bset ? (double)b : 150, 200);
    double real = sim_wall() - t0;
    fprintf(stderr, "corio-jobs sim: %d seeds (%d server runs, %d crashes) in %.1f s: "
            "%.0f seeds per minute; %.0f virtual s in %.2f s of runs (%.0fx)\n",
            sum.seeds, sum.runs, sum.crashes, real, real > 0 ? sum.seeds * 60 / real : 0,
            sum.virt, sum.real, sum.real > 0 ? sum.virt / sum.real : 0);
    fprintf(stderr, "corio-jobs sim: faults injected: %llu fsync failures, %llu torn writes; "
            "%d jobs cancelled and %d retried by the meddlers\n",
            (unsigned long long)sum.fsync_failures, (unsigned long long)sum.torn_writes,
            sum.cancels, sum.retries);
    fprintf(stderr, "corio-jobs sim: %d POST /jobs over the simulated network, %d without "
            "an answer (timeouts, resets) or with a 5xx, %d answered 200 (a key held "
            "already); %d partitions\n", sum.posts, sum.lost, sum.repeats, sum.partitions);
    assert_int_equal(failed, 0);
    assert_true(sum.crashes > 0);
    assert_true(sum.fsync_failures > 0);
    assert_true(sum.torn_writes > 0);
    assert_true(sum.cancels > 0);
    assert_true(sum.retries > 0);
    assert_true(sum.lost > 0);
    assert_true(sum.repeats > 0);
    assert_true(sum.partitions > 0);
}

static void mutant_ack_before_commit_is_found(void **state)
{
    seed_stats sum = {0};
    int set;
    (void)state;
    sim_env_u64("CORIO_SIM_SEED", &set);
    if (set)
        skip(); /* replaying one seed of the correct service */
    jobs_mutant = JOBS_MUTANT_EARLY_ACK;
    uint64_t failed = run_seeds(0, MUTANT_SEEDS, 0, 1, &sum, 0, 0);
    jobs_mutant = 0;
    fprintf(stderr, "corio-jobs sim: the early-ack mutant %s (%s)\n",
            failed ? "was found" : "was NOT found", W.fail);
    if (failed)
        fprintf(stderr, "  at seed %llu, after %d runs\n", (unsigned long long)(failed - 1),
                sum.runs);
    assert_true(failed > 0);
    assert_non_null(strstr(W.fail, "acknowledged"));
}

/* Runs the seeds with one mutant; returns the failing seed + 1 (0: not
 * found). */
static uint64_t find_mutant(int mutant, const char *name, seed_stats *sum)
{
    jobs_mutant = mutant;
    uint64_t failed = run_seeds(0, MUTANT_SEEDS, 0, 1, sum, 0, 0);
    jobs_mutant = 0;
    fprintf(stderr, "corio-jobs sim: the %s mutant %s (%s)\n", name,
            failed ? "was found" : "was NOT found", W.fail);
    if (failed)
        fprintf(stderr, "  at seed %llu, after %d runs\n", (unsigned long long)(failed - 1),
                sum->runs);
    return failed;
}

/* A job task that stops waiting for its start's commit when a DELETE
 * cancels it (runner.c before the wait was shielded): its outcome and its
 * start race in the two committers. */
static void mutant_unsequenced_start_is_found(void **state)
{
    seed_stats sum = {0};
    int set;
    (void)state;
    sim_env_u64("CORIO_SIM_SEED", &set);
    if (set)
        skip();
    uint64_t failed = find_mutant(JOBS_MUTANT_UNSEQUENCED_START, "unsequenced-start", &sum);
    assert_true(failed > 0);
}

static int jobs_sim_setup(void **state)
{
    (void)state;
    /* A crashed server's memory is lost by design; ASan's leak checker is
     * told so (LEAKS_IGNORED), Valgrind's cannot be: its run would only
     * report those. The ASan run covers what Valgrind would. */
    if (tu_under_valgrind()) {
        fprintf(stderr, "test_jobs_sim: skipped under Valgrind\n");
        exit(77);
    }
    if (jobs_sim_vfs_register() < 0)
        return -1;
    return corio_jobs_register("sim", sim_handler, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_seed_keeps_every_acknowledged_job),
        cmocka_unit_test(mutant_ack_before_commit_is_found),
        cmocka_unit_test(mutant_unsequenced_start_is_found),
    };
    return cmocka_run_group_tests(tests, jobs_sim_setup, NULL);
}
