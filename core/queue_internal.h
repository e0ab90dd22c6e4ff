/* queue_internal.h -- what core/queue.c (consuming) and core/queue_ops.c
 * (the Redis scripts and commands) share; not a public header. */
#ifndef EPOS_QUEUE_INTERNAL_H
#define EPOS_QUEUE_INTERNAL_H

#include <hiredis/hiredis.h>

#include "epos/queue.h"

/* Acks of one kind's stream are batched up to this many per script call
 * (Lua's unpack() has a stack limit of a few thousand values). */
#define QUEUE_ACK_BATCH 512
/* Every this many claim ticks, forget consumers idle this long with no job. */
#define QUEUE_FORGET_TICKS 60
#define QUEUE_FORGET_IDLE_MS "3600000"

typedef struct queue_kind {
    char *kind;
    char *stream; /* <prefix>jobs:<kind> */
    queue_run_cb *run;
    void *arg;
    char (*acks)[48]; /* entry ids done, not yet acked */
    size_t nacks, capacks;
    int claiming;        /* a claim script is outstanding on this stream */
    int claim_more;      /* the scan has not wrapped: go on as soon as slots are free */
    char claim_from[48]; /* where the next claim scan starts ("0-0": from the beginning) */
    struct queue *q;
    struct queue_kind *next;
} queue_kind;

struct queue {
    uv_loop_t *loop;
    rds *cmd; /* the caller's command connection */
    rds *blk; /* our blocking-read connection (consumers only) */
    char *host;
    int port;
    queue_opts o;      /* prefix and consumer are owned copies */
    char *delayed_key; /* <prefix>delayed */
    char *dead_key;    /* <prefix>dead */
    queue_kind *kinds;
    int nkinds;
    queue_outcome_cb *outcome_cb;
    void *outcome_arg;
    queue_settle_cb *settle_cb;
    void *settle_arg;

    job_t *ready_head, *ready_tail; /* read, not started yet */
    int nready;
    job_t *held;           /* handed to a handler (running or released), doubly linked */
    int nrunning;          /* held and not released */
    int reading;           /* an XREADGROUP is outstanding on blk */
    int blk_ready;         /* blk is up and the groups were created on it */
    long long blk_id;      /* CLIENT ID of blk, -1 when unknown */
    int pending;           /* replies awaited on cmd (acks, retries, releases, ...) */
    int promoting;         /* a promotion script is outstanding */
    uint64_t promote_hint; /* uv_now ms a retry made while promoting falls due, 0 none */
    uint64_t rnd;          /* xorshift state for jitter */
    unsigned ticks;        /* claim ticks so far */
    queue_stats stats;
    int forgot; /* left the consumer groups at stop */

    uv_idle_t flush_idle;     /* flush acks and read again, once per loop turn */
    uv_timer_t claim_timer;   /* claim idle jobs of others, refresh ours */
    uv_timer_t promote_timer; /* move due delayed jobs to their streams */
    uv_timer_t read_timer;    /* retry a read that could not be sent */
    uv_timer_t stop_timer;    /* the grace period of queue_stop */
    int handles;              /* our handles not yet closed */
    int started;
    int stopping; /* 1: queue_stop called; 2: blk closing; 3: done told */
    void (*stop_done)(void *arg);
    void *stop_arg;
};

/* Lua scripts (queue_ops.c). */
extern const char queue_lua_enqueue[];
extern const char queue_lua_ack[];
extern const char queue_lua_fail[];
extern const char queue_lua_release[];
extern const char queue_lua_claim[];
extern const char queue_lua_promote[];
extern const char queue_lua_forget[];

/* queue_ops.c */
job_t *queue_job_from_entry(queue *q, queue_kind *qk, const redisReply *entry, int deliveries);
void queue_job_free(job_t *j);
int queue_send_acks(queue *q, queue_kind *qk);
int queue_send_fail(queue *q, job_t *j, int64_t delay_ms, const char *err);
int queue_send_release(queue *q, job_t *j);
void queue_claim_tick(uv_timer_t *t);
void queue_claim_continue(queue *q);
void queue_promote_tick(uv_timer_t *t);
void queue_promote_soon(queue *q, int64_t delay_ms);
void queue_forget_consumers(queue *q, const char *self);
void queue_cmd_reply_done(queue *q);

/* queue.c */
void queue_dispatch(queue *q, job_t *j);
void queue_ready_push(queue *q, job_t *j);
void queue_kick(queue *q);
void queue_outcome(queue *q, const job_t *j, int outcome);

/* queue_stop.c */
/* Put back every job read but not started (for another worker). */
void queue_release_ready(queue *q);
/* Finish stopping once nothing runs and no reply is awaited. */
void queue_stop_check(queue *q);

#endif
