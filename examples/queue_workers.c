/*
 * Queues: a pool of workers draining a bounded job queue (asyncio's
 * classic Queue example), join() to wait until every job is done, then
 * shutdown() to stop the workers; and a priority queue.
 */
#include <corio.h>

#include <stdint.h>
#include <stdio.h>

static corio_queue *jobs;
static long total_ms;

static void *worker(void *arg)
{
    void *job;
    (void)arg;
    /* get() fails with CORIO_ESHUTDOWN once the queue is shut down and
     * empty: that is the workers' signal to stop. */
    while (corio_queue_get(jobs, &job) == 0) {
        long ms = (long)(intptr_t)job;
        corio_sleep(ms / 1000.0);
        total_ms += ms;
        corio_queue_task_done(jobs);
    }
    printf("worker %s stops\n", corio_task_name(corio_current()));
    return NULL;
}

static void *main_task(void *arg)
{
    corio_task *w[3];
    corio_queue *pq;
    void *item;
    int64_t prio;
    double t0 = corio_now();
    (void)arg;

    corio_queue_create(&jobs, CORIO_QUEUE_FIFO, 4); /* at most 4 waiting */
    for (int i = 0; i < 3; i++)
        w[i] = corio_spawn(worker, NULL);
    for (int i = 0; i < 12; i++) /* suspends while the queue is full */
        corio_queue_put(jobs, (void *)(intptr_t)(10 + i));
    corio_queue_join(jobs);
    printf("12 jobs, %ld ms of work, done in %.0f ms by 3 workers\n", total_ms,
           (corio_now() - t0) * 1000);
    corio_queue_shutdown(jobs, 0, NULL, NULL);
    for (int i = 0; i < 3; i++)
        corio_await(w[i], NULL);
    corio_queue_destroy(jobs);

    /* A priority queue: lowest priority value first, FIFO among equals. */
    corio_queue_create(&pq, CORIO_QUEUE_PRIORITY, 0);
    corio_queue_put_prio(pq, "write the report", 2);
    corio_queue_put_prio(pq, "fix production", 0);
    corio_queue_put_prio(pq, "lunch", 1);
    corio_queue_put_prio(pq, "reply to mail", 2);
    while (corio_queue_try_get_prio(pq, &item, &prio) == 0)
        printf("[%lld] %s\n", (long long)prio, (const char *)item);
    corio_queue_destroy(pq);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) < 0;
}
