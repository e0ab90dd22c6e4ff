/* queue_ops.c -- the job queue's Redis side: Lua scripts for enqueue, ack,
 * retry/dead, release, claim and promotion, and the commands that run them. */
#include "queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/auth.h"
#include "epos/log.h"

/* Each script is one atomic step, so a crash between two Redis commands
 * cannot leave a job both acked and not re-queued (or queued twice). */

/* ARGV: prefix, dedupe ttl s (0: no dedupe), delay ms, then (id, kind,
 * payload) triples. */
const char queue_lua_enqueue[] =
    "local p, ttl, delay = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local n = 0\n"
    "for i = 4, #ARGV - 2, 3 do\n"
    "  local id, kind, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]\n"
    "  if ttl == 0 or redis.call('SET', p .. 'jobid:' .. id, '1', 'NX', 'EX', ttl) then\n"
    "    if delay > 0 then\n"
    "      redis.call('ZADD', p .. 'delayed', now + delay, cjson.encode({id = id, kind = kind,\n"
    "        payload = payload, attempt = 1, error = ''}))\n"
    "    else\n"
    "      redis.call('XADD', p .. 'jobs:' .. kind, '*', 'id', id, 'kind', kind,\n"
    "        'payload', payload, 'attempt', '1')\n"
    "    end\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

/* KEYS: stream. ARGV: group, entry ids. */
const char queue_lua_ack[] = "local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))\n"
                             "redis.call('XDEL', KEYS[1], unpack(ARGV, 2))\n"
                             "return n\n";

/* KEYS: stream, delayed, dead. ARGV: group, entry, id, kind, payload,
 * attempt, error, delay ms (< 0: dead). A job another worker already acked
 * (claimed from us while we were slow) is left alone. */
const char queue_lua_fail[] =
    "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local delay = tonumber(ARGV[8])\n"
    "if delay < 0 then\n"
    "  redis.call('XADD', KEYS[3], '*', 'id', ARGV[3], 'kind', ARGV[4], 'payload', ARGV[5],\n"
    "    'attempt', ARGV[6], 'error', ARGV[7], 'failed_at', string.format('%d', now))\n"
    "  return 2\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], now + delay, cjson.encode({id = ARGV[3], kind = ARGV[4],\n"
    "  payload = ARGV[5], attempt = tonumber(ARGV[6]) + 1, error = ARGV[7]}))\n"
    "return 1\n";

/* KEYS: stream. ARGV: group, entry, id, kind, payload, attempt, error.
 * A fresh entry is readable by any worker at once (a claim would wait). */
const char queue_lua_release[] =
    "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "redis.call('XADD', KEYS[1], '*', 'id', ARGV[3], 'kind', ARGV[4], 'payload', ARGV[5],\n"
    "  'attempt', ARGV[6], 'error', ARGV[7])\n"
    "return 1\n";

/* KEYS: stream. ARGV: group, consumer, min idle ms, count. Returns
 * [[entry id, fields, deliveries]]: the delivery count makes a job that
 * keeps killing its workers end in the dead letters. */
const char queue_lua_claim[] =
    "local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0',\n"
    "  'COUNT', ARGV[4])\n"
    "local out = {}\n"
    "for _, e in ipairs(r[2]) do\n"
    "  if e[2] then\n"
    "    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)\n"
    "    local d = 1\n"
    "    if p[1] then d = p[1][4] end\n"
    "    out[#out + 1] = {e[1], e[2], d}\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS: delayed. ARGV: prefix, limit. Moves due jobs to their streams;
 * returns {moved, ms until the next one or -1}. */
const char queue_lua_promote[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "for _, m in ipairs(due) do\n"
    "  local ok, j = pcall(cjson.decode, m)\n"
    "  if ok and type(j) == 'table' and type(j.kind) == 'string' and type(j.id) == 'string'\n"
    "     and j.kind:match('^[%w_.:-]+$') then\n"
    "    redis.call('XADD', ARGV[1] .. 'jobs:' .. j.kind, '*', 'id', j.id, 'kind', j.kind,\n"
    "      'payload', tostring(j.payload or '{}'), 'attempt', tostring(j.attempt or 1),\n"
    "      'error', tostring(j.error or ''))\n"
    "  else\n"
    "    redis.call('XADD', ARGV[1] .. 'dead', '*', 'id', '', 'kind', '', 'payload', m,\n"
    "      'attempt', '0', 'error', 'malformed delayed entry',\n"
    "      'failed_at', string.format('%d', now))\n"
    "  end\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "end\n"
    "local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "if nxt[2] then return {#due, math.max(0, tonumber(nxt[2]) - now)} end\n"
    "return {#due, -1}\n";

/* KEYS: stream. ARGV: group, idle ms, our name. Deletes consumers that
 * hold no job and are idle that long (workers that died and whose jobs were
 * claimed), and ourselves when we hold none, so the group does not collect a
 * consumer per process ever started. */
const char queue_lua_forget[] =
    "local cs = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])\n"
    "if type(cs) ~= 'table' or cs.err then return 0 end\n"
    "local n = 0\n"
    "for _, c in ipairs(cs) do\n"
    "  local t = {}\n"
    "  for i = 1, #c, 2 do t[c[i]] = c[i + 1] end\n"
    "  if t.pending == 0 and (t.name == ARGV[3] or t.idle > tonumber(ARGV[2])) then\n"
    "    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], t.name)\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

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
    j->attempt = (int)a + (deliveries > 1 ? deliveries - 1 : 0);
    return j;
}

void queue_job_free(job_t *j)
{
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

static void queue_on_claim(redisAsyncContext *c, void *r, void *privdata)
{
    queue_kind *qk = privdata;
    queue *q = qk->q;
    redisReply *reply = r;
    (void)c;
    qk->claiming = 0;
    if (reply && reply->type == REDIS_REPLY_ERROR && !strstr(reply->str, "NOGROUP"))
        log_warn("queue: claim on %s: %s", qk->stream, reply->str);
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *e = reply->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 ||
                e->element[2]->type != REDIS_REPLY_INTEGER)
                continue;
            job_t *j = queue_job_from_entry(q, qk, e, (int)e->element[2]->integer);
            if (!j)
                continue;
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
    queue_cmd_reply_done(q);
    queue_kick(q);
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
    char idle[16], count[16];
    if (q->stopping || !rds_up(q->cmd))
        return;
    if (++q->ticks % QUEUE_FORGET_TICKS == 0)
        queue_forget_consumers(q, "");
    snprintf(idle, sizeof(idle), "%d", q->o.claim_idle_ms);
    for (queue_kind *qk = q->kinds; qk; qk = qk->next) {
        queue_refresh(q, qk);
        int free_slots = q->o.concurrency - q->nrunning - q->nready;
        if (free_slots <= 0 || qk->claiming)
            continue;
        snprintf(count, sizeof(count), "%d", free_slots < 100 ? free_slots : 100);
        const char *argv[] = {"EVAL",      queue_lua_claim, "1",  qk->stream,
                              QUEUE_GROUP, q->o.consumer,   idle, count};
        if (rds_command_argv(q->cmd, queue_on_claim, qk, 8, argv, NULL) == 0) {
            q->pending++;
            qk->claiming = 1;
        }
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
