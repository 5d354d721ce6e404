/*
 * corio-jobs on PostgreSQL: the shared store (src/jobs/store_pg.c) against a
 * private PostgreSQL (tests/db_server.c), and then two and three real
 * corio-jobs processes sharing one queue, one of them killed with SIGKILL
 * in the middle of its jobs.
 *
 * The store is driven as two "processes" in one test: two store objects,
 * each with its own owner id. What is checked: concurrent claims never
 * hand out a job twice; an expired lease is taken over and the old
 * holder's outcome is fenced off; renewals keep a long job; jobs whose
 * holders keep dying are given up after max_attempts; DELETE of created,
 * running-elsewhere, ended and unknown jobs; a batch is all or nothing.
 *
 * The processes run command jobs that log "start TOKEN PID" and
 * "end TOKEN PID" (PID: the corio-jobs running it). Every job must succeed
 * exactly once: run to its end by one process (the killed one only if it
 * recorded that before it died), never started twice by live processes;
 * the jobs the killed process held run again elsewhere (attempts 2).
 */
#include "testutil.h"
#include "db_server.h"
#include "jobs_proc.h"

#include "jobs.h"

#include <corio_pg.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char conninfo[512], url[600], bin[PATH_MAX];

/* ---- helpers ------------------------------------------------------------------ */

static void sql(const char *q)
{
    corio_pg *c;
    char *err = NULL;
    int rc = corio_pg_connect(&c, conninfo, &err);
    if (rc < 0)
        fprintf(stderr, "connect: %s\n", err ? err : "?");
    assert_int_equal(rc, 0);
    PGresult *r = NULL;
    assert_int_equal(corio_pg_query(c, &r, "SET client_min_messages = warning",
                                    0, NULL), 0);
    PQclear(r);
    assert_int_equal(corio_pg_query(c, &r, q, 0, NULL), 0);
    PQclear(r);
    corio_pg_close(c);
}

