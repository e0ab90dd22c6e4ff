/* fuzz_http.c -- the hub's side of an HTTP request (hub/http.c, hub/routes.c):
 * query arguments, the Authorization header, route matching and dispatch.
 * libwebsockets' own parsing is not the target: the harness splits a raw
 * request the way it does and hands over what lws would. Invariants: route
 * matching agrees with a segment-wise reference; every request gets exactly
 * the answer the route table predicts (404/405/401/400 or the call); the SQL
 * call gets well-formed parameters; every answer is a JSON document. */
#include "hub/http.c"
#include "hub/pgerr.c"
#include "hub/routes.c"

#include "epos/auth.h"
#include "fuzz_util.h"

#define FUZZ_NOW 1800000000LL

hub *the_hub;
static hub fuzz_hub;

/* 1 when the route with this pattern publishes an org event on success. */
static int fuzz_route_announces(const char *pattern);

/* --- neighbours of the code under test ------------------------------------- */

static const char fuzz_result[] =
    "{\"status\":201,\"body\":{\"id\":5},\"frames\":[{\"topic\":\"chat:1\",\"frame\":\"{}\"}],"
    "\"ephemeral\":[{\"topic\":\"chat:1\",\"frame\":\"{}\"}],\"refresh\":[7,\"x\"]}";
static int fuzz_ok_storage;
#define FUZZ_RES_OK ((PGresult *)&fuzz_ok_storage)

static struct {
    int calls;      /* SQL calls or C handlers run */
    const char *fn; /* the handler that ran */
    pgq_cb *cb;     /* the pending SQL callback */
    void *arg;
    int publishes;
} seen;

int pgq_ok(const PGresult *res)
{
    return res == FUZZ_RES_OK;
}

const char *pgq_get(const PGresult *res, int row, const char *col)
{
    return res == FUZZ_RES_OK && row == 0 && strcmp(col, "result") == 0 ? fuzz_result : NULL;
}

void fanout_publish_frame(fanout *f, const char *topic, const char *frame, size_t len)
{
    seen.publishes++;
}

void fanout_publish(fanout *f, const char *topic, int64_t seq, const char *frame, size_t len)
{
    seen.publishes++;
}

void fanout_refresh_user(fanout *f, int64_t uid)
{
}

void health_handle(http_req *r)
{
    http_reply(r, 200, "text/plain", "ok\n", 3);
}
void health_observe_http(int method, const char *route, double secs)
{
}

static void fuzz_handler(http_req *r, const char *name)
{
    seen.calls++;
    seen.fn = name;
    http_reply_json(r, 200, json_object());
}

void api_login(http_req *r, json_t *body)
{
    FUZZ_CHECK(json_is_object(body));
    fuzz_handler(r, "login");
}

void api_password(http_req *r, json_t *body)
{
    FUZZ_CHECK(json_is_object(body) && r->uid > 0);
    fuzz_handler(r, "password");
}

void api_password_link(http_req *r, json_t *body)
{
    FUZZ_CHECK(json_is_object(body));
    fuzz_handler(r, "password_link");
}

/* --- the reference router ------------------------------------------------- */

typedef struct expect {
    int status; /* before any handler: 404, 405, 401, 400; 0 when one runs */
    const route *rt;
    char id[24]; /* canonical decimal of the '#' segment, "" without */
    char key[64];
    int has_key;
} expect;

/* Segment-wise match: '#' a decimal that fits in int64, '*' a segment of 1 to
 * 63 bytes; one trailing '/' of the path is allowed. */
