/*
 * Deterministic simulation, crashing one host: its disk and its tasks
 * (corio_sim_host_crash, corio_sim_host_set_disk; include/corio_sim.h).
 *
 * Each test fails if the feature is broken: unsynced writes of the crashed
 * host that would survive (or another host's disk that would lose its
 * own), a task of the crashed host that would still wait outside a shield,
 * write, send, open a socket, spawn or restart its host after the crash, a
 * file operation started before the crash that would still reach the disk,
 * another host's task that would be disturbed, or a reply written just
 * before the crash that would be lost.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "sim_util.h"
#include "testutil.h"

/* ---- the crashed host's disk loses what was not synced; others keep theirs --------*/

typedef struct disk_scen {
    unsigned flags;
    corio_sim_disk *ds, *dc;
    int srv_rc, cli_rc, read_rc, cli_read_rc;
    char after[64], cli_after[64];
} disk_scen;

static int write_at(const char *path, const char *data, int sync_file, int sync_dir)
{
    corio_file *f, *dir;
    int rc = corio_file_open(&f, path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (rc)
        return rc;
    rc = (int)corio_file_write(f, data, strlen(data));
    if (rc >= 0 && sync_file)
        rc = corio_file_fsync(f);
    corio_file_close(f);
    if (rc >= 0 && sync_dir) {
        if ((rc = corio_file_open(&dir, ".", O_RDONLY | O_DIRECTORY, 0)) == 0) {
            rc = corio_file_fsync(dir);
            corio_file_close(dir);
        }
    }
    return rc < 0 ? rc : 0;
}

static void *disk_srv(void *arg)
{
    disk_scen *d = arg;
    d->srv_rc = write_at("log", "durable", 1, 1);
    if (!d->srv_rc)
        d->srv_rc = write_at("log", "+lost", 0, 0);
    corio_sleep(1000); /* the crash comes first */
    return NULL;
}

static void *disk_cli(void *arg)
{
    disk_scen *d = arg;
    d->cli_rc = write_at("c", "x", 0, 0); /* never synced */
    corio_sleep(2.0);                     /* across the server's crash */
    if (!d->cli_rc)
        d->cli_rc = write_at("c", "y", 0, 0);
    return NULL;
}

static int read_into(const char *path, char *out, size_t cap)
{
    char *data;
    size_t len;
    int rc = corio_read_file(path, &data, &len, 0);
    if (rc)
        return rc;
    snprintf(out, cap, "%s", data);
    free(data);
    return 0;
}

static void *disk_reader(void *arg)
{
    disk_scen *d = arg;
    d->read_rc = read_into("log", d->after, sizeof d->after);
    return NULL;
}

static void *disk_scenario(void *arg)
{
    disk_scen *d = arg;
    corio_task *s, *c, *r;
    if (sim_hosts(0.001, 0.002, 3) || corio_sim_host_set_disk(h_srv, d->ds) ||
        corio_sim_host_set_disk(h_cli, d->dc))
        return corio_fail(-EINVAL);
    corio_sim_spawn_on(h_srv, &s, disk_srv, d);
    corio_sim_spawn_on(h_cli, &c, disk_cli, d);
    corio_sleep(1.0);
    corio_sim_host_crash(h_srv, d->flags);
    corio_await(s, NULL);
    corio_sim_host_restart(h_srv);
    corio_sim_spawn_on(h_srv, &r, disk_reader, d);
    corio_await(r, NULL);
    corio_await(c, NULL);
    return NULL;
}

static void run_disk_scenario(disk_scen *d, unsigned flags)
{
    int64_t size;
    memset(d, 0, sizeof *d);
    d->flags = flags;
    assert_int_equal(corio_sim_disk_new(&d->ds, 1), 0);
    assert_int_equal(corio_sim_disk_new(&d->dc, 2), 0);
    assert_int_equal(corio_sim_run(5, disk_scenario, d, NULL, NULL, NULL), 0);
    assert_int_equal(d->srv_rc, 0);
    assert_int_equal(d->cli_rc, 0);
    assert_int_equal(d->read_rc, 0);
    /* The client's disk did not crash: its unsynced writes are all there. */
    assert_int_equal(corio_sim_disk_stat(d->dc, "c", &size), 0);
    assert_int_equal(size, 2);
    corio_sim_disk_free(d->ds);
    corio_sim_disk_free(d->dc);
}

static void unsynced_writes_of_the_crashed_host_are_lost(void **state)
{
    disk_scen d;
    (void)state;
    run_disk_scenario(&d, 0);
    assert_string_equal(d.after, "durable");
    /* A process crash (the kernel lived) keeps the page cache. */
    run_disk_scenario(&d, CORIO_SIM_CRASH_RESET | CORIO_SIM_CRASH_KEEP_DISK);
    assert_string_equal(d.after, "durable+lost");
}

/* ---- the crashed host's tasks are unwound, and fenced; other hosts untouched ------*/

typedef struct fence_scen {
    corio_sim_disk *ds;
    corio_lock *lock;
    corio_chan *ch, *cli_ch;
    double crash_at;
    int crashed;
    /* the shielded sleeper, after the crash */
    int a_sleep, a_after, a_write, a_disk, a_open, a_connect, a_spawn_on, a_child, a_restart;
    double a_woke;
    int b_lock, c_sleep, d_recv, e_read, e_send, g_write;
    int cli_read, cli_accepts;
    /* other hosts */
    int u_sleep, u_recv, u_pings, u_ping_errs;
    double u_woke;
    int late_stat, a_stat;
} fence_scen;

static fence_scen *fs;

static void *child_fn(void *arg)
{
    (void)arg;
    fs->a_child = corio_cancelled();
    return NULL;
}

/* Shielded across the crash: a shield is kept (corio's own cleanup
 * relies on shields for memory safety), so its sleep runs out; but what
 * it does then inside the shield is fenced, and once out of it every
 * suspending call fails. */
static void *task_a(void *arg)
{
    corio_scope sc;
    corio_socket *s;
    corio_task *t;
    (void)arg;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    fs->a_sleep = corio_sleep(20.0);
    fs->a_woke = corio_now();
    fs->a_write = corio_write_file("a", "x", 1, 0);
    fs->a_disk = corio_sim_disk_open(fs->ds, "a", O_WRONLY | O_CREAT, 0);
    fs->a_open = corio_socket_open(&s, AF_INET, SOCK_STREAM, 0);
    if (fs->a_open == 0)
        corio_socket_close(s);
    fs->a_connect = corio_tcp_connect(&s, "10.0.0.3", CPORT);
    if (fs->a_connect == 0)
        corio_socket_close(s);
    fs->a_spawn_on = corio_sim_spawn_on(h_cli, &t, child_fn, NULL);
    t = corio_spawn(child_fn, NULL);
    corio_await(t, NULL);
    fs->a_restart = corio_sim_host_restart(h_srv);
    corio_scope_exit(&sc);
    fs->a_after = corio_sleep(1.0);
    return NULL;
}

static void *task_c(void *arg) /* holds the lock */
{
    (void)arg;
    corio_lock_acquire(fs->lock);
    fs->c_sleep = corio_sleep(1000);
    corio_lock_release(fs->lock);
    return NULL;
}

static void *task_b(void *arg) /* waits for it */
{
    (void)arg;
    fs->b_lock = corio_lock_acquire(fs->lock);
    if (fs->b_lock == 0)
        corio_lock_release(fs->lock);
    return NULL;
}

static void *task_d(void *arg)
{
    (void)arg;
    fs->d_recv = corio_chan_recv(fs->ch, NULL);
    return NULL;
}

static void *task_e(void *arg) /* serves one connection from the client host */
{
    corio_socket *l, *c;
    char b;
    (void)arg;
    if (corio_tcp_listen(&l, "0.0.0.0", PORT, 0, 0))
        return NULL;
    if (corio_socket_accept(l, &c, NULL) == 0) {
        fs->e_read = (int)corio_socket_recv(c, &b, 1, 0);
        fs->e_send = (int)corio_socket_send(c, "late", 4, 0);
        corio_socket_close(c);
    }
    corio_socket_close(l);
    return NULL;
}

static void *task_g(void *arg) /* starts a file write at the crash instant */
{
    (void)arg;
    corio_sleep_until(fs->crash_at);
    fs->g_write = corio_write_file("late", "x", 1, 0);
    return NULL;
}

/* The client host: a listener nobody of the crashed host may reach, a
 * connection to the server that must never carry a byte, a sleeper, a
 * channel, and pings to a third host across the crash. */
static void *cli_listener(void *arg)
{
    corio_socket *l, *c;
    (void)arg;
    if (corio_tcp_listen(&l, "0.0.0.0", CPORT, 0, 0))
        return NULL;
    while (corio_socket_accept(l, &c, NULL) == 0) {
        fs->cli_accepts++;
        corio_socket_close(c);
    }
    corio_socket_close(l);
    return NULL;
}

static void *cli_reader(void *arg)
{
    corio_socket *s;
    char b[8];
    (void)arg;
    if (corio_tcp_connect(&s, "srv", PORT)) {
        fs->cli_read = 1;
        return NULL;
    }
    fs->cli_read = (int)corio_socket_recv(s, b, sizeof b, 0);
    corio_socket_close(s);
    return NULL;
}

static void *cli_sleeper(void *arg)
{
    corio_scope sc;
    (void)arg;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    fs->u_sleep = corio_sleep(3.0);
    fs->u_woke = corio_now();
    corio_scope_exit(&sc);
    fs->u_recv = corio_chan_recv(fs->cli_ch, NULL);
    return NULL;
}

static void *db_echo(void *arg)
{
    corio_socket *l, *c;
    char b[16];
    ssize_t n;
    (void)arg;
    if (corio_tcp_listen(&l, "0.0.0.0", 5432, 0, 0) || corio_socket_accept(l, &c, NULL)) 
        return NULL;
    while ((n = corio_socket_recv(c, b, sizeof b, 0)) > 0)
        corio_socket_sendall(c, b, (size_t)n);
    corio_socket_close(c);
    corio_socket_close(l);
    return NULL;
}

static void *cli_pinger(void *arg)
{
    corio_socket *s;
    char b[4];
    int i;
    (void)arg;
    if (corio_tcp_connect(&s, "db", 5432)) {
        fs->u_ping_errs++;
        return NULL;
    }
    for (i = 0; i < 12; i++) {
        if (corio_socket_sendall(s, "ping", 4) < 0 || read_exact(s, b, 4) < 0)
            fs->u_ping_errs++;
        else
            fs->u_pings++;
        corio_sleep(0.5);
    }
    corio_socket_close(s);
    return NULL;
}

static void *fence_reader(void *arg)
{
    struct stat st;
    (void)arg;
    fs->late_stat = corio_stat("late", &st);
    fs->a_stat = corio_stat("a", &st);
    return NULL;
}

static void *fence_scenario(void *arg)
{
    corio_task *t[16], *r;
    int n = 0, i;
    (void)arg;
    memset(fs, 0, sizeof *fs); /* corio_sim_check runs it twice */
    if (corio_sim_disk_new(&fs->ds, 9))
        return corio_fail(-ENOMEM);
    if (sim_hosts(0.001, 0.002, 3) || corio_sim_host_set_disk(h_srv, fs->ds) ||
        corio_lock_create(&fs->lock) || corio_chan_create(&fs->ch, 0) ||
        corio_chan_create(&fs->cli_ch, 1))
        return corio_fail(-ENOMEM);
    fs->crash_at = corio_now() + 1.0;
    /* task_g first: its timer is armed before main's, for the same
     * instant, so it starts its write just before the crash. */
    corio_sim_spawn_on(h_srv, &t[n++], task_g, NULL);
    corio_sim_spawn_on(h_srv, &t[n++], task_a, NULL);
    corio_sim_spawn_on(h_srv, &t[n++], task_c, NULL);
    corio_sim_spawn_on(h_srv, &t[n++], task_b, NULL);
    corio_sim_spawn_on(h_srv, &t[n++], task_d, NULL);
    corio_sim_spawn_on(h_srv, &t[n++], task_e, NULL);
    corio_sim_spawn_on(h_cli, &t[n++], cli_listener, NULL);
    corio_sim_spawn_on(h_cli, &t[n++], cli_reader, NULL);
    corio_sim_spawn_on(h_cli, &t[n++], cli_sleeper, NULL);
    corio_sim_spawn_on(h_db, &t[n++], db_echo, NULL);
    corio_sim_spawn_on(h_cli, &t[n++], cli_pinger, NULL);
    corio_sleep(0.5);
    corio_sleep_until(fs->crash_at);
    fs->crashed = corio_sim_host_crash(h_srv, CORIO_SIM_CRASH_RESET);
    corio_sleep(2.0);
    corio_chan_send(fs->cli_ch, NULL);
    for (i = 0; i < 6; i++)
        corio_await(t[i], NULL);
    corio_sim_host_restart(h_srv);
    corio_sim_spawn_on(h_srv, &r, fence_reader, NULL);
    corio_await(r, NULL);
    corio_sleep(5.0);
    corio_cancel(t[6]);
    for (i = 6; i < n; i++)
        corio_await(t[i], NULL);
    corio_lock_destroy(fs->lock);
    corio_chan_destroy(fs->ch);
    corio_chan_destroy(fs->cli_ch);
    corio_sim_disk_free(fs->ds);
    return NULL;
}

static void crashed_tasks_are_unwound_and_fenced(void **state)
{
    fence_scen f;
    (void)state;
    memset(&f, 0, sizeof f);
    fs = &f;
    assert_int_equal(corio_sim_check(11, fence_scenario, NULL, NULL, NULL), 0);
    /* Six tasks on the server host, and the connection it had accepted
     * is its task's (no task of its own): six cancelled. */
    assert_int_equal(f.crashed, 6);
    /* Every wait ended at the crash, but the shielded sleep's. */
    assert_int_equal(f.a_sleep, 0);
    assert_true(f.a_woke == f.crash_at - 1.0 + 20.0);
    assert_int_equal(f.a_after, -ECANCELED);
    assert_int_equal(f.b_lock, -ECANCELED);
    assert_int_equal(f.c_sleep, -ECANCELED);
    assert_int_equal(f.d_recv, -ECANCELED);
    assert_int_equal(f.e_read, -ECANCELED);
    /* Nothing they tried afterwards went anywhere. */
    assert_int_equal(f.a_write, -EIO);
    assert_int_equal(f.a_disk, -EIO);
    assert_int_equal(f.a_open, -ECANCELED);
    assert_int_equal(f.a_connect, -ECANCELED);
    assert_int_equal(f.a_spawn_on, -ECANCELED);
    assert_int_equal(f.a_child, -ECANCELED);
    assert_int_equal(f.a_restart, -ECANCELED);
    assert_true(f.e_send < 0);
    assert_int_equal(f.cli_accepts, 0);
    assert_int_equal(f.cli_read, -ECONNRESET);
    /* The write started at the crash instant never reached the disk. */
    assert_true(f.g_write == -EIO || f.g_write == -ECANCELED);
    assert_int_equal(f.late_stat, -ENOENT);
    assert_int_equal(f.a_stat, -ENOENT);
    /* The other hosts were untouched. */
    assert_int_equal(f.u_sleep, 0);
    assert_true(f.u_woke == f.crash_at - 1.0 + 3.0);
    assert_int_equal(f.u_recv, 0);
    assert_int_equal(f.u_pings, 12);
    assert_int_equal(f.u_ping_errs, 0);
}

/* ---- what the host sent before the crash arrives; a crash inside a disk call ----------*/

typedef struct wire_scen {
    unsigned flags;
    corio_sim_disk *d;
    int got_rc, after_rc, fsync_rc, crashed_inc;
    char got[8];
    double after_at, crash_at;
} wire_scen;

static wire_scen *ws;

static void disk_hook(void *arg)
{
    (void)arg;
    corio_sim_host_crash(h_srv, ws->flags);
}

/* The server host's task: replies, then fsyncs; the disk crashes in that
 * fsync (crash_at_op), and its hook crashes the host, in the same instant
 * as the reply. */
static void *say_then_sync(void *arg)
{
    corio_socket *l, *c;
    corio_file *f;
    char b;
    corio_sim_disk_faults fl = {0};
    (void)arg;
    if (corio_tcp_listen(&l, "0.0.0.0", PORT, 0, 0) || corio_socket_accept(l, &c, NULL))
        return NULL;
    corio_socket_recv(c, &b, 1, 0);
    if (corio_file_open(&f, "f", O_WRONLY | O_CREAT, 0644) == 0) {
        corio_file_write(f, "x", 1);
        fl.crash_at_op = 1; /* the next mutating call: the fsync */
        fl.on_crash = disk_hook;
        corio_sim_disk_set_faults(ws->d, &fl);
        corio_socket_sendall(c, "bye", 3);
        ws->crash_at = corio_now();
        ws->fsync_rc = corio_file_fsync(f);
        corio_file_close(f);
    }
    corio_socket_close(c);
    corio_socket_close(l);
    return NULL;
}

static void *wire_client(void *arg)
{
    corio_socket *s;
    corio_scope sc;
    char b[8];
    (void)arg;
    if (corio_tcp_connect(&s, "srv", PORT))
        return NULL;
    corio_socket_sendall(s, "?", 1);
    ws->got_rc = read_exact(s, ws->got, 3);
    corio_scope_enter(&sc, 5.0, 0);
    ws->after_rc = (int)corio_socket_recv(s, b, sizeof b, 0);
    corio_scope_exit(&sc);
    ws->after_at = corio_now();
    corio_socket_close(s);
    return NULL;
}

static void *wire_scenario(void *arg)
{
    corio_task *a, *b;
    (void)arg;
    if (corio_sim_disk_new(&ws->d, 3) || sim_hosts(0.01, 0.01, 3) ||
        corio_sim_host_set_disk(h_srv, ws->d))
        return corio_fail(-ENOMEM);
    corio_sim_spawn_on(h_srv, &a, say_then_sync, NULL);
    corio_sim_spawn_on(h_cli, &b, wire_client, NULL);
    corio_await(a, NULL);
    ws->crashed_inc = corio_sim_host_incarnation(h_srv);
    corio_await(b, NULL);
    corio_sim_disk_free(ws->d);
    return NULL;
}

static void what_was_sent_before_the_crash_arrives(void **state)
{
    wire_scen w;
    (void)state;
    ws = &w;
    memset(&w, 0, sizeof w);
    w.flags = CORIO_SIM_CRASH_RESET;
    assert_int_equal(corio_sim_check(1, wire_scenario, NULL, NULL, NULL), 0);
    /* The disk crashed in the fsync, and its hook crashed the host. */
    assert_int_equal(w.fsync_rc, -EIO);
    assert_int_equal(w.crashed_inc, 2);
    /* The reply written just before arrived, then the reset. */
    assert_int_equal(w.got_rc, 0);
    assert_memory_equal(w.got, "bye", 3);
    assert_int_equal(w.after_rc, -ECONNRESET);
    assert_true(w.after_at < w.crash_at + 0.1);
    /* A power cut: the reply arrives all the same, then silence. */
    memset(&w, 0, sizeof w);
    assert_int_equal(corio_sim_check(2, wire_scenario, NULL, NULL, NULL), 0);
    assert_int_equal(w.crashed_inc, 2);
    assert_int_equal(w.got_rc, 0);
    assert_memory_equal(w.got, "bye", 3);
    assert_int_equal(w.after_rc, -ETIMEDOUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unsynced_writes_of_the_crashed_host_are_lost),
        cmocka_unit_test(crashed_tasks_are_unwound_and_fenced),
        cmocka_unit_test(what_was_sent_before_the_crash_arrives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
