/* See db_server.h. Test helper: blocking calls (fork/exec, waitpid) are
 * fine here, it runs before and after the loops. */
#include "db_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_BIN "/usr/lib/postgresql/15/bin"

static char pg_dir[256];
static int pg_running;
static pid_t redis_pid;
static int hooks_installed;

static int run_quiet(const char *cmd)
{
    int st = system(cmd);
    return (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
}

/* Prefix that runs a command as the postgres user when we are root
 * (PostgreSQL refuses to run as root), else as ourselves. */
static const char *as_pg(void)
{
    return geteuid() == 0 ? "runuser -u postgres -- " : "";
}

void dbs_stop_all(void)
{
    char cmd[600];
    if (pg_running) {
        pg_running = 0;
        snprintf(cmd, sizeof cmd,
                 "%s" PG_BIN "/pg_ctl -D %s/data -s -m immediate stop >/dev/null 2>&1",
                 as_pg(), pg_dir);
        run_quiet(cmd);
    }
    if (pg_dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", pg_dir);
        run_quiet(cmd);
        pg_dir[0] = 0;
    }
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
}

static void on_signal(int sig)
{
    dbs_stop_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The watchdog: a forked child that outlives a crash of the test (ASan
 * and SIGSEGV exit without running atexit). It reads what to clean up
 * from a pipe ("pg DIR", "redis PID" lines) and, once the pipe reports EOF
 * -- the test process is gone, however it ended -- stops the server
 * and removes the directory. The write end is close-on-exec, so the
 * servers and shells we start do not keep the pipe open. */
static int watchdog_fd = -1;

static void watchdog_run(int rfd)
{
    char buf[4096], cmd[4096];
    size_t have = 0;
    ssize_t n;
    char *nl;
    static char dirs[4][300];
    static long pids[4];
    int nd = 0, np = 0, i;
    for (;;) {
        n = read(rfd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = 0;
        while ((nl = strchr(buf, '\n'))) {
            *nl = 0;
            if (!strncmp(buf, "pg ", 3) && nd < 4)
                snprintf(dirs[nd++], sizeof dirs[0], "%.290s", buf + 3);
            else if (!strncmp(buf, "redis ", 6) && np < 4)
                pids[np++] = atol(buf + 6);
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have + 1);
        }
    }
    for (i = 0; i < np; i++)
        kill((pid_t)pids[i], SIGKILL);
    for (i = 0; i < nd; i++) {
        snprintf(cmd, sizeof cmd,
                 "[ -d '%s/data' ] && %s" PG_BIN "/pg_ctl -D '%s/data' -s -m immediate "
                 "stop >/dev/null 2>&1; rm -rf '%s'", dirs[i], as_pg(), dirs[i], dirs[i]);
        run_quiet(cmd);
    }
}

static void watchdog_tell(const char *what)
{
    if (watchdog_fd >= 0 && write(watchdog_fd, what, strlen(what)) < 0) {
        /* Best effort: without the watchdog, atexit still cleans up. */
    }
}

static void watchdog_start(void)
{
    int p[2];
    pid_t pid;
    if (pipe2(p, O_CLOEXEC) != 0)
        return;
    pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        close(p[1]);
        signal(SIGINT, SIG_IGN); /* a ^C to the group must not kill it first */
        signal(SIGTERM, SIG_IGN);
        watchdog_run(p[0]);
        _exit(0);
    }
    close(p[0]);
    watchdog_fd = p[1];
}

static void install_hooks(void)
{
    if (hooks_installed)
        return;
    hooks_installed = 1;
    watchdog_start();
    atexit(dbs_stop_all);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGABRT, on_signal);
}

