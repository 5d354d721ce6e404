/*
 * corio_redis: Redis on the corio loop, through hiredis's async API with a
 * corio event adapter (the counterpart of hiredis's adapters/libuv.h).
 *
 * Tasks call one suspending function per command and get the reply; many
 * tasks may share one connection at once (Redis answers in order, so their
 * commands are pipelined). A blocking command (BLPOP, ...) holds the
 * connection's later commands back until it answers: give those their own
 * connection. Optional component: CORIO_BUILD_REDIS (on when pkg-config
 * finds hiredis), link corio_redis.
 *
 * Ownership:
 *  - corio_redis: made by corio_redis_connect*, freed by corio_redis_close
 *    (its two helper tasks -- reader and writer -- finish on their own
 *    right after). Belongs to the loop current at connect.
 *  - redisReply: every *reply a command call fills belongs to the caller,
 *    who frees it with freeReplyObject() -- also when the call returned
 *    -EIO (a Redis error reply, type REDIS_REPLY_ERROR). NULL: nothing to
 *    free.
 */
#ifndef CORIO_REDIS_H
#define CORIO_REDIS_H

#include <stdarg.h>
#include <stddef.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include <corio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct corio_redis corio_redis;

/* Suspending: connects to a numeric host (hiredis would resolve a name
 * with a blocking getaddrinfo) and port, or to a Unix socket. Bound it
 * with a scope for a timeout. Returns 0, -ECONNREFUSED (the reason goes to
 * *errmsg if non-NULL: malloc'ed, the caller frees it), -ECANCELED,
 * -ETIMEDOUT, -ENOMEM, -EPERM. */
CORIO_API int corio_redis_connect(corio_redis **rp, const char *host, int port,
                                  char **errmsg);
CORIO_API int corio_redis_connect_unix(corio_redis **rp, const char *path,
                                       char **errmsg);
/* Closes the connection and frees r (NULL: no-op). Not suspending. Tasks
 * still waiting for replies on r get -ECONNRESET. */
CORIO_API void corio_redis_close(corio_redis *r);
/* The hiredis context, NULL once the connection is gone. */
CORIO_API redisAsyncContext *corio_redis_context(corio_redis *r);

/* Suspending: sends a command (hiredis's printf-like format: %s, %b for
 * binary-safe arguments -- values are never spliced into the command
 * text) and waits for its reply. Returns 0 (*reply set), -EIO (Redis
 * answered with an error; *reply holds it), -ECONNRESET (connection lost;
 * *reply NULL), -ECANCELED / -ETIMEDOUT (the caller was interrupted: the
 * command may still run on the server -- Redis cannot cancel it -- and its
 * reply is dropped when it arrives), -ENOTSUP (SUBSCRIBE, PSUBSCRIBE,
 * SSUBSCRIBE, MONITOR: their replies keep coming, which one call cannot
 * return), -ENOMEM, -EPERM, -EINVAL. */
CORIO_API int corio_redis_command(corio_redis *r, redisReply **reply, const char *fmt,
                                  ...);
CORIO_API int corio_redis_vcommand(corio_redis *r, redisReply **reply, const char *fmt,
                                   va_list ap);
/* The same with an argument vector (argvlen NULL: NUL-terminated args). */
CORIO_API int corio_redis_command_argv(corio_redis *r, redisReply **reply, int argc,
                                       const char **argv, const size_t *argvlen);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_REDIS_H */
