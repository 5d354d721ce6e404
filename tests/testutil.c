#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* White box, for one thing only: forgetting a loop abandoned by a failed
 * test (see forget_abandoned_loop). */
#include "core/internal.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TU_HAVE_VALGRIND 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TU_TSAN 1
#endif
#endif

#ifdef TU_ASAN
#include <sanitizer/asan_interface.h>
#endif

int tu_under_asan(void)
{
#ifdef TU_ASAN
    return 1;
#else
    return 0;
#endif
}

int tu_under_tsan(void)
{
#ifdef TU_TSAN
    return 1;
#else
    return 0;
#endif
}

int tu_under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
#ifdef TU_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND)
        return 1;
#endif
    if (p && strstr(p, "vgpreload"))
        return 1;
    return getenv("CORIO_UNDER_VALGRIND") != NULL;
}

int tu_under_qemu(void)
{
    return getenv("CORIO_UNDER_QEMU") != NULL;
}

int tu_slow(void)
{
    return tu_under_asan() || tu_under_tsan() || tu_under_valgrind();
}

double tu_timescale(void)
{
    return tu_under_valgrind() ? 10.0 : 1.0;
}

double tu_slack(void)
{
    /* The OS scheduler alone delays a runnable loop by 100 ms and more on
     * the loaded 2-core CI machine (a 10 ms ticker was seen 134 ms late).
     * A broken timer is late by far more: unboundedly (it waits for an
     * unrelated event) or by whole seconds (coarse timeouts). */
    if (tu_under_valgrind())
        return 2.0;
    return tu_slow() ? 1.0 : 0.5;
}

/* A cmocka assertion that fails inside a task longjmps out of the running
 * loop, leaving it behind as the thread's current loop with a task marked
 * running; every later corio_run would then refuse with -EPERM ("called from
 * a task"). Forget it, so one failing test does not fail all the others. The
 * abandoned loop is leaked on purpose: its state is unknown. */
static void forget_abandoned_loop(void)
{
    corio_loop *l = corio__tls_loop;
    if (!l || !l->running)
        return;
    corio__tls_loop = NULL;
#ifdef TU_ASAN
    {
        /* The longjmp crossed stacks, so ASan did not clear the poison of
         * the thread-stack frames it abandoned; clear it below us. */
        pthread_attr_t a;
        void *lo;
        size_t sz;
        char *here = __builtin_frame_address(0);
        if (pthread_getattr_np(pthread_self(), &a) == 0) {
            pthread_attr_getstack(&a, &lo, &sz);
            __asan_unpoison_memory_region(lo, (size_t)(here - 256 - (char *)lo));
            pthread_attr_destroy(&a);
        }
    }
#endif
}

char *tu_run_report(corio_fn fn, void *arg, const corio_loop_config *cfg)
{
    return tu_run_report_status(fn, arg, cfg, NULL);
}

