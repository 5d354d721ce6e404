/*
 * gather, wait and as_completed: three ways to await several tasks.
 * gather returns results in input order and (by default) fails fast;
 * wait returns when a condition holds (here: the first completion);
 * as_completed hands results out in completion order.
 */
#include <corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

static void *fetch(void *arg)
{
    intptr_t ms = (intptr_t)arg;
    if (corio_sleep(ms / 1000.0) < 0)
        return corio_fail(-ECANCELED);
    if (ms == 13)
        return corio_fail(-EHOSTUNREACH); /* an unlucky request */
    return arg;
}

static void *main_task(void *arg)
{
    corio_task *t[3];
    void *res[3];
    int st[3];
    (void)arg;

    /* gather: results in input order; consumes the task handles. */
    t[0] = corio_spawn(fetch, (void *)30);
    t[1] = corio_spawn(fetch, (void *)10);
    t[2] = corio_spawn(fetch, (void *)20);
    corio_gather(t, 3, res, NULL, 0);
    printf("gather: %ld %ld %ld\n", (long)(intptr_t)res[0],
           (long)(intptr_t)res[1], (long)(intptr_t)res[2]);

    /* Fail fast, cancelling the rest. */
    t[0] = corio_spawn(fetch, (void *)500);
    t[1] = corio_spawn(fetch, (void *)13);
    t[2] = corio_spawn(fetch, (void *)5);
    int rc = corio_gather(t, 3, NULL, st, CORIO_GATHER_CANCEL_REST);
    printf("gather, fail fast: %s; statuses %d %d %d\n", corio_strerror(rc),
           st[0], st[1], st[2]);

    /* wait / as_completed work on futures and consume nothing. */
    corio_future *f[3];
    for (int i = 0; i < 3; i++) {
        t[i] = corio_spawn(fetch, (void *)(intptr_t)(40 - 10 * i));
        f[i] = corio_task_future(t[i]);
    }
    size_t done[3];
    int n = corio_wait(f, 3, CORIO_WAIT_FIRST_COMPLETED, -1, done);
    printf("wait: %d done first (task %zu)\n", n, done[0]);
    corio_as_completed *it;
    corio_as_completed_create(&it, f, 3, 1.0);
    for (int i; (i = corio_as_completed_next(it)) >= 0;) {
        void *v;
        corio_future_result(f[i], &v);
        printf("as_completed: task %d -> %ld\n", i, (long)(intptr_t)v);
    }
    corio_as_completed_destroy(it);
    for (int i = 0; i < 3; i++)
        corio_await(t[i], NULL);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) < 0;
}
