/*
 * The group committer (apps/corio-jobs/commit.c): concurrent writers share
 * transactions; every writer learns its own transaction's outcome; a
 * cancelled or timed-out writer's job is still committed; close flushes.
 * A fake store counts transactions and injects delays and failures; the
 * last test runs against SQLite.
 */
#include "testutil.h"

#include "jobs.h"
#include "service.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a fake store ---------------------------------------------------------
 * write() runs on a pool thread: its counters are atomics. */
typedef struct fake {
    jobs_store base;
    atomic_int calls;       /* transactions */
    atomic_int rows;        /* writes in successful transactions */
    atomic_int max;         /* largest batch */
    int delay_us;           /* per transaction (an fsync) */
    atomic_int fail_call;   /* the call number that fails (1-based), 0: none */
    atomic_int gate;        /* while set, write() waits (a stuck fsync) */
    atomic_int entered;     /* write() calls that have started */
} fake;

/* Transactions under way (in fake_write), and claims that began while
 * another transaction was under way: such a claim could commit before a
 * write queued ahead of it. */
static atomic_int fake_open, fake_claims_early;

static int fake_write(jobs_store *s, const jobs_write *w, size_t n)
{
    fake *f = (fake *)s;
    atomic_fetch_add(&fake_open, 1);
    atomic_fetch_add(&f->entered, 1);
    while (atomic_load(&f->gate))
        usleep(200);
    int call = atomic_fetch_add(&f->calls, 1) + 1;
    if (f->delay_us)
        usleep((useconds_t)f->delay_us);
    atomic_fetch_sub(&fake_open, 1);
    if (call == atomic_load(&f->fail_call))
        return -EIO;
    atomic_fetch_add(&f->rows, (int)n);
    int m = atomic_load(&f->max);
    while ((int)n > m && !atomic_compare_exchange_weak(&f->max, &m, (int)n))
        ;
    return 0;
}

static void fake_close(jobs_store *s)
{
    (void)s;
}

static const jobs_store_ops fake_ops = {.name = "fake", .write = fake_write,
                                        .close = fake_close};

/* A store with write_claim: counts the claims each transaction carried
 * (claims[call - 1]) and claims nothing. */
static atomic_int fake_claims[64];

static int fake_write_claim(jobs_store *s, const jobs_write *w, size_t n,
                            jobs_claim_req *c, size_t nc)
{
    fake *f = (fake *)s;
    if (atomic_load(&fake_open) > 0 && nc > 0)
        atomic_fetch_add(&fake_claims_early, 1);
    int call = atomic_load(&f->calls); /* fake_write counts it */
    if (call < 64)
        atomic_store(&fake_claims[call], (int)nc);
    for (size_t i = 0; i < nc; i++) {
        c[i].v = NULL;
        c[i].n = 0;
        c[i].rc = 0;
    }
    return fake_write(s, w, n);
}

static const jobs_store_ops fake_claim_ops = {
    .name = "fake", .write = fake_write, .close = fake_close,
    .write_claim = fake_write_claim};

static void fake_init(fake *f, int delay_us)
{
    memset(f, 0, sizeof *f);
    f->base.ops = &fake_ops;
    f->delay_us = delay_us;
}

/* ---- shared test state ------------------------------------------------------ */
typedef struct ctx {
    fake f;
    jobs_committer *c;
    size_t max_batch;
    int nwriters;
    int ok, failed, interrupted; /* writer outcomes */
    int hooked_ok, hooked_fail;  /* hook calls by status */
    double timeout;              /* writers' scope; < 0: none */
} ctx;

static void hook(void *arg, int status, int kind, const jobs_job *job)
{
    ctx *x = arg;
    assert_int_equal(kind, JOBS_W_INSERT);
    assert_non_null(job);
    if (status == 0)
        x->hooked_ok++;
    else
        x->hooked_fail++;
}

static void *writer(void *arg)
{
    ctx *x = arg;
    jobs_job *j = jobs_job_new(JOBS_SLEEP, "{\"seconds\":0.0}");
    corio_scope sc;
    corio_scope_enter(&sc, x->timeout, 0);
    int rc = jobs_committer_submit(x->c, JOBS_W_INSERT, j, 1);
    corio_scope_exit(&sc);
    jobs_job_free(j); /* the committer took a copy */
    if (rc == 0)
        x->ok++;
    else if (rc == -ECANCELED || rc == -ETIMEDOUT)
        x->interrupted++;
    else
        x->failed++;
    return NULL;
}

