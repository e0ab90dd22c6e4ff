/* test_queue.c -- the job queue against a real Redis: ack, dedupe, retry through the delayed set,
 * dead letters, claim of a dead consumer's job, a poison job, release at shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "epos/queue.h"
#include "epos/rds.h"

#define WATCHDOG_MS 60000
#define KIND "k"

enum { RUN_OK, RUN_RETRY_ONCE, RUN_RETRY_ALWAYS, RUN_FAIL, RUN_HOLD };

typedef struct tq {
    uv_loop_t loop;
    uv_timer_t watchdog;
    rds *r;
    queue *q;
    queue_opts o;
    redisContext *sync; /* blocking client for set-up and checks */
    char prefix[64], stream[96], delayed[96], dead[96];
    int behavior;
    void (*on_up)(struct tq *);
    int upped, closed;
    int ran, done, retried, dead_n, released, accepted;
    int target_done, target_dead, target_ran; /* stop when reached */
    int stopping;
    int attempts[16];
    char last_error[128];
    char seen[64]; /* runs per job "j<i>" */
    job_t *held[8];
    int nheld;
    int delayed_seen; /* members in the delayed set right after a retry/enqueue */
    uv_timer_t poll;  /* test_claim_scan: watches the claim calls */
    int poll_on;
    uint64_t claim_limit;
    queue_stats st; /* the queue's counters when it stopped */
} tq;

static const char *redis_host(void)
{
    const char *s = getenv("EPOS_TEST_REDIS_HOST");
    return s && *s ? s : "127.0.0.1";
}

static int redis_port(void)
{
    const char *s = getenv("EPOS_TEST_REDIS_PORT");
    return s && *s ? atoi(s) : 46379;
}

static void on_watchdog(uv_timer_t *t)
{
    fail_msg("test did not finish in %d ms", WATCHDOG_MS);
}