int dbs_pg_start(char *conninfo, size_t size)
{
    char cmd[1024];
    if (access(PG_BIN "/initdb", X_OK) != 0 || access(PG_BIN "/pg_ctl", X_OK) != 0) {
        fprintf(stderr, "\n*** SKIP: PostgreSQL server binaries missing (%s); "
                "run scripts/deps.sh core (Debian package postgresql) ***\n\n", PG_BIN);
        return 77;
    }
    if (geteuid() == 0 && !getpwnam("postgres")) {
        fprintf(stderr, "\n*** SKIP: running as root and there is no `postgres` "
                "user to run PostgreSQL as ***\n\n");
        return 77;
    }
    install_hooks();
    snprintf(pg_dir, sizeof pg_dir, "/tmp/corio-pg-XXXXXX");
    if (!mkdtemp(pg_dir)) {
        pg_dir[0] = 0;
        return -1;
    }
    {
        char msg[300];
        snprintf(msg, sizeof msg, "pg %s\n", pg_dir);
        watchdog_tell(msg);
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (chown(pg_dir, pw->pw_uid, pw->pw_gid) != 0)
            return -1;
    }
    snprintf(cmd, sizeof cmd,
             "%s" PG_BIN "/initdb -D %s/data -A trust -U postgres -E UTF8 "
             "--no-sync >/dev/null 2>&1", as_pg(), pg_dir);
    if (run_quiet(cmd) != 0) {
        fprintf(stderr, "db_server: initdb failed: %s\n", cmd);
        return -1;
    }
    snprintf(cmd, sizeof cmd,
             "%s" PG_BIN "/pg_ctl -D %s/data -w -s -t 60 -l %s/data/log -o "
             "\"-k %s -p 5432 -c listen_addresses='' -c fsync=off "
             "-c synchronous_commit=off -c max_connections=120\" start",
             as_pg(), pg_dir, pg_dir, pg_dir);
    if (run_quiet(cmd) != 0) {
        fprintf(stderr, "db_server: pg_ctl start failed: %s\n", cmd);
        snprintf(cmd, sizeof cmd, "cat %s/data/log >&2", pg_dir);
        run_quiet(cmd);
        return -1;
    }
    pg_running = 1;
    snprintf(conninfo, size, "host=%s port=5432 user=postgres dbname=postgres",
             pg_dir);
    return 0;
}

int dbs_pg_stop(void)
{
    char cmd[1024];
    if (!pg_running)
        return -1;
    snprintf(cmd, sizeof cmd,
             "%s" PG_BIN "/pg_ctl -D %s/data -w -s -t 60 -m fast stop",
             as_pg(), pg_dir);
    return run_quiet(cmd) == 0 ? 0 : -1;
}

int dbs_pg_start_again(void)
{
    char cmd[1024];
    if (!pg_running)
        return -1;
    snprintf(cmd, sizeof cmd,
             "%s" PG_BIN "/pg_ctl -D %s/data -w -s -t 60 -l %s/data/log -o "
             "\"-k %s -p 5432 -c listen_addresses='' -c fsync=off "
             "-c synchronous_commit=off -c max_connections=120\" start",
             as_pg(), pg_dir, pg_dir, pg_dir);
    return run_quiet(cmd) == 0 ? 0 : -1;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int can_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int dbs_redis_start(int *port)
{
    const char *bin = "/usr/bin/redis-server";
    char pbuf[16];
    int i;
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "\n*** SKIP: %s missing; run scripts/deps.sh core "
                "(Debian package redis-server) ***\n\n", bin);
        return 77;
    }
    install_hooks();
    *port = free_port();
    if (*port <= 0)
        return -1;
    snprintf(pbuf, sizeof pbuf, "%d", *port);
    redis_pid = fork();
    if (redis_pid < 0)
        return -1;
    if (redis_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
        }
        execl(bin, bin, "--port", pbuf, "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--daemonize", "no",
              "--enable-debug-command", "yes", (char *)NULL);
        /* Older servers do not know --enable-debug-command. */
        execl(bin, bin, "--port", pbuf, "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    {
        char msg[32];
        snprintf(msg, sizeof msg, "redis %ld\n", (long)redis_pid);
        watchdog_tell(msg);
    }
    for (i = 0; i < 500; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        if (can_connect(*port))
            return 0;
        if (waitpid(redis_pid, NULL, WNOHANG) == redis_pid) {
            redis_pid = 0;
            fprintf(stderr, "db_server: redis-server exited at start\n");
            return -1;
        }
        nanosleep(&ts, NULL);
    }
    return -1;
}