static void *run_writers(void *arg)
{
    ctx *x = arg;
    jobs_committer_opts o = {.max_batch = x->max_batch, .hook = hook,
                             .hook_arg = x};
    assert_int_equal(jobs_committer_create(&x->c, &x->f.base, &o), 0);
    corio_task **t = calloc((size_t)x->nwriters, sizeof *t);
    for (int i = 0; i < x->nwriters; i++)
        t[i] = corio_spawn(writer, x);
    for (int i = 0; i < x->nwriters; i++)
        corio_await(t[i], NULL);
    free(t);
    assert_int_equal(jobs_committer_close(x->c), x->failed ? -EIO : 0);
    return NULL;
}

/* 200 concurrent writers against a 2 ms "fsync": a handful of
 * transactions, every job committed once. */
static void test_group_commit(void **state)
{
    ctx x = {.nwriters = 200, .timeout = -1};
    fake_init(&x.f, 2000);
    assert_int_equal(tu_run(run_writers, &x, NULL), 0);
    assert_int_equal(x.ok, 200);
    assert_int_equal(atomic_load(&x.f.rows), 200);
    assert_int_equal(x.hooked_ok, 200);
    /* The first writer commits alone; the rest pile up behind it. */
    assert_true(atomic_load(&x.f.calls) <= 10);
    assert_true(atomic_load(&x.f.max) >= 100);
}

/* max_batch 1: grouping off, one transaction per write (the benchmark's
 * "without group commit"). max_batch 7: no transaction is larger. */
static void test_max_batch(void **state)
{
    ctx x = {.nwriters = 50, .max_batch = 1, .timeout = -1};
    fake_init(&x.f, 0);
    assert_int_equal(tu_run(run_writers, &x, NULL), 0);
    assert_int_equal(x.ok, 50);
    assert_int_equal(atomic_load(&x.f.calls), 50);
    assert_int_equal(atomic_load(&x.f.max), 1);

    ctx y = {.nwriters = 50, .max_batch = 7, .timeout = -1};
    fake_init(&y.f, 1000);
    assert_int_equal(tu_run(run_writers, &y, NULL), 0);
    assert_int_equal(y.ok, 50);
    assert_int_equal(atomic_load(&y.f.rows), 50);
    assert_true(atomic_load(&y.f.max) <= 7);
    assert_true(atomic_load(&y.f.calls) >= 8);
}

/* A failing transaction fails exactly its own writers. Two batches of 50:
 * the first is held at the gate while the second forms behind it; then
 * the first transaction to reach the store fails. */
static void *failure_main(void *arg)
{
    ctx *x = arg;
    jobs_committer_opts o = {.hook = hook, .hook_arg = x};
    assert_int_equal(jobs_committer_create(&x->c, &x->f.base, &o), 0);
    corio_task *t[100];
    for (int i = 0; i < 50; i++)
        t[i] = corio_spawn(writer, x);
    while (atomic_load(&x->f.entered) < 1)
        corio_sleep(0.001);
    for (int i = 50; i < 100; i++)
        t[i] = corio_spawn(writer, x);
    while (atomic_load(&x->f.entered) < 2)
        corio_sleep(0.001);
    atomic_store(&x->f.gate, 0);
    for (int i = 0; i < 100; i++)
        corio_await(t[i], NULL);
    assert_int_equal(jobs_committer_close(x->c), -EIO);
    return NULL;
}

static void test_failure_is_per_batch(void **state)
{
    ctx x = {.timeout = -1};
    fake_init(&x.f, 0);
    atomic_store(&x.f.gate, 1);
    atomic_store(&x.f.fail_call, 1);
    assert_int_equal(tu_run(failure_main, &x, NULL), 0);
    assert_int_equal(atomic_load(&x.f.calls), 2);
    assert_int_equal(x.failed, 50);
    assert_int_equal(x.ok, 50);
    assert_int_equal(atomic_load(&x.f.rows), 50);
    assert_int_equal(x.hooked_ok, 50);
    assert_int_equal(x.hooked_fail, 50);
}

/* Writers time out while their transaction runs (held at the gate, so the
 * timeout surely comes first): they stop waiting, but every job is still
 * committed and seen by the hook; nothing leaks. */
static void *open_gate_later(void *arg)
{
    fake *f = arg;
    while (atomic_load(&f->entered) == 0) /* the transaction has started */
        corio_sleep(0.001);
    corio_sleep(0.05);
    atomic_store(&f->gate, 0);
    return NULL;
}

static void *interrupted_main(void *arg)
{
    ctx *x = arg;
    corio_task *opener = corio_spawn(open_gate_later, &x->f);
    run_writers(x);
    corio_await(opener, NULL);
    return NULL;
}

