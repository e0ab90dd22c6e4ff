/* routes.c -- the /api route table and the generic route: one call of an
 * epos_api_* SQL function that checks, writes and returns what to publish. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/jsonx.h"
#include "epos/log.h"
#include "fanout.h"
#include "handlers.h"
#include "http.h"
#include "hub.h"

enum route_auth { AUTH_USER, AUTH_NONE, AUTH_API_KEY };

typedef struct route {
    int method;
    const char *pattern; /* '#' stands for one numeric path segment */
    const char *fn;      /* epos_api_<fn> */
    void (*handler)(http_req *r, json_t *body, long long id); /* a C handler instead */
    int auth;
    const char *org_event; /* on success, an ephemeral event of this type on org:<id> */
} route;

static void route_login(http_req *r, json_t *body, long long id)
{
    api_login(r, body);
}

static void route_password(http_req *r, json_t *body, long long id)
{
    api_password(r, body);
}

static void route_password_link(http_req *r, json_t *body, long long id)
{
    api_password_link(r, body);
}

static const route routes[] = {
    {HTTP_POST, "/api/login", NULL, route_login, AUTH_NONE, NULL},
    {HTTP_POST, "/api/password", NULL, route_password, AUTH_USER, NULL},
    {HTTP_POST, "/api/password/set", NULL, route_password_link, AUTH_NONE, NULL},
    {HTTP_POST, "/api/logout", "logout", NULL, AUTH_USER, NULL},
    {HTTP_GET, "/api/me", "me", NULL, AUTH_USER, NULL},
    {HTTP_GET, "/api/contacts", "contacts", NULL, AUTH_USER, NULL},
    {HTTP_GET, "/api/chats", "chats_list", NULL, AUTH_USER, NULL},
    {HTTP_POST, "/api/chats", "chats_create", NULL, AUTH_USER, NULL},
    {HTTP_POST, "/api/chats/#/members", "chats_members", NULL, AUTH_USER, NULL},
    {HTTP_GET, "/api/chats/#/messages", "chats_messages", NULL, AUTH_USER, NULL},
    {HTTP_POST, "/api/chats/#/messages", "chats_send", NULL, AUTH_USER, NULL},
    {HTTP_POST, "/api/chats/#/read", "chats_read", NULL, AUTH_USER, NULL},
    {HTTP_GET, "/api/feed", "feed", NULL, AUTH_USER, NULL},
    {HTTP_POST, "/api/news", "news_create", NULL, AUTH_USER, NULL},
    {HTTP_POST, "/api/events", "events_create", NULL, AUTH_USER, NULL},
    {HTTP_POST, "/api/news/#/ack", "news_ack", NULL, AUTH_USER, NULL},
    {HTTP_GET, "/api/news/#/acks", "news_acks", NULL, AUTH_USER, NULL},
    {HTTP_POST, "/api/absences", "absences_create", NULL, AUTH_USER, NULL},
    {HTTP_DELETE, "/api/absences/#", "absences_withdraw", NULL, AUTH_USER, NULL},
    {HTTP_GET, "/api/absences", "absences_list", NULL, AUTH_USER, NULL},
    {HTTP_GET, "/api/timesheet", "timesheet_get", NULL, AUTH_USER, NULL},
    {HTTP_PUT, "/api/timesheet", "timesheet_put", NULL, AUTH_USER, NULL},
    {HTTP_GET, "/api/timesheet/summary", "timesheet_summary", NULL, AUTH_USER, NULL},
    {HTTP_PATCH, "/api/orgs/#", "org_update", NULL, AUTH_USER, "org.settings"},
    {HTTP_GET, "/api/orgs/#/calendar", "org_calendar_get", NULL, AUTH_USER, NULL},
    {HTTP_PUT, "/api/orgs/#/calendar/*", "org_calendar_put", NULL, AUTH_USER, "org.calendar"},
    {HTTP_GET, "/api/orgs/#/staff", "org_staff", NULL, AUTH_USER, NULL},
    {HTTP_GET, "/api/orgs/#/roster", "org_roster", NULL, AUTH_USER, NULL},
    {HTTP_PUT, "/api/groups/#/teachers", "group_teachers", NULL, AUTH_USER, NULL},
    {HTTP_POST, "/api/staff/#/credentials", "staff_credentials", NULL, AUTH_USER, NULL},
    {HTTP_POST, "/api/publish", "publish", NULL, AUTH_API_KEY, NULL},
    {HTTP_POST, "/api/roster", "roster", NULL, AUTH_API_KEY, NULL},
};

