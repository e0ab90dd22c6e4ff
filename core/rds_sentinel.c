/* rds_sentinel.c -- Redis through Sentinel: ask the sentinels where the master is, check it with
 * ROLE, follow +switch-master. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/log.h"
#include "rds_internal.h"

#define SENT_QUERY_TIMEOUT_MS 1000 /* one sentinel's answer; then the next is asked */
#define SENT_MAX 16
#define SENT_NAME_MAX 128

static void sent_on_watch_timer(uv_timer_t *t);

/* ---------------------------------------------------------------- the list */

/* Parse "host:port,host:port" into hosts/ports (when given). Returns the
 * count, or -1 with a reason in err. */
static int sent_parse(const char *list, char **hosts, int *ports, char *err, size_t errlen)
{
    int n = 0;
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[80];
        while (len && *p == ' ')
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (len == 0 || len >= sizeof(item)) {
            snprintf(err, errlen, "an empty or too long entry");
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        char *colon = strrchr(item, ':'), *stop = NULL;
        long port = colon ? strtol(colon + 1, &stop, 10) : 0;
        if (!colon || colon == item || !stop || stop == colon + 1 || *stop || port < 1 ||
            port > 65535) {
            snprintf(err, errlen, "\"%s\" is not host:port", item);
            return -1;
        }
        *colon = '\0';
        /* hiredis resolves names synchronously, stalling the loop: numbers only. */
        if (strspn(item, "0123456789.") != strlen(item) &&
            strspn(item, "0123456789abcdefABCDEF:") != strlen(item)) {
            snprintf(err, errlen, "\"%s\" is not a numeric address", item);
            return -1;
        }
        if (n == SENT_MAX) {
            snprintf(err, errlen, "more than %d sentinels", SENT_MAX);
            return -1;
        }
        if (hosts) {
            hosts[n] = strdup(item);
            if (!hosts[n]) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            ports[n] = (int)port;
        }
        n++;
        p = end ? end + 1 : NULL;
    }
    if (n == 0)
        snprintf(err, errlen, "no sentinel given");
    return n ? n : -1;
}

int rds_sentinels_check(const char *list, const char *name, char *err, size_t errlen)
{
    char msg[160];
    if (!list || !*list)
        return 0;
    if (sent_parse(list, NULL, NULL, msg, sizeof(msg)) < 0) {
        snprintf(err, errlen, "redis_sentinels: %s", msg);
        return -1;
    }
    if (!name || !*name || strlen(name) >= SENT_NAME_MAX || strpbrk(name, " \t\r\n")) {
        snprintf(err, errlen,
                 "redis_master_name: give the name the sentinels monitor "
                 "(no spaces, under %d bytes)",
                 SENT_NAME_MAX);
        return -1;
    }
    return 0;
}

int rds_use_sentinels(rds *r, const char *list, const char *name)
{
    char err[160];
    rds_sentinel *s = r ? &r->sent : NULL;
    if (!s || s->n || rds_sentinels_check(list, name, err, sizeof(err)) != 0 || !list || !*list)
        return -1;
    s->hosts = calloc(SENT_MAX, sizeof(*s->hosts));
    s->ports = calloc(SENT_MAX, sizeof(*s->ports));
    s->name = strdup(name);
    int n = s->hosts && s->ports && s->name ? sent_parse(list, s->hosts, s->ports, err, sizeof(err))
                                            : -1;
    if (n < 0) {
        rds_sentinel_free(r);
        return -1;
    }
    s->n = n;
    /* The watch starts with the loop, like the links. */
    uv_timer_start(&s->w_timer, sent_on_watch_timer, 0, 0);
    return 0;
}

int rds_use_sentinels_of(rds *r, const rds *like)
{
    if (!like || like->sent.n == 0)
        return 0;
    char list[SENT_MAX * 80] = "";
    size_t at = 0;
    for (int i = 0; i < like->sent.n; i++)
        at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s:%d", i ? "," : "",
                               like->sent.hosts[i], like->sent.ports[i]);
    return rds_use_sentinels(r, list, like->sent.name);
}

unsigned rds_master_changes(const rds *r)
{
    return r ? r->sent.changes : 0;
}

/* ---------------------------------------------------------------- the master moved */

/* Take host:port as the master; when it moved, drop the links that talk to
 * the old one. */
static void sent_found(rds *r, const char *host, int port, const char *how)
{
    rds_sentinel *s = &r->sent;
    if (s->known && port == r->port && strcmp(host, r->host) == 0)
        return;
    char *copy = strdup(host);
    if (!copy)
        return;
    if (s->known) {
        s->changes++;
        log_warn("rds: the master %s moved from %s:%d to %s:%d (%s)", s->name, r->host, r->port,
                 host, port, how);
    } else {
        log_info("rds: the master %s is at %s:%d (%s)", s->name, host, port, how);
    }
    free(r->host);
    r->host = copy;
    r->port = port;
    s->known = 1;
    if (!r->cmd.resolving)
        rds_link_drop(&r->cmd, "the master moved");
    if (r->on_message && !r->sub.resolving)
        rds_link_drop(&r->sub, "the master moved");
}

