/*
 * Subprocesses: posix_spawn, a pidfd per child for the exit, pipes as
 * corio streams.
 *
 * Why posix_spawn: glibc implements it with clone(CLONE_VM|CLONE_VFORK), so
 * starting a child never copies the parent's page tables (fork would, and
 * with a big heap that costs milliseconds), and an exec failure is reported
 * back as an error instead of a child that exits 127.
 *
 * Why a pidfd: it is readable once the child exits, so the loop waits for it
 * like for any fd: no SIGCHLD handler (which would be process-global, race
 * with other libraries' handlers, and tempt one into waitpid(-1), reaping
 * children that are not ours), and signals sent through it can never hit a
 * recycled pid. There is a window between posix_spawn and pidfd_open in
 * which the pid could be recycled only if someone else reaped our child; we
 * never do that to theirs, and the documentation asks the same of them.
 * Kernels without pidfd_open (before 5.3): waitpid(pid, WNOHANG) polled at
 * a growing interval (1 ms .. 50 ms).
 */
#include "io/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

#define COMM_LIMIT ((size_t)64 << 20)

/* A child. Allocated by corio_process_spawn on the loop thread; freed by
 * corio_process_close (or, for a child still running then, by its reaper
 * task once it exited). */
struct corio_process {
    pid_t pid;
    int pidfd;              /* -1: no pidfd (polling fallback) */
    corio__fd pfd;          /* pidfd registration */
    int reaped;             /* the exit status has been collected */
    int status;             /* exit code, or -signal */
    corio_task *waiter;     /* the task in corio_process_wait, or NULL */
    corio_stream *io[3];    /* pipe streams, NULL if not a pipe */
    corio_loop *loop;       /* the loop it was spawned on */
};

static int sys_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
    long r = syscall(SYS_pidfd_open, pid, 0);
    return r < 0 ? -errno : (int)r;
#else
    (void)pid;
    return -ENOSYS;
#endif
}

static int sys_pidfd_kill(int pidfd, int sig)
{
#ifdef SYS_pidfd_send_signal
    long r = syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
    return r < 0 ? -errno : 0;
#else
    (void)pidfd;
    (void)sig;
    return -ENOSYS;
#endif
}

/* ---- spawning ------------------------------------------------------------------*/

/* Sets up child fd `target` per mode. pipe_fd gets the parent's end of a
 * new pipe (or stays -1). Returns 0 or a negative errno. */
static int setup_stdio(posix_spawn_file_actions_t *fa, int target, int mode, int user_fd,
                       int *pipe_fd, int *child_end)
{
    int fds[2], rc;
    *pipe_fd = -1;
    *child_end = -1;
    switch (mode) {
    case CORIO_STDIO_INHERIT:
        return 0;
    case CORIO_STDIO_NULL:
        rc = posix_spawn_file_actions_addopen(fa, target, "/dev/null",
                                              target == 0 ? O_RDONLY : O_WRONLY, 0);
        return -rc;
    case CORIO_STDIO_FD:
        if (user_fd < 0)
            return -EBADF;
        return -posix_spawn_file_actions_adddup2(fa, user_fd, target);
    case CORIO_STDIO_STDOUT:
        if (target != 2)
            return -EINVAL;
        return -posix_spawn_file_actions_adddup2(fa, 1, 2);
    case CORIO_STDIO_PIPE:
        if (pipe2(fds, O_CLOEXEC) < 0)
            return -errno;
        /* fds[0] is the read end: the child reads its stdin from it. */
        *child_end = target == 0 ? fds[0] : fds[1];
        *pipe_fd = target == 0 ? fds[1] : fds[0];
        rc = posix_spawn_file_actions_adddup2(fa, *child_end, target);
        return -rc;
    default:
        return -EINVAL;
    }
}

