/*
 * JSON in and out of corio-jobs, with jansson: validation of POST /jobs
 * bodies (a clear sentence for every way a body can be wrong), parameters
 * for the runner, and a job's JSON form.
 *
 * Validation is strict: unknown fields are refused (a typo such as
 * "second" would otherwise silently run a job with a default), duplicate
 * keys are refused (which one would win?), and every number is range
 * checked. What passes is re-serialised in a normal form, so the store only
 * ever holds specs this file wrote.
 */
#include "jobs.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on what one job may ask for. */
#define MAX_SLEEP_SECONDS 86400.0          /* a day */
#define MAX_HASH_BYTES (16ULL << 30)       /* 16 GiB of generated data */
#define MAX_URLS 100
#define MAX_URL_LEN 2048
#define MAX_ARGV 256
#define MAX_ARG_LEN 4096
#define MAX_ARGV_BYTES (64 * 1024)
#define MAX_DELAY_SECONDS (366.0 * 86400) /* a year */

static int say(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int say(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Refuses any key of obj other than "type" and `allowed`. */
static int only_fields(json_t *obj, const char *allowed, const char *type,
                       char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (strcmp(key, "type") != 0 && strcmp(key, allowed) != 0)
            return say(err, errlen, -EINVAL,
                       "unknown field '%.64s' for a %s job (it takes '%s')",
                       key, type, allowed);
    }
    return 0;
}

static int check_sleep(json_t *o, json_t *spec, char *err, size_t errlen)
{
    json_t *s = json_object_get(o, "seconds");
    if (!s)
        return say(err, errlen, -EINVAL,
                   "a sleep job needs 'seconds' (a number)");
    if (!json_is_number(s))
        return say(err, errlen, -EINVAL, "'seconds' must be a number");
    double v = json_number_value(s);
    if (!isfinite(v) || v < 0 || v > MAX_SLEEP_SECONDS)
        return say(err, errlen, -EINVAL,
                   "'seconds' must be between 0 and %.0f", MAX_SLEEP_SECONDS);
    return json_object_set_new(spec, "seconds", json_real(v)) < 0 ? -ENOMEM
                                                                 : 0;
}

static int check_hash(json_t *o, json_t *spec, char *err, size_t errlen)
{
    json_t *b = json_object_get(o, "bytes");
    if (!b)
        return say(err, errlen, -EINVAL,
                   "a hash job needs 'bytes' (an integer)");
    if (!json_is_integer(b))
        return say(err, errlen, -EINVAL, "'bytes' must be an integer");
    json_int_t v = json_integer_value(b);
    if (v < 0 || (unsigned long long)v > MAX_HASH_BYTES)
        return say(err, errlen, -EINVAL, "'bytes' must be between 0 and %llu",
                   (unsigned long long)MAX_HASH_BYTES);
    return json_object_set_new(spec, "bytes", json_integer(v)) < 0 ? -ENOMEM
                                                                  : 0;
}

/* A string array field: 1..max items, each a string of 1..maxlen bytes
 * without NUL. Copies it into spec. */
static int check_strv(json_t *o, json_t *spec, const char *field, size_t max,
                      size_t maxlen, const char *what, char *err,
                      size_t errlen)
{
    json_t *a = json_object_get(o, field);
    if (!a)
        return say(err, errlen, -EINVAL, "a %s job needs '%s' (an array of "
                   "strings)", what, field);
    if (!json_is_array(a))
        return say(err, errlen, -EINVAL, "'%s' must be an array of strings",
                   field);
    size_t n = json_array_size(a);
    if (n == 0 || n > max)
        return say(err, errlen, -EINVAL, "'%s' must hold 1 to %zu strings",
                   field, max);
    json_t *copy = json_array();
    if (!copy)
        return -ENOMEM;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s)) {
            json_decref(copy);
            return say(err, errlen, -EINVAL, "%s[%zu] must be a string", field,
                       i);
        }
        size_t len = json_string_length(s);
        const char *v = json_string_value(s);
        if (len == 0 || len > maxlen || strlen(v) != len) {
            json_decref(copy);
            return say(err, errlen, -EINVAL,
                       "%s[%zu] must be 1 to %zu characters, without NUL",
                       field, i, maxlen);
        }
        total += len + 1;
        if (json_array_append(copy, s) < 0) {
            json_decref(copy);
            return -ENOMEM;
        }
    }
    if (total > MAX_ARGV_BYTES) {
        json_decref(copy);
        return say(err, errlen, -EINVAL, "'%s' is over %d bytes in all", field,
                   MAX_ARGV_BYTES);
    }
    return json_object_set_new(spec, field, copy) < 0 ? -ENOMEM : 0;
}

