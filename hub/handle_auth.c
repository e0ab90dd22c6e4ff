/* handle_auth.c -- the auth op: verify the token, load the user and topics,
 * subscribe, say hello, replay what a resuming client missed; and the
 * recomputation of topics when a user's entitlements change. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "epos/auth.h"
#include "epos/jsonx.h"
#include "epos/log.h"
#include "fanout.h"
#include "handlers.h"
#include "hub.h"

#define AUTH_TOPICS_MAX 10000 /* bounds one session's memory and its pub/sub */

typedef struct auth_req {
    session *s;
    json_t *resume; /* the client's positions, or NULL */
    int refresh;    /* a recomputation, not a first auth */
} auth_req;

static void auth_req_free(auth_req *r)
{
    session_unref(r->s);
    json_decref(r->resume);
    free(r);
}

/* Position one subscription from the client's resume value for it. */
static void auth_resume_topic(session *s, sub *u, int64_t current, json_t *pos)
{
    int64_t want = json_integer_value(pos);
    if (want == current)
        return;
    if (want < 0 || want > current || current - want > the_hub->cfg.replay_window) {
        fanout_send_reset(s, u->t->name);
        the_hub->stats.resets++;
        return;
    }
    u->seq = want;
    u->resuming = 1;
    s->pending_fills++;
    fanout_fill_session(the_hub->fan, s, u);
}

/* Note a topic gained or lost by a refresh; chats have chat.member events of their own. */
static void auth_note_change(json_t *list, const char *name)
{
    if (list && strncmp(name, "chat:", 5) != 0)
        json_array_append_new(list, json_string(name));
}

static int auth_apply_topics(session *s, json_t *topics, json_t *resume, int refresh, json_t *added,
                             json_t *removed)
{
    const char *name;
    json_t *v;
    /* Drop what the user lost (a chat they were removed from). */
    for (int i = (int)s->nsubs - 1; refresh && i >= 0; i--)
        if (!json_object_get(topics, s->subs[i].t->name)) {
            auth_note_change(removed, s->subs[i].t->name);
            fanout_unsubscribe(the_hub->fan, s, s->subs[i].t->name);
        }
    s->pending_fills++; /* held until every fill has been started */
    json_object_foreach(topics, name, v)
    {
        int64_t current = json_integer_value(v);
        if (refresh && session_find_sub(s, name))
            continue;
        if (!fanout_topic_valid(name)) {
            log_warn("conn=%u user=%lld: a topic name too long for a channel, not subscribed",
                     s->id, (long long)s->uid);
            continue;
        }
        if (refresh)
            auth_note_change(added, name);
        sub *u = fanout_subscribe(the_hub->fan, s, name, current);
        if (!u)
            return -1;
        json_t *pos = resume ? json_object_get(resume, name) : NULL;
        if (json_is_integer(pos))
            auth_resume_topic(s, u, current, pos);
        /* The hub delivered past what the hello query saw (a send committed
         * meanwhile): read the difference, or the session waits for the next. */
        if (!u->syncing && u->seq < u->t->last_seq)
            fanout_fill_session(the_hub->fan, s, u);
    }
    return 0;
}

static void auth_send_hello(session *s, json_t *hello)
{
    json_t *names = json_array();
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(hello, "topics"), name, v)
        json_array_append_new(names, json_string(name));
    json_t *msg =
        json_pack("{s:s, s:O, s:o, s:O}", "op", "hello", "user", json_object_get(hello, "user"),
                  "topics", names, "seqs", json_object_get(hello, "topics"));
    if (msg)
        session_send_json(s, msg);
}

/* A refresh that changed what the user may see (a group bound or unbound,
 * a role given or taken): tell the client, so open screens follow at once.
 * An ephemeral event on the user's topic; steals both references. */
static void auth_send_changed(session *s, json_t *added, json_t *removed)
{
    if (json_array_size(added) || json_array_size(removed)) {
        char topic[32];
        snprintf(topic, sizeof(topic), "user:%lld", (long long)s->uid);
        json_t *ev =
            json_pack("{s:s, s:s, s:s, s:{s:o, s:o}}", "op", "event", "topic", topic, "type",
                      "entitlements.changed", "data", "added", added, "removed", removed);
        if (ev)
            session_send_json(s, ev);
        return;
    }
    json_decref(added);
    json_decref(removed);
}

