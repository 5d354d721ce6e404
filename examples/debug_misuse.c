/*
 * debug_misuse: what debug mode catches. A handle awaited twice (undefined
 * behaviour without debug mode: the task struct may already be reused),
 * a callback that blocks the loop for 150 ms, and, at close, how much stack
 * each spawn site's tasks really used.
 *
 *   ./debug_misuse                      debug mode turned on by the config
 *   CORIO_DEBUG=1 ./your_program        the same for any program
 */
#include <corio.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

static void *parse_request(void *arg)
{
    char buf[8192]; /* a big local buffer: shows in the stack high-water mark */
    int n = snprintf(buf, sizeof buf, "%*s", (int)sizeof buf - 1, (const char *)arg);
    return (void *)(size_t)(n > 0 && buf[0] == ' ');
}

static void *noop(void *arg)
{
    (void)arg;
    return NULL;
}

static void blocking_callback(void *arg)
{
    struct timespec ts = {0, 150 * 1000 * 1000};
    (void)arg;
    nanosleep(&ts, NULL); /* a blocking call on the loop thread */
}

NOINLINE static int finish_request(corio_task *t)
{
    int rc = corio_await(t, NULL); /* already awaited below: a bug */
    if (rc < 0)
        printf("second await returned %d (%s)\n", rc, corio_strerror(rc));
    return rc;
}

static void *main_task(void *arg)
{
    corio_task *t = corio_spawn(parse_request, "GET /");
    int i;
    (void)arg;
    corio_await(t, NULL);
    finish_request(t);
    for (i = 0; i < 10; i++)
        corio_await(corio_spawn(noop, NULL), NULL);
    corio_call_soon(NULL, blocking_callback, NULL);
    corio_sleep(0.001);
    return NULL;
}

int main(void)
{
    corio_loop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.flags = CORIO_LOOP_DEBUG;
    setvbuf(stdout, NULL, _IONBF, 0);
    return corio_run_ex(main_task, NULL, NULL, &cfg) == 0 ? 0 : 1;
}
