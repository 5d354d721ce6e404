/* db-bench: PostgreSQL queries/s through corio_pg, all on one thread.
 *
 *   db-bench CONNINFO [SECONDS [N...]]      (default 3 s, N = 1 10 100)
 *
 * For each N: N tasks, each holding its own pooled connection, run
 * "SELECT 1" back to back for SECONDS; prints queries/s. Then one task
 * pipelining batches of 100 "SELECT 1" on one connection. Compare with
 * bench/peers_db/run.sh (pgbench -c N -j 1 with the same statement, and
 * asyncpg). Named db_bench.c, not bench_db.c, so corio-bench's bench_*.c
 * glob (which links only corio_static) does not take it. */
#include <corio.h>
#include <corio_pg.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const char *conninfo = "";
static double seconds = 3.0;
static corio_pg_pool *pool;
static double stop_at;
static long done_total;

static void *worker(void *arg)
{
    corio_pg *c;
    PGresult *r;
    long n = 0;
    (void)arg;
    if (corio_pg_pool_acquire(pool, &c) != 0)
        return (void *)1;
    while (corio_now() < stop_at) {
        if (corio_pg_query(c, &r, "SELECT 1", 0, NULL) != 0) {
            PQclear(r);
            break;
        }
        PQclear(r);
        n++;
    }
    corio_pg_pool_release(pool, c);
    done_total += n;
    return NULL;
}

static void run_n(int n)
{
    corio_pg_pool_config cfg = {(size_t)n, -1, 0};
    corio_task **t = calloc((size_t)n, sizeof *t);
    corio_pg **warm = calloc((size_t)n, sizeof *warm);
    double t0;
    int i;
    corio_pg_pool_create(&pool, conninfo, &cfg);
    /* Open every connection before timing. */
    for (i = 0; i < n; i++)
        corio_pg_pool_acquire(pool, &warm[i]);
    for (i = 0; i < n; i++)
        corio_pg_pool_release(pool, warm[i]);
    done_total = 0;
    t0 = corio_now();
    stop_at = t0 + seconds;
    for (i = 0; i < n; i++)
        t[i] = corio_spawn(worker, NULL);
    for (i = 0; i < n; i++)
        corio_await(t[i], NULL);
    printf("corio_pg  SELECT 1  tasks=conns=%-4d %10.0f queries/s\n", n,
           done_total / (corio_now() - t0));
    corio_pg_pool_destroy(pool);
    free(t);
    free(warm);
}

static void run_pipeline(void)
{
    enum { B = 100 };
    corio_pg_stmt st[B];
    PGresult *res[B];
    corio_pg *c;
    long n = 0;
    double t0;
    int i;
    for (i = 0; i < B; i++) {
        st[i].sql = "SELECT 1";
        st[i].nparams = 0;
        st[i].values = NULL;
    }
    if (corio_pg_connect(&c, conninfo, NULL) != 0)
        return;
    t0 = corio_now();
    while (corio_now() < t0 + seconds) {
        int rc = corio_pg_pipeline(c, B, st, res);
        for (i = 0; i < B; i++)
            PQclear(res[i]);
        if (rc)
            break;
        n += B;
    }
    printf("corio_pg  SELECT 1  pipeline x%d, 1 conn %10.0f queries/s\n", B,
           n / (corio_now() - t0));
    corio_pg_close(c);
}

static int nlist[16], nn;

static void *main_task(void *arg)
{
    int i;
    (void)arg;
    for (i = 0; i < nn; i++)
        run_n(nlist[i]);
    run_pipeline();
    return NULL;
}

int main(int argc, char **argv)
{
    int i;
    if (argc > 1)
        conninfo = argv[1];
    if (argc > 2)
        seconds = atof(argv[2]);
    for (i = 3; i < argc && nn < 16; i++)
        nlist[nn++] = atoi(argv[i]);
    if (!nn) {
        nlist[nn++] = 1;
        nlist[nn++] = 10;
        nlist[nn++] = 100;
    }
    return corio_run(main_task, NULL, NULL) ? 1 : 0;
}
