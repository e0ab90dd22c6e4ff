/* job_absence_apply.c -- the job "absence.apply" {notice_id}: apply a parent's notice to the
 * timesheet, publish its events.
 *
 * epos_absence_apply (schema/functions/absence.sql) marks the days, appends the
 * events for the group's staff and the parent and queues their mails, in one
 * transaction; it is idempotent (a notice applied once gives no frames), so
 * a job that runs twice changes and publishes nothing the second time. */
#include "publish.h"

static const char absence_apply_sql[] = "SELECT epos_absence_apply($1::bigint)::text";

int job_absence_apply_run(worker_t *w, job_t *job, job_done_cb *done)
{
    char id[24];
    if (publish_payload_id(job, "notice_id", id, sizeof(id)) != 0) {
        done(job, JOB_FAIL, "absence.apply: the payload needs a positive notice_id");
        return 0;
    }
    const char *params[1] = {id};
    return publish_job_sql(w, job, done, absence_apply_sql, 1, params);
}
