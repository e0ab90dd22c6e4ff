/* relay.c -- the outbox relay: claim unrelayed outbox rows, add them to their job streams, mark
 * them relayed.
 *
 * Crash safety, step by step (schema/functions/queue.sql has the SQL):
 *   1. epos_outbox_claim leases up to RELAY_BATCH rows for RELAY_LEASE_MS
 *      (FOR UPDATE SKIP LOCKED: relays of several workers take disjoint rows);
 *   2. one Lua script adds them to epos:jobs:<kind> with job id "ob:<id>",
 *      skipping ids it has already seen (epos:jobid:<id>, SET NX);
 *   3. epos_outbox_relayed marks them.
 * A crash after 1 leaves a lease that expires; a crash after 2 makes the next
 * relay send the rows again, and step 2 drops the duplicates. A finished job
 * marks its row done (relay_job_finished); when Redis comes back without its
 * data (the epos:epoch key is gone), rows relayed and not done are relayed
 * again, so a Redis restart loses no outbox job; so they are when a Sentinel
 * failover moved the master (a promoted replica may lack the last writes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/auth.h"
#include "epos/log.h"
#include "worker.h"

#define RELAY_BATCH 500
#define RELAY_LEASE_MS 30000
#define RELAY_POLL_MS 1000
#define RELAY_DONE_FLUSH_MS 100
#define RELAY_DONE_MAX 2000
#define RELAY_DONE_RETRY_MAX_MS 2000
#define RELAY_PURGE_POLLS 3600 /* delete long-finished rows once an hour */

struct relay {
    worker_t *w;
    uv_timer_t poll;       /* the 1 s poll: NOTIFY can be missed across a reconnect */
    uv_timer_t done_timer; /* batches the done marks */
    int busy;              /* a batch is between claim and mark */
    int again;             /* woken while busy: go again right after */
    int paused;
    int closing; /* 1 waiting for the last queries, 2 closing timers */
    int handles;
    int requeue; /* Redis lost its data: re-relay unfinished rows */
    int requeue_busy;
    int done_busy;
    unsigned polls;
    char *batch_ids; /* "{1,2,3}" of the batch in flight */
    size_t batch_n;
    job_t **done; /* finished outbox jobs held until their rows are marked done */
    size_t done_n, done_cap;
    job_t **writing; /* the marks being written now */
    size_t writing_n;
    unsigned done_delay_ms; /* the pause before writing marks again after a failure */
    char epoch[40];         /* the epos:epoch value last seen, "" if none */
    unsigned master_moves;  /* rds_master_changes last seen */
    uint64_t relayed;
    void (*close_done)(void *arg);
    void *close_arg;
};

static void relay_kick(relay_t *r);
static void relay_finish_check(relay_t *r);

/* ---------------------------------------------------------------- batches */

static void relay_batch_end(relay_t *r)
{
    free(r->batch_ids);
    r->batch_ids = NULL;
    r->busy = 0;
    int again = r->again || r->batch_n == RELAY_BATCH;
    r->again = 0;
    r->batch_n = 0;
    if (again)
        relay_kick(r);
    relay_finish_check(r);
}

static void relay_on_marked(PGresult *res, void *arg)
{
    relay_t *r = arg;
    if (pgq_ok(res))
        r->relayed += r->batch_n;
    else /* the lease expires and the rows are sent again (as duplicates: dropped) */
        log_warn("relay: marking %zu outbox rows relayed failed: %s", r->batch_n,
                 res ? PQresultErrorMessage(res) : "connection lost");
    relay_batch_end(r);
}

static void relay_on_released(PGresult *res, void *arg)
{
    relay_t *r = arg;
    (void)res;
    r->batch_n = 0; /* not a full batch: no hurry to go again */
    relay_batch_end(r);
}

/* Redis did not take the batch: give the rows back at once. */
static void relay_release(relay_t *r)
{
    const char *params[] = {r->batch_ids};
    if (pgq_exec_sql(r->w->pg, "SELECT epos_outbox_release($1::bigint[])", 1, params,
                     relay_on_released, r) != 0) {
        r->batch_n = 0;
        relay_batch_end(r);
    }
}

static void relay_on_enqueued(int n, void *arg)
{
    relay_t *r = arg;
    if (n < 0) {
        log_warn("relay: Redis refused %zu outbox rows, releasing them", r->batch_n);
        relay_release(r);
        return;
    }
    const char *params[] = {r->batch_ids};
    if (pgq_exec_sql(r->w->pg, "SELECT epos_outbox_relayed($1::bigint[])", 1, params,
                     relay_on_marked, r) != 0)
        relay_on_marked(NULL, r);
}

