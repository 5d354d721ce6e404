/*
 * The job object, ids, names and times.
 */
#include "jobs.h"

#include <corio_sim.h>

#include <math.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

jobs_job *jobs_job_new(int type, const char *spec)
{
    jobs_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->spec = strdup(spec ? spec : "{}");
    if (!j->spec) {
        free(j);
        return NULL;
    }
    jobs_id_new(j->id);
    j->type = type;
    j->status = JOBS_CREATED;
    j->prev_status = -1;
    j->created_ms = jobs_now_ms();
    j->max_attempts = 1;
    j->retry_backoff = 1;
    strcpy(j->queue, "default");
    return j;
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = strdup(src)))
        return -ENOMEM;
    return 0;
}

jobs_job *jobs_job_clone(const jobs_job *j)
{
    jobs_job *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *j;
    c->spec = c->result = c->error = c->progress_msg = c->errors = NULL;
    c->unique_key = NULL;
    if (dup_opt(&c->spec, j->spec) < 0 || dup_opt(&c->result, j->result) < 0 ||
        dup_opt(&c->error, j->error) < 0 ||
        dup_opt(&c->progress_msg, j->progress_msg) < 0 ||
        dup_opt(&c->errors, j->errors) < 0 ||
        dup_opt(&c->unique_key, j->unique_key) < 0) {
        jobs_job_free(c);
        return NULL;
    }
    return c;
}

void jobs_job_free(jobs_job *j)
{
    if (!j)
        return;
    free(j->spec);
    free(j->result);
    free(j->error);
    free(j->progress_msg);
    free(j->errors);
    free(j->unique_key);
    free(j);
}

void jobs_job_free_array(jobs_job **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        jobs_job_free(v[i]);
    free(v);
}

int jobs_job_set_result(jobs_job *j, const char *json)
{
    char *c = NULL;
    if (dup_opt(&c, json) < 0)
        return -ENOMEM;
    free(j->result);
    j->result = c;
    return 0;
}

int jobs_job_set_error(jobs_job *j, const char *msg)
{
    char *c = NULL;
    if (dup_opt(&c, msg) < 0)
        return -ENOMEM;
    free(j->error);
    j->error = c;
    return 0;
}

/* ---- ids -------------------------------------------------------------------
 * ULIDs (github.com/ulid/spec): 48 bits of Unix milliseconds then 80 random
 * bits, in Crockford's base32. They sort by creation time, so the store's
 * primary key appends at the end of its B-tree and "list in creation order"
 * is "order by id"; and they are unique without coordination, which several
 * processes sharing one PostgreSQL queue will need. Within one millisecond
 * the random part is incremented, keeping the ids of one thread strictly
 * increasing. The state is per thread: with --threads, every loop makes
 * ids (the router builds the job where the request arrived), and a shared
 * "last id" would be a data race that hands two jobs one id. Two threads
 * in one millisecond draw their own 80 random bits: as unique as two
 * processes' ids. */

static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static _Thread_local struct {
    int64_t ms;        /* time part of the last id */
    uint8_t rnd[10];   /* random part of the last id */
} last_id;

