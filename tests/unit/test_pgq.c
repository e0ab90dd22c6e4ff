/* test_pgq.c -- pgq against a real PostgreSQL: statements, pool, errors, LISTEN, reconnect, close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "epos/pgq.h"

#define WATCHDOG_MS 60000

typedef struct tctx {
    uv_loop_t loop;
    uv_timer_t watchdog;
    uv_timer_t timer;
    pgq_pool *pool;  /* the pool under test */
    pgq_pool *other; /* a second pool (the killer in the reconnect test) */
    int ups, downs, done, results, nulls, errors, step;
    int listening, notified;
    char chan[64];
    char sql[128];
} tctx;

static const pgq_stmt test_stmts[] = {
    {"add", "SELECT $1::int + $2::int AS sum, $3::text AS t"},
    {"double", "SELECT $1::int * 2 AS v"},
    {NULL, NULL},
};

static const char *conninfo(void)
{
    const char *s = getenv("EPOS_TEST_PG");
    return s && *s ? s : "host=127.0.0.1 port=45432 user=postgres dbname=postgres";
}

static void on_watchdog(uv_timer_t *t)
{
    fail_msg("test did not finish in %d ms", WATCHDOG_MS);
}

static void loop_begin(tctx *t)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(uv_loop_init(&t->loop), 0);
    uv_timer_init(&t->loop, &t->watchdog);
    uv_timer_start(&t->watchdog, on_watchdog, WATCHDOG_MS, 0);
    uv_unref((uv_handle_t *)&t->watchdog); /* only a guard: does not keep the loop alive */
    uv_timer_init(&t->loop, &t->timer);
    uv_unref((uv_handle_t *)&t->timer);
}

/* Run until every pool closed, then prove no handle is left behind. */
static void loop_end(tctx *t, int pools)
{
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(t->done, pools);
    uv_close((uv_handle_t *)&t->watchdog, NULL);
    uv_close((uv_handle_t *)&t->timer, NULL);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
}

static void on_done(void *arg)
{
    ((tctx *)arg)->done++;
}

static void on_state(int up, void *arg)
{
    tctx *t = arg;
    if (up)
        t->ups++;
    else
        t->downs++;
}

static tctx *start_pool(tctx *t, const char *ci, int size, pgq_state_cb *cb)
{
    loop_begin(t);
    t->pool = pgq_pool_create(&t->loop, ci, size, test_stmts);
    assert_non_null(t->pool);
    pgq_set_state_cb(t->pool, cb, t);
    return t;
}

/* --- prepared statement round trip, accessors --- */

static void roundtrip_cb(PGresult *res, void *arg)
{
    tctx *t = arg;
    assert_true(pgq_ok(res));
    assert_int_equal(pgq_get_ll(res, 0, "sum", -1), 5);
    assert_string_equal(pgq_get(res, 0, "sum"), "5");
    assert_null(pgq_get(res, 0, "t"));         /* SQL NULL */
    assert_null(pgq_get(res, 0, "missing"));   /* no such column */
    assert_null(pgq_get(res, 1, "sum"));       /* no such row */
    assert_int_equal(pgq_get_ll(res, 0, "t", 42), 42);
    t->results++;
    pgq_pool_close(t->pool, on_done, t); /* closing inside a result callback is allowed */
}

static void roundtrip_state(int up, void *arg)
{
    tctx *t = arg;
    on_state(up, arg);
    const char *params[] = {"2", "3", NULL};
    assert_int_equal(pgq_exec(t->pool, "add", 3, params, roundtrip_cb, t), 0);
}

static void test_prepared_roundtrip(void **state)
{
    tctx t;
    start_pool(&t, conninfo(), 2, roundtrip_state);
    loop_end(&t, 1);
    assert_int_equal(t.results, 1);
    assert_int_equal(t.ups, 1);
    assert_int_equal(t.downs, 0);
}

/* --- more parallel queries than connections --- */

#define PARALLEL_N 200

static tctx *parallel_ctx;