/* Build the job arrays and the id list of a claimed batch and enqueue it.
 * Returns 0 when the enqueue was sent. */
static int relay_send(relay_t *r, PGresult *res, int n)
{
    const char **kinds = calloc((size_t)n, sizeof(*kinds));
    const char **payloads = calloc((size_t)n, sizeof(*payloads));
    const char **ids = calloc((size_t)n, sizeof(*ids));
    char *idbuf = malloc((size_t)n * 24), *list = malloc((size_t)n * 21 + 3);
    int rc = -1;
    if (!kinds || !payloads || !ids || !idbuf || !list)
        goto out;
    size_t at = 0;
    list[at++] = '{';
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(res, i, 0);
        snprintf(idbuf + (size_t)i * 24, 24, "ob:%.20s", id);
        ids[i] = idbuf + (size_t)i * 24;
        kinds[i] = PQgetvalue(res, i, 1);
        payloads[i] = PQgetvalue(res, i, 2);
        at += (size_t)snprintf(list + at, 22, "%s%.20s", i ? "," : "", id);
    }
    list[at++] = '}';
    list[at] = '\0';
    r->batch_ids = list;
    r->batch_n = (size_t)n;
    list = NULL;
    /* The script's arguments are copied into the output buffer: res may go. */
    rc = queue_enqueue_batch(r->w->q, (size_t)n, kinds, ids, payloads, relay_on_enqueued, r);
out:
    free(kinds);
    free(payloads);
    free(ids);
    free(idbuf);
    free(list);
    return rc;
}

static void relay_on_claimed(PGresult *res, void *arg)
{
    relay_t *r = arg;
    if (!pgq_ok(res)) {
        if (res)
            log_warn("relay: claiming outbox rows: %s", PQresultErrorMessage(res));
        r->busy = 0;
        relay_finish_check(r);
        return;
    }
    int n = PQntuples(res);
    if (n == 0) {
        relay_batch_end(r);
        return;
    }
    if (relay_send(r, res, n) != 0) {
        if (!r->batch_ids) { /* out of memory: the lease expires */
            r->busy = 0;
            relay_finish_check(r);
            return;
        }
        relay_release(r);
    }
}

static void relay_kick(relay_t *r)
{
    if (r->paused)
        return;
    if (r->busy) {
        r->again = 1;
        return;
    }
    /* Without Redis a claim would only hold leases: wait for the next poll. */
    if (!rds_up(r->w->redis))
        return;
    char limit[16], lease[16];
    snprintf(limit, sizeof(limit), "%d", RELAY_BATCH);
    snprintf(lease, sizeof(lease), "%d", RELAY_LEASE_MS);
    const char *params[] = {limit, lease};
    r->busy = 1;
    if (pgq_exec_sql(r->w->pg, "SELECT id, kind, payload FROM epos_outbox_claim($1::int, $2::int)",
                     2, params, relay_on_claimed, r) != 0)
        r->busy = 0;
}

/* ---------------------------------------------------------------- done marks */

/* A finished outbox job is held by the queue (queue_settle_cb) until its row
 * is marked done, and acked only then. Acking first lost the marks of the
 * jobs finished in the last RELAY_DONE_FLUSH_MS before a kill -9 (the acks
 * went out on the next loop turn, the marks 100 ms later), and a failed
 * write dropped them: such rows stayed relayed and not done, and ran again
 * whenever Redis lost its data. Now a crash before the mark leaves the job
 * pending, claimed and run again (effects are idempotent), then marked. */

static void relay_flush_done(relay_t *r);

static void relay_on_done_timer(uv_timer_t *t)
{
    relay_flush_done(t->data);
}

/* Append n jobs to the marks waiting to be written. Returns 0 or -1. */
static int relay_done_add(relay_t *r, job_t *const *jobs, size_t n)
{
    if (r->done_n + n > r->done_cap) {
        size_t cap = r->done_cap ? r->done_cap : 256;
        while (cap < r->done_n + n)
            cap *= 2;
        job_t **d = realloc(r->done, cap * sizeof(*d));
        if (!d)
            return -1;
        r->done = d;
        r->done_cap = cap;
    }
    memcpy(r->done + r->done_n, jobs, n * sizeof(*jobs));
    r->done_n += n;
    return 0;
}

