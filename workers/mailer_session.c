/* mailer_session.c -- one blocking libesmtp session for a batch: TLS, status per mail. */
#include "mailer_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epos/utf8.h"

/* Details of a session the per-mail statuses do not carry (TLS trouble). */
typedef struct mailer_session_note {
    char text[120];
} mailer_session_note;

/* What the event callback needs. */
typedef struct mailer_session_ctx {
    mailer_session_note note;
    mailer_t *m;
    void *hctx; /* the thread's hook context, or NULL */
} mailer_session_ctx;

/* --- classification --- */

static int mailer_code_status(int code)
{
    if (code >= 200 && code < 300)
        return MAIL_SENT;
    if (code >= 500 && code < 600)
        return MAIL_PERMFAIL;
    return MAIL_TEMPFAIL;
}

/* Status of one mail from the reply codes to its MAIL FROM, RCPT TO and
 * DATA (0: no reply); *which tells the reply that decided it (0 none, 1 MAIL,
 * 2 RCPT, 3 DATA). The first refusal decides: a refused RCPT makes the
 * server answer DATA with 503/554, which says nothing about the mail. A MAIL
 * FROM refused for authentication (530, 534, 535, 538) is our configuration,
 * not the mail: temporary. */
static int mailer_classify(int mail_code, int rcpt_code, int data_code, int *which)
{
    *which = 0;
    if (mail_code != 0 && mail_code / 100 != 2) {
        *which = 1;
        if (mail_code == 530 || mail_code == 534 || mail_code == 535 || mail_code == 538)
            return MAIL_TEMPFAIL;
        return mailer_code_status(mail_code);
    }
    if (rcpt_code != 0 && rcpt_code / 100 != 2) {
        *which = 2;
        return mailer_code_status(rcpt_code);
    }
    if (mail_code == 0 || rcpt_code == 0 || data_code == 0)
        return MAIL_TEMPFAIL; /* the session ended before this mail was done */
    *which = 3;
    return mailer_code_status(data_code);
}

/* "<code> <server text>" on one line. */
static void status_detail(char *out, size_t len, const smtp_status_t *st)
{
    snprintf(out, len, "%d %s", st->code, st->text ? st->text : "");
    for (char *p = out; *p; p++)
        if (*p == '\r' || *p == '\n' || *p == '\t')
            *p = ' ';
    utf8_trim(out); /* the server's text may be UTF-8, cut by the buffer */
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
}

static void job_settle(mailer_job *j, int session_err, const mailer_session_note *note)
{
    const smtp_status_t *ms = smtp_reverse_path_status(j->msg);
    const smtp_status_t *rs = smtp_recipient_status(j->rcpt);
    const smtp_status_t *ds = smtp_message_transfer_status(j->msg);
    const smtp_status_t *by[4] = {NULL, ms, rs, ds};
    int which;
    j->status = mailer_classify(ms ? ms->code : 0, rs ? rs->code : 0, ds ? ds->code : 0, &which);
    j->code = which ? by[which]->code : 0;
    if (which) {
        status_detail(j->detail, sizeof(j->detail), by[which]);
    } else if (note->text[0]) {
        snprintf(j->detail, sizeof(j->detail), "%s", note->text);
    } else if (session_err != 0) {
        char buf[128];
        snprintf(j->detail, sizeof(j->detail), "smtp: %s",
                 smtp_strerror(session_err, buf, sizeof(buf)));
    } else {
        snprintf(j->detail, sizeof(j->detail), "smtp: the session ended before this mail");
    }
}
/* --- the session --- */

static int mailer_auth_interact(auth_client_request_t req, char **result, int fields, void *arg)
{
    mailer_t *m = arg;
    for (int i = 0; i < fields; i++) {
        if (req[i].flags & AUTH_USER)
            result[i] = m->user;
        else if (req[i].flags & AUTH_PASS)
            result[i] = m->password ? m->password : (char *)"";
        else
            result[i] = (char *)"";
    }
    return 1;
}