static void test_interrupted_writers(void **state)
{
    ctx x = {.nwriters = 20, .timeout = 0.01};
    fake_init(&x.f, 0);
    atomic_store(&x.f.gate, 1);
    assert_int_equal(tu_run(interrupted_main, &x, NULL), 0);
    assert_int_equal(x.interrupted, 20);
    assert_int_equal(x.ok, 0);
    assert_int_equal(atomic_load(&x.f.rows), 20);
    assert_int_equal(x.hooked_ok, 20);
}

/* Cancelling a waiting writer: same guarantee. */
static void *cancel_main(void *arg)
{
    ctx *x = arg;
    jobs_committer_opts o = {.hook = hook, .hook_arg = x};
    assert_int_equal(jobs_committer_create(&x->c, &x->f.base, &o), 0);
    corio_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = corio_spawn(writer, x);
    /* All five wait on one batch, whose transaction is held at the gate. */
    while (atomic_load(&x->f.entered) == 0)
        corio_sleep(0.001);
    for (int i = 0; i < 5; i++)
        corio_cancel(t[i]);
    for (int i = 0; i < 5; i++)
        corio_await(t[i], NULL);
    atomic_store(&x->f.gate, 0);
    assert_int_equal(jobs_committer_close(x->c), 0);
    return NULL;
}

static void test_cancelled_writers(void **state)
{
    ctx x = {.timeout = -1};
    fake_init(&x.f, 0);
    atomic_store(&x.f.gate, 1);
    assert_int_equal(tu_run(cancel_main, &x, NULL), 0);
    assert_int_equal(x.interrupted, 5);
    assert_int_equal(atomic_load(&x.f.rows), 5);
    assert_int_equal(x.hooked_ok, 5);
}

/* Claims riding on batches (jobs_committer_claim): an idle claim alone
 * never runs before its idle time is over (an idle service must not poll
 * in a loop); it rides on the next batch of writes; cancelled before its
 * batch starts, it leaves it; a batch that inserts jobs while an idle
 * claim waits in the next one makes that claim run at once. */
typedef struct clm {
    jobs_committer *c;
    double idle;
    unsigned seen;
    int rc, started;
    double took;
} clm;

static void *claimer(void *arg)
{
    clm *m = arg;
    jobs_job **v = NULL;
    size_t n = 0;
    double t0 = corio_now();
    m->rc = jobs_committer_claim(m->c, NULL, 8, m->idle, NULL, &m->seen,
                                 &m->started, &v, &n);
    m->took = corio_now() - t0;
    jobs_job_free_array(v, n);
    return NULL;
}

static void insert_one(jobs_committer *c)
{
    jobs_job *j = jobs_job_new(JOBS_SLEEP, "{\"seconds\":0.0}");
    assert_int_equal(jobs_committer_submit(c, JOBS_W_INSERT, j, 1), 0);
    jobs_job_free(j);
}

static void *claims_insert(void *arg)
{
    insert_one(arg);
    return NULL;
}

static void *claims_main(void *arg)
{
    fake *f = arg;
    jobs_committer *c = NULL;
    assert_int_equal(jobs_committer_create(&c, &f->base, NULL), 0);

    /* Alone and idle: nothing runs until its idle time is over. */
    clm a = {.c = c, .idle = 0.5};
    corio_task *t = corio_spawn(claimer, &a);
    for (int i = 0; i < 20; i++)
        corio_yield();
    assert_int_equal(atomic_load(&f->calls), 0);
    corio_await(t, NULL);
    assert_int_equal(a.rc, 0);
    assert_true(a.started);
    assert_true(a.took >= 0.45);
    assert_int_equal(atomic_load(&f->calls), 1);
    assert_int_equal(atomic_load(&fake_claims[0]), 1);

    /* Rides on the next write: one transaction for both. */
    clm b = {.c = c, .idle = 60, .seen = a.seen};
    t = corio_spawn(claimer, &b);
    for (int i = 0; i < 5; i++)
        corio_yield();
    insert_one(c);
    corio_await(t, NULL);
    assert_int_equal(b.rc, 0);
    assert_true(b.took < 30);
    assert_int_equal(atomic_load(&f->calls), 2);
    assert_int_equal(atomic_load(&fake_claims[1]), 1);

    /* Cancelled before its batch starts: it leaves the batch. */
    clm d = {.c = c, .idle = 60, .seen = b.seen};
    t = corio_spawn(claimer, &d);
    for (int i = 0; i < 5; i++)
        corio_yield();
    corio_cancel(t);
    corio_await(t, NULL);
    assert_int_equal(d.rc, -ECANCELED);
    assert_false(d.started);
    insert_one(c);
    assert_int_equal(atomic_load(&f->calls), 3);
    assert_int_equal(atomic_load(&fake_claims[2]), 0);

    /* A batch of inserts commits while an idle claim waits in the next
     * batch: the claim runs then, alone, not 60 s later. */
    atomic_store(&f->gate, 1);
    corio_task *w = corio_spawn(claims_insert, c);
    while (atomic_load(&f->entered) < 4)
        corio_sleep(0.001);
    /* As if its caller's claims had seen the two inserting batches so
     * far (else it would run at once: jobs were inserted since). */
    clm e = {.c = c, .idle = 60, .seen = 2};
    t = corio_spawn(claimer, &e);
    for (int i = 0; i < 5; i++)
        corio_yield();
    atomic_store(&f->gate, 0);
    corio_await(w, NULL);
    corio_await(t, NULL);
    assert_int_equal(e.rc, 0);
    assert_true(e.took < 30);
    assert_int_equal(atomic_load(&f->calls), 5);
    assert_int_equal(atomic_load(&fake_claims[4]), 1);
    assert_int_equal(jobs_committer_close(c), 0);
    return NULL;
}

