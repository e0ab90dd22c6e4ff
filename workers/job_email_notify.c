/* job_email_notify.c -- the job "email.notify": one notification mail through presence,
 * preferences, quiet hours, SMTP and the log.
 *
 * Payload {user_id, kind, template, data, message_id, urgent, only_offline, grant_id}:
 * SQL queues data only; the subject and body are rendered here from the
 * template named "template" (default: the kind) of workers/templates with
 * "data" (mailtext.c). A payload with "subject" and "body" and no "data"
 * (queued by a release before the templates, e.g. held past quiet hours)
 * is sent as it is. Each step runs on the loop:
 *   1. only_offline (the payload's flag, else on by default for the kinds in
 *      offline_kinds): the hub keeps epos:online:<uid> while the user has a
 *      live connection; then the user saw it live and no mail goes;
 *   2. epos_email_prepare (schema/functions/mail.sql): skip (already sent, no
 *      address, turned off), later (inside quiet hours: parked in
 *      mail_deferred and queued again when they end, so this job is done),
 *      or send;
 *   3. mailer_send, Message-ID = message_id, X-EPOS-Kind = kind; with a
 *      grant_id (first-login credentials) the body is written only now, with
 *      a freshly minted one-time link (mail_credentials.c), and never stored;
 *   4. epos_email_result records the attempt: sent → JOB_OK; permanent
 *      (5xx) → JOB_FAIL (the dead letters at once); temporary while the
 *      mailer's breaker is open (the relay refuses everything: an outage) →
 *      again after the pause, no attempt spent; any other temporary failure
 *      is a deferral (epos_email_deferred counts it): again after the n-th
 *      wait of mail_retry, no ordinary attempt spent, dead (email_log and
 *      the dead letters) after the last wait.
 * A mail the server took is never sent again by this job: if recording it
 * fails, the write is tried again a few times and the job ends OK anyway. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/jsonx.h"
#include "epos/log.h"
#include "epos/utf8.h"
#include "mail_credentials.h"
#include "mailer.h"
#include "mailtext.h"
#include "publish.h"

#define EMAIL_RECORD_TRIES 5 /* writes of a sent mail's result, 1 s apart, doubling */

/* Kinds mailed only to users who are offline unless the payload says
 * otherwise: the live event already told an online user. */
static const char *const offline_kinds[] = {"absence.notice", "chat.digest", "news", NULL};

static const char prepare_sql[] =
    "SELECT epos_email_prepare($1::bigint, $2, $3, $4, $5, $6::boolean, now(), $7::jsonb)::text";
static const char result_sql[] = "SELECT epos_email_result($1, $2, $3::integer, $4, $5::boolean)";
static const char deferred_sql[] = "SELECT epos_email_deferred($1, $2::integer, $3, $4::integer)";

typedef struct email_job {
    worker_t *w;
    job_t *job;
    job_done_cb *done;
    json_t *payload;      /* owns the strings below */
    long long uid, grant; /* grant: a credentials mail's grant id, else 0 */
    const char *kind, *subject, *body, *message_id;
    char *text_subject, *text_body; /* rendered from the template: subject, body point here */
    int urgent, only_offline;
    json_t *prepared; /* epos_email_prepare's answer: owns to_addr, to_name */
    int status;       /* MAIL_* of the attempt */
    int smtp_code;
    char *detail;
    int record_tries;
    int outage;       /* the mailer's breaker was open: not the mail's fault */
    int deferrals;    /* a deferral's count from epos_email_deferred, 0 unknown */
    uv_timer_t timer; /* spaces the retries of a sent mail's record */
    int timer_init;
} email_job;

static void email_prepare(email_job *c);
static void email_record(email_job *c);

static void email_free(email_job *c)
{
    json_decref(c->payload);
    json_decref(c->prepared);
    free(c->text_subject);
    free(c->text_body);
    free(c->detail);
    free(c);
}

static void email_on_timer_closed(uv_handle_t *h)
{
    email_free(h->data);
}

/* Finish the job (exactly once) and free the context. */
static void email_finish(email_job *c, int rc, const char *err)
{
    c->done(c->job, rc, err);
    if (c->timer_init)
        uv_close((uv_handle_t *)&c->timer, email_on_timer_closed);
    else
        email_free(c);
}

