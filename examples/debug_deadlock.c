/*
 * debug_deadlock: the classic two-lock deadlock. Two transfers lock the
 * two accounts in opposite orders; each gets its first lock, then waits
 * forever for the other's. Instead of hanging, corio_run() returns
 * -EDEADLK and reports the wait-for cycle (who holds what, who waits on
 * whom) with each blocked task's backtrace. The program then shows the
 * other reports: a task leaked at loop close, with its spawn site.
 *
 *   ./debug_deadlock
 */
#include <corio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

typedef struct account {
    const char *name;
    long balance;
    corio_lock *lock;
} account;

typedef struct transfer {
    account *from, *to;
    long amount;
} transfer;

NOINLINE static int lock_account(account *a)
{
    return corio_lock_acquire(a->lock);
}

static void *do_transfer(void *arg)
{
    transfer *t = arg;
    if (lock_account(t->from) < 0)
        return NULL;
    corio_sleep(0.01); /* e.g. an audit-log write: the other side locks meanwhile */
    if (lock_account(t->to) == 0) {
        t->from->balance -= t->amount;
        t->to->balance += t->amount;
        corio_lock_release(t->to->lock);
    }
    corio_lock_release(t->from->lock);
    return NULL;
}

static void *bank(void *arg)
{
    account a = {"alice", 100, NULL}, b = {"bob", 100, NULL};
    transfer ab = {&a, &b, 10}, ba = {&b, &a, 20};
    corio_spawn_opts o;
    corio_task *t1, *t2;
    (void)arg;
    corio_lock_create(&a.lock);
    corio_lock_create(&b.lock);
    memset(&o, 0, sizeof o);
    o.name = "alice->bob";
    corio_spawn_ex(&t1, do_transfer, &ab, &o);
    o.name = "bob->alice";
    corio_spawn_ex(&t2, do_transfer, &ba, &o);
    corio_await(t1, NULL);
    corio_await(t2, NULL);
    corio_lock_destroy(a.lock);
    corio_lock_destroy(b.lock);
    return NULL;
}

static void *quick(void *arg)
{
    (void)arg;
    return NULL;
}

NOINLINE static void fire_and_forget(void)
{
    corio_spawn(quick, NULL); /* handle dropped: neither awaited nor detached */
}

static void *leaky(void *arg)
{
    (void)arg;
    fire_and_forget();
    return NULL;
}

int main(void)
{
    int rc = corio_run(bank, NULL, NULL);
    printf("corio_run returned %d (%s)\n\n", rc, corio_strerror(rc));
    fflush(stdout);
    corio_run(leaky, NULL, NULL);
    return rc == -EDEADLK ? 0 : 1;
}
