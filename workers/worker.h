/* worker.h -- what the epos-worker modules share: the process state, the
 * job-kind registry, the services table, the relay and the metrics. */
#ifndef EPOS_WORKER_H
#define EPOS_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "epos/config.h"
#include "epos/pgq.h"
#include "epos/prom.h"
#include "epos/queue.h"
#include "epos/rds.h"

typedef struct worker worker_t;
typedef struct relay relay_t;
typedef struct metrics metrics_t;

/* One epos-worker process: one loop, one pg pool, one Redis command
 * connection, one queue consuming every registered kind. */
struct worker {
    uv_loop_t *loop;
    epos_config *cfg;
    pgq_pool *pg;
    rds *redis; /* command connection (the queue adds its blocking one) */
    queue *q;
    relay_t *relay;
    metrics_t *metrics;
    struct mailer *mailer;       /* set by the mailer service when it runs */
    struct consumer_slot *slots; /* consumer.c: one per job kind */
    char consumer[192];          /* "<instance>-<pid>" */
    int stopping;
    int exit_code;
};

/* ---------------------------------------------------------------- job kinds */

/* Run one job. The handler finishes it by calling done(job, rc, err) exactly
 * once, now or later on the loop: rc JOB_OK, JOB_RETRY (backoff, dead after
 * job_max_attempts) or JOB_FAIL (dead at once); err is kept with a failed
 * job. job->payload is the JSON text, job->id the stable job id (use it, or
 * the effect's own unique key, to make the effect idempotent: a job can run
 * twice). Return 0; a nonzero return means done was not and will not be
 * called, and the job fails with that code (JOB_RETRY or JOB_FAIL). */
typedef int job_run_fn(worker_t *w, job_t *job, job_done_cb *done);

typedef struct job_kind {
    const char *kind; /* the stream is epos:jobs:<kind> */
    job_run_fn *run;
} job_kind;

/* The registry (jobs.c). */
extern const job_kind job_kinds[];
extern const size_t job_nkinds;

/* ---------------------------------------------------------------- services */

/* Something else the worker runs (a scheduler, the mailer). start runs once
 * PostgreSQL answered and Redis is being connected: return 0, or -1 to make
 * the worker exit 1. stop runs on shutdown after the consumers stopped (the
 * pg pool and Redis are still open): stop timers, uv_close handles; the loop
 * runs until they are closed. */
typedef struct worker_service {
    const char *name;
    int (*start)(worker_t *w);
    void (*stop)(worker_t *w);
} worker_service;

extern const worker_service worker_services[];
extern const size_t worker_nservices;

/* Give w->mailer the hooks that record each mail in email_log on its sending
 * thread the moment the server accepts it (mailer_record.c). */
void mailer_record_install(worker_t *w);

/* ---------------------------------------------------------------- consumer.c */

/* Consume every registered kind with cfg->worker_concurrency jobs in flight,
 * counting metrics and telling the relay of finished outbox jobs. 0 or -1. */
int consumer_start(worker_t *w);
/* Free what consumer_start allocated (after the loop ran dry). */
void consumer_free(worker_t *w);

/* ---------------------------------------------------------------- relay.c */

/* Start relaying the outbox to the streams: LISTEN outbox, a 1 s poll.
 * Returns NULL on allocation failure. */
relay_t *relay_start(worker_t *w);
/* Redis (re)connected: check whether it lost its data, then re-relay outbox
 * rows whose jobs were relayed and not finished. */
void relay_redis_up(relay_t *r);
/* A job ended for good (done or dead; the queue's settle hook): when its id
 * is "ob:<id>", hold it, mark the outbox row done, then queue_job_settled
 * (the ack) — returns 1. Returns 0 for any other job (end it at once). */
int relay_job_finished(relay_t *r, job_t *job);
/* Stop claiming new batches at once. */
void relay_pause(relay_t *r);
/* Let the batch in flight finish, write the last done marks, close timers;
 * then done(arg). */
void relay_close(relay_t *r, void (*done)(void *arg), void *arg);
void relay_free(relay_t *r);
/* Outbox rows moved to the streams since start. */
uint64_t relay_count(const relay_t *r);

/* ---------------------------------------------------------------- metrics.c */

/* Counters of one job kind. */
typedef struct job_stats {
    const char *kind;
    uint64_t processed; /* finished OK */
    uint64_t failed;    /* attempts that failed (retried + dead) */
    uint64_t retried;
    uint64_t dead;
    uint64_t released; /* put back at shutdown */
    int64_t in_flight;
    prom_hist duration; /* seconds, of every finished attempt */
} job_stats;

/* One job_stats per registered kind (in job_kinds order). NULL on OOM. */
metrics_t *metrics_create(worker_t *w);
job_stats *metrics_kind(metrics_t *m, size_t i);
/* Serve /metrics, /healthz and /readyz on the admin port host:port (0: a
 * free one). Returns the port bound, or -1 with one line in err. */
int metrics_listen(metrics_t *m, const char *host, int port, char *err, size_t errlen);
/* Close the listener and open connections (uv_close). */
void metrics_close(metrics_t *m);
/* Free after the loop ran dry. */
void metrics_free(metrics_t *m);

#endif