static int ref_match(const char *pat, const char *path, char *id, char *key)
{
    size_t pl = strlen(path);
    char *p = strndup(path, pl > 1 && path[pl - 1] == '/' ? pl - 1 : pl);
    char *pp = strdup(pat), *sa = NULL, *sb = NULL;
    int ok = 1;
    FUZZ_CHECK(p && pp);
    /* Segments without strtok's folding of empty ones. */
    const char *a = pp, *b = p;
    while (ok) {
        const char *ae = strchr(a, '/'), *be = strchr(b, '/');
        size_t an = ae ? (size_t)(ae - a) : strlen(a), bn = be ? (size_t)(be - b) : strlen(b);
        if (an == 1 && a[0] == '#') {
            size_t z = 0;
            for (size_t i = 0; i < bn; i++)
                ok = ok && b[i] >= '0' && b[i] <= '9';
            ok = ok && bn > 0;
            while (ok && z + 1 < bn && b[z] == '0')
                z++;
            ok = ok &&
                 (bn - z < 19 || (bn - z == 19 && strncmp(b + z, "9223372036854775807", 19) <= 0));
            if (ok) {
                memcpy(id, b + z, bn - z);
                id[bn - z] = '\0';
            }
        } else if (an == 1 && a[0] == '*') {
            ok = bn > 0 && bn < 64;
            if (ok) {
                memcpy(key, b, bn);
                key[bn] = '\0';
            }
        } else {
            ok = an == bn && memcmp(a, b, an) == 0;
        }
        if (!ok || (!ae && !be))
            break;
        if (!ae || !be) {
            ok = 0;
            break;
        }
        a = ae + 1;
        b = be + 1;
    }
    (void)sa;
    (void)sb;
    free(p);
    free(pp);
    return ok;
}

static int body_is_object(const char *body, size_t len)
{
    if (!fuzz_utf8_valid(body, len))
        return 0;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    int ok = json_is_object(v);
    json_decref(v);
    return ok;
}

/* What the route table says the answer to r must be. */
static void predict(const http_req *r, expect *e)
{
    int known = 0;
    memset(e, 0, sizeof(*e));
    e->status = 404;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char id[24] = "", key[64] = "";
        long long rid = -1;
        char rkey[64];
        int m = ref_match(routes[i].pattern, r->path, id, key);
        /* The router under test must agree on this pattern. */
        int got = route_match(routes[i].pattern, r->path, &rid, rkey, sizeof(rkey));
        if (got != m)
            fprintf(stderr, "route %s path [%s]: route_match %d, reference %d\n", routes[i].pattern,
                    r->path, got, m);
        FUZZ_CHECK(got == m);
        if (m && id[0]) {
            char buf[24];
            snprintf(buf, sizeof(buf), "%lld", rid);
            FUZZ_CHECK(strcmp(buf, id) == 0);
        }
        if (m && strchr(routes[i].pattern, '*'))
            FUZZ_CHECK(strcmp(rkey, key) == 0);
        if (!m || known == 2)
            continue;
        known = 1;
        if (routes[i].method != r->method)
            continue;
        known = 2;
        e->rt = &routes[i];
        strcpy(e->id, id);
        strcpy(e->key, key);
        e->has_key = strchr(routes[i].pattern, '*') != NULL;
    }
    if (!known)
        return;
    if (!e->rt) {
        e->status = 405;
        return;
    }
    if (e->has_key && !fuzz_utf8_valid(e->key, strlen(e->key))) {
        e->status = 400;
        return;
    }
    if ((e->rt->auth == AUTH_API_KEY && !r->api_key_ok) || (e->rt->auth == AUTH_USER && !r->uid)) {
        e->status = 401;
        return;
    }
    if (r->method != HTTP_GET && r->method != HTTP_DELETE && r->blen &&
        !body_is_object(r->body, r->blen)) {
        e->status = 400;
        return;
    }
    e->status = 0;
}

/* --- the SQL call ------------------------------------------------------------ */

static const http_req *cur_req;
static const expect *cur_expect;

