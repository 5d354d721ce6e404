/*
 * Deterministic simulation, part 4: the simulated disk (corio_file_* on it,
 * what a crash keeps, fsync failures, torn writes) and crashing a
 * simulated program (its tasks vanish, it restarts on its disk).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

/* A path no real filesystem has: the calls must not reach the real one. */
#define F "/no/such/dir/data"

static void *write_some(void *arg)
{
    int sync = (int)(intptr_t)arg;
    corio_file *f;
    assert_int_equal(corio_file_open(&f, F, O_RDWR | O_CREAT, 0644), 0);
    assert_true(corio_file_fd(f) >= 3);
    assert_int_equal(corio_file_write(f, "durable", 7), 7);
    if (sync) {
        corio_file *dir;
        assert_int_equal(corio_file_fsync(f), 0);
        assert_int_equal(corio_file_open(&dir, "/no/such/dir", O_RDONLY | O_DIRECTORY, 0), 0);
        assert_int_equal(corio_file_fsync(dir), 0);
        assert_int_equal(corio_file_close(dir), 0);
    }
    assert_int_equal(corio_file_write(f, "+lost", 5), 5);
    {
        char buf[32] = {0};
        struct stat st;
        assert_int_equal(corio_file_pread(f, buf, sizeof buf, 0), 12);
        assert_string_equal(buf, "durable+lost");
        assert_int_equal(corio_file_stat(f, &st), 0);
        assert_int_equal((int)st.st_size, 12);
    }
    assert_int_equal(corio_file_close(f), 0);
    return NULL;
}

static void *read_back(void *arg)
{
    char *data = NULL;
    size_t len = 0;
    int rc = corio_read_file(F, &data, &len, 0);
    if (rc < 0)
        return corio_fail(rc);
    assert_int_equal((int)len, (int)strlen(arg));
    assert_memory_equal(data, arg, len);
    free(data);
    return NULL;
}

static void crash_keeps_only_what_was_synced(void **state)
{
    corio_sim_disk *d;
    (void)state;
    assert_int_equal(corio_sim_disk_new(&d, 1), 0);
    assert_null(corio_sim_disk_attach(d));
    /* Never synced: neither the bytes nor the name survive. */
    assert_int_equal(corio_sim_run(1, write_some, (void *)0, NULL, NULL, NULL), 0);
    assert_int_equal(corio_sim_run(1, read_back, "durable+lost", NULL, NULL, NULL), 0);
    corio_sim_disk_crash(d);
    assert_int_equal(corio_sim_run(1, read_back, "", NULL, NULL, NULL), -ENOENT);
    /* File and directory synced: the synced prefix survives, the rest not. */
    assert_int_equal(corio_sim_run(1, write_some, (void *)1, NULL, NULL, NULL), 0);
    corio_sim_disk_crash(d);
    assert_int_equal(corio_sim_run(1, read_back, "durable", NULL, NULL, NULL), 0);
    assert_ptr_equal(corio_sim_disk_attach(NULL), d);
    corio_sim_disk_free(d);
}

static void sync_ops_and_names(void **state)
{
    corio_sim_disk *d;
    corio_sim_disk_stats st;
    char buf[16];
    int h, dir;
    int64_t size;
    (void)state;
    assert_int_equal(corio_sim_disk_new(&d, 2), 0);
    assert_int_equal(corio_sim_disk_open(d, "a", O_RDWR, 0), -ENOENT);
    h = corio_sim_disk_open(d, "a", O_RDWR | O_CREAT | O_EXCL, 0);
    assert_true(h >= 3);
    assert_int_equal(corio_sim_disk_open(d, "a", O_RDWR | O_CREAT | O_EXCL, 0), -EEXIST);
    assert_int_equal(corio_sim_disk_pwrite(d, h, "0123456789", 10, 0), 10);
    assert_int_equal(corio_sim_disk_truncate(d, h, 4), 0);
    assert_int_equal(corio_sim_disk_size(d, h), 4);
    assert_int_equal(corio_sim_disk_pread(d, h, buf, sizeof buf, 2), 2);
    assert_memory_equal(buf, "23", 2);
    assert_int_equal(corio_sim_disk_fsync(d, h), 0);
    dir = corio_sim_disk_open(d, ".", O_RDONLY | O_DIRECTORY, 0);
    assert_int_equal(corio_sim_disk_fsync(d, dir), 0);
    /* A rename is not durable until the directory is synced. */
    assert_int_equal(corio_sim_disk_rename(d, "a", "b"), 0);
    assert_int_equal(corio_sim_disk_stat(d, "a", NULL), -ENOENT);
    assert_int_equal(corio_sim_disk_stat(d, "b", &size), 0);
    assert_int_equal((int)size, 4);
    corio_sim_disk_crash(d);
    assert_int_equal(corio_sim_disk_pread(d, h, buf, 1, 0), -EBADF); /* handles die */
    assert_int_equal(corio_sim_disk_stat(d, "b", NULL), -ENOENT);
    assert_int_equal(corio_sim_disk_stat(d, "a", &size), 0);
    assert_int_equal((int)size, 4);
    /* Unlink, made durable. */
    dir = corio_sim_disk_open(d, ".", O_RDONLY | O_DIRECTORY, 0);
    assert_int_equal(corio_sim_disk_unlink(d, "a"), 0);
    assert_int_equal(corio_sim_disk_unlink(d, "a"), -ENOENT);
    assert_int_equal(corio_sim_disk_fsync(d, dir), 0);
    corio_sim_disk_crash(d);
    assert_int_equal(corio_sim_disk_stat(d, "a", NULL), -ENOENT);
    corio_sim_disk_stats_get(d, &st);
    assert_int_equal((int)st.crashes, 2);
    corio_sim_disk_free(d);
}

