/*
 * PostgreSQL array literals for bound parameters: store_pg.c sends a
 * whole batch of outcomes as one UPDATE ... FROM unnest($n::text[], ...),
 * each column one text parameter, instead of one UPDATE per job.
 */
#include "jobs.h"

#include <stdlib.h>
#include <string.h>

char *jobs_pg_array(const char *const *v, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++) {
        cap += 5; /* separator, quotes or NULL */
        for (const char *p = v[i]; p && *p; p++)
            cap += *p == '"' || *p == '\\' ? 2 : 1;
    }
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t k = 0;
    out[k++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[k++] = ',';
        if (!v[i]) {
            memcpy(out + k, "NULL", 4);
            k += 4;
            continue;
        }
        out[k++] = '"';
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                out[k++] = '\\';
            out[k++] = *p;
        }
        out[k++] = '"';
    }
    out[k++] = '}';
    out[k] = '\0';
    return out;
}