void jobs_id_new(char out[JOBS_ID_LEN + 1])
{
    int64_t ms = jobs_now_ms();
    if (ms <= last_id.ms) {
        /* Same millisecond (or the clock stepped back): next value. */
        ms = last_id.ms;
        for (int i = 9; i >= 0 && ++last_id.rnd[i] == 0; i--)
            ;
    } else {
        last_id.ms = ms;
        size_t got = 0;
        if (corio_sim_active()) { /* a simulation: from its seed */
            uint64_t a = corio_sim_random(), b = corio_sim_random();
            memcpy(last_id.rnd, &a, 8);
            memcpy(last_id.rnd + 8, &b, 2);
            got = sizeof last_id.rnd;
        }
        while (got < sizeof last_id.rnd) {
            ssize_t r = getrandom(last_id.rnd + got, sizeof last_id.rnd - got, 0);
            if (r <= 0) { /* no entropy source: fall back on time and pid */
                uint64_t x = (uint64_t)ms * 6364136223846793005ULL ^
                             (uint64_t)clock();
                memcpy(last_id.rnd, &x, 8);
                break;
            }
            got += (size_t)r;
        }
        last_id.rnd[0] &= 0x7f; /* room to increment without wrapping */
    }
    uint8_t v[16];
    for (int i = 0; i < 6; i++)
        v[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
    memcpy(v + 6, last_id.rnd, 10);
    /* 128 bits -> 26 base32 digits; the first digit carries 3 bits. */
    int bit = -2; /* 26*5 = 130 bits: two leading zero bits */
    for (int k = 0; k < JOBS_ID_LEN; k++) {
        unsigned d = 0;
        for (int b = 0; b < 5; b++, bit++) {
            d <<= 1;
            if (bit >= 0)
                d |= (v[bit / 8] >> (7 - bit % 8)) & 1u;
        }
        out[k] = b32[d];
    }
    out[JOBS_ID_LEN] = '\0';
}

int jobs_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= JOBS_ID_LEN || !strchr(b32, s[n]))
            return 0;
    return n == JOBS_ID_LEN && s[0] <= '7';
}

/* ---- names ---------------------------------------------------------------- */

static const char *const status_names[JOBS_NSTATUS] = {
    "created", "running", "succeeded", "failed", "cancelled", "interrupted",
    "scheduled"};

const char *jobs_status_name(int status)
{
    return status >= 0 && status < JOBS_NSTATUS ? status_names[status] : "?";
}

int jobs_status_parse(const char *s)
{
    for (int st = 0; st < JOBS_NSTATUS; st++)
        if (strcmp(s, status_names[st]) == 0)
            return st;
    return -EINVAL;
}

int jobs_status_terminal(int status)
{
    return status >= JOBS_SUCCEEDED && status <= JOBS_INTERRUPTED;
}

/* ---- time ------------------------------------------------------------------ */

void jobs_id_reset(void)
{
    memset(&last_id, 0, sizeof last_id);
}

int64_t jobs_now_ms(void)
{
    /* In a simulation the wall clock is the virtual one, counted from a
     * fixed date (2023-11-14), so that a seed replays. */
    if (corio_sim_active())
        return 1700000000000LL + (int64_t)(corio_now() * 1000.0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *jobs_format_time(char out[32], int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
    return out;
}

/* ---- retries ----------------------------------------------------------------- */

int jobs_job_add_error(jobs_job *j, const char *msg, int64_t now_ms)
{
    json_t *a = j->errors ? json_loads(j->errors, 0, NULL) : NULL;
    if (!json_is_array(a)) { /* none yet (or unreadable: start afresh) */
        json_decref(a);
        a = json_array();
    }
    char at[32];
    json_t *one = json_pack("{s:i, s:s, s:s}", "attempt", j->attempts, "at",
                            jobs_format_time(at, now_ms), "error",
                            msg ? msg : "failed");
    char *text = NULL;
    if (a && one && json_array_append_new(a, one) == 0) {
        one = NULL;
        text = json_dumps(a, JSON_COMPACT);
    }
    json_decref(one);
    json_decref(a);
    if (!text)
        return -ENOMEM;
    free(j->errors);
    j->errors = text;
    return 0;
}

int64_t jobs_backoff_ms(double b, int attempt)
{
    if (!(b > 0))
        return 0;
    double d = b * ldexp(1.0, attempt > 1 ? (attempt - 1 > 40 ? 40
                                                              : attempt - 1)
                                          : 0);
    if (d > 86400)
        d = 86400;
    uint32_t r = 0;
    if (corio_sim_active())
        r = (uint32_t)corio_sim_random();
    else if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint32_t)jobs_now_ms();
    d = d / 2 + d / 2 * ((double)r / 4294967296.0);
    return (int64_t)(d * 1000);
}

int jobs_parse_time(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
                     &sec, &n) != 6 || n != 19)
        return -EINVAL;
    const char *p = s + n;
    int frac_ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (digits == 0)
            return -EINVAL;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -EINVAL; /* UTC only */
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return -EINVAL;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) /* 31 April, 30 February */
        return -EINVAL;
    *ms = (int64_t)t * 1000 + frac_ms;
    return 0;
}
