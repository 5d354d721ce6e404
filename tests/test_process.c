/* Subprocesses: pipes, exit codes and signals, deadlines, communicate
 * (big input/output, limits), cancellation of a blocked pipe writer, env
 * and cwd, /dev/null, never reaping foreign children, and 1,000 children
 * at once. */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <stdio.h>
#include <unistd.h>

static void *echo_main(void *arg)
{
    const char *argv[] = {"echo", "hello", "world", NULL};
    corio_process_opts o = {.stdout_mode = CORIO_STDIO_PIPE};
    corio_process *p;
    char buf[64];
    size_t len;
    int st = -1;
    assert_int_equal(corio_process_spawn(&p, argv, &o), 0);
    assert_true(corio_process_pid(p) > 0);
    assert_null(corio_process_stdin(p));
    assert_int_equal(corio_stream_readline(corio_process_stdout(p), buf, sizeof buf, &len), 0);
    assert_int_equal(len, 12);
    assert_memory_equal(buf, "hello world\n", 12);
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_int_equal(st, 0);
    /* Waiting again returns the same status at once. */
    st = -1;
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_int_equal(st, 0);
    assert_int_equal(corio_process_kill(p, SIGTERM), -ESRCH);
    corio_process_close(p);
    return NULL;
}

static void test_echo(void **state)
{
    assert_int_equal(tu_run(echo_main, NULL, NULL), 0);
}

static void *status_main(void *arg)
{
    corio_process *p;
    const char *sleeper[] = {"sleep", "30", NULL};
    int st;
    assert_int_equal(corio_process_spawn_shell(&p, "exit 3", NULL), 0);
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_int_equal(st, 3);
    corio_process_close(p);
    assert_int_equal(corio_process_spawn(&p, sleeper, NULL), 0);
    assert_int_equal(corio_process_terminate(p), 0);
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_int_equal(st, -SIGTERM);
    corio_process_close(p);
    return NULL;
}

static void test_exit_status_and_signal(void **state)
{
    assert_int_equal(tu_run(status_main, NULL, NULL), 0);
}

/* A child that never exits is killed at a deadline. */
static void *deadline_main(void *arg)
{
    const char *argv[] = {"sleep", "1000", NULL};
    corio_process *p;
    corio_scope sc;
    int st = 0;
    double t0 = corio_now();
    assert_int_equal(corio_process_spawn(&p, argv, NULL), 0);
    corio_scope_enter(&sc, 0.05, 0);
    assert_int_equal(corio_process_wait(p, &st), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&sc), 1);
    assert_int_equal(corio_process_kill(p, SIGKILL), 0);
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_int_equal(st, -SIGKILL);
    assert_true(corio_now() - t0 < 5);
    corio_process_close(p);
    return NULL;
}

static void test_killed_at_deadline(void **state)
{
    assert_int_equal(tu_run(deadline_main, NULL, NULL), 0);
}

static void *communicate_main(void *arg)
{
    const char *argv[] = {"sh", "-c", "cat; echo oops >&2; exit 4", NULL};
    corio_process_opts o = {.stdin_mode = CORIO_STDIO_PIPE,
                            .stdout_mode = CORIO_STDIO_PIPE,
                            .stderr_mode = CORIO_STDIO_PIPE};
    corio_process *p;
    size_t big = 2u << 20, i, olen, elen;
    char *in = malloc(big), *out, *err;
    int st;
    for (i = 0; i < big; i++)
        in[i] = (char)('a' + i % 26);
    /* 2 MiB each way through 64 KiB pipes: only works if reading and
     * writing overlap. */
    assert_int_equal(corio_process_spawn(&p, argv, &o), 0);
    assert_int_equal(corio_process_communicate(p, in, big, &out, &olen, &err, &elen, 0), 0);
    assert_int_equal(olen, big);
    assert_memory_equal(out, in, big);
    assert_string_equal(err, "oops\n");
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_int_equal(st, 4);
    free(out);
    free(err);
    corio_process_close(p);
    free(in);
    return NULL;
}

static void test_communicate(void **state)
{
    assert_int_equal(tu_run(communicate_main, NULL, NULL), 0);
}

