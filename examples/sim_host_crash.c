/*
 * sim_host_crash: crashing and restarting one host of a simulation while
 * its clients go on.
 *
 * A key-value server on host "kv" keeps a log on a disk of its own: a SET
 * is appended and fsynced before it is acknowledged, and a restarted
 * server rebuilds its table from the log. Three clients on other hosts
 * store 10 keys each (1 s per request, reconnect and retry on any error),
 * then read every acknowledged key back. Meanwhile the kv host crashes 1-3
 * times at seeded moments, as a power cut (its peers hear nothing, its
 * unsynced writes are lost) or as a process crash (its peers get resets),
 * and restarts after a seeded pause on what its disk kept. The property
 * checked for every seed: every acknowledged key reads back with its value.
 *
 *     ./sim_host_crash              # 100 seeds, each run twice (checked)
 *     ./sim_host_crash 1000
 *     ./sim_host_crash 100 buggy    # acknowledge before the fsync: fails
 *     CORIO_SIM_SEED=3 CORIO_SIM_TRACE=1 ./sim_host_crash   # replay one
 *
 * Only the scenario knows it is simulated: the server and the clients are
 * ordinary corio code (corio_server, corio_stream_*, corio_file_*).
 */
#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS 3
#define KEYS 10
#define SLOTS (CLIENTS * KEYS)
#define PORT 6000

static int buggy;                 /* acknowledge before the fsync */
static int h_kv, h_cli[CLIENTS];
static unsigned crash_how;        /* flags of the next crash */
static int acked[SLOTS], lost;    /* what the clients saw; reset per run */

/* One server incarnation's memory: a crashed one's tasks may still touch
 * theirs while they unwind, never the next one's. */
typedef struct kv {
    char table[SLOTS][16];
    corio_file *log;
} kv;

static int handle(kv *k, const char *line, char *reply, size_t cap)
{
    int slot;
    char value[16], rec[48];
    if (sscanf(line, "SET %d %15s", &slot, value) == 2 && slot >= 0 && slot < SLOTS) {
        int n = snprintf(rec, sizeof rec, "%d %s\n", slot, value);
        if (corio_file_write(k->log, rec, (size_t)n) != n)
            return -EIO;
        if (buggy) {
            snprintf(k->table[slot], sizeof k->table[slot], "%s", value);
            snprintf(reply, cap, "OK\n");
            return 1; /* the fsync after the reply (the bug) */
        }
        if (corio_file_fsync(k->log) < 0)
            return -EIO; /* not durable: no acknowledgement */
        snprintf(k->table[slot], sizeof k->table[slot], "%s", value);
        snprintf(reply, cap, "OK\n");
        return 0;
    }
    if (sscanf(line, "GET %d", &slot) == 1 && slot >= 0 && slot < SLOTS) {
        snprintf(reply, cap, k->table[slot][0] ? "V %s\n" : "N\n", k->table[slot]);
        return 0;
    }
    return -EPROTO;
}

static void serve(corio_stream *s, void *arg)
{
    kv *k = arg;
    char line[64], reply[32];
    size_t len;
    while (corio_stream_readline(s, line, sizeof line, &len) == 0 && len > 0) {
        int rc = handle(k, line, reply, sizeof reply);
        if (rc < 0 || corio_stream_write(s, reply, strlen(reply)) < 0)
            break;
        if (rc == 1)
            corio_file_fsync(k->log);
    }
}

/* Replays the log: "slot value\n" records; a torn last line is ignored. */
static int recover(kv *k)
{
    char *data, *p, *nl;
    size_t len;
    int rc = corio_read_file("kv.log", &data, &len, 0);
    if (rc == -ENOENT)
        return 0;
    if (rc)
        return rc;
    for (p = data; (nl = strchr(p, '\n')); p = nl + 1) {
        int slot;
        char value[16];
        *nl = '\0';
        if (sscanf(p, "%d %15s", &slot, value) == 2 && slot >= 0 && slot < SLOTS)
            snprintf(k->table[slot], sizeof k->table[slot], "%s", value);
    }
    free(data);
    return 0;
}

static void *kv_main(void *arg)
{
    kv *k = calloc(1, sizeof *k);
    corio_file *dir;
    corio_server *srv = NULL;
    int rc = k ? recover(k) : -ENOMEM;
    (void)arg;
    /* The log's name must be durable before anything in it is promised. */
    if (!rc)
        rc = corio_file_open(&k->log, "kv.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (!rc && (rc = corio_file_open(&dir, ".", O_RDONLY | O_DIRECTORY, 0)) == 0) {
        rc = corio_file_fsync(dir);
        corio_file_close(dir);
    }
    if (!rc)
        rc = corio_server_start(&srv, "0.0.0.0", PORT, serve, k, NULL);
    while (!rc && corio_sleep(1.0) == 0) /* serves until cancelled or crashed */
        ;
    if (srv)
        corio_server_close(srv, 1.0);
    if (k && k->log)
        corio_file_close(k->log);
    free(k);
    return NULL;
}

/* One request with a 1 s deadline; any failure drops the connection. */
static int request(corio_stream **sp, const char *req, char *reply, size_t cap)
{
    corio_scope sc;
    size_t len;
    int rc;
    corio_scope_enter(&sc, 1.0, 0);
    rc = *sp ? 0 : corio_stream_connect_tcp(sp, "kv", PORT);
    if (!rc)
        rc = corio_stream_write(*sp, req, strlen(req));
    if (!rc)
        rc = corio_stream_readline(*sp, reply, cap, &len);
    corio_scope_exit(&sc);
    if (rc && *sp) {
        corio_stream_close(*sp);
        *sp = NULL;
    }
    return rc;
}