static void relay_on_done_written(PGresult *res, void *arg)
{
    relay_t *r = arg;
    job_t **jobs = r->writing;
    size_t n = r->writing_n;
    r->writing = NULL;
    r->writing_n = 0;
    r->done_busy = 0;
    if (pgq_ok(res)) {
        r->done_delay_ms = 0;
        for (size_t i = 0; i < n; i++)
            queue_job_settled(jobs[i]); /* now the ack */
        free(jobs);
    } else {
        /* Kept, and written again after a pause: the jobs stay ours. */
        log_warn("relay: marking %zu outbox rows done failed%s: %s", n,
                 r->closing ? "" : ", retrying",
                 res ? PQresultErrorMessage(res) : "connection lost");
        if (!r->closing && relay_done_add(r, jobs, n) == 0) {
            free(jobs);
        } else { /* closing (they were put back) or out of memory: end them unmarked */
            for (size_t i = 0; i < n; i++)
                queue_job_settled(jobs[i]);
            free(jobs);
        }
        r->done_delay_ms = r->done_delay_ms ? r->done_delay_ms * 2 : RELAY_DONE_FLUSH_MS;
        if (r->done_delay_ms > RELAY_DONE_RETRY_MAX_MS)
            r->done_delay_ms = RELAY_DONE_RETRY_MAX_MS;
        if (!r->closing)
            uv_timer_start(&r->done_timer, relay_on_done_timer, r->done_delay_ms, 0);
    }
    relay_finish_check(r);
}

/* The id list "{1,2,3}" of the jobs "ob:<id>"; NULL when out of memory. */
static char *relay_id_list(job_t *const *jobs, size_t n)
{
    char *list = malloc(n * 21 + 3);
    size_t at = 0;
    if (!list)
        return NULL;
    list[at++] = '{';
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(list + at, 22, "%s%.20s", i ? "," : "", jobs[i]->id + 3);
    list[at++] = '}';
    list[at] = '\0';
    return list;
}

static void relay_flush_done(relay_t *r)
{
    if (r->done_busy || r->done_n == 0 || uv_is_active((uv_handle_t *)&r->done_timer))
        return;
    char *list = relay_id_list(r->done, r->done_n);
    if (!list) {
        uv_timer_start(&r->done_timer, relay_on_done_timer, RELAY_DONE_FLUSH_MS, 0);
        return;
    }
    const char *params[] = {list};
    /* The next finished job or the timer tries again when PostgreSQL cannot
     * take them now. */
    if (pgq_exec_sql(r->w->pg, "SELECT epos_outbox_done($1::bigint[])", 1, params,
                     relay_on_done_written, r) == 0) {
        r->done_busy = 1;
        r->writing = r->done;
        r->writing_n = r->done_n;
        r->done = NULL;
        r->done_n = r->done_cap = 0;
    } else {
        uv_timer_start(&r->done_timer, relay_on_done_timer, RELAY_DONE_RETRY_MAX_MS, 0);
    }
    free(list);
}

int relay_job_finished(relay_t *r, job_t *job)
{
    if (!r || r->closing || strncmp(job->id, "ob:", 3) != 0)
        return 0;
    const char *id = job->id + 3;
    size_t len = strlen(id);
    if (len == 0 || len > 19 || strspn(id, "0123456789") != len || relay_done_add(r, &job, 1) != 0)
        return 0; /* not an outbox row (or no memory): acked without a mark */
    if (r->done_n >= RELAY_DONE_MAX)
        relay_flush_done(r);
    else if (!uv_is_active((uv_handle_t *)&r->done_timer))
        uv_timer_start(&r->done_timer, relay_on_done_timer, RELAY_DONE_FLUSH_MS, 0);
    return 1;
}

/* ---------------------------------------------------------------- Redis restarts */

/* KEYS: epoch key. ARGV: a fresh token. Returns {1, token} when the key was
 * missing (a new or emptied Redis), else {0, the stored token}. */
static const char relay_lua_epoch[] = "local cur = redis.call('GET', KEYS[1])\n"
                                      "if cur then return {0, cur} end\n"
                                      "redis.call('SET', KEYS[1], ARGV[1])\n"
                                      "return {1, ARGV[1]}\n";

static void relay_on_requeued(PGresult *res, void *arg)
{
    relay_t *r = arg;
    r->requeue_busy = 0;
    if (pgq_ok(res)) {
        r->requeue = 0;
        long long n = pgq_get_ll(res, 0, "epos_outbox_requeue", 0);
        if (n > 0)
            log_warn("relay: Redis lost its data; %lld unfinished outbox jobs relayed again", n);
        relay_kick(r);
    }
    relay_finish_check(r);
}

static void relay_requeue(relay_t *r)
{
    if (!r->requeue || r->requeue_busy || r->closing)
        return;
    if (pgq_exec_sql(r->w->pg, "SELECT epos_outbox_requeue()", 0, NULL, relay_on_requeued, r) == 0)
        r->requeue_busy = 1;
}

