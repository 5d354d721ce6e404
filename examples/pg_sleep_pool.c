/* 100 queries of SELECT pg_sleep(0.2) at once, on one thread, over a pool
 * of 20 PostgreSQL connections: they finish in about 1 s (100 x 0.2 s / 20),
 * not 20 s, while a timer task keeps ticking on time -- the loop runs other
 * tasks while the server works.
 *
 *   ./pg_sleep_pool "host=/var/run/postgresql dbname=postgres"
 * (any libpq conninfo or URI; default: libpq's environment, PGHOST etc.) */
#include <corio.h>
#include <corio_pg.h>

#include <stdint.h>
#include <stdio.h>

static corio_pg_pool *pool;
static int ticking = 1;

static void *ticker(void *arg)
{
    double next = corio_now(), worst = 0;
    (void)arg;
    while (ticking) {
        next += 0.01;
        if (corio_sleep_until(next) != 0)
            break;
        if (corio_now() - next > worst)
            worst = corio_now() - next;
    }
    printf("timer: worst lateness %.1f ms\n", worst * 1e3);
    return NULL;
}

static void *query(void *arg)
{
    PGresult *res;
    int rc = corio_pg_pool_query(pool, &res, "SELECT pg_sleep($1::float8)", 1,
                                 (const char *const[]){"0.2"});
    if (rc)
        fprintf(stderr, "query %d: %d %s\n", (int)(intptr_t)arg, rc,
                res ? PQresultErrorMessage(res) : "");
    PQclear(res); /* the caller owns every result */
    return NULL;
}

static void *main_task(void *arg)
{
    corio_pg_pool_config cfg = {20, 0, 0};
    corio_task *t[100], *tick;
    double t0;
    int i;
    if (corio_pg_pool_create(&pool, arg, &cfg) != 0)
        return NULL;
    tick = corio_spawn(ticker, NULL);
    t0 = corio_now();
    for (i = 0; i < 100; i++)
        t[i] = corio_spawn(query, (void *)(intptr_t)i);
    for (i = 0; i < 100; i++)
        corio_await(t[i], NULL);
    printf("100 x pg_sleep(0.2) over %zu connections: %.2f s\n",
           corio_pg_pool_size(pool), corio_now() - t0);
    ticking = 0;
    corio_await(tick, NULL);
    corio_pg_pool_destroy(pool);
    return NULL;
}

int main(int argc, char **argv)
{
    return corio_run(main_task, argc > 1 ? argv[1] : "", NULL) ? 1 : 0;
}
