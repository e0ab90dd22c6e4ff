/* pgq.h -- libpq in non-blocking mode on a libuv loop: a small pool of
 * connections, prepared statements, queued queries, reconnect with backoff.
 *
 * Every statement runs in autocommit: a multi-step write is one call of a
 * SQL function (schema/), so a single round trip commits it. */
#ifndef EPOS_PGQ_H
#define EPOS_PGQ_H

#include <libpq-fe.h>
#include <uv.h>

typedef struct pgq_pool pgq_pool;

/* Called exactly once per accepted query. res is NULL when the connection was
 * lost before a result came; otherwise it is owned by the pool and cleared
 * after the callback returns (check PQresultStatus for SQL errors). */
typedef void pgq_cb(PGresult *res, void *arg);

/* Called for each NOTIFY on a channel given to pgq_listen. */
typedef void pgq_notify_cb(const char *channel, const char *payload, void *arg);

/* Called when the pool gains its first or loses its last live connection. */
typedef void pgq_state_cb(int up, void *arg);

typedef struct pgq_stmt {
    const char *name;
    const char *sql;
} pgq_stmt;

/* Create a pool of size connections to conninfo on loop and start connecting
 * (returns at once). stmts is an array ended by {NULL, NULL}, prepared on
 * every connection after it connects; the array must outlive the pool.
 * Returns NULL on allocation failure only. */
pgq_pool *pgq_pool_create(uv_loop_t *loop, const char *conninfo, int size, const pgq_stmt *stmts);

void pgq_set_state_cb(pgq_pool *p, pgq_state_cb *cb, void *arg);

/* Run prepared statement stmt with text params (NULL entries are SQL NULL).
 * Params are copied. Returns 0 when queued (cb will run), -1 when no
 * connection is up or the queue is full (cb will not run: answer 503). */
int pgq_exec(pgq_pool *p, const char *stmt, int nparams, const char *const *params, pgq_cb *cb,
             void *arg);

/* Same, with literal SQL text (parameterized; never built from input). */
int pgq_exec_sql(pgq_pool *p, const char *sql, int nparams, const char *const *params, pgq_cb *cb,
                 void *arg);

/* LISTEN on channel on one dedicated connection of the pool (re-issued after
 * a reconnect, when cb is also called with channel "" to say notifications
 * may have been missed). Returns 0 or -1. */
int pgq_listen(pgq_pool *p, const char *channel, pgq_notify_cb *cb, void *arg);

/* Number of connections that are up and idle or busy. */
int pgq_live(const pgq_pool *p);
/* Queries waiting for a connection. */
int pgq_queued(const pgq_pool *p);

/* Close every connection and handle; callbacks of queued queries run with
 * NULL. done runs once every handle is closed (then the pool is freed). */
void pgq_pool_close(pgq_pool *p, void (*done)(void *arg), void *arg);

/* Convenience accessors on a tuples result. */
const char *pgq_get(const PGresult *res, int row, const char *col); /* NULL if SQL NULL or no col */
long long pgq_get_ll(const PGresult *res, int row, const char *col, long long dflt);
int pgq_ok(const PGresult *res); /* res non-NULL and COMMAND_OK or TUPLES_OK */

#endif