static int check_fetch(json_t *o, json_t *spec, char *err, size_t errlen)
{
    int rc = check_strv(o, spec, "urls", MAX_URLS, MAX_URL_LEN, "fetch", err,
                        errlen);
    if (rc < 0)
        return rc;
    json_t *a = json_object_get(spec, "urls");
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *u = json_string_value(json_array_get(a, i));
        if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
            return say(err, errlen, -EINVAL,
                       "urls[%zu] must be an http:// or https:// URL", i);
        for (const unsigned char *c = (const unsigned char *)u; *c; c++)
            if (*c <= ' ' || *c == 0x7f)
                return say(err, errlen, -EINVAL,
                           "urls[%zu] holds a space or control character", i);
    }
    return 0;
}

static int check_command(json_t *o, json_t *spec, char *err, size_t errlen)
{
    return check_strv(o, spec, "argv", MAX_ARGV, MAX_ARG_LEN, "command", err,
                      errlen);
}

/* The fields every job takes whatever its type (how it runs, not what it
 * does): validated into out, then removed from o so that the type's own
 * validation sees only its parameters. */
static int envelope(json_t *o, jobs_submission *out, char *err, size_t errlen)
{
    out->retry_backoff = -1;
    json_t *m = json_object_get(o, "max_attempts");
    if (m) {
        if (!json_is_integer(m) || json_integer_value(m) < 1 ||
            json_integer_value(m) > 1000)
            return say(err, errlen, -EINVAL,
                       "'max_attempts' must be an integer from 1 to 1000");
        out->max_attempts = (int)json_integer_value(m);
        json_object_del(o, "max_attempts");
    }
    json_t *b = json_object_get(o, "retry_backoff");
    if (b) {
        double v = json_is_number(b) ? json_number_value(b) : -1;
        if (!isfinite(v) || v < 0 || v > 86400)
            return say(err, errlen, -EINVAL, "'retry_backoff' must be a "
                       "number of seconds from 0 to 86400");
        out->retry_backoff = v;
        json_object_del(o, "retry_backoff");
    }
    json_t *q = json_object_get(o, "queue");
    if (q) {
        if (!json_is_string(q) || !jobs_type_name_valid(json_string_value(q)))
            return say(err, errlen, -EINVAL, "'queue' must be a name: 1 to "
                       "64 of a-z, 0-9, '_', '.', '-', starting with a "
                       "letter");
        snprintf(out->queue, sizeof out->queue, "%s", json_string_value(q));
        json_object_del(o, "queue");
    }
    json_t *pr = json_object_get(o, "priority");
    if (pr) {
        if (!json_is_integer(pr) || json_integer_value(pr) < -100 ||
            json_integer_value(pr) > 100)
            return say(err, errlen, -EINVAL,
                       "'priority' must be an integer from -100 to 100");
        out->priority = (int)json_integer_value(pr);
        json_object_del(o, "priority");
    }
    json_t *to = json_object_get(o, "timeout");
    if (to) {
        double v = json_is_number(to) ? json_number_value(to) : -1;
        if (!isfinite(v) || v <= 0 || v > 86400)
            return say(err, errlen, -EINVAL, "'timeout' must be a number of "
                       "seconds, more than 0 and at most 86400");
        out->timeout = v;
        json_object_del(o, "timeout");
    }
    json_t *uk = json_object_get(o, "unique_key");
    if (uk) {
        if (!json_is_string(uk) || !jobs_key_valid(json_string_value(uk)))
            return say(err, errlen, -EINVAL, "'unique_key' must be 1 to %d "
                       "printable ASCII characters, without spaces",
                       JOBS_KEY_MAX);
        if (!(out->unique_key = strdup(json_string_value(uk))))
            return -ENOMEM;
        json_object_del(o, "unique_key");
    }
    json_t *delay = json_object_get(o, "delay");
    json_t *at = json_object_get(o, "run_at");
    if (delay && at)
        return say(err, errlen, -EINVAL,
                   "give 'delay' or 'run_at', not both");
    if (delay) {
        double v = json_is_number(delay) ? json_number_value(delay) : -1;
        if (!isfinite(v) || v < 0 || v > MAX_DELAY_SECONDS)
            return say(err, errlen, -EINVAL, "'delay' must be a number of "
                       "seconds from 0 to %.0f", MAX_DELAY_SECONDS);
        out->run_at_ms = jobs_now_ms() + (int64_t)(v * 1000);
        json_object_del(o, "delay");
    }
    if (at) {
        if (!json_is_string(at) ||
            jobs_parse_time(json_string_value(at), &out->run_at_ms) < 0)
            return say(err, errlen, -EINVAL, "'run_at' must be a time in "
                       "RFC 3339 form, in UTC: \"2026-05-01T12:00:00Z\"");
        json_object_del(o, "run_at");
    }
    return 0;
}