int pgq_exec_sql(pgq_pool *p, const char *sql, int n, const char *const *params, pgq_cb *cb,
                 void *arg)
{
    const expect *e = cur_expect;
    const http_req *r = cur_req;
    char want[160];
    FUZZ_CHECK(e && e->rt && e->rt->fn && n == 5);
    snprintf(want, sizeof(want),
             "SELECT epos_api_%s($1, $2, $3, $4::jsonb, $5::jsonb)::text AS result", e->rt->fn);
    FUZZ_CHECK(strcmp(sql, want) == 0);
    FUZZ_CHECK((params[0] != NULL) == (r->uid != 0) && (params[1] != NULL) == (r->uid != 0));
    FUZZ_CHECK(e->id[0] ? params[2] && strcmp(params[2], e->id) == 0 : params[2] == NULL);
    for (int i = 0; i < n; i++)
        FUZZ_CHECK(!params[i] || fuzz_utf8_valid(params[i], strlen(params[i])));
    /* The arguments: an object of strings, with the path's key when the route has one. */
    json_t *args = json_loads(params[3], 0, NULL);
    FUZZ_CHECK(json_is_object(args));
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v) FUZZ_CHECK(json_is_string(v));
    if (e->has_key) {
        const char *got = json_string_value(json_object_get(args, "key"));
        FUZZ_CHECK(got && strcmp(got, e->key) == 0);
    }
    json_decref(args);
    if (r->method == HTTP_GET || r->method == HTTP_DELETE) {
        FUZZ_CHECK(params[4] == NULL);
    } else {
        json_t *b = json_loads(params[4], 0, NULL);
        FUZZ_CHECK(json_is_object(b));
        json_decref(b);
    }
    seen.calls++;
    seen.fn = e->rt->fn;
    seen.cb = cb;
    seen.arg = arg;
    return 0;
}

/* --- the request --------------------------------------------------------------- */

static int hexval(char c)
{
    return c >= '0' && c <= '9'                 ? c - '0'
           : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10
                                                : -1;
}

/* %XX decoding (and '+' as a space in the query), as lws does; -1 on %00. */
static int url_decode(const char *s, size_t n, char *out, size_t outlen, int plus)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n + 0 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        } else if (plus && c == '+') {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= outlen)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

static int method_of(const char *m)
{
    static const struct {
        const char *name;
        int method;
    } map[] = {{"GET", HTTP_GET},     {"POST", HTTP_POST},     {"PUT", HTTP_PUT},
               {"PATCH", HTTP_PATCH}, {"DELETE", HTTP_DELETE}, {"HEAD", HTTP_OTHER}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(m, map[i].name) == 0)
            return map[i].method;
    return -1;
}

/* The answer: a JSON document; an error is {"error":{"code","message"}}. */
static void check_answer(const http_req *r, int want_status)
{
    FUZZ_CHECK(r->answered && r->resp);
    if (want_status)
        FUZZ_CHECK(r->status == want_status);
    if (strcmp(r->ctype, "application/json") != 0)
        return;
    json_t *v = json_loadb(r->resp, r->rlen, 0, NULL);
    FUZZ_CHECK(v != NULL);
    if (r->status >= 400)
        FUZZ_CHECK(json_is_string(json_object_get(json_object_get(v, "error"), "code")));
    json_decref(v);
}

/* Input: a byte of flags (bit 0: the database answers), then a raw request:
 * "METHOD target HTTP/1.1\r\n", headers, "\r\n", body. */