/* ---------------------------------------------------------------- the query */

static void sent_query_start(rds *r);

/* The query ended (answered or every sentinel failed): wake the waiting links. */
static void sent_query_end(rds *r)
{
    rds_sentinel *s = &r->sent;
    int found = s->q_found;
    uv_timer_stop(&s->q_timer);
    rds_link *links[2] = {&r->cmd, &r->sub};
    for (int i = 0; i < 2; i++) {
        if (!links[i]->resolving)
            continue;
        links[i]->resolving = 0;
        if (found)
            rds_link_connect(links[i]);
        else
            rds_link_retry(links[i], "no sentinel answered where the master is");
    }
}

/* The current sentinel failed or had no answer: the next one, or the end. */
static void sent_query_next(rds *r)
{
    rds_sentinel *s = &r->sent;
    if (r->closing)
        return;
    if (s->q_found || ++s->q_tried >= s->n) {
        sent_query_end(r);
        return;
    }
    s->q_idx = (s->q_idx + 1) % s->n;
    sent_query_start(r);
}

static void sent_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rds *r = privdata;
    redisReply *rep = reply;
    if (!rep || r->closing)
        return; /* the disconnect (or our free) moves on */
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING &&
        rep->element[1]->type == REDIS_REPLY_STRING) {
        int port = atoi(rep->element[1]->str);
        if (port > 0 && port < 65536) {
            r->sent.q_found = 1;
            r->sent.ask = r->sent.q_idx; /* it answered: ask it first next time */
            sent_found(r, rep->element[0]->str, port, "asked a sentinel");
        }
    } else {
        log_warn("rds: sentinel %s:%d does not know the master %s", r->sent.hosts[r->sent.q_idx],
                 r->sent.ports[r->sent.q_idx], r->sent.name);
    }
    redisAsyncDisconnect(ac); /* inside its callback: hiredis does it after we return */
}

static void sent_q_on_connect(const redisAsyncContext *cac, int status)
{
    rds *r = cac->data;
    if (status == REDIS_OK || cac != r->sent.q_ac)
        return;
    /* Refused: hiredis frees the context after we return, with no disconnect callback. */
    r->sent.q_ac = NULL;
    log_debug("rds: sentinel %s:%d: %s", r->sent.hosts[r->sent.q_idx], r->sent.ports[r->sent.q_idx],
              cac->errstr);
    sent_query_next(r);
}

static void sent_q_on_disconnect(const redisAsyncContext *cac, int status)
{
    rds *r = cac->data;
    (void)status;
    if (cac != r->sent.q_ac)
        return; /* abandoned by the timeout or the close */
    r->sent.q_ac = NULL;
    sent_query_next(r);
}

/* A sentinel that does not answer in time is given up. */
static void sent_on_query_timeout(uv_timer_t *t)
{
    rds *r = t->data;
    redisAsyncContext *ac = r->sent.q_ac;
    r->sent.q_ac = NULL; /* its callbacks see it is not ours any more */
    if (ac)
        redisAsyncFree(ac);
    log_debug("rds: sentinel %s:%d: no answer in %d ms", r->sent.hosts[r->sent.q_idx],
              r->sent.ports[r->sent.q_idx], SENT_QUERY_TIMEOUT_MS);
    sent_query_next(r);
}

static void sent_query_start(rds *r)
{
    rds_sentinel *s = &r->sent;
    redisAsyncContext *ac = redisAsyncConnect(s->hosts[s->q_idx], s->ports[s->q_idx]);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        sent_query_next(r);
        return;
    }
    ac->data = r;
    if (rds_attach(ac, r->loop) != 0) {
        sent_query_next(r);
        return;
    }
    s->q_ac = ac;
    redisAsyncSetConnectCallback(ac, sent_q_on_connect);
    redisAsyncSetDisconnectCallback(ac, sent_q_on_disconnect);
    /* Sent once connected (hiredis buffers it). */
    redisAsyncCommand(ac, sent_on_reply, r, "SENTINEL get-master-addr-by-name %s", s->name);
    uv_timer_start(&s->q_timer, sent_on_query_timeout, SENT_QUERY_TIMEOUT_MS, 0);
}

void rds_sentinel_resolve(rds *r)
{
    rds_sentinel *s = &r->sent;
    if (r->closing || s->q_ac || uv_is_active((uv_handle_t *)&s->q_timer))
        return; /* one query at a time: its end wakes every waiting link */
    s->q_idx = s->ask;
    s->q_tried = 0;
    s->q_found = 0;
    sent_query_start(r);
}

/* ---------------------------------------------------------------- ROLE */

static void sent_on_role(redisAsyncContext *ac, void *reply, void *privdata)
{
    rds_link *l = privdata;
    redisReply *rep = reply;
    if (!rep || l->r->closing || ac != l->ac)
        return; /* dropped: the disconnect callback retries */
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(rep->element[0]->str, "master") == 0) {
        rds_link_up(l);
        return;
    }
    log_warn("rds: %s %s:%d is not the master (%s); asking the sentinels again", l->role,
             l->r->host, l->r->port,
             rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                     rep->element[0]->type == REDIS_REPLY_STRING
                 ? rep->element[0]->str
                 : "no role");
    redisAsyncDisconnect(ac); /* the disconnect callback retries, asking again */
}

