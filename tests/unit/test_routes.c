/* test_routes.c -- the /api router: path patterns, ids and keys, and the
 * answers it gives itself before any handler runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hub/http.c"
#include "hub/pgerr.c"
#include "hub/routes.c"

hub *the_hub;
static hub test_hub;
static int sql_calls;

/* --- neighbours -------------------------------------------------------------- */

int pgq_exec_sql(pgq_pool *p, const char *sql, int n, const char *const *params, pgq_cb *cb,
                 void *arg)
{
    sql_calls++;
    return -1; /* answers 503 */
}
int pgq_ok(const PGresult *res)
{
    return 0;
}
const char *pgq_get(const PGresult *res, int row, const char *col)
{
    return NULL;
}
void fanout_publish_frame(fanout *f, const char *topic, const char *frame, size_t len)
{
}
void fanout_publish(fanout *f, const char *topic, int64_t seq, const char *frame, size_t len)
{
}
void fanout_refresh_user(fanout *f, int64_t uid)
{
}
void health_handle(http_req *r)
{
}
void health_observe_http(int method, const char *route, double secs)
{
}
int api_limit_admit(http_req *r)
{
    return 1; /* the budgets have tests of their own (17-ratelimit) */
}
void http_guard_forget(struct lws *wsi)
{
}
void api_login(http_req *r, json_t *body)
{
}
void api_password(http_req *r, json_t *body)
{
}
void api_password_link(http_req *r, json_t *body)
{
}

/* --- tests --------------------------------------------------------------------- */

static http_req *req_new(int method, const char *path)
{
    http_req *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->refs = 1;
    r->method = method;
    r->uid = 1;
    r->sid = 1;
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->args = json_object();
    return r;
}

static void test_match(void **state)
{
    long long id = -1;
    char key[64];
    assert_int_equal(
        route_match("/api/chats/#/messages", "/api/chats/12/messages", &id, key, sizeof(key)), 1);
    assert_int_equal(id, 12);
    assert_int_equal(route_match("/api/absences/#", "/api/absences/77/", &id, key, sizeof(key)), 1);
    assert_int_equal(id, 77);
    assert_int_equal(route_match("/api/orgs/#/calendar/*", "/api/orgs/3/calendar/2026-09-01", &id,
                                 key, sizeof(key)),
                     1);
    assert_string_equal(key, "2026-09-01");
    assert_int_equal(route_match("/api/chats", "/api/chats//", &id, key, sizeof(key)), 0);
    assert_int_equal(route_match("/api/news/#/acks", "/api/news/9223372036854775807/acks", &id, key,
                                 sizeof(key)),
                     1);
    assert_true(id == INT64_MAX);
}

/* Found by tests/fuzz/fuzz_http.c: an id past int64 matched as LLONG_MAX. */
static void test_id_overflow(void **state)
{
    long long id = -1;
    char key[64];
    assert_int_equal(route_match("/api/news/#/acks", "/api/news/99999999999999999999/acks", &id,
                                 key, sizeof(key)),
                     0);
    http_req *r = req_new(HTTP_GET, "/api/news/9223372036854775808/acks");
    sql_calls = 0;
    routes_dispatch(r);
    assert_int_equal(r->status, 404);
    assert_int_equal(sql_calls, 0);
    http_req_unref(r);
}

/* Found by tests/fuzz/fuzz_http.c: a path key that is not UTF-8 reached the
 * SQL function as a missing key; now a 400 and no call. */
static void test_key_not_utf8(void **state)
{
    http_req *r = req_new(HTTP_PUT, "/api/orgs/3/calendar/202\xb6-09-01");
    sql_calls = 0;
    routes_dispatch(r);
    assert_int_equal(r->status, 400);
    assert_int_equal(sql_calls, 0);
    http_req_unref(r);
    r = req_new(HTTP_PUT, "/api/orgs/3/calendar/2026-09-01");
    routes_dispatch(r);
    assert_int_equal(sql_calls, 1); /* a good key gets through */
    assert_string_equal(json_string_value(json_object_get(r->args, "key")), "2026-09-01");
    http_req_unref(r);
}

int main(void)
{
    the_hub = &test_hub;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_id_overflow),
        cmocka_unit_test(test_key_not_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
