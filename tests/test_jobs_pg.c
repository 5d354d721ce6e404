/*
 * corio-jobs on PostgreSQL with real processes: two and three corio-jobs
 * sharing one queue on a private PostgreSQL, one of them killed with
 * SIGKILL in the middle of its jobs; SIGTERM handing jobs back; DELETE
 * through another process; PostgreSQL restarting under a running process;
 * a claim whose answer was lost. With --threads 2 every loop is a
 * worker of its own (its own pool and owner name); test_jobs_pg_loops.c
 * checks what that adds.
 *
 * The processes run command jobs that log "start TOKEN PID" and
 * "end TOKEN PID" (PID: the corio-jobs running it). Every job must succeed
 * exactly once: run to its end by one process (the killed one only if it
 * recorded that before it died), never started twice by live processes;
 * the jobs the killed process held run again elsewhere (attempts 2).
 *
 * The store alone, without processes: test_jobs_pg_store.c.
 */
#include "testutil.h"
#include "jobs_pg_db.h"
#include "db_server.h"
#include "jobs_proc.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char bin[PATH_MAX];

/* ---- real processes ---------------------------------------------------------------- */

static char dir[64], logpath[128];

typedef struct proc_test {
    int nproc, njobs;
    const char *threads; /* --threads of every process */
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
    jpg_fresh_table();
    snprintf(logpath, sizeof logpath, "%s/runs.log", dir);
    /* A live process that stalls for a lease minus a renewal interval
     * loses its jobs, by design: another process runs them again, which
     * this test counts as a failure. With a 2 s lease that is 1.3 s of
     * stall, which a sanitized corio-jobs gets on a loaded 2-core machine
     * (a job started twice by live processes, 1 run in 20 under TSan at
     * load 20-25). The sanitized builds get a 4 s lease (3 s of stall);
     * the long jobs and the bounds scale with it. */
    int lease = tu_slow() ? 4 : 2;
    char lease_s[8], long_s[16];
    snprintf(lease_s, sizeof lease_s, "%d", lease);
    snprintf(long_s, sizeof long_s, "%.2f", 2.25 * lease);
    jp_server s[MAXP];
    for (int i = 0; i < pt->nproc; i++)
        jp_start(&s[i], bin,
                 (const char *[]){"--db", jpg_url, "--lease", lease_s, "--workers",
                                  "4", "--grace", "2", "--allow-command",
                                  "/bin/sh", "--threads", pt->threads, NULL});
    /* Each job logs its start and end with the pid of the corio-jobs that
     * runs it ($PPID of the shell); every eighth runs past two leases, so
     * it survives only if its process renews. */
    char ids[MAXJ][64], tok[MAXJ][16];
    for (int i = 0; i < pt->njobs; i++) {
        char body[512];
        snprintf(tok[i], sizeof tok[i], "t%d", i);
        snprintf(body, sizeof body,
                 "{\"type\":\"command\",\"argv\":[\"/bin/sh\",\"-c\","
                 "\"echo start $0 $PPID >> %s; sleep %s; "
                 "echo end $0 $PPID >> %s\",\"%s\"]}",
                 logpath, i % 8 == 0 ? long_s : "0.3", logpath, tok[i]);
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
        assert_true(corio_now() - t0 < 30.0 * lease);
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
    jpg_fresh_table();
    const char *args[] = {"--db", jpg_url, "--grace", "0.3", NULL};
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
    jpg_fresh_table();
    const char *args1[] = {"--db", jpg_url, "--workers", "1", NULL};
    const char *args2[] = {"--db", jpg_url, "--workers", "1", NULL};
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
    const char *threads = arg;
    enum { N = 8, WORKERS = 3 };
    jpg_fresh_table();
    snprintf(logpath, sizeof logpath, "%s/runs.log", dir);
    /* A lease far longer than the outage: nothing is taken over. */
    jp_server s;
    jp_start(&s, bin,
             (const char *[]){"--db", jpg_url, "--lease", "30", "--workers", "3",
                              "--grace", "5", "--allow-command", "/bin/sh",
                              "--threads", threads, NULL});
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
    fprintf(stderr, "# restart (%s thread(s)): %d jobs ended during the "
            "outage, %d POSTs refused after it\n", threads, ended, refused);
    kill(s.pid, SIGTERM);
    assert_int_equal(jp_wait_exit(&s, 15), 0);
    return NULL;
}

static void postgresql_restarts_under_load(void **state)
{
    (void)state;
    assert_int_equal(tu_run(pg_restart_main, "1", NULL), 0);
}

/* The same with two loops, each with its own pool (issue 14): both pools
 * lose every connection and both loops recover. */
static void postgresql_restarts_under_load_two_threads(void **state)
{
    (void)state;
    assert_int_equal(tu_run(pg_restart_main, "2", NULL), 0);
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
    jpg_fresh_table();
    jp_server s;
    jp_start(&s, bin, (const char *[]){"--db", jpg_url, "--lease", "30",
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
    jpg_sql(q);
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
    proc_test pt = {2, 24, "1"};
    assert_int_equal(tu_run(procs_main, &pt, NULL), 0);
}

/* The same with every process on two loops (issue 14): jobs run on both,
 * their outcomes recorded by each process's home loop. */
static void two_processes_one_killed_two_threads(void **state)
{
    proc_test pt = {2, 24, "2"};
    assert_int_equal(tu_run(procs_main, &pt, NULL), 0);
}

static void three_processes_one_killed(void **state)
{
    proc_test pt = {3, 48, "2"};
    assert_int_equal(tu_run(procs_main, &pt, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigterm_hands_jobs_back),
        cmocka_unit_test(delete_from_another_process),
        cmocka_unit_test_setup_teardown(two_processes_one_killed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(two_processes_one_killed_two_threads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(three_processes_one_killed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(postgresql_restarts_under_load,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            postgresql_restarts_under_load_two_threads, setup, teardown),
        cmocka_unit_test(lost_claim_answer_is_handed_back),
    };
    if (jp_find_bin(bin, sizeof bin) != 0) {
        fprintf(stderr, "skipped: %s not built\n", bin);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    return JPG_RUN_TESTS(tests);
}
