/*
 * debug_dump: "where is every task stuck?", answered from inside the
 * program. A tiny job server has tasks parked on a lock, a pipe, a future
 * and a timer; we print a dump of all of them (state, what each waits on,
 * who holds it, where it was spawned, its C backtrace).
 *
 *   ./debug_dump            prints the dump after 100 ms, then exits
 *   ./debug_dump --signal   also dumps whenever you `kill -USR1 <pid>`,
 *                           and runs until you press Ctrl-C
 *
 * Build with frame pointers (corio's build does) and debug info for
 * file:line. Functions the compiler inlines show up as their caller, so
 * the few this example wants to show are marked noinline.
 */
#include <corio.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static corio_lock *journal_lock;
static corio_future *reply;
static int pipefd[2];

NOINLINE static int append_journal(void)
{
    /* Holds the lock across a slow write (here: a long sleep). */
    int rc = corio_sleep(3600);
    if (rc < 0 && rc != -ECANCELED)
        fprintf(stderr, "journal: %s\n", corio_strerror(rc));
    return rc;
}

static void *journal_writer(void *arg)
{
    (void)arg;
    if (corio_lock_acquire(journal_lock) == 0) {
        append_journal();
        corio_lock_release(journal_lock);
    }
    return NULL;
}

NOINLINE static int update_index(void)
{
    int rc = corio_lock_acquire(journal_lock); /* waits for the writer */
    if (rc == 0)
        corio_lock_release(journal_lock);
    return rc;
}

static void *indexer(void *arg)
{
    (void)arg;
    return corio_fail(update_index());
}

NOINLINE static int read_command(int fd)
{
    char buf[64];
    int rc = corio_wait_fd(fd, CORIO_READABLE);
    if (rc > 0 && read(fd, buf, sizeof buf) < 0)
        rc = -1;
    return rc;
}

static void *command_reader(void *arg)
{
    (void)arg;
    return corio_fail(read_command(pipefd[0]));
}

static void *client(void *arg)
{
    (void)arg;
    return corio_fail(corio_future_await(reply, NULL));
}

static corio_task *spawn(corio_fn fn, const char *name)
{
    corio_spawn_opts o;
    corio_task *t = NULL;
    memset(&o, 0, sizeof o);
    o.name = name;
    corio_spawn_ex(&t, fn, NULL, &o);
    return t;
}

static void *main_task(void *arg)
{
    int forever = *(int *)arg;
    corio_task *t[4];
    int i;

    corio_lock_create(&journal_lock);
    corio_future_create(NULL, &reply);
    if (pipe(pipefd) != 0)
        return corio_fail(-1);
    t[0] = spawn(journal_writer, "journal-writer");
    t[1] = spawn(indexer, "indexer");
    t[2] = spawn(command_reader, "command-reader");
    t[3] = spawn(client, "client");
    if (forever) {
        corio_debug_dump_on_signal(NULL, SIGUSR1);
        printf("pid %d: kill -USR1 %d for a dump, Ctrl-C to quit\n",
               (int)getpid(), (int)getpid());
        fflush(stdout);
        corio_sleep(1e9);
    } else {
        corio_sleep(0.1);
        corio_dump(stdout);
    }
    for (i = 0; i < 4; i++)
        corio_cancel(t[i]);
    for (i = 0; i < 4; i++)
        corio_await(t[i], NULL);
    corio_future_destroy(reply);
    corio_lock_destroy(journal_lock);
    close(pipefd[0]);
    close(pipefd[1]);
    return NULL;
}

int main(int argc, char **argv)
{
    int forever = argc > 1 && strcmp(argv[1], "--signal") == 0;
    return corio_run(main_task, &forever, NULL) == 0 ? 0 : 1;
}
