/* http.h -- one HTTP request of the API: parsed, answered asynchronously. */
#ifndef EPOS_HTTP_H
#define EPOS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <uv.h>

struct lws;

enum http_method { HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_OTHER };

typedef struct http_req {
    struct lws *wsi; /* NULL once the client has gone */
    uint32_t refs;
    int method;
    char path[256];
    json_t *args; /* query string as an object of strings */
    char *body;
    size_t blen, bcap;
    int too_large;
    int64_t uid, sid; /* from a valid bearer token, else 0 */
    int token_bad;    /* a token was given but is invalid or expired */
    int api_key_ok;   /* "Authorization: ApiKey <key>" matched */
    char peer[64];
    const char *route;    /* the matched route pattern (static), NULL: none */
    unsigned retry_after; /* seconds for a Retry-After header of the answer, 0: none */
    uint64_t t0_ns;       /* uv_hrtime() at the request's head */
    /* the response */
    int status;
    const char *ctype;
    char *resp;
    size_t rlen;
    uint8_t dispatched, answered, sent;
} http_req;

void http_req_ref(http_req *r);
void http_req_unref(http_req *r);

/* Answer with status and body (copied). Safe after the client left. */
void http_reply(http_req *r, int status, const char *ctype, const char *body, size_t len);
/* Answer with a JSON value; its reference is stolen. */
void http_reply_json(http_req *r, int status, json_t *v);
/* Answer a failed query with the status and error its SQLSTATE maps to. */
void http_reply_pg_error(http_req *r, const PGresult *res);
/* {"error":{"code","message"}} */
void http_reply_error(http_req *r, int status, const char *code, const char *message);
/* The same with "Retry-After: secs" (429, 503, or a failed login's delay). */
void http_reply_later(http_req *r, int status, const char *code, const char *message,
                      unsigned secs);

/* One "name=value" fragment of the query string (url-decoded) into args;
 * frag is changed. Without '=' or with invalid UTF-8 it is dropped. */
void http_arg_add(json_t *args, char *frag);
/* The Authorization header: "Bearer <token>" sets uid and sid when the token
 * is valid at now, else token_bad; "ApiKey <key>" sets api_key_ok. */
void http_auth_header(http_req *r, const char *hdr, long long now);

/* api_limit.c: take one request of r's budgets (its address, its user, or
 * the API key); 1: go on, 0: answered 429 with Retry-After. api_limit_sweep
 * forgets idle buckets (every tick); api_limit_free at shutdown. */
int api_limit_admit(http_req *r);
void api_limit_sweep(void);
void api_limit_free(void);
/* routes.c: find and run the handler; answers 404/405 itself. */
void routes_dispatch(http_req *r);
/* health.c: /healthz, /readyz, /metrics. */
void health_handle(http_req *r);
/* health.c: time one answered request under its method and route (static
 * text; NULL counts as "unmatched"). */
void health_observe_http(int method, const char *route, double secs);
/* api_login.c. The yescrypt work of login, password change and set-password
 * links goes through hub_hash_queue (at most 64 at once; -1: answer 503), and its
 * after-callback calls hub_hash_done first. */
int hub_hash_queue(uv_work_t *w, uv_work_cb work, uv_after_work_cb after);
void hub_hash_done(void);
void api_login(http_req *r, json_t *body);
void api_password(http_req *r, json_t *body);
/* api_credentials.c: POST /api/password/set {token,password} -> {token,user};
 * 404/409 for a dead link (nothing hashed), 400 for a bad password. */
void api_password_link(http_req *r, json_t *body);

#endif
