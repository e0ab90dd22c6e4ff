/* fanout.c -- topics and their subscribers: deliver committed events to the
 * sessions of this hub in seq order without gaps, filling from PostgreSQL
 * whatever pub/sub lost. */
#include "fanout_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/auth.h"
#include "epos/dict.h"
#include "epos/evmsg.h"
#include "epos/jsonx.h"
#include "epos/log.h"

#define FILL_BATCH 500

fanout *fanout_create(hub *h)
{
    fanout *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->h = h;
    auth_random_text(f->origin, sizeof(f->origin) - 1);
    f->topics = dict_create();
    f->users = dict_create();
    if (!f->topics || !f->users) {
        fanout_free(f);
        return NULL;
    }
    if (h->redis)
        rds_subscribe(h->redis, "ctl");
    return f;
}

static int topic_free_cb(const char *key, void *val, void *arg)
{
    topic *t = val;
    free(t->name);
    free(t->subs);
    free(t);
    return 0;
}

void fanout_free(fanout *f)
{
    if (!f)
        return;
    if (f->topics) {
        dict_foreach(f->topics, topic_free_cb, NULL);
        dict_free(f->topics);
    }
    dict_free(f->users);
    free(f);
}

size_t fanout_topic_count(const fanout *f)
{
    return f->topics->used;
}

static void topic_catch_up(fanout *f, topic *t);

int fanout_topic_valid(const char *name)
{
    char ch[FANOUT_CHANNEL_MAX];
    return name && *name && evmsg_channel(ch, sizeof(ch), name) == 0;
}

void fanout_send_reset(session *s, const char *name)
{
    json_t *msg = json_pack("{s:s, s:s}", "op", "reset", "topic", name ? name : "");
    char *text = msg ? jsonx_dump(msg) : NULL;
    if (text)
        session_send_text(s, text, strlen(text));
    free(text);
    json_decref(msg);
}

static topic *topic_get(fanout *f, const char *name, int64_t seq)
{
    topic *t = dict_get(f->topics, name);
    if (t)
        return t;
    /* A name whose channel would be cut is refused: subscribing the cut
     * name would deliver another topic's events, or none. */
    if (!fanout_topic_valid(name)) {
        log_warn("topic name of %zu bytes does not fit a channel: refused",
                 name ? strlen(name) : 0);
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(name)) || dict_set(f->topics, name, t) != 0) {
        if (t)
            free(t->name);
        free(t);
        return NULL;
    }
    t->last_seq = seq;
    if (f->h->redis) {
        char ch[FANOUT_CHANNEL_MAX];
        evmsg_channel(ch, sizeof(ch), name); /* fits: fanout_topic_valid */
        rds_subscribe(f->h->redis, ch);
    }
    return t;
}

static void topic_drop_if_unused(fanout *f, topic *t)
{
    if (t->nsubs || t->filling)
        return;
    if (f->h->redis) {
        char ch[FANOUT_CHANNEL_MAX];
        if (evmsg_channel(ch, sizeof(ch), t->name) == 0)
            rds_unsubscribe(f->h->redis, ch);
    }
    dict_del(f->topics, t->name);
    free(t->name);
    free(t->subs);
    free(t);
}

sub *fanout_subscribe(fanout *f, session *s, const char *name, int64_t seq)
{
    sub *u = session_find_sub(s, name);
    if (u)
        return u;
    topic *t = topic_get(f, name, seq);
    if (!t)
        return NULL;
    if (s->nsubs == s->capsubs) {
        uint32_t cap = s->capsubs ? s->capsubs * 2 : 4;
        sub *n = realloc(s->subs, cap * sizeof(*n));
        if (!n)
            goto oom;
        s->subs = n;
        s->capsubs = cap;
    }
    if (t->nsubs == t->capsubs) {
        uint32_t cap = t->capsubs ? t->capsubs * 2 : 4;
        session **n = realloc(t->subs, cap * sizeof(*n));
        if (!n)
            goto oom;
        t->subs = n;
        t->capsubs = cap;
    }
    u = &s->subs[s->nsubs++];
    memset(u, 0, sizeof(*u));
    u->t = t;
    u->idx = t->nsubs;
    u->seq = seq;
    t->subs[t->nsubs++] = s;
    /* This session saw more of the topic than the hub delivered: the events
     * between were lost to pub/sub, so whoever else waits for them reads them. */
    if (seq > t->last_seq) {
        t->last_seq = seq;
        topic_catch_up(f, t);
    }
    return u;
oom:
    topic_drop_if_unused(f, t);
    return NULL;
}

