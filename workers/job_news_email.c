/* job_news_email.c -- the job "news.email" {news_id}: queue one mail per parent of a news item's
 * audience.
 *
 * epos_news_emails (schema/043_news_mail.sql) does it set-based, once per
 * item however often the job runs; the mails are 'email.notify' jobs of
 * their own (kind 'news', only while the parent is offline). */
#include <stdio.h>

#include "epos/jsonx.h"
#include "publish.h"

static const char news_email_sql[] =
    "SELECT json_build_object('queued', epos_news_emails($1::bigint, $2))::text";

int job_news_email_run(worker_t *w, job_t *job, job_done_cb *done)
{
    long long news = 0;
    json_t *p = jsonx_parse_object(job->payload, job->payload_len, NULL, 0);
    int ok = p && jsonx_int(p, "news_id", &news) == 0 && news > 0;
    json_decref(p);
    if (!ok) {
        done(job, JOB_FAIL, "news.email: the payload needs a positive news_id");
        return 0;
    }
    char id[24];
    snprintf(id, sizeof(id), "%lld", news);
    const char *params[2] = {id, w->cfg->public_url};
    return publish_job_sql(w, job, done, news_email_sql, 2, params);
}
