/*
 * corio-bench: corio's side of the peer benchmarks (../shared/peers/SPEC.md).
 *
 *   corio-bench spawn    [--n N]                   (default N = 1000000)
 *   corio-bench pingpong [--m M]                   (default M = 1000000)
 *   corio-bench sleepers [--n N] [--sleep-ms MS] [--compact]
 *                                                  (default N = 100000, MS = 1000)
 *   corio-bench timers   [--l L] [--k K]           (default L = 100000, K = 1000000)
 *   corio-bench fileread --file PATH [--block B] [--k K] [--concurrency C]
 *                                                  (default B = 4096, K = 200000, C = 32)
 *   corio-bench fanout-mc [--n N] [--work-us W] [--threads T] [--spin-us S]
 *                                                  (default N = 100000, W = 20,
 *                                                   T = CPUs we may use)
 *   corio-bench pingpong-xcore [--m M] [--spin-us S] (default M = 100000)
 *     --spin-us S: the loops spin S µs before they sleep (default: the
 *     runtime's, CORIO_MULTI_SPIN_US_DEFAULT; -1: never) and, if S > 0, the
 *     channels' senders and receivers spin S µs before they park.
 *
 * Exit status (SPEC.md section 1): 0 success, 1 failure, 64 usage error, 77
 * for a benchmark this program does not implement (yet). The name is checked
 * before the flags, because a newer benchmark may bring flags we don't know.
 * --compact (corio only, not part of SPEC.md) runs the loop in
 * CORIO_STACK_COMPACT mode, to measure what a sleeping task costs there.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line per benchmark. offload, echo-server and http-server are not
 * here yet: SPEC.md makes unknown names exit 77, which the runner shows as
 * "n/a". Add them here once written (bench_<area>.c, declared in bench.h). */
static const bench_entry benches[] = {
    {"spawn", bench_spawn},
    {"pingpong", bench_pingpong},
    {"sleepers", bench_sleepers},
    {"timers", bench_timers},
    {"fanout-mc", bench_fanout_mc},
    {"pingpong-xcore", bench_pingpong_xcore},
    {"offload", bench_offload},
    {"process", bench_process},
    {"echo-server", bench_echo_server},
    {"http-server", bench_http_server},
    {"fileread", bench_fileread},
};

static void usage(void)
{
    size_t i;
    fprintf(stderr, "usage: corio-bench BENCH [--flag value]...\n  BENCH:");
    for (i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(stderr, " %s", benches[i].name);
    fprintf(stderr, "\n  flags: --n --m --sleep-ms --l --k --concurrency --port "
                    "--max-seconds --file --block --compact --work-us --threads --spin-us\n"
                    "  (see ../shared/peers/SPEC.md)\n");
}

static int parse_long(const char *flag, const char *v, long *out)
{
    char *end;
    long x;
    errno = 0;
    x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < 0) {
        fprintf(stderr, "corio-bench: bad value '%s' for %s\n", v, flag);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_double(const char *flag, const char *v, double *out)
{
    char *end;
    double x;
    errno = 0;
    x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= 0)) {
        fprintf(stderr, "corio-bench: bad value '%s' for %s\n", v, flag);
        return -1;
    }
    *out = x;
    return 0;
}

/* Fills o from argv[2..]. Accepts `--flag value` and `--flag=value`.
 * Returns 0, or -1 after printing why (usage error). */
static int parse_flags(int argc, char **argv, bench_opts *o)
{
    int i;
    for (i = 2; i < argc; i++) {
        char flag[64];
        const char *arg = argv[i], *eq, *v;
        size_t len;
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "corio-bench: unexpected argument '%s'\n", arg);
            return -1;
        }
        eq = strchr(arg, '=');
        len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len >= sizeof flag) {
            fprintf(stderr, "corio-bench: unknown flag '%s'\n", arg);
            return -1;
        }
        memcpy(flag, arg, len);
        flag[len] = '\0';
        if (strcmp(flag, "--compact") == 0 && !eq) {
            o->compact = 1;
            continue;
        }
        if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            fprintf(stderr, "corio-bench: %s needs a value\n", flag);
            return -1;
        }
        if (strcmp(flag, "--n") == 0) {
            if (parse_long(flag, v, &o->n) < 0)
                return -1;
        } else if (strcmp(flag, "--m") == 0) {
            if (parse_long(flag, v, &o->m) < 0)
                return -1;
        } else if (strcmp(flag, "--sleep-ms") == 0) {
            if (parse_long(flag, v, &o->sleep_ms) < 0)
                return -1;
        } else if (strcmp(flag, "--l") == 0) {
            if (parse_long(flag, v, &o->l) < 0)
                return -1;
            o->l_given = 1;
        } else if (strcmp(flag, "--k") == 0) {
            if (parse_long(flag, v, &o->k) < 0)
                return -1;
        } else if (strcmp(flag, "--concurrency") == 0) {
            if (parse_long(flag, v, &o->concurrency) < 0)
                return -1;
        } else if (strcmp(flag, "--port") == 0) {
            if (parse_long(flag, v, &o->port) < 0 || o->port > 65535) {
                fprintf(stderr, "corio-bench: bad port '%s'\n", v);
                return -1;
            }
        } else if (strcmp(flag, "--file") == 0) {
            o->file = v;
        } else if (strcmp(flag, "--block") == 0) {
            if (parse_long(flag, v, &o->block) < 0)
                return -1;
        } else if (strcmp(flag, "--work-us") == 0) {
            if (parse_long(flag, v, &o->work_us) < 0)
                return -1;
            o->work_us_given = 1;
        } else if (strcmp(flag, "--threads") == 0) {
            if (parse_long(flag, v, &o->threads) < 0 || o->threads > 4096) {
                fprintf(stderr, "corio-bench: bad thread count '%s'\n", v);
                return -1;
            }
        } else if (strcmp(flag, "--spin-us") == 0) {
            /* -1: never spin (the runtime's default is to spin a little). */
            if (strcmp(v, "-1") == 0)
                o->spin_us = -1;
            else if (parse_long(flag, v, &o->spin_us) < 0 || o->spin_us > 1000000) {
                fprintf(stderr, "corio-bench: bad spin '%s'\n", v);
                return -1;
            }
        } else if (strcmp(flag, "--max-seconds") == 0) {
            if (parse_double(flag, v, &o->max_seconds) < 0)
                return -1;
        } else {
            fprintf(stderr, "corio-bench: unknown flag '%s'\n", flag);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const bench_entry *e = NULL;
    bench_opts o;
    size_t i;

    if (argc < 2) {
        usage();
        return BENCH_EXIT_USAGE;
    }
    for (i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (strcmp(argv[1], benches[i].name) == 0)
            e = &benches[i];
    if (!e) {
        fprintf(stderr, "corio-bench: benchmark '%s' is not implemented\n", argv[1]);
        return BENCH_EXIT_SKIP;
    }
    memset(&o, 0, sizeof o);
    o.name = e->name;
    o.port = -1;
    if (parse_flags(argc, argv, &o) < 0) {
        usage();
        return BENCH_EXIT_USAGE;
    }
    return e->run(&o);
}
