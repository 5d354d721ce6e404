/*
 * corio-jobs: accept a batch job over HTTP, answer 202 as soon as it is
 * durably recorded, run it in the background, lose nothing.
 *
 * This file is the command line and the lifecycle: parse flags, open the
 * store, start the service and the HTTP server, wait for SIGTERM/SIGINT,
 * drain, exit 0. docs/jobs.md documents the API.
 */
#include <corio.h>
#include <corio_http.h>
#include <corio_jobs.h>


#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EX_USAGE 64 /* sysexits.h: the command was used incorrectly */

static const char usage[] =
    "usage: corio-jobs [--listen HOST:PORT] [--db PATH|URL] [--workers N]\n"
    "                  [--threads N] [--grace SECONDS]\n"
    "                  [--allow-command PROGRAM]...\n"
    "                  [--queue NAME:CONCURRENCY]... [--rate-limit NAME:N/SECONDS]...\n"
    "                  [--schedule TYPE=SCHEDULE[=SPEC]]...\n"
    "\n"
    "An HTTP server that accepts batch jobs, answers 202 as soon as a job is\n"
    "durably recorded, and runs it in the background.\n"
    "\n"
    "  --listen HOST:PORT   address to serve on (default 127.0.0.1:8080;\n"
    "                       port 0 picks a free port; [::1]:8080 for IPv6)\n"
    "  --db PATH|URL        the job store: a SQLite file (default\n"
    "                       ./corio-jobs.db), or sqlite:PATH, or\n"
    "                       postgresql://... (a queue that any number of\n"
    "                       corio-jobs processes share)\n"
    "  --lease SECONDS      PostgreSQL: how long a job stays claimed by a\n"
    "                       process that stopped renewing (it died) before\n"
    "                       another takes it over (default 30)\n"
    "  --max-attempts N     PostgreSQL: starts before a job whose process\n"
    "                       keeps dying is recorded interrupted (default 3)\n"
    "  --workers N          jobs running at once, 1..100000 (default 4);\n"
    "                       the others wait, queued\n"
    "  --threads N          loops (threads) to serve HTTP and run jobs on,\n"
    "                       1..1024 (default: the CPUs this process may\n"
    "                       use); SQLite keeps one writer, on the\n"
    "                       first; on PostgreSQL every loop is a worker\n"
    "                       with its own pool (8/N connections, at\n"
    "                       least 2) and a share of --workers and of\n"
    "                       each --queue; 1: everything on one thread\n"
    "  --grace SECONDS      on SIGTERM/SIGINT, how long running jobs may\n"
    "                       finish before they are interrupted (default 10)\n"
    "  --admin-token TOKEN  DELETE and POST /jobs/<id>/retry need\n"
    "                       \"Authorization: Bearer TOKEN\" (at least 8\n"
    "                       characters; default: only clients on this\n"
    "                       machine may)\n"
    "  --retention SECONDS  delete ended jobs (and their idempotency keys)\n"
    "                       this long after they finished, in small\n"
    "                       batches (default: keep them)\n"
    "  --queue NAME:CONCURRENCY\n"
    "                       a named queue with its own limit: jobs with\n"
    "                       \"queue\": NAME run up to CONCURRENCY at once,\n"
    "                       apart from --workers (which every other queue\n"
    "                       shares); repeat for several\n"
    "  --rate-limit NAME:N/SECONDS\n"
    "                       at most N jobs of the --queue NAME start in any\n"
    "                       SECONDS (in this process); repeatable\n"
    "  --schedule TYPE=SCHEDULE[=SPEC]\n"
    "                       a periodic job: one job of TYPE with SPEC (JSON)\n"
    "                       at every tick of SCHEDULE, in UTC: \"every 30s\",\n"
    "                       five cron fields, or @hourly, @daily...; once per\n"
    "                       tick across processes; repeatable\n"
    "  --allow-command PROGRAM\n"
    "                       let command jobs run PROGRAM (exactly as given\n"
    "                       as argv[0]); repeat for several; none by default\n"
    "  --requeue-interrupted\n"
    "                       at startup, run again the jobs that were running\n"
    "                       when the server died (default: mark them\n"
    "                       interrupted, since a job may not be safe to\n"
    "                       repeat)\n"
    "  --check-timeout SECONDS\n"
    "                       SQLite: how long the startup integrity check\n"
    "                       (PRAGMA quick_check) may run; a store too large\n"
    "                       to check in time opens unchecked, with a\n"
    "                       warning; 0 skips the check (default 10)\n"
    "  --no-group-commit    one transaction per write (for benchmarks)\n"
    "  --help               this text\n"
    "\n"
    "API: POST /jobs, GET /jobs/<id>, GET /jobs?status=&limit=&after=,\n"
    "DELETE /jobs/<id>, GET /counts, GET /healthz, GET /metrics; a browser\n"
    "at / gets the dashboard. See docs/jobs.md.\n";