int corio_process_spawn(corio_process **pp, const char *const *argv,
                        const corio_process_opts *opts)
{
    corio_loop *loop = corio__tls_loop;
    corio_process_opts o;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    corio_process *p;
    int pipe_fd[3] = {-1, -1, -1}, child_end[3] = {-1, -1, -1};
    int modes[3], ufds[3], i, rc;
    short aflags;
    pid_t pid;

    if (pp)
        *pp = NULL;
    if (!pp || !argv || !argv[0])
        return -EINVAL;
    if (!loop)
        return -EPERM;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    modes[0] = o.stdin_mode;
    modes[1] = o.stdout_mode;
    modes[2] = o.stderr_mode;
    ufds[0] = o.stdin_fd;
    ufds[1] = o.stdout_fd;
    ufds[2] = o.stderr_fd;
    p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->pidfd = -1;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    rc = 0;
    if (o.cwd)
        rc = -posix_spawn_file_actions_addchdir_np(&fa, o.cwd);
    for (i = 0; i < 3 && rc == 0; i++)
        rc = setup_stdio(&fa, i, modes[i], ufds[i], &pipe_fd[i], &child_end[i]);
    if (rc == 0) {
        /* The child starts clean: nothing blocked (the loop thread may
         * block signals; pool threads block all), every disposition the
         * default (ours are handlers that make no sense after exec, and
         * an ignored SIGPIPE would leak into `yes | head`). */
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        aflags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
        if (o.flags & CORIO_PROCESS_NEW_GROUP) {
            aflags |= POSIX_SPAWN_SETPGROUP;
            posix_spawnattr_setpgroup(&attr, 0);
        }
        posix_spawnattr_setflags(&attr, aflags);
        rc = -posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv,
                           o.env ? (char *const *)o.env : environ);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    for (i = 0; i < 3; i++)
        if (child_end[i] >= 0)
            close(child_end[i]);
    if (rc < 0)
        goto fail;
    p->pid = pid;

    rc = sys_pidfd_open(pid);
    if (rc >= 0) {
        p->pidfd = rc;
        rc = corio__fd_open(loop, &p->pfd, p->pidfd);
        if (rc < 0) {
            close(p->pidfd);
            p->pidfd = -1;
        }
    }
    /* Without a pidfd we poll (see the top of the file). */
    for (i = 0; i < 3; i++) {
        if (pipe_fd[i] < 0)
            continue;
        rc = corio_stream_open_fd(&p->io[i], pipe_fd[i], 0);
        if (rc < 0) {
            /* The child is running: keep the handle usable without
             * this pipe rather than lose track of the child. */
            close(pipe_fd[i]);
            p->io[i] = NULL;
        } else {
            /* The process owns its pipes: a leak is the process's. */
            corio__obs_resource_close(loop, p->io[i]);
        }
        pipe_fd[i] = -1;
    }
    p->loop = loop;
    /* Debug mode reports it at loop close if nobody closes it. */
    corio__obs_resource_open(loop, p, "process", -1);
    *pp = p;
    return 0;
fail:
    for (i = 0; i < 3; i++)
        if (pipe_fd[i] >= 0)
            close(pipe_fd[i]);
    free(p);
    return rc;
}

int corio_process_spawn_shell(corio_process **pp, const char *command,
                              const corio_process_opts *opts)
{
    const char *argv[] = {"/bin/sh", "-c", command, NULL};
    if (!command) {
        if (pp)
            *pp = NULL;
        return -EINVAL;
    }
    return corio_process_spawn(pp, argv, opts);
}

int corio_process_pid(const corio_process *p)
{
    return p ? (int)p->pid : -EINVAL;
}

corio_stream *corio_process_stdin(corio_process *p) { return p ? p->io[0] : NULL; }
corio_stream *corio_process_stdout(corio_process *p) { return p ? p->io[1] : NULL; }
corio_stream *corio_process_stderr(corio_process *p) { return p ? p->io[2] : NULL; }

int corio_process_close_stdin(corio_process *p)
{
    corio_stream *s;
    if (!p)
        return -EINVAL;
    s = p->io[0];
    if (!s)
        return 0;
    p->io[0] = NULL;
    return corio_stream_close(s);
}

/* ---- waiting and signals ---------------------------------------------------------*/

/* Collects the exit status if the child has exited. 1: reaped, 0: still
 * running, or a negative errno. */