/* Remove s from t's array by moving the last subscriber into its slot. */
static void topic_remove_at(topic *t, uint32_t idx)
{
    session *moved = t->subs[--t->nsubs];
    if (idx == t->nsubs)
        return;
    t->subs[idx] = moved;
    for (uint32_t i = 0; i < moved->nsubs; i++) {
        if (moved->subs[i].t == t) {
            moved->subs[i].idx = idx;
            break;
        }
    }
}

static void session_drop_sub(fanout *f, session *s, uint32_t i)
{
    topic *t = s->subs[i].t;
    /* A topic taken away while its resume fill runs must not hold "resumed". */
    if (s->subs[i].resuming && s->pending_fills && --s->pending_fills == 0 && s->state == SESS_LIVE)
        session_send_text(s, "{\"op\":\"resumed\"}", 16);
    topic_remove_at(t, s->subs[i].idx);
    s->subs[i] = s->subs[--s->nsubs];
    topic_drop_if_unused(f, t);
}

void fanout_unsubscribe(fanout *f, session *s, const char *name)
{
    for (uint32_t i = 0; i < s->nsubs; i++) {
        if (strcmp(s->subs[i].t->name, name) == 0) {
            session_drop_sub(f, s, i);
            return;
        }
    }
}

void fanout_unsubscribe_all(fanout *f, session *s)
{
    while (s->nsubs)
        session_drop_sub(f, s, s->nsubs - 1);
    free(s->subs);
    s->subs = NULL;
    s->capsubs = 0;
}

/* ---- delivery ---------------------------------------------------------- */

/* Give frame fr (seq) to every live subscriber that is exactly one behind. */
static void topic_deliver(fanout *f, topic *t, int64_t seq, frame *fr)
{
    if (seq <= t->last_seq)
        return; /* a duplicate: the echo of our own publish, or a refill */
    if (seq > t->last_seq + 1) {
        fanout_topic_fill(f, t); /* the fill brings this one too, in order */
        return;
    }
    t->last_seq = seq;
    if (t->nsubs)
        health_observe_delivery(fr->data, fr->len);
    for (uint32_t i = 0; i < t->nsubs; i++) {
        session *s = t->subs[i];
        if (s->state != SESS_LIVE)
            continue;
        sub *u = NULL;
        for (uint32_t k = 0; k < s->nsubs; k++)
            if (s->subs[k].t == t) {
                u = &s->subs[k];
                break;
            }
        if (!u || u->syncing)
            continue;
        if (seq == u->seq + 1) {
            u->seq = seq;
            session_send(s, fr);
            f->h->stats.events_out++;
        } else if (seq > u->seq + 1) {
            fanout_fill_session(f, s, u);
        }
    }
}

static void topic_deliver_ephemeral(fanout *f, topic *t, frame *fr)
{
    for (uint32_t i = 0; i < t->nsubs; i++)
        if (t->subs[i]->state == SESS_LIVE)
            session_send(t->subs[i], fr);
}

void fanout_deliver_text(fanout *f, const char *name, int64_t seq, const char *text, size_t len)
{
    topic *t = dict_get(f->topics, name);
    if (!t)
        return;
    frame *fr = frame_new(text, len);
    if (!fr)
        return;
    if (seq < 0)
        topic_deliver_ephemeral(f, t, fr);
    else
        topic_deliver(f, t, seq, fr);
    frame_unref(fr);
}

typedef struct fill_req {
    fanout *f;
    session *s; /* NULL: a topic fill */
    char *name;
    char after[24];
} fill_req;

static void fill_req_free(fill_req *r)
{
    if (r->s)
        session_unref(r->s);
    free(r->name);
    free(r);
}

static int fill_start(fill_req *r, int64_t after, pgq_cb *cb)
{
    char limit[16];
    snprintf(r->after, sizeof(r->after), "%" PRId64, after);
    snprintf(limit, sizeof(limit), "%d", FILL_BATCH);
    const char *params[3] = {r->name, r->after, limit};
    r->f->h->stats.fills++;
    return pgq_exec(r->f->h->pg, "events_after", 3, params, cb, r);
}