static redisReply *cmd(tq *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(t->sync, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("redis: %s", r->str);
    return r;
}

static long long cmd_int(tq *t, const char *fmt, const char *arg)
{
    redisReply *r = cmd(t, fmt, arg);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* Pending entries of the group (0 when the group does not exist). */
static long long pending(tq *t)
{
    redisReply *r = redisCommand(t->sync, "XPENDING %s %s", t->stream, QUEUE_GROUP);
    assert_non_null(r);
    long long n = r->type == REDIS_REPLY_ARRAY && r->elements > 0 ? r->element[0]->integer : 0;
    freeReplyObject(r);
    return n;
}

static void cleanup_keys(tq *t)
{
    redisReply *r = cmd(t, "KEYS %s*", t->prefix);
    for (size_t i = 0; i < r->elements; i++)
        freeReplyObject(cmd(t, "DEL %s", r->element[i]->str));
    freeReplyObject(r);
}

/* ---------------------------------------------------------------- the loop */

static void on_rds_closed(void *arg)
{
    tq *t = arg;
    t->closed = 1;
    uv_close((uv_handle_t *)&t->watchdog, NULL);
    if (t->poll_on)
        uv_close((uv_handle_t *)&t->poll, NULL);
}

static void on_queue_stopped(void *arg)
{
    tq *t = arg;
    queue_stats_get(t->q, &t->st);
    /* Handlers may finish released jobs after the stop: only freed. */
    for (int i = 0; i < t->nheld; i++)
        queue_job_done(t->held[i], JOB_OK, NULL);
    t->nheld = 0;
    rds_close(t->r, on_rds_closed, t);
}

static void maybe_stop(tq *t)
{
    if (t->stopping)
        return;
    if ((t->target_done && t->done >= t->target_done) ||
        (t->target_dead && t->dead_n >= t->target_dead) ||
        (t->target_ran && t->ran >= t->target_ran)) {
        t->stopping = 1;
        queue_stop(t->q, on_queue_stopped, t);
    }
}

static void run_job(job_t *job, void *arg)
{
    tq *t = arg;
    t->ran++;
    if (job->attempt < 16)
        t->attempts[job->attempt]++;
    if (job->id[0] == 'j') {
        int i = atoi(job->id + 1);
        if (i >= 0 && i < 64)
            t->seen[i]++;
    }
    snprintf(t->last_error, sizeof(t->last_error), "%s", job->last_error);
    char err[64];
    snprintf(err, sizeof(err), "boom %d", job->attempt);
    switch (t->behavior) {
    case RUN_OK:
        queue_job_done(job, JOB_OK, NULL);
        break;
    case RUN_RETRY_ONCE:
        queue_job_done(job, job->attempt == 1 ? JOB_RETRY : JOB_OK, err);
        break;
    case RUN_RETRY_ALWAYS:
        queue_job_done(job, JOB_RETRY, err);
        break;
    case RUN_FAIL:
        queue_job_done(job, JOB_FAIL, "bad payload");
        break;
    case RUN_HOLD:
        t->held[t->nheld++] = job;
        break;
    }
    maybe_stop(t);
}

static void on_delayed_count(redisAsyncContext *c, void *reply, void *arg)
{
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_INTEGER)
        ((tq *)arg)->delayed_seen += (int)r->integer;
}

static void on_outcome(const job_t *job, int outcome, double secs, void *arg)
{
    tq *t = arg;
    assert_true(secs >= 0);
    switch (outcome) {
    case QUEUE_DONE:
        t->done++;
        break;
    case QUEUE_RETRIED:
        t->retried++;
        /* The retry script was sent just before on the same connection. */
        rds_command(t->r, on_delayed_count, t, "ZCARD %s", t->delayed);
        break;
    case QUEUE_DEAD:
        t->dead_n++;
        break;
    case QUEUE_RELEASED:
        t->released++;
        break;
    }
    maybe_stop(t);
}

static void on_state(int up, void *arg)
{
    tq *t = arg;
    if (up && !t->upped) {
        t->upped = 1;
        if (t->on_up)
            t->on_up(t);
    }
}

static void setup_opts(tq *t, int behavior)
{
    static int seq;
    memset(t, 0, sizeof(*t));
    queue_opts_default(&t->o);
    snprintf(t->prefix, sizeof(t->prefix), "qtest:%d:%d:", (int)getpid(), ++seq);
    snprintf(t->stream, sizeof(t->stream), "%sjobs:" KIND, t->prefix);
    snprintf(t->delayed, sizeof(t->delayed), "%sdelayed", t->prefix);
    snprintf(t->dead, sizeof(t->dead), "%sdead", t->prefix);
    t->o.prefix = t->prefix;
    t->o.consumer = "test-consumer";
    t->o.backoff_base_ms = 20;
    t->o.block_ms = 200;
    t->behavior = behavior;
    t->sync = redisConnect(redis_host(), redis_port());
    assert_non_null(t->sync);
    assert_int_equal(t->sync->err, 0);
}

/* Start the loop side: rds, the queue consuming KIND, the watchdog. */
static void start(tq *t)
{
    assert_int_equal(uv_loop_init(&t->loop), 0);
    uv_timer_init(&t->loop, &t->watchdog);
    uv_timer_start(&t->watchdog, on_watchdog, WATCHDOG_MS, 0);
    t->r = rds_create(&t->loop, redis_host(), redis_port(), NULL, on_state, t);
    assert_non_null(t->r);
    t->q = queue_create(&t->loop, t->r, redis_host(), redis_port(), &t->o);
    assert_non_null(t->q);
    queue_set_outcome_cb(t->q, on_outcome, t);
    /* An idle kind first: each stream must be read and claimed on its own. */
    assert_int_equal(queue_consume(t->q, "idle", run_job, t), 0);
    assert_int_equal(queue_consume(t->q, KIND, run_job, t), 0);
    assert_int_equal(queue_start(t->q), 0);
}

/* Run to the end, prove no handle leaked, free. */
static void finish(tq *t)
{
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(t->closed, 1);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    queue_free(t->q);
}

static void teardown_keys(tq *t)
{
    cleanup_keys(t);
    redisFree(t->sync);
}

/* ---------------------------------------------------------------- enqueue, consume, ack */

static void on_enqueued(int n, void *arg)
{
    tq *t = arg;
    assert_true(n >= 0);
    t->accepted += n;
}

static void up_enqueue_20(tq *t)
{
    char id[16], payload[32];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "j%d", i);
        snprintf(payload, sizeof(payload), "{\"i\":%d}", i);
        assert_int_equal(queue_enqueue(t->q, KIND, id, payload, 0, on_enqueued, t), 0);
    }
    /* The same job id again (a relay that crashed after XADD): dropped. */
    assert_int_equal(queue_enqueue(t->q, KIND, "j0", "{}", 0, on_enqueued, t), 0);
}

