/*
 * corio_sim.h: deterministic simulation of a corio program.
 *
 * corio_sim_run() runs a main task like corio_run_ex(), on a loop whose
 * clock is virtual and whose scheduling choices come from a seed:
 *  - Virtual time. corio_now(), sleeps, timers, scopes' deadlines and
 *    corio_wait_for() read the virtual clock. When no task can run, the
 *    clock jumps to the next timer, so an hour of sleeps and timeouts takes
 *    milliseconds. Thread-pool jobs (corio_to_thread, corio_file_*) run on
 *    the loop itself, in scheduler order, taking no virtual time.
 *  - Seeded order. Where corio promises no order (tasks made ready by
 *    different events in one loop iteration: timers firing, fds becoming
 *    ready, tasks woken by the tasks that ran before), the seed chooses an
 *    interleaving. What corio promises stays as promised: call_soon
 *    callbacks run FIFO, timers with equal deadlines fire in the order
 *    armed, a lock is handed to its waiters FIFO.
 *  - A trace hash. Every loop iteration (virtual time, what is ready, in
 *    which order) is mixed into a 64-bit hash. The same seed gives the same
 *    run and the same hash; corio_sim_check() runs a seed twice and fails
 *    if the hashes differ (a wall-clock read, unseeded randomness, real I/O
 *    or threads leaking into the run).
 *
 * The network is simulated (below). Files are real unless a simulated
 * disk is attached ("The simulated disk", below); corio_sim_crash() stops
 * a simulated program as a power cut would.
 *
 * Compiles as C11 and as C++.
 */
#ifndef CORIO_SIM_H
#define CORIO_SIM_H

#include <corio.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CORIO_ENONDET (corio.h's error list): the two runs of one seed took
 * different paths (corio_sim_check). */

enum corio_sim_flags {
    /* Keep every ready entry in FIFO order (no seeded interleaving): the
     * clock is still virtual. For comparing with the seeded order. */
    CORIO_SIM_FIFO = 0x1,
    /* corio_sim_run_seeds(): run every seed twice and compare the hashes
     * (also switched on by the environment variable CORIO_SIM_CHECK=1). */
    CORIO_SIM_CHECK = 0x2
};

/* Options of a simulation; all-zero (or a NULL pointer) is the default.
 * Owned by the caller; read during the call only. */
typedef struct corio_sim_config {
    /* Virtual seconds the run may last; 0: one simulated day. A run that
     * would pass it is stopped, its tasks cancelled, and the run fails with
     * -ETIMEDOUT: "nothing hangs past a bound in virtual time". */
    double time_limit;
    unsigned flags;                  /* CORIO_SIM_* */
    const corio_loop_config *loop;   /* for the loop; NULL: defaults */
    /* Where failing seeds are reported (corio_sim_run_seeds,
     * corio_sim_check): a FILE*; NULL: stderr. */
    void *report_file;
    /* Virtual second the clock starts at; 0: 1000. A program restarted
     * after corio_sim_crash passes the crashed run's end (its stats'
     * end_time) so time goes on. */
    double start_time;
} corio_sim_config;

/* What a run did. Filled by the caller's request (may be NULL). */
typedef struct corio_sim_stats {
    uint64_t seed;
    uint64_t trace_hash;      /* equal for equal runs */
    uint64_t iterations;      /* loop iterations */
    uint64_t time_jumps;      /* times the clock jumped to a timer */
    uint64_t reorders;        /* iterations whose ready order the seed changed */
    uint64_t real_waits;      /* times the loop blocked on real fds/threads */
    uint64_t seeds_run;       /* corio_sim_run_seeds: seeds completed */
    double virtual_seconds;   /* virtual time that passed */
    double real_seconds;      /* wall-clock time the run took */
    double end_time;          /* the virtual clock (s) when the run ended */
} corio_sim_stats;

