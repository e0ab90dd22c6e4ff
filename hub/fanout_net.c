/* fanout_net.c -- what joins the hubs: publishing committed frames to Redis,
 * frames and entitlement refreshes from Redis, presence keys, and the sweep
 * that finds publishes Redis lost. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/dict.h"
#include "epos/evmsg.h"
#include "epos/jsonx.h"
#include "epos/log.h"
#include "fanout_int.h"
#include "handlers.h"

#define SWEEP_MAX_TOPICS 20000
#define PRESENCE_TTL_S 90

/* ---- publishing -------------------------------------------------------- */

void fanout_publish(fanout *f, const char *name, int64_t seq, const char *text, size_t len)
{
    /* A persistent frame goes to local sessions at once (the echo from Redis
     * is dropped by seq); an ephemeral one has no seq to drop the echo by,
     * so it reaches local sessions through Redis, or directly when it is down. */
    if (seq >= 0 || !f->h->redis || !rds_up(f->h->redis))
        fanout_deliver_text(f, name, seq, text, len);
    if (!f->h->redis)
        return;
    char ch[FANOUT_CHANNEL_MAX];
    size_t mlen;
    char *msg =
        evmsg_channel(ch, sizeof(ch), name) == 0 ? evmsg_encode(seq, text, len, &mlen) : NULL;
    if (!msg)
        return;
    const char *argv[3] = {"PUBLISH", ch, msg};
    size_t argvlen[3] = {7, strlen(ch), mlen};
    /* Redis down: local sessions have it already, other hubs' sweeps fill it. */
    rds_command_argv(f->h->redis, NULL, NULL, 3, argv, argvlen);
    free(msg);
}

void fanout_publish_frame(fanout *f, const char *name, const char *text, size_t len)
{
    fanout_publish(f, name, evmsg_frame_seq(text, len), text, len);
}

/* ---- entitlements ------------------------------------------------------ */

static void user_key(char *buf, size_t len, int64_t uid)
{
    snprintf(buf, len, "%" PRId64, uid);
}

/* Presence: workers email only users with no live connection anywhere. */
static void presence_mark(fanout *f, const char *uid)
{
    if (f->h->redis)
        rds_command(f->h->redis, NULL, NULL, "SET epos:online:%s 1 EX %d", uid, PRESENCE_TTL_S);
}

void fanout_user_add(fanout *f, session *s)
{
    char key[24];
    user_key(key, sizeof(key), s->uid);
    s->user_next = dict_get(f->users, key);
    dict_set(f->users, key, s);
    if (!s->user_next)
        presence_mark(f, key);
}

static int presence_cb(const char *key, void *val, void *arg)
{
    presence_mark(arg, key);
    return 0;
}

void fanout_presence_tick(fanout *f)
{
    dict_foreach(f->users, presence_cb, f);
}

void fanout_user_del(fanout *f, session *s)
{
    char key[24];
    user_key(key, sizeof(key), s->uid);
    session *head = dict_get(f->users, key);
    if (head == s) {
        if (s->user_next) {
            dict_set(f->users, key, s->user_next);
        } else {
            dict_del(f->users, key);
            /* Another hub may still hold a connection: it refreshes the key. */
            if (f->h->redis)
                rds_command(f->h->redis, NULL, NULL, "DEL epos:online:%s", key);
        }
    } else {
        for (session *p = head; p; p = p->user_next)
            if (p->user_next == s) {
                p->user_next = s->user_next;
                break;
            }
    }
    s->user_next = NULL;
}

typedef struct user_iter {
    int (*cb)(session *s, void *arg);
    void *arg;
} user_iter;

static int user_iter_cb(const char *key, void *val, void *arg)
{
    user_iter *it = arg;
    for (session *s = val; s; s = s->user_next)
        if (it->cb(s, it->arg))
            return 1;
    return 0;
}

void fanout_user_foreach(fanout *f, int (*cb)(session *s, void *arg), void *arg)
{
    user_iter it = {cb, arg};
    dict_foreach(f->users, user_iter_cb, &it);
}

