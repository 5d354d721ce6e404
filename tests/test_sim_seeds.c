/*
 * Deterministic simulation, part 3: many seeds find a real class of bug.
 *
 * A lease service grants a lease for LEASE virtual seconds from the moment
 * it handles the request; messages take a seeded 0-3 s each way. A client
 * that holds the lease enters a critical section, bounded by a scope whose
 * deadline is when it believes the lease ends.
 *  - Correct client: the lease ends LEASE after it *sent* the request (the
 *    service's clock started later, never earlier).
 *  - Mutant: the lease ends LEASE after the reply *arrived* (it forgets the
 *    message delays): with a slow reply it outlives the service's lease,
 *    and two clients are in the critical section at once.
 * The correct client passes every seed, checked twice each (determinism);
 * the mutant is caught within the seeds a CI run affords, and its failing
 * seed replays to the same failure and the same trace.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define LEASE 10.0
#define CLIENTS 3
#define ROUNDS 15

static int mutant;
static int holder;        /* the service's state */
static double expiry;
static int in_cs;         /* clients inside the critical section */

static double delay(void) /* one message's network delay, 0-3 s */
{
    return (double)(corio_sim_random() % 3001) / 1000.0;
}

/* The service: called after the request's delay; the reply takes another. */
static int acquire(int id)
{
    double now = corio_now();
    if (holder != id && now < expiry)
        return 0;
    holder = id;
    expiry = now + LEASE;
    return 1;
}

static void *client(void *arg)
{
    int id = (int)(intptr_t)arg, round;
    for (round = 0; round < ROUNDS; round++) {
        double sent = corio_now(), until;
        corio_scope sc;
        int granted;
        if (corio_sleep(delay()) < 0)
            return corio_fail(-ECANCELED);
        granted = acquire(id);
        if (corio_sleep(delay()) < 0)
            return corio_fail(-ECANCELED);
        if (granted) {
            until = (mutant ? corio_now() : sent) + LEASE - 0.001;
            if (in_cs)
                return corio_fail(-EPROTO); /* two holders at once */
            in_cs++;
            corio_sim_trace(&id, sizeof id);
            corio_scope_enter_at(&sc, until, 0);
            corio_sleep((double)(corio_sim_random() % 9000) / 1000.0); /* work */
            corio_scope_exit(&sc);
            in_cs--;
        }
        if (corio_sleep((double)(corio_sim_random() % 5000) / 1000.0) < 0)
            return corio_fail(-ECANCELED);
    }
    return NULL;
}

static void *lease_main(void *arg)
{
    corio_task *t[CLIENTS];
    int i, rc = 0;
    (void)arg;
    holder = -1;
    expiry = 0;
    in_cs = 0;
    for (i = 0; i < CLIENTS; i++)
        t[i] = corio_spawn(client, (void *)(intptr_t)i);
    for (i = 0; i < CLIENTS; i++) {
        int r = corio_await(t[i], NULL);
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc < 0 ? corio_fail(rc) : NULL;
}

static uint64_t seeds(void)
{
    return tu_slow() ? 100 : 300;
}

static void the_correct_lease_holds_on_every_seed(void **state)
{
    corio_sim_config cfg;
    corio_sim_stats st;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = CORIO_SIM_CHECK;
    cfg.time_limit = 3600;
    mutant = 0;
    assert_int_equal(corio_sim_run_seeds(0, seeds(), lease_main, NULL, &cfg, &st), 0);
    assert_true(st.seeds_run >= seeds() || getenv("CORIO_SIM_SEEDS") || getenv("CORIO_SIM_SEED"));
    print_message("sim: %llu seeds (each run twice) in %.2f real s: %.0f seeds/min, "
                  "%.0f virtual s per real s\n",
                  (unsigned long long)st.seeds_run, st.real_seconds,
                  (double)st.seeds_run * 60.0 / st.real_seconds,
                  2 * st.virtual_seconds / st.real_seconds);
}

static void the_mutant_is_caught_and_replays(void **state)
{
    corio_sim_config cfg;
    corio_sim_stats st, again;
    FILE *f = tmpfile();
    uint64_t bad;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.time_limit = 3600;
    cfg.report_file = f;
    mutant = 1;
    unsetenv("CORIO_SIM_SEED");
    unsetenv("CORIO_SIM_SEEDS");
    assert_int_equal(corio_sim_run_seeds(0, seeds(), lease_main, NULL, &cfg, &st), -EPROTO);
    bad = st.seed;
    print_message("sim: the mutant fails at seed %llu (after %llu passing seeds)\n",
                  (unsigned long long)bad, (unsigned long long)st.seeds_run);
    /* Replay: same failure, same trace. */
    assert_int_equal(corio_sim_run(bad, lease_main, NULL, NULL, &cfg, &again), -EPROTO);
    assert_true(again.trace_hash == st.trace_hash);
    fclose(f);
    mutant = 0;
    /* The correct client on the mutant's seed passes. */
    assert_int_equal(corio_sim_check(bad, lease_main, NULL, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_correct_lease_holds_on_every_seed),
        cmocka_unit_test(the_mutant_is_caught_and_replays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
