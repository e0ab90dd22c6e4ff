/* queue.c -- the consuming side of the job queue: the blocking read, running jobs, done. */
#include "queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epos/log.h"
#include "epos/utf8.h"

void queue_opts_default(queue_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->prefix = QUEUE_PREFIX;
    o->consumer = NULL;
    o->concurrency = 64;
    o->max_attempts = 8;
    o->claim_idle_ms = 30000;
    o->backoff_base_ms = 1000;
    o->backoff_max_ms = 600000;
    o->block_ms = 2000;
    o->stop_grace_ms = 10000;
    o->dedupe_ttl_s = 86400;
}

static char *queue_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

/* Keep the options in working ranges whatever the caller passed. */
static void queue_opts_sane(queue_opts *o)
{
    if (o->concurrency < 1)
        o->concurrency = 1;
    if (o->max_attempts < 1)
        o->max_attempts = 1;
    if (o->claim_idle_ms < 100)
        o->claim_idle_ms = 100;
    if (o->backoff_base_ms < 1)
        o->backoff_base_ms = 1;
    if (o->backoff_max_ms < o->backoff_base_ms)
        o->backoff_max_ms = o->backoff_base_ms;
    if (o->block_ms < 10)
        o->block_ms = 10;
    if (o->stop_grace_ms < 0)
        o->stop_grace_ms = 0;
    if (o->dedupe_ttl_s < 1)
        o->dedupe_ttl_s = 1;
}

static void queue_handles_init(queue *q)
{
    uv_idle_init(q->loop, &q->flush_idle);
    uv_timer_init(q->loop, &q->claim_timer);
    uv_timer_init(q->loop, &q->promote_timer);
    uv_timer_init(q->loop, &q->read_timer);
    uv_timer_init(q->loop, &q->stop_timer);
    q->flush_idle.data = q->claim_timer.data = q->promote_timer.data = q;
    q->read_timer.data = q->stop_timer.data = q;
    q->handles = 5;
}

queue *queue_create(uv_loop_t *loop, rds *cmd, const char *host, int port, const queue_opts *opts)
{
    queue *q = calloc(1, sizeof(*q));
    char consumer[300], hostname[256] = "worker";
    if (!q)
        return NULL;
    if (opts)
        q->o = *opts;
    else
        queue_opts_default(&q->o);
    queue_opts_sane(&q->o);
    if (!q->o.prefix)
        q->o.prefix = QUEUE_PREFIX;
    if (!q->o.consumer) {
        gethostname(hostname, sizeof(hostname) - 1);
        snprintf(consumer, sizeof(consumer), "%s-%d", hostname, (int)getpid());
        q->o.consumer = consumer;
    }
    q->loop = loop;
    q->cmd = cmd;
    q->port = port;
    q->blk_id = -1;
    q->rnd = (uv_hrtime() ^ ((uint64_t)getpid() << 32)) | 1;
    q->host = strdup(host ? host : "127.0.0.1");
    q->o.prefix = strdup(q->o.prefix);
    q->o.consumer = strdup(q->o.consumer);
    if (!q->host || !q->o.prefix || !q->o.consumer)
        goto fail;
    q->delayed_key = queue_concat(q->o.prefix, "delayed");
    q->dead_key = queue_concat(q->o.prefix, "dead");
    if (!q->delayed_key || !q->dead_key)
        goto fail;
    queue_handles_init(q);
    return q;
fail:
    free(q->host);
    free((char *)q->o.prefix);
    free((char *)q->o.consumer);
    free(q->delayed_key);
    free(q->dead_key);
    free(q);
    return NULL;
}

void queue_set_outcome_cb(queue *q, queue_outcome_cb *cb, void *arg)
{
    q->outcome_cb = cb;
    q->outcome_arg = arg;
}

int queue_consume(queue *q, const char *kind, queue_run_cb *run, void *arg)
{
    if (!kind || !*kind || strlen(kind) > 100 || strpbrk(kind, " \r\n\t") || !run || q->started)
        return -1;
    queue_kind *qk = calloc(1, sizeof(*qk)), **tail = &q->kinds;
    if (!qk)
        return -1;
    char *jobs = queue_concat(q->o.prefix, "jobs:");
    qk->kind = strdup(kind);
    qk->stream = jobs ? queue_concat(jobs, kind) : NULL;
    free(jobs);
    if (!qk->kind || !qk->stream) {
        free(qk->kind);
        free(qk->stream);
        free(qk);
        return -1;
    }
    qk->run = run;
    qk->arg = arg;
    qk->q = q;
    while (*tail)
        tail = &(*tail)->next;
    *tail = qk;
    q->nkinds++;
    return 0;
}

