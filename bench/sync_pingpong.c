/*
 * sync_pingpong: two tasks bounce a token through two capacity-1 channels,
 * M round trips; prints ns per round trip. The number corio-bench pingpong
 * should approach (same workload, without the peers' CLI).
 *   sync_pingpong [M] [--compact]
 */
#include <corio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { corio_chan *a, *b; long m; } pp_t;

static void *ponger(void *arg)
{
    pp_t *p = arg;
    void *v;
    long i;
    for (i = 0; i < p->m; i++)
        if (corio_chan_recv(p->a, &v) || corio_chan_send(p->b, v))
            return corio_fail(-1);
    return NULL;
}

static void *pinger(void *arg)
{
    pp_t *p = arg;
    corio_task *t = corio_spawn(ponger, p);
    void *v = NULL;
    long i;
    int64_t t0 = corio_now_ns();
    for (i = 0; i < p->m; i++) {
        if (corio_chan_send(p->a, (char *)v + 1) || corio_chan_recv(p->b, &v)) {
            fprintf(stderr, "pingpong failed\n");
            exit(1);
        }
    }
    {
        int64_t dt = corio_now_ns() - t0;
        printf("pingpong: %ld round trips in %.3f s: %.1f ns/round trip\n",
               p->m, dt / 1e9, (double)dt / (double)p->m);
    }
    corio_await(t, NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    pp_t p;
    corio_loop_config cfg;
    int i;
    memset(&cfg, 0, sizeof cfg);
    p.m = 1000000;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--compact"))
            cfg.stack_mode = CORIO_STACK_COMPACT;
        else
            p.m = atol(argv[i]);
    }
    corio_chan_create(&p.a, 1);
    corio_chan_create(&p.b, 1);
    if (corio_run_ex(pinger, &p, NULL, &cfg) != 0)
        return 1;
    corio_chan_destroy(p.a);
    corio_chan_destroy(p.b);
    return 0;
}