/* ---------------------------------------------------------------- payload */

static int email_kind_offline(const char *kind)
{
    for (const char *const *k = offline_kinds; *k; k++)
        if (strcmp(*k, kind) == 0)
            return 1;
    return 0;
}

/* The subject and body from the payload's template and data. Returns 0,
 * -ENOENT (no such template), -ENOMEM. */
static int email_render(email_job *c)
{
    json_t *p = c->payload, *data = json_object_get(p, "data");
    const char *name = c->kind;
    if (!data && json_is_string(json_object_get(p, "body"))) { /* queued before the templates */
        jsonx_str(p, "body", &c->body);
        if (jsonx_str(p, "subject", &c->subject) != 0)
            c->subject = "";
        return 0;
    }
    jsonx_str(p, "template", &name);
    int rc = mailtext_render(name, data, c->w->cfg->public_url, &c->text_subject, &c->text_body);
    c->subject = c->text_subject;
    c->body = c->text_body;
    return rc;
}

/* Read the payload into c. Returns 0, or -1 when it is unusable (no user, kind or Message-ID). */
static int email_parse(email_job *c)
{
    json_t *p = c->payload = jsonx_parse_object(c->job->payload, c->job->payload_len, NULL, 0);
    if (!p || jsonx_int(p, "user_id", &c->uid) != 0 || c->uid <= 0 ||
        jsonx_str(p, "kind", &c->kind) != 0 || !*c->kind ||
        jsonx_str(p, "message_id", &c->message_id) != 0 || !*c->message_id)
        return -1;
    if (jsonx_bool(p, "urgent", &c->urgent) != 0)
        c->urgent = 0;
    if (jsonx_bool(p, "only_offline", &c->only_offline) != 0)
        c->only_offline = email_kind_offline(c->kind);
    if (jsonx_int(p, "grant_id", &c->grant) != 0 || c->grant < 0)
        c->grant = 0;
    return 0;
}

/* ---------------------------------------------------------------- 4. the record */

/* A temporary failure: the breaker's pause, the mail_retry schedule, or
 * (the deferral could not be counted) the queue's ordinary backoff. */
static void email_deferred_outcome(email_job *c)
{
    char err[400];
    int waits[CONFIG_MAIL_RETRY_MAX];
    int steps = config_mail_retry(c->w->cfg->mail_retry, waits);
    snprintf(err, sizeof(err), "mail not sent (%d): %s", c->smtp_code, c->detail);
    if (c->outage && c->w->mailer) {
        /* The relay refuses everything: wait out the mailer's pause
         * without spending an attempt. */
        c->job->retry_ms = mailer_pause_ms(c->w->mailer) + 1000;
        c->job->retry_free = 1;
    } else if (c->deferrals > 0 && steps > 0 && c->deferrals > steps) {
        snprintf(err, sizeof(err), "mail deferred %d times, the last (%d): %s", c->deferrals,
                 c->smtp_code, c->detail);
        log_warn("mail %s to user %lld dead after %d deferrals (job %s): %d %s", c->message_id,
                 c->uid, c->deferrals, c->job->id, c->smtp_code, c->detail);
        email_finish(c, JOB_FAIL, err);
        return;
    } else if (c->deferrals > 0 && steps > 0) {
        c->job->retry_ms = (int64_t)waits[c->deferrals - 1] * 1000;
        c->job->retry_free = 1;
    }
    email_finish(c, JOB_RETRY, err);
}

static void email_recorded_outcome(email_job *c)
{
    char err[400];
    switch (c->status) {
    case MAIL_SENT:
        log_debug("mail %s to user %lld sent (job %s)", c->message_id, c->uid, c->job->id);
        email_finish(c, JOB_OK, NULL);
        return;
    case MAIL_PERMFAIL:
        snprintf(err, sizeof(err), "mail refused (%d): %s", c->smtp_code, c->detail);
        log_warn("mail %s to user %lld refused for good (job %s): %d %s", c->message_id, c->uid,
                 c->job->id, c->smtp_code, c->detail);
        email_finish(c, JOB_FAIL, err);
        return;
    default:
        email_deferred_outcome(c);
    }
}

