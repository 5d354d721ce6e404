/*
 * Periodic jobs: a schedule per job type (corio_jobs_schedule), whose
 * every tick enqueues exactly one job, however many processes share the
 * store; and the glue of the library's extras (ext.h).
 *
 * Schedules (docs/jobs.md, "Periodic jobs"), all in UTC:
 *   "every N" with a unit s, m, h or d ("every 30s", "every 5 m"): ticks at
 *       the multiples of N since the Unix epoch, so that every process
 *       computes the same ticks whenever it started;
 *   five cron fields "minute hour day-of-month month day-of-week", each
 *       "*", "N", "A-B", "*" or a range followed by "/STEP", or a comma
 *       list of those (numbers only; Sunday is 0 or 7; when both day fields
 *       are restricted a day matching either runs, as in Vixie cron);
 *   "@hourly", "@daily" ("@midnight"), "@weekly", "@monthly", "@yearly"
 *       ("@annually").
 *
 * Exactly once per tick. Each schedule has a row (the type's name, the
 * last tick enqueued) in the store: a tick T is enqueued by the one
 * transaction that moves that row from below T to T, and the job is
 * inserted in that same transaction. On PostgreSQL the UPDATE's row lock
 * makes the other processes' transactions wait and then find the row at T
 * already (READ COMMITTED re-checks the WHERE): they enqueue nothing. The
 * job also gets the unique_key "cron:TYPE:TICK_MS", a second guard.
 *
 * Missed ticks (the processes were all down): the next start enqueues one
 * job, for the latest tick that was missed, at once; the earlier ones are
 * skipped. A schedule registered for the first time starts at the next
 * tick (its row starts at the latest past tick).
 */
#include "ext.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- parsing ---------------------------------------------------------------- */

static int say(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return -EINVAL;
}

static int num(const char **p, int *out)
{
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return -1;
    long v = 0;
    while (*s >= '0' && *s <= '9' && v < 100000)
        v = v * 10 + (*s++ - '0');
    *p = s;
    *out = (int)v;
    return 0;
}

/* One cron field (up to the next space) into bits lo..hi of *bits. */
static int field(const char **p, int lo, int hi, uint64_t *bits, int *any)
{
    const char *s = *p;
    *bits = 0;
    *any = 0;
    for (;;) {
        int a, b, step = 1;
        if (*s == '*') {
            s++;
            a = lo;
            b = hi;
            *any = s[0] != '/';
        } else {
            if (num(&s, &a) < 0)
                return -1;
            b = a;
            if (*s == '-') {
                s++;
                if (num(&s, &b) < 0)
                    return -1;
            } else if (*s == '/') {
                b = hi;
            }
        }
        if (*s == '/') {
            s++;
            if (num(&s, &step) < 0 || step < 1)
                return -1;
            *any = 0;
        }
        if (a < lo || b > hi || a > b)
            return -1;
        for (int i = a; i <= b; i += step)
            *bits |= (uint64_t)1 << i;
        if (*s != ',')
            break;
        s++;
        *any = 0;
    }
    if (*s && *s != ' ' && *s != '\t')
        return -1;
    while (*s == ' ' || *s == '\t')
        s++;
    *p = s;
    return 0;
}

