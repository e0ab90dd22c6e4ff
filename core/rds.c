/* rds.c -- hiredis async on a libuv loop: a command and a pub/sub connection with backoff. */
#include "epos/log.h"
#include "rds_internal.h"

#include <hiredis/adapters/libuv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RDS_SUB_BATCH 256 /* channels per SUBSCRIBE when resubscribing */

/* A link's backoff ran out: connect, in sentinel mode after asking where. */
static void link_on_timer(uv_timer_t *t)
{
    rds_link *l = t->data;
    if (l->r->sent.n > 0) {
        l->resolving = 1;
        rds_sentinel_resolve(l->r);
    } else {
        rds_link_connect(l);
    }
}

void rds_link_retry(rds_link *l, const char *why)
{
    l->fails++;
    if (l->fails == 1)
        log_warn("rds: %s %s:%d: %s", l->role, l->r->host, l->r->port, why);
    else
        log_debug("rds: %s %s:%d: %s", l->role, l->r->host, l->r->port, why);
    uv_timer_start(&l->timer, link_on_timer, l->backoff_ms, 0);
    l->backoff_ms = l->backoff_ms * 2 > RDS_BACKOFF_MAX_MS ? RDS_BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* Tell on_state when rds_up changed. */
static void rds_report(rds *r)
{
    int up = rds_up(r);
    if (r->closing || up == r->reported)
        return;
    r->reported = up;
    if (r->on_state)
        r->on_state(up, r->arg);
}

static void sub_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rds *r = privdata;
    redisReply *rep = reply;
    /* NULL when the connection dropped or closed: the link callbacks handle that. */
    if (!rep || r->closing || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
        return;
    redisReply *kind = rep->element[0], *chan = rep->element[1], *msg = rep->element[2];
    if (kind->type != REDIS_REPLY_STRING || chan->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "message") == 0 && msg->type == REDIS_REPLY_STRING) {
        /* A message racing an UNSUBSCRIBE is dropped: the caller no longer wants it. */
        if (dict_get(r->subs, chan->str))
            r->on_message(chan->str, msg->str, msg->len, r->arg);
    } else if (strcmp(kind->str, "subscribe") == 0 && r->sub.pending > 0) {
        /* Confirmations arrive in order, so the last resubscription's is the
         * moment every remembered channel is live again. */
        if (--r->sub.pending == 0) {
            r->sub.ready = 1;
            rds_report(r);
        }
    }
}

typedef struct sub_batch {
    rds_link *l;
    int argc;
    const char *argv[RDS_SUB_BATCH + 1];
    size_t len[RDS_SUB_BATCH + 1];
} sub_batch;

static void sub_batch_flush(sub_batch *b)
{
    if (b->argc > 1 && redisAsyncCommandArgv(b->l->ac, sub_on_reply, b->l->r, b->argc, b->argv,
                                             b->len) == REDIS_OK)
        b->l->pending += b->argc - 1;
    b->argc = 1;
}

static int sub_batch_add(const char *key, void *val, void *arg)
{
    sub_batch *b = arg;
    b->argv[b->argc] = key;
    b->len[b->argc] = strlen(key);
    if (++b->argc == RDS_SUB_BATCH + 1)
        sub_batch_flush(b);
    return 0;
}

/* Re-send SUBSCRIBE for every remembered channel on a new pub/sub connection. */
static void sub_resubscribe(rds_link *l)
{
    sub_batch *b = malloc(sizeof(*b));
    l->pending = 0;
    if (b) {
        b->l = l;
        b->argc = 1;
        b->argv[0] = "SUBSCRIBE";
        b->len[0] = strlen("SUBSCRIBE");
        dict_foreach(l->r->subs, sub_batch_add, b);
        sub_batch_flush(b);
        free(b);
    } else {
        log_error("rds: sub: out of memory while resubscribing");
    }
    l->ready = l->pending == 0;
}

/* hiredis 0.14: on failure the context is freed right after this returns. */
static void link_on_connect(const redisAsyncContext *cac, int status)
{
    rds_link *l = cac->data;
    rds *r = l->r;
    if (status != REDIS_OK) {
        l->ac = NULL;
        if (!r->closing)
            rds_link_retry(l, cac->errstr);
        return;
    }
    if (r->closing)
        return; /* the close timer frees it */
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    /* A name per process and role lets operators (and tests) find the connection. */
    redisAsyncCommand(ac, NULL, NULL, "CLIENT SETNAME epos-%d-%s", (int)getpid(), l->role);
    if (r->sent.n > 0)
        rds_sentinel_check_role(l); /* a replica or a stale master is no use */
    else
        rds_link_up(l);
}