static void *limit_main(void *arg)
{
    const char *argv[] = {"sh", "-c", "head -c 300000 /dev/zero", NULL};
    corio_process_opts o = {.stdout_mode = CORIO_STDIO_PIPE};
    corio_process *p;
    char *out;
    size_t olen;
    assert_int_equal(corio_process_spawn(&p, argv, &o), 0);
    /* Input for a child without a stdin pipe is refused. */
    assert_int_equal(corio_process_communicate(p, "x", 1, &out, &olen, NULL, NULL, 0),
                     -EINVAL);
    assert_int_equal(corio_process_communicate(p, NULL, 0, &out, &olen, NULL, NULL, 1000),
                     CORIO_ETOOLONG);
    assert_int_equal(olen, 1000);
    free(out);
    corio_process_close(p);
    return NULL;
}

static void test_communicate_limit(void **state)
{
    assert_int_equal(tu_run(limit_main, NULL, NULL), 0);
}

/* A writer blocked on a full pipe is released by cancellation. */
static void *flood(void *arg)
{
    corio_process *p = arg;
    size_t n = 8u << 20;
    char *buf = calloc(1, n);
    int rc = corio_stream_write(corio_process_stdin(p), buf, n);
    free(buf);
    return corio_fail(rc == 0 ? -EPROTO : rc);
}

static void *full_pipe_main(void *arg)
{
    const char *argv[] = {"sleep", "1000", NULL}; /* never reads stdin */
    corio_process_opts o = {.stdin_mode = CORIO_STDIO_PIPE};
    corio_process *p;
    corio_task *w;
    int st;
    assert_int_equal(corio_process_spawn(&p, argv, &o), 0);
    w = corio_spawn(flood, p);
    corio_sleep(0.05);
    assert_int_equal(corio_task_state(w), CORIO_TASK_SUSPENDED);
    corio_cancel(w);
    assert_int_equal(corio_await(w, NULL), -ECANCELED);
    assert_int_equal(corio_process_kill(p, SIGKILL), 0);
    assert_int_equal(corio_process_wait(p, &st), 0);
    assert_int_equal(st, -SIGKILL);
    corio_process_close(p);
    return NULL;
}

static void test_full_pipe_writer_cancelled(void **state)
{
    assert_int_equal(tu_run(full_pipe_main, NULL, NULL), 0);
}