static int try_reap(corio_process *p)
{
    if (p->pidfd >= 0) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) < 0)
            return errno == EINTR ? 0 : -errno;
        if (si.si_pid == 0)
            return 0;
        p->status = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
    } else {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r < 0)
            return errno == EINTR ? 0 : -errno;
        if (r == 0)
            return 0;
        p->status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    }
    p->reaped = 1;
    if (p->pidfd >= 0) {
        corio__fd_close(&p->pfd);
        close(p->pidfd);
        p->pidfd = -1;
    }
    return 1;
}

int corio_process_wait(corio_process *p, int *status)
{
    corio_task *t = corio_current();
    double interval = 0.001;
    int rc;
    if (!t)
        return -EPERM;
    if (!p)
        return -EINVAL;
    if (p->waiter)
        return -EBUSY;
    if (!p->reaped) {
        p->waiter = t;
        for (;;) {
            rc = try_reap(p);
            if (rc != 0)
                break;
            if (p->pidfd >= 0) {
                rc = corio__fd_wait(&p->pfd, CORIO__IO_IN);
            } else {
                rc = corio_sleep(interval);
                interval = interval * 2 > 0.05 ? 0.05 : interval * 2;
            }
            if (rc < 0)
                break;
        }
        p->waiter = NULL;
        if (rc < 0)
            return rc;
    } else if ((rc = corio__interrupted(t))) {
        return rc;
    }
    if (status)
        *status = p->status;
    return 0;
}

int corio_process_kill(corio_process *p, int sig)
{
    if (!p || sig < 0)
        return -EINVAL;
    if (p->reaped)
        return -ESRCH;
    if (p->pidfd >= 0)
        return sys_pidfd_kill(p->pidfd, sig);
    /* Not reaped yet, so the pid is still ours (a zombie at worst). */
    return kill(p->pid, sig) < 0 ? -errno : 0;
}

int corio_process_terminate(corio_process *p)
{
    return corio_process_kill(p, SIGTERM);
}

/* ---- communicate -------------------------------------------------------------------*/

/* One direction of communicate, run as its own task so that all pipes
 * make progress at once. Heap-allocated (tasks' stacks may move). */
typedef struct comm_part {
    corio_stream *s;
    const char *in;      /* writer: input */
    size_t in_len;
    char *buf;           /* reader: collected output (malloc'ed) */
    size_t len, cap, limit;
    int overflow;        /* output past limit was dropped */
    int rc;
} comm_part;

static void *comm_reader(void *arg)
{
    comm_part *c = arg;
    char chunk[16384];
    for (;;) {
        ssize_t n = corio_stream_read(c->s, chunk, sizeof chunk);
        size_t take;
        if (n <= 0) {
            c->rc = (int)n;
            return NULL;
        }
        take = (size_t)n;
        if (c->len + take > c->limit) {
            take = c->limit - c->len;
            c->overflow = 1;
        }
        if (c->len + take + 1 > c->cap) {
            size_t cap = c->cap ? c->cap : 4096;
            char *nb;
            while (cap < c->len + take + 1)
                cap *= 2;
            nb = realloc(c->buf, cap);
            if (!nb) {
                c->rc = -ENOMEM;
                return NULL;
            }
            c->buf = nb;
            c->cap = cap;
        }
        memcpy(c->buf + c->len, chunk, take);
        c->len += take;
    }
}

static void *comm_writer(void *arg)
{
    comm_part *c = arg;
    int rc = c->in_len ? corio_stream_write(c->s, c->in, c->in_len) : 0;
    int rc2 = corio_stream_close(c->s);
    /* The child may exit without reading all of it: not an error. */
    if (rc == 0)
        rc = rc2;
    c->rc = (rc == -EPIPE || rc == -ECONNRESET) ? 0 : rc;
    return NULL;
}

