/* ws.c -- the epos.v1 WebSocket protocol: session lifecycle, frame reassembly
 * and limits, the op dispatcher, and the one write per writeable callback. */
#include <stdlib.h>
#include <string.h>

#include "epos/jsonx.h"
#include "epos/log.h"
#include "fanout.h"
#include "handlers.h"
#include "hub.h"

#define WS_WRITE_MAX (256 * 1024) /* bytes joined into one outgoing frame */
#define WS_STRIKES_MAX 5          /* rate-limit violations before we hang up */
#define WS_CLOSE_WAIT_S 3         /* for the client's close after ours */

/* Per-connection data libwebsockets allocates: only a pointer, so a session
 * can outlive its connection while async replies for it are in flight. */
typedef struct ws_pss {
    session *s;
} ws_pss;

static uint32_t ws_next_id;
static session *pend_head, *pend_tail; /* awaiting auth, oldest first */
static session *all_head;              /* every open session, for shutdown */

static void pend_add(session *s)
{
    s->pend_prev = pend_tail;
    s->pend_next = NULL;
    if (pend_tail)
        pend_tail->pend_next = s;
    else
        pend_head = s;
    pend_tail = s;
}

static void pend_del(session *s)
{
    if (s->pend_prev)
        s->pend_prev->pend_next = s->pend_next;
    else if (pend_head == s)
        pend_head = s->pend_next;
    else
        return; /* not in the list */
    if (s->pend_next)
        s->pend_next->pend_prev = s->pend_prev;
    else
        pend_tail = s->pend_prev;
    s->pend_prev = s->pend_next = NULL;
}

/* Shutdown: tell every client we are going away (1001) so it reconnects to
 * another hub at once instead of waiting for a timeout. */
void ws_close_all(uint16_t code)
{
    for (session *s = all_head; s; s = s->all_next)
        session_close(s, code);
}

/* Called once a second: close connections that did not authenticate in time. */
void ws_tick(hub *h)
{
    uint64_t now = hub_now_ms();
    while (pend_head && pend_head->auth_deadline <= now) {
        session *s = pend_head;
        pend_del(s);
        if (s->state == SESS_AWAIT_AUTH) {
            log_info("conn=%u no auth within %d ms, closing", s->id, h->cfg.auth_timeout_ms);
            session_close(s, 4401);
        }
    }
}

/* Browsers send Origin: accept the hub's own host or a configured origin. */
static int ws_origin_ok(struct lws *wsi)
{
    char origin[256], host[256];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return 1; /* not a browser */
    /* An Origin too long to copy matches nothing we allow: refuse it. */
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
        return 0;
    const char *list = the_hub->cfg.allowed_origins;
    size_t ol = strlen(origin);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == ol && strncmp(p, origin, n) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
        return 0;
    const char *o = strstr(origin, "://");
    return o && strcmp(o + 3, host) == 0;
}

static int ws_filter(struct lws *wsi)
{
    char uri[64];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/ws") != 0)
        return -1;
    if (!ws_origin_ok(wsi)) {
        log_warn("ws upgrade refused: origin not allowed");
        return -1;
    }
    return 0;
}

static void ws_established(struct lws *wsi, ws_pss *pss)
{
    session *s = calloc(1, sizeof(*s));
    if (!s)
        return;
    s->wsi = wsi;
    s->refs = 1;
    s->id = ++ws_next_id;
    s->state = SESS_AWAIT_AUTH;
    s->auth_deadline = hub_now_ms() + (uint64_t)the_hub->cfg.auth_timeout_ms;
    s->tokens = (float)the_hub->cfg.rate_burst;
    s->tokens_ms = hub_now_ms();
    pss->s = s;
    ws_mask_watch(lws_get_socket_fd(wsi), s);
    pend_add(s);
    s->all_next = all_head;
    if (all_head)
        all_head->all_prev = s;
    all_head = s;
    the_hub->ws_live++;
    the_hub->stats.ws_accepted++;
}