static void email_on_record_timer(uv_timer_t *t)
{
    email_record(t->data);
}

static void email_on_recorded(PGresult *res, void *arg)
{
    email_job *c = arg;
    if (c->status == MAIL_TEMPFAIL && !c->outage && pgq_ok(res) && PQntuples(res) == 1 &&
        !PQgetisnull(res, 0, 0))
        c->deferrals = atoi(PQgetvalue(res, 0, 0));
    if (pgq_ok(res) || c->status != MAIL_SENT || c->w->stopping ||
        ++c->record_tries >= EMAIL_RECORD_TRIES) {
        if (!pgq_ok(res))
            log_error("mail %s (job %s): the attempt (%s) could not be recorded: %s", c->message_id,
                      c->job->id, c->status == MAIL_SENT ? "sent" : "failed",
                      res ? PQresultErrorMessage(res) : "database connection lost");
        email_recorded_outcome(c);
        return;
    }
    /* Sent but not recorded: a retried job would send it again. */
    if (!c->timer_init) {
        uv_timer_init(c->w->loop, &c->timer);
        c->timer.data = c;
        c->timer_init = 1;
    }
    uv_timer_start(&c->timer, email_on_record_timer, 1000u << (c->record_tries - 1), 0);
}

static void email_record(email_job *c)
{
    static const char *const outcome[] = {"sent", "temporary", "permanent"};
    char code[16], steps[16];
    int waits[CONFIG_MAIL_RETRY_MAX];
    snprintf(code, sizeof(code), "%d", c->smtp_code);
    snprintf(steps, sizeof(steps), "%d", config_mail_retry(c->w->cfg->mail_retry, waits));
    const char *params[5] = {c->message_id, outcome[c->status], code, c->detail, "false"};
    const char *deferred[4] = {c->message_id, code, c->detail, steps};
    int deferral = c->status == MAIL_TEMPFAIL && !c->outage;
    /* At shutdown the pool may be closed (w->pg NULL) before the mailer's
     * last callbacks. */
    if (!c->w->pg ||
        (deferral ? pgq_exec_sql(c->w->pg, deferred_sql, 4, deferred, email_on_recorded, c)
                  : pgq_exec_sql(c->w->pg, result_sql, 5, params, email_on_recorded, c)) != 0)
        email_on_recorded(NULL, c);
}

/* ---------------------------------------------------------------- 3. SMTP */

static void email_on_mailed(const mail_t *m, int status, int smtp_code, const char *detail,
                            void *arg)
{
    email_job *c = arg;
    c->status = status >= MAIL_SENT && status <= MAIL_PERMFAIL ? status : MAIL_TEMPFAIL;
    c->smtp_code = smtp_code;
    c->detail = strdup(detail ? detail : "");
    if (!c->detail && status != MAIL_SENT) {
        email_finish(c, JOB_RETRY, "out of memory");
        return;
    }
    c->outage = m->outage;
    if (m->recorded) { /* recorded on the sending thread right after the server's 250 */
        email_recorded_outcome(c);
        return;
    }
    email_record(c);
}

static void email_send(email_job *c)
{
    json_t *p = c->prepared;
    mime_header kind_header = {"X-EPOS-Kind", c->kind};
    mail_t m = {
        .from = NULL,
        .to_addr = json_string_value(json_object_get(p, "to_addr")),
        .to_name = json_string_value(json_object_get(p, "to_name")),
        .subject = c->subject,
        .body = c->body,
        .message_id = c->message_id,
        .headers = &kind_header,
        .nheaders = 1,
    };
    if (!c->w->mailer || !m.to_addr) {
        email_finish(c, JOB_RETRY, c->w->mailer ? "no address" : "the mailer is not running");
        return;
    }
    int rc = mailer_send(c->w->mailer, &m, email_on_mailed, c);
    if (rc == -EINVAL) {
        /* Never sendable (address, Message-ID): record it as a refusal. */
        c->status = MAIL_PERMFAIL;
        c->detail = strdup("invalid address, Message-ID or header");
        if (!c->detail) {
            email_finish(c, JOB_FAIL, "invalid address, Message-ID or header");
            return;
        }
        email_record(c);
    } else if (rc != 0) {
        email_finish(c, JOB_RETRY,
                     rc == -EAGAIN ? "the mailer's queue is full" : "the mailer refused");
    }
}

