/* Redis without idling: 100 tasks each wait in BLPOP for up to 0.2 s over
 * 20 connections (a blocking command holds its connection, so 5 wait in
 * turn on each): about 1 s in all, while a timer task keeps ticking.
 * Then a producer/consumer pair shows a BLPOP answered by an RPUSH.
 *
 *   ./redis_blpop [host [port]]      (default 127.0.0.1 6379) */
#include <corio.h>
#include <corio_redis.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const char *host = "127.0.0.1";
static int port = 6379;
static corio_redis *conns[20];
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

static void *waiter(void *arg)
{
    redisReply *rep;
    corio_redis_command(conns[(intptr_t)arg % 20], &rep, "BLPOP %s 0.2",
                        "corio:example:empty");
    freeReplyObject(rep); /* NULL-safe; the caller owns every reply */
    return NULL;
}

static void *consumer(void *arg)
{
    redisReply *rep;
    if (corio_redis_command(arg, &rep, "BLPOP %s 5", "corio:example:q") == 0 &&
        rep->type == REDIS_REPLY_ARRAY)
        printf("consumer got %s\n", rep->element[1]->str);
    freeReplyObject(rep);
    return NULL;
}

static void *main_task(void *arg)
{
    corio_task *t[100], *tick, *c;
    redisReply *rep;
    char *err = NULL;
    double t0;
    int i;
    (void)arg;
    for (i = 0; i < 20; i++) {
        if (corio_redis_connect(&conns[i], host, port, &err) != 0) {
            fprintf(stderr, "connect %s:%d: %s\n", host, port, err);
            free(err);
            while (i--)
                corio_redis_close(conns[i]);
            return NULL;
        }
    }
    tick = corio_spawn(ticker, NULL);
    t0 = corio_now();
    for (i = 0; i < 100; i++)
        t[i] = corio_spawn(waiter, (void *)(intptr_t)i);
    for (i = 0; i < 100; i++)
        corio_await(t[i], NULL);
    printf("100 x BLPOP 0.2 s over 20 connections: %.2f s\n", corio_now() - t0);
    ticking = 0;
    corio_await(tick, NULL);

    c = corio_spawn(consumer, conns[0]);
    corio_sleep(0.1);
    corio_redis_command(conns[1], &rep, "RPUSH %s %s", "corio:example:q", "hello");
    freeReplyObject(rep);
    corio_await(c, NULL);
    for (i = 0; i < 20; i++)
        corio_redis_close(conns[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        host = argv[1];
    if (argc > 2)
        port = atoi(argv[2]);
    return corio_run(main_task, NULL, NULL) ? 1 : 0;
}