int queue_running(const queue *q)
{
    return q->nrunning;
}

void queue_stats_get(const queue *q, queue_stats *out)
{
    *out = q->stats;
}

const char *queue_prefix(const queue *q)
{
    return q->o.prefix;
}

void queue_outcome(queue *q, const job_t *j, int outcome)
{
    if (!q->outcome_cb)
        return;
    double secs = 0;
    if (j->started_ns && outcome != QUEUE_RELEASED)
        secs = (double)(uv_hrtime() - j->started_ns) / 1e9;
    q->outcome_cb(j, outcome, secs, q->outcome_arg);
}

/* ---------------------------------------------------------------- reading */

static void queue_read(queue *q);

static void queue_on_blk_reply(redisAsyncContext *c, void *r, void *privdata)
{
    queue *q = privdata;
    redisReply *reply = r;
    (void)c;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        q->blk_id = reply->integer; /* the CLIENT ID */
    else if (reply && reply->type == REDIS_REPLY_ERROR && !strstr(reply->str, "BUSYGROUP"))
        log_warn("queue: %s", reply->str);
}

/* Create the consumer groups (from the stream's start: jobs enqueued before
 * any worker ran are not skipped) on the blocking connection; the commands
 * are pipelined before the next read, so it sees the groups. */
static void queue_groups_create(queue *q)
{
    rds_command(q->blk, queue_on_blk_reply, q, "CLIENT ID");
    for (queue_kind *qk = q->kinds; qk; qk = qk->next)
        rds_command(q->blk, queue_on_blk_reply, q, "XGROUP CREATE %s %s 0 MKSTREAM", qk->stream,
                    QUEUE_GROUP);
    q->blk_ready = 1;
}

static void queue_blk_state(int up, void *arg)
{
    queue *q = arg;
    q->blk_ready = 0;
    q->blk_id = -1;
    if (!up || q->stopping)
        return;
    queue_groups_create(q);
    queue_read(q);
    /* Take over what dead consumers left at once, not a claim period later. */
    for (queue_kind *qk = q->kinds; qk; qk = qk->next)
        qk->claim_more = 1;
    queue_kick(q);
}

void queue_ready_push(queue *q, job_t *j)
{
    j->next = NULL;
    j->prev = NULL;
    if (q->ready_tail)
        q->ready_tail->next = j;
    else
        q->ready_head = j;
    q->ready_tail = j;
    q->nready++;
}

static queue_kind *queue_kind_by_stream(queue *q, const char *stream)
{
    for (queue_kind *qk = q->kinds; qk; qk = qk->next)
        if (strcmp(qk->stream, stream) == 0)
            return qk;
    return NULL;
}

/* Queue the entries of one XREADGROUP reply (an array of [stream, entries]). */
static void queue_take_entries(queue *q, const redisReply *reply)
{
    for (size_t s = 0; s < reply->elements; s++) {
        const redisReply *sr = reply->element[s];
        if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 ||
            sr->element[0]->type != REDIS_REPLY_STRING || sr->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        queue_kind *qk = queue_kind_by_stream(q, sr->element[0]->str);
        if (!qk)
            continue;
        for (size_t e = 0; e < sr->element[1]->elements; e++) {
            job_t *j = queue_job_from_entry(q, qk, sr->element[1]->element[e], 1);
            if (j)
                queue_ready_push(q, j);
        }
    }
}

static void queue_pump(queue *q);

static void queue_read_timer(uv_timer_t *t)
{
    queue_read(t->data);
}

static void queue_on_read(redisAsyncContext *c, void *r, void *privdata)
{
    queue *q = privdata;
    redisReply *reply = r;
    (void)c;
    q->reading = 0;
    if (!reply) {
        /* Disconnected: queue_blk_state resumes reading when it is back. */
    } else if (reply->type == REDIS_REPLY_ERROR) {
        if (strstr(reply->str, "NOGROUP")) {
            /* Redis lost the streams (restart without persistence, FLUSHALL). */
            log_warn("queue: consumer group missing, creating it again");
            queue_groups_create(q);
            queue_read(q);
        } else {
            log_warn("queue: XREADGROUP: %s", reply->str);
            if (!q->stopping)
                uv_timer_start(&q->read_timer, queue_read_timer, 1000, 0);
        }
    } else if (reply->type == REDIS_REPLY_ARRAY) {
        queue_take_entries(q, reply);
        if (q->stopping) /* read as the stop began: let another worker have them */
            queue_release_ready(q);
    }
    queue_pump(q);
    queue_read(q);
    queue_stop_check(q);
}