static jobs_store *open_store(double lease, int max_attempts)
{
    jobs_store *s;
    char err[256] = "";
    jobs_store_opts o = {lease, max_attempts};
    int rc = jobs_store_open_ex(url, &o, &s, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    assert_true(jobs_store_shared(s));
    return s;
}

static void insert(jobs_store *s, int n, char (*ids)[JOBS_ID_LEN + 1])
{
    for (int i = 0; i < n; i++) {
        jobs_job *j = jobs_job_new(JOBS_SLEEP, "{\"seconds\":1}");
        assert_non_null(j);
        jobs_write w = {JOBS_W_INSERT, j};
        assert_int_equal(s->ops->write(s, &w, 1), 0);
        if (ids)
            memcpy(ids[i], j->id, sizeof ids[i]);
        jobs_job_free(j);
    }
}

static jobs_job *get(jobs_store *s, const char *id)
{
    jobs_job *j = NULL;
    assert_int_equal(s->ops->get(s, id, &j), 0);
    return j;
}

static int claim(jobs_store *s, size_t max, jobs_job ***v)
{
    size_t n = 0;
    assert_int_equal(s->ops->claim(s, max, v, &n), 0);
    return (int)n;
}

static int renew(jobs_store *s, jobs_held **ids)
{
    size_t n = 0;
    assert_int_equal(s->ops->renew(s, ids, &n), 0);
    return (int)n;
}

/* Records how j ended, as its holder would. */
static int finish(jobs_store *s, jobs_job *j, int status)
{
    j->status = status;
    j->finished_ms = jobs_now_ms();
    jobs_write w = {JOBS_W_UPDATE, j};
    return s->ops->write(s, &w, 1);
}

static void fresh_table(void)
{
    sql("DROP TABLE IF EXISTS corio_jobs");
}

/* ---- the store ------------------------------------------------------------------- */

typedef struct claimer {
    jobs_store *s;
    char seen[200][JOBS_ID_LEN + 1];
    int n;
} claimer;

/* The claimers go in rounds, both claims of a round in flight at once (a
 * barrier between rounds): on a loaded machine one backend could
 * otherwise run all its claims before the other's first one started, and
 * there would be no concurrency left to test. */
static corio_barrier *round_barrier;
static int round_sum[64];

static void *claim_all(void *arg)
{
    claimer *c = arg;
    for (int r = 0;; r++) {
        assert_true(r < 64);
        jobs_job **v;
        int n = claim(c->s, 7, &v);
        for (int i = 0; i < n; i++) {
            assert_int_equal(v[i]->status, JOBS_RUNNING);
            assert_int_equal(v[i]->attempts, 1);
            assert_true(v[i]->started_ms > 0);
            assert_true(c->n < 200);
            memcpy(c->seen[c->n++], v[i]->id, JOBS_ID_LEN + 1);
        }
        jobs_job_free_array(v, (size_t)n);
        round_sum[r] += n;
        assert_true(corio_barrier_wait(round_barrier) >= 0);
        if (round_sum[r] == 0)
            return NULL;
    }
}

/* Two claimers at once (SKIP LOCKED): together they take every job once. */
TU_TASK_TEST(claims_are_disjoint)
{
    enum { N = 150 };
    fresh_table();
    static claimer a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.s = open_store(30, 3);
    b.s = open_store(30, 3);
    insert(a.s, N, NULL);
    memset(round_sum, 0, sizeof round_sum);
    assert_int_equal(corio_barrier_create(&round_barrier, 2), 0);
    corio_task *ta = corio_spawn(claim_all, &a), *tb = corio_spawn(claim_all, &b);
    assert_int_equal(corio_await(ta, NULL), 0);
    assert_int_equal(corio_await(tb, NULL), 0);
    corio_barrier_destroy(round_barrier);
    assert_int_equal(a.n + b.n, N);
    assert_true(a.n > 0 && b.n > 0);
    for (int i = 0; i < a.n; i++)
        for (int k = 0; k < b.n; k++)
            assert_string_not_equal(a.seen[i], b.seen[k]);
    /* Claims come oldest first: each claimer saw its ids in order. */
    for (int i = 1; i < a.n; i++)
        assert_true(strcmp(a.seen[i - 1], a.seen[i]) < 0);
    uint64_t counts[JOBS_NSTATUS];
    assert_int_equal(a.s->ops->counts(a.s, counts), 0);
    assert_int_equal(counts[JOBS_RUNNING], N);
    assert_int_equal(counts[JOBS_CREATED], 0);
    jobs_store_close(a.s);
    jobs_store_close(b.s);
    return NULL;
}

/* A renews its lease and keeps its job; then stops renewing: B takes the
 * job over (attempts 2), A's outcome is fenced off, A's renewal no longer
 * lists it, and B's outcome is the one recorded. */
TU_TASK_TEST(expired_lease_taken_over_and_fenced)
{
    fresh_table();
    jobs_store *a = open_store(1.0, 3), *b = open_store(30, 3);
    char id[1][JOBS_ID_LEN + 1];
    insert(a, 1, id);
    jobs_job **va, **vb;
    assert_int_equal(claim(a, 10, &va), 1);
    /* Renewed every 0.2 s for 1.2 s (past the 1 s lease): kept. */
    for (int i = 0; i < 6; i++) {
        corio_sleep(0.2);
        jobs_held *ids;
        assert_int_equal(renew(a, &ids), 1);
        assert_string_equal(ids[0].id, id[0]);
        assert_int_equal(ids[0].attempts, 1);
        assert_int_equal(ids[0].cancel, 0);
        free(ids);
        assert_int_equal(claim(b, 10, &vb), 0);
        free(vb);
    }
    /* A stops renewing (it "died"). Until the lease has expired, B's
     * renewals leave the job alone; after it, B's renewal puts it back in
     * the queue and B's claim gets it. */
    jobs_held *none;
    assert_int_equal(renew(b, &none), 0);
    free(none);
    assert_int_equal(claim(b, 10, &vb), 0);
    free(vb);
    corio_sleep(1.2);
    assert_int_equal(renew(b, &none), 0);
    free(none);
    assert_int_equal(claim(b, 10, &vb), 1);
    assert_string_equal(vb[0]->id, id[0]);
    assert_int_equal(vb[0]->attempts, 2);
    jobs_held *ids;
    assert_int_equal(renew(a, &ids), 0); /* A learns it lost the job */
    free(ids);
    /* A's late outcome changes nothing (and is not an error). */
    assert_int_equal(finish(a, va[0], JOBS_FAILED), 0);
    jobs_job *j = get(b, id[0]);
    assert_int_equal(j->status, JOBS_RUNNING);
    jobs_job_free(j);
    assert_int_equal(finish(b, vb[0], JOBS_SUCCEEDED), 0);
    j = get(a, id[0]);
    assert_int_equal(j->status, JOBS_SUCCEEDED);
    assert_int_equal(j->attempts, 2);
    jobs_job_free(j);
    /* Ended jobs are never claimed again. */
    jobs_job **v;
    assert_int_equal(claim(a, 10, &v), 0);
    free(v);
    jobs_job_free_array(va, 1);
    jobs_job_free_array(vb, 1);
    jobs_store_close(a);
    jobs_store_close(b);
    return NULL;
}

/* A process paused past its lease claims the job again itself before it
 * notices: the claim is (owner, attempt), so the old run's outcome is
 * fenced off like another process's, and only the new claim's counts. */
TU_TASK_TEST(reclaim_by_the_same_process_fences_the_old_claim)
{
    fresh_table();
    jobs_store *a = open_store(0.3, 5), *b = open_store(30, 5);
    char id[1][JOBS_ID_LEN + 1];
    insert(a, 1, id);
    jobs_job **v1, **v2;
    assert_int_equal(claim(a, 10, &v1), 1);
    corio_sleep(0.5); /* A "paused" past its lease */
    jobs_held *h;
    assert_int_equal(renew(b, &h), 0); /* B reaps: back to created */
    free(h);
    assert_int_equal(claim(a, 10, &v2), 1); /* A again, attempt 2 */
    assert_int_equal(v2[0]->attempts, 2);
    assert_int_equal(renew(a, &h), 1);
    assert_int_equal(h[0].attempts, 2); /* attempt 1 is not held */
    free(h);
    assert_int_equal(finish(a, v1[0], JOBS_FAILED), 0);
    jobs_job *j = get(a, id[0]);
    assert_int_equal(j->status, JOBS_RUNNING);
    jobs_job_free(j);
    assert_int_equal(finish(a, v2[0], JOBS_SUCCEEDED), 0);
    j = get(a, id[0]);
    assert_int_equal(j->status, JOBS_SUCCEEDED);
    assert_int_equal(j->attempts, 2);
    jobs_job_free(j);
    jobs_job_free_array(v1, 1);
    jobs_job_free_array(v2, 1);
    jobs_store_close(a);
    jobs_store_close(b);
    return NULL;
}

/* A live holder whose lease ran out (the database was away longer than
 * the lease) keeps its job at its next renewal, as long as nobody reaped
 * the job first: the renewal extends before it reaps. */
TU_TASK_TEST(late_renewal_keeps_the_job)
{
    fresh_table();
    jobs_store *a = open_store(1.0, 3), *b = open_store(30, 3);
    char id[1][JOBS_ID_LEN + 1];
    insert(a, 1, id);
    jobs_job **v;
    assert_int_equal(claim(a, 10, &v), 1);
    corio_sleep(1.2); /* expired, not reaped */
    jobs_held *h;
    assert_int_equal(renew(a, &h), 1);
    assert_string_equal(h[0].id, id[0]);
    assert_int_equal(h[0].attempts, 1);
    free(h);
    assert_int_equal(renew(b, &h), 0); /* nothing to reap now */
    free(h);
    jobs_job **none;
    assert_int_equal(claim(b, 10, &none), 0);
    free(none);
    assert_int_equal(finish(a, v[0], JOBS_SUCCEEDED), 0);
    jobs_job *j = get(b, id[0]);
    assert_int_equal(j->status, JOBS_SUCCEEDED);
    assert_int_equal(j->attempts, 1);
    jobs_job_free(j);
    jobs_job_free_array(v, 1);
    jobs_store_close(a);
    jobs_store_close(b);
    return NULL;
}

/* A job whose holder dies every time is given up after max_attempts. */
TU_TASK_TEST(max_attempts_then_interrupted)
{
    fresh_table();
    jobs_store *a = open_store(0.3, 2);
    char id[1][JOBS_ID_LEN + 1];
    insert(a, 1, id);
    jobs_job **v;
    jobs_store *b = open_store(30, 2);
    jobs_held *ids;
    for (int attempt = 1; attempt <= 2; attempt++) {
        assert_int_equal(claim(a, 10, &v), 1);
        assert_int_equal(v[0]->attempts, attempt);
        jobs_job_free_array(v, 1);
        corio_sleep(0.5); /* A "dies": no renewal */
        assert_int_equal(renew(b, &ids), 0); /* B reaps */
        free(ids);
    }
    assert_int_equal(claim(a, 10, &v), 0);
    free(v);
    jobs_job *j = get(a, id[0]);
    assert_int_equal(j->status, JOBS_INTERRUPTED);
    assert_non_null(strstr(j->error, "2 time(s)"));
    assert_true(j->finished_ms > 0);
    jobs_job_free(j);
    jobs_store_close(a);
    jobs_store_close(b);
    return NULL;
}

/* DELETE through the store, in every state. */
TU_TASK_TEST(cancel_in_every_state)
{
    fresh_table();
    jobs_store *a = open_store(0.5, 3), *b = open_store(30, 3);
    char id[3][JOBS_ID_LEN + 1];
    insert(a, 3, id);
    jobs_job *j = NULL;
    /* Created: cancelled at once, never claimed. */
    assert_int_equal(b->ops->cancel(b, id[0], &j), 0);
    assert_int_equal(j->status, JOBS_CANCELLED);
    jobs_job_free(j);
    /* Running in A: a request, which A's renewal reports. */
    jobs_job **v;
    assert_int_equal(claim(a, 1, &v), 1);
    assert_string_equal(v[0]->id, id[1]);
    assert_int_equal(b->ops->cancel(b, id[1], &j), -EINPROGRESS);
    assert_int_equal(j->status, JOBS_RUNNING);
    jobs_job_free(j);
    jobs_held *ids;
    assert_int_equal(renew(a, &ids), 1);
    assert_int_equal(ids[0].cancel, 1);
    free(ids);
    assert_int_equal(finish(a, v[0], JOBS_CANCELLED), 0);
    jobs_job_free_array(v, 1);
    /* Ended: -EALREADY with the job; unknown: -ENOENT. */
    assert_int_equal(b->ops->cancel(b, id[1], &j), -EALREADY);
    assert_int_equal(j->status, JOBS_CANCELLED);
    jobs_job_free(j);
    assert_int_equal(b->ops->cancel(b, "01J9Z3W7K6T8Y2V4B5N6M7P8Q9", &j),
                     -ENOENT);
    assert_null(j);
    /* Running in A, which dies: the first renewal after the lease records
     * it cancelled instead of queueing it again. */
    assert_int_equal(claim(a, 1, &v), 1);
    jobs_job_free_array(v, 1);
    assert_int_equal(b->ops->cancel(b, id[2], &j), -EINPROGRESS);
    jobs_job_free(j);
    corio_sleep(0.7);
    assert_int_equal(renew(b, &ids), 0);
    free(ids);
    assert_int_equal(claim(b, 10, &v), 0);
    free(v);
    j = get(b, id[2]);
    assert_int_equal(j->status, JOBS_CANCELLED);
    jobs_job_free(j);
    jobs_store_close(a);
    jobs_store_close(b);
    return NULL;
}

/* A batch with one bad write writes nothing; the store goes on working. */
TU_TASK_TEST(batch_all_or_nothing)
{
    fresh_table();
    jobs_store *a = open_store(30, 3);
    char id[1][JOBS_ID_LEN + 1];
    insert(a, 1, id);
    jobs_job *fresh = jobs_job_new(JOBS_SLEEP, "{\"seconds\":1}");
    jobs_job *dup = jobs_job_new(JOBS_SLEEP, "{\"seconds\":1}");
    memcpy(dup->id, id[0], sizeof id[0]);
    jobs_write w[2] = {{JOBS_W_INSERT, fresh}, {JOBS_W_INSERT, dup}};
    assert_int_equal(a->ops->write(a, w, 2), -EEXIST);
    jobs_job *j = NULL;
    assert_int_equal(a->ops->get(a, fresh->id, &j), -ENOENT);
    assert_int_equal(a->ops->write(a, w, 1), 0);
    j = get(a, fresh->id);
    assert_int_equal(j->status, JOBS_CREATED);
    jobs_job_free(j);
    jobs_job **v;
    size_t n;
    assert_int_equal(a->ops->list(a, JOBS_CREATED, NULL, 10, &v, &n), 0);
    assert_int_equal(n, 2);
    jobs_job_free_array(v, n);
    jobs_job_free(fresh);
    jobs_job_free(dup);
    jobs_store_close(a);
    return NULL;
}

TU_TASK_TEST(open_errors)
{
    jobs_store *s;
    char err[512] = "";
    int rc = jobs_store_open("postgresql://127.0.0.1:1/nothing?connect_timeout=2",
                             &s, err, sizeof err);
    assert_true(rc < 0);
    assert_null(s);
    assert_non_null(strstr(err, "PostgreSQL"));
    return NULL;
}

/* ---- real processes ---------------------------------------------------------------- */

static char dir[64], logpath[128];

typedef struct proc_test {
    int nproc, njobs;
} proc_test;

/* Counts the log's lines "<what> <token> <pid>" for token, split into
 * those by pid `dead` and by the others. */
static void count_lines(const char *what, const char *token, pid_t dead,
                        int *live, int *by_dead)
{
    FILE *f = fopen(logpath, "r");
    assert_non_null(f);
    char w[16], t[32];
    long pid;
    *live = *by_dead = 0;
    while (fscanf(f, "%15s %31s %ld", w, t, &pid) == 3) {
        if (strcmp(w, what) || strcmp(t, token))
            continue;
        if (pid == (long)dead)
            ++*by_dead;
        else
            ++*live;
    }
    fclose(f);
}

static int log_has_pid(pid_t pid)
{
    FILE *f = fopen(logpath, "r");
    if (!f)
        return 0;
    char w[16], t[32];
    long p;
    int found = 0;
    while (!found && fscanf(f, "%15s %31s %ld", w, t, &p) == 3)
        found = strcmp(w, "start") == 0 && p == (long)pid;
    fclose(f);
    return found;
}

static void *procs_main(void *arg)
{
    proc_test *pt = arg;
    enum { MAXP = 3, MAXJ = 64 };
    fresh_table();
    snprintf(logpath, sizeof logpath, "%s/runs.log", dir);
    jp_server s[MAXP];
    for (int i = 0; i < pt->nproc; i++)
        jp_start(&s[i], bin,
                 (const char *[]){"--db", url, "--lease", "2", "--workers",
                                  "4", "--grace", "2", "--allow-command",
                                  "/bin/sh", NULL});
    /* Each job logs its start and end with the pid of the corio-jobs that
     * runs it ($PPID of the shell); every eighth runs past two leases, so
     * it survives only if its process renews. The lease (2 s, renewed every
     * 0.67 s) leaves a live process 1.3 s of stall before it loses a job. */
    char ids[MAXJ][64], tok[MAXJ][16];
    for (int i = 0; i < pt->njobs; i++) {
        char body[512];
        snprintf(tok[i], sizeof tok[i], "t%d", i);
        snprintf(body, sizeof body,
                 "{\"type\":\"command\",\"argv\":[\"/bin/sh\",\"-c\","
                 "\"echo start $0 $PPID >> %s; sleep %s; "
                 "echo end $0 $PPID >> %s\",\"%s\"]}",
                 logpath, i % 8 == 0 ? "4.5" : "0.3", logpath, tok[i]);
        assert_int_equal(jp_submit(s[i % pt->nproc].port, body, ids[i]), 202);
    }
    /* Kill process 0 once it is running some of them. */
    pid_t dead = s[0].pid;
    double t0 = corio_now();
    while (!log_has_pid(dead)) {
        assert_true(corio_now() - t0 < 20);
        corio_sleep(0.02);
    }
    corio_sleep(0.1);
    jp_kill9(&s[0]);
    /* Every job ends, in the survivors (asked through process 1). */
    int pending = pt->njobs;
    t0 = corio_now();
    while (pending) {
        assert_true(corio_now() - t0 < 60);
        corio_sleep(0.1);
        pending = 0;
        for (int i = 0; i < pt->njobs; i++) {
            json_t *j = jp_get_job(s[1].port, ids[i]);
            assert_non_null(j);
            const char *st = jp_str(j, "status");
            if (strcmp(st, "created") == 0 || strcmp(st, "running") == 0)
                pending++;
            json_decref(j);
        }
    }
    int taken_over = 0, finished_by_dead = 0;
    for (int i = 0; i < pt->njobs; i++) {
        json_t *j = jp_get_job(s[1].port, ids[i]);
        if (strcmp(jp_str(j, "status"), "succeeded") != 0)
            fprintf(stderr, "job %s (%s): %s\n", ids[i], tok[i],
                    json_dumps(j, 0));
        assert_string_equal(jp_str(j, "status"), "succeeded");
        int attempts = (int)json_integer_value(json_object_get(j, "attempts"));
        json_decref(j);
        int live_starts, dead_starts, live_ends, dead_ends;
        count_lines("start", tok[i], dead, &live_starts, &dead_starts);
        count_lines("end", tok[i], dead, &live_ends, &dead_ends);
        /* Never started twice anywhere alive, never twice by the dead
         * one. It ran to its end either in a live process (after the dead
         * one, if that had started it: attempts 2) or, before the kill, in
         * the dead one, whose outcome was then recorded (attempts 1). */
        if (live_starts > 1 || dead_starts > 1 ||
            (live_starts == 1 && live_ends != 1) ||
            (live_starts == 0 && (dead_starts != 1 || dead_ends != 1)))
            fprintf(stderr, "%s: live %d/%d, dead %d/%d, attempts %d\n",
                    tok[i], live_starts, live_ends, dead_starts, dead_ends,
                    attempts);
        assert_true(live_starts <= 1);
        assert_true(dead_starts <= 1);
        if (live_starts == 1) {
            assert_int_equal(live_ends, 1);
            /* 2 also when the dead one had claimed it but died before its
             * shell started. */
            assert_true(attempts >= 1 + dead_starts && attempts <= 2);
        } else {
            assert_int_equal(dead_starts, 1);
            assert_int_equal(dead_ends, 1);
            assert_int_equal(attempts, 1);
            finished_by_dead++;
            continue;
        }
        taken_over += dead_starts;
    }
    assert_true(taken_over >= 1); /* the kill did hit running jobs */
    fprintf(stderr, "# %d processes, %d jobs: %d finished by the killed one "
            "before it died, %d taken over from it\n", pt->nproc, pt->njobs,
            finished_by_dead, taken_over);
    for (int i = 1; i < pt->nproc; i++) {
        kill(s[i].pid, SIGTERM);
        assert_int_equal(jp_wait_exit(&s[i], 15), 0);
    }
    return NULL;
}

/* SIGTERM on a shared queue: the job that outlives the grace period goes
 * back to the queue (not interrupted), and the next process runs it. */
static void *handback_main(void *arg)
{
    fresh_table();
    const char *args[] = {"--db", url, "--grace", "0.3", NULL};
    jp_server a, b;
    jp_start(&a, bin, args);
    char id[64];
    assert_int_equal(jp_submit(a.port, "{\"type\":\"sleep\",\"seconds\":60}",
                               id), 202);
    json_t *j = NULL;
    double t0 = corio_now();
    for (;;) {
        j = jp_get_job(a.port, id);
        assert_non_null(j);
        if (strcmp(jp_str(j, "status"), "running") == 0)
            break;
        json_decref(j);
        assert_true(corio_now() - t0 < 10);
        corio_sleep(0.02);
    }
    json_decref(j);
    kill(a.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&a, 15), 0);
    jp_start(&b, bin, args);
    j = jp_get_job(b.port, id);
    assert_non_null(j);
    /* Handed back, or already claimed again by b. */
    const char *st = jp_str(j, "status");
    assert_true(strcmp(st, "created") == 0 || strcmp(st, "running") == 0);
    assert_true(json_is_null(json_object_get(j, "finished_at")));
    json_decref(j);
    t0 = corio_now();
    for (;;) {
        j = jp_get_job(b.port, id);
        if (strcmp(jp_str(j, "status"), "running") == 0 &&
            json_integer_value(json_object_get(j, "attempts")) == 2)
            break;
        json_decref(j);
        assert_true(corio_now() - t0 < 10);
        corio_sleep(0.02);
    }
    json_decref(j);
    /* DELETE ends it where it runs now. */
    char target[128];
    snprintf(target, sizeof target, "/jobs/%s", id);
    jp_reply r;
    assert_int_equal(jp_request(b.port, "DELETE", target, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(jp_str(r.json, "status"), "cancelled");
    jp_reply_free(&r);
    kill(b.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&b, 15), 0);
    return NULL;
}

static void sigterm_hands_jobs_back(void **state)
{
    assert_int_equal(tu_run(handback_main, NULL, NULL), 0);
}

/* DELETE through one process of a job another process runs: the holder
 * cancels it within about a second and the DELETE answers then. */
static void *remote_cancel_main(void *arg)
{
    fresh_table();
    const char *args1[] = {"--db", url, "--workers", "1", NULL};
    const char *args2[] = {"--db", url, "--workers", "1", NULL};
    jp_server a, b;
    jp_start(&a, bin, args1);
    char id[64];
    assert_int_equal(jp_submit(a.port, "{\"type\":\"sleep\",\"seconds\":60}",
                               id), 202);
    double t0 = corio_now();
    for (;;) {
        json_t *j = jp_get_job(a.port, id);
        int running = strcmp(jp_str(j, "status"), "running") == 0;
        json_decref(j);
        if (running)
            break;
        assert_true(corio_now() - t0 < 10);
        corio_sleep(0.02);
    }
    jp_start(&b, bin, args2);
    char target[128];
    snprintf(target, sizeof target, "/jobs/%s", id);
    jp_reply r;
    t0 = corio_now();
    assert_int_equal(jp_request(b.port, "DELETE", target, NULL, &r), 0);
    double took = corio_now() - t0;
    assert_int_equal(r.status, 200);
    assert_string_equal(jp_str(r.json, "status"), "cancelled");
    jp_reply_free(&r);
    /* Structural: a DELETE that waited for the job would take 60 s. */
    assert_true(took < 10);
    /* Again: already ended, 409. */
    assert_int_equal(jp_request(b.port, "DELETE", target, NULL, &r), 0);
    assert_int_equal(r.status, 409);
    jp_reply_free(&r);
    kill(a.pid, SIGTERM);
    kill(b.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&a, 15), 0);
    assert_int_equal(jp_wait_exit(&b, 15), 0);
    return NULL;
}