static void ws_closed(struct lws *wsi, ws_pss *pss)
{
    session *s = pss->s;
    if (!s)
        return;
    ws_mask_forget(lws_get_socket_fd(wsi));
    pss->s = NULL;
    pend_del(s);
    if (s->all_prev)
        s->all_prev->all_next = s->all_next;
    else
        all_head = s->all_next;
    if (s->all_next)
        s->all_next->all_prev = s->all_prev;
    int indexed = s->uid && s->state != SESS_AWAIT_AUTH;
    /* Gone before anything below could try to write to it. */
    s->wsi = NULL;
    s->state = SESS_CLOSING;
    if (indexed)
        fanout_user_del(the_hub->fan, s);
    fanout_unsubscribe_all(the_hub->fan, s);
    the_hub->ws_live--;
    the_hub->stats.ws_closed++;
    session_unref(s);
}

/* Token bucket per connection; returns 0 when the frame may proceed. */
static int ws_rate_take(session *s)
{
    uint64_t now = hub_now_ms();
    const epos_config *c = &the_hub->cfg;
    s->tokens += (float)(now - s->tokens_ms) * (float)c->rate_per_sec / 1000.0f;
    if (s->tokens > (float)c->rate_burst)
        s->tokens = (float)c->rate_burst;
    s->tokens_ms = now;
    if (s->tokens < 1.0f)
        return -1;
    s->tokens -= 1.0f;
    return 0;
}

static void ws_dispatch(session *s, json_t *req)
{
    const char *op = NULL;
    if (jsonx_str(req, "op", &op) != 0) {
        session_error(s, req, "bad_request", "Нет поля op или оно не строка");
        return;
    }
    if (s->state == SESS_AWAIT_AUTH) {
        if (strcmp(op, "auth") == 0) {
            pend_del(s);
            handle_auth(s, req);
        } else {
            session_close(s, 4401);
        }
        return;
    }
    if (s->state != SESS_LIVE) {
        session_error(s, req, "bad_request", "Дождитесь ответа на auth");
        return;
    }
    if (strcmp(op, "send") == 0)
        handle_send(s, req);
    else if (strcmp(op, "read") == 0)
        handle_read(s, req);
    else if (strcmp(op, "typing") == 0)
        handle_typing(s, req);
    else if (strcmp(op, "ping") == 0)
        session_send_text(s, "{\"op\":\"pong\"}", 13);
    else if (strcmp(op, "auth") == 0)
        session_error(s, req, "bad_request", "Уже авторизованы");
    else
        session_error(s, req, "unknown_op", "Неизвестная операция");
}

static void ws_message(session *s, const char *buf, size_t len)
{
    char err[160];
    the_hub->stats.frames_in++;
    if (ws_rate_take(s) != 0) {
        the_hub->stats.rate_limited++;
        if (++s->strikes >= WS_STRIKES_MAX) {
            log_warn("conn=%u user=%lld rate limit exceeded repeatedly, closing", s->id,
                     (long long)s->uid);
            session_close(s, 1008);
        } else {
            session_error(s, NULL, "rate_limited", "Слишком часто, подождите немного");
        }
        return;
    }
    if (!jsonx_utf8_valid(buf, len)) { /* RFC 6455 §8.1: fail the connection */
        log_info("conn=%u text frame not UTF-8, closing", s->id);
        session_close(s, 1007);
        return;
    }
    json_t *req = jsonx_parse_object(buf, len, err, sizeof(err));
    if (!req) {
        session_error(s, NULL, "bad_request", err);
        return;
    }
    ws_dispatch(s, req);
    json_decref(req);
}

/* Collect fragments into one message, bounded by max_frame. */
static int ws_receive(struct lws *wsi, session *s, const char *in, size_t len)
{
    if (lws_frame_is_binary(wsi)) {
        session_error(s, NULL, "bad_request", "Ожидаются текстовые кадры JSON");
        return 0;
    }
    size_t max = (size_t)the_hub->cfg.max_frame;
    int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (final && !s->rxlen) {
        ws_message(s, in, len);
        return 0;
    }
    if (s->rxlen + len > max) {
        log_warn("conn=%u frame over %zu bytes, closing", s->id, max);
        session_close(s, 1009);
        s->rxlen = 0;
        return 0;
    }
    if (s->rxlen + len > s->rxcap) {
        uint32_t cap = (uint32_t)(s->rxlen + len);
        char *n = realloc(s->rx, cap);
        if (!n)
            return -1;
        s->rx = n;
        s->rxcap = cap;
    }
    memcpy(s->rx + s->rxlen, in, len);
    s->rxlen += (uint32_t)len;
    if (final) {
        ws_message(s, s->rx, s->rxlen);
        free(s->rx);
        s->rx = NULL;
        s->rxlen = s->rxcap = 0;
    }
    return 0;
}

