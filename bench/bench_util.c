/*
 * Helpers every corio-bench benchmark uses: the clock, peak memory and the
 * RESULT line, written once so each benchmark reports the same way.
 */
#include "bench.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

long bench_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    return CPU_COUNT(&set);
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* SPEC.md: peak memory is VmHWM from /proc/self/status, in kB. */
long bench_vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) {
        perror("/proc/self/status");
        exit(BENCH_EXIT_FAIL);
    }
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            break;
    fclose(f);
    if (kb < 0) {
        fprintf(stderr, "VmHWM not found in /proc/self/status\n");
        exit(BENCH_EXIT_FAIL);
    }
    return kb;
}

void bench_result(const char *name, const char *fields_fmt, ...)
{
    va_list ap;
    printf("RESULT name=%s impl=corio ", name);
    va_start(ap, fields_fmt);
    vprintf(fields_fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}