static void delete_from_another_process(void **state)
{
    assert_int_equal(tu_run(remote_cancel_main, NULL, NULL), 0);
}

/* ---- PostgreSQL restarts under a running process --------------------------------- */

/* Counts the log's lines "<what> <token> <pid>" for token, whoever ran it. */
static int count_any(const char *what, const char *token)
{
    int live, by_dead;
    if (access(logpath, F_OK) != 0)
        return 0; /* no job has started yet */
    count_lines(what, token, 0, &live, &by_dead);
    return live + by_dead;
}

/* A POST while PostgreSQL is down: an error with a JSON body, never 202. */
static void post_refused(int port, const char *body)
{
    jp_reply r;
    assert_int_equal(jp_request(port, "POST", "/jobs", body, &r), 0);
    if (r.status == 202)
        fprintf(stderr, "202 for a job that could not be stored: %s\n",
                r.head);
    assert_true(r.status == 500 || r.status == 503);
    assert_non_null(r.json);
    assert_true(json_is_string(json_object_get(r.json, "error")));
    jp_reply_free(&r);
}

/* PostgreSQL stops (fast: every session is ended) while one process has
 * jobs running and queued, and the running ones end during the outage;
 * then it starts again. The process stays up; POSTs during the outage
 * fail with a JSON error; after the restart every accepted job, including
 * those whose end could not be recorded at first, succeeds exactly once
 * (one start and one end in the log, attempts 1). */
