/* handle_chat.c -- the chat ops: send (committed before the ack), read
 * receipts and typing (ephemeral, not stored). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "epos/jsonx.h"
#include "epos/log.h"
#include "fanout.h"
#include "handlers.h"
#include "hub.h"

#define CHAT_INFLIGHT_MAX 16 /* ops of one connection waiting for PostgreSQL */

typedef struct chat_req {
    session *s;
    json_t *req; /* for rid/cid in the reply */
    int64_t chat;
} chat_req;

static chat_req *chat_req_new(session *s, json_t *req, int64_t chat)
{
    /* The rate limit bounds frames per second; this bounds what one
     * connection may have waiting in the shared PostgreSQL queue. */
    if (s->inflight >= CHAT_INFLIGHT_MAX) {
        session_error(s, req, "rate_limited", "Дождитесь ответа на предыдущие запросы");
        return NULL;
    }
    chat_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    s->inflight++;
    r->s = s;
    r->req = json_incref(req);
    r->chat = chat;
    session_ref(s);
    return r;
}

static void chat_req_free(chat_req *r)
{
    r->s->inflight--;
    session_unref(r->s);
    json_decref(r->req);
    free(r);
}

/* Answer a failed query; returns 1 when it did. */
static int chat_failed(chat_req *r, PGresult *res)
{
    if (pgq_ok(res))
        return 0;
    const char *code, *msg;
    int status = pg_error_map(res, &code, &msg);
    /* The session was revoked since the socket authenticated (the token
     * had not expired: chat_exec checked): it stops here, whatever Redis said. */
    if (status == 401)
        session_revoke(r->s, "revoked");
    else if (r->s->wsi)
        session_error(r->s, r->req, code, msg);
    return 1;
}

static json_t *chat_result(PGresult *res, const char *col)
{
    json_error_t je;
    const char *text = pgq_get(res, 0, col);
    return text ? json_loads(text, 0, &je) : NULL;
}

static void send_done(PGresult *res, void *arg)
{
    chat_req *r = arg;
    json_t *out = NULL;
    if (chat_failed(r, res))
        goto done;
    out = chat_result(res, "result");
    const char *frame = json_string_value(json_object_get(out, "frame"));
    int64_t seq = json_integer_value(json_object_get(out, "seq"));
    char topic[48];
    snprintf(topic, sizeof(topic), "chat:%" PRId64, r->chat);
    /* The row is committed: ack the sender, then tell everyone else. */
    if (r->s->wsi) {
        json_t *ack = json_pack("{s:s, s:O, s:O, s:O, s:O, s:I}", "op", "ack", "cid",
                                json_object_get(r->req, "cid"), "id", json_object_get(out, "id"),
                                "seq", json_object_get(out, "seq"), "ts",
                                json_object_get(out, "ts"), "chat", (json_int_t)r->chat);
        json_t *rid = json_object_get(r->req, "rid");
        if (ack && rid)
            json_object_set(ack, "rid", rid);
        if (ack)
            session_send_json(r->s, ack);
    }
    /* A replayed cid publishes the stored event again: the first reply may
     * have been lost before any hub published it. Hubs drop a seq they have
     * delivered, so nothing is doubled. */
    if (!json_is_true(json_object_get(out, "dup")))
        the_hub->stats.msgs_sent++;
    if (frame)
        fanout_publish(the_hub->fan, topic, seq, frame, strlen(frame));
done:
    json_decref(out);
    chat_req_free(r);
}

static void ephemeral_done(PGresult *res, void *arg)
{
    chat_req *r = arg;
    json_t *out = NULL;
    if (chat_failed(r, res))
        goto done;
    out = chat_result(res, "result");
    const char *frame = json_string_value(json_object_get(out, "frame"));
    char topic[48];
    snprintf(topic, sizeof(topic), "chat:%" PRId64, r->chat);
    if (frame)
        fanout_publish(the_hub->fan, topic, -1, frame, strlen(frame));
    json_t *rid = json_object_get(r->req, "rid");
    if (rid && r->s->wsi)
        session_send_json(r->s, json_pack("{s:s, s:O}", "op", "ok", "rid", rid));
done:
    json_decref(out);
    chat_req_free(r);
}

/* Run one chat statement; its last parameter is the session id (filled
 * here), which the statement checks before it writes. */
static void chat_exec(session *s, json_t *req, int64_t chat, const char *stmt, int n,
                      const char **params, pgq_cb *cb)
{
    char sid[24];
    if (s->exp && s->exp <= (int64_t)time(NULL)) {
        session_revoke(s, "expired");
        return;
    }
    snprintf(sid, sizeof(sid), "%" PRId64, s->sid);
    params[n - 1] = sid;
    chat_req *r = chat_req_new(s, req, chat);
    if (!r)
        return;
    if (pgq_exec(the_hub->pg, stmt, n, params, cb, r) != 0) {
        session_error(s, req, "unavailable", "Сервис временно недоступен, повторите позже");
        chat_req_free(r);
    }
}

/* Read the "chat" id every chat op carries; answers bad_request when absent. */
static int chat_id(session *s, json_t *req, long long *chat)
{
    if (jsonx_int(req, "chat", chat) != 0 || *chat <= 0) {
        session_error(s, req, "bad_request", "Поле chat должно быть номером чата");
        return -1;
    }
    return 0;
}

void handle_send(session *s, json_t *req)
{
    long long chat;
    const char *text, *cid;
    char uid[24], chatbuf[24];
    if (chat_id(s, req, &chat) != 0)
        return;
    if (jsonx_str(req, "text", &text) != 0 || jsonx_str(req, "cid", &cid) != 0) {
        session_error(s, req, "bad_request", "Нужны строковые поля text и cid");
        return;
    }
    size_t chars = jsonx_utf8_len(text, strlen(text));
    if (chars > (size_t)the_hub->cfg.max_text) {
        session_error(s, req, "bad_request", "Сообщение слишком длинное");
        return;
    }
    snprintf(uid, sizeof(uid), "%" PRId64, s->uid);
    snprintf(chatbuf, sizeof(chatbuf), "%lld", chat);
    const char *params[5] = {uid, chatbuf, cid, text, NULL};
    chat_exec(s, req, chat, "chat_send", 5, params, send_done);
}

void handle_read(session *s, json_t *req)
{
    long long chat, seq;
    char uid[24], chatbuf[24], seqbuf[24];
    if (chat_id(s, req, &chat) != 0)
        return;
    if (jsonx_int(req, "seq", &seq) != 0 || seq < 0) {
        session_error(s, req, "bad_request", "Поле seq должно быть неотрицательным числом");
        return;
    }
    snprintf(uid, sizeof(uid), "%" PRId64, s->uid);
    snprintf(chatbuf, sizeof(chatbuf), "%lld", chat);
    snprintf(seqbuf, sizeof(seqbuf), "%lld", seq);
    const char *params[4] = {uid, chatbuf, seqbuf, NULL};
    chat_exec(s, req, chat, "chat_read", 4, params, ephemeral_done);
}

void handle_typing(session *s, json_t *req)
{
    long long chat;
    char uid[24], chatbuf[24];
    if (chat_id(s, req, &chat) != 0)
        return;
    snprintf(uid, sizeof(uid), "%" PRId64, s->uid);
    snprintf(chatbuf, sizeof(chatbuf), "%lld", chat);
    const char *params[3] = {uid, chatbuf, NULL};
    chat_exec(s, req, chat, "chat_typing", 3, params, ephemeral_done);
}
