/* fanout.c -- deliver committed events to the sessions of this hub in seq
 * order without gaps; Redis pub/sub carries them between hubs, PostgreSQL
 * fills whatever pub/sub lost. */
#include "fanout.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/dict.h"
#include "epos/jsonx.h"
#include "epos/log.h"
#include "handlers.h"

#define FILL_BATCH 500
#define SWEEP_MAX_TOPICS 20000
#define PRESENCE_TTL_S 90

struct fanout {
    hub *h;
    dict *topics; /* name -> topic */
    dict *users;  /* "uid" -> first session of that user */
    int redis_was_down;
};

fanout *fanout_create(hub *h)
{
    fanout *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->h = h;
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

static void channel_name(char *buf, size_t len, const char *topic)
{
    snprintf(buf, len, "ev:%s", topic);
}

static void topic_catch_up(fanout *f, topic *t);

static topic *topic_get(fanout *f, const char *name, int64_t seq)
{
    topic *t = dict_get(f->topics, name);
    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(name)) || dict_set(f->topics, name, t) != 0) {
        if (t)
            free(t->name);
        free(t);
        return NULL;
    }
    t->last_seq = seq;
    if (f->h->redis) {
        char ch[256];
        channel_name(ch, sizeof(ch), name);
        rds_subscribe(f->h->redis, ch);
    }
    return t;
}

