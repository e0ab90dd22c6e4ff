/* mailer.c -- SMTP delivery on a pool of threads: the queue, the threads, results to the loop. */
#include "mailer_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "epos/log.h"
#include "epos/utf8.h"

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

void mailer_job_fail(mailer_job *j, int status, int code, const char *detail)
{
    j->status = status;
    j->code = code;
    snprintf(j->detail, sizeof(j->detail), "%s", detail);
    utf8_trim(j->detail);
}

/* --- the sending threads --- */

static void *mailer_thread(void *arg)
{
    mailer_t *m = arg;
    void *hctx = NULL;
    int hopened = 0;
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

        uint64_t t0 = uv_hrtime();
        if (!hopened && m->hooks.open) {
            hctx = m->hooks.open(m->hooks.arg);
            hopened = 1;
        }
        mailer_session_run(m, &batch, hctx);

        pthread_mutex_lock(&m->lock);
        prom_hist_observe(&m->stats.session_time, (double)(uv_hrtime() - t0) / 1e9);
        m->idle++;
        m->in_flight -= batch.n;
        list_splice(&m->done, &batch);
        uv_async_send(&m->async);
    }
    pthread_mutex_unlock(&m->lock);
    if (hctx && m->hooks.close)
        m->hooks.close(hctx);
    pthread_mutex_lock(&m->lock);
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

/* The breaker, from one round of results: a mail sent closes it; a run of
 * MAILER_BREAKER_TRIP temporary failures to more than one recipient with
 * none sent opens it, or, open, doubles its pause (the mails let through
 * after a pause failed as well). One recipient's server deferring its mail
 * again and again is that mail's trouble (mail_retry), not an outage. */
static void mailer_breaker(mailer_t *m, const job_list *done)
{
    size_t sent = 0, temp = 0;
    for (mailer_job *j = done->head; j; j = j->next) {
        if (!j->tried)
            continue;
        if (j->status == MAIL_SENT) {
            sent++;
        } else if (j->status == MAIL_TEMPFAIL) {
            temp++;
            if (!m->run_addr[0])
                snprintf(m->run_addr, sizeof(m->run_addr), "%s", j->to_addr);
            else if (strcasecmp(m->run_addr, j->to_addr) != 0)
                m->run_mixed = 1;
        }
    }
    uint64_t now = uv_now(m->loop);
    if (sent) {
        if (m->pause_ms)
            log_info("mailer: the relay takes mail again; breaker closed");
        m->temp_run = 0;
        m->run_addr[0] = '\0';
        m->run_mixed = 0;
        m->pause_ms = 0;
        m->open_until = 0;
        return;
    }
    m->temp_run += (unsigned)temp;
    if (temp == 0 || m->temp_run < MAILER_BREAKER_TRIP || !m->run_mixed || now < m->open_until)
        return;
    unsigned max = (unsigned)m->pause_max_ms;
    m->pause_ms = !m->pause_ms             ? MAILER_PAUSE_MIN_MS
                  : m->pause_ms >= max / 2 ? max
                                           : m->pause_ms * 2;
    if (m->pause_ms > max)
        m->pause_ms = max;
    m->open_until = now + m->pause_ms;
    m->stats.pauses++;
    log_warn("mailer: %u temporary failures in a row and none sent: the relay refuses mail; "
             "pausing %u ms (no attempt is spent meanwhile)",
             m->temp_run, m->pause_ms);
}

int64_t mailer_pause_ms(const mailer_t *m)
{
    uint64_t now = uv_now(m->loop);
    return m->open_until > now ? (int64_t)(m->open_until - now) : 0;
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
    mailer_breaker(m, &done);
    pthread_mutex_unlock(&m->lock);

    int open = mailer_pause_ms(m) > 0;
    while (done.head) {
        mailer_job *j = done.head;
        done.head = j->next;
        m->outstanding--;
        j->view.outage = open && j->status == MAIL_TEMPFAIL && !m->closing;
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
    if (mailer_pause_ms(m) > 0) {
        /* Paused: no session would get through. Back to the callers at once
         * (as outages), so no job waits here holding a slot. */
        for (mailer_job *j = m->staged.head; j; j = j->next) {
            free(j->text);
            j->text = NULL;
            mailer_job_fail(j, MAIL_TEMPFAIL, 0, "smtp: the relay refuses mail; mailer paused");
        }
        list_splice(&m->done, &m->staged);
        pthread_mutex_unlock(&m->lock);
        uv_async_send(&m->async);
        return;
    }
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
    m->pause_max_ms = cfg->mail_pause_max_ms > 0 ? cfg->mail_pause_max_ms : 60000;
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
        mailer_job_fail(j, MAIL_TEMPFAIL, 0, "mailer closing");
    }
    list_splice(&m->done, &pending);
    m->stopping = 1;
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->lock);
    /* The callbacks run from the async handler, never inside this call. */
    uv_async_send(&m->async);
}

void mailer_set_hooks(mailer_t *m, const mailer_hooks *hooks)
{
    pthread_mutex_lock(&m->lock);
    m->hooks = *hooks;
    pthread_mutex_unlock(&m->lock);
}

void mailer_stats_get(mailer_t *m, mailer_stats *out)
{
    pthread_mutex_lock(&m->lock);
    *out = m->stats;
    out->queued = m->queue.n + m->staged.n;
    out->in_flight = m->in_flight;
    pthread_mutex_unlock(&m->lock);
}