static void auth_done(PGresult *res, void *arg)
{
    auth_req *r = arg;
    session *s = r->s;
    json_t *hello = NULL;
    if (!s->wsi || s->state == SESS_CLOSING)
        goto out;
    if (!pgq_ok(res)) {
        const char *code, *msg;
        int status = pg_error_map(res, &code, &msg);
        if (status == 401) {
            /* Also on a refresh: the session was revoked (logout, new
             * password or credentials, a disabled user) while connected. */
            the_hub->stats.ws_auth_fail++;
            session_revoke(s, "revoked");
        } else if (!r->refresh) {
            /* The database is down: the client retries with backoff. */
            session_error(s, NULL, code, msg);
            session_close(s, 1011);
        }
        goto out;
    }
    json_error_t je;
    const char *hello_text = pgq_get(res, 0, "hello");
    hello = hello_text ? json_loads(hello_text, 0, &je) : NULL; /* NULL: no topics, refused below */
    json_t *topics = json_object_get(hello, "topics");
    if (json_object_size(topics) > AUTH_TOPICS_MAX) {
        log_warn("conn=%u user=%lld has %zu topics, over %d: refused", s->id, (long long)s->uid,
                 json_object_size(topics), AUTH_TOPICS_MAX);
        session_close(s, 1011);
        goto out;
    }
    if (!json_is_object(topics)) {
        log_error("conn=%u user=%lld epos_ws_hello returned no topics", s->id, (long long)s->uid);
        session_close(s, 1011);
        goto out;
    }
    if (!r->refresh) {
        s->state = SESS_LIVE;
        the_hub->stats.ws_auth_ok++;
        auth_send_hello(s, hello);
    }
    json_t *added = json_array(), *removed = json_array();
    if (auth_apply_topics(s, topics, r->resume, r->refresh, added, removed) != 0) {
        json_decref(added);
        json_decref(removed);
        session_close(s, 1011);
        goto out;
    }
    auth_send_changed(s, added, removed);
    /* Release the hold: "resumed" goes now, or when the last fill ends. */
    if (--s->pending_fills == 0 && !r->refresh)
        session_send_text(s, "{\"op\":\"resumed\"}", 16);
out:
    if (r->refresh)
        s->refreshing = 0;
    /* Entitlements changed while this query ran: compute them again. */
    if (s->wsi && s->state == SESS_LIVE && s->refresh_again) {
        s->refresh_again = 0;
        auth_refresh_topics(s);
    }
    json_decref(hello);
    auth_req_free(r);
}

static int auth_query(session *s, json_t *resume, int refresh)
{
    char uid[24], sid[24];
    auth_req *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->s = s;
    r->resume = json_incref(resume);
    r->refresh = refresh;
    session_ref(s);
    snprintf(uid, sizeof(uid), "%" PRId64, s->uid);
    snprintf(sid, sizeof(sid), "%" PRId64, s->sid);
    const char *params[2] = {uid, sid};
    if (pgq_exec(the_hub->pg, "ws_hello", 2, params, auth_done, r) != 0) {
        auth_req_free(r);
        return -1;
    }
    return 0;
}

void handle_auth(session *s, json_t *req)
{
    const char *token = NULL;
    long long uid, sid, exp;
    json_t *resume = json_object_get(req, "resume");
    int rc = jsonx_str(req, "token", &token) != 0 || (resume && !json_is_object(resume))
                 ? -1
                 : auth_token_check_exp(the_hub->cfg.token_secret, token, (long long)time(NULL),
                                        &uid, &sid, &exp);
    if (rc != 0) {
        the_hub->stats.ws_auth_fail++;
        if (rc == -2)
            session_revoke(s, "expired");
        else
            session_close(s, 4401);
        return;
    }
    /* One user's sockets are bounded per hub: a loop opening tabs or a
     * stolen token cannot take the hub's descriptors. */
    if (fanout_user_count(the_hub->fan, uid) >= (uint32_t)the_hub->cfg.ws_user_max) {
        log_warn("conn=%u user=%lld has %d sockets on this hub: refused", s->id, uid,
                 the_hub->cfg.ws_user_max);
        the_hub->stats.ws_user_cap++;
        session_error(s, req, "rate_limited",
                      "Слишком много открытых соединений, закройте лишние вкладки");
        session_close(s, 4429);
        return;
    }
    s->uid = uid;
    s->sid = sid;
    s->exp = exp;
    s->state = SESS_AUTHING;
    /* In the user index from now: a refresh that comes while the hello query
     * runs is remembered and applied after it (auth_refresh_topics). */
    fanout_user_add(the_hub->fan, s);
    if (auth_query(s, resume, 0) != 0) {
        session_error(s, req, "unavailable", "Сервис временно недоступен, повторите позже");
        session_close(s, 1011);
    }
}

/* One recomputation at a time per session, so an older answer can never be
 * applied over a newer one; a request meanwhile runs once more afterwards. */
void auth_refresh_topics(session *s)
{
    if (s->state == SESS_AUTHING || s->refreshing) {
        s->refresh_again = 1;
        return;
    }
    if (s->state == SESS_LIVE && auth_query(s, NULL, 1) == 0)
        s->refreshing = 1;
}