static void test_claims(void **state)
{
    (void)state;
    fake f;
    fake_init(&f, 0);
    f.base.ops = &fake_claim_ops;
    assert_int_equal(tu_run(claims_main, &f, NULL), 0);
}

/* A claim never commits before a write queued ahead of it. A job's worker
 * slot is handed back before its outcome commits (runner.c), so that the
 * claim taking the slot shares that commit; when the outcome's batch has
 * already started, the claim goes into the next batch, which the second
 * committer used to run at once, beside it: the claim could commit first,
 * and the store showed more jobs running in a queue than its limit (4 in
 * a queue limited to 3, tests/test_jobs_pg_loops.c). */
static void *outcome_writer(void *arg)
{
    jobs_committer *c = arg;
    jobs_job *j = jobs_job_new(JOBS_SLEEP, "{\"seconds\":0.0}");
    assert_int_equal(jobs_committer_submit(c, JOBS_W_UPDATE, j, 1), 0);
    jobs_job_free(j);
    return NULL;
}

static void *claim_order_main(void *arg)
{
    fake *f = arg;
    jobs_committer *c = NULL;
    assert_int_equal(jobs_committer_create(&c, &f->base, NULL), 0);
    atomic_store(&fake_open, 0);
    atomic_store(&fake_claims_early, 0);
    for (int round = 0; round < 3; round++) {
        int e0 = atomic_load(&f->entered);
        /* The outcome's transaction is under way (stuck in its fsync). */
        atomic_store(&f->gate, 1);
        corio_task *w = corio_spawn(outcome_writer, c);
        while (atomic_load(&f->entered) < e0 + 1)
            corio_sleep(0.001);
        /* The claim that takes its slot, urgent: a new batch. */
        clm m = {.c = c, .idle = 0};
        corio_task *t = corio_spawn(claimer, &m);
        /* Give the other committer every chance to start it (it did so
         * at once before the fix). */
        double t0 = corio_now();
        while (atomic_load(&f->entered) < e0 + 2 &&
               corio_now() - t0 < 0.2 * tu_slack())
            corio_sleep(0.005);
        assert_int_equal(atomic_load(&f->entered), e0 + 1);
        atomic_store(&f->gate, 0);
        corio_await(w, NULL);
        corio_await(t, NULL);
        assert_int_equal(m.rc, 0);
        assert_true(m.started);
        assert_int_equal(atomic_load(&f->entered), e0 + 2);
    }
    assert_int_equal(atomic_load(&fake_claims_early), 0);
    /* Writes alone still overlap: two batches in flight at once. */
    atomic_store(&f->gate, 1);
    int e0 = atomic_load(&f->entered);
    corio_task *w1 = corio_spawn(outcome_writer, c);
    while (atomic_load(&f->entered) < e0 + 1)
        corio_sleep(0.001);
    corio_task *w2 = corio_spawn(outcome_writer, c);
    while (atomic_load(&f->entered) < e0 + 2)
        corio_sleep(0.001);
    atomic_store(&f->gate, 0);
    corio_await(w1, NULL);
    corio_await(w2, NULL);
    assert_int_equal(jobs_committer_close(c), 0);
    return NULL;
}

static void test_claim_after_writes(void **state)
{
    (void)state;
    fake f;
    fake_init(&f, 0);
    f.base.ops = &fake_claim_ops;
    assert_int_equal(tu_run(claim_order_main, &f, NULL), 0);
}