/* The link's connection is the master's: usable from now on. */
void rds_link_up(rds_link *l)
{
    rds *r = l->r;
    if (l->fails > 0 || l->backoff_ms > RDS_BACKOFF_MIN_MS)
        log_info("rds: %s %s:%d: connected", l->role, r->host, r->port);
    l->fails = 0;
    l->backoff_ms = RDS_BACKOFF_MIN_MS;
    l->connected = 1;
    if (l == &r->sub)
        sub_resubscribe(l);
    else
        l->ready = 1;
    rds_report(r);
}

/* Drop the link's connection now (the master moved, or ROLE said replica) and
 * reconnect at once. Never inside a callback of l's own context. */
void rds_link_drop(rds_link *l, const char *why)
{
    redisAsyncContext *ac = l->ac;
    l->backoff_ms = RDS_BACKOFF_MIN_MS;
    if (!ac) {
        /* Waiting out a backoff: go now. */
        if (!l->resolving && uv_is_active((uv_handle_t *)&l->timer))
            uv_timer_start(&l->timer, link_on_timer, 0, 0);
        return;
    }
    /* hiredis calls the disconnect callback only for an established
     * connection; a connecting one we retry ourselves. */
    int established = (ac->c.flags & REDIS_CONNECTED) != 0;
    redisAsyncFree(ac); /* pending callbacks run with NULL */
    if (!established) {
        l->ac = NULL;
        l->connected = l->ready = l->pending = 0;
        l->fails = 0;
        rds_link_retry(l, why);
        rds_report(l->r);
    }
}

/* hiredis 0.14: the context is freed right after this returns; pending
 * callbacks already ran with NULL. */
static void link_on_disconnect(const redisAsyncContext *cac, int status)
{
    rds_link *l = cac->data;
    rds *r = l->r;
    l->ac = NULL;
    l->connected = 0;
    l->ready = 0;
    l->pending = 0;
    if (r->closing)
        return;
    rds_link_retry(l, status == REDIS_OK ? "disconnected" : cac->errstr);
    rds_report(r);
}

/* hiredis 0.14.1's libuv adapter ignores a poll error, but libuv reports
 * POLLERR (a refused connect, a reset) as one and stops the handle: the
 * connection would hang forever, never failing, never reconnecting. We keep
 * its attach and cleanup and replace its interest hooks with ones whose
 * callback hands an error to hiredis as readiness, so it reads the socket
 * error and fails the connection. */
static void rds_uv_poll(uv_poll_t *h, int status, int events)
{
    redisLibuvEvents *p = h->data;
    if (status < 0)
        events = p->events;
    if (p->context && (events & UV_READABLE))
        redisAsyncHandleRead(p->context);
    if (p->context && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->context);
    /* Still alive after an error: libuv stopped the handle, start it again. */
    if (status < 0 && p->context && p->events)
        uv_poll_start(&p->handle, p->events, rds_uv_poll);
}

static void rds_uv_interest(redisLibuvEvents *p, int events)
{
    p->events = events;
    if (events)
        uv_poll_start(&p->handle, events, rds_uv_poll);
    else
        uv_poll_stop(&p->handle);
}

static void rds_uv_add_read(void *privdata)
{
    redisLibuvEvents *p = privdata;
    rds_uv_interest(p, p->events | UV_READABLE);
}

static void rds_uv_del_read(void *privdata)
{
    redisLibuvEvents *p = privdata;
    rds_uv_interest(p, p->events & ~UV_READABLE);
}

static void rds_uv_add_write(void *privdata)
{
    redisLibuvEvents *p = privdata;
    rds_uv_interest(p, p->events | UV_WRITABLE);
}

static void rds_uv_del_write(void *privdata)
{
    redisLibuvEvents *p = privdata;
    rds_uv_interest(p, p->events & ~UV_WRITABLE);
}

int rds_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (redisLibuvAttach(ac, loop) != REDIS_OK) {
        /* The adapter set its hooks but no handle: its cleanup would crash. */
        ac->ev.cleanup = NULL;
        redisAsyncFree(ac);
        return -1;
    }
    ac->ev.addRead = rds_uv_add_read;
    ac->ev.delRead = rds_uv_del_read;
    ac->ev.addWrite = rds_uv_add_write;
    ac->ev.delWrite = rds_uv_del_write;
    return 0;
}

void rds_link_connect(rds_link *l)
{
    rds *r = l->r;
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac) {
        rds_link_retry(l, "out of memory");
        return;
    }
    if (ac->err) {
        rds_link_retry(l, ac->errstr);
        redisAsyncFree(ac);
        return;
    }
    ac->data = l;
    if (rds_attach(ac, r->loop) != 0) {
        rds_link_retry(l, "cannot watch the socket");
        return;
    }
    l->ac = ac;
    /* Attach first: setting the connect callback arms the write watch. */
    redisAsyncSetConnectCallback(ac, link_on_connect);
    redisAsyncSetDisconnectCallback(ac, link_on_disconnect);
}