static void *pg_restart_main(void *arg)
{
    (void)arg;
    enum { N = 8, WORKERS = 3 };
    fresh_table();
    snprintf(logpath, sizeof logpath, "%s/runs.log", dir);
    /* A lease far longer than the outage: nothing is taken over. */
    jp_server s;
    jp_start(&s, bin,
             (const char *[]){"--db", url, "--lease", "30", "--workers", "3",
                              "--grace", "5", "--allow-command", "/bin/sh",
                              NULL});
    char ids[N + 1][64], tok[N + 1][16], body[N + 1][512];
    for (int i = 0; i <= N; i++) {
        snprintf(tok[i], sizeof tok[i], "r%d", i);
        snprintf(body[i], sizeof body[i],
                 "{\"type\":\"command\",\"argv\":[\"/bin/sh\",\"-c\","
                 "\"echo start $0 $PPID >> %s; sleep 0.5; "
                 "echo end $0 $PPID >> %s\",\"%s\"]}",
                 logpath, logpath, tok[i]);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(jp_submit(s.port, body[i], ids[i]), 202);
    /* Stop PostgreSQL once the first jobs run (the rest are queued). */
    double t0 = corio_now();
    while (count_any("start", tok[0]) == 0) {
        assert_true(corio_now() - t0 < 20);
        corio_sleep(0.02);
    }
    assert_int_equal(dbs_pg_stop(), 0);
    assert_int_equal(kill(s.pid, 0), 0);
    post_refused(s.port, body[N]);
    /* Outage until every job that had started has ended: their ends could
     * not be recorded. */
    int started, ended;
    t0 = corio_now();
    for (;;) {
        started = ended = 0;
        for (int i = 0; i < N; i++) {
            started += count_any("start", tok[i]);
            ended += count_any("end", tok[i]);
        }
        if (started == ended)
            break;
        assert_true(corio_now() - t0 < 20);
        corio_sleep(0.05);
    }
    assert_true(started >= 1 && started <= WORKERS);
    post_refused(s.port, body[N]);
    assert_int_equal(kill(s.pid, 0), 0);
    assert_int_equal(dbs_pg_start_again(), 0);
    /* Accepted again once PostgreSQL is back. */
    t0 = corio_now();
    int refused = 0;
    for (;;) {
        int st = jp_submit(s.port, body[N], ids[N]);
        if (st == 202)
            break;
        assert_true(st == 500 || st == 503);
        refused++;
        assert_true(corio_now() - t0 < 20);
        corio_sleep(0.05);
    }
    /* Every accepted job succeeds, once. */
    t0 = corio_now();
    for (int i = 0; i <= N; i++) {
        json_t *j;
        for (;;) {
            j = jp_get_job(s.port, ids[i]);
            assert_non_null(j);
            const char *st = jp_str(j, "status");
            if (strcmp(st, "created") != 0 && strcmp(st, "running") != 0)
                break;
            if (corio_now() - t0 > 25)
                fprintf(stderr, "job %s (%s) still %s\n", ids[i], tok[i], st);
            json_decref(j);
            assert_true(corio_now() - t0 < 25);
            corio_sleep(0.05);
        }
        if (strcmp(jp_str(j, "status"), "succeeded") != 0)
            fprintf(stderr, "job %s (%s): %s\n", ids[i], tok[i],
                    json_dumps(j, 0));
        assert_string_equal(jp_str(j, "status"), "succeeded");
        assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
        json_decref(j);
        assert_int_equal(count_any("start", tok[i]), 1);
        assert_int_equal(count_any("end", tok[i]), 1);
    }
    fprintf(stderr, "# restart: %d jobs ended during the outage, %d POSTs "
            "refused after it\n", ended, refused);
    kill(s.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&s, 15), 0);
    return NULL;
}

