/*
 * Metrics (loop and per task, as structs and as Prometheus text) and the
 * tracer hooks.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void assert_has(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static volatile unsigned long sink;

static void *worker(void *arg)
{
    double end;
    (void)arg;
    assert_int_equal(corio_sleep(0.02), 0);
    end = corio_now() + 0.01;
    while (corio_now() < end) /* ~10 ms of CPU */
        sink++;
    assert_int_equal(corio_yield(), 0);
    return NULL;
}

static void *metrics_main(void *arg)
{
    corio_spawn_opts o;
    corio_task *t;
    corio_task_metrics tm;
    corio_loop_metrics lm;
    char *text;
    long n;
    (void)arg;
    assert_int_equal(corio_loop_metrics_get(NULL, &lm), 0);
    assert_int_equal(lm.tasks_spawned, 1); /* main */
    assert_int_equal(corio_metrics_enable(NULL, 1), 0);
    memset(&o, 0, sizeof o);
    o.name = "quote\"and\\slash";
    assert_int_equal(corio_spawn_ex(&t, worker, NULL, &o), 0);
    assert_int_equal(corio_sleep(0.005), 0);
    assert_int_equal(corio_loop_metrics_get(NULL, &lm), 0);
    assert_int_equal(lm.tasks_alive, 2);
    assert_int_equal(lm.tasks_pending, 2);
    assert_true(lm.iterations >= 2);

    /* Prometheus, per task, while the worker is alive. */
    n = corio_metrics_prometheus_buf(NULL, NULL, 0, CORIO_METRICS_PER_TASK);
    assert_true(n > 0);
    text = malloc((size_t)n + 1);
    assert_int_equal(corio_metrics_prometheus_buf(NULL, text, (size_t)n + 1,
                                                  CORIO_METRICS_PER_TASK), n);
    assert_int_equal(strlen(text), (size_t)n);
    assert_has(text, "# TYPE corio_loop_iterations_total counter\n");
    assert_has(text, "corio_tasks_alive 2\n");
    assert_has(text, "corio_task_cpu_seconds_total{id=\"");
    assert_has(text, "task=\"quote\\\"and\\\\slash\"}"); /* escaped label */
    assert_has(text, "reason=\"sleep\"");
    free(text);

    assert_int_equal(corio_task_metrics_get(t, &tm), 0);
    assert_true(tm.scheduled >= 1);
    /* Done: check its numbers before it is freed. */
    {
        corio_future *f = corio_task_future(t);
        assert_int_equal(corio_future_await(f, NULL), 0);
    }
    assert_int_equal(corio_task_metrics_get(t, &tm), 0);
    assert_true(tm.scheduled >= 3); /* start, after sleep, after yield */
    assert_true(tm.cpu_seconds >= 0.008);
    assert_true(tm.cpu_seconds < 1.0);
    assert_true(tm.wait_seconds[CORIO_WAIT_SLEEP] >= 0.015);
    assert_int_equal(corio_await(t, NULL), 0);

    assert_int_equal(corio_loop_metrics_get(NULL, &lm), 0);
    assert_int_equal(lm.tasks_spawned, 2);
    assert_true(lm.switches >= 3);
    if (!tu_slow()) { /* timings, meaningless under Valgrind */
        assert_true(lm.poll_seconds >= 0.01); /* it slept in the poller */
        assert_true(lm.run_seconds >= 0.008);
        assert_true(lm.lag_max_seconds >= 0.008);
    }
    assert_true(lm.lag_max_seconds >= lm.lag_seconds);
    assert_int_equal(corio_metrics_enable(NULL, 0), 0);
    return NULL;
}

static void test_metrics(void **state)
{
    (void)state;
    assert_int_equal(tu_run(metrics_main, NULL, NULL), 0);
}

static void test_prometheus_to_file(void **state)
{
    corio_loop *loop;
    FILE *f = tmpfile();
    int n;
    (void)state;
    assert_int_equal(corio_loop_create(&loop, NULL), 0);
    n = corio_metrics_prometheus(loop, f, 0);
    assert_true(n > 100);
    assert_int_equal(ftell(f), n);
    assert_int_equal(corio_metrics_prometheus(loop, NULL, 0), -EINVAL);
    assert_int_equal(corio_loop_close(loop), 0);
    fclose(f);
    assert_int_equal(corio_metrics_enable(NULL, 1), -EPERM);
}

/* ---- tracer hooks -------------------------------------------------------------*/

typedef struct trace {
    int spawn, run, suspend, finish;
    char log[512];
} trace;

static void note(trace *tr, char c, corio_task *t)
{
    size_t n = strlen(tr->log);
    if (n + 8 < sizeof tr->log)
        snprintf(tr->log + n, sizeof tr->log - n, "%c%s ", c, corio_task_name(t));
}

static void on_spawn(corio_task *t, void *a) { ((trace *)a)->spawn++, note(a, 'S', t); }
static void on_run(corio_task *t, void *a) { ((trace *)a)->run++, note(a, 'R', t); }
static void on_suspend(corio_task *t, void *a) { ((trace *)a)->suspend++, note(a, 'P', t); }
static void on_finish(corio_task *t, void *a) { ((trace *)a)->finish++, note(a, 'F', t); }

static void *child(void *arg)
{
    (void)arg;
    corio_yield();
    return NULL;
}

static void *hooks_main(void *arg)
{
    trace *tr = arg;
    corio_debug_hooks h;
    corio_spawn_opts o;
    corio_task *t;
    memset(&h, 0, sizeof h);
    h.spawn = on_spawn;
    h.run = on_run;
    h.suspend = on_suspend;
    h.finish = on_finish;
    h.arg = tr;
    assert_int_equal(corio_debug_set_hooks(NULL, &h), 0);
    memset(&o, 0, sizeof o);
    o.name = "c";
    assert_int_equal(corio_spawn_ex(&t, child, NULL, &o), 0);
    assert_int_equal(corio_await(t, NULL), 0);
    assert_int_equal(corio_debug_set_hooks(NULL, NULL), 0);
    corio_task_set_name(corio_current(), "m");
    return NULL;
}

static void test_hooks(void **state)
{
    trace tr;
    (void)state;
    memset(&tr, 0, sizeof tr);
    assert_int_equal(tu_run(hooks_main, &tr, NULL), 0);
    assert_int_equal(tr.spawn, 1);
    assert_int_equal(tr.finish, 1);
    assert_true(tr.run >= 3);
    assert_true(tr.suspend >= 3);
    /* Order: c spawned, main parks, c runs... c finishes before main resumes. */
    assert_non_null(strstr(tr.log, "Sc "));
    assert_true(strstr(tr.log, "Sc ") < strstr(tr.log, "Rc "));
    assert_true(strstr(tr.log, "Rc ") < strstr(tr.log, "Fc "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_prometheus_to_file),
        cmocka_unit_test(test_hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
