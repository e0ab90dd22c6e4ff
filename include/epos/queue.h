/* queue.h -- a reliable job queue on Redis streams: enqueue, consume with a
 * consumer group, ack, claim of a dead consumer's jobs, retry with backoff
 * through a delayed set, and a dead-letter stream.
 *
 * Keys (prefix "epos:" by default):
 *   <prefix>jobs:<kind>   a stream per job kind; entry fields id, kind,
 *                         payload (JSON text), attempt (1 on the first run),
 *                         error (the last error, on a retry)
 *   consumer group "workers" on each stream; consumer "<instance>-<pid>"
 *   <prefix>delayed       sorted set, score = due time in ms (Redis clock),
 *                         member = {"id","kind","payload","attempt","error"}
 *   <prefix>dead          stream of jobs that failed for good: id, kind,
 *                         payload, attempt, error, failed_at (ms)
 *   <prefix>jobid:<id>    "this job id was enqueued" (SET NX, 1 day): a
 *                         second enqueue of the same id is dropped
 *
 * Delivery is at least once: a job may run again after a worker died in the
 * middle of it, so every effect must be idempotent (a unique key). */
#ifndef EPOS_QUEUE_H
#define EPOS_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "epos/rds.h"

#define QUEUE_GROUP "workers"
#define QUEUE_PREFIX "epos:" /* the default key prefix */

typedef struct queue queue;
typedef struct job job_t;

/* The result a handler gives for its job. */
enum {
    JOB_OK = 0,     /* done: acked and removed from the stream */
    JOB_RETRY = -1, /* transient failure: again after a backoff, dead after max_attempts */
    JOB_FAIL = -2,  /* permanent failure: straight to the dead-letter stream */
};

/* What happened to a job, reported to queue_outcome_cb. */
enum {
    QUEUE_DONE,     /* handler said JOB_OK */
    QUEUE_RETRIED,  /* failed, scheduled again in <prefix>delayed */
    QUEUE_DEAD,     /* failed for good, moved to <prefix>dead */
    QUEUE_RELEASED, /* not finished before shutdown: put back for another worker */
};

struct job {
    const char *id; /* stable job id, e.g. "ob:42" for outbox row 42 */
    const char *kind;
    const char *payload; /* JSON text, NUL-terminated */
    size_t payload_len;
    int attempt;            /* 1 on the first run */
    const char *last_error; /* the previous attempt's error, or "" */
    void *data;             /* free for the handler */
    void *kind_arg;         /* the arg given to queue_consume for this kind */
    /* A handler with a schedule of its own sets these before JOB_RETRY:
     * retry_ms > 0 is the wait before the next run, and then max_attempts
     * does not apply (JOB_FAIL ends the job); retry_free = 1 makes this run
     * not count as an attempt (an outage of a server, not the job's fault). */
    int64_t retry_ms;
    int retry_free;
    /* internal */
    queue *q;
    struct queue_kind *qk;
    char entry[48];      /* stream entry id */
    uint64_t started_ns; /* uv_hrtime when the handler was called, 0 if never */
    int released;        /* put back at shutdown; a later done only frees it */
    int redelivered;     /* deliveries to consumers that never answered */
    int settle_rc;       /* how it ended, while held for queue_settle_cb */
    char *settle_err;
    struct job *prev, *next;
};

/* Called by a handler exactly once per job: rc is JOB_OK, JOB_RETRY or
 * JOB_FAIL; err (may be NULL) is kept with a failed job. The job must not be
 * touched after this call (it is freed). */
typedef void job_done_cb(job_t *job, int rc, const char *err);

/* Start one job of a kind given to queue_consume. The handler finishes it by
 * calling queue_job_done (at once or later on the loop). */
typedef void queue_run_cb(job_t *job, void *arg);

/* Told once for each job that leaves this consumer; secs is the time the
 * handler took (0 for released jobs). */
typedef void queue_outcome_cb(const job_t *job, int outcome, double secs, void *arg);

/* Called with the number of jobs accepted (a duplicate id counts 0), or -1
 * when Redis refused or the connection dropped. */
typedef void queue_enqueue_cb(int n, void *arg);

typedef struct queue_opts {
    const char *prefix;   /* key prefix, default "epos:" (tests use their own) */
    const char *consumer; /* consumer name, default "<host>-<pid>" */
    int concurrency;      /* jobs running at once, default 64 */
    int max_attempts;     /* runs before a job is dead, default 8 */
    int claim_idle_ms;    /* claim other consumers' jobs idle this long, default 30000 */
    int backoff_base_ms;  /* retry n waits base*2^(n-1), jittered to 50..100 %, default 1000 */
    int backoff_max_ms;   /* cap of one wait, default 600000 */
    int block_ms;         /* XREADGROUP BLOCK, default 2000 */
    int stop_grace_ms;    /* queue_stop waits this long for running jobs, default 10000 */
    int dedupe_ttl_s;     /* life of <prefix>jobid:<id>, default 86400 */
} queue_opts;