static void topic_drop_if_unused(fanout *f, topic *t)
{
    if (t->nsubs || t->filling)
        return;
    if (f->h->redis) {
        char ch[256];
        channel_name(ch, sizeof(ch), t->name);
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
        uint16_t cap = s->capsubs ? (uint16_t)(s->capsubs * 2) : 4;
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
    for (uint16_t i = 0; i < moved->nsubs; i++) {
        if (moved->subs[i].t == t) {
            moved->subs[i].idx = idx;
            break;
        }
    }
}

static void session_drop_sub(fanout *f, session *s, uint16_t i)
{
    topic *t = s->subs[i].t;
    topic_remove_at(t, s->subs[i].idx);
    s->subs[i] = s->subs[--s->nsubs];
    topic_drop_if_unused(f, t);
}

void fanout_unsubscribe(fanout *f, session *s, const char *name)
{
    for (uint16_t i = 0; i < s->nsubs; i++) {
        if (strcmp(s->subs[i].t->name, name) == 0) {
            session_drop_sub(f, s, i);
            return;
        }
    }
}

void fanout_unsubscribe_all(fanout *f, session *s)
{
    while (s->nsubs)
        session_drop_sub(f, s, (uint16_t)(s->nsubs - 1));
    free(s->subs);
    s->subs = NULL;
    s->capsubs = 0;
}

/* ---- delivery ---------------------------------------------------------- */

static void topic_fill(fanout *f, topic *t);

/* Give frame fr (seq) to every live subscriber that is exactly one behind. */
static void topic_deliver(fanout *f, topic *t, int64_t seq, frame *fr)
{
    if (seq <= t->last_seq)
        return; /* a duplicate: the echo of our own publish, or a refill */
    if (seq > t->last_seq + 1) {
        topic_fill(f, t); /* the fill brings this one too, in order */
        return;
    }
    t->last_seq = seq;
    for (uint32_t i = 0; i < t->nsubs; i++) {
        session *s = t->subs[i];
        if (s->state != SESS_LIVE)
            continue;
        sub *u = NULL;
        for (uint16_t k = 0; k < s->nsubs; k++)
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

static void deliver_text(fanout *f, const char *name, int64_t seq, const char *text, size_t len)
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
        topic_fill(f, t);
    } else {
        topic_drop_if_unused(f, t);
    }
out:
    fill_req_free(r);
}

static void topic_fill(fanout *f, topic *t)
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
    if (!pgq_ok(res)) {
        /* Tell the client to reload rather than leave it silently behind. */
        char msg[320];
        int n = snprintf(msg, sizeof(msg), "{\"op\":\"reset\",\"topic\":\"%s\"}", r->name);
        session_send_text(s, msg, (size_t)n);
        u->seq = u->t->last_seq;
        u->syncing = 0;
        goto finish;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        int64_t seq = pgq_get_ll(res, i, "seq", -1);
        const char *text = pgq_get(res, i, "frame");
        if (seq != u->seq + 1 || !text)
            continue;
        session_send_text(s, text, strlen(text));
        u->seq = seq;
        r->f->h->stats.events_out++;
    }
    if (u->seq > u->t->last_seq)
        u->t->last_seq = u->seq;
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

/* ---- publishing -------------------------------------------------------- */

void fanout_publish(fanout *f, const char *name, int64_t seq, const char *text, size_t len)
{
    /* A persistent frame goes to local sessions at once (the echo from Redis
     * is dropped by seq); an ephemeral one has no seq to drop the echo by,
     * so it reaches local sessions through Redis, or directly when it is down. */
    if (seq >= 0 || !f->h->redis || !rds_up(f->h->redis))
        deliver_text(f, name, seq, text, len);
    if (!f->h->redis)
        return;
    /* "<seq> <frame>" lets receivers order without parsing JSON; "-" is ephemeral. */
    char ch[256], prefix[24];
    channel_name(ch, sizeof(ch), name);
    int plen = seq < 0 ? snprintf(prefix, sizeof(prefix), "- ")
                       : snprintf(prefix, sizeof(prefix), "%" PRId64 " ", seq);
    char *msg = malloc((size_t)plen + len);
    if (!msg)
        return;
    memcpy(msg, prefix, (size_t)plen);
    memcpy(msg + plen, text, len);
    const char *argv[3] = {"PUBLISH", ch, msg};
    size_t argvlen[3] = {7, strlen(ch), (size_t)plen + len};
    /* Redis down: local sessions have it already, other hubs' sweeps fill it. */
    rds_command_argv(f->h->redis, NULL, NULL, 3, argv, argvlen);
    free(msg);
}

void fanout_publish_frame(fanout *f, const char *name, const char *text, size_t len)
{
    json_error_t je;
    json_t *v = json_loadb(text, len, 0, &je);
    json_t *jseq = v ? json_object_get(v, "seq") : NULL;
    int64_t seq = json_is_integer(jseq) ? (int64_t)json_integer_value(jseq) : -1;
    json_decref(v);
    fanout_publish(f, name, seq, text, len);
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

static void refresh_local(fanout *f, int64_t uid)
{
    char key[24];
    user_key(key, sizeof(key), uid);
    for (session *s = dict_get(f->users, key); s; s = s->user_next)
        auth_refresh_topics(s);
}

void fanout_refresh_user(fanout *f, int64_t uid)
{
    refresh_local(f, uid);
    if (f->h->redis)
        rds_command(f->h->redis, NULL, NULL, "PUBLISH ctl refresh:%lld", (long long)uid);
}

/* ---- Redis and the sweep ----------------------------------------------- */

void fanout_on_message(const char *channel, const char *msg, size_t len, void *arg)
{
    fanout *f = ((hub *)arg)->fan;
    if (!f)
        return;
    f->h->stats.pubsub_in++;
    if (strcmp(channel, "ctl") == 0) {
        if (len > 8 && len < 40 && memcmp(msg, "refresh:", 8) == 0) {
            char num[40];
            memcpy(num, msg + 8, len - 8);
            num[len - 8] = '\0';
            refresh_local(f, strtoll(num, NULL, 10));
        }
        return;
    }
    if (strncmp(channel, "ev:", 3) != 0)
        return;
    const char *sp = memchr(msg, ' ', len);
    if (!sp)
        return;
    int64_t seq = msg[0] == '-' ? -1 : strtoll(msg, NULL, 10);
    size_t off = (size_t)(sp - msg) + 1;
    deliver_text(f, channel + 3, seq, msg + off, len - off);
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
} sweep_ctx;

static int sweep_collect(const char *key, void *val, void *arg)
{
    sweep_ctx *c = arg;
    json_array_append_new(c->names, json_string(key));
    return json_array_size(c->names) >= SWEEP_MAX_TOPICS;
}

static void sweep_done(PGresult *res, void *arg)
{
    fanout *f = arg;
    if (!pgq_ok(res))
        return;
    for (int i = 0; i < PQntuples(res); i++) {
        topic *t = dict_get(f->topics, pgq_get(res, i, "topic"));
        if (t && pgq_get_ll(res, i, "seq", 0) > t->last_seq)
            topic_fill(f, t);
    }
}

/* Compare each topic's last delivered seq with PostgreSQL's: a publish lost
 * between commit and Redis (a crash, a Redis restart) is found here. */
void fanout_sweep(fanout *f)
{
    if (!f->topics->used || !pgq_live(f->h->pg))
        return;
    sweep_ctx c = {json_array()};
    dict_foreach(f->topics, sweep_collect, &c);
    char *arr = jsonx_dump(c.names);
    json_decref(c.names);
    if (!arr)
        return;
    const char *params[1] = {arr};
    pgq_exec(f->h->pg, "topics_seq", 1, params, sweep_done, f);
    free(arr);
}
