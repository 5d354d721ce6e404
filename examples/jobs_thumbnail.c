/*
 * jobs_thumbnail: a web service with its own background job type, on the
 * corio_jobs library (include/corio_jobs.h).
 *
 * It registers a "thumbnail" job type whose handler "renders" an image in
 * steps (a sleep per step stands in for the work), reporting progress and
 * setting a result; it serves its own page at / and mounts the job API
 * under /api on the same corio_http server; it enqueues one job from C
 * at startup; and a periodic "sweep" job runs every minute (once per tick,
 * even with several processes on PostgreSQL). Jobs survive a restart:
 * they are in the SQLite file.
 *
 *   ./jobs_thumbnail [PORT [DB]]          (default 8090, ./thumbnails.db)
 *   curl -i -X POST localhost:8090/api/jobs \
 *        -d '{"type": "thumbnail", "image": "cat.png", "width": 64}'
 *   curl localhost:8090/api/jobs/<id>     progress, then the result
 *   kill -TERM <pid>                      drains: running jobs finish
 */
#include <corio.h>
#include <corio_http.h>
#include <corio_jobs.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The job type's handler: runs in the job's own task. The spec is the
 * submitted object without "type", as compact JSON; this example only
 * looks for a key to stay short (a real one would parse it with a JSON
 * library). */
static int thumbnail(corio_job *job, const char *spec, void *arg)
{
    (void)arg;
    if (!strstr(spec, "\"image\""))
        return corio_job_fail(job, "a thumbnail job needs 'image'",
                              CORIO_JOB_NORETRY);
    const int steps = 5;
    for (int i = 0; i < steps; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "step %d of %d", i + 1, steps);
        corio_job_progress(job, (double)i / steps, msg);
        int rc = corio_sleep(0.2); /* the work; -ECANCELED on DELETE */
        if (rc < 0)
            return rc;
    }
    char result[128];
    snprintf(result, sizeof result,
             "{\"thumbnail\": \"/thumbs/%s.png\", \"attempt\": %d}",
             corio_job_id(job), corio_job_attempt(job));
    return corio_job_set_result(job, result);
}

/* The periodic job: what a service sweeps every minute (old thumbnails). */
static int sweep(corio_job *job, const char *spec, void *arg)
{
    (void)spec, (void)arg;
    return corio_job_set_result(job, "{\"removed\": 0}");
}

static int handle(const corio_http_request *req, corio_http_response *resp,
                  void *arg)
{
    corio_jobs *jobs = arg;
    if (corio_jobs_http_handle(jobs, "/api", req, resp))
        return 0;
    corio_http_response_set(resp, 200, "text/plain",
                            "thumbnails: POST /api/jobs\n", (size_t)-1);
    return 0;
}

typedef struct cfg {
    int port;
    const char *db;
} cfg;

static void *main_task(void *arg)
{
    cfg *c = arg;
    char err[512];
    corio_jobs *jobs;
    int rc = corio_jobs_open(&jobs, c->db, NULL, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "jobs_thumbnail: %s\n", err);
        return NULL;
    }
    rc = corio_jobs_schedule(jobs, "sweep", "every 1m", NULL, err,
                             sizeof err);
    if (rc < 0)
        fprintf(stderr, "jobs_thumbnail: schedule: %s\n", err);
    char id[27];
    rc = corio_jobs_enqueue(jobs, "thumbnail", "{\"image\": \"startup.png\"}",
                            id, err, sizeof err);
    if (rc == 0)
        printf("jobs_thumbnail: enqueued %s from C\n", id);
    corio_signal *sig = NULL;
    corio_http_server *srv = NULL;
    rc = corio_signal_open(&sig, (int[]){SIGTERM, SIGINT}, 2);
    if (rc == 0)
        rc = corio_http_server_start(&srv, "127.0.0.1", c->port, handle, jobs,
                                     NULL);
    if (rc == 0) {
        corio_jobs_set_http_server(jobs, srv);
        printf("jobs_thumbnail: http://127.0.0.1:%d/api/jobs\n",
               corio_http_server_port(srv));
        fflush(stdout);
        corio_signal_wait(sig);
        corio_jobs_set_http_server(jobs, NULL);
        corio_http_server_close(srv, 2);
    } else {
        fprintf(stderr, "jobs_thumbnail: %s\n", corio_strerror(rc));
    }
    corio_jobs_drain(jobs, 5);
    corio_jobs_close(jobs);
    corio_signal_close(sig);
    return NULL;
}

int main(int argc, char **argv)
{
    cfg c = {argc > 1 ? atoi(argv[1]) : 8090,
             argc > 2 ? argv[2] : "./thumbnails.db"};
    int rc = corio_jobs_register("thumbnail", thumbnail, NULL);
    if (rc == 0)
        rc = corio_jobs_register("sweep", sweep, NULL);
    if (rc < 0) {
        fprintf(stderr, "jobs_thumbnail: %s\n", corio_strerror(rc));
        return 1;
    }
    rc = corio_run(main_task, &c, NULL);
    return rc < 0 ? 1 : 0;
}