/* The server answered a mail's DATA (libesmtp 1.1 tells SMTP_EV_MESSAGESENT
 * from rsp_data2, before it sends the next command): settle it now and, when
 * it was accepted, record it on this thread before the session goes on. */
static void mailer_on_message_done(mailer_session_ctx *ctx, smtp_message_t msg)
{
    mailer_job *j = msg ? smtp_message_get_application_data(msg) : NULL;
    if (!j || j->settled)
        return;
    job_settle(j, 0, &ctx->note);
    j->settled = 1;
    if (j->status == MAIL_SENT && ctx->hctx && ctx->m->hooks.accepted)
        j->view.recorded = ctx->m->hooks.accepted(ctx->hctx, &j->view, j->code, j->detail) == 1;
}

/* Notes what went wrong; every choice stays libesmtp's safe default (an
 * untrusted certificate is refused). */
static void mailer_on_event(smtp_session_t s, int event, void *arg, ...)
{
    mailer_session_ctx *ctx = arg;
    mailer_session_note *note = &ctx->note;
    const char *what = NULL;
    if (event == SMTP_EV_MESSAGESENT) {
        va_list ap;
        va_start(ap, arg);
        smtp_message_t msg = va_arg(ap, smtp_message_t);
        va_end(ap);
        mailer_on_message_done(ctx, msg);
        return;
    }
    switch (event) {
    case SMTP_EV_EXTNA_STARTTLS:
        what = "smtp: the server does not offer STARTTLS";
        break;
    case SMTP_EV_INVALID_PEER_CERTIFICATE:
        what = "smtp: server certificate not trusted";
        break;
    case SMTP_EV_NO_PEER_CERTIFICATE:
        what = "smtp: the server sent no certificate";
        break;
    case SMTP_EV_WRONG_PEER_CERTIFICATE:
        what = "smtp: server certificate is for another host";
        break;
    case SMTP_EV_UNUSABLE_CA_LIST:
        what = "smtp: unusable CA list";
        break;
    default:
        break;
    }
    if (what)
        snprintf(note->text, sizeof(note->text), "%s", what);
}

/* Add the batch's mails to a new session. Returns 0, or -1 if libesmtp ran
 * out of memory (the caller fails the batch). */
static int session_prepare(mailer_t *m, smtp_session_t s, job_list *batch)
{
    if (!smtp_set_server(s, m->server))
        return -1;
    smtp_set_timeout(s, Timeout_GREETING | Timeout_OVERRIDE_RFC2822_MINIMUM,
                     MAILER_TIMEOUT_GREETING);
    smtp_set_timeout(s, Timeout_ENVELOPE | Timeout_OVERRIDE_RFC2822_MINIMUM,
                     MAILER_TIMEOUT_ENVELOPE);
    smtp_set_timeout(s, Timeout_DATA | Timeout_OVERRIDE_RFC2822_MINIMUM, MAILER_TIMEOUT_DATA);
    smtp_set_timeout(s, Timeout_TRANSFER | Timeout_OVERRIDE_RFC2822_MINIMUM,
                     MAILER_TIMEOUT_TRANSFER);
    smtp_set_timeout(s, Timeout_DATA2 | Timeout_OVERRIDE_RFC2822_MINIMUM, MAILER_TIMEOUT_FINAL);
    if (!smtp_starttls_enable(s, m->starttls) || (m->tls && !smtp_starttls_set_ctx(s, m->tls)))
        return -1;
    for (mailer_job *j = batch->head; j; j = j->next) {
        j->msg = smtp_add_message(s);
        if (!j->msg || !smtp_set_reverse_path(j->msg, j->env_from ? j->env_from : m->from_addr))
            return -1;
        smtp_message_set_application_data_release(j->msg, j, NULL); /* ours: not freed */
        j->rcpt = smtp_add_recipient(j->msg, j->to_addr);
        if (!j->rcpt || !smtp_set_message_str(j->msg, j->text))
            return -1;
    }
    return 0;
}

