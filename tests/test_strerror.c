/*
 * corio_strerror: every CORIO_E* code has its own description, errno values
 * are described, unknown codes say so, and the result is never NULL.
 *
 * Besides the table below, the public headers are scanned (under
 * CORIO_SOURCE_DIR, which CTest sets, or next to this file) for every
 * `#define CORIO_E...`, so a code added later without a description, or
 * with another code's value or words, fails here.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct described {
    int code;
    const char *want; /* exact text */
};

static const struct described known[] = {
    {0, "Success"},
    {CORIO_EEOF, "End of stream"},
    {CORIO_ETOOLONG, "Delimiter not found within the length limit"},
    {CORIO_ESHUTDOWN, "Shut down"},
    {CORIO_ECLOSED, "Channel closed"},
    {-ETIMEDOUT, "Timed out"},
    {-ECANCELED, "Cancelled"},
    {-ENOENT, "No such file or directory"},
    {-EINVAL, "Invalid argument"},
    {-ENOMEM, "Cannot allocate memory"},
    {-EPERM, "Operation not permitted"},
    {-EDEADLK, "Resource deadlock avoided"},
    {-EAGAIN, "Resource temporarily unavailable"},
    {-EALREADY, "Operation already in progress"},
    {-EBUSY, "Device or resource busy"},
    {-ENOTSUP, "Operation not supported"},
    {-ECONNRESET, "Connection reset by peer"},
    {-EPIPE, "Broken pipe"},
    {-EMFILE, "Too many open files"},
};

static void known_codes_have_their_descriptions(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < sizeof known / sizeof known[0]; i++) {
        const char *s = corio_strerror(known[i].code);
        assert_non_null(s);
        if (strcmp(s, known[i].want) != 0)
            fail_msg("corio_strerror(%d) = \"%s\", want \"%s\"", known[i].code, s, known[i].want);
        /* Static: the same string every time. */
        assert_ptr_equal(corio_strerror(known[i].code), s);
    }
}

static const int unknown[] = {-4096, -4200, -99999, INT_MIN, 1, 5, INT_MAX, CORIO_EEOF + 1};

static void unknown_codes_say_unknown(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = corio_strerror(unknown[i]);
        assert_non_null(s);
        if (strcmp(s, "Unknown error") != 0)
            fail_msg("corio_strerror(%d) = \"%s\", want \"Unknown error\"", unknown[i], s);
    }
}

static void every_errno_value_is_described_or_unknown(void **state)
{
    int e;
    (void)state;
    for (e = 1; e < 4096; e++) {
        const char *s = corio_strerror(-e);
        assert_non_null(s);
        assert_true(s[0] != 0);
    }
}

/* ---- every CORIO_E* in the public headers ----------------------------------*/

struct code_list {
    char name[64][48];
    int value[64];
    int n;
};

static void scan_header(const char *path, struct code_list *l)
{
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char name[48];
        int v;
        if (sscanf(line, " #define %47s (%d)", name, &v) == 2 && strncmp(name, "CORIO_E", 7) == 0 &&
            l->n < 64) {
            strcpy(l->name[l->n], name);
            l->value[l->n] = v;
            l->n++;
        }
    }
    fclose(f);
}

static void scan_dir(const char *dir, struct code_list *l, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char path[1024];
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n > 2 && strcmp(e->d_name + n - 2, ".h") == 0)
            scan_header(path, l);
        else if (depth < 2)
            scan_dir(path, l, depth + 1);
    }
    closedir(d);
}

static void every_corio_code_in_the_headers_is_described_and_unique(void **state)
{
    static struct code_list l;
    const char *src = getenv("CORIO_SOURCE_DIR");
    char dir[1024];
    int i, j;
    (void)state;
    if (src) {
        snprintf(dir, sizeof dir, "%s/include", src);
    } else {
        /* Outside CTest: find the tree from this file's own path. */
        const char *slash;
        snprintf(dir, sizeof dir, "%s", __FILE__);
        slash = strstr(dir, "/tests/test_strerror.c");
        if (!slash)
            skip();
        strcpy(dir + (slash - dir), "/include");
    }
    memset(&l, 0, sizeof l);
    scan_dir(dir, &l, 0);
    assert_true(l.n >= 4); /* at least the four of corio.h */
    for (i = 0; i < l.n; i++) {
        const char *s = corio_strerror(l.value[i]);
        if (l.value[i] > -4096)
            fail_msg("%s = %d is inside the errno range", l.name[i], l.value[i]);
        if (strcmp(s, "Unknown error") == 0)
            fail_msg("%s (%d) has no description in src/core/error.c", l.name[i], l.value[i]);
        for (j = 0; j < i; j++) {
            if (l.value[j] == l.value[i])
                fail_msg("%s and %s share the value %d", l.name[j], l.name[i], l.value[i]);
            if (strcmp(corio_strerror(l.value[j]), s) == 0)
                fail_msg("%s and %s share the description \"%s\"", l.name[j], l.name[i], s);
        }
    }
    printf("    %d CORIO_E* codes checked\n", l.n);
}

/* ---- from several threads at once -------------------------------------------*/

static void *strerror_thread(void *arg)
{
    long bad = 0;
    int i, e;
    (void)arg;
    for (i = 0; i < 200; i++)
        for (e = 1; e < 200; e++)
            if (!corio_strerror(-e))
                bad++;
    return (void *)bad;
}

static void strerror_is_thread_safe(void **state)
{
    pthread_t th[4];
    int i;
    (void)state;
    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, strerror_thread, NULL), 0);
    for (i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_codes_have_their_descriptions),
        cmocka_unit_test(unknown_codes_say_unknown),
        cmocka_unit_test(every_errno_value_is_described_or_unknown),
        cmocka_unit_test(every_corio_code_in_the_headers_is_described_and_unique),
        cmocka_unit_test(strerror_is_thread_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