static void test_enqueue_consume_ack(void **state)
{
    tq t;
    setup_opts(&t, RUN_OK);
    t.on_up = up_enqueue_20;
    t.target_done = 20;
    start(&t);
    finish(&t);
    assert_int_equal(t.accepted, 20);
    assert_int_equal(t.ran, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(t.seen[i], 1);
    assert_int_equal(t.attempts[1], 20);
    /* Acked and deleted: nothing left in the stream or pending. */
    assert_int_equal(cmd_int(&t, "XLEN %s", t.stream), 0);
    assert_int_equal(pending(&t), 0);
    /* A clean stop leaves the consumer group: no consumer per process ever run. */
    redisReply *r = cmd(&t, "XINFO CONSUMERS %s %s", t.stream, QUEUE_GROUP);
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);
    teardown_keys(&t);
}

/* ---------------------------------------------------------------- retry */

static void up_enqueue_1(tq *t)
{
    assert_int_equal(queue_enqueue(t->q, KIND, "j1", "{\"x\":1}", 0, on_enqueued, t), 0);
}

static void test_retry_goes_through_delayed(void **state)
{
    tq t;
    setup_opts(&t, RUN_RETRY_ONCE);
    t.on_up = up_enqueue_1;
    t.target_done = 1;
    start(&t);
    finish(&t);
    assert_int_equal(t.retried, 1);
    assert_int_equal(t.delayed_seen, 1); /* it waited in the delayed set */
    assert_int_equal(t.attempts[1], 1);
    assert_int_equal(t.attempts[2], 1);
    assert_string_equal(t.last_error, "boom 1"); /* the 2nd run sees the 1st error */
    assert_int_equal(cmd_int(&t, "ZCARD %s", t.delayed), 0);
    assert_int_equal(cmd_int(&t, "XLEN %s", t.stream), 0);
    assert_int_equal(cmd_int(&t, "XLEN %s", t.dead), 0);
    teardown_keys(&t);
}

static void on_delayed_enqueued(int n, void *arg)
{
    tq *t = arg;
    assert_int_equal(n, 1);
    rds_command(t->r, on_delayed_count, t, "ZCARD %s", t->delayed);
}

static void up_enqueue_delayed(tq *t)
{
    assert_int_equal(queue_enqueue(t->q, KIND, "j2", "{}", 50, on_delayed_enqueued, t), 0);
}

static void test_enqueue_with_delay(void **state)
{
    tq t;
    setup_opts(&t, RUN_OK);
    t.on_up = up_enqueue_delayed;
    t.target_done = 1;
    start(&t);
    finish(&t);
    assert_int_equal(t.delayed_seen, 1);
    assert_int_equal(t.seen[2], 1);
    assert_int_equal(cmd_int(&t, "ZCARD %s", t.delayed), 0);
    teardown_keys(&t);
}

/* ---------------------------------------------------------------- dead letters */

static void check_dead_entry(tq *t, const char *id, const char *attempt, const char *error)
{
    redisReply *r = cmd(t, "XRANGE %s - +", t->dead);
    assert_int_equal(r->elements, 1);
    redisReply *f = r->element[0]->element[1];
    int found = 0;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const char *k = f->element[i]->str, *v = f->element[i + 1]->str;
        if (strcmp(k, "id") == 0)
            assert_string_equal(v, id), found++;
        else if (strcmp(k, "attempt") == 0)
            assert_string_equal(v, attempt), found++;
        else if (strcmp(k, "error") == 0 && error)
            assert_string_equal(v, error), found++;
        else if (strcmp(k, "kind") == 0)
            assert_string_equal(v, KIND), found++;
    }
    assert_int_equal(found, error ? 4 : 3);
    freeReplyObject(r);
}

