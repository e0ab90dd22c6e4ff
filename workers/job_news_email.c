/* job_news_email.c -- the job "news.email" {news_id}: queue one mail per parent of a news
 * item's audience.
 *
 * epos_news_emails (schema/functions/mail.sql) does it set-based, once per
 * item however often the job runs; the mails are 'email.notify' jobs of
 * their own (kind 'news', only while the parent is offline) carrying the
 * item's data; their text is the news template's (workers/templates). */
#include "publish.h"

static const char news_email_sql[] =
    "SELECT json_build_object('queued', epos_news_emails($1::bigint))::text";

int job_news_email_run(worker_t *w, job_t *job, job_done_cb *done)
{
    char id[24];
    if (publish_payload_id(job, "news_id", id, sizeof(id)) != 0) {
        done(job, JOB_FAIL, "news.email: the payload needs a positive news_id");
        return 0;
    }
    const char *params[1] = {id};
    return publish_job_sql(w, job, done, news_email_sql, 1, params);
}
