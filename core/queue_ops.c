/* queue_ops.c -- the job queue's Redis side: the commands that run the scripts of
 * core/queue_lua.c (enqueue, ack, retry/dead, release, claim, promotion). */
#include "queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/auth.h"
#include "epos/log.h"

int64_t queue_backoff_ms(const queue_opts *o, int attempt, double rnd)
{
    int64_t d = o->backoff_base_ms > 0 ? o->backoff_base_ms : 1;
    int64_t cap = o->backoff_max_ms > d ? o->backoff_max_ms : d;
    for (int i = 1; i < attempt && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    if (rnd < 0 || rnd >= 1)
        rnd = 0.5;
    /* "Equal jitter": between half and all of the exponential step, so
     * retries of many jobs that failed together spread out. */
    int64_t j = d / 2 + (int64_t)((double)(d - d / 2) * rnd);
    return j > 0 ? j : 1;
}

/* ---------------------------------------------------------------- jobs */

static const redisReply *queue_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strcmp(k->str, name) == 0)
            return v;
    }
    return NULL;
}

job_t *queue_job_from_entry(queue *q, queue_kind *qk, const redisReply *entry, int deliveries)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING || entry->element[0]->len >= 48 ||
        entry->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL; /* an entry deleted while pending has no fields */
    const redisReply *fields = entry->element[1];
    const redisReply *id = queue_field(fields, "id"), *payload = queue_field(fields, "payload");
    const redisReply *attempt = queue_field(fields, "attempt"), *err = queue_field(fields, "error");
    const char *idstr = id && id->len ? id->str : entry->element[0]->str;
    size_t idlen = strlen(idstr), plen = payload ? payload->len : 2, elen = err ? err->len : 0;
    job_t *j = calloc(1, sizeof(*j) + idlen + plen + elen + 3);
    if (!j)
        return NULL;
    char *p = (char *)(j + 1);
    memcpy(p, idstr, idlen + 1);
    j->id = p;
    p += idlen + 1;
    memcpy(p, payload ? payload->str : "{}", plen);
    p[plen] = '\0';
    j->payload = p;
    j->payload_len = plen;
    p += plen + 1;
    if (elen)
        memcpy(p, err->str, elen);
    p[elen] = '\0';
    j->last_error = p;
    j->kind = qk->kind;
    j->q = q;
    j->qk = qk;
    j->kind_arg = qk->arg;
    memcpy(j->entry, entry->element[0]->str, entry->element[0]->len + 1);
    long a = attempt ? strtol(attempt->str, NULL, 10) : 1;
    if (a < 1 || a > 1000000)
        a = 1;
    j->redelivered = deliveries > 1 ? deliveries - 1 : 0;
    j->attempt = (int)a + j->redelivered;
    return j;
}

void queue_job_free(job_t *j)
{
    free(j->settle_err);
    free(j);
}

/* ---------------------------------------------------------------- commands */

void queue_cmd_reply_done(queue *q)
{
    q->pending--;
    if (q->stopping == 1)
        queue_kick(q); /* queue_flush rechecks whether the stop can finish */
}

static void queue_on_cmd_reply(redisAsyncContext *c, void *r, void *privdata)
{
    redisReply *reply = r;
    (void)c;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn("queue: Redis: %s", reply->str);
    queue_cmd_reply_done(privdata);
}

/* Send argv on the command connection, counting the reply as pending. */
static int queue_send(queue *q, redisCallbackFn *cb, int argc, const char **argv,
                      const size_t *lens)
{
    if (rds_command_argv(q->cmd, cb, q, argc, argv, lens) != 0)
        return -1;
    q->pending++;
    return 0;
}

int queue_send_acks(queue *q, queue_kind *qk)
{
    const char *argv[5 + QUEUE_ACK_BATCH];
    int rc = 0;
    size_t at = 0;
    while (at < qk->nacks) {
        size_t n = qk->nacks - at < QUEUE_ACK_BATCH ? qk->nacks - at : QUEUE_ACK_BATCH;
        argv[0] = "EVAL";
        argv[1] = queue_lua_ack;
        argv[2] = "1";
        argv[3] = qk->stream;
        argv[4] = QUEUE_GROUP;
        for (size_t i = 0; i < n; i++)
            argv[5 + i] = qk->acks[at + i];
        if (queue_send(q, queue_on_cmd_reply, 5 + (int)n, argv, NULL) != 0) {
            /* They stay pending and are claimed and run again (idempotent). */
            log_warn("queue: Redis down, %zu acks of %s lost", n, qk->kind);
            rc = -1;
        }
        at += n;
    }
    qk->nacks = 0;
    return rc;
}

