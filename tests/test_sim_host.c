/*
 * Deterministic simulation: crashing and restarting ONE simulated host
 * while the others go on (corio_sim_host_crash, corio_sim_host_restart,
 * corio_sim_host_set_disk; include/corio_sim.h).
 *
 * Each test fails if the feature is broken: a client that would not see
 * the reset or the silence, a restarted server that would not answer in
 * its new incarnation, unsynced writes that would survive, a task of the
 * crashed host that would still wait (outside a shield), write,
 * send, open a socket or spawn after the crash, a file operation started
 * before the crash that would still reach the disk, or another host's
 * task that would be disturbed; and the determinism check over seeds
 * with a crash at a seeded moment.
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

#include "testutil.h"

#define PORT 7000
#define CPORT 8000

static int h_srv, h_cli, h_db;

static int hosts(double lat_min, double lat_max)
{
    corio_sim_net_config nc;
    memset(&nc, 0, sizeof nc);
    nc.latency_min = lat_min;
    nc.latency_max = lat_max;
    if (corio_sim_net_configure(&nc) < 0)
        return -1;
    h_srv = corio_sim_host_add("srv", "10.0.0.2");
    h_cli = corio_sim_host_add("cli", "10.0.0.3");
    h_db = corio_sim_host_add("db", "10.0.0.4");
    return h_srv > 0 && h_cli > 0 && h_db > 0 ? 0 : -1;
}

/* ---- a server that answers "?" with its incarnation -------------------------------*/

static void *inc_conn(void *arg)
{
    corio_socket *c = arg;
    char b;
    int32_t inc = corio_sim_host_incarnation(corio_sim_host_current());
    while (corio_socket_recv(c, &b, 1, 0) == 1)
        if (corio_socket_sendall(c, &inc, sizeof inc) < 0)
            break;
    corio_socket_close(c);
    return NULL;
}

static void *inc_server(void *arg)
{
    corio_socket *l, *c;
    int rc;
    (void)arg;
    rc = corio_tcp_listen(&l, "0.0.0.0", PORT, 0, 0);
    if (rc)
        return corio_fail(rc);
    while ((rc = corio_socket_accept(l, &c, NULL)) == 0)
        corio_detach(corio_spawn(inc_conn, c));
    corio_socket_close(l);
    return corio_fail(rc);
}

/* Reads exactly len bytes: 0, -EPIPE at end of stream, or the error. */
static int read_exact(corio_socket *s, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = corio_socket_recv(s, (char *)buf + got, len - got, 0);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EPIPE;
        got += (size_t)n;
    }
    return 0;
}

/* ---- a client on another host: keeps asking, reconnects on errors ----------------*/

typedef struct client_log {
    int replies[4];        /* per incarnation */
    int first_err;         /* the first error its established connection saw */
    double first_err_at;
    int down_errs[8];      /* errors while reconnecting, in order */
    int ndown;
    int status;            /* the client task's end: 0 */
    double stop_at;        /* stops then */
} client_log;

static void *client(void *arg)
{
    client_log *lg = arg;
    corio_socket *s = NULL;
    corio_scope sc;
    int rc;
    while (corio_now() < lg->stop_at) {
        int32_t inc = 0;
        ssize_t n;
        if (!s) {
            corio_scope_enter(&sc, 5.0, 0);
            rc = corio_tcp_connect(&s, "srv", PORT);
            corio_scope_exit(&sc);
            if (rc) {
                s = NULL;
                if (lg->ndown < 8)
                    lg->down_errs[lg->ndown++] = rc;
                if ((rc = corio_sleep(0.5)) != 0)
                    return corio_fail(rc);
                continue;
            }
        }
        corio_scope_enter(&sc, 2.0, 0);
        n = corio_socket_sendall(s, "?", 1);
        if (n >= 0)
            n = read_exact(s, &inc, sizeof inc);
        corio_scope_exit(&sc);
        if (n < 0) {
            if (!lg->first_err) {
                lg->first_err = (int)n;
                lg->first_err_at = corio_now();
            }
            corio_socket_close(s);
            s = NULL;
            continue;
        }
        if (inc >= 1 && inc < 4)
            lg->replies[inc]++;
        if ((rc = corio_sleep(0.25)) != 0)
            return corio_fail(rc);
    }
    if (s)
        corio_socket_close(s);
    return NULL;
}

/* ---- the client sees a reset (or silence) and reconnects to the restart -----------*/

typedef struct scen {
    unsigned flags;
    int seeded;            /* crash time and kind from the seed */
    client_log cl;
    double crash_at, restart_at, old_done_at, hold_at;
    int crash_count, spawn_down, restart_inc, old_status, hold_rc, inc_down;
} scen;

/* On the client host: a connection that stays open across the crash and
 * asks once, a second after it, with no deadline. */