static void parallel_cb(PGresult *res, void *arg)
{
    tctx *t = parallel_ctx;
    intptr_t i = (intptr_t)arg;
    assert_true(pgq_ok(res));
    assert_int_equal(pgq_get_ll(res, 0, "v", -1), 2 * i);
    if (++t->results == PARALLEL_N) {
        assert_int_equal(pgq_queued(t->pool), 0);
        pgq_pool_close(t->pool, on_done, t);
    }
}

static void parallel_state(int up, void *arg)
{
    tctx *t = arg;
    on_state(up, arg);
    for (intptr_t i = 0; i < PARALLEL_N; i++) {
        char num[32];
        snprintf(num, sizeof(num), "%ld", (long)i);
        const char *params[] = {num};
        assert_int_equal(pgq_exec(t->pool, "double", 1, params, parallel_cb, (void *)i), 0);
    }
    assert_true(pgq_queued(t->pool) >= PARALLEL_N - 3);
}

static void test_parallel_more_than_pool(void **state)
{
    tctx t;
    parallel_ctx = &t;
    start_pool(&t, conninfo(), 3, parallel_state);
    loop_end(&t, 1);
    assert_int_equal(t.results, PARALLEL_N);
}

/* --- an SQL error is a result with an error status; the connection survives --- */

static void after_error_cb(PGresult *res, void *arg)
{
    tctx *t = arg;
    assert_true(pgq_ok(res));
    assert_string_equal(pgq_get(res, 0, "one"), "1");
    t->results++;
    pgq_pool_close(t->pool, on_done, t);
}

static void error_cb(PGresult *res, void *arg)
{
    tctx *t = arg;
    assert_non_null(res);
    assert_false(pgq_ok(res));
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "22012");
    assert_null(pgq_get(res, 0, "x"));
    t->errors++;
    assert_int_equal(pgq_exec_sql(t->pool, "SELECT 1 AS one", 0, NULL, after_error_cb, t), 0);
}

static void error_state(int up, void *arg)
{
    tctx *t = arg;
    on_state(up, arg);
    assert_int_equal(pgq_exec_sql(t->pool, "SELECT 1/0 AS x", 0, NULL, error_cb, t), 0);
}

static void test_sql_error(void **state)
{
    tctx t;
    start_pool(&t, conninfo(), 1, error_state);
    loop_end(&t, 1);
    assert_int_equal(t.errors, 1);
    assert_int_equal(t.results, 1);
}

/* --- NULL parameters are SQL NULL --- */

static void nullparam_cb(PGresult *res, void *arg)
{
    tctx *t = arg;
    assert_true(pgq_ok(res));
    assert_string_equal(pgq_get(res, 0, "isnull"), "t");
    assert_string_equal(pgq_get(res, 0, "b"), "x y");
    assert_null(pgq_get(res, 0, "sum"));
    t->results++;
    pgq_pool_close(t->pool, on_done, t);
}

static void nullparam_state(int up, void *arg)
{
    tctx *t = arg;
    on_state(up, arg);
    const char *params[] = {NULL, "x y", NULL};
    assert_int_equal(pgq_exec_sql(t->pool,
                                  "SELECT $1::text IS NULL AS isnull, $2::text AS b,"
                                  " $3::int + 1 AS sum",
                                  3, params, nullparam_cb, t),
                     0);
}

static void test_null_params(void **state)
{
    tctx t;
    start_pool(&t, conninfo(), 1, nullparam_state);
    loop_end(&t, 1);
    assert_int_equal(t.results, 1);
}

/* --- LISTEN/NOTIFY, and re-LISTEN after the listener's backend is killed --- */

static void ignore_cb(PGresult *res, void *arg)
{
    /* NULL when the notification beat the result and the test closed the pool. */
    assert_true(res == NULL || pgq_ok(res));
}

static void notify_send(tctx *t, const char *payload)
{
    const char *params[] = {t->chan, payload};
    assert_int_equal(pgq_exec_sql(t->pool, "SELECT pg_notify($1, $2)", 2, params, ignore_cb, t),
                     0);
}

