#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CORIO_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TU_TSAN 1
#endif
#endif

int tu_under_asan(void)
{
#ifdef TU_ASAN
    return 1;
#else
    return 0;
#endif
}

int tu_under_tsan(void)
{
#ifdef TU_TSAN
    return 1;
#else
    return 0;
#endif
}

int tu_under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    if (p && strstr(p, "vgpreload"))
        return 1;
    return getenv("CORIO_UNDER_VALGRIND") != NULL;
}

int tu_slow(void)
{
    return tu_under_asan() || tu_under_tsan() || tu_under_valgrind();
}

char *tu_run_report(corio_fn fn, void *arg, const corio_loop_config *cfg)
{
    corio_loop_config c;
    FILE *f = tmpfile();
    long n;
    char *s;

    if (cfg)
        c = *cfg;
    else
        memset(&c, 0, sizeof c);
    assert_non_null(f);
    c.report_file = f;
    (void)corio_run_ex(fn, arg, NULL, &c);
    fflush(f);
    n = ftell(f);
    s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    rewind(f);
    if (n > 0)
        assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

int tu_run_cfg(corio_fn fn, void *arg, void **result, const corio_loop_config *cfg)
{
    corio_loop_config c;
    FILE *f = tmpfile();
    long n;
    int rc;

    if (cfg)
        c = *cfg;
    else
        memset(&c, 0, sizeof c);
    assert_non_null(f);
    c.report_file = f;
    rc = corio_run_ex(fn, arg, result, &c);
    fflush(f);
    n = ftell(f);
    if (n > 0) {
        char buf[4096];
        size_t k;
        rewind(f);
        k = fread(buf, 1, sizeof buf - 1, f);
        buf[k] = 0;
        fclose(f);
        fail_msg("loop did not close clean:\n%s", buf);
    }
    fclose(f);
    return rc;
}

int tu_run(corio_fn fn, void *arg, void **result)
{
    return tu_run_cfg(fn, arg, result, NULL);
}
