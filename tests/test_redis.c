/* corio_redis against a private redis-server (tests/db_server.c): replies,
 * binary-safe arguments, error replies, many tasks on one connection,
 * interruption racing replies, a server-side disconnect, and the proof that
 * the loop keeps running while Redis blocks (100 x BLPOP 0.2 s over 20
 * connections in about 1 s, a timer ticking meanwhile). */
#include "testutil.h"
#include "db_server.h"

#include <corio_redis.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int port;

static corio_redis *connect_ok(void)
{
    corio_redis *r = NULL;
    char *err = NULL;
    int rc = corio_redis_connect(&r, "127.0.0.1", port, &err);
    if (rc)
        fprintf(stderr, "connect: %d %s\n", rc, err ? err : "");
    free(err);
    assert_int_equal(rc, 0);
    return r;
}

TU_TASK_TEST(commands_and_errors)
{
    corio_redis *r = connect_ok(), *bad = NULL;
    redisReply *rep;
    const char bin[5] = {'a', 0, 'b', '\n', 'c'};
    const char *argv[3] = {"SET", "k2", "v2"};
    char *err = NULL;
    assert_int_equal(corio_redis_command(r, &rep, "SET %s %b", "k", bin, sizeof bin), 0);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    assert_int_equal(corio_redis_command(r, &rep, "GET k"), 0);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_int_equal(rep->len, sizeof bin);
    assert_memory_equal(rep->str, bin, sizeof bin);
    freeReplyObject(rep);
    /* An error reply comes back with -EIO. */
    assert_int_equal(corio_redis_command(r, &rep, "INCR k"), -EIO);
    assert_int_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
    assert_int_equal(corio_redis_command_argv(r, &rep, 3, argv, NULL), 0);
    freeReplyObject(rep);
    assert_int_equal(corio_redis_command(r, &rep, "MGET k2 nokey"), 0);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, 2);
    assert_string_equal(rep->element[0]->str, "v2");
    assert_int_equal(rep->element[1]->type, REDIS_REPLY_NIL);
    freeReplyObject(rep);
    assert_int_equal(corio_redis_command(r, &rep, NULL), -EINVAL);
    /* Commands answered more than once are refused, however spelled, and
     * the connection still works. */
    {
        const char *sub[2] = {"Subscribe", "ch"};
        assert_int_equal(corio_redis_command(r, &rep, "SUBSCRIBE ch"), -ENOTSUP);
        assert_null(rep);
        assert_int_equal(corio_redis_command(r, &rep, "%s ch", "psubscribe"), -ENOTSUP);
        assert_int_equal(corio_redis_command(r, &rep, "monitor"), -ENOTSUP);
        assert_int_equal(corio_redis_command_argv(r, &rep, 2, sub, NULL), -ENOTSUP);
        assert_int_equal(corio_redis_command(r, &rep, "PING"), 0);
        assert_string_equal(rep->str, "PONG");
        freeReplyObject(rep);
    }
    corio_redis_close(r);
    /* Nothing listens on port 1. */
    assert_int_equal(corio_redis_connect(&bad, "127.0.0.1", 1, &err), -ECONNREFUSED);
    assert_null(bad);
    assert_non_null(err);
    free(err);
    return NULL;
}

static corio_redis *shared;
static long long seen[200];

static void *incr_task(void *arg)
{
    redisReply *rep;
    int i = (int)(intptr_t)arg;
    if (corio_redis_command(shared, &rep, "INCR counter") != 0)
        return (void *)1;
    seen[i] = rep->integer;
    freeReplyObject(rep);
    return NULL;
}

/* 200 tasks share one connection: every one gets its own reply. */
TU_TASK_TEST(many_tasks_one_connection)
{
    int n = 200, i;
    corio_task *t[200];
    redisReply *rep;
    char hit[201] = {0};
    void *res;
    shared = connect_ok();
    assert_int_equal(corio_redis_command(shared, &rep, "DEL counter"), 0);
    freeReplyObject(rep);
    for (i = 0; i < n; i++)
        assert_non_null(t[i] = corio_spawn(incr_task, (void *)(intptr_t)i));
    for (i = 0; i < n; i++) {
        assert_int_equal(corio_await(t[i], &res), 0);
        assert_null(res);
        assert_true(seen[i] >= 1 && seen[i] <= n);
        assert_false(hit[seen[i]]);
        hit[seen[i]] = 1;
    }
    corio_redis_close(shared);
    return NULL;
}

static int blpop_rc;

static void *blpop_task(void *arg)
{
    redisReply *rep;
    blpop_rc = corio_redis_command(arg, &rep, "BLPOP %s 30", "never");
    freeReplyObject(rep);
    return NULL;
}

/* A timed-out or cancelled caller gets its error; its reply, when it comes,
 * is dropped (no leak, no stray wake-up), and the connection keeps working
 * for the other tasks. */