/* The credentials mail's text with its fresh link; body is valid during this
 * call only, which is enough: mailer_send copies it. */
static void email_on_credentials(void *arg, int rc, const char *body, const char *err)
{
    email_job *c = arg;
    if (!body) {
        if (rc == JOB_OK)
            log_info("mail %s to user %lld not sent: %s", c->message_id, c->uid, err);
        email_finish(c, rc, rc == JOB_OK ? NULL : err);
        return;
    }
    c->body = body;
    email_send(c); /* may finish and free c: c is not touched after it */
}

/* ---------------------------------------------------------------- 2. prepare */

static void email_on_prepared(PGresult *res, void *arg)
{
    email_job *c = arg;
    const char *text = pgq_ok(res) && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
                           ? PQgetvalue(res, 0, 0)
                           : NULL;
    if (!text) {
        char err[300];
        snprintf(err, sizeof(err), "prepare: %s",
                 !res          ? "database connection lost"
                 : pgq_ok(res) ? "no answer"
                               : PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = '\0';
        utf8_trim(err);
        email_finish(c, pgq_ok(res) ? JOB_RETRY : publish_sql_outcome(res), err);
        return;
    }
    c->prepared = jsonx_parse_object(text, strlen(text), NULL, 0);
    const char *action = NULL, *reason = "";
    jsonx_str(c->prepared, "action", &action);
    jsonx_str(c->prepared, "reason", &reason);
    if (action && strcmp(action, "send") == 0) {
        if (!c->grant)
            email_send(c);
        else if (mail_credentials_render(c->w, c->grant, email_on_credentials, c) != 0)
            email_finish(c, JOB_RETRY, "database unavailable");
    } else if (action && (strcmp(action, "skip") == 0 || strcmp(action, "later") == 0)) {
        log_debug("mail %s to user %lld: %s (%s)", c->message_id, c->uid, action, reason);
        email_finish(c, JOB_OK, NULL);
    } else {
        email_finish(c, JOB_RETRY, "prepare: unexpected answer");
    }
}

static void email_prepare(email_job *c)
{
    char uid[24];
    snprintf(uid, sizeof(uid), "%lld", c->uid);
    const char *params[7] = {uid,
                             c->kind,
                             c->message_id,
                             c->subject,
                             c->body,
                             c->urgent ? "true" : "false",
                             c->job->payload};
    if (!c->w->pg || pgq_exec_sql(c->w->pg, prepare_sql, 7, params, email_on_prepared, c) != 0)
        email_finish(c, JOB_RETRY, "database unavailable");
}

/* ---------------------------------------------------------------- 1. presence */

static void email_on_presence(redisAsyncContext *ac, void *reply, void *privdata)
{
    email_job *c = privdata;
    redisReply *r = reply;
    (void)ac;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        log_debug("mail %s: user %lld is online, not mailed", c->message_id, c->uid);
        email_finish(c, JOB_OK, NULL);
        return;
    }
    /* Offline, or presence unknown (Redis dropped): a mail too many beats one missed. */
    email_prepare(c);
}

int job_email_notify_run(worker_t *w, job_t *job, job_done_cb *done)
{
    email_job *c = calloc(1, sizeof(*c));
    if (!c)
        return JOB_RETRY;
    c->w = w;
    c->job = job;
    c->done = done;
    if (email_parse(c) != 0) {
        email_finish(c, JOB_FAIL, "email.notify: the payload needs user_id, kind and message_id");
        return 0;
    }
    int rc = email_render(c);
    if (rc != 0) {
        char err[200];
        const char *name = c->kind;
        jsonx_str(c->payload, "template", &name);
        snprintf(err, sizeof(err), "email.notify: %s «%s»",
                 rc == -ENOENT ? "no mail template" : "out of memory rendering", name);
        email_finish(c, rc == -ENOENT ? JOB_FAIL : JOB_RETRY, err);
        return 0;
    }
    if (c->only_offline &&
        rds_command(w->redis, email_on_presence, c, "EXISTS epos:online:%lld", c->uid) == 0)
        return 0;
    email_prepare(c);
    return 0;
}
