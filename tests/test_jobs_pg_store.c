/*
 * corio-jobs' shared store (apps/corio-jobs/store_pg.c) against a private
 * PostgreSQL, driven as two "processes" in one test: two store objects,
 * each with its own owner id. What is checked: concurrent claims never
 * hand out a job twice; an expired lease is taken over and the old
 * holder's outcome is fenced off, also against the same process's
 * re-claim; a late renewal keeps the job; jobs whose holders keep dying
 * are given up after max_attempts; DELETE of created, running-elsewhere,
 * ended and unknown jobs; a batch is all or nothing.
 *
 * The real corio-jobs processes over the same store: test_jobs_pg.c.
 */
#include "testutil.h"
#include "db_server.h"
#include "jobs_pg_db.h"

#include "jobs.h"
#include "service.h"

#include <corio_pg.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------ */

static jobs_store *open_store(double lease, int max_attempts)
{
    jobs_store *s;
    char err[256] = "";
    jobs_store_opts o = {.lease = lease, .max_attempts = max_attempts};
    int rc = jobs_store_open_ex(jpg_url, &o, &s, err, sizeof err);
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
    assert_int_equal(s->ops->claim(s, NULL, max, v, &n), 0);
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
    jpg_fresh_table();
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
    jpg_fresh_table();
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
 * fenced off like another process's, and only the new claim's counts.
 * With the mutant JOBS_MUTANT_NO_ATTEMPT_FENCE (jobs.h) the fence compares
 * the owner and status only: attempt 1's outcome lands on attempt 2, which
 * this test must see (the mutation test of the fence where it carries the
 * weight: on a SQLite store one process orders its own writes). */
static void reclaim_by_the_same_process(int mutant)
{
    jpg_fresh_table();
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
    jobs_mutant = mutant;
    int rc = finish(a, v1[0], JOBS_FAILED);
    jobs_mutant = 0;
    assert_int_equal(rc, 0);
    jobs_job *j = get(a, id[0]);
    /* The mutant lets attempt 1's outcome through: found. */
    assert_int_equal(j->status, mutant ? JOBS_FAILED : JOBS_RUNNING);
    jobs_job_free(j);
    if (!mutant) {
        assert_int_equal(finish(a, v2[0], JOBS_SUCCEEDED), 0);
        j = get(a, id[0]);
        assert_int_equal(j->status, JOBS_SUCCEEDED);
        assert_int_equal(j->attempts, 2);
        jobs_job_free(j);
    }
    jobs_job_free_array(v1, 1);
    jobs_job_free_array(v2, 1);
    jobs_store_close(a);
    jobs_store_close(b);
}

TU_TASK_TEST(reclaim_by_the_same_process_fences_the_old_claim)
{
    reclaim_by_the_same_process(0);
    return NULL;
}

TU_TASK_TEST(mutant_attempt_fence_is_found_on_postgresql)
{
    reclaim_by_the_same_process(JOBS_MUTANT_NO_ATTEMPT_FENCE);
    return NULL;
}

/* A live holder whose lease ran out (the database was away longer than
 * the lease) keeps its job at its next renewal, as long as nobody reaped
 * the job first: the renewal extends before it reaps. */
TU_TASK_TEST(late_renewal_keeps_the_job)
{
    jpg_fresh_table();
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
    jpg_fresh_table();
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
    jpg_fresh_table();
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
    jpg_fresh_table();
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
    /* The dashboard's reads: newest first, and the counts per queue. */
    assert_int_equal(a->ops->list_desc(a, JOBS_CREATED, NULL, 10, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_true(strcmp(v[0]->id, v[1]->id) > 0);
    char older[JOBS_ID_LEN + 1];
    strcpy(older, v[1]->id);
    jobs_job **v2;
    size_t n2;
    assert_int_equal(a->ops->list_desc(a, -1, v[0]->id, 10, &v2, &n2), 0);
    assert_true(n2 >= 1);
    assert_string_equal(v2[0]->id, older);
    jobs_job_free_array(v2, n2);
    jobs_job_free_array(v, n);
    uint64_t c[JOBS_NSTATUS];
    assert_int_equal(a->ops->counts(a, c), 0);
    jobs_queue_count *q;
    assert_int_equal(a->ops->queue_counts(a, &q, &n), 0);
    uint64_t created = 0, running = 0;
    for (size_t i = 0; i < n; i++) {
        created += q[i].created;
        running += q[i].running;
    }
    free(q);
    assert_int_equal(created, c[JOBS_CREATED]);
    assert_int_equal(running, c[JOBS_RUNNING]);
    jobs_job_free(fresh);
    jobs_job_free(dup);
    jobs_store_close(a);
    return NULL;
}

/* A batch of outcomes and a renewal lock the same rows (this process's
 * running jobs); they must lock them in the same order, or each can hold
 * a row the other waits for: PostgreSQL then fails one of them with
 * "deadlock detected" after deadlock_timeout (1 s), and under load that
 * stalled the whole queue. Staged with a third connection holding job 2:
 * the renewal locks job 1 and waits at 2; the batch (outcomes of 3, then
 * 1) locks 3 and waits at 1; job 2 is let go, and the renewal reaches 3.
 * Before the fix (the batch in submission order, the renewal in scan
 * order) one of the two failed with -EIO. Now the batch goes in id order
 * and the renewal skips locked rows (it extends job 2's lease next time)
 * but still reports job 2 as held. */
typedef struct lock_call {
    jobs_store *s;
    jobs_write w[2];
    int rc;
    jobs_held *held;
    size_t n;
} lock_call;

static void *renew_task(void *arg)
{
    lock_call *c = arg;
    c->rc = c->s->ops->renew(c->s, &c->held, &c->n);
    return NULL;
}

static void *write_task(void *arg)
{
    lock_call *c = arg;
    c->rc = c->s->ops->write(c->s, c->w, 2);
    return NULL;
}

TU_TASK_TEST(outcomes_and_renewal_lock_in_one_order)
{
    jpg_fresh_table();
    jobs_store *a = open_store(30, 3);
    char id[3][JOBS_ID_LEN + 1];
    insert(a, 3, id);
    jobs_job **v;
    assert_int_equal(claim(a, 3, &v), 3); /* in id order */
    corio_pg *x;
    char *why = NULL;
    assert_int_equal(corio_pg_connect(&x, jpg_conninfo, &why), 0);
    PGresult *r = NULL;
    assert_int_equal(corio_pg_query(x, &r, "BEGIN", 0, NULL), 0);
    PQclear(r);
    const char *p[1] = {v[1]->id};
    assert_int_equal(corio_pg_query(x, &r, "SELECT 1 FROM corio_jobs WHERE "
                                    "id=$1 FOR UPDATE", 1, p), 0);
    PQclear(r);
    static lock_call rn, wr;
    memset(&rn, 0, sizeof rn);
    memset(&wr, 0, sizeof wr);
    rn.s = wr.s = a;
    for (int i = 0; i < 3; i += 2) {
        v[i]->status = JOBS_SUCCEEDED;
        v[i]->finished_ms = jobs_now_ms();
    }
    wr.w[0] = (jobs_write){JOBS_W_UPDATE, v[2]};
    wr.w[1] = (jobs_write){JOBS_W_UPDATE, v[0]};
    corio_task *tr = corio_spawn(renew_task, &rn);
    corio_sleep(0.3 * tu_slack()); /* before: the renewal holds 1, waits
                                      for 2 */
    corio_task *tw = corio_spawn(write_task, &wr);
    corio_sleep(0.3 * tu_slack()); /* the batch waits for 1 (fixed) or
                                      holds 3 and waits for 1 (before) */
    assert_int_equal(corio_pg_query(x, &r, "COMMIT", 0, NULL), 0);
    PQclear(r);
    corio_pg_close(x);
    assert_int_equal(corio_await(tr, NULL), 0);
    assert_int_equal(corio_await(tw, NULL), 0);
    assert_int_equal(rn.rc, 0);
    assert_int_equal(wr.rc, 0);
    assert_int_equal(rn.n, 3); /* it renewed all three, then the batch ran */
    jobs_job *j = get(a, id[0]);
    assert_int_equal(j->status, JOBS_SUCCEEDED);
    jobs_job_free(j);
    j = get(a, id[1]);
    assert_int_equal(j->status, JOBS_RUNNING);
    jobs_job_free(j);
    free(rn.held);
    jobs_job_free_array(v, 3);
    jobs_store_close(a);
    return NULL;
}

/* Outcomes go as one UPDATE per batch, each column a text[] literal: text
 * with quotes, backslashes, braces, commas and the word NULL comes back as
 * it went, a NULL stays NULL, and a job of the batch taken over by another
 * process is left as that process has it while the others are recorded. */
TU_TASK_TEST(outcomes_batched_round_trip)
{
    jpg_fresh_table();
    jobs_store *a = open_store(30, 3);
    char id[3][JOBS_ID_LEN + 1];
    insert(a, 3, id);
    jobs_job **v;
    assert_int_equal(claim(a, 3, &v), 3);
    char q[256];
    snprintf(q, sizeof q, "UPDATE corio_jobs SET owner = 'elsewhere' WHERE "
             "id = '%s'", id[1]);
    jpg_sql(q);
    const char *odd = "{\"a\": \"q\\\"uote\\\\ {x,y} NULL\", \"b\": null}";
    const char *why = "bad \"input\" \\ {1,2}";
    for (int i = 0; i < 3; i++) {
        v[i]->status = i == 2 ? JOBS_FAILED : JOBS_SUCCEEDED;
        v[i]->finished_ms = jobs_now_ms();
    }
    jobs_job_set_result(v[0], odd);
    jobs_job_set_error(v[2], why);
    /* In reverse id order: the store sorts them. */
    jobs_write w[3] = {{JOBS_W_UPDATE, v[2]}, {JOBS_W_UPDATE, v[1]},
                       {JOBS_W_UPDATE, v[0]}};
    assert_int_equal(a->ops->write(a, w, 3), 0);
    jobs_job *j = get(a, id[0]);
    assert_int_equal(j->status, JOBS_SUCCEEDED);
    assert_string_equal(j->result, odd);
    assert_null(j->error);
    jobs_job_free(j);
    j = get(a, id[1]);
    assert_int_equal(j->status, JOBS_RUNNING); /* fenced off */
    jobs_job_free(j);
    j = get(a, id[2]);
    assert_int_equal(j->status, JOBS_FAILED);
    assert_null(j->result);
    assert_string_equal(j->error, why);
    assert_true(j->finished_ms > 0);
    jobs_job_free(j);
    jobs_job_free_array(v, 3);
    jobs_store_close(a);
    return NULL;
}

/* PostgreSQL's data-corruption errors (SQLSTATE XX001 data_corrupted,
 * XX002 index_corrupted) are JOBS_ECORRUPT, and mark the store damaged,
 * not a generic -EIO. The server's damage is simulated by triggers that
 * raise those SQLSTATEs. (Before: -EIO.) */
typedef struct pg_call {
    jobs_store *s;
    jobs_job *j;
} pg_call;

static int call_finish(void *arg)
{
    pg_call *c = arg;
    return finish(c->s, c->j, JOBS_SUCCEEDED);
}

TU_TASK_TEST(corruption_reported)
{
    jpg_fresh_table();
    jobs_store *a = open_store(30, 3);
    char id[1][JOBS_ID_LEN + 1];
    insert(a, 1, id);
    jobs_job **v;
    assert_int_equal(claim(a, 1, &v), 1); /* an update this process may do */
    jobs_job *j = v[0];
    free(v);
    jpg_sql("CREATE OR REPLACE FUNCTION corio_test_xx001() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not read "
            "block 7' USING ERRCODE = 'XX001'; END $$");
    jpg_sql("CREATE OR REPLACE FUNCTION corio_test_xx002() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'index is "
            "corrupted' USING ERRCODE = 'XX002'; END $$");
    jpg_sql("CREATE TRIGGER corio_test_upd BEFORE UPDATE ON corio_jobs FOR "
            "EACH ROW EXECUTE FUNCTION corio_test_xx001()");
    jpg_sql("CREATE TRIGGER corio_test_ins BEFORE INSERT ON corio_jobs FOR "
            "EACH ROW EXECUTE FUNCTION corio_test_xx002()");
    assert_int_equal(finish(a, j, JOBS_SUCCEEDED), JOBS_ECORRUPT);
    jobs_job *fresh = jobs_job_new(JOBS_SLEEP, "{\"seconds\":1}");
    jobs_write w = {JOBS_W_INSERT, fresh};
    assert_int_equal(a->ops->write(a, &w, 1), JOBS_ECORRUPT);
    jobs_job_free(fresh);
    /* Through the service's door: the store is marked damaged. */
    assert_false(a->damaged);
    pg_call c = {a, j};
    assert_int_equal(jobs_store_call(a, call_finish, &c), JOBS_ECORRUPT);
    assert_true(a->damaged);
    assert_non_null(strstr(a->repair, "REINDEX"));
    /* Other errors stay what they were. */
    jpg_sql("DROP TRIGGER corio_test_upd ON corio_jobs");
    jpg_sql("DROP TRIGGER corio_test_ins ON corio_jobs");
    assert_int_equal(finish(a, j, JOBS_SUCCEEDED), 0);
    jobs_job_free(j);
    jobs_store_close(a);
    return NULL;
}

/* ---- /metrics' counts: a recount in flight loses nothing ------------------------- */

/* The service recounts the table's jobs by status every counts_every
 * seconds and adds its own changes in between. The recount suspends (a
 * query): completions recorded while it is in flight must survive it.
 * The store's counts() is wrapped to hold the recount, after its query,
 * until the test has finished jobs meanwhile; the next recount's entry
 * then records what the service counted. */
static const jobs_store_ops *real_ops;
static jobs_store_ops slow_ops;
static jobs_service *cnt_svc;
static int cnt_armed, cnt_calls, cnt_hold, cnt_held;
static uint64_t cnt_seen[8]; /* succeeded at the entry of call k */

static int slow_counts(jobs_store *s, uint64_t counts[JOBS_NSTATUS])
{
    if (!cnt_armed) /* the service's own opening count */
        return real_ops->counts(s, counts);
    jobs_service_stats st;
    jobs_service_stats_get(cnt_svc, &st);
    int k = cnt_calls++;
    if (k < 8)
        cnt_seen[k] = st.by_status[JOBS_SUCCEEDED];
    int rc = real_ops->counts(s, counts);
    if (cnt_hold) {
        cnt_held = 1;
        while (cnt_hold) /* the test finishes jobs meanwhile */
            corio_sleep(0.02);
        cnt_held = 0;
    }
    return rc;
}

TU_TASK_TEST(counts_recount_in_flight_keeps_completions)
{
    jpg_fresh_table();
    jobs_store *st = open_store(3, 3);
    real_ops = st->ops;
    slow_ops = *st->ops;
    slow_ops.counts = slow_counts;
    st->ops = &slow_ops;
    cnt_calls = 0;
    jobs_service_opts o = {.workers = 4, .lease = 1.5, .poll = 0.05,
                           .counts_every = 0.01};
    char err[256] = "";
    int rc = jobs_service_open(&cnt_svc, st, &o, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "service: %s\n", err);
    assert_int_equal(rc, 0);
    const jobs_api *api = jobs_service_api(cnt_svc);
    cnt_hold = 1;
    cnt_armed = 1;
    double deadline = corio_now() + 30 * tu_slack();
    while (!cnt_held) { /* a recount has read the table and is held */
        assert_true(corio_now() < deadline);
        corio_sleep(0.02);
    }
    enum { N = 12 };
    for (int i = 0; i < N; i++) {
        jobs_job *j = jobs_job_new(JOBS_SLEEP, "{\"seconds\":0}");
        assert_non_null(j);
        char existing[JOBS_ID_LEN + 1];
        assert_int_equal(api->submit(api->ctx, j, existing), 0);
    }
    jobs_service_stats ss;
    for (;;) { /* every job has succeeded, recorded while held */
        jobs_service_stats_get(cnt_svc, &ss);
        if (ss.by_status[JOBS_SUCCEEDED] == N)
            break;
        assert_true(corio_now() < deadline);
        corio_sleep(0.02);
    }
    int held_call = cnt_calls;
    cnt_hold = 0;
    while (cnt_calls <= held_call) { /* the next recount has begun */
        assert_true(corio_now() < deadline);
        corio_sleep(0.02);
    }
    assert_true(held_call < 8);
    /* What the service counted once the held recount had returned: before
     * the fix, the recount's snapshot (no job succeeded) overwrote it. */
    assert_int_equal(cnt_seen[held_call], N);
    jobs_service_stats_get(cnt_svc, &ss);
    assert_int_equal(ss.by_status[JOBS_SUCCEEDED], N);
    jobs_service_drain(cnt_svc, 5);
    jobs_service_close(cnt_svc);
    cnt_armed = 0;
    st->ops = real_ops;
    jobs_store_close(st);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claims_are_disjoint),
        cmocka_unit_test(expired_lease_taken_over_and_fenced),
        cmocka_unit_test(reclaim_by_the_same_process_fences_the_old_claim),
        cmocka_unit_test(mutant_attempt_fence_is_found_on_postgresql),
        cmocka_unit_test(late_renewal_keeps_the_job),
        cmocka_unit_test(max_attempts_then_interrupted),
        cmocka_unit_test(cancel_in_every_state),
        cmocka_unit_test(batch_all_or_nothing),
        cmocka_unit_test(outcomes_and_renewal_lock_in_one_order),
        cmocka_unit_test(outcomes_batched_round_trip),
        cmocka_unit_test(corruption_reported),
        cmocka_unit_test(open_errors),
        cmocka_unit_test(counts_recount_in_flight_keeps_completions),
    };
    return JPG_RUN_TESTS(tests);
}