TU_TASK_TEST(interrupted_commands)
{
    corio_redis *r = connect_ok(), *other = connect_ok();
    redisReply *rep = (redisReply *)1;
    corio_scope sc;
    corio_task *t;
    double t0 = corio_now();
    corio_scope_enter(&sc, 0.2, 0);
    /* 5 s: the server still holds the BLPOP when the RPUSH below comes,
     * even on a loaded machine, so the dropped reply is a real one. */
    assert_int_equal(corio_redis_command(r, &rep, "BLPOP %s 5", "q1"), -ETIMEDOUT);
    assert_int_equal(corio_scope_exit(&sc), 1);
    assert_null(rep);
    /* A caller that ignored the scope would wait out the server's 5 s. */
    assert_true(corio_now() - t0 < 2.5);
    /* Already expired: nothing is sent. */
    corio_scope_enter(&sc, 0, 0);
    assert_int_equal(corio_redis_command(r, &rep, "PING"), -ETIMEDOUT);
    corio_scope_exit(&sc);
    assert_null(rep);
    /* The server unblocks it by pushing; the reply is dropped, and the next
     * command on the connection gets its own answer. */
    assert_int_equal(corio_redis_command(other, &rep, "RPUSH q1 x"), 0);
    freeReplyObject(rep);
    assert_int_equal(corio_redis_command(r, &rep, "ECHO %s", "after"), 0);
    assert_string_equal(rep->str, "after");
    freeReplyObject(rep);
    /* Cancelling a waiting task. */
    blpop_rc = 1;
    assert_non_null(t = corio_spawn(blpop_task, r));
    corio_sleep(0.05);
    corio_cancel(t);
    corio_await(t, NULL);
    assert_int_equal(blpop_rc, -ECANCELED);
    /* Closing with that reply still pending frees it. */
    corio_redis_close(r);
    corio_redis_close(other);
    return NULL;
}

/* The server kills our connection while a task waits: it gets
 * -ECONNRESET, and so do later calls. */
TU_TASK_TEST(server_disconnect)
{
    corio_redis *r = connect_ok(), *killer = connect_ok();
    redisReply *rep;
    corio_task *t;
    assert_int_equal(corio_redis_command(r, &rep, "CLIENT SETNAME victim"), 0);
    freeReplyObject(rep);
    blpop_rc = 1;
    assert_non_null(t = corio_spawn(blpop_task, r));
    corio_sleep(0.05);
    assert_int_equal(corio_redis_command(killer, &rep, "CLIENT KILL USER default SKIPME yes"), 0);
    freeReplyObject(rep);
    corio_await(t, NULL);
    assert_int_equal(blpop_rc, -ECONNRESET);
    assert_null(corio_redis_context(r));
    assert_int_equal(corio_redis_command(r, &rep, "PING"), -ECONNRESET);
    assert_null(rep);
    corio_redis_close(r);
    corio_redis_close(killer);
    return NULL;
}

/* ---- the CPU does not idle ---------------------------------------------- */

static double worst_late; /* the ticker's, in the last run */
static corio_redis *conns[20];

static const char *blpop_seconds; /* "1", "0.2": BLPOP's timeout */

static void *blpop_timeout(void *arg)
{
    redisReply *rep;
    int rc = corio_redis_command(conns[(intptr_t)arg % 20], &rep,
                                 "BLPOP %s %s", "empty", blpop_seconds);
    if (rc == 0 && rep->type != REDIS_REPLY_NIL)
        rc = -EPROTO;
    freeReplyObject(rep);
    return (void *)(intptr_t)rc;
}

/* n BLPOPs of `seconds` on an empty list at once over 20 connections, the
 * ticker running; returns the elapsed time (worst_late: the ticker's). */
static double blpops_over_twenty(int n, const char *seconds)
{
    corio_task *t[100];
    void *res;
    int i;
    assert_true(n <= 100);
    blpop_seconds = seconds;
    for (i = 0; i < 20; i++)
        conns[i] = connect_ok();
    tu_ticker *tick = tu_ticker_start(0.01);
    double t0 = corio_now();
    for (i = 0; i < n; i++)
        assert_non_null(t[i] = corio_spawn(blpop_timeout, (void *)(intptr_t)i));
    for (i = 0; i < n; i++) {
        assert_int_equal(corio_await(t[i], &res), 0);
        assert_int_equal((intptr_t)res, 0);
    }
    double el = corio_now() - t0;
    worst_late = tu_ticker_stop(tick);
    printf("%d x BLPOP %s s over 20 connections: %.3f s, timer worst "
           "lateness %.1f ms\n", n, seconds, el, worst_late * 1e3);
    for (i = 0; i < 20; i++)
        corio_redis_close(conns[i]);
    return el;
}

/* 1 s BLPOPs, so that a blocked loop shows as a whole second of lateness,
 * far above what load does (0.2 s BLPOPs against a 0.15 s bound left too
 * little room: test_pg's twin failed that way under TSan). */
TU_TASK_TEST(forty_blpops_over_twenty_connections)
{
    double el = blpops_over_twenty(40, "1");
    /* Two BLPOPs per connection, served in turn; serial would be 40 s. */
    assert_true(el >= 1.99);
    assert_true(el < 3.5);
    /* a blocked loop would be a whole BLPOP (1 s) late; less is load */
    assert_true(worst_late < 0.5);
    return NULL;
}

/* The issue's own scenario: 100 x BLPOP 0.2 s over 20 connections in about
 * 1 s (five rounds), not 20 s. */
TU_TASK_TEST(hundred_short_blpops_in_about_a_second)
{
    double el = blpops_over_twenty(100, "0.2");
    assert_true(el >= 0.99);
    assert_true(el < 3.0); /* serial: 20 s */
    return NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(commands_and_errors),
        cmocka_unit_test(many_tasks_one_connection),
        cmocka_unit_test(interrupted_commands),
        cmocka_unit_test(server_disconnect),
        cmocka_unit_test(forty_blpops_over_twenty_connections),
        cmocka_unit_test(hundred_short_blpops_in_about_a_second),
    };
    int rc = dbs_redis_start(&port);
    if (rc == 77)
        return 77;
    if (rc) {
        fprintf(stderr, "could not start redis-server\n");
        return 1;
    }
    rc = tu_run_both_modes(tests);
    dbs_stop_all();
    return rc;
}