static void test_dead_after_max_attempts(void **state)
{
    tq t;
    setup_opts(&t, RUN_RETRY_ALWAYS);
    t.o.max_attempts = 3;
    t.o.backoff_base_ms = 5;
    t.on_up = up_enqueue_1;
    t.target_dead = 1;
    start(&t);
    finish(&t);
    assert_int_equal(t.ran, 3);
    assert_int_equal(t.retried, 2);
    assert_int_equal(t.attempts[3], 1);
    check_dead_entry(&t, "j1", "3", "boom 3");
    assert_int_equal(cmd_int(&t, "XLEN %s", t.stream), 0);
    assert_int_equal(cmd_int(&t, "ZCARD %s", t.delayed), 0);
    assert_int_equal(pending(&t), 0);
    teardown_keys(&t);
}

static void test_permanent_failure_is_dead_at_once(void **state)
{
    tq t;
    setup_opts(&t, RUN_FAIL);
    t.on_up = up_enqueue_1;
    t.target_dead = 1;
    start(&t);
    finish(&t);
    assert_int_equal(t.ran, 1);
    assert_int_equal(t.retried, 0);
    check_dead_entry(&t, "j1", "1", "bad payload");
    teardown_keys(&t);
}

/* ---------------------------------------------------------------- claims */

/* A job read by consumer "ghost" that then died: pending, never acked. */
static void make_ghost_job(tq *t, const char *id, int extra_deliveries)
{
    freeReplyObject(cmd(t, "XGROUP CREATE %s %s 0 MKSTREAM", t->stream, QUEUE_GROUP));
    redisReply *r = cmd(t, "XADD %s * id %s kind " KIND " payload {} attempt 1", t->stream, id);
    char entry[64];
    snprintf(entry, sizeof(entry), "%s", r->str);
    freeReplyObject(r);
    freeReplyObject(
        cmd(t, "XREADGROUP GROUP %s ghost COUNT 10 STREAMS %s >", QUEUE_GROUP, t->stream));
    if (extra_deliveries)
        freeReplyObject(cmd(t, "XCLAIM %s %s ghost 0 %s RETRYCOUNT %d", t->stream, QUEUE_GROUP,
                            entry, extra_deliveries + 1));
    assert_int_equal(pending(t), 1);
}

static void test_claim_dead_consumer_job(void **state)
{
    tq t;
    setup_opts(&t, RUN_OK);
    t.o.claim_idle_ms = 150;
    make_ghost_job(&t, "j7", 0);
    t.target_done = 1;
    start(&t);
    finish(&t);
    assert_int_equal(t.seen[7], 1);
    assert_int_equal(t.attempts[2], 1); /* a second delivery is a second attempt */
    assert_int_equal(pending(&t), 0);
    assert_int_equal(cmd_int(&t, "XLEN %s", t.stream), 0);
    teardown_keys(&t);
}

static void test_poison_job_ends_dead(void **state)
{
    tq t;
    setup_opts(&t, RUN_OK);
    t.o.claim_idle_ms = 150;
    t.o.max_attempts = 3;
    make_ghost_job(&t, "j8", 5); /* delivered (and lost) 6 times already */
    t.target_dead = 1;
    start(&t);
    finish(&t);
    assert_int_equal(t.ran, 0);
    assert_int_equal(pending(&t), 0);
    check_dead_entry(&t, "j8", "7", NULL);
    teardown_keys(&t);
}

/* Thousands of pending entries: the first (older) ones held by a live
 * consumer, the rest by one that died an hour ago. Redis 7's XAUTOCLAIM looks
 * at no more than 10 × COUNT entries a call, so a scan that always restarted
 * at 0-0 never reached the dead consumer's jobs. */