typedef struct config {
    char host[64];
    int port;
    const char *db;
    int workers;
    double grace;
    const char **allow;
    size_t nallow;
    corio_jobs_queue *queues;
    size_t nqueues;
    char **queue_names; /* malloc'ed copies, freed at exit */
    int recover;
    int no_group_commit;
    double lease;
    int max_attempts;
    double check_timeout; /* < 0: skip the check */
    double retention;     /* 0: keep ended jobs */
    const char *admin_token;
    const char **schedules; /* --schedule values (argv's) */
    size_t nschedules;
    const char **rates;     /* --rate-limit values, until the queues are
                               known */
    unsigned threads;     /* loops; 0: the CPUs of the affinity mask */
    int status; /* exit status of the main task */
} config;

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "corio-jobs: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(corio-jobs --help shows the options)\n");
    return EX_USAGE;
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" (127.0.0.1). */
static int parse_listen(const char *s, config *c)
{
    const char *colon;
    size_t hl;
    const char *h = s;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl >= sizeof c->host)
        return -1;
    if (hl == 0 || (hl == 9 && strncmp(h, "localhost", 9) == 0)) {
        strcpy(c->host, "127.0.0.1");
    } else {
        memcpy(c->host, h, hl);
        c->host[hl] = '\0';
    }
    char *e;
    long p = strtol(colon + 1, &e, 10);
    if (!colon[1] || *e || p < 0 || p > 65535)
        return -1;
    c->port = (int)p;
    corio_addr a;
    return corio_addr_ip(&a, c->host, c->port) == 0 ? 0 : -1;
}

