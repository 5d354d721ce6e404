/*
 * A program built like a user's: only the public headers, linked with the
 * shared libraries (libcorio.so and, when built, libcorio_http.so,
 * libcorio_pg.so, libcorio_redis.so), which export nothing but CORIO_API
 * declarations. It fails to link if a public function is not exported, and
 * exits non-zero if a call through the shared library misbehaves.
 * CTest: shared_link.
 */
#include <corio.h>
#ifdef SHARED_LINK_HTTP
#include <corio_http.h>
#endif
#ifdef SHARED_LINK_PG
#include <corio_pg.h>
#endif
#ifdef SHARED_LINK_REDIS
#include <corio_redis.h>
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void *child(void *arg)
{
    int rc = corio_sleep(0.001);
    return rc ? corio_fail(rc) : arg;
}

static void *main_task(void *arg)
{
    void *res = NULL;
    corio_task *t = corio_spawn(child, arg);
    int rc;
    if (!t)
        return corio_fail(-ENOMEM);
    rc = corio_await(t, &res);
    if (rc || res != arg || corio_checkpoint() != 0)
        return corio_fail(rc ? rc : -EINVAL);
#ifdef SHARED_LINK_HTTP
    {
        corio_http_buf b;
        memset(&b, 0, sizeof b);
        if (corio_http_buf_printf(&b, "%d %s", 200, "OK") < 0 || strcmp(b.data, "200 OK") != 0)
            return corio_fail(-EINVAL);
        corio_http_buf_free(&b);
    }
#endif
#ifdef SHARED_LINK_PG
    if (corio_pg_ok(NULL))
        return corio_fail(-EINVAL);
#endif
#ifdef SHARED_LINK_REDIS
    corio_redis_close(NULL);
#endif
    return arg;
}

int main(void)
{
    static int token;
    void *res = NULL;
    int rc = corio_run(main_task, &token, &res);
    if (rc != 0 || res != &token) {
        fprintf(stderr, "shared_link: corio_run = %d (%s)\n", rc, corio_strerror(rc));
        return 1;
    }
    if (strcmp(corio_strerror(CORIO_EEOF), "End of stream") != 0)
        return 1;
    printf("shared_link: ok\n");
    return 0;
}
