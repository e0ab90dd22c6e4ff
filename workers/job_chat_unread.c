/* job_chat_unread.c -- the job "chat.unread" {chat_id,seq,message_id}: the chat's other members
 * wait for a digest.
 *
 * One row per member and chat in digest_pending (schema/042_digest.sql),
 * due digest_delay_s from now, the earliest due kept: the digest scheduler
 * (sched_digest.c) later mails each member ONE digest of everything still
 * unread. Idempotent: a second run changes nothing. */
#include <stdio.h>

#include "epos/jsonx.h"
#include "publish.h"

static const char chat_unread_sql[] =
    "SELECT json_build_object('waiting', epos_chat_unread($1::bigint, $2::bigint, "
    "$3::integer))::text";

int job_chat_unread_run(worker_t *w, job_t *job, job_done_cb *done)
{
    long long chat = 0, seq = 0;
    json_t *p = jsonx_parse_object(job->payload, job->payload_len, NULL, 0);
    int ok = p && jsonx_int(p, "chat_id", &chat) == 0 && jsonx_int(p, "seq", &seq) == 0 &&
             chat > 0 && seq > 0;
    json_decref(p);
    if (!ok) {
        done(job, JOB_FAIL, "chat.unread: the payload needs a positive chat_id and seq");
        return 0;
    }
    char cs[24], ss[24], ds[24];
    snprintf(cs, sizeof(cs), "%lld", chat);
    snprintf(ss, sizeof(ss), "%lld", seq);
    snprintf(ds, sizeof(ds), "%d", w->cfg->digest_delay_s);
    const char *params[3] = {cs, ss, ds};
    return publish_job_sql(w, job, done, chat_unread_sql, 3, params);
}