/* Read as many jobs as there are free slots, blocking up to block_ms. One
 * read at a time; a read returns at once when any stream has entries. */
static void queue_read(queue *q)
{
    if (!q->blk || q->stopping || q->reading || !q->blk_ready || q->nkinds == 0)
        return;
    int free_slots = q->o.concurrency - q->nrunning - q->nready;
    if (free_slots <= 0)
        return;
    int argc = 9 + 2 * q->nkinds, i = 0;
    const char **argv = malloc(sizeof(*argv) * (size_t)argc);
    char count[16], block[16];
    if (!argv)
        goto retry;
    snprintf(count, sizeof(count), "%d", free_slots);
    snprintf(block, sizeof(block), "%d", q->o.block_ms);
    argv[i++] = "XREADGROUP";
    argv[i++] = "GROUP";
    argv[i++] = QUEUE_GROUP;
    argv[i++] = q->o.consumer;
    argv[i++] = "COUNT";
    argv[i++] = count;
    argv[i++] = "BLOCK";
    argv[i++] = block;
    argv[i++] = "STREAMS";
    for (queue_kind *qk = q->kinds; qk; qk = qk->next)
        argv[i++] = qk->stream;
    for (int k = 0; k < q->nkinds; k++)
        argv[i++] = ">";
    int rc = rds_command_argv(q->blk, queue_on_read, q, argc, argv, NULL);
    free(argv);
    if (rc == 0) {
        q->reading = 1;
        return;
    }
retry:
    uv_timer_start(&q->read_timer, queue_read_timer, 200, 0);
}

/* ---------------------------------------------------------------- running */

static void queue_held_link(queue *q, job_t *j)
{
    j->prev = NULL;
    j->next = q->held;
    if (q->held)
        q->held->prev = j;
    q->held = j;
}

static void queue_held_unlink(queue *q, job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        q->held = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
}

void queue_dispatch(queue *q, job_t *j)
{
    queue_held_link(q, j);
    q->nrunning++;
    j->started_ns = uv_hrtime();
    /* The handler may call queue_job_done before it returns: j is gone then. */
    j->qk->run(j, j->qk->arg);
}

/* A claimed job that killed (or outlived) its workers too often is dead
 * without another run. */
static void queue_give_up(queue *q, job_t *j)
{
    char err[300];
    snprintf(err, sizeof(err), "delivered %d times without an answer (last error: %s)", j->attempt,
             j->last_error[0] ? j->last_error : "none");
    utf8_trim(err);
    queue_held_link(q, j);
    q->nrunning++;
    queue_job_done(j, JOB_FAIL, err);
}

/* Start ready jobs while there are free slots. */
static void queue_pump(queue *q)
{
    while (q->ready_head && q->nrunning < q->o.concurrency && !q->stopping) {
        job_t *j = q->ready_head;
        q->ready_head = j->next;
        if (!q->ready_head)
            q->ready_tail = NULL;
        q->nready--;
        j->next = NULL;
        if (j->redelivered > 0 && j->attempt > q->o.max_attempts)
            queue_give_up(q, j);
        else
            queue_dispatch(q, j);
    }
}

static uint64_t queue_rand(queue *q)
{
    q->rnd ^= q->rnd << 13;
    q->rnd ^= q->rnd >> 7;
    q->rnd ^= q->rnd << 17;
    return q->rnd;
}

static void queue_add_ack(queue *q, job_t *j)
{
    queue_kind *qk = j->qk;
    if (qk->nacks == qk->capacks) {
        size_t cap = qk->capacks ? qk->capacks * 2 : 64;
        void *acks = realloc(qk->acks, cap * sizeof(*qk->acks));
        if (!acks) {
            /* Left pending: claimed and run again later (effects are idempotent). */
            log_warn("queue: out of memory acking job %s", j->id);
            return;
        }
        qk->acks = acks;
        qk->capacks = cap;
    }
    memcpy(qk->acks[qk->nacks++], j->entry, sizeof(j->entry));
}

/* Whether rc ends the job for good (done or dead), not a retry. */
static int queue_job_final(const queue *q, const job_t *j, int rc)
{
    if (rc != JOB_RETRY)
        return 1;
    return j->retry_ms > 0 ? 0 : j->attempt >= q->o.max_attempts;
}

