/* http.c -- the HTTP side of the hub: parse a request of /api, /healthz,
 * /readyz or /metrics, collect its bounded body, hand it to the router, and
 * write the answer (headers, then body) from the writeable callback. */
#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "epos/auth.h"
#include "epos/jsonx.h"
#include "epos/log.h"
#include "hub.h"

#define HTTP_BODY_MAX (64 * 1024)
#define HTTP_HEAD_MAX 2048 /* the answer's status line and headers */

typedef struct http_pss {
    http_req *r;
} http_pss;

void http_req_ref(http_req *r)
{
    r->refs++;
}

void http_req_unref(http_req *r)
{
    if (--r->refs)
        return;
    json_decref(r->args);
    free(r->body);
    free(r->resp);
    free(r);
}

static void http_send(http_req *r);

void http_reply(http_req *r, int status, const char *ctype, const char *body, size_t len)
{
    if (r->answered)
        return;
    r->answered = 1;
    r->status = status;
    r->ctype = ctype;
    r->resp = malloc(len + 1);
    if (r->resp) {
        memcpy(r->resp, body, len);
        r->rlen = len;
    }
    if (status >= 400)
        the_hub->stats.http_errors++;
    health_observe_http(r->method, r->route, (double)(uv_hrtime() - r->t0_ns) / 1e9);
    if (r->wsi)
        http_send(r);
}

void http_reply_json(http_req *r, int status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!text) {
        http_reply(r, 500, "application/json", "{}", 2);
        return;
    }
    http_reply(r, status, "application/json", text, strlen(text));
    free(text);
}

void http_reply_error(http_req *r, int status, const char *code, const char *message)
{
    http_reply_json(r, status,
                    json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

void http_reply_later(http_req *r, int status, const char *code, const char *message, unsigned secs)
{
    r->retry_after = secs;
    http_reply_error(r, status, code, message);
}

static int http_method_of(struct lws *wsi, char *path, size_t len)
{
    static const struct {
        enum lws_token_indexes tok;
        int method;
    } map[] = {
        {WSI_TOKEN_GET_URI, HTTP_GET},       {WSI_TOKEN_POST_URI, HTTP_POST},
        {WSI_TOKEN_PUT_URI, HTTP_PUT},       {WSI_TOKEN_PATCH_URI, HTTP_PATCH},
        {WSI_TOKEN_DELETE_URI, HTTP_DELETE}, {WSI_TOKEN_HEAD_URI, HTTP_OTHER},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (lws_hdr_total_length(wsi, map[i].tok) > 0) {
            if (lws_hdr_copy(wsi, path, (int)len, map[i].tok) < 0)
                return -1;
            return map[i].method;
        }
    return -1;
}

void http_arg_add(json_t *args, char *frag)
{
    char *eq = strchr(frag, '=');
    if (!eq)
        return;
    *eq = '\0';
    /* Invalid UTF-8 in the query: drop it; the handler sees it missing. */
    if (jsonx_utf8_valid(frag, strlen(frag)) && jsonx_utf8_valid(eq + 1, strlen(eq + 1)))
        json_object_set_new(args, frag, json_string(eq + 1));
}

/* The query string as {"name":"value"}; lws has already url-decoded it. */
static json_t *http_args(struct lws *wsi)
{
    json_t *o = json_object();
    char frag[512];
    for (int i = 0; o && i < 32; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n <= 0)
            break;
        http_arg_add(o, frag);
    }
    return o;
}

void http_auth_header(http_req *r, const char *hdr, long long now)
{
    long long uid, sid;
    if (strncmp(hdr, "Bearer ", 7) == 0) {
        int rc = auth_token_check(the_hub->cfg.token_secret, hdr + 7, now, &uid, &sid);
        if (rc == 0) {
            r->uid = uid;
            r->sid = sid;
        } else {
            r->token_bad = 1;
        }
    } else if (strncmp(hdr, "ApiKey ", 7) == 0) {
        const char *key = the_hub->cfg.api_key;
        r->api_key_ok = key[0] && strlen(hdr + 7) == strlen(key) &&
                        CRYPTO_memcmp(hdr + 7, key, strlen(key)) == 0;
    }
}

/* The largest body the request may carry: 64 KiB, but roster_max_body for
 * a roster sync that presents the API key (a region's registry sends
 * megabytes; nobody else may make the hub buffer them). */
static long http_body_max(const http_req *r)
{
    if (r->api_key_ok && strcmp(r->path, "/api/roster") == 0)
        return the_hub->cfg.roster_max_body;
    return HTTP_BODY_MAX;
}

static const char *http_too_large_message(const http_req *r)
{
    return http_body_max(r) == HTTP_BODY_MAX ? "Запрос больше 64 КиБ"
                                             : "Документ больше roster_max_body";
}

static void http_auth(struct lws *wsi, http_req *r)
{
    char hdr[512];
    if (lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) > 0)
        http_auth_header(r, hdr, (long long)time(NULL));
}

/* Pipelining. libwebsockets 4.1 parses the next request of a read while
 * this one is still being answered and runs it on this one's headers; it
 * also serves no POLLOUT to an h1 connection whose input is held. So the
 * input is held from the moment a request is complete, and the answer is
 * written at once when it is ready (http_send), not from the writeable
 * callback; the transaction is then complete and the input let go. */
static void http_hold(struct lws *wsi)
{
    lws_rx_flow_control(wsi, 0);
}

/* An /api request with its body: over a budget it is answered 429 here. */
static void http_dispatch(http_req *r)
{
    if (api_limit_admit(r))
        routes_dispatch(r);
}

static int http_begin(struct lws *wsi, http_pss *pss)
{
    http_req *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->wsi = wsi;
    r->refs = 1;
    pss->r = r;
    r->t0_ns = uv_hrtime();
    the_hub->stats.http_requests++;
    r->method = http_method_of(wsi, r->path, sizeof(r->path));
    char *q = strchr(r->path, '?');
    if (q)
        *q = '\0';
    r->args = http_args(wsi);
    lws_get_peer_simple(wsi, r->peer, sizeof(r->peer));
    http_auth(wsi, r);
    if (strncmp(r->path, "/api/", 5) != 0) {
        http_hold(wsi);
        health_handle(r);
        return 0;
    }
    if (r->method == HTTP_POST || r->method == HTTP_PUT || r->method == HTTP_PATCH) {
        char cl[24];
        long len = 0;
        /* A body is framed by Content-Length only: no chunked reading. */
        if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
            http_hold(wsi);
            http_reply_error(r, 411, "length_required", "Нужен заголовок Content-Length");
            return 0;
        }
        len = strtol(cl, NULL, 10);
        if (len > http_body_max(r)) {
            http_reply_error(r, 413, "too_large", http_too_large_message(r));
            return 0;
        }
        if (len > 0)
            return 0; /* the body follows in LWS_CALLBACK_HTTP_BODY */
    }
    http_hold(wsi);
    http_dispatch(r);
    return 0;
}

