/*
 * Job types by name: the four built-in ones, the ones a program registers
 * with a handler (corio_jobs_register), and names met in the store that
 * this program does not register (their jobs read fine and fail to run,
 * "no handler"). One table per process, guarded by a mutex: the stores
 * parse rows on pool threads. Entries are never removed, so a type number
 * stays valid for the life of the process.
 */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct type_ent {
    char name[JOBS_TYPE_NAME_MAX + 1];
    jobs_handler_fn fn; /* NULL: built-in, or no handler registered */
    void *arg;
    int max_attempts;   /* 0: 1 */
    double backoff;     /* 0: 1 s */
} type_ent;

static pthread_mutex_t types_mu = PTHREAD_MUTEX_INITIALIZER;
static type_ent types[JOBS_MAX_TYPES + 1] = {
    [JOBS_SLEEP] = {.name = "sleep"},
    [JOBS_HASH] = {.name = "hash"},
    [JOBS_FETCH] = {.name = "fetch"},
    [JOBS_COMMAND] = {.name = "command"},
};
static int ntypes = JOBS_BUILTIN_MAX; /* highest type in use */

int jobs_type_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > JOBS_TYPE_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* Under types_mu. */
static int find_locked(const char *s)
{
    for (int t = 1; t <= ntypes; t++)
        if (strcmp(s, types[t].name) == 0)
            return t;
    return -EINVAL;
}

/* Under types_mu: the type of name, added (without handler) if new. */
static int intern_locked(const char *s)
{
    int t = find_locked(s);
    if (t > 0)
        return t;
    if (ntypes >= JOBS_MAX_TYPES)
        return -ENOSPC;
    t = ++ntypes;
    strcpy(types[t].name, s);
    return t;
}

const char *jobs_type_name(int type)
{
    pthread_mutex_lock(&types_mu);
    const char *n = type >= 1 && type <= ntypes ? types[type].name : "?";
    pthread_mutex_unlock(&types_mu);
    return n;
}

int jobs_type_parse(const char *s)
{
    if (!s)
        return -EINVAL;
    pthread_mutex_lock(&types_mu);
    int t = find_locked(s);
    pthread_mutex_unlock(&types_mu);
    return t;
}

int jobs_type_intern(const char *s)
{
    if (!jobs_type_name_valid(s))
        return -EINVAL;
    pthread_mutex_lock(&types_mu);
    int t = intern_locked(s);
    pthread_mutex_unlock(&types_mu);
    return t;
}

int jobs_type_register(const char *name, jobs_handler_fn fn, void *arg)
{
    if (!jobs_type_name_valid(name) || !fn)
        return -EINVAL;
    pthread_mutex_lock(&types_mu);
    int t = intern_locked(name);
    if (t > 0 && (t <= JOBS_BUILTIN_MAX || types[t].fn))
        t = -EEXIST;
    else if (t > 0) {
        types[t].fn = fn;
        types[t].arg = arg;
    }
    pthread_mutex_unlock(&types_mu);
    return t;
}

int jobs_type_handler(int type, jobs_handler_fn *fn, void **arg)
{
    pthread_mutex_lock(&types_mu);
    int rc = -ENOENT;
    if (type > JOBS_BUILTIN_MAX && type <= ntypes && types[type].fn) {
        *fn = types[type].fn;
        *arg = types[type].arg;
        rc = 0;
    }
    pthread_mutex_unlock(&types_mu);
    return rc;
}

void jobs_type_defaults(int type, int *max_attempts, double *backoff)
{
    pthread_mutex_lock(&types_mu);
    int m = type >= 1 && type <= ntypes ? types[type].max_attempts : 0;
    double b = type >= 1 && type <= ntypes ? types[type].backoff : 0;
    pthread_mutex_unlock(&types_mu);
    *max_attempts = m > 0 ? m : 1;
    *backoff = b > 0 ? b : 1;
}

int jobs_type_set_defaults(int type, int max_attempts, double backoff)
{
    pthread_mutex_lock(&types_mu);
    int rc = -EINVAL;
    if (type >= 1 && type <= ntypes) {
        if (max_attempts > 0)
            types[type].max_attempts = max_attempts;
        if (backoff > 0)
            types[type].backoff = backoff;
        rc = 0;
    }
    pthread_mutex_unlock(&types_mu);
    return rc;
}

void jobs_job_apply_submission(jobs_job *j, const jobs_submission *sub)
{
    int m;
    double b;
    jobs_type_defaults(sub->type, &m, &b);
    j->max_attempts = sub->max_attempts > 0 ? sub->max_attempts : m;
    j->retry_backoff = sub->retry_backoff >= 0 ? sub->retry_backoff : b;
    if (sub->queue[0])
        memcpy(j->queue, sub->queue, sizeof j->queue);
    j->priority = sub->priority;
    j->timeout = sub->timeout;
    if (sub->unique_key && !j->unique_key)
        j->unique_key = strdup(sub->unique_key); /* NULL on ENOMEM: the
                                                    caller checks */
    if (sub->run_at_ms > jobs_now_ms()) {
        j->status = JOBS_SCHEDULED;
        j->run_at_ms = sub->run_at_ms;
    }
}