static void link_init(rds *r, rds_link *l, const char *role)
{
    l->r = r;
    l->role = role;
    l->backoff_ms = RDS_BACKOFF_MIN_MS;
    uv_timer_init(r->loop, &l->timer);
    l->timer.data = l;
}

static void rds_free(rds *r)
{
    rds_sentinel_free(r);
    dict_free(r->subs);
    free(r->host);
    free(r);
}

rds *rds_create(uv_loop_t *loop, const char *host, int port, rds_message_cb *on_message,
                rds_state_cb *on_state, void *arg)
{
    rds *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->loop = loop;
    r->host = strdup(host ? host : "127.0.0.1");
    r->subs = dict_create();
    if (!r->host || !r->subs) {
        rds_free(r);
        return NULL;
    }
    r->port = port;
    r->on_message = on_message;
    r->on_state = on_state;
    r->arg = arg;
    link_init(r, &r->cmd, "cmd");
    link_init(r, &r->sub, "sub");
    rds_sentinel_init(r);
    /* Connect from the loop: no callback runs inside rds_create. */
    uv_timer_start(&r->cmd.timer, link_on_timer, 0, 0);
    if (on_message)
        uv_timer_start(&r->sub.timer, link_on_timer, 0, 0);
    return r;
}

int rds_command(rds *r, redisCallbackFn *cb, void *privdata, const char *fmt, ...)
{
    if (!r || r->closing || !r->cmd.connected || !fmt)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->cmd.ac, cb, privdata, fmt, ap);
    va_end(ap);
    return rc == REDIS_OK ? 0 : -1;
}

int rds_command_argv(rds *r, redisCallbackFn *cb, void *privdata, int argc, const char **argv,
                     const size_t *argvlen)
{
    if (!r || r->closing || !r->cmd.connected || argc < 1 || !argv)
        return -1;
    int rc = redisAsyncCommandArgv(r->cmd.ac, cb, privdata, argc, argv, argvlen);
    return rc == REDIS_OK ? 0 : -1;
}

int rds_subscribe(rds *r, const char *channel)
{
    if (!r || r->closing || !r->on_message || !channel)
        return -1;
    if (dict_get(r->subs, channel))
        return 0;
    if (dict_set(r->subs, channel, r) != 0)
        return -1;
    /* Not connected: the next connect subscribes it. */
    if (r->sub.connected)
        redisAsyncCommand(r->sub.ac, sub_on_reply, r, "SUBSCRIBE %s", channel);
    return 0;
}

int rds_unsubscribe(rds *r, const char *channel)
{
    if (!r || r->closing || !channel)
        return -1;
    if (!dict_del(r->subs, channel))
        return 0;
    /* hiredis refuses it when nothing is subscribed yet; that is fine. */
    if (r->sub.connected)
        redisAsyncCommand(r->sub.ac, sub_on_reply, r, "UNSUBSCRIBE %s", channel);
    return 0;
}

int rds_up(const rds *r)
{
    return r && !r->closing && r->cmd.ready && (!r->on_message || r->sub.ready);
}

static void rds_on_closed_last(uv_handle_t *h)
{
    rds *r = ((rds_link *)h->data)->r;
    if (r->done)
        r->done(r->done_arg);
    rds_free(r);
}

/* The adapter's poll handles closed in the same pass as this timer (close
 * callbacks run newest first), so closing the last timer from here puts it
 * in the next pass: done runs after every handle is gone. */
static void rds_on_closed_first(uv_handle_t *h)
{
    rds *r = ((rds_link *)h->data)->r;
    uv_close((uv_handle_t *)&r->cmd.timer, rds_on_closed_last);
}

static void link_free(rds_link *l)
{
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    l->connected = 0;
    l->ready = 0;
    if (ac)
        redisAsyncFree(ac); /* pending callbacks run with NULL */
}

static void rds_on_closed_nothing(uv_handle_t *h)
{
    (void)h;
}

/* From a timer, never inside a hiredis callback: redisAsyncFree is only safe
 * outside them (inside the connect callback it would free a context hiredis
 * still uses). */
static void rds_on_close_timer(uv_timer_t *t)
{
    rds *r = ((rds_link *)t->data)->r;
    link_free(&r->cmd);
    link_free(&r->sub);
    rds_sentinel_stop(r);
    rds_sentinel_close_handles(r, rds_on_closed_nothing);
    uv_close((uv_handle_t *)&r->sub.timer, rds_on_closed_first);
}

void rds_close(rds *r, void (*done)(void *arg), void *arg)
{
    if (!r || r->closing)
        return;
    r->closing = 1;
    r->done = done;
    r->done_arg = arg;
    uv_timer_stop(&r->sub.timer);
    uv_timer_start(&r->cmd.timer, rds_on_close_timer, 0, 0);
}