static void *holder(void *arg)
{
    scen *sc = arg;
    corio_socket *s;
    int32_t inc;
    int rc = corio_tcp_connect(&s, "srv", PORT);
    if (rc) {
        sc->hold_rc = 1;
        return NULL;
    }
    corio_sleep_until(sc->crash_at + 1.0);
    rc = corio_socket_sendall(s, "?", 1) < 0 ? -EPIPE : 0;
    if (rc == 0)
        rc = read_exact(s, &inc, sizeof inc);
    sc->hold_rc = rc;
    sc->hold_at = corio_now();
    corio_socket_close(s);
    return NULL;
}

static void *crash_scenario(void *arg)
{
    scen *sc = arg;
    corio_task *srv, *cli, *hold, *srv2 = NULL;
    if (hosts(0.001, 0.004))
        return corio_fail(-EINVAL);
    memset(&sc->cl, 0, sizeof sc->cl); /* corio_sim_check runs it twice */
    sc->crash_at = corio_now() + 5.0;
    sc->restart_at = sc->crash_at + 4.0;
    if (sc->seeded) {
        sc->crash_at = corio_now() + 1.0 + (double)(corio_sim_random() % 8000) / 1000.0;
        sc->restart_at = sc->crash_at + 1.0 + (double)(corio_sim_random() % 4000) / 1000.0;
        sc->flags = corio_sim_random() & 1 ? CORIO_SIM_CRASH_RESET : 0;
    }
    sc->cl.stop_at = sc->restart_at + 6.0;
    if (corio_sim_spawn_on(h_srv, &srv, inc_server, NULL) ||
        corio_sim_spawn_on(h_cli, &cli, client, &sc->cl) ||
        corio_sim_spawn_on(h_cli, &hold, holder, sc))
        return corio_fail(-ENOMEM);
    corio_sleep_until(sc->crash_at);
    sc->crash_count = corio_sim_host_crash(h_srv, sc->flags);
    sc->inc_down = corio_sim_host_incarnation(h_srv);
    sc->spawn_down = corio_sim_spawn_on(h_srv, &srv2, inc_server, NULL);
    sc->old_status = corio_await(srv, NULL);
    sc->old_done_at = corio_now();
    corio_sleep_until(sc->restart_at);
    sc->restart_inc = corio_sim_host_restart(h_srv);
    if (corio_sim_spawn_on(h_srv, &srv2, inc_server, NULL))
        return corio_fail(-ENOMEM);
    sc->cl.status = corio_await(cli, NULL);
    corio_await(hold, NULL);
    corio_cancel(srv2);
    corio_await(srv2, NULL);
    return NULL;
}

static void run_crash_scenario(scen *sc, unsigned flags, uint64_t seed)
{
    memset(sc, 0, sizeof *sc);
    sc->flags = flags;
    assert_int_equal(corio_sim_check(seed, crash_scenario, sc, NULL, NULL), 0);
    /* The server host's tasks: the server and its two connections. */
    assert_int_equal(sc->crash_count, 3);
    assert_int_equal(sc->inc_down, 2);
    assert_int_equal(sc->spawn_down, -EHOSTDOWN);
    /* Unwound at the crash instant (no virtual time passed), cancelled. */
    assert_int_equal(sc->old_status, -ECANCELED);
    assert_true(sc->old_done_at == sc->crash_at);
    assert_int_equal(sc->restart_inc, 2);
    /* The client host went on: answers from both incarnations, and its
     * task ended by itself. */
    assert_int_equal(sc->cl.status, 0);
    assert_true(sc->cl.replies[1] > 0);
    assert_true(sc->cl.replies[2] > 0);
    assert_int_equal(sc->cl.replies[3], 0);
}

static void client_sees_reset_then_reconnects_to_restarted_server(void **state)
{
    scen sc;
    int i, refused = 0;
    (void)state;
    run_crash_scenario(&sc, CORIO_SIM_CRASH_RESET, 3);
    /* A reset, within a sleep and a latency of the crash... */
    assert_true(sc.cl.first_err == -ECONNRESET || sc.cl.first_err == -EPIPE);
    assert_true(sc.cl.first_err_at >= sc.crash_at && sc.cl.first_err_at < sc.crash_at + 0.3);
    /* ...then refusals while it is down (its kernel answers)... */
    for (i = 0; i < sc.cl.ndown; i++)
        refused += sc.cl.down_errs[i] == -ECONNREFUSED;
    assert_true(refused > 0);
    /* ...and the idle connection was reset before the restart. */
    assert_true(sc.hold_rc == -ECONNRESET || sc.hold_rc == -EPIPE);
    assert_true(sc.hold_at < sc.restart_at);
}

