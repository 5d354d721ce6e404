/*
 * TCP connect over several addresses: Happy Eyeballs (RFC 8305).
 *
 * Each attempt is a task of its own that opens a socket and connects, so
 * every attempt gets the same cancellation and wait machinery as any other
 * connect. The caller's task starts attempt 0, then waits for "an attempt
 * finished" or the stagger delay, whichever comes first, and starts the
 * next one; the first attempt to connect wins and the rest are cancelled.
 *
 * The state the caller and the attempts share (he_state) lives on the heap
 * and is reference counted: an interrupted caller returns at once, leaving
 * cancelled attempts to finish on their own, and the last one out frees it.
 */
#include "io/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* What a task parked here waits on, for dumps and reports. */
static const corio__waitable wait_connect = {"connection attempts", CORIO_WAIT_OTHER, NULL};

#define HE_DEFAULT_DELAY 0.25 /* RFC 8305 section 5: Connection Attempt Delay */
#define HE_MAX_ADDRS 16

typedef struct he_state he_state;

/* One attempt: lives in he_state's array. */
typedef struct he_attempt {
    he_state *he;
    corio_addr addr;
    corio_task *task;  /* its handle, owned by the caller; NULL if none */
} he_attempt;

/* Allocated by corio_tcp_connect_addrs; freed when refs drops to 0 (the
 * caller holds one reference, every started attempt one). */
struct he_state {
    int refs;
    corio_task *waiter;    /* the caller while parked waiting, or NULL */
    corio_socket *winner;  /* the first connected socket, or NULL */
    int last_err;          /* error of the last failed attempt */
    int running;           /* attempts started and not yet finished */
    size_t n;
    he_attempt at[];
};

static void he_unref(he_state *he)
{
    if (--he->refs == 0)
        free(he);
}

static void *attempt_main(void *arg)
{
    he_attempt *a = arg;
    he_state *he = a->he;
    corio_socket *s;
    int rc = corio_socket_open(&s, a->addr.ss.ss_family, SOCK_STREAM, 0);
    if (rc == 0) {
        rc = corio_socket_connect(s, &a->addr);
        if (rc == 0 && !he->winner)
            he->winner = s;
        else
            corio_socket_close(s);
    }
    if (rc && rc != -ECANCELED)
        he->last_err = rc;
    he->running--;
    if (he->waiter)
        corio__wake(he->waiter, 0);
    he_unref(he);
    return NULL;
}

static int start_attempt(he_state *he, size_t i)
{
    corio_spawn_opts o;
    int rc;
    memset(&o, 0, sizeof o);
    o.name = "happy-eyeballs";
    o.stack_size = 64 * 1024;
    /* Eager: the connect starts now, and a task that has run can only end
     * through attempt_main, which drops its reference (a task cancelled
     * before it first ran would never run at all). */
    o.flags = CORIO_SPAWN_EAGER;
    he->refs++;
    he->running++;
    rc = corio_spawn_ex(&he->at[i].task, attempt_main, &he->at[i], &o);
    if (rc) {
        he->refs--;
        he->running--;
        he->at[i].task = NULL;
        he->last_err = rc;
    }
    return rc;
}

/* RFC 8305 section 4: interleave the address families, starting with the
 * family of the first address. */
static void interleave(const corio_addr *in, size_t n, corio_addr *out)
{
    size_t i, k = 0, a = 0, b = 0;
    int fam = in[0].ss.ss_family;
    while (k < n) {
        for (; a < n && in[a].ss.ss_family != fam; a++)
            ;
        if (a < n)
            out[k++] = in[a++];
        for (; b < n && in[b].ss.ss_family == fam; b++)
            ;
        if (b < n)
            out[k++] = in[b++];
        if (a >= n && b >= n)
            break;
    }
    for (i = k; i < n; i++) /* unreachable; keeps every slot defined */
        out[i] = in[i];
}

int corio_tcp_connect_addrs(corio_socket **sp, const corio_addr *addrs,
                            size_t n, double delay)
{
    corio_task *t = corio_current();
    he_state *he;
    size_t next = 0, i;
    int rc;

    if (!t)
        return -EPERM;
    if (!addrs || n == 0)
        return -EINVAL;
    rc = corio__interrupted(t);
    if (rc)
        return rc;
    if (delay <= 0)
        delay = HE_DEFAULT_DELAY;
    if (n == 1) {
        /* The common case needs no second task. */
        corio_socket *s;
        rc = corio_socket_open(&s, addrs[0].ss.ss_family, SOCK_STREAM, 0);
        if (rc)
            return rc;
        rc = corio_socket_connect(s, &addrs[0]);
        if (rc) {
            corio_socket_close(s);
            return rc;
        }
        *sp = s;
        return 0;
    }
    he = calloc(1, sizeof *he + n * sizeof he->at[0]);
    if (!he)
        return -ENOMEM;
    he->refs = 1;
    he->n = n;
    he->last_err = -ECONNREFUSED;
    {
        corio_addr *tmp = malloc(n * sizeof *tmp);
        if (!tmp) {
            free(he);
            return -ENOMEM;
        }
        interleave(addrs, n, tmp);
        for (i = 0; i < n; i++) {
            he->at[i].he = he;
            he->at[i].addr = tmp[i];
        }
        free(tmp);
    }

    for (;;) {
        corio_scope sc;
        int staggered, expired = 0;
        if (he->winner) {
            rc = 0;
            break;
        }
        /* Start the next attempt now if none is running (the last one
         * failed: RFC 8305 does not wait out the delay then). */
        if (next < n && he->running == 0) {
            start_attempt(he, next++);
            continue;
        }
        if (he->running == 0) {
            rc = he->last_err;
            break;
        }
        staggered = next < n;
        if (staggered)
            corio_scope_enter(&sc, delay, 0);
        he->waiter = t;
        rc = corio__park(t, &wait_connect, he);
        he->waiter = NULL;
        if (staggered)
            expired = corio_scope_exit(&sc) == 1;
        if (rc == -ETIMEDOUT && expired && corio__interrupted(t) == 0) {
            start_attempt(he, next++); /* the delay passed: one more */
            continue;
        }
        if (rc)
            break; /* cancelled, or an enclosing scope's deadline */
    }
    /* The losers (or, on error, everyone) are cancelled and left to end on
     * their own; they hold references to he. */
    for (i = 0; i < n; i++) {
        if (he->at[i].task) {
            corio_task *at = he->at[i].task;
            corio_cancel(at);
            corio_detach(at);
            he->at[i].task = NULL;
        }
    }
    if (rc == 0)
        *sp = he->winner;
    else if (he->winner)
        corio_socket_close(he->winner);
    he->winner = NULL;
    he_unref(he);
    return rc;
}

int corio_tcp_connect(corio_socket **sp, const char *host, int port)
{
    corio_addr addrs[HE_MAX_ADDRS];
    int n;
    if (!corio_current())
        return -EPERM;
    n = corio__resolve_tcp(host, port, addrs, HE_MAX_ADDRS);
    if (n < 0)
        return n;
    return corio_tcp_connect_addrs(sp, addrs, (size_t)n, 0);
}