/* Runs main_fn(arg) as the main task of a new simulated loop on the calling
 * thread, like corio_run_ex(): returns when main and every task it left
 * behind have finished. seed chooses every unordered choice; the same seed
 * and the same program give the same run. Returns main's status (0, its
 * corio_fail() code, -ECANCELED), -EDEADLK (nothing can wake a live task),
 * -ETIMEDOUT (cfg->time_limit passed), or an error from creating the loop
 * (-ENOMEM, ...), -EBUSY if a loop is running on this thread. *result gets
 * main's return value when it finished (may be NULL). */
CORIO_API int corio_sim_run(uint64_t seed, corio_fn main_fn, void *arg, void **result,
                            const corio_sim_config *cfg, corio_sim_stats *stats);

/* Runs seed twice and compares the trace hashes. Returns the first run's
 * status, or CORIO_ENONDET if the runs differed (reported with the seed
 * and the command that replays it). */
CORIO_API int corio_sim_check(uint64_t seed, corio_fn main_fn, void *arg,
                              const corio_sim_config *cfg, corio_sim_stats *stats);

/* Runs seeds first .. first+count-1 and stops at the first that fails
 * (status < 0, or a hash mismatch in check mode). A failing seed is
 * reported with the one command that replays it:
 *     CORIO_SIM_SEED=<seed> <this program's command line>
 * Environment: CORIO_SIM_SEED=<n> runs only seed n; CORIO_SIM_SEEDS=<n>
 * runs n seeds instead of count; CORIO_SIM_CHECK=1 checks every seed.
 * Returns 0 when every seed passed, else the failing seed's status;
 * stats (may be NULL) gets the last run's figures, seeds_run, and the
 * summed virtual and real seconds. */
CORIO_API int corio_sim_run_seeds(uint64_t first, uint64_t count, corio_fn main_fn, void *arg,
                                  const corio_sim_config *cfg, corio_sim_stats *stats);

/* Inside a simulation (the calling thread's loop is simulated): 1, else 0. */
CORIO_API int corio_sim_active(void);
/* The running simulation's seed; 0 outside one. */
CORIO_API uint64_t corio_sim_seed(void);
/* A pseudo-random number from the simulation's seed (a stream of its own,
 * apart from the scheduler's). Programs under test should take their
 * randomness from here. Outside a simulation: from a per-thread generator
 * seeded by the clock. */
CORIO_API uint64_t corio_sim_random(void);
/* Mixes len bytes into the trace hash (an application event: "job 7
 * acknowledged"), so the check mode compares what the program did, not
 * only what the scheduler did. No-op outside a simulation. */
CORIO_API void corio_sim_trace(const void *data, size_t len);


/* ---- the simulated network -------------------------------------------------
 *
 * Inside a simulation every socket corio_socket_open() makes is simulated:
 * TCP, UDP and Unix sockets connect simulated hosts, named hosts with
 * addresses of their own, all in this process; the real network is never
 * touched. The socket, stream, TLS, server and HTTP APIs are unchanged.
 * Bytes take a seeded one-way latency (and, if set, a bandwidth) between
 * two different hosts; UDP datagrams can be lost and arrive out of order;
 * TCP stays ordered. corio_resolve() and corio_tcp_connect() resolve host
 * names to simulated hosts ("localhost" and 127.0.0.1 / ::1 are the
 * calling task's own host). Network events go into the trace hash.
 *
 * Host 0 ("localhost", loopback addresses only) exists in every
 * simulation; the main task and whatever it spawns live there. A task
 * lives on the host of the task that spawned it, or the one
 * corio_sim_spawn_on() names. Every function here works only inside a
 * simulation (-EPERM outside, or from outside a task where one is said).
 */

/* The network's behaviour; all-zero means: latency 0.5-1 ms, unlimited
 * bandwidth, no loss. Owned by the caller, copied. */
typedef struct corio_sim_net_config {
    double latency_min;  /* one-way seconds between two different hosts */
    double latency_max;  /* each segment/datagram: uniform in [min, max] */
    double bandwidth;    /* bytes per second per direction; 0: unlimited */
    double udp_loss;     /* probability that a datagram is lost, 0..1 */
} corio_sim_net_config;

/* Sets the network's behaviour from now on (segments in flight keep their
 * times). Returns 0, -EINVAL (negative or max < min, loss outside 0..1),
 * -EPERM (not in a simulation), -ENOMEM. */