static void client_sees_silence_then_reconnects_to_restarted_server(void **state)
{
    scen sc;
    int i;
    (void)state;
    run_crash_scenario(&sc, 0, 4);
    /* Silence: the client's own 2 s deadline fires, no reset. */
    assert_int_equal(sc.cl.first_err, -ETIMEDOUT);
    assert_true(sc.cl.first_err_at >= sc.crash_at + 1.75);
    for (i = 0; i < sc.cl.ndown; i++)
        assert_int_not_equal(sc.cl.down_errs[i], -ECONNREFUSED);
    /* What the idle connection sent waited for the restart, and was then
     * answered by a reset (its socket is gone). */
    assert_int_equal(sc.hold_rc, -ECONNRESET);
    assert_true(sc.hold_at >= sc.restart_at);
}

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
    if (hosts(0.001, 0.002) || corio_sim_host_set_disk(h_srv, d->ds) ||
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
    if (hosts(0.001, 0.002) || corio_sim_host_set_disk(h_srv, fs->ds) ||
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
    if (corio_sim_disk_new(&ws->d, 3) || hosts(0.01, 0.01) ||
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

/* ---- determinism: a crash at a seeded moment replays exactly ------------------------*/

static void seeded_crashes_replay_exactly(void **state)
{
    scen sc;
    corio_sim_stats st;
    uint64_t seed, first = 0;
    int differ = 0;
    (void)state;
    for (seed = 0; seed < 12; seed++) {
        memset(&sc, 0, sizeof sc);
        sc.seeded = 1;
        /* Runs it twice and compares the trace hashes (CORIO_ENONDET). */
        assert_int_equal(corio_sim_check(seed, crash_scenario, &sc, NULL, &st), 0);
        assert_int_equal(sc.spawn_down, -EHOSTDOWN);
        assert_int_equal(sc.old_status, -ECANCELED);
        assert_int_equal(sc.restart_inc, 2);
        assert_true(sc.cl.replies[1] > 0 && sc.cl.replies[2] > 0);
        if (seed == 0)
            first = st.trace_hash;
        else
            differ += st.trace_hash != first;
    }
    assert_true(differ > 0);
}

/* ---- the calls' errors ---------------------------------------------------------------*/

static int api_errors[16];

static void *api_scenario(void *arg)
{
    int *e = api_errors, h;
    corio_task *t;
    (void)arg;
    h = corio_sim_host_add("solo", "10.0.0.9");
    e[0] = corio_sim_host_crash(0, 0);
    e[1] = corio_sim_host_crash(99, 0);
    e[2] = corio_sim_host_crash(h, 0x80);
    e[3] = corio_sim_host_restart(h);
    e[4] = corio_sim_host_incarnation(h);
    e[5] = corio_sim_host_crash(h, 0);        /* no task on it */
    e[6] = corio_sim_host_incarnation(h);
    e[7] = corio_sim_host_crash(h, 0);        /* already down: no-op */
    e[8] = corio_sim_host_incarnation(h);
    e[9] = corio_sim_spawn_on(h, &t, NULL, NULL);
    e[10] = corio_sim_host_restart(h);
    e[11] = corio_sim_host_restart(h);
    e[12] = corio_sim_host_set_disk(99, NULL);
    e[13] = corio_sim_host_incarnation(-1);
    return NULL;
}

static void host_calls_check_their_arguments(void **state)
{
    (void)state;
    assert_int_equal(corio_sim_host_crash(1, 0), -EPERM);
    assert_int_equal(corio_sim_host_restart(1), -EPERM);
    assert_int_equal(corio_sim_host_incarnation(1), -EPERM);
    assert_int_equal(corio_sim_host_set_disk(1, NULL), -EPERM);
    assert_int_equal(corio_sim_run(1, api_scenario, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(api_errors[0], -EINVAL);
    assert_int_equal(api_errors[1], -EINVAL);
    assert_int_equal(api_errors[2], -EINVAL);
    assert_int_equal(api_errors[3], -EBUSY);
    assert_int_equal(api_errors[4], 1);
    assert_int_equal(api_errors[5], 0);
    assert_int_equal(api_errors[6], 2);
    assert_int_equal(api_errors[7], 0);
    assert_int_equal(api_errors[8], 2);
    assert_int_equal(api_errors[9], -EHOSTDOWN);
    assert_int_equal(api_errors[10], 2);
    assert_int_equal(api_errors[11], -EBUSY);
    assert_int_equal(api_errors[12], -EINVAL);
    assert_int_equal(api_errors[13], -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(client_sees_reset_then_reconnects_to_restarted_server),
        cmocka_unit_test(client_sees_silence_then_reconnects_to_restarted_server),
        cmocka_unit_test(unsynced_writes_of_the_crashed_host_are_lost),
        cmocka_unit_test(crashed_tasks_are_unwound_and_fenced),
        cmocka_unit_test(what_was_sent_before_the_crash_arrives),
        cmocka_unit_test(seeded_crashes_replay_exactly),
        cmocka_unit_test(host_calls_check_their_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