/* Match path against pattern; '#' takes digits into *id, '*' one segment
 * into the args as "key". Returns 1 on a match. */
static int route_match(const char *pattern, const char *path, long long *id, char *key,
                       size_t keylen)
{
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '#') {
            if (*s < '0' || *s > '9')
                return 0;
            char *end;
            errno = 0;
            *id = strtoll(s, &end, 10);
            if (errno == ERANGE) /* no such id: not LLONG_MAX */
                return 0;
            s = end;
            p++;
        } else if (*p == '*') {
            size_t n = strcspn(s, "/");
            if (n == 0 || n >= keylen)
                return 0;
            memcpy(key, s, n);
            key[n] = '\0';
            s += n;
            p++;
        } else if (*p++ != *s++) {
            return 0;
        }
    }
    return *p == '\0' && (*s == '\0' || (*s == '/' && s[1] == '\0'));
}

/* Publish what the function appended, after its commit; then answer. */
static void api_publish_result(json_t *out)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(out, "frames"), i, item)
    {
        const char *topic = json_string_value(json_object_get(item, "topic"));
        const char *frame = json_string_value(json_object_get(item, "frame"));
        if (topic && frame)
            fanout_publish_frame(the_hub->fan, topic, frame, strlen(frame));
    }
    json_array_foreach(json_object_get(out, "ephemeral"), i, item)
    {
        const char *topic = json_string_value(json_object_get(item, "topic"));
        const char *frame = json_string_value(json_object_get(item, "frame"));
        if (topic && frame)
            fanout_publish(the_hub->fan, topic, -1, frame, strlen(frame));
    }
    json_array_foreach(json_object_get(out, "refresh"), i, item)
    {
        if (json_is_integer(item))
            fanout_refresh_user(the_hub->fan, json_integer_value(item));
    }
}

/* Tell the org's open screens that its settings or calendar changed (the
 * deadline, a day off): an ephemeral event carrying the new state, without
 * the fields that describe the caller (roles). */
static void api_org_event(const char *type, long long org, json_t *body)
{
    char topic[48];
    snprintf(topic, sizeof(topic), "org:%lld", org);
    json_t *data = json_deep_copy(body);
    json_object_del(data, "roles");
    json_object_set_new(data, "org_id", json_integer(org));
    json_t *ev = json_pack("{s:s, s:s, s:s, s:o}", "op", "event", "topic", topic, "type", type,
                           "data", data);
    char *text = ev ? jsonx_dump(ev) : NULL;
    if (text)
        fanout_publish(the_hub->fan, topic, -1, text, strlen(text));
    free(text);
    json_decref(ev);
}

typedef struct api_call {
    http_req *r;
    const route *rt;
    long long id;
} api_call;

static void api_done(PGresult *res, void *arg)
{
    api_call *c = arg;
    http_req *r = c->r;
    if (!pgq_ok(res)) {
        http_reply_pg_error(r, res);
        goto out;
    }
    json_error_t je;
    const char *text = pgq_get(res, 0, "result");
    json_t *out = text ? json_loads(text, 0, &je) : NULL;
    if (!json_is_object(out)) {
        log_error("%s: API function returned no object", r->path);
        http_reply_error(r, 500, "internal", "Внутренняя ошибка");
        json_decref(out);
        goto out;
    }
    api_publish_result(out);
    json_int_t status = json_integer_value(json_object_get(out, "status"));
    json_t *body = json_object_get(out, "body");
    if (c->rt->org_event && (!status || (status >= 200 && status < 300)) && json_is_object(body))
        api_org_event(c->rt->org_event, c->id, body);
    http_reply_json(r, status ? (int)status : 200, json_incref(body ? body : json_object()));
    json_decref(out);
out:
    http_req_unref(r);
    free(c);
}