int queue_send_fail(queue *q, job_t *j, int64_t delay_ms, const char *err)
{
    char attempt[16], delay[24];
    snprintf(attempt, sizeof(attempt), "%d", j->attempt);
    snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
    const char *argv[] = {"EVAL",      queue_lua_fail, "3",      j->qk->stream, q->delayed_key,
                          q->dead_key, QUEUE_GROUP,    j->entry, j->id,         j->kind,
                          j->payload,  attempt,        err,      delay};
    size_t lens[14];
    for (int i = 0; i < 14; i++)
        lens[i] = strlen(argv[i]);
    lens[10] = j->payload_len;
    if (queue_send(q, queue_on_cmd_reply, 14, argv, lens) != 0) {
        log_warn("queue: Redis down, job %s stays pending until claimed", j->id);
        return -1;
    }
    return 0;
}

int queue_send_release(queue *q, job_t *j)
{
    char attempt[16];
    snprintf(attempt, sizeof(attempt), "%d", j->attempt);
    const char *argv[] = {"EVAL",      queue_lua_release, "1",          j->qk->stream,
                          QUEUE_GROUP, j->entry,          j->id,        j->kind,
                          j->payload,  attempt,           j->last_error};
    size_t lens[11];
    for (int i = 0; i < 11; i++)
        lens[i] = strlen(argv[i]);
    lens[8] = j->payload_len;
    if (queue_send(q, queue_on_cmd_reply, 11, argv, lens) != 0) {
        log_warn("queue: Redis down, job %s stays pending until claimed", j->id);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- claims */

/* Run the jobs of one claim reply ({cursor, [[entry, fields, deliveries]]}). */
static void queue_take_claimed(queue *q, queue_kind *qk, const redisReply *list)
{
    for (size_t i = 0; i < list->elements; i++) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 ||
            e->element[2]->type != REDIS_REPLY_INTEGER)
            continue;
        job_t *j = queue_job_from_entry(q, qk, e, (int)e->element[2]->integer);
        if (!j)
            continue;
        q->stats.claimed++;
        log_info("queue: claimed job %s (%s) of a silent consumer, attempt %d", j->id, j->kind,
                 j->attempt);
        if (q->stopping) {
            queue_send_release(q, j);
            queue_job_free(j);
        } else {
            queue_ready_push(q, j);
        }
    }
}

static void queue_on_claim(redisAsyncContext *c, void *r, void *privdata)
{
    queue_kind *qk = privdata;
    queue *q = qk->q;
    redisReply *reply = r;
    (void)c;
    qk->claiming = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[0]->len < sizeof(qk->claim_from) &&
        reply->element[1]->type == REDIS_REPLY_ARRAY) {
        memcpy(qk->claim_from, reply->element[0]->str, reply->element[0]->len + 1);
        qk->claim_more = strcmp(qk->claim_from, "0-0") != 0;
        queue_take_claimed(q, qk, reply->element[1]);
    } else {
        if (reply && reply->type == REDIS_REPLY_ERROR && !strstr(reply->str, "NOGROUP"))
            log_warn("queue: claim on %s: %s", qk->stream, reply->str);
        strcpy(qk->claim_from, "0-0"); /* the next tick scans from the start */
        qk->claim_more = 0;
    }
    queue_cmd_reply_done(q);
    queue_kick(q);
}

/* Send one claim scan of qk's pending entries from its cursor, when there
 * are free slots. Up to 100 jobs a call, whatever the free slots: the count
 * is also the scan's reach (10 × count entries), and a few jobs too many wait
 * in the ready list (refreshed, so no one else claims them). */