static void relay_on_epoch(redisAsyncContext *c, void *reply_, void *privdata)
{
    relay_t *r = privdata;
    redisReply *reply = reply_;
    (void)c;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *epoch = reply->element[1]->str;
    int lost = reply->element[0]->integer == 1 || (r->epoch[0] && strcmp(r->epoch, epoch) != 0);
    snprintf(r->epoch, sizeof(r->epoch), "%s", epoch);
    if (lost) {
        r->requeue = 1;
        relay_requeue(r);
    }
}

void relay_redis_up(relay_t *r)
{
    char token[24], key[128];
    if (!r || r->closing || auth_random_text(token, 22) != 0)
        return;
    snprintf(key, sizeof(key), "%sepoch", queue_prefix(r->w->q));
    const char *argv[] = {"EVAL", relay_lua_epoch, "1", key, token};
    rds_command_argv(r->w->redis, relay_on_epoch, r, 5, argv, NULL);
    /* A promoted replica keeps epos:epoch but may lack the old master's last
     * writes (replication is asynchronous): what was relayed and not done
     * goes again; the job ids already there are dropped as duplicates. */
    unsigned moves = rds_master_changes(r->w->redis);
    if (moves != r->master_moves) {
        r->master_moves = moves;
        log_warn("relay: the Redis master moved; relaying unfinished outbox jobs again");
        r->requeue = 1;
        relay_requeue(r);
    }
    relay_kick(r);
}

/* ---------------------------------------------------------------- life */

static void relay_on_purged(PGresult *res, void *arg)
{
    (void)arg;
    if (res && !pgq_ok(res))
        log_warn("relay: purging old outbox rows: %s", PQresultErrorMessage(res));
}

static void relay_on_poll(uv_timer_t *t)
{
    relay_t *r = t->data;
    if (++r->polls % RELAY_PURGE_POLLS == 0)
        pgq_exec_sql(r->w->pg, "SELECT epos_outbox_purge(10000)", 0, NULL, relay_on_purged, r);
    relay_requeue(r);
    relay_kick(r);
}

static void relay_on_notify(const char *channel, const char *payload, void *arg)
{
    (void)channel;
    (void)payload;
    relay_kick(arg); /* channel "" after a reconnect: notifications may be lost */
}

relay_t *relay_start(worker_t *w)
{
    relay_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->w = w;
    uv_timer_init(w->loop, &r->poll);
    uv_timer_init(w->loop, &r->done_timer);
    r->poll.data = r->done_timer.data = r;
    r->handles = 2;
    if (pgq_listen(w->pg, "outbox", relay_on_notify, r) != 0)
        log_warn("relay: cannot LISTEN outbox, polling only");
    uv_timer_start(&r->poll, relay_on_poll, 0, RELAY_POLL_MS);
    return r;
}

void relay_pause(relay_t *r)
{
    if (!r)
        return;
    r->paused = 1;
    uv_timer_stop(&r->poll);
}

static void relay_handle_closed(uv_handle_t *h)
{
    relay_t *r = h->data;
    if (--r->handles == 0 && r->close_done)
        r->close_done(r->close_arg);
}

static void relay_finish_check(relay_t *r)
{
    if (r->closing != 1 || r->busy || r->done_busy || r->requeue_busy || r->done_n)
        return;
    r->closing = 2;
    uv_close((uv_handle_t *)&r->poll, relay_handle_closed);
    uv_close((uv_handle_t *)&r->done_timer, relay_handle_closed);
}

void relay_close(relay_t *r, void (*done)(void *arg), void *arg)
{
    if (!r || r->closing) {
        if (!r && done)
            done(arg);
        return;
    }
    relay_pause(r);
    r->closing = 1;
    r->close_done = done;
    r->close_arg = arg;
    /* The queue has stopped: every job still held was put back for another
     * worker. One last try to write the marks; what cannot be written ends
     * unmarked (the put-back job runs again and marks it). */
    uv_timer_stop(&r->done_timer);
    relay_flush_done(r);
    if (r->done_n && !r->done_busy) {
        for (size_t i = 0; i < r->done_n; i++)
            queue_job_settled(r->done[i]);
        r->done_n = 0;
    }
    relay_finish_check(r);
}

void relay_free(relay_t *r)
{
    if (!r)
        return;
    free(r->batch_ids);
    free(r->done);
    free(r->writing);
    free(r);
}

uint64_t relay_count(const relay_t *r)
{
    return r ? r->relayed : 0;
}
