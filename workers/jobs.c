/* jobs.c -- the job-kind registry (which handler runs each stream's jobs) and the services table.
 */
#include "worker.h"

/* To add a job kind: write workers/job_<name>.c with
 *     int job_<name>_run(worker_t *w, job_t *job, job_done_cb *done)
 * (see job_run_fn in worker.h) and add its line here. Outbox rows of that
 * kind are then relayed to epos:jobs:<kind> and run by every worker. */
#define JOB_KINDS(X)                                                                               \
    X("noop", job_noop_run)                   /* does nothing: benchmarks and tests */             \
    X("test.mark", job_test_mark_run)         /* inserts job_effects(job_id): fault tests */       \
    X("absence.apply", job_absence_apply_run) /* a notice onto the timesheet */                    \
    X("email.notify", job_email_notify_run)   /* one notification mail */                          \
    X("news.email", job_news_email_run)       /* mails to a news item's parents */

/* To add a service (a scheduler, the mailer): a start and a stop function
 * (see worker_service in worker.h) and its line here. */
#define WORKER_SERVICES(X) /* X("name", start_fn, stop_fn) */                                      \
    X("mailer", svc_mailer_start, svc_mailer_stop)                                                 \
    X("digest", sched_digest_start, sched_digest_stop)                                             \
    X("reminders", sched_reminders_start, sched_reminders_stop)                                    \
    X("retention", sched_retention_start, sched_retention_stop)

#define JOB_DECLARE(kind, fn) job_run_fn fn;
JOB_KINDS(JOB_DECLARE)

#define JOB_ENTRY(kind, fn) {kind, fn},
const job_kind job_kinds[] = {JOB_KINDS(JOB_ENTRY)};
const size_t job_nkinds = sizeof(job_kinds) / sizeof(job_kinds[0]);

#define SERVICE_DECLARE(name, start, stop)                                                         \
    int start(worker_t *w);                                                                        \
    void stop(worker_t *w);
WORKER_SERVICES(SERVICE_DECLARE)

#define SERVICE_ENTRY(name, start, stop) {name, start, stop},
/* The last entry only keeps the array from being empty. */
const worker_service worker_services[] = {WORKER_SERVICES(SERVICE_ENTRY){NULL, NULL, NULL}};
const size_t worker_nservices = sizeof(worker_services) / sizeof(worker_services[0]) - 1;
