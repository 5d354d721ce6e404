/*
 * The simulated network (include/corio_sim.h, docs/simulation.md): what
 * host.c (hosts, addresses, the task -> host table, partitions, name
 * resolution) and net.c (sockets, the relay, resets) share.
 *
 * One sn_net per simulation run, made at its first use on the simulated
 * loop's thread and freed by corio__simnet_end (sim.c, before the loop
 * closes). Every sn_sock lives until then too, so a corio_socket's ->sim
 * pointer never dangles while the simulation runs.
 */
#ifndef CORIO_SIM_SIMNET_H
#define CORIO_SIM_SIMNET_H

#include <corio_sim.h>

#include "io/net.h"

#include <stdint.h>

#define SN_MAX_ADDRS 4
#define SN_HOST_NAME 64

typedef struct sn_host {
    char name[SN_HOST_NAME];
    corio_addr addr[SN_MAX_ADDRS]; /* port 0 */
    int naddr;
    unsigned next_port;            /* ephemeral ports, 40000.. */
    /* Crashes (corio_sim_host_crash): the incarnation (1, +1 per crash)
     * that the host's live tasks carry; a task of an older one is doomed.
     * down: crashed, not restarted; silent: down and cut from every host
     * (a power cut: nothing answers). disk: corio_sim_host_set_disk's,
     * owned by the caller. */
    uint32_t inc;
    unsigned down : 1, silent : 1, crashing : 1;
    corio_sim_disk *disk;
} sn_host;

/* Where a task lives: its host and the incarnation it was spawned in. */
typedef struct sn_where {
    int host;
    uint32_t inc;
} sn_where;

/* A segment in flight: stream data, end of stream, or a datagram. */
enum { SN_DATA, SN_FIN, SN_DGRAM, SN_RST };

typedef struct sn_seg {
    struct sn_seg *next;
    int64_t due;          /* virtual ns of delivery */
    uint64_t seq;         /* tie-break for datagrams due at once */
    uint8_t kind;
    int src_host, dst_host;
    corio_addr from, to;  /* datagrams */
    size_t len, off;
    char data[];
} sn_seg;

typedef struct corio__simsock sn_sock;

/* Allocated by corio_socket_open (or a connect, for the accepting side)
 * in a simulation; freed by corio__simnet_end. The app's fd is one end of
 * a socketpair, `wire` the other: what the app writes the relay reads from
 * the wire, and what the relay delivers it writes into the wire. */
struct corio__simsock {
    sn_sock *all_next;
    uint32_t id;          /* 1, 2, ... in creation order (the trace) */
    int host, type, family;
    int app_fd;           /* accepting side before accept: the app's end */
    int wire;             /* -1 once closed */
    corio__fd wf;         /* the wire's registration */
    corio_addr local, peer;
    unsigned bound : 1, listening : 1, connected : 1, dead : 1, reset : 1,
        vanished : 1, app_closed : 1, wire_in : 1, rd_eof : 1, held : 1,
        blocked : 1, reset_seen : 1, fin_in : 1,
        drain : 1;        /* dead by a host crash; what it sent still goes */
    sn_sock *peer_ep;     /* stream: the other end of the connection */
    sn_sock *acc_head, *acc_tail, *acc_next; /* listener: not yet accepted */
    sn_sock *feeder;      /* whose delivery waits for this wire to drain */
    sn_seg *q, *qtail;    /* stream: toward peer_ep; dgram: arriving here */
    size_t qbytes;
    int64_t link_free, last_due;
    corio_timer timer;    /* armed at the head segment's due time */
};

typedef struct sn_net {
    corio_loop *loop;
    uint64_t rng;
    uint64_t seq;
    corio_sim_net_config cfg;
    sn_host *hosts;
    int nhosts, hosts_cap;
    int *cut;             /* partitioned pairs (a, b), a < b */
    size_t ncut, cut_cap;
    uint64_t *tkeys;      /* task id -> host (open addressing) */
    sn_where *tvals;
    size_t tcap, tn;
    sn_sock *all;
    uint32_t next_id;
    int tracing;          /* CORIO_SIM_TRACE: print network events */
} sn_net;

/* host.c */
sn_net *corio__sn_get(void);    /* NULL outside a simulation or on -ENOMEM */
sn_net *corio__sn_peek(void);   /* the same, but never makes one: NULL if none yet */
uint64_t corio__sn_rand(sn_net *n);
int64_t corio__sn_latency(sn_net *n, int a, int b); /* one way, ns */
/* The link a-b is cut: partitioned, or one of them crashed silently. */
int corio__sn_cut(const sn_net *n, int a, int b);
int corio__sn_partitioned(const sn_net *n, int a, int b); /* partitions only */
int corio__sn_silent(const sn_net *n, int h);
int corio__sn_task_host(sn_net *n, const corio_task *t);
sn_where corio__sn_where(sn_net *n, const corio_task *t); /* {0, 0}: host 0 */
/* 1 if t belongs to an incarnation of its host that crashed. */
int corio__sn_task_doomed(sn_net *n, const corio_task *t);
int corio__sn_host_of_addr(sn_net *n, const corio_addr *a, int from);
int corio__sn_host_has_ip(sn_net *n, int h, const corio_addr *a);
int corio__sn_is_loopback(const corio_addr *a);
int corio__sn_is_any(const corio_addr *a);
void corio__sn_set_port(corio_addr *a, int port);
void corio__sn_event(sn_net *n, const char *what, uint64_t a, uint64_t b, uint64_t c);

int corio__sn_ip_eq(const corio_addr *a, const corio_addr *b);

/* net.c */
void corio__sn_heal_all(sn_net *n);
void corio__sn_free_socks(sn_net *n);
sn_sock *corio__sn_sock_new(sn_net *n, int host, int type, int family, int app_fd, int wire);
void corio__sn_kill(sn_net *n, sn_sock *x);
void corio__sn_send_rst(sn_net *n, int from, sn_sock *to);
void corio__sn_pump(sn_net *n, sn_sock *x);
int corio__sn_autobind(sn_net *n, sn_sock *x, const corio_addr *to);
int corio__sn_addr_match(sn_net *n, const sn_sock *x, const corio_addr *to);
int corio__sn_live(const sn_sock *x);
/* net_io.c */
void corio__sn_dgram_free(void);
/* Kills every socket of host (a crash); reset: tell the peers. */
int corio__sn_crash_socks(sn_net *n, int host, int reset);
/* net.c: a crash kills connection end x; what it already sent still
 * arrives, then (reset) a reset. */
void corio__sn_crash_stream(sn_net *n, sn_sock *x, int reset);

#endif