int jobs__sched_parse(const char *s, jobs_sched_spec *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return say(err, errlen, "no schedule");
    while (*s == ' ')
        s++;
    static const struct { const char *name, *cron; } macros[] = {
        {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},
        {"@midnight", "0 0 * * *"}, {"@weekly", "0 0 * * 0"},
        {"@monthly", "0 0 1 * *"},  {"@yearly", "0 0 1 1 *"},
        {"@annually", "0 0 1 1 *"},
    };
    for (size_t i = 0; i < sizeof macros / sizeof *macros; i++)
        if (strcmp(s, macros[i].name) == 0)
            s = macros[i].cron;
    if (strncmp(s, "every", 5) == 0) {
        const char *p = s + 5;
        while (*p == ' ')
            p++;
        int n;
        if (num(&p, &n) < 0 || n < 1)
            return say(err, errlen, "\"every N\" wants a whole number >= 1 "
                       "and a unit: s, m, h or d");
        while (*p == ' ')
            p++;
        int64_t unit = *p == 's' ? 1000 : *p == 'm' ? 60000
                     : *p == 'h' ? 3600000 : *p == 'd' ? 86400000 : 0;
        if (unit && p[1] == '\0')
            p++;
        else
            unit = 0;
        if (!unit || *p)
            return say(err, errlen, "\"every N\" wants a unit: s, m, h or d "
                       "(\"every 30s\")");
        out->every_ms = n * unit;
        if (out->every_ms > 366LL * 86400000)
            return say(err, errlen, "\"every N\" is at most a year");
        return 0;
    }
    uint64_t b[5];
    int any[5];
    static const int lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 7};
    const char *p = s;
    for (int i = 0; i < 5; i++)
        if (!*p || field(&p, lo[i], hi[i], &b[i], &any[i]) < 0)
            return say(err, errlen, "a schedule is \"every N{s,m,h,d}\", "
                       "five cron fields (minute hour day month weekday: "
                       "*, N, A-B, /STEP, lists), or @hourly, @daily, "
                       "@weekly, @monthly, @yearly");
    if (*p)
        return say(err, errlen, "a cron schedule has five fields");
    out->minute = b[0];
    out->hour = (uint32_t)b[1];
    out->dom = (uint32_t)b[2];
    out->month = (uint32_t)b[3];
    out->dow = (uint8_t)((b[4] | (b[4] >> 7)) & 0x7f); /* 7 is Sunday */
    out->dom_any = any[2];
    out->dow_any = any[4];
    return 0;
}

/* ---- ticks -------------------------------------------------------------------- */

static int day_ok(const jobs_sched_spec *sp, const struct tm *tm)
{
    int d = (sp->dom >> tm->tm_mday) & 1, w = (sp->dow >> tm->tm_wday) & 1;
    if (sp->dom_any || sp->dow_any)
        return d && w;
    return d || w;
}