/* Fill o with the defaults above. */
void queue_opts_default(queue_opts *o);

/* Create a queue on the command connection cmd (owned by the caller, must
 * outlive the queue). A consumer also gets its own blocking-read connection
 * to host:port, made by queue_start (XREADGROUP BLOCK would stall every
 * other command pipelined on cmd). opts is copied (strings too); NULL means
 * the defaults. Returns NULL on allocation failure. */
queue *queue_create(uv_loop_t *loop, rds *cmd, const char *host, int port, const queue_opts *opts);

/* Set the hook told of each job's outcome (metrics). */
void queue_set_outcome_cb(queue *q, queue_outcome_cb *cb, void *arg);

/* Told when a job has ended for good (done, or bound for the dead letters),
 * before Redis is: return 0 to go on at once, or 1 to hold the job — it
 * stays this consumer's (running, its idle time refreshed) until the caller,
 * once its own record of the end is durable, calls queue_job_settled(job).
 * The outbox relay marks outbox.done_at this way: a crash between the two
 * leaves a job that runs again, never a finished row left unmarked. A job
 * still held when queue_stop's grace ends is put back; settling it later
 * only frees it. */
typedef int queue_settle_cb(job_t *job, void *arg);
void queue_set_settle_cb(queue *q, queue_settle_cb *cb, void *arg);

/* End a job held by queue_settle_cb as it ended. The job is freed. */
void queue_job_settled(job_t *job);

/* Consume kind's stream, running each job with run(job, arg). Call before
 * queue_start. Returns 0, or -1 (allocation failure, bad kind). */
int queue_consume(queue *q, const char *kind, queue_run_cb *run, void *arg);

/* Open the blocking connection, create the consumer groups and start the
 * read, claim and delayed-promotion loops. Returns 0 or -1. */
int queue_start(queue *q);

/* Enqueue one job. id NULL: a random id (not deduplicated). delay_ms > 0: the job waits in the
 * delayed set until then. A job id seen in the last dedupe_ttl_s is dropped
 * (cb gets 0): the outbox relay may send a row twice after a crash. cb may be
 * NULL. Returns 0 when sent, -1 when Redis is not connected (cb not called). */
int queue_enqueue(queue *q, const char *kind, const char *id, const char *payload, int64_t delay_ms,
                  queue_enqueue_cb *cb, void *arg);

/* Enqueue n jobs in one atomic round trip (ids may not be NULL). Same
 * contract as queue_enqueue; cb gets the number accepted. */
int queue_enqueue_batch(queue *q, size_t n, const char *const *kinds, const char *const *ids,
                        const char *const *payloads, queue_enqueue_cb *cb, void *arg);

/* Finish a job (see job_done_cb): ack it, or retry it with backoff, or move it
 * to the dead letters. Frees the job. */
void queue_job_done(job_t *job, int rc, const char *err);

/* The backoff before attempt+1 after attempt failed, in ms, with jitter
 * (rnd in [0,1)). Exposed for tests. */
int64_t queue_backoff_ms(const queue_opts *o, int attempt, double rnd);

/* Jobs running now. */
int queue_running(const queue *q);

/* Counters since queue_create. */
typedef struct queue_stats {
    uint64_t claim_calls; /* claim scripts sent (each scans part of a stream's pending list) */
    uint64_t claimed;     /* jobs taken over from silent consumers */
} queue_stats;

/* Copy the counters. */
void queue_stats_get(const queue *q, queue_stats *out);

/* The script that puts one dead job back on its stream as a first attempt
 * (eposctl queue replay): KEYS <prefix>dead; ARGV prefix, entry id. Returns
 * 1 moved, 0 no such entry, -1 an entry without a usable kind or id (left
 * alone). The worker's scripts and this one write the same entry layout. */
extern const char queue_lua_replay[];

/* The key prefix ("epos:"). */
const char *queue_prefix(const queue *q);

/* Stop taking jobs: unblock the read, put back jobs read but not started,
 * wait up to stop_grace_ms for running jobs, put back the rest, wait for the
 * last Redis replies, close the blocking connection; then done(arg). The
 * handlers of released jobs may still call queue_job_done later (ignored). */
void queue_stop(queue *q, void (*done)(void *arg), void *arg);

/* Free the queue after queue_stop finished and the loop ran dry (jobs still
 * held by handlers are freed too). NULL is fine. */
void queue_free(queue *q);

#endif
