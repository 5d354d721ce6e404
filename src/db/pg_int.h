/* Internals shared by src/db/pg.c (connections) and src/db/pg_pool.c. */
#ifndef CORIO_DB_PG_INT_H
#define CORIO_DB_PG_INT_H

#include <corio_pg.h>

/* Allocated by corio_pg_connect, freed by corio_pg_close (directly, or by
 * the pool that owns it). */
struct corio_pg {
    PGconn *conn;
    corio_watch *w;        /* on PQsocket(conn) */
    int busy;              /* a task is inside a query function */
    int broken;            /* unusable: protocol state unknown */
    double idle_since;     /* corio_now() when released to a pool */
    struct corio_pg *next; /* pool's idle list */
};

#endif