#define SCAN_LIVE 3000
#define SCAN_DEAD 2000

static void make_scan_backlog(tq *t)
{
    int n = SCAN_LIVE + SCAN_DEAD;
    freeReplyObject(cmd(t, "XGROUP CREATE %s %s 0 MKSTREAM", t->stream, QUEUE_GROUP));
    for (int i = 0; i < n; i++)
        redisAppendCommand(t->sync, "XADD %s * id s%d kind " KIND " payload {} attempt 1",
                           t->stream, i);
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        assert_int_equal(redisGetReply(t->sync, &r), REDIS_OK);
        freeReplyObject(r);
    }
    redisReply *r =
        cmd(t, "XREADGROUP GROUP %s live COUNT %d STREAMS %s >", QUEUE_GROUP, n, t->stream);
    assert_int_equal(r->elements, 1);
    redisReply *entries = r->element[0]->element[1];
    assert_int_equal(entries->elements, (size_t)n);
    /* The newest SCAN_DEAD go to "dead", idle for an hour. */
    const char **argv = calloc(SCAN_DEAD + 8, sizeof(*argv));
    assert_non_null(argv);
    int a = 0;
    argv[a++] = "XCLAIM";
    argv[a++] = t->stream;
    argv[a++] = QUEUE_GROUP;
    argv[a++] = "dead";
    argv[a++] = "0";
    for (int i = SCAN_LIVE; i < n; i++)
        argv[a++] = entries->element[i]->element[0]->str;
    argv[a++] = "IDLE";
    argv[a++] = "3600000";
    argv[a++] = "JUSTID";
    redisReply *c = redisCommandArgv(t->sync, a, argv, NULL);
    assert_non_null(c);
    assert_int_equal(c->elements, SCAN_DEAD);
    freeReplyObject(c);
    free(argv);
    freeReplyObject(r);
    assert_int_equal(pending(t), n);
}

static void on_scan_poll(uv_timer_t *h)
{
    tq *t = h->data;
    queue_stats st;
    queue_stats_get(t->q, &st);
    if (!t->stopping && st.claim_calls > t->claim_limit) {
        t->stopping = 1; /* no progress: give up, the asserts say why */
        queue_stop(t->q, on_queue_stopped, t);
    }
}

static void test_claim_scan_reaches_a_dead_consumers_jobs(void **state)
{
    tq t;
    setup_opts(&t, RUN_OK);
    t.o.claim_idle_ms = 60000; /* the live consumer's entries are never idle enough */
    make_scan_backlog(&t);
    t.target_done = SCAN_DEAD;
    /* Each call claims up to 100 and scans up to 1,000 entries. */
    t.claim_limit = SCAN_DEAD / 100 + (SCAN_LIVE + SCAN_DEAD) / 1000 + 10;
    start(&t);
    uv_timer_init(&t.loop, &t.poll);
    t.poll.data = &t;
    t.poll_on = 1;
    uv_timer_start(&t.poll, on_scan_poll, 20, 20);
    finish(&t);
    queue_stats st = t.st;
    print_message("claimed %llu in %llu calls\n", (unsigned long long)st.claimed,
                  (unsigned long long)st.claim_calls);
    assert_int_equal(st.claimed, SCAN_DEAD);
    assert_true(st.claim_calls <= t.claim_limit);
    assert_int_equal(t.done, SCAN_DEAD);
    assert_int_equal(t.ran, SCAN_DEAD);
    assert_int_equal(t.attempts[2], SCAN_DEAD); /* a second delivery is a second attempt */
    assert_int_equal(pending(&t), SCAN_LIVE);   /* the live consumer's jobs are left to it */
    teardown_keys(&t);
}

/* ---------------------------------------------------------------- settle */

/* The settle hook holds each finished job; the job stays pending (ours)
 * until queue_job_settled, and only then is acked. */
static int hold_settle(job_t *job, void *arg)
{
    tq *t = arg;
    t->held[t->nheld++] = job;
    return 1;
}