static void postgresql_restarts_under_load(void **state)
{
    (void)state;
    assert_int_equal(tu_run(pg_restart_main, NULL, NULL), 0);
}

/* A claim whose answer was lost (the connection broke after its commit,
 * say PostgreSQL restarting): the job is running under this process in
 * the table, but nothing here runs it. Made by hand: a created job is
 * marked as claimed by the owner of a job the process does run. The
 * process's renewals must not keep it forever: it is handed back to the
 * queue and then runs (attempts 2), exactly once. */
static void *orphan_main(void *arg)
{
    (void)arg;
    fresh_table();
    jp_server s;
    jp_start(&s, bin, (const char *[]){"--db", url, "--lease", "30",
                                       "--workers", "1", NULL});
    char busy[64], orphan[64];
    assert_int_equal(jp_submit(s.port, "{\"type\":\"sleep\",\"seconds\":60}",
                               busy), 202);
    double t0 = corio_now();
    for (;;) {
        json_t *j = jp_get_job(s.port, busy);
        int running = strcmp(jp_str(j, "status"), "running") == 0;
        json_decref(j);
        if (running)
            break;
        assert_true(corio_now() - t0 < 10);
        corio_sleep(0.02);
    }
    /* The one worker is busy: this one stays created until made orphan. */
    assert_int_equal(jp_submit(s.port, "{\"type\":\"sleep\",\"seconds\":0.01}",
                               orphan), 202);
    char q[512];
    snprintf(q, sizeof q,
             "UPDATE corio_jobs SET status='running', attempts=1, "
             "owner=(SELECT owner FROM corio_jobs WHERE id='%s'), "
             "lease_until=clock_timestamp() + interval '30 s' "
             "WHERE id='%s' AND status='created'", busy, orphan);
    sql(q);
    json_t *j = jp_get_job(s.port, orphan);
    assert_string_equal(jp_str(j, "status"), "running");
    json_decref(j);
    /* Free the worker: the orphan runs once it is back in the queue. */
    char target[128];
    snprintf(target, sizeof target, "/jobs/%s", busy);
    jp_reply r;
    assert_int_equal(jp_request(s.port, "DELETE", target, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    jp_reply_free(&r);
    t0 = corio_now();
    for (;;) {
        j = jp_get_job(s.port, orphan);
        if (strcmp(jp_str(j, "status"), "succeeded") == 0)
            break;
        json_decref(j);
        /* A lease is 30 s: stuck past 10 s means renewed as if it ran. */
        assert_true(corio_now() - t0 < 10);
        corio_sleep(0.05);
    }
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    json_decref(j);
    kill(s.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&s, 15), 0);
    return NULL;
}

static void lost_claim_answer_is_handed_back(void **state)
{
    (void)state;
    assert_int_equal(tu_run(orphan_main, NULL, NULL), 0);
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/corio-jobs-pg-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void two_processes_one_killed(void **state)
{
    proc_test pt = {2, 24};
    assert_int_equal(tu_run(procs_main, &pt, NULL), 0);
}

static void three_processes_one_killed(void **state)
{
    proc_test pt = {3, 48};
    assert_int_equal(tu_run(procs_main, &pt, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claims_are_disjoint),
        cmocka_unit_test(expired_lease_taken_over_and_fenced),
        cmocka_unit_test(reclaim_by_the_same_process_fences_the_old_claim),
        cmocka_unit_test(late_renewal_keeps_the_job),
        cmocka_unit_test(max_attempts_then_interrupted),
        cmocka_unit_test(cancel_in_every_state),
        cmocka_unit_test(batch_all_or_nothing),
        cmocka_unit_test(open_errors),
        cmocka_unit_test(sigterm_hands_jobs_back),
        cmocka_unit_test(delete_from_another_process),
        cmocka_unit_test_setup_teardown(two_processes_one_killed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(three_processes_one_killed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(postgresql_restarts_under_load,
                                        setup, teardown),
        cmocka_unit_test(lost_claim_answer_is_handed_back),
    };
    int have_bin = jp_find_bin(bin, sizeof bin) == 0;
    if (!have_bin) {
        fprintf(stderr, "skipped: %s not built\n", bin);
        return 77;
    }
    int rc = dbs_pg_start(conninfo, sizeof conninfo);
    if (rc == 77)
        return 77;
    if (rc) {
        fprintf(stderr, "could not start PostgreSQL\n");
        return 1;
    }
    /* "host=DIR port=5432 user=postgres dbname=postgres" as a URL. */
    char host[256];
    if (sscanf(conninfo, "host=%255s", host) != 1)
        return 1;
    snprintf(url, sizeof url,
             "postgresql:///postgres?host=%s&port=5432&user=postgres", host);
    signal(SIGPIPE, SIG_IGN);
    if (getenv("CORIO_TEST_FILTER")) /* e.g. "postgresql_restarts*" */
        cmocka_set_test_filter(getenv("CORIO_TEST_FILTER"));
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    dbs_stop_all();
    return rc;
}
