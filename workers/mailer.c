/* mailer.c -- SMTP delivery (libesmtp) on a small pool of threads, results back on the loop. */
#include "mailer.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h> /* before libesmtp.h: declares smtp_starttls_set_ctx */
#include <auth-client.h>
#include <libesmtp.h>

#include "epos/log.h"

/* One accepted mail, from mailer_send until its callback has run. */
typedef struct mailer_job {
    struct mailer_job *next;
    mail_t view; /* what the callback sees; points at the copies below */
    char *from, *to_addr, *to_name, *subject, *message_id;
    char *env_from; /* envelope sender when mail->from was given, else NULL */
    char *text;     /* the encoded message */
    mailer_done_cb *cb;
    void *arg;
    smtp_message_t msg; /* during its session only */
    smtp_recipient_t rcpt;
    int status, code;
    char detail[200];
} mailer_job;

typedef struct job_list {
    mailer_job *head, *tail;
    size_t n;
} job_list;

struct mailer {
    uv_loop_t *loop;
    uv_async_t async;   /* threads → loop: mail done, thread exited */
    uv_timer_t flush;   /* hands the mail staged this loop turn to the threads */
    job_list staged;    /* loop thread only */
    size_t outstanding; /* loop thread only: accepted, not yet called back */
    int closing;        /* loop thread only */
    int handles_open;   /* loop thread only: async and flush until closed */
    void (*closed)(void *);
    void *closed_arg;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    job_list queue; /* waiting for a thread */
    job_list done;  /* finished, waiting for the loop */
    int idle;       /* threads not in a session */
    int exited;
    int stopping;
    uint64_t in_flight;
    mailer_stats stats;

    int nthreads;
    pthread_t *threads;
    /* Settings, copied from the config and read-only once threads run. */
    char server[300];
    enum starttls_option starttls;
    SSL_CTX *tls; /* shared by every session when STARTTLS is on */
    char *user, *password;
    char *from_name, *from_addr;
};

/* Details of a session the per-mail statuses do not carry (TLS trouble). */
typedef struct mailer_session_note {
    char text[120];
} mailer_session_note;

/* --- lists --- */

static void list_push(job_list *l, mailer_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

/* Move all of src to the end of dst. */
static void list_splice(job_list *dst, job_list *src)
{
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->n += src->n;
    *src = (job_list){0};
}

/* The first n jobs of src (n <= src->n). */
static job_list list_take(job_list *src, size_t n)
{
    job_list out = {0};
    while (n-- > 0 && src->head) {
        mailer_job *j = src->head;
        src->head = j->next;
        if (!src->head)
            src->tail = NULL;
        src->n--;
        list_push(&out, j);
    }
    return out;
}

static void job_free(mailer_job *j)
{
    free(j->from);
    free(j->to_addr);
    free(j->to_name);
    free(j->subject);
    free(j->message_id);
    free(j->env_from);
    free(j->text);
    free(j);
}

static void job_fail(mailer_job *j, int status, int code, const char *detail)
{
    j->status = status;
    j->code = code;
    snprintf(j->detail, sizeof(j->detail), "%s", detail);
}

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

/* --- the sending threads --- */

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

/* Only notes what went wrong; every choice stays libesmtp's safe default
 * (an untrusted certificate is refused). */
static void mailer_on_event(smtp_session_t s, int event, void *arg, ...)
{
    mailer_session_note *note = arg;
    const char *what = NULL;
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
        j->rcpt = smtp_add_recipient(j->msg, j->to_addr);
        if (!j->rcpt || !smtp_set_message_str(j->msg, j->text))
            return -1;
    }
    return 0;
}

/* One SMTP session (one connection) for the whole batch; sets every job's
 * status. Blocks: thread only. */
static void mailer_session_run(mailer_t *m, job_list *batch)
{
    mailer_session_note note = {{0}};
    auth_context_t auth = NULL;
    smtp_session_t s = smtp_create_session();
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
    smtp_set_eventcb(s, mailer_on_event, &note);
    int ok = smtp_start_session(s);
    int err = ok ? 0 : smtp_errno();
    for (mailer_job *j = batch->head; j; j = j->next)
        job_settle(j, err, &note);
    goto out;
fail:
    for (mailer_job *j = batch->head; j; j = j->next)
        job_fail(j, MAIL_TEMPFAIL, 0, "smtp: out of memory");
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
}

static void *mailer_thread(void *arg)
{
    mailer_t *m = arg;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        while (!m->queue.head && !m->stopping)
            pthread_cond_wait(&m->wake, &m->lock);
        if (!m->queue.head)
            break;
        /* Share what is queued among the idle threads: a burst runs in
         * parallel sessions, each carrying several mails. */
        size_t share = (m->queue.n + (size_t)m->idle - 1) / (size_t)m->idle;
        job_list batch = list_take(&m->queue, share < MAILER_BATCH_MAX ? share : MAILER_BATCH_MAX);
        m->idle--;
        m->in_flight += batch.n;
        m->stats.sessions++;
        m->stats.attempts += batch.n;
        if (batch.n > m->stats.max_batch)
            m->stats.max_batch = batch.n;
        pthread_mutex_unlock(&m->lock);

        mailer_session_run(m, &batch);

        pthread_mutex_lock(&m->lock);
        m->idle++;
        m->in_flight -= batch.n;
        list_splice(&m->done, &batch);
        uv_async_send(&m->async);
    }
    m->exited++;
    pthread_mutex_unlock(&m->lock);
    uv_async_send(&m->async);
    return NULL;
}

