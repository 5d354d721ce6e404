/*
 * A CapacityLimiter (Trio's): at most 2 of 6 downloads at a time; the
 * limit is raised to 3 while they run. A borrower other than a task (a job
 * record) takes a token with corio_limiter_acquire_on_behalf_of.
 */
#include <corio.h>

#include <stdint.h>
#include <stdio.h>

static corio_limiter *lim;

static void *download(void *arg)
{
    intptr_t id = (intptr_t)arg;
    corio_limiter_stats st;
    if (corio_limiter_acquire(lim) < 0)
        return NULL;
    corio_limiter_statistics(lim, &st);
    printf("download %ld starts (%zu/%zu tokens lent, %zu waiting)\n",
           (long)id, st.borrowed_tokens, st.total_tokens, st.tasks_waiting);
    corio_sleep(0.02);
    corio_limiter_release(lim);
    return NULL;
}

static void *main_task(void *arg)
{
    static int job; /* any pointer can be a borrower */
    corio_task *t[6];
    (void)arg;
    corio_limiter_create(&lim, 2);
    corio_limiter_acquire_on_behalf_of(lim, &job);
    corio_limiter_release_on_behalf_of(lim, &job);
    for (intptr_t i = 0; i < 6; i++)
        t[i] = corio_spawn(download, (void *)i);
    corio_sleep(0.03);
    corio_limiter_set_total_tokens(lim, 3);
    printf("total raised to 3\n");
    for (int i = 0; i < 6; i++)
        corio_await(t[i], NULL);
    corio_limiter_destroy(lim);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) < 0;
}