static void *env_main(void *arg)
{
    const char *argv[] = {"sh", "-c", "echo \"$FOO\"; pwd; cat", NULL};
    const char *env[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
    corio_process_opts o = {.env = env, .cwd = "/tmp",
                            .stdin_mode = CORIO_STDIO_NULL,
                            .stdout_mode = CORIO_STDIO_PIPE,
                            .stderr_mode = CORIO_STDIO_STDOUT};
    corio_process *p;
    char *out;
    size_t olen;
    assert_int_equal(corio_process_spawn(&p, argv, &o), 0);
    assert_int_equal(corio_process_communicate(p, NULL, 0, &out, &olen, NULL, NULL, 0), 0);
    assert_string_equal(out, "bar baz\n/tmp\n");
    free(out);
    corio_process_close(p);
    return NULL;
}

static void test_env_cwd_devnull(void **state)
{
    assert_int_equal(tu_run(env_main, NULL, NULL), 0);
}

static void *errors_main(void *arg)
{
    const char *missing[] = {"/nonexistent/program", NULL};
    const char *empty[] = {NULL};
    corio_process *p;
    corio_process_opts bad = {.stdin_mode = 99};
    const char *ok[] = {"true", NULL};
    if (tu_under_valgrind()) {
        /* Valgrind runs posix_spawn's vfork-style clone as a plain fork,
         * so the exec error shows up as exit status 127 instead. */
        int st, rc = corio_process_spawn(&p, missing, NULL);
        if (rc == 0) {
            assert_int_equal(corio_process_wait(p, &st), 0);
            assert_int_equal(st, 127);
            corio_process_close(p);
        } else {
            assert_int_equal(rc, -ENOENT);
        }
    } else {
        assert_int_equal(corio_process_spawn(&p, missing, NULL), -ENOENT);
        assert_null(p);
    }
    assert_int_equal(corio_process_spawn(&p, empty, NULL), -EINVAL);
    assert_int_equal(corio_process_spawn(&p, ok, &bad), -EINVAL);
    bad.stdin_mode = CORIO_STDIO_STDOUT; /* only for stderr */
    assert_int_equal(corio_process_spawn(&p, ok, &bad), -EINVAL);
    return NULL;
}

static void test_errors(void **state)
{
    const char *ok[] = {"true", NULL};
    corio_process *p;
    assert_int_equal(tu_run(errors_main, NULL, NULL), 0);
    assert_int_equal(corio_process_spawn(&p, ok, NULL), -EPERM);
}

/* corio never reaps a child it did not start. */
static void *foreign_main(void *arg)
{
    const char *argv[] = {"true", NULL};
    corio_process *p;
    int st;
    assert_int_equal(corio_process_spawn(&p, argv, NULL), 0);
    assert_int_equal(corio_process_wait(p, &st), 0);
    corio_process_close(p);
    return NULL;
}

static void test_never_reaps_foreign_children(void **state)
{
    int st;
    pid_t mine = fork();
    if (mine == 0)
        _exit(7);
    assert_true(mine > 0);
    usleep(20000); /* it is a zombie now */
    assert_int_equal(tu_run(foreign_main, NULL, NULL), 0);
    assert_int_equal(waitpid(mine, &st, 0), mine);
    assert_int_equal(WEXITSTATUS(st), 7);
}

/* Closing a running child: reaped in the background. */
static void *close_running_main(void *arg)
{
    const char *argv[] = {"sleep", "0.05", NULL};
    corio_process *p;
    pid_t *pid = arg;
    assert_int_equal(corio_process_spawn(&p, argv, NULL), 0);
    *pid = corio_process_pid(p);
    corio_process_close(p);
    /* The reaper collects it meanwhile. Wait until the pid is gone (a
     * zombie still answers kill 0) rather than a fixed time, which a
     * loaded machine can outlast; an unreaped child stays a zombie, so the
     * check below still fails if nothing reaps it. */
    for (double end = corio_now() + 10; corio_now() < end;) {
        if (kill(*pid, 0) < 0 && errno == ESRCH)
            break;
        corio_sleep(0.01);
    }
    return NULL;
}

static void test_close_running_reaps_later(void **state)
{
    pid_t pid = 0;
    int st;
    assert_int_equal(tu_run(close_running_main, &pid, NULL), 0);
    assert_true(pid > 0);
    /* Already reaped by corio's reaper: no zombie left for us. */
    assert_int_equal(waitpid(pid, &st, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* 1,000 concurrent children. */
static void *one_true(void *arg)
{
    const char *argv[] = {"true", NULL};
    corio_process *p;
    int st = -1, rc = corio_process_spawn(&p, argv, NULL);
    if (rc < 0)
        return corio_fail(rc);
    rc = corio_process_wait(p, &st);
    corio_process_close(p);
    return corio_fail(rc < 0 ? rc : st == 0 ? -1000 : -EPROTO);
}

static void *thousand_main(void *arg)
{
    int n = tu_slow() ? 200 : 1000, i, ok = 0;
    corio_task **ts = calloc((size_t)n, sizeof *ts);
    double t0 = corio_now();
    for (i = 0; i < n; i++)
        ts[i] = corio_spawn(one_true, NULL);
    for (i = 0; i < n; i++)
        if (corio_await(ts[i], NULL) == -1000)
            ok++;
    printf("# %d concurrent `true` children: %.0f spawn+wait per second\n", n,
           n / (corio_now() - t0));
    assert_int_equal(ok, n);
    free(ts);
    return NULL;
}

static void test_thousand_children(void **state)
{
    assert_int_equal(tu_run(thousand_main, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_exit_status_and_signal),
        cmocka_unit_test(test_killed_at_deadline),
        cmocka_unit_test(test_communicate),
        cmocka_unit_test(test_communicate_limit),
        cmocka_unit_test(test_full_pipe_writer_cancelled),
        cmocka_unit_test(test_env_cwd_devnull),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_never_reaps_foreign_children),
        cmocka_unit_test(test_close_running_reaps_later),
        cmocka_unit_test(test_thousand_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