static const char *const field_of[] = {NULL, "seconds", "bytes", "urls",
                                       "argv"};

/* A built-in type's parameters: o (the body without the envelope's fields)
 * holds "type" and the type's fields only, each valid; *spec gets a new
 * object with the normal form of those fields. */
static int check_builtin(json_t *o, int type, json_t **spec, char *err,
                         size_t errlen)
{
    *spec = NULL;
    int rc = only_fields(o, field_of[type], jobs_type_name(type), err, errlen);
    if (rc < 0)
        return rc;
    json_t *sp = json_object();
    if (!sp)
        return -ENOMEM;
    switch (type) {
    case JOBS_SLEEP: rc = check_sleep(o, sp, err, errlen); break;
    case JOBS_HASH: rc = check_hash(o, sp, err, errlen); break;
    case JOBS_FETCH: rc = check_fetch(o, sp, err, errlen); break;
    default: rc = check_command(o, sp, err, errlen); break;
    }
    if (rc < 0) {
        json_decref(sp);
        return rc;
    }
    *spec = sp;
    return 0;
}

int jobs_parse_submission(const char *body, size_t len, jobs_submission *out,
                          char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->retry_backoff = -1;
    if (len == 0)
        return say(err, errlen, -EBADMSG,
                   "the request body is empty; send a JSON object such as "
                   "{\"type\": \"sleep\", \"seconds\": 1}");
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                          &je);
    if (!o)
        return say(err, errlen, -EBADMSG, "malformed JSON at line %d column "
                   "%d: %s", je.line, je.column, je.text);
    int rc;
    json_t *spec = NULL;
    if (!json_is_object(o)) {
        rc = say(err, errlen, -EINVAL, "the body must be a JSON object");
        goto out;
    }
    json_t *t = json_object_get(o, "type");
    if (!t) {
        rc = say(err, errlen, -EINVAL, "missing field 'type' (one of sleep, "
                 "hash, fetch, command)");
        goto out;
    }
    if (!json_is_string(t)) {
        rc = say(err, errlen, -EINVAL, "'type' must be a string");
        goto out;
    }
    rc = envelope(o, out, err, errlen);
    if (rc < 0)
        goto out;
    int type = jobs_type_parse(json_string_value(t));
    jobs_handler_fn fn;
    void *fnarg;
    if (type > JOBS_BUILTIN_MAX && jobs_type_handler(type, &fn, &fnarg) < 0)
        type = -EINVAL; /* met in the store, not registered here */
    if (type < 0 || strlen(json_string_value(t)) != json_string_length(t)) {
        rc = say(err, errlen, -EINVAL, "unknown job type '%.64s' (expected "
                 "sleep, hash, fetch, command or a type the program "
                 "registers)", json_string_value(t));
        goto out;
    }
    if (type > JOBS_BUILTIN_MAX) {
        /* A registered type: its spec is the body without "type", any
         * JSON object; the handler validates it. */
        json_object_del(o, "type");
        out->spec = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (!out->spec) {
            rc = -ENOMEM;
            goto out;
        }
        out->type = type;
        rc = 0;
        goto out;
    }
    rc = check_builtin(o, type, &spec, err, errlen);
    if (rc < 0)
        goto out;
    out->spec = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    if (type == JOBS_COMMAND)
        out->prog = strdup(json_string_value(
            json_array_get(json_object_get(spec, "argv"), 0)));
    if (!out->spec || (type == JOBS_COMMAND && !out->prog)) {
        jobs_submission_free(out);
        rc = -ENOMEM;
        goto out;
    }
    out->type = type;
    rc = 0;
out:
    if (rc == -ENOMEM)
        say(err, errlen, rc, "out of memory");
    json_decref(spec);
    json_decref(o);
    return rc;
}

void jobs_submission_free(jobs_submission *s)
{
    free(s->spec);
    free(s->prog);
    free(s->unique_key);
    s->spec = s->prog = s->unique_key = NULL;
}

