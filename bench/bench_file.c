/*
 * corio-bench's file benchmark: fileread (SPEC.md "fileread"), random
 * 4 KiB reads from a file in the page cache, C in flight.
 *
 *   corio-bench fileread --file PATH [--block B] [--k K] [--concurrency C]
 *                                   (default B = 4096, K = 200000, C = 32)
 *
 * C tasks, task j doing reads r = j, j+C, ... with corio_file_pread: on
 * the io_uring backend each read is an operation in the loop's ring, on
 * the others a round trip through the thread pool (CORIO_BACKEND picks).
 */
#include "bench.h"

#include <corio.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARMUP 1000

typedef struct fr_ctx {
    corio_file *f;
    long block, nblocks, k, c;
    long first, count;   /* this phase: reads r = first .. first + count */
    uint64_t checksum;
    int failed;
} fr_ctx;

typedef struct fr_task {
    fr_ctx *x;
    long j;
} fr_task;

static uint32_t fanout_work(uint32_t i, long iters)
{
    uint32_t x = (i + 1) * 0x9E3779B1u;
    long n;
    for (n = 0; n < iters; n++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
    }
    return x;
}

static void *fr_one(void *arg)
{
    fr_task *t = arg;
    fr_ctx *x = t->x;
    unsigned char *buf = malloc((size_t)x->block);
    long r;
    if (!buf) {
        x->failed = 1;
        return NULL;
    }
    for (r = t->j; r < x->count; r += x->c) {
        long rr = x->first + r;
        int64_t off = (int64_t)(fanout_work((uint32_t)rr, 1) % (uint32_t)x->nblocks) * x->block;
        uint64_t v = 0;
        int i;
        if (corio_file_pread(x->f, buf, (size_t)x->block, off) != x->block) {
            x->failed = 1;
            break;
        }
        for (i = 7; i >= 0; i--)
            v = (v << 8) | buf[i];
        x->checksum += v;
    }
    free(buf);
    return NULL;
}

static double fr_phase(fr_ctx *x, long first, long count)
{
    corio_task **ts = calloc((size_t)x->c, sizeof *ts);
    fr_task *args = calloc((size_t)x->c, sizeof *args);
    double t0;
    long j;
    if (!ts || !args) {
        x->failed = 1;
        free(ts);
        free(args);
        return 0;
    }
    x->first = first;
    x->count = count;
    x->checksum = 0;
    t0 = bench_now();
    for (j = 0; j < x->c; j++) {
        args[j].x = x;
        args[j].j = j;
        ts[j] = corio_spawn(fr_one, &args[j]);
    }
    for (j = 0; j < x->c; j++)
        if (!ts[j] || corio_await(ts[j], NULL) < 0)
            x->failed = 1;
    t0 = bench_now() - t0;
    free(ts);
    free(args);
    return t0;
}

static void *fr_main(void *arg)
{
    fr_ctx *x = arg;
    double el;
    fr_phase(x, 0, x->k < WARMUP ? x->k : WARMUP);
    el = fr_phase(x, 0, x->k);
    if (x->failed)
        return NULL;
    bench_result("fileread", "k=%ld concurrency=%ld block=%ld file_bytes=%lld elapsed_s=%.6f "
                 "ops_per_s=%.0f ns_per_read=%.1f checksum=%llu backend=%s",
                 x->k, x->c, x->block, (long long)x->nblocks * x->block, el,
                 (double)x->k / el, el * 1e9 / (double)x->k,
                 (unsigned long long)x->checksum, corio_loop_backend(NULL));
    return NULL;
}

typedef struct fr_open {
    fr_ctx *x;
    const char *path;
} fr_open;

static void *fr_run(void *arg)
{
    fr_open *o = arg;
    struct stat st;
    int rc = corio_file_open(&o->x->f, o->path, O_RDONLY, 0);
    if (rc < 0 || (rc = corio_file_stat(o->x->f, &st)) < 0) {
        fprintf(stderr, "fileread: %s: %s\n", o->path, corio_strerror(rc));
        o->x->failed = 1;
        return NULL;
    }
    o->x->nblocks = (long)(st.st_size / o->x->block);
    if (o->x->nblocks < 1) {
        fprintf(stderr, "fileread: %s is smaller than one block\n", o->path);
        o->x->failed = 1;
    } else {
        fr_main(o->x);
    }
    corio_file_close(o->x->f);
    return NULL;
}

int bench_fileread(const bench_opts *o)
{
    fr_ctx x;
    fr_open op;
    int rc;
    memset(&x, 0, sizeof x);
    if (!o->file) {
        fprintf(stderr, "fileread: --file PATH is required\n");
        return BENCH_EXIT_USAGE;
    }
    x.block = o->block > 0 ? o->block : 4096;
    x.k = o->k > 0 ? o->k : 200000;
    x.c = o->concurrency > 0 ? o->concurrency : 32;
    if (x.block % 8) {
        fprintf(stderr, "fileread: --block must be a multiple of 8\n");
        return BENCH_EXIT_USAGE;
    }
    op.x = &x;
    op.path = o->file;
    rc = corio_run(fr_run, &op, NULL);
    if (rc < 0) {
        fprintf(stderr, "fileread: %s\n", corio_strerror(rc));
        return BENCH_EXIT_FAIL;
    }
    return x.failed ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