/* --- the loop side --- */

static void mailer_free(mailer_t *m)
{
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    SSL_CTX_free(m->tls);
    free(m->threads);
    free(m->user);
    free(m->password);
    free(m->from_name);
    free(m->from_addr);
    free(m);
}

static void mailer_on_handle_closed(uv_handle_t *h)
{
    mailer_t *m = h->data;
    if (--m->handles_open > 0)
        return;
    void (*closed)(void *) = m->closed;
    void *arg = m->closed_arg;
    mailer_free(m);
    if (closed)
        closed(arg);
}

static void mailer_on_async(uv_async_t *h)
{
    mailer_t *m = h->data;
    pthread_mutex_lock(&m->lock);
    job_list done = m->done;
    m->done = (job_list){0};
    int all_exited = m->exited == m->nthreads;
    for (mailer_job *j = done.head; j; j = j->next) {
        if (j->status == MAIL_SENT)
            m->stats.sent++;
        else if (j->status == MAIL_PERMFAIL)
            m->stats.permfail++;
        else
            m->stats.tempfail++;
    }
    pthread_mutex_unlock(&m->lock);

    while (done.head) {
        mailer_job *j = done.head;
        done.head = j->next;
        m->outstanding--;
        j->cb(&j->view, j->status, j->code, j->detail, j->arg);
        job_free(j);
    }
    if (m->outstanding == 0 && !m->closing)
        uv_unref((uv_handle_t *)&m->async);
    /* The threads have returned or are returning: joining cannot wait on a
     * session, and no thread touches the async handle after its exit. */
    if (m->closing && all_exited && !uv_is_closing((uv_handle_t *)h)) {
        for (int i = 0; i < m->nthreads; i++)
            pthread_join(m->threads[i], NULL);
        uv_close((uv_handle_t *)&m->async, mailer_on_handle_closed);
    }
}

static void mailer_on_flush(uv_timer_t *t)
{
    mailer_t *m = t->data;
    pthread_mutex_lock(&m->lock);
    list_splice(&m->queue, &m->staged);
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->lock);
}

/* Threads get no signals: the loop's uv_signal handles them, and a SIGPIPE
 * from a server that hung up becomes EPIPE for libesmtp. */