static void topic_fill_done(PGresult *res, void *arg)
{
    fill_req *r = arg;
    fanout *f = r->f;
    topic *t = dict_get(f->topics, r->name);
    int n = pgq_ok(res) ? PQntuples(res) : 0;
    if (!t)
        goto out;
    t->filling = 0;
    for (int i = 0; i < n; i++) {
        int64_t seq = pgq_get_ll(res, i, "seq", -1);
        const char *text = pgq_get(res, i, "frame");
        if (seq != t->last_seq + 1 || !text)
            continue;
        frame *fr = frame_new(text, strlen(text));
        if (fr) {
            topic_deliver(f, t, seq, fr);
            frame_unref(fr);
        }
    }
    if (n == FILL_BATCH || t->refill) {
        t->refill = 0;
        fanout_topic_fill(f, t);
    }
    /* Not filling any more (done, or PostgreSQL refused the next read). */
    if (!t->filling)
        topic_drop_if_unused(f, t);
out:
    fill_req_free(r);
}

void fanout_topic_fill(fanout *f, topic *t)
{
    if (t->filling) {
        t->refill = 1;
        return;
    }
    fill_req *r = calloc(1, sizeof(*r));
    if (!r || !(r->name = strdup(t->name))) {
        free(r);
        return;
    }
    r->f = f;
    t->filling = 1;
    if (fill_start(r, t->last_seq, topic_fill_done) != 0) {
        t->filling = 0; /* PostgreSQL is down: the sweep tries again */
        fill_req_free(r);
    }
}

static void session_fill_finish(fanout *f, session *s, sub *u)
{
    u->syncing = 0;
    if (u->resuming) {
        u->resuming = 0;
        if (s->pending_fills && --s->pending_fills == 0 && s->state == SESS_LIVE)
            session_send_text(s, "{\"op\":\"resumed\"}", 16);
    }
    /* Live frames skipped while we read PostgreSQL: read again. */
    if (u->t->last_seq > u->seq)
        fanout_fill_session(f, s, u);
}

static void session_fill_done(PGresult *res, void *arg)
{
    fill_req *r = arg;
    session *s = r->s;
    sub *u = s->wsi ? session_find_sub(s, r->name) : NULL;
    if (!u)
        goto out;
    int rows = pgq_ok(res) ? PQntuples(res) : 0;
    /* The next event is gone (the retention pass dropped its month): the
     * gap cannot be filled, so the client reloads like any other reset. */
    int gone = pgq_ok(res) &&
               (rows > 0 ? pgq_get_ll(res, 0, "seq", -1) > u->seq + 1 : u->t->last_seq > u->seq);
    if (!pgq_ok(res) || gone) {
        if (gone)
            r->f->h->stats.resets++;
        /* Tell the client to reload rather than leave it silently behind. */
        fanout_send_reset(s, r->name);
        u->seq = u->t->last_seq;
        u->syncing = 0;
        goto finish;
    }
    for (int i = 0; i < rows; i++) {
        int64_t seq = pgq_get_ll(res, i, "seq", -1);
        const char *text = pgq_get(res, i, "frame");
        if (seq != u->seq + 1 || !text)
            continue;
        session_send_text(s, text, strlen(text));
        u->seq = seq;
        r->f->h->stats.events_out++;
    }
    /* Not raising t->last_seq here: what one session read from PostgreSQL
     * others may still await from pub/sub or the sweep. */
    if (rows == FILL_BATCH) {
        u->syncing = 0;
        fanout_fill_session(r->f, s, u);
        goto out;
    }
finish:
    session_fill_finish(r->f, s, u);
out:
    fill_req_free(r);
}

void fanout_fill_session(fanout *f, session *s, sub *u)
{
    if (u->syncing)
        return;
    fill_req *r = calloc(1, sizeof(*r));
    if (!r || !(r->name = strdup(u->t->name))) {
        free(r);
        return;
    }
    r->f = f;
    r->s = s;
    session_ref(s);
    u->syncing = 1;
    if (fill_start(r, u->seq, session_fill_done) != 0) {
        u->syncing = 0;
        if (u->resuming) {
            u->resuming = 0;
            if (s->pending_fills && --s->pending_fills == 0)
                session_send_text(s, "{\"op\":\"resumed\"}", 16);
        }
        fill_req_free(r);
    }
}

/* Sessions of t that are behind the topic (not already reading) read up. */
static void topic_catch_up(fanout *f, topic *t)
{
    for (uint32_t i = 0; i < t->nsubs; i++) {
        session *s = t->subs[i];
        sub *u = session_find_sub(s, t->name);
        if (u && !u->syncing && s->state == SESS_LIVE && u->seq < t->last_seq)
            fanout_fill_session(f, s, u);
    }
}
