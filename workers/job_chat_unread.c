/* job_chat_unread.c -- the job "chat.unread" {chat_id,seq,message_id}: the chat's other members
 * wait for a digest.
 *
 * One row per member and chat in digest_pending (schema/042_digest.sql),
 * due digest_delay_s from now, the earliest due kept: the digest scheduler
 * (sched_digest.c) later mails each member ONE digest of everything still
 * unread. Idempotent: a second run changes nothing. */
#include <stdio.h>

#include "publish.h"

static const char chat_unread_sql[] =
    "SELECT json_build_object('waiting', "
    "epos_chat_unread($1::bigint, $2::bigint, $3::integer))::text";

int job_chat_unread_run(worker_t *w, job_t *job, job_done_cb *done)
{
    char chat[24], seq[24], delay[24];
    if (publish_payload_id(job, "chat_id", chat, sizeof(chat)) != 0 ||
        publish_payload_id(job, "seq", seq, sizeof(seq)) != 0) {
        done(job, JOB_FAIL, "chat.unread: the payload needs a positive chat_id and seq");
        return 0;
    }
    snprintf(delay, sizeof(delay), "%d", w->cfg->digest_delay_s);
    const char *params[3] = {chat, seq, delay};
    return publish_job_sql(w, job, done, chat_unread_sql, 3, params);
}
