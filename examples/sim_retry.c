/*
 * sim_retry: testing timeout-and-retry logic with the simulator.
 *
 * A client calls a flaky service with a timeout per attempt and an
 * exponential backoff between attempts (capped at 10 minutes). The service
 * sometimes answers fast, sometimes slowly, sometimes never. The property
 * checked for every seed: every call succeeds within 2 hours, and no answer
 * is taken from an attempt that was already given up on.
 *
 * Hours of virtual time per seed run in milliseconds; each seed is run
 * twice and the trace hashes compared (CORIO_SIM_CHECK). A failing seed is
 * printed with the command that replays it.
 *
 *     ./sim_retry            # 200 seeds
 *     ./sim_retry 5000       # more
 *     CORIO_SIM_SEED=17 ./sim_retry    # replay one seed
 */
#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define CLIENTS 20

/* The service: the delay (or silence) comes from the seed. */
static void *service(void *arg)
{
    uint64_t r = corio_sim_random() % 100;
    (void)arg;
    if (r < 60)
        corio_sleep(0.05);        /* fast */
    else if (r < 85)
        corio_sleep(5 + (double)(r % 20)); /* slow: may beat the timeout */
    else
        corio_sleep(86400);       /* never answers */
    return (void *)1;
}

static void *client(void *arg)
{
    double start = corio_now(), backoff = 1.0;
    int attempt;
    (void)arg;
    for (attempt = 1;; attempt++) {
        corio_task *t = corio_spawn(service, NULL);
        void *answer = NULL;
        int rc;
        if (!t)
            return corio_fail(-ENOMEM);
        rc = corio_wait_for(t, 10.0, &answer); /* cancels t on timeout */
        if (rc == 0 && answer == (void *)1)
            break;
        if (rc != -ETIMEDOUT)
            return corio_fail(rc < 0 ? rc : -EPROTO);
        corio_sleep(backoff * (double)(1 + corio_sim_random() % 100) / 100.0); /* jitter */
        backoff = backoff * 2 > 600 ? 600 : backoff * 2;
    }
    corio_sim_trace(&attempt, sizeof attempt);
    if (corio_now() - start > 7200)
        return corio_fail(-ETIMEDOUT); /* the property */
    return NULL;
}

static void *sim_main(void *arg)
{
    corio_task *t[CLIENTS];
    int i, rc = 0;
    (void)arg;
    for (i = 0; i < CLIENTS; i++)
        t[i] = corio_spawn(client, NULL);
    for (i = 0; i < CLIENTS; i++) {
        int r = corio_await(t[i], NULL);
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc < 0 ? corio_fail(rc) : NULL;
}

int main(int argc, char **argv)
{
    corio_sim_config cfg = {0};
    corio_sim_stats st;
    uint64_t seeds = argc > 1 ? strtoull(argv[1], NULL, 10) : 200;
    int rc;

    cfg.time_limit = 4 * 3600; /* a hang fails the seed with -ETIMEDOUT */
    cfg.flags = CORIO_SIM_CHECK;
    rc = corio_sim_run_seeds(0, seeds, sim_main, NULL, &cfg, &st);
    printf("%llu seeds passed: %.0f virtual s in %.2f real s (%.0fx)\n",
           (unsigned long long)st.seeds_run, st.virtual_seconds, st.real_seconds,
           st.real_seconds > 0 ? st.virtual_seconds / st.real_seconds : 0.0);
    return rc < 0 ? 1 : 0;
}