static int fuzz_route_announces(const char *pattern)
{
    for (size_t i = 0; pattern && i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(routes[i].pattern, pattern) == 0)
            return routes[i].org_event != NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int db_ok = data[0] & 1;
    char *text = strndup((const char *)data + 1, size - 1);
    size_t tlen = size - 1; /* the body may hold NUL bytes; the head may not */
    char *head_end = memmem(data + 1, tlen, "\r\n\r\n", 4);
    size_t headlen = head_end ? (size_t)((const uint8_t *)head_end - (data + 1)) : tlen;
    http_req *r = calloc(1, sizeof(*r));
    char *line = NULL;
    FUZZ_CHECK(text && r);
    r->refs = 1;
    memset(&seen, 0, sizeof(seen));
    if (strlen(text) < headlen)
        goto out;
    text[headlen] = '\0';
    /* Request line. */
    char *sp1 = strchr(text, ' '), *eol = strstr(text, "\r\n");
    if (!sp1 || (eol && sp1 > eol))
        goto out;
    *sp1 = '\0';
    r->method = method_of(text);
    if (r->method < 0)
        goto out;
    char *target = sp1 + 1, *tend = strchr(target, ' ');
    if (!tend || (eol && tend > eol))
        goto out;
    *tend = '\0';
    char *q = strchr(target, '?');
    if (url_decode(target, q ? (size_t)(q - target) : strlen(target), r->path, sizeof(r->path), 0) <
            0 ||
        r->path[0] != '/')
        goto out;
    r->args = json_object();
    if (q) {
        char frag[512];
        int nfrag = 0;
        for (char *a = q + 1; a && nfrag < 32; nfrag++) {
            char *amp = strchr(a, '&');
            size_t n = amp ? (size_t)(amp - a) : strlen(a);
            if (url_decode(a, n, frag, sizeof(frag), 1) < 0)
                break;
            http_arg_add(r->args, frag);
            a = amp ? amp + 1 : NULL;
        }
        const char *k;
        json_t *v;
        json_object_foreach(r->args, k, v)
        {
            FUZZ_CHECK(fuzz_utf8_valid(k, strlen(k)) && json_is_string(v));
            FUZZ_CHECK(fuzz_utf8_valid(json_string_value(v), json_string_length(v)));
        }
    }
    /* Headers: only Authorization is ours (lws hands over one). */
    int authorized = 0;
    for (char *h = eol ? eol + 2 : NULL; h && *h;) {
        char *e = strstr(h, "\r\n");
        if (e)
            *e = '\0';
        if (strncasecmp(h, "Authorization:", 14) == 0 && !authorized++) {
            char *v = h + 14;
            while (*v == ' ')
                v++;
            if (strlen(v) < 512) {
                http_auth_header(r, v, FUZZ_NOW);
                long long u, s;
                int rc = -1;
                if (strncmp(v, "Bearer ", 7) == 0)
                    rc = auth_token_check(the_hub->cfg.token_secret, v + 7, FUZZ_NOW, &u, &s);
                if (strncmp(v, "Bearer ", 7) == 0)
                    FUZZ_CHECK(rc == 0 ? r->uid == u && r->sid == s && !r->token_bad
                                       : !r->uid && r->token_bad);
                if (r->api_key_ok)
                    FUZZ_CHECK(strcmp(v, "ApiKey fuzz-api-key") == 0);
            }
        }
        h = e ? e + 2 : NULL;
    }
    if (head_end) {
        size_t blen = tlen - headlen - 4;
        if (blen > HTTP_BODY_MAX)
            goto out;
        if (blen) {
            r->body = malloc(blen + 1);
            memcpy(r->body, head_end + 4, blen);
            r->body[blen] = '\0';
            r->blen = r->bcap = blen;
        }
    }
    if (strncmp(r->path, "/api/", 5) != 0) {
        health_handle(r);
        check_answer(r, 200);
        goto out;
    }
    expect e;
    predict(r, &e);
    cur_req = r;
    cur_expect = &e;
    routes_dispatch(r);
    if (e.status) {
        FUZZ_CHECK(seen.calls == 0);
        check_answer(r, e.status);
        goto out;
    }
    FUZZ_CHECK(seen.calls == 1);
    if (seen.cb) {
        FUZZ_CHECK(!r->answered); /* the answer waits for the database */
        seen.cb(db_ok ? FUZZ_RES_OK : NULL, seen.arg);
        check_answer(r, db_ok ? 201 : 503);
        /* The frame and the ephemeral of the result, and the org's event of
         * a route that announces one (a settings or calendar change). */
        FUZZ_CHECK(!db_ok || seen.publishes == 2 + fuzz_route_announces(r->route));
    } else {
        check_answer(r, 200);
    }
out:
    cur_req = NULL;
    cur_expect = NULL;
    http_req_unref(r);
    free(text);
    free(line);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    the_hub = &fuzz_hub;
    fuzz_hub.cfg.token_secret = "fuzz-secret";
    fuzz_hub.cfg.api_key = "fuzz-api-key";
    return 0;
}