/* Each step needs the query pool up and the LISTEN in effect. */
static void listen_advance(tctx *t)
{
    if (!t->ups || !t->listening)
        return;
    t->listening = 0;
    notify_send(t, t->step == 0 ? "hello" : "again");
}

static void kill_listener_cb(PGresult *res, void *arg)
{
    assert_true(pgq_ok(res));
    assert_int_equal(pgq_get_ll(res, 0, "n", -1), 1);
}

static void listen_cb(const char *channel, const char *payload, void *arg)
{
    tctx *t = arg;
    if (channel[0] == '\0') { /* the LISTEN took effect (again) */
        t->listening = 1;
        listen_advance(t);
        return;
    }
    assert_string_equal(channel, t->chan);
    t->notified++;
    if (t->step++ == 0) {
        assert_string_equal(payload, "hello");
        const char *params[] = {t->sql};
        assert_int_equal(pgq_exec_sql(t->pool,
                                      "SELECT count(pg_terminate_backend(pid)) AS n"
                                      " FROM pg_stat_activity WHERE query = $1",
                                      1, params, kill_listener_cb, t),
                         0);
        return;
    }
    assert_string_equal(payload, "again");
    pgq_pool_close(t->pool, on_done, t);
}

static void listen_state(int up, void *arg)
{
    on_state(up, arg);
    listen_advance(arg);
}

static void test_listen_notify(void **state)
{
    tctx t;
    start_pool(&t, conninfo(), 1, listen_state);
    snprintf(t.chan, sizeof(t.chan), "bind_test_%d", (int)getpid());
    snprintf(t.sql, sizeof(t.sql), "LISTEN \"%s\"", t.chan);
    assert_int_equal(pgq_listen(t.pool, "", listen_cb, &t), -1);
    assert_int_equal(pgq_listen(t.pool, t.chan, listen_cb, &t), 0);
    loop_end(&t, 1);
    assert_int_equal(t.notified, 2);
    assert_int_equal(t.downs, 0); /* the LISTEN connection is not a query connection */
}

/* --- unreachable server: nothing live, exec refused --- */

static void never_cb(PGresult *res, void *arg)
{
    fail_msg("callback of a refused query ran");
}

static void unreachable_check(uv_timer_t *timer)
{
    tctx *t = timer->data;
    assert_int_equal(pgq_live(t->pool), 0);
    assert_int_equal(pgq_exec_sql(t->pool, "SELECT 1", 0, NULL, never_cb, t), -1);
    pgq_pool_close(t->pool, on_done, t);
}

static void test_unreachable(void **state)
{
    tctx t;
    start_pool(&t, "host=127.0.0.1 port=1 user=postgres dbname=postgres", 2, on_state);
    assert_int_equal(pgq_live(t.pool), 0);
    assert_int_equal(pgq_exec(t.pool, "add", 0, NULL, never_cb, &t), -1);
    /* Nothing to await but failed attempts: let a few run (with backoff), then check. */
    t.timer.data = &t;
    uv_ref((uv_handle_t *)&t.timer);
    uv_timer_start(&t.timer, unreachable_check, 400, 0);
    loop_end(&t, 1);
    assert_int_equal(t.ups, 0);
}

/* --- a backend killed mid-query (pg_terminate_backend): cb gets NULL, the pool reconnects --- */

static void kill_send(tctx *t);

static void reconnected_cb(PGresult *res, void *arg)
{
    tctx *t = arg;
    assert_true(pgq_ok(res));
    t->results++;
    pgq_pool_close(t->pool, on_done, t);
    pgq_pool_close(t->other, on_done, t);
}

/* The query's connection died: the caller must see NULL ("retry"), never
 * an error result that reads like a bug in the statement. */
static void victim_cb(PGresult *res, void *arg)
{
    tctx *t = arg;
    if (res) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        print_message("victim got %s [%s]: %s", PQresStatus(PQresultStatus(res)),
                      state ? state : "no SQLSTATE", PQresultErrorMessage(res));
        t->errors++;
    } else {
        t->nulls++;
    }
}

