/*
 * corio-jobs on a damaged SQLite store: pages in the middle of a file with
 * thousands of jobs are overwritten, as a disk or a careless copy would.
 *   - The store refuses to open it, naming the file and the way to recover
 *     it (sqlite3 FILE .recover); with the startup check skipped or out of
 *     time it opens, and reading the damage is JOBS_ECORRUPT, not -EIO.
 *   - The corio-jobs binary refuses to start on it, with that message.
 *   - A file damaged while corio-jobs runs: the request that meets the
 *     damage gets a 503 saying so, /healthz turns 503, and no job is
 *     acknowledged (no 202) any more.
 * The binary is found as in test_jobs_e2e; its tests skip without it.
 */
#include "testutil.h"
#include "jobs_proc.h"

#include "jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NJOBS 5000
#define PAGE 4096 /* SQLite's default page size, which the store keeps */

static char dir[64];
static char path[128];
static char bin[PATH_MAX];

static int setup(void **state)
{
    strcpy(dir, "/tmp/corio-jobs-corrupt-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/corio-jobs.db", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A store of NJOBS finished jobs, closed (its WAL checkpointed into the
 * file). Finished, so that a server started on it has nothing to run. */
static void make_store(void)
{
    jobs_store *s;
    char err[512] = "";
    assert_int_equal(jobs_store_open(path, &s, err, sizeof err), 0);
    static jobs_job *v[500];
    static jobs_write w[500];
    for (int done = 0; done < NJOBS; done += 500) {
        for (int i = 0; i < 500; i++) {
            char spec[96];
            snprintf(spec, sizeof spec, "{\"seconds\":%d.5,\"note\":\"job "
                     "number %d of the corrupt-store test\"}", i, done + i);
            v[i] = jobs_job_new(JOBS_SLEEP, spec);
            assert_non_null(v[i]);
            v[i]->status = JOBS_SUCCEEDED;
            v[i]->finished_ms = v[i]->created_ms;
            jobs_job_set_result(v[i], "{\"ok\":true}");
            w[i] = (jobs_write){JOBS_W_INSERT, v[i]};
        }
        assert_int_equal(jobs_store_write(s, w, 500), 0);
        for (int i = 0; i < 500; i++)
            jobs_job_free(v[i]);
    }
    jobs_store_close(s);
}

/* Overwrites npages pages from the middle of the file with garbage (a
 * fixed pseudo-random pattern: the same damage every run). */
static void damage(int npages)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    long pages = (long)(st.st_size / PAGE);
    assert_true(pages > 4 * npages); /* "many jobs": a file of many pages */
    static unsigned char junk[PAGE];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    off_t first = (off_t)(pages / 2 - npages / 2) * PAGE;
    for (int i = 0; i < npages; i++)
        assert_int_equal(pwrite(fd, junk, PAGE, first + (off_t)i * PAGE),
                         PAGE);
    assert_int_equal(fsync(fd), 0);
    close(fd);
}

/* Reads every job, page by page of 1000: 0, or the first error. */
static int read_all(jobs_store *s)
{
    char after[JOBS_ID_LEN + 1] = "";
    for (;;) {
        jobs_job **v;
        size_t n;
        int rc = s->ops->list(s, -1, after[0] ? after : NULL, 1000, &v, &n);
        if (rc < 0)
            return rc;
        if (n)
            memcpy(after, v[n - 1]->id, sizeof after);
        jobs_job_free_array(v, n);
        if (n < 1000)
            return 0;
    }
}

/* ---- the store ------------------------------------------------------------ */

static void test_store_refuses_damage(void **state)
{
    make_store();
    /* Sound: opens, and reads whole. */
    jobs_store *s;
    char err[1024] = "";
    assert_int_equal(jobs_store_open(path, &s, err, sizeof err), 0);
    assert_int_equal(read_all(s), 0);
    jobs_store_close(s);

    damage(8);
    /* Before: it opened without a word, and listings stopped short. */
    int rc = jobs_store_open(path, &s, err, sizeof err);
    if (rc != JOBS_ECORRUPT)
        fprintf(stderr, "open: %d '%s'\n", rc, err);
    assert_int_equal(rc, JOBS_ECORRUPT);
    assert_null(s);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "damaged"));
    char hint[256];
    snprintf(hint, sizeof hint, "sqlite3 %s .recover", path);
    assert_non_null(strstr(err, hint));
    assert_string_equal(jobs_strerror(JOBS_ECORRUPT),
                        "the job store is damaged");

    /* Unchecked (the check skipped): it opens, and meeting the damage is
     * JOBS_ECORRUPT (before: -EIO, "Input/output error"). */
    jobs_store_opts o = {.check_timeout = -1};
    assert_int_equal(jobs_store_open_ex(path, &o, &s, err, sizeof err), 0);
    assert_non_null(s->repair);
    assert_non_null(strstr(s->repair, ".recover"));
    assert_string_equal(s->name, path);
    assert_int_equal(read_all(s), JOBS_ECORRUPT);
    jobs_store_close(s);
}

/* The check is bounded in time: with (almost) no time it is interrupted
 * and the store opens unchecked, saying so on stderr. (A sound file: the
 * progress handler stops the check deterministically in its row phase;
 * the watchdog that stops the b-tree walk races with a small file's walk.)
 * Before, nothing was checked and nothing said. */