static void queue_claim_send(queue *q, queue_kind *qk)
{
    char idle[16];
    if (qk->claiming || q->stopping || !rds_up(q->cmd) ||
        q->o.concurrency - q->nrunning - q->nready <= 0)
        return;
    if (!qk->claim_from[0])
        strcpy(qk->claim_from, "0-0");
    snprintf(idle, sizeof(idle), "%d", q->o.claim_idle_ms);
    const char *argv[] = {"EVAL",     queue_lua_claim, "1",
                          qk->stream, QUEUE_GROUP,     q->o.consumer,
                          idle,       "100",           qk->claim_from};
    if (rds_command_argv(q->cmd, queue_on_claim, qk, 9, argv, NULL) == 0) {
        q->pending++;
        qk->claiming = 1;
        q->stats.claim_calls++;
    }
}

void queue_claim_continue(queue *q)
{
    for (queue_kind *qk = q->kinds; qk; qk = qk->next)
        if (qk->claim_more)
            queue_claim_send(q, qk);
}

/* Reset the idle time of the jobs we hold (XCLAIM to ourselves, JUSTID does
 * not count a delivery), so no other worker claims a job that is merely slow. */
static void queue_refresh(queue *q, queue_kind *qk)
{
    const char *argv[6 + QUEUE_ACK_BATCH + 1];
    int n = 0;
    job_t *lists[2] = {q->held, q->ready_head};
    for (int l = 0; l < 2; l++) {
        for (job_t *j = lists[l]; j; j = j->next) {
            if (j->qk != qk || j->released)
                continue;
            if (n == 0) {
                argv[0] = "XCLAIM";
                argv[1] = qk->stream;
                argv[2] = QUEUE_GROUP;
                argv[3] = q->o.consumer;
                argv[4] = "0";
            }
            argv[5 + n++] = j->entry;
            if (n == QUEUE_ACK_BATCH) {
                argv[5 + n] = "JUSTID";
                queue_send(q, queue_on_cmd_reply, 6 + n, argv, NULL);
                n = 0;
            }
        }
    }
    if (n > 0) {
        argv[5 + n] = "JUSTID";
        queue_send(q, queue_on_cmd_reply, 6 + n, argv, NULL);
    }
}

void queue_forget_consumers(queue *q, const char *self)
{
    for (queue_kind *qk = q->kinds; qk; qk = qk->next) {
        const char *argv[] = {"EVAL",      queue_lua_forget,     "1", qk->stream,
                              QUEUE_GROUP, QUEUE_FORGET_IDLE_MS, self};
        queue_send(q, queue_on_cmd_reply, 7, argv, NULL);
    }
}

void queue_claim_tick(uv_timer_t *t)
{
    queue *q = t->data;
    if (q->stopping || !rds_up(q->cmd))
        return;
    if (++q->ticks % QUEUE_FORGET_TICKS == 0)
        queue_forget_consumers(q, "");
    for (queue_kind *qk = q->kinds; qk; qk = qk->next) {
        queue_refresh(q, qk);
        queue_claim_send(q, qk); /* from where the last scan stopped */
    }
}

/* ---------------------------------------------------------------- promotion */

#define QUEUE_PROMOTE_LIMIT 500
#define QUEUE_PROMOTE_MAX_WAIT_MS 1000

static void queue_on_promote(redisAsyncContext *c, void *r, void *privdata)
{
    queue *q = privdata;
    redisReply *reply = r;
    uint64_t next = QUEUE_PROMOTE_MAX_WAIT_MS;
    (void)c;
    q->promoting = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_INTEGER) {
        long long moved = reply->element[0]->integer, due = reply->element[1]->integer;
        if (moved >= QUEUE_PROMOTE_LIMIT)
            next = 0;
        else if (due >= 0 && due < QUEUE_PROMOTE_MAX_WAIT_MS)
            next = (uint64_t)due;
    } else if (reply && reply->type == REDIS_REPLY_ERROR) {
        log_warn("queue: promote: %s", reply->str);
    }
    if (q->promote_hint) {
        /* A retry scheduled after this script ran is not in its answer. */
        uint64_t now = uv_now(q->loop);
        uint64_t in = q->promote_hint > now ? q->promote_hint - now : 0;
        if (in < next)
            next = in;
        q->promote_hint = 0;
    }
    if (!q->stopping)
        uv_timer_start(&q->promote_timer, queue_promote_tick, next, 0);
    queue_cmd_reply_done(q);
}