int corio_process_communicate(corio_process *p, const void *input,
                              size_t input_len, char **out, size_t *out_len,
                              char **err, size_t *err_len, size_t limit)
{
    comm_part *parts;
    corio_task *ts[3] = {NULL, NULL, NULL};
    int i, rc = 0, status;
    char **dst[3];
    size_t *dlen[3];

    dst[0] = NULL;
    dst[1] = out;
    dst[2] = err;
    dlen[0] = NULL;
    dlen[1] = out_len;
    dlen[2] = err_len;
    for (i = 1; i < 3; i++) {
        if (dst[i])
            *dst[i] = NULL;
        if (dlen[i])
            *dlen[i] = 0;
    }
    if (!corio_current())
        return -EPERM;
    if (!p || (input_len && !input))
        return -EINVAL;
    if (input_len && !p->io[0])
        return -EINVAL;
    parts = calloc(3, sizeof *parts);
    if (!parts)
        return -ENOMEM;
    if (p->io[0]) {
        /* The writer closes stdin: the handle no longer owns it. */
        parts[0].s = p->io[0];
        p->io[0] = NULL;
        parts[0].in = input;
        parts[0].in_len = input_len;
        ts[0] = corio_spawn(comm_writer, &parts[0]);
        if (!ts[0]) {
            corio_stream_abort(parts[0].s);
            rc = -ENOMEM;
        }
    }
    for (i = 1; i < 3 && rc == 0; i++) {
        if (!p->io[i])
            continue;
        parts[i].s = p->io[i];
        parts[i].limit = limit ? limit : COMM_LIMIT;
        ts[i] = corio_spawn(comm_reader, &parts[i]);
        if (!ts[i])
            rc = -ENOMEM;
    }
    /* Wait for every part through its future (which neither consumes nor
     * cancels the task). If we are interrupted, cancel the parts; either
     * way, reap them inside a shield, so none outlives `parts`. */
    for (i = 0; i < 3 && rc == 0; i++) {
        int r;
        if (!ts[i])
            continue;
        r = corio_future_await(corio_task_future(ts[i]), NULL);
        if ((r == -ECANCELED || r == -ETIMEDOUT) && !corio_future_done(corio_task_future(ts[i])))
            rc = r;
    }
    {
        corio_scope sh;
        corio_scope_enter(&sh, -1, CORIO_SCOPE_SHIELD);
        for (i = 0; i < 3; i++) {
            if (!ts[i])
                continue;
            if (rc < 0)
                corio_cancel(ts[i]);
            corio_await(ts[i], NULL);
        }
        corio_scope_exit(&sh);
    }
    if (rc == 0) {
        for (i = 0; i < 3 && rc == 0; i++)
            if (parts[i].rc < 0)
                rc = parts[i].rc;
    }
    if (rc == 0)
        rc = corio_process_wait(p, &status);
    if (rc == 0) {
        for (i = 1; i < 3; i++) {
            if (!parts[i].s)
                continue;
            if (parts[i].overflow)
                rc = CORIO_ETOOLONG;
            if (dst[i]) {
                if (!parts[i].buf)
                    parts[i].buf = calloc(1, 1);
                if (parts[i].buf)
                    parts[i].buf[parts[i].len] = '\0';
                *dst[i] = parts[i].buf;
                parts[i].buf = NULL;
                if (dlen[i])
                    *dlen[i] = parts[i].len;
            }
        }
    }
    for (i = 0; i < 3; i++)
        free(parts[i].buf);
    free(parts);
    return rc;
}

/* ---- closing -----------------------------------------------------------------------*/

static void free_process(corio_process *p)
{
    int i;
    for (i = 0; i < 3; i++)
        if (p->io[i])
            corio_stream_abort(p->io[i]);
    if (p->pidfd >= 0) {
        corio__fd_close(&p->pfd);
        close(p->pidfd);
    }
    free(p);
}

/* Reaps a child whose handle was closed while it ran. If the loop cancels
 * it (shutting down), one last try; a child still running then is left
 * for init to reap when we exit. */
static void *reaper(void *arg)
{
    corio_process *p = arg;
    if (corio_process_wait(p, NULL) < 0)
        try_reap(p);
    free_process(p);
    return NULL;
}

void corio_process_close(corio_process *p)
{
    corio_spawn_opts o = {0};
    int i;
    if (!p)
        return;
    corio__obs_resource_close(p->loop, p);
    if (!p->reaped && try_reap(p) == 0) {
        for (i = 0; i < 3; i++)
            if (p->io[i]) {
                corio_stream_abort(p->io[i]);
                p->io[i] = NULL;
            }
        o.flags = CORIO_SPAWN_DETACHED;
        o.name = "process-reaper";
        if (corio_spawn_ex(NULL, reaper, p, &o) == 0)
            return;
    }
    free_process(p);
}