/* close flushes writes queued without waiting; later ones are refused. */
static void *close_main(void *arg)
{
    ctx *x = arg;
    jobs_committer_opts o = {.hook = hook, .hook_arg = x};
    assert_int_equal(jobs_committer_create(&x->c, &x->f.base, &o), 0);
    jobs_job *j = jobs_job_new(JOBS_HASH, "{\"bytes\":1}");
    for (int i = 0; i < 30; i++)
        assert_int_equal(jobs_committer_submit(x->c, JOBS_W_INSERT, j, 0), 0);
    jobs_commit_stats st;
    jobs_committer_stats(x->c, &st);
    assert_int_equal(st.writes, 0); /* nothing ran yet: we never yielded */
    /* close: flush, stop. */
    jobs_committer *c = x->c;
    assert_int_equal(jobs_committer_close(c), 0);
    jobs_job_free(j);
    return NULL;
}

static void test_close_flushes(void **state)
{
    ctx x = {.timeout = -1};
    fake_init(&x.f, 0);
    assert_int_equal(tu_run(close_main, &x, NULL), 0);
    assert_int_equal(atomic_load(&x.f.rows), 30);
    assert_int_equal(x.hooked_ok, 30);
    assert_int_equal(atomic_load(&x.f.calls), 1); /* one transaction */
}

static void *shutdown_main(void *arg)
{
    ctx *x = arg;
    assert_int_equal(jobs_committer_create(&x->c, &x->f.base, NULL), 0);
    jobs_job *j = jobs_job_new(JOBS_HASH, "{\"bytes\":1}");
    corio_task *w = corio_spawn(writer, x);
    corio_yield(); /* w is waiting now */
    /* Close while a writer waits: it is committed, then close returns. */
    assert_int_equal(jobs_committer_close(x->c), 0);
    corio_await(w, NULL);
    assert_int_equal(x->ok, 1);
    jobs_job_free(j);
    return NULL;
}

static void test_close_with_waiter(void **state)
{
    ctx x = {.timeout = -1};
    fake_init(&x.f, 5000);
    assert_int_equal(tu_run(shutdown_main, &x, NULL), 0);
    assert_int_equal(atomic_load(&x.f.rows), 1);
}

/* Outside a task: waiting is refused, queueing is fine. */
static void test_not_in_task(void **state)
{
    assert_int_equal(jobs_offload(NULL, NULL), -EPERM);
}

/* The real thing: SQLite with synchronous=FULL. */
static char dbdir[64];

static void *sqlite_main(void *arg)
{
    ctx *x = arg;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/jobs.db", dbdir);
    jobs_store *s;
    assert_int_equal(jobs_store_open(path, &s, err, sizeof err), 0);
    jobs_committer_opts o = {.hook = hook, .hook_arg = x};
    assert_int_equal(jobs_committer_create(&x->c, s, &o), 0);
    corio_task **t = calloc((size_t)x->nwriters, sizeof *t);
    double t0 = corio_now();
    for (int i = 0; i < x->nwriters; i++)
        t[i] = corio_spawn(writer, x);
    for (int i = 0; i < x->nwriters; i++)
        corio_await(t[i], NULL);
    double dt = corio_now() - t0;
    free(t);
    jobs_commit_stats st;
    jobs_committer_stats(x->c, &st);
    fprintf(stderr, "# %d durable jobs in %.1f ms, %llu transactions, "
            "largest %llu\n", x->nwriters, dt * 1e3,
            (unsigned long long)st.transactions,
            (unsigned long long)st.max_batch);
    assert_int_equal(jobs_committer_close(x->c), 0);
    uint64_t counts[JOBS_NSTATUS];
    assert_int_equal(s->ops->counts(s, counts), 0);
    assert_int_equal(counts[JOBS_CREATED], (uint64_t)x->nwriters);
    jobs_store_close(s);
    return NULL;
}

static void test_sqlite(void **state)
{
    strcpy(dbdir, "/tmp/corio-jobs-commit-XXXXXX");
    assert_non_null(mkdtemp(dbdir));
    ctx x = {.nwriters = tu_slow() ? 300 : 2000, .timeout = -1};
    assert_int_equal(tu_run(sqlite_main, &x, NULL), 0);
    assert_int_equal(x.ok, x.nwriters);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dbdir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_max_batch),
        cmocka_unit_test(test_failure_is_per_batch),
        cmocka_unit_test(test_interrupted_writers),
        cmocka_unit_test(test_cancelled_writers),
        cmocka_unit_test(test_close_flushes),
        cmocka_unit_test(test_close_with_waiter),
        cmocka_unit_test(test_not_in_task),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_claim_after_writes),
        cmocka_unit_test(test_sqlite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