static void api_call_sql(http_req *r, const route *rt, long long id, json_t *body)
{
    char sql[160], uid[24], sid[24], idbuf[24];
    snprintf(sql, sizeof(sql),
             "SELECT epos_api_%s($1, $2, $3, $4::jsonb, $5::jsonb)::text AS result", rt->fn);
    snprintf(uid, sizeof(uid), "%" PRId64, r->uid);
    snprintf(sid, sizeof(sid), "%" PRId64, r->sid);
    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    char *args = jsonx_dump(r->args);
    char *btext = body ? jsonx_dump(body) : NULL;
    const char *params[5] = {r->uid ? uid : NULL, r->uid ? sid : NULL, id >= 0 ? idbuf : NULL, args,
                             btext};
    api_call *c = malloc(sizeof(*c));
    if (!c) {
        http_reply_error(r, 500, "internal", "Нехватка памяти");
        goto out;
    }
    *c = (api_call){r, rt, id};
    http_req_ref(r);
    if (pgq_exec_sql(the_hub->pg, sql, 5, params, api_done, c) != 0) {
        http_reply_error(r, 503, "unavailable", "База данных недоступна, повторите позже");
        http_req_unref(r);
        free(c);
    }
out:
    free(args);
    free(btext);
}

/* Parse the body as a JSON object; answers 400 and returns -1 when it is not. */
static int route_body(http_req *r, json_t **body)
{
    char err[160];
    *body = NULL;
    if (r->method == HTTP_GET || r->method == HTTP_DELETE)
        return 0;
    if (!r->blen) {
        *body = json_object();
        return 0;
    }
    if (!jsonx_utf8_valid(r->body, r->blen)) {
        http_reply_error(r, 400, "bad_request", "Тело запроса не в кодировке UTF-8");
        return -1;
    }
    *body = jsonx_parse_object(r->body, r->blen, err, sizeof(err));
    if (!*body) {
        http_reply_error(r, 400, "bad_request", err);
        return -1;
    }
    return 0;
}

static int route_authorized(http_req *r, const route *rt)
{
    if (rt->auth == AUTH_API_KEY && !r->api_key_ok) {
        http_reply_error(r, 401, "unauthorized", "Нужен действительный API-ключ");
        return 0;
    }
    if (rt->auth == AUTH_USER && !r->uid) {
        http_reply_error(r, 401, "unauthorized",
                         r->token_bad ? "Сеанс истёк, войдите снова" : "Требуется вход");
        return 0;
    }
    return 1;
}

void routes_dispatch(http_req *r)
{
    r->dispatched = 1;
    const route *hit = NULL;
    int path_known = 0;
    long long id = -1;
    char key[64];
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        long long rid = -1;
        if (!route_match(routes[i].pattern, r->path, &rid, key, sizeof(key)))
            continue;
        path_known = 1;
        if (routes[i].method == r->method) {
            hit = &routes[i];
            r->route = hit->pattern;
            id = rid;
            break;
        }
    }
    if (!hit) {
        if (path_known)
            http_reply_error(r, 405, "bad_request", "Метод не поддерживается");
        else
            http_reply_error(r, 404, "not_found", "Нет такого адреса");
        return;
    }
    if (strchr(hit->pattern, '*')) {
        /* A key JSON cannot carry would reach the function as no key at all. */
        if (!jsonx_utf8_valid(key, strlen(key))) {
            http_reply_error(r, 400, "bad_request", "Адрес не в кодировке UTF-8");
            return;
        }
        json_object_set_new(r->args, "key", json_string(key));
    }
    json_t *body;
    if (!route_authorized(r, hit) || route_body(r, &body) != 0)
        return;
    if (hit->handler)
        hit->handler(r, body, id);
    else
        api_call_sql(r, hit, id, body);
    json_decref(body);
}
