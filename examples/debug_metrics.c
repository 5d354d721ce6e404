/*
 * debug_metrics: the loop's and the tasks' numbers, as a C struct and in
 * Prometheus text format (what a /metrics endpoint would serve), plus a
 * tracer hook counting task switches.
 *
 *   ./debug_metrics
 */
#include <corio.h>

#include <stdio.h>
#include <string.h>

static volatile unsigned long sink;

static void *worker(void *arg)
{
    int i;
    (void)arg;
    for (i = 0; i < 3; i++) {
        double end = corio_now() + 0.002; /* 2 ms of work, then a rest */
        while (corio_now() < end)
            sink++;
        corio_sleep(0.005);
    }
    return NULL;
}

static unsigned long runs;
static void on_run(corio_task *t, void *arg)
{
    (void)t;
    (void)arg;
    runs++;
}

static void *main_task(void *arg)
{
    corio_debug_hooks h;
    corio_loop_metrics m;
    corio_task_metrics tm;
    corio_spawn_opts o;
    corio_task *t[3];
    int i;
    (void)arg;
    corio_metrics_enable(NULL, 1);
    memset(&h, 0, sizeof h);
    h.run = on_run;
    corio_debug_set_hooks(NULL, &h);
    memset(&o, 0, sizeof o);
    o.name = "worker";
    for (i = 0; i < 3; i++)
        corio_spawn_ex(&t[i], worker, NULL, &o);
    corio_sleep(0.012);
    corio_metrics_prometheus(NULL, stdout, CORIO_METRICS_PER_TASK);
    corio_future_await(corio_task_future(t[0]), NULL);
    corio_task_metrics_get(t[0], &tm);
    printf("\nworker #%llu: scheduled %llu times, ran %.1f ms, slept %.1f ms\n",
           (unsigned long long)corio_task_id(t[0]), (unsigned long long)tm.scheduled,
           tm.cpu_seconds * 1e3, tm.wait_seconds[CORIO_WAIT_SLEEP] * 1e3);
    for (i = 0; i < 3; i++)
        corio_await(t[i], NULL);
    corio_loop_metrics_get(NULL, &m);
    printf("loop: %llu iterations, %llu tasks spawned, %.1f ms polling, %.1f ms "
           "running, worst lag %.1f ms; the run hook fired %lu times\n",
           (unsigned long long)m.iterations, (unsigned long long)m.tasks_spawned,
           m.poll_seconds * 1e3, m.run_seconds * 1e3, m.lag_max_seconds * 1e3, runs);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
