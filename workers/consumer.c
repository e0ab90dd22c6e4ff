/* consumer.c -- run every registered job kind from its stream, counting metrics per kind. */
#include <stdlib.h>

#include "epos/log.h"
#include "worker.h"

struct consumer_slot {
    worker_t *w;
    const job_kind *k;
    job_stats *stats;
};
typedef struct consumer_slot consumer_slot;

static void consumer_run(job_t *job, void *arg)
{
    consumer_slot *s = arg;
    s->stats->in_flight++;
    /* The handler may finish the job before it returns. */
    int rc = s->k->run(s->w, job, queue_job_done);
    if (rc != 0)
        queue_job_done(job, rc == JOB_RETRY ? JOB_RETRY : JOB_FAIL, "handler could not start");
}

static void consumer_outcome(const job_t *job, int outcome, double secs, void *arg)
{
    (void)arg;
    consumer_slot *s = job->kind_arg;
    job_stats *st = s->stats;
    if (job->started_ns) {
        st->in_flight--;
        if (outcome != QUEUE_RELEASED)
            prom_hist_observe(&st->duration, secs);
    }
    switch (outcome) {
    case QUEUE_DONE:
        st->processed++;
        break;
    case QUEUE_RETRIED:
        st->failed++;
        st->retried++;
        break;
    case QUEUE_DEAD:
        st->failed++;
        st->dead++;
        break;
    case QUEUE_RELEASED:
        st->released++;
        break;
    }
}

/* A finished outbox job's row is marked done before the job is acked. */
static int consumer_settle(job_t *job, void *arg)
{
    worker_t *w = arg;
    return relay_job_finished(w->relay, job);
}

int consumer_start(worker_t *w)
{
    w->slots = calloc(job_nkinds, sizeof(*w->slots));
    if (!w->slots)
        return -1;
    queue_set_outcome_cb(w->q, consumer_outcome, w);
    queue_set_settle_cb(w->q, consumer_settle, w);
    for (size_t i = 0; i < job_nkinds; i++) {
        consumer_slot *s = &w->slots[i];
        s->w = w;
        s->k = &job_kinds[i];
        s->stats = metrics_kind(w->metrics, i);
        if (queue_consume(w->q, s->k->kind, consumer_run, s) != 0) {
            log_error("cannot consume job kind %s", s->k->kind);
            return -1;
        }
    }
    return queue_start(w->q);
}

void consumer_free(worker_t *w)
{
    free(w->slots);
    w->slots = NULL;
}
