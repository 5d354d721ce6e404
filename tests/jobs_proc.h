/* Driving real corio-jobs processes from a test: start one on a free
 * loopback port, talk HTTP to it, kill it. Used by the suites that run the
 * binary (test_jobs_pg). Every function here is called from a task. */
#ifndef CORIO_TESTS_JOBS_PROC_H
#define CORIO_TESTS_JOBS_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include <corio_http.h>
#include <jansson.h>

/* A running corio-jobs. Filled by jp_start; the process is the caller's
 * to end (jp_wait_exit after a signal, or jp_kill9). */
typedef struct jp_server {
    pid_t pid;
    int port;
    int err_fd; /* its stderr (non-blocking), closed by jp_wait_exit */
} jp_server;

/* The corio-jobs binary: $CORIO_JOBS_BIN (ctest sets it), or
 * ../apps/corio-jobs/corio-jobs from the test's directory. 0, or -1 if it
 * is not there (the suite skips). */
int jp_find_bin(char *bin, size_t size);

/* Starts bin --listen 127.0.0.1:0 args... (NULL-terminated) and waits for
 * its "listening" line. Asserts that it started. */
void jp_start(jp_server *s, const char *bin, const char *const *args);
/* Waits (polling, so the loop runs) for the process to exit: its exit
 * status, -1 if a signal killed it, -2 on timeout. */
int jp_wait_exit(jp_server *s, double timeout);
/* SIGKILL, and reap. */
void jp_kill9(jp_server *s);

/* A response: status, head, body and the body as JSON (or NULL). */
typedef struct jp_reply {
    int status;
    char head[2048];
    corio_http_buf body;
    json_t *json;
} jp_reply;
void jp_reply_free(jp_reply *r);

/* One request on a fresh connection: 0 or a stream error. */
int jp_request(int port, const char *method, const char *target,
               const char *body, jp_reply *r);
/* POSTs body to /jobs: the status, and the id (if 202) into id. */
int jp_submit(int port, const char *body, char id[64]);
/* GET /jobs/<id> as JSON (a new reference), or NULL if not 200. */
json_t *jp_get_job(int port, const char *id);
const char *jp_str(json_t *o, const char *key);
/* One sample of GET /metrics: the value after `name` (with its labels, as
 * in `corio_jobs_loops` or `corio_jobs_jobs{status="succeeded"}`), or -1
 * if the request failed or the sample is not there. */
long long jp_metric(int port, const char *name);

/* A burst: jp_run_burst(&b, n) POSTs b.body to /jobs n times at once,
 * each from a task of its own on a connection of its own, and counts the
 * answers; the ids of the 202s and 200s are ids[0..nids-1]. jp_run_burst
 * allocates ids (n entries); the caller frees it. */
typedef struct jp_burst {
    int port;
    const char *body;
    int n202, n200, other;
    char (*ids)[64];
    int nids;
} jp_burst;
void jp_run_burst(jp_burst *b, int n);

/* A submitter of a storm (the kill -9 tests): jp_submitter(&stream), run
 * as a task, POSTs sleep jobs of 0.01 s until `max` were acknowledged or a
 * POST is not answered 202 (the server was killed: that one was never
 * acknowledged). The ids of the acknowledged ones are ids[0..n-1]; the
 * caller allocates ids (max entries) and frees it. */
typedef struct jp_stream {
    int port;
    char (*ids)[64];
    int n, max;
} jp_stream;
void *jp_submitter(void *stream);
/* A storm: spawns w jp_submitter tasks t[0..w-1] on a[0..w-1], each with
 * room for max ids (the caller frees a[i].ids). jp_storm_end awaits them
 * (once the server was killed): how many submissions were acknowledged. */
void jp_storm_start(jp_stream *a, corio_task **t, int w, int port, int max);
int jp_storm_end(jp_stream *a, corio_task **t, int w);

#endif