static void on_pending_while_held(redisAsyncContext *c, void *reply, void *arg)
{
    tq *t = arg;
    redisReply *r = reply;
    (void)c;
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[0]->integer, 1); /* not acked while held */
    assert_int_equal(t->done, 0);                /* nor reported done */
    job_t *j = t->held[--t->nheld];
    queue_job_settled(j);
}

static void on_settle_timer(uv_timer_t *h)
{
    tq *t = h->data;
    if (t->nheld == 1 && t->done == 0)
        rds_command(t->r, on_pending_while_held, t, "XPENDING %s %s", t->stream, QUEUE_GROUP);
    else
        uv_timer_start(h, on_settle_timer, 10, 0);
}

static void test_settle_hook_holds_the_ack(void **state)
{
    tq t;
    setup_opts(&t, RUN_OK);
    t.on_up = up_enqueue_1;
    t.target_done = 1;
    start(&t);
    queue_set_settle_cb(t.q, hold_settle, &t);
    uv_timer_init(&t.loop, &t.poll);
    t.poll.data = &t;
    t.poll_on = 1;
    uv_timer_start(&t.poll, on_settle_timer, 10, 0);
    finish(&t);
    assert_int_equal(t.done, 1);
    assert_int_equal(pending(&t), 0);
    assert_int_equal(cmd_int(&t, "XLEN %s", t.stream), 0);
    teardown_keys(&t);
}

/* ---------------------------------------------------------------- stop */

static void up_enqueue_3(tq *t)
{
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "j%d", i);
        assert_int_equal(queue_enqueue(t->q, KIND, id, "{}", 0, on_enqueued, t), 0);
    }
}

static void test_stop_releases_running_jobs(void **state)
{
    tq t;
    setup_opts(&t, RUN_HOLD);
    t.o.concurrency = 2;
    t.o.stop_grace_ms = 20;
    t.on_up = up_enqueue_3;
    t.target_ran = 2;
    start(&t);
    finish(&t);
    assert_int_equal(t.ran, 2);
    assert_int_equal(t.released, 2);
    assert_int_equal(t.done, 0);
    /* Put back as fresh entries (readable at once by another worker) beside
     * the one never read; nothing is left pending on the stopped consumer. */
    assert_int_equal(cmd_int(&t, "XLEN %s", t.stream), 3);
    assert_int_equal(pending(&t), 0);
    teardown_keys(&t);
}

/* ---------------------------------------------------------------- backoff */

static void test_backoff_is_exponential_with_jitter(void **state)
{
    queue_opts o;
    queue_opts_default(&o);
    o.backoff_base_ms = 1000;
    o.backoff_max_ms = 60000;
    assert_int_equal(queue_backoff_ms(&o, 1, 0.0), 500);
    assert_in_range(queue_backoff_ms(&o, 1, 0.999), 990, 1000);
    assert_int_equal(queue_backoff_ms(&o, 2, 0.0), 1000);
    assert_int_equal(queue_backoff_ms(&o, 4, 0.0), 4000);
    assert_in_range(queue_backoff_ms(&o, 4, 0.5), 4000, 8000);
    assert_in_range(queue_backoff_ms(&o, 40, 0.999), 30000, 60000); /* capped */
    assert_true(queue_backoff_ms(&o, 1000000, 0.5) <= 60000);
    assert_int_equal(queue_backoff_ms(&o, 1, 7.0), 750); /* a bad rnd is 0.5 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_is_exponential_with_jitter),
        cmocka_unit_test(test_enqueue_consume_ack),
        cmocka_unit_test(test_retry_goes_through_delayed),
        cmocka_unit_test(test_enqueue_with_delay),
        cmocka_unit_test(test_dead_after_max_attempts),
        cmocka_unit_test(test_permanent_failure_is_dead_at_once),
        cmocka_unit_test(test_claim_dead_consumer_job),
        cmocka_unit_test(test_poison_job_ends_dead),
        cmocka_unit_test(test_claim_scan_reaches_a_dead_consumers_jobs),
        cmocka_unit_test(test_settle_hook_holds_the_ack),
        cmocka_unit_test(test_stop_releases_running_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
