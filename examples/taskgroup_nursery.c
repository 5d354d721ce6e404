/*
 * Task groups (structured concurrency): children cannot outlive the group;
 * the first failure cancels the siblings and is what the group reports;
 * cancelling the parent cancels the children and is never swallowed.
 */
#include <corio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

static void *job(void *arg)
{
    intptr_t ms = (intptr_t)arg;
    if (corio_sleep(ms / 1000.0) < 0) {
        printf("  job %ld ms: cancelled\n", (long)ms);
        return corio_fail(-ECANCELED);
    }
    if (ms == 20) {
        printf("  job %ld ms: fails\n", (long)ms);
        return corio_fail(-EIO);
    }
    printf("  job %ld ms: done\n", (long)ms);
    return arg;
}

static void *parent(void *arg)
{
    corio_group *g;
    (void)arg;
    corio_group_create(&g);
    corio_group_spawn(g, job, (void *)1000);
    corio_group_spawn(g, job, (void *)2000);
    int rc = corio_group_wait(g); /* cancelled while waiting */
    printf("  group_wait: %s; next sleep: %s\n", corio_strerror(rc),
           corio_strerror(corio_sleep(0)));
    corio_group_destroy(g);
    return NULL;
}

static void *main_task(void *arg)
{
    corio_group *g;
    corio_task *t;
    (void)arg;

    printf("all succeed:\n");
    corio_group_create(&g);
    for (intptr_t ms = 10; ms <= 30; ms += 10)
        if (ms != 20)
            corio_group_spawn(g, job, (void *)ms);
    printf("group: %s\n", corio_strerror(corio_group_wait(g)));
    corio_group_destroy(g);

    printf("one fails:\n");
    corio_group_create(&g);
    corio_group_spawn(g, job, (void *)10);
    corio_group_spawn(g, job, (void *)20);
    corio_group_spawn(g, job, (void *)1000);
    printf("group: %s\n", corio_strerror(corio_group_wait(g)));
    corio_group_destroy(g);

    printf("the parent is cancelled:\n");
    t = corio_spawn(parent, NULL);
    corio_sleep(0.05);
    corio_cancel(t);
    corio_await(t, NULL);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) < 0;
}
