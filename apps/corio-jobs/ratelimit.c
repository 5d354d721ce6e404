/*
 * Per-queue rate limits (corio_jobs_queue.rate_limit / rate_period): at
 * most n jobs of the queue START in any window of `per` seconds, in this
 * process. A sliding log: the start times of the last n starts, oldest
 * first; a start is allowed once the oldest of them is `per` old. The
 * dispatchers (runner.c, shared.c) take permission before they start or
 * claim, and note what they did start.
 *
 * On PostgreSQL the limit is each process's, like the queue's concurrency:
 * P processes start up to P * n jobs per window (docs/jobs.md).
 */
#include "ext.h"

#include <errno.h>
#include <stdlib.h>

int jobs__rate_init(jobs_runq *q, int n, double per)
{
    if (n <= 0 || !(per > 0))
        return 0;
    jobs_rate *r = calloc(1, sizeof *r);
    if (!r || !(r->starts = calloc((size_t)n, sizeof *r->starts))) {
        free(r);
        return -ENOMEM;
    }
    r->n = n;
    r->per = per;
    q->rate = r;
    return 0;
}

void jobs__rate_free(jobs_runq *q)
{
    if (q->rate) {
        free(q->rate->starts);
        free(q->rate);
        q->rate = NULL;
    }
}

/* Forgets the starts that left the window. */
static void expire(jobs_rate *r, double now)
{
    while (r->count && r->starts[r->head] <= now - r->per) {
        r->head = (r->head + 1) % (size_t)r->n;
        r->count--;
    }
}

int jobs__rate_take(jobs_runq *q, size_t want)
{
    jobs_rate *r = q->rate;
    if (!r)
        return (int)want;
    for (;;) {
        double now = corio_now();
        expire(r, now);
        size_t avail = (size_t)r->n - r->count;
        if (avail)
            return (int)(want < avail ? want : avail);
        /* The window is full: wait for its oldest start to leave it. */
        int rc = corio_sleep(r->starts[r->head] + r->per - now);
        if (rc < 0)
            return rc;
    }
}

void jobs__rate_note(jobs_runq *q, size_t k)
{
    jobs_rate *r = q->rate;
    if (!r)
        return;
    double now = corio_now();
    expire(r, now);
    for (size_t i = 0; i < k; i++) {
        if (r->count == (size_t)r->n) { /* more than taken: keep the last */
            r->head = (r->head + 1) % (size_t)r->n;
            r->count--;
        }
        r->starts[(r->head + r->count) % (size_t)r->n] = now;
        r->count++;
    }
}