/* libwebsockets 4.1 on libuv drops the connection without the close frame
 * when a callback returns -1 after lws_close_reason(), so the client would
 * see 1006 instead of our code. Write the close frame ourselves and wait for
 * the client's close (libwebsockets answers it and hangs up); hanging up at
 * once would reset the connection over unread input and lose the frame. */
static int ws_write_close(struct lws *wsi, session *s)
{
    unsigned char buf[LWS_PRE + 4];
    if (s->close_sent)
        return 0;
    buf[LWS_PRE] = 0x88; /* FIN + close */
    buf[LWS_PRE + 1] = 2;
    buf[LWS_PRE + 2] = (unsigned char)(s->close_code >> 8);
    buf[LWS_PRE + 3] = (unsigned char)(s->close_code & 0xff);
    s->close_sent = 1;
    if (lws_write(wsi, buf + LWS_PRE, 4, LWS_WRITE_RAW) < 4)
        return -1;
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, WS_CLOSE_WAIT_S);
    return 0;
}

/* Join the queued frames, newline-separated, into one WebSocket message. */
static int ws_writeable(struct lws *wsi, session *s)
{
    static unsigned char *buf;
    static size_t bufcap;
    /* An error queued just before the close (why the server hangs up) goes
     * first; a slow consumer's or an oversized frame's backlog does not. */
    if (s->close_code && (!s->qhead || s->close_code == 1008 || s->close_code == 1009))
        return ws_write_close(wsi, s);
    size_t total = 0;
    qnode *n = s->qhead;
    for (; n && (total == 0 || total + n->f->len + 1 <= WS_WRITE_MAX); n = n->next)
        total += n->f->len + 1;
    if (!total)
        return 0;
    if (LWS_PRE + total > bufcap) {
        unsigned char *nb = realloc(buf, LWS_PRE + total);
        if (!nb)
            return -1;
        buf = nb;
        bufcap = LWS_PRE + total;
    }
    unsigned char *p = buf + LWS_PRE;
    while (s->qhead != n) {
        qnode *q = s->qhead;
        if (p != buf + LWS_PRE)
            *p++ = '\n';
        memcpy(p, q->f->data, q->f->len);
        p += q->f->len;
        s->qbytes -= q->f->len;
        s->qhead = q->next;
        frame_unref(q->f);
        free(q);
    }
    if (!s->qhead)
        s->qtail = NULL;
    size_t len = (size_t)(p - (buf + LWS_PRE));
    s->wrote_ms = uv_now(the_hub->loop);
    s->wlen = (uint32_t)len;
    if (lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
        return -1;
    the_hub->stats.frames_out++;
    if (s->qhead || s->close_code)
        lws_callback_on_writable(wsi);
    /* Free the join buffer when it grew for a rare large batch. */
    if (bufcap > 4 * WS_WRITE_MAX) {
        free(buf);
        buf = NULL;
        bufcap = 0;
    }
    return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    ws_pss *pss = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return ws_filter(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        if (the_hub->stopping)
            return -1;
        ws_established(wsi, pss);
        return pss->s ? 0 : -1;
    case LWS_CALLBACK_RECEIVE:
        if (!pss->s || pss->s->state == SESS_CLOSING)
            return 0;
        return ws_receive(wsi, pss->s, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pss->s)
            return -1;
        return ws_writeable(wsi, pss->s);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* Our close frame went out raw (ws_write_close), so libwebsockets
         * takes the client's answer for a close of its own and would echo
         * it: a second close frame, which Chromium fails as "Close received
         * after close" (1006, not our code). Nonzero: hang up, no echo. */
        return pss->s && pss->s->close_sent ? -1 : 0;
    case LWS_CALLBACK_CLOSED:
        ws_closed(wsi, pss);
        return 0;
    default:
        return 0;
    }
}

const struct lws_protocols ws_protocol = {
    .name = "epos.v1",
    .callback = ws_callback,
    .per_session_data_size = sizeof(ws_pss),
    /* Small: idle connections must stay cheap; larger messages arrive in
     * fragments that ws_receive joins up to max_frame. */
    .rx_buffer_size = 256,
    .tx_packet_size = WS_WRITE_MAX + 64,
};