int jobs_key_valid(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (n == 0 || n > JOBS_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return 0;
    return 1;
}

int jobs_params_parse(int type, const char *spec, jobs_params *out)
{
    memset(out, 0, sizeof *out);
    if (type < JOBS_SLEEP || type > JOBS_COMMAND || !spec)
        return -EINVAL;
    /* The stored spec is validated again by the rules a submission meets
     * (envelope, then the type's own: one set of rules, and a corrupt row
     * cannot slip past them), on the object parsed once: no re-serialising
     * and re-parsing per run (a third of a no-op job's CPU before). */
    json_t *o = json_loads(spec, JSON_REJECT_DUPLICATES, NULL);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return -EINVAL;
    }
    json_object_del(o, "type"); /* the job's own type is the one */
    jobs_submission env;
    memset(&env, 0, sizeof env);
    int rc = envelope(o, &env, NULL, 0);
    jobs_submission_free(&env);
    json_t *s = NULL;
    if (rc == 0)
        rc = check_builtin(o, type, &s, NULL, 0);
    json_decref(o);
    if (rc < 0)
        return rc == -ENOMEM ? rc : -EINVAL;
    switch (type) {
    case JOBS_SLEEP:
        out->seconds = json_number_value(json_object_get(s, "seconds"));
        break;
    case JOBS_HASH:
        out->bytes = (uint64_t)json_integer_value(json_object_get(s, "bytes"));
        break;
    default: {
        json_t *a = json_object_get(s, field_of[type]);
        size_t n = json_array_size(a);
        out->strv = calloc(n + 1, sizeof *out->strv);
        if (!out->strv) {
            rc = -ENOMEM;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            out->strv[i] = strdup(json_string_value(json_array_get(a, i)));
            if (!out->strv[i]) {
                rc = -ENOMEM;
                break;
            }
            out->nstr++;
        }
    }
    }
    json_decref(s);
    if (rc < 0)
        jobs_params_free(out);
    return rc;
}

void jobs_params_free(jobs_params *p)
{
    if (p->strv)
        for (size_t i = 0; i < p->nstr; i++)
            free(p->strv[i]);
    free(p->strv);
    memset(p, 0, sizeof *p);
}

static json_t *time_or_null(int64_t ms)
{
    char buf[32];
    return ms ? json_string(jobs_format_time(buf, ms)) : json_null();
}

json_t *jobs_job_json(const jobs_job *j)
{
    json_t *spec = json_loads(j->spec ? j->spec : "{}", 0, NULL);
    json_t *result = j->result ? json_loads(j->result, 0, NULL) : json_null();
    /* o* skips a NULL value (a spec or result that does not parse: only a
     * corrupt row could hold one), s? writes null for a NULL string. */
    json_t *o = json_pack("{s:s, s:s, s:s, s:o*, s:o, s:o, s:o, s:o*, s:s?, s:i}",
                          "id", j->id,
                          "type", jobs_type_name(j->type),
                          "status", jobs_status_name(j->status),
                          "spec", spec,
                          "created_at", time_or_null(j->created_ms),
                          "started_at", time_or_null(j->started_ms),
                          "finished_at", time_or_null(j->finished_ms),
                          "result", result,
                          "error", j->error,
                          "attempts", j->attempts);
    if (o) {
        json_t *errs = j->errors ? json_loads(j->errors, 0, NULL) : NULL;
        json_t *extra = json_pack(
            "{s:s?, s:s, s:i, s:o, s:i, s:f, s:o, s:o}", "unique_key",
            j->unique_key, "queue",
            j->queue[0] ? j->queue : "default", "priority", j->priority,
            "timeout", j->timeout > 0 ? json_real(j->timeout) : json_null(),
            "max_attempts", j->max_attempts,
            "retry_backoff", j->retry_backoff, "run_at",
            time_or_null(j->run_at_ms), "errors",
            json_is_array(errs) ? json_incref(errs) : json_array());
        json_decref(errs);
        if (!extra || json_object_update(o, extra) < 0) {
            json_decref(extra);
            json_decref(o);
            return NULL;
        }
        json_decref(extra);
    }
    if (o) {
        json_t *p = j->has_progress
                        ? json_pack("{s:f, s:s?}", "fraction", j->progress,
                                    "message", j->progress_msg)
                        : json_null();
        if (!p || json_object_set_new(o, "progress", p) < 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}
