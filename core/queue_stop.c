/* queue_stop.c -- stopping the job queue: put back what is not finished, wait for the last
 * replies, leave the consumer groups, close our handles. */
#include "queue_internal.h"

#include "epos/log.h"

void queue_release_ready(queue *q)
{
    while (q->ready_head) {
        job_t *j = q->ready_head;
        q->ready_head = j->next;
        q->nready--;
        queue_send_release(q, j);
        queue_outcome(q, j, QUEUE_RELEASED);
        queue_job_free(j);
    }
    q->ready_tail = NULL;
}

/* The grace period is over: put the running jobs back for another worker;
 * their handlers' later queue_job_done only frees them. Then allow one more
 * read timeout for the last replies before giving up on them. */
static void queue_stop_timeout(uv_timer_t *t)
{
    queue *q = t->data;
    if (q->nrunning > 0) {
        for (job_t *j = q->held; j; j = j->next) {
            if (j->released)
                continue;
            j->released = 1;
            q->nrunning--;
            log_warn("queue: job %s (%s) still running at shutdown, released", j->id, j->kind);
            queue_send_release(q, j);
            queue_outcome(q, j, QUEUE_RELEASED);
        }
        queue_kick(q);
        uv_timer_start(t, queue_stop_timeout, (uint64_t)q->o.block_ms + 1000, 0);
        return;
    }
    log_warn("queue: stopping without %d Redis replies", q->pending + q->reading);
    q->pending = 0;
    q->reading = 0;
    queue_stop_check(q);
}

static void queue_handle_closed(uv_handle_t *h)
{
    queue *q = h->data;
    if (--q->handles == 0 && q->stopping == 2) {
        q->stopping = 3;
        if (q->stop_done)
            q->stop_done(q->stop_arg);
    }
}

static void queue_blk_closed(void *arg)
{
    queue *q = arg;
    q->blk = NULL;
    q->blk_ready = 0;
    if (--q->handles == 0 && q->stopping == 2) {
        q->stopping = 3;
        if (q->stop_done)
            q->stop_done(q->stop_arg);
    }
}

/* Finish stopping once nothing runs and no reply is awaited. */
void queue_stop_check(queue *q)
{
    if (q->stopping != 1 || q->nrunning > 0 || q->reading || q->pending > 0)
        return;
    for (queue_kind *qk = q->kinds; qk; qk = qk->next)
        if (qk->nacks)
            return; /* queue_flush sends them first */
    if (!q->forgot && q->nkinds && q->started) {
        /* We hold no job now: leave the consumer groups, then close. */
        q->forgot = 1;
        queue_forget_consumers(q, q->o.consumer);
        if (q->pending > 0)
            return;
    }
    q->stopping = 2;
    if (q->blk) {
        q->handles++;
        rds_close(q->blk, queue_blk_closed, q);
    }
    uv_close((uv_handle_t *)&q->flush_idle, queue_handle_closed);
    uv_close((uv_handle_t *)&q->claim_timer, queue_handle_closed);
    uv_close((uv_handle_t *)&q->promote_timer, queue_handle_closed);
    uv_close((uv_handle_t *)&q->read_timer, queue_handle_closed);
    uv_close((uv_handle_t *)&q->stop_timer, queue_handle_closed);
}

static void queue_on_unblock(redisAsyncContext *c, void *r, void *privdata)
{
    (void)c;
    (void)r;
    queue_cmd_reply_done(privdata);
}

void queue_stop(queue *q, void (*done)(void *arg), void *arg)
{
    if (q->stopping)
        return;
    q->stopping = 1;
    q->stop_done = done;
    q->stop_arg = arg;
    uv_timer_stop(&q->claim_timer);
    uv_timer_stop(&q->promote_timer);
    uv_timer_stop(&q->read_timer);
    /* A read blocked on blk would hold the shutdown for up to block_ms. */
    if (q->reading && q->blk_id >= 0 &&
        rds_command(q->cmd, queue_on_unblock, q, "CLIENT UNBLOCK %lld", q->blk_id) == 0)
        q->pending++;
    queue_release_ready(q);
    uv_timer_start(&q->stop_timer, queue_stop_timeout,
                   q->nrunning > 0 ? (uint64_t)q->o.stop_grace_ms : (uint64_t)q->o.block_ms + 1000,
                   0);
    queue_kick(q);
}