CORIO_API int corio_sim_net_configure(const corio_sim_net_config *cfg);

/* Adds a host named name (up to 63 bytes, unique) with one numeric
 * address (IPv4 or IPv6, unique among hosts; NULL: none yet). Returns the
 * host's number (> 0), -EEXIST (name or address taken), -EINVAL, -EPERM,
 * -ENOMEM. */
CORIO_API int corio_sim_host_add(const char *name, const char *addr);

/* Gives host one more numeric address (at most 4). 0, -EEXIST, -EINVAL
 * (bad address, unknown host, too many), -EPERM. */
CORIO_API int corio_sim_host_add_addr(int host, const char *addr);

/* The host of the calling task (0 outside a task or a simulation). */
CORIO_API int corio_sim_host_current(void);

/* corio_spawn_ex(taskp, fn, arg, NULL), the new task living on host (and
 * so everything it spawns), in the host's current incarnation. Returns
 * corio_spawn_ex's result, -EINVAL (unknown host), -EHOSTDOWN (the host
 * crashed and was not restarted), -ECANCELED (the caller is a task of a
 * crashed host), -EPERM. */
CORIO_API int corio_sim_spawn_on(int host, corio_task **taskp, corio_fn fn, void *arg);

/* Cuts the link between hosts a and b in both directions: TCP segments
 * wait (each side sees nothing: its own timeouts fire), a connect's SYNs
 * are lost (it fails with -ETIMEDOUT after 127 virtual seconds unless
 * healed), datagrams are lost. 0, -EINVAL (a == b, unknown host), -EPERM,
 * -ENOMEM. Cutting a cut link is a no-op. */
CORIO_API int corio_sim_partition(int a, int b);

/* Restores the link between a and b; what waited is delivered one
 * latency later, in order. 0, -EINVAL, -EPERM. */
CORIO_API int corio_sim_heal(int a, int b);

/* Resets s's TCP connection, as an RST would: s's own next read fails
 * with -ECONNRESET and writes with -EPIPE; the peer sees the same one
 * latency later (never, if the link is cut: it is half-open then). 0,
 * -ENOTCONN (not a connected simulated stream), -EPERM. */
CORIO_API int corio_sim_reset(corio_socket *s);

/* The host loses every TCP connection without telling anyone (it crashed
 * and came back, or vanished): its own sockets see -ECONNRESET, the peers
 * see nothing until they send, which is answered by a reset one round
 * trip later: half-open connections. Returns how many connections were
 * dropped, -EINVAL, -EPERM. */
CORIO_API int corio_sim_host_drop_connections(int host);

/* ---- The simulated disk -------------------------------------------------------
 * An in-memory filesystem that keeps, per file, what is durable and what is
 * not yet, and injects the faults real disks have: an fsync that fails
 * with -EIO, a write torn by a power cut (a prefix of it persisted), and a
 * crash that loses every byte and every name change not made durable.
 *
 *  - A flat namespace: a path is a name; opening any path with O_DIRECTORY
 *    gives a directory handle.
 *  - fsync of a file makes its content durable. Creating, renaming and
 *    unlinking change the namespace at once, but become durable only with an
 *    fsync of a directory handle (as on Linux).
 *  - corio_sim_disk_crash(): each file goes back to its durable content
 *    (with faults.torn_write, some pending writes leave a prefix), the
 *    namespace to its durable state, and every open handle dies (-EBADF).
 *
 * While a disk is attached to a thread whose loop is simulated,
 * corio_file_* (open, read, write, pread, pwrite, fsync, stat, close,
 * corio_read_file, corio_write_file, corio_rename, corio_unlink) use it
 * instead of the real filesystem; corio_file_fd() then returns a disk handle
 * number, not a real fd. The calls below are the same operations called
 * synchronously, for adapters such as a SQLite VFS (see
 * docs/simulation.md). They return what the system calls would: a count, 0,
 * or a negative errno.
 *
 * A disk is allocated by corio_sim_disk_new() and freed by
 * corio_sim_disk_free(); it outlives the simulations that use it, which is
 * what lets a restarted program find what a crashed one left. One thread
 * uses a disk at a time; the faults draw from the disk's own seeded
 * generator, so the same calls make the same choices. */