void queue_promote_tick(uv_timer_t *t)
{
    queue *q = t->data;
    char limit[16];
    if (q->stopping || q->promoting)
        return;
    snprintf(limit, sizeof(limit), "%d", QUEUE_PROMOTE_LIMIT);
    const char *argv[] = {"EVAL", queue_lua_promote, "1", q->delayed_key, q->o.prefix, limit};
    if (queue_send(q, queue_on_promote, 6, argv, NULL) == 0)
        q->promoting = 1;
    else
        uv_timer_start(&q->promote_timer, queue_promote_tick, QUEUE_PROMOTE_MAX_WAIT_MS, 0);
}

void queue_promote_soon(queue *q, int64_t delay_ms)
{
    if (q->stopping || !q->started || q->nkinds == 0)
        return;
    uint64_t due = delay_ms > 0 ? (uint64_t)delay_ms : 0;
    if (q->promoting) {
        /* The outstanding promotion's reply schedules the next one. */
        uint64_t at = uv_now(q->loop) + due;
        if (!q->promote_hint || at < q->promote_hint)
            q->promote_hint = at;
        return;
    }
    if (!uv_is_active((uv_handle_t *)&q->promote_timer) ||
        uv_timer_get_due_in(&q->promote_timer) > due)
        uv_timer_start(&q->promote_timer, queue_promote_tick, due, 0);
}

/* ---------------------------------------------------------------- enqueue */

typedef struct queue_enq {
    queue *q;
    queue_enqueue_cb *cb;
    void *arg;
} queue_enq;

static void queue_on_enqueue(redisAsyncContext *c, void *r, void *privdata)
{
    queue_enq *e = privdata;
    redisReply *reply = r;
    (void)c;
    int n = -1;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        n = (int)reply->integer;
    else if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn("queue: enqueue: %s", reply->str);
    if (e->cb)
        e->cb(n, e->arg);
    queue_cmd_reply_done(e->q);
    free(e);
}

static int queue_enqueue_argv(queue *q, size_t n, const char *const *kinds, const char *const *ids,
                              const char *const *payloads, int64_t delay_ms, int dedupe,
                              queue_enqueue_cb *cb, void *arg)
{
    char ttl[16], delay[24];
    int rc = -1;
    size_t argc = 6 + 3 * n;
    const char **argv = malloc(argc * sizeof(*argv));
    queue_enq *e = malloc(sizeof(*e));
    if (!argv || !e)
        goto out;
    snprintf(ttl, sizeof(ttl), "%d", dedupe ? q->o.dedupe_ttl_s : 0);
    snprintf(delay, sizeof(delay), "%lld", (long long)(delay_ms > 0 ? delay_ms : 0));
    argv[0] = "EVAL";
    argv[1] = queue_lua_enqueue;
    argv[2] = "0";
    argv[3] = q->o.prefix;
    argv[4] = ttl;
    argv[5] = delay;
    for (size_t i = 0; i < n; i++) {
        argv[6 + 3 * i] = ids[i];
        argv[7 + 3 * i] = kinds[i];
        argv[8 + 3 * i] = payloads[i] ? payloads[i] : "{}";
    }
    *e = (queue_enq){q, cb, arg};
    if (rds_command_argv(q->cmd, queue_on_enqueue, e, (int)argc, argv, NULL) == 0) {
        q->pending++;
        e = NULL;
        rc = 0;
    }
out:
    free(argv);
    free(e);
    return rc;
}

int queue_enqueue(queue *q, const char *kind, const char *id, const char *payload, int64_t delay_ms,
                  queue_enqueue_cb *cb, void *arg)
{
    char rid[40];
    int dedupe = id != NULL;
    if (!kind || !*kind)
        return -1;
    if (!id) {
        /* A fresh random id needs no "seen" key: it cannot repeat. */
        memcpy(rid, "q:", 3);
        if (auth_random_text(rid + 2, 22) != 0)
            return -1;
        id = rid;
    }
    return queue_enqueue_argv(q, 1, &kind, &id, &payload, delay_ms, dedupe, cb, arg);
}

int queue_enqueue_batch(queue *q, size_t n, const char *const *kinds, const char *const *ids,
                        const char *const *payloads, queue_enqueue_cb *cb, void *arg)
{
    if (n == 0 || n > 100000)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!kinds[i] || !*kinds[i] || !ids[i])
            return -1;
    return queue_enqueue_argv(q, n, kinds, ids, payloads, 0, 1, cb, arg);
}
