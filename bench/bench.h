/*
 * Shared pieces of corio-bench: the parsed command line, the benchmark
 * table entry, and small helpers (clock, VmHWM, the RESULT line).
 *
 * corio-bench follows the CLI contract of the peer benchmarks
 * (../shared/peers/SPEC.md, section 1), so the peers' runner can compare it
 * with asyncio, uvloop, Go, Node, Tokio and libuv in one run. Each benchmark
 * is one function `int bench_x(const bench_opts *o)` returning the process
 * exit status; corio_bench.c holds the table that maps names to them.
 * Adding a benchmark: write its function in a bench_<area>.c file (the build
 * globs bench_*.c), declare it below, add one line to the table.
 */
#ifndef CORIO_BENCH_H
#define CORIO_BENCH_H

#include <stdint.h>

#define BENCH_EXIT_OK 0
#define BENCH_EXIT_FAIL 1
#define BENCH_EXIT_USAGE 64
#define BENCH_EXIT_SKIP 77

/* Every flag any benchmark takes. 0 (or -1 for port) means "not given":
 * each benchmark applies its own default, as SPEC.md lists them. */
typedef struct bench_opts {
    const char *name;   /* the benchmark name, argv[1] */
    long n;             /* spawn, sleepers: task count */
    long m;             /* pingpong: round trips */
    long sleep_ms;      /* sleepers */
    long l;             /* timers: live timers (0 is a valid value) */
    int l_given;        /* --l was given (L = 0 is allowed) */
    long k;             /* timers, offload: operations */
    long concurrency;   /* offload */
    long port;          /* servers; -1 if not given */
    double max_seconds; /* servers; 0 if not given */
    int compact;        /* --compact: run in CORIO_STACK_COMPACT mode */
    const char *file;   /* fileread: --file PATH */
    long block;         /* fileread: --block B */
    long work_us;       /* fanout-mc: microseconds of work per task */
    int work_us_given;  /* --work-us was given (0 is a valid value) */
    long threads;       /* fanout-mc: loops (0: the CPUs we may use) */
    long spin_us;       /* multi-core: loops and channels spin before parking */
} bench_opts;

typedef struct bench_entry {
    const char *name;
    int (*run)(const bench_opts *o);
} bench_entry;

/* bench_core.c */
int bench_spawn(const bench_opts *o);
int bench_pingpong(const bench_opts *o);
int bench_sleepers(const bench_opts *o);
int bench_timers(const bench_opts *o);

/* bench_multi.c */
int bench_fanout_mc(const bench_opts *o);
int bench_pingpong_xcore(const bench_opts *o);

/* bench_os.c */
int bench_offload(const bench_opts *o);
int bench_process(const bench_opts *o);

/* bench_file.c */
int bench_fileread(const bench_opts *o);

/* bench_net.c */
int bench_echo_server(const bench_opts *o);
int bench_http_server(const bench_opts *o);

/* bench_util.c */
double bench_now(void);          /* monotonic seconds */
long bench_cpus(void);           /* CPUs in this process's affinity mask */
long bench_vm_hwm_kb(void);      /* VmHWM of this process, kB; exits on error */
/* Prints `RESULT name=<name> impl=corio <fields>` as one line and flushes.
 * fields is a printf format for the "key=value ..." part. */
void bench_result(const char *name, const char *fields_fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
