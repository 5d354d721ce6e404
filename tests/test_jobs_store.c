/*
 * corio-jobs' SQLite store (apps/corio-jobs/store_sqlite.c) through the store
 * interface: batches are atomic, rows round-trip, listing filters and pages,
 * recovery after a crash, persistence, the one-process lock, and readers on
 * other threads while a writer commits.
 */
#include "testutil.h"

#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char path[128];

static int setup(void **state)
{
    strcpy(dir, "/tmp/corio-jobs-store-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/jobs.db", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static jobs_store *open_store(void)
{
    jobs_store *s;
    char err[256] = "";
    int rc = jobs_store_open(path, &s, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "open: %d %s\n", rc, err);
    assert_int_equal(rc, 0);
    return s;
}

static jobs_job *mk(int type, const char *spec)
{
    jobs_job *j = jobs_job_new(type, spec);
    assert_non_null(j);
    return j;
}

static int insert(jobs_store *s, jobs_job **v, size_t n)
{
    jobs_write w[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        w[i].kind = JOBS_W_INSERT;
        w[i].job = v[i];
    }
    return s->ops->write(s, w, n);
}

static void assert_same(const jobs_job *a, const jobs_job *b)
{
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->status, b->status);
    assert_string_equal(a->spec, b->spec);
    if (a->result || b->result)
        assert_string_equal(a->result, b->result);
    if (a->error || b->error)
        assert_string_equal(a->error, b->error);
    assert_int_equal(a->attempts, b->attempts);
    assert_int_equal(a->created_ms, b->created_ms);
    assert_int_equal(a->started_ms, b->started_ms);
    assert_int_equal(a->finished_ms, b->finished_ms);
}

static void test_roundtrip(void **state)
{
    jobs_store *s = open_store();
    jobs_job *j = mk(JOBS_SLEEP, "{\"seconds\":1.5}");
    assert_int_equal(insert(s, &j, 1), 0);
    jobs_job *got;
    assert_int_equal(s->ops->get(s, j->id, &got), 0);
    assert_same(j, got);
    jobs_job_free(got);

    /* An update writes the mutable fields. */
    j->status = JOBS_SUCCEEDED;
    j->attempts = 1;
    j->started_ms = j->created_ms + 5;
    j->finished_ms = j->created_ms + 1500;
    assert_int_equal(jobs_job_set_result(j, "{\"slept\":1.5}"), 0);
    jobs_write w = {JOBS_W_UPDATE, j};
    assert_int_equal(s->ops->write(s, &w, 1), 0);
    assert_int_equal(s->ops->get(s, j->id, &got), 0);
    assert_same(j, got);
    jobs_job_free(got);

    assert_int_equal(s->ops->get(s, "01ARZ3NDEKTSV4RRFFQ69G5FAV", &got),
                     -ENOENT);
    assert_null(got);
    jobs_job_free(j);
    jobs_store_close(s);
}

/* A batch is one transaction: one bad write and none of it is kept. */
static void test_batch_atomic(void **state)
{
    jobs_store *s = open_store();
    jobs_job *v[3] = {mk(JOBS_HASH, "{\"bytes\":1}"), mk(JOBS_HASH, "{\"bytes\":2}"),
                      NULL};
    v[2] = jobs_job_clone(v[0]); /* duplicate id */
    assert_int_equal(insert(s, v, 3), -EEXIST);
    jobs_job *got;
    assert_int_equal(s->ops->get(s, v[0]->id, &got), -ENOENT);
    assert_int_equal(s->ops->get(s, v[1]->id, &got), -ENOENT);
    /* An update of an unknown id fails the batch too. */
    jobs_job *ghost = mk(JOBS_SLEEP, "{}");
    jobs_write w[2] = {{JOBS_W_INSERT, v[0]}, {JOBS_W_UPDATE, ghost}};
    assert_int_equal(s->ops->write(s, w, 2), -ENOENT);
    assert_int_equal(s->ops->get(s, v[0]->id, &got), -ENOENT);
    /* And the good part alone goes through. */
    assert_int_equal(insert(s, v, 2), 0);
    assert_int_equal(s->ops->get(s, v[1]->id, &got), 0);
    jobs_job_free(got);
    assert_int_equal(s->ops->write(s, NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        jobs_job_free(v[i]);
    jobs_job_free(ghost);
    jobs_store_close(s);
}

/* The attempt fence (jobs.h): a write that arrives after the job has moved
 * on changes nothing, and does not fail the batch it is in. Attempt 1 of a
 * job is cancelled and the job retried and started again (attempt 2): the
 * late outcome of attempt 1, or its late start, must not land on attempt
 * 2, nor a late start on the cancelled job; attempt 2's own outcome does. */
static void test_attempt_fence(void **state)
{
    jobs_store *s = open_store();
    jobs_job *j = mk(JOBS_SLEEP, "{}"), *other = mk(JOBS_SLEEP, "{}"), *got;
    jobs_job *v[2] = {j, other};
    assert_int_equal(insert(s, v, 2), 0);
    /* Attempt 1 starts (created, 0 -> running, 1). */
    jobs_job *start1 = jobs_job_clone(j);
    start1->prev_status = JOBS_CREATED;
    start1->status = JOBS_RUNNING;
    start1->attempts = 1;
    jobs_write w = {JOBS_W_UPDATE, start1};
    assert_int_equal(s->ops->write(s, &w, 1), 0);
    /* It is cancelled (running, 1 -> cancelled, 1), then retried. */
    jobs_job *cancel1 = jobs_job_clone(start1);
    cancel1->prev_status = JOBS_RUNNING;
    cancel1->status = JOBS_CANCELLED;
    cancel1->finished_ms = cancel1->created_ms + 10;
    w.job = cancel1;
    assert_int_equal(s->ops->write(s, &w, 1), 0);
    /* A late start of attempt 1 on the cancelled job: nothing. */
    w.job = start1;
    assert_int_equal(s->ops->write(s, &w, 1), 0);
    assert_int_equal(s->ops->get(s, j->id, &got), 0);
    assert_int_equal(got->status, JOBS_CANCELLED);
    jobs_job_free(got);
    assert_int_equal(s->ops->retry(s, j->id, 1, &got), 0);
    assert_int_equal(got->status, JOBS_CREATED);
    assert_int_equal(got->attempts, 1);
    jobs_job_free(got);
    /* The late start of attempt 1 again: the job is created, as attempt
     * 1's start expected, but at attempt 1, not 0: nothing. */
    w.job = start1;
    assert_int_equal(s->ops->write(s, &w, 1), 0);
    assert_int_equal(s->ops->get(s, j->id, &got), 0);
    assert_int_equal(got->status, JOBS_CREATED);
    jobs_job_free(got);
    /* Attempt 2 starts. */
    jobs_job *start2 = jobs_job_clone(start1);
    start2->attempts = 2;
    w.job = start2;
    assert_int_equal(s->ops->write(s, &w, 1), 0);
    /* Attempt 1's outcome arrives late, in a batch with another job's
     * (unfenced) update: the other write commits,
     * attempt 1's changes nothing. */
    jobs_job *late = jobs_job_clone(start1);
    late->prev_status = JOBS_RUNNING;
    late->status = JOBS_SUCCEEDED;
    late->finished_ms = late->created_ms + 20;
    assert_int_equal(jobs_job_set_result(late, "{\"attempt\":1}"), 0);
    other->status = JOBS_CANCELLED;
    jobs_write two[2] = {{JOBS_W_UPDATE, late}, {JOBS_W_UPDATE, other}};
    assert_int_equal(s->ops->write(s, two, 2), 0);
    assert_int_equal(s->ops->get(s, j->id, &got), 0);
    assert_int_equal(got->status, JOBS_RUNNING);
    assert_int_equal(got->attempts, 2);
    assert_null(got->result);
    jobs_job_free(got);
    assert_int_equal(s->ops->get(s, other->id, &got), 0);
    assert_int_equal(got->status, JOBS_CANCELLED);
    jobs_job_free(got);
    /* Attempt 2's outcome lands. */
    jobs_job *end2 = jobs_job_clone(start2);
    end2->prev_status = JOBS_RUNNING;
    end2->status = JOBS_SUCCEEDED;
    end2->finished_ms = end2->created_ms + 30;
    w.job = end2;
    assert_int_equal(s->ops->write(s, &w, 1), 0);
    assert_int_equal(s->ops->get(s, j->id, &got), 0);
    assert_int_equal(got->status, JOBS_SUCCEEDED);
    assert_int_equal(got->attempts, 2);
    jobs_job_free(got);
    jobs_job *v2[] = {start1, cancel1, start2, late, end2, j, other};
    for (size_t i = 0; i < sizeof v2 / sizeof *v2; i++)
        jobs_job_free(v2[i]);
    jobs_store_close(s);
}

static void test_list_and_counts(void **state)
{
    jobs_store *s = open_store();
    jobs_job *v[20];
    for (int i = 0; i < 20; i++) {
        v[i] = mk(JOBS_SLEEP, "{\"seconds\":0.0}");
        v[i]->status = i % 3 == 0 ? JOBS_RUNNING : JOBS_CREATED;
    }
    assert_int_equal(insert(s, v, 20), 0);
    jobs_job **out;
    size_t n;
    assert_int_equal(s->ops->list(s, -1, NULL, 100, &out, &n), 0);
    assert_int_equal(n, 20);
    for (size_t i = 0; i < n; i++) /* creation (id) order */
        assert_string_equal(out[i]->id, v[i]->id);
    jobs_job_free_array(out, n);
    /* Filter + limit + cursor. */
    assert_int_equal(s->ops->list(s, JOBS_RUNNING, NULL, 3, &out, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(out[0]->id, v[0]->id);
    assert_string_equal(out[2]->id, v[6]->id);
    char after[JOBS_ID_LEN + 1];
    strcpy(after, out[2]->id);
    jobs_job_free_array(out, n);
    assert_int_equal(s->ops->list(s, JOBS_RUNNING, after, 100, &out, &n), 0);
    assert_int_equal(n, 4); /* 9, 12, 15, 18 */
    assert_string_equal(out[0]->id, v[9]->id);
    jobs_job_free_array(out, n);
    assert_int_equal(s->ops->list(s, JOBS_FAILED, NULL, 100, &out, &n), 0);
    assert_int_equal(n, 0);
    jobs_job_free_array(out, n);
    assert_int_equal(s->ops->list(s, JOBS_NSTATUS, NULL, 1, &out, &n), -EINVAL);

    uint64_t c[JOBS_NSTATUS];
    assert_int_equal(s->ops->counts(s, c), 0);
    assert_int_equal(c[JOBS_RUNNING], 7);
    assert_int_equal(c[JOBS_CREATED], 13);
    assert_int_equal(c[JOBS_SUCCEEDED], 0);

    /* Newest first (the dashboard's list): filter, limit, cursor. */
    assert_int_equal(s->ops->list_desc(s, -1, NULL, 5, &out, &n), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(out[i]->id, v[19 - i]->id);
    jobs_job_free_array(out, n);
    assert_int_equal(s->ops->list_desc(s, JOBS_RUNNING, v[9]->id, 100, &out,
                                       &n), 0);
    assert_int_equal(n, 3); /* 6, 3, 0 */
    assert_string_equal(out[0]->id, v[6]->id);
    assert_string_equal(out[2]->id, v[0]->id);
    jobs_job_free_array(out, n);
    assert_int_equal(s->ops->list_desc(s, JOBS_NSTATUS, NULL, 1, &out, &n),
                     -EINVAL);

    /* Per queue, the waiting and running jobs only. */
    jobs_queue_count *q;
    assert_int_equal(s->ops->queue_counts(s, &q, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(q[0].queue, "default");
    assert_int_equal(q[0].created, 13);
    assert_int_equal(q[0].running, 7);
    assert_int_equal(q[0].scheduled, 0);
    free(q);
    jobs_job *w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = mk(JOBS_SLEEP, "{}");
        strcpy(w[i]->queue, i ? "mail" : "bulk");
    }
    w[0]->status = JOBS_SUCCEEDED; /* ended: not counted */
    w[1]->status = JOBS_SCHEDULED;
    assert_int_equal(insert(s, w, 3), 0);
    assert_int_equal(s->ops->queue_counts(s, &q, &n), 0);
    assert_int_equal(n, 2); /* by name; no "bulk" */
    assert_string_equal(q[0].queue, "default");
    assert_string_equal(q[1].queue, "mail");
    assert_int_equal(q[1].created, 1);
    assert_int_equal(q[1].scheduled, 1);
    assert_int_equal(q[1].running, 0);
    free(q);
    for (int i = 0; i < 3; i++)
        jobs_job_free(w[i]);
    for (int i = 0; i < 20; i++)
        jobs_job_free(v[i]);
    jobs_store_close(s);
}

/* Restart after a crash: running jobs become interrupted (default) or
 * created again; created ones are untouched; all of it persists. */
static void test_recover_and_persist(void **state)
{
    jobs_store *s = open_store();
    jobs_job *run = mk(JOBS_COMMAND, "{\"argv\":[\"true\"]}");
    run->status = JOBS_RUNNING;
    run->attempts = 1;
    run->started_ms = run->created_ms;
    jobs_job *queued = mk(JOBS_SLEEP, "{\"seconds\":1.0}");
    jobs_job *v[2] = {run, queued};
    assert_int_equal(insert(s, v, 2), 0);
    jobs_store_close(s); /* the "crash" */

    s = open_store();
    size_t n;
    assert_int_equal(s->ops->recover(s, JOBS_RECOVER_INTERRUPT, 12345, &n), 0);
    assert_int_equal(n, 1);
    jobs_job *got;
    assert_int_equal(s->ops->get(s, run->id, &got), 0);
    assert_int_equal(got->status, JOBS_INTERRUPTED);
    assert_int_equal(got->finished_ms, 12345);
    assert_non_null(got->error);
    jobs_job_free(got);
    assert_int_equal(s->ops->get(s, queued->id, &got), 0);
    assert_int_equal(got->status, JOBS_CREATED);
    jobs_job_free(got);
    assert_int_equal(s->ops->recover(s, JOBS_RECOVER_INTERRUPT, 1, &n), 0);
    assert_int_equal(n, 0);

    /* Requeue policy. */
    run->status = JOBS_RUNNING;
    jobs_write w = {JOBS_W_UPDATE, run};
    assert_int_equal(s->ops->write(s, &w, 1), 0);
    assert_int_equal(s->ops->recover(s, JOBS_RECOVER_REQUEUE, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(s->ops->get(s, run->id, &got), 0);
    assert_int_equal(got->status, JOBS_CREATED);
    assert_int_equal(got->started_ms, 0);
    assert_int_equal(got->attempts, 1);
    jobs_job_free(got);
    jobs_store_close(s);
    jobs_job_free(run);
    jobs_job_free(queued);
}

/* Only one process (or store) at a time on one file. */
static void test_single_owner(void **state)
{
    jobs_store *s = open_store(), *t;
    char err[256] = "";
    assert_int_equal(jobs_store_open(path, &t, err, sizeof err), -EBUSY);
    assert_non_null(strstr(err, "in use"));
    assert_null(t);
    jobs_store_close(s);
    t = open_store();
    jobs_store_close(t);
}

static void test_open_errors(void **state)
{
    jobs_store *s;
    char err[256] = "";
    /* PostgreSQL URLs go to the shared store (test_jobs_pg), which is
     * opened from a task (-EPERM here) and needs libpq at build time
     * (-EPROTONOSUPPORT without). */
    int rc = jobs_store_open("postgresql://localhost/x", &s, err, sizeof err);
    assert_true(rc == -EPERM || rc == -EPROTONOSUPPORT);
    assert_null(s);
    assert_true(strlen(err) > 0);
    assert_true(jobs_store_open("/nonexistent-dir/x/jobs.db", &s, err,
                                sizeof err) < 0);
    assert_true(strlen(err) > 0);
    assert_int_equal(jobs_store_open("", &s, err, sizeof err), -EINVAL);
    /* Not a database. */
    FILE *f = fopen(path, "w");
    fputs("this is not an SQLite file, not even close, at all........\n", f);
    fclose(f);
    assert_true(jobs_store_open(path, &s, err, sizeof err) < 0);
    unlink(path);
    /* sqlite: prefix. */
    char url[160];
    snprintf(url, sizeof url, "sqlite:%s", path);
    assert_int_equal(jobs_store_open(url, &s, err, sizeof err), 0);
    jobs_store_close(s);
    assert_int_equal(access(path, F_OK), 0);
}

/* Readers on other threads see only whole batches while a writer commits. */
typedef struct rd_arg {
    jobs_store *s;
    atomic_int stop;
    atomic_int bad;
    atomic_long reads;
} rd_arg;

static void *reader(void *p)
{
    rd_arg *a = p;
    while (!atomic_load(&a->stop)) {
        jobs_job **out;
        size_t n;
        if (a->s->ops->list(a->s, -1, NULL, 100000, &out, &n) != 0) {
            a->bad++;
            continue;
        }
        if (n % 10 != 0) /* batches of 10: never a part of one */
            a->bad++;
        jobs_job_free_array(out, n);
        a->reads++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    jobs_store *s = open_store();
    rd_arg a = {.s = s};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, &a), 0);
    /* The readers must be reading while the batches commit: on a loaded
     * machine they may not have run at all by the time 40 batches are in,
     * so wait (bounded) for their first read before writing. */
    for (int w = 0; w < 3000 && atomic_load(&a.reads) == 0; w++)
        usleep(10000);
    int batches = tu_slow() ? 10 : 40;
    for (int b = 0; b < batches; b++) {
        jobs_job *v[10];
        for (int i = 0; i < 10; i++)
            v[i] = mk(JOBS_HASH, "{\"bytes\":0}");
        assert_int_equal(insert(s, v, 10), 0);
        for (int i = 0; i < 10; i++)
            jobs_job_free(v[i]);
    }
    atomic_store(&a.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&a.bad), 0);
    assert_true(atomic_load(&a.reads) > 0);
    jobs_store_close(s);
}

static void test_ids(void **state)
{
    char prev[JOBS_ID_LEN + 1] = "";
    for (int i = 0; i < 5000; i++) {
        char id[JOBS_ID_LEN + 1];
        jobs_id_new(id);
        assert_int_equal(strlen(id), JOBS_ID_LEN);
        assert_true(jobs_id_valid(id));
        assert_true(strcmp(prev, id) < 0); /* strictly increasing */
        strcpy(prev, id);
    }
    assert_false(jobs_id_valid(""));
    assert_false(jobs_id_valid("01ARZ3NDEKTSV4RRFFQ69G5FA")); /* short */
    assert_false(jobs_id_valid("01ARZ3NDEKTSV4RRFFQ69G5FAVX"));
    assert_false(jobs_id_valid("01ARZ3NDEKTSV4RRFFQ69G5FAI")); /* no I */
    assert_false(jobs_id_valid("81ARZ3NDEKTSV4RRFFQ69G5FAV")); /* > 128 bits */
    assert_false(jobs_id_valid("../../etc/passwd.........."));
    char t[32];
    assert_string_equal(jobs_format_time(t, 1714564800123LL),
                        "2024-05-01T12:00:00.123Z");
    assert_string_equal(jobs_status_name(JOBS_INTERRUPTED), "interrupted");
    assert_int_equal(jobs_status_parse("cancelled"), JOBS_CANCELLED);
    assert_int_equal(jobs_status_parse("nope"), -EINVAL);
    assert_int_equal(jobs_type_parse("fetch"), JOBS_FETCH);
    assert_string_equal(jobs_type_name(99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attempt_fence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_and_persist, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_single_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