typedef struct corio_sim_disk corio_sim_disk;

typedef struct corio_sim_disk_faults {
    double fsync_fail;     /* probability an fsync fails (-EIO, nothing made
                              durable; the data stays pending) */
    double torn_write;     /* at a crash, probability that each pending
                              write persists a prefix (of random length) */
    uint64_t crash_at_op;  /* the n-th mutating call from now (write, fsync,
                              truncate, create, rename, unlink) crashes the
                              disk and fails with -EIO; 0: never */
    /* Called after every crash (also corio_sim_disk_crash's): a test stops
     * the crashed program here (corio_sim_crash). May be NULL. */
    void (*on_crash)(void *arg);
    void *on_crash_arg;
} corio_sim_disk_faults;

typedef struct corio_sim_disk_stats {
    uint64_t reads, writes, fsyncs;
    uint64_t fsync_failures, torn_writes, crashes;
} corio_sim_disk_stats;

/* A new, empty disk whose faults draw from seed. Returns 0, -EINVAL, -ENOMEM. */
CORIO_API int corio_sim_disk_new(corio_sim_disk **out, uint64_t seed);
/* Frees d, its files and handles; detaches it from the calling thread. */
CORIO_API void corio_sim_disk_free(corio_sim_disk *d);
/* Makes d the calling thread's disk (NULL: none); returns the previous one. */
CORIO_API corio_sim_disk *corio_sim_disk_attach(corio_sim_disk *d);
/* The calling thread's disk, or NULL. */
CORIO_API corio_sim_disk *corio_sim_disk_current(void);
/* Sets the faults (NULL: none) and restarts the count of crash_at_op. */
CORIO_API void corio_sim_disk_set_faults(corio_sim_disk *d, const corio_sim_disk_faults *f);
/* A power cut: see above. Calls faults.on_crash. */
CORIO_API void corio_sim_disk_crash(corio_sim_disk *d);
CORIO_API void corio_sim_disk_stats_get(const corio_sim_disk *d, corio_sim_disk_stats *out);

/* Synchronous operations (flags: O_CREAT, O_EXCL, O_TRUNC, O_APPEND,
 * O_RDONLY/O_WRONLY/O_RDWR, O_DIRECTORY; mode is ignored). open returns a
 * handle number (>= 3) or -ENOENT, -EEXIST, -EIO (a crash), -ENOMEM.
 * pwrite with off < 0 (or an O_APPEND handle) appends. size returns the
 * live size. stat gives the size of a named file (0 or -ENOENT). */
CORIO_API int corio_sim_disk_open(corio_sim_disk *d, const char *path, int flags, int mode);
CORIO_API int corio_sim_disk_close(corio_sim_disk *d, int h);
CORIO_API ssize_t corio_sim_disk_pread(corio_sim_disk *d, int h, void *buf, size_t len,
                                       int64_t off);
CORIO_API ssize_t corio_sim_disk_pwrite(corio_sim_disk *d, int h, const void *buf, size_t len,
                                        int64_t off);
CORIO_API int corio_sim_disk_fsync(corio_sim_disk *d, int h);
CORIO_API int corio_sim_disk_truncate(corio_sim_disk *d, int h, int64_t size);
CORIO_API int64_t corio_sim_disk_size(corio_sim_disk *d, int h);
CORIO_API int corio_sim_disk_stat(corio_sim_disk *d, const char *path, int64_t *size);
CORIO_API int corio_sim_disk_rename(corio_sim_disk *d, const char *from, const char *to);
CORIO_API int corio_sim_disk_unlink(corio_sim_disk *d, const char *path);

/* ---- Crashing a simulated program ---------------------------------------------
 * Inside a simulation: stops it as a power cut or kill -9 would. The loop
 * is not stepped again: no task runs another instruction (none is
 * cancelled or unwound, no cleanup runs), and corio_sim_run closes the loop
 * (freeing the tasks' stacks) and returns CORIO_SIM_CRASHED. Memory the
 * program had allocated is not freed (a test that crashes programs under
 * LeakSanitizer disables leak checking for those runs). The caller then
 * crashes the program's disk, if it has one, and starts the program again
 * on it with corio_sim_run (config.start_time continues the clock).
 * Returns 0, or -EPERM outside a simulation. */
