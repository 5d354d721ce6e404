/* Files on the pool: handles, whole-file helpers, paths, errors, and
 * cancellation while the pool holds the operation. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static void *handle_main(void *arg)
{
    char p[128], buf[64];
    corio_file *f;
    struct stat st;
    path_of(p, sizeof p, "a.txt");
    assert_int_equal(corio_file_open(&f, p, O_RDWR | O_CREAT | O_TRUNC, 0644), 0);
    assert_true(corio_file_fd(f) >= 0);
    assert_int_equal(corio_file_write(f, "hello ", 6), 6);
    assert_int_equal(corio_file_write(f, "world", 5), 5);
    assert_int_equal(corio_file_fsync(f), 0);
    assert_int_equal(corio_file_stat(f, &st), 0);
    assert_int_equal(st.st_size, 11);
    assert_int_equal(corio_file_seek(f, 0), 0);
    assert_int_equal(corio_file_read(f, buf, 5), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(corio_file_read(f, buf, sizeof buf), 6);
    assert_memory_equal(buf, " world", 6);
    assert_int_equal(corio_file_read(f, buf, sizeof buf), 0); /* EOF */
    assert_int_equal(corio_file_pwrite(f, "W", 1, 6), 1);
    assert_int_equal(corio_file_pread(f, buf, 5, 6), 5);
    assert_memory_equal(buf, "World", 5);
    assert_int_equal(corio_file_close(f), 0);
    /* Append mode writes at the end whatever the position. */
    assert_int_equal(corio_file_open(&f, p, O_WRONLY | O_APPEND, 0), 0);
    assert_int_equal(corio_file_write(f, "!", 1), 1);
    assert_int_equal(corio_file_close(f), 0);
    assert_int_equal(corio_stat(p, &st), 0);
    assert_int_equal(st.st_size, 12);
    return NULL;
}

static void test_handle(void **state)
{
    assert_int_equal(tu_run(handle_main, NULL, NULL), 0);
}

static void *whole_main(void *arg)
{
    char p[128], q[128];
    char *data;
    size_t len, big = 3u << 20, i;
    char *blob = malloc(big);
    struct stat st;
    path_of(p, sizeof p, "w.txt");
    path_of(q, sizeof q, "w2.txt");
    assert_int_equal(corio_write_file(p, "one\n", 4, 0), 0);
    assert_int_equal(corio_write_file(p, "two\n", 4, CORIO_WRITE_APPEND), 0);
    assert_int_equal(corio_read_file(p, &data, &len, 0), 0);
    assert_int_equal(len, 8);
    assert_string_equal(data, "one\ntwo\n");
    free(data);
    assert_int_equal(corio_read_file(p, &data, &len, 4), -EFBIG);
    assert_null(data);
    /* Atomic replace, larger than one chunk. */
    for (i = 0; i < big; i++)
        blob[i] = (char)(i * 7);
    assert_int_equal(corio_write_file(p, blob, big, CORIO_WRITE_ATOMIC), 0);
    assert_int_equal(corio_read_file(p, &data, &len, 0), 0);
    assert_int_equal(len, big);
    assert_memory_equal(data, blob, big);
    free(data);
    free(blob);
    assert_int_equal(corio_rename(p, q), 0);
    assert_int_equal(corio_stat(p, &st), -ENOENT);
    assert_int_equal(corio_unlink(q), 0);
    assert_int_equal(corio_unlink(q), -ENOENT);
    assert_int_equal(corio_read_file(q, &data, &len, 0), -ENOENT);
    /* /proc files have no size; read to EOF anyway. */
    assert_int_equal(corio_read_file("/proc/self/status", &data, &len, 0), 0);
    assert_non_null(strstr(data, "VmHWM"));
    free(data);
    assert_int_equal(corio_write_file(p, "x", 1, CORIO_WRITE_APPEND | CORIO_WRITE_ATOMIC),
                     -EINVAL);
    return NULL;
}

static void test_whole_file(void **state)
{
    assert_int_equal(tu_run(whole_main, NULL, NULL), 0);
}

static void *errors_main(void *arg)
{
    corio_file *f;
    assert_int_equal(corio_file_open(&f, "/nonexistent/x", O_RDONLY, 0), -ENOENT);
    assert_null(f);
    assert_int_equal(corio_file_open(&f, NULL, O_RDONLY, 0), -EINVAL);
    assert_int_equal(corio_rename("/nonexistent/a", "/nonexistent/b"), -ENOENT);
    return NULL;
}

static void test_errors(void **state)
{
    char *d;
    assert_int_equal(tu_run(errors_main, NULL, NULL), 0);
    /* Not in a task. */
    assert_int_equal(corio_read_file("/etc/hostname", &d, NULL, 0), -EPERM);
}

static void *reader(void *arg)
{
    char *data;
    size_t len;
    int rc = corio_read_file(arg, &data, &len, 0);
    if (rc == 0)
        free(data);
    return corio_fail(rc == 0 ? -EPROTO : rc);
}

static void *cancel_main(void *arg)
{
    char p[128];
    size_t big = 8u << 20;
    char *blob = calloc(1, big);
    int i, cancelled = 0;
    path_of(p, sizeof p, "big.bin");
    assert_int_equal(corio_write_file(p, blob, big, 0), 0);
    free(blob);
    /* Cancel readers at different moments: queued, running, finished.
     * Nothing may leak or touch freed memory (ASan/Valgrind check). */
    for (i = 0; i < 20; i++) {
        corio_task *t = corio_spawn(reader, p);
        if (i % 2)
            corio_sleep(0.0001 * i);
        corio_cancel(t);
        if (corio_await(t, NULL) == -ECANCELED)
            cancelled++;
    }
    assert_true(cancelled > 0);
    assert_int_equal(corio_unlink(p), 0);
    return NULL;
}

static void test_cancel_anywhere(void **state)
{
    assert_int_equal(tu_run(cancel_main, NULL, NULL), 0);
}

/* A cancelled task's file calls fail with -ECANCELED, leak nothing (the
 * operation used to stay allocated: ASan's leak check), and its close still
 * closes the descriptor (it used to stay open). */
static void *cancelled_close_main(void *arg)
{
    char p[128];
    corio_file *f;
    struct stat st;
    int fd;
    path_of(p, sizeof p, "c.txt");
    assert_int_equal(corio_file_open(&f, p, O_RDWR | O_CREAT | O_TRUNC, 0644), 0);
    fd = corio_file_fd(f);
    corio_cancel(corio_current());
    assert_int_equal(corio_file_write(f, "x", 1), -ECANCELED);
    assert_int_equal(corio_file_stat(f, &st), -ECANCELED);
    assert_int_equal(corio_stat(p, &st), -ECANCELED);
    assert_int_equal(corio_file_close(f), -ECANCELED);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    return NULL;
}

static void test_cancelled_close_closes(void **state)
{
    assert_int_equal(tu_run(cancelled_close_main, NULL, NULL), -ECANCELED);
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/corio-test-file-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handle),
        cmocka_unit_test(test_whole_file),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cancel_anywhere),
        cmocka_unit_test(test_cancelled_close_closes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
