/*
 * Condition and Barrier. A condition variable guards a small inventory:
 * consumers wait (with the lock released) until there is stock. A barrier
 * then makes three workers finish phase 1 before any starts phase 2.
 */
#include <corio.h>

#include <stdint.h>
#include <stdio.h>

static corio_cond *cond;
static int stock;

static int in_stock(void *arg) { (void)arg; return stock > 0; }

static void *consumer(void *arg)
{
    corio_cond_acquire(cond);
    if (corio_cond_wait_for(cond, in_stock, NULL) == 0) { /* lock held */
        stock--;
        printf("consumer %ld took one, %d left\n", (long)(intptr_t)arg, stock);
    }
    corio_cond_release(cond);
    return NULL;
}

static corio_barrier *barrier;

static void *phased(void *arg)
{
    intptr_t id = (intptr_t)arg;
    corio_sleep(0.01 * (double)id);
    printf("worker %ld: phase 1 done\n", (long)id);
    int idx = corio_barrier_wait(barrier);
    printf("worker %ld: phase 2 (arrival index %d)\n", (long)id, idx);
    return NULL;
}

static void *main_task(void *arg)
{
    corio_task *t[3];
    (void)arg;
    corio_cond_create(&cond, NULL); /* with its own lock */
    for (intptr_t i = 0; i < 3; i++)
        t[i] = corio_spawn(consumer, (void *)i);
    for (int i = 0; i < 3; i++) {
        corio_sleep(0.01);
        corio_cond_acquire(cond);
        stock++;
        corio_cond_notify(cond, 1);
        corio_cond_release(cond);
    }
    for (int i = 0; i < 3; i++)
        corio_await(t[i], NULL);
    corio_cond_destroy(cond);

    corio_barrier_create(&barrier, 3);
    for (intptr_t i = 0; i < 3; i++)
        t[i] = corio_spawn(phased, (void *)(i + 1));
    for (int i = 0; i < 3; i++)
        corio_await(t[i], NULL);
    corio_barrier_destroy(barrier);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) < 0;
}