static int mailer_start_threads(mailer_t *m)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (int i = 0; i < m->nthreads; i++) {
        if (pthread_create(&m->threads[i], NULL, mailer_thread, m) != 0) {
            pthread_mutex_lock(&m->lock);
            m->stopping = 1;
            pthread_cond_broadcast(&m->wake);
            pthread_mutex_unlock(&m->lock);
            for (int k = 0; k < i; k++)
                pthread_join(m->threads[k], NULL);
            rc = -1;
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
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
static SSL_CTX *mailer_tls_new(void)
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

static int mailer_configure(mailer_t *m, const epos_config *cfg)
{
    const char *host = cfg->smtp_host && *cfg->smtp_host ? cfg->smtp_host : "127.0.0.1";
    /* libesmtp splits "host:port" at the first colon: no IPv6 literals. */
    int n = snprintf(m->server, sizeof(m->server), "%s:%d", host,
                     cfg->smtp_port > 0 ? cfg->smtp_port : 25);
    if (strchr(host, ':') || n < 0 || (size_t)n >= sizeof(m->server))
        return -1;
    m->starttls = cfg->smtp_starttls >= 2   ? Starttls_REQUIRED
                  : cfg->smtp_starttls == 1 ? Starttls_ENABLED
                                            : Starttls_DISABLED;
    if (m->starttls != Starttls_DISABLED && !(m->tls = mailer_tls_new()))
        return -1;
    if (cfg->smtp_user && *cfg->smtp_user) {
        m->user = strdup(cfg->smtp_user);
        m->password = strdup(cfg->smtp_password ? cfg->smtp_password : "");
        if (!m->user || !m->password)
            return -1;
    }
    return mime_parse_mailbox(cfg->mail_from, &m->from_name, &m->from_addr);
}

mailer_t *mailer_create(uv_loop_t *loop, const epos_config *cfg, int threads)
{
    mailer_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->loop = loop;
    m->nthreads = threads <= 0 ? 4 : threads > 64 ? 64 : threads;
    m->idle = m->nthreads;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    m->threads = calloc((size_t)m->nthreads, sizeof(pthread_t));
    if (!m->threads || mailer_configure(m, cfg) < 0) {
        log_error("mailer: bad mail settings (mail_from \"%s\", smtp_host \"%s\")",
                  cfg->mail_from ? cfg->mail_from : "", cfg->smtp_host ? cfg->smtp_host : "");
        goto fail;
    }
    auth_client_init(); /* a no-op in libesmtp 1.1, kept for older ones */
    if (uv_async_init(loop, &m->async, mailer_on_async) != 0)
        goto fail;
    m->async.data = m;
    uv_timer_init(loop, &m->flush);
    m->flush.data = m;
    m->handles_open = 2;
    uv_unref((uv_handle_t *)&m->async);
    if (mailer_start_threads(m) < 0) {
        log_error("mailer: cannot start %d threads", m->nthreads);
        m->nthreads = 0; /* nothing left to join */
        m->closing = 1;
        uv_close((uv_handle_t *)&m->async, mailer_on_handle_closed);
        uv_close((uv_handle_t *)&m->flush, mailer_on_handle_closed);
        return NULL; /* freed by the close callbacks on the next loop turn */
    }
    return m;
fail:
    mailer_free(m);
    return NULL;
}

/* A job holding copies of the mail and its encoded text. -errno on error. */
static int job_create(mailer_t *m, const mail_t *mail, mailer_job **out)
{
    char *from_name = NULL;
    int rc = -EINVAL;
    mailer_job *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    if (mail->from && mime_parse_mailbox(mail->from, &from_name, &j->env_from) < 0)
        goto out;
    mime_mail mm = {
        .from_name = mail->from ? from_name : m->from_name,
        .from_addr = mail->from ? j->env_from : m->from_addr,
        .to_name = mail->to_name,
        .to_addr = mail->to_addr,
        .subject = mail->subject,
        .body = mail->body,
        .message_id = mail->message_id,
        .date = time(NULL),
        .headers = mail->headers,
        .nheaders = mail->nheaders,
    };
    j->text = mime_build(&mm, NULL);
    if (!j->text) {
        rc = errno == ENOMEM ? -ENOMEM : -EINVAL;
        goto out;
    }
    rc = -ENOMEM;
    j->from = strdup(mail->from ? mail->from : "");
    j->to_addr = strdup(mail->to_addr);
    j->to_name = strdup(mail->to_name ? mail->to_name : "");
    j->subject = strdup(mail->subject ? mail->subject : "");
    j->message_id = strdup(mail->message_id);
    if (!j->from || !j->to_addr || !j->to_name || !j->subject || !j->message_id)
        goto out;
    j->view = (mail_t){.from = mail->from ? j->from : NULL,
                       .to_addr = j->to_addr,
                       .to_name = mail->to_name ? j->to_name : NULL,
                       .subject = j->subject,
                       .message_id = j->message_id};
    *out = j;
    j = NULL;
    rc = 0;
out:
    free(from_name);
    if (j)
        job_free(j);
    return rc;
}

int mailer_send(mailer_t *m, const mail_t *mail, mailer_done_cb *cb, void *arg)
{
    if (m->closing)
        return -ESHUTDOWN;
    if (!mail || !cb)
        return -EINVAL;
    if (m->outstanding >= MAILER_QUEUE_MAX)
        return -EAGAIN;
    mailer_job *j;
    int rc = job_create(m, mail, &j);
    if (rc < 0)
        return rc;
    j->cb = cb;
    j->arg = arg;
    list_push(&m->staged, j);
    if (m->outstanding++ == 0)
        uv_ref((uv_handle_t *)&m->async);
    /* A 0 ms timer fires on the next loop turn, after every callback of
     * this one, so a burst of sends reaches the threads as one batch. */
    if (!uv_is_active((uv_handle_t *)&m->flush))
        uv_timer_start(&m->flush, mailer_on_flush, 0, 0);
    return 0;
}

void mailer_close(mailer_t *m, void (*closed)(void *arg), void *arg)
{
    if (m->closing)
        return;
    m->closing = 1;
    m->closed = closed;
    m->closed_arg = arg;
    uv_ref((uv_handle_t *)&m->async); /* until the threads are joined */
    uv_close((uv_handle_t *)&m->flush, mailer_on_handle_closed);

    pthread_mutex_lock(&m->lock);
    job_list pending = m->staged;
    m->staged = (job_list){0};
    list_splice(&pending, &m->queue);
    for (mailer_job *j = pending.head; j; j = j->next) {
        free(j->text);
        j->text = NULL;
        job_fail(j, MAIL_TEMPFAIL, 0, "mailer closing");
    }
    list_splice(&m->done, &pending);
    m->stopping = 1;
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->lock);
    /* The callbacks run from the async handler, never inside this call. */
    uv_async_send(&m->async);
}

void mailer_stats_get(mailer_t *m, mailer_stats *out)
{
    pthread_mutex_lock(&m->lock);
    *out = m->stats;
    out->queued = m->queue.n + m->staged.n;
    out->in_flight = m->in_flight;
    pthread_mutex_unlock(&m->lock);
}
