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
struct prom_hist;

/* Called exactly once per accepted query. res is NULL when the query did not
 * complete because its connection was lost (or the pool closed): the outcome
 * is unknown, the caller answers "unavailable, retry" (503), never "internal".
 * Otherwise res is owned by the pool and cleared after the callback returns
 * (check PQresultStatus for SQL errors). */
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
 * (returns at once; the first attempt runs from the loop, so set the state
 * callback right after). Give a numeric host (hostaddr): libpq resolves names
 * synchronously. stmts is an array ended by {NULL, NULL}, prepared on every
 * connection after it connects; the array must outlive the pool. A statement
 * that fails to prepare is logged and skipped (running it gives an error
 * result). Lost connections reconnect with backoff 100 ms doubling to 5 s; a
 * connect or setup taking over 10 s counts as failed.
 * Returns NULL on allocation failure only. */
pgq_pool *pgq_pool_create(uv_loop_t *loop, const char *conninfo, int size, const pgq_stmt *stmts);

void pgq_set_state_cb(pgq_pool *p, pgq_state_cb *cb, void *arg);

/* Run prepared statement stmt with text params (NULL entries are SQL NULL).
 * Params are copied. Returns 0 when queued (cb will run, never before
 * pgq_exec returns; cb may be NULL to ignore the result), -1 when no
 * connection is up, the queue (10000) is full or the pool is closing (cb will
 * not run: answer 503). When the last live connection is lost, every queued
 * query's cb runs with NULL at once. */
int pgq_exec(pgq_pool *p, const char *stmt, int nparams, const char *const *params, pgq_cb *cb,
             void *arg);

/* Same, with literal SQL text (parameterized; never built from input). */
int pgq_exec_sql(pgq_pool *p, const char *sql, int nparams, const char *const *params, pgq_cb *cb,
                 void *arg);

/* LISTEN on channel (1..63 bytes) on one dedicated extra connection of the
 * pool (not counted by pgq_live). Each time the LISTEN takes effect -- the
 * first time and after every reconnect -- cb is called with channel "" and
 * payload "": notifications sent before that moment were missed (poll now).
 * Then cb(channel, payload) per NOTIFY. Returns 0 or -1. */
int pgq_listen(pgq_pool *p, const char *channel, pgq_notify_cb *cb, void *arg);

/* Number of query connections that are up (prepared) and idle or busy. */
int pgq_live(const pgq_pool *p);
/* Queries waiting for a connection. */
int pgq_queued(const pgq_pool *p);

/* Seconds from sending each query to its result (core/prom.c histogram). */
const struct prom_hist *pgq_query_time(const pgq_pool *p);
/* Close every connection and handle; callbacks of queued and in-flight
 * queries run with NULL before this returns (calls they make fail with -1).
 * The state callback is not called. Safe inside any pgq callback. done
 * (may be NULL) runs once every handle is closed, then the pool is freed. */
void pgq_pool_close(pgq_pool *p, void (*done)(void *arg), void *arg);

/* Convenience accessors on a tuples result. */
const char *pgq_get(const PGresult *res, int row, const char *col); /* NULL if SQL NULL or no col */
long long pgq_get_ll(const PGresult *res, int row, const char *col, long long dflt);
int pgq_ok(const PGresult *res); /* res non-NULL and COMMAND_OK or TUPLES_OK */

#endif