/* Tell Redis how the job ended (ack, retry, dead letters) and free it. */
static void queue_job_end(job_t *j, int rc, const char *err)
{
    queue *q = j->q;
    queue_held_unlink(q, j);
    if (j->released) {
        queue_job_free(j);
        return;
    }
    q->nrunning--;
    if (rc == JOB_OK) {
        queue_add_ack(q, j);
        queue_outcome(q, j, QUEUE_DONE);
    } else {
        int dead = queue_job_final(q, j, rc);
        double rnd = (double)(queue_rand(q) >> 11) / 9007199254740992.0;
        int64_t delay = dead              ? -1
                        : j->retry_ms > 0 ? j->retry_ms
                                          : queue_backoff_ms(&q->o, j->attempt, rnd);
        if (!err || !*err)
            err = rc == JOB_RETRY ? "failed (retry)" : "failed";
        if (dead)
            log_warn("queue: job %s (%s) attempt %d dead: %s", j->id, j->kind, j->attempt, err);
        else
            log_info("queue: job %s (%s) attempt %d failed, retry in %lld ms: %s", j->id, j->kind,
                     j->attempt, (long long)delay, err);
        if (!dead && j->retry_ms > 0 && j->retry_free && j->attempt > 0)
            j->attempt--; /* the script counts the next run as attempt + 1 */
        queue_send_fail(q, j, delay, err);
        queue_outcome(q, j, dead ? QUEUE_DEAD : QUEUE_RETRIED);
        if (!dead)
            queue_promote_soon(q, delay);
    }
    queue_job_free(j);
    queue_kick(q);
}

void queue_job_done(job_t *j, int rc, const char *err)
{
    queue *q = j->q;
    int final = queue_job_final(q, j, rc);
    if (!j->released && final && q->settle_cb && !j->settle_err) {
        /* Held (still ours, refreshed) until the caller's record of the end
         * is durable: a crash in between runs the job again. */
        j->settle_rc = rc;
        j->settle_err = strdup(err ? err : "");
        if (j->settle_err && q->settle_cb(j, q->settle_arg))
            return;
    }
    queue_job_end(j, rc, err);
}

void queue_job_settled(job_t *j)
{
    queue_job_end(j, j->settle_rc, j->settle_err);
}

void queue_set_settle_cb(queue *q, queue_settle_cb *cb, void *arg)
{
    q->settle_cb = cb;
    q->settle_arg = arg;
}

/* Flush the acks and read again once this loop turn's callbacks are done:
 * an idle handle makes the loop poll without blocking, so acks of jobs done in
 * a timer callback are not held back by a blocking poll. */
static void queue_flush(uv_idle_t *h)
{
    queue *q = h->data;
    uv_idle_stop(h);
    for (queue_kind *qk = q->kinds; qk; qk = qk->next)
        if (qk->nacks)
            queue_send_acks(q, qk);
    queue_pump(q);
    queue_claim_continue(q);
    queue_read(q);
    queue_stop_check(q);
}

void queue_kick(queue *q)
{
    if (q->stopping < 2)
        uv_idle_start(&q->flush_idle, queue_flush);
}

int queue_start(queue *q)
{
    if (q->started || q->stopping)
        return -1;
    q->started = 1;
    if (q->nkinds == 0)
        return 0;
    q->blk = rds_create(q->loop, q->host, q->port, NULL, queue_blk_state, q);
    if (!q->blk)
        return -1;
    /* Through Sentinel: the blocking reads follow the same master as cmd. */
    rds_use_sentinels_of(q->blk, q->cmd);
    uint64_t every = (uint64_t)q->o.claim_idle_ms / 3;
    uv_timer_start(&q->claim_timer, queue_claim_tick, every, every);
    uv_timer_start(&q->promote_timer, queue_promote_tick, 0, 0);
    return 0;
}

void queue_free(queue *q)
{
    if (!q)
        return;
    while (q->ready_head) {
        job_t *j = q->ready_head;
        q->ready_head = j->next;
        queue_job_free(j);
    }
    while (q->held) {
        job_t *j = q->held;
        q->held = j->next;
        queue_job_free(j);
    }
    while (q->kinds) {
        queue_kind *qk = q->kinds;
        q->kinds = qk->next;
        free(qk->kind);
        free(qk->stream);
        free(qk->acks);
        free(qk);
    }
    free(q->host);
    free((char *)q->o.prefix);
    free((char *)q->o.consumer);
    free(q->delayed_key);
    free(q->dead_key);
    free(q);
}