#define SCAN_MAX 200000 /* steps: enough for years of days */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return q - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t jobs__sched_prev(const jobs_sched_spec *sp, int64_t t_ms)
{
    if (sp->every_ms)
        return floor_div(t_ms, sp->every_ms) * sp->every_ms;
    time_t x = (time_t)floor_div(t_ms, 60000) * 60;
    for (int i = 0; i < SCAN_MAX; i++) {
        struct tm tm;
        gmtime_r(&x, &tm);
        tm.tm_sec = 0;
        if (!((sp->month >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = 0;
            x = timegm(&tm) - 60;
        } else if (!day_ok(sp, &tm)) {
            tm.tm_hour = tm.tm_min = 0;
            x = timegm(&tm) - 60;
        } else if (!((sp->hour >> tm.tm_hour) & 1)) {
            tm.tm_min = 0;
            x = timegm(&tm) - 60;
        } else if (!((sp->minute >> tm.tm_min) & 1)) {
            x -= 60;
        } else {
            return (int64_t)x * 1000;
        }
    }
    return -1;
}

int64_t jobs__sched_next(const jobs_sched_spec *sp, int64_t t_ms)
{
    if (sp->every_ms)
        return jobs__sched_prev(sp, t_ms) + sp->every_ms;
    time_t x = (time_t)floor_div(t_ms, 60000) * 60 + 60;
    for (int i = 0; i < SCAN_MAX; i++) {
        struct tm tm;
        gmtime_r(&x, &tm);
        tm.tm_sec = 0;
        if (!((sp->month >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = 0;
            x = timegm(&tm);
        } else if (!day_ok(sp, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = 0;
            x = timegm(&tm);
        } else if (!((sp->hour >> tm.tm_hour) & 1)) {
            tm.tm_hour++;
            tm.tm_min = 0;
            x = timegm(&tm);
        } else if (!((sp->minute >> tm.tm_min) & 1)) {
            x += 60;
        } else {
            return (int64_t)x * 1000;
        }
    }
    return INT64_MAX;
}

/* ---- the schedules of a service ------------------------------------------------- */

/* A registered schedule. Allocated by corio_jobs_schedule, freed with the
 * service's extras. */
typedef struct cron_item {
    char type[JOBS_TYPE_NAME_MAX + 1];
    jobs_sched_spec sp;
    char *spec;       /* the jobs' spec (JSON text) */
    int64_t first;    /* the latest tick when registered: a new row's */
    int64_t done;     /* the latest tick dealt with by this process */
    struct cron_item *next;
} cron_item;

struct jobs_cron {
    cron_item *items;
    corio_task *task;
    corio_event *bell; /* a schedule was added */
};

typedef struct tick_call {
    jobs_ext *x;
    cron_item *it;
    int64_t tick;
    jobs_job *j;
} tick_call;

static int tick_blocking(void *arg)
{
    tick_call *c = arg;
    return jobs__sqx_tick(c->x, c->it->type, c->it->first, c->tick, c->j);
}

/* Enqueues it's job for tick unless another process (or an earlier run of
 * this one) did. 1, 0 or an error. */
static int fire(jobs_ext *x, cron_item *it, int64_t tick)
{
    jobs_job *j;
    char *prog;
    char err[256];
    int rc = jobs__build_job(it->type, it->spec, &j, &prog, err, sizeof err);
    if (rc < 0)
        return rc;
    free(prog);
    free(j->unique_key);
    if (asprintf(&j->unique_key, "cron:%s:%" PRId64, it->type, tick) < 0) {
        j->unique_key = NULL;
        jobs_job_free(j);
        return -ENOMEM;
    }
    tick_call c = {x, it, tick, j};
    if (x->sqlite) {
        rc = jobs_offload(tick_blocking, &c);
        if (rc == 1)
            jobs__ext_kick(x);
    } else {
        rc = jobs__pgx_tick(x, it->type, it->first, tick, j);
        if (rc == 1)
            jobs__runner_kick(x->svc);
    }
    jobs_job_free(j);
    return rc;
}

static void *cron_main(void *arg)
{
    jobs_ext *x = arg;
    struct jobs_cron *cr = x->cron;
    int failing = 0;
    for (;;) {
        corio_event_clear(cr->bell);
        int64_t now = jobs_now_ms(), next = INT64_MAX;
        for (cron_item *it = cr->items; it; it = it->next) {
            int64_t t = jobs__sched_prev(&it->sp, now);
            if (t > it->done) {
                int rc = fire(x, it, t);
                if (corio_cancelled())
                    return NULL;
                if (rc < 0) {
                    if (!failing)
                        fprintf(stderr, "corio-jobs: the periodic job %s "
                                "could not be enqueued: %s (will retry)\n",
                                it->type, jobs_strerror(rc));
                    failing = 1;
                    next = now + 1000 < next ? now + 1000 : next;
                    continue;
                }
                failing = 0;
                it->done = t;
            }
            int64_t n = jobs__sched_next(&it->sp, now);
            if (n < next)
                next = n;
        }
        corio_scope sc;
        /* +1 ms: a wake a hair before the tick would find the old one. */
        corio_scope_enter(&sc, next == INT64_MAX
                                   ? -1
                                   : (double)(next - jobs_now_ms() + 1) / 1e3,
                          0);
        int rc = corio_event_wait(cr->bell);
        corio_scope_exit(&sc);
        if (rc == -ECANCELED && corio_cancelled())
            break;
    }
    return NULL;
}

int jobs__cron_add(jobs_ext *x, const char *type, const char *schedule,
                   const char *spec, char *err, size_t errlen)
{
    if (x->stopped)
        return CORIO_ESHUTDOWN;
    jobs_sched_spec sp;
    int rc = jobs__sched_parse(schedule, &sp, err, errlen);
    if (rc < 0)
        return rc;
    jobs_job *j;
    char *prog;
    rc = jobs__build_job(type, spec, &j, &prog, err, errlen);
    if (rc < 0)
        return rc;
    free(prog);
    jobs_job_free(j);
    if (!x->cron) {
        if (!(x->cron = calloc(1, sizeof *x->cron)))
            return -ENOMEM;
        if ((rc = corio_event_create(&x->cron->bell)) < 0) {
            free(x->cron);
            x->cron = NULL;
            return rc;
        }
    }
    for (cron_item *it = x->cron->items; it; it = it->next)
        if (strcmp(it->type, type) == 0) {
            if (err && errlen)
                snprintf(err, errlen, "%s has a schedule already", type);
            return -EEXIST;
        }
    cron_item *it = calloc(1, sizeof *it);
    if (!it || !(it->spec = strdup(spec ? spec : "{}"))) {
        free(it);
        return -ENOMEM;
    }
    snprintf(it->type, sizeof it->type, "%s", type);
    it->sp = sp;
    it->first = jobs__sched_prev(&sp, jobs_now_ms());
    it->done = -1; /* the first pass records the row */
    if (!x->cron->task) {
        corio_spawn_opts so = {.name = "jobs-cron"};
        if ((rc = corio_spawn_ex(&x->cron->task, cron_main, x, &so)) < 0) {
            free(it->spec);
            free(it);
            return rc;
        }
    }
    it->next = x->cron->items;
    x->cron->items = it;
    corio_event_set(x->cron->bell);
    return 0;
}

static void cron_free(jobs_ext *x)
{
    struct jobs_cron *cr = x->cron;
    if (!cr)
        return;
    while (cr->items) {
        cron_item *it = cr->items;
        cr->items = it->next;
        free(it->spec);
        free(it);
    }
    if (cr->bell)
        corio_event_destroy(cr->bell);
    free(cr);
    x->cron = NULL;
}

/* ---- the extras' life ------------------------------------------------------------- */

static int sqx_open_blocking(void *arg)
{
    void **a = arg;
    return jobs__sqx_open(a[0], a[1], *(size_t *)a[2]);
}

int jobs__ext_open(jobs_ext **out, jobs_service *svc, jobs_store *store,
                   char *err, size_t errlen)
{
    *out = NULL;
    jobs_ext *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    x->svc = svc;
    x->store = store;
    x->sqlite = strcmp(store->ops->name, "sqlite") == 0;
    pthread_mutex_init(&x->dblock, NULL);
    int rc;
    if (x->sqlite) {
        void *a[3] = {x, err, &errlen};
        rc = jobs_offload(sqx_open_blocking, a);
        if (rc == 0)
            rc = corio_event_create(&x->inbox_bell);
        corio_spawn_opts so = {.name = "jobs-inbox"};
        if (rc == 0)
            rc = corio_spawn_ex(&x->inbox_task, jobs__sqx_inbox_main, x, &so);
    } else {
        rc = jobs__pgx_open(x, err, errlen);
        if (rc == 0)
            rc = corio_event_create(&x->progress_bell);
        corio_spawn_opts so = {.name = "jobs-progress"};
        if (rc == 0)
            rc = corio_spawn_ex(&x->progress_task, jobs__pgx_progress_main, x,
                                &so);
    }
    if (rc < 0) {
        jobs__ext_stop(x);
        jobs__ext_close(x);
        return rc;
    }
    svc->ext = x;
    *out = x;
    return 0;
}

static void end_task(corio_task **t)
{
    if (*t) {
        corio_cancel(*t);
        corio_await(*t, NULL);
        *t = NULL;
    }
}

void jobs__ext_stop(jobs_ext *x)
{
    if (!x || x->stopped)
        return;
    x->stopped = 1;
    corio_scope sc;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    if (x->cron)
        end_task(&x->cron->task);
    end_task(&x->inbox_task);
    end_task(&x->progress_task);
    corio_scope_exit(&sc);
}

void jobs__ext_close(jobs_ext *x)
{
    if (!x)
        return;
    jobs__ext_stop(x);
    if (x->svc && x->svc->ext == x)
        x->svc->ext = NULL;
    cron_free(x);
    if (x->sqlite)
        jobs__sqx_close(x);
    if (x->inbox_bell)
        corio_event_destroy(x->inbox_bell);
    if (x->progress_bell)
        corio_event_destroy(x->progress_bell);
    free(x->dirty);
    pthread_mutex_destroy(&x->dblock);
    free(x);
}

void jobs__ext_kick(jobs_ext *x)
{
    if (x && x->inbox_bell)
        corio_event_set(x->inbox_bell);
}
