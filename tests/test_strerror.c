/*
 * corio_strerror: every CORIO_E* code has its own description, errno values
 * are described, unknown codes say so, and the result is never NULL.
 *
 * Besides the table below, every code of CORIO_ERRNO_MAP (the one list of
 * corio's codes) is checked for a unique value and words, and the public
 * headers are scanned (under CORIO_SOURCE_DIR, which CTest sets, or next to
 * this file) for a `#define CORIO_E...` made outside that list.
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

/* ---- every code of CORIO_ERRNO_MAP, and no code outside it ------------------*/

struct code_list {
    char name[64][48];
    int value[64];
    int n;
};

/* Collects `#define CORIO_E...` lines: a code defined outside the one list. */
static void scan_header(const char *path, struct code_list *l)
{
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char name[48];
        if (sscanf(line, " #define %47s", name) == 1 && strncmp(name, "CORIO_E", 7) == 0 &&
            strncmp(name, "CORIO_ERRNO_MAP", 15) != 0 && l->n < 64) {
            strcpy(l->name[l->n], name);
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

struct mapped {
    const char *name;
    int value;
    const char *text;
};

static const struct mapped map[] = {
#define MAPPED(name, value, text, when) {"CORIO_" #name, CORIO_##name, text},
    CORIO_ERRNO_MAP(MAPPED)
#undef MAPPED
};

static void every_code_of_the_map_is_described_and_unique(void **state)
{
    size_t i, j, n = sizeof map / sizeof map[0];
    (void)state;
    assert_true(n >= 8);
    for (i = 0; i < n; i++) {
        const char *s = corio_strerror(map[i].value);
        if (map[i].value > -4096)
            fail_msg("%s = %d is inside the errno range", map[i].name, map[i].value);
        if (strcmp(s, map[i].text) != 0)
            fail_msg("corio_strerror(%s) = \"%s\", want \"%s\"", map[i].name, s, map[i].text);
        for (j = 0; j < i; j++) {
            if (map[j].value == map[i].value)
                fail_msg("%s and %s share the value %d", map[j].name, map[i].name, map[i].value);
            if (strcmp(map[j].text, map[i].text) == 0)
                fail_msg("%s and %s share the description \"%s\"", map[j].name, map[i].name, s);
        }
    }
    printf("    %zu CORIO_E* codes checked\n", n);
}

static void no_code_is_defined_outside_the_map(void **state)
{
    static struct code_list l;
    const char *src = getenv("CORIO_SOURCE_DIR");
    char dir[1024];
    int i;
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
    for (i = 0; i < l.n; i++)
        fail_msg("%s is #defined outside CORIO_ERRNO_MAP (include/corio.h)", l.name[i]);
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
        cmocka_unit_test(every_code_of_the_map_is_described_and_unique),
        cmocka_unit_test(no_code_is_defined_outside_the_map),
        cmocka_unit_test(strerror_is_thread_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