static void fsync_failure_persists_nothing(void **state)
{
    corio_sim_disk *d;
    corio_sim_disk_faults f = {0};
    corio_sim_disk_stats st;
    int h, dir;
    int64_t size;
    (void)state;
    assert_int_equal(corio_sim_disk_new(&d, 3), 0);
    h = corio_sim_disk_open(d, "x", O_RDWR | O_CREAT, 0);
    dir = corio_sim_disk_open(d, ".", O_RDONLY | O_DIRECTORY, 0);
    assert_int_equal(corio_sim_disk_fsync(d, dir), 0);
    f.fsync_fail = 1.0;
    corio_sim_disk_set_faults(d, &f);
    assert_int_equal(corio_sim_disk_pwrite(d, h, "abc", 3, 0), 3);
    assert_int_equal(corio_sim_disk_fsync(d, h), -EIO);
    corio_sim_disk_set_faults(d, NULL);
    corio_sim_disk_crash(d);
    assert_int_equal(corio_sim_disk_stat(d, "x", &size), 0);
    assert_int_equal((int)size, 0);
    corio_sim_disk_stats_get(d, &st);
    assert_int_equal((int)st.fsync_failures, 1);
    corio_sim_disk_free(d);
}

static int crashes_seen;
static void on_crash(void *arg)
{
    (void)arg;
    crashes_seen++;
}

static void torn_writes_and_crash_at_an_op(void **state)
{
    int seed, torn_strict = 0;
    (void)state;
    /* With torn_write = 1 a crash keeps a prefix of each pending write, of
     * a seeded length: over a few seeds, some strictly between 0 and all. */
    for (seed = 0; seed < 20; seed++) {
        corio_sim_disk *d;
        corio_sim_disk_faults f = {0};
        char buf[64];
        int h, dir;
        int64_t size;
        assert_int_equal(corio_sim_disk_new(&d, (uint64_t)seed), 0);
        h = corio_sim_disk_open(d, "t", O_RDWR | O_CREAT, 0);
        dir = corio_sim_disk_open(d, ".", O_RDONLY | O_DIRECTORY, 0);
        assert_int_equal(corio_sim_disk_fsync(d, dir), 0);
        f.torn_write = 1.0;
        f.crash_at_op = 2; /* the second write from now */
        f.on_crash = on_crash;
        corio_sim_disk_set_faults(d, &f);
        crashes_seen = 0;
        assert_int_equal(corio_sim_disk_pwrite(d, h, "AAAAAAAAAAAAAAAA", 16, 0), 16);
        assert_int_equal(corio_sim_disk_pwrite(d, h, "BBBBBBBBBBBBBBBB", 16, 16), -EIO);
        assert_int_equal(crashes_seen, 1);
        assert_int_equal(corio_sim_disk_pwrite(d, h, "C", 1, 0), -EBADF);
        assert_int_equal(corio_sim_disk_stat(d, "t", &size), 0);
        assert_true(size <= 32);
        h = corio_sim_disk_open(d, "t", O_RDONLY, 0);
        memset(buf, 0, sizeof buf);
        assert_int_equal(corio_sim_disk_pread(d, h, buf, sizeof buf, 0), size);
        /* Whatever survived is a prefix of what was written, byte for byte
         * (zeros where the second write's prefix is past the first's). */
        for (int i = 0; i < size; i++)
            assert_true(buf[i] == (i < 16 ? 'A' : 'B') || buf[i] == 0);
        torn_strict += size > 0 && size < 32 && size != 16;
        corio_sim_disk_free(d);
    }
    assert_true(torn_strict > 0);
}

/* ---- crashing a simulated program ------------------------------------------ */

static int unwound, worked;

static void *victim(void *arg)
{
    corio_scope sc;
    (void)arg;
    corio_scope_enter(&sc, -1, 0);
    if (corio_sleep(5) < 0)
        unwound = 1; /* a cancellation would get here: a crash must not */
    corio_scope_exit(&sc);
    worked = 1;
    return NULL;
}

static void crash_cb(void *arg)
{
    (void)arg;
    assert_int_equal(corio_sim_crash(), 0);
}

static void *crashing_main(void *arg)
{
    corio_task *t;
    double *started = arg;
    *started = corio_now();
    assert_non_null(t = corio_spawn(victim, NULL));
    assert_int_equal(corio_call_later(NULL, 1.5, crash_cb, NULL), 0);
    corio_await(t, NULL);
    worked = 2; /* never: the crash comes first */
    return NULL;
}

static void crash_stops_every_task_where_it_is(void **state)
{
    corio_sim_config cfg = {0};
    corio_sim_stats st;
    double started = 0;
    (void)state;
    assert_int_equal(corio_sim_crash(), -EPERM);
    unwound = worked = 0;
    assert_int_equal(corio_sim_run(7, crashing_main, &started, NULL, NULL, &st), CORIO_SIM_CRASHED);
    assert_int_equal(unwound, 0);
    assert_int_equal(worked, 0);
    assert_true(started == 1000.0);
    assert_true(st.end_time == 1001.5);
    /* The restart goes on from where the clock stopped. */
    cfg.start_time = st.end_time;
    assert_int_equal(corio_sim_run(8, crashing_main, &started, NULL, &cfg, &st), CORIO_SIM_CRASHED);
    assert_true(started == 1001.5);
    assert_true(st.end_time == 1003.0);
    assert_int_equal(unwound + worked, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_keeps_only_what_was_synced),
        cmocka_unit_test(sync_ops_and_names),
        cmocka_unit_test(fsync_failure_persists_nothing),
        cmocka_unit_test(torn_writes_and_crash_at_an_op),
        cmocka_unit_test(crash_stops_every_task_where_it_is),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
