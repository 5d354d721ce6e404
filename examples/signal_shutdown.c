/*
 * Graceful shutdown on SIGTERM or SIGINT: the worker task is cancelled,
 * runs its cleanup, and the program exits 0.
 *
 *   ./signal_shutdown            # then press Ctrl-C, or kill -TERM <pid>
 *   ./signal_shutdown --self     # sends itself SIGTERM after 0.5 s
 */
#include <corio.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *worker(void *arg)
{
    int n = 0;
    (void)arg;
    while (corio_sleep(0.1) == 0)
        printf("working... %d\n", ++n);
    /* Cancelled: every suspending call now returns -ECANCELED. Cleanup
     * that must wait for something runs inside a shield. */
    printf("worker: cleaning up after %d ticks\n", n);
    return NULL;
}

static void *main_task(void *arg)
{
    corio_task *w = corio_spawn(worker, NULL);
    corio_signal *sig;
    int signo;
    (void)arg;

    /* The three lines: watch, wait, cancel. */
    corio_signal_open(&sig, (int[]){SIGTERM, SIGINT}, 2);
    signo = corio_signal_wait(sig);

    printf("got %s: shutting down\n", strsignal(signo));
    corio_cancel(w);
    corio_await(w, NULL);
    corio_signal_close(sig);
    return NULL;
}

static void *self_kill(void *arg)
{
    (void)arg;
    corio_sleep(0.5);
    kill(getpid(), SIGTERM);
    return NULL;
}

static void *main_self(void *arg)
{
    corio_task *k = corio_spawn(self_kill, NULL);
    main_task(arg);
    corio_await(k, NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    int self = argc > 1 && strcmp(argv[1], "--self") == 0;
    printf("pid %d: send SIGTERM or press Ctrl-C to stop\n", (int)getpid());
    return corio_run(self ? main_self : main_task, NULL, NULL) == 0 ? 0 : 1;
}