uint32_t fanout_user_count(fanout *f, int64_t uid)
{
    char key[24];
    uint32_t n = 0;
    user_key(key, sizeof(key), uid);
    for (session *s = dict_get(f->users, key); s; s = s->user_next)
        n++;
    return n;
}

static void refresh_local(fanout *f, int64_t uid)
{
    char key[24];
    user_key(key, sizeof(key), uid);
    for (session *s = dict_get(f->users, key); s; s = s->user_next)
        auth_refresh_topics(s);
}

void fanout_refresh_user(fanout *f, int64_t uid)
{
    /* At once here: the user's next request may already need the new
     * topics. The other hubs hear it through Redis; this one skips its echo. */
    refresh_local(f, uid);
    if (f->h->redis)
        rds_command(f->h->redis, NULL, NULL, "PUBLISH ctl refresh:%lld:%s", (long long)uid,
                    f->origin);
}

/* ---- Redis and the sweep ----------------------------------------------- */

void fanout_on_message(const char *channel, const char *msg, size_t len, void *arg)
{
    fanout *f = ((hub *)arg)->fan;
    if (!f)
        return;
    f->h->stats.pubsub_in++;
    if (strcmp(channel, "ctl") == 0) {
        /* "refresh:<uid>:<origin>" (eposctl sends no origin) */
        if (len > 8 && len < 64 && memcmp(msg, "refresh:", 8) == 0) {
            char text[64], *end;
            memcpy(text, msg + 8, len - 8);
            text[len - 8] = '\0';
            long long uid = strtoll(text, &end, 10);
            if (!(*end == ':' && strcmp(end + 1, f->origin) == 0))
                refresh_local(f, uid);
        }
        return;
    }
    if (strncmp(channel, "ev:", 3) != 0)
        return;
    int64_t seq;
    const char *frame;
    size_t flen;
    if (evmsg_decode(msg, len, &seq, &frame, &flen) == 0)
        fanout_deliver_text(f, channel + 3, seq, frame, flen);
}

void fanout_on_redis_state(int up, void *arg)
{
    hub *h = arg;
    if (!h->fan)
        return;
    if (!up) {
        h->fan->redis_was_down = 1;
        log_warn("redis down: serving on, events from other hubs wait for the sweep");
    } else if (h->fan->redis_was_down) {
        h->fan->redis_was_down = 0;
        log_info("redis back: sweeping %zu topics against PostgreSQL", h->fan->topics->used);
        fanout_sweep(h->fan);
    }
}

typedef struct sweep_ctx {
    json_t *names;
    size_t index, from; /* dict position; the window starts at from */
} sweep_ctx;

static int sweep_collect(const char *key, void *val, void *arg)
{
    sweep_ctx *c = arg;
    if (c->index++ >= c->from)
        json_array_append_new(c->names, json_string(key));
    return json_array_size(c->names) >= SWEEP_MAX_TOPICS;
}

static void sweep_done(PGresult *res, void *arg)
{
    fanout *f = arg;
    if (!pgq_ok(res))
        return;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = pgq_get(res, i, "topic");
        topic *t =
            name ? dict_get(f->topics, name) : NULL; /* NULL: a row without a topic, skipped */
        if (t && pgq_get_ll(res, i, "seq", 0) > t->last_seq)
            fanout_topic_fill(f, t);
    }
}

/* Compare each topic's last delivered seq with PostgreSQL's: a publish lost
 * between commit and Redis (a crash, a Redis restart) is found here. */
void fanout_sweep(fanout *f)
{
    if (!f->topics->used || !pgq_live(f->h->pg))
        return;
    /* A hub with more topics than one sweep takes checks the next window
     * each time, so every topic is checked in turn. */
    static size_t from;
    if (from >= f->topics->used)
        from = 0;
    sweep_ctx c = {json_array(), 0, from};
    dict_foreach(f->topics, sweep_collect, &c);
    from += SWEEP_MAX_TOPICS;
    char *arr = jsonx_dump(c.names);
    json_decref(c.names);
    if (!arr)
        return;
    const char *params[1] = {arr};
    pgq_exec(f->h->pg, "topics_seq", 1, params, sweep_done, f);
    free(arr);
}