char *tu_run_report_status(corio_fn fn, void *arg, const corio_loop_config *cfg,
                           int *status)
{
    corio_loop_config c;
    FILE *f = tmpfile();
    long n;
    char *s;
    int rc;

    if (cfg) {
        c = *cfg;
    } else {
        memset(&c, 0, sizeof c);
        c.stack_mode = tu_stack_mode;
    }
    assert_non_null(f);
    c.report_file = f;
    forget_abandoned_loop();
    rc = corio_run_ex(fn, arg, NULL, &c);
    if (status)
        *status = rc;
    fflush(f);
    n = ftell(f);
    s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    rewind(f);
    if (n > 0)
        assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

int tu_stack_mode = CORIO_STACK_DEFAULT;

int tu_compact_supported(void)
{
    corio_loop_config c;
    corio_loop *l;
    memset(&c, 0, sizeof c);
    c.stack_mode = CORIO_STACK_COMPACT;
    if (corio_loop_create(&l, &c) < 0)
        return 0;
    corio_loop_close(l);
    return 1;
}

int tu_run_both_modes_(const struct CMUnitTest *tests, size_t n)
{
    int failed;
    tu_stack_mode = CORIO_STACK_DEFAULT;
    failed = _cmocka_run_group_tests("default_stacks", tests, n, NULL, NULL);
    if (!tu_compact_supported()) {
        printf("[  SKIPPED ] compact_stacks: this build cannot run "
               "CORIO_STACK_COMPACT (-ENOTSUP, e.g. under ASan)\n");
        return failed;
    }
    tu_stack_mode = CORIO_STACK_COMPACT;
    failed += _cmocka_run_group_tests("compact_stacks", tests, n, NULL, NULL);
    tu_stack_mode = CORIO_STACK_DEFAULT;
    return failed;
}

int tu_run_cfg(corio_fn fn, void *arg, void **result, const corio_loop_config *cfg)
{
    corio_loop_config c;
    FILE *f = tmpfile();
    long n;
    int rc;

    if (cfg) {
        c = *cfg;
    } else {
        memset(&c, 0, sizeof c);
        c.stack_mode = tu_stack_mode;
    }
    assert_non_null(f);
    c.report_file = f;
    forget_abandoned_loop();
    rc = corio_run_ex(fn, arg, result, &c);
    fflush(f);
    n = ftell(f);
    if (n > 0) {
        char buf[4096];
        size_t k;
        rewind(f);
        k = fread(buf, 1, sizeof buf - 1, f);
        buf[k] = 0;
        fclose(f);
        fail_msg("loop did not close clean:\n%s", buf);
    }
    fclose(f);
    return rc;
}

int tu_run(corio_fn fn, void *arg, void **result)
{
    return tu_run_cfg(fn, arg, result, NULL);
}

int tu_fork_run(void (*fn)(void *arg), void *arg, char **err)
{
    char path[] = "/tmp/corio-test-stderr-XXXXXX";
    int fd = mkstemp(path), status = 0;
    pid_t pid;

    assert_true(fd >= 0);
    unlink(path);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would longjmp a crashing child back into the
         * test runner; the parent must see the crash instead. */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE};
        size_t i;
        for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        dup2(fd, STDERR_FILENO);
        fn(arg);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (err) {
        off_t n = lseek(fd, 0, SEEK_END);
        char *s = calloc(1, (size_t)n + 1);
        assert_non_null(s);
        assert_int_equal(pread(fd, s, (size_t)n, 0), n);
        *err = s;
    }
    close(fd);
    return status;
}

long tu_proc_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t len = strlen(field);
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            v = strtol(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

int tu_reset_hwm(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    int ok;
    if (fd < 0)
        return -1;
    ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok ? 0 : -1;
}

void tu_log_reset(tu_log *l) { l->n = 0; }

void tu_log_add(tu_log *l, int v)
{
    if (l->n < (int)(sizeof l->v / sizeof l->v[0]))
        l->v[l->n] = v;
    l->n++;
}

void tu_log_expect(const tu_log *l, const int *want, int n)
{
    int i;
    if (l->n != n) {
        fprintf(stderr, "log has %d entries, want %d:", l->n, n);
        for (i = 0; i < l->n && i < 64; i++)
            fprintf(stderr, " %d", l->v[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(l->n, n);
    for (i = 0; i < n; i++) {
        if (l->v[i] != want[i])
            fprintf(stderr, "log[%d] = %d, want %d\n", i, l->v[i], want[i]);
        assert_int_equal(l->v[i], want[i]);
    }
}

/* ---- ticker -------------------------------------------------------------- */

struct tu_ticker {
    corio_task *task;
    double period, worst;
    int stop;
};

static void *ticker_main(void *arg)
{
    tu_ticker *t = arg;
    double next = corio_now();
    while (!t->stop) {
        next += t->period;
        if (corio_sleep_until(next) != 0)
            break;
        if (corio_now() - next > t->worst)
            t->worst = corio_now() - next;
    }
    return NULL;
}

tu_ticker *tu_ticker_start(double period)
{
    tu_ticker *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->period = period;
    assert_non_null(t->task = corio_spawn(ticker_main, t));
    return t;
}

double tu_ticker_stop(tu_ticker *t)
{
    t->stop = 1;
    corio_await(t->task, NULL);
    double worst = t->worst;
    free(t);
    return worst;
}

const struct sockaddr *tu_loopback_peer(size_t *len)
{
    static struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(40000);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *len = sizeof a;
    return (const struct sockaddr *)&a;
}
