/*
 * Runs five commands at once and prints their outputs in the order the
 * commands were given, whatever order they finish in.
 *
 *   ./process_five
 *
 * Each command runs in its own task; corio_process_communicate collects
 * its stdout and stderr without any risk of a full pipe blocking it.
 */
#include <corio.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct job {
    const char *const *argv;
    char *out;
    size_t len;
    int status;
    int rc;
} job;

static void *run_one(void *arg)
{
    job *j = arg;
    corio_process_opts o = {.stdout_mode = CORIO_STDIO_PIPE,
                            .stderr_mode = CORIO_STDIO_STDOUT};
    corio_process *p;
    j->rc = corio_process_spawn(&p, j->argv, &o);
    if (j->rc < 0)
        return NULL;
    j->rc = corio_process_communicate(p, NULL, 0, &j->out, &j->len, NULL, NULL, 0);
    if (j->rc == 0)
        j->rc = corio_process_wait(p, &j->status);
    corio_process_close(p);
    return NULL;
}

static void *main_task(void *arg)
{
    static const char *const c1[] = {"sh", "-c", "sleep 0.3; echo slow one", NULL};
    static const char *const c2[] = {"uname", "-sr", NULL};
    static const char *const c3[] = {"sh", "-c", "sleep 0.1; echo medium; exit 2", NULL};
    static const char *const c4[] = {"date", "-u", "+%Y-%m-%d", NULL};
    static const char *const c5[] = {"ls", "/nonexistent-dir", NULL};
    job jobs[5] = {{.argv = c1}, {.argv = c2}, {.argv = c3}, {.argv = c4},
                   {.argv = c5}};
    corio_task *ts[5];
    double t0 = corio_now();
    int i;
    (void)arg;
    for (i = 0; i < 5; i++)
        ts[i] = corio_spawn(run_one, &jobs[i]);
    for (i = 0; i < 5; i++)
        corio_await(ts[i], NULL);
    for (i = 0; i < 5; i++) {
        printf("$ %s ...  [", jobs[i].argv[0]);
        if (jobs[i].rc < 0)
            printf("failed: %s]\n", corio_strerror(jobs[i].rc));
        else
            printf("exit %d]\n%s", jobs[i].status, jobs[i].out);
        free(jobs[i].out);
    }
    printf("all five in %.2f s (the slowest alone takes 0.3 s)\n", corio_now() - t0);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