static void http_body(http_req *r, const char *in, size_t len)
{
    if (r->answered || r->too_large || !len)
        return;
    if (r->blen + len > (size_t)http_body_max(r)) {
        r->too_large = 1;
        http_reply_error(r, 413, "too_large", http_too_large_message(r));
        return;
    }
    if (r->blen + len + 1 > r->bcap) {
        size_t cap = r->bcap ? r->bcap * 2 : 1024;
        while (cap < r->blen + len + 1)
            cap *= 2;
        char *n = realloc(r->body, cap);
        if (!n) {
            http_reply_error(r, 500, "internal", "Нехватка памяти");
            return;
        }
        r->body = n;
        r->bcap = cap;
    }
    memcpy(r->body + r->blen, in, len);
    r->blen += len;
    r->body[r->blen] = '\0';
}

static int http_retry_header(http_req *r, unsigned char **p, unsigned char *end)
{
    char secs[16];
    if (!r->retry_after)
        return 0;
    int n = snprintf(secs, sizeof(secs), "%u", r->retry_after);
    return lws_add_http_header_by_name(
        r->wsi, (const unsigned char *)"retry-after:", (const unsigned char *)secs, n, p, end);
}

/* Headers and body in one write: a second small write would wait for the
 * client's delayed ACK of the first. The connection is killed (after this
 * call returns) when the write fails or the client asked to close. */
static void http_send(http_req *r)
{
    struct lws *wsi = r->wsi;
    size_t cap = LWS_PRE + HTTP_HEAD_MAX + r->rlen;
    unsigned char *buf = malloc(cap), *start, *p, *end;
    if (!buf || r->sent)
        goto out;
    start = p = buf + LWS_PRE;
    end = start + HTTP_HEAD_MAX - 1;
    r->sent = 1;
    if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->ctype, r->rlen, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) ||
        http_retry_header(r, &p, end) || lws_finalize_http_header(wsi, &p, end))
        goto kill;
    memcpy(p, r->resp, r->rlen);
    p += r->rlen;
    size_t len = (size_t)(p - start);
    if (lws_write(wsi, start, len, LWS_WRITE_HTTP_FINAL) < (int)len)
        goto kill;
    /* A partial write is finished by libwebsockets on POLLOUT, which it only
     * serves with the input let go; a request pipelined behind it would then
     * be misparsed, so http_begin hangs up on it (clients retry). */
    if (lws_http_transaction_completed(wsi))
        goto kill;
    lws_rx_flow_control(wsi, 1);
    goto out;
kill:
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
out:
    free(buf);
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    http_pss *pss = user;
    switch (reason) {
    /* A WebSocket upgrade without the epos.v1 subprotocol binds to this
     * protocol: refuse it, or it would sit unauthenticated for ever. */
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    case LWS_CALLBACK_ESTABLISHED:
        return -1;
    case LWS_CALLBACK_HTTP:
        /* Each transaction has fresh per-session data: a request here
         * already is libwebsockets parsing a request pipelined behind a
         * partial write (see http_send). Hang up; clients retry. */
        if (pss->r)
            return -1;
        return http_begin(wsi, pss);
    case LWS_CALLBACK_HTTP_BODY:
        if (pss->r)
            http_body(pss->r, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        http_hold(wsi);
        /* A GET or DELETE was dispatched at once; a body it carried changes nothing. */
        if (pss->r && !pss->r->dispatched && !pss->r->answered)
            http_dispatch(pss->r);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return 0;                  /* answers are written by http_send */
    case LWS_CALLBACK_WSI_DESTROY: /* every connection's last word (protocols[0]) */
        http_guard_forget(wsi);
        return 0;
    /* A mount binds this protocol per request and drops it (freeing the
     * per-session data) when the transaction ends or the client goes. */
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss && pss->r) {
            pss->r->wsi = NULL;
            http_req_unref(pss->r);
            pss->r = NULL;
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

const struct lws_protocols http_protocol = {
    .name = "epos-http",
    .callback = http_callback,
    .per_session_data_size = sizeof(http_pss),
    .rx_buffer_size = 0,
};