static void open_hurried(void *arg)
{
    jobs_store *s;
    char err[1024] = "";
    jobs_store_opts o = {.check_timeout = 1e-9};
    if (jobs_store_open_ex(path, &o, &s, err, sizeof err) != 0)
        _exit(1);
    jobs_store_close(s);
    _exit(0);
}

static void test_check_is_bounded(void **state)
{
    make_store();
    char *err = NULL;
    int st = tu_fork_run(open_hurried, NULL, &err);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(err);
    assert_non_null(strstr(err, "did not finish within"));
    assert_non_null(strstr(err, path));
    free(err);
    /* With time, the same file is checked and opens quietly. */
    jobs_store *s;
    char e[1024] = "";
    assert_int_equal(jobs_store_open(path, &s, e, sizeof e), 0);
    jobs_store_close(s);
}

/* A file that is not a database at all (its header overwritten) is
 * refused the same way, not as a generic I/O error. */
static void test_store_header_damaged(void **state)
{
    make_store();
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    static const char junk[100] = "not the header of an SQLite file";
    assert_int_equal(pwrite(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    close(fd);
    jobs_store *s;
    char err[1024] = "";
    assert_int_equal(jobs_store_open(path, &s, err, sizeof err),
                     JOBS_ECORRUPT);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, ".recover"));
}

/* ---- the binary ----------------------------------------------------------- */

/* Runs bin with args until it exits (or `timeout`, then SIGKILL: the old
 * binary started on a damaged file and served). Returns its exit status,
 * -1 if killed; out gets its stdout and stderr. */
static int run_bin(const char *const *args, char *out, size_t cap,
                   double timeout)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    const char *argv[16] = {bin};
    int n = 1;
    for (; *args; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    int killed = 0;
    for (;;) {
        struct pollfd pf = {p[0], POLLIN, 0};
        if (poll(&pf, 1, (int)(timeout * 1000)) != 1) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        ssize_t r = read(p[0], out + len, cap - 1 - len);
        if (r <= 0 || (len += (size_t)r) == cap - 1)
            break;
    }
    out[len] = '\0';
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    return !killed && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_binary_refuses(void **state)
{
    if (jp_find_bin(bin, sizeof bin) < 0)
        skip();
    make_store();
    damage(8);
    char out[4096];
    int rc = run_bin((const char *[]){"--listen", "127.0.0.1:0", "--db", path,
                                      NULL},
                     out, sizeof out, tu_slow() ? 60 : 20);
    if (rc != 1)
        fprintf(stderr, "corio-jobs exit %d:\n%s\n", rc, out);
    assert_int_equal(rc, 1);
    assert_null(strstr(out, "listening"));
    assert_non_null(strstr(out, path));
    assert_non_null(strstr(out, "damaged"));
    assert_non_null(strstr(out, ".recover"));
}

/* Damage that appears while the server runs. */
static void *runtime_main(void *arg)
{
    jp_server s;
    jp_start(&s, bin, (const char *[]){"--db", path, NULL});
    jp_reply r;
    assert_int_equal(jp_request(s.port, "GET", "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    jp_reply_free(&r);

    damage(16);
    /* List everything: the listing that meets a damaged page says so. */
    char target[128] = "/jobs?limit=1000";
    int status = 0;
    for (int page = 0; page < NJOBS / 1000 + 1; page++) {
        assert_int_equal(jp_request(s.port, "GET", target, NULL, &r), 0);
        status = r.status;
        if (status != 200)
            break;
        const char *next = jp_str(r.json, "next");
        if (!next)
            break;
        snprintf(target, sizeof target, "/jobs?limit=1000&after=%s", next);
        jp_reply_free(&r);
    }
    /* Before: 500 "listing jobs failed: Input/output error". */
    if (status != 503)
        fprintf(stderr, "listing: %d %s\n", status, r.body.data);
    assert_int_equal(status, 503);
    assert_non_null(r.json);
    assert_non_null(strstr(jp_str(r.json, "error"), "damaged"));
    jp_reply_free(&r);

    /* Unhealthy now, and no job acknowledged into a damaged store. */
    assert_int_equal(jp_request(s.port, "GET", "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(jp_str(r.json, "status"), "store damaged");
    jp_reply_free(&r);
    assert_int_equal(jp_request(s.port, "POST", "/jobs",
                                "{\"type\":\"sleep\",\"seconds\":0}", &r),
                     0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.head, "application/json"));
    assert_non_null(strstr(jp_str(r.json, "error"), "damaged"));
    jp_reply_free(&r);

    /* The log said it once, with the file and the way out. */
    kill(s.pid, SIGTERM);
    char log[8192];
    size_t len = 0;
    double end = corio_now() + 10;
    while (len < sizeof log - 1 && corio_now() < end) {
        ssize_t k = read(s.err_fd, log + len, sizeof log - 1 - len);
        if (k > 0)
            len += (size_t)k;
        else if (k == 0)
            break;
        else
            corio_sleep(0.01);
    }
    log[len] = '\0';
    const char *said = strstr(log, "is damaged");
    assert_non_null(said);
    assert_null(strstr(said + 1, "is damaged"));
    assert_non_null(strstr(log, path));
    assert_non_null(strstr(log, ".recover"));
    jp_wait_exit(&s, 10);
    return NULL;
}

static void test_binary_runtime(void **state)
{
    if (jp_find_bin(bin, sizeof bin) < 0)
        skip();
    make_store();
    assert_int_equal(tu_run(runtime_main, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_refuses_damage, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_check_is_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_header_damaged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_binary_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_runtime, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