void rds_sentinel_check_role(rds_link *l)
{
    if (redisAsyncCommand(l->ac, sent_on_role, l, "ROLE") != REDIS_OK)
        redisAsyncDisconnect(l->ac);
}

/* ---------------------------------------------------------------- the watch */

static void sent_watch_start(rds *r);

static void sent_on_watch_timer(uv_timer_t *t)
{
    sent_watch_start(t->data);
}

static void sent_watch_retry(rds *r)
{
    rds_sentinel *s = &r->sent;
    s->w_idx = (s->w_idx + 1) % s->n;
    uv_timer_start(&s->w_timer, sent_on_watch_timer, s->w_backoff_ms, 0);
    s->w_backoff_ms =
        s->w_backoff_ms * 2 > RDS_BACKOFF_MAX_MS ? RDS_BACKOFF_MAX_MS : s->w_backoff_ms * 2;
}

/* "+switch-master": "<name> <old ip> <old port> <new ip> <new port>". */
static void sent_on_event(redisAsyncContext *ac, void *reply, void *privdata)
{
    rds *r = privdata;
    redisReply *rep = reply;
    (void)ac;
    if (!rep || r->closing || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(rep->element[0]->str, "subscribe") == 0) {
        /* Watching again: a switch may have passed while we were not. */
        r->sent.w_backoff_ms = RDS_BACKOFF_MIN_MS;
        rds_sentinel_resolve(r);
        return;
    }
    if (strcmp(rep->element[0]->str, "message") != 0 || rep->element[2]->type != REDIS_REPLY_STRING)
        return;
    char name[SENT_NAME_MAX], oldh[64], newh[64];
    int oldp, newp;
    if (sscanf(rep->element[2]->str, "%127s %63s %d %63s %d", name, oldh, &oldp, newh, &newp) ==
            5 &&
        strcmp(name, r->sent.name) == 0 && newp > 0 && newp < 65536)
        sent_found(r, newh, newp, "+switch-master");
}

static void sent_w_on_connect(const redisAsyncContext *cac, int status)
{
    rds *r = cac->data;
    if (status == REDIS_OK || cac != r->sent.w_ac)
        return;
    r->sent.w_ac = NULL;
    if (!r->closing)
        sent_watch_retry(r);
}

static void sent_w_on_disconnect(const redisAsyncContext *cac, int status)
{
    rds *r = cac->data;
    (void)status;
    if (cac != r->sent.w_ac)
        return;
    r->sent.w_ac = NULL;
    if (!r->closing)
        sent_watch_retry(r);
}

static void sent_watch_start(rds *r)
{
    rds_sentinel *s = &r->sent;
    if (r->closing || s->w_ac)
        return;
    redisAsyncContext *ac = redisAsyncConnect(s->hosts[s->w_idx], s->ports[s->w_idx]);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        sent_watch_retry(r);
        return;
    }
    ac->data = r;
    if (rds_attach(ac, r->loop) != 0) {
        sent_watch_retry(r);
        return;
    }
    s->w_ac = ac;
    redisAsyncSetConnectCallback(ac, sent_w_on_connect);
    redisAsyncSetDisconnectCallback(ac, sent_w_on_disconnect);
    redisAsyncCommand(ac, sent_on_event, r, "SUBSCRIBE +switch-master");
}

/* ---------------------------------------------------------------- life */

void rds_sentinel_init(rds *r)
{
    rds_sentinel *s = &r->sent;
    uv_timer_init(r->loop, &s->q_timer);
    uv_timer_init(r->loop, &s->w_timer);
    s->q_timer.data = s->w_timer.data = r;
    s->w_backoff_ms = RDS_BACKOFF_MIN_MS;
}

void rds_sentinel_stop(rds *r)
{
    rds_sentinel *s = &r->sent;
    redisAsyncContext *q = s->q_ac, *w = s->w_ac;
    s->q_ac = s->w_ac = NULL; /* their callbacks see they are not ours */
    uv_timer_stop(&s->q_timer);
    uv_timer_stop(&s->w_timer);
    if (q)
        redisAsyncFree(q);
    if (w)
        redisAsyncFree(w);
}

void rds_sentinel_close_handles(rds *r, uv_close_cb cb)
{
    uv_close((uv_handle_t *)&r->sent.q_timer, cb);
    uv_close((uv_handle_t *)&r->sent.w_timer, cb);
}

void rds_sentinel_free(rds *r)
{
    rds_sentinel *s = &r->sent;
    for (int i = 0; s->hosts && i < SENT_MAX; i++)
        free(s->hosts[i]);
    free(s->hosts);
    free(s->ports);
    free(s->name);
    s->hosts = NULL;
    s->ports = NULL;
    s->name = NULL;
    s->n = 0;
}
