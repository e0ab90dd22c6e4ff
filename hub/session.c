/* session.c -- shared frames and a session's bounded, coalescing send queue. */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "epos/jsonx.h"
#include "epos/log.h"
#include "hub.h"
#include "fanout.h"

frame *frame_new(const char *data, size_t len)
{
    frame *f = malloc(sizeof(*f) + len);
    if (!f)
        return NULL;
    f->refs = 1;
    f->len = (uint32_t)len;
    memcpy(f->data, data, len);
    return f;
}

void frame_unref(frame *f)
{
    if (f && --f->refs == 0)
        free(f);
}

void session_ref(session *s)
{
    s->refs++;
}

void session_unref(session *s)
{
    if (--s->refs)
        return;
    qnode *n = s->qhead;
    while (n) {
        qnode *next = n->next;
        frame_unref(n->f);
        free(n);
        n = next;
    }
    free(s->subs);
    free(s->rx);
    free(s);
}

void session_close(session *s, uint16_t code)
{
    if (!s->wsi || s->close_code)
        return;
    s->close_code = code;
    s->state = SESS_CLOSING;
    lws_callback_on_writable(s->wsi);
}

/* A frame for a connection with nothing queued and nothing written this
 * loop turn goes out at once: one send(2), where the writeable round trip
 * costs two epoll_ctl(2) and a wake-up per connection, which is what a
 * broadcast to thousands pays. A second frame in the same turn queues, and
 * the queue leaves as one message from the writeable callback, so bursts
 * still coalesce. libwebsockets keeps whatever the socket did not take and
 * flushes it before our next writeable callback. Returns 0 when written. */
static int session_write_now(session *s, frame *f)
{
    uint64_t now = uv_now(the_hub->loop);
    if (s->qhead || s->wrote_ms == now || lws_partial_buffered(s->wsi))
        return -1;
    s->wrote_ms = now;
    s->wlen = f->len;
    if (lws_write(s->wsi, (unsigned char *)f->data, f->len, LWS_WRITE_TEXT) < (int)f->len) {
        session_close(s, 1011);
        return 0;
    }
    the_hub->stats.frames_out++;
    return 0;
}

void session_send(session *s, frame *f)
{
    if (!s->wsi || s->state == SESS_CLOSING)
        return;
    /* A consumer this far behind is closed, never buffered without bound;
     * what libwebsockets still holds of the last write counts too. */
    uint32_t held = lws_partial_buffered(s->wsi) ? s->wlen : 0;
    if (s->qbytes + held + f->len > (uint32_t)the_hub->cfg.send_queue_max) {
        log_warn("conn=%u user=%lld slow consumer: %u bytes queued, closing", s->id,
                 (long long)s->uid, s->qbytes);
        the_hub->stats.slow_closed++;
        session_close(s, 1008);
        return;
    }
    if (session_write_now(s, f) == 0)
        return;
    qnode *n = malloc(sizeof(*n));
    if (!n)
        return;
    n->next = NULL;
    n->f = frame_ref(f);
    if (s->qtail)
        s->qtail->next = n;
    else
        s->qhead = n;
    s->qtail = n;
    s->qbytes += f->len;
    /* Only the first frame of a batch asks; the rest ride the same write. */
    if (n == s->qhead)
        lws_callback_on_writable(s->wsi);
}

void session_send_text(session *s, const char *text, size_t len)
{
    frame *f = frame_new(text, len);
    if (!f)
        return;
    session_send(s, f);
    frame_unref(f);
}

void session_send_json(session *s, json_t *v)
{
    char *text = jsonx_dump(v);
    json_decref(v);
    if (!text)
        return;
    session_send_text(s, text, strlen(text));
    free(text);
}

void session_error(session *s, const json_t *req, const char *code, const char *message)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "op", "error", "code", code, "message", message);
    if (!e)
        return;
    if (req) {
        json_t *rid = json_object_get(req, "rid"), *cid = json_object_get(req, "cid");
        if (rid)
            json_object_set(e, "rid", rid);
        if (cid)
            json_object_set(e, "cid", cid);
    }
    session_send_json(s, e);
}

void session_revoke(session *s, const char *reason)
{
    if (!s->wsi || s->close_code)
        return;
    const char *msg = "Сеанс завершён: выполнен выход на другом устройстве";
    if (strcmp(reason, "expired") == 0)
        msg = "Сеанс истёк, войдите снова";
    else if (strcmp(reason, "disabled") == 0)
        msg = "Учётная запись отключена";
    /* The error goes out before the close frame (ws.c writes a queued error
     * first): the client can tell the user why it was signed out. */
    json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "op", "error", "code", "unauthorized", "reason",
                          reason, "message", msg);
    if (e)
        session_send_json(s, e);
    the_hub->stats.ws_revoked++;
    session_close(s, 4401);
}

sub *session_find_sub(session *s, const char *topic)
{
    for (uint32_t i = 0; i < s->nsubs; i++)
        if (strcmp(s->subs[i].t->name, topic) == 0)
            return &s->subs[i];
    return NULL;
}