/* Returns 0 to run, EX_USAGE on a bad command line, or -1 after --help. */
static int parse_args(int argc, char **argv, config *c)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, 'd'},
        {"workers", required_argument, NULL, 'w'},
        {"grace", required_argument, NULL, 'g'},
        {"allow-command", required_argument, NULL, 'a'},
        {"queue", required_argument, NULL, 'q'},
        {"rate-limit", required_argument, NULL, 'Q'},
        {"schedule", required_argument, NULL, 'S'},
        {"retention", required_argument, NULL, 'R'},
        {"admin-token", required_argument, NULL, 'T'},
        {"requeue-interrupted", no_argument, NULL, 'r'},
        {"no-group-commit", no_argument, NULL, 'n'},
        {"lease", required_argument, NULL, 'L'},
        {"max-attempts", required_argument, NULL, 'M'},
        {"check-timeout", required_argument, NULL, 'C'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    strcpy(c->host, "127.0.0.1");
    c->port = 8080;
    c->db = "./corio-jobs.db";
    c->workers = 4;
    c->grace = 10;
    c->allow = calloc((size_t)argc + 1, sizeof *c->allow);
    c->queues = calloc((size_t)argc + 1, sizeof *c->queues);
    c->queue_names = calloc((size_t)argc + 1, sizeof *c->queue_names);
    c->schedules = calloc((size_t)argc + 1, sizeof *c->schedules);
    c->rates = calloc((size_t)argc + 1, sizeof *c->rates);
    size_t nrates = 0;
    if (!c->allow || !c->queues || !c->queue_names || !c->schedules ||
        !c->rates)
        return EX_USAGE;
    opterr = 0; /* our own messages */
    int o;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        char *e;
        switch (o) {
        case 'l':
            if (parse_listen(optarg, c) < 0)
                return bad("--listen wants HOST:PORT with a numeric host "
                           "and a port from 0 to 65535, not '%s'", optarg);
            break;
        case 'd':
            if (!*optarg)
                return bad("--db wants a path or URL%s", "");
            c->db = optarg;
            break;
        case 'w': {
            long v = strtol(optarg, &e, 10);
            if (!*optarg || *e || v < 1 || v > 100000)
                return bad("--workers wants a number from 1 to 100000, not "
                           "'%s'", optarg);
            c->workers = (int)v;
            break;
        }
        case 'g': {
            double v = strtod(optarg, &e);
            if (!*optarg || *e || !isfinite(v) || v < 0 || v > 86400)
                return bad("--grace wants seconds from 0 to 86400, not '%s'",
                           optarg);
            c->grace = v;
            break;
        }
        case 'a':
            if (!*optarg)
                return bad("--allow-command wants a program name%s", "");
            c->allow[c->nallow++] = optarg;
            break;
        case 'r':
            c->recover = 1;
            break;
        case 'T':
            if (strlen(optarg) < 8)
                return bad("--admin-token wants at least 8 characters%s", "");
            c->admin_token = optarg;
            break;
        case 'R': {
            double v = strtod(optarg, &e);
            if (!*optarg || *e || !isfinite(v) || v <= 0 || v > 1e9)
                return bad("--retention wants seconds (more than 0), not "
                           "'%s'", optarg);
            c->retention = v;
            break;
        }
        case 'q': {
            const char *colon = strrchr(optarg, ':');
            long v = colon ? strtol(colon + 1, &e, 10) : 0;
            char *name = colon ? strndup(optarg, (size_t)(colon - optarg))
                               : NULL;
            if (name)
                c->queue_names[c->nqueues] = name; /* freed at exit */
            if (!colon || !name || !colon[1] || *e || v < 1 || v > 100000 ||
                !*name)
                return bad("--queue wants NAME:CONCURRENCY (a concurrency "
                           "from 1 to 100000), not '%s'", optarg);
            c->queues[c->nqueues].name = name;
            c->queues[c->nqueues++].concurrency = (int)v;
            break;
        }
        case 'Q':
            c->rates[nrates++] = optarg; /* applied once the queues are
                                            known */
            break;
        case 'S':
            if (!strchr(optarg, '='))
                return bad("--schedule wants TYPE=SCHEDULE[=SPEC], not '%s'",
                           optarg);
            c->schedules[c->nschedules++] = optarg;
            break;
        case 'L': {
            double v = strtod(optarg, &e);
            if (!*optarg || *e || !isfinite(v) || v < 0.3 || v > 86400)
                return bad("--lease wants seconds from 0.3 to 86400, not "
                           "'%s'", optarg);
            c->lease = v;
            break;
        }
        case 'C': {
            double v = strtod(optarg, &e);
            if (!*optarg || *e || !isfinite(v) || v < 0 || v > 86400)
                return bad("--check-timeout wants seconds from 0 to 86400, "
                           "not '%s'", optarg);
            c->check_timeout = v > 0 ? v : -1;
            break;
        }
        case 'M': {
            long v = strtol(optarg, &e, 10);
            if (!*optarg || *e || v < 1 || v > 1000)
                return bad("--max-attempts wants a number from 1 to 1000, "
                           "not '%s'", optarg);
            c->max_attempts = (int)v;
            break;
        }
        case 'n':
            c->no_group_commit = 1;
            break;
        case 't': {
            long v = strtol(optarg, &e, 10);
            if (!*optarg || *e || v < 1 || v > 1024)
                return bad("--threads wants a number from 1 to 1024, not "
                           "'%s'", optarg);
            c->threads = (unsigned)v;
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return -1;
        case ':':
            return bad("%s needs a value", argv[optind - 1]);
        default:
            return bad("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad("unexpected argument '%s'", argv[optind]);
    for (size_t i = 0; i < nrates; i++) {
        const char *r = c->rates[i], *colon = strrchr(r, ':');
        char *e = NULL;
        long n = colon ? strtol(colon + 1, &e, 10) : 0;
        double per = e && *e == '/' ? strtod(e + 1, &e) : 0;
        corio_jobs_queue *q = NULL;
        for (size_t k = 0; colon && k < c->nqueues; k++)
            if (strlen(c->queues[k].name) == (size_t)(colon - r) &&
                memcmp(c->queues[k].name, r, (size_t)(colon - r)) == 0)
                q = &c->queues[k];
        if (!q || !e || *e || n < 1 || n > 1000000 || !(per > 0) ||
            per > 86400)
            return bad("--rate-limit wants NAME:N/SECONDS for a --queue "
                       "NAME (N from 1 to 1000000, up to 86400 seconds), "
                       "not '%s'", r);
        q->rate_limit = (int)n;
        q->rate_period = per;
    }
    return 0;
}

/* ---- serving ------------------------------------------------------------------- */

static int handle(const corio_http_request *req, corio_http_response *resp,
                  void *arg)
{
    corio_jobs_http_handle(arg, "", req, resp);
    return 0;
}

static void json_error(corio_http_response *resp, int status,
                       const char *reason, void *arg)
{
    (void)arg;
    corio_jobs_error_response(resp, status, reason);
}

/* ---- an HTTP server on every loop ------------------------------------------------ */

/* The server of loop i > 0 (SO_REUSEPORT on the port loop 0 bound). The
 * array of them is allocated by main_task; each server is started and
 * closed by a task on its own loop. */
typedef struct loop_srv {
    config *c;
    corio_jobs *jobs;
    int port;
    int rc;
    corio_http_server *http;
} loop_srv;

static int serve(corio_http_server **http, config *c, int port,
                 corio_jobs *jobs, unsigned flags)
{
    corio_http_server_opts ho = {
        .limits = {.max_body = 1 << 20},
        .error_response = json_error,
        .flags = flags,
    };
    int rc = corio_http_server_start(http, c->host, port, handle, jobs, &ho);
    if (rc == 0)
        corio_jobs_set_http_server(jobs, *http); /* this loop's, for /metrics */
    return rc;
}

static void *loop_srv_start(void *arg)
{
    loop_srv *l = arg;
    l->rc = serve(&l->http, l->c, l->port, l->jobs,
                  CORIO_HTTP_SERVER_REUSEPORT);
    return NULL;
}

static void *loop_srv_stop(void *arg)
{
    loop_srv *l = arg;
    corio_jobs_set_http_server(l->jobs, NULL);
    corio_http_server_close(l->http, l->c->grace < 5 ? l->c->grace : 5);
    return NULL;
}

/* Starts the servers of loops 1.. (0, or the first error); *lp gets the
 * array (for stop_loops) even on failure. */
static int start_loops(config *c, corio_jobs *jobs, int port, loop_srv **lp)
{
    unsigned n = corio_loop_count();
    *lp = n > 1 ? calloc(n, sizeof **lp) : NULL;
    if (n > 1 && !*lp)
        return -ENOMEM;
    for (unsigned i = 1; i < n; i++) {
        loop_srv *l = &(*lp)[i];
        *l = (loop_srv){.c = c, .jobs = jobs, .port = port};
        corio_xtask *h;
        int rc = corio_spawn_on(&h, corio_loop_get(i), loop_srv_start, l);
        if (rc == 0)
            rc = corio_xtask_await(h, NULL, 0);
        if (rc == 0)
            rc = l->rc;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Stops every loop's server at once (each waits for its requests). */
static void stop_loops(loop_srv *ls, corio_http_server *http, double grace)
{
    unsigned n = corio_loop_count();
    corio_xtask **h = ls ? calloc(n, sizeof *h) : NULL;
    for (unsigned i = 1; h && i < n; i++)
        if (ls[i].http &&
            corio_spawn_on(&h[i], corio_loop_get(i), loop_srv_stop, &ls[i]) < 0)
            loop_srv_stop(&ls[i]); /* no memory: here, one by one */
    if (http)
        corio_http_server_close(http, grace < 5 ? grace : 5);
    for (unsigned i = 1; h && i < n; i++)
        if (h[i])
            corio_xtask_await(h[i], NULL, 0);
    free(h);
    free(ls);
}

static void *main_task(void *arg)
{
    config *c = arg;
    char err[1024] = "";
    corio_jobs *jobs = NULL;
    corio_signal *sig = NULL;
    corio_http_server *http = NULL;
    loop_srv *loops = NULL;
    unsigned nloops = corio_loop_count() ? corio_loop_count() : 1;
    c->status = 1;

    /* The server is the library (include/corio_jobs.h) with its built-in
     * types and a command line. */
    corio_jobs_opts jo = {
        .workers = c->workers,
        .requeue_interrupted = c->recover,
        .allow_command = c->allow,
        .nallow_command = c->nallow,
        .retention = c->retention,
        .admin_token = c->admin_token,
        .queues = c->queues,
        .nqueues = c->nqueues,
        .no_group_commit = c->no_group_commit,
        .lease = c->lease,
        .max_attempts = c->max_attempts,
        .check_timeout = c->check_timeout,
        .loops = (int)nloops, /* jobs run on every loop */
    };
    int rc = corio_jobs_open(&jobs, c->db, &jo, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "corio-jobs: cannot open the store: %s\n",
                err[0] ? err : corio_strerror(rc));
        return NULL;
    }
    /* Signals first: a SIGTERM right after startup must drain, not kill. */
    rc = corio_signal_open(&sig, (int[]){SIGTERM, SIGINT}, 2);
    if (rc < 0) {
        fprintf(stderr, "corio-jobs: signals: %s\n", corio_strerror(rc));
        goto drain;
    }
    /* Loop 0 binds (port 0 picks one); the other loops listen on the same
     * port with SO_REUSEPORT, and the kernel spreads connections. */
    rc = serve(&http, c, c->port, jobs,
               nloops > 1 ? CORIO_HTTP_SERVER_REUSEPORT : 0);
    int port = rc == 0 ? corio_http_server_port(http) : c->port;
    if (rc == 0)
        rc = start_loops(c, jobs, port, &loops);
    if (rc < 0) {
        fprintf(stderr, "corio-jobs: cannot listen on %s:%d: %s\n", c->host,
                port, corio_strerror(rc));
        goto drain;
    }
    for (size_t i = 0; i < c->nschedules; i++) {
        /* TYPE=SCHEDULE[=SPEC]: a schedule has no '='; a spec may. */
        const char *s = c->schedules[i], *eq = strchr(s, '=');
        const char *eq2 = strchr(eq + 1, '=');
        char *type = strndup(s, (size_t)(eq - s));
        char *sched = eq2 ? strndup(eq + 1, (size_t)(eq2 - eq - 1))
                          : strdup(eq + 1);
        rc = type && sched ? corio_jobs_schedule(jobs, type, sched,
                                                 eq2 ? eq2 + 1 : NULL, err,
                                                 sizeof err)
                           : -ENOMEM;
        free(type);
        free(sched);
        if (rc < 0) {
            fprintf(stderr, "corio-jobs: --schedule '%s': %s\n", s,
                    err[0] ? err : corio_strerror(rc));
            c->status = EX_USAGE;
            goto drain;
        }
    }
    const char *h = strchr(c->host, ':') ? "[%s]" : "%s";
    char hostfmt[80];
    snprintf(hostfmt, sizeof hostfmt, h, c->host);
    printf("corio-jobs: listening on http://%s:%d (store %s, %d workers, "
           "%u thread%s)\n"
           "Try:\n"
           "  curl -i -X POST http://%s:%d/jobs -d '{\"type\": \"sleep\", "
           "\"seconds\": 5}'\n"
           "  curl http://%s:%d/jobs/<id from the Location header>\n"
           "  curl 'http://%s:%d/jobs?status=running'\n"
           "  the dashboard: http://%s:%d/ in a browser\n",
           hostfmt, port,
           /* A PostgreSQL URL may hold a password: never print it. */
           corio_jobs_shared(jobs) ? "PostgreSQL, shared queue" : c->db,
           c->workers, nloops, nloops > 1 ? "s" : "", hostfmt, port,
           hostfmt, port, hostfmt, port,
           hostfmt, port);
    fflush(stdout);
    rc = corio_signal_wait(sig);
    fprintf(stderr, "corio-jobs: %s: draining (grace %.1f s)\n",
            rc > 0 ? strsignal(rc) : corio_strerror(rc), c->grace);
    c->status = 0;
drain:;
    /* Stop accepting, finish requests in flight, then let the running jobs
     * finish within what is left of the grace period. */
    double deadline = corio_now() + c->grace;
    if (http)
        corio_jobs_set_http_server(jobs, NULL);
    stop_loops(loops, http, c->grace);
    double left = deadline - corio_now();
    int n = corio_jobs_drain(jobs, left > 0 ? left : 0);
    if (n > 0)
        fprintf(stderr, "corio-jobs: %d job(s) did not finish in time and "
                "were %s\n", n,
                corio_jobs_shared(jobs)
                    ? "handed back to the queue, to run again"
                    : "recorded as interrupted");
    corio_jobs_close(jobs);
    corio_signal_close(sig);
    return NULL;
}

static void free_config(config *c)
{
    for (size_t i = 0; c->queue_names && c->queue_names[i]; i++)
        free(c->queue_names[i]);
    free(c->queue_names);
    free(c->queues);
    free(c->allow);
    free(c->schedules);
    free(c->rates);
}

int main(int argc, char **argv)
{
    config c;
    memset(&c, 0, sizeof c);
    int rc = parse_args(argc, argv, &c);
    if (rc) {
        free_config(&c);
        return rc < 0 ? 0 : rc;
    }
    unsigned threads = c.threads;
    if (threads == 0) { /* the CPUs this process may run on */
        cpu_set_t set;
        threads = sched_getaffinity(0, sizeof set, &set) == 0
                      ? (unsigned)CPU_COUNT(&set)
                      : 1;
    }
    if (threads <= 1) {
        rc = corio_run(main_task, &c, NULL); /* one loop, as always */
    } else {
        corio_multi_config mc = {.threads = threads};
        rc = corio_run_multi(main_task, &c, NULL, &mc);
    }
    free_config(&c);
    if (rc < 0) {
        fprintf(stderr, "corio-jobs: %s\n", corio_strerror(rc));
        return 1;
    }
    return c.status;
}
