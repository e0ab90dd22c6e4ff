/* svc_mailer.c -- the worker service that owns the SMTP mailer (w->mailer) from start to stop.
 *
 * mail_sessions sending threads (default 2), each carrying one reused SMTP
 * session at a time; host, port, STARTTLS, AUTH and the sender come from the
 * configuration (smtp_*, mail_from). */
#include "epos/log.h"
#include "mailer.h"
#include "worker.h"

int svc_mailer_start(worker_t *w)
{
    int threads = w->cfg->mail_sessions;
    w->mailer = mailer_create(w->loop, w->cfg, threads);
    if (!w->mailer)
        return -1;
    mailer_record_install(w);
    log_info("mailer: %d SMTP sessions at most to %s:%d", threads, w->cfg->smtp_host,
             w->cfg->smtp_port);
    return 0;
}

/* Mail not yet taken by a thread is called back as a temporary failure;
 * sessions under way finish in the mailer's threads. */
void svc_mailer_stop(worker_t *w)
{
    struct mailer *m = w->mailer;
    w->mailer = NULL;
    if (m)
        mailer_close(m, NULL, NULL);
}
