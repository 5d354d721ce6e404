/*
 * sim_net: testing a client and server over a faulty network with the
 * simulator.
 *
 * A key-value server runs on host "kv"; three clients on hosts c1, c2, c3
 * each store 20 keys over TCP, with a 1 s timeout per request and
 * reconnect-and-retry on any failure. The network has 5-40 ms of seeded
 * latency, and a chaos task cuts links, resets connections and makes the
 * server drop all its connections at seeded times. The property checked
 * for every seed: every client finishes within an hour of virtual time, and
 * every key the server acknowledged is there at the end.
 *
 * The program is ordinary corio code (corio_tcp_listen, corio_server,
 * corio_stream_*); only main's scenario knows it is simulated. Each seed
 * runs twice and the trace hashes are compared (CORIO_SIM_CHECK).
 *
 *     ./sim_net            # 100 seeds
 *     ./sim_net 2000       # more
 *     CORIO_SIM_SEED=17 CORIO_SIM_TRACE=1 ./sim_net   # replay one, traced
 */
#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS 3
#define KEYS 20
#define PORT 6000

/* The server's store: reset by each run's main task. */
static char store[CLIENTS * KEYS][32];
static int acked[CLIENTS * KEYS];
static int hosts[1 + CLIENTS];
static int done;

/* One connection: "SET <slot> <value>\n" -> "OK\n". */
static void serve(corio_stream *s, void *arg)
{
    char line[128];
    size_t len;
    (void)arg;
    while (corio_stream_readline(s, line, sizeof line, &len) == 0 && len > 0) {
        int slot;
        char value[32];
        if (sscanf(line, "SET %d %31s", &slot, value) != 2 || slot < 0 ||
            slot >= CLIENTS * KEYS)
            break;
        snprintf(store[slot], sizeof store[slot], "%s", value);
        if (corio_stream_write(s, "OK\n", 3) < 0)
            break;
    }
}

static void *kv_server(void *arg)
{
    corio_server *srv;
    int rc = corio_server_start(&srv, "0.0.0.0", PORT, serve, NULL, NULL);
    (void)arg;
    if (rc)
        return corio_fail(rc);
    while (!done && corio_sleep(1.0) == 0) /* serve until the scenario is over */
        ;
    corio_server_close(srv, 1.0);
    return NULL;
}

/* One request with a timeout; any failure drops the connection. */
static int set_once(corio_stream **sp, int slot, const char *value)
{
    char req[96], reply[16];
    size_t len;
    corio_scope sc;
    int rc;
    corio_scope_enter(&sc, 1.0, 0);
    rc = *sp ? 0 : corio_stream_connect_tcp(sp, "kv", PORT);
    if (!rc) {
        snprintf(req, sizeof req, "SET %d %s\n", slot, value);
        rc = corio_stream_write(*sp, req, strlen(req));
    }
    if (!rc)
        rc = corio_stream_readline(*sp, reply, sizeof reply, &len);
    if (!rc && strcmp(reply, "OK\n") != 0)
        rc = -EPROTO;
    corio_scope_exit(&sc);
    if (rc && *sp) {
        corio_stream_close(*sp);
        *sp = NULL;
    }
    return rc;
}

static void *client(void *arg)
{
    int id = (int)(intptr_t)arg, k;
    corio_stream *s = NULL;
    for (k = 0; k < KEYS; k++) {
        char value[32];
        int slot = id * KEYS + k, tries = 0;
        snprintf(value, sizeof value, "v%d.%d", id, k);
        while (set_once(&s, slot, value) != 0) {
            /* Back off 0.1-1.6 s (seeded jitter), then retry: SET is
             * idempotent, so a retry after a lost reply is harmless. */
            if (corio_sleep(0.1 * (double)(1 + corio_sim_random() % 16)) < 0)
                return NULL;
            tries++;
        }
        acked[slot] = 1;
        corio_sim_trace(&slot, sizeof slot); /* "slot acknowledged" */
    }
    if (s)
        corio_stream_close(s);
    return NULL;
}

/* Faults at seeded times: cut a link, heal it, or drop every connection
 * of the server (a crash as its peers see it). */
static void *chaos(void *arg)
{
    (void)arg;
    for (;;) {
        int c = hosts[1 + corio_sim_random() % CLIENTS];
        if (corio_sleep(0.02 * (double)(corio_sim_random() % 20)) < 0)
            return NULL;
        switch (corio_sim_random() % 3) {
        case 0:
            corio_sim_partition(hosts[0], c);
            corio_sleep(0.1 * (double)(corio_sim_random() % 30));
            corio_sim_heal(hosts[0], c);
            break;
        case 1:
            corio_sim_host_drop_connections(hosts[0]);
            break;
        default:
            break; /* a quiet spell */
        }
    }
}

static void *scenario(void *arg)
{
    corio_sim_net_config nc = {0};
    corio_task *srv, *cli[CLIENTS], *ch;
    int i;
    (void)arg;
    memset(store, 0, sizeof store);
    memset(acked, 0, sizeof acked);
    done = 0;
    nc.latency_min = 0.005;
    nc.latency_max = 0.040;
    corio_sim_net_configure(&nc);
    hosts[0] = corio_sim_host_add("kv", "10.0.0.2");
    for (i = 0; i < CLIENTS; i++) {
        char name[8], addr[16];
        snprintf(name, sizeof name, "c%d", i + 1);
        snprintf(addr, sizeof addr, "10.0.1.%d", i + 1);
        hosts[1 + i] = corio_sim_host_add(name, addr);
    }
    corio_sim_spawn_on(hosts[0], &srv, kv_server, NULL);
    corio_sleep(0.001);
    for (i = 0; i < CLIENTS; i++)
        corio_sim_spawn_on(hosts[1 + i], &cli[i], client, (void *)(intptr_t)i);
    ch = corio_spawn(chaos, NULL);
    for (i = 0; i < CLIENTS; i++)
        corio_await(cli[i], NULL);
    corio_cancel(ch);
    corio_await(ch, NULL);
    done = 1;
    corio_await(srv, NULL);
    /* The property: every acknowledged key is in the store. */
    for (i = 0; i < CLIENTS * KEYS; i++)
        if (acked[i] && store[i][0] == '\0')
            return corio_fail(-EIO);
    return NULL;
}

int main(int argc, char **argv)
{
    corio_sim_config cfg = {0};
    corio_sim_stats st;
    uint64_t seeds = argc > 1 ? strtoull(argv[1], NULL, 10) : 100;
    int rc;

    cfg.time_limit = 3600; /* a client stuck for an hour fails the seed */
    cfg.flags = CORIO_SIM_CHECK;
    rc = corio_sim_run_seeds(0, seeds, scenario, NULL, &cfg, &st);
    printf("%llu seeds passed: %.0f virtual s in %.2f real s (%.0fx)\n",
           (unsigned long long)st.seeds_run, st.virtual_seconds, st.real_seconds,
           st.real_seconds > 0 ? st.virtual_seconds / st.real_seconds : 0.0);
    return rc < 0 ? 1 : 0;
}
