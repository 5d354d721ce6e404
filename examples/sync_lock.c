/*
 * Lock: a read-modify-write that suspends in the middle (a "database" round
 * trip), run by four tasks. Without the lock the updates overwrite each
 * other; with it they queue up in FIFO order. The lock knows its owner, so
 * a release by anyone else is refused.
 */
#include <corio.h>

#include <errno.h>
#include <stdio.h>

static corio_lock *lock;
static int balance;

static void *deposit(void *arg)
{
    int use_lock = arg != NULL;
    if (use_lock && corio_lock_acquire(lock) < 0)
        return corio_fail(-ECANCELED);
    int b = balance;  /* read */
    corio_sleep(0.01); /* a round trip: other tasks run meanwhile */
    balance = b + 100; /* write */
    if (use_lock)
        corio_lock_release(lock);
    return NULL;
}

static void *not_the_owner(void *arg)
{
    (void)arg;
    printf("release by a non-owner: %s\n", corio_strerror(corio_lock_release(lock)));
    return NULL;
}

static void *main_task(void *arg)
{
    corio_task *t[4];
    (void)arg;
    corio_lock_create(&lock);
    for (int pass = 0; pass < 2; pass++) {
        balance = 0;
        for (int i = 0; i < 4; i++)
            t[i] = corio_spawn(deposit, pass ? (void *)1 : NULL);
        for (int i = 0; i < 4; i++)
            corio_await(t[i], NULL);
        printf("%s the lock: balance %d (expected 400)\n",
               pass ? "with" : "without", balance);
    }
    corio_lock_acquire(lock);
    corio_await(corio_spawn(not_the_owner, NULL), NULL);
    corio_lock_release(lock);
    corio_lock_destroy(lock);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) < 0;
}