CORIO_API int corio_sim_crash(void);
/* What corio_sim_run returns for a run stopped by corio_sim_crash. */
#define CORIO_SIM_CRASHED (-EINTR)

/* ---- Crashing one simulated host ----------------------------------------------
 * corio_sim_crash stops every host at once. corio_sim_host_crash crashes
 * one host while the others go on: from that instant the host is dead to
 * the world.
 *  - Its tasks (those spawned on it, and what they spawn) are cancelled:
 *    each parked task wakes with -ECANCELED and, as every cancellation in
 *    corio, it is never cleared: every later suspending call fails. A task
 *    inside a shield scope finishes that shielded stretch (corio's own
 *    cleanup relies on shields for memory safety). They unwind (cleanup
 *    runs, memory is freed), but what they do is fenced: their socket
 *    calls fail (-ECANCELED), their sockets are dead (reads see
 *    -ECONNRESET, writes -EPIPE), the synchronous corio_sim_disk_* calls
 *    fail with -EIO, a corio_file_* operation that runs after the crash
 *    fails with -EIO, and what they spawn is born cancelled. Nothing they
 *    do after the crash point reaches another host or a disk. (Objects in
 *    memory that the test shares between hosts, a channel or a future,
 *    are not fenced: hosts should talk over the simulated network.)
 *  - Its disk (corio_sim_host_set_disk) crashes: corio_sim_disk_crash,
 *    unless CORIO_SIM_CRASH_KEEP_DISK.
 *  - Every socket of the host dies. By default (a power cut) the peers are
 *    not told: the host is cut from every host until it restarts, so what
 *    peers send waits (their own timeouts fire), connects to it time out,
 *    datagrams to it are lost; after the restart what waited reaches no
 *    socket and is answered with a reset. With CORIO_SIM_CRASH_RESET (the
 *    process died, its kernel did not) each connection's peer sees a
 *    reset one latency later, and connects to the host are refused.
 *  - The host is down: corio_sim_spawn_on refuses it (-EHOSTDOWN) until
 *    corio_sim_host_restart, which brings it up in a new incarnation
 *    (tasks of the old one stay doomed); the program then spawns the
 *    host's main task again, on what its disk kept.
 * Host 0 (the main task's) cannot crash. */
enum corio_sim_crash_flags {
    CORIO_SIM_CRASH_RESET = 0x1,     /* peers see resets, not silence */
    CORIO_SIM_CRASH_KEEP_DISK = 0x2  /* unsynced writes survive (a process crash) */
};

/* Crashes host (see above) at this instant. Returns how many tasks were
 * cancelled (0 if the host was already down), -EINVAL (host 0, unknown
 * host, unknown flags), -EPERM (not in a simulation). Callable from a
 * task (any host's, the crashed host's own too), a timer, or a disk's
 * on_crash hook. */
CORIO_API int corio_sim_host_crash(int host, unsigned flags);

/* Brings a crashed host up again. Returns its new incarnation (> 1),
 * -EBUSY (it is up), -EINVAL, -EPERM, -ECANCELED (called by a task of a
 * crashed host). */
CORIO_API int corio_sim_host_restart(int host);

/* The host's incarnation: 1 until its first crash, then one more per
 * crash. -EINVAL (unknown host), -EPERM. */
CORIO_API int corio_sim_host_incarnation(int host);

/* Gives host a disk of its own (NULL: none): its tasks' corio_file_* use d
 * instead of the thread's attached disk, and a crash of the host crashes
 * d. d stays the caller's (it outlives the run); the binding lasts for
 * the run. 0, -EINVAL, -EPERM, -ENOMEM. */
CORIO_API int corio_sim_host_set_disk(int host, corio_sim_disk *d);

#ifdef __cplusplus
}
#endif

#endif