static void *client(void *arg)
{
    int id = (int)(intptr_t)arg, i, slot;
    corio_stream *s = NULL;
    char req[48], reply[32], want[40];
    for (i = 0; i < 2 * KEYS; i++) {
        slot = id * KEYS + i % KEYS;
        if (i < KEYS)
            snprintf(req, sizeof req, "SET %d v%d\n", slot, slot);
        else if (acked[slot])
            snprintf(req, sizeof req, "GET %d\n", slot);
        else
            continue;
        while (request(&s, req, reply, sizeof reply) != 0)
            if (corio_sleep(0.1 * (double)(1 + corio_sim_random() % 8)) < 0)
                return NULL;
        if (i < KEYS) {
            acked[slot] = strcmp(reply, "OK\n") == 0;
            corio_sim_trace(&slot, sizeof slot); /* "acknowledged" */
        } else {
            snprintf(want, sizeof want, "V v%d\n", slot);
            lost += strcmp(reply, want) != 0;
        }
    }
    if (s)
        corio_stream_close(s);
    return NULL;
}

/* The disk's hook: a crash inside a disk call (faults.crash_at_op)
 * crashes the whole host at that instant. */
static void disk_crashed(void *arg)
{
    (void)arg;
    corio_sim_host_crash(h_kv, crash_how);
}

static void *scenario(void *arg)
{
    corio_sim_net_config nc = {0};
    corio_sim_disk *disk;
    corio_task *kv_task, *cli[CLIENTS];
    int i, crashes;
    (void)arg;
    memset(acked, 0, sizeof acked);
    lost = 0;
    if (corio_sim_disk_new(&disk, corio_sim_seed()))
        return corio_fail(-ENOMEM);
    nc.latency_min = 0.002;
    nc.latency_max = 0.020;
    corio_sim_net_configure(&nc);
    h_kv = corio_sim_host_add("kv", "10.0.0.2");
    corio_sim_host_set_disk(h_kv, disk);
    for (i = 0; i < CLIENTS; i++) {
        char name[8], addr[16];
        snprintf(name, sizeof name, "c%d", i + 1);
        snprintf(addr, sizeof addr, "10.0.1.%d", i + 1);
        h_cli[i] = corio_sim_host_add(name, addr);
    }
    corio_sim_spawn_on(h_kv, &kv_task, kv_main, NULL);
    for (i = 0; i < CLIENTS; i++)
        corio_sim_spawn_on(h_cli[i], &cli[i], client, (void *)(intptr_t)i);
    /* The faults: the kv host crashes 1-3 times at seeded moments. */
    crashes = 1 + (int)(corio_sim_random() % 3);
    for (i = 0; i < crashes; i++) {
        int inc = corio_sim_host_incarnation(h_kv);
        crash_how = corio_sim_random() % 2 ? CORIO_SIM_CRASH_RESET : 0;
        if (corio_sim_random() % 2) {
            /* At a seeded moment... */
            corio_sleep(0.05 * (double)(corio_sim_random() % 40));
        } else {
            /* ...or in the middle of a seeded disk call (a write or an
             * fsync of a request), within 5 s. */
            corio_sim_disk_faults f = {0};
            int waited = 0;
            f.crash_at_op = 1 + corio_sim_random() % 20;
            f.on_crash = disk_crashed;
            corio_sim_disk_set_faults(disk, &f);
            while (corio_sim_host_incarnation(h_kv) == inc && waited++ < 100)
                corio_sleep(0.05);
            corio_sim_disk_set_faults(disk, NULL);
        }
        corio_sim_host_crash(h_kv, crash_how); /* no-op if the disk did */
        corio_await(kv_task, NULL); /* its tasks unwind at once */
        corio_sleep(0.1 * (double)(1 + corio_sim_random() % 20));
        corio_sim_host_restart(h_kv);
        corio_sim_spawn_on(h_kv, &kv_task, kv_main, NULL);
    }
    for (i = 0; i < CLIENTS; i++)
        corio_await(cli[i], NULL);
    corio_cancel(kv_task);
    corio_await(kv_task, NULL);
    corio_sim_disk_free(disk);
    /* The property: every acknowledged key read back with its value. */
    return lost ? corio_fail(-EIO) : NULL;
}

int main(int argc, char **argv)
{
    corio_sim_config cfg = {0};
    corio_sim_stats st;
    uint64_t seeds = argc > 1 ? strtoull(argv[1], NULL, 10) : 100;
    int rc;

    buggy = argc > 2 && strcmp(argv[2], "buggy") == 0;
    cfg.time_limit = 3600; /* a client stuck for an hour fails the seed */
    cfg.flags = CORIO_SIM_CHECK;
    rc = corio_sim_run_seeds(0, seeds, scenario, NULL, &cfg, &st);
    printf("%llu seeds passed%s: %.0f virtual s in %.2f real s\n",
           (unsigned long long)st.seeds_run, buggy ? " (buggy server)" : "",
           st.virtual_seconds, st.real_seconds);
    return rc < 0 ? 1 : 0;
}