static void kill_cb(PGresult *res, void *arg)
{
    tctx *t = arg;
    assert_true(pgq_ok(res));
    /* The victim may not be running yet: try again until it is killed. */
    if (pgq_get_ll(res, 0, "n", -1) == 0 && t->nulls + t->errors == 0)
        kill_send(t);
}

static void kill_send(tctx *t)
{
    const char *params[] = {t->sql};
    assert_int_equal(pgq_exec_sql(t->other,
                                  "SELECT count(pg_terminate_backend(pid)) AS n"
                                  " FROM pg_stat_activity WHERE query = $1",
                                  1, params, kill_cb, t),
                     0);
}

static void victim_state(int up, void *arg)
{
    tctx *t = arg;
    on_state(up, arg);
    if (!up) {
        assert_int_equal(t->nulls + t->errors, 1); /* delivered before the down */
        assert_int_equal(pgq_exec_sql(t->pool, "SELECT 1", 0, NULL, never_cb, t), -1);
        return;
    }
    if (t->ups > 1) { /* reconnected by itself */
        assert_int_equal(pgq_exec_sql(t->pool, "SELECT 1", 0, NULL, reconnected_cb, t), 0);
        return;
    }
    assert_int_equal(pgq_exec_sql(t->pool, t->sql, 0, NULL, victim_cb, t), 0);
    if (++t->step == 2) /* the killer pool is up too */
        kill_send(t);
}

static void killer_state(int up, void *arg)
{
    tctx *t = arg;
    if (up && ++t->step == 2)
        kill_send(t);
}

static void test_terminate_reconnect(void **state)
{
    tctx t;
    start_pool(&t, conninfo(), 1, victim_state);
    snprintf(t.sql, sizeof(t.sql), "SELECT pg_sleep(60) /* bind victim %d */", (int)getpid());
    t.other = pgq_pool_create(&t.loop, conninfo(), 1, NULL);
    assert_non_null(t.other);
    pgq_set_state_cb(t.other, killer_state, &t);
    loop_end(&t, 2);
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.nulls, 1);
    assert_int_equal(t.ups, 2);
    assert_int_equal(t.downs, 1);
    assert_int_equal(t.results, 1);
}

/* --- close fails in-flight and queued queries with NULL --- */

static void closed_query_cb(PGresult *res, void *arg)
{
    tctx *t = arg;
    assert_null(res);
    t->nulls++;
    assert_int_equal(pgq_exec_sql(t->pool, "SELECT 1", 0, NULL, never_cb, t), -1);
}

static void close_state(int up, void *arg)
{
    tctx *t = arg;
    on_state(up, arg);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pgq_exec_sql(t->pool, "SELECT pg_sleep(1)", 0, NULL, closed_query_cb, t),
                         0);
    assert_int_equal(pgq_queued(t->pool), 2);
    pgq_pool_close(t->pool, on_done, t);
    assert_int_equal(t->nulls, 3);
    assert_int_equal(t->done, 0); /* done only after the handles closed */
}

static void test_close_fails_pending(void **state)
{
    tctx t;
    start_pool(&t, conninfo(), 1, close_state);
    loop_end(&t, 1);
    assert_int_equal(t.nulls, 3);
    assert_int_equal(t.downs, 0);
}

static void test_close_at_once(void **state)
{
    tctx t;
    start_pool(&t, conninfo(), 4, on_state);
    assert_int_equal(pgq_listen(t.pool, "bind_unused", listen_cb, &t), 0);
    pgq_pool_close(t.pool, on_done, &t);
    loop_end(&t, 1);
    assert_int_equal(t.ups, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepared_roundtrip),
        cmocka_unit_test(test_parallel_more_than_pool),
        cmocka_unit_test(test_sql_error),
        cmocka_unit_test(test_null_params),
        cmocka_unit_test(test_listen_notify),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_terminate_reconnect),
        cmocka_unit_test(test_close_fails_pending),
        cmocka_unit_test(test_close_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