/* Leave out of the batch the mails the hook's filter finds recorded sent
 * (a job run again after a crash, or twice at once): they are settled as
 * sent and recorded, and returned for the caller to put back. */
static job_list session_filter(mailer_t *m, job_list *batch, void *hctx)
{
    job_list already = {0}, keep = {0};
    const mail_t *views[MAILER_BATCH_MAX];
    int sent[MAILER_BATCH_MAX] = {0};
    size_t n = 0;
    if (!hctx || !m->hooks.filter || batch->n == 0 || batch->n > MAILER_BATCH_MAX)
        return already;
    for (mailer_job *j = batch->head; j; j = j->next)
        views[n++] = &j->view;
    m->hooks.filter(hctx, views, n, sent);
    n = 0;
    while (batch->head) {
        mailer_job *j = batch->head;
        batch->head = j->next;
        j->next = NULL;
        if (sent[n++]) {
            mailer_job_fail(j, MAIL_SENT, 0, "already sent (recorded before)");
            j->view.recorded = 1;
            j->settled = 1;
            *(already.tail ? &already.tail->next : &already.head) = j;
            already.tail = j;
            already.n++;
        } else {
            *(keep.tail ? &keep.tail->next : &keep.head) = j;
            keep.tail = j;
            keep.n++;
        }
    }
    *batch = keep;
    return already;
}

/* One SMTP session (one connection) for the whole batch; sets every job's
 * status. Blocks: thread only. */
void mailer_session_run(mailer_t *m, job_list *batch, void *hctx)
{
    mailer_session_ctx ctx = {.m = m, .hctx = hctx};
    auth_context_t auth = NULL;
    smtp_session_t s = NULL;
    job_list already = session_filter(m, batch, hctx);
    if (!batch->head)
        goto out;
    s = smtp_create_session();
    if (!s || session_prepare(m, s, batch) < 0)
        goto fail;
    if (m->user) {
        auth = auth_create_context();
        if (!auth)
            goto fail;
        auth_set_mechanism_flags(auth, AUTH_PLUGIN_PLAIN, 0);
        auth_set_interact_cb(auth, mailer_auth_interact, m);
        smtp_auth_set_context(s, auth);
    }
    smtp_set_eventcb(s, mailer_on_event, &ctx);
    int ok = smtp_start_session(s);
    int err = ok ? 0 : smtp_errno();
    for (mailer_job *j = batch->head; j; j = j->next) {
        j->tried = 1;
        if (!j->settled)
            job_settle(j, err, &ctx.note);
    }
    goto out;
fail:
    for (mailer_job *j = batch->head; j; j = j->next)
        mailer_job_fail(j, MAIL_TEMPFAIL, 0, "smtp: out of memory");
out:
    if (s)
        smtp_destroy_session(s);
    if (auth)
        auth_destroy_context(auth);
    for (mailer_job *j = batch->head; j; j = j->next) {
        j->msg = NULL;
        j->rcpt = NULL;
        free(j->text);
        j->text = NULL;
    }
    for (mailer_job *j = already.head; j; j = j->next) {
        free(j->text);
        j->text = NULL;
    }
    if (already.head) { /* back in the batch: the caller counts and returns them all */
        already.tail->next = batch->head;
        if (!batch->head)
            batch->tail = already.tail;
        batch->head = already.head;
        batch->n += already.n;
    }
}

/* Our own TLS context, handed to each session (libesmtp takes a reference),
 * for two faults of libesmtp 1.1.0: the context it makes itself is cached in
 * a static and freed with the first session, so the second STARTTLS session
 * of the process used freed memory (a crash); and over TLS 1.3 a session
 * now and then quits right after the EHLO that follows STARTTLS (seen in
 * about one run in seven against aiosmtpd, never with TLS 1.2; most likely
 * its reader taking the post-handshake session tickets for a reply). Hence
 * TLS 1.2 only. Server certificates are checked against OpenSSL's default store
 * (SSL_CERT_FILE / SSL_CERT_DIR override it); libesmtp checks the name. */
SSL_CTX *mailer_tls_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_default_verify_paths(ctx)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}
